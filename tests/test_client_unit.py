"""Unit tests without a server: signing, browser auth, config, command line.

None of these need the C extension: the server and the store are replaced
by fakes where a command needs them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import types
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from pushi import cli, errors
from pushi.apps import App
from pushi.client import API, Pushi, sign_request, signed_query
from pushi.config import load_config

ROOT = Path(__file__).resolve().parent.parent

# Verified Pusher vectors (shared/reference/pusher-and-peers.md, 1.12).
KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"
BODY = b'{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
BODY_MD5 = "ec365a775a4cd0599faeb73354201b6f"
REST_SIGNATURE = "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
PRIVATE_AUTH = f"{KEY}:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
USER_SIGNATURE = "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"


def make_client(**kwargs: Any) -> Pushi:
    return Pushi("3", KEY, SECRET, **kwargs)


# --------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------


def test_body_md5_of_vector_body() -> None:
    assert hashlib.md5(BODY).hexdigest() == BODY_MD5


def test_sign_request_rest_vector() -> None:
    params = {
        "auth_key": KEY,
        "auth_timestamp": "1353088179",
        "auth_version": "1.0",
        "body_md5": BODY_MD5,
    }
    assert sign_request(SECRET, "POST", "/apps/3/events", params) == REST_SIGNATURE


def test_sign_request_ignores_order_case_and_existing_signature() -> None:
    params = {
        "BODY_MD5": BODY_MD5,
        "auth_version": "1.0",
        "auth_timestamp": "1353088179",
        "auth_key": KEY,
        "auth_signature": "whatever",
    }
    assert sign_request(SECRET, "post", "/apps/3/events", params) == REST_SIGNATURE


def test_sign_request_does_not_escape_values() -> None:
    params = {"auth_key": KEY, "info": "user_count,subscription_count"}
    message = f"GET\n/apps/3/channels\nauth_key={KEY}&info=user_count,subscription_count"
    expected_sig = hmac.new(SECRET.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert sign_request(SECRET, "GET", "/apps/3/channels", params) == expected_sig


def test_signed_query_vector() -> None:
    query = signed_query(KEY, SECRET, "POST", "/apps/3/events", BODY, timestamp=1353088179)
    assert query == {
        "auth_key": KEY,
        "auth_timestamp": "1353088179",
        "auth_version": "1.0",
        "body_md5": BODY_MD5,
        "auth_signature": REST_SIGNATURE,
    }


def test_signed_query_empty_body_has_no_md5_and_keeps_params() -> None:
    query = signed_query(
        KEY, SECRET, "GET", "/apps/3/channels", b"", {"filter_by_prefix": "presence-"}, timestamp=1.9
    )
    assert "body_md5" not in query
    assert query["auth_timestamp"] == "1"
    assert query["filter_by_prefix"] == "presence-"
    assert query["auth_signature"] == sign_request(SECRET, "GET", "/apps/3/channels", query)


def test_signed_query_default_timestamp_is_now() -> None:
    import time

    query = signed_query(KEY, SECRET, "GET", "/x", b"")
    assert abs(int(query["auth_timestamp"]) - time.time()) < 5


# --------------------------------------------------------------------------
# Browser authorisation
# --------------------------------------------------------------------------


def test_authenticate_private_vector() -> None:
    assert make_client().authenticate("private-foobar", "1234.1234") == {"auth": PRIVATE_AUTH}


def test_authenticate_user_vector() -> None:
    result = make_client().authenticate_user("1234.1234", {"id": "12345"})
    assert result == {"auth": f"{KEY}:{USER_SIGNATURE}", "user_data": '{"id":"12345"}'}


def test_authenticate_presence_signs_compact_channel_data() -> None:
    data = {"user_id": 10, "user_info": {"name": "Mr. Channels"}}
    result = make_client().authenticate("presence-foobar", "1234.1234", data)
    encoded = '{"user_id":10,"user_info":{"name":"Mr. Channels"}}'
    assert result["channel_data"] == encoded
    message = f"1234.1234:presence-foobar:{encoded}".encode()
    assert result["auth"] == KEY + ":" + hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()
    # A string is signed as given.
    same = make_client().authenticate("presence-foobar", "1234.1234", encoded)
    assert same == result


@pytest.mark.parametrize("socket_id", ["", "1234", "1234.", ".1", "a.b", "1.2.3", "1.2\n", "١.٢", 1.2])
def test_authenticate_rejects_bad_socket_id(socket_id: Any) -> None:
    with pytest.raises(ValueError):
        make_client().authenticate("private-foo", socket_id)
    with pytest.raises(ValueError):
        make_client().authenticate_user(socket_id, {"id": "1"})


@pytest.mark.parametrize("channel", ["", "private-a b", "private-é", "#server-to-user-1", "a:b", "x" * 201])
def test_authenticate_rejects_bad_channel(channel: str) -> None:
    with pytest.raises(ValueError):
        make_client().authenticate(channel, "1.1")


def test_authenticate_accepts_full_charset_and_200_chars() -> None:
    make_client().authenticate("private-AZaz09_-=@,.;", "1.1")
    make_client().authenticate("private-" + "x" * 192, "1.1")


def test_authenticate_presence_needs_user_id() -> None:
    with pytest.raises(ValueError):
        make_client().authenticate("presence-a", "1.1")
    with pytest.raises(ValueError):
        make_client().authenticate("presence-a", "1.1", {"user_info": {}})


def test_authenticate_encrypted_needs_master_key() -> None:
    with pytest.raises(ValueError):
        make_client().authenticate("private-encrypted-foo", "1.1")


def test_authenticate_encrypted_shared_secret() -> None:
    master = bytes(range(32))
    result = make_client(encryption_master_key=master).authenticate("private-encrypted-foo", "1.1")
    expected = base64.b64encode(hashlib.sha256(b"private-encrypted-foo" + master).digest()).decode()
    assert result["shared_secret"] == expected
    # The auth part is the usual private-channel signature.
    sig = hmac.new(SECRET.encode(), b"1.1:private-encrypted-foo", hashlib.sha256).hexdigest()
    assert result["auth"] == f"{KEY}:{sig}"


def test_master_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        make_client(encryption_master_key=b"short")


@pytest.mark.parametrize("user_data", [{}, {"id": ""}, {"id": 5}, {"name": "x"}])
def test_authenticate_user_needs_string_id(user_data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_client().authenticate_user("1.1", user_data)


def test_api_alias_and_constructor_checks() -> None:
    assert API is Pushi
    with pytest.raises(ValueError):
        Pushi("1", "k", "s", "ftp://x")
    with pytest.raises(ValueError):
        Pushi("", "k", "s")


# --------------------------------------------------------------------------
# Requests (transport replaced by a recorder)
# --------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

    def read(self) -> bytes:
        return self._body

    def __enter__(self) -> "FakeResponse":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Captures every urllib request; answers ``{}``."""
    sent: list[Any] = []

    def fake_urlopen(request: Any, timeout: float | None = None) -> FakeResponse:
        sent.append(request)
        return FakeResponse(200, b"{}")

    monkeypatch.setattr("urllib.request.urlopen", fake_urlopen)
    return sent


def split(request: Any) -> tuple[str, dict[str, str]]:
    parts = urllib.parse.urlsplit(request.full_url)
    return parts.path, dict(urllib.parse.parse_qsl(parts.query))


def check_signed(request: Any, secret: str = SECRET) -> dict[str, str]:
    path, query = split(request)
    assert query["auth_key"] == KEY
    assert query["auth_version"] == "1.0"
    assert query["auth_signature"] == sign_request(secret, request.get_method(), path, query)
    body = request.data or b""
    if body:
        assert query["body_md5"] == hashlib.md5(body).hexdigest()
    else:
        assert "body_md5" not in query
    return query


def test_trigger_event_body_and_signature(recorder: list[Any]) -> None:
    client = make_client(base_url="http://127.0.0.1:9999")
    assert client.trigger_event("project-3", {"some": "data"}, event="foo") == {}
    (request,) = recorder
    assert request.get_method() == "POST"
    assert request.full_url.startswith("http://127.0.0.1:9999/apps/3/events?")
    assert json.loads(request.data) == {"name": "foo", "data": '{"some":"data"}', "channel": "project-3"}
    check_signed(request)


def test_trigger_event_list_socket_id_info(recorder: list[Any]) -> None:
    make_client().trigger_event(["a", "b"], "text", socket_id="1.2", info=["user_count", "subscription_count"])
    body = json.loads(recorder[0].data)
    assert body == {
        "name": "message",
        "data": "text",
        "channels": ["a", "b"],
        "socket_id": "1.2",
        "info": "user_count,subscription_count",
    }
    with pytest.raises(ValueError):
        make_client().trigger_event([], "x")
    with pytest.raises(ValueError):
        make_client().trigger_event("a", "x", socket_id="bad")


def test_trigger_sdk_order(recorder: list[Any]) -> None:
    make_client().trigger(["c"], "ev", {"n": 1}, socket_id="3.4")
    assert json.loads(recorder[0].data) == {"name": "ev", "data": '{"n":1}', "channels": ["c"], "socket_id": "3.4"}


def test_trigger_batch(recorder: list[Any]) -> None:
    make_client().trigger_batch(
        [{"channel": "a", "name": "e", "data": {"x": 1}}, {"channel": "b", "name": "f", "data": "s"}]
    )
    request = recorder[0]
    assert urllib.parse.urlsplit(request.full_url).path == "/apps/3/batch_events"
    assert json.loads(request.data) == {
        "batch": [{"channel": "a", "name": "e", "data": '{"x":1}'}, {"channel": "b", "name": "f", "data": "s"}]
    }
    check_signed(request)
    with pytest.raises(ValueError):
        make_client().trigger_batch([{"channel": "a"}])


def test_queries(recorder: list[Any]) -> None:
    client = make_client(base_url="http://h:1/prefix/")
    client.channels(prefix="presence-", info="user_count")
    client.channel("private-x", info=["subscription_count", "user_count"])
    client.users("presence-x")
    client.terminate_user_connections("user 1/2")
    client.health()
    paths = [split(r) for r in recorder]
    assert paths[0][0] == "/prefix/apps/3/channels"
    assert paths[0][1]["filter_by_prefix"] == "presence-"
    assert paths[0][1]["info"] == "user_count"
    assert paths[1][0] == "/prefix/apps/3/channels/private-x"
    assert paths[1][1]["info"] == "subscription_count,user_count"
    assert paths[2][0] == "/prefix/apps/3/channels/presence-x/users"
    assert urllib.parse.urlsplit(recorder[3].full_url).path == "/prefix/apps/3/users/user%201%2F2/terminate_connections"
    assert recorder[3].get_method() == "POST"
    for request in recorder[:4]:
        check_signed(request)
    assert recorder[4].full_url == "http://h:1/prefix/health"
    assert [r.get_method() for r in recorder] == ["GET", "GET", "GET", "POST", "GET"]


def test_url_escapes_query_values(recorder: list[Any]) -> None:
    make_client().channel("c", info="user_count,subscription_count")
    assert "info=user_count%2Csubscription_count" in recorder[0].full_url


def _raise_http(status: int, body: bytes) -> Any:
    import io
    import urllib.error

    def fake(request: Any, timeout: float | None = None) -> Any:
        raise urllib.error.HTTPError(request.full_url, status, "Reason", {}, io.BytesIO(body))  # type: ignore[arg-type]

    return fake


@pytest.mark.parametrize(
    "status,cls",
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (413, errors.PayloadTooLarge),
        (500, errors.PushiError),
    ],
)
def test_error_statuses(monkeypatch: pytest.MonkeyPatch, status: int, cls: type) -> None:
    monkeypatch.setattr("urllib.request.urlopen", _raise_http(status, b'{"error":"nope"}'))
    with pytest.raises(cls) as info:
        make_client().channels()
    assert type(info.value) is cls
    assert info.value.status == status
    assert info.value.message == "nope"


def test_error_falls_back_to_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("urllib.request.urlopen", _raise_http(401, b"Invalid signature\n"))
    with pytest.raises(errors.Unauthorized) as info:
        make_client().channels()
    assert info.value.message == "Invalid signature"


def test_connection_refused_is_status_zero() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on `port` any more.
    with pytest.raises(errors.PushiError) as info:
        Pushi("1", "k", "s", f"http://127.0.0.1:{port}", timeout=2).health()
    assert info.value.status == 0


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


def ns(**kwargs: Any) -> argparse.Namespace:
    return argparse.Namespace(**kwargs)


def write_config(tmp_path: Path, data: Any) -> str:
    path = tmp_path / "pushi.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(None, {})
    assert config == {
        "host": "127.0.0.1",
        "port": 8080,
        "store": "sqlite:///" + str(tmp_path / "pushi.db"),
        "apps": [],
        "options": {},
    }


def test_file_env_flags_precedence(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        {
            "host": "0.0.0.0",
            "port": 7000,
            "store": "memory:",
            "activity_timeout": 30,
            "max_connections": 10,
            "apps": [{"id": 1, "key": "k1", "secret": "s1", "client_events": True}],
        },
    )
    config = load_config(ns(config=path), {})
    assert (config["host"], config["port"], config["store"]) == ("0.0.0.0", 7000, "memory:")
    assert config["options"] == {"activity_timeout": 30, "max_connections": 10}
    assert config["apps"] == [App(id="1", key="k1", secret="s1", client_events=True)]

    env = {"PUSHI_PORT": "7001", "PUSHI_HOST": "::1", "PUSHI_STORE": "sqlite:////tmp/x.db"}
    config = load_config(ns(config=path), env)
    assert (config["host"], config["port"], config["store"]) == ("::1", 7001, "sqlite:////tmp/x.db")

    args = ns(config=path, host="10.0.0.1", port=7002, store="memory:", max_connections=5)
    config = load_config(args, env)
    assert (config["host"], config["port"], config["store"]) == ("10.0.0.1", 7002, "memory:")
    assert config["options"] == {"activity_timeout": 30, "max_connections": 5}


def test_config_file_from_env_and_flag_wins(tmp_path: Path) -> None:
    first = write_config(tmp_path, {"port": 1111})
    second = tmp_path / "other.json"
    second.write_text('{"port": 2222}')
    assert load_config(None, {"PUSHI_CONFIG": first})["port"] == 1111
    assert load_config(ns(config=str(second)), {"PUSHI_CONFIG": first})["port"] == 2222


def test_server_and_app_variables() -> None:
    assert load_config(None, {"APP_PORT": "1"})["port"] == 1
    assert load_config(None, {"SERVER_PORT": "2"})["port"] == 2
    assert load_config(None, {"APP_PORT": "1", "SERVER_PORT": "2"})["port"] == 2
    assert load_config(None, {"APP_PORT": "1", "SERVER_PORT": "2", "PUSHI_PORT": "3"})["port"] == 3
    assert load_config(None, {"APP_HOST": "a", "SERVER_HOST": "b"})["host"] == "b"
    assert load_config(None, {"SERVER_HOST": "b", "PUSHI_HOST": "c"})["host"] == "c"
    assert load_config(ns(port=4), {"PUSHI_PORT": "3"})["port"] == 4
    # Empty variables count as unset.
    assert load_config(None, {"PUSHI_PORT": "", "SERVER_PORT": "5"})["port"] == 5


@pytest.mark.parametrize("value", ["-1", "65536", "http", "8080.0", "", " "])
def test_invalid_port(value: str) -> None:
    if value.strip():
        with pytest.raises(ValueError, match="PUSHI_PORT"):
            load_config(None, {"PUSHI_PORT": value})
    with pytest.raises(ValueError, match="port"):
        load_config(ns(port=value), {})


def test_invalid_port_in_file(tmp_path: Path) -> None:
    for bad in (70000, -5, "abc", True, 1.5):
        with pytest.raises(ValueError, match="port"):
            load_config(ns(config=write_config(tmp_path, {"port": bad})), {})
    assert load_config(ns(config=write_config(tmp_path, {"port": 0})), {})["port"] == 0


def test_unknown_config_key(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"port": 1, "bogus_key": 1})
    with pytest.raises(ValueError, match="bogus_key"):
        load_config(ns(config=path), {})


def test_bad_config_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_config(ns(config=str(tmp_path / "missing.json")), {})
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_config(ns(config=str(bad)), {})
    with pytest.raises(ValueError, match="object"):
        load_config(ns(config=write_config(tmp_path, [1])), {})
    with pytest.raises(ValueError, match="apps"):
        load_config(ns(config=write_config(tmp_path, {"apps": {"id": "1"}})), {})
    with pytest.raises(ValueError, match="secret"):
        load_config(ns(config=write_config(tmp_path, {"apps": [{"id": "1", "key": "k"}]})), {})
    with pytest.raises(ValueError, match="max_connections"):
        load_config(ns(config=write_config(tmp_path, {"max_connections": -1})), {})
    dup = [{"id": "1", "key": "k", "secret": "s"}, {"id": "2", "key": "k", "secret": "t"}]
    with pytest.raises(ValueError, match="key"):
        load_config(ns(config=write_config(tmp_path, {"apps": dup})), {})


def test_env_app(tmp_path: Path) -> None:
    env = {"PUSHI_APP_ID": "9", "PUSHI_APP_KEY": "key9", "PUSHI_APP_SECRET": "sec9"}
    assert load_config(None, env)["apps"] == [App(id="9", key="key9", secret="sec9")]
    # It replaces a file app with the same id.
    path = write_config(tmp_path, {"apps": [{"id": "9", "key": "old", "secret": "old"}]})
    assert load_config(ns(config=path), env)["apps"] == [App(id="9", key="key9", secret="sec9")]


@pytest.mark.parametrize(
    "env",
    [
        {"PUSHI_APP_ID": "1"},
        {"PUSHI_APP_KEY": "k", "PUSHI_APP_SECRET": "s"},
        {"PUSHI_APP_ID": "1", "PUSHI_APP_SECRET": "s"},
    ],
)
def test_partial_env_app_is_an_error(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="PUSHI_APP"):
        load_config(None, env)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


def run_pushi(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "pushi", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
        env=env,
    )


@pytest.mark.parametrize(
    "argv,expected",
    [
        ((), ["serve", "app", "Pusher"]),
        (("serve",), ["--host", "--port", "--store", "--config", "PUSHI_PORT", "SERVER_PORT", "SIGTERM"]),
        (("app",), ["create", "list", "delete"]),
        (("app", "create"), ["NAME", "--client-events", "--store"]),
    ],
)
def test_help(argv: tuple[str, ...], expected: list[str]) -> None:
    result = run_pushi(*argv, "--help")
    assert result.returncode == 0, result.stderr
    for text in expected:
        assert text in result.stdout


def test_usage_error_is_one_line() -> None:
    result = run_pushi("serve", "--port", "99999")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pushi: error:")


def test_config_error_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["serve"], {"PUSHI_APP_ID": "1"}) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pushi: error:") and "PUSHI_APP" in err[0]


class FakeServer:
    """Stands in for pushi.server.Server: records calls, waits for stop()."""

    instances: list["FakeServer"] = []

    def __init__(self, host: str, port: int, store: str, apps: list[App], **options: Any) -> None:
        self.kwargs = dict(host=host, port=port, store=store, apps=apps, options=options)
        self._apps = list(apps)
        self.port = port or 45678
        self.calls: list[str] = []
        self.stopped = threading.Event()
        FakeServer.instances.append(self)

    @property
    def apps(self) -> list[App]:
        return list(self._apps)

    def start(self) -> None:
        self.calls.append("start")

    def create_default_app_if_empty(self) -> App | None:
        self.calls.append("create_default")
        if self._apps:
            return None
        app = App.generate()
        self._apps.append(app)
        return app

    def stop(self) -> None:
        self.calls.append("stop")
        self.stopped.set()

    def serve_forever(self) -> None:
        self.calls.append("serve_forever")
        os.kill(os.getpid(), signal.SIGTERM)
        while not self.stopped.wait(0.01):
            pass


@pytest.fixture
def fake_server(monkeypatch: pytest.MonkeyPatch) -> type[FakeServer]:
    module = types.ModuleType("pushi.server")
    module.Server = FakeServer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pushi.server", module)
    FakeServer.instances.clear()
    return FakeServer


def test_serve_prints_and_stops_on_sigterm(
    fake_server: type[FakeServer], capsys: pytest.CaptureFixture[str]
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["serve", "--port", "0", "--store", "memory:", "--max-connections", "7"], {}) == 0
    (server,) = fake_server.instances
    assert server.kwargs["store"] == "memory:"
    assert server.kwargs["options"] == {"max_connections": 7}
    assert server.calls[:3] == ["start", "create_default", "serve_forever"]
    assert "stop" in server.calls
    assert signal.getsignal(signal.SIGTERM) is before
    out = capsys.readouterr().out
    (app,) = server.apps
    assert "http://127.0.0.1:45678" in out
    assert "created default app" in out
    assert app.secret in out
    assert f"ws://127.0.0.1:45678/app/{app.key}?protocol=7" in out
    assert f"http://127.0.0.1:45678/apps/{app.id}" in out


def test_serve_configured_app_secret_not_printed(
    fake_server: type[FakeServer], capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"PUSHI_APP_ID": "5", "PUSHI_APP_KEY": "kkk", "PUSHI_APP_SECRET": "topsecret", "PUSHI_HOST": "::1"}
    assert cli.main(["serve", "--store", "memory:"], env) == 0
    out = capsys.readouterr().out
    assert "topsecret" not in out
    assert "created default app" not in out
    assert "ws://[::1]:8080/app/kkk?protocol=7" in out


class FakeStore:
    def __init__(self) -> None:
        self.apps: dict[str, dict[str, App]] = {}

    def list_apps(self, url: str) -> list[App]:
        return list(self.apps.get(url, {}).values())

    def save_app(self, url: str, app: App) -> None:
        self.apps.setdefault(url, {})[app.id] = app

    def delete_app(self, url: str, app_id: str) -> bool:
        return self.apps.get(url, {}).pop(app_id, None) is not None


def test_app_commands(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    store = FakeStore()
    module = types.ModuleType("pushi.store")
    for name in ("list_apps", "save_app", "delete_app"):
        setattr(module, name, getattr(store, name))
    monkeypatch.setitem(sys.modules, "pushi.store", module)
    # `import pushi.store as store` reads the package attribute first, which
    # exists once any earlier test imported the real module.
    import pushi

    monkeypatch.setattr(pushi, "store", module, raising=False)

    assert cli.main(["app", "create", "chat", "--client-events", "--store", "memory:"], {}) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["name"] == "chat" and created["client_events"] is True
    assert len(created["key"]) == 64 and len(created["secret"]) == 64

    assert cli.main(["app", "list"], {"PUSHI_STORE": "memory:"}) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line) for line in lines] == [created]

    assert cli.main(["app", "delete", created["id"], "--store", "memory:"], {}) == 0
    capsys.readouterr()
    assert cli.main(["app", "delete", created["id"], "--store", "memory:"], {}) == 2
    err = capsys.readouterr().err
    assert err.startswith("pushi: error:") and created["id"] in err

"""`pushi.Pushi` speaking the original pushi's REST API (the "classic" API)
against real servers: sessions, events reaching classic WebSocket clients,
subscriptions, apps and error mapping."""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from websockets.sync.client import ClientConnection, connect

import pushi
from pushi.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge, PushiError

ADMIN = "admin-secret-token"
HEX64 = re.compile(r"[0-9a-f]{64}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture
def app() -> pushi.App:
    return pushi.App(id="a" * 64, key="b" * 64, secret="c" * 64, name="classic-client")


@pytest.fixture
def server(app: pushi.App, tmp_path: Path) -> Iterator[pushi.Server]:
    with pushi.Server(apps=[app], store=f"sqlite:///{tmp_path}/store.db",
                      admin_token=ADMIN) as s:
        yield s


@pytest.fixture
def client(server: pushi.Server, app: pushi.App) -> pushi.Pushi:
    return pushi.Pushi(app.id, app.key, app.secret, base_url=server.url, timeout=5)


class Socket:
    """A classic-protocol WebSocket client (ws://host:port/<64-char key>)."""

    def __init__(self, server: pushi.Server, app: pushi.App) -> None:
        self.ws: ClientConnection = connect(f"ws://127.0.0.1:{server.port}/{app.key}")
        hello = self.recv()
        assert hello["event"] == "pusher:connection_established", hello
        self.socket_id = json.loads(hello["data"])["socket_id"]

    def recv(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=timeout))

    def subscribe(self, channel: str, auth: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        self.ws.send(json.dumps({"event": "pusher:subscribe", "data": data}))
        msg = self.recv()
        assert msg["event"] == "pusher_internal:subscription_succeeded", msg
        return msg

    def nothing_within(self, timeout: float = 0.3) -> bool:
        try:
            self.ws.recv(timeout=timeout)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def news(server: pushi.Server, app: pushi.App) -> Iterator[Socket]:
    sock = Socket(server, app)
    sock.subscribe("news")
    yield sock
    sock.close()


def _raw(server: pushi.Server, method: str, path: str,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(server.url + path, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int]]:
    """Records (method, path, status) of every request the client makes."""
    seen: list[tuple[str, str, int]] = []
    real = urllib.request.urlopen

    def spy(request: Any, *args: Any, **kwargs: Any) -> Any:
        path = urllib.parse.urlsplit(request.full_url).path
        try:
            response = real(request, *args, **kwargs)
        except urllib.error.HTTPError as e:
            seen.append((request.get_method(), path, e.code))
            raise
        seen.append((request.get_method(), path, response.status))
        return response

    monkeypatch.setattr("urllib.request.urlopen", spy)
    return seen


# -- sessions ----------------------------------------------------------------


def test_login_stores_and_returns_the_token_and_logout_ends_the_session(server, client):
    token = client.login()
    assert HEX64.fullmatch(token) and client.token == token
    assert client.get_token() == token
    status, body = _raw(server, "GET", "/apps", {"X-Session-Id": token})
    assert status == 200 and body["apps"][0]["ident"] == client.app_id
    assert client.logout() == {"result": "success"}
    assert client.token is None
    status, body = _raw(server, "GET", "/apps", {"X-Session-Id": token})
    assert status == 403 and body["result"] == "error"
    assert client.logout() == {"result": "success"}  # no session: nothing to do


def test_token_is_reused_across_calls(client, calls):
    client.list_subscriptions()
    client.list_apps()
    client.get_app()
    assert [c[1] for c in calls] == ["/login", "/subscriptions", "/apps", f"/apps/{client.app_id}"]


def test_calls_after_logout_log_in_again(client, calls):
    first = client.login()
    client.logout()
    assert client.get_app()["ident"] == client.app_id
    assert client.token is not None and client.token != first
    assert [c[1] for c in calls] == ["/login", "/logout", "/login", f"/apps/{client.app_id}"]


def test_a_403_logs_in_again_once_and_retries(server, client, calls):
    stale = client.login()
    # The server forgets the session (as after a restart): log it out behind
    # the client's back.
    assert _raw(server, "GET", "/logout", {"X-Session-Id": stale})[0] == 200
    calls.clear()
    assert client.list_subscriptions() == []
    assert client.token != stale
    assert calls == [("GET", "/subscriptions", 403), ("GET", "/login", 200),
                     ("GET", "/subscriptions", 200)]


def test_a_second_403_is_raised_not_retried(monkeypatch):
    """Only one re-login per call: a server that keeps answering 403 gets
    two attempts, then the caller sees Forbidden."""
    seen: list[str] = []

    class Answer:
        def __init__(self, body: bytes) -> None:
            self.status, self._body = 200, body

        def read(self) -> bytes:
            return self._body

        def __enter__(self) -> "Answer":
            return self

        def __exit__(self, *exc: Any) -> None:
            return None

    def fake(request: Any, timeout: float | None = None) -> Answer:
        path = urllib.parse.urlsplit(request.full_url).path
        seen.append(path)
        if path == "/login":
            return Answer(json.dumps({"token": f"t{len(seen)}"}).encode())
        body = b'{"result":"error","name":"OperationalError","message":"nope","code":403}'
        raise urllib.error.HTTPError(request.full_url, 403, "Forbidden", {}, io.BytesIO(body))

    monkeypatch.setattr("urllib.request.urlopen", fake)
    client = pushi.Pushi("i", "k", "s", base_url="http://127.0.0.1:9")
    with pytest.raises(Forbidden) as info:
        client.get_app()
    assert info.value.message == "nope"
    assert seen == ["/login", "/apps/i", "/login", "/apps/i"]


def test_login_with_wrong_credentials_is_not_found(server, app):
    bad = pushi.Pushi(app.id, app.key, "d" * 64, base_url=server.url)
    with pytest.raises(NotFound) as info:
        bad.login()
    assert info.value.status == 404
    assert info.value.message == "no app with these credentials"
    with pytest.raises(NotFound):
        bad.list_subscriptions()  # the implicit login fails the same way
    assert bad.token is None


# -- events ------------------------------------------------------------------


def test_create_event_reaches_a_classic_subscriber_with_extras_and_mid(client, news):
    assert client.create_event("news", {"x": 1}, event="greet", priority="high",
                               tags=["a", "b"]) == {"result": "success"}
    msg = news.recv()
    assert UUID.fullmatch(msg.pop("mid"))
    assert isinstance(msg.pop("timestamp"), float)
    assert msg == {"channel": "news", "event": "greet", "data": '{"x":1}',
                   "priority": "high", "tags": ["a", "b"]}


def test_create_event_without_persist_has_no_mid(client, news):
    client.create_event("news", "plain text", persist=False)
    assert news.recv() == {"channel": "news", "event": "message", "data": "plain text"}


def test_create_event_on_several_channels_reaches_a_socket_once(server, app, client, news):
    other = Socket(server, app)
    other.subscribe("sport")
    client.create_event(["sport", "news"], "both", persist=False)
    assert news.recv()["data"] == "both"
    assert other.recv() == {"channel": "sport", "event": "message", "data": "both"}
    assert news.nothing_within() and other.nothing_within()
    other.close()


def test_trigger_event_routes_persist_and_extras_to_create_event(client, news, calls):
    # Plain: the signed Pusher API.
    assert client.trigger_event("news", "pusher", event="p") == {}
    assert news.recv() == {"channel": "news", "event": "p", "data": "pusher"}
    # persist=: the classic POST /events.
    assert client.trigger_event("news", "kept", event="c", persist=True) == {"result": "success"}
    assert "mid" in news.recv()
    # Extra keys: classic too, persisted by default.
    client.trigger_event("news", "x", tag="t")
    msg = news.recv()
    assert msg["tag"] == "t" and "mid" in msg and msg["event"] == "message"
    # The original's positional persist (a bool where socket_id now is).
    client.trigger_event("news", "y", "c", False)
    assert news.recv() == {"channel": "news", "event": "c", "data": "y"}
    paths = [c[1] for c in calls]
    assert paths == [f"/apps/{client.app_id}/events", "/login", "/events", "/events", "/events"]
    with pytest.raises(ValueError):
        client.trigger_event("news", "x", socket_id="1.2", persist=False)


def test_persisted_events_reach_a_subscribed_users_personal_channel(server, app, client):
    assert client.subscribe("u1", "news") == {"instance": app.id, "user_id": "u1",
                                              "event": "news"}
    personal = Socket(server, app)
    auth = client.authenticate("personal-u1", personal.socket_id)["auth"]
    info = json.loads(personal.subscribe("personal-u1", auth)["data"])
    assert info["alias"] == ["news"]
    client.create_event("news", {"n": 1}, event="note")
    msg = personal.recv()
    assert msg["channel"] == "news" and msg["event"] == "note" and "mid" in msg
    personal.close()


# -- subscriptions -----------------------------------------------------------


def test_subscribe_list_and_unsubscribe(client, app):
    doc = {"instance": app.id, "user_id": "u1", "event": "news"}
    assert client.subscribe("u1", "news") == doc
    assert client.subscribe("u1", "news") == doc  # idempotent
    assert client.create_subscription("u1", "room:1&2") == {**doc, "event": "room:1&2"}
    assert client.create_subscription("u2", "news")["user_id"] == "u2"

    def pairs(subs: list[dict[str, Any]]) -> set[tuple[str, str]]:
        assert all(s["instance"] == app.id for s in subs)
        return {(s["user_id"], s["event"]) for s in subs}

    assert pairs(client.list_subscriptions()) == {("u1", "news"), ("u1", "room:1&2"),
                                                  ("u2", "news")}
    assert pairs(client.list_subscriptions(user_id="u1")) == {("u1", "news"), ("u1", "room:1&2")}
    assert pairs(client.list_subscriptions(event="news")) == {("u1", "news"), ("u2", "news")}
    assert client.list_subscriptions(user_id="u1", event="news") == [doc]

    # The event name goes through the path percent-escaped.
    assert client.unsubscribe("u1", "room:1&2") == {**doc, "event": "room:1&2"}
    assert client.delete_subscription("u2", "news", force=True)["user_id"] == "u2"
    assert client.unsubscribe("u2", "news") == {"result": "success"}  # already gone
    with pytest.raises(NotFound) as info:
        client.unsubscribe("u2", "news", force=True)
    assert info.value.message == "no such subscription"
    assert client.list_subscriptions() == [doc]


# -- apps --------------------------------------------------------------------


def test_create_app_needs_the_admin_token(server, client):
    created = client.create_app("second", admin_token=ADMIN)
    for field in ("ident", "key", "secret"):
        assert HEX64.fullmatch(created[field]), created
    assert created["name"] == "second" and created["id"] == created["ident"]
    other = pushi.Pushi(created["ident"], created["key"], created["secret"], base_url=server.url)
    assert other.get_app()["name"] == "second"
    assert other.list_apps() == [other.get_app()]

    for token in ("wrong", ""):
        with pytest.raises(Forbidden) as info:
            client.create_app("third", admin_token=token)
        assert info.value.status == 403 and "admin credential" in info.value.message
    with pytest.raises(BadRequest) as info:
        client.create_app("second", admin_token=ADMIN)
    assert info.value.message == "an app with this name exists"


def test_get_update_and_list_apps(client, app):
    record = client.get_app()
    assert record["ident"] == app.id and record["key"] == app.key
    assert record["name"] == "classic-client"
    updated = client.update_app(name="renamed")
    assert updated["name"] == "renamed" and updated["ident"] == app.id
    assert client.get_app()["name"] == "renamed"
    assert client.list_apps() == [updated]
    with pytest.raises(NotFound):
        client.update_app("f" * 64, name="x")  # the original's app_id argument
    with pytest.raises(ValueError):
        client.update_app()


# -- errors ------------------------------------------------------------------


def test_classic_errors_map_to_the_exception_classes(client, app):
    with pytest.raises(BadRequest) as info:
        client.create_event("news", None)
    assert info.value.status == 400 and info.value.message == "No data set for event"
    assert str(info.value) == "HTTP 400: No data set for event"
    with pytest.raises(BadRequest) as info:
        client.create_event("news", "x", event="bad\nname")
    assert info.value.message == "invalid event name"
    with pytest.raises(BadRequest) as info:
        client.subscribe("bad user!", "news")
    assert "user_id" in info.value.message
    with pytest.raises(PayloadTooLarge) as info:
        client.create_event("news", "x" * (app.max_event_bytes + 1))
    assert info.value.status == 413 and "max_event_bytes" in info.value.message
    with pytest.raises(NotFound):
        client.unsubscribe("nobody", "news", force=True)
    # Statuses without a class of their own: PushiError with the status.
    with pytest.raises(PushiError) as info:
        client._classic("DELETE", "/events")
    assert type(info.value) is PushiError and info.value.status == 405
    assert "GET or POST" in info.value.message
    with pytest.raises(PushiError) as info:
        client._classic("PATCH", "/subscriptions")
    assert type(info.value) is PushiError and info.value.status == 405


def test_api_alias_has_the_classic_methods():
    for name in ("login", "logout", "create_event", "subscribe", "create_subscription",
                 "unsubscribe", "delete_subscription", "list_subscriptions", "create_app",
                 "update_app", "get_app", "list_apps"):
        assert callable(getattr(pushi.API, name))

"""The original pushi's protocol and REST API ("classic" dialect), persistence,
history and personal channels, against real servers and real clients: raw
WebSockets speaking the classic protocol, and the original `pushi` client
library (PyPI pushi==0.6.10) in its own virtual environment."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest
from websockets.sync.client import ClientConnection, connect

from pushi.apps import App
from pushi.server import Server

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_VENV = ROOT / "tests" / ".venv-original"


def _hex(c: str) -> str:
    return c * 64


class Classic:
    """A classic-protocol WebSocket client (what pushi.js does on the wire)."""

    def __init__(self, server: Server, app: App) -> None:
        self.app = app
        self.ws: ClientConnection = connect(f"ws://127.0.0.1:{server.port}/{app.key}")
        hello = json.loads(self.ws.recv(timeout=5))
        assert hello["event"] == "pusher:connection_established"
        self.socket_id = json.loads(hello["data"])["socket_id"]

    def send(self, msg: dict[str, Any]) -> None:
        self.ws.send(json.dumps(msg))

    def recv(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=timeout))

    def auth(self, channel: str, channel_data: str | None = None) -> str:
        msg = f"{self.socket_id}:{channel}" + (f":{channel_data}" if channel_data else "")
        sig = hmac.new(self.app.secret.encode(), msg.encode(), hashlib.sha256).hexdigest()
        return f"{self.app.key}:{sig}"

    def subscribe(self, channel: str, channel_data: dict | None = None,
                  signed_data: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {"channel": channel}
        if channel.startswith(("private-", "presence-", "personal-", "peer-")):
            raw = json.dumps(channel_data, separators=(",", ":")) if signed_data else None
            data["auth"] = self.auth(channel, raw)
        if channel_data is not None:
            data["channel_data"] = raw if signed_data else channel_data
        self.send({"event": "pusher:subscribe", "data": data})
        return self.recv()

    def info(self, msg: dict[str, Any]) -> dict[str, Any]:
        return json.loads(msg["data"])

    def closed_with(self, code: int) -> bool:
        try:
            while True:
                self.ws.recv(timeout=5)
        except Exception:
            pass
        return self.ws.close_code == code

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def capp() -> App:
    return App(id=_hex("1"), key=_hex("2"), secret=_hex("3"), name="classic")


@pytest.fixture
def cserver(capp: App, tmp_path: Path) -> Iterator[Server]:
    with Server(apps=[capp], store=f"sqlite:///{tmp_path}/classic.db", admin_token="admin-t") as s:
        yield s


def _http(server: Server, method: str, path: str, body: Any = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{server.url}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _login(server: Server, app: App) -> str:
    status, body = _http(server, "GET",
                         f"/login?app_id={app.id}&app_key={app.key}&app_secret={app.secret}")
    assert status == 200
    return body["token"]


def _history(sock: Classic, channel: str, count: int = 10) -> list[dict]:
    """pusher:latest, retried until the write-behind store has caught up
    with `count` events or 5 s pass."""
    deadline = time.monotonic() + 5
    while True:
        sock.send({"event": "pusher:latest", "data": {"channel": channel, "count": count}})
        msg = sock.recv()
        assert msg["event"] == "pusher_internal:latest", msg
        events = sock.info(msg)["events"]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.05)


# -- WebSocket protocol ------------------------------------------------------


def test_greeting_has_only_socket_id(cserver: Server, capp: App) -> None:
    s = Classic(cserver, capp)
    assert s.socket_id.count(".") == 1
    s.close()


def test_public_subscribe_answers_channel_info_and_unsubscribe_confirms(cserver, capp) -> None:
    s = Classic(cserver, capp)
    msg = s.subscribe("news")
    assert msg["event"] == "pusher_internal:subscription_succeeded" and msg["channel"] == "news"
    assert s.info(msg) == {"name": "news", "members": {}, "alias": [], "events": []}
    s.send({"event": "pusher:unsubscribe", "data": {"channel": "news"}})
    msg = s.recv()
    assert msg["event"] == "pusher_internal:unsubscription_succeeded"
    assert s.info(msg)["name"] == "news"
    s.close()


def test_private_channel_needs_a_valid_signature(cserver, capp) -> None:
    s = Classic(cserver, capp)
    assert s.subscribe("private-x")["event"] == "pusher_internal:subscription_succeeded"
    bad = Classic(cserver, capp)
    bad.send({"event": "pusher:subscribe", "data": {"channel": "private-y", "auth": "x:y"}})
    err = bad.recv()
    assert err["event"] == "pusher:error" and err["data"]["code"] == 4009
    assert bad.closed_with(4009)
    s.close()


def test_presence_members_and_member_events_use_the_member_key(cserver, capp) -> None:
    a, b, b2 = Classic(cserver, capp), Classic(cserver, capp), Classic(cserver, capp)
    first = a.subscribe("presence-room", {"user_id": "a", "user_info": {"n": 1}})
    assert a.info(first)["members"] == {"a": {"user_id": "a", "user_info": {"n": 1}}}
    joined = b.subscribe("presence-room", {"user_id": "b", "peer": False})
    assert set(b.info(joined)["members"]) == {"a", "b"}
    added = a.recv()
    assert added == {"event": "pusher:member_added", "channel": "presence-room",
                     "member": json.dumps({"user_id": "b", "peer": False}, separators=(",", ":"))}
    b2.subscribe("presence-room", {"user_id": "b"})  # second connection: no member_added
    b.close()                                         # b2 still holds user b: no member_removed
    b2.close()
    removed = a.recv()
    assert removed["event"] == "pusher:member_removed"
    assert json.loads(removed["member"])["user_id"] == "b"
    a.close()


def test_presence_data_signed_when_unsigned_presence_is_off(tmp_path: Path) -> None:
    app = App(id=_hex("4"), key=_hex("5"), secret=_hex("6"), classic_unsigned_presence=False)
    with Server(apps=[app]) as server:
        ok = Classic(server, app)
        msg = ok.subscribe("presence-r", {"user_id": "u"}, signed_data=True)
        assert msg["event"] == "pusher_internal:subscription_succeeded"
        forged = Classic(server, app)
        msg = forged.subscribe("presence-r", {"user_id": "admin"})  # signature over channel only
        assert msg["event"] == "pusher:error" and forged.closed_with(4009)
        ok.close()


def test_client_events_echo_and_public_channels_setting(cserver, capp) -> None:
    a, b = Classic(cserver, capp), Classic(cserver, capp)
    a.subscribe("private-chat")
    b.subscribe("private-chat")
    a.send({"event": "typing", "channel": "private-chat", "data": {"x": 1}, "persist": False})
    got = b.recv()
    assert got == {"channel": "private-chat", "event": "typing", "data": '{"x":1}'}
    a.send({"event": "typing", "channel": "private-chat", "data": "yo", "echo": True,
            "persist": False})
    assert a.recv()["data"] == "yo" and b.recv()["data"] == "yo"
    a.subscribe("public")
    a.send({"event": "shout", "channel": "public", "data": "x", "persist": False})
    err = a.recv()
    assert err["event"] == "pusher:error" and "public_client_events" in err["data"]["message"]
    a.close()
    b.close()


def test_client_event_on_an_unsubscribed_channel_closes(cserver, capp) -> None:
    a = Classic(cserver, capp)
    a.send({"event": "x", "channel": "private-nope", "data": 1})
    assert a.recv()["event"] == "pusher:error"
    assert a.closed_with(4009)


@pytest.mark.parametrize("raw,code", [
    ("not json", 1008),
    ("[1,2]", 1008),
    ('{"data": {}}', 1008),
    ('{"event": "pusher:subscribe", "data": {}}', 1008),
    ('{"event": "pusher:subscribe", "data": {"channel": "bad name"}}', 1008),
    ('{"event": "pusher:unsubscribe", "data": {"channel": "never"}}', 1008),
    ('{"event": "typing", "channel": "c"}', 1008),
])
def test_bad_input_gets_an_error_and_a_close_code(cserver, capp, raw: str, code: int) -> None:
    s = Classic(cserver, capp)
    s.ws.send(raw)
    err = s.recv()
    assert err["event"] == "pusher:error"
    assert s.closed_with(code)
    assert Classic(cserver, capp).socket_id  # others still served


def test_one_delivery_per_socket_per_trigger(cserver, capp) -> None:
    s = Classic(cserver, capp)
    s.subscribe("a")
    s.subscribe("b")
    sid = _login(cserver, capp)
    status, _ = _http(cserver, "POST", f"/events?sid={sid}",
                      {"data": "once", "event": "e", "channel": ["a", "b"], "persist": False})
    assert status == 200
    status, _ = _http(cserver, "POST", f"/events?sid={sid}",
                      {"data": "next", "event": "e", "channel": "b", "persist": False})
    first, second = s.recv(), s.recv()
    assert (first["data"], first["channel"]) == ("once", "a")
    assert second["data"] == "next"  # "once" did not come a second time on b
    s.close()


def test_persisted_events_and_history(cserver, capp) -> None:
    s = Classic(cserver, capp)
    s.subscribe("private-log")
    for i in range(3):
        s.send({"event": "line", "channel": "private-log", "data": {"i": i}, "echo": True})
        msg = s.recv()
        assert msg["data"] == json.dumps({"i": i}, separators=(",", ":"))
        assert len(msg["mid"]) == 36 and isinstance(msg["timestamp"], float)
    events = _history(s, "private-log", 3)
    assert [json.loads(e["data"]["data"])["i"] for e in events] == [2, 1, 0]  # newest first
    first = events[0]
    assert first["instance"] == capp.id and first["channel"] == "private-log"
    assert first["owner_id"] == s.socket_id and first["data"]["event"] == "line"
    s.send({"event": "pusher:latest", "data": {"channel": "private-log", "count": 100000}})
    assert s.recv()["event"] == "pusher:error"  # bounded count
    s.close()


def test_history_survives_a_restart(capp: App, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/h.db"
    with Server(apps=[capp], store=url) as first:
        sid = _login(first, capp)
        for i in range(5):
            assert _http(first, "POST", f"/events?sid={sid}",
                         {"data": f"m{i}", "channel": "keep"})[0] == 200
    with Server(apps=[capp], store=url) as second:  # stop() flushed the writes
        s = Classic(second, capp)
        s.subscribe("keep")
        events = _history(s, "keep", 5)
        assert [e["data"]["data"] for e in events] == ["m4", "m3", "m2", "m1", "m0"]
        s.close()


# -- personal channels --------------------------------------------------------


def test_personal_channel_aliases_inbox_and_live_changes(cserver, capp) -> None:
    sid = _login(cserver, capp)
    assert _http(cserver, "POST", f"/subscriptions?sid={sid}",
                 {"user_id": "ann", "event": "orders"})[0] == 200
    # delivered while ann is offline, linked to her inbox
    assert _http(cserver, "POST", f"/events?sid={sid}",
                 {"data": "o1", "event": "order", "channel": "orders"})[0] == 200
    s = Classic(cserver, capp)
    deadline = time.monotonic() + 5
    while True:
        msg = s.subscribe("personal-ann")
        info = s.info(msg)
        if info["events"] or time.monotonic() > deadline:
            break
        s.send({"event": "pusher:unsubscribe", "data": {"channel": "personal-ann"}})
        s.recv()
        time.sleep(0.05)
    assert msg["event"] == "pusher_internal:subscription_succeeded"
    assert info["alias"] == ["orders"]
    assert [e["data"]["data"] for e in info["events"]] == ["o1"]
    # a subscription added while connected takes effect at once
    assert _http(cserver, "POST", f"/subscriptions?sid={sid}",
                 {"user_id": "ann", "event": "alerts"})[0] == 200
    assert _http(cserver, "POST", f"/events?sid={sid}",
                 {"data": "a1", "event": "alert", "channel": "alerts", "persist": False})[0] == 200
    got = s.recv()
    assert (got["channel"], got["data"]) == ("alerts", "a1")
    status, body = _http(cserver, "GET", f"/subscriptions?sid={sid}&user_id=ann")
    assert sorted(x["event"] for x in body["subscriptions"]) == ["alerts", "orders"]
    assert _http(cserver, "DELETE", f"/subscriptions/ann/alerts?sid={sid}")[0] == 200
    assert _http(cserver, "POST", f"/events?sid={sid}",
                 {"data": "a2", "event": "alert", "channel": "alerts", "persist": False})[0] == 200
    assert _http(cserver, "POST", f"/events?sid={sid}",
                 {"data": "o2", "event": "order", "channel": "orders", "persist": False})[0] == 200
    assert s.recv()["data"] == "o2"  # a2 was not delivered: the alias is gone
    s.close()


def test_personal_channel_on_the_pusher_dialect(cserver, capp) -> None:
    sid = _login(cserver, capp)
    _http(cserver, "POST", f"/subscriptions?sid={sid}", {"user_id": "bob", "event": "feed"})
    with connect(cserver.ws_url(capp)) as ws:
        hello = json.loads(ws.recv(timeout=5))
        sock = json.loads(hello["data"])["socket_id"]
        channel = "private-personal-bob"
        sig = hmac.new(capp.secret.encode(), f"{sock}:{channel}".encode(), hashlib.sha256)
        ws.send(json.dumps({"event": "pusher:subscribe",
                            "data": {"channel": channel, "auth": f"{capp.key}:{sig.hexdigest()}"}}))
        ok = json.loads(ws.recv(timeout=5))
        assert ok["event"] == "pusher_internal:subscription_succeeded"
        assert json.loads(ok["data"])["alias"] == ["feed"]
        cserver.trigger(capp.id, "feed", "post", {"p": 1})
        got = json.loads(ws.recv(timeout=5))
        assert (got["channel"], got["event"]) == ("feed", "post")


def test_pusher_dialect_history_with_app_persist(tmp_path: Path) -> None:
    app = App.generate(persist=True)
    with Server(apps=[app], store=f"sqlite:///{tmp_path}/p.db") as server:
        api = server.client()
        with connect(server.ws_url()) as ws:
            json.loads(ws.recv(timeout=5))
            ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "ticks"}}))
            json.loads(ws.recv(timeout=5))
            for i in range(3):
                api.trigger_event("ticks", {"i": i}, event="tick")
                json.loads(ws.recv(timeout=5))
            deadline = time.monotonic() + 5
            while True:
                ws.send(json.dumps({"event": "pusher:latest", "data": {"channel": "ticks"}}))
                reply = json.loads(ws.recv(timeout=5))
                assert reply["event"] == "pusher:latest"
                events = json.loads(reply["data"])["events"]
                if len(events) == 3 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert [json.loads(e["data"]["data"])["i"] for e in events] == [2, 1, 0]


# -- REST ----------------------------------------------------------------------


def test_rest_sessions_and_errors(cserver, capp) -> None:
    status, body = _http(cserver, "GET", "/login?app_id=x&app_key=y&app_secret=z")
    assert status == 404 and body["result"] == "error" and body["code"] == 404
    assert _http(cserver, "POST", "/events", {"data": 1})[0] == 403
    sid = _login(cserver, capp)
    assert _http(cserver, "POST", "/events", {"data": 1}, {"X-Session-Id": sid})[0] == 200
    assert _http(cserver, "POST", f"/events?sid={sid}", {"event": "x"})[0] == 400  # no data
    status, body = _http(cserver, "GET", f"/apps?sid={sid}")
    assert [a["ident"] for a in body["apps"]] == [capp.id]
    assert _http(cserver, "GET", f"/logout?sid={sid}")[0] == 200
    assert _http(cserver, "POST", f"/events?sid={sid}", {"data": 1})[0] == 403


def test_creating_apps_needs_the_admin_credential(cserver) -> None:
    assert _http(cserver, "POST", "/apps", {"name": "new"})[0] == 403
    status, app = _http(cserver, "POST", "/apps", {"name": "new"}, {"X-Admin-Token": "admin-t"})
    assert status == 200 and len(app["key"]) == 64 and app["ident"] == app["id"]
    made = App(id=app["id"], key=app["key"], secret=app["secret"])
    assert _login(cserver, made)
    assert Classic(cserver, made).socket_id  # its key works on the WebSocket at once


# -- the original client library ---------------------------------------------


def _original_python() -> str:
    python = ORIGINAL_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"the original pushi client is not installed: run scripts/bootstrap --test "
                    f"(it makes {ORIGINAL_VENV} with pushi==0.6.10)")
    return str(python)


ORIGINAL_SCRIPT = r"""
import json, sys, pushi
api = pushi.API(app_id=sys.argv[2], app_key=sys.argv[3], app_secret=sys.argv[4],
                base_url="http://127.0.0.1:%s/" % sys.argv[1])
out = {"file": pushi.__file__}
out["login"] = api.login()
out["event"] = api.trigger_event(channel="news", data={"x": 1}, event="upd")
out["create_event"] = api.create_event("news", "plain", persist=False, subject="hi")
out["subscribe"] = api.subscribe("u1", "news")
out["unsubscribe"] = api.unsubscribe("u1", "news")
out["auth"] = api.authenticate("private-x", "1.2")
print(json.dumps(out))
"""


def test_the_original_client_library(cserver, capp) -> None:
    python = _original_python()
    s = Classic(cserver, capp)
    s.subscribe("news")
    done = subprocess.run([python, "-c", ORIGINAL_SCRIPT, str(cserver.port), capp.id, capp.key,
                           capp.secret], capture_output=True, text=True, timeout=60,
                          cwd="/", env={k: v for k, v in os.environ.items()
                                        if k not in ("PYTHONPATH",)})
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "site-packages" in out["file"]  # the original library, not this tree
    assert len(out["login"]) == 64
    assert out["event"] == {"result": "success"}
    assert out["subscribe"]["user_id"] == "u1" and out["subscribe"]["event"] == "news"
    assert out["unsubscribe"]["event"] == "news"
    sig = hmac.new(capp.secret.encode(), b"1.2:private-x", hashlib.sha256).hexdigest()
    assert out["auth"] == f"{capp.key}:{sig}"
    first, second = s.recv(), s.recv()
    assert (first["event"], first["data"]) == ("upd", '{"x":1}')
    assert (second["data"], second["subject"]) == ("plain", "hi")  # extra keys ride along
    s.close()


# -- peer channels --------------------------------------------------------------


def test_peer_channels_between_presence_members(cserver, capp) -> None:
    a, b, c = Classic(cserver, capp), Classic(cserver, capp), Classic(cserver, capp)
    a.subscribe("presence-chat", {"user_id": "a"})
    b.subscribe("presence-chat", {"user_id": "b"})
    assert a.recv()["event"] == "pusher:member_added"
    # c joins with peer: true -> silent pair channels with a and with b
    c.subscribe("presence-chat", {"user_id": "c", "peer": True})
    assert a.recv()["event"] == "pusher:member_added"
    assert b.recv()["event"] == "pusher:member_added"
    sid = _login(cserver, capp)
    for channel in ("peer-chat:a&c", "peer-chat:b&c"):
        assert _http(cserver, "POST", f"/events?sid={sid}",
                     {"data": channel, "event": "dm", "channel": channel, "persist": False})[0] == 200
    assert (a.recv()["channel"], c.recv()["channel"]) == ("peer-chat:a&c", "peer-chat:a&c")
    assert (b.recv()["channel"], c.recv()["channel"]) == ("peer-chat:b&c", "peer-chat:b&c")
    # a client event on the pair channel reaches the other member only
    a.send({"event": "hi", "channel": "peer-chat:a&c", "data": "x", "persist": False})
    assert c.recv()["event"] == "hi"
    # the peer user leaves: the others leave the pair channels shared with it
    c.send({"event": "pusher:unsubscribe", "data": {"channel": "presence-chat"}})
    assert c.recv()["event"] == "pusher_internal:unsubscription_succeeded"
    assert a.recv()["event"] == "pusher:member_removed"
    assert b.recv()["event"] == "pusher:member_removed"
    status, _ = _http(cserver, "POST", f"/events?sid={sid}",
                      {"data": "late", "event": "dm", "channel": ["peer-chat:a&c", "presence-chat"],
                       "persist": False})
    got = a.recv()
    assert got["channel"] == "presence-chat"  # not the pair channel any more
    for s in (a, b, c):
        s.close()


def test_peer_channel_names_on_the_pusher_dialect(cserver, capp) -> None:
    """Pusher-dialect members get pair channels named inside Pusher's
    charset, so the official SDKs can publish to them."""
    def presence(user: str, peer: bool) -> Any:
        ws = connect(cserver.ws_url(capp))
        sock = json.loads(json.loads(ws.recv(timeout=5))["data"])["socket_id"]
        cd = json.dumps({"user_id": user, "peer": peer}, separators=(",", ":"))
        sig = hmac.new(capp.secret.encode(), f"{sock}:presence-room:{cd}".encode(),
                       hashlib.sha256).hexdigest()
        ws.send(json.dumps({"event": "pusher:subscribe", "data": {
            "channel": "presence-room", "auth": f"{capp.key}:{sig}", "channel_data": cd}}))
        assert json.loads(ws.recv(timeout=5))["event"] == "pusher_internal:subscription_succeeded"
        return ws
    x = presence("x", False)
    y = presence("y", True)
    assert json.loads(x.recv(timeout=5))["event"] == "pusher_internal:member_added"
    cserver.client().trigger_event("peer-room;x;y", {"m": 1}, event="dm")
    assert json.loads(x.recv(timeout=5))["channel"] == "peer-room;x;y"
    assert json.loads(y.recv(timeout=5))["channel"] == "peer-room;x;y"
    x.close()
    y.close()


def test_history_retention_keeps_the_newest(tmp_path: Path) -> None:
    app = App(id=_hex("a"), key=_hex("b"), secret=_hex("c"), history_keep=3)
    with Server(apps=[app], store=f"sqlite:///{tmp_path}/r.db", retention_interval=1) as server:
        sid = _login(server, app)
        for i in range(8):
            assert _http(server, "POST", f"/events?sid={sid}",
                         {"data": f"r{i}", "channel": "ret"})[0] == 200
        s = Classic(server, app)
        s.subscribe("ret")
        deadline = time.monotonic() + 10
        while True:  # the retention pass runs every second here
            s.send({"event": "pusher:latest", "data": {"channel": "ret", "count": 10}})
            events = s.info(s.recv())["events"]
            if len(events) == 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [e["data"]["data"] for e in events] == ["r7", "r6", "r5"]
        s.close()


def test_classic_api_validates_and_respects_disabled_apps(cserver, capp) -> None:
    sid = _login(cserver, capp)
    status, body = _http(cserver, "POST", f"/events?sid={sid}", {"data": 1, "channel": "bad name!"})
    assert status == 400 and "channel" in body["message"]
    status, body = _http(cserver, "PUT", f"/apps/{capp.id}?sid={sid}",
                         {"client_events": True, "max_event_bytes": 99})
    assert status == 200 and body["client_events"] is True and body["max_event_bytes"] == 99
    status, body = _http(cserver, "PUT", f"/apps/{capp.id}?sid={sid}", {"max_event_bytes": -1})
    assert status == 400
    status, _ = _http(cserver, "PUT", f"/apps/{capp.id}?sid={sid}", {"enabled": False})
    assert status == 200
    status, body = _http(cserver, "POST", f"/events?sid={sid}", {"data": 1})
    assert status == 403 and "disabled" in body["message"]


def test_rest_get_events_and_sockets(cserver, capp) -> None:
    sid = _login(cserver, capp)
    for i in range(4):
        assert _http(cserver, "POST", f"/events?sid={sid}",
                     {"data": f"g{i}", "channel": "one" if i % 2 else "two"})[0] == 200
    deadline = time.monotonic() + 5
    while True:  # the store is written behind
        status, body = _http(cserver, "GET", f"/events?sid={sid}&count=3")
        if len(body.get("events", [])) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert status == 200
    assert [e["data"]["data"] for e in body["events"]] == ["g3", "g2", "g1"]  # every channel
    assert _http(cserver, "GET", f"/events?sid={sid}&count=0")[0] == 400
    s = Classic(cserver, capp)
    s.subscribe("one")
    s.subscribe("two")
    status, body = _http(cserver, "GET", f"/sockets?sid={sid}")
    assert status == 200
    mine = [x for x in body["sockets"] if x["socket_id"] == s.socket_id]
    assert len(mine) == 1 and sorted(mine[0]["channels"]) == ["one", "two"]
    s.close()


def test_pipelined_requests_behind_a_deferred_answer_stay_in_order(cserver, capp) -> None:
    import socket as socketlib

    sid = _login(cserver, capp)
    _http(cserver, "POST", f"/events?sid={sid}", {"data": "p", "channel": "c"})
    raw = (f"GET /events?sid={sid}&count=1 HTTP/1.1\r\nHost: x\r\n\r\n"
           "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode()
    with socketlib.create_connection(("127.0.0.1", cserver.port), timeout=5) as sock:
        sock.sendall(raw)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    first = data.index(b'"events"')
    second = data.index(b'"service":"pushi"')
    assert data.count(b"HTTP/1.1 200") == 2 and first < second


def test_presence_without_channel_data_is_a_plain_subscription(cserver, capp) -> None:
    member, watcher = Classic(cserver, capp), Classic(cserver, capp)
    member.subscribe("presence-plain", {"user_id": "m"})
    msg = watcher.subscribe("presence-plain")  # no channel_data: not a member
    assert list(watcher.info(msg)["members"]) == ["m"]
    cserver.trigger(capp.id, "presence-plain", "ev", "x")
    assert watcher.recv()["data"] == "x"
    watcher.send({"event": "pusher:subscribe", "data": {
        "channel": "presence-x", "auth": watcher.auth("presence-x"), "channel_data": 5}})
    assert watcher.recv()["event"] == "pusher:error" and watcher.closed_with(1008)
    member.close()

"""Pusher protocol v7 over WebSocket, end to end against a real pushi.Server.

Clients are websockets' sync client (wrapped by conftest.PusherSocket) and,
for the slow-consumer case, a raw TCP socket that speaks just enough
WebSocket to subscribe and then never reads again.

Ordering trick used for negatives: the server handles one connection's
messages in order and queues every frame for a connection in order, so after
an action, a ``pusher:ping`` whose ``pusher:pong`` is the very next message
proves that nothing else was queued for that connection in between
(``barrier``).  An HTTP trigger returns only after the server queued the
event to its subscribers, so a barrier after it is ordered too.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import struct
import time
from typing import Any, Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from conftest import PusherSocket, private_auth, sign
from pushi.apps import App
from pushi.server import Server


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def data_of(msg: dict[str, Any]) -> Any:
    """The message's data, decoded when it is a (double-encoded) string."""
    data = msg.get("data")
    return json.loads(data) if isinstance(data, str) else data


def barrier(sock: PusherSocket) -> None:
    """Asserts that nothing is queued for sock before a fresh pusher:pong."""
    sock.send("pusher:ping")
    msg = sock.recv()
    assert msg["event"] == "pusher:pong", f"unexpected message before pong: {msg}"


def wait_close(ws: ClientConnection, timeout: float = 5.0) -> tuple[int | None, list[dict]]:
    """Reads until the server closes; returns (close code, messages before)."""
    messages: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"connection still open after {timeout}s; got {messages}")
        try:
            messages.append(json.loads(ws.recv(timeout=remaining)))
        except TimeoutError:
            raise AssertionError(f"connection still open after {timeout}s; got {messages}")
        except ConnectionClosed as exc:
            return (exc.rcvd.code if exc.rcvd is not None else None), messages


def is_open(sock: PusherSocket) -> bool:
    try:
        barrier(sock)
    except ConnectionClosed:
        return False
    return True


@contextlib.contextmanager
def running(*apps: App, **options: Any) -> Iterator[Server]:
    server = Server(host="127.0.0.1", port=0, store="memory:", apps=list(apps), **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def ws_url(server: Server, key: str, query: str = "protocol=7&client=python") -> str:
    return f"ws://127.0.0.1:{server.port}/app/{key}" + (f"?{query}" if query else "")


def channel_data(user_id: Any, info: Any = None) -> str:
    return json.dumps({"user_id": user_id, "user_info": info if info is not None else {"n": str(user_id)}},
                      separators=(",", ":"))


def join_presence(app: App, sock: PusherSocket, channel: str, user_id: Any,
                  info: Any = None) -> dict[str, Any]:
    cd = channel_data(user_id, info)
    return sock.subscribe(channel, auth=private_auth(app, sock.socket_id, channel, cd),
                          channel_data=cd)


def sub_private(app: App, sock: PusherSocket, channel: str) -> dict[str, Any]:
    msg = sock.subscribe(channel, auth=private_auth(app, sock.socket_id, channel))
    assert msg["event"] == "pusher_internal:subscription_succeeded", msg
    return msg


def user_auth(app: App, socket_id: str, user_data: str) -> str:
    return f"{app.key}:{sign(app.secret, f'{socket_id}::user::{user_data}')}"


def signin(app: App, sock: PusherSocket, user_id: str) -> dict[str, Any]:
    user_data = json.dumps({"id": user_id, "user_info": {"name": "n" + user_id}},
                           separators=(",", ":"))
    sock.send("pusher:signin", {"auth": user_auth(app, sock.socket_id, user_data),
                                "user_data": user_data})
    return sock.recv()


def assert_sub_error(msg: dict[str, Any], channel: str, status: int | None = None,
                     type_: str | None = None) -> dict[str, Any]:
    assert msg["event"] == "pusher:subscription_error", msg
    assert msg.get("channel") == channel, msg
    err = data_of(msg)
    assert isinstance(err, dict) and {"type", "error", "status"} <= set(err), err
    assert isinstance(err["type"], str) and isinstance(err["error"], str) and err["error"]
    assert isinstance(err["status"], int)
    if status is not None:
        assert err["status"] == status, err
    if type_ is not None:
        assert err["type"] == type_, err
    return err


# --------------------------------------------------------------------------
# connection
# --------------------------------------------------------------------------


def test_connection_established(pusher_socket):
    a = pusher_socket()
    b = pusher_socket()
    for sock in (a, b):
        assert re.fullmatch(r"\d+\.\d+", sock.socket_id), sock.established
        assert isinstance(sock.established["activity_timeout"], int)
        assert not isinstance(sock.established["activity_timeout"], bool)
        assert sock.established["activity_timeout"] > 0
    assert a.socket_id != b.socket_id


def test_connection_established_data_is_a_json_string(server):
    with connect(server.ws_url()) as ws:
        msg = json.loads(ws.recv(timeout=5))
    assert msg["event"] == "pusher:connection_established"
    assert isinstance(msg["data"], str), "v7 double-encodes server->client data"


def test_pusher_ping_gets_pusher_pong(pusher_socket):
    sock = pusher_socket()
    sock.send("pusher:ping")
    assert sock.recv()["event"] == "pusher:pong"


def test_websocket_ping_frame_gets_pong_frame(pusher_socket):
    sock = pusher_socket()
    pong = sock.ws.ping(b"hello")
    assert pong.wait(timeout=5), "no pong frame for a ping frame"


# --------------------------------------------------------------------------
# public channels
# --------------------------------------------------------------------------


def test_subscribe_public(pusher_socket):
    sock = pusher_socket()
    msg = sock.subscribe("news")
    assert msg["event"] == "pusher_internal:subscription_succeeded"
    assert msg["channel"] == "news"
    assert msg["data"] == "{}"


def test_trigger_reaches_public_subscriber(server, pusher_socket):
    sock = pusher_socket()
    assert sock.subscribe("news")["event"] == "pusher_internal:subscription_succeeded"
    server.client().trigger_event("news", {"x": 1}, event="update")
    msg = sock.recv_event("update")
    assert msg["channel"] == "news"
    assert json.loads(msg["data"]) == {"x": 1}


def test_subscribe_twice_is_idempotent(server, pusher_socket):
    sock = pusher_socket()
    assert sock.subscribe("news")["event"] == "pusher_internal:subscription_succeeded"
    second = sock.subscribe("news")
    assert second["event"] == "pusher_internal:subscription_succeeded"
    assert second["channel"] == "news"
    api = server.client()
    assert api.channel("news", info="subscription_count")["subscription_count"] == 1
    api.trigger_event("news", "1", event="first")
    api.trigger_event("news", "2", event="second")
    assert sock.recv()["event"] == "first"
    assert sock.recv()["event"] == "second", "the event was delivered twice"


def test_unsubscribe_then_trigger_not_received(server, pusher_socket):
    sock = pusher_socket()
    assert sock.subscribe("news")["event"] == "pusher_internal:subscription_succeeded"
    assert sock.subscribe("other")["event"] == "pusher_internal:subscription_succeeded"
    sock.send("pusher:unsubscribe", {"channel": "news"})
    barrier(sock)  # the unsubscribe has been handled
    api = server.client()
    api.trigger_event("news", "x", event="gone")
    api.trigger_event("other", "y", event="marker")
    msg = sock.recv()
    assert msg["event"] == "marker", f"received after unsubscribe: {msg}"


# --------------------------------------------------------------------------
# private and encrypted channels
# --------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["private-room", "private-encrypted-room"])
def test_private_good_auth(app, pusher_socket, channel):
    sock = pusher_socket()
    msg = sock.subscribe(channel, auth=private_auth(app, sock.socket_id, channel))
    assert msg["event"] == "pusher_internal:subscription_succeeded"
    assert msg["channel"] == channel


@pytest.mark.parametrize("channel", ["private-room", "private-encrypted-room"])
def test_private_bad_auth(app, pusher_socket, channel):
    sock = pusher_socket()
    other = App.generate("other")
    bad = [
        f"{app.key}:{'0' * 64}",                                  # wrong signature
        private_auth(other, sock.socket_id, channel).replace(other.key, app.key),  # other secret
        private_auth(app, "1.2", channel),                        # other socket id
        private_auth(app, sock.socket_id, channel + "x"),         # other channel
        private_auth(app, sock.socket_id, channel).replace(app.key, other.key),  # wrong key
        "no-colon-here",
    ]
    for auth in bad:
        assert_sub_error(sock.subscribe(channel, auth=auth), channel, status=401)
    assert is_open(sock)


@pytest.mark.parametrize("channel", ["private-room", "private-encrypted-room"])
def test_private_missing_auth(pusher_socket, channel):
    sock = pusher_socket()
    assert_sub_error(sock.subscribe(channel), channel, status=401)


def test_private_failed_subscription_receives_nothing(server, app, pusher_socket):
    sock = pusher_socket()
    assert_sub_error(sock.subscribe("private-room", auth=f"{app.key}:{'0' * 64}"), "private-room")
    assert sock.subscribe("news")["event"] == "pusher_internal:subscription_succeeded"
    api = server.client()
    api.trigger_event("private-room", "secret", event="leak")
    api.trigger_event("news", "x", event="marker")
    assert sock.recv()["event"] == "marker"


# --------------------------------------------------------------------------
# presence channels
# --------------------------------------------------------------------------


def test_presence_requires_channel_data(app, pusher_socket):
    sock = pusher_socket()
    channel = "presence-room"
    msg = sock.subscribe(channel, auth=private_auth(app, sock.socket_id, channel))
    assert_sub_error(msg, channel)


def test_presence_channel_data_must_be_signed(app, pusher_socket):
    sock = pusher_socket()
    channel = "presence-room"
    honest = channel_data("1")
    forged = channel_data("2")
    auth_for_honest = private_auth(app, sock.socket_id, channel, honest)
    assert_sub_error(sock.subscribe(channel, auth=auth_for_honest, channel_data=forged),
                     channel, status=401)
    # Signing only socket_id:channel (no channel_data) is not enough either.
    assert_sub_error(sock.subscribe(channel, auth=private_auth(app, sock.socket_id, channel),
                                    channel_data=honest), channel, status=401)
    assert join_presence(app, sock, channel, "1")["event"] == \
        "pusher_internal:subscription_succeeded"


def test_presence_channel_data_not_json(app, pusher_socket):
    sock = pusher_socket()
    channel = "presence-room"
    for cd in ("not json", "[1,2]", '{"user_info":{}}', '{"user_id":""}', '{"user_id":"a b"}'):
        auth = private_auth(app, sock.socket_id, channel, cd)
        assert_sub_error(sock.subscribe(channel, auth=auth, channel_data=cd), channel)
    assert is_open(sock)


def test_presence_user_info_too_large(app, pusher_socket):
    sock = pusher_socket()
    channel = "presence-room"
    assert_sub_error(join_presence(app, sock, channel, "1", {"blob": "x" * 2000}), channel)
    assert join_presence(app, sock, channel, "1", {"blob": "x" * 500})["event"] == \
        "pusher_internal:subscription_succeeded"


def test_presence_subscription_succeeded_payload(app, pusher_socket):
    channel = "presence-room"
    a = pusher_socket()
    b = pusher_socket()
    first = join_presence(app, a, channel, "1", {"name": "one"})
    assert first["event"] == "pusher_internal:subscription_succeeded"
    assert first["channel"] == channel
    assert isinstance(first["data"], str)
    assert json.loads(first["data"]) == {
        "presence": {"ids": ["1"], "hash": {"1": {"name": "one"}}, "count": 1}}
    second = join_presence(app, b, channel, "2", {"name": "two"})
    presence = json.loads(second["data"])["presence"]
    assert sorted(presence["ids"]) == ["1", "2"]
    assert presence["hash"] == {"1": {"name": "one"}, "2": {"name": "two"}}
    assert presence["count"] == 2


def test_presence_member_added_and_removed_per_user(server, app, pusher_socket):
    channel = "presence-room"
    u2 = pusher_socket()
    u1a = pusher_socket()
    u1b = pusher_socket()
    assert join_presence(app, u2, channel, "2")["event"] == \
        "pusher_internal:subscription_succeeded"

    # First connection of user 1: user 2 hears member_added, user 1 does not.
    assert join_presence(app, u1a, channel, "1", {"n": "1"})["event"] == \
        "pusher_internal:subscription_succeeded"
    added = u2.recv()
    assert added["event"] == "pusher_internal:member_added", added
    assert added["channel"] == channel
    assert data_of(added) == {"user_id": "1", "user_info": {"n": "1"}}
    barrier(u1a)

    # Second connection of user 1: nobody hears member_added.
    joined = join_presence(app, u1b, channel, "1", {"n": "1"})
    assert joined["event"] == "pusher_internal:subscription_succeeded"
    assert json.loads(joined["data"])["presence"]["count"] == 2
    barrier(u2)
    barrier(u1a)

    # Closing one of user 1's two connections: no member_removed.
    u1a.close()
    barrier(u2)
    assert sorted(u["id"] for u in server.client().users(channel)["users"]) == ["1", "2"]

    # Closing the last one: member_removed.
    u1b.close()
    removed = u2.recv()
    assert removed["event"] == "pusher_internal:member_removed", removed
    assert removed["channel"] == channel
    assert data_of(removed) == {"user_id": "1"}
    assert [u["id"] for u in server.client().users(channel)["users"]] == ["2"]


def test_presence_unsubscribe_sends_member_removed(app, pusher_socket):
    channel = "presence-room"
    a = pusher_socket()
    b = pusher_socket()
    join_presence(app, a, channel, "1")
    join_presence(app, b, channel, "2")
    assert a.recv()["event"] == "pusher_internal:member_added"
    b.send("pusher:unsubscribe", {"channel": channel})
    removed = a.recv()
    assert removed["event"] == "pusher_internal:member_removed"
    assert data_of(removed) == {"user_id": "2"}


def test_presence_numeric_user_id(app, pusher_socket):
    channel = "presence-numbers"
    a = pusher_socket()
    b = pusher_socket()
    first = join_presence(app, a, channel, 7)
    assert first["event"] == "pusher_internal:subscription_succeeded", first
    presence = json.loads(first["data"])["presence"]
    assert [str(i) for i in presence["ids"]] == ["7"]
    assert presence["count"] == 1
    assert join_presence(app, b, channel, 8)["event"] == "pusher_internal:subscription_succeeded"
    added = a.recv()
    assert added["event"] == "pusher_internal:member_added"
    assert str(data_of(added)["user_id"]) == "8"


def test_presence_member_limit():
    app = App.generate("limited", max_presence_members=2, client_events=True)
    channel = "presence-full"
    with running(app) as srv:
        socks = [PusherSocket(connect(ws_url(srv, app.key))) for _ in range(4)]
        try:
            assert join_presence(app, socks[0], channel, "1")["event"] == \
                "pusher_internal:subscription_succeeded"
            assert join_presence(app, socks[1], channel, "2")["event"] == \
                "pusher_internal:subscription_succeeded"
            assert_sub_error(join_presence(app, socks[2], channel, "3"), channel,
                             type_="LimitReached")
            # Another connection of a user already present is not a new member.
            assert join_presence(app, socks[3], channel, "1")["event"] == \
                "pusher_internal:subscription_succeeded"
        finally:
            for s in socks:
                s.close()


# --------------------------------------------------------------------------
# client events
# --------------------------------------------------------------------------


def test_client_event_delivered_to_others_not_echoed(app, pusher_socket):
    channel = "private-chat"
    a = pusher_socket()
    b = pusher_socket()
    sub_private(app, a, channel)
    sub_private(app, b, channel)
    a.send("client-typing", {"who": "a"}, channel=channel)
    msg = b.recv()
    assert msg["event"] == "client-typing"
    assert msg["channel"] == channel
    assert data_of(msg) == {"who": "a"}
    assert "user_id" not in msg
    barrier(a)  # no echo to the sender


def test_client_event_on_presence_carries_user_id(app, pusher_socket):
    channel = "presence-chat"
    a = pusher_socket()
    b = pusher_socket()
    join_presence(app, a, channel, "alice")
    join_presence(app, b, channel, "bob")
    assert a.recv()["event"] == "pusher_internal:member_added"
    a.send("client-hi", {"text": "hello"}, channel=channel)
    msg = b.recv()
    assert msg["event"] == "client-hi"
    assert msg["user_id"] == "alice"
    assert data_of(msg) == {"text": "hello"}
    barrier(a)


def test_client_event_rejected_on_public_channel(server, pusher_socket):
    a = pusher_socket()
    b = pusher_socket()
    assert a.subscribe("lobby")["event"] == "pusher_internal:subscription_succeeded"
    assert b.subscribe("lobby")["event"] == "pusher_internal:subscription_succeeded"
    a.send("client-x", {"y": 1}, channel="lobby")
    assert a.recv()["event"] == "pusher:error"
    barrier(b)  # not delivered


def test_client_event_rejected_when_not_subscribed(app, pusher_socket):
    a = pusher_socket()
    b = pusher_socket()
    sub_private(app, b, "private-x")
    a.send("client-x", {"y": 1}, channel="private-x")
    assert a.recv()["event"] == "pusher:error"
    barrier(b)
    assert is_open(a)


def test_client_event_rejected_when_app_disallows():
    app = App.generate("noclient", client_events=False)
    channel = "private-chat"
    with running(app) as srv:
        a = PusherSocket(connect(ws_url(srv, app.key)))
        b = PusherSocket(connect(ws_url(srv, app.key)))
        try:
            sub_private(app, a, channel)
            sub_private(app, b, channel)
            a.send("client-x", {"y": 1}, channel=channel)
            assert a.recv()["event"] == "pusher:error"
            barrier(b)
        finally:
            a.close()
            b.close()


def test_client_event_too_large_rejected(app, pusher_socket):
    channel = "private-chat"
    a = pusher_socket()
    b = pusher_socket()
    sub_private(app, a, channel)
    sub_private(app, b, channel)
    a.send("client-big", {"pad": "x" * 11000}, channel=channel)
    assert a.recv()["event"] == "pusher:error"
    barrier(b)


def test_client_event_rate_limit(app, pusher_socket):
    channel = "private-fast"
    a = pusher_socket()
    b = pusher_socket()
    sub_private(app, a, channel)
    sub_private(app, b, channel)
    for i in range(11):
        a.send("client-n", {"i": i}, channel=channel)
    err = a.recv()
    assert err["event"] == "pusher:error", err
    assert data_of(err)["code"] == 4301
    received = [data_of(b.recv())["i"] for _ in range(10)]
    assert received == list(range(10))
    barrier(b)  # the 11th was not delivered
    assert is_open(a), "a rate-limited client must stay connected"


# --------------------------------------------------------------------------
# user authentication (signin), server-to-user, terminate
# --------------------------------------------------------------------------


def test_signin_and_server_to_user(server, app, pusher_socket):
    sock = pusher_socket()
    ok = signin(app, sock, "42")
    assert ok["event"] == "pusher:signin_success", ok
    assert json.loads(data_of(ok)["user_data"])["id"] == "42"
    msg = sock.subscribe("#server-to-user-42", auth="")
    assert msg["event"] == "pusher_internal:subscription_succeeded", msg
    server.client().send_to_user("42", "notice", {"text": "hi"})
    got = sock.recv_event("notice")
    assert got["channel"] == "#server-to-user-42"
    assert json.loads(got["data"]) == {"text": "hi"}


def test_server_to_user_channel_needs_signin(app, pusher_socket):
    sock = pusher_socket()
    assert_sub_error(sock.subscribe("#server-to-user-x", auth=""), "#server-to-user-x")
    # Signed in as someone else is not enough either.
    assert signin(app, sock, "y")["event"] == "pusher:signin_success"
    assert_sub_error(sock.subscribe("#server-to-user-x", auth=""), "#server-to-user-x")


def test_signin_invalid_closes_4009(app, pusher_socket):
    sock = pusher_socket()
    user_data = json.dumps({"id": "42"})
    sock.send("pusher:signin", {"auth": f"{app.key}:{'0' * 64}", "user_data": user_data})
    code, messages = wait_close(sock.ws)
    assert messages and messages[0]["event"] == "pusher:error", messages
    assert data_of(messages[0])["code"] == 4009
    assert code == 4009


def test_terminate_user_connections(server, app, pusher_socket):
    target_a = pusher_socket()
    target_b = pusher_socket()
    other_user = pusher_socket()
    anonymous = pusher_socket()
    assert signin(app, target_a, "victim")["event"] == "pusher:signin_success"
    assert signin(app, target_b, "victim")["event"] == "pusher:signin_success"
    assert signin(app, other_user, "bystander")["event"] == "pusher:signin_success"
    server.client().terminate_user_connections("victim")
    for sock in (target_a, target_b):
        code, _ = wait_close(sock.ws)
        assert code == 4009
    assert is_open(other_user)
    assert is_open(anonymous)


# --------------------------------------------------------------------------
# socket_id exclusion
# --------------------------------------------------------------------------


def test_http_trigger_excludes_socket_id(server, pusher_socket):
    a = pusher_socket()
    b = pusher_socket()
    for s in (a, b):
        assert s.subscribe("news")["event"] == "pusher_internal:subscription_succeeded"
    api = server.client()
    api.trigger_event("news", "1", event="excluded", socket_id=a.socket_id)
    api.trigger_event("news", "2", event="marker")
    assert b.recv()["event"] == "excluded"
    assert b.recv()["event"] == "marker"
    assert a.recv()["event"] == "marker", "the excluded socket received the event"


def test_engine_trigger_excludes_socket_id(server, app, pusher_socket):
    a = pusher_socket()
    b = pusher_socket()
    for s in (a, b):
        assert s.subscribe("news")["event"] == "pusher_internal:subscription_succeeded"
    server.trigger(app.id, "news", "excluded", {"v": 1}, socket_id=a.socket_id)
    server.trigger(app.id, "news", "marker", {"v": 2})
    first = b.recv()
    assert first["event"] == "excluded" and json.loads(first["data"]) == {"v": 1}
    assert b.recv()["event"] == "marker"
    assert a.recv()["event"] == "marker", "the excluded socket received the event"


# --------------------------------------------------------------------------
# refused connections: close codes
# --------------------------------------------------------------------------


def _refused(url: str) -> tuple[int | None, list[dict]]:
    with connect(url) as ws:
        return wait_close(ws)


def test_unknown_app_key_4001(server):
    code, messages = _refused(ws_url(server, "nosuchkey"))
    assert messages and messages[0]["event"] == "pusher:error", messages
    assert data_of(messages[0])["code"] == 4001
    assert code == 4001


def test_disabled_app_4003():
    live = App.generate("live")
    off = App.generate("off", enabled=False)
    with running(live, off) as srv:
        code, messages = _refused(ws_url(srv, off.key))
        assert messages and data_of(messages[0])["code"] == 4003
        assert code == 4003
        # The enabled app on the same server still works.
        ok = PusherSocket(connect(ws_url(srv, live.key)))
        ok.close()


@pytest.mark.parametrize("query, expected", [
    ("", 4008),
    ("client=js&version=8.4.0", 4008),
    ("protocol=abc", 4006),
    ("protocol=", 4006),
    ("protocol=3", 4007),
    ("protocol=99", 4007),
])
def test_protocol_version_close_codes(server, query, expected):
    code, messages = _refused(ws_url(server, server.app.key, query))
    assert messages and messages[0]["event"] == "pusher:error", messages
    assert data_of(messages[0])["code"] == expected
    assert code == expected


# --------------------------------------------------------------------------
# activity timeout
# --------------------------------------------------------------------------


def test_activity_timeout_ping_then_4201():
    app = App.generate("idle")
    with running(app, activity_timeout=1, pong_timeout=1) as srv:
        with connect(ws_url(srv, app.key), ping_interval=None) as ws:
            sock = PusherSocket(ws)
            start = time.monotonic()
            assert sock.established["activity_timeout"] == 1
            ping = sock.recv(timeout=5)
            assert ping["event"] == "pusher:ping", ping
            assert 0.9 <= time.monotonic() - start < 3.5
            code, _ = wait_close(ws, timeout=5)
            assert code == 4201


def test_activity_timeout_answered_pong_keeps_open():
    app = App.generate("idle")
    with running(app, activity_timeout=1, pong_timeout=1) as srv:
        with connect(ws_url(srv, app.key), ping_interval=None) as ws:
            sock = PusherSocket(ws)
            for _ in range(3):
                ping = sock.recv(timeout=5)
                assert ping["event"] == "pusher:ping", ping
                sock.send("pusher:pong")
            # Three rounds span more than pong_timeout: still open.
            barrier(sock)


# --------------------------------------------------------------------------
# slow consumer
# --------------------------------------------------------------------------


class RawSubscriber:
    """A WebSocket client on a bare socket with a tiny receive buffer."""

    def __init__(self, port: int, key: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        wskey = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /app/{key}?protocol=7 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {wskey}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "closed during handshake"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def _exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def frame(self) -> tuple[int, bytes]:
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exact(8))[0]
        return b0 & 0x0F, self._exact(n)

    def send_text(self, text: str) -> None:
        payload = text.encode()
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n))
        self.sock.sendall(head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))

    def json(self) -> dict[str, Any]:
        op, payload = self.frame()
        assert op == 1, (op, payload)
        return json.loads(payload)


def _poll_stats(server: Server, key: str, want: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    value = server.stats()[key]
    while value != want and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a counter with a deadline, not synchronisation by sleep
        value = server.stats()[key]
    return value


def test_slow_consumer_is_disconnected():
    app = App.generate("slow")
    with running(app, max_output_bytes=65536) as srv:
        slow = RawSubscriber(srv.port, app.key)
        try:
            assert slow.json()["event"] == "pusher:connection_established"
            slow.send_text(json.dumps({"event": "pusher:subscribe", "data": {"channel": "firehose"}}))
            assert slow.json()["event"] == "pusher_internal:subscription_succeeded"
            # From here on, slow never reads.
            good = PusherSocket(connect(ws_url(srv, app.key)))
            try:
                assert good.subscribe("firehose")["event"] == \
                    "pusher_internal:subscription_succeeded"
                assert srv.stats()["connections"] == 2
                # ~10 MB in all: more than the kernel socket buffers on both
                # sides can absorb (the server's send buffer autotunes to a
                # few MB), so the server's own 64 KiB output cap must act.
                payload = "x" * 10_000
                for i in range(1000):
                    srv.trigger(app.id, "firehose", "big", {"i": i, "pad": payload})
                    msg = good.recv_event("big")
                    assert json.loads(msg["data"])["i"] == i
                assert _poll_stats(srv, "connections", 1, timeout=5) == 1
                assert is_open(good)
            finally:
                good.close()
        finally:
            slow.sock.close()


def test_slow_consumer_gets_close_frame_4100():
    """What the slow consumer finds when it reads again: the frames it was
    sent, then a close frame (4100, over capacity), then EOF."""
    app = App.generate("slow")
    with running(app, max_output_bytes=65536) as srv:
        slow = RawSubscriber(srv.port, app.key)
        try:
            assert slow.json()["event"] == "pusher:connection_established"
            slow.send_text(json.dumps({"event": "pusher:subscribe", "data": {"channel": "firehose"}}))
            assert slow.json()["event"] == "pusher_internal:subscription_succeeded"
            payload = "x" * 10_000
            for i in range(1000):
                srv.trigger(app.id, "firehose", "big", {"i": i, "pad": payload})
            assert _poll_stats(srv, "connections", 0, timeout=5) == 0
            slow.sock.settimeout(10)
            code = None
            seen = -1
            while True:
                op, body = slow.frame()
                if op == 8:
                    code = struct.unpack("!H", body[:2])[0]
                    break
                assert op == 1
                i = json.loads(json.loads(body)["data"])["i"]
                assert i == seen + 1, "frames must arrive whole and in order"
                seen = i
            assert code == 4100
            assert seen < 999, "the server should have dropped queued events"
        finally:
            slow.sock.close()


# --------------------------------------------------------------------------
# shutdown
# --------------------------------------------------------------------------


def test_server_stop_sends_4200():
    app = App.generate("stopping")
    srv = Server(host="127.0.0.1", port=0, store="memory:", apps=[app]).start()
    try:
        a = PusherSocket(connect(ws_url(srv, app.key)))
        b = PusherSocket(connect(ws_url(srv, app.key)))
        assert a.subscribe("news")["event"] == "pusher_internal:subscription_succeeded"
    finally:
        srv.stop()
    for sock in (a, b):
        code, _ = wait_close(sock.ws)
        assert code == 4200

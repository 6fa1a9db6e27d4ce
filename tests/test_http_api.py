"""The HTTP API end to end: every call through the official ``pusher`` SDK
(and through our own ``pushi.Pushi``), with real WebSocket subscribers
proving what was delivered.

Numbers (subscription_count, user_count) are checked exactly: every query is
made after the subscriptions it counts were acknowledged by the server, and
the server handles a connection's frames and the HTTP API on one loop, in
order.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any, Callable

import pusher
import pusher.errors
import pytest
from websockets.exceptions import ConnectionClosed

import pushi

import pushi.errors
from pushi.apps import App
from pushi.client import Pushi
from pushi.server import Server

from conftest import PusherSocket, private_auth


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


@pytest.fixture
def sdk(server: Server, app: App) -> pusher.Pusher:
    """The official Pusher SDK pointed at the test server."""
    return pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret,
                         host="127.0.0.1", port=server.port, ssl=False)


@pytest.fixture
def ours(server: Server) -> Pushi:
    return server.client()


def subscribed(sock: PusherSocket, app: App, channel: str,
               channel_data: dict[str, Any] | None = None) -> PusherSocket:
    """Subscribes sock to channel (signing private-/presence- names) and
    asserts the server acknowledged it."""
    auth = None
    encoded = None
    if channel_data is not None:
        encoded = json.dumps(channel_data)
    if channel.startswith(("private-", "presence-")):
        auth = private_auth(app, sock.socket_id, channel, encoded)
    reply = sock.subscribe(channel, auth=auth, channel_data=encoded)
    assert reply["event"] == "pusher_internal:subscription_succeeded", reply
    assert reply["channel"] == channel
    return sock


def signed_in(sock: PusherSocket, client: Pushi, user_id: str) -> PusherSocket:
    """Signs sock in as user_id with pusher:signin and waits for success."""
    sock.send("pusher:signin", client.authenticate_user(sock.socket_id, {"id": user_id}))
    msg = sock.recv_event("pusher:signin_success")
    assert json.loads(json.loads(msg["data"])["user_data"])["id"] == user_id
    return sock


def alive(sock: PusherSocket) -> bool:
    """True when the connection still answers pusher:ping."""
    try:
        sock.send("pusher:ping")
        return sock.recv_event("pusher:pong", timeout=3.0)["event"] == "pusher:pong"
    except ConnectionClosed:
        return False


def close_code(sock: PusherSocket, timeout: float = 5.0) -> int | None:
    """Reads until the server closes sock; returns the close code it sent."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("the server did not close the connection")
        try:
            sock.ws.recv(timeout=remaining)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None


def wait_until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def delivered(sock: PusherSocket, event: str) -> dict[str, Any]:
    msg = sock.recv_event(event)
    assert isinstance(msg["data"], str), f"data must travel as a JSON string: {msg}"
    return msg


# --------------------------------------------------------------------------
# Official SDK: publishing
# --------------------------------------------------------------------------


def test_sdk_trigger_one_channel(server, app, sdk, pusher_socket):
    sock = subscribed(pusher_socket(), app, "news")
    assert sdk.trigger("news", "update", {"x": 1, "text": "héllo"}) == {}
    msg = delivered(sock, "update")
    assert msg["channel"] == "news"
    assert json.loads(msg["data"]) == {"x": 1, "text": "héllo"}

    # A string is delivered exactly as given, not re-encoded.
    sdk.trigger("news", "plain", "just text")
    assert delivered(sock, "plain")["data"] == "just text"


def test_sdk_trigger_list_of_channels(server, app, sdk, pusher_socket):
    both = pusher_socket()
    subscribed(both, app, "list-a")
    subscribed(both, app, "private-list-b")
    only_c = subscribed(pusher_socket(), app, "list-c")

    assert sdk.trigger(["list-a", "private-list-b", "list-c", "list-empty"], "multi",
                       {"n": 7}) == {}

    got = [delivered(both, "multi"), delivered(both, "multi")]
    assert sorted(m["channel"] for m in got) == ["list-a", "private-list-b"]
    assert all(json.loads(m["data"]) == {"n": 7} for m in got)
    m = delivered(only_c, "multi")
    assert m["channel"] == "list-c" and json.loads(m["data"]) == {"n": 7}
    # Each connection gets the event once per channel it is on, no more.
    sdk.trigger("list-c", "marker", {})
    assert only_c.recv()["event"] == "marker"


def test_sdk_trigger_excludes_socket_id(server, app, sdk, pusher_socket):
    sender = subscribed(pusher_socket(), app, "room")
    other = subscribed(pusher_socket(), app, "room")

    assert sdk.trigger("room", "said", {"who": "sender"}, socket_id=sender.socket_id) == {}
    assert json.loads(delivered(other, "said")["data"]) == {"who": "sender"}

    # Deliveries to one connection keep their order: the first thing the
    # excluded sender sees is the next, unexcluded event.
    sdk.trigger("room", "after", {"n": 2})
    assert sender.recv()["event"] == "after"
    assert other.recv()["event"] == "after"


def test_sdk_trigger_batch(server, app, sdk, pusher_socket):
    sock = pusher_socket()
    for channel in ("batch-1", "batch-2", "private-batch-3"):
        subscribed(sock, app, channel)
    excluded = subscribed(pusher_socket(), app, "batch-1")

    result = sdk.trigger_batch([
        {"channel": "batch-1", "name": "b1", "data": {"i": 1}},
        {"channel": "batch-2", "name": "b2", "data": "two"},
        {"channel": "private-batch-3", "name": "b3", "data": {"i": 3}},
        {"channel": "batch-1", "name": "b4", "data": {"i": 4}, "socket_id": excluded.socket_id},
    ])
    assert result == {}

    got = [delivered(sock, name) for name in ("b1", "b2", "b3", "b4")]
    assert [m["channel"] for m in got] == ["batch-1", "batch-2", "private-batch-3", "batch-1"]
    assert json.loads(got[0]["data"]) == {"i": 1}
    assert got[1]["data"] == "two"
    assert json.loads(got[2]["data"]) == {"i": 3}
    assert json.loads(got[3]["data"]) == {"i": 4}

    # The excluded connection got b1 but not b4.
    assert excluded.recv()["event"] == "b1"
    sdk.trigger("batch-1", "marker", {})
    assert excluded.recv()["event"] == "marker"


def test_sdk_send_to_user(server, app, sdk, ours, pusher_socket):
    carol = signed_in(pusher_socket(), ours, "carol")
    # What pusher-js does after signin_success.
    reply = carol.subscribe("#server-to-user-carol", auth="")
    assert reply["event"] == "pusher_internal:subscription_succeeded", reply
    dave = signed_in(pusher_socket(), ours, "dave")
    assert dave.subscribe("#server-to-user-dave", auth="")["event"] == \
        "pusher_internal:subscription_succeeded"

    # Only a connection signed in as that user may listen to its channel.
    intruder = pusher_socket()
    denied = intruder.subscribe("#server-to-user-carol", auth="")
    assert denied["event"] == "pusher:subscription_error", denied

    assert sdk.send_to_user("carol", "note", {"m": 1}) == {}
    msg = delivered(carol, "note")
    assert msg["channel"] == "#server-to-user-carol"
    assert json.loads(msg["data"]) == {"m": 1}

    sdk.send_to_user("dave", "marker", {})
    assert dave.recv()["event"] == "marker"
    assert intruder.nothing_within(0.2)


# --------------------------------------------------------------------------
# Official SDK: queries
# --------------------------------------------------------------------------


def occupy_presence(app: App, pusher_socket: Any, channel: str,
                    users: list[str]) -> list[PusherSocket]:
    socks = []
    for user in users:
        socks.append(subscribed(pusher_socket(), app, channel,
                                {"user_id": user, "user_info": {"name": user.upper()}}))
    return socks


def test_sdk_channels_info(server, app, sdk, pusher_socket):
    sock = pusher_socket()
    for channel in ("ci-a-1", "ci-a-2", "ci-b-1", "private-ci-x"):
        subscribed(sock, app, channel)
    # Two users, three connections (u1 twice).
    occupy_presence(app, pusher_socket, "presence-ci-room", ["u1", "u2", "u1"])
    occupy_presence(app, pusher_socket, "presence-ci-hall", ["u3"])
    # An unsubscribed channel is not listed.
    subscribed(sock, app, "ci-gone")
    sock.send("pusher:unsubscribe", {"channel": "ci-gone"})
    assert alive(sock)  # the unsubscribe was processed before the pong

    everything = sdk.channels_info()
    assert set(everything["channels"]) == {
        "ci-a-1", "ci-a-2", "ci-b-1", "private-ci-x", "presence-ci-room", "presence-ci-hall"}

    assert sdk.channels_info(prefix_filter="ci-a-") == {"channels": {"ci-a-1": {}, "ci-a-2": {}}}

    presence = sdk.channels_info(prefix_filter="presence-", attributes=["user_count"])
    assert presence == {"channels": {"presence-ci-room": {"user_count": 2},
                                     "presence-ci-hall": {"user_count": 1}}}

    # user_count needs the listing limited to presence- channels.
    with pytest.raises(pusher.errors.PusherBadRequest):
        sdk.channels_info(attributes=["user_count"])
    with pytest.raises(pusher.errors.PusherBadRequest):
        sdk.channels_info(prefix_filter="ci-", attributes=["user_count"])


def test_sdk_channel_info_counts(server, app, sdk, pusher_socket):
    a = subscribed(pusher_socket(), app, "counted")
    subscribed(pusher_socket(), app, "counted")
    subscribed(pusher_socket(), app, "counted")

    info = sdk.channel_info("counted", ["subscription_count"])
    assert info == {"occupied": True, "subscription_count": 3}
    assert sdk.channel_info("counted") == {"occupied": True}
    assert sdk.channel_info("nobody-here", ["subscription_count"]) == \
        {"occupied": False, "subscription_count": 0}

    a.close()
    wait_until(lambda: sdk.channel_info("counted", ["subscription_count"])
               ["subscription_count"] == 2)
    assert sdk.channel_info("counted", ["subscription_count"]) == \
        {"occupied": True, "subscription_count": 2}

    room = occupy_presence(app, pusher_socket, "presence-counted", ["p1", "p2", "p1"])
    info = sdk.channel_info("presence-counted", ["user_count", "subscription_count"])
    assert info == {"occupied": True, "user_count": 2, "subscription_count": 3}

    # p1 leaves on one of two connections: still 2 users, 2 subscriptions.
    room[2].close()
    wait_until(lambda: sdk.channel_info("presence-counted", ["subscription_count"])
               ["subscription_count"] == 2)
    assert sdk.channel_info("presence-counted", ["user_count", "subscription_count"]) == \
        {"occupied": True, "user_count": 2, "subscription_count": 2}
    room[1].close()
    wait_until(lambda: sdk.channel_info("presence-counted", ["user_count"])["user_count"] == 1)


def test_sdk_channel_info_user_count_on_public_channel_is_bad_request(server, app, sdk,
                                                                      pusher_socket):
    subscribed(pusher_socket(), app, "public-counted")
    with pytest.raises(pusher.errors.PusherBadRequest) as info:
        sdk.channel_info("public-counted", ["user_count"])
    assert "presence" in str(info.value)
    with pytest.raises(pusher.errors.PusherBadRequest):
        sdk.channel_info("private-counted", ["user_count"])


def test_sdk_users_info(server, app, sdk, pusher_socket):
    occupy_presence(app, pusher_socket, "presence-users", ["alice", "bob", "alice"])
    users = sdk.users_info("presence-users")
    assert sorted(u["id"] for u in users["users"]) == ["alice", "bob"]
    assert sdk.users_info("presence-empty") == {"users": []}
    with pytest.raises(pusher.errors.PusherBadRequest):
        sdk.users_info("not-presence")


# --------------------------------------------------------------------------
# Official SDK: terminate_user_connections
# --------------------------------------------------------------------------


def test_sdk_terminate_user_connections(server, app, sdk, ours, pusher_socket):
    alice1 = signed_in(pusher_socket(), ours, "alice")
    alice2 = subscribed(signed_in(pusher_socket(), ours, "alice"), app, "news")
    bob = signed_in(pusher_socket(), ours, "bob")
    anonymous = subscribed(pusher_socket(), app, "news")
    # A presence member called "alice" that never signed in is not that user.
    member = subscribed(pusher_socket(), app, "presence-t", {"user_id": "alice"})

    # The SDK posts to /users/alice/terminate_connections (no /apps/<id>).
    assert sdk.terminate_user_connections("alice") == {}

    assert close_code(alice1) == 4009
    assert close_code(alice2) == 4009
    assert alive(bob)
    assert alive(anonymous)
    assert alive(member)
    wait_until(lambda: sdk.channel_info("news", ["subscription_count"])
               ["subscription_count"] == 1)


def test_sdk_terminate_unknown_user_is_ok(server, sdk):
    assert sdk.terminate_user_connections("nobody") == {}


# --------------------------------------------------------------------------
# Official SDK: error mapping
# --------------------------------------------------------------------------


def test_sdk_wrong_secret_is_auth_error(server, app):
    # pusher 3.x calls its 401 exception PusherBadAuth.
    bad = pusher.Pusher(app_id=app.id, key=app.key, secret="0" * 64,
                        host="127.0.0.1", port=server.port, ssl=False)
    with pytest.raises(pusher.errors.PusherBadAuth) as info:
        bad.trigger("news", "x", {})
    assert "auth_signature" in str(info.value)
    with pytest.raises(pusher.errors.PusherBadAuth):
        bad.channels_info()
    with pytest.raises(pusher.errors.PusherBadAuth):
        bad.terminate_user_connections("alice")


def test_sdk_wrong_key_is_auth_error(server, app):
    bad = pusher.Pusher(app_id=app.id, key="f" * 64, secret=app.secret,
                        host="127.0.0.1", port=server.port, ssl=False)
    with pytest.raises(pusher.errors.PusherBadAuth):
        bad.trigger("news", "x", {})
    with pytest.raises(pusher.errors.PusherBadAuth):
        bad.terminate_user_connections("alice")


def test_sdk_unknown_app_id_is_bad_status(server, app):
    bad = pusher.Pusher(app_id="999", key=app.key, secret=app.secret,
                        host="127.0.0.1", port=server.port, ssl=False)
    with pytest.raises(pusher.errors.PusherBadStatus) as info:
        bad.trigger("news", "x", {})
    assert str(info.value).startswith("404")


# --------------------------------------------------------------------------
# pushi.Pushi (our client): the same calls
# --------------------------------------------------------------------------


def test_pushi_trigger_forms(server, app, ours, pusher_socket):
    sock = pusher_socket()
    subscribed(sock, app, "ours-a")
    subscribed(sock, app, "ours-b")
    other = subscribed(pusher_socket(), app, "ours-a")

    assert ours.trigger_event("ours-a", {"k": "v"}, event="one") == {}
    m = delivered(sock, "one")
    assert m["channel"] == "ours-a" and json.loads(m["data"]) == {"k": "v"}

    # Default event name, string data kept as is.
    ours.trigger_event("ours-a", "raw")
    assert delivered(sock, "message")["data"] == "raw"

    # SDK argument order, list of channels.
    assert ours.trigger(["ours-a", "ours-b"], "two", [1, 2]) == {}
    got = [delivered(sock, "two"), delivered(sock, "two")]
    assert sorted(m["channel"] for m in got) == ["ours-a", "ours-b"]
    assert all(json.loads(m["data"]) == [1, 2] for m in got)

    # Exclusion.
    ours.trigger("ours-a", "skip", {}, socket_id=other.socket_id)
    ours.trigger("ours-a", "next", {})
    for name in ("one", "message", "two", "next"):
        assert other.recv()["event"] == name


def test_pushi_trigger_with_info(server, app, ours, pusher_socket):
    occupy_presence(app, pusher_socket, "presence-info", ["i1", "i2", "i1"])
    subscribed(pusher_socket(), app, "info-pub")
    result = ours.trigger_event(["presence-info", "info-pub", "info-empty"], {}, event="e",
                                info=["user_count", "subscription_count"])
    assert result == {"channels": {
        "presence-info": {"user_count": 2, "subscription_count": 3},
        "info-pub": {"subscription_count": 1},
        "info-empty": {"subscription_count": 0},
    }}


def test_pushi_trigger_batch(server, app, ours, pusher_socket):
    sock = subscribed(pusher_socket(), app, "ours-batch")
    occupy_presence(app, pusher_socket, "presence-ours-batch", ["x"])
    result = ours.trigger_batch([
        {"channel": "ours-batch", "name": "first", "data": {"n": 1}},
        {"channel": "ours-batch", "name": "second", "data": "2"},
    ])
    assert result == {}
    assert json.loads(delivered(sock, "first")["data"]) == {"n": 1}
    assert delivered(sock, "second")["data"] == "2"

    result = ours.trigger_batch([
        {"channel": "presence-ours-batch", "name": "a", "data": {}, "info": "user_count"},
        {"channel": "ours-batch", "name": "b", "data": {}},
        {"channel": "ours-batch", "name": "c", "data": {}, "info": "subscription_count"},
    ])
    assert result == {"batch": [{"user_count": 1}, {}, {"subscription_count": 1}]}


def test_pushi_queries(server, app, ours, pusher_socket):
    subscribed(pusher_socket(), app, "q-one")
    subscribed(pusher_socket(), app, "q-one")
    occupy_presence(app, pusher_socket, "presence-q", ["qa", "qb", "qa"])

    listing = ours.channels()
    assert set(listing["channels"]) == {"q-one", "presence-q"}
    assert ours.channels_info(prefix_filter="q-") == {"channels": {"q-one": {}}}
    assert ours.channels(prefix="presence-", info="user_count") == \
        {"channels": {"presence-q": {"user_count": 2}}}

    assert ours.channel("q-one", info=["subscription_count"]) == \
        {"occupied": True, "subscription_count": 2}
    assert ours.channel_info("presence-q", ["user_count", "subscription_count"]) == \
        {"occupied": True, "user_count": 2, "subscription_count": 3}
    assert ours.channel("q-none") == {"occupied": False}

    assert sorted(u["id"] for u in ours.users("presence-q")["users"]) == ["qa", "qb"]
    assert sorted(u["id"] for u in ours.users_info("presence-q")["users"]) == ["qa", "qb"]


def test_pushi_send_to_user_and_terminate(server, app, ours, pusher_socket):
    eve = signed_in(pusher_socket(), ours, "eve")
    assert eve.subscribe("#server-to-user-eve", auth="")["event"] == \
        "pusher_internal:subscription_succeeded"
    frank = signed_in(pusher_socket(), ours, "frank")

    assert ours.send_to_user("eve", "hi", {"to": "eve"}) == {}
    msg = delivered(eve, "hi")
    assert msg["channel"] == "#server-to-user-eve" and json.loads(msg["data"]) == {"to": "eve"}

    # Our client uses the documented path, /apps/<id>/users/<id>/terminate_connections.
    assert ours.terminate_user_connections("eve") == {}
    assert close_code(eve) == 4009
    assert alive(frank)


def test_pushi_unauthorized(server, app):
    bad = Pushi(app.id, app.key, "0" * 64, base_url=server.url)
    with pytest.raises(pushi.errors.Unauthorized) as info:
        bad.trigger_event("news", {})
    assert info.value.status == 401
    assert info.value.message == "invalid auth_signature"

    unknown_key = Pushi(app.id, "f" * 64, app.secret, base_url=server.url)
    with pytest.raises(pushi.errors.Unauthorized) as info:
        unknown_key.channels()
    assert info.value.message == "unknown auth_key"


def test_pushi_bad_request(server, app, ours, pusher_socket):
    subscribed(pusher_socket(), app, "br-public")
    with pytest.raises(pushi.errors.BadRequest) as info:
        ours.channel("br-public", info="user_count")
    assert info.value.status == 400
    assert info.value.message == "info=user_count is only valid for presence channels"

    with pytest.raises(pushi.errors.BadRequest) as info:
        ours.channels(info="user_count")
    assert info.value.message == "info=user_count needs filter_by_prefix=presence-"

    with pytest.raises(pushi.errors.BadRequest) as info:
        ours.users("br-public")
    assert info.value.message == "users are only available for presence channels"

    # The server, not the client, rejects a bad channel name in a batch.
    with pytest.raises(pushi.errors.BadRequest) as info:
        ours.trigger_batch([{"channel": "bad channel!", "name": "x", "data": {}}])
    assert info.value.message.startswith("invalid channel name")

    with pytest.raises(pushi.errors.BadRequest) as info:
        ours.trigger_batch([{"channel": "c", "name": "x", "data": {}}] * 11)
    assert info.value.message == "batch too large: at most 10 events"


def test_pushi_not_found(server, app):
    unknown_app = Pushi("424242", app.key, app.secret, base_url=server.url)
    with pytest.raises(pushi.errors.NotFound) as info:
        unknown_app.trigger_event("news", {})
    assert info.value.status == 404
    assert info.value.message == "unknown app id"


def test_pushi_payload_too_large(server, app, ours, pusher_socket):
    sock = subscribed(pusher_socket(), app, "big")
    limit = app.max_event_bytes
    assert ours.trigger_event("big", "x" * limit, event="fits") == {}
    assert delivered(sock, "fits")["data"] == "x" * limit

    with pytest.raises(pushi.errors.PayloadTooLarge) as info:
        ours.trigger_event("big", "x" * (limit + 1), event="too-big")
    assert info.value.status == 413
    assert info.value.message == "data is larger than the app's max_event_bytes"
    ours.trigger_event("big", {}, event="marker")
    assert sock.recv()["event"] == "marker"


# --------------------------------------------------------------------------
# /health
# --------------------------------------------------------------------------


def test_health_through_urllib(server, app, ours, pusher_socket):
    with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "application/json"
        body = json.loads(response.read())
    # Pusher-style peers' "ok" and the original pushi's status/service/version
    assert body == {"status": "ok", "service": "pushi", "version": pushi.__version__,
                    "ok": True, "connections": 0, "channels": 0}

    subscribed(pusher_socket(), app, "h-1")
    subscribed(pusher_socket(), app, "h-1")
    subscribed(pusher_socket(), app, "h-2")
    with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
        body = json.loads(response.read())
    assert (body["connections"], body["channels"]) == (3, 2)
    assert ours.health() == body

"""Bad input: malformed HTTP, bad upgrades, broken WebSocket frames and
nonsense Pusher messages.

Every case states the answer it expects and then checks that the server
still serves another client (``still_serves``: /health answers 200 and a
fresh WebSocket connection gets pusher:connection_established).

Byte-level cases use raw sockets; frames are built by hand and masked as
RFC 6455 requires of a client (except where the point is not to).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import struct
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest
from websockets.sync.client import connect

from conftest import PusherSocket, raw_http
from wsraw import RawWS, build_frame, open_pusher
from pushi.apps import App
from pushi.client import sign_request
from pushi.server import Server


# --------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # lowercased names
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body)


def parse_responses(raw: bytes) -> list[Response]:
    """Splits a byte stream into HTTP/1.1 responses (Content-Length framed)."""
    out: list[Response] = []
    while raw:
        head, sep, rest = raw.partition(b"\r\n\r\n")
        assert sep, f"incomplete response head: {raw[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        assert parts[0].startswith("HTTP/1."), lines[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        n = int(headers.get("content-length", "0"))
        assert len(rest) >= n, f"short body: {len(rest)} < {n}"
        out.append(Response(int(parts[1]), headers, rest[:n]))
        raw = rest[n:]
    return out


def one_response(raw: bytes) -> Response:
    responses = parse_responses(raw)
    assert len(responses) == 1, responses
    return responses[0]


def request(port: int, method: str, target: str, body: bytes = b"",
            headers: dict[str, str] | None = None) -> Response:
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
        lines.append("Content-Type: application/json")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return one_response(raw_http(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body))


def signed_target(app: App, method: str, path: str, body: bytes, *,
                  timestamp: float | None = None, body_md5: str | None = None,
                  signature: str | None = None, secret: str | None = None) -> str:
    """path?query signed like the Pusher HTTP API, with optional faults."""
    params = {
        "auth_key": app.key,
        "auth_timestamp": str(int(time.time() if timestamp is None else timestamp)),
        "auth_version": "1.0",
    }
    if body_md5 is not None:
        params["body_md5"] = body_md5
    elif body:
        params["body_md5"] = hashlib.md5(body).hexdigest()
    params["auth_signature"] = signature or sign_request(secret or app.secret, method, path, params)
    return path + "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


def post_events(server: Server, app: App, payload: Any, *, raw_body: bytes | None = None,
                path: str | None = None, **faults: Any) -> Response:
    body = raw_body if raw_body is not None else json.dumps(payload).encode()
    path = path or f"/apps/{app.id}/events"
    return request(server.port, "POST", signed_target(app, "POST", path, body, **faults), body)


def assert_json_error(resp: Response, status: int) -> str:
    assert resp.status == status, (resp.status, resp.body)
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    err = resp.json()
    assert isinstance(err, dict) and isinstance(err.get("error"), str) and err["error"], err
    return err["error"]


def still_serves(server: Server) -> None:
    """Another client is still served: /health and a fresh WebSocket."""
    health = request(server.port, "GET", "/health")
    assert health.status == 200, health
    assert health.json()["ok"] is True
    with connect(server.ws_url()) as ws:
        hello = json.loads(ws.recv(timeout=5))
    assert hello["event"] == "pusher:connection_established"


@contextlib.contextmanager
def running(*apps: App, **options: Any) -> Iterator[Server]:
    server = Server(host="127.0.0.1", port=0, store="memory:", apps=list(apps), **options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------


def test_garbage_bytes_400(server):
    raw = raw_http(server.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
    assert_json_error(one_response(raw), 400)
    still_serves(server)


def test_huge_url_431(server):
    raw = raw_http(server.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_json_error(one_response(raw), 431)
    still_serves(server)


def test_huge_headers_431(server):
    payload = (b"GET /health HTTP/1.1\r\nHost: x\r\n" +
               b"".join(b"X-Pad-%d: %s\r\n" % (i, b"v" * 1000) for i in range(9)) + b"\r\n")
    assert len(payload) > 8192
    assert_json_error(one_response(raw_http(server.port, payload)), 431)
    still_serves(server)


def test_too_many_headers_431(server):
    payload = (b"GET /health HTTP/1.1\r\nHost: x\r\n" +
               b"".join(b"X-H%d: v\r\n" % i for i in range(70)) + b"\r\n")
    assert len(payload) < 8192
    assert_json_error(one_response(raw_http(server.port, payload)), 431)
    still_serves(server)


def _send_collect(port: int, payload: bytes, timeout: float = 10.0) -> bytes:
    """Sends payload, tolerating the server closing before it took all of it,
    and returns what the server answered."""
    chunks = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except (ConnectionResetError, TimeoutError):
            pass
    return b"".join(chunks)


def test_body_too_large_413(server, app):
    body = b"{" + b" " * 300_000 + b"}"
    target = signed_target(app, "POST", f"/apps/{app.id}/events", body)
    payload = (f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    assert_json_error(one_response(_send_collect(server.port, payload)), 413)
    still_serves(server)


def test_chunked_body_too_large_413(server, app):
    chunk = b"x" * 32768
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(10)) + b"0\r\n\r\n"
    target = signed_target(app, "POST", f"/apps/{app.id}/events", b"{}")
    payload = (f"POST {target} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               f"Content-Type: application/json\r\n\r\n").encode() + body
    assert_json_error(one_response(_send_collect(server.port, payload)), 413)
    still_serves(server)


def test_unsupported_http_version(server):
    raw = raw_http(server.port, b"GET /health HTTP/3.7\r\nHost: x\r\n\r\n")
    resp = one_response(raw)
    assert resp.status in (400, 505), resp
    assert "error" in resp.json()
    still_serves(server)


def test_unknown_path_404(server):
    assert_json_error(request(server.port, "GET", "/nope"), 404)
    still_serves(server)


def test_wrong_method_on_events_405(server, app):
    path = f"/apps/{app.id}/events"
    resp = request(server.port, "GET", signed_target(app, "GET", path, b""))
    assert_json_error(resp, 405)
    still_serves(server)


def test_events_bad_signature_401(server, app):
    assert_json_error(post_events(server, app, {"name": "e", "channel": "c", "data": "x"},
                                  signature="0" * 64), 401)
    assert_json_error(post_events(server, app, {"name": "e", "channel": "c", "data": "x"},
                                  secret="not-the-secret"), 401)
    still_serves(server)


def test_events_stale_timestamp_401(server, app):
    resp = post_events(server, app, {"name": "e", "channel": "c", "data": "x"},
                       timestamp=time.time() - 700)
    assert "timestamp" in assert_json_error(resp, 401).lower()
    still_serves(server)


def test_events_wrong_body_md5_401(server, app):
    resp = post_events(server, app, {"name": "e", "channel": "c", "data": "x"},
                       body_md5=hashlib.md5(b"something else").hexdigest())
    assert "md5" in assert_json_error(resp, 401).lower()
    still_serves(server)


def test_events_unknown_app_404(server, app):
    resp = post_events(server, app, {"name": "e", "channel": "c", "data": "x"},
                       path="/apps/99999999999/events")
    assert_json_error(resp, 404)
    still_serves(server)


def test_events_non_json_body_400(server, app):
    assert_json_error(post_events(server, app, None, raw_body=b"this is not json"), 400)
    still_serves(server)


@pytest.mark.parametrize("payload", [
    pytest.param({"channel": "c", "data": "x"}, id="missing-name"),
    pytest.param({"name": "e", "channels": [f"c{i}" for i in range(101)], "data": "x"},
                 id="101-channels"),
    pytest.param({"name": "e", "channel": "has space", "data": "x"}, id="invalid-channel"),
    pytest.param({"name": "e", "channel": "c", "data": "x", "socket_id": "abc"},
                 id="bad-socket-id"),
    pytest.param({"name": "e", "channel": "c", "data": "x", "socket_id": "1.2.3"},
                 id="bad-socket-id-two-dots"),
    pytest.param(["not", "an", "object"], id="array-body"),
])
def test_events_invalid_payload_400(server, app, payload):
    assert_json_error(post_events(server, app, payload), 400)
    still_serves(server)


def test_events_data_too_large_413(server, app, pusher_socket):
    sock = pusher_socket()
    assert sock.subscribe("c")["event"] == "pusher_internal:subscription_succeeded"
    resp = post_events(server, app, {"name": "big", "channel": "c", "data": "x" * 10241})
    assert_json_error(resp, 413)
    ok = post_events(server, app, {"name": "fits", "channel": "c", "data": "x" * 10240})
    assert ok.status == 200, ok
    assert sock.recv()["event"] == "fits", "the oversized event must not be delivered"
    still_serves(server)


def test_batch_of_11_400(server, app, pusher_socket):
    sock = pusher_socket()
    assert sock.subscribe("c")["event"] == "pusher_internal:subscription_succeeded"
    batch = [{"name": f"e{i}", "channel": "c", "data": "x"} for i in range(11)]
    body = json.dumps({"batch": batch}).encode()
    path = f"/apps/{app.id}/batch_events"
    assert_json_error(request(server.port, "POST", signed_target(app, "POST", path, body), body),
                      400)
    body = json.dumps({"batch": batch[:10]}).encode()
    ok = request(server.port, "POST", signed_target(app, "POST", path, body), body)
    assert ok.status == 200, ok
    assert sock.recv()["event"] == "e0", "no event of the refused batch may be delivered"
    still_serves(server)


@pytest.mark.parametrize("paths, statuses", [
    pytest.param(["/health", "/health"], [200, 200], id="two-health"),
    pytest.param(["/health", "/nope", "/health"], [200, 404, 200], id="in-order"),
])
def test_pipelined_keep_alive(server, paths, statuses):
    payload = b""
    for i, path in enumerate(paths):
        last = i == len(paths) - 1
        payload += (f"GET {path} HTTP/1.1\r\nHost: x\r\n" +
                    ("Connection: close\r\n" if last else "") + "\r\n").encode()
    responses = parse_responses(raw_http(server.port, payload))
    assert [r.status for r in responses] == statuses
    for r, path in zip(responses, paths):
        if path == "/health":
            assert r.json()["ok"] is True
        else:
            assert "error" in r.json()
    still_serves(server)


def test_slowloris_closed_within_request_timeout():
    app = App.generate("slow")
    with running(app, request_timeout_ms=500) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=3) as s:
            s.sendall(b"GET /hea")
            start = time.monotonic()
            received = b""
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    received += chunk
            except TimeoutError:
                pytest.fail("the server kept a half-sent request open for more than 3 s")
            except ConnectionResetError:
                pass
            assert time.monotonic() - start < 3
            # Closing silently or with a 408 are both fine; anything else is not.
            assert received == b"" or received.startswith(b"HTTP/1.1 408"), received
        still_serves(srv)


# --------------------------------------------------------------------------
# upgrade
# --------------------------------------------------------------------------


def _upgrade(port: int, method: str = "GET", path: str | None = None,
             key: str | None = "dGhlIHNhbXBsZSBub25jZQ==", version: str = "13",
             app_key: str = "") -> Response:
    lines = [f"{method} {path or '/app/' + app_key + '?protocol=7'} HTTP/1.1", "Host: x",
             "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Version: {version}"]
    if key is not None:
        lines.append(f"Sec-WebSocket-Key: {key}")
    if method != "GET":
        lines.append("Content-Length: 0")
    raw = raw_http(port, ("\r\n".join(lines) + "\r\n\r\n").encode())
    return one_response(raw)


def test_upgrade_missing_key_400(server, app):
    assert_json_error(_upgrade(server.port, key=None, app_key=app.key), 400)
    still_serves(server)


def test_upgrade_malformed_key_400(server, app):
    assert_json_error(_upgrade(server.port, key="short", app_key=app.key), 400)
    still_serves(server)


def test_upgrade_version_8_426(server, app):
    resp = _upgrade(server.port, version="8", app_key=app.key)
    assert_json_error(resp, 426)
    assert resp.headers.get("sec-websocket-version") == "13", resp.headers
    still_serves(server)


def test_upgrade_post_400(server, app):
    assert_json_error(_upgrade(server.port, method="POST", app_key=app.key), 400)
    still_serves(server)


def test_upgrade_wrong_path_404(server):
    assert_json_error(_upgrade(server.port, path="/foo"), 404)
    assert_json_error(_upgrade(server.port, path="/app/"), 404)
    still_serves(server)


def test_upgrade_with_first_frame_in_the_same_packet(server, app):
    """A client may send its first frame right behind the handshake."""
    key = base64.b64encode(os.urandom(16)).decode()
    handshake = (f"GET /app/{app.key}?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                 f"Sec-WebSocket-Version: 13\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(handshake + build_frame(0x1, _ping_msg()))
        reader = _Reader(s)
        assert reader.head().startswith(b"HTTP/1.1 101")
        assert reader.json()["event"] == "pusher:connection_established"
        assert reader.json()["event"] == "pusher:pong"


def test_upgrade_after_keep_alive_request(server, app):
    """An upgrade pipelined behind a plain request on the same connection."""
    key = base64.b64encode(os.urandom(16)).decode()
    payload = (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" +
               (f"GET /app/{app.key}?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(payload)
        reader = _Reader(s)
        first = reader.head()
        assert first.startswith(b"HTTP/1.1 200"), first
        n = int([l.split(b":")[1] for l in first.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
        reader.exact(n)
        assert reader.head().startswith(b"HTTP/1.1 101")
        assert reader.json()["event"] == "pusher:connection_established"


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            assert chunk, "closed early"
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def head(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "closed early"
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        return head

    def json(self) -> dict[str, Any]:
        b0, b1 = self.exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self.exact(2))[0]
        assert b0 & 0x0F == 0x1
        return json.loads(self.exact(n))


# --------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------


@pytest.fixture
def raw_ws(server, app) -> Iterator[Any]:
    opened: list[RawWS] = []

    def open_raw() -> RawWS:
        ws = open_pusher(server.port, app.key)
        opened.append(ws)
        return ws

    yield open_raw
    for ws in opened:
        ws.close()


def _ping_msg() -> bytes:
    return json.dumps({"event": "pusher:ping", "data": {}}).encode()


@pytest.mark.parametrize("frame, code", [
    pytest.param(build_frame(0x1, _ping_msg(), mask=False), 1002, id="unmasked"),
    pytest.param(build_frame(0x1, _ping_msg(), rsv=0b100), 1002, id="rsv1"),
    pytest.param(build_frame(0x1, _ping_msg(), rsv=0b011), 1002, id="rsv2-rsv3"),
    pytest.param(build_frame(0x3, b"x"), 1002, id="opcode-3"),
    pytest.param(build_frame(0xB, b""), 1002, id="opcode-0xb"),
    pytest.param(build_frame(0x2, b"\x00\x01\x02"), 1003, id="binary"),
    pytest.param(build_frame(0x1, b"\xff\xfe"), 1007, id="invalid-utf8"),
    pytest.param(build_frame(0x1, b'{"event":"pusher:ping","data":"\xed\xa0\x80"}'), 1007,
                 id="utf8-surrogate"),
    pytest.param(build_frame(0x1, b"x" * 70000), 1009, id="too-big"),
    pytest.param(build_frame(0x1, b"x" * 100, length=1 << 40), 1009, id="huge-declared-length"),
    pytest.param(build_frame(0x1, b"", length=1 << 63), 1002, id="length-msb-set"),
    pytest.param(build_frame(0x9, b"p" * 126), 1002, id="ping-too-long"),
    pytest.param(build_frame(0x9, b"p", fin=False), 1002, id="fragmented-ping"),
    pytest.param(build_frame(0x0, b"x"), 1002, id="continuation-without-start"),
    pytest.param(build_frame(0x8, struct.pack("!H", 1005)), 1002, id="close-1005"),
    pytest.param(build_frame(0x8, struct.pack("!H", 999)), 1002, id="close-999"),
    pytest.param(build_frame(0x8, b"\x03"), 1002, id="close-1-byte"),
])
def test_bad_frame_close_code(server, raw_ws, frame, code):
    ws = raw_ws()
    ws.send(frame)
    assert ws.read_close_code() == code
    assert ws.at_eof(5), "the server must close TCP after the close frame"
    still_serves(server)


def test_fragmented_text_is_one_message(server, raw_ws):
    ws = raw_ws()
    msg = _ping_msg()
    ws.send(build_frame(0x1, msg[:7], fin=False) + build_frame(0x0, msg[7:], fin=True))
    assert ws.read_json()["event"] == "pusher:pong"
    still_serves(server)


def test_fragmented_text_three_parts_split_sends(server, raw_ws):
    ws = raw_ws()
    msg = json.dumps({"event": "pusher:subscribe", "data": {"channel": "frag"}}).encode()
    ws.send(build_frame(0x1, msg[:5], fin=False))
    ws.send(build_frame(0x0, msg[5:20], fin=False))
    ws.send(build_frame(0x0, msg[20:], fin=True))
    reply = ws.read_json()
    assert reply["event"] == "pusher_internal:subscription_succeeded"
    assert reply["channel"] == "frag"


def test_ping_between_fragments_is_answered(server, raw_ws):
    """A control frame may come between the fragments of a message (RFC 6455
    5.4); both are answered (in either order)."""
    ws = raw_ws()
    msg = _ping_msg()
    ws.send(build_frame(0x1, msg[:7], fin=False) + build_frame(0x9, b"mid") +
            build_frame(0x0, msg[7:], fin=True))
    frames = [ws.read_frame(), ws.read_frame()]
    assert (0xA, b"mid") in frames, frames
    texts = [json.loads(p) for op, p in frames if op == 0x1]
    assert [t["event"] for t in texts] == ["pusher:pong"], frames


def test_ping_frame_echoes_payload(server, raw_ws):
    ws = raw_ws()
    ws.send(build_frame(0x9, b"p" * 125))
    assert ws.read_frame() == (0xA, b"p" * 125)


def test_frame_split_across_writes(server, raw_ws):
    ws = raw_ws()
    frame = build_frame(0x1, _ping_msg())
    for i in range(len(frame)):
        ws.send(frame[i:i + 1])
    assert ws.read_json()["event"] == "pusher:pong"


def test_close_1000_is_answered_and_tcp_closed(server, raw_ws):
    ws = raw_ws()
    ws.send(build_frame(0x8, struct.pack("!H", 1000) + b"bye"))
    assert ws.read_close_code() == 1000
    assert ws.at_eof(3)
    still_serves(server)


def test_close_without_code_is_answered(server, raw_ws):
    ws = raw_ws()
    ws.send(build_frame(0x8, b""))
    op, _ = ws.read_frame()
    assert op == 0x8
    assert ws.at_eof(3)


def test_close_invalid_utf8_reason_1007(server, raw_ws):
    ws = raw_ws()
    ws.send(build_frame(0x8, struct.pack("!H", 1000) + b"\xff"))
    assert ws.read_close_code() == 1007
    still_serves(server)


def test_server_initiated_close_handshake_ends_tcp_promptly():
    """After the server's close frame is answered by the client, the server
    closes TCP (RFC 6455 7.1.1) without waiting for its close timeout."""
    app = App.generate("closing")
    with running(app, close_timeout_ms=5000) as srv:
        ws = open_pusher(srv.port, app.key)
        try:
            ws.send(build_frame(0x2, b"binary"))  # the server closes with 1003
            assert ws.read_close_code() == 1003
            ws.send(build_frame(0x8, struct.pack("!H", 1003)))
            start = time.monotonic()
            assert ws.at_eof(8), "TCP not closed"
            elapsed = time.monotonic() - start
            assert elapsed < 1.0, f"TCP closed only after {elapsed:.1f}s (the close timeout)"
        finally:
            ws.close()


# --------------------------------------------------------------------------
# Pusher messages
# --------------------------------------------------------------------------


def _error_then_alive(sock: PusherSocket) -> dict[str, Any]:
    err = sock.recv()
    assert err["event"] == "pusher:error", err
    data = err["data"] if isinstance(err["data"], dict) else json.loads(err["data"])
    assert isinstance(data.get("message"), str) and data["message"]
    sock.send("pusher:ping")
    assert sock.recv()["event"] == "pusher:pong", "the connection must stay usable"
    return data


@pytest.mark.parametrize("text", [
    pytest.param("this is not json", id="non-json"),
    pytest.param("", id="empty"),
    pytest.param('{"event": "pusher:ping"', id="truncated"),
    pytest.param('["pusher:ping"]', id="array"),
    pytest.param('"pusher:ping"', id="string"),
    pytest.param("42", id="number"),
    pytest.param("null", id="null"),
    pytest.param('{"data": {}}', id="missing-event"),
    pytest.param('{"event": 42, "data": {}}', id="event-number"),
    pytest.param('{"event": null}', id="event-null"),
    pytest.param('{"event": ""}', id="event-empty"),
    pytest.param('{"event": "foo", "data": {}}', id="unknown-event"),
    pytest.param('{"event": "pusher:subscribe"}', id="subscribe-no-data"),
    pytest.param('{"event": "pusher:subscribe", "data": {}}', id="subscribe-no-channel"),
    pytest.param('{"event": "pusher:subscribe", "data": {"channel": 5}}',
                 id="subscribe-channel-number"),
    pytest.param('{"event": "pusher:subscribe", "data": 5}', id="subscribe-data-number"),
    pytest.param('{"event": "pusher:unsubscribe"}', id="unsubscribe-no-data"),
    pytest.param('{"event": "pusher:signin"}', id="signin-no-data"),
    pytest.param('{"event": "pusher:ping", "data": {}, "event": "x"}', id="duplicate-keys"),
])
def test_bad_message_gets_pusher_error(server, pusher_socket, text):
    sock = pusher_socket()
    sock.ws.send(text)
    _error_then_alive(sock)
    still_serves(server)


@pytest.mark.parametrize("channel", [
    pytest.param("", id="empty"),
    pytest.param("has space", id="space"),
    pytest.param("a" * 201, id="201-chars"),
    pytest.param("#foo", id="hash"),
    pytest.param("ümlaut", id="non-ascii"),
])
def test_invalid_channel_name_subscription_error(server, pusher_socket, channel):
    sock = pusher_socket()
    msg = sock.subscribe(channel)
    assert msg["event"] == "pusher:subscription_error", msg
    err = msg["data"] if isinstance(msg["data"], dict) else json.loads(msg["data"])
    assert {"type", "error", "status"} <= set(err), err
    sock.send("pusher:ping")
    assert sock.recv()["event"] == "pusher:pong"
    still_serves(server)


def test_channel_name_with_nul_is_refused(server, pusher_socket):
    """A NUL inside the name: either answer is fine (a subscription error, or
    a pusher:error for JSON the server will not take) but no subscription."""
    sock = pusher_socket()
    sock.ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "nul\u0000x"}}))
    msg = sock.recv()
    assert msg["event"] in ("pusher:subscription_error", "pusher:error"), msg
    sock.send("pusher:ping")
    assert sock.recv()["event"] == "pusher:pong"
    assert server.client().channels()["channels"] == {}


def test_channel_name_of_200_chars_is_valid(pusher_socket):
    sock = pusher_socket()
    msg = sock.subscribe("a" * 200)
    assert msg["event"] == "pusher_internal:subscription_succeeded", msg


def test_double_encoded_subscribe_data_accepted(server, pusher_socket):
    sock = pusher_socket()
    sock.ws.send(json.dumps({"event": "pusher:subscribe",
                             "data": json.dumps({"channel": "double"})}))
    msg = sock.recv()
    assert msg["event"] == "pusher_internal:subscription_succeeded", msg
    assert msg["channel"] == "double"
    server.client().trigger_event("double", {"ok": 1}, event="check")
    assert sock.recv()["event"] == "check"


def test_double_encoded_ping_data_accepted(pusher_socket):
    sock = pusher_socket()
    sock.ws.send(json.dumps({"event": "pusher:ping", "data": "{}"}))
    assert sock.recv()["event"] == "pusher:pong"


def test_many_bad_messages_then_still_served(server, pusher_socket):
    sock = pusher_socket()
    for i in range(50):
        sock.ws.send("{bad json %d" % i)
    for _ in range(50):
        assert sock.recv()["event"] == "pusher:error"
    sock.send("pusher:ping")
    assert sock.recv()["event"] == "pusher:pong"
    still_serves(server)

"""Limits and abuse controls, and the graceful shutdown: each one configured
on a real server and hit by real clients."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest
from websockets.sync.client import connect

import pushi
from pushi.apps import App
from pushi.server import Server

from conftest import PusherSocket, raw_http


def _refused_with(url: str, code: int, **kwargs: Any) -> dict:
    """Opens a WebSocket that the server must refuse with a pusher:error and
    close code `code`; returns the error's data."""
    with connect(url, **kwargs) as ws:
        err = json.loads(ws.recv(timeout=5))
        assert err["event"] == "pusher:error"
        assert err["data"]["code"] == code
        with pytest.raises(Exception):
            ws.recv(timeout=5)
        assert ws.close_code == code
        return err["data"]


def test_server_max_connections_closes_with_4100() -> None:
    with Server(apps=[App.generate()], max_connections=2) as s:
        a = PusherSocket(connect(s.ws_url()))
        b = PusherSocket(connect(s.ws_url()))
        _refused_with(s.ws_url(), 4100)
        a.close()
        # once a slot is free, a new connection is served again
        deadline = time.monotonic() + 5
        while s.stats()["connections"] != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        c = PusherSocket(connect(s.ws_url()))
        assert c.socket_id
        b.close()
        c.close()


def test_app_max_connections_closes_with_4004_and_spares_other_apps() -> None:
    small = App.generate("small", max_connections=1)
    other = App.generate("other")
    with Server(apps=[small, other]) as s:
        first = PusherSocket(connect(s.ws_url(small)))
        data = _refused_with(s.ws_url(small), 4004)
        assert "quota" in data["message"]
        assert PusherSocket(connect(s.ws_url(other))).socket_id
        first.close()


@pytest.mark.parametrize("origin,allowed", [
    ("https://app.example.com", True),
    ("https://chat.example.org", True),       # wildcard subdomain
    ("https://deep.chat.example.org", True),
    ("http://chat.example.org", False),       # wrong scheme
    ("https://example.org", False),           # the bare domain is not a subdomain
    ("https://evil.com", False),
    (None, True),                             # no Origin: not a browser
])
def test_origin_allowlist(origin: str | None, allowed: bool) -> None:
    app = App.generate(allowed_origins=["https://app.example.com", "https://*.example.org"])
    with Server(apps=[app]) as s:
        headers = {"Origin": origin} if origin else {}
        kwargs: dict[str, Any] = {"origin": origin} if origin else {}
        if allowed:
            with connect(s.ws_url(), **kwargs) as ws:
                assert json.loads(ws.recv(timeout=5))["event"] == "pusher:connection_established"
        else:
            data = _refused_with(s.ws_url(), 4009, **kwargs)
            assert "Origin" in data["message"]
        assert headers is not None


def test_connections_per_ip_over_the_limit_get_429() -> None:
    with Server(apps=[App.generate()], max_connections_per_ip=2) as s:
        held = [socket.create_connection(("127.0.0.1", s.port)) for _ in range(2)]
        try:
            answer = raw_http(s.port, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert answer.startswith(b"HTTP/1.1 429")
            assert b"Retry-After: 1" in answer
            assert b'"error"' in answer
        finally:
            for h in held:
                h.close()
        # another address is not affected
        with socket.create_connection(("127.0.0.1", s.port), source_address=("127.0.0.2", 0)) as o:
            o.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert o.recv(100).startswith(b"HTTP/1.1 200")


def test_connection_rate_per_ip_is_limited() -> None:
    with Server(apps=[App.generate()], max_connection_rate_per_ip=5) as s:
        statuses = []
        for _ in range(8):
            answer = raw_http(s.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            statuses.append(answer[9:12])
        # the window is one second: the first five pass, the rest are refused
        # (unless the second rolled over mid-loop, which only adds passes)
        assert statuses[:5] == [b"200"] * 5
        assert b"429" in statuses


def test_graceful_stop_delivers_every_acknowledged_event_then_4200() -> None:
    app = App.generate()
    server = Server(apps=[app]).start()
    subscribers = [PusherSocket(connect(server.ws_url(), max_size=None)) for _ in range(5)]
    for sub in subscribers:
        sub.subscribe("orders")
    api = server.client()
    for i in range(200):
        assert api.trigger_event("orders", {"seq": i}, event="order") == {}  # acknowledged
    server.stop()
    for sub in subscribers:
        got = []
        while True:
            try:
                msg = sub.recv(timeout=5)
            except Exception:
                break
            if msg["event"] == "order":
                got.append(json.loads(msg["data"])["seq"])
        assert got == list(range(200))
        assert sub.ws.close_code == 4200


def test_graceful_stop_does_not_hang_on_a_client_that_never_reads() -> None:
    app = App.generate()
    server = Server(apps=[app], shutdown_timeout_ms=500, max_output_bytes=1 << 24).start()
    # a raw client that upgrades and subscribes, then never reads again
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.sendall(
        f"GET /app/{app.key}?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    payload = json.dumps({"event": "pusher:subscribe", "data": {"channel": "big"}}).encode()
    mask = b"\x01\x02\x03\x04"
    raw.sendall(bytes([0x81, 0x80 | len(payload)]) + mask
                + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    deadline = time.monotonic() + 5
    while server.stats()["channels"] != 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    for _ in range(300):
        server.trigger(app.id, "big", "blob", "z" * 10000)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    raw.close()


def test_stop_during_pending_http_request_answers_it() -> None:
    app = App.generate()
    server = Server(apps=[app]).start()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers not finished yet
    stopper = threading.Thread(target=server.stop)
    time.sleep(0.05)  # let the partial request arrive before the stop
    stopper.start()
    s.sendall(b"\r\n")
    data = s.recv(4096)
    stopper.join(10)
    assert data.startswith(b"HTTP/1.1 200") and b"Connection: close" in data
    s.close()

"""Shared helpers for the integration tests.

The pushi_* fixtures come from pushi.pytest_plugin (registered by the
package's pytest11 entry point). Every test runs against a real pushi.Server on 127.0.0.1 and an ephemeral
port (the ``pushi_server`` fixture of pushi.pytest_plugin) and talks to it
with clients nobody here wrote: ``websockets`` (sync client), the official
``pusher`` SDK, and pusher-js in Node.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
from typing import Any, Iterator

import pytest
from websockets.sync.client import ClientConnection, connect

from pushi.apps import App
from pushi.server import Server



class PusherSocket:
    """A thin Pusher-protocol wrapper over a websockets sync connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        hello = self.recv()
        assert hello["event"] == "pusher:connection_established", hello
        self.established = json.loads(hello["data"])
        self.socket_id: str = self.established["socket_id"]

    def send(self, event: str, data: Any = None, channel: str | None = None) -> None:
        msg: dict[str, Any] = {"event": event, "data": {} if data is None else data}
        if channel is not None:
            msg["channel"] = channel
        self.ws.send(json.dumps(msg))

    def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        return json.loads(self.ws.recv(timeout=timeout))

    def recv_event(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        """Receives until an event called name arrives (others are skipped)."""
        while True:
            msg = self.recv(timeout)
            if msg["event"] == name:
                return msg

    def subscribe(self, channel: str, auth: str | None = None,
                  channel_data: str | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        if channel_data is not None:
            data["channel_data"] = channel_data
        self.send("pusher:subscribe", data)
        return self.recv()

    def nothing_within(self, timeout: float = 0.3) -> bool:
        """True when no message arrives within timeout (used only to prove a
        negative, never as synchronisation)."""
        try:
            self.ws.recv(timeout=timeout)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.ws.close()


def sign(secret: str, message: str) -> str:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@pytest.fixture
def app(pushi_app: App) -> App:
    return pushi_app


@pytest.fixture
def server(pushi_server: Server) -> Server:
    return pushi_server


@pytest.fixture
def pusher_socket(server: Server) -> Iterator[Any]:
    """Factory: pusher_socket() opens a Pusher-protocol connection."""
    opened: list[PusherSocket] = []

    def open_socket(url: str | None = None, **kwargs: Any) -> PusherSocket:
        sock = PusherSocket(connect(url or server.ws_url(), **kwargs))
        opened.append(sock)
        return sock

    yield open_socket
    for sock in opened:
        sock.close()


def private_auth(app: App, socket_id: str, channel: str, channel_data: str | None = None) -> str:
    msg = f"{socket_id}:{channel}" + (f":{channel_data}" if channel_data is not None else "")
    return f"{app.key}:{sign(app.secret, msg)}"


def raw_http(port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Sends raw bytes, returns everything the server sends until it closes
    or timeout passes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        chunks = []
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                chunks.append(data)
        except TimeoutError:
            pass
        return b"".join(chunks)

"""A raw-socket WebSocket client (RFC 6455) for tests that need to put exact
bytes on the wire: hand-built frames, odd chunking, protocol violations.

Shared by test_bad_input.py and test_rfc6455.py.  Nothing here hides what
the server sends: ``recv_frame`` returns frames as they came (checking only
that the server did not mask them), and ``next_event`` reassembles messages
while checking every RFC 6455 rule a server's output must follow.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import time
from typing import Any, NamedTuple

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def mask_payload(payload: bytes, key: bytes) -> bytes:
    """XORs payload with the 4-byte key repeated (RFC 6455 5.3).  Done on
    big integers so that 16 MiB take milliseconds, not seconds."""
    n = len(payload)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little")


def build_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, mask: bool = True,
                rsv: int = 0, length: int | None = None, key: bytes | None = None) -> bytes:
    """One frame as a client sends it: masked with a random key unless mask
    is false.  length overrides the declared payload length (the payload
    bytes are still appended as given)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)])
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4) if key is None else key
    return head + key + mask_payload(payload, key)


def close_payload(code: int | None = None, reason: bytes = b"") -> bytes:
    return b"" if code is None else struct.pack("!H", code) + reason


class Frame(NamedTuple):
    fin: bool
    rsv: int
    opcode: int
    payload: bytes


class Event(NamedTuple):
    """A message-level event read from the server: kind is "text",
    "binary", "ping", "pong", "close" or "eof"; for "close", code is the
    status code (None when the frame had no payload) and data the reason."""
    kind: str
    data: bytes = b""
    code: int | None = None


class ProtocolViolation(AssertionError):
    """The server sent something RFC 6455 forbids."""


def _valid_close_code(code: int) -> bool:
    # Codes an endpoint may put in a close frame (RFC 6455 7.4.1, 7.4.2 and
    # the IANA registry: 1012-1014 were registered after the RFC).
    return (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)


class RawWS:
    """A hand-driven WebSocket client on a bare socket.

    ``RawWS(port, path)`` connects, sends the opening handshake for path
    and checks the 101 answer and its Sec-WebSocket-Accept."""

    def __init__(self, port: int, path: str, *, timeout: float = 5.0,
                 host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        self.buf = bytearray()
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            assert chunk, "closed during the handshake"
            self.buf += chunk
        end = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:end])
        del self.buf[:end + 4]
        assert head.startswith(b"HTTP/1.1 101"), head
        expect = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest())
        accept = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")[1:]
                  if line.lower().startswith(b"sec-websocket-accept:")]
        assert accept == [expect], head
        self._partial: tuple[int, list[bytes]] | None = None  # fragmented message in progress

    # -- sending ----------------------------------------------------------
    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes, *, tolerate_closed: bool = False) -> bool:
        """Sends data.  With tolerate_closed, a peer that already closed the
        connection (EPIPE, ECONNRESET) is not an error: returns False."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            if not tolerate_closed:
                raise
            return False
        return True

    def send_chopped(self, data: bytes, size: int, delay: float = 0.0, *,
                     tolerate_closed: bool = False) -> bool:
        """Sends data in writes of size bytes, sleeping delay between them
        (so that the server sees separate reads)."""
        for i in range(0, len(data), size):
            if i and delay:
                time.sleep(delay)
            if not self.send(data[i:i + size], tolerate_closed=tolerate_closed):
                return False
        return True

    # -- receiving --------------------------------------------------------
    def _fill(self, n: int, timeout: float | None) -> None:
        """Ensures n bytes are buffered; EOFError when the peer closes first."""
        if len(self.buf) >= n:
            return
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        if n - len(self.buf) > 65536:
            # Large payloads: receive straight into a buffer of the right size.
            out = bytearray(n)
            have = len(self.buf)
            out[:have] = self.buf
            view = memoryview(out)
            while have < n:
                try:
                    got = self.sock.recv_into(view[have:], n - have)
                except (ConnectionResetError, BrokenPipeError):
                    got = 0
                if not got:
                    self.buf = out[:have]
                    raise EOFError(f"connection closed, wanted {n} bytes, have {have}")
                have += got
            self.buf = out
            return
        while len(self.buf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(self.buf)))
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                raise EOFError(f"connection closed, wanted {n} bytes, have {len(self.buf)}")
            self.buf += chunk

    def _take(self, n: int, timeout: float | None) -> bytes:
        self._fill(n, timeout)
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def recv_frame(self, timeout: float | None = None) -> Frame:
        """The next frame as sent.  Raises EOFError when the connection ends
        first (also midway through a frame), TimeoutError when nothing comes."""
        b0, b1 = self._take(2, timeout)
        if b1 & 0x80:
            raise ProtocolViolation("the server masked a frame (RFC 6455 5.1)")
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._take(2, timeout))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._take(8, timeout))[0]
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, self._take(n, timeout))

    def read_frame(self) -> tuple[int, bytes]:
        """(opcode, payload) of the next frame."""
        frame = self.recv_frame()
        return frame.opcode, frame.payload

    def read_json(self) -> dict[str, Any]:
        op, payload = self.read_frame()
        assert op == OP_TEXT, (op, payload)
        return json.loads(payload)

    def read_close_code(self) -> int | None:
        """Skips data frames up to a close frame; returns its code (None when
        the close frame has no code)."""
        while True:
            try:
                op, payload = self.read_frame()
            except EOFError:
                raise AssertionError("the server closed TCP without sending a close frame")
            if op == OP_CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    def at_eof(self, timeout: float) -> bool:
        """True when the server closes TCP within timeout (data is skipped)."""
        self.buf.clear()
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
        except (TimeoutError, socket.timeout):
            return False
        except ConnectionResetError:
            return True

    def next_event(self, timeout: float | None = None) -> Event:
        """The next message-level event, checking the server's frames against
        RFC 6455: unmasked, reserved bits clear, known opcodes, control
        frames unfragmented and at most 125 bytes, continuation frames only
        inside a fragmented message, text valid UTF-8, a well-formed close
        payload.  Fragmented messages are reassembled (a server may fragment)
        and control frames between fragments come out on their own."""
        while True:
            try:
                frame = self.recv_frame(timeout)
            except EOFError:
                if self._partial is not None or self.buf:
                    raise ProtocolViolation("TCP closed in the middle of a message or frame")
                return Event("eof")
            if frame.rsv:
                raise ProtocolViolation(f"reserved bits {frame.rsv:#x} set without an extension")
            op = frame.opcode
            if op >= 0x8:
                if op not in (OP_CLOSE, OP_PING, OP_PONG):
                    raise ProtocolViolation(f"reserved control opcode {op:#x}")
                if not frame.fin or len(frame.payload) > 125:
                    raise ProtocolViolation("control frame fragmented or over 125 bytes")
                if op == OP_PING:
                    return Event("ping", frame.payload)
                if op == OP_PONG:
                    return Event("pong", frame.payload)
                return self._close_event(frame.payload)
            if op == OP_CONT:
                if self._partial is None:
                    raise ProtocolViolation("continuation frame without a message to continue")
                self._partial[1].append(frame.payload)
            elif op in (OP_TEXT, OP_BINARY):
                if self._partial is not None:
                    raise ProtocolViolation("new data frame inside a fragmented message")
                self._partial = (op, [frame.payload])
            else:
                raise ProtocolViolation(f"reserved data opcode {op:#x}")
            if frame.fin:
                mop, parts = self._partial
                self._partial = None
                data = b"".join(parts)
                if mop == OP_TEXT:
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        raise ProtocolViolation(f"text message is not UTF-8: {exc}")
                    return Event("text", data)
                return Event("binary", data)

    @staticmethod
    def _close_event(payload: bytes) -> Event:
        if len(payload) == 1:
            raise ProtocolViolation("close frame with a 1-byte payload")
        if not payload:
            return Event("close", b"", None)
        code = struct.unpack("!H", payload[:2])[0]
        if not _valid_close_code(code):
            raise ProtocolViolation(f"close frame with code {code}, which may not be sent")
        try:
            payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolViolation("close reason is not UTF-8")
        return Event("close", payload[2:], code)

    def quiet_for(self, timeout: float) -> bool:
        """True when nothing at all (no byte, no end of stream) arrives within
        timeout.  Only for proving a negative, never to synchronise."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            self.sock.recv(1, socket.MSG_PEEK)
        except (TimeoutError, socket.timeout):
            return True
        except OSError:
            return False
        return False

    def expect_eof(self, timeout: float) -> None:
        """Asserts the server closes TCP within timeout and sends nothing
        more before it does."""
        if self.buf:
            raise ProtocolViolation(f"bytes after the close frame: {bytes(self.buf[:40])!r}")
        self.sock.settimeout(timeout)
        start = time.monotonic()
        try:
            chunk = self.sock.recv(65536)
        except (TimeoutError, socket.timeout):
            raise AssertionError(f"the server did not close TCP within {timeout}s")
        except (ConnectionResetError, BrokenPipeError):
            return
        if chunk:
            raise ProtocolViolation(f"bytes after the close frame: {chunk[:40]!r}")
        assert time.monotonic() - start <= timeout


def open_pusher(port: int, app_key: str, *, timeout: float = 5.0) -> RawWS:
    """A RawWS on the Pusher endpoint, past pusher:connection_established."""
    ws = RawWS(port, f"/app/{app_key}?protocol=7", timeout=timeout)
    hello = ws.read_json()
    assert hello["event"] == "pusher:connection_established", hello
    return ws

"""RFC 6455 conformance suite.

Our own implementation, written from RFC 6455 (and RFC 3629 for UTF-8), of
the cases of the Autobahn|Testsuite groups 1 (framing), 2 (pings/pongs),
3 (reserved bits), 4 (opcodes), 5 (fragmentation), 6 (UTF-8), 7 (close
handling), 9 (limits/performance) and 10 (misc).  Every Autobahn case id
appears in the test id (``test_5_fragmentation[5.6]``); cases of our own
that extend a group carry the group and an ``x`` (``3.x-rsv5-ping-after-valid``).

The server runs once for the module with the test-only echo endpoint
(``echo_path``): every text/binary message comes back as it came, up to
16 MiB.  Groups 2 and 7 also run against the Pusher endpoint
``/app/<key>?protocol=7`` (after pusher:connection_established), where the
"still alive" probe is a pusher:ping answered by pusher:pong.

The client is a raw socket (tests/wsraw.py) that sends masked frames with
random masks and checks everything the server sends against the RFC.

Verdicts are strict:

* valid input: exactly the expected frames, in order (echoes byte-exact,
  pongs with the ping's payload), then nothing unexpected: the connection
  still answers a probe, and a close 1000 started by us is answered with
  close 1000, after which the server closes TCP within CLOSE_DEADLINE;
* invalid input: whatever was due before the fault, then a close frame with
  the expected code (1002 protocol error, 1007 invalid UTF-8, 1009 too big)
  and the server closes TCP within CLOSE_DEADLINE without waiting for our
  close (the server's close timeout is set far above that deadline, so a
  server that waits for it fails).
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence, Union

import pytest

from pushi.apps import App
from pushi.server import Server
from wsraw import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, Event, RawWS,
                   build_frame, close_payload, mask_payload, open_pusher)

ECHO_PATH = "/echo"
REPLY_TIMEOUT = 5.0          # longest wait for any single expected frame
CLOSE_DEADLINE = 1.0         # the server must close TCP this soon after the close frame(s)
SERVER_CLOSE_TIMEOUT_MS = 5000
FRAME_GAP = 0.01             # pause between writes in "frame-wise" sending
OCTET_GAP = 0.0005           # pause between writes in "octet-wise" sending
FAIL_FAST_WAIT = 0.3         # 6.4.x: how long a valid prefix must be left alone

frame = build_frame


# --------------------------------------------------------------------------
# expectations
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Like:
    """An expected event matched by a predicate (answers that are not
    byte-exact, such as a Pusher JSON reply)."""
    desc: str
    pred: Callable[[Event], bool] = field(compare=False)

    def __repr__(self) -> str:
        return self.desc


def pusher_event(name: str) -> Like:
    def pred(ev: Event) -> bool:
        if ev.kind != "text":
            return False
        try:
            return json.loads(ev.data).get("event") == name
        except (ValueError, AttributeError):
            return False
    return Like(f"<text message with Pusher event {name}>", pred)


Expected = Union[Event, Like]


def describe(ev: Expected) -> str:
    if isinstance(ev, Like):
        return ev.desc
    if ev.kind == "eof":
        return "<TCP closed>"
    if ev.kind == "close":
        return f"<close code={ev.code} reason={ev.data[:60]!r}>"
    data = ev.data if len(ev.data) <= 60 else ev.data[:60] + b"...(%d bytes)" % len(ev.data)
    return f"<{ev.kind} {data!r}>"


def matches(got: Event, want: Expected) -> bool:
    return want.pred(got) if isinstance(want, Like) else got == want


def next_event(ws: RawWS, timeout: float = REPLY_TIMEOUT, waiting_for: str = "") -> Event:
    try:
        return ws.next_event(timeout)
    except TimeoutError:
        raise AssertionError(f"nothing from the server within {timeout}s"
                             + (f" (waiting for {waiting_for})" if waiting_for else ""))


def expect(ws: RawWS, *wanted: Expected, timeout: float = REPLY_TIMEOUT) -> None:
    """The next events are exactly wanted, in order."""
    for i, want in enumerate(wanted):
        got = next_event(ws, timeout, describe(want))
        assert matches(got, want), (
            f"event {i + 1} of {len(wanted)}: expected {describe(want)}, "
            f"the server sent {describe(got)}")


def expect_close(ws: RawWS, codes: Iterable[int | None]) -> None:
    """The next event is a close frame with one of codes; then the server
    closes TCP within CLOSE_DEADLINE and sends nothing else."""
    codes = list(codes)
    got = next_event(ws, REPLY_TIMEOUT, f"a close frame with code {codes}")
    if got.kind == "eof":
        raise AssertionError(f"the server closed TCP without a close frame (expected code {codes})")
    assert got.kind == "close" and got.code in codes, (
        f"expected a close frame with code {codes}, the server sent {describe(got)}")
    ws.expect_eof(CLOSE_DEADLINE)


def expect_fail(ws: RawWS, code: int, *before: Expected) -> None:
    """The server fails the connection: the events due before the fault,
    then a close frame with code, then TCP closed promptly."""
    expect(ws, *before)
    expect_close(ws, [code])


# --------------------------------------------------------------------------
# endpoints and the server
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    probe: bytes        # a text message the endpoint answers
    reply: Expected     # its answer

    def __repr__(self) -> str:
        return self.name


ECHO = Endpoint("echo", b"probe: still there?", Event("text", b"probe: still there?"))
PUSHER = Endpoint("pusher", json.dumps({"event": "pusher:ping", "data": {}}).encode(),
                  pusher_event("pusher:pong"))
BOTH_ENDPOINTS = [pytest.param(ECHO, id="echo"), pytest.param(PUSHER, id="pusher")]


@pytest.fixture(scope="module")
def rfc_server() -> Iterator[tuple[Server, App]]:
    app = App.generate("rfc6455")
    server = Server(host="127.0.0.1", port=0, store="memory:", apps=[app],
                    echo_path=ECHO_PATH, close_timeout_ms=SERVER_CLOSE_TIMEOUT_MS)
    server.start()
    try:
        yield server, app
    finally:
        server.stop()


@pytest.fixture
def connect(rfc_server) -> Iterator[Callable[..., RawWS]]:
    server, app = rfc_server
    opened: list[RawWS] = []

    def open_ws(endpoint: Endpoint = ECHO) -> RawWS:
        if endpoint is ECHO:
            ws = RawWS(server.port, ECHO_PATH, timeout=REPLY_TIMEOUT)
        else:
            ws = open_pusher(server.port, app.key, timeout=REPLY_TIMEOUT)
        opened.append(ws)
        return ws

    yield open_ws
    for ws in opened:
        ws.close()


def finish(ws: RawWS, ep: Endpoint = ECHO) -> None:
    """The connection is still healthy and closes cleanly: the probe is
    answered, and a close 1000 from us is answered with close 1000, after
    which the server closes TCP promptly."""
    ws.send(frame(OP_TEXT, ep.probe))
    expect(ws, ep.reply)
    ws.send(frame(OP_CLOSE, close_payload(1000, b"done")))
    expect_close(ws, [1000])


# --------------------------------------------------------------------------
# sending
# --------------------------------------------------------------------------


def send_frames(ws: RawWS, frames: Sequence[bytes], mode: str = "one", *,
                may_close: bool = False) -> None:
    """Sends frames in one write ("one"), one write per frame with a pause
    between them ("frame"), or one write per byte ("octet").  With
    may_close, the server closing midway is no error."""
    if mode == "one":
        ws.send(b"".join(frames), tolerate_closed=may_close)
    elif mode == "frame":
        for i, f in enumerate(frames):
            if i:
                time.sleep(FRAME_GAP)
            if not ws.send(f, tolerate_closed=may_close):
                return
    elif mode == "octet":
        ws.send_chopped(b"".join(frames), 1, OCTET_GAP, tolerate_closed=may_close)
    else:
        raise ValueError(mode)


class Sender(threading.Thread):
    """Sends chunks from a thread, so that big exchanges never deadlock on
    full socket buffers while the test reads."""

    def __init__(self, ws: RawWS, chunks: Iterable[bytes]) -> None:
        super().__init__(daemon=True)
        self.ws, self.chunks, self.error = ws, chunks, None
        self.start()

    def run(self) -> None:
        try:
            for chunk in self.chunks:
                self.ws.sock.sendall(chunk)
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self) -> None:
        self.join(30)
        assert not self.is_alive(), "the sender is stuck"
        if self.error is not None:
            raise self.error


_PRINTABLE = bytes(range(0x20, 0x7F))
_ASCII_TABLE = bytes(_PRINTABLE[i % len(_PRINTABLE)] for i in range(256))


def text_payload(n: int) -> bytes:
    """n random printable ASCII bytes."""
    return os.urandom(n).translate(_ASCII_TABLE)


def payload_for(opcode: int, n: int) -> bytes:
    return text_payload(n) if opcode == OP_TEXT else os.urandom(n)


def kind_of(opcode: int) -> str:
    return {OP_TEXT: "text", OP_BINARY: "binary"}[opcode]


def ping(payload: bytes = b"", **kw) -> bytes:
    return frame(OP_PING, payload, **kw)


def pong(payload: bytes = b"") -> Event:
    return Event("pong", payload)


def text(payload: bytes, **kw) -> bytes:
    return frame(OP_TEXT, payload, **kw)


def echo(payload: bytes, opcode: int = OP_TEXT) -> Event:
    return Event(kind_of(opcode), payload)


def close_frame(code: int | None = None, reason: bytes = b"", **kw) -> bytes:
    return frame(OP_CLOSE, close_payload(code, reason), **kw)


def fragments(opcode: int, parts: Sequence[bytes]) -> list[bytes]:
    """A message as len(parts) frames: opcode, then continuations."""
    last = len(parts) - 1
    return [frame(opcode if i == 0 else OP_CONT, p, fin=(i == last)) for i, p in enumerate(parts)]


# --------------------------------------------------------------------------
# generic case runner
# --------------------------------------------------------------------------


@dataclass
class Case:
    """Frames to send, the events due in answer, and either the close code
    the server must fail the connection with or None (then the connection
    must stay usable: see finish)."""
    id: str
    send: list[bytes]
    expect: list[Expected] = field(default_factory=list)
    fail: int | None = None
    mode: str = "one"


def params(cases: Iterable[Case]) -> list:
    cases = list(cases)
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    return [pytest.param(c, id=c.id) for c in cases]


def run_case(ws: RawWS, case: Case, ep: Endpoint = ECHO) -> None:
    send_frames(ws, case.send, case.mode, may_close=case.fail is not None)
    if case.fail is not None:
        expect_fail(ws, case.fail, *case.expect)
    else:
        expect(ws, *case.expect)
        finish(ws, ep)


# ==========================================================================
# 1 Framing
# ==========================================================================

FRAMING_LENGTHS = [0, 125, 126, 127, 128, 65535, 65536]


def _group1() -> Iterator:
    for sub, opcode in ((1, OP_TEXT), (2, OP_BINARY)):
        for i, n in enumerate(FRAMING_LENGTHS, 1):
            yield pytest.param(opcode, n, None, id=f"1.{sub}.{i}")
        # 1.x.8: the 65536-byte frame written in chops of 997 bytes
        yield pytest.param(opcode, 65536, 997, id=f"1.{sub}.8")
        # ours: headers of each length form written one byte at a time
        for n in (0, 125, 126, 65535, 65536):
            yield pytest.param(opcode, n, 1, id=f"1.{sub}.x-len{n}-octetwise")


@pytest.mark.parametrize("opcode, length, chop", list(_group1()))
def test_1_framing(connect, opcode, length, chop):
    ws = connect()
    payload = payload_for(opcode, length)
    data = frame(opcode, payload)
    if chop is None:
        ws.send(data)
    elif chop == 1:
        # The header octet-wise with pauses, the payload in one go.
        head = len(data) - length
        ws.send_chopped(data[:head], 1, OCTET_GAP)
        ws.send(data[head:])
    else:
        ws.send_chopped(data, chop)
    expect(ws, echo(payload, opcode))
    finish(ws)


def _nonminimal(opcode: int, payload: bytes, form: int) -> bytes:
    """A masked frame whose length uses the 16-bit (form 126) or 64-bit
    (form 127) encoding although a shorter one fits."""
    key = os.urandom(4)
    n = len(payload)
    ext = n.to_bytes(2 if form == 126 else 8, "big")
    body = frame(opcode, payload, key=key)
    short_head = 2 if n < 126 else 4
    return bytes([0x80 | opcode, 0x80 | form]) + ext + body[short_head:]


def _group1_bad() -> Iterator[Case]:
    msg = b"Hello, world!"
    yield Case("1.x-unmasked-text", [frame(OP_TEXT, msg, mask=False)], fail=1002)
    yield Case("1.x-unmasked-binary", [frame(OP_BINARY, msg, mask=False)], fail=1002)
    yield Case("1.x-unmasked-ping", [frame(OP_PING, msg, mask=False)], fail=1002)
    yield Case("1.x-unmasked-after-valid", [text(msg), frame(OP_TEXT, msg, mask=False)],
               [echo(msg)], fail=1002)
    yield Case("1.x-length-msb-set", [frame(OP_BINARY, b"", length=1 << 63)], fail=1002)
    yield Case("1.x-nonminimal-16bit-length", [_nonminimal(OP_TEXT, msg, 126)], fail=1002)
    yield Case("1.x-nonminimal-64bit-length", [_nonminimal(OP_TEXT, b"a" * 200, 127)],
               fail=1002)
    two = [text(msg), frame(OP_BINARY, b"\x00\xff" * 50), text(b"")]
    yield Case("1.x-three-messages-one-write", two,
               [echo(msg), echo(b"\x00\xff" * 50, OP_BINARY), echo(b"")])


@pytest.mark.parametrize("case", params(_group1_bad()))
def test_1_framing_rules(connect, case):
    run_case(connect(), case)


# ==========================================================================
# 2 Pings/Pongs (echo and Pusher endpoints)
# ==========================================================================


def _group2() -> Iterator[Case]:
    yield Case("2.1", [ping()], [pong()])
    yield Case("2.2", [ping(b"Hello, world!")], [pong(b"Hello, world!")])
    binary = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    yield Case("2.3", [ping(binary)], [pong(binary)])
    yield Case("2.4", [ping(b"\xfe" * 125)], [pong(b"\xfe" * 125)])
    yield Case("2.5", [ping(b"\xfe" * 126)], fail=1002)
    yield Case("2.6", [ping(b"\xfe" * 125)], [pong(b"\xfe" * 125)], mode="octet")
    yield Case("2.7", [frame(OP_PONG)], [])
    yield Case("2.8", [frame(OP_PONG, b"unsolicited pong payload")], [])
    yield Case("2.9", [frame(OP_PONG, b"unsolicited pong payload"), ping(b"ping payload")],
               [pong(b"ping payload")])
    ten = [b"payload-%d" % i for i in range(10)]
    yield Case("2.10", [ping(p) for p in ten], [pong(p) for p in ten])
    yield Case("2.11", [ping(p) for p in ten], [pong(p) for p in ten], mode="octet")
    # ours: every payload length a ping may have, random bytes
    for n in range(126):
        p = os.urandom(n)
        yield Case(f"2.x-len{n}", [ping(p)], [pong(p)])
    # ours: control frames over 125 bytes, in every length encoding
    for n in (126, 127, 65535, 65536):
        yield Case(f"2.5-x-len{n}", [ping(b"\xfe" * n)], fail=1002)
    yield Case("2.x-pong-over-125", [frame(OP_PONG, b"\xfe" * 126)], fail=1002)
    # ours: a ping answered even when the next frame in the same read is a
    # protocol error (the pong was due before the fault was seen)
    yield Case("2.x-ping-then-invalid-frame", [ping(b"before"), frame(3, b"")],
               [pong(b"before")], fail=1002)
    yield Case("2.x-ping-frame-wise", [ping(p) for p in ten], [pong(p) for p in ten],
               mode="frame")
    yield Case("2.x-ping-after-message", [text(b"x" * 10), ping(b"after")],
               [Like("<any answer to the text message>", lambda e: e.kind == "text"),
                pong(b"after")])


@pytest.mark.parametrize("ep", BOTH_ENDPOINTS)
@pytest.mark.parametrize("case", params(_group2()))
def test_2_pings(connect, ep, case):
    if case.id == "2.x-ping-after-message" and ep is ECHO:
        case = Case(case.id, case.send, [echo(b"x" * 10), pong(b"after")])
    run_case(connect(ep), case, ep)


@pytest.mark.parametrize("mode", ["one", "frame"])
@pytest.mark.parametrize("ep", [pytest.param(ECHO, id="2.x-ping-between-fragments-echo"),
                                pytest.param(PUSHER, id="2.x-ping-between-fragments-pusher")])
def test_2_ping_between_fragments(connect, ep, mode):
    """The endpoint's probe message in two fragments with a ping between:
    the pong comes first (the ping arrived first), then the answer."""
    ws = connect(ep)
    send_frames(ws, [text(ep.probe[:7], fin=False), ping(b"mid"),
                     frame(OP_CONT, ep.probe[7:])], mode)
    expect(ws, pong(b"mid"), ep.reply)
    finish(ws, ep)


# ==========================================================================
# 3 Reserved bits
# ==========================================================================


def _bad_rsv_frame(kind: str, rsv: int) -> bytes:
    if kind == "text":
        return text(b"Hello", rsv=rsv)
    if kind == "binary":
        return frame(OP_BINARY, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff", rsv=rsv)
    if kind == "ping":
        return ping(b"Hello", rsv=rsv)
    return close_frame(1000, rsv=rsv)


def _group3() -> Iterator[Case]:
    hello = text(b"Hello")
    yield Case("3.1", [_bad_rsv_frame("text", 1)], fail=1002)
    for cid, rsv, mode in (("3.2", 2, "one"), ("3.3", 3, "frame"), ("3.4", 4, "octet")):
        yield Case(cid, [hello, _bad_rsv_frame("text", rsv), ping()], [echo(b"Hello")],
                   fail=1002, mode=mode)
    yield Case("3.5", [_bad_rsv_frame("binary", 5)], fail=1002)
    yield Case("3.6", [_bad_rsv_frame("ping", 6)], fail=1002)
    yield Case("3.7", [_bad_rsv_frame("close", 7)], fail=1002)
    # ours: every reserved-bit pattern on every frame kind, alone or after a
    # valid message (then the message is echoed first, and the ping sent
    # after the bad frame is never answered)
    for rsv in range(1, 8):
        for kind in ("text", "binary", "ping", "close"):
            bad = _bad_rsv_frame(kind, rsv)
            yield Case(f"3.x-rsv{rsv}-{kind}-alone", [bad, ping(b"after")], fail=1002)
            yield Case(f"3.x-rsv{rsv}-{kind}-after-valid", [hello, bad, ping(b"after")],
                       [echo(b"Hello")], fail=1002)
    yield Case("3.x-rsv-on-continuation",
               [text(b"frag1", fin=False), frame(OP_CONT, b"frag2", rsv=4)], fail=1002)


@pytest.mark.parametrize("case", params(_group3()))
def test_3_reserved_bits(connect, case):
    run_case(connect(), case)


# ==========================================================================
# 4 Opcodes
# ==========================================================================

RESERVED_DATA_OPCODES = [3, 4, 5, 6, 7]
RESERVED_CONTROL_OPCODES = [11, 12, 13, 14, 15]


def _group4() -> Iterator[Case]:
    hello = text(b"Hello")
    body = b"reserved opcode payload"
    for sub, ops in ((1, RESERVED_DATA_OPCODES), (2, RESERVED_CONTROL_OPCODES)):
        yield Case(f"4.{sub}.1", [frame(ops[0])], fail=1002)
        yield Case(f"4.{sub}.2", [frame(ops[1], body)], fail=1002)
        yield Case(f"4.{sub}.3", [hello, frame(ops[2]), ping()], [echo(b"Hello")], fail=1002)
        yield Case(f"4.{sub}.4", [hello, frame(ops[3], body), ping()], [echo(b"Hello")],
                   fail=1002)
        yield Case(f"4.{sub}.5", [hello, frame(ops[4], body), ping()], [echo(b"Hello")],
                   fail=1002, mode="octet")
    # ours: every reserved opcode, empty and with payload, alone, after a
    # valid message, and between the fragments of a message
    for op in RESERVED_DATA_OPCODES + RESERVED_CONTROL_OPCODES:
        for what, p in (("empty", b""), ("payload", body)):
            yield Case(f"4.x-op{op}-{what}-alone", [frame(op, p), ping(b"after")], fail=1002)
            yield Case(f"4.x-op{op}-{what}-after-valid", [hello, frame(op, p), ping(b"after")],
                       [echo(b"Hello")], fail=1002)
        yield Case(f"4.x-op{op}-inside-fragmented",
                   [text(b"frag1", fin=False), frame(op, body), frame(OP_CONT, b"frag2")],
                   fail=1002)


@pytest.mark.parametrize("case", params(_group4()))
def test_4_opcodes(connect, case):
    run_case(connect(), case)


# ==========================================================================
# 5 Fragmentation
# ==========================================================================


def _group5() -> Iterator[Case]:
    f1, f2 = b"fragment1", b"fragment2"
    yield Case("5.1", [ping(f1, fin=False), frame(OP_CONT, f2)], fail=1002)
    yield Case("5.2", [frame(OP_PONG, f1, fin=False), frame(OP_CONT, f2)], fail=1002)
    for cid, mode in (("5.3", "one"), ("5.4", "octet"), ("5.5", "frame")):
        yield Case(cid, fragments(OP_TEXT, [f1, f2]), [echo(f1 + f2)], mode=mode)
    for cid, mode in (("5.6", "one"), ("5.7", "octet"), ("5.8", "frame")):
        yield Case(cid, [text(f1, fin=False), ping(b"ping payload"), frame(OP_CONT, f2)],
                   [pong(b"ping payload"), echo(f1 + f2)], mode=mode)
    stray = b"non-continuation payload"
    hello = text(b"Hello, world!")
    for cid, mode in (("5.9", "one"), ("5.10", "octet"), ("5.11", "frame")):
        yield Case(cid, [frame(OP_CONT, stray), hello], fail=1002, mode=mode)
    for cid, mode in (("5.12", "one"), ("5.13", "octet"), ("5.14", "frame")):
        yield Case(cid, [frame(OP_CONT, stray, fin=False), hello], fail=1002, mode=mode)
    yield Case("5.15", fragments(OP_TEXT, [f1, f2]) +
               [frame(OP_CONT, b"fragment3", fin=False), frame(OP_CONT, b"fragment4")],
               [echo(f1 + f2)], fail=1002)
    bad16 = [frame(OP_CONT, f1, fin=False), text(f2, fin=False), frame(OP_CONT, b"fragment3")]
    yield Case("5.16", bad16 * 2, fail=1002)
    bad17 = [frame(OP_CONT, f1), text(f2, fin=False), frame(OP_CONT, b"fragment3")]
    yield Case("5.17", bad17 * 2, fail=1002)
    yield Case("5.18", [text(f1, fin=False), text(f2)], fail=1002)

    # ours
    blob = os.urandom(3000)
    yield Case("5.x-binary-2-fragments", fragments(OP_BINARY, [blob[:1000], blob[1000:]]),
               [echo(blob, OP_BINARY)])
    cuts = sorted(set([0, len(blob)] + [int.from_bytes(os.urandom(2), "big") % len(blob)
                                        for _ in range(60)]))
    parts = [blob[a:b] for a, b in zip(cuts, cuts[1:])] + [b""]
    yield Case("5.x-binary-many-fragments", fragments(OP_BINARY, [b""] + parts),
               [echo(blob, OP_BINARY)])
    words = text_payload(300)
    yield Case("5.x-text-1-byte-fragments", fragments(OP_TEXT, [bytes([b]) for b in words]),
               [echo(words)])
    yield Case("5.x-binary-1-byte-fragments",
               fragments(OP_BINARY, [bytes([b]) for b in blob[:200]]),
               [echo(blob[:200], OP_BINARY)])
    big = os.urandom(70000)
    yield Case("5.x-binary-fragments-of-every-length-form",
               fragments(OP_BINARY, [big[:125], big[125:251], big[251:65787], big[65787:]]),
               [echo(big, OP_BINARY)])
    # a ping between every two fragments: all answered, before the echo
    pieces = [b"part%d" % i for i in range(8)]
    seq: list[bytes] = []
    for i, p in enumerate(pieces):
        seq.append(frame(OP_BINARY if i == 0 else OP_CONT, p, fin=(i == len(pieces) - 1)))
        if i < len(pieces) - 1:
            seq.append(ping(b"between %d" % i))
    wanted = [pong(b"between %d" % i) for i in range(len(pieces) - 1)]
    for mode in ("one", "frame"):
        yield Case(f"5.x-ping-between-every-fragment-{mode}", seq,
                   wanted + [echo(b"".join(pieces), OP_BINARY)], mode=mode)
    yield Case("5.x-pong-between-fragments",
               [text(f1, fin=False), frame(OP_PONG, b"unsolicited"), frame(OP_CONT, f2)],
               [echo(f1 + f2)])
    yield Case("5.x-fragmented-close", [close_frame(1000, fin=False), frame(OP_CONT, b"")],
               fail=1002)
    yield Case("5.x-fragmented-empty-ping", [ping(b"", fin=False), frame(OP_CONT, b"")],
               fail=1002)
    yield Case("5.x-fragmented-ping-inside-message",
               [text(f1, fin=False), ping(b"p", fin=False), frame(OP_CONT, f2)], fail=1002)
    yield Case("5.x-binary-inside-text", [text(f1, fin=False), frame(OP_BINARY, f2)],
               fail=1002)
    yield Case("5.x-text-inside-binary", [frame(OP_BINARY, f1, fin=False), text(f2)],
               fail=1002)
    yield Case("5.x-binary-start-inside-binary",
               [frame(OP_BINARY, f1, fin=False), frame(OP_BINARY, f2, fin=False),
                frame(OP_CONT, b"end")], fail=1002)
    yield Case("5.x-continuation-after-complete-message", [text(b"done"), frame(OP_CONT, f1)],
               [echo(b"done")], fail=1002)
    yield Case("5.x-two-fragmented-messages-back-to-back",
               fragments(OP_TEXT, [b"a", b"b", b"c"]) + fragments(OP_BINARY, [b"\x01", b"\x02"]),
               [echo(b"abc"), echo(b"\x01\x02", OP_BINARY)])


@pytest.mark.parametrize("case", params(_group5()))
def test_5_fragmentation(connect, case):
    run_case(connect(), case)


@pytest.mark.parametrize("mode", [pytest.param("one", id="5.19"),
                                  pytest.param("frame", id="5.20")])
def test_5_19_20_pings_between_fragments_with_pause(connect, mode):
    """A text message in 5 fragments; a ping after the second, then a pause,
    then two more fragments, another ping and the last fragment.  Each ping
    is answered when it arrives; the message is echoed once complete."""
    ws = connect()
    frags = [b"fragment%d" % i for i in range(1, 6)]
    send_frames(ws, [text(frags[0], fin=False), frame(OP_CONT, frags[1], fin=False),
                     ping(b"pongme 1!")], mode)
    expect(ws, pong(b"pongme 1!"))
    time.sleep(0.2)
    send_frames(ws, [frame(OP_CONT, frags[2], fin=False), frame(OP_CONT, frags[3], fin=False),
                     ping(b"pongme 2!"), frame(OP_CONT, frags[4])], mode)
    expect(ws, pong(b"pongme 2!"), echo(b"".join(frags)))
    finish(ws)


# ==========================================================================
# 6 UTF-8 handling
# ==========================================================================

# "κόσμε" with U+1F79 (a 3-byte sequence) for the omicron, as in Markus Kuhn's
# UTF-8 samples: 2- and 3-byte sequences in 11 bytes.
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"


def _cp3(cp: int) -> bytes:
    """The 3-byte form of cp even where UTF-8 forbids it (surrogates)."""
    return bytes([0xE0 | cp >> 12, 0x80 | (cp >> 6) & 0x3F, 0x80 | cp & 0x3F])


def _utf8_vectors() -> list[tuple[str, list[tuple[bool, bytes]]]]:
    """(group id, [(valid, bytes)]) following the sections of Markus Kuhn's
    UTF-8 decoder stress test, as numbered in Autobahn 6.5-6.23."""
    def enc(*cps: int) -> bytes:
        return "".join(map(chr, cps)).encode()

    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
               b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf",
               b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    high = [0xD800, 0xDB7F, 0xDB80, 0xDBFF]
    low = [0xDC00, 0xDFFF]
    nonchars = [0xFFFE, 0xFFFF] + [(plane << 16) | last for plane in range(1, 17)
                                   for last in (0xFFFE, 0xFFFF)]
    groups: list[tuple[str, list[tuple[bool, bytes]]]] = [
        ("6.5", [(True, b"hello$world"), (True, b"hello" + enc(0xA2) + b"world"),
                 (True, b"hello" + enc(0x20AC) + b"world"),
                 (True, b"hello" + enc(0x24B62) + b"world"), (True, KOSME)]),
        ("6.6", [(None, KOSME[:i]) for i in range(1, len(KOSME) + 1)]),
        ("6.7", [(True, enc(cp)) for cp in (0x0, 0x80, 0x800, 0x10000)]),
        ("6.8", [(False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]),
        ("6.9", [(True, enc(cp)) for cp in (0x7F, 0x7FF, 0xFFFF, 0x10FFFF)]),
        ("6.10", [(False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"),
                  (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]),
        ("6.11", [(True, enc(0xD7FF)), (True, enc(0xE000)), (True, enc(0xFFFD)),
                  (True, enc(0x10FFFF)), (False, b"\xf4\x90\x80\x80")]),
        ("6.12", [(False, b) for b in (b"\x80", b"\xbf", b"\x80\xbf", b"\x80\xbf\x80",
                                       b"\x80\xbf\x80\xbf", b"\x80\xbf\x80\xbf\x80",
                                       b"\x80\xbf\x80\xbf\x80\xbf", bytes(range(0x80, 0xC0)))]),
        ("6.13", [(False, b"".join(bytes([b]) + b" " for b in range(lo, hi + 1)))
                  for lo, hi in ((0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB),
                                 (0xFC, 0xFD))]),
        ("6.14", [(False, m) for m in missing]),
        ("6.15", [(False, b"".join(missing))]),
        ("6.16", [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]),
        ("6.17", [(False, b) for b in (b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",
                                       b"\xf8\x80\x80\x80\xaf", b"\xfc\x80\x80\x80\x80\xaf")]),
        ("6.18", [(False, b) for b in (b"\xc1\xbf", b"\xe0\x9f\xbf", b"\xf0\x8f\xbf\xbf",
                                       b"\xf8\x87\xbf\xbf\xbf", b"\xfc\x83\xbf\xbf\xbf\xbf")]),
        ("6.19", [(False, b) for b in (b"\xc0\x80", b"\xe0\x80\x80", b"\xf0\x80\x80\x80",
                                       b"\xf8\x80\x80\x80\x80", b"\xfc\x80\x80\x80\x80\x80")]),
        ("6.20", [(False, _cp3(cp)) for cp in (0xD800, 0xDB7F, 0xDB80, 0xDBFF, 0xDC00,
                                                0xDF80, 0xDFFF)]),
        ("6.21", [(False, _cp3(h) + _cp3(lo)) for h in high for lo in low]),
        ("6.22", [(True, enc(cp)) for cp in nonchars]),
        ("6.23", [(True, enc(cp)) for cp in range(0xFFF9, 0x10000)]),
    ]
    out = []
    for gid, vectors in groups:
        checked = []
        for valid, data in vectors:
            try:
                data.decode("utf-8")
                truth = True
            except UnicodeDecodeError:
                truth = False
            assert valid is None or valid == truth, (gid, data)  # our labels agree with Python
            checked.append((truth, data))
        out.append((gid, checked))
    return out


UTF8_VECTORS = _utf8_vectors()
TCP_OCTETWISE_GROUPS = {"6.5", "6.11", "6.20"}


def _utf8_message(data: bytes, how: str) -> tuple[list[bytes], str]:
    if how == "frame":
        return [text(data)], "one"
    if how == "fragmented-bytewise":
        if not data:
            return [text(b"")], "one"
        return fragments(OP_TEXT, [bytes([b]) for b in data]), "one"
    return [text(data)], "octet"    # "tcp-octetwise": one frame, one write per byte


def _group6() -> Iterator[Case]:
    yield Case("6.1.1", [text(b"")], [echo(b"")])
    yield Case("6.1.2", fragments(OP_TEXT, [b"", b"", b""]), [echo(b"")])
    yield Case("6.1.3", fragments(OP_TEXT, [b"", b"middle frame payload", b""]),
               [echo(b"middle frame payload")])
    hello = "Hello-µ@ßöäüàá-UTF-8!!".encode()
    yield Case("6.2.1", [text(hello)], [echo(hello)])
    cut = len("Hello-µ@ßöä".encode())
    yield Case("6.2.2", fragments(OP_TEXT, [hello[:cut], hello[cut:]]), [echo(hello)])
    yield Case("6.2.3", fragments(OP_TEXT, [bytes([b]) for b in hello]), [echo(hello)])
    yield Case("6.2.4", fragments(OP_TEXT, [bytes([b]) for b in KOSME]), [echo(KOSME)])
    bad = KOSME + b"\xed\xa0\x80" + b"edited"
    yield Case("6.3.1", [text(bad)], fail=1007)
    yield Case("6.3.2", fragments(OP_TEXT, [bytes([b]) for b in bad]), fail=1007)
    for gid, vectors in UTF8_VECTORS:
        for j, (valid, data) in enumerate(vectors, 1):
            hows = ["frame", "fragmented-bytewise"]
            if gid in TCP_OCTETWISE_GROUPS:
                hows.append("tcp-octetwise")
            for how in hows:
                frames, mode = _utf8_message(data, how)
                cid = f"{gid}.{j}" + ("" if how == "frame" else f"-{how}")
                if valid:
                    yield Case(cid, frames, [echo(data)], mode=mode)
                else:
                    yield Case(cid, frames, fail=1007, mode=mode)
    # ours: a valid code point of each length split between two fragments at
    # every inner position, also with a ping in the middle
    for cp in (0xE9, 0x20AC, 0x1F600):
        enc = chr(cp).encode()
        for k in range(1, len(enc)):
            msg = b"<" + enc + b">"
            at = 1 + k
            yield Case(f"6.x-U+{cp:04X}-split-at-{k}", fragments(OP_TEXT, [msg[:at], msg[at:]]),
                       [echo(msg)])
            yield Case(f"6.x-U+{cp:04X}-split-at-{k}-ping-between",
                       [text(msg[:at], fin=False), ping(b"mid"), frame(OP_CONT, msg[at:])],
                       [pong(b"mid"), echo(msg)], mode="frame")
    # ours: a message that ends inside a code point, even though the next
    # message would complete it
    yield Case("6.x-truncated-at-message-end", [text(b"ab\xe2\x82"), text(b"\xac")], fail=1007)
    yield Case("6.x-truncated-at-fragmented-message-end",
               fragments(OP_TEXT, [b"ab", b"\xf0\x9f"]) + [text(b"\x98\x80")], fail=1007)
    yield Case("6.x-invalid-after-valid-message", [text(KOSME), text(b"\xff")],
               [echo(KOSME)], fail=1007)
    yield Case("6.x-binary-is-not-utf8-checked", [frame(OP_BINARY, b"\xff\xfe\xed\xa0\x80")],
               [echo(b"\xff\xfe\xed\xa0\x80", OP_BINARY)])


@pytest.mark.parametrize("case", params(_group6()))
def test_6_utf8(connect, case):
    run_case(connect(), case)


FAIL_FAST = [
    # (case id, three parts, sent as three frames (True) or as three writes of one frame)
    ("6.4.1", (KOSME, b"\xf4\x90\x80\x80", b"edited"), True),
    ("6.4.2", (KOSME + b"\xf4", b"\x90", b"\x80\x80edited"), True),
    ("6.4.3", (KOSME, b"\xf4\x90\x80\x80", b"edited"), False),
    ("6.4.4", (KOSME + b"\xf4", b"\x90", b"\x80\x80edited"), False),
]


@pytest.mark.parametrize("parts, as_frames",
                         [pytest.param(p, f, id=cid) for cid, p, f in FAIL_FAST])
def test_6_4_fail_fast(connect, parts, as_frames):
    """Invalid UTF-8 must fail the connection as soon as the offending byte
    arrives (RFC 6455 8.1), not only when the message is complete: after a
    valid first part and a pause, the invalid second part gets close 1007
    before the third part is sent."""
    ws = connect()
    if as_frames:
        chunks = [text(parts[0], fin=False), frame(OP_CONT, parts[1], fin=False),
                  frame(OP_CONT, parts[2])]
    else:
        whole = text(b"".join(parts))
        head = len(whole) - sum(map(len, parts))
        a, b = head + len(parts[0]), head + len(parts[0]) + len(parts[1])
        chunks = [whole[:a], whole[a:b], whole[b:]]
    ws.send(chunks[0])
    assert ws.quiet_for(FAIL_FAST_WAIT), "the server answered a valid first part"
    ws.send(chunks[1], tolerate_closed=True)
    got = None
    try:
        got = ws.next_event(FAIL_FAST_WAIT * 3)
    except TimeoutError:
        pass
    if got is None:
        ws.send(chunks[2], tolerate_closed=True)
        late = next_event(ws)
        raise AssertionError(
            "not failed fast: nothing after the invalid part; once the message was complete "
            f"the server sent {describe(late)}")
    assert got.kind == "close" and got.code == 1007, (
        f"expected close 1007 right after the invalid part, the server sent {describe(got)}")
    ws.expect_eof(CLOSE_DEADLINE)


# ==========================================================================
# 7 Close handling (echo and Pusher endpoints)
# ==========================================================================

VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]


@dataclass
class CloseCase:
    """Frames to send (the last meaningful one a close), the events due
    before the server's close, and the codes its close may carry."""
    id: str
    send: list[bytes]
    codes: list[int | None]
    before: list[Expected] = field(default_factory=list)
    mode: str = "one"
    echo_only: bool = False


def _group7() -> Iterator[CloseCase]:
    c1000 = close_frame(1000)
    yield CloseCase("7.1.1", ["PROBE", c1000], [1000], before=["REPLY"])
    yield CloseCase("7.1.2", [c1000, close_frame(1000)], [1000])
    yield CloseCase("7.1.3", [c1000, ping(b"after close")], [1000])
    yield CloseCase("7.1.4", [c1000, "PROBE"], [1000])
    yield CloseCase("7.1.5", [text(b"fragment1", fin=False), c1000,
                              frame(OP_CONT, b"fragment2")], [1000])
    yield CloseCase("7.3.1", [frame(OP_CLOSE, b"")], [None, 1000])
    yield CloseCase("7.3.2", [frame(OP_CLOSE, b"a")], [1002])
    yield CloseCase("7.3.3", [c1000], [1000])
    yield CloseCase("7.3.4", [close_frame(1000, b"Hello World!")], [1000])
    yield CloseCase("7.3.5", [close_frame(1000, b"*" * 123)], [1000])
    yield CloseCase("7.3.6", [close_frame(1000, b"*" * 124)], [1002])
    yield CloseCase("7.5.1", [close_frame(1000, KOSME + b"\xed\xa0\x80" + b"edited")], [1007])
    for i, code in enumerate(VALID_CLOSE_CODES, 1):
        yield CloseCase(f"7.7.{i}", [close_frame(code)], [code])
    for i, code in enumerate(INVALID_CLOSE_CODES, 1):
        yield CloseCase(f"7.9.{i}", [close_frame(code)], [1002])
    yield CloseCase("7.13.1", [close_frame(5000)], [1002])
    yield CloseCase("7.13.2", [close_frame(65535)], [1002])
    # ours
    yield CloseCase("7.9.x-code-1015", [close_frame(1015)], [1002])
    for code in VALID_CLOSE_CODES[:4]:
        yield CloseCase(f"7.7.x-code-{code}-with-reason", [close_frame(code, KOSME)], [code])
    yield CloseCase("7.5.x-reason-truncated-utf8", [close_frame(1000, b"abc\xce")], [1007])
    yield CloseCase("7.5.x-reason-overlong", [close_frame(1000, b"\xc0\xaf")], [1007])
    yield CloseCase("7.5.x-reason-surrogate-only", [close_frame(1000, _cp3(0xDC00))], [1007])
    yield CloseCase("7.3.x-close-octetwise", [close_frame(1000, b"Hello " + KOSME)], [1000],
                    mode="octet")
    yield CloseCase("7.5.1-x-octetwise", [close_frame(1000, KOSME + b"\xed\xa0\x80" + b"edited")],
                    [1007], mode="octet")
    yield CloseCase("7.1.x-ping-then-close", [ping(b"first"), c1000], [1000],
                    before=[pong(b"first")])
    yield CloseCase("7.1.x-close-then-invalid-frame", [c1000, frame(3, b"junk")], [1000])
    yield CloseCase("7.1.x-close-then-invalid-utf8", [c1000, text(b"\xff")], [1000])
    yield CloseCase("7.1.6", [text(text_payload(256 * 1024)), c1000, ping(b"after close")],
                    [1000], echo_only=True)


def _resolve(items: list, ep: Endpoint) -> list:
    """Replaces the placeholders PROBE (the endpoint's probe frame) and
    REPLY (its answer)."""
    out = []
    for it in items:
        if it == "PROBE":
            out.append(frame(OP_TEXT, ep.probe))
        elif it == "REPLY":
            out.append(ep.reply)
        else:
            out.append(it)
    return out


def _group7_params() -> list:
    out = []
    for case in _group7():
        for ep in (ECHO, PUSHER):
            if case.echo_only and ep is not ECHO:
                continue
            out.append(pytest.param(case, ep, id=f"{case.id}-{ep.name}"))
    return out


@pytest.mark.parametrize("case, ep", _group7_params())
def test_7_close(connect, case, ep):
    ws = connect(ep)
    frames = _resolve(case.send, ep)
    send_frames(ws, frames, case.mode, may_close=True)
    if case.id == "7.1.6":
        # The 256 KiB message may be echoed (fully, exactly) before the close
        # answer, or dropped if the server handles the close first; a pong
        # for the ping sent after the close is never allowed.
        payload = _unmask(case.send[0])
        got = next_event(ws)
        if got.kind != "text":
            assert got.kind == "close" and got.code == 1000, describe(got)
            ws.expect_eof(CLOSE_DEADLINE)
            return
        assert got.data == payload, "the echo of the 256 KiB message differs"
    else:
        expect(ws, *_resolve(case.before, ep))
    expect_close(ws, case.codes)


def _unmask(f: bytes) -> bytes:
    """The payload of a masked frame built by build_frame (for 7.1.6)."""
    n = f[1] & 0x7F
    off = 2 if n < 126 else 4 if n == 126 else 10
    return mask_payload(f[off + 4:], f[off:off + 4])


SPLIT_CLOSES = {
    # case: (reason, the code the server must answer with)
    "7.3.4": (b"ab " + KOSME + b" cd", 1000),
    "7.5.1": (KOSME + b"\xed\xa0\x80" + b"edited", 1007),
}


def _close_split_points() -> list:
    out = []
    for cid, (reason, code) in SPLIT_CLOSES.items():
        size = len(close_frame(1000, reason))
        for ep in (ECHO, PUSHER):
            for at in range(1, size):
                out.append(pytest.param(ep, reason, code, at,
                                        id=f"{cid}-x-split-at-{at}-{ep.name}"))
    return out


@pytest.mark.parametrize("ep, reason, code, at", _close_split_points())
def test_7_close_split_across_reads(connect, ep, reason, code, at):
    """A close frame (code 1000 and a reason with multi-byte UTF-8, valid
    for 7.3.4, invalid for 7.5.1) that reaches the server in two reads,
    split at every byte: however TCP cuts it, it is the same frame and gets
    the same answer as in one piece (close 1000, or close 1007)."""
    ws = connect(ep)
    data = close_frame(1000, reason)
    ws.send(data[:at])
    time.sleep(0.02)
    ws.send(data[at:], tolerate_closed=True)
    expect_close(ws, [code])


@pytest.mark.parametrize("ep", [pytest.param(ECHO, id="7.x-server-closes-tcp-first-echo"),
                                pytest.param(PUSHER, id="7.x-server-closes-tcp-first-pusher")])
def test_7_x_server_closes_tcp_first(connect, ep):
    """7.x: after the closing handshake the server, not the client, closes
    TCP (RFC 6455 7.1.1), at once: we keep our side open and the end of
    the stream must still come within CLOSE_DEADLINE, far below the
    server's close timeout."""
    ws = connect(ep)
    ws.send(close_frame(1000, b"bye"))
    got = next_event(ws)
    assert got.kind == "close" and got.code == 1000, describe(got)
    start = time.monotonic()
    ws.expect_eof(CLOSE_DEADLINE)
    assert time.monotonic() - start < CLOSE_DEADLINE


# ==========================================================================
# 9 Limits/Performance
# ==========================================================================

KIB, MIB = 1024, 1024 * 1024
SINGLE_SIZES = [64 * KIB, 256 * KIB, 1 * MIB, 4 * MIB, 8 * MIB, 16 * MIB]
FRAGMENT_SIZES = [64, 256, 1 * KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 1 * MIB, 4 * MIB]
CHOP_SIZES = [64, 128, 256, 512, 1024, 2048]
RTT_SIZES = [0, 16, 64, 256, 1024, 4096]
CASE_TIME_LIMIT = 15.0


def _exchange(ws: RawWS, chunks: Iterable[bytes], want: Event) -> float:
    start = time.monotonic()
    sender = Sender(ws, chunks)
    got = next_event(ws, CASE_TIME_LIMIT, describe(want))
    sender.finish()
    elapsed = time.monotonic() - start
    assert got.kind == want.kind and len(got.data) == len(want.data), (
        f"expected {describe(want)}, the server sent {describe(got)}")
    assert got.data == want.data, "the echo differs from what was sent"
    assert elapsed < CASE_TIME_LIMIT, f"took {elapsed:.1f}s"
    return elapsed


def _group9() -> Iterator:
    for sub, opcode in ((1, OP_TEXT), (2, OP_BINARY)):
        for i, n in enumerate(SINGLE_SIZES, 1):
            yield pytest.param(opcode, n, n, None, id=f"9.{sub}.{i}")
    for sub, opcode in ((3, OP_TEXT), (4, OP_BINARY)):
        for i, fs in enumerate(FRAGMENT_SIZES, 1):
            yield pytest.param(opcode, 4 * MIB, fs, None, id=f"9.{sub}.{i}")
    for sub, opcode in ((5, OP_TEXT), (6, OP_BINARY)):
        for i, chop in enumerate(CHOP_SIZES, 1):
            yield pytest.param(opcode, 1 * MIB, 1 * MIB, chop, id=f"9.{sub}.{i}")


@pytest.mark.parametrize("opcode, size, frag, chop", list(_group9()))
def test_9_limits(connect, opcode, size, frag, chop):
    """size bytes in frames of frag bytes, written in chops of chop bytes
    (or as fast as possible): echoed exactly, within CASE_TIME_LIMIT."""
    run_big_case(connect(), opcode, size, frag, chop)


def run_big_case(ws: RawWS, opcode: int, size: int, frag: int, chop: int | None) -> None:
    payload = payload_for(opcode, size)
    parts = [payload[i:i + frag] for i in range(0, size, frag)]
    data = b"".join(fragments(opcode, parts))
    if chop:
        chunks: Iterable[bytes] = (data[i:i + chop] for i in range(0, len(data), chop))
    else:
        chunks = [data]
    _exchange(ws, chunks, echo(payload, opcode))
    finish(ws)


@pytest.mark.parametrize("opcode, size", [
    pytest.param(op, n, id=f"9.{sub}.{i}")
    for sub, op in ((7, OP_TEXT), (8, OP_BINARY)) for i, n in enumerate(RTT_SIZES, 1)])
def test_9_round_trips(connect, opcode, size):
    """1000 messages, each sent once the previous echo is back."""
    ws = connect()
    payload = payload_for(opcode, size)
    start = time.monotonic()
    for _ in range(1000):
        ws.send(frame(opcode, payload))
        expect(ws, echo(payload, opcode))
    elapsed = time.monotonic() - start
    assert elapsed < CASE_TIME_LIMIT, f"1000 round trips took {elapsed:.1f}s"
    finish(ws)


def test_9_x_echo_over_16mib_is_1009(connect):
    """One byte over the echo endpoint's 16 MiB limit, declared in the
    header: refused with 1009 before the payload is read."""
    ws = connect()
    ws.send(frame(OP_BINARY, b"x" * 1000, length=16 * MIB + 1), tolerate_closed=True)
    expect_fail(ws, 1009)


def test_9_x_echo_fragments_over_16mib_is_1009(connect):
    ws = connect()
    first = frame(OP_BINARY, b"\x00" * (8 * MIB), fin=False)
    second = frame(OP_CONT, b"\x00" * (8 * MIB), fin=False)
    third = frame(OP_CONT, b"\x00")
    sender = Sender(ws, [first, second, third])
    try:
        expect_fail(ws, 1009)
    finally:
        sender.join(10)


def _pusher_ping_of_size(n: int) -> bytes:
    head = b'{"event":"pusher:ping","data":{},"pad":"'
    tail = b'"}'
    return head + b"x" * (n - len(head) - len(tail)) + tail


def test_9_x_pusher_64kib_accepted(connect):
    """The Pusher endpoint's limit (64 KiB by default) is inclusive."""
    ws = connect(PUSHER)
    msg = _pusher_ping_of_size(64 * KIB)
    assert len(msg) == 64 * KIB
    ws.send(text(msg))
    expect(ws, PUSHER.reply)
    finish(ws, PUSHER)


@pytest.mark.parametrize("how", ["9.x-pusher-one-frame", "9.x-pusher-fragmented",
                                 "9.x-pusher-declared-only"])
def test_9_x_pusher_over_limit_is_1009(connect, how):
    ws = connect(PUSHER)
    msg = _pusher_ping_of_size(64 * KIB + 1)
    if how == "9.x-pusher-one-frame":
        ws.send(text(msg), tolerate_closed=True)
    elif how == "9.x-pusher-fragmented":
        half = len(msg) // 2
        ws.send(b"".join(fragments(OP_TEXT, [msg[:half], msg[half:]])), tolerate_closed=True)
    else:
        ws.send(text(b"{", length=1 << 40), tolerate_closed=True)
    expect_fail(ws, 1009)


# ==========================================================================
# 10 Misc
# ==========================================================================


@pytest.mark.parametrize("opcode, size, frag, chop", [
    pytest.param(OP_TEXT, 65536, 1300, None, id="10.1.1"),
    pytest.param(OP_TEXT, 1 * MIB, 1 * MIB, 4096, id="10.x-text-1MiB-in-4KiB-writes"),
    pytest.param(OP_BINARY, 1 * MIB, 1 * MIB, 4096, id="10.x-binary-1MiB-in-4KiB-writes"),
    pytest.param(OP_BINARY, 1 * MIB, 4096, 4096, id="10.x-binary-1MiB-4KiB-frames-4KiB-writes"),
])
def test_10_misc(connect, opcode, size, frag, chop):
    """10.1.1: a 64 KiB message in 1300-byte frames.  Ours: 1 MiB written in
    4 KiB pieces, as one frame or as 4 KiB frames."""
    run_big_case(connect(), opcode, size, frag, chop)

#!/usr/bin/env python3
"""Writes meaningful seed inputs for the fuzz targets.

    python3 tests/fuzz/gen_seeds.py OUTDIR

creates OUTDIR/{http,ws,proto,auth}/ with one file per seed. The checked-in
corpora under tests/fuzz/corpus/ started from these, were fuzzed, and were
minimized with -merge=1 (docs/testing.md, "Fuzzing"); rerun this and merge
when a target's input format or the protocol grows.

Every input starts with the target's option byte(s) (see the comment at the
top of each fuzz_*.c). Signatures use the Pusher docs' app (id 3, key
278d425bdf160c739803, secret 7ad3773142a6692b25b8), the server clock
1353088179 and the fixed socket ids of fuzz_proto.c.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys

KEY = "278d425bdf160c739803"
SECRET = b"7ad3773142a6692b25b8"
NOW = 1353088179
ME = "123.456"  # fuzz_proto.c's speaking client
O1 = "111.222"

REST_QUERY = ("auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0"
              "&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature="
              "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c")
REST_BODY = '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'


def hmac_hex(msg: str | bytes) -> str:
    if isinstance(msg, str):
        msg = msg.encode()
    return hmac.new(SECRET, msg, hashlib.sha256).hexdigest()


def sign_target(method: str, path: str, params: list[tuple[str, str]] = (), body: str = "",
                ts: int = NOW) -> str:
    items = list(params) + [("auth_key", KEY), ("auth_timestamp", str(ts)),
                            ("auth_version", "1.0")]
    if body:
        items.append(("body_md5", hashlib.md5(body.encode()).hexdigest()))
    ordered = sorted((k.lower(), v) for k, v in items)
    to_sign = f"{method}\n{path}\n" + "&".join(f"{k}={v}" for k, v in ordered)
    query = "&".join(f"{k}={v}" for k, v in items)
    return f"{path}?{query}&auth_signature={hmac_hex(to_sign)}"


def channel_auth(sid: str, channel: str, cdata: str | None = None) -> str:
    msg = f"{sid}:{channel}" + (f":{cdata}" if cdata is not None else "")
    return f"{KEY}:{hmac_hex(msg)}"


def user_auth(sid: str, user_data: str) -> str:
    return f"{KEY}:{hmac_hex(f'{sid}::user::{user_data}')}"


class Out:
    def __init__(self, root: str, target: str):
        self.dir = os.path.join(root, target)
        os.makedirs(self.dir, exist_ok=True)
        self.n = 0

    def add(self, data: bytes | str, name: str = "") -> None:
        if isinstance(data, str):
            data = data.encode()
        self.n += 1
        fname = f"seed-{self.n:03d}" + (f"-{name}" if name else "")
        with open(os.path.join(self.dir, fname), "wb") as f:
            f.write(data)


# ---------------------------------------------------------------- HTTP

def req(method: str, target: str, body: str = "", headers: list[str] = (),
        version: str = "1.1") -> str:
    h = [f"{method} {target} HTTP/{version}", "Host: 127.0.0.1:8080"] + list(headers)
    if body:
        h += ["Content-Type: application/json", f"Content-Length: {len(body.encode())}"]
    return "\r\n".join(h) + "\r\n\r\n" + body


def http_seeds(out: Out) -> None:
    def add(opts: int, chunk: int, data: str | bytes, name: str) -> None:
        if isinstance(data, str):
            data = data.encode()
        out.add(bytes([opts, chunk]) + data, name)

    ev = json.dumps({"name": "update", "channels": ["news", "presence-room"],
                     "data": json.dumps({"x": 1}), "socket_id": O1,
                     "info": "subscription_count,user_count"}, separators=(",", ":"))
    batch = json.dumps({"batch": [
        {"name": "a", "channel": "news", "data": "1", "info": "subscription_count"},
        {"name": "b", "channel": "presence-room", "data": {"obj": True},
         "info": "user_count,subscription_count"},
        {"name": "c", "channel": "#server-to-user-u2", "data": "hi"}]}, separators=(",", ":"))
    user_ev = json.dumps({"name": "n", "channel": "#server-to-user-u2", "data": "x"},
                         separators=(",", ":"))
    add(0, 0, req("GET", "/health"), "health")
    add(0, 0, req("HEAD", "/health", version="1.0"), "health-head-10")
    add(0, 0, req("POST", "/health"), "health-post")
    add(0, 0, req("POST", "/apps/3/events?" + REST_QUERY, REST_BODY), "docs-example")
    add(0, 1, req("POST", "/apps/3/events?" + REST_QUERY, REST_BODY), "docs-example-bytewise")
    add(0, 0x2b, req("POST", "/apps/3/events?" + REST_QUERY, REST_BODY), "docs-example-chunks")
    add(0, 0, req("POST", sign_target("POST", "/apps/3/events", body=ev), ev), "events-info")
    add(0, 0, req("POST", sign_target("POST", "/apps/3/events", body=user_ev), user_ev),
        "events-user")
    add(0, 0, req("POST", sign_target("POST", "/apps/3/batch_events", body=batch), batch),
        "batch")
    add(0, 0, req("GET", sign_target("GET", "/apps/3/channels",
                                     [("filter_by_prefix", "presence-"),
                                      ("info", "user_count,subscription_count")])),
        "channels-presence")
    add(0, 0, req("GET", sign_target("GET", "/apps/3/channels", [("info", "subscription_count")])),
        "channels")
    add(0, 0, req("GET", sign_target("GET", "/apps/3/channels/presence-room",
                                     [("info", "user_count,subscription_count")])), "channel")
    add(0, 0, req("GET", sign_target("GET", "/apps/3/channels/news")), "channel-news")
    add(0, 0, req("GET", sign_target("GET", "/apps/3/channels/presence-room/users")), "users")
    add(0, 0, req("POST", sign_target("POST", "/apps/3/users/u2/terminate_connections")),
        "terminate")
    add(0, 0, req("POST", sign_target("POST", "/users/u2/terminate_connections")),
        "terminate-sdk")
    add(0, 0, req("GET", sign_target("GET", "/apps/%33/channels/%70resence-room")),
        "percent-path")
    add(0, 0, req("DELETE", sign_target("DELETE", "/apps/3/events")), "method-405")
    add(0, 0, req("GET", sign_target("GET", "/apps/99/channels")), "unknown-app")
    add(0, 0, req("GET", sign_target("GET", "/apps/3/channels", ts=NOW - 601)), "expired")
    add(0, 0, req("GET", "/apps/3/channels?auth_key=" + KEY + "&auth_timestamp=1353088179"
                  "&auth_signature=00"), "bad-signature")
    add(0, 0, req("GET", "/apps/3/channels?a=%zz"), "bad-escape")
    add(0, 0, req("GET", "/nowhere"), "404")
    # Pipelined and keep-alive.
    pipe = (req("GET", "/health") + req("GET", sign_target("GET", "/apps/3/channels"))
            + req("POST", sign_target("POST", "/apps/3/events", body=ev), ev)
            + req("GET", "/health", headers=["Connection: close"]))
    add(0, 0, pipe, "pipelined")
    add(0, 0x47, pipe, "pipelined-chunks")
    # Chunked body.
    chunked = ("POST " + sign_target("POST", "/apps/3/events", body=REST_BODY)
               + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               + f"{len(REST_BODY[:20]):x}\r\n{REST_BODY[:20]}\r\n"
               + f"{len(REST_BODY[20:]):x}\r\n{REST_BODY[20:]}\r\n0\r\n\r\n")
    add(0, 0, chunked, "chunked")
    add(0, 3, chunked, "chunked-small-chunks")
    # WebSocket upgrades (parsing stops; the rest is WebSocket data).
    up = ("GET /app/" + KEY + "?protocol=7&client=js&version=8.6.0&flash=false HTTP/1.1\r\n"
          "Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
          "Origin: http://localhost\r\n\r\n")
    add(0, 0, up.encode() + b"\x81\x85\x00\x00\x00\x00hello", "upgrade")
    add(0, 1, up, "upgrade-bytewise")
    add(0, 0, "GET /app/x HTTP/1.0\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "upgrade-10")
    # Malformed and limits.
    add(0, 0, "GET / HTTP/9.9\r\n\r\n", "bad-version")
    add(0, 0, "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", "bad-header")
    add(0, 0, "POST /apps/3/events HTTP/1.1\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "cl-and-te")
    add(0, 0, "POST /apps/3/events HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", "bad-cl")
    add(2, 0, req("GET", "/health", headers=[f"X-Pad-{i}: " + "a" * 20 for i in range(12)]),
        "head-too-large")
    add(0, 0, req("GET", "/health", headers=[f"X-{i}: {i}" for i in range(70)]),
        "too-many-headers")
    add(2, 0, req("POST", sign_target("POST", "/apps/3/events", body=ev), ev), "body-too-large")
    add(0, 0, "\r\n\r\nGET /health HTTP/1.1\r\n\r\n", "leading-crlf")
    add(0, 0, "GET /health HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", "folded-header")
    # Re-signed (option bit 0): the fuzzer's mutations stay authenticated.
    bodies = [
        ('{"name":"e","channel":"news","data":"d"}', "events-one"),
        ('{"name":"e","channels":["private-encrypted-a","news"],"data":"d"}', "encrypted-two"),
        ('{"name":"e","channels":' + json.dumps([f"c{i}" for i in range(101)]) + ',"data":"d"}',
         "too-many-channels"),
        ('{"name":"e","channel":"news","data":null}', "null-data"),
        ('{"name":"e","channel":"news","data":"x","socket_id":"1.x"}', "bad-socket-id"),
        ('{"name":"","channel":"news","data":"x"}', "empty-name"),
        ('{"name":"e","channel":"bad name","data":"x"}', "bad-channel"),
        ('[1,2]', "not-object"),
        ('{"batch":[]}', "batch-empty"),
    ]
    for b, name in bodies:
        path = "/apps/3/batch_events" if b.startswith('{"batch"') else "/apps/3/events"
        add(1, 0, req("POST", path, b), "resign-" + name)
    batch11 = json.dumps({"batch": [{"name": "e", "channel": "news", "data": "x"}] * 11})
    add(1, 0, req("POST", "/apps/3/batch_events", batch11), "resign-batch-11")
    add(1, 0, req("GET", "/apps/3/channels?filter_by_prefix=news&info=user_count"),
        "resign-channels-bad-info")
    add(1, 0, req("GET", "/apps/3/channels/news?info=user_count"), "resign-channel-bad-info")
    add(1, 0, req("GET", "/apps/3/channels/%23server-to-user-u2/users"), "resign-user-channel")
    add(1, 0, req("POST", "/apps/3/users/bad%20id/terminate_connections"), "resign-bad-user")
    add(1 | 4, 0, req("GET", "/apps/3/channels"), "resign-disabled")
    add(1 | 8, 0, req("POST", "/apps/3/events", REST_BODY.replace("project-3", "news")),
        "resign-refusing-subscribers")
    # Classic REST (the original pushi's API). Bit 6: logged in as app 3;
    # bit 7: the server has an admin token and the requests carry it.
    login = "/login?app_id=3&app_key=" + KEY + "&app_secret=" + SECRET.decode()
    add(0, 0, req("GET", login), "classic-login")
    add(0, 0, req("POST", "/login", "app_id=3&app_key=" + KEY + "&app_secret=x",
                  headers=["Content-Type: application/x-www-form-urlencoded"])[:0]
        + "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 47\r\n\r\napp_id=3&app_key=278d425bdf160c739803&app_secret=x",
        "classic-login-form-wrong")
    add(0, 0, req("GET", "/login?admin_token=nope"), "classic-login-admin-wrong")
    add(0x80, 0, req("GET", "/login?admin_token=fuzz-admin-token") + req("GET", "/logout"),
        "classic-login-admin")
    add(0x40, 0, req("GET", "/events?count=5") + req("GET", "/events"), "classic-events-get")
    add(0x40, 0, req("GET", "/events?count=0"), "classic-events-bad-count")
    add(0x40, 0, req("POST", "/events", '{"event":"e","channel":["news","presence-room"],'
                     '"data":{"x":1}}'), "classic-events-post")
    add(0x40, 0, req("POST", "/events", '{"data":"hello"}'), "classic-events-post-global")
    add(0x40, 0, "POST /events HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 29\r\n\r\nevent=e&channel=news&data=hi", "classic-events-form")
    add(0x40, 0, req("GET", "/subscriptions") + req("POST", "/subscriptions?user_id=u1&event=e")
        + req("DELETE", "/subscriptions/u1/e"), "classic-subscriptions")
    add(0x40, 0, req("GET", "/apps") + req("GET", "/apps/3")
        + req("PUT", "/apps/3", '{"name":"renamed","client_events":false,"key":"x"}'),
        "classic-apps")
    add(0x40, 0, req("PUT", "/apps/3", '{"max_event_bytes":"big"}'), "classic-apps-bad")
    add(0xC0, 0, req("POST", "/apps?name=second") + req("POST", "/apps?name=second"),
        "classic-create-app")
    add(0, 0, req("POST", "/apps?name=x"), "classic-create-app-no-admin")
    add(0x40, 0, req("GET", "/sockets") + req("POST", "/sockets"), "classic-sockets")
    add(0x40 | 4, 0, req("GET", "/events"), "classic-disabled")
    add(0, 0, req("GET", "/events", headers=["Cookie: a=b; sid=0123"]), "classic-cookie")
    add(0, 0, req("GET", "/events", headers=["X-Session-Id: nope"]), "classic-session-header")
    add(0x40, 0, req("GET", "/events?sid=x&session_id=y&_sid=z"), "classic-sid-params")
    add(1 | 0x10, 0, req("GET", "/apps/3/channels"), "resign-ts-early")
    add(1 | 0x20, 0, req("GET", "/apps/3/channels"), "resign-ts-late")


# ---------------------------------------------------------------- WebSocket

def frame(op: int, payload: bytes | str = b"", fin: bool = True, mask: bytes | None = b"\0" * 4,
          rsv: int = 0, length: int | None = None, form: int | None = None) -> bytes:
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    mbit = 0x80 if mask is not None else 0
    if form is None:
        form = 7 if n < 126 else 16 if n < 65536 else 64
    if form == 7:
        hdr = bytes([b0, mbit | n])
    elif form == 16:
        hdr = bytes([b0, mbit | 126]) + n.to_bytes(2, "big")
    else:
        hdr = bytes([b0, mbit | 127]) + n.to_bytes(8, "big")
    if mask is not None:
        hdr += mask
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return hdr + payload


def close(code: int | None = 1000, reason: str | bytes = b"", **kw) -> bytes:
    if isinstance(reason, str):
        reason = reason.encode()
    payload = b"" if code is None else code.to_bytes(2, "big") + reason
    return frame(0x8, payload, **kw)


def ws_seeds(out: Out) -> None:
    def add(opts: int, chunk: int, data: bytes, name: str) -> None:
        out.add(bytes([opts, chunk]) + data, name)

    key = b"\x37\xfa\x21\x3d"
    hello = frame(1, "Hello")
    add(0, 0, hello, "text")
    add(0, 0, frame(1, "Hello", mask=key), "text-masked")
    add(0, 1, frame(1, "Hello", mask=key) + close(1000, "bye", mask=key), "text-close-bytewise")
    add(0, 0, frame(1, "Hello", mask=None), "text-unmasked")
    add(0, 0, frame(2, b"\x00\x01\xff"), "binary-refused")
    add(1, 0, frame(2, b"\x00\x01\xff") + frame(2, b""), "binary-accepted")
    add(0, 0, frame(9, "ping!") + frame(0xA, "pong") + hello, "ping-pong")
    add(0, 0, frame(9, b"") + frame(9, b"x" * 125), "ping-sizes")
    add(0, 0, frame(9, b"x" * 126, form=16), "ping-too-long")
    add(0, 0, frame(9, "p", fin=False), "ping-fragmented")
    add(0, 0, close(1000, "bye"), "close")
    add(0, 0, close(None), "close-empty")
    add(0, 0, frame(8, b"\x03"), "close-one-byte")
    for code in (999, 1004, 1005, 1006, 1012, 1015, 1016, 2999, 3000, 4999, 5000):
        add(0, 0, close(code), f"close-{code}")
    add(0, 0, close(1000, b"\xff\xfe"), "close-bad-utf8")
    add(0, 0, close(1000, "é" * 61), "close-long-reason")
    add(0, 0, close(1000) + hello, "text-after-close")
    add(0, 0, close(1000) + close(1000), "close-twice")
    frag = frame(1, "Hel", fin=False) + frame(9, "mid") + frame(0, "lo", fin=True)
    add(0, 0, frag, "fragmented")
    add(0, 0x29, frag + frag, "fragmented-chunks")
    add(0, 0, frame(1, "a", fin=False) + frame(0, "b", fin=False) + frame(0, "c"),
        "fragmented-3")
    add(0, 0, frame(0, "orphan"), "continuation-orphan")
    add(0, 0, frame(1, "a", fin=False) + frame(1, "b"), "text-in-fragment")
    add(0, 0, frame(1, "x", rsv=4), "rsv1")
    add(0, 0, frame(1, "x", rsv=3), "rsv23")
    add(0, 0, frame(3, "x"), "opcode-3")
    add(0, 0, frame(0xB, "x"), "opcode-b")
    add(0, 0, frame(1, "y" * 200), "text-16bit")
    add(0, 0, frame(1, "z" * 10, form=64), "text-64bit-small")
    add(0, 0, bytes([0x81, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]), "length-top-bit")
    add(0, 0, frame(1, "z" * 70000), "text-64bit")
    add(2, 0, frame(1, "w" * 126, form=16), "too-large-125")
    add(4, 0, frame(1, "v" * 600, fin=False) + frame(0, "v" * 600), "too-large-fragmented")
    euro = "€".encode()
    add(0, 0, frame(1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), "utf8-greek")
    add(0, 0, frame(1, euro[:1], fin=False) + frame(0, euro[1:]), "utf8-split")
    add(0, 1, frame(1, b"ok" + euro[:2], fin=False) + frame(0, euro[2:] + b"!"),
        "utf8-split-bytewise")
    add(0, 0, frame(1, b"\xc0\xaf"), "utf8-overlong")
    add(0, 0, frame(1, b"\xed\xa0\x80"), "utf8-surrogate")
    add(0, 0, frame(1, b"\xf4\x90\x80\x80"), "utf8-too-big")
    add(0, 0, frame(1, b"abc\xe2\x82", fin=False) + frame(0, b"\x28"), "utf8-bad-continuation")
    add(0, 0, frame(1, b"\xce\xba\xe1", fin=True), "utf8-truncated")
    add(0x08, 0, close(1000), "server-close-first")
    add(0x08 | 0x20, 0x05, hello * 3 + close(4200, "ok"), "server-close-later")
    add(0x80, 0, frame(9, "a") + frame(9, "b") + close(1000), "writes-refused")
    add(0, 0x1f, b"".join(frame(1, f"m{i}") for i in range(20)), "many-messages")
    add(0, 0x3a, frame(1, '{"event":"pusher:ping","data":{}}', mask=key) * 4, "pusher-pings")


# ---------------------------------------------------------------- Pusher protocol

def msg(event: str, data=None, channel: str | None = None, raw_data: bool = False) -> str:
    m: dict = {"event": event}
    if channel is not None:
        m["channel"] = channel
    if data is not None:
        m["data"] = data if not raw_data else data
    return json.dumps(m, separators=(",", ":"))


def sub(channel: str, sid: str = ME, cdata: str | None = None, auth: bool = True,
        as_string: bool = False) -> str:
    d: dict = {"channel": channel}
    if auth and (channel.startswith("private-") or channel.startswith("presence-")):
        d["auth"] = channel_auth(sid, channel, cdata if channel.startswith("presence-") else None)
    if cdata is not None:
        d["channel_data"] = cdata
    data = json.dumps(d, separators=(",", ":")) if as_string else d
    return msg("pusher:subscribe", data)


def signin(user_data: str, sid: str = ME) -> str:
    return msg("pusher:signin", {"auth": user_auth(sid, user_data), "user_data": user_data})


def proto_seeds(out: Out) -> None:
    def add(opts: int, lines: list[str | bytes], name: str, dopts: int = 0) -> None:
        data = b"\n".join(x.encode() if isinstance(x, str) else x for x in lines)
        out.add(bytes([opts, dopts]) + data, name)

    u9 = '{"user_id":"u9","user_info":{"name":"Z","tags":["a"]}}'
    add(0, [msg("pusher:ping", {})], "ping")
    add(0, [msg("pusher:pong", {})], "pong")
    add(0, [sub("news")], "subscribe-public")
    add(0, [sub("news", as_string=True)], "subscribe-string-data")
    add(0, [sub("private-chat")], "subscribe-private")
    add(0, [sub("private-chat", auth=False)], "subscribe-private-unsigned")
    add(0, [sub("private-encrypted-x")], "subscribe-encrypted")
    add(0, [sub("presence-room", cdata=u9)], "subscribe-presence")
    add(0, [sub("presence-room", cdata='{"user_id":42}')], "subscribe-presence-int-id")
    add(0, [sub("presence-room", cdata='{"user_id":"u1"}')], "subscribe-presence-same-user")
    add(0, [sub("presence-room", cdata='{"user_id":"bad id"}')], "presence-bad-user-id")
    add(0, [sub("presence-room", cdata='[1]')], "presence-bad-channel-data")
    add(0, [sub("presence-room")], "presence-no-channel-data")
    add(0, [sub("presence-new", cdata=u9), msg("pusher:unsubscribe", {"channel": "presence-new"})],
        "presence-join-leave")
    add(0, [sub("news"), sub("news"), msg("pusher:unsubscribe", {"channel": "news"}),
            msg("pusher:unsubscribe", {"channel": "news"})], "subscribe-twice-unsubscribe-twice")
    ud = '{"id":"u9","user_info":{"name":"Z"}}'
    add(0, [signin(ud), sub("#server-to-user-u9"), sub("#server-to-user-u1")], "signin-user-channel")
    add(0, [msg("pusher:signin", {"auth": "x:y", "user_data": ud})], "signin-bad")
    add(0, [signin('{"name":"no id"}')], "signin-no-id")
    add(0, [sub("#server-to-user-u9")], "user-channel-no-signin")
    add(0, [sub("private-chat"), msg("client-typing", {"who": "me"}, "private-chat")],
        "client-event-private")
    add(0, [sub("presence-room", cdata=u9), msg("client-typing", "a string", "presence-room")],
        "client-event-presence")
    add(0, [sub("private-chat"), msg("client-x", None, "private-chat")], "client-event-no-data")
    add(0, [sub("news"), msg("client-x", {}, "news")], "client-event-public")
    add(0, [msg("client-x", {})], "client-event-no-channel")
    add(0, [msg("client-x", {}, "private-chat")], "client-event-unsubscribed")
    add(0x40, [sub("private-chat"), msg("client-x", {}, "private-chat")], "client-events-off")
    add(8, [sub("private-chat")] + [msg("client-x", {"i": i}, "private-chat") for i in range(5)],
        "client-event-rate")
    add(8 | 0x30, [sub("private-chat")] + [msg("client-x", {"i": i}, "private-chat")
                                           for i in range(5)], "client-event-rate-clock")
    add(8, [sub("private-chat"), msg("client-x", "x" * 100, "private-chat")],
        "client-event-too-big")
    add(8, [sub("presence-room", cdata=u9)], "presence-full")
    add(8, [sub("presence-r2", cdata='{"user_id":"u9","user_info":"' + "i" * 40 + '"}')],
        "presence-user-info-too-big")
    add(4, [sub(f"c{i}") for i in range(6)], "too-many-channels")
    add(2, [sub("private-chat"), msg("client-x", {}, "private-chat")], "o1-refuses")
    add(0x80, [sub("news"), msg("pusher:ping", {})], "me-refuses")
    # Other connections speak (lines starting \x01 / \x02).
    add(0, [sub("presence-room", cdata=u9),
            b"\x01" + msg("pusher:unsubscribe", {"channel": "presence-room"}).encode(),
            b"\x02" + msg("client-hi", {}, "presence-room").encode(),
            b"\x02" + msg("pusher:unsubscribe", {"channel": "presence-room"}).encode()],
        "others-leave-presence")
    add(0, [sub("private-chat"),
            b"\x01" + msg("client-hello", {"x": 1}, "private-chat").encode()], "o1-client-event")
    add(0, [b"\x01" + msg("pusher:signin", {"auth": "bad", "user_data": "{}"}).encode(),
            b"\x01" + msg("pusher:ping", {}).encode()], "o1-signin-fails-closes")
    add(0, [b"\x02" + sub("presence-room", sid="333.444", cdata='{"user_id":"u2"}').encode()],
        "o2-resubscribe")
    # Re-signed (option bit 0).
    add(1, [sub("private-anything", auth=False),
            sub("presence-x", cdata='{"user_id":"a"}', auth=False),
            msg("pusher:signin", {"auth": "", "user_data": '{"id":"zz"}'}),
            sub("#server-to-user-zz")], "resign")
    add(1, [b"\x01" + sub("presence-room", auth=False, cdata='{"user_id":"u1b"}').encode(),
            b"\x02" + msg("pusher:unsubscribe", {"channel": "presence-room"}).encode()],
        "resign-others")
    add(1, [sub("presence-s", cdata='{"user_id":"q"}', auth=False, as_string=True)],
        "resign-string-data")
    # The classic dialect (second option byte): "me" (bit 0), o2 (bit 1).
    cobj = {"user_id": "u9", "user_info": {"name": "Z"}}
    cobj_text = json.dumps(cobj, separators=(",", ":"))
    csub = msg("pusher:subscribe", {"channel": "presence-room", "channel_data": cobj,
                                    "auth": channel_auth(ME, "presence-room", cobj_text)})
    add(0, [csub, msg("typing", {"x": 1}, "presence-room"),
            json.dumps({"event": "typing", "channel": "presence-room", "data": "d",
                        "echo": True, "persist": False}, separators=(",", ":")),
            msg("pusher:unsubscribe", {"channel": "presence-room"})], "classic-presence",
        dopts=1)
    add(0, [sub("news"), msg("hello", {}, "news"), msg("pusher:latest", {"channel": "news",
                                                                         "skip": 0,
                                                                         "count": 5})],
        "classic-public-client-event", dopts=1 | 4)
    add(0, [sub("news"), msg("hello", {}, "news")], "classic-public-events-off", dopts=1)
    add(0, [msg("pusher:subscribe", {"channel": "personal-u9",
                                     "auth": channel_auth(ME, "personal-u9")}),
            msg("pusher:unsubscribe", {"channel": "personal-u9"})], "classic-personal", dopts=1)
    add(0, [msg("pusher:subscribe", {"channel": "peer-chat:u1&u9",
                                     "auth": channel_auth(ME, "peer-chat:u1&u9")}),
            msg("x", "y", "peer-chat:u1&u9")], "classic-peer", dopts=1)
    add(0, [msg("pusher:subscribe", {"channel": "presence-room", "channel_data": cobj,
                                     "auth": channel_auth(ME, "presence-room")})],
        "classic-unsigned-presence", dopts=1 | 8)
    add(0, [sub("news"), sub("news"), msg("pusher:unsubscribe", {"channel": "other"})],
        "classic-resubscribe-unknown", dopts=1)
    add(0, [msg("pusher:subscribe", {"channel": "bad name"})], "classic-bad-name", dopts=1)
    add(0, ['{"event":"pusher:ping"}', '{"event":"pusher:whatever","data":{}}', 'nope'],
        "classic-misc", dopts=1)
    add(0, [sub("presence-room", cdata=u9), msg("client-x", {"a": 1}, "presence-room"),
            b"\x02" + msg("hi", {"b": 2}, "presence-room").encode(),
            b"\x02" + msg("pusher:unsubscribe", {"channel": "presence-room"}).encode()],
        "mixed-dialects", dopts=2)
    add(1, [msg("pusher:subscribe", {"channel": "presence-x", "channel_data": {"user_id": "k"},
                                     "auth": ""}), msg("e", 1, "presence-x")],
        "classic-resign", dopts=1)
    # Malformed.
    for i, bad in enumerate(['not json', '[1,2]', '"str"', '{}', '{"event":1}', '{"event":""}',
                             '{"event":"pusher:subscribe"}', '{"event":"pusher:subscribe","data":7}',
                             '{"event":"pusher:subscribe","data":{}}',
                             '{"event":"pusher:subscribe","data":{"channel":"bad name"}}',
                             '{"event":"pusher:subscribe","data":{"channel":"' + "a" * 201 + '"}}',
                             '{"event":"pusher:unsubscribe","data":{}}',
                             '{"event":"pusher:unsubscribe"}',
                             '{"event":"pusher:signin"}',
                             '{"event":"x","channel":5}', '{"event":"x","channel":null}',
                             '{"event":"unknown:event"}', '{"event":"a","event":"b"}',
                             '{"event":"client-\\u0001","channel":"private-chat"}']):
        add(0, [bad], f"malformed-{i:02d}")


# ---------------------------------------------------------------- signatures

def auth_seeds(out: Out) -> None:
    def add(opts: int, fields: list[str], name: str) -> None:
        out.add(bytes([opts]) + "\n".join(fields).encode(), name)

    add(0, ["POST", "/apps/3/events", REST_QUERY, "", "", "", "", REST_BODY], "docs-request")
    add(0, ["GET", "/apps/3/channels", sign_target("GET", "/apps/3/channels",
                                                   [("info", "user_count")]).split("?", 1)[1],
            "", "", "", "", ""], "signed-get")
    add(0, ["POST", "/apps/3/events", REST_QUERY.replace("1353088179", "1353080000"), "", "", "",
            "", REST_BODY], "docs-request-expired")
    add(0, ["POST", "/apps/3/events", REST_QUERY, "", "", "", "", REST_BODY + " "], "md5-mismatch")
    add(0, ["GET", "/x", "auth_key=" + KEY + "&auth_timestamp=12x&auth_signature=a", "", "", "",
            "", ""], "bad-timestamp")
    add(0, ["GET", "/x", "auth_key=" + KEY + "&auth_version=2.0&auth_timestamp=1&auth_signature=a",
            "", "", "", "", ""], "bad-version")
    add(0, ["GET", "/x", "a=%20b&c+d=e%2B&%41=&x", "", "", "", "", ""], "query-escapes")
    add(0, ["GET", "/x", "a=%2", "", "", "", "", ""], "query-bad-escape")
    add(0, ["GET", "/x", "&".join(f"k{i}=v" for i in range(65)), "", "", "", "", ""],
        "query-too-many")
    add(0, ["GET", "/x", "a=1&&b=2&=3&c", "", "", "", "", ""], "query-empty-items")
    sid, ch = "1234.1234", "private-foobar"
    add(0, ["", "", "", sid, ch, "", channel_auth(sid, ch), ""], "channel-docs")
    cd = '{"user_id":10,"user_info":{"name":"Mr. Channel"}}'
    add(0x40, ["", "", "", sid, "presence-foobar", cd, channel_auth(sid, "presence-foobar", cd),
               ""], "channel-presence")
    add(0, ["", "", "", sid, ch, "", KEY + ":" + "0" * 64, ""], "channel-wrong")
    add(0, ["", "", "", sid, ch, "", "nocolon", ""], "channel-no-colon")
    ud = '{"id":"12345","user_info":{"name":"John"}}'
    add(0, ["", "", "", sid, "", ud, user_auth(sid, ud), ""], "user-docs")
    add(0x10 | 0x20 | 0x40, ["", "", "", sid, "presence-x", ud, "", ""], "resign-channel-user")
    for t in range(8):
        add(1 | (t << 1), ["POST", "/apps/3/events", "a=1&B=2&auth_signature=x", "", "", "", "",
                           '{"x":1}'], f"resign-ts{t}")
    add(1, ["GET", "/apps/3/channels/presence-x/users", "info=user_count&Auth_Key=dup", "", "",
            "", "", ""], "resign-upper-key")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    for name, fn in (("http", http_seeds), ("ws", ws_seeds), ("proto", proto_seeds),
                     ("auth", auth_seeds)):
        out = Out(root, name)
        fn(out)
        print(f"{name}: {out.n} seeds")


if __name__ == "__main__":
    main()

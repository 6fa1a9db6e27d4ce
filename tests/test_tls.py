"""TLS on the listener: https:// for the HTTP API and wss:// for WebSockets,
with a self-signed certificate made by the test (openssl CLI), exercised by
urllib, websockets, pushi.Pushi and pusher-js."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from websockets.sync.client import connect

import pushi
from pushi.apps import App
from pushi.server import Server

from conftest import PusherSocket
from test_pusher_js import PRESENCE, PRIVATE, PUBLIC, AuthEndpoint, NodeClient, require_node_modules


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    key, crt = d / "key.pem", d / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(crt), "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True)
    return crt, key


@pytest.fixture
def tls_server(cert: tuple[Path, Path]) -> Iterator[Server]:
    crt, key = cert
    app = App.generate("tls", client_events=True)
    with Server(apps=[app], tls_cert=str(crt), tls_key=str(key), request_timeout_ms=1000) as s:
        yield s


@pytest.fixture
def ctx(cert: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert[0]))


def test_https_health_and_signed_api(tls_server: Server, ctx: ssl.SSLContext) -> None:
    assert tls_server.url.startswith("https://")
    with urllib.request.urlopen(tls_server.url + "/health", context=ctx, timeout=5) as r:
        assert json.loads(r.read())["ok"] is True
    app = tls_server.app
    api = pushi.Pushi(app.id, app.key, app.secret, base_url=tls_server.url, ssl_context=ctx)
    assert api.trigger_event("c", {"x": 1}) == {}
    assert api.channels() == {"channels": {}}


def test_wss_subscribe_and_receive_large_event(tls_server: Server, ctx: ssl.SSLContext) -> None:
    sock = PusherSocket(connect(tls_server.ws_url(), ssl=ctx, max_size=None))
    try:
        assert sock.subscribe("news")["event"] == "pusher_internal:subscription_succeeded"
        app = tls_server.app
        api = pushi.Pushi(app.id, app.key, app.secret, base_url=tls_server.url, ssl_context=ctx)
        payload = "y" * 9000  # several TLS records' worth with framing
        for i in range(20):
            api.trigger_event("news", f"{i}:{payload}", event="big")
        for i in range(20):
            assert sock.recv_event("big")["data"] == f"{i}:{payload}"
    finally:
        sock.close()


def test_plain_http_to_a_tls_listener_is_refused(tls_server: Server) -> None:
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as s:
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(1024)
        except ConnectionResetError:
            data = b""
    assert not data.startswith(b"HTTP/")  # a TLS alert or nothing, never plain HTTP
    with urllib.request.urlopen(f"{tls_server.url}/health", timeout=5,
                                context=_trusting(tls_server)) as r:
        assert r.status == 200  # and the listener still serves TLS clients


def _trusting(server: Server) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=server._options["tls_cert"])


def test_original_ssl_environment_variables(cert: tuple[Path, Path]) -> None:
    from pushi.config import load_config

    crt, key = cert
    env = {"SERVER_SSL": "1", "SERVER_SSL_KEY": str(key), "SERVER_SSL_CER": str(crt)}
    options = load_config(None, env)["options"]
    assert options["tls_cert"] == str(crt) and options["tls_key"] == str(key)
    with pytest.raises(ValueError, match="SERVER_SSL_KEY"):
        load_config(None, {"SERVER_SSL": "1"})
    assert "tls_cert" not in load_config(None, {"SERVER_SSL": "0"})["options"]


def test_stalled_tls_handshake_is_closed_by_the_deadline(tls_server: Server) -> None:
    with socket.create_connection(("127.0.0.1", tls_server.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01")  # the first bytes of a ClientHello, then nothing
        start = time.monotonic()
        try:
            data = s.recv(1024)
        except ConnectionResetError:
            data = b""
        assert data == b""
        assert time.monotonic() - start < 5  # request_timeout_ms=1000 plus the tick


def test_missing_key_or_bad_files_are_refused(cert: tuple[Path, Path], tmp_path: Path) -> None:
    crt, key = cert
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        Server(apps=[App.generate()], tls_cert=str(crt)).start()
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(ValueError, match="certificate"):
        Server(apps=[App.generate()], tls_cert=str(bogus), tls_key=str(key)).start()


def test_pusher_js_over_wss(tls_server: Server, cert: tuple[Path, Path],
                            monkeypatch: pytest.MonkeyPatch, ctx: ssl.SSLContext) -> None:
    node = require_node_modules()
    monkeypatch.setenv("NODE_EXTRA_CA_CERTS", str(cert[0]))
    app = tls_server.app
    signer = pushi.Pushi(app.id, app.key, app.secret, base_url=tls_server.url, ssl_context=ctx)
    with AuthEndpoint(signer) as auth:
        js = NodeClient(node, {
            "wsHost": "127.0.0.1", "wsPort": tls_server.port, "tls": True, "key": app.key,
            "authEndpoint": auth.url,
            "channels": {"public": PUBLIC, "private": PRIVATE, "presence": PRESENCE},
            "timeoutMs": 20000,
        })
        try:
            js.expect_step("connected")
            channels = {js.expect_step("subscribed")["channel"] for _ in range(3)}
            assert channels == {PUBLIC, PRIVATE, PRESENCE}
            signer.trigger_event(PRIVATE, {"over": "tls"}, event="secure")
            got = js.expect(lambda s: s.get("step") == "event" and s.get("event") == "secure",
                            "the event over wss")
            assert got["channel"] == PRIVATE
        finally:
            js.close()

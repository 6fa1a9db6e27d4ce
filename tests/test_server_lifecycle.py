"""pushi.Server lifecycle, the store, and the command line, against real
processes and sockets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from websockets.sync.client import connect

import pushi
from pushi.apps import App
from pushi.server import Server

from conftest import PusherSocket


def _health(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
        assert r.status == 200
        return json.loads(r.read())


def _wait_port(proc: subprocess.Popen, seen: list[str] | None = None) -> int:
    """Reads the server's stdout until it prints "press Ctrl+C" (the end of
    its banner) and returns the port of its listening URL. Lines read are
    appended to seen."""
    port = 0
    for line in proc.stdout:
        if seen is not None:
            seen.append(line)
        if "listening on http://" in line:
            port = int(line.split("http://", 1)[1].split()[0].rsplit(":", 1)[1])
        if "press Ctrl+C" in line:
            break
    assert port, "server did not report its port"
    return port


def test_start_stop_context_manager_and_idempotent_stop() -> None:
    app = App.generate()
    server = Server(apps=[app])
    server.stop()  # before start: a no-op
    with server:
        assert server.port > 0
        assert server.running
        assert _health(server.port)["ok"] is True
    assert not server.running
    server.stop()  # twice: a no-op
    with pytest.raises(RuntimeError):
        server.stats()


def test_stop_closes_clients_with_4200_and_frees_every_connection() -> None:
    app = App.generate()
    server = Server(apps=[app]).start()
    sock = PusherSocket(connect(server.ws_url()))
    sock.subscribe("news")
    assert server.stats()["connections"] == 1
    server.stop()
    with pytest.raises(Exception):
        sock.recv(timeout=5)
    assert sock.ws.close_code == 4200


def test_stats_count_connections_and_deliveries(server: Server, pusher_socket) -> None:
    a = pusher_socket()
    b = pusher_socket()
    a.subscribe("s")
    b.subscribe("s")
    server.trigger(server.app.id, "s", "ev", {"n": 1})
    assert a.recv_event("ev")["data"] == '{"n":1}'
    assert b.recv_event("ev")["data"] == '{"n":1}'
    stats = server.stats()
    assert stats["connections"] == 2
    assert stats["channels"] == 1
    assert stats["deliveries"] >= 2
    assert stats["published"] >= 1


def test_trigger_validates_names(server: Server) -> None:
    with pytest.raises(ValueError):
        server.trigger(server.app.id, "bad name", "ev", "x")
    with pytest.raises(ValueError):
        server.trigger(server.app.id, [], "ev", "x")
    with pytest.raises(ValueError):
        server.trigger(server.app.id, "ok", "", "x")
    with pytest.raises(ValueError):
        server.trigger(server.app.id, "ok", "ev", "x", socket_id="nope")


def test_add_app_at_runtime_serves_the_new_key(server: Server) -> None:
    extra = server.add_app(App.generate("extra"), persist=False)
    sock = PusherSocket(connect(server.ws_url(extra)))
    assert sock.subscribe("x")["event"] == "pusher_internal:subscription_succeeded"
    server.trigger(extra.id, "x", "ev", "hello")
    assert sock.recv_event("ev")["data"] == "hello"
    sock.close()


def test_disabling_an_app_at_runtime_refuses_new_connections(server: Server) -> None:
    app = server.app
    server.add_app(App.from_dict({**app.to_dict(), "enabled": False}), persist=False)
    with connect(server.ws_url(app)) as ws:
        err = json.loads(ws.recv(timeout=5))
        assert err["event"] == "pusher:error" and err["data"]["code"] == 4003
        with pytest.raises(Exception):
            ws.recv(timeout=5)
        assert ws.close_code == 4003


def test_sqlite_store_keeps_the_default_app_across_restarts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/pushi.db"
    with Server(store=url) as first:
        created = first.create_default_app_if_empty()
        assert created is not None
        assert first.create_default_app_if_empty() is None
    with Server(store=url) as second:
        assert [a.key for a in second.apps] == [created.key]
        sock = PusherSocket(connect(second.ws_url(created)))
        assert sock.socket_id
        sock.close()


def _cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pushi", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})}, cwd=cwd)


def test_cli_app_create_list_delete(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/apps.db"
    made = _cli("app", "create", "chat", "--client-events", "--store", url)
    assert made.returncode == 0, made.stderr
    app = json.loads(made.stdout)
    assert app["name"] == "chat" and app["client_events"] is True and len(app["key"]) == 64
    listed = _cli("app", "list", "--store", url)
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [app["id"]]
    assert _cli("app", "delete", app["id"], "--store", url).returncode == 0
    assert _cli("app", "list", "--store", url).stdout.strip() == ""


def test_cli_serve_creates_default_app_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pushi", "serve", "--port", "0"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    banner: list[str] = []
    try:
        port = _wait_port(proc, banner)
        assert _health(port)["ok"] is True
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        out = "".join(banner) + out
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert (tmp_path / "pushi.db").exists()
    assert "created default app" in out


def test_cli_serve_uses_pushi_app_env_and_original_port_names(tmp_path: Path) -> None:
    env = {"PUSHI_APP_ID": "77", "PUSHI_APP_KEY": "envkey", "PUSHI_APP_SECRET": "envsecret",
           "SERVER_PORT": "0", "PUSHI_STORE": "memory:"}
    proc = subprocess.Popen([sys.executable, "-m", "pushi", "serve"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **env})
    try:
        port = _wait_port(proc)
        api = pushi.Pushi("77", "envkey", "envsecret", base_url=f"http://127.0.0.1:{port}")
        assert api.trigger_event("c", {"a": 1}) == {}
        with connect(f"ws://127.0.0.1:{port}/app/envkey?protocol=7") as ws:
            assert json.loads(ws.recv(timeout=5))["event"] == "pusher:connection_established"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def test_interpreter_exit_with_a_running_server_is_clean() -> None:
    code = ("import pushi; s = pushi.Server(apps=[pushi.App.generate()]).start(); "
            "print(s.port)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 0

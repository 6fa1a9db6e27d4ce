"""Stock pusher-js (8.x, Node build) against pushi.

tests/js/pusher_roundtrip.mjs connects with pusher-js, subscribes a public,
a private and a presence channel through an auth endpoint served here, and
reports each step as a JSON line. This test drives the other side: a second
presence member, a server event through the official ``pusher`` SDK, and
client events both ways with a Python WebSocket client.

Needs ``npm ci --prefix tests/js`` first (CI runs it).
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterator

import pusher
import pytest

from pushi.apps import App
from pushi.client import Pushi
from pushi.server import Server

from conftest import private_auth

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = JS_DIR / "pusher_roundtrip.mjs"

PUBLIC = "js-public"
PRIVATE = "private-js"
PRESENCE = "presence-js"


def require_node_modules() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the pusher-js test needs Node.js (v20)")
    if not (JS_DIR / "node_modules" / "pusher-js" / "package.json").is_file():
        pytest.fail("tests/js/node_modules is missing: run `npm ci --prefix tests/js` "
                    "to install pusher-js for this test")
    return node


# --------------------------------------------------------------------------
# The auth endpoint pusher-js posts to
# --------------------------------------------------------------------------


class AuthEndpoint:
    """An http.server on 127.0.0.1:0 answering pusher-js channel authorization
    (form body socket_id=...&channel_name=...) with pushi.Pushi.authenticate."""

    def __init__(self, signer: Pushi) -> None:
        self.signer = signer
        self.requests: list[dict[str, str]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode())
                socket_id = form.get("socket_id", [""])[0]
                channel = form.get("channel_name", [""])[0]
                endpoint.requests.append({"socket_id": socket_id, "channel_name": channel,
                                          "content_type": self.headers.get("Content-Type", "")})
                try:
                    if channel.startswith("presence-"):
                        body = endpoint.signer.authenticate(
                            channel, socket_id,
                            channel_data={"user_id": "js-user", "user_info": {"name": "JS"}})
                    else:
                        body = endpoint.signer.authenticate(channel, socket_id)
                    status = 200
                except ValueError as exc:
                    body, status = {"error": str(exc)}, 403
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/pusher/auth"

    def __enter__(self) -> "AuthEndpoint":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


# --------------------------------------------------------------------------
# The Node process
# --------------------------------------------------------------------------


class NodeClient:
    """node pusher_roundtrip.mjs, its stdout read line by line as it comes."""

    def __init__(self, node: str, config: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            [node, str(SCRIPT), json.dumps(config)], cwd=JS_DIR,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1)
        self.lines: "queue.Queue[dict[str, Any] | None]" = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.lines.put({"step": "unparsed", "line": line})
        self.lines.put(None)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def diagnostics(self) -> str:
        return (f"steps so far: {json.dumps(self.seen, indent=1)}\n"
                f"node stderr:\n" + "\n".join(self.stderr[-40:]))

    def expect(self, match: Callable[[dict[str, Any]], bool], what: str,
               timeout: float = 10.0) -> dict[str, Any]:
        """Returns the first step (from now on) that match accepts; fails on
        an error step, on exit, or after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"pusher-js did not report {what} within {timeout} s\n"
                            + self.diagnostics())
            try:
                step = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if step is None:
                self._err.join(2)
                pytest.fail(f"pusher-js exited (code {self.proc.wait(5)}) before {what}\n"
                            + self.diagnostics())
            self.seen.append(step)
            if step.get("step") == "error":
                self._err.join(1)
                pytest.fail(f"pusher-js reported an error while waiting for {what}: {step}\n"
                            + self.diagnostics())
            if match(step):
                return step

    def expect_step(self, name: str, timeout: float = 10.0, **fields: Any) -> dict[str, Any]:
        def match(step: dict[str, Any]) -> bool:
            return step.get("step") == name and all(step.get(k) == v for k, v in fields.items())
        desc = name + (f" {fields}" if fields else "")
        return self.expect(match, desc, timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


@pytest.fixture
def node_client(server: Server, app: App) -> Iterator[Callable[[str], NodeClient]]:
    started: list[NodeClient] = []

    def start(auth_endpoint: str) -> NodeClient:
        node = require_node_modules()  # fails (in the test) with what to run
        client = NodeClient(node, {
            "wsHost": "127.0.0.1",
            "wsPort": server.port,
            "key": app.key,
            "authEndpoint": auth_endpoint,
            "channels": {"public": PUBLIC, "private": PRIVATE, "presence": PRESENCE},
            "clientEvents": ["client-ping", "client-wave"],
            "timeoutMs": 20000,
        })
        started.append(client)
        return client

    yield start
    for client in started:
        client.close()


# --------------------------------------------------------------------------
# The scenario
# --------------------------------------------------------------------------


def test_pusher_js_roundtrip(server, app, pusher_socket, node_client):
    signer = server.client()
    sdk = pusher.Pusher(app_id=app.id, key=app.key, secret=app.secret,
                        host="127.0.0.1", port=server.port, ssl=False)

    with AuthEndpoint(signer) as auth:
        js = node_client(auth.url)

        # 1. pusher-js connects and subscribes the three channels (two via auth).
        connected = js.expect_step("connected")
        socket_id = connected["socket_id"]
        assert isinstance(socket_id, str) and socket_id.count(".") == 1
        subscribed: dict[str, dict[str, Any]] = {}
        while len(subscribed) < 3:
            step = js.expect_step("subscribed")
            subscribed[step["channel"]] = step
        assert set(subscribed) == {PUBLIC, PRIVATE, PRESENCE}
        assert subscribed[PRESENCE]["members"] == 1
        assert subscribed[PRESENCE]["me"] == {"id": "js-user", "info": {"name": "JS"}}

        # pusher-js asked the endpoint for exactly the private and presence channels.
        assert sorted(r["channel_name"] for r in auth.requests) == sorted([PRIVATE, PRESENCE])
        assert all(r["socket_id"] == socket_id for r in auth.requests)
        assert all(r["content_type"].startswith("application/x-www-form-urlencoded")
                   for r in auth.requests)

        info = sdk.channel_info(PRESENCE, ["user_count", "subscription_count"])
        assert info == {"occupied": True, "user_count": 1, "subscription_count": 1}

        # 2. A Python client joins the presence (and private) channel.
        py = pusher_socket()
        reply = py.subscribe(PRIVATE, auth=private_auth(app, py.socket_id, PRIVATE))
        assert reply["event"] == "pusher_internal:subscription_succeeded", reply
        channel_data = json.dumps({"user_id": "py-user", "user_info": {"name": "Py"}})
        reply = py.subscribe(PRESENCE, auth=private_auth(app, py.socket_id, PRESENCE, channel_data),
                             channel_data=channel_data)
        assert reply["event"] == "pusher_internal:subscription_succeeded", reply
        presence = json.loads(reply["data"])["presence"]
        assert presence["count"] == 2
        assert sorted(presence["ids"]) == ["js-user", "py-user"]
        assert presence["hash"]["js-user"] == {"name": "JS"}

        added = js.expect_step("member_added", channel=PRESENCE)
        assert added["user_id"] == "py-user"
        assert added["user_info"] == {"name": "Py"}

        # 3. A server event through the official SDK reaches pusher-js on all three.
        assert sdk.trigger([PUBLIC, PRIVATE, PRESENCE], "greeting", {"hello": "js", "n": 1}) == {}
        got = {}
        while len(got) < 3:
            step = js.expect_step("event", event="greeting")
            got[step["channel"]] = step["data"]
        assert got == {ch: {"hello": "js", "n": 1} for ch in (PUBLIC, PRIVATE, PRESENCE)}
        # A string stays a string through pusher-js's decoding when it is not JSON.
        sdk.trigger(PUBLIC, "plain", "not json")
        assert js.expect_step("event", event="plain", channel=PUBLIC)["data"] == "not json"

        # 4. A client event from Python reaches pusher-js, which answers with
        #    its own client event (channel.trigger), which Python receives.
        py.send("client-ping", {"from": "python", "n": 2}, channel=PRIVATE)
        ping = js.expect_step("client_event", event="client-ping", channel=PRIVATE)
        assert ping["data"] == {"from": "python", "n": 2}
        js.expect_step("client_event_sent", event="client-hello")
        hello = py.recv_event("client-hello")
        assert hello["channel"] == PRIVATE
        assert json.loads(hello["data"]) == {"from": "pusher-js",
                                             "reply_to": {"from": "python", "n": 2}}

        # Client events on the presence channel carry the sender's user_id.
        py.send("client-wave", {"w": 1}, channel=PRESENCE)
        wave = js.expect_step("client_event", event="client-wave", channel=PRESENCE)
        assert wave["data"] == {"w": 1}
        assert wave["user_id"] == "py-user"

        # 5. Python leaves the presence channel: pusher-js sees member_removed.
        py.send("pusher:unsubscribe", {"channel": PRESENCE})
        js.expect_step("member_removed", channel=PRESENCE, user_id="py-user")

        # 6. "done" ends the script cleanly.
        sdk.trigger(PUBLIC, "done", {})
        js.expect_step("done")
        assert js.proc.wait(10) == 0, js.diagnostics()

    # pusher-js disconnected: the server forgets its subscriptions.
    deadline = time.monotonic() + 5
    while sdk.channel_info(PUBLIC)["occupied"]:
        assert time.monotonic() < deadline, "the server still lists pusher-js's channel"
        time.sleep(0.05)

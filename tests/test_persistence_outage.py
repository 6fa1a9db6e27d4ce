"""The engine against a MongoDB-wire store (FerretDB) that goes away: live
delivery goes on, persistence queues (bounded) and retries, the outage shows
in stats(), and nothing acknowledged is lost once the store is back."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest
from websockets.sync.client import connect

from pushi.apps import App
from pushi.server import Server

from ferretdb import INSTALL_HINT, FerretDB, find_binary


@pytest.fixture
def mongo(tmp_path: Path) -> Iterator[FerretDB]:
    binary = find_binary()
    if binary is None:
        pytest.fail(INSTALL_HINT)
    server = FerretDB(binary, tmp_path / "ferretdb")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _wait(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _post_event(server: Server, sid: str, data: str) -> int:
    body = json.dumps({"data": data, "event": "e", "channel": "log"}).encode()
    req = urllib.request.Request(f"{server.url}/events?sid={sid}", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_store_outage_keeps_delivery_and_loses_nothing(mongo: FerretDB) -> None:
    app = App(id="9" * 64, key="8" * 64, secret="7" * 64)
    url = mongo.url("outage")
    with Server(apps=[app], store=url, persist_backlog=1000) as server:
        with urllib.request.urlopen(f"{server.url}/login?app_id={app.id}&app_key={app.key}"
                                    f"&app_secret={app.secret}", timeout=5) as r:
            sid = json.loads(r.read())["token"]
        with connect(f"ws://127.0.0.1:{server.port}/{app.key}") as ws:
            ws.recv(timeout=5)
            ws.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "log"}}))
            ws.recv(timeout=5)
            assert _post_event(server, sid, "before") == 200
            ws.recv(timeout=5)
            _wait(lambda: server.stats()["persist_written"] >= 1, what="the first write")

            mongo.stop()  # the store goes away
            for i in range(20):
                assert _post_event(server, sid, f"during-{i}") == 200  # acknowledged
                msg = json.loads(ws.recv(timeout=5))                    # and delivered live
                assert msg["data"] == f"during-{i}"
            _wait(lambda: server.stats()["persist_outage"] == 1, what="the outage to show")
            stats = server.stats()
            assert stats["persist_queued"] >= 1 and stats["persist_failures"] >= 1

            mongo.start()  # back, same port and data
            _wait(lambda: server.stats()["persist_queued"] == 0, timeout=40, what="the backlog")
            assert server.stats()["persist_outage"] == 0
            assert server.stats()["persist_written"] == 21

            ws.send(json.dumps({"event": "pusher:latest",
                                "data": {"channel": "log", "count": 30}}))
            reply = json.loads(ws.recv(timeout=10))
            events = json.loads(reply["data"])["events"]
            got = [e["data"]["data"] for e in events]
            assert got == [f"during-{i}" for i in reversed(range(20))] + ["before"]


def test_backlog_limit_refuses_instead_of_losing(mongo: FerretDB) -> None:
    app = App(id="6" * 64, key="5" * 64, secret="4" * 64)
    with Server(apps=[app], store=mongo.url("limit"), persist_backlog=5) as server:
        with urllib.request.urlopen(f"{server.url}/login?app_id={app.id}&app_key={app.key}"
                                    f"&app_secret={app.secret}", timeout=5) as r:
            sid = json.loads(r.read())["token"]
        mongo.stop()
        statuses = [_post_event(server, sid, f"x{i}") for i in range(12)]
        assert statuses.count(200) <= 6  # at most the backlog (+ the batch in flight)
        assert 503 in statuses
        mongo.start()
        _wait(lambda: server.stats()["persist_queued"] == 0, timeout=40, what="the backlog")
        assert server.stats()["persist_written"] == statuses.count(200)

"""pytest plugin shipped with pushi (auto-loaded through the ``pytest11``
entry point when pushi is installed).

Fixtures:
  pushi_app     a fresh App with random credentials and client events on
  pushi_server  a running pushi.Server on 127.0.0.1 and an ephemeral port,
                store ``memory:``, serving pushi_app; stopped after the test,
                with a check that every connection was closed
  pushi_client  a pushi.Pushi HTTP client for pushi_server's app

Applications test their own code against a real server this way:

    def test_notifies(pushi_server, pushi_client):
        ...
"""

from __future__ import annotations

from typing import Iterator

import pytest

from pushi.apps import App


@pytest.fixture
def pushi_app() -> App:
    return App.generate("test", client_events=True)


@pytest.fixture
def pushi_server(pushi_app: App) -> Iterator["pushi.server.Server"]:  # noqa: F821
    from pushi.server import Server

    server = Server(host="127.0.0.1", port=0, store="memory:", apps=[pushi_app])
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pushi_client(pushi_server: "pushi.server.Server") -> "pushi.client.Pushi":  # noqa: F821
    return pushi_server.client()

"""pushi.Server: the C engine running on its own thread inside this process.

    with pushi.Server(port=0, store="memory:", apps=[app]) as server:
        print(server.port)
        server.trigger(app.id, "news", "update", {"x": 1})

The engine's loop runs on a daemon thread with the GIL released; Python keeps
signals and lifecycle.  ``stop()`` asks the loop to close every connection
(WebSocket clients get close code 4200, "reconnect"), joins the thread and
frees the engine, so no handle outlives the server.
"""

from __future__ import annotations

import atexit
import json
import threading
import weakref
from typing import Any, Iterable, Mapping, Sequence

from pushi.apps import App

__all__ = ["Server", "ENGINE_OPTIONS"]

# Engine options accepted as keyword arguments (see csrc/px_server.h).
ENGINE_OPTIONS = frozenset({
    "activity_timeout", "pong_timeout", "max_message_bytes", "max_output_bytes",
    "max_head_bytes", "max_body_bytes", "request_timeout_ms", "keepalive_timeout_ms",
    "close_timeout_ms", "max_connections", "max_channels_per_connection",
    "max_connections_per_ip", "max_connection_rate_per_ip", "shutdown_timeout_ms",
    "tls_cert", "tls_key",  # PEM files: the listener speaks TLS
    "persist_backlog", "admin_token", "retention_interval",
    "echo_path",  # tests only: a WebSocket path that echoes messages (RFC 6455 suite)
})

_live: "weakref.WeakSet[Server]" = weakref.WeakSet()


def _stop_all_at_exit() -> None:
    for server in list(_live):
        server.stop()


atexit.register(_stop_all_at_exit)


def _as_app(app: App | Mapping[str, Any]) -> App:
    return app if isinstance(app, App) else App.from_dict(app)


class Server:
    """An in-process pushi server.

    host, port: where to listen (port 0 picks a free port; read ``.port``).
    store: ``memory:`` or ``sqlite:///path``; apps kept there are loaded at
        start, and apps created here with ``create_default_app_if_empty`` or
        ``add_app`` are saved there.
    apps: apps to serve in addition to the stored ones (App or dict).
    options: engine options (see ENGINE_OPTIONS), e.g. activity_timeout=30.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, store: str = "memory:",
                 apps: Iterable[App | Mapping[str, Any]] = (), **options: Any) -> None:
        unknown = set(options) - ENGINE_OPTIONS
        if unknown:
            raise TypeError(f"unknown server options: {', '.join(sorted(unknown))}")
        self.host = host
        self._requested_port = port
        self.store = store
        self._config_apps = [_as_app(a) for a in apps]
        self._options = dict(options)
        self._apps: dict[str, App] = {}
        self._engine: Any = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self.port: int = 0

    # -- lifecycle ---------------------------------------------------------
    def start(self) -> "Server":
        """Binds, loads the apps and starts the loop thread.  Returns self."""
        from pushi import _core
        from pushi import store as store_mod

        with self._lock:
            if self._engine is not None:
                raise RuntimeError("server already started")
            apps: dict[str, App] = {}
            for app in store_mod.list_apps(self.store):
                apps[app.id] = app
            for app in self._config_apps:
                apps[app.id] = app
            config = {"host": self.host, "port": self._requested_port,
                      "store": store_mod.normalize_url(self.store), **self._options}
            engine = _core.Engine(json.dumps(config), json.dumps([a.to_dict() for a in apps.values()]))
            try:
                self.port = engine.listen()
            except BaseException:
                engine.close()
                raise
            self._apps = apps
            self._engine = engine
            self._thread = threading.Thread(target=self._run, name=f"pushi-loop-{self.port}",
                                            daemon=True)
            self._thread.start()
            _live.add(self)
        return self

    def _run(self) -> None:
        try:
            self._engine.run()
        except BaseException as exc:  # reported by stop()/serve_forever()
            self._error = exc

    def stop(self, timeout: float = 10.0) -> None:
        """Stops the loop, joins its thread and frees the engine.  Safe to call
        more than once, before start() and from any thread but the loop's."""
        with self._lock:
            engine, thread = self._engine, self._thread
            if engine is None:
                return
            engine.stop()
            if thread is not None:
                thread.join(timeout)
                if thread.is_alive():
                    raise RuntimeError("pushi loop did not stop in time")
            engine.close()
            self._engine = None
            self._thread = None
            _live.discard(self)
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def serve_forever(self, poll: float = 0.5) -> None:
        """Blocks until stop() is called (e.g. from a signal handler).  Wakes
        every `poll` seconds so Python signal handlers run."""
        if self._engine is None:
            self.start()
        while True:
            thread = self._thread
            if thread is None or not thread.is_alive():
                break
            thread.join(poll)
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- apps --------------------------------------------------------------
    @property
    def apps(self) -> list[App]:
        """The apps this server serves (stored and configured)."""
        return list(self._apps.values())

    @property
    def app(self) -> App:
        """The only (or first) app; convenient in tests."""
        if not self._apps:
            raise LookupError("this server has no app")
        return next(iter(self._apps.values()))

    def add_app(self, app: App | Mapping[str, Any], persist: bool = True) -> App:
        """Adds (or updates, by id) an app on the running server, saving it in
        the store when persist is true."""
        app = _as_app(app)
        if persist:
            from pushi import store as store_mod
            store_mod.save_app(self.store, app)
        if self._engine is not None:
            self._engine.add_app(json.dumps(app.to_dict()))
        self._apps[app.id] = app
        return app

    def create_default_app_if_empty(self) -> App | None:
        """Creates, stores and serves a default app when there is none."""
        if self._apps:
            return None
        return self.add_app(App.generate("default"))

    # -- publishing and introspection ---------------------------------------
    def trigger(self, app_id: str, channels: str | Sequence[str], event: str, data: Any,
                socket_id: str | None = None) -> None:
        """Publishes straight into the loop (no HTTP).  data that is not a str
        is JSON-encoded.  Names are checked like the HTTP API checks them."""
        from pushi.client import validate_channel_name, validate_socket_id

        if isinstance(channels, str):
            channels = [channels]
        channels = list(channels)
        if not channels or len(channels) > 100:
            raise ValueError("trigger needs 1 to 100 channels")
        for name in channels:
            validate_channel_name(name)
        if not event or len(event) > 200:
            raise ValueError("event name must have 1 to 200 characters")
        if socket_id is not None:
            validate_socket_id(socket_id)
        text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
        engine = self._engine
        if engine is None:
            raise RuntimeError("server is not running")
        engine.trigger(str(app_id), channels, event, text, socket_id)

    def stats(self) -> dict[str, int]:
        """Counters: connections, channels, deliveries, http_requests, ..."""
        engine = self._engine
        if engine is None:
            raise RuntimeError("server is not running")
        return engine.stats()

    @property
    def tls(self) -> bool:
        """True when the listener speaks TLS (https://, wss://)."""
        return bool(self._options.get("tls_cert"))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def ws_url(self, app: App | None = None) -> str:
        app = app or self.app
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{host}:{self.port}/app/{app.key}?protocol=7&client=python"

    def client(self, app: App | None = None) -> Any:
        """A pushi.Pushi HTTP client for app (default: the first app)."""
        from pushi.client import Pushi

        app = app or self.app
        return Pushi(app.id, app.key, app.secret, base_url=self.url)

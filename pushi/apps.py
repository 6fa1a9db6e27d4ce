"""Applications: the unit of tenancy (id, key, secret and per-app settings).

An app is what a client names in its URL (`/app/<key>`) and what a backend
signs its HTTP requests for (`/apps/<id>/...`).  The engine keeps the apps in
memory; the store (sqlite, memory) keeps them across restarts.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any, Mapping

# Settings an app may carry, with their defaults.  The engine applies the
# same defaults (csrc/px_app.c), so an app dict without a key behaves alike.
SETTINGS_DEFAULTS: dict[str, object] = {
    "enabled": True,
    "client_events": False,
    "max_presence_members": 100,
    "max_user_info_bytes": 1024,
    "max_event_bytes": 10240,
    "max_client_events_per_second": 10,
    "max_connections": 0,
    "allowed_origins": [],
    "classic_unsigned_presence": True,
    "public_client_events": False,
    "persist": False,
    "history_max_count": 100,
    "history_keep": 1000,
    "history_max_age": 30 * 86400,
}


@dataclasses.dataclass
class App:
    """One application.

    `key` and `secret` default to 64 hex characters, which makes the key valid
    for both the Pusher path (`/app/<key>`) and the original pushi path
    (`/<64-char key>`).
    """

    id: str
    key: str
    secret: str
    name: str = "default"
    enabled: bool = True
    client_events: bool = False
    max_presence_members: int = 100
    max_user_info_bytes: int = 1024
    max_event_bytes: int = 10240
    max_client_events_per_second: int = 10
    #: Most simultaneous WebSocket connections (0: no limit); over it: 4004.
    max_connections: int = 0
    #: Origin allowlist for WebSockets ("https://app.example.com",
    #: "https://*.example.com", "*"); empty allows every origin.
    allowed_origins: list[str] = dataclasses.field(default_factory=list)
    #: Classic dialect: accept presence signatures over "socket_id:channel"
    #: only, as the original pushi client makes them (channel_data unsigned).
    classic_unsigned_presence: bool = True
    #: Classic dialect: client events on public channels (the original allowed them).
    public_client_events: bool = False
    #: Persist events triggered through the Pusher HTTP API (history, inbox).
    persist: bool = False
    #: Most events one pusher:latest answers with.
    history_max_count: int = 100
    #: Retention: events kept per channel (0: all) and their age in seconds (0: forever).
    history_keep: int = 1000
    history_max_age: int = 30 * 86400

    @classmethod
    def generate(cls, name: str = "default", id: str | None = None, **settings: Any) -> "App":
        """A new app with random credentials from the OS CSPRNG."""
        return cls(
            id=id if id is not None else str(secrets.randbelow(9_000_000) + 1_000_000),
            key=secrets.token_hex(32),
            secret=secrets.token_hex(32),
            name=name,
            **settings,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "App":
        """Builds an App from a mapping; unknown keys raise ValueError."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - fields
        if unknown:
            raise ValueError(f"unknown app settings: {', '.join(sorted(unknown))}")
        for required in ("id", "key", "secret"):
            if not data.get(required):
                raise ValueError(f"app is missing {required!r}")
        values = dict(data)
        values["id"] = str(values["id"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

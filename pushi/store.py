"""The store: what pushi keeps across restarts.

Apps, persisted events (per-channel history, with retention), subscriptions
(the channels a user's personal channel aliases) and associations (each
user's offline inbox). A store is named by a URL:

``memory:``
    in-process; the apps live as long as the `pushi._core.Store` object.
    Each call of the helpers below opens a new one, so with ``memory:`` they
    only make sense on a store from `open_store`.
``sqlite:///abs/path.db`` (also ``sqlite:////abs/path.db``)
    an SQLite file; WAL mode, so a running server and ``python -m pushi app
    create`` can share it.
``sqlite://rel/path.db``, ``sqlite:///./rel/path.db``
    an SQLite file relative to the current directory; `normalize_url` turns
    these into absolute URLs before the engine sees them.
``sqlite:///:memory:``
    a private in-memory SQLite database.
``mongodb://host:port/dbname`` (any libmongoc URI, options included)
    MongoDB, or a MongoDB-wire server such as FerretDB; the database is the
    URL's path, else ``pushi``. The collections are the original pushi's
    (``app``, ``pushievent``, ``subscription``, ``association``,
    ``counters``), so an existing deployment's data is read as it is.
    connectTimeoutMS and serverSelectionTimeoutMS default to 5000 and
    socketTimeoutMS to 10000, so calls fail within seconds when the server
    is down; after it is back the driver waits up to 5 s before trying it
    again.

`pushi._core.Store` speaks dicts:

event (``append_events``, ``latest_events``, ``user_events``)
    ``{"app_id", "channel", "name", "data" (str), "mid" (unique str),
    "timestamp" (float seconds), "owner_id" (str or None), "extra" (dict)}``;
    outputs add ``"id"`` (int, append order). Appending is idempotent by
    ``mid``. ``extra`` loses the members ``channel``, ``event``, ``data``,
    ``mid``, ``timestamp`` and, at any depth, names that are empty, start
    with ``$`` or contain ``.``.
subscription (``list_subscriptions``)
    ``{"id", "app_id", "user_id", "event"}``: ``personal-<user_id>`` aliases
    the channel ``event``.

History and inbox lists are newest first; ``skip`` leaves out the newest,
``count`` bounds the length.

The work is done by the C engine (`pushi._core.Store`), imported on first use
so that importing this module never needs the compiled extension.
"""

from __future__ import annotations

import os
from typing import Any

from pushi.apps import App

__all__ = [
    "StoreUnavailable",
    "normalize_url",
    "open_store",
    "list_apps",
    "save_app",
    "delete_app",
    "subscribe",
    "unsubscribe",
    "list_subscriptions",
    "latest_events",
    "prune_events",
]


class StoreUnavailable(ImportError, RuntimeError):
    """The C extension (`pushi._core`) that implements stores is not built."""


def _core() -> Any:
    try:
        from pushi import _core
    except ImportError as error:
        raise StoreUnavailable(
            f"the pushi C extension is not available ({error}); build it with `pip install .`",
            name="pushi._core",
        ) from error
    return _core


def normalize_url(url: str) -> str:
    """`url` with a relative SQLite path made absolute (other URLs unchanged).

    ``sqlite://rel.db``, ``sqlite:///./rel.db`` and ``sqlite:///../rel.db``
    are resolved against the current directory and ``~`` is expanded, so the
    engine (and a server started elsewhere) sees the same file.
    ``sqlite:////abs.db`` becomes ``sqlite:///abs.db``.
    """
    if not isinstance(url, str):
        raise TypeError(f"store URL must be a str, not {type(url).__name__}")
    url = url.strip()
    if url[:7].lower() != "sqlite:" or not url[7:].startswith("//"):
        return url  # not SQLite, or malformed: the engine explains
    path = url[9:]
    if path.startswith("/"):
        path = "/" + path.lstrip("/")
        if path == "/:memory:":
            return "sqlite:///:memory:"
        if not path.startswith(("/./", "/../")):
            return "sqlite://" + path  # already absolute
        path = path[1:]
    if not path:
        return url
    if path == ":memory:":
        return "sqlite:///:memory:"
    return "sqlite://" + os.path.abspath(os.path.expanduser(path))


def open_store(url: str) -> Any:
    """Opens the store at `url` and returns the `pushi._core.Store`.

    Close it with ``close()`` or use it in a ``with`` block. Raises
    ValueError for a malformed URL, RuntimeError when the store cannot be
    opened, StoreUnavailable when the extension is missing.
    """
    return _core().Store(normalize_url(url))


def list_apps(url: str) -> list[App]:
    """Every app in the store at `url`, oldest first."""
    with open_store(url) as store:
        return [App.from_dict(data) for data in store.list_apps()]


def save_app(url: str, app: App) -> None:
    """Inserts `app` into the store at `url`, or replaces the app with its id.

    Raises ValueError when the engine rejects the app (e.g. a key with
    characters other than letters, digits, ``-`` and ``_``) and RuntimeError
    when another app already has its key or the store fails.
    """
    with open_store(url) as store:
        store.put_app(app.to_dict())


def delete_app(url: str, app_id: str) -> bool:
    """Deletes the app with id `app_id` from the store at `url`.

    Returns True if it existed, False otherwise.
    """
    with open_store(url) as store:
        return bool(store.delete_app(str(app_id)))


def subscribe(url: str, app_id: str, user_id: str, event: str) -> bool:
    """Makes ``personal-<user_id>`` alias the channel `event` in app `app_id`.

    Returns True if the subscription was created, False if it existed.
    """
    with open_store(url) as store:
        return bool(store.put_subscription(str(app_id), str(user_id), str(event)))


def unsubscribe(url: str, app_id: str, user_id: str, event: str) -> bool:
    """Deletes the subscription; True if there was one."""
    with open_store(url) as store:
        return bool(store.delete_subscription(str(app_id), str(user_id), str(event)))


def list_subscriptions(url: str, app_id: str, user_id: str | None = None,
                       event: str | None = None) -> list[dict[str, Any]]:
    """The app's subscriptions, oldest first, optionally only one user's
    and/or one channel's."""
    with open_store(url) as store:
        return list(store.list_subscriptions(str(app_id), user_id, event))


def latest_events(url: str, app_id: str, channel: str, skip: int = 0,
                  count: int = 10) -> list[dict[str, Any]]:
    """The channel's stored events, newest first."""
    with open_store(url) as store:
        return list(store.latest_events(str(app_id), channel, skip, count))


def prune_events(url: str, app_id: str, channel: str | None = None,
                 keep_count: int | None = None, max_age: float | None = None) -> int:
    """Applies a retention limit (see `pushi._core.Store.prune_events`);
    returns how many events were deleted."""
    with open_store(url) as store:
        return int(store.prune_events(str(app_id), channel, keep_count, max_age))

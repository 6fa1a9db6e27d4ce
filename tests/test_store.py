"""Store conformance: one set of tests, run against every backend.

``memory:``, ``sqlite:///<tmp>`` and ``mongodb://`` against a real
MongoDB-wire server: FerretDB (SQLite handler) started on loopback by a
session fixture. When FerretDB is not installed the MongoDB cases FAIL (they
are never skipped: CI must run them) and say to run scripts/install-ferretdb.

The tests drive `pushi._core.Store` directly: apps, event history and
retention, subscriptions (personal channel aliases) and associations (the
offline inbox), argument checking, and, for MongoDB, the URL handling and an
outage (the server stopped mid-test, then hung) with recovery.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from ferretdb import INSTALL_HINT, FerretDB, find_binary
from pushi import _core

BACKENDS = ["memory", "sqlite", "mongodb"]
DURABLE = ["sqlite", "mongodb"]


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def ferretdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FerretDB | str]:
    """The session's FerretDB, or the reason there is none (a str), which
    the MongoDB cases turn into a failure."""
    binary = find_binary()
    if binary is None:
        yield INSTALL_HINT
        return
    server = FerretDB(binary, tmp_path_factory.mktemp("ferretdb"))
    try:
        server.start()
    except RuntimeError as error:
        yield f"FerretDB ({binary}) did not start: {error}"
        return
    yield server
    server.stop()


class Backend:
    """A backend under test: its kind and a URL that names a fresh, empty
    store (the same URL every time within one test)."""

    def __init__(self, kind: str, url: str | None, missing: str | None = None) -> None:
        self.kind = kind
        self._url = url
        self.missing = missing

    @property
    def url(self) -> str:
        if self.missing:
            pytest.fail(self.missing, pytrace=False)
        assert self._url is not None
        return self._url

    def open(self) -> Any:
        return _core.Store(self.url)


def make_backend(kind: str, tmp_path: Path, ferretdb: FerretDB | str) -> Backend:
    if kind == "memory":
        return Backend(kind, "memory:")
    if kind == "sqlite":
        return Backend(kind, f"sqlite://{tmp_path / 'store.db'}")
    if isinstance(ferretdb, str):
        return Backend(kind, None, ferretdb)
    return Backend(kind, ferretdb.url())


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path,
            ferretdb: FerretDB | str) -> Backend:
    return make_backend(request.param, tmp_path, ferretdb)


@pytest.fixture(params=DURABLE)
def durable(request: pytest.FixtureRequest, tmp_path: Path,
            ferretdb: FerretDB | str) -> Backend:
    return make_backend(request.param, tmp_path, ferretdb)


class LazyStore:
    """Opens the store on first use, inside the test body, so a missing
    FerretDB fails the test rather than erroring its setup."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._store: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._store is None:
            self._store = self._backend.open()
        return getattr(self._store, name)

    def _close(self) -> None:
        if self._store is not None:
            self._store.close()


@pytest.fixture
def store(backend: Backend) -> Iterator[Any]:
    s = LazyStore(backend)
    yield s
    s._close()


# ------------------------------------------------------------------ helpers


def event(channel: str = "news", app_id: str = "app1", **kw: Any) -> dict[str, Any]:
    ev = {
        "app_id": app_id,
        "channel": channel,
        "name": "message",
        "data": '{"n": 1}',
        "mid": str(uuid.uuid4()),
        "timestamp": time.time(),
    }
    ev.update(kw)
    return ev


def strip(ev: dict[str, Any]) -> dict[str, Any]:
    """An output event without its id, for comparison with the input."""
    return {k: v for k, v in ev.items() if k != "id"}


def expected(ev: dict[str, Any]) -> dict[str, Any]:
    """What the store returns for input ev (without "id")."""
    out = dict(ev)
    out.setdefault("owner_id", None)
    out["extra"] = out.get("extra") or {}
    return out


def mids(events: list[dict[str, Any]]) -> list[str]:
    return [e["mid"] for e in events]


def app(n: int, **kw: Any) -> dict[str, Any]:
    d = {"id": f"app{n}", "key": f"key{n}", "secret": f"secret{n}", "name": f"App {n}"}
    d.update(kw)
    return d


# --------------------------------------------------------------------- apps


def test_apps_put_list_replace_delete(store: Any) -> None:
    assert store.list_apps() == []
    store.put_app(app(1))
    store.put_app(app(2))
    store.put_app(app(1, name="renamed", enabled=False))  # replace keeps its place
    listed = store.list_apps()
    assert [a["id"] for a in listed] == ["app1", "app2"]
    assert listed[0]["name"] == "renamed" and listed[0]["enabled"] is False
    assert listed[0]["secret"] == "secret1"
    with pytest.raises(RuntimeError, match="already"):
        store.put_app(app(3, key="key1"))
    with pytest.raises(ValueError):
        store.put_app({"id": "x"})
    assert store.delete_app("app1") is True
    assert store.delete_app("app1") is False
    assert [a["id"] for a in store.list_apps()] == ["app2"]


# ------------------------------------------------------------------- events


def test_latest_events_newest_first_with_skip_and_count(store: Any) -> None:
    batch = [event(data=f"d{i}", timestamp=1000.0 + i) for i in range(12)]
    assert store.append_events(batch[:5]) == 5
    assert store.append_events(batch[5:]) == 7
    newest = list(reversed(mids(batch)))
    assert mids(store.latest_events("app1", "news")) == newest[:10]  # count defaults to 10
    assert mids(store.latest_events("app1", "news", 0, 3)) == newest[:3]
    assert mids(store.latest_events("app1", "news", skip=3, count=4)) == newest[3:7]
    assert mids(store.latest_events("app1", "news", 10, 10)) == newest[10:]
    assert store.latest_events("app1", "news", 12, 5) == []
    assert store.latest_events("app1", "news", 0, 0) == []
    assert store.latest_events("app1", "other") == []
    assert store.latest_events("app2", "news") == []
    ids = [e["id"] for e in store.latest_events("app1", "news", 0, 100)]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 12


def test_events_round_trip_every_field(store: Any) -> None:
    plain = event(data="plain")
    full = event(data='caf\u00e9 \u2603 \U0001F600 "quoted" \\ \x00 nul', owner_id="123.456",
                 timestamp=1719571234.123456,
                 extra={"persist": True, "apn": {"badge": 3, "list": [1, "two", None, 2.5]},
                        "subject": "hello"})
    store.append_events([plain, full])
    got = store.latest_events("app1", "news")
    assert [strip(e) for e in got] == [expected(full), expected(plain)]
    assert isinstance(got[0]["timestamp"], float)


def test_extra_drops_reserved_and_unstorable_members(store: Any) -> None:
    ev = event(extra={"channel": "x", "event": "y", "data": "z", "mid": "m", "timestamp": 1,
                      "$set": 1, "a.b": 2, "": 3, "keep": {"$in": 1, "x.y": 2, "ok": [{"$z": 1}]}})
    store.append_events([ev])
    [got] = store.latest_events("app1", "news")
    assert got["extra"] == {"keep": {"ok": [{}]}}
    assert (got["channel"], got["name"], got["data"], got["mid"]) == \
        (ev["channel"], ev["name"], ev["data"], ev["mid"])


def test_append_is_idempotent_by_mid(store: Any) -> None:
    a, b = event(), event()
    assert store.append_events([a, b]) == 2
    assert store.append_events([a, b]) == 0  # a retried batch
    c = event()
    assert store.append_events([b, c, c]) == 1  # duplicates inside a batch too
    assert mids(store.latest_events("app1", "news")) == [c["mid"], b["mid"], a["mid"]]
    # The same mid in another app is another event.
    assert store.append_events([dict(a, app_id="app2")]) == 1
    assert store.append_events([]) == 0


@pytest.mark.parametrize("bad, why", [
    ({"app_id": ""}, "app_id"),
    ({"channel": None}, "channel"),
    ({"name": 5}, "name"),
    ({"data": {"not": "a string"}}, "data"),
    ({"mid": ""}, "mid"),
    ({"timestamp": "now"}, "timestamp"),
    ({"owner_id": 7}, "owner_id"),
    ({"extra": [1]}, "extra"),
    ({"mid": "a\x00b"}, "mid"),
])
def test_invalid_event_rejects_the_whole_batch(store: Any, bad: dict[str, Any],
                                               why: str) -> None:
    good = event()
    with pytest.raises(ValueError, match=why):
        store.append_events([good, event(**bad)])
    assert store.latest_events("app1", "news") == []


def test_append_events_type_errors(store: Any) -> None:
    with pytest.raises(TypeError):
        store.append_events({"not": "a list"})
    with pytest.raises(ValueError, match="event 0"):
        store.append_events(["not an object"])
    with pytest.raises(ValueError):
        store.append_events([event(timestamp=float("nan"))])


def test_prune_by_count_per_channel(store: Any) -> None:
    for ch in ("a", "b"):
        store.append_events([event(channel=ch, data=str(i)) for i in range(5)])
    keep_a = mids(store.latest_events("app1", "a", 0, 2))
    assert store.prune_events("app1", "a", keep_count=2) == 3
    assert mids(store.latest_events("app1", "a")) == keep_a
    assert len(store.latest_events("app1", "b")) == 5
    # Every channel of the app at once; other apps untouched.
    store.append_events([event(app_id="app2", channel="a") for _ in range(3)])
    keep_b = mids(store.latest_events("app1", "b", 0, 1))
    assert store.prune_events("app1", keep_count=1) == 1 + 4
    assert len(store.latest_events("app1", "a")) == 1
    assert mids(store.latest_events("app1", "b")) == keep_b
    assert len(store.latest_events("app2", "a")) == 3
    assert store.prune_events("app1", keep_count=0) == 2
    assert store.latest_events("app1", "a") == [] and store.latest_events("app1", "b") == []


def test_prune_by_age(store: Any) -> None:
    now = 1_000_000.0
    old = [event(timestamp=now - 100 - i) for i in range(3)]
    new = [event(timestamp=now - 10 + i) for i in range(3)]
    other = [event(channel="other", timestamp=now - 500)]
    store.append_events(old + new + other)
    assert store.prune_events("app1", "news", max_age=50, now=now) == 3
    assert sorted(mids(store.latest_events("app1", "news"))) == sorted(mids(new))
    assert len(store.latest_events("app1", "other")) == 1
    # No limits: nothing goes.
    assert store.prune_events("app1") == 0
    assert store.prune_events("app1", max_age=50, now=now) == 1
    assert store.latest_events("app1", "other") == []


def test_prune_by_age_and_count_together(store: Any) -> None:
    now = 5000.0
    evs = [event(timestamp=now - 100 + i) for i in range(10)]  # ages 100 .. 91
    store.append_events(evs)
    # Age removes the 5 oldest (older than 95 s), count keeps 3 of the rest.
    assert store.prune_events("app1", "news", keep_count=3, max_age=95.5, now=now) == 7
    assert mids(store.latest_events("app1", "news")) == list(reversed(mids(evs)))[:3]


def test_prune_arguments(store: Any) -> None:
    with pytest.raises(ValueError):
        store.prune_events("app1", max_age=-1)
    with pytest.raises(ValueError):
        store.prune_events("app1", keep_count=-1)
    with pytest.raises(ValueError):
        store.prune_events("", keep_count=1)
    assert store.prune_events("app1", keep_count=10**30) == 0


# ------------------------------------------------------------ subscriptions


def test_subscriptions(store: Any) -> None:
    assert store.put_subscription("app1", "u1", "news") is True
    assert store.put_subscription("app1", "u1", "news") is False  # idempotent
    assert store.put_subscription("app1", "u1", "sport") is True
    assert store.put_subscription("app1", "u2", "news") is True
    assert store.put_subscription("app2", "u1", "news") is True
    subs = store.list_subscriptions("app1")
    assert [(s["user_id"], s["event"]) for s in subs] == \
        [("u1", "news"), ("u1", "sport"), ("u2", "news")]
    assert all(s["app_id"] == "app1" and isinstance(s["id"], int) for s in subs)
    assert [s["id"] for s in subs] == sorted(s["id"] for s in subs)
    assert [s["event"] for s in store.list_subscriptions("app1", user_id="u1")] == \
        ["news", "sport"]
    assert [s["user_id"] for s in store.list_subscriptions("app1", event="news")] == \
        ["u1", "u2"]
    assert len(store.list_subscriptions("app1", "u2", "news")) == 1
    assert store.list_subscriptions("app1", "u2", "sport") == []
    assert store.list_subscriptions("app3") == []
    assert store.delete_subscription("app1", "u1", "news") is True
    assert store.delete_subscription("app1", "u1", "news") is False
    assert [(s["user_id"], s["event"]) for s in store.list_subscriptions("app1")] == \
        [("u1", "sport"), ("u2", "news")]
    assert len(store.list_subscriptions("app2")) == 1
    # Re-subscribing after a delete works and sorts last.
    assert store.put_subscription("app1", "u1", "news") is True
    assert store.list_subscriptions("app1")[-1]["event"] == "news"


def test_subscription_arguments(store: Any) -> None:
    with pytest.raises(ValueError):
        store.put_subscription("app1", "", "news")
    with pytest.raises(ValueError):
        store.delete_subscription("app1", "u1", "")
    with pytest.raises(ValueError):
        store.list_subscriptions("", None, None)
    with pytest.raises(ValueError):
        store.put_subscription("app1", "u\x001", "news")
    with pytest.raises(TypeError):
        store.put_subscription("app1", 5, "news")


# ------------------------------------------------------------- associations


def test_inbox_newest_first_with_skip_and_count(store: Any) -> None:
    evs = [event(channel=f"c{i % 3}", data=str(i)) for i in range(8)]
    store.append_events(evs)
    for e in evs:
        assert store.add_associations("app1", e["mid"], ["u1", "u2"]) == 2
    newest = list(reversed(mids(evs)))
    got = store.user_events("app1", "u1")
    assert mids(got) == newest
    assert [strip(e) for e in got] == [expected(e) for e in reversed(evs)]
    assert mids(store.user_events("app1", "u1", 0, 3)) == newest[:3]
    assert mids(store.user_events("app1", "u1", skip=2, count=2)) == newest[2:4]
    assert store.user_events("app1", "u1", 8, 5) == []
    assert store.user_events("app1", "u1", 0, 0) == []
    assert store.user_events("app1", "nobody") == []
    assert store.user_events("app2", "u1") == []


def test_associations_are_idempotent(store: Any) -> None:
    e = event()
    store.append_events([e])
    assert store.add_associations("app1", e["mid"], ["u1", "u1", "u2"]) == 2
    assert store.add_associations("app1", e["mid"], ["u2", "u3"]) == 1
    assert store.add_associations("app1", e["mid"], []) == 0
    assert store.add_associations("app1", e["mid"], ("u%d" % i for i in range(1, 3))) == 0
    for user in ("u1", "u2", "u3"):
        assert mids(store.user_events("app1", user)) == [e["mid"]]


def test_inbox_skips_links_to_events_not_stored(store: Any) -> None:
    stored, later = event(), event()
    store.append_events([stored])
    store.add_associations("app1", stored["mid"], ["u1"])
    store.add_associations("app1", later["mid"], ["u1"])  # linked before it is stored
    store.add_associations("app1", "no-such-mid", ["u1"])
    assert mids(store.user_events("app1", "u1")) == [stored["mid"]]
    store.append_events([later])
    assert mids(store.user_events("app1", "u1")) == [later["mid"], stored["mid"]]
    assert mids(store.user_events("app1", "u1", 1, 1)) == [stored["mid"]]
    # An event of another app with the same mid is not this app's.
    store.add_associations("app2", stored["mid"], ["u1"])
    assert store.user_events("app2", "u1") == []


def test_inbox_reads_past_many_dangling_links(store: Any) -> None:
    real = [event(data=str(i)) for i in range(3)]
    store.append_events(real)
    for e in real:
        store.add_associations("app1", e["mid"], ["u1"])
    for i in range(40):  # newer links whose events were never stored
        store.add_associations("app1", f"ghost-{i}", ["u1"])
    assert mids(store.user_events("app1", "u1", 0, 10)) == list(reversed(mids(real)))
    assert mids(store.user_events("app1", "u1", 1, 10)) == list(reversed(mids(real)))[1:]


def test_pruned_events_leave_the_inbox(store: Any) -> None:
    evs = [event(data=str(i)) for i in range(4)]
    store.append_events(evs)
    for e in evs:
        store.add_associations("app1", e["mid"], ["u1"])
    assert store.prune_events("app1", "news", keep_count=1) == 3
    assert mids(store.user_events("app1", "u1")) == [evs[-1]["mid"]]
    # Their links are gone too: storing the same mids again does not bring
    # the old links back.
    store.append_events(evs[:3])
    assert mids(store.user_events("app1", "u1")) == [evs[-1]["mid"]]


def test_association_arguments(store: Any) -> None:
    with pytest.raises(ValueError):
        store.add_associations("app1", "", ["u1"])
    with pytest.raises(ValueError):
        store.add_associations("app1", "m", ["u1", ""])
    with pytest.raises(TypeError):
        store.add_associations("app1", "m", "u1")  # a str is not a list of users
    with pytest.raises(TypeError):
        store.add_associations("app1", "m", [1])
    with pytest.raises(ValueError):
        store.user_events("app1", "u1", -1, 10)
    with pytest.raises(ValueError):
        store.latest_events("app1", "news", 0, -1)
    assert store.user_events("app1", "u1") == []


# ------------------------------------------------------------ the Store object


def test_closed_store_refuses_calls(backend: Backend) -> None:
    s = backend.open()
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(ValueError, match="closed"):
        s.latest_events("app1", "news")
    with pytest.raises(ValueError, match="closed"):
        s.append_events([event()])


def test_threads_share_a_store(store: Any) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(10):
                e = event(channel=f"t{n}")
                store.append_events([e])
                store.add_associations("app1", e["mid"], [f"user{n}"])
                store.put_subscription("app1", f"user{n}", f"t{n}")
                store.latest_events("app1", f"t{n}", 0, 5)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    store.list_apps()  # open it here: the threads share this one Store
    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for n in range(4):
        assert len(store.latest_events("app1", f"t{n}", 0, 100)) == 10
        assert len(store.user_events("app1", f"user{n}", 0, 100)) == 10
        assert len(store.list_subscriptions("app1", f"user{n}")) == 1


def test_data_survives_reopening(durable: Backend) -> None:
    e = event(extra={"k": [1, 2]}, owner_id="9.9")
    with durable.open() as s:
        s.put_app(app(1))
        s.append_events([e])
        s.put_subscription("app1", "u1", "news")
        s.add_associations("app1", e["mid"], ["u1"])
        ids = [x["id"] for x in s.latest_events("app1", "news")]
    with durable.open() as s:
        assert [a["id"] for a in s.list_apps()] == ["app1"]
        assert [strip(x) for x in s.latest_events("app1", "news")] == [expected(e)]
        assert [x["id"] for x in s.latest_events("app1", "news")] == ids
        assert [x["event"] for x in s.list_subscriptions("app1", "u1")] == ["news"]
        assert mids(s.user_events("app1", "u1")) == [e["mid"]]
        # Ids keep growing across opens.
        later = event()
        s.append_events([later])
        assert s.latest_events("app1", "news")[0]["id"] > ids[0]


def test_concurrent_writers_on_one_database(durable: Backend) -> None:
    """Several Store objects (as the server and the CLI would be) writing at
    once, from the very first write: ids stay unique, nothing is lost."""
    stores = [durable.open() for _ in range(4)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def work(n: int) -> None:
        try:
            barrier.wait()
            for i in range(5):
                e = event(channel=f"w{n}")
                stores[n].append_events([e])
                stores[n].add_associations("app1", e["mid"], ["shared"])
                stores[n].put_subscription("app1", "shared", f"w{i}")
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        s = stores[0]
        ids = [e["id"] for n in range(4) for e in s.latest_events("app1", f"w{n}", 0, 100)]
        assert len(ids) == 20
        if durable.kind == "sqlite":
            # MongoDB makes the counters' findAndModify atomic, so ids are
            # unique there too, but FerretDB 1.x does not: concurrent
            # clients can draw the same id from it. (The engine has one
            # persistence writer per process, so that does not arise.)
            assert len(set(ids)) == 20
        assert len(s.user_events("app1", "shared", 0, 100)) == 20
        assert [x["event"] for x in s.list_subscriptions("app1", "shared")] == \
            [f"w{i}" for i in range(5)]
    finally:
        for st in stores:
            st.close()


def test_two_stores_on_one_database_see_each_other(durable: Backend) -> None:
    with durable.open() as a, durable.open() as b:
        e = event()
        a.append_events([e])
        assert mids(b.latest_events("app1", "news")) == [e["mid"]]
        assert b.append_events([e]) == 0
        b.put_subscription("app1", "u1", "news")
        assert a.put_subscription("app1", "u1", "news") is False


def test_sqlite_upgrades_a_version_1_database(tmp_path: Path) -> None:
    """A file made by the apps-only store (schema version 1) gains the
    history, subscription and inbox tables when opened; its apps stay."""
    import json
    import sqlite3

    path = tmp_path / "v1.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE app(id TEXT PRIMARY KEY, key TEXT UNIQUE NOT NULL, "
                "doc TEXT NOT NULL, created INTEGER)")
    con.execute("INSERT INTO app VALUES('app1', 'key1', ?, 1)",
                (json.dumps(app(1)),))
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    with _core.Store(f"sqlite://{path}") as s:
        assert [a["id"] for a in s.list_apps()] == ["app1"]
        e = event()
        assert s.append_events([e]) == 1
        assert s.put_subscription("app1", "u1", "news") is True
        assert s.add_associations("app1", e["mid"], ["u1"]) == 1
        assert mids(s.user_events("app1", "u1")) == [e["mid"]]
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2
    con.close()


# ------------------------------------------------------------------ MongoDB


def need_ferretdb(ferretdb: FerretDB | str) -> FerretDB:
    if isinstance(ferretdb, str):
        pytest.fail(ferretdb, pytrace=False)
    return ferretdb


def test_mongo_database_from_url_path(ferretdb: FerretDB | str) -> None:
    server = need_ferretdb(ferretdb)
    db = "t" + uuid.uuid4().hex[:12]
    with _core.Store(server.url(db)) as a:
        a.put_subscription("app1", "u1", "news")
    base = f"mongodb://127.0.0.1:{server.port}"
    with _core.Store(f"{base}/{db}?serverSelectionTimeoutMS=2000") as b:
        assert len(b.list_subscriptions("app1")) == 1
    with _core.Store(f"{base}/other{db}") as c:
        assert c.list_subscriptions("app1") == []
    # No path: the database is "pushi", as in the original.
    with _core.Store(f"{base}/") as d, _core.Store(f"{base}/pushi") as e:
        sub = "u" + uuid.uuid4().hex
        assert d.put_subscription("app1", sub, "news") is True
        assert e.put_subscription("app1", sub, "news") is False
        assert e.delete_subscription("app1", sub, "news") is True


def test_mongo_bad_urls() -> None:
    with pytest.raises(ValueError, match="mongodb"):
        _core.Store("mongodb://")
    with pytest.raises(ValueError):
        _core.Store("mongodbx://127.0.0.1/db")
    with pytest.raises(ValueError):
        _core.Store("mongodb://127.0.0.1:99999999/db")


def test_mongo_unreachable_at_open_fails_fast() -> None:
    import socket
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="store error"):
        _core.Store(f"mongodb://127.0.0.1:{port}/db?serverSelectionTimeoutMS=500"
                    "&connectTimeoutMS=500")
    assert time.monotonic() - started < 10


def every_call(s: Any, e: dict[str, Any]) -> list[Any]:
    """One call of each kind, as zero-argument functions."""
    return [
        lambda: s.append_events([e]),
        lambda: s.latest_events("app1", "news"),
        lambda: s.prune_events("app1", keep_count=100),
        lambda: s.put_subscription("app1", "u9", "news"),
        lambda: s.delete_subscription("app1", "u9", "news"),
        lambda: s.list_subscriptions("app1"),
        lambda: s.add_associations("app1", e["mid"], ["u9"]),
        lambda: s.user_events("app1", "u1"),
        lambda: s.list_apps(),
        lambda: s.put_app(app(7)),
        lambda: s.delete_app("app7"),
    ]


def wait_until_works(call: Any, timeout: float = 20.0) -> Any:
    """Retries call until it succeeds: after an outage the driver waits a
    few seconds before it tries the server again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_mongo_outage_and_recovery(ferretdb: FerretDB | str, tmp_path: Path) -> None:
    """FerretDB stops mid-test: every call fails with RuntimeError within
    seconds (no hang); after it restarts on the same port and data
    directory, the same Store works again and nothing stored is lost."""
    binary = need_ferretdb(ferretdb).binary
    server = FerretDB(binary, tmp_path / "outage")
    server.start()
    try:
        s = _core.Store(server.url("outage"))
        before = [event(data=str(i)) for i in range(3)]
        s.append_events(before)
        s.put_subscription("app1", "u1", "news")
        s.add_associations("app1", before[0]["mid"], ["u1"])

        server.stop()
        during = event(data="during")
        for call in every_call(s, during):
            started = time.monotonic()
            with pytest.raises(RuntimeError, match="store error"):
                call()
            assert time.monotonic() - started < 8, "a store call hung during the outage"

        server.start()  # same port, same data directory
        # A batch that failed during the outage is simply appended again.
        assert wait_until_works(lambda: s.append_events([during])) == 1
        assert mids(s.latest_events("app1", "news")) == \
            [during["mid"]] + list(reversed(mids(before)))
        assert [x["event"] for x in s.list_subscriptions("app1", "u1")] == ["news"]
        assert mids(s.user_events("app1", "u1")) == [before[0]["mid"]]
        assert s.append_events(before) == 0  # ids and uniqueness survived
        s.close()
    finally:
        server.stop()


def test_mongo_hung_server_times_out(ferretdb: FerretDB | str, tmp_path: Path) -> None:
    """A server that stops answering (SIGSTOP) makes calls fail after
    socketTimeoutMS instead of blocking; they work again once it resumes."""
    binary = need_ferretdb(ferretdb).binary
    server = FerretDB(binary, tmp_path / "hung")
    server.start()
    try:
        s = _core.Store(server.url("hung"))
        s.append_events([event()])
        server.pause()
        try:
            started = time.monotonic()
            with pytest.raises(RuntimeError, match="store error"):
                s.latest_events("app1", "news")
            # socketTimeoutMS, then one retried read's server selection.
            assert time.monotonic() - started < 15
        finally:
            server.resume()
        assert len(wait_until_works(lambda: s.latest_events("app1", "news"))) == 1
        s.close()
    finally:
        server.stop()

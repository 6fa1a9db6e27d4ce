/* px_store_sqlite.c - the SQLite store ("sqlite:///path").
 *
 * Schema (PRAGMA user_version = 2; version 1 had only app, and opening it
 * adds the rest):
 *
 *   app(id TEXT PRIMARY KEY, key TEXT UNIQUE NOT NULL, doc TEXT NOT NULL,
 *       created INTEGER)
 *   event(id INTEGER PRIMARY KEY AUTOINCREMENT, app_id, channel, name,
 *         data, mid, timestamp REAL, owner_id NULL, extra NULL,
 *         UNIQUE(app_id, mid))
 *       index (app_id, channel, id) for history, (app_id, timestamp) for
 *       retention by age
 *   subscription(id INTEGER PRIMARY KEY AUTOINCREMENT, app_id, user_id,
 *                event, created, UNIQUE(app_id, user_id, event))
 *       index (app_id, event) for "who aliases this channel"
 *   association(id INTEGER PRIMARY KEY AUTOINCREMENT, app_id, user_id, mid,
 *               UNIQUE(app_id, user_id, mid))
 *       index (app_id, user_id, id) for the inbox, (app_id, mid) for the
 *       trigger below
 *   trigger event_deleted: deleting an event deletes its associations
 *
 * doc holds the app's normalised JSON object; id and key are copies of its
 * members so SQLite enforces their uniqueness. created is a Unix time in
 * milliseconds, bumped when needed so that it strictly increases: listing
 * orders by it, and replacing an app (an upsert) keeps it. AUTOINCREMENT
 * keeps ids growing after deletions, so "newest first" is "highest id
 * first". An event's extra is its "extra" object as JSON text, NULL when
 * empty. Uniqueness makes appending events and adding associations
 * idempotent (INSERT ... ON CONFLICT DO NOTHING).
 *
 * The connection is opened with SQLITE_OPEN_NOMUTEX (a store is used by one
 * thread at a time), in WAL mode with a 5000 ms busy timeout, so readers
 * never wait and writers from other processes wait for each other. Every
 * statement with data in it is prepared once and bound. */
#include <math.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "px_err.h"
#include "px_store.h"

#define SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 5000

typedef struct {
    px_store_t base;
    sqlite3 *db;
    sqlite3_stmt *list;  /* -> id, doc of every app, oldest first */
    sqlite3_stmt *by_key; /* ?1 key -> id */
    sqlite3_stmt *put;   /* ?1 id, ?2 key, ?3 doc, ?4 now (ms) */
    sqlite3_stmt *del;   /* ?1 id */
    sqlite3_stmt *ins_event; /* ?1..?8 app_id, channel, name, data, mid, timestamp,
                              * owner_id, extra */
    sqlite3_stmt *latest;    /* ?1 app_id, ?2 channel, ?3 skip, ?4 count -> EVENT_COLS */
    sqlite3_stmt *latest_all; /* the same over every channel (?2 unused) */
    sqlite3_stmt *prune_age; /* ?1 app_id, ?2 channel or NULL, ?3 cutoff */
    sqlite3_stmt *prune_count; /* ?1 app_id, ?2 channel or NULL, ?3 keep */
    sqlite3_stmt *put_sub;   /* ?1 app_id, ?2 user_id, ?3 event, ?4 now (s) */
    sqlite3_stmt *del_sub;   /* ?1 app_id, ?2 user_id, ?3 event */
    sqlite3_stmt *list_sub[4]; /* [(user_id given) | (event given) << 1]:
                                * ?1 app_id, ?2 user_id, ?3 event (those
                                * given) -> id, app_id, user_id, event */
    sqlite3_stmt *ins_assoc; /* ?1 app_id, ?2 user_id, ?3 mid */
    sqlite3_stmt *inbox;     /* ?1 app_id, ?2 user_id, ?3 skip, ?4 count -> EVENT_COLS */
} sql_store_t;

static const char SQL_LIST[] = "SELECT id, doc FROM app ORDER BY created, rowid";
static const char SQL_BY_KEY[] = "SELECT id FROM app WHERE key = ?1";
static const char SQL_PUT[] =
    "INSERT INTO app(id, key, doc, created) "
    "VALUES(?1, ?2, ?3, max(?4, coalesce((SELECT max(created) FROM app), 0) + 1)) "
    "ON CONFLICT(id) DO UPDATE SET key = excluded.key, doc = excluded.doc";
static const char SQL_DEL[] = "DELETE FROM app WHERE id = ?1";
static const char SQL_CREATE[] =
    "CREATE TABLE IF NOT EXISTS app("
    "id TEXT PRIMARY KEY, "
    "key TEXT UNIQUE NOT NULL, "
    "doc TEXT NOT NULL, "
    "created INTEGER);"
    "CREATE TABLE IF NOT EXISTS event("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "app_id TEXT NOT NULL, "
    "channel TEXT NOT NULL, "
    "name TEXT NOT NULL, "
    "data TEXT NOT NULL, "
    "mid TEXT NOT NULL, "
    "timestamp REAL NOT NULL, "
    "owner_id TEXT, "
    "extra TEXT, "
    "UNIQUE(app_id, mid));"
    "CREATE INDEX IF NOT EXISTS event_channel ON event(app_id, channel, id);"
    "CREATE INDEX IF NOT EXISTS event_time ON event(app_id, timestamp);"
    "CREATE TABLE IF NOT EXISTS subscription("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "app_id TEXT NOT NULL, "
    "user_id TEXT NOT NULL, "
    "event TEXT NOT NULL, "
    "created INTEGER NOT NULL, "
    "UNIQUE(app_id, user_id, event));"
    "CREATE INDEX IF NOT EXISTS subscription_event ON subscription(app_id, event);"
    "CREATE TABLE IF NOT EXISTS association("
    "id INTEGER PRIMARY KEY AUTOINCREMENT, "
    "app_id TEXT NOT NULL, "
    "user_id TEXT NOT NULL, "
    "mid TEXT NOT NULL, "
    "UNIQUE(app_id, user_id, mid));"
    "CREATE INDEX IF NOT EXISTS association_user ON association(app_id, user_id, id);"
    "CREATE INDEX IF NOT EXISTS association_mid ON association(app_id, mid);"
    "CREATE TRIGGER IF NOT EXISTS event_deleted AFTER DELETE ON event BEGIN "
    "DELETE FROM association WHERE app_id = old.app_id AND mid = old.mid; "
    "END;";

/* The columns read_event() expects, in order. */
#define EVENT_COLS "id, app_id, channel, name, data, mid, timestamp, owner_id, extra"

static const char SQL_INS_EVENT[] =
    "INSERT INTO event(app_id, channel, name, data, mid, timestamp, owner_id, extra) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(app_id, mid) DO NOTHING";
static const char SQL_LATEST[] =
    "SELECT " EVENT_COLS " FROM event WHERE app_id = ?1 AND channel = ?2 "
    "ORDER BY id DESC LIMIT ?4 OFFSET ?3";
static const char SQL_LATEST_ALL[] =
    "SELECT " EVENT_COLS " FROM event WHERE app_id = ?1 "
    "ORDER BY id DESC LIMIT ?4 OFFSET ?3";
static const char SQL_PRUNE_AGE[] =
    "DELETE FROM event WHERE app_id = ?1 AND (?2 IS NULL OR channel = ?2) "
    "AND timestamp < ?3";
static const char SQL_PRUNE_COUNT[] =
    "DELETE FROM event WHERE id IN (SELECT id FROM ("
    "SELECT id, row_number() OVER (PARTITION BY channel ORDER BY id DESC) AS n "
    "FROM event WHERE app_id = ?1 AND (?2 IS NULL OR channel = ?2)) WHERE n > ?3)";
static const char SQL_PUT_SUB[] =
    "INSERT INTO subscription(app_id, user_id, event, created) VALUES(?1, ?2, ?3, ?4) "
    "ON CONFLICT(app_id, user_id, event) DO NOTHING";
static const char SQL_DEL_SUB[] =
    "DELETE FROM subscription WHERE app_id = ?1 AND user_id = ?2 AND event = ?3";
/* One statement per filter, so each uses its index. */
static const char *const SQL_LIST_SUB[4] = {
    "SELECT id, app_id, user_id, event FROM subscription WHERE app_id = ?1 ORDER BY id",
    "SELECT id, app_id, user_id, event FROM subscription WHERE app_id = ?1 "
    "AND user_id = ?2 ORDER BY id",
    "SELECT id, app_id, user_id, event FROM subscription WHERE app_id = ?1 "
    "AND event = ?3 ORDER BY id",
    "SELECT id, app_id, user_id, event FROM subscription WHERE app_id = ?1 "
    "AND user_id = ?2 AND event = ?3 ORDER BY id",
};
static const char SQL_INS_ASSOC[] =
    "INSERT INTO association(app_id, user_id, mid) VALUES(?1, ?2, ?3) "
    "ON CONFLICT(app_id, user_id, mid) DO NOTHING";
static const char SQL_INBOX[] =
    "SELECT e.id, e.app_id, e.channel, e.name, e.data, e.mid, e.timestamp, e.owner_id, "
    "e.extra FROM association AS a JOIN event AS e ON e.app_id = a.app_id AND e.mid = a.mid "
    "WHERE a.app_id = ?1 AND a.user_id = ?2 ORDER BY a.id DESC LIMIT ?4 OFFSET ?3";

static sql_store_t *sql(px_store_t *s)
{
    return px_container_of(s, sql_store_t, base);
}

static int code_of(int sqlite_rc)
{
    return (sqlite_rc & 0xff) == SQLITE_NOMEM ? PX_ENOMEM : PX_ESTORE;
}

/* Records what failed (with SQLite's message) and returns the PX_E* code.
 * Call before anything else touches the connection (e.g. a ROLLBACK). */
static int fail(sql_store_t *q, int sqlite_rc, const char *what)
{
    px__store_set_error(&q->base, "%s: %s", what, sqlite3_errmsg(q->db));
    return code_of(sqlite_rc);
}

/* Resets a statement after use so it holds no locks and no pointers to the
 * caller's strings. */
static void done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void rollback(sql_store_t *q)
{
    sqlite3_exec(q->db, "ROLLBACK", NULL, NULL, NULL);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    if (timespec_get(&ts, TIME_UTC) == 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits the part of the URL after "sqlite:" into a file name for
 * sqlite3_open_v2. Returns a pointer into rest, or NULL when malformed. */
static const char *url_path(const char *rest)
{
    if (strncmp(rest, "//", 2) != 0)
        return NULL;
    const char *p = rest + 2;
    if (*p != '/')
        return *p ? p : NULL;              /* sqlite://relative/path */
    while (p[0] == '/' && p[1] == '/')     /* sqlite:////abs == sqlite:///abs */
        p++;
    if (strcmp(p, "/:memory:") == 0)
        return p + 1;
    if (strncmp(p, "/./", 3) == 0 || strncmp(p, "/../", 4) == 0)
        return p + 1;                      /* sqlite:///./rel.db is relative */
    return p[1] ? p : NULL;                /* "/" alone names no file */
}

/* Creates the schema in a new database, or checks an existing one's
 * version. Inside BEGIN IMMEDIATE so two processes creating the same file at
 * once do not race. Returns 0 or a PX_E* code with *why set. */
static int init_schema(sqlite3 *db, const char **why)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    if ((rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL)) != SQLITE_OK)
        goto fail_txn;
    if ((rc = sqlite3_step(st)) != SQLITE_ROW)
        goto fail_txn;
    version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    if (version > SCHEMA_VERSION) {
        *why = px__store_open_error(
            "the database has schema version %d; this pushi understands up to %d", version,
            SCHEMA_VERSION);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return PX_ESTORE;
    }
    if (version < SCHEMA_VERSION) {
        /* PRAGMA takes no bound parameters; the value is a constant. */
        if ((rc = sqlite3_exec(db, SQL_CREATE, NULL, NULL, NULL)) != SQLITE_OK ||
            (rc = sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL)) != SQLITE_OK)
            goto fail_txn;
    }
    if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        goto fail_txn;
    return 0;
fail_txn:
    *why = px__store_open_error("cannot set up the SQLite schema: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return code_of(rc);
fail:
    *why = px__store_open_error("cannot set up the SQLite schema: %s", sqlite3_errmsg(db));
    return code_of(rc);
}

static void sql_close(px_store_t *s);

static int sql_open(const char *rest, px_store_t **out, const char **why)
{
    const char *path = url_path(rest);
    if (path == NULL) {
        *why = "malformed sqlite store URL (expected sqlite:///absolute/path, "
               "sqlite://relative/path or sqlite:///:memory:)";
        return PX_EINVAL;
    }
    if (!sqlite3_threadsafe()) {
        *why = "this SQLite library was built without thread support";
        return PX_ESTORE;
    }
    sql_store_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        *why = px_strerror(PX_ENOMEM);
        return PX_ENOMEM;
    }
    q->base.vt = &px__store_sqlite_vtable;
    int rc = sqlite3_open_v2(path, &q->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        *why = px__store_open_error("cannot open SQLite database %s: %s", path,
                                    q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(q->db, BUSY_TIMEOUT_MS);
    /* WAL: the server keeps reading while `pushi app create` writes. An
     * in-memory database answers "memory" and stays as it is. */
    if ((rc = sqlite3_exec(q->db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL)) != SQLITE_OK ||
        (rc = sqlite3_exec(q->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL)) !=
            SQLITE_OK) {
        *why = px__store_open_error("cannot use SQLite database %s: %s", path,
                                    sqlite3_errmsg(q->db));
        goto fail;
    }
    int err = init_schema(q->db, why);
    if (err < 0) {
        sql_close(&q->base);
        return err;
    }
    struct {
        const char *sql;
        sqlite3_stmt **st;
    } stmts[] = {
        {SQL_LIST, &q->list},
        {SQL_BY_KEY, &q->by_key},
        {SQL_PUT, &q->put},
        {SQL_DEL, &q->del},
        {SQL_INS_EVENT, &q->ins_event},
        {SQL_LATEST, &q->latest},
        {SQL_LATEST_ALL, &q->latest_all},
        {SQL_PRUNE_AGE, &q->prune_age},
        {SQL_PRUNE_COUNT, &q->prune_count},
        {SQL_PUT_SUB, &q->put_sub},
        {SQL_DEL_SUB, &q->del_sub},
        {SQL_LIST_SUB[0], &q->list_sub[0]},
        {SQL_LIST_SUB[1], &q->list_sub[1]},
        {SQL_LIST_SUB[2], &q->list_sub[2]},
        {SQL_LIST_SUB[3], &q->list_sub[3]},
        {SQL_INS_ASSOC, &q->ins_assoc},
        {SQL_INBOX, &q->inbox},
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(stmts); i++) {
        if ((rc = sqlite3_prepare_v2(q->db, stmts[i].sql, -1, stmts[i].st, NULL)) != SQLITE_OK) {
            *why = px__store_open_error("cannot prepare SQLite statement: %s",
                                        sqlite3_errmsg(q->db));
            goto fail;
        }
    }
    *out = &q->base;
    return 0;
fail:
    sql_close(&q->base);
    return code_of(rc);
}

static int sql_list_apps(px_store_t *s, json_t **out_array)
{
    sql_store_t *q = sql(s);
    json_t *arr = json_array();
    int rc, err;
    if (arr == NULL) {
        px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
        return PX_ENOMEM;
    }
    while ((rc = sqlite3_step(q->list)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(q->list, 0);
        const void *doc = sqlite3_column_blob(q->list, 1);
        int n = sqlite3_column_bytes(q->list, 1);
        json_error_t jerr;
        json_t *app = json_loadb(doc ? doc : "", (size_t)n, 0, &jerr);
        if (!json_is_object(app)) {
            px__store_set_error(s, "stored app %s is not a JSON object: %s", id ? id : "?",
                                app ? "wrong type" : jerr.text);
            json_decref(app);
            err = PX_ESTORE;
            goto fail;
        }
        if (json_array_append_new(arr, app) < 0) {
            px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
            err = PX_ENOMEM;
            goto fail;
        }
    }
    if (rc != SQLITE_DONE) {
        err = fail(q, rc, "cannot list apps");
        goto fail;
    }
    done(q->list);
    *out_array = arr;
    return 0;
fail:
    done(q->list);
    json_decref(arr);
    return err;
}

static int sql_put_app(px_store_t *s, const json_t *app)
{
    sql_store_t *q = sql(s);
    json_t *doc = NULL;
    char *text = NULL;
    int err = px__store_normalise_app(s, app, &doc);
    if (err < 0)
        return err;
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *key = json_string_value(json_object_get(doc, "key"));
    if ((text = json_dumps(doc, JSON_COMPACT)) == NULL) {
        px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
        err = PX_ENOMEM;
        goto out;
    }
    /* IMMEDIATE takes the write lock now, so the key check and the write
     * see the same data even with other processes writing. */
    int rc = sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        err = fail(q, rc, "cannot save app");
        goto out;
    }
    sqlite3_bind_text(q->by_key, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(q->by_key);
    if (rc == SQLITE_ROW) {
        const char *other = (const char *)sqlite3_column_text(q->by_key, 0);
        if (other == NULL || strcmp(other, id) != 0) {
            px__store_set_error(s, "another app (id %s) already has this key",
                                other ? other : "?");
            err = PX_EEXIST;
            done(q->by_key);
            goto fail_txn;
        }
    } else if (rc != SQLITE_DONE) {
        err = fail(q, rc, "cannot save app");
        done(q->by_key);
        goto fail_txn;
    }
    done(q->by_key);
    sqlite3_bind_text(q->put, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q->put, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(q->put, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->put, 4, now_ms());
    rc = sqlite3_step(q->put);
    if (rc != SQLITE_DONE) {
        err = fail(q, rc, "cannot save app");
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
            err = PX_EEXIST;
        done(q->put);
        goto fail_txn;
    }
    done(q->put);
    if ((rc = sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        err = fail(q, rc, "cannot save app");
        goto fail_txn;
    }
    err = 0;
    goto out;
fail_txn:
    rollback(q);
out:
    free(text);
    json_decref(doc);
    return err;
}

static int sql_delete_app(px_store_t *s, const char *id)
{
    sql_store_t *q = sql(s);
    sqlite3_bind_text(q->del, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q->del);
    int ret = rc == SQLITE_DONE ? sqlite3_changes(q->db) > 0 : fail(q, rc, "cannot delete app");
    done(q->del);
    return ret;
}

static int nomem(sql_store_t *q)
{
    px__store_set_error(&q->base, "%s", px_strerror(PX_ENOMEM));
    return PX_ENOMEM;
}

/* SQLite's LIMIT and OFFSET are signed 64-bit. */
static sqlite3_int64 clamp64(size_t n)
{
    return n > (size_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)n;
}

static int sql_append_events(px_store_t *s, const px__store_event_t *ev, size_t n)
{
    sql_store_t *q = sql(s);
    char **extras = calloc(n, sizeof(*extras));
    int added = 0, err, rc;
    if (extras == NULL)
        return nomem(q);
    for (size_t i = 0; i < n; i++) {
        if (ev[i].extra != NULL && (extras[i] = json_dumps(ev[i].extra, JSON_COMPACT)) == NULL)
            goto nomem;
    }
    if ((rc = sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK) {
        err = fail(q, rc, "cannot append events");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        sqlite3_stmt *st = q->ins_event;
        sqlite3_bind_text(st, 1, ev[i].app_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ev[i].channel, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, ev[i].name, -1, SQLITE_STATIC);
        sqlite3_bind_text64(st, 4, ev[i].data, ev[i].data_len, SQLITE_STATIC, SQLITE_UTF8);
        sqlite3_bind_text(st, 5, ev[i].mid, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 6, ev[i].timestamp);
        if (ev[i].owner_id)
            sqlite3_bind_text(st, 7, ev[i].owner_id, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 7);
        if (extras[i])
            sqlite3_bind_text(st, 8, extras[i], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 8);
        rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            err = fail(q, rc, "cannot append events");
            done(st);
            rollback(q);
            goto out;
        }
        added += sqlite3_changes(q->db);
        done(st);
    }
    if ((rc = sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        err = fail(q, rc, "cannot append events");
        rollback(q);
        goto out;
    }
    err = added;
    goto out;
nomem:
    err = nomem(q);
out:
    for (size_t i = 0; i < n; i++)
        free(extras[i]);
    free(extras);
    return err;
}

/* Builds the output event object of the current row of st (EVENT_COLS) into
 * *out (owned). Returns 0, PX_ENOMEM or PX_ESTORE (a corrupt row). */
static int read_event(sql_store_t *q, sqlite3_stmt *st, json_t **out)
{
    px__store_event_t e = {0};
    json_t *extra = NULL;
    sqlite3_int64 id = sqlite3_column_int64(st, 0);
    e.app_id = (const char *)sqlite3_column_text(st, 1);
    e.channel = (const char *)sqlite3_column_text(st, 2);
    e.name = (const char *)sqlite3_column_text(st, 3);
    e.data = (const char *)sqlite3_column_text(st, 4);
    e.data_len = (size_t)sqlite3_column_bytes(st, 4);
    e.mid = (const char *)sqlite3_column_text(st, 5);
    e.timestamp = sqlite3_column_double(st, 6);
    e.owner_id = (const char *)sqlite3_column_text(st, 7);
    if (e.app_id == NULL || e.channel == NULL || e.name == NULL || e.data == NULL ||
        e.mid == NULL) {
        if (sqlite3_errcode(q->db) == SQLITE_NOMEM)
            return nomem(q);
        px__store_set_error(&q->base, "stored event %lld has a NULL column", (long long)id);
        return PX_ESTORE;
    }
    if (sqlite3_column_type(st, 8) != SQLITE_NULL) {
        const void *text = sqlite3_column_blob(st, 8);
        json_error_t jerr;
        extra = json_loadb(text ? text : "", (size_t)sqlite3_column_bytes(st, 8), 0, &jerr);
        if (!json_is_object(extra)) {
            px__store_set_error(&q->base, "stored event %lld: extra is not a JSON object",
                                (long long)id);
            json_decref(extra);
            return PX_ESTORE;
        }
        e.extra = extra;
    }
    *out = px__store_event_json(id, &e);
    json_decref(extra);
    return *out ? 0 : nomem(q);
}

/* Steps st (bound) to the end, appending each row as an event to a new
 * array in *out_array, and resets st. Returns 0 or a PX_E* code. */
static int read_events(sql_store_t *q, sqlite3_stmt *st, const char *what, json_t **out_array)
{
    json_t *arr = json_array();
    int rc, err = 0;
    if (arr == NULL) {
        done(st);
        return nomem(q);
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *ev = NULL;
        if ((err = read_event(q, st, &ev)) < 0)
            break;
        if (json_array_append_new(arr, ev) < 0) {
            err = nomem(q);
            break;
        }
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = fail(q, rc, what);
    done(st);
    if (err < 0) {
        json_decref(arr);
        return err;
    }
    *out_array = arr;
    return 0;
}

static int sql_latest_events(px_store_t *s, const char *app_id, const char *channel,
                             size_t skip, size_t count, json_t **out_array)
{
    sql_store_t *q = sql(s);
    sqlite3_stmt *st = channel != NULL ? q->latest : q->latest_all;
    sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
    if (channel != NULL)
        sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, clamp64(skip));
    sqlite3_bind_int64(st, 4, clamp64(count));
    return read_events(q, st, "cannot read events", out_array);
}

/* Runs a bound DELETE and adds the rows it deleted to *total. */
static int run_delete(sql_store_t *q, sqlite3_stmt *st, const char *what, int64_t *total)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        int err = fail(q, rc, what);
        done(st);
        return err;
    }
    *total += sqlite3_changes64(q->db);
    done(st);
    return 0;
}

static int sql_prune_events(px_store_t *s, const char *app_id, const char *channel,
                            size_t keep_count, double max_age, double now)
{
    sql_store_t *q = sql(s);
    int64_t total = 0;
    int err = 0;
    int rc = sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(q, rc, "cannot prune events");
    if (max_age < INFINITY) {
        sqlite3_bind_text(q->prune_age, 1, app_id, -1, SQLITE_STATIC);
        if (channel)
            sqlite3_bind_text(q->prune_age, 2, channel, -1, SQLITE_STATIC);
        sqlite3_bind_double(q->prune_age, 3, now - max_age);
        err = run_delete(q, q->prune_age, "cannot prune events", &total);
    }
    if (err == 0 && keep_count < (size_t)INT64_MAX) {
        sqlite3_bind_text(q->prune_count, 1, app_id, -1, SQLITE_STATIC);
        if (channel)
            sqlite3_bind_text(q->prune_count, 2, channel, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q->prune_count, 3, (sqlite3_int64)keep_count);
        err = run_delete(q, q->prune_count, "cannot prune events", &total);
    }
    if (err == 0 && (rc = sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        err = fail(q, rc, "cannot prune events");
    if (err < 0) {
        rollback(q);
        return err;
    }
    return total > INT32_MAX ? INT32_MAX : (int)total;
}

/* Binds the three strings to ?1..?3 of st, steps it once and returns the
 * number of rows it changed (0 or 1), or a PX_E* code. */
static int run_sub_write(sql_store_t *q, sqlite3_stmt *st, const char *app_id,
                         const char *user_id, const char *event, const char *what)
{
    sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int ret = rc == SQLITE_DONE ? sqlite3_changes(q->db) > 0 : fail(q, rc, what);
    done(st);
    return ret;
}

static int sql_put_subscription(px_store_t *s, const char *app_id, const char *user_id,
                                const char *event)
{
    sql_store_t *q = sql(s);
    sqlite3_bind_int64(q->put_sub, 4, (sqlite3_int64)px__store_now());
    return run_sub_write(q, q->put_sub, app_id, user_id, event, "cannot save subscription");
}

static int sql_delete_subscription(px_store_t *s, const char *app_id, const char *user_id,
                                   const char *event)
{
    sql_store_t *q = sql(s);
    return run_sub_write(q, q->del_sub, app_id, user_id, event, "cannot delete subscription");
}

static int sql_list_subscriptions(px_store_t *s, const char *app_id, const char *user_id,
                                  const char *event, json_t **out_array)
{
    sql_store_t *q = sql(s);
    sqlite3_stmt *st = q->list_sub[(user_id != NULL) | (event != NULL) << 1];
    json_t *arr = json_array();
    int rc, err = 0;
    if (arr == NULL)
        return nomem(q);
    sqlite3_bind_text(st, 1, app_id, -1, SQLITE_STATIC);
    if (user_id)
        sqlite3_bind_text(st, 2, user_id, -1, SQLITE_STATIC);
    if (event)
        sqlite3_bind_text(st, 3, event, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 1);
        const char *u = (const char *)sqlite3_column_text(st, 2);
        const char *e = (const char *)sqlite3_column_text(st, 3);
        if (a == NULL || u == NULL || e == NULL) {
            px__store_set_error(s, "stored subscription has a NULL column");
            err = PX_ESTORE;
            break;
        }
        json_t *sub = json_pack("{s:I, s:s, s:s, s:s}", "id",
                                (json_int_t)sqlite3_column_int64(st, 0), "app_id", a,
                                "user_id", u, "event", e);
        if (sub == NULL || json_array_append_new(arr, sub) < 0) {
            err = nomem(q);
            break;
        }
    }
    if (err == 0 && rc != SQLITE_DONE)
        err = fail(q, rc, "cannot list subscriptions");
    done(st);
    if (err < 0) {
        json_decref(arr);
        return err;
    }
    *out_array = arr;
    return 0;
}

static int sql_add_associations(px_store_t *s, const char *app_id, const char *mid,
                                const char *const *user_ids, size_t n)
{
    sql_store_t *q = sql(s);
    int added = 0, err;
    int rc = sqlite3_exec(q->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(q, rc, "cannot add associations");
    for (size_t i = 0; i < n; i++) {
        sqlite3_bind_text(q->ins_assoc, 1, app_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(q->ins_assoc, 2, user_ids[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(q->ins_assoc, 3, mid, -1, SQLITE_STATIC);
        rc = sqlite3_step(q->ins_assoc);
        if (rc != SQLITE_DONE) {
            err = fail(q, rc, "cannot add associations");
            done(q->ins_assoc);
            rollback(q);
            return err;
        }
        added += sqlite3_changes(q->db);
        done(q->ins_assoc);
    }
    if ((rc = sqlite3_exec(q->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK) {
        err = fail(q, rc, "cannot add associations");
        rollback(q);
        return err;
    }
    return added;
}

static int sql_user_events(px_store_t *s, const char *app_id, const char *user_id,
                           size_t skip, size_t count, json_t **out_array)
{
    sql_store_t *q = sql(s);
    sqlite3_bind_text(q->inbox, 1, app_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q->inbox, 2, user_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q->inbox, 3, clamp64(skip));
    sqlite3_bind_int64(q->inbox, 4, clamp64(count));
    return read_events(q, q->inbox, "cannot read the inbox", out_array);
}

static void sql_close(px_store_t *s)
{
    sql_store_t *q = sql(s);
    sqlite3_finalize(q->list);
    sqlite3_finalize(q->by_key);
    sqlite3_finalize(q->put);
    sqlite3_finalize(q->del);
    sqlite3_finalize(q->ins_event);
    sqlite3_finalize(q->latest);
    sqlite3_finalize(q->latest_all);
    sqlite3_finalize(q->prune_age);
    sqlite3_finalize(q->prune_count);
    sqlite3_finalize(q->put_sub);
    sqlite3_finalize(q->del_sub);
    for (size_t i = 0; i < PX_ARRAY_SIZE(q->list_sub); i++)
        sqlite3_finalize(q->list_sub[i]);
    sqlite3_finalize(q->ins_assoc);
    sqlite3_finalize(q->inbox);
    sqlite3_close_v2(q->db); /* NULL is a no-op */
    free(q);
}

const px_store_vtable_t px__store_sqlite_vtable = {
    .scheme = "sqlite:",
    .open = sql_open,
    .list_apps = sql_list_apps,
    .put_app = sql_put_app,
    .delete_app = sql_delete_app,
    .append_events = sql_append_events,
    .latest_events = sql_latest_events,
    .prune_events = sql_prune_events,
    .put_subscription = sql_put_subscription,
    .delete_subscription = sql_delete_subscription,
    .list_subscriptions = sql_list_subscriptions,
    .add_associations = sql_add_associations,
    .user_events = sql_user_events,
    .close = sql_close,
};

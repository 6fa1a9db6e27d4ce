/* px_store_sqlite.c - the SQLite store ("sqlite:///path").
 *
 * Schema (PRAGMA user_version = 1):
 *
 *   app(id TEXT PRIMARY KEY, key TEXT UNIQUE NOT NULL, doc TEXT NOT NULL,
 *       created INTEGER)
 *
 * doc holds the app's normalised JSON object; id and key are copies of its
 * members so SQLite enforces their uniqueness. created is a Unix time in
 * milliseconds, bumped when needed so that it strictly increases: listing
 * orders by it, and replacing an app (an upsert) keeps it.
 *
 * The connection is opened with SQLITE_OPEN_NOMUTEX (a store is used by one
 * thread at a time), in WAL mode with a 5000 ms busy timeout, so readers
 * never wait and writers from other processes wait for each other. Every
 * statement with data in it is prepared once and bound. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "px_err.h"
#include "px_store.h"

#define SCHEMA_VERSION 1
#define BUSY_TIMEOUT_MS 5000

typedef struct {
    px_store_t base;
    sqlite3 *db;
    sqlite3_stmt *list;  /* -> id, doc of every app, oldest first */
    sqlite3_stmt *by_key; /* ?1 key -> id */
    sqlite3_stmt *put;   /* ?1 id, ?2 key, ?3 doc, ?4 now (ms) */
    sqlite3_stmt *del;   /* ?1 id */
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
    "created INTEGER)";

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
            (rc = sqlite3_exec(db, "PRAGMA user_version = 1", NULL, NULL, NULL)) != SQLITE_OK)
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

static void sql_close(px_store_t *s)
{
    sql_store_t *q = sql(s);
    sqlite3_finalize(q->list);
    sqlite3_finalize(q->by_key);
    sqlite3_finalize(q->put);
    sqlite3_finalize(q->del);
    sqlite3_close_v2(q->db); /* NULL is a no-op */
    free(q);
}

const px_store_vtable_t px__store_sqlite_vtable = {
    .scheme = "sqlite:",
    .open = sql_open,
    .list_apps = sql_list_apps,
    .put_app = sql_put_app,
    .delete_app = sql_delete_app,
    .close = sql_close,
};

/* px_store_mongo.c - the MongoDB store ("mongodb://host:port/db").
 *
 * Uses mongo-c-driver (libmongoc/libbson) and the collections of the
 * original pushi, so a deployment's existing data is read as it is and the
 * documents written here look like the ones it wrote:
 *
 *   app          {id: int, ident: "<app id>", instance: ident, key, secret,
 *                 name, enabled, ...other app settings, created, modified}
 *   pushievent   {id: int, mid, instance: app_id, channel, owner_id,
 *                 timestamp: double, data: {channel, event: name,
 *                 data: "<string>", ...extra}, enabled, created, modified}
 *   subscription {id: int, instance, user_id, event, enabled, created,
 *                 modified}
 *   association  {id: int, instance, user_id, mid, enabled, created,
 *                 modified}
 *   counters     {_id: "<collection>:id", seq: int}: the integer ids, taken
 *                 in blocks with one findAndModify {$inc: {seq: n}}, atomic
 *                 on MongoDB (FerretDB 1.x runs it as a read and a write,
 *                 so two clients writing at once may draw the same id
 *                 there; mids stay unique either way)
 *
 * created and modified are Unix seconds, as the original's generic record
 * fields. "Newest first" is by id, as the original sorts. (px_store.c has
 * already dropped event extra members MongoDB refuses, so a batch that can
 * never be written cannot block the engine's retry queue.)
 *
 * Indexes (created at open; named pushi_*; an index the original already
 * made on the same keys is accepted in place of ours):
 *   app          ident (unique), key (unique)
 *   pushievent   {instance, mid} (unique: appending is idempotent),
 *                {instance, channel, id}, {instance, timestamp}
 *   subscription {instance, user_id, event} (unique), {instance, event}
 *   association  {instance, user_id, mid} (unique), {instance, user_id, id},
 *                {instance, mid}
 *
 * The URL is handed to libmongoc as it is (after "mongodb"), so every
 * libmongoc URI option works. connectTimeoutMS, serverSelectionTimeoutMS
 * and socketTimeoutMS get the defaults px_store.h names when the URL does
 * not set them. Opening checks that the server answers (creating the
 * indexes) and fails with PX_ESTORE when it does not.
 *
 * libmongoc logs to stderr through a process-wide handler; the first open
 * installs one that passes everything to the default handler except the
 * "endSessions" warning MongoDB-wire servers without sessions cause at
 * every close.
 *
 * Threads: one mongoc_client_t per store, the driver's single-threaded
 * client. The store is used by one thread at a time (px_store.h); the
 * client may move between threads between calls, never be used by two at
 * once. After a network error the driver reconnects on the next call; in
 * single-threaded mode it waits up to 5 s (its "cooldown") before trying a
 * server it just failed to reach, so calls keep failing for a few seconds
 * after the server is back. */
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mongoc/mongoc.h>

#include "px_err.h"
#include "px_store.h"

#define DEFAULT_DB "pushi"
#define DEFAULT_CONNECT_MS 5000
#define DEFAULT_SELECT_MS 5000
#define DEFAULT_SOCKET_MS 10000
/* Documents handled per round trip when pruning and reading the inbox. */
#define CHUNK 500

/* Server error codes we look for. */
#define ERR_DUPLICATE_KEY 11000
#define ERR_INDEX_EXISTS 68
#define ERR_INDEX_OPTIONS_CONFLICT 85
#define ERR_INDEX_KEY_SPECS_CONFLICT 86

typedef struct {
    px_store_t base;
    mongoc_client_t *client;
    mongoc_database_t *db;
    mongoc_collection_t *app, *event, *sub, *assoc, *counters;
} mongo_store_t;

static mongo_store_t *mg(px_store_t *s)
{
    return px_container_of(s, mongo_store_t, base);
}

static int nomem(mongo_store_t *m)
{
    px__store_set_error(&m->base, "%s", px_strerror(PX_ENOMEM));
    return PX_ENOMEM;
}

/* Records a driver or server failure. Returns PX_ESTORE. */
static int fail(mongo_store_t *m, const char *what, const bson_error_t *err)
{
    px__store_set_error(&m->base, "%s: %s", what,
                        err && err->message[0] ? err->message : "MongoDB error");
    return PX_ESTORE;
}

static int too_big(mongo_store_t *m, const char *what)
{
    px__store_set_error(&m->base, "%s: document too large for BSON", what);
    return PX_ESTORE;
}

/* ---- JSON <-> BSON ---------------------------------------------------- */

/* Appends v under key to b. Objects and arrays recurse; object members
 * with names MongoDB refuses are left out. Integers become int32 when they
 * fit, as drivers usually write them. Returns false when b overflows. */
static bool append_json(bson_t *b, const char *key, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        bson_t child;
        const char *k;
        json_t *x;
        if (!bson_append_document_begin(b, key, -1, &child))
            return false;
        json_object_foreach((json_t *)v, k, x) {
            if (px__store_storable_key(k) && !append_json(&child, k, x)) {
                bson_append_document_end(b, &child);
                return false;
            }
        }
        return bson_append_document_end(b, &child);
    }
    case JSON_ARRAY: {
        bson_t child;
        char buf[16];
        const char *k;
        if (!bson_append_array_begin(b, key, -1, &child))
            return false;
        for (size_t i = 0; i < json_array_size(v); i++) {
            bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
            if (!append_json(&child, k, json_array_get(v, i))) {
                bson_append_array_end(b, &child);
                return false;
            }
        }
        return bson_append_array_end(b, &child);
    }
    case JSON_STRING:
        return bson_append_utf8(b, key, -1, json_string_value(v), (int)json_string_length(v));
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (i >= INT32_MIN && i <= INT32_MAX)
            return bson_append_int32(b, key, -1, (int32_t)i);
        return bson_append_int64(b, key, -1, (int64_t)i);
    }
    case JSON_REAL:
        return bson_append_double(b, key, -1, json_real_value(v));
    case JSON_TRUE:
        return bson_append_bool(b, key, -1, true);
    case JSON_FALSE:
        return bson_append_bool(b, key, -1, false);
    case JSON_NULL:
    default:
        return bson_append_null(b, key, -1);
    }
}

static json_t *to_json(const bson_iter_t *it);

/* Converts the document or array it points at into a JSON object or
 * array. NULL on out of memory. */
static json_t *container_to_json(const bson_iter_t *it, int array)
{
    bson_iter_t child;
    json_t *out = array ? json_array() : json_object();
    if (out == NULL || !bson_iter_recurse(it, &child))
        return out;
    while (bson_iter_next(&child)) {
        json_t *v = to_json(&child);
        int rc = v == NULL ? -1
                 : array   ? json_array_append_new(out, v)
                           : json_object_set_new(out, bson_iter_key(&child), v);
        if (rc < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* Converts the value it points at into JSON (owned). Types JSON lacks
 * become their nearest form: ObjectId a hex string, dates milliseconds,
 * binary and the like null. NULL on out of memory. */
static json_t *to_json(const bson_iter_t *it)
{
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8: {
        uint32_t n;
        const char *str = bson_iter_utf8(it, &n);
        return json_stringn(str, n);
    }
    case BSON_TYPE_INT32:
        return json_integer(bson_iter_int32(it));
    case BSON_TYPE_INT64:
        return json_integer(bson_iter_int64(it));
    case BSON_TYPE_DOUBLE:
        return json_real(bson_iter_double(it));
    case BSON_TYPE_BOOL:
        return json_boolean(bson_iter_bool(it));
    case BSON_TYPE_DOCUMENT:
        return container_to_json(it, 0);
    case BSON_TYPE_ARRAY:
        return container_to_json(it, 1);
    case BSON_TYPE_DATE_TIME:
        return json_integer(bson_iter_date_time(it));
    case BSON_TYPE_OID: {
        char hex[25];
        bson_oid_to_string(bson_iter_oid(it), hex);
        return json_string(hex);
    }
    default:
        return json_null();
    }
}

/* Finds key in doc: its string value (NUL-terminated by libbson; NULL when
 * absent or not a string). */
static const char *get_str(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it))
        return bson_iter_utf8(&it, NULL);
    return NULL;
}

static int64_t get_int(const bson_t *doc, const char *key)
{
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_NUMBER(&it))
        return bson_iter_as_int64(&it);
    return 0;
}

/* Reads a count ("n", "deletedCount", ...) from a command reply. */
static int64_t reply_count(const bson_t *reply, const char *key)
{
    return get_int(reply, key);
}

/* 1 when every write error in reply is a duplicate key and there is no
 * other failure, i.e. an idempotent insert just skipped what was there. */
static int only_duplicates(const bson_t *reply)
{
    bson_iter_t it, errs;
    if (bson_iter_init_find(&it, reply, "writeConcernErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &errs) && bson_iter_next(&errs))
        return 0;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &errs))
        return 0;
    int seen = 0;
    while (bson_iter_next(&errs)) {
        bson_iter_t code;
        if (!BSON_ITER_HOLDS_DOCUMENT(&errs) || !bson_iter_recurse(&errs, &code) ||
            !bson_iter_find(&code, "code") || bson_iter_as_int64(&code) != ERR_DUPLICATE_KEY)
            return 0;
        seen = 1;
    }
    return seen;
}

/* ---- ids from counters ------------------------------------------------ */

/* Reserves n (>= 1) consecutive ids for collection name, the way the
 * original's counters work, and sets *first to the first. Returns 0 or a
 * PX_E* code. */
static int take_ids(mongo_store_t *m, const char *name, size_t n, int64_t *first)
{
    char id[64];
    bson_t query = BSON_INITIALIZER, update = BSON_INITIALIZER, inc, reply;
    bson_error_t err;
    mongoc_find_and_modify_opts_t *opts = mongoc_find_and_modify_opts_new();
    int rc = 0;
    if (opts == NULL)
        return nomem(m);
    snprintf(id, sizeof id, "%s:id", name);
    BSON_APPEND_UTF8(&query, "_id", id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$inc", &inc);
    if (n <= INT32_MAX)
        BSON_APPEND_INT32(&inc, "seq", (int32_t)n);
    else
        BSON_APPEND_INT64(&inc, "seq", (int64_t)n);
    bson_append_document_end(&update, &inc);
    mongoc_find_and_modify_opts_set_update(opts, &update);
    mongoc_find_and_modify_opts_set_flags(
        opts, MONGOC_FIND_AND_MODIFY_UPSERT | MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    bool ok = false;
    /* Two writers creating the same counter at once: one upsert fails with
     * a duplicate key, and trying again finds the counter. */
    for (int attempt = 0; attempt < 3 && !ok; attempt++) {
        if (attempt > 0)
            bson_destroy(&reply);
        ok = mongoc_collection_find_and_modify_with_opts(m->counters, &query, opts, &reply,
                                                         &err);
        if (!ok && err.code != ERR_DUPLICATE_KEY)
            break;
    }
    if (!ok) {
        rc = fail(m, "cannot allocate ids", &err);
    } else {
        bson_iter_t it, seq;
        if (bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
            bson_iter_recurse(&it, &seq) && bson_iter_find(&seq, "seq") &&
            BSON_ITER_HOLDS_NUMBER(&seq)) {
            *first = bson_iter_as_int64(&seq) - (int64_t)n + 1;
        } else {
            px__store_set_error(&m->base, "cannot allocate ids: counter %s has no seq", id);
            rc = PX_ESTORE;
        }
    }
    bson_destroy(&reply);
    bson_destroy(&query);
    bson_destroy(&update);
    mongoc_find_and_modify_opts_destroy(opts);
    return rc;
}

/* ---- open and close --------------------------------------------------- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* The driver's log goes to stderr through its default handler, minus one
 * warning: closing a client sends endSessions, which MongoDB-wire servers
 * such as FerretDB do not implement, and every close would warn. */
static void on_log(mongoc_log_level_t level, const char *domain, const char *message,
                   void *data)
{
    if (level == MONGOC_LOG_LEVEL_WARNING && strstr(message, "\"endSessions\"") != NULL)
        return;
    mongoc_log_default_handler(level, domain, message, data);
}

static void init_driver(void)
{
    mongoc_init(); /* never cleaned up: stores may open until the process ends */
    mongoc_log_set_handler(on_log, NULL); /* process-wide, as libmongoc's log is */
}

/* Index specs: collection, name, keys as JSON, unique. */
typedef struct {
    const char *coll, *name, *keys;
    int unique;
} index_spec_t;

static const index_spec_t INDEXES[] = {
    {"app", "pushi_ident", "{\"ident\": 1}", 1},
    {"app", "pushi_key", "{\"key\": 1}", 1},
    {"pushievent", "pushi_instance_mid", "{\"instance\": 1, \"mid\": 1}", 1},
    {"pushievent", "pushi_instance_channel_id", "{\"instance\": 1, \"channel\": 1, \"id\": -1}",
     0},
    {"pushievent", "pushi_instance_timestamp", "{\"instance\": 1, \"timestamp\": 1}", 0},
    {"subscription", "pushi_instance_user_event",
     "{\"instance\": 1, \"user_id\": 1, \"event\": 1}", 1},
    {"subscription", "pushi_instance_event", "{\"instance\": 1, \"event\": 1}", 0},
    {"association", "pushi_instance_user_mid", "{\"instance\": 1, \"user_id\": 1, \"mid\": 1}",
     1},
    {"association", "pushi_instance_user_id", "{\"instance\": 1, \"user_id\": 1, \"id\": -1}",
     0},
    {"association", "pushi_instance_mid", "{\"instance\": 1, \"mid\": 1}", 0},
};

/* Creates the indexes (one command each, so one already made differently
 * by the original does not stop the others). Returns 0 or PX_ESTORE with
 * *why set. */
static int ensure_indexes(mongo_store_t *m, const char **why)
{
    for (size_t i = 0; i < PX_ARRAY_SIZE(INDEXES); i++) {
        const index_spec_t *ix = &INDEXES[i];
        bson_error_t err;
        bson_t *keys = bson_new_from_json((const uint8_t *)ix->keys, -1, &err);
        bson_t cmd = BSON_INITIALIZER, arr, spec, reply;
        if (keys == NULL) {
            *why = px__store_open_error("bad index spec %s: %s", ix->name, err.message);
            return PX_ESTORE;
        }
        BSON_APPEND_UTF8(&cmd, "createIndexes", ix->coll);
        BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
        BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &spec);
        BSON_APPEND_DOCUMENT(&spec, "key", keys);
        BSON_APPEND_UTF8(&spec, "name", ix->name);
        if (ix->unique)
            BSON_APPEND_BOOL(&spec, "unique", true);
        bson_append_document_end(&arr, &spec);
        bson_append_array_end(&cmd, &arr);
        bool ok = mongoc_database_write_command_with_opts(m->db, &cmd, NULL, &reply, &err);
        bson_destroy(&reply);
        bson_destroy(&cmd);
        bson_destroy(keys);
        if (!ok && err.code != ERR_INDEX_EXISTS && err.code != ERR_INDEX_OPTIONS_CONFLICT &&
            err.code != ERR_INDEX_KEY_SPECS_CONFLICT) {
            *why = px__store_open_error("cannot set up MongoDB index %s.%s: %s", ix->coll,
                                        ix->name, err.message);
            return PX_ESTORE;
        }
    }
    return 0;
}

static void mongo_close(px_store_t *s);

static int mongo_open(const char *rest, px_store_t **out, const char **why)
{
    bson_error_t err;
    mongoc_uri_t *uri = NULL;
    mongo_store_t *m = NULL;
    char *url = NULL;
    int rc = PX_ENOMEM;
    pthread_once(&init_once, init_driver);
    /* rest follows "mongodb": "://..." or "+srv://...". */
    size_t n = strlen(rest);
    if ((url = malloc(n + 8)) == NULL)
        goto fail_nomem;
    memcpy(url, "mongodb", 7);
    memcpy(url + 7, rest, n + 1);
    if ((uri = mongoc_uri_new_with_error(url, &err)) == NULL) {
        *why = px__store_open_error("malformed mongodb store URL: %s", err.message);
        rc = PX_EINVAL;
        goto fail;
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, DEFAULT_CONNECT_MS);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                       DEFAULT_SELECT_MS);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, DEFAULT_SOCKET_MS);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_APPNAME))
        mongoc_uri_set_appname(uri, "pushi");
    const char *dbname = mongoc_uri_get_database(uri);
    if (dbname == NULL || *dbname == '\0')
        dbname = DEFAULT_DB;
    if ((m = calloc(1, sizeof(*m))) == NULL)
        goto fail_nomem;
    m->base.vt = &px__store_mongo_vtable;
    if ((m->client = mongoc_client_new_from_uri_with_error(uri, &err)) == NULL) {
        *why = px__store_open_error("cannot use the mongodb store URL: %s", err.message);
        rc = PX_EINVAL;
        goto fail;
    }
    mongoc_client_set_error_api(m->client, MONGOC_ERROR_API_VERSION_2);
    if ((m->db = mongoc_client_get_database(m->client, dbname)) == NULL ||
        (m->app = mongoc_database_get_collection(m->db, "app")) == NULL ||
        (m->event = mongoc_database_get_collection(m->db, "pushievent")) == NULL ||
        (m->sub = mongoc_database_get_collection(m->db, "subscription")) == NULL ||
        (m->assoc = mongoc_database_get_collection(m->db, "association")) == NULL ||
        (m->counters = mongoc_database_get_collection(m->db, "counters")) == NULL)
        goto fail_nomem;
    if ((rc = ensure_indexes(m, why)) < 0)
        goto fail;
    mongoc_uri_destroy(uri);
    free(url);
    *out = &m->base;
    return 0;
fail_nomem:
    *why = px_strerror(PX_ENOMEM);
    rc = PX_ENOMEM;
fail:
    if (m != NULL)
        mongo_close(&m->base);
    mongoc_uri_destroy(uri); /* NULL is a no-op */
    free(url);
    return rc;
}

static void mongo_close(px_store_t *s)
{
    mongo_store_t *m = mg(s);
    mongoc_collection_destroy(m->app);
    mongoc_collection_destroy(m->event);
    mongoc_collection_destroy(m->sub);
    mongoc_collection_destroy(m->assoc);
    mongoc_collection_destroy(m->counters);
    mongoc_database_destroy(m->db);
    mongoc_client_destroy(m->client);
    free(m);
}

/* ---- cursors ---------------------------------------------------------- */

/* Called for each document of a query; returns 0 to go on, 1 to stop, or a
 * PX_E* code (with errmsg set) to fail. */
typedef int (*each_cb)(mongo_store_t *m, const bson_t *doc, void *ctx);

/* Runs find(filter, opts) on coll and calls cb for each document. Returns 0
 * or a PX_E* code. */
static int each(mongo_store_t *m, mongoc_collection_t *coll, const bson_t *filter,
                const bson_t *opts, const char *what, each_cb cb, void *ctx)
{
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc;
    bson_error_t err;
    int rc = 0;
    if (cur == NULL)
        return nomem(m);
    while (rc == 0 && mongoc_cursor_next(cur, &doc))
        rc = cb(m, doc, ctx);
    if (rc == 1)
        rc = 0;
    else if (rc == 0 && mongoc_cursor_error(cur, &err))
        rc = fail(m, what, &err);
    mongoc_cursor_destroy(cur);
    return rc;
}

/* Builds find options {sort: {<key>: dir}, skip, limit}; skip and limit are
 * left out when 0. */
static void find_opts(bson_t *opts, const char *key, int dir, size_t skip, size_t limit)
{
    bson_t sort;
    BSON_APPEND_DOCUMENT_BEGIN(opts, "sort", &sort);
    BSON_APPEND_INT32(&sort, key, dir);
    bson_append_document_end(opts, &sort);
    if (skip > 0)
        BSON_APPEND_INT64(opts, "skip", skip > INT64_MAX ? INT64_MAX : (int64_t)skip);
    if (limit > 0)
        BSON_APPEND_INT64(opts, "limit", limit > INT64_MAX ? INT64_MAX : (int64_t)limit);
}

/* ---- apps ------------------------------------------------------------- */

static int list_app_cb(mongo_store_t *m, const bson_t *doc, void *ctx)
{
    json_t *arr = ctx, *raw, *app = NULL;
    bson_iter_t it;
    const char *ident = get_str(doc, "ident");
    if (!bson_iter_init(&it, doc))
        return 0;
    /* The whole document: px_app_from_json reads what it knows. */
    if ((raw = json_object()) == NULL)
        return nomem(m);
    while (bson_iter_next(&it)) {
        json_t *v = to_json(&it);
        if (v == NULL || json_object_set_new(raw, bson_iter_key(&it), v) < 0) {
            json_decref(raw);
            return nomem(m);
        }
    }
    if (ident == NULL) {
        px__store_set_error(&m->base, "stored app has no \"ident\"");
        json_decref(raw);
        return PX_ESTORE;
    }
    if (json_object_set_new(raw, "id", json_string(ident)) < 0) {
        json_decref(raw);
        return nomem(m);
    }
    int rc = px__store_normalise_app(&m->base, raw, &app);
    json_decref(raw);
    if (rc == PX_EINVAL) {
        char why[PX_STORE_ERRMSG_SIZE];
        snprintf(why, sizeof why, "%s", px_store_errmsg(&m->base));
        px__store_set_error(&m->base, "stored app %s is not valid: %s", ident, why);
        return PX_ESTORE;
    }
    if (rc < 0)
        return rc;
    if (json_array_append_new(arr, app) < 0)
        return nomem(m);
    return 0;
}

static int mongo_list_apps(px_store_t *s, json_t **out_array)
{
    mongo_store_t *m = mg(s);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    json_t *arr = json_array();
    if (arr == NULL)
        return nomem(m);
    find_opts(&opts, "id", 1, 0, 0);
    int rc = each(m, m->app, &filter, &opts, "cannot list apps", list_app_cb, arr);
    bson_destroy(&opts);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out_array = arr;
    return 0;
}

/* Appends the members of the normalised app doc to b, "id" as ident. */
static bool append_app_fields(bson_t *b, const json_t *doc, const char *id, int64_t now)
{
    const char *k;
    json_t *v;
    bool ok = BSON_APPEND_UTF8(b, "ident", id) && BSON_APPEND_UTF8(b, "instance", id) &&
              BSON_APPEND_INT64(b, "modified", now);
    json_object_foreach((json_t *)doc, k, v) {
        if (ok && strcmp(k, "id") != 0 && px__store_storable_key(k))
            ok = append_json(b, k, v);
    }
    return ok;
}

static int mongo_put_app(px_store_t *s, const json_t *app)
{
    mongo_store_t *m = mg(s);
    json_t *doc = NULL;
    bson_t filter = BSON_INITIALIZER, update = BSON_INITIALIZER, set, reply;
    bson_t *ins = NULL;
    bson_error_t err;
    int64_t now = px__store_now(), new_id;
    int rc = px__store_normalise_app(s, app, &doc);
    if (rc < 0)
        return rc;
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *key = json_string_value(json_object_get(doc, "key"));
    /* Another app with this key? */
    {
        bson_t q = BSON_INITIALIZER, ne, opts = BSON_INITIALIZER;
        const bson_t *found;
        BSON_APPEND_UTF8(&q, "key", key);
        BSON_APPEND_DOCUMENT_BEGIN(&q, "ident", &ne);
        BSON_APPEND_UTF8(&ne, "$ne", id);
        bson_append_document_end(&q, &ne);
        BSON_APPEND_INT64(&opts, "limit", 1);
        mongoc_cursor_t *cur = mongoc_collection_find_with_opts(m->app, &q, &opts, NULL);
        if (cur != NULL && mongoc_cursor_next(cur, &found)) {
            const char *other = get_str(found, "ident");
            px__store_set_error(s, "another app (id %s) already has this key",
                                other ? other : "?");
            rc = PX_EEXIST;
        } else if (cur == NULL) {
            rc = nomem(m);
        } else if (mongoc_cursor_error(cur, &err)) {
            rc = fail(m, "cannot save app", &err);
        }
        mongoc_cursor_destroy(cur);
        bson_destroy(&q);
        bson_destroy(&opts);
        if (rc < 0)
            goto out;
    }
    /* Update in place (keeping its id, created and members we do not know),
     * else insert. */
    BSON_APPEND_UTF8(&filter, "ident", id);
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    if (!append_app_fields(&set, doc, id, now)) {
        rc = too_big(m, "cannot save app");
        goto out;
    }
    bson_append_document_end(&update, &set);
    if (!mongoc_collection_update_one(m->app, &filter, &update, NULL, &reply, &err)) {
        rc = err.code == ERR_DUPLICATE_KEY ? PX_EEXIST : PX_ESTORE;
        fail(m, "cannot save app", &err);
        bson_destroy(&reply);
        goto out;
    }
    int64_t matched = reply_count(&reply, "matchedCount");
    bson_destroy(&reply);
    if (matched > 0)
        goto out;
    if ((rc = take_ids(m, "app", 1, &new_id)) < 0)
        goto out;
    ins = bson_new();
    if (!BSON_APPEND_INT64(ins, "id", new_id) || !BSON_APPEND_INT64(ins, "created", now) ||
        !append_app_fields(ins, doc, id, now)) {
        rc = too_big(m, "cannot save app");
        goto out;
    }
    if (!mongoc_collection_insert_one(m->app, ins, NULL, NULL, &err)) {
        rc = err.code == ERR_DUPLICATE_KEY ? PX_EEXIST : PX_ESTORE;
        fail(m, "cannot save app", &err);
    }
out:
    bson_destroy(ins); /* NULL is a no-op */
    bson_destroy(&filter);
    bson_destroy(&update);
    json_decref(doc);
    return rc;
}

static int mongo_delete_app(px_store_t *s, const char *id)
{
    mongo_store_t *m = mg(s);
    bson_t filter = BSON_INITIALIZER, reply;
    bson_error_t err;
    BSON_APPEND_UTF8(&filter, "ident", id);
    bool ok = mongoc_collection_delete_many(m->app, &filter, NULL, &reply, &err);
    int rc = ok ? reply_count(&reply, "deletedCount") > 0 : fail(m, "cannot delete app", &err);
    bson_destroy(&reply);
    bson_destroy(&filter);
    return rc;
}

/* ---- events ----------------------------------------------------------- */

/* Builds the pushievent document of e with integer id. NULL when too big. */
static bson_t *event_doc(const px__store_event_t *e, int64_t id, int64_t now)
{
    if (e->data_len > INT_MAX)
        return NULL;
    bson_t *b = bson_new(), data;
    bool ok = BSON_APPEND_INT64(b, "id", id) && BSON_APPEND_UTF8(b, "mid", e->mid) &&
              BSON_APPEND_UTF8(b, "instance", e->app_id) &&
              BSON_APPEND_UTF8(b, "channel", e->channel) &&
              (e->owner_id ? BSON_APPEND_UTF8(b, "owner_id", e->owner_id)
                           : BSON_APPEND_NULL(b, "owner_id")) &&
              BSON_APPEND_DOUBLE(b, "timestamp", e->timestamp) &&
              BSON_APPEND_DOCUMENT_BEGIN(b, "data", &data);
    if (ok) {
        /* The envelope as the original stored it: extras, then the three
         * members the engine owns. */
        if (e->extra != NULL) {
            const char *k;
            json_t *v;
            json_object_foreach((json_t *)e->extra, k, v) {
                if (ok && !px__store_reserved_extra(k) && px__store_storable_key(k))
                    ok = append_json(&data, k, v);
            }
        }
        ok = ok && BSON_APPEND_UTF8(&data, "channel", e->channel) &&
             BSON_APPEND_UTF8(&data, "event", e->name) &&
             bson_append_utf8(&data, "data", -1, e->data, (int)e->data_len);
        ok = bson_append_document_end(b, &data) && ok;
    }
    ok = ok && BSON_APPEND_BOOL(b, "enabled", true) && BSON_APPEND_INT64(b, "created", now) &&
         BSON_APPEND_INT64(b, "modified", now);
    if (!ok) {
        bson_destroy(b);
        return NULL;
    }
    return b;
}

/* Inserts the n documents unordered; duplicates of a unique index are
 * skipped. Returns the number inserted or a PX_E* code. */
static int insert_idempotent(mongo_store_t *m, mongoc_collection_t *coll, bson_t **docs,
                             size_t n, const char *what)
{
    bson_t opts = BSON_INITIALIZER, reply;
    bson_error_t err;
    BSON_APPEND_BOOL(&opts, "ordered", false);
    bool ok = mongoc_collection_insert_many(coll, (const bson_t **)docs, n, &opts, &reply, &err);
    int64_t inserted = reply_count(&reply, "insertedCount");
    int rc;
    if (ok || (err.code == ERR_DUPLICATE_KEY && only_duplicates(&reply)))
        rc = inserted > INT_MAX ? INT_MAX : (int)inserted;
    else
        rc = fail(m, what, &err);
    bson_destroy(&reply);
    bson_destroy(&opts);
    return rc;
}

static int mongo_append_events(px_store_t *s, const px__store_event_t *ev, size_t n)
{
    mongo_store_t *m = mg(s);
    int64_t first, now = px__store_now();
    bson_t **docs = calloc(n, sizeof(*docs));
    int rc;
    if (docs == NULL)
        return nomem(m);
    if ((rc = take_ids(m, "pushievent", n, &first)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if ((docs[i] = event_doc(&ev[i], first + (int64_t)i, now)) == NULL) {
            px__store_set_error(s, "event %zu is too large for BSON", i);
            rc = PX_EINVAL;
            goto out;
        }
    }
    rc = insert_idempotent(m, m->event, docs, n, "cannot append events");
out:
    for (size_t i = 0; i < n; i++)
        bson_destroy(docs[i]);
    free(docs);
    return rc;
}

/* Builds the output event object of a pushievent document, or returns 1
 * (skip it) when it lacks what an event needs. */
static int event_from_doc(mongo_store_t *m, const bson_t *doc, json_t **out)
{
    px__store_event_t e = {0};
    bson_iter_t it, data;
    json_t *extra = NULL, *dumped = NULL;
    e.app_id = get_str(doc, "instance");
    e.channel = get_str(doc, "channel");
    e.mid = get_str(doc, "mid");
    e.owner_id = get_str(doc, "owner_id");
    e.name = "";
    e.data = "";
    if (bson_iter_init_find(&it, doc, "timestamp") && BSON_ITER_HOLDS_NUMBER(&it))
        e.timestamp = bson_iter_as_double(&it);
    if (e.app_id == NULL || e.channel == NULL || e.mid == NULL)
        return 1;
    if (bson_iter_init_find(&it, doc, "data") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &data)) {
        if ((extra = json_object()) == NULL)
            return nomem(m);
        while (bson_iter_next(&data)) {
            const char *k = bson_iter_key(&data);
            if (strcmp(k, "event") == 0 && BSON_ITER_HOLDS_UTF8(&data)) {
                e.name = bson_iter_utf8(&data, NULL);
            } else if (strcmp(k, "data") == 0) {
                if (BSON_ITER_HOLDS_UTF8(&data)) {
                    uint32_t len;
                    e.data = bson_iter_utf8(&data, &len);
                    e.data_len = len;
                } else if (dumped == NULL) {
                    /* Not a string (written by something else): serialise. */
                    json_t *v = to_json(&data);
                    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
                    json_decref(v);
                    if (text == NULL || (dumped = json_string(text)) == NULL) {
                        free(text);
                        json_decref(extra);
                        return nomem(m);
                    }
                    free(text);
                    e.data = json_string_value(dumped);
                    e.data_len = json_string_length(dumped);
                }
            } else if (!px__store_reserved_extra(k)) {
                json_t *v = to_json(&data);
                if (v == NULL || json_object_set_new(extra, k, v) < 0) {
                    json_decref(extra);
                    json_decref(dumped);
                    return nomem(m);
                }
            }
        }
        e.extra = extra;
    }
    *out = px__store_event_json(get_int(doc, "id"), &e);
    json_decref(extra);
    json_decref(dumped);
    return *out ? 0 : nomem(m);
}

static int collect_event_cb(mongo_store_t *m, const bson_t *doc, void *ctx)
{
    json_t *arr = ctx, *ev = NULL;
    int rc = event_from_doc(m, doc, &ev);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    return json_array_append_new(arr, ev) < 0 ? nomem(m) : 0;
}

static int mongo_latest_events(px_store_t *s, const char *app_id, const char *channel,
                               size_t skip, size_t count, json_t **out_array)
{
    mongo_store_t *m = mg(s);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    json_t *arr = json_array();
    if (arr == NULL)
        return nomem(m);
    BSON_APPEND_UTF8(&filter, "instance", app_id);
    if (channel != NULL)
        BSON_APPEND_UTF8(&filter, "channel", channel);
    find_opts(&opts, "id", -1, skip, count);
    int rc = each(m, m->event, &filter, &opts, "cannot read events", collect_event_cb, arr);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out_array = arr;
    return 0;
}

/* Appends {key: {$in: [the n strings]}} to b. */
static bool append_in(bson_t *b, const char *key, const char *const *v, size_t n)
{
    bson_t in, arr;
    char buf[16];
    const char *k;
    bool ok = BSON_APPEND_DOCUMENT_BEGIN(b, key, &in) && BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
    for (size_t i = 0; ok && i < n; i++) {
        bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
        ok = bson_append_utf8(&arr, k, -1, v[i], -1);
    }
    ok = bson_append_array_end(&in, &arr) && ok;
    return bson_append_document_end(b, &in) && ok;
}

/* A chunk of doomed events: their _ids and mids (copies). */
typedef struct {
    bson_value_t ids[CHUNK];
    char *mids[CHUNK];
    size_t n, nmid;
} doomed_t;

static int doomed_cb(mongo_store_t *m, const bson_t *doc, void *ctx)
{
    doomed_t *d = ctx;
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, "_id"))
        return 0;
    bson_value_copy(bson_iter_value(&it), &d->ids[d->n++]);
    const char *mid = get_str(doc, "mid");
    if (mid != NULL) {
        if ((d->mids[d->nmid] = strdup(mid)) == NULL)
            return nomem(m);
        d->nmid++;
    }
    return 0;
}

/* Deletes the events of app_id matching filter, CHUNK at a time, with
 * their associations. Adds the number deleted to *total. */
static int delete_events(mongo_store_t *m, const char *app_id, const bson_t *filter,
                         int64_t *total)
{
    doomed_t *d = calloc(1, sizeof(*d));
    int rc = 0;
    if (d == NULL)
        return nomem(m);
    for (;;) {
        bson_t opts = BSON_INITIALIZER, proj, reply, ev = BSON_INITIALIZER,
               as = BSON_INITIALIZER, in, arr;
        bson_error_t err;
        BSON_APPEND_INT64(&opts, "limit", CHUNK);
        BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
        BSON_APPEND_INT32(&proj, "mid", 1);
        bson_append_document_end(&opts, &proj);
        d->n = d->nmid = 0;
        rc = each(m, m->event, filter, &opts, "cannot prune events", doomed_cb, d);
        bson_destroy(&opts);
        if (rc == 0 && d->n > 0) {
            /* Associations first: if deleting the events then fails, a
             * retry finds them again. */
            BSON_APPEND_UTF8(&as, "instance", app_id);
            if (!append_in(&as, "mid", (const char *const *)d->mids, d->nmid)) {
                rc = too_big(m, "cannot prune events");
            } else if (d->nmid > 0 &&
                       !mongoc_collection_delete_many(m->assoc, &as, NULL, NULL, &err)) {
                rc = fail(m, "cannot prune events", &err);
            }
            if (rc == 0) {
                char buf[16];
                const char *k;
                BSON_APPEND_DOCUMENT_BEGIN(&ev, "_id", &in);
                BSON_APPEND_ARRAY_BEGIN(&in, "$in", &arr);
                for (size_t i = 0; i < d->n; i++) {
                    bson_uint32_to_string((uint32_t)i, &k, buf, sizeof buf);
                    BSON_APPEND_VALUE(&arr, k, &d->ids[i]);
                }
                bson_append_array_end(&in, &arr);
                bson_append_document_end(&ev, &in);
                if (!mongoc_collection_delete_many(m->event, &ev, NULL, &reply, &err)) {
                    rc = fail(m, "cannot prune events", &err);
                } else {
                    int64_t deleted = reply_count(&reply, "deletedCount");
                    *total += deleted;
                    if (deleted == 0)
                        rc = 1; /* nothing moves: stop rather than loop */
                }
                bson_destroy(&reply);
            }
        }
        bson_destroy(&ev);
        bson_destroy(&as);
        for (size_t i = 0; i < d->n; i++)
            bson_value_destroy(&d->ids[i]);
        for (size_t i = 0; i < d->nmid; i++)
            free(d->mids[i]);
        if (rc != 0 || d->n < CHUNK)
            break;
    }
    free(d);
    return rc < 0 ? rc : 0;
}

/* Collects the distinct channels of app_id's events into a new array. */
static int app_channels(mongo_store_t *m, const char *app_id, json_t **out)
{
    bson_t cmd = BSON_INITIALIZER, q, reply;
    bson_error_t err;
    bson_iter_t it, vals;
    json_t *arr = json_array();
    int rc = 0;
    if (arr == NULL)
        return nomem(m);
    BSON_APPEND_UTF8(&cmd, "distinct", "pushievent");
    BSON_APPEND_UTF8(&cmd, "key", "channel");
    BSON_APPEND_DOCUMENT_BEGIN(&cmd, "query", &q);
    BSON_APPEND_UTF8(&q, "instance", app_id);
    bson_append_document_end(&cmd, &q);
    if (!mongoc_collection_read_command_with_opts(m->event, &cmd, NULL, NULL, &reply, &err)) {
        rc = fail(m, "cannot prune events", &err);
    } else if (bson_iter_init_find(&it, &reply, "values") && BSON_ITER_HOLDS_ARRAY(&it) &&
               bson_iter_recurse(&it, &vals)) {
        while (rc == 0 && bson_iter_next(&vals)) {
            uint32_t n;
            if (!BSON_ITER_HOLDS_UTF8(&vals))
                continue;
            const char *ch = bson_iter_utf8(&vals, &n);
            if (json_array_append_new(arr, json_stringn(ch, n)) < 0)
                rc = nomem(m);
        }
    }
    bson_destroy(&reply);
    bson_destroy(&cmd);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out = arr;
    return 0;
}

static int cutoff_cb(mongo_store_t *m, const bson_t *doc, void *ctx)
{
    (void)m;
    *(int64_t *)ctx = get_int(doc, "id");
    return 1;
}

/* Deletes the events of channel beyond its keep newest. */
static int prune_channel(mongo_store_t *m, const char *app_id, const char *channel, size_t keep,
                         int64_t *total)
{
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, proj, lte;
    int64_t cutoff = INT64_MIN;
    BSON_APPEND_UTF8(&filter, "instance", app_id);
    BSON_APPEND_UTF8(&filter, "channel", channel);
    /* The id of the newest event to delete: skip the keep newest. */
    find_opts(&opts, "id", -1, keep, 1);
    BSON_APPEND_DOCUMENT_BEGIN(&opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, "id", 1);
    bson_append_document_end(&opts, &proj);
    int rc = each(m, m->event, &filter, &opts, "cannot prune events", cutoff_cb, &cutoff);
    if (rc == 0 && cutoff != INT64_MIN) {
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "id", &lte);
        BSON_APPEND_INT64(&lte, "$lte", cutoff);
        bson_append_document_end(&filter, &lte);
        rc = delete_events(m, app_id, &filter, total);
    }
    bson_destroy(&filter);
    bson_destroy(&opts);
    return rc;
}

static int mongo_prune_events(px_store_t *s, const char *app_id, const char *channel,
                              size_t keep_count, double max_age, double now)
{
    mongo_store_t *m = mg(s);
    int64_t total = 0;
    int rc = 0;
    if (max_age < INFINITY) {
        bson_t filter = BSON_INITIALIZER, lt;
        BSON_APPEND_UTF8(&filter, "instance", app_id);
        if (channel)
            BSON_APPEND_UTF8(&filter, "channel", channel);
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "timestamp", &lt);
        BSON_APPEND_DOUBLE(&lt, "$lt", now - max_age);
        bson_append_document_end(&filter, &lt);
        rc = delete_events(m, app_id, &filter, &total);
        bson_destroy(&filter);
    }
    if (rc == 0 && keep_count != PX_STORE_KEEP_ALL) {
        if (channel) {
            rc = prune_channel(m, app_id, channel, keep_count, &total);
        } else {
            json_t *channels = NULL;
            rc = app_channels(m, app_id, &channels);
            for (size_t i = 0; rc == 0 && i < json_array_size(channels); i++)
                rc = prune_channel(m, app_id, json_string_value(json_array_get(channels, i)),
                                   keep_count, &total);
            json_decref(channels);
        }
    }
    if (rc < 0)
        return rc;
    return total > INT_MAX ? INT_MAX : (int)total;
}

/* ---- subscriptions ---------------------------------------------------- */

static void sub_filter(bson_t *b, const char *app_id, const char *user_id, const char *event)
{
    BSON_APPEND_UTF8(b, "instance", app_id);
    if (user_id)
        BSON_APPEND_UTF8(b, "user_id", user_id);
    if (event)
        BSON_APPEND_UTF8(b, "event", event);
}

static int exists_cb(mongo_store_t *m, const bson_t *doc, void *ctx)
{
    (void)m;
    (void)doc;
    *(int *)ctx = 1;
    return 1;
}

static int mongo_put_subscription(px_store_t *s, const char *app_id, const char *user_id,
                                  const char *event)
{
    mongo_store_t *m = mg(s);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, *doc = NULL;
    bson_error_t err;
    int found = 0;
    int64_t id, now = px__store_now();
    sub_filter(&filter, app_id, user_id, event);
    BSON_APPEND_INT64(&opts, "limit", 1);
    int rc = each(m, m->sub, &filter, &opts, "cannot save subscription", exists_cb, &found);
    if (rc < 0 || found)
        goto out;
    if ((rc = take_ids(m, "subscription", 1, &id)) < 0)
        goto out;
    doc = bson_new();
    BSON_APPEND_INT64(doc, "id", id);
    sub_filter(doc, app_id, user_id, event);
    BSON_APPEND_BOOL(doc, "enabled", true);
    BSON_APPEND_INT64(doc, "created", now);
    BSON_APPEND_INT64(doc, "modified", now);
    if (mongoc_collection_insert_one(m->sub, doc, NULL, NULL, &err))
        rc = 1;
    else if (err.code == ERR_DUPLICATE_KEY)
        rc = 0; /* another writer got there first */
    else
        rc = fail(m, "cannot save subscription", &err);
out:
    bson_destroy(doc);
    bson_destroy(&filter);
    bson_destroy(&opts);
    return rc;
}

static int mongo_delete_subscription(px_store_t *s, const char *app_id, const char *user_id,
                                     const char *event)
{
    mongo_store_t *m = mg(s);
    bson_t filter = BSON_INITIALIZER, reply;
    bson_error_t err;
    sub_filter(&filter, app_id, user_id, event);
    bool ok = mongoc_collection_delete_many(m->sub, &filter, NULL, &reply, &err);
    int rc = ok ? reply_count(&reply, "deletedCount") > 0
                : fail(m, "cannot delete subscription", &err);
    bson_destroy(&reply);
    bson_destroy(&filter);
    return rc;
}

static int list_sub_cb(mongo_store_t *m, const bson_t *doc, void *ctx)
{
    const char *a = get_str(doc, "instance"), *u = get_str(doc, "user_id"),
               *e = get_str(doc, "event");
    if (a == NULL || u == NULL || e == NULL)
        return 0;
    json_t *sub = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)get_int(doc, "id"),
                            "app_id", a, "user_id", u, "event", e);
    return sub == NULL || json_array_append_new(ctx, sub) < 0 ? nomem(m) : 0;
}

static int mongo_list_subscriptions(px_store_t *s, const char *app_id, const char *user_id,
                                    const char *event, json_t **out_array)
{
    mongo_store_t *m = mg(s);
    bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER;
    json_t *arr = json_array();
    if (arr == NULL)
        return nomem(m);
    sub_filter(&filter, app_id, user_id, event);
    find_opts(&opts, "id", 1, 0, 0);
    int rc = each(m, m->sub, &filter, &opts, "cannot list subscriptions", list_sub_cb, arr);
    bson_destroy(&filter);
    bson_destroy(&opts);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out_array = arr;
    return 0;
}

/* ---- associations ----------------------------------------------------- */

static int mongo_add_associations(px_store_t *s, const char *app_id, const char *mid,
                                  const char *const *user_ids, size_t n)
{
    mongo_store_t *m = mg(s);
    int64_t first, now = px__store_now();
    bson_t **docs = calloc(n, sizeof(*docs));
    int rc;
    if (docs == NULL)
        return nomem(m);
    if ((rc = take_ids(m, "association", n, &first)) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        bson_t *b = docs[i] = bson_new();
        BSON_APPEND_INT64(b, "id", first + (int64_t)i);
        BSON_APPEND_UTF8(b, "instance", app_id);
        BSON_APPEND_UTF8(b, "user_id", user_ids[i]);
        BSON_APPEND_UTF8(b, "mid", mid);
        BSON_APPEND_BOOL(b, "enabled", true);
        BSON_APPEND_INT64(b, "created", now);
        BSON_APPEND_INT64(b, "modified", now);
    }
    rc = insert_idempotent(m, m->assoc, docs, n, "cannot add associations");
out:
    for (size_t i = 0; i < n; i++)
        bson_destroy(docs[i]);
    free(docs);
    return rc;
}

/* The inbox walk: associations newest first, CHUNK mids at a time, joined
 * with their events. */
typedef struct {
    char *mids[CHUNK];
    size_t n;
} mids_t;

static int mids_cb(mongo_store_t *m, const bson_t *doc, void *ctx)
{
    mids_t *c = ctx;
    const char *mid = get_str(doc, "mid");
    if (mid == NULL)
        return 0;
    if ((c->mids[c->n] = strdup(mid)) == NULL)
        return nomem(m);
    c->n++;
    return 0;
}

static int by_mid_cb(mongo_store_t *m, const bson_t *doc, void *ctx)
{
    json_t *ev = NULL;
    int rc = event_from_doc(m, doc, &ev);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    const char *mid = json_string_value(json_object_get(ev, "mid"));
    return json_object_set_new(ctx, mid, ev) < 0 ? nomem(m) : 0;
}

static int mongo_user_events(px_store_t *s, const char *app_id, const char *user_id,
                             size_t skip, size_t count, json_t **out_array)
{
    mongo_store_t *m = mg(s);
    mids_t *c = calloc(1, sizeof(*c));
    json_t *arr = json_array();
    size_t offset = 0; /* associations read so far */
    int rc = 0;
    if (c == NULL || arr == NULL) {
        free(c);
        json_decref(arr);
        return nomem(m);
    }
    while (rc == 0 && json_array_size(arr) < count) {
        /* Ask for what is still missing (at least 16, at most CHUNK): an
         * association whose event is gone makes us read further. */
        size_t want = skip + (count - json_array_size(arr));
        want = want < 16 ? 16 : want > CHUNK ? CHUNK : want;
        bson_t filter = BSON_INITIALIZER, opts = BSON_INITIALIZER, efilter = BSON_INITIALIZER;
        json_t *found = NULL;
        BSON_APPEND_UTF8(&filter, "instance", app_id);
        BSON_APPEND_UTF8(&filter, "user_id", user_id);
        find_opts(&opts, "id", -1, offset, want);
        c->n = 0;
        rc = each(m, m->assoc, &filter, &opts, "cannot read the inbox", mids_cb, c);
        if (rc == 0 && c->n > 0) {
            BSON_APPEND_UTF8(&efilter, "instance", app_id);
            if (!append_in(&efilter, "mid", (const char *const *)c->mids, c->n))
                rc = too_big(m, "cannot read the inbox");
            else if ((found = json_object()) == NULL)
                rc = nomem(m);
            else
                rc = each(m, m->event, &efilter, NULL, "cannot read the inbox", by_mid_cb,
                          found);
            for (size_t i = 0; rc == 0 && i < c->n && json_array_size(arr) < count; i++) {
                json_t *ev = json_object_get(found, c->mids[i]);
                if (ev == NULL)
                    continue; /* not stored (yet, or any more) */
                if (skip > 0)
                    skip--;
                else if (json_array_append(arr, ev) < 0)
                    rc = nomem(m);
            }
        }
        json_decref(found);
        bson_destroy(&filter);
        bson_destroy(&opts);
        bson_destroy(&efilter);
        size_t got = c->n;
        for (size_t i = 0; i < c->n; i++)
            free(c->mids[i]);
        offset += got;
        if (got < want)
            break; /* no more associations */
    }
    free(c);
    if (rc < 0) {
        json_decref(arr);
        return rc;
    }
    *out_array = arr;
    return 0;
}

const px_store_vtable_t px__store_mongo_vtable = {
    /* Also answers "mongodb+srv:"; the open function rebuilds the URL. */
    .scheme = "mongodb",
    .open = mongo_open,
    .list_apps = mongo_list_apps,
    .put_app = mongo_put_app,
    .delete_app = mongo_delete_app,
    .append_events = mongo_append_events,
    .latest_events = mongo_latest_events,
    .prune_events = mongo_prune_events,
    .put_subscription = mongo_put_subscription,
    .delete_subscription = mongo_delete_subscription,
    .list_subscriptions = mongo_list_subscriptions,
    .add_associations = mongo_add_associations,
    .user_events = mongo_user_events,
    .close = mongo_close,
};

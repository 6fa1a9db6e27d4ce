/* px_store.h - what pushi keeps across restarts, behind one interface:
 * apps, persisted events (channel history), subscriptions (the aliases of
 * personal channels) and associations (the offline inbox).
 *
 * A store is opened from a URL; the scheme picks the backend:
 *
 *   memory:                 in-process; the data lives as long as the store
 *                           object (two opens never share anything)
 *   sqlite:///abs/path.db   SQLite file at /abs/path.db
 *   sqlite:////abs/path.db  the same (extra leading slashes collapse)
 *   sqlite://rel/path.db    SQLite file relative to the process's cwd
 *   sqlite:///./rel.db      also relative ("/./" and "/../" starts are read
 *                           as relative paths, as pushi/store.py does)
 *   sqlite:///:memory:      private in-memory SQLite database
 *   mongodb://host[:port][,host...]/[db][?options]
 *                           MongoDB (or a MongoDB-wire server such as
 *                           FerretDB); the database is the URL's path, else
 *                           "pushi". Collections are named as the original
 *                           pushi named them (app, pushievent, subscription,
 *                           association, counters), so its data can be read.
 *                           Unless the URL sets them, connectTimeoutMS and
 *                           serverSelectionTimeoutMS are 5000 and
 *                           socketTimeoutMS 10000, so an outage makes calls
 *                           fail within seconds rather than hang.
 *
 * The interface speaks JSON documents (jansson) and never SQL or BSON:
 *
 *   app           the shape px_app_from_json() reads (see put_app).
 *   event         {"app_id": str, "channel": str, "name": str, "data": str,
 *                  "mid": str, "timestamp": number (seconds, float),
 *                  "owner_id": str or null (socket id of the sender; null
 *                  for REST triggers), "extra": object}
 *                 name is the event name ("event" on the wire); mid is the
 *                 unique message id (a UUID) and makes appending
 *                 idempotent; extra holds the envelope's other members (the
 *                 extra keys of a REST trigger). Stores drop, from extra,
 *                 the members "channel", "event", "data", "mid" and
 *                 "timestamp" and, at any depth, members whose names are
 *                 empty, start with '$' or hold a '.' (MongoDB refuses
 *                 them; every backend drops them alike). On input owner_id
 *                 and extra may be absent or null; on output both are
 *                 always present (extra may be {}), and "id" (an integer,
 *                 increasing in append order) is added.
 *   subscription  {"id": int, "app_id": str, "user_id": str, "event": str}
 *                 user_id's personal channel aliases the channel "event".
 *
 * Ordering: events are "newest first" by append order (the "id"), which the
 * engine makes the order of triggering; timestamps only decide retention.
 *
 * Every operation is synchronous and may block (disk, locks, network): the
 * engine calls them only off its loop thread. A store object is used by one
 * thread at a time; the caller serialises access (the Python binding holds a
 * lock per Store). It may move between threads between calls (a libuv
 * threadpool job); the MongoDB backend's driver client is single-threaded
 * and relies on that. Different store objects may be used on different
 * threads at once. The SQLite backend runs in WAL mode with a 5000 ms busy timeout,
 * so several processes (the server and `python -m pushi app create`) can
 * share one file.
 *
 * Errors: every fallible function returns 0 (or the documented non-negative
 * value) or a negative PX_E* code from px_err.h: PX_EINVAL (bad URL or app),
 * PX_EEXIST (key taken), PX_ENOMEM, PX_ESTORE (the backend failed: I/O,
 * locked database, corrupt row, unreachable server, ...). Add PX_E* codes
 * only if these do not cover a new case. After a failed operation
 * px_store_errmsg() explains it.
 *
 * Strings (ids, names) are NUL-terminated UTF-8, borrowed for the call, and
 * must be non-empty unless documented otherwise (PX_EINVAL; px_store.c
 * checks arguments before a backend sees them). skip and count are plain
 * numbers: callers bound them (count 0 returns nothing). */
#ifndef PX_STORE_H
#define PX_STORE_H

#include <jansson.h>

#include "px_common.h"

typedef struct px_store_s px_store_t;
typedef struct px_store_vtable_s px_store_vtable_t;
typedef struct px__store_event_s px__store_event_t; /* internal, see below */

/* Capacity of px_store_t.errmsg, including the NUL. */
#define PX_STORE_ERRMSG_SIZE 256

/* px_store_prune_events() without a count limit. */
#define PX_STORE_KEEP_ALL SIZE_MAX

/* One backend. The functions mirror the px_store_* dispatchers below and
 * share their contracts; a backend sets errmsg (px__store_set_error) before
 * returning an error. The dispatchers of the history, subscription and
 * inbox operations check the arguments first (non-empty strings, valid
 * events, max_age), answer count == 0 and n == 0 themselves, and clean event
 * extras, so backends need not. */
struct px_store_vtable_s {
    const char *scheme; /* URL prefix this backend answers, e.g. "sqlite:" */
    /* Opens a store from rest, the part of the URL after scheme. On failure
     * sets *why to static or thread-local text (see px_store_open). */
    int (*open)(const char *rest, px_store_t **out, const char **why);
    int (*list_apps)(px_store_t *s, json_t **out_array);
    int (*put_app)(px_store_t *s, const json_t *app);
    int (*delete_app)(px_store_t *s, const char *id);
    /* Gets the batch checked and taken apart (n >= 1). */
    int (*append_events)(px_store_t *s, const px__store_event_t *events, size_t n);
    int (*latest_events)(px_store_t *s, const char *app_id, const char *channel, size_t skip,
                         size_t count, json_t **out_array);
    int (*prune_events)(px_store_t *s, const char *app_id, const char *channel,
                        size_t keep_count, double max_age, double now);
    int (*put_subscription)(px_store_t *s, const char *app_id, const char *user_id,
                            const char *event);
    int (*delete_subscription)(px_store_t *s, const char *app_id, const char *user_id,
                               const char *event);
    int (*list_subscriptions)(px_store_t *s, const char *app_id, const char *user_id,
                              const char *event, json_t **out_array);
    int (*add_associations)(px_store_t *s, const char *app_id, const char *mid,
                            const char *const *user_ids, size_t n);
    int (*user_events)(px_store_t *s, const char *app_id, const char *user_id, size_t skip,
                       size_t count, json_t **out_array);
    void (*close)(px_store_t *s);
};

/* The part every backend shares; backends embed it as their first member and
 * reach their own struct with px_container_of(). */
struct px_store_s {
    const px_store_vtable_t *vt;
    char errmsg[PX_STORE_ERRMSG_SIZE]; /* last failure, "" after a success */
};

/* Opens the store named by url (see the top of this file). Returns 0 and an
 * owned store in *out (release it with px_store_close()), or:
 *   PX_EINVAL  unknown scheme or malformed URL,
 *   PX_ESTORE  the backend could not open it (missing directory, not a
 *              database, schema newer than this build, ...),
 *   PX_ENOMEM.
 * On failure *out is untouched and *why (if why is not NULL) points at a
 * message that is either static or thread-local, valid until the next
 * px_store_open() on the same thread: copy it if you keep it. May block. */
int px_store_open(const char *url, px_store_t **out, const char **why);

/* Returns the explanation of the last failed operation on s (owned by s,
 * valid until the next operation), or "" if the last one succeeded. */
static inline const char *px_store_errmsg(const px_store_t *s)
{
    return s->errmsg;
}

/* Sets *out_array to a new JSON array (owned by the caller) holding every
 * stored app as a JSON object, oldest first. Replacing an app keeps its
 * place. The objects are in normalised form: every setting present, "id" a
 * string (see px_app_to_json). Returns 0, PX_ENOMEM or PX_ESTORE. May block. */
static inline int px_store_list_apps(px_store_t *s, json_t **out_array)
{
    s->errmsg[0] = '\0';
    return s->vt->list_apps(s, out_array);
}

/* Inserts app, or replaces the stored app with the same "id". app is
 * borrowed; it is validated with px_app_from_json() and stored in normalised
 * form (unknown members are dropped). Returns 0, or:
 *   PX_EINVAL  app is not a valid app object (errmsg says why),
 *   PX_EEXIST  another app (a different id) already has this "key",
 *   PX_ENOMEM, PX_ESTORE.
 * Nothing changes on failure. May block. */
static inline int px_store_put_app(px_store_t *s, const json_t *app)
{
    s->errmsg[0] = '\0';
    return s->vt->put_app(s, app);
}

/* Deletes the app whose "id" is id (NUL-terminated, borrowed). Returns 1 if
 * it was deleted, 0 if there was none, or PX_ESTORE. May block. */
static inline int px_store_delete_app(px_store_t *s, const char *id)
{
    s->errmsg[0] = '\0';
    return s->vt->delete_app(s, id);
}

/* Events: history. */

/* Stores every event of the JSON array events (borrowed; each element an
 * event object, see the top of this file) in array order, as one batch.
 * An event whose mid is already stored for its app (an earlier attempt of
 * the same batch, or a duplicate inside it) is skipped, so a failed batch
 * can simply be appended again. Returns the number of events newly stored
 * (>= 0), or:
 *   PX_EINVAL  events is not an array of valid events (errmsg names the
 *              first bad one and why); nothing is stored,
 *   PX_ENOMEM, PX_ESTORE.
 * memory: and sqlite: store all or nothing; mongodb: may have stored part
 * of the batch when it fails (appending it again completes it). Events get
 * increasing ids in array order. May block. */
int px_store_append_events(px_store_t *s, const json_t *events);

/* Sets *out_array to a new JSON array (owned by the caller) of the events of
 * app_id on channel (every channel when channel is NULL), newest first,
 * leaving out the skip newest and holding at most count. Returns 0,
 * PX_EINVAL (empty app_id or channel), PX_ENOMEM or PX_ESTORE. May block. */
int px_store_latest_events(px_store_t *s, const char *app_id,
                           const char *channel, size_t skip, size_t count,
                           json_t **out_array);

/* Retention: deletes the events of app_id on channel (every channel of the
 * app when channel is NULL) that are older than max_age seconds (timestamp <
 * now - max_age) or not among the keep_count newest of their channel. Pass
 * PX_STORE_KEEP_ALL and INFINITY for no count or no age limit. now is Unix
 * time in seconds (the caller's clock, so tests can move it). Associations
 * of deleted events are deleted with them. Returns the number of events
 * deleted (>= 0, at most INT_MAX reported), PX_EINVAL (empty app_id or
 * channel, max_age NaN or negative), PX_ENOMEM or PX_ESTORE. May block; a
 * large backlog takes a while, so call it from a maintenance job. */
int px_store_prune_events(px_store_t *s, const char *app_id,
                          const char *channel, size_t keep_count,
                          double max_age, double now);

/* Subscriptions: personal channel aliases. */

/* Records that user_id's personal channel aliases the channel event, in
 * app_id. Returns 1 if the subscription was created, 0 if it already
 * existed (nothing changes), PX_EINVAL, PX_ENOMEM or PX_ESTORE. May block. */
int px_store_put_subscription(px_store_t *s, const char *app_id,
                              const char *user_id, const char *event);

/* Deletes the subscription (app_id, user_id, event). Its associations stay
 * (the inbox keeps what was delivered). Returns 1 if it was deleted, 0 if
 * there was none, PX_EINVAL, PX_ENOMEM or PX_ESTORE. May block. */
int px_store_delete_subscription(px_store_t *s, const char *app_id,
                                 const char *user_id, const char *event);

/* Sets *out_array to a new JSON array (owned by the caller) of the
 * subscription objects of app_id, oldest first, restricted to user_id
 * and/or event when they are not NULL (the engine's two look-ups: a user's
 * aliases, and the users aliasing a channel). Returns 0, PX_EINVAL,
 * PX_ENOMEM or PX_ESTORE. May block. */
int px_store_list_subscriptions(px_store_t *s, const char *app_id,
                                const char *user_id, const char *event,
                                json_t **out_array);

/* Associations: the offline inbox. */

/* Links the event mid of app_id to each of the n users in user_ids (an array
 * of n borrowed strings; n may be 0). Links that exist already are skipped,
 * so retrying is safe. The event need not be stored yet: links to an event
 * that is not stored are invisible to px_store_user_events(). Returns the
 * number of links newly made (>= 0), PX_EINVAL (nothing is linked then),
 * PX_ENOMEM or PX_ESTORE. mongodb: may have made part of the links when it
 * fails. May block. */
int px_store_add_associations(px_store_t *s, const char *app_id,
                              const char *mid, const char *const *user_ids,
                              size_t n);

/* Sets *out_array to a new JSON array (owned by the caller) of the stored
 * events linked to user_id in app_id (event objects, see the top of this
 * file), newest link first, leaving out the skip newest and holding at most
 * count. Returns 0, PX_EINVAL, PX_ENOMEM or PX_ESTORE. May block. */
int px_store_user_events(px_store_t *s, const char *app_id,
                         const char *user_id, size_t skip, size_t count,
                         json_t **out_array);

/* Closes s and frees it. A memory store's data is gone afterwards. NULL is
 * a no-op. May block (SQLite checkpoints the WAL on the last close). */
static inline void px_store_close(px_store_t *s)
{
    if (s != NULL)
        s->vt->close(s);
}

/* Internal, shared by px_store*.c only. */

/* Formats a message into s->errmsg (truncated to fit). */
void px__store_set_error(px_store_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Formats a message into the calling thread's open-error buffer and returns
 * it, for backends' open() to hand out as *why. */
const char *px__store_open_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Validates app and returns its normalised JSON object (owned) in *out.
 * Returns 0, PX_EINVAL (errmsg of s set) or PX_ENOMEM. */
int px__store_normalise_app(px_store_t *s, const json_t *app, json_t **out);

/* One event of an append_events batch, checked and taken apart. */
struct px__store_event_s {
    /* Borrowed from the caller's event, except extra: a cleaned copy owned
     * by px_store_append_events() (no reserved or unstorable members). */
    const char *app_id, *channel, *name, *mid;
    const char *data;    /* may hold NUL bytes: use data_len */
    size_t data_len;
    const char *owner_id; /* NULL for none */
    double timestamp;
    const json_t *extra;  /* non-empty object, or NULL */
};

/* Returns 0 when v is a non-empty string; otherwise sets errmsg to "<what>
 * must be a non-empty string" and returns PX_EINVAL. */
int px__store_need(px_store_t *s, const char *v, const char *what);

/* Returns 1 when the member name k is reserved (may not be an extra member
 * of an event): "channel", "event", "data", "mid" or "timestamp". */
int px__store_reserved_extra(const char *k);

/* Returns 1 when an object member called k can be stored by every backend:
 * not empty, not starting with '$', without '.' (MongoDB's rules). */
int px__store_storable_key(const char *k);

/* Returns a new event object for output (owned, or NULL on out of memory)
 * from its parts: the members the top of this file lists, "id" included.
 * e->extra may be NULL; its reserved members are left out. */
json_t *px__store_event_json(int64_t id, const px__store_event_t *e);


/* The current Unix time in whole seconds. */
int64_t px__store_now(void);

extern const px_store_vtable_t px__store_memory_vtable;
extern const px_store_vtable_t px__store_sqlite_vtable;
extern const px_store_vtable_t px__store_mongo_vtable;

#endif

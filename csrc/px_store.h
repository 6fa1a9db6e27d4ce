/* px_store.h - where apps are kept across restarts, behind one interface.
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
 *
 * The interface speaks JSON app objects (the shape px_app_from_json() reads)
 * and never SQL, so other backends (MongoDB) can join by adding a vtable.
 *
 * Every operation is synchronous and may block (disk, locks, network): the
 * engine calls them only off its loop thread. A store object is used by one
 * thread at a time; the caller serialises access (the Python binding holds a
 * lock per Store). Different store objects may be used on different threads
 * at once. The SQLite backend runs in WAL mode with a 5000 ms busy timeout,
 * so several processes (the server and `python -m pushi app create`) can
 * share one file.
 *
 * Errors: every fallible function returns 0 (or the documented non-negative
 * value) or a negative PX_E* code from px_err.h: PX_EINVAL (bad URL or app),
 * PX_EEXIST (key taken), PX_ENOMEM, PX_ESTORE (the backend failed: I/O,
 * locked database, corrupt row, ...). Add PX_E* codes only if these do not
 * cover a new case. After a failed operation px_store_errmsg() explains it. */
#ifndef PX_STORE_H
#define PX_STORE_H

#include <jansson.h>

#include "px_common.h"

typedef struct px_store_s px_store_t;
typedef struct px_store_vtable_s px_store_vtable_t;

/* Capacity of px_store_t.errmsg, including the NUL. */
#define PX_STORE_ERRMSG_SIZE 256

/* One backend. The functions mirror the px_store_* dispatchers below and
 * share their contracts; a backend sets errmsg (px__store_set_error) before
 * returning an error. */
struct px_store_vtable_s {
    const char *scheme; /* URL prefix this backend answers, e.g. "sqlite:" */
    /* Opens a store from rest, the part of the URL after scheme. On failure
     * sets *why to static or thread-local text (see px_store_open). */
    int (*open)(const char *rest, px_store_t **out, const char **why);
    int (*list_apps)(px_store_t *s, json_t **out_array);
    int (*put_app)(px_store_t *s, const json_t *app);
    int (*delete_app)(px_store_t *s, const char *id);
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

/* Closes s and frees it. A memory store's apps are gone afterwards. NULL is
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

extern const px_store_vtable_t px__store_memory_vtable;
extern const px_store_vtable_t px__store_sqlite_vtable;

#endif

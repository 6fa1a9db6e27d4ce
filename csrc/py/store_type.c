/* store_type.c - pushi._core.Store (see store_type.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../px_err.h"
#include "../px_store.h"
#include "store_type.h"

typedef struct {
    PyObject_HEAD
    px_store_t *store;       /* owned; NULL before __init__ and after close() */
    PyThread_type_lock lock; /* held by the thread using store */
    PyObject *url;           /* str given to __init__, or NULL */
} StoreObject;

/* json.dumps, json.loads and {"allow_nan": False}, imported at registration. */
static PyObject *py_json_dumps;
static PyObject *py_json_loads;
static PyObject *dumps_kwargs;

static json_t *py_to_json(PyObject *obj, const char *what, size_t flags);
static PyObject *json_text_to_py(char *text);

/* Raises the exception for a PX_E* code; msg (may be NULL or "") explains
 * it. Returns NULL. */
static PyObject *raise_px(int rc, const char *msg)
{
    int has_msg = msg != NULL && *msg != '\0';
    if (rc == PX_ENOMEM)
        return PyErr_NoMemory();
    if (rc == PX_EINVAL)
        PyErr_SetString(PyExc_ValueError, has_msg ? msg : px_strerror(rc));
    else if (has_msg)
        PyErr_Format(PyExc_RuntimeError, "%s: %s", px_strerror(rc), msg);
    else
        PyErr_SetString(PyExc_RuntimeError, px_strerror(rc));
    return NULL;
}

/* Takes self->lock. The holder may be waiting for the GIL to come back from
 * a store call, so wait for the lock with the GIL released. */
static void lock(StoreObject *self)
{
    if (!PyThread_acquire_lock(self->lock, NOWAIT_LOCK)) {
        Py_BEGIN_ALLOW_THREADS
        PyThread_acquire_lock(self->lock, WAIT_LOCK);
        Py_END_ALLOW_THREADS
    }
}

/* Takes self->lock and checks the store is open. Returns 0 with the lock
 * held, or -1 with ValueError set and the lock not held. */
static int acquire(StoreObject *self)
{
    lock(self);
    if (self->store == NULL) {
        PyThread_release_lock(self->lock);
        PyErr_SetString(PyExc_ValueError, "the store is closed");
        return -1;
    }
    return 0;
}

static void release(StoreObject *self)
{
    PyThread_release_lock(self->lock);
}

static PyObject *Store_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    StoreObject *self = (StoreObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->lock = PyThread_allocate_lock();
    if (self->lock == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    return (PyObject *)self;
}

static int Store_init(PyObject *op, PyObject *args, PyObject *kwds)
{
    StoreObject *self = (StoreObject *)op;
    static char *kwlist[] = {"url", NULL};
    PyObject *url;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "U:Store", kwlist, &url))
        return -1;
    Py_ssize_t n;
    const char *curl = PyUnicode_AsUTF8AndSize(url, &n);
    if (curl == NULL)
        return -1;
    if ((size_t)n != strlen(curl)) {
        PyErr_SetString(PyExc_ValueError, "store URL contains a NUL character");
        return -1;
    }
    px_store_t *store = NULL;
    const char *why = NULL;
    int rc;
    /* url is kept alive by args, so curl stays valid without the GIL. why is
     * static or thread-local to this thread: read it before anything else
     * opens a store here. */
    Py_BEGIN_ALLOW_THREADS
    rc = px_store_open(curl, &store, &why);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        raise_px(rc, why);
        return -1;
    }
    /* __init__ called again on a live object: replace the old store. */
    lock(self);
    px_store_t *old = self->store;
    self->store = store;
    release(self);
    Py_INCREF(url);
    Py_XSETREF(self->url, url);
    if (old != NULL) {
        Py_BEGIN_ALLOW_THREADS
        px_store_close(old);
        Py_END_ALLOW_THREADS
    }
    return 0;
}

static void Store_dealloc(PyObject *op)
{
    StoreObject *self = (StoreObject *)op;
    /* No other thread can be inside a method: each holds a reference. */
    px_store_close(self->store);
    if (self->lock != NULL)
        PyThread_free_lock(self->lock);
    Py_XDECREF(self->url);
    Py_TYPE(op)->tp_free(op);
}

static PyObject *Store_repr(PyObject *op)
{
    StoreObject *self = (StoreObject *)op;
    lock(self);
    int closed = self->store == NULL;
    release(self);
    return PyUnicode_FromFormat("<pushi._core.Store %R%s>", self->url ? self->url : Py_None,
                                closed ? " (closed)" : "");
}

PyDoc_STRVAR(list_apps_doc,
             "list_apps() -> list[dict]\n\n"
             "Every stored app as a dict with all settings present, oldest first.");

static PyObject *Store_list_apps(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    StoreObject *self = (StoreObject *)op;
    char msg[PX_STORE_ERRMSG_SIZE] = "";
    json_t *arr = NULL;
    char *text = NULL;
    int rc;
    if (acquire(self) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = px_store_list_apps(self->store, &arr);
    if (rc < 0) {
        snprintf(msg, sizeof msg, "%s", px_store_errmsg(self->store));
    } else {
        text = json_dumps(arr, JSON_COMPACT);
        json_decref(arr);
        if (text == NULL)
            rc = PX_ENOMEM;
    }
    Py_END_ALLOW_THREADS
    release(self);
    if (rc < 0)
        return raise_px(rc, msg);
    return json_text_to_py(text);
}

PyDoc_STRVAR(put_app_doc,
             "put_app(app: dict) -> None\n\n"
             "Inserts app, or replaces the stored app with the same \"id\". Raises\n"
             "ValueError when app is not a valid app, RuntimeError when another app\n"
             "already has its \"key\" or the store fails.");

/* Converts obj (a dict or list of JSON-able values) into a new jansson value
 * through json.dumps, so Python's own rules decide what is JSON; flags go to
 * json_loadb. Returns it (owned), or NULL with an exception set; what names
 * obj in messages. */
static json_t *py_to_json(PyObject *obj, const char *what, size_t flags)
{
    PyObject *args = PyTuple_Pack(1, obj);
    if (args == NULL)
        return NULL;
    PyObject *str = PyObject_Call(py_json_dumps, args, dumps_kwargs);
    Py_DECREF(args);
    if (str == NULL)
        return NULL;
    Py_ssize_t n;
    const char *utf8 = PyUnicode_Check(str) ? PyUnicode_AsUTF8AndSize(str, &n) : NULL;
    if (utf8 == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "json.dumps did not return a str");
        Py_DECREF(str);
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(utf8, (size_t)n, flags, &jerr);
    Py_DECREF(str);
    if (doc == NULL)
        PyErr_Format(PyExc_ValueError, "%s cannot be stored as JSON: %s", what, jerr.text);
    return doc;
}

/* Turns JSON text made by the store side (owned; freed here) into Python
 * objects with json.loads. */
static PyObject *json_text_to_py(char *text)
{
    PyObject *str = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "strict");
    free(text);
    if (str == NULL)
        return NULL;
    PyObject *res = PyObject_CallFunctionObjArgs(py_json_loads, str, NULL);
    Py_DECREF(str);
    return res;
}

static PyObject *Store_put_app(PyObject *op, PyObject *app)
{
    StoreObject *self = (StoreObject *)op;
    char msg[PX_STORE_ERRMSG_SIZE] = "";
    if (!PyDict_Check(app)) {
        PyErr_Format(PyExc_TypeError, "app must be a dict, not %.100s", Py_TYPE(app)->tp_name);
        return NULL;
    }
    json_t *doc = py_to_json(app, "app", 0);
    if (doc == NULL)
        return NULL;
    int rc;
    if (acquire(self) < 0) {
        json_decref(doc);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = px_store_put_app(self->store, doc);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", px_store_errmsg(self->store));
    Py_END_ALLOW_THREADS
    release(self);
    json_decref(doc);
    if (rc < 0)
        return raise_px(rc, msg);
    Py_RETURN_NONE;
}

PyDoc_STRVAR(delete_app_doc,
             "delete_app(id: str) -> bool\n\n"
             "Deletes the app with this id; True if there was one.");

static PyObject *Store_delete_app(PyObject *op, PyObject *arg)
{
    StoreObject *self = (StoreObject *)op;
    char msg[PX_STORE_ERRMSG_SIZE] = "";
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "id must be a str, not %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    Py_ssize_t n;
    const char *id = PyUnicode_AsUTF8AndSize(arg, &n);
    if (id == NULL)
        return NULL;
    if ((size_t)n != strlen(id)) {
        PyErr_SetString(PyExc_ValueError, "app id contains a NUL character");
        return NULL;
    }
    int rc;
    if (acquire(self) < 0)
        return NULL;
    Py_BEGIN_ALLOW_THREADS
    rc = px_store_delete_app(self->store, id);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", px_store_errmsg(self->store));
    Py_END_ALLOW_THREADS
    release(self);
    if (rc < 0)
        return raise_px(rc, msg);
    return PyBool_FromLong(rc > 0);
}

/* ---- history, subscriptions and the inbox ---------------------------- */

typedef enum {
    OP_APPEND_EVENTS,
    OP_LATEST_EVENTS,
    OP_PRUNE_EVENTS,
    OP_PUT_SUBSCRIPTION,
    OP_DELETE_SUBSCRIPTION,
    OP_LIST_SUBSCRIPTIONS,
    OP_ADD_ASSOCIATIONS,
    OP_USER_EVENTS,
} op_kind_t;

/* One store call, prepared with the GIL and run without it. The strings are
 * borrowed from Python objects the caller keeps alive. */
typedef struct {
    op_kind_t kind;
    const char *app_id, *channel, *user_id, *event, *mid;
    size_t skip, count, keep;
    double max_age, now;
    const char **users; /* n of them */
    size_t n;
    json_t *in;         /* owned input (append_events) */
} op_t;

/* Runs op on the store. Returns the store's result; list results come back
 * as JSON text in *text (owned). No GIL needed. */
static int op_run(px_store_t *st, op_t *op, char **text)
{
    json_t *out = NULL;
    int rc;
    switch (op->kind) {
    case OP_APPEND_EVENTS:
        return px_store_append_events(st, op->in);
    case OP_PRUNE_EVENTS:
        return px_store_prune_events(st, op->app_id, op->channel, op->keep, op->max_age,
                                     op->now);
    case OP_PUT_SUBSCRIPTION:
        return px_store_put_subscription(st, op->app_id, op->user_id, op->event);
    case OP_DELETE_SUBSCRIPTION:
        return px_store_delete_subscription(st, op->app_id, op->user_id, op->event);
    case OP_ADD_ASSOCIATIONS:
        return px_store_add_associations(st, op->app_id, op->mid,
                                         (const char *const *)op->users, op->n);
    case OP_LATEST_EVENTS:
        rc = px_store_latest_events(st, op->app_id, op->channel, op->skip, op->count, &out);
        break;
    case OP_LIST_SUBSCRIPTIONS:
        rc = px_store_list_subscriptions(st, op->app_id, op->user_id, op->event, &out);
        break;
    case OP_USER_EVENTS:
        rc = px_store_user_events(st, op->app_id, op->user_id, op->skip, op->count, &out);
        break;
    default:
        return PX_EINVAL;
    }
    if (rc < 0)
        return rc;
    *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return *text ? 0 : PX_ENOMEM;
}

/* Runs op with the store's lock held and the GIL released. Returns the
 * parsed list for list results, else the int result as a Python int, or
 * NULL with an exception set. Frees op->in. */
static PyObject *op_perform(StoreObject *self, op_t *op)
{
    char msg[PX_STORE_ERRMSG_SIZE] = "";
    char *text = NULL;
    int rc;
    if (acquire(self) < 0) {
        json_decref(op->in);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    rc = op_run(self->store, op, &text);
    if (rc < 0)
        snprintf(msg, sizeof msg, "%s", px_store_errmsg(self->store));
    Py_END_ALLOW_THREADS
    release(self);
    json_decref(op->in);
    if (rc < 0) {
        free(text);
        return raise_px(rc, msg);
    }
    if (text != NULL)
        return json_text_to_py(text);
    return PyLong_FromLong(rc);
}

/* Converts a non-negative Python int or None (-> dflt) into *out. Returns
 * 0, or -1 with an exception set. */
static int size_arg(PyObject *obj, const char *name, size_t dflt, size_t *out)
{
    if (obj == NULL || obj == Py_None) {
        *out = dflt;
        return 0;
    }
    if (!PyLong_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int or None, not %.100s", name,
                     Py_TYPE(obj)->tp_name);
        return -1;
    }
    PyObject *zero = PyLong_FromLong(0);
    if (zero == NULL)
        return -1;
    int neg = PyObject_RichCompareBool(obj, zero, Py_LT);
    Py_DECREF(zero);
    if (neg != 0) {
        if (neg > 0)
            PyErr_Format(PyExc_ValueError, "%s must not be negative", name);
        return -1;
    }
    size_t v = PyLong_AsSize_t(obj);
    if (v == (size_t)-1 && PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_OverflowError))
            return -1;
        PyErr_Clear();
        v = SIZE_MAX; /* larger than anything: no limit */
    }
    *out = v;
    return 0;
}

/* Parses the skip and count arguments (ints >= 0). */
static int skip_count(Py_ssize_t skip, Py_ssize_t count, op_t *op)
{
    if (skip < 0 || count < 0) {
        PyErr_SetString(PyExc_ValueError, "skip and count must not be negative");
        return -1;
    }
    op->skip = (size_t)skip;
    op->count = (size_t)count;
    return 0;
}

PyDoc_STRVAR(append_events_doc,
             "append_events(events: list[dict]) -> int\n\n"
             "Stores a batch of events, each {\"app_id\", \"channel\", \"name\", \"data\"\n"
             "(str), \"mid\", \"timestamp\" (float seconds), optional \"owner_id\" (str\n"
             "or None) and \"extra\" (dict)}. Events whose mid is stored already are\n"
             "skipped, so a failed batch can be appended again. Returns how many\n"
             "were newly stored. ValueError for an invalid event (nothing stored).");

static PyObject *Store_append_events(PyObject *op, PyObject *events)
{
    if (!PyList_Check(events) && !PyTuple_Check(events)) {
        PyErr_Format(PyExc_TypeError, "events must be a list, not %.100s",
                     Py_TYPE(events)->tp_name);
        return NULL;
    }
    op_t o = {.kind = OP_APPEND_EVENTS};
    /* Event data may hold NUL characters (the store keeps its length). */
    if ((o.in = py_to_json(events, "events", JSON_ALLOW_NUL)) == NULL)
        return NULL;
    return op_perform((StoreObject *)op, &o);
}

PyDoc_STRVAR(latest_events_doc,
             "latest_events(app_id: str, channel: str, skip: int = 0, count: int = 10)\n"
             "    -> list[dict]\n\n"
             "The channel's stored events, newest first, after leaving out the skip\n"
             "newest; at most count. Each event dict has \"id\" (int, append order),\n"
             "\"app_id\", \"channel\", \"name\", \"data\", \"mid\", \"timestamp\",\n"
             "\"owner_id\" (str or None) and \"extra\" (dict).");

static PyObject *Store_latest_events(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"app_id", "channel", "skip", "count", NULL};
    op_t o = {.kind = OP_LATEST_EVENTS};
    Py_ssize_t skip = 0, count = 10;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "ss|nn:latest_events", kwlist, &o.app_id,
                                     &o.channel, &skip, &count) ||
        skip_count(skip, count, &o) < 0)
        return NULL;
    return op_perform((StoreObject *)op, &o);
}

PyDoc_STRVAR(prune_events_doc,
             "prune_events(app_id: str, channel: str | None = None,\n"
             "             keep_count: int | None = None, max_age: float | None = None,\n"
             "             now: float | None = None) -> int\n\n"
             "Retention: deletes the app's events (on channel, or on every channel)\n"
             "older than max_age seconds before now (default: time.time()) or beyond\n"
             "the keep_count newest of their channel; None means no such limit.\n"
             "Their inbox links go with them. Returns how many events were deleted.");

static PyObject *Store_prune_events(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"app_id", "channel", "keep_count", "max_age", "now", NULL};
    op_t o = {.kind = OP_PRUNE_EVENTS};
    PyObject *keep = Py_None, *max_age = Py_None, *now = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s|zOOO:prune_events", kwlist, &o.app_id,
                                     &o.channel, &keep, &max_age, &now) ||
        size_arg(keep, "keep_count", PX_STORE_KEEP_ALL, &o.keep) < 0)
        return NULL;
    o.max_age = INFINITY;
    if (max_age != Py_None) {
        o.max_age = PyFloat_AsDouble(max_age);
        if (o.max_age == -1.0 && PyErr_Occurred())
            return NULL;
        if (isnan(o.max_age) || o.max_age < 0) {
            PyErr_SetString(PyExc_ValueError, "max_age must be a non-negative number or None");
            return NULL;
        }
    }
    if (now == Py_None) {
        struct timespec ts;
        timespec_get(&ts, TIME_UTC);
        o.now = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    } else {
        o.now = PyFloat_AsDouble(now);
        if (o.now == -1.0 && PyErr_Occurred())
            return NULL;
    }
    return op_perform((StoreObject *)op, &o);
}

/* Parses (app_id, user_id, event) into o. */
static int sub_args(PyObject *args, PyObject *kwds, const char *fmt, op_t *o)
{
    static char *kwlist[] = {"app_id", "user_id", "event", NULL};
    return PyArg_ParseTupleAndKeywords(args, kwds, fmt, kwlist, &o->app_id, &o->user_id,
                                       &o->event)
               ? 0
               : -1;
}

PyDoc_STRVAR(put_subscription_doc,
             "put_subscription(app_id: str, user_id: str, event: str) -> bool\n\n"
             "Makes user_id's personal channel alias the channel event. True if the\n"
             "subscription was created, False if it existed already.");

static PyObject *Store_put_subscription(PyObject *op, PyObject *args, PyObject *kwds)
{
    op_t o = {.kind = OP_PUT_SUBSCRIPTION};
    if (sub_args(args, kwds, "sss:put_subscription", &o) < 0)
        return NULL;
    PyObject *res = op_perform((StoreObject *)op, &o);
    if (res == NULL)
        return NULL;
    int created = PyObject_IsTrue(res);
    Py_DECREF(res);
    return PyBool_FromLong(created);
}

PyDoc_STRVAR(delete_subscription_doc,
             "delete_subscription(app_id: str, user_id: str, event: str) -> bool\n\n"
             "Deletes the subscription; True if there was one.");

static PyObject *Store_delete_subscription(PyObject *op, PyObject *args, PyObject *kwds)
{
    op_t o = {.kind = OP_DELETE_SUBSCRIPTION};
    if (sub_args(args, kwds, "sss:delete_subscription", &o) < 0)
        return NULL;
    PyObject *res = op_perform((StoreObject *)op, &o);
    if (res == NULL)
        return NULL;
    int deleted = PyObject_IsTrue(res);
    Py_DECREF(res);
    return PyBool_FromLong(deleted);
}

PyDoc_STRVAR(list_subscriptions_doc,
             "list_subscriptions(app_id: str, user_id: str | None = None,\n"
             "                   event: str | None = None) -> list[dict]\n\n"
             "The app's subscriptions, oldest first, each {\"id\", \"app_id\",\n"
             "\"user_id\", \"event\"}; only user_id's and/or event's when given.");

static PyObject *Store_list_subscriptions(PyObject *op, PyObject *args, PyObject *kwds)
{
    op_t o = {.kind = OP_LIST_SUBSCRIPTIONS};
    if (sub_args(args, kwds, "s|zz:list_subscriptions", &o) < 0)
        return NULL;
    return op_perform((StoreObject *)op, &o);
}

PyDoc_STRVAR(add_associations_doc,
             "add_associations(app_id: str, mid: str, user_ids: Iterable[str]) -> int\n\n"
             "Links the event mid to each user's inbox; links that exist are skipped.\n"
             "Returns how many were newly made.");

static PyObject *Store_add_associations(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"app_id", "mid", "user_ids", NULL};
    op_t o = {.kind = OP_ADD_ASSOCIATIONS};
    PyObject *users, *seq, *res = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "ssO:add_associations", kwlist, &o.app_id,
                                     &o.mid, &users))
        return NULL;
    if (PyUnicode_Check(users)) {
        PyErr_SetString(PyExc_TypeError, "user_ids must be an iterable of str, not a str");
        return NULL;
    }
    if ((seq = PySequence_Fast(users, "user_ids must be an iterable of str")) == NULL)
        return NULL;
    o.n = (size_t)PySequence_Fast_GET_SIZE(seq);
    o.users = PyMem_Calloc(o.n ? o.n : 1, sizeof(*o.users));
    if (o.users == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (size_t i = 0; i < o.n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, (Py_ssize_t)i);
        Py_ssize_t len;
        if (!PyUnicode_Check(item)) {
            PyErr_Format(PyExc_TypeError, "user_ids must hold str, not %.100s",
                         Py_TYPE(item)->tp_name);
            goto out;
        }
        /* The UTF-8 form is cached in item, which seq keeps alive. */
        if ((o.users[i] = PyUnicode_AsUTF8AndSize(item, &len)) == NULL)
            goto out;
        if ((size_t)len != strlen(o.users[i])) {
            PyErr_SetString(PyExc_ValueError, "a user_id contains a NUL character");
            goto out;
        }
    }
    res = op_perform((StoreObject *)op, &o);
out:
    PyMem_Free(o.users);
    Py_DECREF(seq);
    return res;
}

PyDoc_STRVAR(user_events_doc,
             "user_events(app_id: str, user_id: str, skip: int = 0, count: int = 10)\n"
             "    -> list[dict]\n\n"
             "The user's inbox: stored events linked to user_id, newest link first,\n"
             "after leaving out the skip newest; at most count (event dicts as\n"
             "latest_events returns them).");

static PyObject *Store_user_events(PyObject *op, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"app_id", "user_id", "skip", "count", NULL};
    op_t o = {.kind = OP_USER_EVENTS};
    Py_ssize_t skip = 0, count = 10;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "ss|nn:user_events", kwlist, &o.app_id,
                                     &o.user_id, &skip, &count) ||
        skip_count(skip, count, &o) < 0)
        return NULL;
    return op_perform((StoreObject *)op, &o);
}

PyDoc_STRVAR(close_doc, "close() -> None\n\nCloses the store. Calling it again does nothing.");

static PyObject *Store_close(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    StoreObject *self = (StoreObject *)op;
    px_store_t *store;
    Py_BEGIN_ALLOW_THREADS
    PyThread_acquire_lock(self->lock, WAIT_LOCK);
    store = self->store;
    self->store = NULL;
    PyThread_release_lock(self->lock);
    px_store_close(store);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *Store_enter(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    if (acquire((StoreObject *)op) < 0)
        return NULL;
    release((StoreObject *)op);
    Py_INCREF(op);
    return op;
}

static PyObject *Store_exit(PyObject *op, PyObject *args)
{
    (void)args;
    PyObject *res = Store_close(op, NULL);
    if (res == NULL)
        return NULL;
    Py_DECREF(res);
    Py_RETURN_FALSE;
}

static PyObject *Store_get_closed(PyObject *op, void *Py_UNUSED(closure))
{
    StoreObject *self = (StoreObject *)op;
    lock(self);
    int closed = self->store == NULL;
    release(self);
    return PyBool_FromLong(closed);
}

static PyObject *Store_get_url(PyObject *op, void *Py_UNUSED(closure))
{
    StoreObject *self = (StoreObject *)op;
    PyObject *url = self->url ? self->url : Py_None;
    Py_INCREF(url);
    return url;
}

static PyMethodDef Store_methods[] = {
    {"list_apps", Store_list_apps, METH_NOARGS, list_apps_doc},
    {"put_app", Store_put_app, METH_O, put_app_doc},
    {"delete_app", Store_delete_app, METH_O, delete_app_doc},
    {"append_events", Store_append_events, METH_O, append_events_doc},
    {"latest_events", (PyCFunction)(void (*)(void))Store_latest_events,
     METH_VARARGS | METH_KEYWORDS, latest_events_doc},
    {"prune_events", (PyCFunction)(void (*)(void))Store_prune_events,
     METH_VARARGS | METH_KEYWORDS, prune_events_doc},
    {"put_subscription", (PyCFunction)(void (*)(void))Store_put_subscription,
     METH_VARARGS | METH_KEYWORDS, put_subscription_doc},
    {"delete_subscription", (PyCFunction)(void (*)(void))Store_delete_subscription,
     METH_VARARGS | METH_KEYWORDS, delete_subscription_doc},
    {"list_subscriptions", (PyCFunction)(void (*)(void))Store_list_subscriptions,
     METH_VARARGS | METH_KEYWORDS, list_subscriptions_doc},
    {"add_associations", (PyCFunction)(void (*)(void))Store_add_associations,
     METH_VARARGS | METH_KEYWORDS, add_associations_doc},
    {"user_events", (PyCFunction)(void (*)(void))Store_user_events,
     METH_VARARGS | METH_KEYWORDS, user_events_doc},
    {"close", Store_close, METH_NOARGS, close_doc},
    {"__enter__", Store_enter, METH_NOARGS, NULL},
    {"__exit__", Store_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Store_getset[] = {
    {"closed", Store_get_closed, NULL, "True once close() has run.", NULL},
    {"url", Store_get_url, NULL, "The URL the store was opened with.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(Store_doc,
             "Store(url: str)\n\n"
             "pushi's store: \"memory:\", \"sqlite:///abs/path.db\", \"sqlite://rel/path.db\",\n"
             "\"sqlite:///:memory:\" or \"mongodb://host:port/db\". Apps, event history,\n"
             "subscriptions (personal channel aliases) and the inbox. Calls block (the\n"
             "GIL is released); one thread at a time uses a Store, others wait. Use\n"
             "close() or a with block.");

static PyTypeObject StoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pushi._core.Store",
    .tp_basicsize = sizeof(StoreObject),
    .tp_dealloc = Store_dealloc,
    .tp_repr = Store_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Store_doc,
    .tp_methods = Store_methods,
    .tp_getset = Store_getset,
    .tp_init = Store_init,
    .tp_new = Store_new,
};

int px_py_store_register(PyObject *module)
{
    if (py_json_dumps == NULL) {
        PyObject *json = PyImport_ImportModule("json");
        if (json == NULL)
            return -1;
        py_json_dumps = PyObject_GetAttrString(json, "dumps");
        py_json_loads = PyObject_GetAttrString(json, "loads");
        Py_DECREF(json);
        dumps_kwargs = Py_BuildValue("{s:O}", "allow_nan", Py_False);
        if (py_json_dumps == NULL || py_json_loads == NULL || dumps_kwargs == NULL) {
            Py_CLEAR(py_json_dumps);
            Py_CLEAR(py_json_loads);
            Py_CLEAR(dumps_kwargs);
            return -1;
        }
    }
    if (PyType_Ready(&StoreType) < 0)
        return -1;
    Py_INCREF(&StoreType);
    if (PyModule_AddObject(module, "Store", (PyObject *)&StoreType) < 0) {
        Py_DECREF(&StoreType);
        return -1;
    }
    return 0;
}

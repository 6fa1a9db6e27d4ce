/* store_type.c - pushi._core.Store (see store_type.h). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <jansson.h>
#include <string.h>

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
    PyObject *str = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "strict");
    free(text);
    if (str == NULL)
        return NULL;
    PyObject *res = PyObject_CallFunctionObjArgs(py_json_loads, str, NULL);
    Py_DECREF(str);
    return res;
}

PyDoc_STRVAR(put_app_doc,
             "put_app(app: dict) -> None\n\n"
             "Inserts app, or replaces the stored app with the same \"id\". Raises\n"
             "ValueError when app is not a valid app, RuntimeError when another app\n"
             "already has its \"key\" or the store fails.");

static PyObject *Store_put_app(PyObject *op, PyObject *app)
{
    StoreObject *self = (StoreObject *)op;
    char msg[PX_STORE_ERRMSG_SIZE] = "";
    if (!PyDict_Check(app)) {
        PyErr_Format(PyExc_TypeError, "app must be a dict, not %.100s", Py_TYPE(app)->tp_name);
        return NULL;
    }
    PyObject *args = PyTuple_Pack(1, app);
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
    json_t *doc = json_loadb(utf8, (size_t)n, 0, &jerr);
    Py_DECREF(str);
    if (doc == NULL) {
        PyErr_Format(PyExc_ValueError, "app cannot be stored as JSON: %s", jerr.text);
        return NULL;
    }
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
             "An app store: \"memory:\", \"sqlite:///abs/path.db\", \"sqlite://rel/path.db\"\n"
             "or \"sqlite:///:memory:\". Calls block (the GIL is released); one thread\n"
             "at a time uses a Store, others wait. Use close() or a with block.");

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

/* module.c - pushi._core: the only place besides store_type.c that includes
 * Python.h. The Engine type wraps a px_server_t; conversions happen under
 * the GIL, then the GIL is released for anything that runs or waits on the
 * loop. Python objects never cross into the loop thread: configuration and
 * apps arrive as JSON text and are parsed here with jansson. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <jansson.h>

#include "../px_err.h"
#include "../px_server.h"
#include "store_type.h"

static PyObject *CoreError;

typedef struct {
    PyObject_HEAD
    px_server_t *srv;
    int ran;        /* run() was entered */
    int finished;   /* run() returned */
    int port;       /* after listen() */
} EngineObject;

static PyObject *raise_px(int rc, const char *why)
{
    PyObject *exc = rc == PX_EINVAL ? PyExc_ValueError : CoreError;
    if (why != NULL)
        PyErr_Format(exc, "%s", why);
    else
        PyErr_Format(exc, "%s (%s)", px_strerror(rc), px_err_name(rc));
    return NULL;
}

static json_t *parse_json_arg(const char *text, Py_ssize_t n, const char *what)
{
    json_error_t err;
    json_t *v = json_loadb(text, (size_t)n, 0, &err);
    if (v == NULL)
        PyErr_Format(PyExc_ValueError, "%s is not valid JSON: %s", what, err.text);
    return v;
}

static int Engine_init(EngineObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"config", "apps", NULL};
    const char *cfg_text, *apps_text;
    Py_ssize_t cfg_n, apps_n;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s#s#", kwlist, &cfg_text, &cfg_n, &apps_text,
                                     &apps_n))
        return -1;
    if (self->srv != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Engine is already initialised");
        return -1;
    }
    json_t *cfg = parse_json_arg(cfg_text, cfg_n, "config");
    if (cfg == NULL)
        return -1;
    json_t *apps = parse_json_arg(apps_text, apps_n, "apps");
    if (apps == NULL) {
        json_decref(cfg);
        return -1;
    }
    int rc = 0;
    const char *why = NULL;
    px_config_t c;
    px_config_defaults(&c);
    if (!json_is_object(cfg) || !json_is_array(apps)) {
        PyErr_SetString(PyExc_ValueError, "config must be an object and apps an array");
        rc = -1;
    } else if ((rc = px_config_from_json(&c, cfg, &why)) < 0 ||
               (rc = px_server_new(&self->srv, &c, apps, &why)) < 0) {
        raise_px(rc, why);
        rc = -1;
    }
    json_decref(cfg);
    json_decref(apps);
    return rc;
}

static void Engine_dealloc(EngineObject *self)
{
    if (self->srv != NULL) {
        /* A running loop would still use the server: only free it when run()
         * has returned or never started. The Python wrapper joins the loop
         * thread before dropping the Engine. */
        px_server_post_stop(self->srv);
        if (!self->ran || self->finished)
            px_server_free(self->srv);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define CHECK_SRV(self)                                                     \
    do {                                                                    \
        if ((self)->srv == NULL) {                                          \
            PyErr_SetString(PyExc_RuntimeError, "Engine is closed");        \
            return NULL;                                                    \
        }                                                                   \
    } while (0)

static PyObject *Engine_listen(EngineObject *self, PyObject *noargs)
{
    (void)noargs;
    CHECK_SRV(self);
    int rc = px_server_listen(self->srv);
    if (rc < 0)
        return PyErr_Format(PyExc_OSError, "cannot listen: %s", px_strerror(rc));
    self->port = rc;
    return PyLong_FromLong(rc);
}

static PyObject *Engine_run(EngineObject *self, PyObject *noargs)
{
    (void)noargs;
    CHECK_SRV(self);
    if (self->ran) {
        PyErr_SetString(PyExc_RuntimeError, "Engine.run() may be called once");
        return NULL;
    }
    self->ran = 1;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = px_server_run(self->srv);
    Py_END_ALLOW_THREADS
    self->finished = 1;
    if (rc < 0)
        return raise_px(rc, NULL);
    Py_RETURN_NONE;
}

static PyObject *Engine_stop(EngineObject *self, PyObject *noargs)
{
    (void)noargs;
    CHECK_SRV(self);
    int rc = px_server_post_stop(self->srv);
    if (rc < 0)
        return raise_px(rc, NULL);
    Py_RETURN_NONE;
}

static PyObject *Engine_close(EngineObject *self, PyObject *noargs)
{
    (void)noargs;
    /* Frees the engine after run() returned (or if it never ran). */
    if (self->srv != NULL) {
        px_server_t *s = self->srv;
        self->srv = NULL;
        Py_BEGIN_ALLOW_THREADS
        px_server_free(s);
        Py_END_ALLOW_THREADS
        self->ran = 0;
        self->finished = 0;
    }
    Py_RETURN_NONE;
}

static PyObject *Engine_trigger(EngineObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"app_id", "channels", "event", "data", "socket_id", NULL};
    const char *app_id, *event, *data, *sid = NULL;
    Py_ssize_t data_n;
    PyObject *channels;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "sOss#|z", kwlist, &app_id, &channels, &event,
                                     &data, &data_n, &sid))
        return NULL;
    CHECK_SRV(self);
    PyObject *seq = PySequence_Fast(channels, "channels must be a list of str");
    if (seq == NULL)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const char **names = PyMem_Calloc((size_t)(n ? n : 1), sizeof(char *));
    if (names == NULL) {
        Py_DECREF(seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        names[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i));
        if (names[i] == NULL) {
            PyMem_Free(names);
            Py_DECREF(seq);
            return NULL;
        }
    }
    int rc = px_server_post_trigger(self->srv, app_id, names, (size_t)n, event, data,
                                    (size_t)data_n, sid);
    PyMem_Free(names);
    Py_DECREF(seq);
    if (rc < 0)
        return raise_px(rc, NULL);
    Py_RETURN_NONE;
}

static PyObject *Engine_add_app(EngineObject *self, PyObject *args)
{
    const char *text;
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "s#", &text, &n))
        return NULL;
    CHECK_SRV(self);
    json_t *app = parse_json_arg(text, n, "app");
    if (app == NULL)
        return NULL;
    const char *why = NULL;
    int rc = px_server_post_app(self->srv, app, &why);
    json_decref(app);
    if (rc < 0)
        return raise_px(rc, why);
    Py_RETURN_NONE;
}

static PyObject *Engine_stats(EngineObject *self, PyObject *noargs)
{
    (void)noargs;
    CHECK_SRV(self);
    px_stats_t st;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = px_server_stats(self->srv, &st, 5000);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return raise_px(rc, NULL);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K}", "connections",
                         (unsigned long long)st.connections, "connections_total",
                         (unsigned long long)st.connections_total, "messages_in",
                         (unsigned long long)st.messages_in, "published",
                         (unsigned long long)st.published, "deliveries",
                         (unsigned long long)st.deliveries, "http_requests",
                         (unsigned long long)st.http_requests, "channels",
                         (unsigned long long)st.channels, "persist_queued",
                         (unsigned long long)st.persist_queued, "persist_written",
                         (unsigned long long)st.persist_written, "persist_failures",
                         (unsigned long long)st.persist_failures, "persist_outage",
                         (unsigned long long)st.persist_outage);
}

static PyMethodDef Engine_methods[] = {
    {"listen", (PyCFunction)Engine_listen, METH_NOARGS,
     "listen() -> int\n\nBinds and listens; returns the port. Call before run()."},
    {"run", (PyCFunction)Engine_run, METH_NOARGS,
     "run() -> None\n\nRuns the loop on this thread, without the GIL, until stop()."},
    {"stop", (PyCFunction)Engine_stop, METH_NOARGS,
     "stop() -> None\n\nAsks the loop to stop. Any thread; idempotent."},
    {"close", (PyCFunction)Engine_close, METH_NOARGS,
     "close() -> None\n\nFrees the engine once run() has returned."},
    {"trigger", (PyCFunction)(void (*)(void))Engine_trigger, METH_VARARGS | METH_KEYWORDS,
     "trigger(app_id, channels, event, data, socket_id=None) -> None\n\n"
     "Publishes an event straight into the loop. Any thread."},
    {"add_app", (PyCFunction)Engine_add_app, METH_VARARGS,
     "add_app(app_json: str) -> None\n\nAdds or updates an app. Any thread."},
    {"stats", (PyCFunction)Engine_stats, METH_NOARGS,
     "stats() -> dict\n\nCounters read on the loop thread."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "pushi._core.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Engine(config: str, apps: str)\n\nThe C engine: config is a JSON object of "
              "engine options, apps a JSON array of app objects.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
};

static struct PyModuleDef core_module = {
    PyModuleDef_HEAD_INIT, "pushi._core",
    "The pushi engine: libuv loop, Pusher protocol, HTTP API (C).", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
    PyObject *m = PyModule_Create(&core_module);
    if (m == NULL)
        return NULL;
    if (PyType_Ready(&EngineType) < 0)
        goto fail;
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(m, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(&EngineType);
        goto fail;
    }
    CoreError = PyErr_NewException("pushi._core.Error", PyExc_RuntimeError, NULL);
    if (CoreError == NULL || PyModule_AddObject(m, "Error", CoreError) < 0)
        goto fail;
    Py_INCREF(CoreError);
    if (px_py_store_register(m) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}

/* store_type.h - pushi._core.Store: the app store (px_store.h) for Python.
 *
 *   Store(url: str)                 opens the store (memory:, sqlite:///path)
 *   Store.list_apps() -> list[dict] every app, oldest first
 *   Store.put_app(app: dict)        insert or replace by "id"
 *   Store.delete_app(id: str) -> bool
 *   Store.close()                   idempotent; also `with Store(url) as s:`
 *   Store.url, Store.closed         read-only attributes
 *
 * Dicts cross the boundary as JSON text: the binding calls Python's
 * json.dumps / json.loads and the C side parses with jansson. Store calls
 * run with the GIL released; a per-object lock makes concurrent calls from
 * several Python threads wait for each other. Errors: ValueError for a bad
 * URL or app (or a closed store), MemoryError, RuntimeError for everything
 * else (duplicate key, SQLite failures), with px_strerror() text and the
 * store's explanation. */
#ifndef PX_PY_STORE_TYPE_H
#define PX_PY_STORE_TYPE_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

/* Readies the Store type and adds it to module as "Store"; imports the json
 * module's dumps/loads on first use. Returns 0, or -1 with an exception set.
 * Call once from the module's init function, with the GIL held. */
int px_py_store_register(PyObject *module);

#endif

/* store_type.h - pushi._core.Store: the store (px_store.h) for Python.
 *
 *   Store(url: str)                 opens the store (memory:, sqlite:///path,
 *                                   mongodb://host:port/db)
 *   Store.list_apps() -> list[dict] every app, oldest first
 *   Store.put_app(app: dict)        insert or replace by "id"
 *   Store.delete_app(id: str) -> bool
 *   Store.append_events(events: list[dict]) -> int      newly stored
 *   Store.latest_events(app_id, channel, skip=0, count=10) -> list[dict]
 *   Store.prune_events(app_id, channel=None, keep_count=None, max_age=None,
 *                      now=None) -> int                  events deleted
 *   Store.put_subscription(app_id, user_id, event) -> bool     created
 *   Store.delete_subscription(app_id, user_id, event) -> bool  deleted
 *   Store.list_subscriptions(app_id, user_id=None, event=None) -> list[dict]
 *   Store.add_associations(app_id, mid, user_ids) -> int  links made
 *   Store.user_events(app_id, user_id, skip=0, count=10) -> list[dict]
 *   Store.close()                   idempotent; also `with Store(url) as s:`
 *   Store.url, Store.closed         read-only attributes
 *
 * Event and subscription dicts have the shapes px_store.h describes.
 *
 * Dicts cross the boundary as JSON text: the binding calls Python's
 * json.dumps / json.loads and the C side parses with jansson. Store calls
 * run with the GIL released; a per-object lock makes concurrent calls from
 * several Python threads wait for each other. Errors: ValueError for a bad
 * URL, app, event or argument (or a closed store), TypeError for arguments
 * of the wrong type, MemoryError, RuntimeError for everything else
 * (duplicate key, SQLite or MongoDB failures, an unreachable server), with
 * px_strerror() text and the store's explanation. */
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

/* px_store_memory.c - the in-process store ("memory:").
 *
 * Apps are kept as normalised JSON objects in an array in creation order.
 * Look-ups scan the array: stores hold few apps and every call is off the
 * loop thread. */
#include <stdlib.h>
#include <string.h>

#include "px_err.h"
#include "px_store.h"

typedef struct {
    px_store_t base;
    json_t **apps;   /* owned references, oldest first */
    size_t n, cap;
} mem_store_t;

static mem_store_t *mem(px_store_t *s)
{
    return px_container_of(s, mem_store_t, base);
}

static const char *field(const json_t *doc, const char *k)
{
    return json_string_value(json_object_get(doc, k));
}

static int mem_open(const char *rest, px_store_t **out, const char **why)
{
    /* Accept "memory:" and "memory://" with nothing after. */
    if (strcmp(rest, "") != 0 && strcmp(rest, "//") != 0) {
        *why = "a memory store URL is just \"memory:\"";
        return PX_EINVAL;
    }
    mem_store_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        *why = px_strerror(PX_ENOMEM);
        return PX_ENOMEM;
    }
    m->base.vt = &px__store_memory_vtable;
    *out = &m->base;
    return 0;
}

static int mem_list_apps(px_store_t *s, json_t **out_array)
{
    mem_store_t *m = mem(s);
    json_t *arr = json_array();
    if (arr == NULL)
        goto nomem;
    for (size_t i = 0; i < m->n; i++) {
        /* Deep copies: the caller may modify what it gets. */
        if (json_array_append_new(arr, json_deep_copy(m->apps[i])) < 0)
            goto nomem;
    }
    *out_array = arr;
    return 0;
nomem:
    json_decref(arr);
    px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
    return PX_ENOMEM;
}

static int mem_put_app(px_store_t *s, const json_t *app)
{
    mem_store_t *m = mem(s);
    json_t *doc = NULL;
    int rc = px__store_normalise_app(s, app, &doc);
    if (rc < 0)
        return rc;
    const char *id = field(doc, "id"), *key = field(doc, "key");
    size_t same = m->n;
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(field(m->apps[i], "id"), id) == 0) {
            same = i;
        } else if (strcmp(field(m->apps[i], "key"), key) == 0) {
            px__store_set_error(s, "another app (id %s) already has this key",
                                field(m->apps[i], "id"));
            json_decref(doc);
            return PX_EEXIST;
        }
    }
    if (same < m->n) {
        json_decref(m->apps[same]);
        m->apps[same] = doc;
        return 0;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 8;
        json_t **apps = realloc(m->apps, cap * sizeof(*apps));
        if (apps == NULL) {
            json_decref(doc);
            px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
            return PX_ENOMEM;
        }
        m->apps = apps;
        m->cap = cap;
    }
    m->apps[m->n++] = doc;
    return 0;
}

static int mem_delete_app(px_store_t *s, const char *id)
{
    mem_store_t *m = mem(s);
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(field(m->apps[i], "id"), id) == 0) {
            json_decref(m->apps[i]);
            memmove(&m->apps[i], &m->apps[i + 1], (m->n - i - 1) * sizeof(*m->apps));
            m->n--;
            return 1;
        }
    }
    return 0;
}

static void mem_close(px_store_t *s)
{
    mem_store_t *m = mem(s);
    for (size_t i = 0; i < m->n; i++)
        json_decref(m->apps[i]);
    free(m->apps);
    free(m);
}

const px_store_vtable_t px__store_memory_vtable = {
    .scheme = "memory:",
    .open = mem_open,
    .list_apps = mem_list_apps,
    .put_app = mem_put_app,
    .delete_app = mem_delete_app,
    .close = mem_close,
};

/* px_store_memory.c - the in-process store ("memory:").
 *
 * Apps, events, subscriptions and associations are kept in arrays in
 * creation order (events and associations as their output JSON). Reading
 * scans from the newest end; events and associations are also in hash maps
 * keyed by "app_id NUL mid" and "app_id NUL user_id NUL mid", so appending
 * and linking (idempotent) stay cheap. It is meant for tests and throwaway
 * runs: history queries cost O(stored events). Every call is off the loop
 * thread, one thread at a time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "px_err.h"
#include "px_map.h"
#include "px_store.h"

typedef struct {
    int64_t id;
    json_t *doc;            /* owned output object (with "id") */
    const char *app_id, *channel; /* borrowed from doc */
    double timestamp;
    char *key;              /* owned "app_id\0mid", key in mem_store_t.by_mid */
    size_t klen;
    const char *mid;        /* points into key */
} mem_event_t;

typedef struct {
    int64_t id;
    const char *app_id, *user_id, *mid; /* point into key */
    char *key;              /* owned "app_id\0user_id\0mid" */
    size_t klen;
    char *ekey;             /* owned "app_id\0mid": its event's key in by_mid */
    size_t eklen;
} mem_assoc_t;

/* A growable array of pointers. */
typedef struct {
    void **v;
    size_t n, cap;
} vec_t;

typedef struct {
    px_store_t base;
    json_t **apps;   /* owned references, oldest first */
    size_t n, cap;
    vec_t events;    /* mem_event_t *, oldest first */
    vec_t subs;      /* json_t * subscription objects, oldest first */
    vec_t assocs;    /* mem_assoc_t *, oldest first */
    px_map_t by_mid;   /* event key -> mem_event_t */
    px_map_t by_link;  /* association key -> mem_assoc_t */
    int64_t next_event, next_sub, next_assoc; /* ids handed out last */
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

static int nomem(px_store_t *s)
{
    px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
    return PX_ENOMEM;
}

/* Makes room for extra more pointers in v. Returns 0 or PX_ENOMEM. */
static int vec_reserve(vec_t *v, size_t extra)
{
    if (v->cap - v->n >= extra)
        return 0;
    size_t cap = v->cap ? v->cap : 16;
    while (cap - v->n < extra)
        cap *= 2;
    void **p = realloc(v->v, cap * sizeof(*p));
    if (p == NULL)
        return PX_ENOMEM;
    v->v = p;
    v->cap = cap;
    return 0;
}

/* Joins the n strings in parts with NUL bytes into a new buffer (owned),
 * setting *len to its length without the final NUL. NULL on out of memory. */
static char *join_key(const char *const *parts, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += strlen(parts[i]) + 1;
    char *key = malloc(total);
    if (key == NULL)
        return NULL;
    char *p = key;
    for (size_t i = 0; i < n; i++) {
        size_t k = strlen(parts[i]) + 1;
        memcpy(p, parts[i], k);
        p += k;
    }
    *len = total - 1;
    return key;
}

static void event_free(mem_event_t *e)
{
    json_decref(e->doc);
    free(e->key);
    free(e);
}

static int mem_append_events(px_store_t *s, const px__store_event_t *ev, size_t n)
{
    mem_store_t *m = mem(s);
    mem_event_t **fresh = calloc(n, sizeof(*fresh));
    size_t added = 0;
    if (fresh == NULL)
        return nomem(s);
    /* Build every new record first, so a failure leaves the store as it was. */
    for (size_t i = 0; i < n; i++) {
        const char *parts[] = {ev[i].app_id, ev[i].mid};
        size_t klen;
        char *key = join_key(parts, 2, &klen);
        if (key == NULL)
            goto fail;
        int dup = px_map_get(&m->by_mid, (px_str_t){key, klen}) != NULL;
        for (size_t j = 0; j < added && !dup; j++)
            dup = fresh[j]->klen == klen && memcmp(fresh[j]->key, key, klen) == 0;
        if (dup) {
            free(key);
            continue;
        }
        mem_event_t *e = calloc(1, sizeof(*e));
        if (e == NULL) {
            free(key);
            goto fail;
        }
        e->key = key;
        e->klen = klen;
        e->mid = key + strlen(ev[i].app_id) + 1;
        e->id = m->next_event + 1 + (int64_t)added;
        e->timestamp = ev[i].timestamp;
        fresh[added++] = e;
        if ((e->doc = px__store_event_json(e->id, &ev[i])) == NULL)
            goto fail;
        e->app_id = json_string_value(json_object_get(e->doc, "app_id"));
        e->channel = json_string_value(json_object_get(e->doc, "channel"));
    }
    if (vec_reserve(&m->events, added) < 0)
        goto fail;
    for (size_t i = 0; i < added; i++) {
        if (px_map_put(&m->by_mid, (px_str_t){fresh[i]->key, fresh[i]->klen}, fresh[i]) < 0) {
            while (i-- > 0)
                px_map_del(&m->by_mid, (px_str_t){fresh[i]->key, fresh[i]->klen});
            goto fail;
        }
    }
    for (size_t i = 0; i < added; i++)
        m->events.v[m->events.n++] = fresh[i];
    m->next_event += (int64_t)added;
    free(fresh);
    return (int)added;
fail:
    for (size_t i = 0; i < added; i++)
        event_free(fresh[i]);
    free(fresh);
    return nomem(s);
}

/* Appends a deep copy of doc to arr. Returns 0 or PX_ENOMEM. */
static int append_copy(json_t *arr, const json_t *doc)
{
    return json_array_append_new(arr, json_deep_copy(doc)) < 0 ? PX_ENOMEM : 0;
}

static int mem_latest_events(px_store_t *s, const char *app_id, const char *channel,
                             size_t skip, size_t count, json_t **out_array)
{
    mem_store_t *m = mem(s);
    json_t *arr = json_array();
    if (arr == NULL)
        return nomem(s);
    for (size_t i = m->events.n; i-- > 0 && json_array_size(arr) < count;) {
        mem_event_t *e = m->events.v[i];
        if (strcmp(e->app_id, app_id) != 0 || (channel && strcmp(e->channel, channel) != 0))
            continue;
        if (skip > 0) {
            skip--;
            continue;
        }
        if (append_copy(arr, e->doc) < 0) {
            json_decref(arr);
            return nomem(s);
        }
    }
    *out_array = arr;
    return 0;
}

static void assoc_free(mem_assoc_t *a)
{
    free(a->key);
    free(a->ekey);
    free(a);
}

static int mem_prune_events(px_store_t *s, const char *app_id, const char *channel,
                            size_t keep_count, double max_age, double now)
{
    mem_store_t *m = mem(s);
    px_map_t seen = PX_MAP_INIT;  /* channel -> (uintptr_t) events kept so far + 1 */
    px_map_t gone = PX_MAP_INIT;  /* mid -> doomed mem_event_t (all of app_id) */
    double cutoff = now - max_age;
    size_t deleted = 0, w;
    /* Pass 1, newest first: decide, changing nothing yet. */
    for (size_t i = m->events.n; i-- > 0;) {
        mem_event_t *e = m->events.v[i];
        if (strcmp(e->app_id, app_id) != 0 || (channel && strcmp(e->channel, channel) != 0))
            continue;
        px_str_t ch = px_cstr(e->channel);
        uintptr_t kept = (uintptr_t)px_map_get(&seen, ch);
        kept = kept ? kept - 1 : 0;
        if (e->timestamp >= cutoff && kept < keep_count) {
            if (px_map_put(&seen, ch, (void *)(kept + 2)) < 0)
                goto nomem;
        } else if (px_map_put(&gone, px_cstr(e->mid), e) < 0) {
            goto nomem;
        }
    }
    if (gone.len == 0)
        goto out;
    /* Pass 2: drop the associations of doomed events. */
    w = 0;
    for (size_t i = 0; i < m->assocs.n; i++) {
        mem_assoc_t *a = m->assocs.v[i];
        if (strcmp(a->app_id, app_id) == 0 && px_map_get(&gone, px_cstr(a->mid)) != NULL) {
            px_map_del(&m->by_link, (px_str_t){a->key, a->klen});
            assoc_free(a);
        } else {
            m->assocs.v[w++] = a;
        }
    }
    m->assocs.n = w;
    /* Pass 3: drop the events. */
    w = 0;
    for (size_t i = 0; i < m->events.n; i++) {
        mem_event_t *e = m->events.v[i];
        if (px_map_get(&gone, px_cstr(e->mid)) == e) {
            px_map_del(&m->by_mid, (px_str_t){e->key, e->klen});
            event_free(e);
            deleted++;
        } else {
            m->events.v[w++] = e;
        }
    }
    m->events.n = w;
out:
    px_map_free(&seen);
    px_map_free(&gone);
    return deleted > INT32_MAX ? INT32_MAX : (int)deleted;
nomem:
    px_map_free(&seen);
    px_map_free(&gone);
    return nomem(s);
}

/* Returns the index of the subscription (app_id, user_id, event) in m->subs,
 * or m->subs.n. */
static size_t find_sub(mem_store_t *m, const char *app_id, const char *user_id,
                       const char *event)
{
    for (size_t i = 0; i < m->subs.n; i++) {
        json_t *sub = m->subs.v[i];
        if (strcmp(field(sub, "app_id"), app_id) == 0 &&
            strcmp(field(sub, "user_id"), user_id) == 0 &&
            strcmp(field(sub, "event"), event) == 0)
            return i;
    }
    return m->subs.n;
}

static int mem_put_subscription(px_store_t *s, const char *app_id, const char *user_id,
                                const char *event)
{
    mem_store_t *m = mem(s);
    if (find_sub(m, app_id, user_id, event) < m->subs.n)
        return 0;
    if (vec_reserve(&m->subs, 1) < 0)
        return nomem(s);
    json_t *sub = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)(m->next_sub + 1),
                            "app_id", app_id, "user_id", user_id, "event", event);
    if (sub == NULL)
        return nomem(s);
    m->subs.v[m->subs.n++] = sub;
    m->next_sub++;
    return 1;
}

static int mem_delete_subscription(px_store_t *s, const char *app_id, const char *user_id,
                                   const char *event)
{
    mem_store_t *m = mem(s);
    size_t i = find_sub(m, app_id, user_id, event);
    if (i == m->subs.n)
        return 0;
    json_decref(m->subs.v[i]);
    memmove(&m->subs.v[i], &m->subs.v[i + 1], (m->subs.n - i - 1) * sizeof(void *));
    m->subs.n--;
    return 1;
}

static int mem_list_subscriptions(px_store_t *s, const char *app_id, const char *user_id,
                                  const char *event, json_t **out_array)
{
    mem_store_t *m = mem(s);
    json_t *arr = json_array();
    if (arr == NULL)
        return nomem(s);
    for (size_t i = 0; i < m->subs.n; i++) {
        json_t *sub = m->subs.v[i];
        if (strcmp(field(sub, "app_id"), app_id) != 0 ||
            (user_id && strcmp(field(sub, "user_id"), user_id) != 0) ||
            (event && strcmp(field(sub, "event"), event) != 0))
            continue;
        if (append_copy(arr, sub) < 0) {
            json_decref(arr);
            return nomem(s);
        }
    }
    *out_array = arr;
    return 0;
}

static int mem_add_associations(px_store_t *s, const char *app_id, const char *mid,
                                const char *const *user_ids, size_t n)
{
    mem_store_t *m = mem(s);
    mem_assoc_t **fresh = calloc(n, sizeof(*fresh));
    size_t added = 0;
    if (fresh == NULL)
        return nomem(s);
    for (size_t i = 0; i < n; i++) {
        const char *parts[] = {app_id, user_ids[i], mid};
        size_t klen;
        char *key = join_key(parts, 3, &klen);
        if (key == NULL)
            goto fail;
        int dup = px_map_get(&m->by_link, (px_str_t){key, klen}) != NULL;
        for (size_t j = 0; j < added && !dup; j++)
            dup = fresh[j]->klen == klen && memcmp(fresh[j]->key, key, klen) == 0;
        if (dup) {
            free(key);
            continue;
        }
        mem_assoc_t *a = calloc(1, sizeof(*a));
        const char *eparts[] = {app_id, mid};
        if (a == NULL || (a->ekey = join_key(eparts, 2, &a->eklen)) == NULL) {
            free(a);
            free(key);
            goto fail;
        }
        a->key = key;
        a->klen = klen;
        a->app_id = key;
        a->user_id = key + strlen(app_id) + 1;
        a->mid = a->user_id + strlen(user_ids[i]) + 1;
        a->id = m->next_assoc + 1 + (int64_t)added;
        fresh[added++] = a;
    }
    if (vec_reserve(&m->assocs, added) < 0)
        goto fail;
    for (size_t i = 0; i < added; i++) {
        if (px_map_put(&m->by_link, (px_str_t){fresh[i]->key, fresh[i]->klen}, fresh[i]) < 0) {
            while (i-- > 0)
                px_map_del(&m->by_link, (px_str_t){fresh[i]->key, fresh[i]->klen});
            goto fail;
        }
    }
    for (size_t i = 0; i < added; i++)
        m->assocs.v[m->assocs.n++] = fresh[i];
    m->next_assoc += (int64_t)added;
    free(fresh);
    return (int)added;
fail:
    for (size_t i = 0; i < added; i++)
        assoc_free(fresh[i]);
    free(fresh);
    return nomem(s);
}

static int mem_user_events(px_store_t *s, const char *app_id, const char *user_id,
                           size_t skip, size_t count, json_t **out_array)
{
    mem_store_t *m = mem(s);
    json_t *arr = json_array();
    if (arr == NULL)
        return nomem(s);
    for (size_t i = m->assocs.n; i-- > 0 && json_array_size(arr) < count;) {
        mem_assoc_t *a = m->assocs.v[i];
        if (strcmp(a->app_id, app_id) != 0 || strcmp(a->user_id, user_id) != 0)
            continue;
        mem_event_t *e = px_map_get(&m->by_mid, (px_str_t){a->ekey, a->eklen});
        if (e == NULL)
            continue; /* not stored (yet, or any more) */
        if (skip > 0) {
            skip--;
            continue;
        }
        if (append_copy(arr, e->doc) < 0)
            goto nomem;
    }
    *out_array = arr;
    return 0;
nomem:
    json_decref(arr);
    return nomem(s);
}

static void mem_close(px_store_t *s)
{
    mem_store_t *m = mem(s);
    for (size_t i = 0; i < m->n; i++)
        json_decref(m->apps[i]);
    free(m->apps);
    for (size_t i = 0; i < m->events.n; i++)
        event_free(m->events.v[i]);
    free(m->events.v);
    for (size_t i = 0; i < m->subs.n; i++)
        json_decref(m->subs.v[i]);
    free(m->subs.v);
    for (size_t i = 0; i < m->assocs.n; i++)
        assoc_free(m->assocs.v[i]);
    free(m->assocs.v);
    px_map_free(&m->by_mid);
    px_map_free(&m->by_link);
    free(m);
}

const px_store_vtable_t px__store_memory_vtable = {
    .scheme = "memory:",
    .open = mem_open,
    .list_apps = mem_list_apps,
    .put_app = mem_put_app,
    .delete_app = mem_delete_app,
    .append_events = mem_append_events,
    .latest_events = mem_latest_events,
    .prune_events = mem_prune_events,
    .put_subscription = mem_put_subscription,
    .delete_subscription = mem_delete_subscription,
    .list_subscriptions = mem_list_subscriptions,
    .add_associations = mem_add_associations,
    .user_events = mem_user_events,
    .close = mem_close,
};

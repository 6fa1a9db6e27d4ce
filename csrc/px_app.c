/* px_app.c - app records and their registry. */
#include "px_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "px_err.h"

static int get_uint(const json_t *obj, const char *k, uint32_t *out, uint32_t dflt,
                    const char **why, const char *msg)
{
    json_t *v = json_object_get(obj, k);
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)UINT32_MAX) {
        *why = msg;
        return PX_EINVAL;
    }
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

static int get_bool(const json_t *obj, const char *k, int *out, int dflt,
                    const char **why, const char *msg)
{
    json_t *v = json_object_get(obj, k);
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (!json_is_boolean(v)) {
        *why = msg;
        return PX_EINVAL;
    }
    *out = json_is_true(v);
    return 0;
}

static char *get_str(const json_t *obj, const char *k)
{
    json_t *v = json_object_get(obj, k);
    if (json_is_string(v) && json_string_length(v) > 0 &&
        strlen(json_string_value(v)) == json_string_length(v))
        return strdup(json_string_value(v));
    if (json_is_integer(v)) {
        char tmp[32];
        snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(v));
        return strdup(tmp);
    }
    return NULL;
}

int px_app_from_json(const json_t *obj, px_app_t **out, const char **why)
{
    *why = NULL;
    if (!json_is_object(obj)) {
        *why = "an app must be a JSON object";
        return PX_EINVAL;
    }
    px_app_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return PX_ENOMEM;
    int rc = PX_EINVAL;
    a->id = get_str(obj, "id");
    a->key = get_str(obj, "key");
    a->secret = get_str(obj, "secret");
    json_t *name = json_object_get(obj, "name");
    a->name = strdup(json_is_string(name) ? json_string_value(name) : "default");
    if (a->id == NULL || a->key == NULL || a->secret == NULL) {
        *why = "an app needs non-empty string id, key and secret";
        goto fail;
    }
    if (a->name == NULL) {
        rc = PX_ENOMEM;
        goto fail;
    }
    /* The key appears in URL paths and the id in API paths: keep both to a
     * safe charset so routing never has to decode them. */
    for (const char *p = a->key; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_')) {
            *why = "app key may hold only letters, digits, '-' and '_'";
            goto fail;
        }
    for (const char *p = a->id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
              (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_')) {
            *why = "app id may hold only letters, digits, '-' and '_'";
            goto fail;
        }
    if ((rc = get_bool(obj, "enabled", &a->enabled, 1, why, "enabled must be a boolean")) < 0 ||
        (rc = get_bool(obj, "client_events", &a->client_events, 0, why,
                       "client_events must be a boolean")) < 0 ||
        (rc = get_uint(obj, "max_presence_members", &a->max_presence_members, 100, why,
                       "max_presence_members must be a non-negative integer")) < 0 ||
        (rc = get_uint(obj, "max_user_info_bytes", &a->max_user_info_bytes, 1024, why,
                       "max_user_info_bytes must be a non-negative integer")) < 0 ||
        (rc = get_uint(obj, "max_event_bytes", &a->max_event_bytes, 10240, why,
                       "max_event_bytes must be a non-negative integer")) < 0 ||
        (rc = get_uint(obj, "max_client_events_per_second", &a->max_client_events_per_second,
                       10, why, "max_client_events_per_second must be a non-negative integer")) < 0 ||
        (rc = get_uint(obj, "max_connections", &a->max_connections, 0, why,
                       "max_connections must be a non-negative integer")) < 0 ||
        (rc = get_bool(obj, "classic_unsigned_presence", &a->classic_unsigned_presence, 1, why,
                       "classic_unsigned_presence must be a boolean")) < 0 ||
        (rc = get_bool(obj, "public_client_events", &a->public_client_events, 0, why,
                       "public_client_events must be a boolean")) < 0 ||
        (rc = get_bool(obj, "persist", &a->persist, 0, why, "persist must be a boolean")) < 0 ||
        (rc = get_uint(obj, "history_max_count", &a->history_max_count, 100, why,
                       "history_max_count must be a non-negative integer")) < 0 ||
        (rc = get_uint(obj, "history_keep", &a->history_keep, 1000, why,
                       "history_keep must be a non-negative integer")) < 0 ||
        (rc = get_uint(obj, "history_max_age", &a->history_max_age, 30 * 86400, why,
                       "history_max_age must be a non-negative integer")) < 0)
        goto fail;
    json_t *origins = json_object_get(obj, "allowed_origins");
    if (origins != NULL && !json_is_null(origins)) {
        size_t i;
        json_t *o;
        if (!json_is_array(origins) || json_array_size(origins) > 1000) {
            *why = "allowed_origins must be an array of strings";
            rc = PX_EINVAL;
            goto fail;
        }
        a->origins = calloc(json_array_size(origins) + 1, sizeof(char *));
        if (a->origins == NULL) {
            rc = PX_ENOMEM;
            goto fail;
        }
        json_array_foreach(origins, i, o) {
            if (!json_is_string(o) || json_string_length(o) == 0) {
                *why = "allowed_origins must be an array of non-empty strings";
                rc = PX_EINVAL;
                goto fail;
            }
            if ((a->origins[a->norigins] = strdup(json_string_value(o))) == NULL) {
                rc = PX_ENOMEM;
                goto fail;
            }
            a->norigins++;
        }
    }
    *out = a;
    return 0;
fail:
    px_app_free(a);
    return rc;
}

json_t *px_app_to_json(const px_app_t *a)
{
    json_t *origins = json_array();
    for (size_t i = 0; origins != NULL && i < a->norigins; i++)
        json_array_append_new(origins, json_string(a->origins[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:I, s:I, s:I, s:I, s:I, s:o*, s:b, s:b, "
                     "s:b, s:I, s:I, s:I}",
                     "id", a->id, "key", a->key, "secret", a->secret, "name", a->name,
                     "enabled", a->enabled, "client_events", a->client_events,
                     "max_presence_members", (json_int_t)a->max_presence_members,
                     "max_user_info_bytes", (json_int_t)a->max_user_info_bytes,
                     "max_event_bytes", (json_int_t)a->max_event_bytes,
                     "max_client_events_per_second",
                     (json_int_t)a->max_client_events_per_second,
                     "max_connections", (json_int_t)a->max_connections,
                     "allowed_origins", origins,
                     "classic_unsigned_presence", a->classic_unsigned_presence,
                     "public_client_events", a->public_client_events,
                     "persist", a->persist,
                     "history_max_count", (json_int_t)a->history_max_count,
                     "history_keep", (json_int_t)a->history_keep,
                     "history_max_age", (json_int_t)a->history_max_age);
}

void px_app_free(px_app_t *a)
{
    if (a == NULL)
        return;
    free(a->id);
    free(a->key);
    free(a->secret);
    free(a->name);
    for (size_t i = 0; i < a->norigins; i++)
        free(a->origins[i]);
    free(a->origins);
    px_map_free(&a->channels);
    px_aliases_free(&a->aliases);
    px_aliases_free(&a->alias_rev);
    free(a);
}

void px_app_take_settings(px_app_t *dst, px_app_t *src)
{
#define PX_SWAP(field)              \
    do {                            \
        __typeof__(dst->field) t = dst->field; \
        dst->field = src->field;    \
        src->field = t;             \
    } while (0)
    PX_SWAP(secret);
    PX_SWAP(name);
    PX_SWAP(origins);
    PX_SWAP(norigins);
#undef PX_SWAP
    dst->enabled = src->enabled;
    dst->client_events = src->client_events;
    dst->max_presence_members = src->max_presence_members;
    dst->max_user_info_bytes = src->max_user_info_bytes;
    dst->max_event_bytes = src->max_event_bytes;
    dst->max_client_events_per_second = src->max_client_events_per_second;
    dst->max_connections = src->max_connections;
    dst->classic_unsigned_presence = src->classic_unsigned_presence;
    dst->public_client_events = src->public_client_events;
    dst->persist = src->persist;
    dst->history_max_count = src->history_max_count;
    dst->history_keep = src->history_keep;
    dst->history_max_age = src->history_max_age;
}

int px_app_origin_allowed(const px_app_t *app, px_str_t origin)
{
    if (app->norigins == 0 || origin.p == NULL)
        return 1;
    for (size_t i = 0; i < app->norigins; i++) {
        const char *e = app->origins[i];
        size_t n = strlen(e);
        if (strcmp(e, "*") == 0)
            return 1;
        if (n == origin.n && strncasecmp(e, origin.p, n) == 0)
            return 1;
        const char *star = strstr(e, "://*.");
        if (star != NULL) {
            /* An entry "scheme://<*>.domain": same scheme, host ending in ".domain". */
            size_t scheme = (size_t)(star - e) + 3;     /* "scheme://" */
            const char *suffix = star + 4;              /* ".domain" */
            size_t sn = strlen(suffix);
            if (origin.n > scheme + sn && strncasecmp(origin.p, e, scheme) == 0 &&
                strncasecmp(origin.p + origin.n - sn, suffix, sn) == 0 &&
                memchr(origin.p + scheme, '/', origin.n - scheme) == NULL)
                return 1;
        }
    }
    return 0;
}

int px_apps_add(px_apps_t *apps, px_app_t *app)
{
    px_str_t key = px_cstr(app->key), id = px_cstr(app->id);
    if (px_map_get(&apps->by_key, key) || px_map_get(&apps->by_id, id))
        return PX_EEXIST;
    int rc = px_map_put(&apps->by_key, key, app);
    if (rc < 0)
        return rc;
    if ((rc = px_map_put(&apps->by_id, id, app)) < 0) {
        px_map_del(&apps->by_key, key);
        return rc;
    }
    return 0;
}

px_app_t *px_apps_by_key(const px_apps_t *apps, px_str_t key)
{
    return px_map_get(&apps->by_key, key);
}

px_app_t *px_apps_by_id(const px_apps_t *apps, px_str_t id)
{
    return px_map_get(&apps->by_id, id);
}

void px_apps_free(px_apps_t *apps)
{
    size_t it = 0;
    px_app_t *a;
    while ((a = px_map_next(&apps->by_id, &it)) != NULL)
        px_app_free(a);
    px_map_free(&apps->by_id);
    px_map_free(&apps->by_key);
}

px_alias_t *px_alias_get(const px_map_t *m, const char *key)
{
    return px_map_get(m, px_cstr(key));
}

static px_alias_t *alias_get_or_new(px_map_t *m, const char *key)
{
    px_alias_t *a = px_map_get(m, px_cstr(key));
    if (a != NULL)
        return a;
    a = calloc(1, sizeof(*a));
    if (a == NULL || (a->key = strdup(key)) == NULL) {
        free(a);
        return NULL;
    }
    if (px_map_put(m, px_cstr(a->key), a) < 0) {
        free(a->key);
        free(a);
        return NULL;
    }
    return a;
}

static void alias_drop_if_empty(px_map_t *m, px_alias_t *a)
{
    if (a->n > 0 || a->nw > 0)
        return;
    px_map_del(m, px_cstr(a->key));
    free(a->items);
    free(a->watchers);
    free(a->key);
    free(a);
}

int px_alias_add(px_map_t *m, const char *key, const char *item)
{
    px_alias_t *a = alias_get_or_new(m, key);
    if (a == NULL)
        return PX_ENOMEM;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i], item) == 0)
            return 0;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        char **items = realloc(a->items, cap * sizeof(*items));
        if (items == NULL)
            return PX_ENOMEM;
        a->items = items;
        a->cap = cap;
    }
    if ((a->items[a->n] = strdup(item)) == NULL) {
        alias_drop_if_empty(m, a);
        return PX_ENOMEM;
    }
    a->n++;
    return 1;
}

int px_alias_remove(px_map_t *m, const char *key, const char *item)
{
    px_alias_t *a = px_map_get(m, px_cstr(key));
    if (a == NULL)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i], item) == 0) {
            free(a->items[i]);
            memmove(a->items + i, a->items + i + 1, (a->n - i - 1) * sizeof(*a->items));
            a->n--;
            alias_drop_if_empty(m, a);
            return 1;
        }
    return 0;
}

int px_alias_watch(px_map_t *m, const char *key, void *watcher, int on)
{
    px_alias_t *a = on ? alias_get_or_new(m, key) : px_map_get(m, px_cstr(key));
    if (a == NULL)
        return on ? PX_ENOMEM : 0;
    if (!on) {
        for (size_t i = 0; i < a->nw; i++)
            if (a->watchers[i] == watcher) {
                a->watchers[i] = a->watchers[--a->nw];
                break;
            }
        alias_drop_if_empty(m, a);
        return 0;
    }
    if (a->nw == a->capw) {
        size_t cap = a->capw ? a->capw * 2 : 2;
        void **w = realloc(a->watchers, cap * sizeof(*w));
        if (w == NULL)
            return PX_ENOMEM;
        a->watchers = w;
        a->capw = cap;
    }
    a->watchers[a->nw++] = watcher;
    return 0;
}

void px_aliases_free(px_map_t *m)
{
    size_t it = 0;
    px_alias_t *a;
    while ((a = px_map_next(m, &it)) != NULL) {
        for (size_t i = 0; i < a->n; i++)
            free(a->items[i]);
        free(a->items);
        free(a->watchers);
        free(a->key);
        free(a);
    }
    px_map_free(m);
}

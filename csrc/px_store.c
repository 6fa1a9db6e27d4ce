/* px_store.c - picking a backend by URL scheme, and helpers the backends
 * share. */
#include "px_store.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "px_app.h"
#include "px_err.h"

/* Compiled backends, tried in order. */
static const px_store_vtable_t *const backends[] = {
    &px__store_memory_vtable,
    &px__store_sqlite_vtable,
    &px__store_mongo_vtable,
};

/* Open errors go to a per-thread buffer so messages can name the path and
 * the backend's reason without the caller freeing anything. */
static _Thread_local char open_error[PX_STORE_ERRMSG_SIZE + 256];

/* Returns the length of prefix when s starts with it, ignoring ASCII case,
 * else 0. */
static size_t scheme_match(const char *s, const char *prefix)
{
    size_t i = 0;
    for (; prefix[i]; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != prefix[i])
            return 0;
    }
    return i;
}

int px_store_open(const char *url, px_store_t **out, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = NULL;
    if (url == NULL || *url == '\0') {
        *why = "empty store URL (expected memory:, sqlite:///path or mongodb://host/db)";
        return PX_EINVAL;
    }
    for (size_t i = 0; i < PX_ARRAY_SIZE(backends); i++) {
        size_t n = scheme_match(url, backends[i]->scheme);
        if (n > 0)
            return backends[i]->open(url + n, out, why);
    }
    *why = "unknown store URL scheme (expected memory:, sqlite:///path or mongodb://host/db)";
    return PX_EINVAL;
}

void px__store_set_error(px_store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
}

const char *px__store_open_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(open_error, sizeof open_error, fmt, ap);
    va_end(ap);
    return open_error;
}

int px__store_normalise_app(px_store_t *s, const json_t *app, json_t **out)
{
    px_app_t *a = NULL;
    const char *why = NULL;
    int rc = px_app_from_json(app, &a, &why);
    if (rc < 0) {
        px__store_set_error(s, "%s", why ? why : px_strerror(rc));
        return rc;
    }
    json_t *doc = px_app_to_json(a);
    px_app_free(a);
    if (doc == NULL) {
        px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
        return PX_ENOMEM;
    }
    *out = doc;
    return 0;
}

int px__store_need(px_store_t *s, const char *v, const char *what)
{
    if (v != NULL && *v != '\0')
        return 0;
    px__store_set_error(s, "%s must be a non-empty string", what);
    return PX_EINVAL;
}

int64_t px__store_now(void)
{
    return (int64_t)time(NULL);
}

int px__store_reserved_extra(const char *k)
{
    static const char *const reserved[] = {"channel", "event", "data", "mid", "timestamp"};
    for (size_t i = 0; i < PX_ARRAY_SIZE(reserved); i++)
        if (strcmp(k, reserved[i]) == 0)
            return 1;
    return 0;
}

int px__store_storable_key(const char *k)
{
    return k[0] != '\0' && k[0] != '$' && strchr(k, '.') == NULL;
}

/* Returns a deep copy of v (owned) without the object members that may not
 * be stored (px__store_storable_key), at any depth, and at the top (top
 * set) without reserved members. NULL on out of memory. */
static json_t *clean_json(const json_t *v, int top)
{
    json_t *out, *x;
    const char *k;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        if ((out = json_object()) == NULL)
            return NULL;
        json_object_foreach((json_t *)v, k, x) {
            if (!px__store_storable_key(k) || (top && px__store_reserved_extra(k)))
                continue;
            if (json_object_set_new(out, k, clean_json(x, 0)) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    case JSON_ARRAY:
        if ((out = json_array()) == NULL)
            return NULL;
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (json_array_append_new(out, clean_json(json_array_get(v, i), 0)) < 0) {
                json_decref(out);
                return NULL;
            }
        }
        return out;
    default:
        return json_deep_copy(v);
    }
}

/* Reads the member k of ev as a non-empty string without NUL bytes into
 * *out. Returns 0 or PX_EINVAL with errmsg naming event i. */
static int event_str(px_store_t *s, const json_t *ev, size_t i, const char *k, const char **out)
{
    json_t *v = json_object_get(ev, k);
    const char *str = json_string_value(v);
    if (str == NULL || *str == '\0' || strlen(str) != json_string_length(v)) {
        px__store_set_error(s, "event %zu: \"%s\" must be a non-empty string without NUL", i,
                            k);
        return PX_EINVAL;
    }
    *out = str;
    return 0;
}

/* Checks one event object and takes it apart into *e (borrowing from ev). */
static int check_event(px_store_t *s, const json_t *ev, size_t i, px__store_event_t *e)
{
    int rc;
    if (!json_is_object(ev)) {
        px__store_set_error(s, "event %zu is not a JSON object", i);
        return PX_EINVAL;
    }
    if ((rc = event_str(s, ev, i, "app_id", &e->app_id)) < 0 ||
        (rc = event_str(s, ev, i, "channel", &e->channel)) < 0 ||
        (rc = event_str(s, ev, i, "name", &e->name)) < 0 ||
        (rc = event_str(s, ev, i, "mid", &e->mid)) < 0)
        return rc;
    json_t *data = json_object_get(ev, "data");
    if (!json_is_string(data)) {
        px__store_set_error(s, "event %zu: \"data\" must be a string", i);
        return PX_EINVAL;
    }
    e->data = json_string_value(data);
    e->data_len = json_string_length(data);
    json_t *ts = json_object_get(ev, "timestamp");
    e->timestamp = json_number_value(ts);
    if (!json_is_number(ts) || !isfinite(e->timestamp)) {
        px__store_set_error(s, "event %zu: \"timestamp\" must be a number (seconds)", i);
        return PX_EINVAL;
    }
    json_t *owner = json_object_get(ev, "owner_id");
    e->owner_id = NULL;
    if (owner != NULL && !json_is_null(owner) &&
        (rc = event_str(s, ev, i, "owner_id", &e->owner_id)) < 0)
        return rc;
    json_t *extra = json_object_get(ev, "extra");
    e->extra = NULL;
    if (extra != NULL && !json_is_null(extra)) {
        if (!json_is_object(extra)) {
            px__store_set_error(s, "event %zu: \"extra\" must be an object or null", i);
            return PX_EINVAL;
        }
        if (json_object_size(extra) > 0)
            e->extra = extra;
    }
    return 0;
}

json_t *px__store_event_json(int64_t id, const px__store_event_t *e)
{
    json_t *extra = json_object();
    if (extra == NULL)
        return NULL;
    if (e->extra != NULL) {
        const char *k;
        json_t *v;
        /* json_object_foreach takes a non-const object; it only reads. */
        json_object_foreach((json_t *)e->extra, k, v) {
            if (!px__store_reserved_extra(k) && json_object_set(extra, k, v) < 0) {
                json_decref(extra);
                return NULL;
            }
        }
    }
    return json_pack("{s:I, s:s, s:s, s:s, s:s%, s:s, s:f, s:s?, s:o}", "id", (json_int_t)id,
                     "app_id", e->app_id, "channel", e->channel, "name", e->name, "data",
                     e->data, e->data_len, "mid", e->mid, "timestamp", e->timestamp,
                     "owner_id", e->owner_id, "extra", extra);
}

/* The dispatchers of the history, subscription and inbox operations: check
 * the arguments once for every backend, then call it. */

/* Sets *out to a new empty array, for count == 0 (which backends never see:
 * MongoDB reads a limit of 0 as "no limit"). */
static int empty_result(px_store_t *s, json_t **out)
{
    json_t *arr = json_array();
    if (arr == NULL) {
        px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
        return PX_ENOMEM;
    }
    *out = arr;
    return 0;
}

int px_store_append_events(px_store_t *s, const json_t *events)
{
    s->errmsg[0] = '\0';
    if (!json_is_array(events)) {
        px__store_set_error(s, "events must be a JSON array");
        return PX_EINVAL;
    }
    size_t n = json_array_size(events);
    if (n == 0)
        return 0;
    px__store_event_t *ev = calloc(n, sizeof(*ev));
    if (ev == NULL) {
        px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
        return PX_ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = check_event(s, json_array_get(events, i), i, &ev[i]);
    /* Every backend stores the same extra: a cleaned copy (owned here). */
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (ev[i].extra == NULL)
            continue;
        json_t *clean = clean_json(ev[i].extra, 1);
        if (clean == NULL) {
            px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
            rc = PX_ENOMEM;
        } else if (json_object_size(clean) == 0) {
            json_decref(clean);
            ev[i].extra = NULL;
        } else {
            ev[i].extra = clean;
        }
    }
    if (rc == 0)
        rc = s->vt->append_events(s, ev, n);
    /* The extras still set are the clean copies (or, after a failure while
     * cleaning, some originals: release only what was made here). */
    for (size_t i = 0; i < n; i++) {
        json_t *orig = json_object_get(json_array_get(events, i), "extra");
        if (ev[i].extra != NULL && ev[i].extra != orig)
            json_decref((json_t *)ev[i].extra);
    }
    free(ev);
    return rc;
}

int px_store_latest_events(px_store_t *s, const char *app_id, const char *channel, size_t skip,
                           size_t count, json_t **out_array)
{
    int rc;
    s->errmsg[0] = '\0';
    if ((rc = px__store_need(s, app_id, "app_id")) < 0 ||
        (channel != NULL && (rc = px__store_need(s, channel, "channel")) < 0))
        return rc;
    if (count == 0)
        return empty_result(s, out_array);
    return s->vt->latest_events(s, app_id, channel, skip, count, out_array);
}

int px_store_prune_events(px_store_t *s, const char *app_id, const char *channel,
                          size_t keep_count, double max_age, double now)
{
    int rc;
    s->errmsg[0] = '\0';
    if ((rc = px__store_need(s, app_id, "app_id")) < 0 ||
        (channel != NULL && (rc = px__store_need(s, channel, "channel")) < 0))
        return rc;
    if (isnan(max_age) || max_age < 0 || !isfinite(now)) {
        px__store_set_error(s, "max_age must be a non-negative number (INFINITY for none) "
                               "and now a finite time");
        return PX_EINVAL;
    }
    return s->vt->prune_events(s, app_id, channel, keep_count, max_age, now);
}

int px_store_put_subscription(px_store_t *s, const char *app_id, const char *user_id,
                              const char *event)
{
    int rc;
    s->errmsg[0] = '\0';
    if ((rc = px__store_need(s, app_id, "app_id")) < 0 ||
        (rc = px__store_need(s, user_id, "user_id")) < 0 ||
        (rc = px__store_need(s, event, "event")) < 0)
        return rc;
    return s->vt->put_subscription(s, app_id, user_id, event);
}

int px_store_delete_subscription(px_store_t *s, const char *app_id, const char *user_id,
                                 const char *event)
{
    int rc;
    s->errmsg[0] = '\0';
    if ((rc = px__store_need(s, app_id, "app_id")) < 0 ||
        (rc = px__store_need(s, user_id, "user_id")) < 0 ||
        (rc = px__store_need(s, event, "event")) < 0)
        return rc;
    return s->vt->delete_subscription(s, app_id, user_id, event);
}

int px_store_list_subscriptions(px_store_t *s, const char *app_id, const char *user_id,
                                const char *event, json_t **out_array)
{
    int rc;
    s->errmsg[0] = '\0';
    if ((rc = px__store_need(s, app_id, "app_id")) < 0 ||
        (user_id != NULL && (rc = px__store_need(s, user_id, "user_id")) < 0) ||
        (event != NULL && (rc = px__store_need(s, event, "event")) < 0))
        return rc;
    return s->vt->list_subscriptions(s, app_id, user_id, event, out_array);
}

int px_store_add_associations(px_store_t *s, const char *app_id, const char *mid,
                              const char *const *user_ids, size_t n)
{
    int rc;
    s->errmsg[0] = '\0';
    if ((rc = px__store_need(s, app_id, "app_id")) < 0 ||
        (rc = px__store_need(s, mid, "mid")) < 0)
        return rc;
    for (size_t i = 0; i < n; i++)
        if ((rc = px__store_need(s, user_ids[i], "every user_id")) < 0)
            return rc;
    if (n == 0)
        return 0;
    return s->vt->add_associations(s, app_id, mid, user_ids, n);
}

int px_store_user_events(px_store_t *s, const char *app_id, const char *user_id, size_t skip,
                         size_t count, json_t **out_array)
{
    int rc;
    s->errmsg[0] = '\0';
    if ((rc = px__store_need(s, app_id, "app_id")) < 0 ||
        (rc = px__store_need(s, user_id, "user_id")) < 0)
        return rc;
    if (count == 0)
        return empty_result(s, out_array);
    return s->vt->user_events(s, app_id, user_id, skip, count, out_array);
}

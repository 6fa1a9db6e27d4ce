/* px_api.c - Pusher HTTP API handlers. */
#include "px_api.h"

#include <stdlib.h>
#include <string.h>

#include "px_auth.h"
#include "px_err.h"
#include "px_proto.h"
#include "px_router.h"

typedef struct {
    px_api_t *api;
    px_str_t method;
    px_str_t path;      /* raw path as sent */
    px_query_t query;
    px_str_t body;
    px_buf_t *out;
    px_app_t *app;
} req_t;

static int fail(px_buf_t *out, int status, const char *msg)
{
    out->len = 0;
    int rc = px_buf_puts(out, "{\"error\":\"");
    rc |= px_buf_json_escape(out, msg, strlen(msg));
    rc |= px_buf_puts(out, "\"}");
    return rc ? 500 : status;
}

static int json_reply(px_buf_t *out, json_t *v)
{
    if (v == NULL)
        return fail(out, 500, "out of memory");
    int rc = px_json_dump(out, v);
    json_decref(v);
    return rc < 0 ? fail(out, 500, "out of memory") : 200;
}

/* Splits path into at most max percent-decoded segments (copies into
 * storage). A decoded segment may hold up to PX_MAX_NAME + 7 bytes, however
 * long its encoded form; "%00" and malformed escapes are refused. */
static int split_path(px_str_t path, char segs[][PX_MAX_NAME + 8], int max)
{
    return px_path_split(path, segs[0], sizeof segs[0], max);
}

static int authenticate(req_t *r)
{
    const char *why = NULL;
    px_hub_t *hub = r->api->hub;
    if (px_auth_request(r->app, r->method, r->path, &r->query, r->body, hub->wall_s,
                        r->api->auth_window, &why) < 0)
        return fail(r->out, 401, why);
    if (!r->app->enabled)
        return fail(r->out, 403, "app is disabled");
    return 0;
}

static int check_channel(px_str_t name)
{
    return px_channel_name_check(name) == 0 && strlen(name.p) == name.n;
}

/* Adds {"user_count":..,"subscription_count":..} for channel name per info. */
static json_t *channel_info(px_app_t *app, const char *name, int want_users, int want_subs)
{
    px_channel_t *ch = px_hub_channel(app, px_cstr(name));
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    if (want_users && px_chan_kind(px_cstr(name)) == PX_CHAN_PRESENCE)
        json_object_set_new(o, "user_count", json_integer(ch ? ch->nmembers : 0));
    if (want_subs)
        json_object_set_new(o, "subscription_count", json_integer(ch ? ch->nsubs : 0));
    return o;
}

static void parse_info(const char *info, int *users, int *subs)
{
    *users = *subs = 0;
    if (info == NULL)
        return;
    const char *p = info;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 10 && memcmp(p, "user_count", 10) == 0)
            *users = 1;
        else if (n == 18 && memcmp(p, "subscription_count", 18) == 0)
            *subs = 1;
        p += n;
        if (*p == ',')
            p++;
    }
}

/* One validated event: the channels, name, data and exclusion. Slices
 * borrow from the parsed JSON document. */
typedef struct {
    px_str_t channels[100];
    size_t nchannels;
    px_str_t name;
    px_str_t data;
    px_buf_t data_buf;  /* when data had to be serialised */
    px_str_t socket_id;
    const char *info;
} event_t;

/* Validates one event object; returns 0 or an HTTP status with out set. */
static int parse_event(req_t *r, json_t *ev, event_t *e, int batch)
{
    memset(e, 0, sizeof(*e));
    if (!json_is_object(ev))
        return fail(r->out, 400, "event must be a JSON object");
    e->name = px_json_str(ev, "name");
    if (e->name.p == NULL || px_event_name_check(e->name) < 0)
        return fail(r->out, 400, "name must be a string of 1-200 characters");
    json_t *chs = json_object_get(ev, "channels");
    json_t *ch = json_object_get(ev, "channel");
    if (chs != NULL && !batch) {
        if (!json_is_array(chs) || json_array_size(chs) == 0)
            return fail(r->out, 400, "channels must be a non-empty array of strings");
        if (json_array_size(chs) > r->api->max_channels_per_event ||
            json_array_size(chs) > PX_ARRAY_SIZE(e->channels))
            return fail(r->out, 400, "too many channels: at most 100 per event");
        size_t i;
        json_t *v;
        json_array_foreach(chs, i, v) {
            if (!json_is_string(v))
                return fail(r->out, 400, "channels must be a non-empty array of strings");
            e->channels[e->nchannels++] = (px_str_t){json_string_value(v), json_string_length(v)};
        }
    } else if (json_is_string(ch)) {
        e->channels[e->nchannels++] = (px_str_t){json_string_value(ch), json_string_length(ch)};
    } else {
        return fail(r->out, 400, batch ? "each batch event needs a channel string"
                                        : "channel or channels is required");
    }
    int encrypted = 0;
    for (size_t i = 0; i < e->nchannels; i++) {
        if (!check_channel(e->channels[i]))
            return fail(r->out, 400, "invalid channel name: 1-200 characters of "
                                     "[A-Za-z0-9_-=@,.;] or #server-to-user-<id>");
        encrypted |= px_chan_kind(e->channels[i]) == PX_CHAN_ENCRYPTED;
    }
    if (encrypted && e->nchannels > 1)
        return fail(r->out, 400, "an event to an encrypted channel must name only that channel");
    json_t *data = json_object_get(ev, "data");
    if (json_is_string(data)) {
        e->data = (px_str_t){json_string_value(data), json_string_length(data)};
    } else if (data == NULL || json_is_null(data)) {
        return fail(r->out, 400, "data is required (a string)");
    } else {
        if (px_json_dump(&e->data_buf, data) < 0)
            return fail(r->out, 500, "out of memory");
        e->data = (px_str_t){e->data_buf.data, e->data_buf.len};
    }
    if (e->data.n > r->app->max_event_bytes) {
        px_buf_free(&e->data_buf);
        return fail(r->out, 413, "data is larger than the app's max_event_bytes");
    }
    json_t *sid = json_object_get(ev, "socket_id");
    if (sid != NULL && !json_is_null(sid)) {
        uint64_t a, b;
        e->socket_id = px_json_str(ev, "socket_id");
        if (e->socket_id.p == NULL || px_socket_id_parse(e->socket_id, &a, &b) < 0) {
            px_buf_free(&e->data_buf);
            return fail(r->out, 400, "socket_id must look like 123.456");
        }
    }
    json_t *info = json_object_get(ev, "info");
    if (json_is_string(info))
        e->info = json_string_value(info);
    return 0;
}

static json_t *event_info(px_app_t *app, const event_t *e)
{
    int users, subs;
    parse_info(e->info, &users, &subs);
    json_t *o = json_object();
    for (size_t i = 0; o && i < e->nchannels; i++) {
        char name[PX_MAX_NAME + 1];
        memcpy(name, e->channels[i].p, e->channels[i].n);
        name[e->channels[i].n] = '\0';
        json_object_set_new(o, name, channel_info(app, name, users, subs));
    }
    return o;
}

static json_t *load_body(req_t *r, int *status)
{
    json_error_t err;
    json_t *doc = json_loadb(r->body.p, r->body.n, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(doc)) {
        json_decref(doc);
        *status = fail(r->out, 400, "body must be a JSON object");
        return NULL;
    }
    return doc;
}

static int post_events(req_t *r)
{
    int status = 0;
    json_t *doc = load_body(r, &status);
    if (doc == NULL)
        return status;
    event_t *e = malloc(sizeof(*e));
    if (e == NULL) {
        json_decref(doc);
        return fail(r->out, 500, "out of memory");
    }
    if ((status = parse_event(r, doc, e, 0)) == 0) {
        long rc = px_router_trigger(r->api->hub, r->app, e->channels, e->nchannels, e->name,
                                    e->data, e->socket_id);
        if (rc == PX_ELIMIT)
            status = fail(r->out, 503, "the persistence backlog is full: retry later");
        else if (rc < 0)
            status = fail(r->out, 500, "out of memory");
        else if (e->info != NULL)
            status = json_reply(r->out, json_pack("{s:o}", "channels", event_info(r->app, e)));
        else
            status = px_buf_puts(r->out, "{}") ? 500 : 200;
        px_buf_free(&e->data_buf);
    }
    free(e);
    json_decref(doc);
    return status;
}

static int post_batch(req_t *r)
{
    int status = 0;
    json_t *doc = load_body(r, &status);
    if (doc == NULL)
        return status;
    json_t *batch = json_object_get(doc, "batch");
    size_t n = json_array_size(batch);
    if (!json_is_array(batch) || n == 0) {
        json_decref(doc);
        return fail(r->out, 400, "batch must be a non-empty array of events");
    }
    if (n > r->api->max_batch) {
        json_decref(doc);
        return fail(r->out, 400, "batch too large: at most 10 events");
    }
    event_t *evs = calloc(n, sizeof(*evs));
    if (evs == NULL) {
        json_decref(doc);
        return fail(r->out, 500, "out of memory");
    }
    size_t parsed = 0;
    int any_info = 0;
    /* Validate every event before publishing any: a batch is all or none. */
    for (; parsed < n; parsed++) {
        if ((status = parse_event(r, json_array_get(batch, parsed), &evs[parsed], 1)) != 0)
            break;
        any_info |= evs[parsed].info != NULL;
    }
    if (status == 0) {
        for (size_t i = 0; i < n && status == 0; i++) {
            long rc = px_router_trigger(r->api->hub, r->app, evs[i].channels, evs[i].nchannels,
                                        evs[i].name, evs[i].data, evs[i].socket_id);
            if (rc == PX_ELIMIT)
                status = fail(r->out, 503, "the persistence backlog is full: retry later");
            else if (rc < 0)
                status = fail(r->out, 500, "out of memory");
        }
        if (status == 0 && any_info) {
            json_t *arr = json_array();
            for (size_t i = 0; arr && i < n; i++) {
                if (evs[i].info == NULL) {
                    json_array_append_new(arr, json_object());
                    continue;
                }
                json_t *o = event_info(r->app, &evs[i]);
                json_t *one = json_object_get(o, "");
                PX_UNUSED(one);
                /* Pusher's batch info is per event, keyed by nothing: the
                 * attributes of the event's one channel. */
                size_t it = 0;
                const char *k;
                json_t *v, *first = NULL;
                json_object_foreach(o, k, v) {
                    if (it++ == 0)
                        first = v;
                }
                if (first != NULL)
                    json_array_append(arr, first);
                else
                    json_array_append_new(arr, json_object());
                json_decref(o);
            }
            status = json_reply(r->out, json_pack("{s:o}", "batch", arr));
        } else if (status == 0) {
            status = px_buf_puts(r->out, "{}") ? 500 : 200;
        }
    }
    for (size_t i = 0; i < parsed; i++)
        px_buf_free(&evs[i].data_buf);
    free(evs);
    json_decref(doc);
    return status;
}

static int get_channels(req_t *r)
{
    const px_param_t *prefix = px_query_get(&r->query, "filter_by_prefix");
    const px_param_t *info = px_query_get(&r->query, "info");
    int users = 0, subs = 0;
    parse_info(info ? info->val : NULL, &users, &subs);
    if (users && (prefix == NULL || strncmp(prefix->val, "presence-", 9) != 0))
        return fail(r->out, 400, "info=user_count needs filter_by_prefix=presence-");
    json_t *chans = json_object();
    size_t it = 0;
    px_channel_t *ch;
    while (chans && (ch = px_map_next(&r->app->channels, &it)) != NULL) {
        if (prefix && strncmp(ch->name, prefix->val, prefix->vlen) != 0)
            continue;
        if (ch->kind == PX_CHAN_USER)
            continue;
        json_object_set_new(chans, ch->name, channel_info(r->app, ch->name, users, subs));
    }
    return json_reply(r->out, json_pack("{s:o}", "channels", chans));
}

static int get_channel(req_t *r, const char *name)
{
    if (!check_channel(px_cstr(name)))
        return fail(r->out, 400, "invalid channel name");
    const px_param_t *info = px_query_get(&r->query, "info");
    int users = 0, subs = 0;
    parse_info(info ? info->val : NULL, &users, &subs);
    if (users && px_chan_kind(px_cstr(name)) != PX_CHAN_PRESENCE)
        return fail(r->out, 400, "info=user_count is only valid for presence channels");
    px_channel_t *ch = px_hub_channel(r->app, px_cstr(name));
    json_t *o = channel_info(r->app, name, users, subs);
    if (o != NULL)
        json_object_set_new(o, "occupied", json_boolean(ch != NULL));
    return json_reply(r->out, o);
}

static int get_users(req_t *r, const char *name)
{
    if (!check_channel(px_cstr(name)))
        return fail(r->out, 400, "invalid channel name");
    if (px_chan_kind(px_cstr(name)) != PX_CHAN_PRESENCE)
        return fail(r->out, 400, "users are only available for presence channels");
    px_channel_t *ch = px_hub_channel(r->app, px_cstr(name));
    json_t *arr = json_array();
    for (px_member_t *m = ch ? ch->mhead : NULL; arr && m; m = m->next)
        json_array_append_new(arr, json_pack("{s:s}", "id", m->user_id));
    return json_reply(r->out, json_pack("{s:o}", "users", arr));
}

static int terminate(req_t *r, const char *user_id)
{
    if (px_user_id_check(px_cstr(user_id)) < 0)
        return fail(r->out, 400, "invalid user id");
    if (r->api->terminate_user)
        r->api->terminate_user(r->api->ud, r->app, px_cstr(user_id));
    return px_buf_puts(r->out, "{}") ? 500 : 200;
}

static int route(req_t *r)
{
    char segs[6][PX_MAX_NAME + 8];
    int n = split_path(r->path, segs, 6);
    int is_get = px_str_eq(r->method, PX_STR("GET")) || px_str_eq(r->method, PX_STR("HEAD"));
    int is_post = px_str_eq(r->method, PX_STR("POST"));
    if (n == 1 && strcmp(segs[0], "health") == 0) {
        if (!is_get)
            return fail(r->out, 405, "method not allowed");
        /* Both shapes: Pusher-style peers' "ok" and the original pushi's
         * status/service/version. */
        return px_buf_printf(r->out, "{\"status\":\"ok\",\"service\":\"pushi\",\"version\":\""
                             PX_VERSION "\",\"ok\":true,\"connections\":%llu,\"channels\":%llu}",
                             (unsigned long long)r->api->hub->stats.connections,
                             (unsigned long long)r->api->hub->stats.channels) ? 500 : 200;
    }
    /* The official Python SDK posts terminate_connections without the
     * /apps/<id> prefix: find the app by auth_key instead. */
    if (n == 3 && strcmp(segs[0], "users") == 0 && strcmp(segs[2], "terminate_connections") == 0) {
        const px_param_t *k = px_query_get(&r->query, "auth_key");
        r->app = k ? px_apps_by_key(&r->api->hub->apps, (px_str_t){k->val, k->vlen}) : NULL;
        if (r->app == NULL)
            return fail(r->out, 401, "unknown auth_key");
        int st = authenticate(r);
        if (st)
            return st;
        if (!is_post)
            return fail(r->out, 405, "method not allowed");
        return terminate(r, segs[1]);
    }
    if (n < 3 || strcmp(segs[0], "apps") != 0)
        return fail(r->out, 404, "not found");
    r->app = px_apps_by_id(&r->api->hub->apps, px_cstr(segs[1]));
    if (r->app == NULL)
        return fail(r->out, 404, "unknown app id");
    int st = authenticate(r);
    if (st)
        return st;
    const char *what = segs[2];
    if (n == 3 && strcmp(what, "events") == 0)
        return is_post ? post_events(r) : fail(r->out, 405, "method not allowed");
    if (n == 3 && strcmp(what, "batch_events") == 0)
        return is_post ? post_batch(r) : fail(r->out, 405, "method not allowed");
    if (n == 3 && strcmp(what, "channels") == 0)
        return is_get ? get_channels(r) : fail(r->out, 405, "method not allowed");
    if (n == 4 && strcmp(what, "channels") == 0)
        return is_get ? get_channel(r, segs[3]) : fail(r->out, 405, "method not allowed");
    if (n == 5 && strcmp(what, "channels") == 0 && strcmp(segs[4], "users") == 0)
        return is_get ? get_users(r, segs[3]) : fail(r->out, 405, "method not allowed");
    if (n == 5 && strcmp(what, "users") == 0 && strcmp(segs[4], "terminate_connections") == 0)
        return is_post ? terminate(r, segs[3]) : fail(r->out, 405, "method not allowed");
    return fail(r->out, 404, "not found");
}

int px_api_handle(px_api_t *api, px_str_t method, px_str_t target, px_str_t body,
                  px_buf_t *out)
{
    req_t r;
    memset(&r, 0, sizeof r);
    r.api = api;
    r.method = method;
    r.body = body;
    r.out = out;
    api->hub->stats.http_requests++;
    const char *q = memchr(target.p, '?', target.n);
    r.path = (px_str_t){target.p, q ? (size_t)(q - target.p) : target.n};
    px_str_t rawq = q ? (px_str_t){q + 1, target.n - r.path.n - 1} : (px_str_t){"", 0};
    if (px_query_parse(rawq, &r.query) < 0)
        return fail(out, 400, "malformed query string");
    int status = route(&r);
    px_query_free(&r.query);
    return status;
}

/* px_classic_api.c - the original pushi's REST API: sessions, events,
 * subscriptions, apps. */
#include "px_classic_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "px_auth.h"
#include "px_classic.h"
#include "px_crypto.h"
#include "px_err.h"
#include "px_proto.h"

#define MAX_SESSIONS 100000

/* Sessions expire after 31 days, as the original's did; past MAX_SESSIONS
 * the oldest is dropped (its client logs in again on the next 403). */
#define SESSION_TTL_S (31 * 86400)

typedef struct px_session_s {
    char token[65];
    char *app_id;   /* owned; NULL for an admin session */
    int64_t created; /* wall-clock seconds */
    struct px_session_s *prev, *next; /* creation order */
} session_t;



typedef struct {
    px_api_t *api;
    px_classic_req_t *req;
    px_query_t query;
    px_query_t form;       /* urlencoded body */
    json_t *json;          /* JSON body (object) or NULL */
    px_buf_t *out, *headers;
    session_t *session;
    int admin;
} creq_t;

static int error(creq_t *r, int status, const char *name, const char *message)
{
    r->out->len = 0;
    int rc = px_buf_puts(r->out, "{\"result\":\"error\",\"name\":\"");
    rc |= px_buf_puts(r->out, name);
    rc |= px_buf_puts(r->out, "\",\"message\":\"");
    rc |= px_buf_json_escape(r->out, message, strlen(message));
    rc |= px_buf_printf(r->out, "\",\"code\":%d}", status);
    return rc ? 500 : status;
}

static int reply(creq_t *r, json_t *v)
{
    if (v == NULL || px_json_dump(r->out, v) < 0) {
        json_decref(v);
        return error(r, 500, "MemoryError", "out of memory");
    }
    json_decref(v);
    return 200;
}

static int success(creq_t *r)
{
    return px_buf_puts(r->out, "{\"result\":\"success\"}") ? 500 : 200;
}

/* A parameter from the query, the form body or the JSON body (in that
 * order of precedence, as the original merges them with the query
 * winning). Returns a borrowed C string or NULL. */
static const char *param(creq_t *r, const char *name)
{
    const px_param_t *p = px_query_get(&r->query, name);
    if (p != NULL)
        return p->val;
    if ((p = px_query_get(&r->form, name)) != NULL)
        return p->val;
    json_t *v = json_object_get(r->json, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int truthy(const char *s)
{
    return s != NULL && !(s[0] == '\0' || !strcmp(s, "0") || !strcmp(s, "false") ||
                          !strcmp(s, "False"));
}

/* The value of cookie name in a Cookie header, copied into buf. */
static const char *cookie(px_str_t header, const char *name, char *buf, size_t cap)
{
    size_t n = strlen(name);
    size_t i = 0;
    while (i < header.n) {
        while (i < header.n && (header.p[i] == ' ' || header.p[i] == ';'))
            i++;
        size_t start = i;
        while (i < header.n && header.p[i] != ';')
            i++;
        if (i - start > n + 1 && memcmp(header.p + start, name, n) == 0 &&
            header.p[start + n] == '=') {
            size_t len = i - start - n - 1;
            if (len >= cap)
                return NULL;
            memcpy(buf, header.p + start + n + 1, len);
            buf[len] = '\0';
            return buf;
        }
    }
    return NULL;
}

static void drop_session(px_api_t *api, session_t *s)
{
    px_map_del(&api->sessions, px_cstr(s->token));
    if (s->prev)
        s->prev->next = s->next;
    else
        api->session_oldest = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        api->session_newest = s->prev;
    free(s->app_id);
    free(s);
}

static void find_session(creq_t *r)
{
    static const char *names[] = {"sid", "session_id", "_sid"};
    const char *sid = NULL;
    char hdr[80], ck[80];
    if (r->req->session_header.p != NULL && r->req->session_header.n < sizeof hdr) {
        memcpy(hdr, r->req->session_header.p, r->req->session_header.n);
        hdr[r->req->session_header.n] = '\0';
        sid = hdr;
    }
    for (size_t i = 0; sid == NULL && i < PX_ARRAY_SIZE(names); i++)
        sid = param(r, names[i]);
    if (sid == NULL && r->req->cookie.p != NULL)
        sid = cookie(r->req->cookie, "sid", ck, sizeof ck);
    if (sid != NULL)
        r->session = px_map_get(&r->api->sessions, px_cstr(sid));
    if (r->session != NULL && r->api->hub->wall_s - r->session->created > SESSION_TTL_S) {
        drop_session(r->api, r->session);
        r->session = NULL;
    }
    const char *admin = r->api->admin_token;
    if (admin != NULL && admin[0] != '\0') {
        if (r->session != NULL && r->session->app_id == NULL)
            r->admin = 1;
        if (r->req->admin_header.p != NULL &&
            px_ct_equal(r->req->admin_header, px_cstr(admin)))
            r->admin = 1;
    }
}

static px_app_t *session_app(creq_t *r)
{
    if (r->session == NULL || r->session->app_id == NULL)
        return NULL;
    return px_apps_by_id(&r->api->hub->apps, px_cstr(r->session->app_id));
}

static int new_session(creq_t *r, const char *app_id)
{
    px_api_t *api = r->api;
    while (api->sessions.len >= MAX_SESSIONS && api->session_oldest != NULL)
        drop_session(api, api->session_oldest);
    session_t *s = calloc(1, sizeof(*s));
    uint8_t rnd[32];
    if (s == NULL || px_random_bytes(rnd, sizeof rnd) < 0 ||
        (app_id != NULL && (s->app_id = strdup(app_id)) == NULL)) {
        free(s);
        return error(r, 500, "MemoryError", "out of memory");
    }
    px_hex(rnd, sizeof rnd, s->token);
    if (px_map_put(&r->api->sessions, px_cstr(s->token), s) < 0) {
        free(s->app_id);
        free(s);
        return error(r, 500, "MemoryError", "out of memory");
    }
    s->created = r->api->hub->wall_s;
    s->prev = api->session_newest;
    if (api->session_newest)
        api->session_newest->next = s;
    else
        api->session_oldest = s;
    api->session_newest = s;
    px_buf_printf(r->headers, "Set-Cookie: sid=%s; Path=/; HttpOnly; SameSite=Lax\r\n", s->token);
    return reply(r, json_pack("{s:s}", "token", s->token));
}

static int login(creq_t *r)
{
    const char *admin = param(r, "admin_token");
    if (admin != NULL) {
        const char *expect = r->api->admin_token;
        if (expect == NULL || expect[0] == '\0' || !px_ct_equal(px_cstr(admin), px_cstr(expect)))
            return error(r, 403, "OperationalError", "invalid admin token");
        return new_session(r, NULL);
    }
    const char *id = param(r, "app_id"), *key = param(r, "app_key"), *secret = param(r, "app_secret");
    px_app_t *app = id ? px_apps_by_id(&r->api->hub->apps, px_cstr(id)) : NULL;
    /* Evaluate both comparisons: timing must not tell which was wrong. */
    int ok = app != NULL && key != NULL && secret != NULL;
    if (ok) {
        int k = px_ct_equal(px_cstr(key), px_cstr(app->key));
        int s = px_ct_equal(px_cstr(secret), px_cstr(app->secret));
        ok = k & s;
    }
    if (!ok)
        return error(r, 404, "NotFoundError", "no app with these credentials");
    return new_session(r, app->id);
}

static int logout(creq_t *r)
{
    if (r->session != NULL) {
        drop_session(r->api, r->session);
        r->session = NULL;
    }
    r->headers->len = 0;
    px_buf_puts(r->headers, "Set-Cookie: sid=; Path=/; Max-Age=0\r\n");
    return success(r);
}

static int post_events(creq_t *r, px_app_t *app)
{
    if (r->json == NULL)
        return error(r, 400, "ValidationError", "POST /events takes a JSON object body");
    json_t *data = json_object_get(r->json, "data");
    if (data == NULL || json_is_null(data) || (json_is_string(data) && json_string_length(data) == 0))
        return error(r, 400, "ValidationError", "No data set for event");
    json_t *ev = json_object_get(r->json, "event");
    px_str_t name = json_is_string(ev) ? (px_str_t){json_string_value(ev), json_string_length(ev)}
                                       : PX_STR("message");
    if (px_event_name_check(name) < 0)
        return error(r, 400, "ValidationError", "invalid event name");
    px_str_t channels[100];
    size_t n = 0;
    json_t *ch = json_object_get(r->json, "channel");
    if (ch == NULL || json_is_null(ch)) {
        channels[n++] = PX_STR("global");
    } else if (json_is_string(ch)) {
        channels[n++] = (px_str_t){json_string_value(ch), json_string_length(ch)};
    } else if (json_is_array(ch) && json_array_size(ch) > 0 && json_array_size(ch) <= 100) {
        size_t i;
        json_t *v;
        json_array_foreach(ch, i, v) {
            if (!json_is_string(v))
                return error(r, 400, "ValidationError", "channel must be a string or a list");
            channels[n++] = (px_str_t){json_string_value(v), json_string_length(v)};
        }
    } else {
        return error(r, 400, "ValidationError", "channel must be a string or a list of 1-100");
    }
    for (size_t i = 0; i < n; i++)
        if (!px__classic_name_ok(channels[i]))
            return error(r, 400, "ValidationError",
                         "invalid channel name: 1-400 characters of [A-Za-z0-9_-=@,.;:&]");
    px_buf_t dbuf = PX_BUF_INIT;
    px_str_t d;
    if (json_is_string(data)) {
        d = (px_str_t){json_string_value(data), json_string_length(data)};
    } else {
        if (px_json_dump(&dbuf, data) < 0)
            return error(r, 500, "MemoryError", "out of memory");
        d = (px_str_t){dbuf.data, dbuf.len};
    }
    if (d.n > app->max_event_bytes) {
        px_buf_free(&dbuf);
        return error(r, 413, "ValidationError", "data is larger than the app's max_event_bytes");
    }
    json_t *persist = json_object_get(r->json, "persist");
    int keep = persist == NULL || json_is_null(persist) ||
               (json_is_boolean(persist) ? json_is_true(persist)
                : json_is_string(persist) ? truthy(json_string_value(persist))
                : json_is_integer(persist) ? json_integer_value(persist) != 0 : 1);
    /* Extra keys ride along to the sockets, as the original does. */
    json_t *extra = json_deep_copy(r->json);
    static const char *known[] = {"data", "event", "channel", "persist", "sid", "mid",
                                  "timestamp"};
    for (size_t i = 0; extra != NULL && i < PX_ARRAY_SIZE(known); i++)
        json_object_del(extra, known[i]);
    long rc = px_classic_trigger(r->api->hub, app, channels, n, name, d,
                                 json_object_size(extra) ? extra : NULL, keep, NULL, 0,
                                 (px_str_t){NULL, 0});
    json_decref(extra);
    px_buf_free(&dbuf);
    if (rc == PX_ELIMIT)
        return error(r, 503, "OperationalError", "the persistence backlog is full: retry later");
    if (rc < 0)
        return error(r, 500, "MemoryError", "out of memory");
    return success(r);
}

static json_t *subscription_doc(const px_app_t *app, const char *user, const char *event)
{
    return json_pack("{s:s, s:s, s:s}", "instance", app->id, "user_id", user, "event", event);
}

static int list_subscriptions(creq_t *r, px_app_t *app)
{
    const char *user = param(r, "user_id"), *event = param(r, "event");
    json_t *arr = json_array();
    size_t it = 0;
    px_alias_t *a;
    while (arr != NULL && (a = px_map_next(&app->aliases, &it)) != NULL) {
        if (user != NULL && strcmp(user, a->key) != 0)
            continue;
        for (size_t i = 0; i < a->n; i++)
            if (event == NULL || strcmp(event, a->items[i]) == 0)
                json_array_append_new(arr, subscription_doc(app, a->key, a->items[i]));
    }
    return reply(r, json_pack("{s:o}", "subscriptions", arr));
}

static int valid_event_name(const char *e)
{
    /* The original's route pattern for events: [.\w-]+ */
    if (e == NULL || e[0] == '\0' || strlen(e) > PX_MAX_NAME_CLASSIC)
        return 0;
    for (const char *p = e; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.' || *p == '=' || *p == '@' || *p == ',' ||
              *p == ';' || *p == ':' || *p == '&'))
            return 0;
    return 1;
}

static int change_subscription(creq_t *r, px_app_t *app, const char *user, const char *event,
                               int put)
{
    if (user == NULL || px_user_id_check(px_cstr(user)) < 0)
        return error(r, 400, "ValidationError", "user_id is required ([A-Za-z0-9_-=@,.;])");
    if (!valid_event_name(event))
        return error(r, 400, "ValidationError", "event (a channel name) is required");
    px_hub_t *hub = r->api->hub;
    int rc = px_classic_alias_changed(hub, app, user, event, put);
    if (rc < 0)
        return error(r, 500, "MemoryError", "out of memory");
    if (rc == 0 && !put && truthy(param(r, "force")))
        return error(r, 404, "NotFoundError", "no such subscription");
    if (rc == 0 && !put)
        return success(r);
    if (rc == 1 && hub->svc.subscription != NULL &&
        hub->svc.subscription(hub->svc.ud, put, app->id, user, event) < 0) {
        /* Keep memory and store in step: undo, and say why. */
        px_classic_alias_changed(hub, app, user, event, !put);
        return error(r, 503, "OperationalError", "the persistence backlog is full: retry later");
    }
    return reply(r, subscription_doc(app, user, event));
}

static json_t *app_doc(const px_app_t *app)
{
    json_t *d = px_app_to_json(app);
    if (d != NULL)
        json_object_set_new(d, "ident", json_string(app->id));
    return d;
}

static int create_app(creq_t *r)
{
    if (!r->admin)
        return error(r, 403, "OperationalError",
                     "creating apps needs the admin credential (X-Admin-Token or an admin "
                     "session from /login?admin_token=...)");
    const char *name = param(r, "name");
    if (name == NULL || name[0] == '\0')
        return error(r, 400, "ValidationError", "name is required");
    size_t it = 0;
    px_app_t *a;
    while ((a = px_map_next(&r->api->hub->apps.by_id, &it)) != NULL)
        if (strcmp(a->name, name) == 0)
            return error(r, 400, "ValidationError", "an app with this name exists");
    uint8_t rnd[96];
    char ident[65], key[65], secret[65];
    if (px_random_bytes(rnd, sizeof rnd) < 0)
        return error(r, 500, "OperationalError", "no randomness");
    px_hex(rnd, 32, ident);
    px_hex(rnd + 32, 32, key);
    px_hex(rnd + 64, 32, secret);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s}", "id", ident, "key", key, "secret", secret,
                            "name", name);
    const char *why = NULL;
    px_app_t *app = NULL;
    if (doc == NULL || px_app_from_json(doc, &app, &why) < 0) {
        json_decref(doc);
        return error(r, 400, "ValidationError", why ? why : "invalid app");
    }
    json_decref(doc);
    if (px_apps_add(&r->api->hub->apps, app) < 0) {
        px_app_free(app);
        return error(r, 500, "OperationalError", "could not add the app");
    }
    px_hub_t *hub = r->api->hub;
    if (hub->svc.save_app != NULL)
        hub->svc.save_app(hub->svc.ud, px_app_to_json(app));
    return reply(r, app_doc(app));
}

static int update_app(creq_t *r, px_app_t *app)
{
    /* The app's document, with the fields given (body, form or query)
     * replacing its own; id, key and secret cannot change. */
    json_t *doc = px_app_to_json(app);
    if (doc == NULL)
        return error(r, 500, "MemoryError", "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach(r->json, k, v) {
        if (strcmp(k, "id") && strcmp(k, "key") && strcmp(k, "secret") && strcmp(k, "ident") &&
            strcmp(k, "sid"))
            json_object_set(doc, k, v);
    }
    const char *name = param(r, "name");
    if (name != NULL && name[0] != '\0')
        json_object_set_new(doc, "name", json_string(name));
    static const char *unknown_ok[] = {"description", "meta"};
    for (size_t i = 0; i < PX_ARRAY_SIZE(unknown_ok); i++)
        json_object_del(doc, unknown_ok[i]); /* the original's free-text fields: not kept */
    px_app_t *fresh = NULL;
    const char *why = NULL;
    int rc = px_app_from_json(doc, &fresh, &why);
    json_decref(doc);
    if (rc < 0)
        return error(r, 400, "ValidationError", why ? why : "invalid app settings");
    px_app_take_settings(app, fresh);
    px_app_free(fresh);
    px_hub_t *hub = r->api->hub;
    if (hub->svc.save_app != NULL)
        hub->svc.save_app(hub->svc.ud, px_app_to_json(app));
    return reply(r, app_doc(app));
}

/* Decoded path segments (at most max), copied into segs; -1 if malformed. */
static int segments(px_str_t path, char segs[][PX_MAX_NAME_CLASSIC + 8], int max)
{
    return px_path_split(path, segs[0], sizeof segs[0], max);
}

static int route(creq_t *r, char segs[][PX_MAX_NAME_CLASSIC + 8], int n)
{
    px_str_t m = r->req->method;
    int get = px_str_eq(m, PX_STR("GET")), post = px_str_eq(m, PX_STR("POST"));
    int put = px_str_eq(m, PX_STR("PUT")), del = px_str_eq(m, PX_STR("DELETE"));
    const char *what = segs[0];
    if (n == 1 && strcmp(what, "login") == 0)
        return get || post ? login(r) : error(r, 405, "MethodError", "use GET or POST");
    if (n == 1 && strcmp(what, "logout") == 0)
        return get || post ? logout(r) : error(r, 405, "MethodError", "use GET or POST");
    if (n == 1 && strcmp(what, "apps") == 0 && post)
        return create_app(r);
    px_app_t *app = session_app(r);
    if (app == NULL)
        return error(r, 403, "OperationalError", "User not authenticated: log in with /login");
    if (!app->enabled)
        return error(r, 403, "OperationalError", "app is disabled");
    if (n == 1 && strcmp(what, "apps") == 0 && get)
        return reply(r, json_pack("{s:[o]}", "apps", app_doc(app)));
    if (n == 2 && strcmp(what, "apps") == 0) {
        if (strcmp(segs[1], app->id) != 0)
            return error(r, 404, "NotFoundError", "no such app");
        if (get)
            return reply(r, app_doc(app));
        if (put)
            return update_app(r, app);
        return error(r, 405, "MethodError", "use GET or PUT");
    }
    if (n == 1 && strcmp(what, "events") == 0) {
        if (post)
            return post_events(r, app);
        if (!get)
            return error(r, 405, "MethodError", "use GET or POST");
        const char *cs = param(r, "count");
        char *end = NULL;
        long count = cs ? strtol(cs, &end, 10) : 10;
        if ((cs && (*end != '\0' || cs[0] == '\0')) || count < 1 ||
            count > (long)app->history_max_count)
            return error(r, 400, "ValidationError", "count must be 1..history_max_count");
        if (r->api->hub->svc.history == NULL)
            return reply(r, json_pack("{s:[]}", "events"));
        r->req->defer_app_id = app->id;
        r->req->defer_count = (size_t)count;
        return PX_CLASSIC_DEFER;
    }
    if (n == 1 && strcmp(what, "sockets") == 0) {
        if (!get)
            return error(r, 405, "MethodError", "use GET");
        json_t *socks = r->api->list_sockets ? r->api->list_sockets(r->api->ud, app) : json_array();
        return reply(r, json_pack("{s:o}", "sockets", socks ? socks : json_array()));
    }
    if (n == 1 && strcmp(what, "subscriptions") == 0) {
        if (get)
            return list_subscriptions(r, app);
        if (post)
            return change_subscription(r, app, param(r, "user_id"), param(r, "event"), 1);
        return error(r, 405, "MethodError", "use GET or POST");
    }
    if (n == 3 && strcmp(what, "subscriptions") == 0) {
        if (del)
            return change_subscription(r, app, segs[1], segs[2], 0);
        return error(r, 405, "MethodError", "use DELETE");
    }
    return error(r, 404, "NotFoundError", "not found");
}

static int is_classic_route(const char *first, int n)
{
    if (n == 1 && (!strcmp(first, "login") || !strcmp(first, "logout") ||
                   !strcmp(first, "events") || !strcmp(first, "subscriptions") ||
                   !strcmp(first, "apps") || !strcmp(first, "sockets")))
        return 1;
    if (n == 2 && !strcmp(first, "apps"))
        return 1;
    if (n == 3 && !strcmp(first, "subscriptions"))
        return 1;
    return 0;
}

int px_classic_api_events(px_buf_t *out, json_t *events)
{
    if (events == NULL) {
        int rc = px_buf_puts(out, "{\"result\":\"error\",\"name\":\"OperationalError\","
                                  "\"message\":\"the store is not available\",\"code\":503}");
        return rc ? 500 : 503;
    }
    json_t *docs = px_classic_original_events(events);
    int rc = docs ? px_buf_puts(out, "{\"events\":") : -1;
    rc |= docs ? px_json_dump(out, docs) : -1;
    rc |= px_buf_puts(out, "}");
    json_decref(docs);
    return rc ? 500 : 200;
}

int px_classic_api_handle(px_api_t *api, px_classic_req_t *req, px_buf_t *out,
                          px_buf_t *headers)
{
    const char *q = memchr(req->target.p, '?', req->target.n);
    px_str_t path = {req->target.p, q ? (size_t)(q - req->target.p) : req->target.n};
    char segs[4][PX_MAX_NAME_CLASSIC + 8];
    int n = segments(path, segs, 4);
    if (n <= 0 || !is_classic_route(segs[0], n))
        return 0;
    creq_t r;
    memset(&r, 0, sizeof r);
    r.api = api;
    r.req = req;
    r.out = out;
    r.headers = headers;
    api->hub->stats.http_requests++;
    px_str_t rawq = q ? (px_str_t){q + 1, req->target.n - path.n - 1} : (px_str_t){"", 0};
    int status;
    if (px_query_parse(rawq, &r.query) < 0) {
        status = error(&r, 400, "ValidationError", "malformed query string");
        goto done;
    }
    if (req->body.n > 0) {
        if (req->content_type.p != NULL &&
            px_str_prefix(req->content_type, "application/x-www-form-urlencoded")) {
            if (px_query_parse(req->body, &r.form) < 0) {
                status = error(&r, 400, "ValidationError", "malformed form body");
                goto done;
            }
        } else {
            json_error_t err;
            r.json = json_loadb(req->body.p, req->body.n, JSON_REJECT_DUPLICATES, &err);
            if (!json_is_object(r.json)) {
                status = error(&r, 400, "ValidationError", "the body must be a JSON object");
                goto done;
            }
        }
    }
    find_session(&r);
    status = route(&r, segs, n);
done:
    px_query_free(&r.query);
    px_query_free(&r.form);
    json_decref(r.json);
    return status;
}

void px_classic_api_free(px_api_t *api)
{
    while (api->session_oldest != NULL)
        drop_session(api, api->session_oldest);
    px_map_free(&api->sessions);
}

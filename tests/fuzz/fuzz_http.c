/* fuzz_http.c - HTTP request reading and the HTTP APIs.
 *
 * Input: byte 0 holds options, byte 1 the chunking seed (fuzz_common.h),
 * the rest is what a client sends on a fresh connection. The bytes go to
 * px_http_feed in those chunks, each copied into a block of its own size.
 * Every complete request is answered as px_server does: the classic REST
 * API (px_classic_api_handle, when the tree has it) first, then the Pusher
 * API (px_api_handle). Each input gets a fresh hub with one app (id "3",
 * the Pusher docs' key and secret) that has subscribers on a public, a
 * private, a presence and a user channel, so routing, query parsing,
 * signature checks, sessions and publishing all run; at the end the
 * subscribers leave and nothing may be left over (LeakSanitizer). An
 * upgrade request ends the input, as it ends HTTP on a real connection
 * (its headers are looked at the way the server does first).
 *
 * Options (byte 0):
 *   bit 0    re-sign each Pusher API request (fuzz_common.h's signer) so
 *            mutated requests pass authentication and reach the handlers
 *   bit 1    small limits: 256-byte head, 64-byte body
 *   bit 2    app disabled (403 after a good signature)
 *   bit 3    the subscribers' connections refuse frames
 *   bits 4-5 re-signed timestamp: now, now-600, now+601, now-5
 *   bit 6    classic REST: requests without X-Session-Id carry the session
 *            of a /login made before the input
 *   bit 7    classic REST: the server has an admin token, and requests
 *            without X-Admin-Token carry it
 *
 * Invariants: every response body is a JSON object (an error one unless
 * 200), every status is one the APIs document, never 500 (no allocation
 * fails here), extra response headers are well-formed lines, request slices
 * lie inside the parser's buffers, and what subscribers are sent are valid
 * text frames of JSON (support.c). */
#include <jansson.h>

#include "../../csrc/px_api.h"
#include "../../csrc/px_auth.h"
#include "../../csrc/px_crypto.h"
#include "../../csrc/px_http.h"
#include "../../csrc/px_router.h"
#include "../c/support.h"
#include "fuzz_common.h"

#if defined(__has_include)
#if __has_include("../../csrc/px_classic_api.h")
#include "../../csrc/px_classic_api.h"
#define FZ_CLASSIC_API 1
#endif
#endif
#ifndef FZ_CLASSIC_API
#define FZ_CLASSIC_API 0
#endif

#define ADMIN_TOKEN "fuzz-admin-token"

typedef struct {
    px_hub_t hub;
    px_app_t *app;
    fake_client_t subs[2];
    px_api_t api;
    uint8_t opts;
    unsigned requests;
    int stopped;       /* on_request asked px_http to stop */
    char token[80];    /* classic session of option bit 6, or "" */
} env_t;

static size_t terminate_user(void *ud, px_app_t *a, px_str_t user_id)
{
    env_t *e = ud;
    FZ_ASSERT(px_apps_by_id(&e->hub.apps, px_cstr(a->id)) == a);
    fz_touch(user_id.p, user_id.n);
    return 0;
}

static json_t *list_sockets(void *ud, px_app_t *a)
{
    PX_UNUSED(ud);
    PX_UNUSED(a);
    return json_pack("[{s:s, s:[s]}]", "socket_id", "1.2", "channels", "news");
}

static int no_history(void *ud, px_client_t *c, const char *channel, const char *user_id,
                      size_t skip, size_t count, int reply_kind)
{
    PX_UNUSED(ud), PX_UNUSED(c), PX_UNUSED(channel), PX_UNUSED(user_id);
    PX_UNUSED(skip), PX_UNUSED(count), PX_UNUSED(reply_kind);
    return -1; /* only its presence matters: GET /events then defers */
}

/* Subscribes f straight through the hub (the router's work is fuzz_proto's;
 * here only the state the API reads matters, and setting it up must be
 * cheap: it happens for every input). */
static void subscribe(env_t *e, fake_client_t *f, const char *channel, const char *user_id,
                      const char *user_info)
{
    px_sub_t *s = NULL;
    int is_new = 0;
    FZ_ASSERT(px_hub_subscribe(&e->hub, &f->c, px_cstr(channel),
                               user_id ? px_cstr(user_id) : (px_str_t){NULL, 0},
                               user_info ? px_cstr(user_info) : (px_str_t){NULL, 0}, &s,
                               &is_new) == 0);
}

static void setup(env_t *e, uint8_t opts)
{
    memset(e, 0, sizeof(*e));
    e->opts = opts;
    env_hub_init(&e->hub);
    e->hub.svc.history = no_history;
    e->app = env_app(&e->hub, json_pack("{s:s, s:s, s:s, s:b}", "id", "3", "key", ENV_APP_KEY,
                                        "secret", ENV_APP_SECRET, "client_events", 1));
    for (int i = 0; i < 2; i++)
        fake_init(&e->subs[i], e->app);
    subscribe(e, &e->subs[0], "news", NULL, NULL);
    subscribe(e, &e->subs[0], "private-chat", NULL, NULL);
    subscribe(e, &e->subs[0], "presence-room", "u1", "{\"name\":\"A\"}");
    subscribe(e, &e->subs[1], "news", NULL, NULL);
    subscribe(e, &e->subs[1], "presence-room", "u2", NULL);
    e->subs[1].c.user_id = strdup("u2"); /* signed in */
    FZ_ASSERT(e->subs[1].c.user_id != NULL);
    subscribe(e, &e->subs[1], "#server-to-user-u2", NULL, NULL);
    FZ_ASSERT(e->app->channels.len == 4);
    for (int i = 0; i < 2; i++)
        e->subs[i].refuse = (opts & 8) != 0;
    e->app->enabled = !(opts & 4);
    e->api.hub = &e->hub;
    e->api.terminate_user = terminate_user;
    e->api.list_sockets = list_sockets;
    e->api.ud = e;
    e->api.max_channels_per_event = 100;
    e->api.max_batch = 10;
    e->api.auth_window = 600;
#if FZ_CLASSIC_API
    e->api.admin_token = opts & 0x80 ? ADMIN_TOKEN : "";
    if (opts & 0x40) {
        px_classic_req_t r = {.method = PX_STR("GET"),
                              .target = PX_STR("/login?app_id=3&app_key=" ENV_APP_KEY
                                               "&app_secret=" ENV_APP_SECRET)};
        px_buf_t out = PX_BUF_INIT, headers = PX_BUF_INIT;
        int status = px_classic_api_handle(&e->api, &r, &out, &headers);
        json_error_t err;
        json_t *v = json_loadb(out.data ? out.data : "", out.len, 0, &err);
        const char *tok = json_string_value(json_object_get(v, "token"));
        /* A disabled app can still log in; the session is refused later. */
        FZ_ASSERT(status == 200 && tok != NULL && strlen(tok) < sizeof e->token);
        snprintf(e->token, sizeof e->token, "%s", tok);
        json_decref(v);
        px_buf_free(&out);
        px_buf_free(&headers);
    }
#endif
}

static void teardown(env_t *e)
{
    for (int i = 0; i < 2; i++) {
        px_router_closed(&e->hub, &e->subs[i].c);
        fake_free(&e->subs[i]);
    }
#if FZ_CLASSIC_API
    px_classic_api_free(&e->api);
#endif
    env_hub_free(&e->hub);
}

static const long long ts_offsets[4] = {0, -600, 601, -5};

static void check_response(int status, const px_buf_t *out, int classic)
{
    static const int allowed[] = {200, 400, 401, 403, 404, 405, 413, 503};
    int ok = 0;
    for (size_t i = 0; i < PX_ARRAY_SIZE(allowed); i++)
        ok |= status == allowed[i];
    if (!ok)
        fprintf(stderr, "unexpected status %d: %.*s\n", status, (int)out->len,
                out->data ? out->data : "");
    FZ_ASSERT(ok);
    json_error_t err;
    json_t *v = json_loadb(out->data ? out->data : "", out->len, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(v))
        fprintf(stderr, "response is not a JSON object: %.*s (%s)\n", (int)out->len,
                out->data ? out->data : "", err.text);
    FZ_ASSERT(json_is_object(v));
    if (status != 200 && classic) {
        FZ_ASSERT(json_is_string(json_object_get(v, "message")));
        FZ_ASSERT(json_integer_value(json_object_get(v, "code")) == status);
    } else if (status != 200) {
        FZ_ASSERT(json_is_string(json_object_get(v, "error")));
    }
    json_decref(v);
}

/* Extra response headers: "Name: value\r\n" lines, no stray CR or LF. */
static void check_headers(const px_buf_t *h)
{
    size_t i = 0;
    while (i < h->len) {
        const char *line = h->data + i;
        const char *end = memchr(line, '\n', h->len - i);
        FZ_ASSERT(end != NULL && end > line && end[-1] == '\r');
        size_t n = (size_t)(end - line) - 1;
        FZ_ASSERT(memchr(line, '\r', n) == NULL);
        const char *colon = memchr(line, ':', n);
        FZ_ASSERT(colon != NULL && colon > line);
        i += n + 2;
    }
}

/* What px_server's upgrade handler reads of an upgrade request. */
static void look_at_upgrade(const px_http_req_t *req)
{
    px_str_t up = px_http_header(req, "Upgrade");
    px_str_t conn = px_http_header(req, "Connection");
    px_str_t key = px_http_header(req, "Sec-WebSocket-Key");
    fz_touch(up.p, up.n);
    fz_touch(conn.p, conn.n);
    (void)px_http_has_token(up, "websocket");
    (void)px_http_has_token(conn, "upgrade");
    if (key.n == 24) { /* the server checks the key's shape first */
        char accept[29];
        px_ws_accept_key(key, accept);
        FZ_ASSERT(strlen(accept) == 28);
    }
    const char *q = memchr(req->target.p, '?', req->target.n);
    if (q != NULL) {
        px_query_t qs;
        if (px_query_parse((px_str_t){q + 1, req->target.n - (size_t)(q - req->target.p) - 1},
                           &qs) == 0) {
            (void)px_query_get(&qs, "protocol");
            px_query_free(&qs);
        }
    }
}

/* Answers through the classic REST API; 0 when it is not a classic route. */
static int classic_api(env_t *e, const px_http_req_t *req, px_buf_t *out)
{
#if FZ_CLASSIC_API
    px_buf_t headers = PX_BUF_INIT;
    px_classic_req_t creq = {.method = req->method,
                             .target = req->target,
                             .body = req->body,
                             .cookie = px_http_header(req, "Cookie"),
                             .session_header = px_http_header(req, "X-Session-Id"),
                             .admin_header = px_http_header(req, "X-Admin-Token"),
                             .content_type = px_http_header(req, "Content-Type")};
    if (creq.session_header.p == NULL && e->token[0])
        creq.session_header = px_cstr(e->token);
    if (creq.admin_header.p == NULL && (e->opts & 0x80))
        creq.admin_header = PX_STR(ADMIN_TOKEN);
    int status = px_classic_api_handle(&e->api, &creq, out, &headers);
    if (status == PX_CLASSIC_DEFER) {
        /* The server reads the store, then answers: with events, or 503. */
        FZ_ASSERT(creq.defer_app_id != NULL && creq.defer_count >= 1);
        FZ_ASSERT(out->len == 0);
        json_t *events = NULL;
        if (e->requests % 2 == 0)
            events = json_pack("[{s:s, s:s, s:s, s:s, s:s, s:f, s:n, s:i, s:{s:i}}]", "mid",
                               "m1", "app_id", "3", "channel", "news", "name", "e", "data",
                               "d", "timestamp", 1.5, "owner_id", "id", 1, "extra", "x", 1);
        status = px_classic_api_events(out, events);
        json_decref(events);
    }
    if (status != 0)
        check_headers(&headers);
    else
        FZ_ASSERT(headers.len == 0 && out->len == 0);
    px_buf_free(&headers);
    return status;
#else
    PX_UNUSED(e), PX_UNUSED(req), PX_UNUSED(out);
    return 0;
#endif
}

static int on_request(px_http_t *h, const px_http_req_t *req, void *ud)
{
    env_t *e = ud;
    FZ_ASSERT(req->nheaders <= PX_HTTP_MAX_HEADERS);
    FZ_ASSERT(req->method.n > 0 && req->target.n > 0);
    fz_touch(req->method.p, req->method.n);
    fz_touch(req->target.p, req->target.n);
    fz_touch(req->body.p, req->body.n);
    for (uint32_t i = 0; i < req->nheaders; i++) {
        fz_touch(req->names[i].p, req->names[i].n);
        fz_touch(req->values[i].p, req->values[i].n);
    }
    FZ_ASSERT(req->body.n <= h->max_body);
    if (req->upgrade) {
        look_at_upgrade(req);
        e->stopped = 1;
        return 1;
    }
    px_buf_t out = PX_BUF_INIT;
    px_str_t target = req->target;
    px_buf_t signed_target = PX_BUF_INIT;
    int status = classic_api(e, req, &out);
    int classic = status != 0;
    if (!classic) {
        if (e->opts & 1) {
            const char *q = memchr(target.p, '?', target.n);
            px_str_t path = {target.p, q ? (size_t)(q - target.p) : target.n};
            px_str_t rawq = q ? (px_str_t){q + 1, target.n - path.n - 1} : (px_str_t){"", 0};
            FZ_ASSERT(px_buf_append(&signed_target, path.p, path.n) == 0);
            FZ_ASSERT(px_buf_puts(&signed_target, "?") == 0);
            if (fz_sign_query(ENV_APP_KEY, ENV_APP_SECRET, req->method, path, rawq, req->body,
                              REST_NOW + ts_offsets[(e->opts >> 4) & 3], &signed_target) == 0)
                target = (px_str_t){signed_target.data, signed_target.len};
        }
        status = px_api_handle(&e->api, req->method, target, req->body, &out);
    }
    if (fz_verbose())
        fprintf(stderr, "%.*s %.*s -> %d %.*s\n", (int)req->method.n, req->method.p,
                (int)target.n, target.p, status, (int)out.len, out.data ? out.data : "");
    check_response(status, &out, classic);
    px_buf_free(&out);
    px_buf_free(&signed_target);
    for (int i = 0; i < 2; i++)
        fake_clear(&e->subs[i]);
    e->stopped = ++e->requests >= 32; /* enough per input */
    return e->stopped;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    env_t *e = malloc(sizeof(*e));
    FZ_ASSERT(e != NULL);
    setup(e, data[0]);
    fz_chunker_t ch;
    fz_chunker_init(&ch, data[1]);
    data += 2;
    size -= 2;
    px_http_t h;
    px_http_init(&h, e->opts & 2 ? 256 : 8192, e->opts & 2 ? 64 : 262144, on_request, e);
    size_t off = 0;
    while (off < size) {
        size_t n = fz_chunk_next(&ch, size - off);
        uint8_t *chunk = fz_dup(data + off, n);
        long used = px_http_feed(&h, (const char *)chunk, n);
        free(chunk);
        if (used < 0) {
            FZ_ASSERT(h.error_status == 400 || h.error_status == 413 ||
                      h.error_status == 431 || h.error_status == 505);
            FZ_ASSERT(h.error_msg != NULL);
            break;
        }
        FZ_ASSERT((size_t)used <= n);
        FZ_ASSERT((size_t)used == n || e->stopped);
        if (e->stopped)
            break; /* an upgrade, or enough: the rest is not HTTP */
        off += n;
    }
    px_http_free(&h);
    teardown(e);
    free(e);
    return 0;
}

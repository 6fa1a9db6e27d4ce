/* test_api.c - the HTTP API through px_api_handle, with requests signed in
 * the test and a fake subscriber to see what gets published. */
#include <stdio.h>
#include <stdlib.h>

#include "../../csrc/px_api.h"
#include "../../csrc/px_crypto.h"
#include "../../csrc/px_router.h"
#include "harness.h"
#include "support.h"

typedef struct {
    px_hub_t hub;
    px_api_t api;
    px_app_t *app;
    px_buf_t out;
    json_t *reply;           /* the last response parsed */
    size_t terminated;       /* terminate_user calls */
    char terminated_id[130];
} env_t;

static size_t on_terminate(void *ud, px_app_t *app, px_str_t user_id)
{
    env_t *e = ud;
    ASSERT_PTR_EQ(app, e->app);
    e->terminated++;
    snprintf(e->terminated_id, sizeof e->terminated_id, "%.*s", (int)user_id.n, user_id.p);
    return 1;
}

static void env_init(env_t *e, json_t *extra)
{
    memset(e, 0, sizeof(*e));
    env_hub_init(&e->hub);
    json_t *o = json_pack("{s:s, s:s, s:s}", "id", "3", "key", ENV_APP_KEY, "secret",
                          ENV_APP_SECRET);
    if (extra != NULL) {
        ASSERT_OK(json_object_update(o, extra));
        json_decref(extra);
    }
    e->app = env_app(&e->hub, o);
    e->api.hub = &e->hub;
    e->api.terminate_user = on_terminate;
    e->api.ud = e;
    e->api.max_channels_per_event = 100;
    e->api.max_batch = 10;
    e->api.auth_window = 600;
}

static void env_free(env_t *e)
{
    json_decref(e->reply);
    px_buf_free(&e->out);
    env_hub_free(&e->hub);
}

/* Sends a raw request; returns the status. The body must be a JSON object. */
static int call(env_t *e, const char *method, const char *target, const char *body)
{
    json_decref(e->reply);
    e->reply = NULL;
    e->out.len = 0;
    int status = px_api_handle(&e->api, px_cstr(method), px_cstr(target), px_cstr(body),
                               &e->out);
    json_error_t err;
    e->reply = json_loadb(e->out.data, e->out.len, 0, &err);
    if (!json_is_object(e->reply))
        fprintf(stderr, "# status %d, body not a JSON object: %.*s\n", status, (int)e->out.len,
                e->out.data ? e->out.data : "");
    ASSERT_TRUE(json_is_object(e->reply));
    if (status != 200) {
        json_t *msg = json_object_get(e->reply, "error");
        ASSERT_TRUE(json_is_string(msg));
        ASSERT_TRUE(json_string_length(msg) > 0);
        ASSERT_EQ(json_object_size(e->reply), 1);
    }
    return status;
}

/* Sends a request signed for app 3 at the hub's wall clock. */
static int call_signed(env_t *e, const char *method, const char *path, const char *params,
                       const char *body)
{
    char target[8192];
    env_signed_target(e->app, method, path, params, body, e->hub.wall_s, target, sizeof target);
    return call(e, method, target, body);
}

static void sub_public(env_t *e, fake_client_t *f, const char *channel)
{
    char msg[256];
    snprintf(msg, sizeof msg, "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"%s\"}}",
             channel);
    px_router_message(&e->hub, &f->c, msg, strlen(msg));
    ASSERT_TRUE(fake_find(f, "pusher_internal:subscription_succeeded", 0) >= 0);
    fake_clear(f);
}

static void sub_presence(env_t *e, fake_client_t *f, const char *channel, const char *user)
{
    char cd[128], sig[256], auth[256];
    snprintf(cd, sizeof cd, "{\"user_id\":\"%s\"}", user);
    snprintf(sig, sizeof sig, "%s:%s:%s", f->c.socket_id, channel, cd);
    env_sign(e->app, sig, auth, sizeof auth);
    json_t *m = json_pack("{s:s, s:{s:s, s:s, s:s}}", "event", "pusher:subscribe", "data",
                          "channel", channel, "auth", auth, "channel_data", cd);
    char *text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    px_router_message(&e->hub, &f->c, text, strlen(text));
    free(text);
    ASSERT_TRUE(fake_find(f, "pusher_internal:subscription_succeeded", 0) >= 0);
    fake_clear(f);
}

static void done(env_t *e, fake_client_t *f)
{
    PX_UNUSED(e);
    px_router_closed(&e->hub, &f->c);
    fake_free(f);
}

TEST(api_post_event_docs_vector)
{
    env_t e;
    env_init(&e, NULL);
    fake_client_t f;
    fake_init(&f, e.app);
    sub_public(&e, &f, "project-3");
    ASSERT_EQ(call(&e, "POST", REST_PATH "?" REST_QUERY, REST_BODY), 200);
    ASSERT_EQ(e.out.len, 2);
    ASSERT_MEM_EQ(e.out.data, "{}", 2);
    ASSERT_EQ(f.nframes, 1);
    ASSERT_STR_EQ(f.frames[0].text, "{\"event\":\"foo\",\"channel\":\"project-3\","
                                    "\"data\":\"{\\\"some\\\":\\\"data\\\"}\"}");
    /* Ten minutes and one second later the same request is stale. */
    e.hub.wall_s += 601;
    ASSERT_EQ(call(&e, "POST", REST_PATH "?" REST_QUERY, REST_BODY), 401);
    ASSERT_EQ(f.nframes, 1);
    done(&e, &f);
    env_free(&e);
}

TEST(api_post_event_exclude_and_info)
{
    env_t e;
    env_init(&e, NULL);
    fake_client_t f[3];
    for (int i = 0; i < 3; i++) {
        fake_init(&f[i], e.app);
        sub_public(&e, &f[i], "news");
    }
    char body[512];
    snprintf(body, sizeof body,
             "{\"name\":\"e\",\"channels\":[\"news\",\"other\"],\"data\":\"x\","
             "\"socket_id\":\"%s\",\"info\":\"subscription_count\"}", f[1].c.socket_id);
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "", body), 200);
    json_t *want = json_pack("{s:{s:{s:i}, s:{s:i}}}", "channels", "news",
                             "subscription_count", 3, "other", "subscription_count", 0);
    ASSERT_TRUE(json_equal(e.reply, want));
    json_decref(want);
    ASSERT_EQ(f[0].nframes, 1);
    ASSERT_EQ(f[1].nframes, 0);
    ASSERT_EQ(f[2].nframes, 1);
    /* A single "channel" and data given as JSON (sent serialised). */
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "",
                          "{\"name\":\"j\",\"channel\":\"news\",\"data\":{\"a\":[1]}}"), 200);
    long i = fake_find(&f[1], "j", 0);
    ASSERT_TRUE(i >= 0);
    ASSERT_STR_EQ(f[1].frames[i].text,
                  "{\"event\":\"j\",\"channel\":\"news\",\"data\":\"{\\\"a\\\":[1]}\"}");
    /* A malformed socket_id is refused. */
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "",
                          "{\"name\":\"e\",\"channel\":\"news\",\"data\":\"x\",\"socket_id\":\"x\"}"),
              400);
    for (int k = 0; k < 3; k++)
        done(&e, &f[k]);
    env_free(&e);
}

TEST(api_auth_failures)
{
    env_t e;
    env_init(&e, NULL);
    fake_client_t f;
    fake_init(&f, e.app);
    sub_public(&e, &f, "news");
    const char *body = "{\"name\":\"e\",\"channel\":\"news\",\"data\":\"x\"}";
    char target[1024];
    env_signed_target(e.app, "POST", "/apps/3/events", "", body, e.hub.wall_s, target,
                      sizeof target);
    /* Bad signature. */
    char *bad = strdup(target);
    ASSERT_NOT_NULL(bad);
    char *last = bad + strlen(bad) - 1;
    *last = *last == '0' ? '1' : '0';
    ASSERT_EQ(call(&e, "POST", bad, body), 401);
    free(bad);
    /* Tampered body. */
    ASSERT_EQ(call(&e, "POST", target, "{\"name\":\"e\",\"channel\":\"news\",\"data\":\"y\"}"),
              401);
    /* No signature at all. */
    ASSERT_EQ(call(&e, "POST", "/apps/3/events", body), 401);
    ASSERT_EQ(f.nframes, 0);
    /* Signed by another app's secret. */
    px_app_t *other = env_app(&e.hub, json_pack("{s:s, s:s, s:s}", "id", "4", "key", ENV_APP_KEY
                                                "x", "secret", "othersecret"));
    env_signed_target(other, "POST", "/apps/3/events", "", body, e.hub.wall_s, target,
                      sizeof target);
    ASSERT_EQ(call(&e, "POST", target, body), 401);
    /* Correct: delivered. */
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "", body), 200);
    ASSERT_EQ(f.nframes, 1);
    done(&e, &f);
    env_free(&e);
}

TEST(api_unknown_app_and_paths)
{
    env_t e;
    env_init(&e, NULL);
    const char *body = "{\"name\":\"e\",\"channel\":\"news\",\"data\":\"x\"}";
    ASSERT_EQ(call_signed(&e, "POST", "/apps/99/events", "", body), 404);
    ASSERT_EQ(call(&e, "GET", "/", ""), 404);
    ASSERT_EQ(call(&e, "GET", "/nothing/here", ""), 404);
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/nope", "", body), 404);
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/events", "", ""), 405);
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/channels", "", "{}"), 405);
    ASSERT_EQ(call(&e, "GET", "/apps/3/channels?a=%zz", ""), 400);
    env_free(&e);
}

TEST(api_disabled_app)
{
    env_t e;
    env_init(&e, json_pack("{s:b}", "enabled", 0));
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "",
                          "{\"name\":\"e\",\"channel\":\"news\",\"data\":\"x\"}"), 403);
    env_free(&e);
}

TEST(api_event_limits)
{
    env_t e;
    env_init(&e, json_pack("{s:i}", "max_event_bytes", 16));
    fake_client_t f;
    fake_init(&f, e.app);
    sub_public(&e, &f, "c0");
    /* data at the limit passes, one byte over is 413. */
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "",
                          "{\"name\":\"e\",\"channel\":\"c0\",\"data\":\"0123456789abcdef\"}"),
              200);
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "",
                          "{\"name\":\"e\",\"channel\":\"c0\",\"data\":\"0123456789abcdefg\"}"),
              413);
    ASSERT_EQ(f.nframes, 1);
    /* 100 channels pass, 101 are refused. */
    px_buf_t b = PX_BUF_INIT;
    ASSERT_OK(px_buf_puts(&b, "{\"name\":\"e\",\"data\":\"d\",\"channels\":[\"c0\""));
    for (int i = 1; i < 100; i++)
        ASSERT_OK(px_buf_printf(&b, ",\"c%d\"", i));
    ASSERT_OK(px_buf_puts(&b, "]}"));
    ASSERT_OK(px_buf_terminate(&b));
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "", b.data), 200);
    ASSERT_EQ(f.nframes, 2);
    b.len -= 2;
    ASSERT_OK(px_buf_puts(&b, ",\"c100\"]}"));
    ASSERT_OK(px_buf_terminate(&b));
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "", b.data), 400);
    ASSERT_EQ(f.nframes, 2);
    px_buf_free(&b);
    /* Other malformed events. */
    static const char *const bad[] = {
        "[]", "not json", "{\"channel\":\"c0\",\"data\":\"x\"}",
        "{\"name\":\"e\",\"data\":\"x\"}", "{\"name\":\"e\",\"channel\":\"c0\"}",
        "{\"name\":\"e\",\"channels\":[],\"data\":\"x\"}",
        "{\"name\":\"e\",\"channels\":[1],\"data\":\"x\"}",
        "{\"name\":\"e\",\"channel\":\"bad name\",\"data\":\"x\"}",
        "{\"name\":\"\",\"channel\":\"c0\",\"data\":\"x\"}",
        "{\"name\":\"e\",\"channels\":[\"private-encrypted-a\",\"c0\"],\"data\":\"x\"}",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        int st = call_signed(&e, "POST", "/apps/3/events", "", bad[i]);
        if (st != 400)
            fprintf(stderr, "# %d for %s\n", st, bad[i]);
        ASSERT_EQ(st, 400);
    }
    ASSERT_EQ(f.nframes, 2);
    done(&e, &f);
    env_free(&e);
}

TEST(api_batch)
{
    env_t e;
    env_init(&e, NULL);
    fake_client_t f;
    fake_init(&f, e.app);
    sub_public(&e, &f, "b");
    px_buf_t b = PX_BUF_INIT;
    ASSERT_OK(px_buf_puts(&b, "{\"batch\":["));
    for (int i = 0; i < 10; i++)
        ASSERT_OK(px_buf_printf(&b, "%s{\"name\":\"e%d\",\"channel\":\"b\",\"data\":\"%d\"}",
                                i ? "," : "", i, i));
    ASSERT_OK(px_buf_puts(&b, "]}"));
    ASSERT_OK(px_buf_terminate(&b));
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/batch_events", "", b.data), 200);
    ASSERT_EQ(f.nframes, 10);
    ASSERT_STR_EQ(fake_event(&f, 9), "e9");
    /* Eleven events: refused, nothing published. */
    b.len -= 2;
    ASSERT_OK(px_buf_puts(&b, ",{\"name\":\"e10\",\"channel\":\"b\",\"data\":\"10\"}]}"));
    ASSERT_OK(px_buf_terminate(&b));
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/batch_events", "", b.data), 400);
    ASSERT_EQ(f.nframes, 10);
    px_buf_free(&b);
    /* One bad event spoils the whole batch. */
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/batch_events", "",
                          "{\"batch\":[{\"name\":\"ok\",\"channel\":\"b\",\"data\":\"1\"},"
                          "{\"name\":\"bad\",\"channel\":\"b c\",\"data\":\"2\"}]}"), 400);
    ASSERT_EQ(f.nframes, 10);
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/batch_events", "", "{\"batch\":[]}"), 400);
    /* Info per event. */
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/batch_events", "",
                          "{\"batch\":[{\"name\":\"x\",\"channel\":\"b\",\"data\":\"1\","
                          "\"info\":\"subscription_count\"},"
                          "{\"name\":\"y\",\"channel\":\"b\",\"data\":\"2\"}]}"), 200);
    json_t *want = json_pack("{s:[{s:i}, {}]}", "batch", "subscription_count", 1);
    ASSERT_TRUE(json_equal(e.reply, want));
    json_decref(want);
    ASSERT_EQ(f.nframes, 12);
    done(&e, &f);
    env_free(&e);
}

TEST(api_get_channels)
{
    env_t e;
    env_init(&e, NULL);
    fake_client_t a, b;
    fake_init(&a, e.app);
    fake_init(&b, e.app);
    sub_public(&e, &a, "news");
    sub_presence(&e, &a, "presence-room", "u1");
    sub_presence(&e, &b, "presence-room", "u2");
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels", "info=user_count", ""), 400);
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels", "filter_by_prefix=news&info=user_count",
                          ""), 400);
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels",
                          "filter_by_prefix=presence-&info=user_count", ""), 200);
    json_t *want = json_pack("{s:{s:{s:i}}}", "channels", "presence-room", "user_count", 2);
    ASSERT_TRUE(json_equal(e.reply, want));
    json_decref(want);
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels", "", ""), 200);
    want = json_pack("{s:{s:{}, s:{}}}", "channels", "news", "presence-room");
    ASSERT_TRUE(json_equal(e.reply, want));
    json_decref(want);
    /* One channel. */
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels/news", "info=subscription_count", ""), 200);
    want = json_pack("{s:b, s:i}", "occupied", 1, "subscription_count", 1);
    ASSERT_TRUE(json_equal(e.reply, want));
    json_decref(want);
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels/quiet", "", ""), 200);
    ASSERT_TRUE(json_is_false(json_object_get(e.reply, "occupied")));
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels/news", "info=user_count", ""), 400);
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels/presence-room", "info=user_count", ""),
              200);
    ASSERT_EQ(json_integer_value(json_object_get(e.reply, "user_count")), 2);
    /* Users of a channel: presence only. */
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels/news/users", "", ""), 400);
    ASSERT_EQ(call_signed(&e, "GET", "/apps/3/channels/presence-room/users", "", ""), 200);
    want = json_pack("{s:[{s:s}, {s:s}]}", "users", "id", "u1", "id", "u2");
    ASSERT_TRUE(json_equal(e.reply, want));
    json_decref(want);
    done(&e, &a);
    done(&e, &b);
    env_free(&e);
}

TEST(api_health)
{
    env_t e;
    env_init(&e, NULL);
    ASSERT_EQ(call(&e, "GET", "/health", ""), 200);
    ASSERT_TRUE(json_is_true(json_object_get(e.reply, "ok")));
    ASSERT_EQ(call(&e, "HEAD", "/health", ""), 200);
    ASSERT_EQ(call(&e, "POST", "/health", ""), 405);
    ASSERT_EQ(e.hub.stats.http_requests, 3);
    env_free(&e);
}

TEST(api_terminate_user)
{
    env_t e;
    env_init(&e, NULL);
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/users/42/terminate_connections", "", ""), 200);
    ASSERT_EQ(e.terminated, 1);
    ASSERT_STR_EQ(e.terminated_id, "42");
    /* The Python SDK's form without /apps/<id>. */
    ASSERT_EQ(call_signed(&e, "POST", "/users/7/terminate_connections", "", ""), 200);
    ASSERT_EQ(e.terminated, 2);
    ASSERT_STR_EQ(e.terminated_id, "7");
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/users/a%20b/terminate_connections", "", ""), 400);
    ASSERT_EQ(call(&e, "POST", "/users/7/terminate_connections", ""), 401);
    ASSERT_EQ(e.terminated, 2);
    env_free(&e);
}

TEST(api_path_decoding)
{
    env_t e;
    env_init(&e, NULL);
    /* A 200-byte channel name whose encoded form is much longer. */
    char name[201], path[1024];
    int n = snprintf(path, sizeof path, "/apps/%%33/channels/");
    for (int i = 0; i < 200; i++) {
        name[i] = i % 2 ? '@' : 'a';
        n += snprintf(path + n, sizeof path - (size_t)n, "%s", i % 2 ? "%40" : "a");
    }
    name[200] = '\0';
    fake_client_t f;
    fake_init(&f, e.app);
    sub_public(&e, &f, name);
    ASSERT_EQ(call_signed(&e, "GET", path, "info=subscription_count", ""), 200);
    ASSERT_TRUE(json_is_true(json_object_get(e.reply, "occupied")));
    ASSERT_EQ(json_integer_value(json_object_get(e.reply, "subscription_count")), 1);
    /* Malformed escapes, and an encoded NUL, are not found. */
    static const char *const bad[] = {
        "/apps/3/channels/a%+1", "/apps/3/channels/a% 1", "/apps/3/channels/a%-1",
        "/apps/3/channels/a%00", "/apps/3/channels/a%4", "/apps/3/channels/%",
        "/apps/3/channels/a%zz",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        int st = call_signed(&e, "GET", bad[i], "", "");
        if (st != 404)
            fprintf(stderr, "# %d for %s\n", st, bad[i]);
        ASSERT_EQ(st, 404);
    }
    done(&e, &f);
    env_free(&e);
}

TEST(api_channels_cap)
{
    /* Even when configured above it, an event never takes more channels
     * than the parser has room for (100). */
    env_t e;
    env_init(&e, NULL);
    e.api.max_channels_per_event = 1000;
    px_buf_t b = PX_BUF_INIT;
    ASSERT_OK(px_buf_puts(&b, "{\"name\":\"e\",\"data\":\"d\",\"channels\":[\"c0\""));
    for (int i = 1; i < 150; i++)
        ASSERT_OK(px_buf_printf(&b, ",\"c%d\"", i));
    ASSERT_OK(px_buf_puts(&b, "]}"));
    ASSERT_OK(px_buf_terminate(&b));
    ASSERT_EQ(call_signed(&e, "POST", "/apps/3/events", "", b.data), 400);
    px_buf_free(&b);
    env_free(&e);
}

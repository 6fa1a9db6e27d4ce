/* test_router.c - the Pusher protocol through px_router with fake
 * connections that record what they are sent. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../csrc/px_crypto.h"
#include "../../csrc/px_names.h"
#include "../../csrc/px_router.h"
#include "harness.h"
#include "support.h"

/* An app with client events on; extra (may be NULL) is merged in. */
static px_app_t *router_app(px_hub_t *hub, json_t *extra)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "id", "3", "key", ENV_APP_KEY, "secret",
                          ENV_APP_SECRET, "client_events", 1);
    ASSERT_NOT_NULL(o);
    if (extra != NULL) {
        ASSERT_OK(json_object_update(o, extra));
        json_decref(extra);
    }
    return env_app(hub, o);
}

/* Connects f: checks connection_established and forgets it. */
static void open_conn(px_hub_t *hub, fake_client_t *f, px_app_t *app)
{
    fake_init(f, app);
    ASSERT_OK(px_router_open(hub, &f->c));
    ASSERT_EQ(f->nframes, 1);
    ASSERT_STR_EQ(fake_event(f, 0), "pusher:connection_established");
    fake_clear(f);
}

static void disconnect(px_hub_t *hub, fake_client_t *f)
{
    px_router_closed(hub, &f->c);
    ASSERT_NULL(f->c.subs);
    ASSERT_NULL(f->c.user_id);
    fake_free(f);
}

/* Sends msg (reference stolen) as the client's text message. */
static void say_json(px_hub_t *hub, fake_client_t *f, json_t *msg)
{
    ASSERT_NOT_NULL(msg);
    char *text = json_dumps(msg, JSON_COMPACT);
    ASSERT_NOT_NULL(text);
    json_decref(msg);
    px_router_message(hub, &f->c, text, strlen(text));
    free(text);
}

static void subscribe_public(px_hub_t *hub, fake_client_t *f, const char *channel)
{
    say_json(hub, f, json_pack("{s:s, s:{s:s}}", "event", "pusher:subscribe", "data",
                               "channel", channel));
}

/* Subscribes with a signature over "<socket_id>:<channel>[:<cdata>]". */
static void subscribe_signed(px_hub_t *hub, fake_client_t *f, const char *channel,
                             const char *cdata)
{
    char msg[1024], auth[256];
    snprintf(msg, sizeof msg, "%s:%s%s%s", f->c.socket_id, channel, cdata ? ":" : "",
             cdata ? cdata : "");
    env_sign(f->c.app, msg, auth, sizeof auth);
    json_t *d = json_pack("{s:s, s:s}", "channel", channel, "auth", auth);
    if (cdata)
        json_object_set_new(d, "channel_data", json_string(cdata));
    say_json(hub, f, json_pack("{s:s, s:o}", "event", "pusher:subscribe", "data", d));
}

static void subscribe_presence(px_hub_t *hub, fake_client_t *f, const char *channel,
                               const char *user_id, const char *user_info)
{
    char cd[512];
    if (user_info)
        snprintf(cd, sizeof cd, "{\"user_id\":\"%s\",\"user_info\":%s}", user_id, user_info);
    else
        snprintf(cd, sizeof cd, "{\"user_id\":\"%s\"}", user_id);
    subscribe_signed(hub, f, channel, cd);
}

static void signin(px_hub_t *hub, fake_client_t *f, const char *user_data)
{
    char msg[1024], auth[256];
    snprintf(msg, sizeof msg, "%s::user::%s", f->c.socket_id, user_data);
    env_sign(f->c.app, msg, auth, sizeof auth);
    say_json(hub, f, json_pack("{s:s, s:{s:s, s:s}}", "event", "pusher:signin", "data", "auth",
                               auth, "user_data", user_data));
}

static void client_event(px_hub_t *hub, fake_client_t *f, const char *event,
                         const char *channel, const char *data)
{
    say_json(hub, f, json_pack("{s:s, s:s, s:s}", "event", event, "channel", channel, "data",
                               data));
}

/* The only frame f got is event on channel; returns its data object. */
static json_t *only(const fake_client_t *f, const char *event, const char *channel)
{
    if (f->nframes != 1)
        for (size_t i = 0; i < f->nframes; i++)
            fprintf(stderr, "# frame %zu: %s\n", i, f->frames[i].text);
    ASSERT_EQ(f->nframes, 1);
    ASSERT_STR_EQ(fake_event(f, 0), event);
    json_t *ch = json_object_get(f->frames[0].msg, "channel");
    if (channel)
        ASSERT_STR_EQ(json_string_value(ch), channel);
    else
        ASSERT_NULL(ch);
    return f->frames[0].data;
}

static const char *str_field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fprintf(stderr, "# no string field %s\n", key);
    ASSERT_TRUE(json_is_string(v));
    return json_string_value(v);
}

static void assert_sub_error(const fake_client_t *f, const char *channel, const char *type)
{
    json_t *d = only(f, "pusher:subscription_error", channel);
    ASSERT_NOT_NULL(d);
    ASSERT_STR_EQ(str_field(d, "type"), type);
    ASSERT_TRUE(*str_field(d, "error") != '\0');
    ASSERT_TRUE(json_is_integer(json_object_get(d, "status")));
}

/* The pusher:error f got (exactly one frame); returns its data. */
static json_t *assert_error(const fake_client_t *f)
{
    json_t *d = only(f, "pusher:error", NULL);
    ASSERT_TRUE(json_is_object(d));
    ASSERT_TRUE(*str_field(d, "message") != '\0');
    return d;
}

TEST(router_connection_established)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t f;
    fake_init(&f, app);
    ASSERT_OK(px_router_open(&hub, &f.c));
    json_t *d = only(&f, "pusher:connection_established", NULL);
    /* data is a JSON string holding the object. */
    ASSERT_TRUE(json_is_string(json_object_get(f.frames[0].msg, "data")));
    ASSERT_NOT_NULL(d);
    const char *sid = str_field(d, "socket_id");
    ASSERT_STR_EQ(sid, f.c.socket_id);
    const char *p = sid;
    ASSERT_TRUE(isdigit((unsigned char)*p));
    while (isdigit((unsigned char)*p))
        p++;
    ASSERT_EQ(*p++, '.');
    ASSERT_TRUE(isdigit((unsigned char)*p));
    while (isdigit((unsigned char)*p))
        p++;
    ASSERT_EQ(*p, '\0');
    ASSERT_EQ(json_integer_value(json_object_get(d, "activity_timeout")), 120);
    ASSERT_EQ(json_object_size(d), 2);
    disconnect(&hub, &f);
    env_hub_free(&hub);
}

TEST(router_ping_and_bad_messages)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t f;
    open_conn(&hub, &f, app);
    fake_say(&hub, &f, "{\"event\":\"pusher:ping\",\"data\":{}}");
    ASSERT_EQ(f.nframes, 1);
    ASSERT_STR_EQ(f.frames[0].text, "{\"event\":\"pusher:pong\",\"data\":{}}");
    fake_clear(&f);
    fake_say(&hub, &f, "{\"event\":\"pusher:pong\"}");
    ASSERT_EQ(f.nframes, 0);
    static const char *const bad[] = {
        "not json", "[1]", "{\"data\":{}}", "{\"event\":\"x\",\"channel\":1}",
        "{\"event\":\"pusher:unknown\"}", "{\"event\":\"something\"}",
        "{\"event\":\"pusher:subscribe\"}", "{\"event\":\"pusher:subscribe\",\"data\":\"x\"}",
        "{\"event\":\"pusher:subscribe\",\"data\":{}}",
        "{\"event\":\"pusher:unsubscribe\",\"data\":{\"channel\":1}}",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        px_router_message(&hub, &f.c, bad[i], strlen(bad[i]));
        assert_error(&f);
        fake_clear(&f);
    }
    ASSERT_EQ(f.closes, 0); /* all recoverable */
    ASSERT_EQ(hub.stats.messages_in, 2 + PX_ARRAY_SIZE(bad));
    disconnect(&hub, &f);
    env_hub_free(&hub);
}

TEST(router_subscribe_public)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t f;
    open_conn(&hub, &f, app);
    subscribe_public(&hub, &f, "news");
    json_t *d = only(&f, "pusher_internal:subscription_succeeded", "news");
    ASSERT_TRUE(json_is_object(d));
    ASSERT_EQ(json_object_size(d), 0);
    ASSERT_NOT_NULL(px_hub_channel(app, PX_STR("news")));
    /* Again: answered again, nothing changes. */
    fake_clear(&f);
    subscribe_public(&hub, &f, "news");
    only(&f, "pusher_internal:subscription_succeeded", "news");
    ASSERT_EQ(f.c.nsubs, 1);
    ASSERT_EQ(px_hub_channel(app, PX_STR("news"))->nsubs, 1);
    /* data as a string holding the object works too. */
    fake_clear(&f);
    fake_say(&hub, &f, "{\"event\":\"pusher:subscribe\",\"data\":\"{\\\"channel\\\":\\\"b\\\"}\"}");
    only(&f, "pusher_internal:subscription_succeeded", "b");
    /* Invalid names. */
    static const char *const bad[] = {"has space", "#foo", "caf\xc3\xa9", ""};
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        fake_clear(&f);
        subscribe_public(&hub, &f, bad[i]);
        assert_sub_error(&f, bad[i], "InvalidChannel");
    }
    char long_name[202];
    memset(long_name, 'x', 201);
    long_name[201] = '\0';
    fake_clear(&f);
    subscribe_public(&hub, &f, long_name);
    assert_sub_error(&f, long_name, "InvalidChannel");
    ASSERT_EQ(f.c.nsubs, 2);
    ASSERT_EQ(app->channels.len, 2);
    disconnect(&hub, &f);
    env_hub_free(&hub);
}

TEST(router_subscribe_private)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t f, g;
    open_conn(&hub, &f, app);
    open_conn(&hub, &g, app);

    subscribe_signed(&hub, &f, "private-x", NULL);
    json_t *d = only(&f, "pusher_internal:subscription_succeeded", "private-x");
    ASSERT_EQ(json_object_size(d), 0);
    ASSERT_NOT_NULL(px_client_sub(&f.c, PX_STR("private-x")));

    /* The same auth from another connection is refused: it names f's socket. */
    char msg[256], auth[256];
    snprintf(msg, sizeof msg, "%s:private-y", f.c.socket_id);
    env_sign(app, msg, auth, sizeof auth);
    say_json(&hub, &g, json_pack("{s:s, s:{s:s, s:s}}", "event", "pusher:subscribe", "data",
                                 "channel", "private-y", "auth", auth));
    assert_sub_error(&g, "private-y", "AuthError");
    ASSERT_EQ(g.c.nsubs, 0);
    ASSERT_NULL(px_hub_channel(app, PX_STR("private-y")));

    /* Wrong signature, missing auth, signature for another channel. */
    fake_clear(&g);
    say_json(&hub, &g, json_pack("{s:s, s:{s:s, s:s}}", "event", "pusher:subscribe", "data",
                                 "channel", "private-y", "auth",
                                 ENV_APP_KEY ":0000000000000000000000000000000000000000000000"
                                 "000000000000000000"));
    assert_sub_error(&g, "private-y", "AuthError");
    fake_clear(&g);
    subscribe_public(&hub, &g, "private-y");
    assert_sub_error(&g, "private-y", "AuthError");
    fake_clear(&g);
    snprintf(msg, sizeof msg, "%s:private-z", g.c.socket_id);
    env_sign(app, msg, auth, sizeof auth);
    say_json(&hub, &g, json_pack("{s:s, s:{s:s, s:s}}", "event", "pusher:subscribe", "data",
                                 "channel", "private-y", "auth", auth));
    assert_sub_error(&g, "private-y", "AuthError");
    json_t *e = g.frames[0].data;
    ASSERT_EQ(json_integer_value(json_object_get(e, "status")), 401);
    ASSERT_EQ(g.c.nsubs, 0);
    ASSERT_NULL(px_hub_channel(app, PX_STR("private-y")));

    /* Encrypted channels authenticate the same way. */
    fake_clear(&g);
    subscribe_signed(&hub, &g, "private-encrypted-q", NULL);
    only(&g, "pusher_internal:subscription_succeeded", "private-encrypted-q");
    disconnect(&hub, &f);
    disconnect(&hub, &g);
    env_hub_free(&hub);
}

/* The presence payload of a subscription_succeeded data object. */
static json_t *presence_of(json_t *d)
{
    json_t *p = json_object_get(d, "presence");
    ASSERT_TRUE(json_is_object(p));
    ASSERT_TRUE(json_is_array(json_object_get(p, "ids")));
    ASSERT_TRUE(json_is_object(json_object_get(p, "hash")));
    return p;
}

TEST(router_presence_members)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t a, a2, b;
    open_conn(&hub, &a, app);
    open_conn(&hub, &a2, app);
    open_conn(&hub, &b, app);

    subscribe_presence(&hub, &a, "presence-room", "u1", "{\"name\":\"A\"}");
    json_t *p = presence_of(only(&a, "pusher_internal:subscription_succeeded", "presence-room"));
    ASSERT_EQ(json_integer_value(json_object_get(p, "count")), 1);
    json_t *ids = json_object_get(p, "ids");
    ASSERT_EQ(json_array_size(ids), 1);
    ASSERT_STR_EQ(json_string_value(json_array_get(ids, 0)), "u1");
    ASSERT_STR_EQ(str_field(json_object_get(json_object_get(p, "hash"), "u1"), "name"), "A");
    fake_clear(&a);

    /* b joins as u2: a hears member_added, b (the joiner) does not. */
    subscribe_presence(&hub, &b, "presence-room", "u2", NULL);
    p = presence_of(only(&b, "pusher_internal:subscription_succeeded", "presence-room"));
    ASSERT_EQ(json_integer_value(json_object_get(p, "count")), 2);
    ids = json_object_get(p, "ids");
    ASSERT_EQ(json_array_size(ids), 2);
    ASSERT_STR_EQ(json_string_value(json_array_get(ids, 0)), "u1");
    ASSERT_STR_EQ(json_string_value(json_array_get(ids, 1)), "u2");
    json_t *hash = json_object_get(p, "hash");
    ASSERT_EQ(json_object_size(hash), 2);
    ASSERT_TRUE(json_is_null(json_object_get(hash, "u2")));
    json_t *added = only(&a, "pusher_internal:member_added", "presence-room");
    ASSERT_STR_EQ(str_field(added, "user_id"), "u2");
    ASSERT_TRUE(json_is_null(json_object_get(added, "user_info")));
    fake_clear(&a);
    fake_clear(&b);

    /* A second connection of u1: nobody hears member_added. */
    subscribe_presence(&hub, &a2, "presence-room", "u1", "{\"name\":\"A\"}");
    p = presence_of(only(&a2, "pusher_internal:subscription_succeeded", "presence-room"));
    ASSERT_EQ(json_integer_value(json_object_get(p, "count")), 2);
    ASSERT_EQ(a.nframes, 0);
    ASSERT_EQ(b.nframes, 0);

    /* u1's first connection leaves: u1 is still present, no member_removed. */
    fake_clear(&a2);
    say_json(&hub, &a, json_pack("{s:s, s:{s:s}}", "event", "pusher:unsubscribe", "data",
                                 "channel", "presence-room"));
    ASSERT_EQ(a.nframes, 0);
    ASSERT_EQ(a2.nframes, 0);
    ASSERT_EQ(b.nframes, 0);
    ASSERT_EQ(px_hub_channel(app, PX_STR("presence-room"))->nmembers, 2);

    /* The last connection of u1 closes: b hears member_removed. */
    disconnect(&hub, &a2);
    json_t *removed = only(&b, "pusher_internal:member_removed", "presence-room");
    ASSERT_STR_EQ(str_field(removed, "user_id"), "u1");
    ASSERT_EQ(json_object_size(removed), 1);
    ASSERT_EQ(px_hub_channel(app, PX_STR("presence-room"))->nmembers, 1);
    disconnect(&hub, &a);
    disconnect(&hub, &b);
    env_hub_free(&hub);
}

TEST(router_presence_user_id_forms)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, json_pack("{s:i}", "max_user_info_bytes", 20));
    fake_client_t a;
    open_conn(&hub, &a, app);
    /* An integer user_id becomes its decimal string. */
    subscribe_signed(&hub, &a, "presence-n", "{\"user_id\":12345}");
    json_t *p = presence_of(only(&a, "pusher_internal:subscription_succeeded", "presence-n"));
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(p, "ids"), 0)), "12345");
    /* Bad channel_data: each refused with InvalidChannelData (or AuthError
     * when missing), nothing subscribed. */
    static const char *const bad[] = {
        "not json", "[1]", "{}", "{\"user_id\":\"a b\"}", "{\"user_id\":\"\"}",
        "{\"user_id\":true}", "{\"user_id\":\"u\",\"user_info\":{\"x\":\"0123456789abcdef\"}}",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        fake_clear(&a);
        subscribe_signed(&hub, &a, "presence-m", bad[i]);
        assert_sub_error(&a, "presence-m", "InvalidChannelData");
    }
    fake_clear(&a);
    subscribe_signed(&hub, &a, "presence-m", NULL); /* no channel_data at all */
    assert_sub_error(&a, "presence-m", "AuthError");
    ASSERT_NULL(px_hub_channel(app, PX_STR("presence-m")));
    ASSERT_EQ(a.c.nsubs, 1);
    disconnect(&hub, &a);
    env_hub_free(&hub);
}

TEST(router_presence_limit)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, json_pack("{s:i}", "max_presence_members", 1));
    fake_client_t a, b, a2;
    open_conn(&hub, &a, app);
    open_conn(&hub, &b, app);
    open_conn(&hub, &a2, app);
    subscribe_presence(&hub, &a, "presence-full", "u1", NULL);
    fake_clear(&a);
    subscribe_presence(&hub, &b, "presence-full", "u2", NULL);
    assert_sub_error(&b, "presence-full", "LimitReached");
    const char *why = str_field(b.frames[0].data, "error");
    if (strstr(why, "full") == NULL)
        fprintf(stderr, "# error: %s\n", why);
    ASSERT_TRUE(strstr(why, "full") != NULL);
    ASSERT_EQ(b.c.nsubs, 0);
    ASSERT_EQ(a.nframes, 0); /* no member_added for a refused user */
    /* The same user on another connection still gets in. */
    subscribe_presence(&hub, &a2, "presence-full", "u1", NULL);
    only(&a2, "pusher_internal:subscription_succeeded", "presence-full");
    disconnect(&hub, &a);
    disconnect(&hub, &b);
    disconnect(&hub, &a2);
    env_hub_free(&hub);
}

TEST(router_max_channels_per_client)
{
    px_hub_t hub;
    env_hub_init(&hub);
    hub.max_channels_per_client = 2;
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t f;
    open_conn(&hub, &f, app);
    subscribe_public(&hub, &f, "c1");
    subscribe_presence(&hub, &f, "presence-c2", "u", NULL);
    fake_clear(&f);
    subscribe_public(&hub, &f, "c3");
    assert_sub_error(&f, "c3", "LimitReached");
    ASSERT_TRUE(strstr(str_field(f.frames[0].data, "error"), "too many channels") != NULL);
    ASSERT_NULL(px_hub_channel(app, PX_STR("c3")));
    ASSERT_EQ(f.c.nsubs, 2);
    disconnect(&hub, &f);
    env_hub_free(&hub);
}

TEST(router_client_events_refused)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *on = router_app(&hub, NULL);
    px_app_t *off = env_app(&hub, json_pack("{s:s, s:s, s:s}", "id", "9", "key", "offkey",
                                            "secret", "offsecret"));
    ASSERT_EQ(off->client_events, 0);
    fake_client_t a, b, c, d;
    open_conn(&hub, &a, off);
    open_conn(&hub, &b, off);
    open_conn(&hub, &c, on);
    open_conn(&hub, &d, on);
    /* Disabled app. */
    subscribe_signed(&hub, &a, "private-x", NULL);
    subscribe_signed(&hub, &b, "private-x", NULL);
    fake_clear(&a);
    fake_clear(&b);
    client_event(&hub, &a, "client-x", "private-x", "{}");
    assert_error(&a);
    ASSERT_EQ(b.nframes, 0);
    /* Not subscribed. */
    client_event(&hub, &c, "client-x", "private-x", "{}");
    assert_error(&c);
    fake_clear(&c);
    /* A public channel. */
    subscribe_public(&hub, &c, "news");
    subscribe_public(&hub, &d, "news");
    fake_clear(&c);
    fake_clear(&d);
    client_event(&hub, &c, "client-x", "news", "{}");
    assert_error(&c);
    ASSERT_EQ(d.nframes, 0);
    fake_clear(&c);
    /* No channel at all. */
    fake_say(&hub, &c, "{\"event\":\"client-x\",\"data\":{}}");
    assert_error(&c);
    ASSERT_EQ(d.nframes, 0);
    disconnect(&hub, &a);
    disconnect(&hub, &b);
    disconnect(&hub, &c);
    disconnect(&hub, &d);
    env_hub_free(&hub);
}

TEST(router_client_events_delivered)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t a, b, c;
    open_conn(&hub, &a, app);
    open_conn(&hub, &b, app);
    open_conn(&hub, &c, app);
    subscribe_signed(&hub, &a, "private-chat", NULL);
    subscribe_signed(&hub, &b, "private-chat", NULL);
    fake_clear(&a);
    fake_clear(&b);
    client_event(&hub, &a, "client-typing", "private-chat", "{\"who\":\"a\"}");
    ASSERT_EQ(a.nframes, 0); /* never echoed to the sender */
    ASSERT_EQ(c.nframes, 0); /* not subscribed */
    ASSERT_EQ(b.nframes, 1);
    ASSERT_STR_EQ(b.frames[0].text, "{\"event\":\"client-typing\",\"channel\":\"private-chat\","
                                    "\"data\":\"{\\\"who\\\":\\\"a\\\"}\"}");
    /* data sent as an object arrives as the same JSON. */
    fake_clear(&b);
    fake_say(&hub, &a, "{\"event\":\"client-obj\",\"channel\":\"private-chat\",\"data\":{\"n\":1}}");
    json_t *d = only(&b, "client-obj", "private-chat");
    ASSERT_EQ(json_integer_value(json_object_get(d, "n")), 1);
    ASSERT_NULL(json_object_get(b.frames[0].msg, "user_id"));

    /* Presence: the sender's user id is added. */
    subscribe_presence(&hub, &a, "presence-p", "alice", NULL);
    subscribe_presence(&hub, &b, "presence-p", "bob", NULL);
    fake_clear(&a);
    fake_clear(&b);
    client_event(&hub, &b, "client-hi", "presence-p", "x");
    ASSERT_EQ(b.nframes, 0);
    only(&a, "client-hi", "presence-p");
    ASSERT_STR_EQ(str_field(a.frames[0].msg, "user_id"), "bob");
    ASSERT_STR_EQ(str_field(a.frames[0].msg, "data"), "x");
    disconnect(&hub, &a);
    disconnect(&hub, &b);
    disconnect(&hub, &c);
    env_hub_free(&hub);
}

TEST(router_client_events_rate_limit)
{
    px_hub_t hub;
    env_hub_init(&hub);
    hub.now_ms = 50000;
    px_app_t *app = router_app(&hub, json_pack("{s:i}", "max_client_events_per_second", 3));
    fake_client_t a, b;
    open_conn(&hub, &a, app);
    open_conn(&hub, &b, app);
    subscribe_signed(&hub, &a, "private-r", NULL);
    subscribe_signed(&hub, &b, "private-r", NULL);
    fake_clear(&a);
    fake_clear(&b);
    for (int i = 0; i < 3; i++) {
        client_event(&hub, &a, "client-e", "private-r", "{}");
        hub.now_ms += 300; /* 50000 .. 50600: one window */
    }
    ASSERT_EQ(a.nframes, 0);
    ASSERT_EQ(b.nframes, 3);
    client_event(&hub, &a, "client-e", "private-r", "{}");
    json_t *e = assert_error(&a);
    ASSERT_EQ(json_integer_value(json_object_get(e, "code")), PX_ERR_CLIENT_RATE);
    ASSERT_EQ(b.nframes, 3);
    ASSERT_EQ(a.closes, 0);
    /* b has its own budget. */
    client_event(&hub, &b, "client-e", "private-r", "{}");
    ASSERT_EQ(b.nframes, 3);
    ASSERT_EQ(a.nframes, 2);
    /* A second later the window resets. */
    hub.now_ms = 51000;
    fake_clear(&a);
    client_event(&hub, &a, "client-e", "private-r", "{}");
    ASSERT_EQ(a.nframes, 0);
    ASSERT_EQ(b.nframes, 4);
    disconnect(&hub, &a);
    disconnect(&hub, &b);
    env_hub_free(&hub);
}

TEST(router_client_event_too_big)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, json_pack("{s:i}", "max_event_bytes", 8));
    fake_client_t a, b;
    open_conn(&hub, &a, app);
    open_conn(&hub, &b, app);
    subscribe_signed(&hub, &a, "private-r", NULL);
    subscribe_signed(&hub, &b, "private-r", NULL);
    fake_clear(&a);
    fake_clear(&b);
    client_event(&hub, &a, "client-e", "private-r", "12345678");
    ASSERT_EQ(b.nframes, 1);
    client_event(&hub, &a, "client-e", "private-r", "123456789");
    assert_error(&a);
    ASSERT_EQ(b.nframes, 1);
    disconnect(&hub, &a);
    disconnect(&hub, &b);
    env_hub_free(&hub);
}

TEST(router_trigger_exclude)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t f[3];
    for (int i = 0; i < 3; i++) {
        open_conn(&hub, &f[i], app);
        subscribe_public(&hub, &f[i], "news");
        fake_clear(&f[i]);
    }
    subscribe_public(&hub, &f[0], "sports");
    fake_clear(&f[0]);
    px_str_t chans[] = {PX_STR("news"), PX_STR("empty"), PX_STR("sports")};
    long n = px_router_trigger(&hub, app, chans, 3, PX_STR("update"), PX_STR("{\"x\":1}"),
                               (px_str_t){f[1].c.socket_id, f[1].c.sid_len});
    ASSERT_EQ(n, 3); /* news: f0 and f2; sports: f0 */
    ASSERT_EQ(f[0].nframes, 2);
    ASSERT_EQ(f[1].nframes, 0);
    ASSERT_EQ(f[2].nframes, 1);
    ASSERT_STR_EQ(f[2].frames[0].text,
                  "{\"event\":\"update\",\"channel\":\"news\",\"data\":\"{\\\"x\\\":1}\"}");
    ASSERT_STR_EQ(str_field(f[0].frames[1].msg, "channel"), "sports");
    ASSERT_NULL(px_hub_channel(app, PX_STR("empty"))); /* not created by publishing */
    /* Without exclusion, and with an exclusion naming nobody. */
    n = px_router_trigger(&hub, app, chans, 1, PX_STR("u2"), PX_STR("d"), (px_str_t){NULL, 0});
    ASSERT_EQ(n, 3);
    n = px_router_trigger(&hub, app, chans, 1, PX_STR("u3"), PX_STR("d"), PX_STR("1.2"));
    ASSERT_EQ(n, 3);
    ASSERT_EQ(fake_count(&f[1], "u3"), 1);
    for (int i = 0; i < 3; i++)
        disconnect(&hub, &f[i]);
    env_hub_free(&hub);
}

TEST(router_unsubscribe)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t f;
    open_conn(&hub, &f, app);
    subscribe_public(&hub, &f, "news");
    fake_clear(&f);
    say_json(&hub, &f, json_pack("{s:s, s:{s:s}}", "event", "pusher:unsubscribe", "data",
                                 "channel", "news"));
    ASSERT_EQ(f.nframes, 0);
    ASSERT_NULL(px_hub_channel(app, PX_STR("news")));
    ASSERT_EQ(f.c.nsubs, 0);
    /* Unsubscribing from something not subscribed is silent. */
    say_json(&hub, &f, json_pack("{s:s, s:{s:s}}", "event", "pusher:unsubscribe", "data",
                                 "channel", "other"));
    ASSERT_EQ(f.nframes, 0);
    /* Published events no longer arrive. */
    px_str_t ch = PX_STR("news");
    ASSERT_EQ(px_router_trigger(&hub, app, &ch, 1, PX_STR("e"), PX_STR("d"),
                                (px_str_t){NULL, 0}), 0);
    ASSERT_EQ(f.nframes, 0);
    disconnect(&hub, &f);
    env_hub_free(&hub);
}

TEST(router_closed_removes_everything)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t a, b;
    open_conn(&hub, &a, app);
    open_conn(&hub, &b, app);
    subscribe_public(&hub, &a, "news");
    subscribe_signed(&hub, &a, "private-x", NULL);
    subscribe_presence(&hub, &a, "presence-a", "ua", NULL);
    subscribe_presence(&hub, &a, "presence-b", "ua", NULL);
    subscribe_presence(&hub, &b, "presence-b", "ub", NULL);
    signin(&hub, &a, "{\"id\":\"ua\"}");
    subscribe_public(&hub, &a, "#server-to-user-ua");
    ASSERT_EQ(fake_count(&a, "pusher_internal:subscription_succeeded"), 5);
    ASSERT_EQ(a.c.nsubs, 5);
    ASSERT_EQ(app->channels.len, 5);
    fake_clear(&b);
    px_router_closed(&hub, &a.c);
    ASSERT_NULL(a.c.subs);
    ASSERT_EQ(a.c.nsubs, 0);
    ASSERT_NULL(a.c.user_id);
    ASSERT_EQ(app->channels.len, 1); /* only b's presence-b */
    json_t *removed = only(&b, "pusher_internal:member_removed", "presence-b");
    ASSERT_STR_EQ(str_field(removed, "user_id"), "ua");
    fake_free(&a);
    px_router_closed(&hub, &b.c);
    ASSERT_EQ(app->channels.len, 0);
    ASSERT_EQ(hub.stats.channels, 0);
    fake_free(&b);
    env_hub_free(&hub);
}

TEST(router_user_channel_signin)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t f;
    open_conn(&hub, &f, app);
    subscribe_public(&hub, &f, "#server-to-user-42");
    assert_sub_error(&f, "#server-to-user-42", "AuthError");
    ASSERT_NULL(px_hub_channel(app, PX_STR("#server-to-user-42")));
    fake_clear(&f);

    signin(&hub, &f, "{\"id\":\"42\",\"name\":\"x\"}");
    json_t *d = only(&f, "pusher:signin_success", NULL);
    ASSERT_STR_EQ(str_field(d, "user_data"), "{\"id\":\"42\",\"name\":\"x\"}");
    ASSERT_STR_EQ(f.c.user_id, "42");
    ASSERT_EQ(f.closes, 0);
    fake_clear(&f);

    subscribe_public(&hub, &f, "#server-to-user-42");
    only(&f, "pusher_internal:subscription_succeeded", "#server-to-user-42");
    fake_clear(&f);
    subscribe_public(&hub, &f, "#server-to-user-43"); /* someone else's */
    assert_sub_error(&f, "#server-to-user-43", "AuthError");
    ASSERT_EQ(f.c.nsubs, 1);
    /* Events for the user arrive. */
    fake_clear(&f);
    px_str_t ch = PX_STR("#server-to-user-42");
    ASSERT_EQ(px_router_trigger(&hub, app, &ch, 1, PX_STR("hello"), PX_STR("d"),
                                (px_str_t){NULL, 0}), 1);
    only(&f, "hello", "#server-to-user-42");
    disconnect(&hub, &f);
    env_hub_free(&hub);
}

TEST(router_signin_rejected)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = router_app(&hub, NULL);
    fake_client_t f, g;
    open_conn(&hub, &f, app);
    open_conn(&hub, &g, app);
    /* Signed for another socket. */
    char msg[256], auth[256];
    snprintf(msg, sizeof msg, "%s::user::{\"id\":\"42\"}", g.c.socket_id);
    env_sign(app, msg, auth, sizeof auth);
    say_json(&hub, &f, json_pack("{s:s, s:{s:s, s:s}}", "event", "pusher:signin", "data", "auth",
                                 auth, "user_data", "{\"id\":\"42\"}"));
    json_t *e = assert_error(&f);
    ASSERT_EQ(json_integer_value(json_object_get(e, "code")), 4009);
    ASSERT_EQ(f.closes, 1);
    ASSERT_EQ(f.close_code, PX_CLOSE_UNAUTHORIZED);
    ASSERT_NULL(f.c.user_id);
    /* Well signed, but the user data has no valid id. */
    signin(&hub, &g, "{\"name\":\"no id\"}");
    assert_error(&g);
    ASSERT_EQ(g.closes, 1);
    ASSERT_NULL(g.c.user_id);
    disconnect(&hub, &f);
    disconnect(&hub, &g);
    env_hub_free(&hub);
}

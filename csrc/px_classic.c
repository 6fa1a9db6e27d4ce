/* px_classic.c - the original pushi's WebSocket protocol on the shared hub. */
#include "px_classic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "px_auth.h"
#include "px_crypto.h"
#include "px_err.h"
#include "px_proto.h"
#include "px_router.h"

#define PERSONAL_PREFIX "personal-"
#define INBOX_COUNT 10

static px_str_t no_str(void)
{
    return (px_str_t){NULL, 0};
}

/* pusher:error, then a close: the original dropped the connection here. */
static void refuse(px_client_t *c, const char *message, uint16_t code)
{
    px_router_error(c, message, code);
    c->ops->close(c, code, message);
}

int px_classic_open(px_hub_t *hub, px_client_t *c)
{
    PX_UNUSED(hub);
    char data[96];
    int n = snprintf(data, sizeof data, "{\"socket_id\":\"%s\"}", c->socket_id);
    px_rbuf_t *f = px_proto_event(PX_STR("pusher:connection_established"), no_str(),
                                  (px_str_t){data, (size_t)n}, no_str());
    if (f == NULL)
        return PX_ENOMEM;
    int rc = c->ops->send(c, f);
    px_rbuf_unref(f);
    return rc;
}

int px__classic_name_ok(px_str_t name)
{
    if (name.n == 0 || name.n > PX_MAX_NAME_CLASSIC || strlen(name.p) != name.n)
        return 0;
    for (size_t i = 0; i < name.n; i++) {
        unsigned char ch = (unsigned char)name.p[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
            continue;
        if (!strchr("_-=@,.;:&", ch) || ch == '\0')
            return 0;
    }
    return 1;
}

/* Personal channel of a name: "personal-U" (classic) or "private-personal-U"
 * (Pusher dialect, so stock pusher-js authorizes it). Returns U or NULL. */
static const char *personal_user(px_str_t name)
{
    if (px_str_prefix(name, "private-" PERSONAL_PREFIX))
        return name.p + sizeof("private-" PERSONAL_PREFIX) - 1;
    if (px_str_prefix(name, PERSONAL_PREFIX))
        return name.p + sizeof(PERSONAL_PREFIX) - 1;
    return NULL;
}

/* Appends the channel-info object {name, members, alias, events}. */
static int channel_info(px_buf_t *b, const px_app_t *app, px_str_t name, const json_t *events)
{
    int rc = px_buf_puts(b, "{\"name\":\"");
    rc |= px_buf_json_escape(b, name.p, name.n);
    rc |= px_buf_puts(b, "\",\"members\":{");
    px_channel_t *ch = px_hub_channel(app, name);
    for (const px_member_t *m = ch ? ch->mhead : NULL; m != NULL; m = m->next) {
        rc |= px_buf_puts(b, m == ch->mhead ? "\"" : ",\"");
        rc |= px_buf_json_escape(b, m->user_id, m->idlen);
        rc |= px_buf_puts(b, "\":");
        if (m->channel_data != NULL) {
            rc |= px_buf_puts(b, m->channel_data);
        } else {
            rc |= px_buf_puts(b, "{\"user_id\":\"");
            rc |= px_buf_json_escape(b, m->user_id, m->idlen);
            rc |= px_buf_puts(b, "\"}");
        }
    }
    rc |= px_buf_puts(b, "},\"alias\":");
    const char *user = personal_user(name);
    json_t *alias = user ? px_classic_aliases(app, user) : json_array();
    rc |= px_json_dump(b, alias);
    json_decref(alias);
    rc |= px_buf_puts(b, ",\"events\":");
    if (events != NULL)
        rc |= px_json_dump(b, events);
    else
        rc |= px_buf_puts(b, "[]");
    rc |= px_buf_puts(b, "}");
    return rc ? PX_ENOMEM : 0;
}

/* Sends event (with channel) whose data is the channel-info object. */
static void send_info(px_client_t *c, const char *event, px_str_t name, const json_t *events)
{
    px_buf_t b = PX_BUF_INIT;
    px_rbuf_t *f = NULL;
    if (channel_info(&b, c->app, name, events) == 0)
        f = px_proto_event(px_cstr(event), name, (px_str_t){b.data, b.len}, no_str());
    px_buf_free(&b);
    px__router_send_owned(c, f);
}

/* Converts the store's event documents to the original's shape:
 * {mid, instance, channel, owner_id, timestamp, id, data: {channel, event,
 * data, ...extra}}. Returns a new array. */
json_t *px_classic_original_events(const json_t *events)
{
    json_t *out = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        json_t *env = json_object();
        json_t *extra = json_object_get(e, "extra");
        if (json_is_object(extra))
            json_object_update(env, extra);
        json_object_set(env, "channel", json_object_get(e, "channel"));
        json_object_set(env, "event", json_object_get(e, "name"));
        json_object_set(env, "data", json_object_get(e, "data"));
        json_t *doc = json_pack("{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:o}",
                                "mid", json_object_get(e, "mid"),
                                "instance", json_object_get(e, "app_id"),
                                "channel", json_object_get(e, "channel"),
                                "owner_id", json_object_get(e, "owner_id"),
                                "timestamp", json_object_get(e, "timestamp"),
                                "id", json_object_get(e, "id"), "data", env);
        if (doc != NULL)
            json_array_append_new(out, doc);
    }
    return out;
}

void px_classic_history_done(px_hub_t *hub, px_client_t *c, int kind, const char *channel,
                             json_t *events)
{
    PX_UNUSED(hub);
    json_t *docs = px_classic_original_events(events);
    px_str_t name = px_cstr(channel);
    if (c->dialect == PX_DIALECT_CLASSIC) {
        const char *event = kind == PX_REPLY_LATEST ? "pusher_internal:latest"
                            : kind == PX_REPLY_SUBSCRIBED
                                ? "pusher_internal:subscription_succeeded"
                                : "pusher_internal:unsubscription_succeeded";
        send_info(c, event, name, docs);
    } else {
        /* Pusher dialect: pusher-js hands "pusher:" events of a channel to
         * its bindings, so history answers are pusher:latest; a personal
         * subscription is confirmed the usual way, with its aliases and
         * inbox in the data. */
        px_buf_t b = PX_BUF_INIT;
        int rc = px_buf_puts(&b, "{\"channel\":\"");
        rc |= px_buf_json_escape(&b, name.p, name.n);
        rc |= px_buf_puts(&b, "\",\"alias\":");
        const char *user = personal_user(name);
        json_t *alias = user ? px_classic_aliases(c->app, user) : json_array();
        rc |= px_json_dump(&b, alias);
        json_decref(alias);
        rc |= px_buf_puts(&b, ",\"events\":");
        rc |= px_json_dump(&b, docs);
        rc |= px_buf_puts(&b, "}");
        const char *event = kind == PX_REPLY_LATEST ? "pusher:latest"
                                                    : "pusher_internal:subscription_succeeded";
        px_rbuf_t *f = rc ? NULL
                          : px_proto_event(px_cstr(event), name, (px_str_t){b.data, b.len},
                                           no_str());
        px_buf_free(&b);
        if (kind != PX_REPLY_UNSUBSCRIBED)
            px__router_send_owned(c, f);
        else
            px_rbuf_unref(f);
    }
    json_decref(docs);
}

/* Asks for a history read, or answers at once with no events when there
 * is no store. */
static void history(px_hub_t *hub, px_client_t *c, int kind, const char *channel,
                    const char *user, size_t skip, size_t count)
{
    if (hub->svc.history != NULL &&
        hub->svc.history(hub->svc.ud, c, channel, user, skip, count, kind) == 0)
        return;
    px_classic_history_done(hub, c, kind, channel, NULL);
}

json_t *px_classic_aliases(const px_app_t *app, const char *user_id)
{
    json_t *arr = json_array();
    px_alias_t *a = px_alias_get(&app->aliases, user_id);
    for (size_t i = 0; a != NULL && arr != NULL && i < a->n; i++)
        json_array_append_new(arr, json_string(a->items[i]));
    return arr;
}

json_t *px_classic_alias_users(const px_app_t *app, const char *channel)
{
    json_t *arr = json_array();
    px_alias_t *a = px_alias_get(&app->alias_rev, channel);
    for (size_t i = 0; a != NULL && arr != NULL && i < a->n; i++)
        json_array_append_new(arr, json_string(a->items[i]));
    return arr;
}

/* Subscribes c to name for reason via (adding the reason when it is
 * subscribed already). Returns 0 or a negative code. */
static int join(px_hub_t *hub, px_client_t *c, px_str_t name, uint8_t via)
{
    px_sub_t *s = NULL;
    int is_new = 0;
    int rc = px_hub_subscribe(hub, c, name, no_str(), no_str(), &s, &is_new);
    if (rc == PX_EEXIST) {
        s->via |= via;
        return 0;
    }
    if (rc < 0)
        return rc;
    s->via = via;
    return 0;
}

/* Drops reason via from c's subscription to name; leaves when none is left. */
static void part(px_hub_t *hub, px_client_t *c, px_str_t name, uint8_t via)
{
    px_sub_t *s = px_client_sub(c, name);
    if (s == NULL)
        return;
    s->via &= (uint8_t)~via;
    if (s->via == 0)
        px__router_leave(hub, s);
}

int px_classic_alias_changed(px_hub_t *hub, px_app_t *app, const char *user_id,
                             const char *channel, int added)
{
    int rc = added ? px_alias_add(&app->aliases, user_id, channel)
                   : px_alias_remove(&app->aliases, user_id, channel);
    if (rc <= 0)
        return rc;
    if (added)
        px_alias_add(&app->alias_rev, channel, user_id);
    else
        px_alias_remove(&app->alias_rev, channel, user_id);
    /* Live personal subscribers follow (the original snapshotted). */
    px_alias_t *a = px_alias_get(&app->aliases, user_id);
    for (size_t i = 0; a != NULL && i < a->nw; i++) {
        px_client_t *c = a->watchers[i];
        if (added)
            join(hub, c, px_cstr(channel), PX_VIA_PERSONAL);
        else
            part(hub, c, px_cstr(channel), PX_VIA_PERSONAL);
    }
    return 1;
}

/* Subscribes c to user's personal channel: every aliased channel. */
static void personal_subscribe(px_hub_t *hub, px_client_t *c, px_str_t name, const char *user)
{
    if (c->personal_user != NULL && strcmp(c->personal_user, user) != 0) {
        px_router_error(c, "A connection may hold one personal channel", 0);
        return;
    }
    if (c->personal_user == NULL) {
        if ((c->personal_user = strdup(user)) == NULL ||
            px_alias_watch(&c->app->aliases, user, c, 1) < 0) {
            free(c->personal_user);
            c->personal_user = NULL;
            c->ops->close(c, 1011, "out of memory");
            return;
        }
    }
    px_alias_t *a = px_alias_get(&c->app->aliases, user);
    for (size_t i = 0; a != NULL && i < a->n; i++)
        join(hub, c, px_cstr(a->items[i]), PX_VIA_PERSONAL);
    char channel[PX_MAX_NAME_CLASSIC + 1];
    snprintf(channel, sizeof channel, "%.*s", (int)name.n, name.p);
    history(hub, c, PX_REPLY_SUBSCRIBED, channel, user, 0, INBOX_COUNT);
}

static void personal_unsubscribe(px_hub_t *hub, px_client_t *c, px_str_t name,
                                 const char *user, int reply)
{
    if (c->personal_user == NULL || strcmp(c->personal_user, user) != 0)
        return;
    px_alias_t *a = px_alias_get(&c->app->aliases, user);
    for (size_t i = 0; a != NULL && i < a->n; i++)
        part(hub, c, px_cstr(a->items[i]), PX_VIA_PERSONAL);
    px_alias_watch(&c->app->aliases, user, c, 0);
    free(c->personal_user);
    c->personal_user = NULL;
    if (reply) {
        char channel[PX_MAX_NAME_CLASSIC + 1];
        snprintf(channel, sizeof channel, "%.*s", (int)name.n, name.p);
        history(hub, c, PX_REPLY_UNSUBSCRIBED, channel, user, 0, INBOX_COUNT);
    }
}

void px_classic_closed(px_hub_t *hub, px_client_t *c)
{
    PX_UNUSED(hub);
    if (c->personal_user != NULL) {
        px_alias_watch(&c->app->aliases, c->personal_user, c, 0);
        free(c->personal_user);
        c->personal_user = NULL;
    }
}

/* Verifies a classic subscription's signature. For presence channels a
 * signature over "socket_id:channel:channel_data" is checked when present;
 * the original's "socket_id:channel" only when the app allows it. */
static int classic_auth(px_client_t *c, px_str_t name, px_str_t auth, const px_str_t *cdata)
{
    px_str_t sid = {c->socket_id, c->sid_len};
    if (cdata != NULL && px_auth_channel(c->app, sid, name, cdata, auth) == 0)
        return 0;
    if (cdata != NULL && !c->app->classic_unsigned_presence)
        return PX_EAUTH;
    return px_auth_channel(c->app, sid, name, NULL, auth);
}

int px__classic_personal(px_hub_t *hub, px_client_t *c, px_str_t name, int subscribe)
{
    const char *user = personal_user(name);
    if (user == NULL || px_user_id_check(px_cstr(user)) < 0)
        return 0;
    if (subscribe)
        personal_subscribe(hub, c, name, user);
    else
        personal_unsubscribe(hub, c, name, user, 0);
    return 1;
}

static void on_subscribe(px_hub_t *hub, px_client_t *c, json_t *d)
{
    px_str_t name = px_json_str(d, "channel");
    if (name.p == NULL || !px__classic_name_ok(name)) {
        refuse(c, "pusher:subscribe needs a valid data.channel", PX_CLASSIC_CLOSE_MALFORMED);
        return;
    }
    px_chan_kind_t kind = px_chan_kind(name);
    const char *user = personal_user(name);
    int needs_auth = px_chan_kind_authed(kind) || user != NULL || px_str_prefix(name, "peer-");
    /* channel_data: an object (original clients) or a string (Pusher). */
    json_t *cd = json_object_get(d, "channel_data");
    json_t *cd_obj = NULL;
    px_buf_t cd_text = PX_BUF_INIT;
    px_str_t raw = {NULL, 0};
    if (json_is_string(cd)) {
        raw = (px_str_t){json_string_value(cd), json_string_length(cd)};
        json_error_t err;
        cd_obj = json_loadb(raw.p, raw.n, JSON_REJECT_DUPLICATES, &err);
    } else if (json_is_object(cd)) {
        cd_obj = json_incref(cd);
        px_json_dump(&cd_text, cd);
        raw = (px_str_t){cd_text.data, cd_text.len};
    }
    if (cd != NULL && !json_is_null(cd) && !json_is_object(cd_obj)) {
        json_decref(cd_obj);
        px_buf_free(&cd_text);
        refuse(c, "channel_data must be an object (or a string holding one)",
               PX_CLASSIC_CLOSE_MALFORMED);
        return;
    }
    int presence = kind == PX_CHAN_PRESENCE && cd_obj != NULL;
    if (needs_auth) {
        px_str_t auth = px_json_str(d, "auth");
        if (auth.p == NULL || classic_auth(c, name, auth, presence ? &raw : NULL) < 0) {
            json_decref(cd_obj);
            px_buf_free(&cd_text);
            refuse(c, "Invalid signature for the channel", PX_CLASSIC_CLOSE_UNAUTHORIZED);
            return;
        }
    }
    if (user != NULL) {
        json_decref(cd_obj);
        px_buf_free(&cd_text);
        personal_subscribe(hub, c, name, user);
        return;
    }
    /* Re-subscribing first unsubscribes (the original's behaviour). */
    px_sub_t *old = px_client_sub(c, name);
    if (old != NULL)
        px__router_leave(hub, old);
    char idbuf[130];
    px_str_t uid = {NULL, 0};
    px_buf_t info = PX_BUF_INIT;
    if (presence) {
        json_t *u = json_object_get(cd_obj, "user_id");
        if (json_is_integer(u)) {
            int n = snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(u));
            uid = (px_str_t){idbuf, (size_t)n};
        } else if (json_is_string(u)) {
            uid = (px_str_t){json_string_value(u), json_string_length(u)};
        }
        json_t *ui = json_object_get(cd_obj, "user_info");
        if (ui != NULL)
            px_json_dump(&info, ui);
        if (uid.p == NULL || px_user_id_check(uid) < 0 || info.len > c->app->max_user_info_bytes ||
            raw.n > 4 * (size_t)c->app->max_user_info_bytes + 512) {
            json_decref(cd_obj);
            px_buf_free(&cd_text);
            px_buf_free(&info);
            refuse(c, "channel_data needs a valid user_id and a small user_info",
                   PX_CLASSIC_CLOSE_MALFORMED);
            return;
        }
    }
    px_sub_t *s = NULL;
    int is_new = 0;
    int rc = px_hub_subscribe(hub, c, name, uid,
                              info.data ? (px_str_t){info.data, info.len} : no_str(), &s,
                              &is_new);
    px_buf_free(&info);
    if (rc == 0) {
        s->via = PX_VIA_DIRECT;
        if (s->member != NULL) {
            px_buf_t dump = PX_BUF_INIT;
            if (px_json_dump(&dump, cd_obj) == 0)
                px_member_set_data(s->member, (px_str_t){dump.data, dump.len});
            px_buf_free(&dump);
            s->member->peer = (uint8_t)px__classic_peer_flag(s->member->channel_data);
        }
    }
    json_decref(cd_obj);
    px_buf_free(&cd_text);
    if (rc == PX_ELIMIT) {
        refuse(c, "Limit reached: channel full or too many channels", 4100);
        return;
    }
    if (rc < 0) {
        refuse(c, px_strerror(rc), 1011);
        return;
    }
    send_info(c, "pusher_internal:subscription_succeeded", name, NULL);
    if (is_new)
        px__router_member_event(hub, s->chan, c, 1, s->member->user_id, s->member->user_info,
                                s->member->channel_data);
    if (s->member != NULL)
        px__classic_peer_join(hub, s, is_new); /* silent, as in the original */
}

static void on_unsubscribe(px_hub_t *hub, px_client_t *c, json_t *d)
{
    px_str_t name = px_json_str(d, "channel");
    if (name.p == NULL || !px__classic_name_ok(name)) {
        refuse(c, "pusher:unsubscribe needs a valid data.channel", PX_CLASSIC_CLOSE_MALFORMED);
        return;
    }
    const char *user = personal_user(name);
    if (user != NULL) {
        if (c->personal_user == NULL || strcmp(c->personal_user, user) != 0) {
            refuse(c, "Not subscribed to that personal channel", PX_CLASSIC_CLOSE_MALFORMED);
            return;
        }
        personal_unsubscribe(hub, c, name, user, 1);
        return;
    }
    px_sub_t *s = px_client_sub(c, name);
    if (s == NULL) {
        refuse(c, "Not subscribed to the channel", PX_CLASSIC_CLOSE_MALFORMED);
        return;
    }
    s->via &= (uint8_t)~PX_VIA_DIRECT;
    if (s->via == 0)
        px__router_leave(hub, s);
    send_info(c, "pusher_internal:unsubscription_succeeded", name, NULL);
}

/* pusher:latest {channel, skip, count}, on both dialects. */
void px__classic_latest(px_hub_t *hub, px_client_t *c, json_t *d)
{
    px_str_t name = px_json_str(d, "channel");
    if (name.p == NULL || !px__classic_name_ok(name)) {
        px_router_error(c, "pusher:latest needs a valid data.channel", 0);
        return;
    }
    json_t *jskip = json_object_get(d, "skip"), *jcount = json_object_get(d, "count");
    json_int_t skip = json_is_integer(jskip) ? json_integer_value(jskip) : 0;
    json_int_t count = json_is_integer(jcount) ? json_integer_value(jcount) : 10;
    /* The original had no bound; an app setting caps it. */
    if (skip < 0 || skip > 100000 || count < 1 || count > (json_int_t)c->app->history_max_count) {
        px_router_error(c, "pusher:latest: skip must be 0..100000 and count 1..history_max_count",
                        0);
        return;
    }
    const char *user = personal_user(name);
    char channel[PX_MAX_NAME_CLASSIC + 1];
    snprintf(channel, sizeof channel, "%.*s", (int)name.n, name.p);
    if (user != NULL) {
        /* The original could not read personal history (it never recorded
         * the subscription); a personal subscriber reads its inbox. */
        if (c->personal_user == NULL || strcmp(c->personal_user, user) != 0) {
            px_router_error(c, "pusher:latest: not subscribed to that personal channel", 0);
            return;
        }
        history(hub, c, PX_REPLY_LATEST, channel, user, (size_t)skip, (size_t)count);
        return;
    }
    if (px_client_sub(c, name) == NULL) {
        px_router_error(c, "pusher:latest: not subscribed to the channel", 0);
        return;
    }
    history(hub, c, PX_REPLY_LATEST, channel, NULL, (size_t)skip, (size_t)count);
}

/* A new message id: a random UUID (version 4). */
static void new_mid(char out[37])
{
    uint8_t r[16];
    px_random_bytes(r, sizeof r);
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
    char hex[33];
    px_hex(r, 16, hex);
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

long px_classic_trigger(px_hub_t *hub, px_app_t *app, const px_str_t *channels, size_t n,
                        px_str_t name, px_str_t data, const json_t *extra, int persist,
                        px_client_t *owner, int echo, px_str_t exclude_sid)
{
    uint64_t ex_a = 0, ex_b = 0;
    int has_ex = exclude_sid.p != NULL && px_socket_id_parse(exclude_sid, &ex_a, &ex_b) == 0;
    uint64_t epoch = ++hub->epochs;
    long total = 0;
    for (size_t i = 0; i < n; i++) {
        char mid[37] = {0};
        double ts = 0;
        if (persist && hub->svc.persist != NULL) {
            new_mid(mid);
            ts = now_seconds();
            char channel[PX_MAX_NAME_CLASSIC + 1];
            snprintf(channel, sizeof channel, "%.*s", (int)channels[i].n, channels[i].p);
            json_t *ev = json_pack("{s:s, s:s, s:s%, s:s%, s:s, s:f, s:s?, s:O*}",
                                   "app_id", app->id, "channel", channel, "name", name.p, name.n,
                                   "data", data.p, data.n, "mid", mid, "timestamp", ts,
                                   "owner_id", owner ? owner->socket_id : NULL,
                                   "extra", extra);
            if (ev == NULL)
                return PX_ENOMEM;
            int rc = hub->svc.persist(hub->svc.ud, ev, px_classic_alias_users(app, channel));
            if (rc < 0)
                return rc;
        }
        px_channel_t *ch = px_hub_channel(app, channels[i]);
        if (ch == NULL)
            continue;
        /* One envelope for both dialects: {channel, event, data, extras,
         * mid, timestamp}; Pusher clients ignore the keys they do not know. */
        px_buf_t b = PX_BUF_INIT;
        int rc = px_buf_puts(&b, "{\"channel\":\"");
        rc |= px_buf_json_escape(&b, channels[i].p, channels[i].n);
        rc |= px_buf_puts(&b, "\",\"event\":\"");
        rc |= px_buf_json_escape(&b, name.p, name.n);
        rc |= px_buf_puts(&b, "\",\"data\":\"");
        rc |= px_buf_json_escape(&b, data.p, data.n);
        rc |= px_buf_puts(&b, "\"");
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)extra, k, v) {
            if (!strcmp(k, "channel") || !strcmp(k, "event") || !strcmp(k, "data") ||
                !strcmp(k, "mid") || !strcmp(k, "timestamp") || !strcmp(k, "channels"))
                continue;
            rc |= px_buf_puts(&b, ",\"");
            rc |= px_buf_json_escape(&b, k, strlen(k));
            rc |= px_buf_puts(&b, "\":");
            rc |= px_json_dump(&b, v);
        }
        if (mid[0])
            rc |= px_buf_printf(&b, ",\"mid\":\"%s\",\"timestamp\":%.6f", mid, ts);
        rc |= px_buf_puts(&b, "}");
        px_rbuf_t *f = rc ? NULL : px_proto_frame(b.data, b.len);
        px_buf_free(&b);
        if (f == NULL)
            return PX_ENOMEM;
        px_rbuf_t *frames[PX_DIALECTS] = {f, f};
        total += (long)px_hub_publish_each(hub, ch, frames, echo ? NULL : owner, has_ex, ex_a,
                                           ex_b, epoch);
        px_rbuf_unref(f);
    }
    return total;
}

static int truthy(const json_t *v, int dflt)
{
    if (v == NULL || json_is_null(v))
        return dflt;
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_integer(v))
        return json_integer_value(v) != 0;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return !(s[0] == '\0' || !strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "False"));
    }
    return 1;
}

static void on_client_event(px_hub_t *hub, px_client_t *c, px_msg_t *m)
{
    if (m->channel.p == NULL || m->data == NULL) {
        refuse(c, "A client event needs event, channel and data", PX_CLASSIC_CLOSE_MALFORMED);
        return;
    }
    px_sub_t *s = px_client_sub(c, m->channel);
    if (s == NULL) {
        refuse(c, "Client event rejected: not subscribed to the channel",
               PX_CLASSIC_CLOSE_UNAUTHORIZED);
        return;
    }
    if (s->chan->kind == PX_CHAN_PUBLIC && !px_str_prefix(m->channel, "peer-") &&
        !c->app->public_client_events) {
        px_router_error(c, "Client events on public channels are off for this app "
                        "(app setting public_client_events)", 0);
        return;
    }
    if (hub->now_ms - c->ce_window >= 1000) {
        c->ce_window = hub->now_ms;
        c->ce_count = 0;
    }
    if (++c->ce_count > c->app->max_client_events_per_second) {
        px_router_error(c, "Client event rejected: rate limit exceeded", 4301);
        return;
    }
    px_buf_t dbuf = PX_BUF_INIT;
    px_str_t data;
    if (json_is_string(m->data)) {
        data = (px_str_t){json_string_value(m->data), json_string_length(m->data)};
    } else {
        if (px_json_dump(&dbuf, m->data) < 0)
            return;
        data = (px_str_t){dbuf.data, dbuf.len};
    }
    if (data.n > c->app->max_event_bytes) {
        px_buf_free(&dbuf);
        px_router_error(c, "Client event rejected: data is larger than the app allows", 0);
        return;
    }
    int echo = truthy(json_object_get(m->root, "echo"), 0);
    int persist = truthy(json_object_get(m->root, "persist"), 1);
    long rc = px_classic_trigger(hub, c->app, &m->channel, 1, m->event, data, NULL, persist, c,
                                 echo, no_str());
    px_buf_free(&dbuf);
    if (rc == PX_ELIMIT)
        px_router_error(c, "Event not stored: the persistence backlog is full", 0);
}

void px_classic_message(px_hub_t *hub, px_client_t *c, const char *text, size_t n)
{
    hub->stats.messages_in++;
    px_msg_t m;
    const char *why = NULL;
    if (px_proto_decode(text, n, &m, &why) < 0) {
        refuse(c, why, PX_CLASSIC_CLOSE_MALFORMED);
        return;
    }
    /* The original maps ':' to '_' to find a handler. */
    char ev[32];
    size_t len = m.event.n < sizeof ev - 1 ? m.event.n : sizeof ev - 1;
    for (size_t i = 0; i < len; i++)
        ev[i] = m.event.p[i] == ':' ? '_' : m.event.p[i];
    ev[len] = '\0';
    int exact = m.event.n == len;
    if (exact && (!strcmp(ev, "pusher_subscribe") || !strcmp(ev, "pusher_unsubscribe") ||
                  !strcmp(ev, "pusher_latest"))) {
        if (m.data_obj == NULL)
            refuse(c, "The event needs a data object", PX_CLASSIC_CLOSE_MALFORMED);
        else if (ev[7] == 's')
            on_subscribe(hub, c, m.data_obj);
        else if (ev[7] == 'u')
            on_unsubscribe(hub, c, m.data_obj);
        else
            px__classic_latest(hub, c, m.data_obj);
    } else if (exact && !strcmp(ev, "pusher_ping")) {
        px__router_send_owned(c, px_proto_event_json(PX_STR("pusher:pong"), no_str(),
                                                     PX_STR("{}")));
    } else if (px_str_prefix(m.event, "pusher") || px_event_name_check(m.event) < 0) {
        px_router_error(c, "Reserved or invalid event name", 0);
    } else {
        on_client_event(hub, c, &m);
    }
    px_msg_free(&m);
}

/* -------------------------------------------------------------- peer channels */

int px__classic_peer_flag(const char *channel_data)
{
    if (channel_data == NULL)
        return 0;
    json_error_t err;
    json_t *cd = json_loads(channel_data, 0, &err);
    json_t *p = json_object_get(cd, "peer");
    int on = p != NULL && !json_is_false(p) && !json_is_null(p) &&
             !(json_is_integer(p) && json_integer_value(p) == 0);
    json_decref(cd);
    return on;
}

/* The pair channel of users a and b for presence channel name, in the
 * classic form "peer-<base>:<lo>&<hi>" (form 0) or the Pusher-charset form
 * "peer-<base>;<lo>;<hi>" (form 1). Returns 0, or -1 when it is too long. */
static int pair_name(char *out, size_t cap, const char *presence, const char *a,
                     const char *b, int form)
{
    const char *base = presence + sizeof("presence-") - 1;
    const char *lo = strcmp(a, b) < 0 ? a : b, *hi = lo == a ? b : a;
    int n = snprintf(out, cap, form ? "peer-%s;%s;%s" : "peer-%s:%s&%s", base, lo, hi);
    return n > 0 && (size_t)n < cap && (size_t)n <= (form ? PX_MAX_NAME : PX_MAX_NAME_CLASSIC)
               ? 0 : -1;
}

static void pair_join(px_hub_t *hub, px_client_t *c, const char *presence, const char *a,
                      const char *b)
{
    char name[PX_MAX_NAME_CLASSIC + 64];
    if (pair_name(name, sizeof name, presence, a, b, c->dialect == PX_DIALECT_PUSHER) == 0)
        join(hub, c, px_cstr(name), PX_VIA_PEER);
}

static void pair_part(px_hub_t *hub, px_client_t *c, const char *presence, const char *a,
                      const char *b)
{
    char name[PX_MAX_NAME_CLASSIC + 64];
    for (int form = 0; form < 2; form++)
        if (pair_name(name, sizeof name, presence, a, b, form) == 0)
            part(hub, c, px_cstr(name), PX_VIA_PEER);
}

void px__classic_peer_join(px_hub_t *hub, px_sub_t *s, int is_new)
{
    px_channel_t *ch = s->chan;
    px_member_t *me = s->member;
    if (me == NULL || !me->peer || ch->kind != PX_CHAN_PRESENCE)
        return;
    char presence[PX_MAX_NAME + 1];
    memcpy(presence, ch->name, ch->nlen + 1);
    /* Joining may create channels and grow arrays: collect the targets
     * first, then join (the channel's subscription array must not move
     * under the walk). */
    uint32_t n = ch->nsubs;
    px_sub_t **subs = malloc((n ? n : 1) * sizeof(*subs));
    if (subs == NULL)
        return;
    memcpy(subs, ch->subs, n * sizeof(*subs));
    for (uint32_t i = 0; i < n; i++) {
        px_member_t *other = subs[i]->member;
        if (other == NULL || other == me)
            continue;
        pair_join(hub, s->client, presence, me->user_id, other->user_id);
        if (is_new)
            pair_join(hub, subs[i]->client, presence, me->user_id, other->user_id);
    }
    free(subs);
}

void px__classic_peer_leave(px_hub_t *hub, px_client_t *c, px_channel_t *ch,
                            const char *user_id, int was_peer, int last_conn)
{
    if (ch->kind != PX_CHAN_PRESENCE)
        return;
    char presence[PX_MAX_NAME + 1];
    char user[129];
    memcpy(presence, ch->name, ch->nlen + 1);
    snprintf(user, sizeof user, "%s", user_id);
    uint32_t n = ch->nsubs;
    px_sub_t **subs = malloc((n ? n : 1) * sizeof(*subs));
    if (subs == NULL)
        return;
    memcpy(subs, ch->subs, n * sizeof(*subs));
    for (uint32_t i = 0; i < n; i++) {
        px_member_t *other = subs[i]->member;
        if (other == NULL || strcmp(other->user_id, user) == 0)
            continue;
        /* The leaving connection leaves its own pair channels (the original
         * forgot this on an explicit unsubscribe). */
        pair_part(hub, c, presence, user, other->user_id);
        if (last_conn && was_peer)
            pair_part(hub, subs[i]->client, presence, user, other->user_id);
    }
    free(subs);
}

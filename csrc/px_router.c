/* px_router.c - Pusher protocol v7 actions. */
#include "px_router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_auth.h"
#include "px_classic.h"
#include "px_err.h"
#include "px_proto.h"

void px__router_send_owned(px_client_t *c, px_rbuf_t *frame)
{
    if (frame == NULL) {
        c->ops->close(c, 1011, "out of memory");
        return;
    }
    c->ops->send(c, frame);
    px_rbuf_unref(frame);
}

void px_router_error(px_client_t *c, const char *message, int code)
{
    px__router_send_owned(c, px_proto_error(message, code));
}

int px_router_open(px_hub_t *hub, px_client_t *c)
{
    if (c->dialect == PX_DIALECT_CLASSIC)
        return px_classic_open(hub, c);
    char data[128];
    int n = snprintf(data, sizeof data, "{\"socket_id\":\"%s\",\"activity_timeout\":%u}",
                     c->socket_id, hub->activity_timeout);
    px_rbuf_t *f = px_proto_event(PX_STR("pusher:connection_established"),
                                  (px_str_t){NULL, 0}, (px_str_t){data, (size_t)n},
                                  (px_str_t){NULL, 0});
    if (f == NULL)
        return PX_ENOMEM;
    int rc = c->ops->send(c, f);
    px_rbuf_unref(f);
    return rc;
}

/* pusher:subscription_error with Pusher-js's {type, error, status} shape. */
static void sub_error(px_client_t *c, px_str_t channel, const char *type, const char *error,
                      int status)
{
    px_buf_t b = PX_BUF_INIT;
    int rc = px_buf_puts(&b, "{\"type\":\"");
    rc |= px_buf_puts(&b, type);
    rc |= px_buf_puts(&b, "\",\"error\":\"");
    rc |= px_buf_json_escape(&b, error, strlen(error));
    rc |= px_buf_printf(&b, "\",\"status\":%d}", status);
    px_rbuf_t *f = rc ? NULL
                      : px_proto_event(PX_STR("pusher:subscription_error"), channel,
                                       (px_str_t){b.data, b.len}, (px_str_t){NULL, 0});
    px_buf_free(&b);
    px__router_send_owned(c, f);
}

/* Encodes the presence payload {"presence":{"ids":[..],"hash":{..},"count":n}}. */
static int presence_data(px_buf_t *b, const px_channel_t *ch)
{
    int rc = px_buf_puts(b, "{\"presence\":{\"ids\":[");
    for (const px_member_t *m = ch->mhead; m; m = m->next) {
        rc |= px_buf_puts(b, m == ch->mhead ? "\"" : ",\"");
        rc |= px_buf_json_escape(b, m->user_id, m->idlen);
        rc |= px_buf_puts(b, "\"");
    }
    rc |= px_buf_puts(b, "],\"hash\":{");
    for (const px_member_t *m = ch->mhead; m; m = m->next) {
        rc |= px_buf_puts(b, m == ch->mhead ? "\"" : ",\"");
        rc |= px_buf_json_escape(b, m->user_id, m->idlen);
        rc |= px_buf_puts(b, "\":");
        rc |= px_buf_puts(b, m->user_info ? m->user_info : "null");
    }
    rc |= px_buf_printf(b, "},\"count\":%u}}", ch->nmembers);
    return rc ? PX_ENOMEM : 0;
}

void px__router_member_event(px_hub_t *hub, px_channel_t *ch, const px_client_t *skip,
                             int added, const char *user_id, const char *user_info,
                             const char *channel_data)
{
    /* Pusher: pusher_internal:member_added {user_id, user_info} / _removed
     * {user_id}. Classic: pusher:member_added / _removed with the member's
     * whole channel_data as a JSON string in "member". */
    px_buf_t b = PX_BUF_INIT;
    int rc = px_buf_puts(&b, "{\"user_id\":\"");
    rc |= px_buf_json_escape(&b, user_id, strlen(user_id));
    rc |= px_buf_puts(&b, "\"");
    if (added) {
        rc |= px_buf_puts(&b, ",\"user_info\":");
        rc |= px_buf_puts(&b, user_info ? user_info : "null");
    }
    rc |= px_buf_puts(&b, "}");
    px_rbuf_t *frames[PX_DIALECTS] = {NULL, NULL};
    if (rc == 0)
        frames[PX_DIALECT_PUSHER] = px_proto_event(
            added ? PX_STR("pusher_internal:member_added") : PX_STR("pusher_internal:member_removed"),
            (px_str_t){ch->name, ch->nlen}, (px_str_t){b.data, b.len}, (px_str_t){NULL, 0});
    b.len = 0;
    rc = px_buf_puts(&b, added ? "{\"event\":\"pusher:member_added\",\"member\":\""
                               : "{\"event\":\"pusher:member_removed\",\"member\":\"");
    if (channel_data != NULL) {
        rc |= px_buf_json_escape(&b, channel_data, strlen(channel_data));
    } else {
        /* a member that joined through the Pusher dialect */
        px_buf_t cd = PX_BUF_INIT;
        rc |= px_buf_puts(&cd, "{\"user_id\":\"");
        rc |= px_buf_json_escape(&cd, user_id, strlen(user_id));
        rc |= px_buf_puts(&cd, "\"}");
        rc |= px_buf_json_escape(&b, cd.data, cd.len);
        px_buf_free(&cd);
    }
    rc |= px_buf_puts(&b, "\",\"channel\":\"");
    rc |= px_buf_json_escape(&b, ch->name, ch->nlen);
    rc |= px_buf_puts(&b, "\"}");
    if (rc == 0)
        frames[PX_DIALECT_CLASSIC] = px_proto_frame(b.data, b.len);
    px_buf_free(&b);
    if (frames[0] != NULL && frames[1] != NULL)
        px_hub_publish_each(hub, ch, frames, skip, 0, 0, 0, 0);
    px_rbuf_unref(frames[0]);
    px_rbuf_unref(frames[1]);
}

static void succeeded(px_client_t *c, px_sub_t *s)
{
    px_buf_t b = PX_BUF_INIT;
    int rc = s->chan->kind == PX_CHAN_PRESENCE ? presence_data(&b, s->chan)
                                               : px_buf_puts(&b, "{}");
    px_rbuf_t *f = rc ? NULL
                      : px_proto_event(PX_STR("pusher_internal:subscription_succeeded"),
                                       (px_str_t){s->chan->name, s->chan->nlen},
                                       (px_str_t){b.data, b.len}, (px_str_t){NULL, 0});
    px_buf_free(&b);
    px__router_send_owned(c, f);
}

/* Parses presence channel_data (a JSON string) into a user id and compact
 * user_info. Returns 0 or a static error message. */
static const char *parse_channel_data(px_client_t *c, px_str_t raw, char idbuf[129],
                                      px_str_t *user_id, px_buf_t *info)
{
    json_error_t err;
    json_t *cd = json_loadb(raw.p, raw.n, JSON_REJECT_DUPLICATES, &err);
    const char *why = NULL;
    if (!json_is_object(cd)) {
        why = "channel_data must be a JSON object string";
        goto out;
    }
    json_t *uid = json_object_get(cd, "user_id");
    if (json_is_integer(uid)) {
        int n = snprintf(idbuf, 129, "%lld", (long long)json_integer_value(uid));
        *user_id = (px_str_t){idbuf, (size_t)n};
    } else if (json_is_string(uid) && json_string_length(uid) <= 128) {
        memcpy(idbuf, json_string_value(uid), json_string_length(uid));
        *user_id = (px_str_t){idbuf, json_string_length(uid)};
    } else {
        why = "channel_data needs a user_id string of at most 128 characters";
        goto out;
    }
    if (px_user_id_check(*user_id) < 0) {
        why = "user_id may hold only [A-Za-z0-9_-=@,.;]";
        goto out;
    }
    json_t *ui = json_object_get(cd, "user_info");
    if (ui != NULL) {
        if (px_json_dump(info, ui) < 0) {
            why = "out of memory";
            goto out;
        }
        if (info->len > c->app->max_user_info_bytes) {
            why = "user_info is larger than the app allows";
            goto out;
        }
    }
out:
    json_decref(cd);
    return why;
}

static void on_subscribe(px_hub_t *hub, px_client_t *c, px_msg_t *m)
{
    json_t *d = m->data_obj;
    px_str_t name = px_json_str(d, "channel");
    if (name.p == NULL) {
        px_router_error(c, "pusher:subscribe needs data.channel", 0);
        return;
    }
    if (px_channel_name_check(name) < 0 || strlen(name.p) != name.n) {
        sub_error(c, name, "InvalidChannel",
                  "Invalid channel name: 1-200 characters of [A-Za-z0-9_-=@,.;]", 4009);
        return;
    }
    px_chan_kind_t kind = px_chan_kind(name);
    px_str_t cdata = px_json_str(d, "channel_data");
    if (kind == PX_CHAN_USER) {
        size_t pre = sizeof("#server-to-user-") - 1;
        if (c->user_id == NULL ||
            !px_str_eq((px_str_t){name.p + pre, name.n - pre}, px_cstr(c->user_id))) {
            sub_error(c, name, "AuthError",
                      "#server-to-user- channels need pusher:signin as that user", 403);
            return;
        }
    } else if (px_chan_kind_authed(kind)) {
        px_str_t auth = px_json_str(d, "auth");
        if (kind == PX_CHAN_PRESENCE && cdata.p == NULL) {
            sub_error(c, name, "AuthError", "presence channels need channel_data", 401);
            return;
        }
        if (auth.p == NULL ||
            px_auth_channel(c->app, (px_str_t){c->socket_id, c->sid_len}, name,
                            kind == PX_CHAN_PRESENCE ? &cdata : NULL, auth) < 0) {
            sub_error(c, name, "AuthError", "Invalid signature: expected HMAC-SHA256 of "
                      "socket_id:channel[:channel_data] with the app secret", 401);
            return;
        }
    }
    /* private-personal-<user_id>: the user's aliased channels (pushi). */
    if (kind == PX_CHAN_PRIVATE && px__classic_personal(hub, c, name, 1))
        return;
    char idbuf[129];
    px_str_t user_id = {NULL, 0};
    px_buf_t info = PX_BUF_INIT;
    if (kind == PX_CHAN_PRESENCE) {
        const char *why = parse_channel_data(c, cdata, idbuf, &user_id, &info);
        if (why != NULL) {
            sub_error(c, name, "InvalidChannelData", why, 400);
            px_buf_free(&info);
            return;
        }
    }
    px_sub_t *s = NULL;
    int is_new = 0;
    int rc = px_hub_subscribe(hub, c, name, user_id,
                              info.data ? (px_str_t){info.data, info.len} : (px_str_t){NULL, 0},
                              &s, &is_new);
    px_buf_free(&info);
    if (rc == PX_EEXIST) {
        succeeded(c, s); /* idempotent: answer again, change nothing */
        return;
    }
    if (rc == PX_ELIMIT) {
        sub_error(c, name, "LimitReached",
                  hub->max_channels_per_client && c->nsubs >= hub->max_channels_per_client
                      ? "too many channels on this connection"
                      : "presence channel is full", 4100);
        return;
    }
    if (rc < 0) {
        sub_error(c, name, "ServerError", px_strerror(rc), 500);
        return;
    }
    if (s->member != NULL) {
        /* Classic clients in the channel see the member's channel_data. */
        json_error_t jerr;
        json_t *cd = json_loadb(cdata.p, cdata.n, 0, &jerr);
        px_buf_t dump = PX_BUF_INIT;
        if (cd != NULL && px_json_dump(&dump, cd) == 0)
            px_member_set_data(s->member, (px_str_t){dump.data, dump.len});
        px_buf_free(&dump);
        json_decref(cd);
        s->member->peer = (uint8_t)px__classic_peer_flag(s->member->channel_data);
    }
    succeeded(c, s);
    if (is_new)
        px__router_member_event(hub, s->chan, c, 1, s->member->user_id, s->member->user_info,
                                s->member->channel_data);
    if (s->member != NULL)
        px__classic_peer_join(hub, s, is_new);
}

void px__router_leave(px_hub_t *hub, px_sub_t *s)
{
    char gone[129];
    char *gone_data = NULL;
    px_app_t *app = s->chan->app;
    char name[PX_MAX_NAME_CLASSIC + 1];
    memcpy(name, s->chan->name, s->chan->nlen + 1);
    if (s->member != NULL) {
        /* Peer channels go with the presence subscription they came from.
         * (Parting touches only "peer-" subscriptions, never s.) */
        char user[129];
        memcpy(user, s->member->user_id, s->member->idlen + 1);
        px__classic_peer_leave(hub, s->client, s->chan, user, s->member->peer,
                               s->member->conns == 1);
    }
    if (px_hub_unsubscribe_ex(hub, s, gone, &gone_data) == 1) {
        px_channel_t *ch = px_hub_channel(app, px_cstr(name));
        if (ch != NULL)
            px__router_member_event(hub, ch, NULL, 0, gone, NULL, gone_data);
    }
    free(gone_data);
}

static void on_unsubscribe(px_hub_t *hub, px_client_t *c, px_msg_t *m)
{
    px_str_t name = px_json_str(m->data_obj, "channel");
    if (name.p == NULL) {
        px_router_error(c, "pusher:unsubscribe needs data.channel", 0);
        return;
    }
    if (px__classic_personal(hub, c, name, 0))
        return;
    px_sub_t *s = px_client_sub(c, name);
    if (s != NULL)
        px__router_leave(hub, s);
}

static void on_signin(px_hub_t *hub, px_client_t *c, px_msg_t *m)
{
    PX_UNUSED(hub);
    px_str_t auth = px_json_str(m->data_obj, "auth");
    px_str_t ud = px_json_str(m->data_obj, "user_data");
    if (auth.p == NULL || ud.p == NULL ||
        px_auth_user(c->app, (px_str_t){c->socket_id, c->sid_len}, ud, auth) < 0) {
        px_router_error(c, "Invalid pusher:signin: bad auth or user_data", 4009);
        c->ops->close(c, PX_CLOSE_UNAUTHORIZED, "sign-in failed");
        return;
    }
    json_error_t err;
    json_t *u = json_loadb(ud.p, ud.n, JSON_REJECT_DUPLICATES, &err);
    px_str_t id = px_json_str(u, "id");
    if (id.p == NULL || px_user_id_check(id) < 0) {
        json_decref(u);
        px_router_error(c, "user_data needs an id of [A-Za-z0-9_-=@,.;], 1-128 characters",
                        4009);
        c->ops->close(c, PX_CLOSE_UNAUTHORIZED, "sign-in failed");
        return;
    }
    char *copy = strndup(id.p, id.n);
    json_decref(u);
    if (copy == NULL) {
        c->ops->close(c, 1011, "out of memory");
        return;
    }
    free(c->user_id);
    c->user_id = copy;
    px_buf_t b = PX_BUF_INIT;
    int rc = px_buf_puts(&b, "{\"user_data\":\"");
    rc |= px_buf_json_escape(&b, ud.p, ud.n);
    rc |= px_buf_puts(&b, "\"}");
    px_rbuf_t *f = rc ? NULL
                      : px_proto_event(PX_STR("pusher:signin_success"), (px_str_t){NULL, 0},
                                       (px_str_t){b.data, b.len}, (px_str_t){NULL, 0});
    px_buf_free(&b);
    px__router_send_owned(c, f);
}

static void on_client_event(px_hub_t *hub, px_client_t *c, px_msg_t *m)
{
    px_app_t *app = c->app;
    if (!app->client_events) {
        px_router_error(c, "Client events are not enabled for this app", 0);
        return;
    }
    if (m->channel.p == NULL) {
        px_router_error(c, "Client event needs a channel", 0);
        return;
    }
    px_sub_t *s = px_client_sub(c, m->channel);
    if (s == NULL) {
        px_router_error(c, "Client event rejected: not subscribed to the channel", 0);
        return;
    }
    px_chan_kind_t kind = s->chan->kind;
    if (kind != PX_CHAN_PRIVATE && kind != PX_CHAN_PRESENCE && kind != PX_CHAN_ENCRYPTED) {
        px_router_error(c, "Client events are only allowed on private and presence channels",
                        0);
        return;
    }
    if (px_event_name_check(m->event) < 0) {
        px_router_error(c, "Invalid event name", 0);
        return;
    }
    /* Rate limit: a fixed one-second window per connection. */
    if (hub->now_ms - c->ce_window >= 1000) {
        c->ce_window = hub->now_ms;
        c->ce_count = 0;
    }
    if (++c->ce_count > app->max_client_events_per_second) {
        px_router_error(c, "Client event rejected: rate limit exceeded", PX_ERR_CLIENT_RATE);
        return;
    }
    px_buf_t data = PX_BUF_INIT;
    px_str_t d;
    if (json_is_string(m->data)) {
        d = (px_str_t){json_string_value(m->data), json_string_length(m->data)};
    } else {
        if (m->data != NULL && px_json_dump(&data, m->data) < 0) {
            px_buf_free(&data);
            return;
        }
        d = m->data ? (px_str_t){data.data, data.len} : PX_STR("{}");
    }
    if (d.n > app->max_event_bytes) {
        px_router_error(c, "Client event rejected: data is larger than the app allows", 0);
        px_buf_free(&data);
        return;
    }
    px_str_t uid = {NULL, 0};
    if (kind == PX_CHAN_PRESENCE)
        uid = (px_str_t){s->member->user_id, s->member->idlen};
    px_rbuf_t *f = px_proto_event(m->event, (px_str_t){s->chan->name, s->chan->nlen}, d, uid);
    px_buf_free(&data);
    if (f == NULL)
        return;
    px_hub_publish(hub, s->chan, f, c, 0, 0, 0);
    px_rbuf_unref(f);
}

void px_router_message(px_hub_t *hub, px_client_t *c, const char *text, size_t n)
{
    if (c->dialect == PX_DIALECT_CLASSIC) {
        px_classic_message(hub, c, text, n);
        return;
    }
    hub->stats.messages_in++;
    px_msg_t m;
    const char *why = NULL;
    if (px_proto_decode(text, n, &m, &why) < 0) {
        px_router_error(c, why, 0);
        return;
    }
    px_str_t ev = m.event;
    if (px_str_eq(ev, PX_STR("pusher:ping"))) {
        px_rbuf_t *f = px_proto_event_json(PX_STR("pusher:pong"), (px_str_t){NULL, 0},
                                           PX_STR("{}"));
        px__router_send_owned(c, f);
    } else if (px_str_eq(ev, PX_STR("pusher:pong"))) {
        /* liveness only: the connection layer already noted activity */
    } else if (px_str_eq(ev, PX_STR("pusher:subscribe"))) {
        if (m.data_obj == NULL)
            px_router_error(c, "pusher:subscribe needs a data object", 0);
        else
            on_subscribe(hub, c, &m);
    } else if (px_str_eq(ev, PX_STR("pusher:unsubscribe"))) {
        if (m.data_obj == NULL)
            px_router_error(c, "pusher:unsubscribe needs a data object", 0);
        else
            on_unsubscribe(hub, c, &m);
    } else if (px_str_eq(ev, PX_STR("pusher:signin"))) {
        if (m.data_obj == NULL)
            px_router_error(c, "pusher:signin needs a data object", 0);
        else
            on_signin(hub, c, &m);
    } else if (px_str_eq(ev, PX_STR("pusher:latest"))) {
        if (m.data_obj == NULL)
            px_router_error(c, "pusher:latest needs a data object", 0);
        else
            px__classic_latest(hub, c, m.data_obj);
    } else if (px_str_prefix(ev, "client-")) {
        on_client_event(hub, c, &m);
    } else {
        px_router_error(c, "Unsupported event: clients may send pusher:ping, pusher:pong, "
                        "pusher:subscribe, pusher:unsubscribe, pusher:signin, pusher:latest "
                        "and client-*", 0);
    }
    px_msg_free(&m);
}

void px_router_closed(px_hub_t *hub, px_client_t *c)
{
    px_classic_closed(hub, c);
    while (c->subs != NULL)
        px__router_leave(hub, c->subs);
    px_client_release(c);
}

long px_router_trigger(px_hub_t *hub, px_app_t *app, const px_str_t *channels,
                       size_t nchannels, px_str_t name, px_str_t data, px_str_t exclude_sid)
{
    if (app->persist && hub->svc.persist != NULL)
        return px_classic_trigger(hub, app, channels, nchannels, name, data, NULL, 1, NULL, 0,
                                  exclude_sid);
    uint64_t ex_a = 0, ex_b = 0;
    int has_ex = exclude_sid.p != NULL &&
                 px_socket_id_parse(exclude_sid, &ex_a, &ex_b) == 0;
    long total = 0;
    for (size_t i = 0; i < nchannels; i++) {
        px_channel_t *ch = px_hub_channel(app, channels[i]);
        if (ch == NULL)
            continue;
        px_rbuf_t *f = px_proto_event(name, channels[i], data, (px_str_t){NULL, 0});
        if (f == NULL)
            return PX_ENOMEM;
        total += (long)px_hub_publish(hub, ch, f, NULL, has_ex, ex_a, ex_b);
        px_rbuf_unref(f);
    }
    return total;
}

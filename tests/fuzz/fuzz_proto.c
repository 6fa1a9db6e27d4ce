/* fuzz_proto.c - protocol messages through px_router (both dialects).
 *
 * Each input gets a fresh hub with one app (id "3", the Pusher docs' key
 * and secret, client events on) and fake connections (tests/c's support.c:
 * they check that every frame sent is a text frame of JSON):
 *   "me"  socket id 123.456, the one the input speaks for;
 *   "o1"  111.222: news, private-chat, presence-room as u1 ({"name":"A"}),
 *         signed in as u1 and on #server-to-user-u1;
 *   "o2"  333.444: news, presence-room as u2, private-encrypted-secret.
 * Socket ids are fixed so corpus inputs can carry valid signatures.
 *
 * Input: byte 0 holds options, byte 1 dialect options; the rest is sent as
 * a sequence of messages split on '\n', by "me" except that a line starting
 * with \x01 or \x02 is sent by o1 or o2 instead. When there are several
 * lines, a fourth connection like "me" (same socket id and dialect, no
 * subscriptions) first sends the whole rest as one message. Messages that
 * are not valid UTF-8 are skipped (the WebSocket layer refuses them). A
 * connection the router asks to close is closed (px_router_closed) and says
 * nothing more. At the end every connection closes and the app must have no
 * channels left; LeakSanitizer checks that nothing leaked.
 *
 * Options (byte 0):
 *   bit 0    sign subscriptions and sign-ins correctly (the input's "auth"
 *            is replaced), so the code behind the checks is reached
 *   bit 1    o1 refuses frames (a connection that is going away)
 *   bit 2    at most 4 channels per connection
 *   bit 3    small app limits: 2 presence members, 32-byte user_info,
 *            64-byte events, 3 client events a second
 *   bits 4-5 the clock advances 0, 1, 400 or 1000 ms per message
 *   bit 6    client events off
 *   bit 7    "me" refuses frames
 * Dialect options (byte 1; only when the tree has px_classic, the original
 * pushi protocol):
 *   bit 0    "me" speaks the classic dialect
 *   bit 1    o2 speaks the classic dialect (mixed-dialect channels)
 *   bit 2    the app allows classic client events on public channels
 *   bit 3    the app accepts classic presence signatures without
 *            channel_data
 *
 * After every message the hub must be consistent (channel and client
 * subscription lists agree, presence members count their connections,
 * empty channels are gone) and what each connection was sent must make
 * sense for it: a bystander gets only frames of channels it is on (Pusher
 * dialect: only client events and member updates), a Pusher speaker only
 * answers and never its own event. */
#include <jansson.h>

#include "../../csrc/px_router.h"
#include "../c/support.h"
#include "fuzz_common.h"

#if defined(__has_include)
#if __has_include("../../csrc/px_classic.h")
#define FZ_CLASSIC 1
#endif
#endif
#ifndef FZ_CLASSIC
#define FZ_CLASSIC 0
#endif

/* me, o1, o2, and "whole": a fresh connection like me (same socket id and
 * dialect) that sends the whole input as one message. */
#define NCLIENTS 4
#define WHOLE 3

typedef struct {
    px_hub_t hub;
    px_app_t *app;
    fake_client_t f[NCLIENTS];
    int gone[NCLIENTS];  /* closed: px_router_closed has run */
    int classic[NCLIENTS]; /* speaks the classic dialect */
    uint8_t opts, dopts;
} env_t;

static void set_sid(fake_client_t *f, uint64_t a, uint64_t b)
{
    f->c.sid_a = a;
    f->c.sid_b = b;
    int n = snprintf(f->c.socket_id, sizeof f->c.socket_id, "%llu.%llu",
                     (unsigned long long)a, (unsigned long long)b);
    f->c.sid_len = (uint8_t)n;
}

/* ---------------------------------------------------------------- signing */

/* Replaces data.auth of a pusher:subscribe or pusher:signin message with a
 * correct signature for client c. Returns a new message (free()) or NULL
 * when msg is not one of those. */
static char *autosign(const px_client_t *c, const char *text, size_t n)
{
    json_error_t err;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &err);
    char *out = NULL;
    if (!json_is_object(root))
        goto done;
    const char *ev = json_string_value(json_object_get(root, "event"));
    if (ev == NULL)
        goto done;
    int sub = strcmp(ev, "pusher:subscribe") == 0, in = strcmp(ev, "pusher:signin") == 0;
    if (!sub && !in)
        goto done;
    json_t *data = json_object_get(root, "data"), *obj = NULL;
    if (json_is_object(data))
        obj = json_incref(data);
    else if (json_is_string(data))
        obj = json_loadb(json_string_value(data), json_string_length(data),
                         JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(obj)) {
        json_decref(obj);
        goto done;
    }
    px_str_t sid = {c->socket_id, c->sid_len};
    char auth[256];
    json_t *ch = json_object_get(obj, "channel");
    json_t *cd = json_object_get(obj, "channel_data");
    json_t *ud = json_object_get(obj, "user_data");
    if (sub && json_is_string(ch)) {
        px_str_t name = {json_string_value(ch), json_string_length(ch)};
        px_str_t parts[5] = {sid, PX_STR(":"), name, PX_STR(":"), {NULL, 0}};
        size_t np = 3;
        char *cd_text = NULL;
        if (px_str_prefix(name, "presence-") && json_is_string(cd)) {
            parts[4] = (px_str_t){json_string_value(cd), json_string_length(cd)};
            np = 5;
        } else if (px_str_prefix(name, "presence-") && json_is_object(cd)) {
            /* The classic dialect's object form: signed as compact JSON. */
            cd_text = json_dumps(cd, JSON_COMPACT);
            FZ_ASSERT(cd_text != NULL);
            parts[4] = px_cstr(cd_text);
            np = 5;
        }
        fz_sign_parts(ENV_APP_KEY, ENV_APP_SECRET, parts, np, auth, sizeof auth);
        free(cd_text);
        json_object_set_new(obj, "auth", json_string(auth));
    } else if (in && json_is_string(ud)) {
        px_str_t parts[3] = {sid, PX_STR("::user::"),
                             {json_string_value(ud), json_string_length(ud)}};
        fz_sign_parts(ENV_APP_KEY, ENV_APP_SECRET, parts, 3, auth, sizeof auth);
        json_object_set_new(obj, "auth", json_string(auth));
    }
    if (json_is_string(data)) {
        char *inner = json_dumps(obj, JSON_COMPACT);
        FZ_ASSERT(inner != NULL);
        json_object_set_new(root, "data", json_string(inner));
        free(inner);
    }
    json_decref(obj);
    out = json_dumps(root, JSON_COMPACT);
done:
    json_decref(root);
    return out;
}

static void say(env_t *e, int who, const char *text, size_t n);

static void subscribe(env_t *e, int who, const char *channel, const char *cdata)
{
    json_t *d = json_pack("{s:s, s:s}", "channel", channel, "auth", "");
    if (cdata)
        json_object_set_new(d, "channel_data", json_string(cdata));
    json_t *m = json_pack("{s:s, s:o}", "event", "pusher:subscribe", "data", d);
    char *text = json_dumps(m, JSON_COMPACT);
    char *sig = autosign(&e->f[who].c, text, strlen(text));
    px_router_message(&e->hub, &e->f[who].c, sig, strlen(sig));
    free(sig);
    free(text);
    json_decref(m);
}

/* ---------------------------------------------------------------- checks */

static int is_subscribed(const px_client_t *c, const char *channel)
{
    return px_client_sub(c, px_cstr(channel)) != NULL;
}

static void check_hub(env_t *e)
{
    px_app_t *app = e->app;
    size_t it = 0, nchan = 0;
    px_channel_t *ch;
    while ((ch = px_map_next(&app->channels, &it)) != NULL) {
        nchan++;
        FZ_ASSERT(ch->app == app);
        FZ_ASSERT(ch->nsubs >= 1 && ch->nsubs <= ch->cap);
        FZ_ASSERT(ch->nlen == strlen(ch->name));
        FZ_ASSERT(px_hub_channel(app, (px_str_t){ch->name, ch->nlen}) == ch);
#if FZ_CLASSIC
        FZ_ASSERT(ch->nlen >= 1 && ch->nlen <= PX_MAX_NAME_CLASSIC);
#else
        FZ_ASSERT(px_channel_name_check((px_str_t){ch->name, ch->nlen}) == 0);
#endif
        uint32_t members = 0;
        for (px_member_t *m = ch->mhead; m; m = m->next) {
            FZ_ASSERT(m->next == NULL || m->next->prev == m);
            FZ_ASSERT(px_map_get(&ch->members, (px_str_t){m->user_id, m->idlen}) == m);
            uint32_t conns = 0;
            for (uint32_t i = 0; i < ch->nsubs; i++)
                conns += ch->subs[i]->member == m;
            FZ_ASSERT(conns == m->conns && conns >= 1);
            members++;
        }
        FZ_ASSERT(members == ch->nmembers && members == ch->members.len);
        for (px_member_t *m = ch->mhead; m; m = m->next)
            FZ_ASSERT(px_user_id_check((px_str_t){m->user_id, m->idlen}) == 0);
        if (ch->kind != PX_CHAN_PRESENCE)
            FZ_ASSERT(members == 0);
        else
            FZ_ASSERT(members <= app->max_presence_members);
        for (uint32_t i = 0; i < ch->nsubs; i++) {
            px_sub_t *s = ch->subs[i];
            FZ_ASSERT(s->chan == ch && s->idx == i);
            /* Members only on presence channels; a classic client may be on
             * one without being a member (no channel_data), and a Pusher
             * client never is. */
            FZ_ASSERT(s->member == NULL || ch->kind == PX_CHAN_PRESENCE);
            FZ_ASSERT(s->member != NULL || ch->kind != PX_CHAN_PRESENCE ||
                      s->client->dialect == PX_DIALECT_CLASSIC);
            FZ_ASSERT(px_client_sub(s->client, (px_str_t){ch->name, ch->nlen}) == s);
            if (ch->kind == PX_CHAN_USER) {
                const char *uid = s->client->user_id;
                FZ_ASSERT(uid != NULL && strcmp(ch->name + 16, uid) == 0);
            }
        }
    }
    FZ_ASSERT(nchan == app->channels.len);
    FZ_ASSERT(e->hub.stats.channels == nchan);
    for (int k = 0; k < NCLIENTS; k++) {
        px_client_t *c = &e->f[k].c;
        uint32_t n = 0;
        for (px_sub_t *s = c->subs; s; s = s->next) {
            n++;
            FZ_ASSERT(s->client == c);
            FZ_ASSERT(s->chan->subs[s->idx] == s);
            FZ_ASSERT(px_hub_channel(app, (px_str_t){s->chan->name, s->chan->nlen}) == s->chan);
            for (px_sub_t *t = s->next; t; t = t->next)
                FZ_ASSERT(t->chan != s->chan);
        }
        FZ_ASSERT(n == c->nsubs);
        if (e->gone[k])
            FZ_ASSERT(n == 0);
        if (e->hub.max_channels_per_client)
            FZ_ASSERT(n <= e->hub.max_channels_per_client);
    }
}

static void check_presence_payload(const fake_frame_t *fr)
{
    json_t *p = json_object_get(fr->data, "presence");
    FZ_ASSERT(json_is_object(p));
    json_t *ids = json_object_get(p, "ids"), *hash = json_object_get(p, "hash");
    json_t *count = json_object_get(p, "count");
    FZ_ASSERT(json_is_array(ids) && json_is_object(hash) && json_is_integer(count));
    FZ_ASSERT((size_t)json_integer_value(count) == json_array_size(ids));
    FZ_ASSERT(json_object_size(hash) == json_array_size(ids));
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        FZ_ASSERT(json_is_string(v));
        FZ_ASSERT(json_object_get(hash, json_string_value(v)) != NULL);
    }
}

/* Frames sent to client k during one message from speaker. */
static void check_frames(env_t *e, int k, int speaker, size_t from)
{
    fake_client_t *f = &e->f[k];
    for (size_t i = from; i < f->nframes; i++) {
        const char *ev = fake_event(f, i);
        const char *ch = json_string_value(json_object_get(f->frames[i].msg, "channel"));
        int client_ev = strncmp(ev, "client-", 7) == 0;
        int member_ev = strcmp(ev, "pusher_internal:member_added") == 0 ||
                        strcmp(ev, "pusher_internal:member_removed") == 0;
        if (k != speaker) {
            if (ch == NULL || !is_subscribed(&f->c, ch) ||
                (!e->classic[k] && !client_ev && !member_ev && !e->classic[speaker]))
                fprintf(stderr, "bystander %d got %s\n", k, f->frames[i].text);
            FZ_ASSERT(ch != NULL && is_subscribed(&f->c, ch));
            if (e->classic[k])
                continue;
            /* A classic client's events have any name but "pusher...". */
            FZ_ASSERT(client_ev || member_ev || (e->classic[speaker] && strncmp(ev, "pusher", 6)));
            if (member_ev)
                FZ_ASSERT(px_chan_kind(px_cstr(ch)) == PX_CHAN_PRESENCE);
            continue;
        }
        if (e->classic[k])
            continue; /* other answers; its own events when it asks for echo */
        static const char *const answers[] = {
            "pusher:error", "pusher:pong", "pusher:subscription_error",
            "pusher:signin_success", "pusher_internal:subscription_succeeded",
            "pusher:latest"};
        int known = 0;
        for (size_t a = 0; a < PX_ARRAY_SIZE(answers); a++)
            known |= strcmp(ev, answers[a]) == 0;
        if (!known)
            fprintf(stderr, "speaker %d got %s\n", k, f->frames[i].text);
        FZ_ASSERT(known);
        FZ_ASSERT(!client_ev && !member_ev);
        if (strcmp(ev, "pusher_internal:subscription_succeeded") == 0) {
            /* A personal channel is confirmed without being a hub channel
             * (its subscriber follows the channels it aliases). */
            FZ_ASSERT(ch != NULL);
            FZ_ASSERT(is_subscribed(&f->c, ch) || strncmp(ch, "private-personal-", 17) == 0);
            if (px_chan_kind(px_cstr(ch)) == PX_CHAN_PRESENCE)
                check_presence_payload(&f->frames[i]);
        }
    }
}

/* ---------------------------------------------------------------- driving */

static void say(env_t *e, int who, const char *text, size_t n)
{
    if (e->gone[who] || !fz_utf8_ok((const uint8_t *)text, n))
        return;
    static const uint64_t steps[4] = {0, 1, 400, 1000};
    e->hub.now_ms += steps[(e->opts >> 4) & 3];
    char *signed_text = (e->opts & 1) ? autosign(&e->f[who].c, text, n) : NULL;
    if (signed_text != NULL) {
        text = signed_text;
        n = strlen(signed_text);
    }
    size_t before[NCLIENTS];
    for (int k = 0; k < NCLIENTS; k++)
        before[k] = e->f[k].nframes;
    if (fz_verbose())
        fprintf(stderr, "%d says %.*s\n", who, (int)n, text);
    /* An exact-size copy: the router must not read past the message. */
    uint8_t *copy = fz_dup((const uint8_t *)text, n);
    px_router_message(&e->hub, &e->f[who].c, (const char *)copy, n);
    free(copy);
    free(signed_text);
    for (int k = 0; k < NCLIENTS; k++) {
        if (e->gone[k])
            continue;
        if (fz_verbose())
            for (size_t i = before[k]; i < e->f[k].nframes; i++)
                fprintf(stderr, "  -> %d: %s\n", k, e->f[k].frames[i].text);
        check_frames(e, k, who, before[k]);
    }
    check_hub(e);
    for (int k = 0; k < NCLIENTS; k++) {
        if (!e->gone[k] && e->f[k].closes > 0) {
            px_router_closed(&e->hub, &e->f[k].c);
            e->gone[k] = 1;
            check_hub(e);
        }
        if (e->f[k].nframes > 256)
            fake_clear(&e->f[k]);
    }
}

static void env_setup(env_t *e, uint8_t opts, uint8_t dopts)
{
    memset(e, 0, sizeof(*e));
    e->opts = opts;
    e->dopts = dopts;
    env_hub_init(&e->hub);
    json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "id", "3", "key", ENV_APP_KEY, "secret",
                          ENV_APP_SECRET, "client_events", !(opts & 0x40));
#if FZ_CLASSIC
    json_object_set_new(o, "public_client_events", json_boolean(dopts & 4));
    json_object_set_new(o, "classic_unsigned_presence", json_boolean(dopts & 8));
    e->classic[0] = e->classic[WHOLE] = (dopts & 1) != 0;
    e->classic[2] = (dopts & 2) != 0;
#endif
    if (opts & 8) {
        json_t *lim = json_pack("{s:i, s:i, s:i, s:i}", "max_presence_members", 2,
                                "max_user_info_bytes", 32, "max_event_bytes", 64,
                                "max_client_events_per_second", 3);
        json_object_update(o, lim);
        json_decref(lim);
    }
    e->app = env_app(&e->hub, o);
    static const uint64_t sids[NCLIENTS][2] = {{123, 456}, {111, 222}, {333, 444}, {123, 456}};
    for (int k = 0; k < NCLIENTS; k++) {
        fake_init(&e->f[k], e->app);
        set_sid(&e->f[k], sids[k][0], sids[k][1]);
#if FZ_CLASSIC
        if (e->classic[k])
            e->f[k].c.dialect = PX_DIALECT_CLASSIC;
#endif
        FZ_ASSERT(px_router_open(&e->hub, &e->f[k].c) == 0);
    }
    subscribe(e, 1, "news", NULL);
    subscribe(e, 1, "private-chat", NULL);
    subscribe(e, 1, "presence-room", "{\"user_id\":\"u1\",\"user_info\":{\"name\":\"A\"}}");
    const char *signin = "{\"event\":\"pusher:signin\",\"data\":{\"auth\":\"\","
                         "\"user_data\":\"{\\\"id\\\":\\\"u1\\\"}\"}}";
    char *sig = autosign(&e->f[1].c, signin, strlen(signin));
    px_router_message(&e->hub, &e->f[1].c, sig, strlen(sig));
    free(sig);
    subscribe(e, 1, "#server-to-user-u1", NULL);
    subscribe(e, 2, "news", NULL);
    subscribe(e, 2, "presence-room", "{\"user_id\":\"u2\"}");
    subscribe(e, 2, "private-encrypted-secret", NULL);
    FZ_ASSERT(e->app->channels.len == 5);
    FZ_ASSERT(e->f[1].c.nsubs == 4 && e->f[2].c.nsubs == 3);
    check_hub(e);
    for (int k = 0; k < NCLIENTS; k++)
        fake_clear(&e->f[k]);
    /* Limits and refusals apply from here on. */
    if (opts & 4)
        e->hub.max_channels_per_client = 4;
    e->f[1].refuse = (opts & 2) != 0;
    e->f[0].refuse = e->f[WHOLE].refuse = (opts & 0x80) != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    env_t *e = malloc(sizeof(*e));
    FZ_ASSERT(e != NULL);
    env_setup(e, data[0], data[1]);
    const char *text = (const char *)data + 2;
    size_t n = size - 2;
    /* The whole input as one message (JSON may span lines), from a
     * connection of its own so that a close it causes leaves "me" open. */
    if (memchr(text, '\n', n) != NULL)
        say(e, WHOLE, text, n);
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(text + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (text + i)) : n - i;
        const char *line = text + i;
        i += len + 1;
        int who = 0;
        if (len > 0 && (line[0] == 1 || line[0] == 2)) {
            who = line[0];
            line++;
            len--;
        }
        if (len > 0)
            say(e, who, line, len);
    }
    for (int k = 0; k < NCLIENTS; k++) {
        if (!e->gone[k]) {
            px_router_closed(&e->hub, &e->f[k].c);
            e->gone[k] = 1;
            check_hub(e);
        }
        FZ_ASSERT(e->f[k].c.subs == NULL && e->f[k].c.user_id == NULL);
    }
    FZ_ASSERT(e->app->channels.len == 0);
    FZ_ASSERT(e->hub.stats.channels == 0);
    for (int k = 0; k < NCLIENTS; k++)
        fake_free(&e->f[k]);
    env_hub_free(&e->hub);
    free(e);
    return 0;
}

/* test_hub.c - subscriptions, presence members and fan-out, driven
 * directly (no protocol messages). */
#include <ctype.h>

#include "../../csrc/px_err.h"
#include "../../csrc/px_hub.h"
#include "../../csrc/px_names.h"
#include "../../csrc/px_proto.h"
#include "harness.h"
#include "support.h"

static px_app_t *hub_app(px_hub_t *hub, int max_members)
{
    return env_app(hub, json_pack("{s:s, s:s, s:s, s:i}", "id", "3", "key", ENV_APP_KEY,
                                  "secret", ENV_APP_SECRET, "max_presence_members",
                                  max_members));
}

/* ^\d+\.\d+$ */
static int looks_like_socket_id(const char *s)
{
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p++ != '.' || !isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == '\0';
}

static px_sub_t *sub(px_hub_t *hub, fake_client_t *f, const char *name, const char *user,
                     int *is_new)
{
    px_sub_t *s = NULL;
    int dummy;
    px_str_t uid = user ? px_cstr(user) : (px_str_t){NULL, 0};
    ASSERT_OK(px_hub_subscribe(hub, &f->c, px_cstr(name), uid, (px_str_t){NULL, 0}, &s,
                               is_new ? is_new : &dummy));
    ASSERT_NOT_NULL(s);
    return s;
}

TEST(hub_socket_ids)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = hub_app(&hub, 100);
    fake_client_t a, b;
    fake_init(&a, app);
    fake_init(&b, app);
    ASSERT_TRUE(looks_like_socket_id(a.c.socket_id));
    ASSERT_EQ(a.c.sid_len, strlen(a.c.socket_id));
    ASSERT_TRUE(a.c.sid_len <= 31);
    uint64_t x, y;
    ASSERT_OK(px_socket_id_parse((px_str_t){a.c.socket_id, a.c.sid_len}, &x, &y));
    ASSERT_TRUE(x == a.c.sid_a && y == a.c.sid_b);
    ASSERT_TRUE(a.c.sid_a < 1000000000000000ull && a.c.sid_b < 1000000000000000ull);
    ASSERT_TRUE(strcmp(a.c.socket_id, b.c.socket_id) != 0);
    ASSERT_PTR_EQ(a.c.app, app);
    ASSERT_PTR_EQ(a.c.ops, &fake_ops);
    ASSERT_NULL(a.c.subs);
    ASSERT_NULL(a.c.user_id);
    px_client_release(&a.c);
    px_client_release(&b.c);
    env_hub_free(&hub);
}

TEST(hub_subscribe_unsubscribe)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = hub_app(&hub, 100);
    fake_client_t a, b;
    fake_init(&a, app);
    fake_init(&b, app);
    px_sub_t *sa = sub(&hub, &a, "news", NULL, NULL);
    ASSERT_NULL(sa->member);
    px_channel_t *ch = px_hub_channel(app, PX_STR("news"));
    ASSERT_NOT_NULL(ch);
    ASSERT_PTR_EQ(sa->chan, ch);
    ASSERT_EQ(ch->kind, PX_CHAN_PUBLIC);
    ASSERT_STR_EQ(ch->name, "news");
    ASSERT_EQ(ch->nsubs, 1);
    ASSERT_EQ(app->channels.len, 1);
    ASSERT_EQ(hub.stats.channels, 1);
    ASSERT_PTR_EQ(px_client_sub(&a.c, PX_STR("news")), sa);
    ASSERT_NULL(px_client_sub(&a.c, PX_STR("new")));
    ASSERT_NULL(px_client_sub(&b.c, PX_STR("news")));

    /* Subscribing again is EEXIST with the same subscription. */
    px_sub_t *again = NULL;
    int is_new = 7;
    ASSERT_EQ(px_hub_subscribe(&hub, &a.c, PX_STR("news"), (px_str_t){NULL, 0},
                               (px_str_t){NULL, 0}, &again, &is_new), PX_EEXIST);
    ASSERT_PTR_EQ(again, sa);
    ASSERT_EQ(is_new, 0);
    ASSERT_EQ(ch->nsubs, 1);
    ASSERT_EQ(a.c.nsubs, 1);

    px_sub_t *sb = sub(&hub, &b, "news", NULL, NULL);
    px_sub_t *sa2 = sub(&hub, &a, "private-x", NULL, NULL);
    ASSERT_EQ(ch->nsubs, 2);
    ASSERT_EQ(a.c.nsubs, 2);
    ASSERT_EQ(app->channels.len, 2);
    ASSERT_EQ(px_hub_channel(app, PX_STR("private-x"))->kind, PX_CHAN_PRIVATE);

    char gone[129];
    ASSERT_EQ(px_hub_unsubscribe(&hub, sa, gone), 0);
    ASSERT_NULL(px_client_sub(&a.c, PX_STR("news")));
    ASSERT_PTR_EQ(px_client_sub(&a.c, PX_STR("private-x")), sa2);
    ASSERT_EQ(a.c.nsubs, 1);
    ASSERT_PTR_EQ(px_hub_channel(app, PX_STR("news")), ch); /* b is still there */
    ASSERT_EQ(ch->nsubs, 1);
    ASSERT_PTR_EQ(ch->subs[0], sb);
    ASSERT_EQ(sb->idx, 0);
    ASSERT_EQ(px_hub_unsubscribe(&hub, sb, gone), 0);
    ASSERT_NULL(px_hub_channel(app, PX_STR("news")));  /* freed when empty */
    ASSERT_EQ(px_hub_unsubscribe(&hub, sa2, gone), 0);
    ASSERT_EQ(app->channels.len, 0);
    ASSERT_EQ(hub.stats.channels, 0);
    ASSERT_NULL(a.c.subs);
    ASSERT_EQ(a.c.nsubs, 0);
    px_client_release(&a.c);
    px_client_release(&b.c);
    env_hub_free(&hub);
}

TEST(hub_presence_members)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = hub_app(&hub, 100);
    fake_client_t a, a2, b;
    fake_init(&a, app);
    fake_init(&a2, app);
    fake_init(&b, app);
    int is_new = -1;
    px_sub_t *s = NULL;
    ASSERT_OK(px_hub_subscribe(&hub, &a.c, PX_STR("presence-room"), PX_STR("u1"),
                               PX_STR("{\"name\":\"A\"}"), &s, &is_new));
    ASSERT_EQ(is_new, 1);
    ASSERT_NOT_NULL(s->member);
    ASSERT_STR_EQ(s->member->user_id, "u1");
    ASSERT_STR_EQ(s->member->user_info, "{\"name\":\"A\"}");
    ASSERT_EQ(s->member->conns, 1);
    px_sub_t *sa = s;
    px_sub_t *sa2 = sub(&hub, &a2, "presence-room", "u1", &is_new);
    ASSERT_EQ(is_new, 0); /* the same user again */
    ASSERT_PTR_EQ(sa2->member, sa->member);
    ASSERT_EQ(sa->member->conns, 2);
    px_sub_t *sb = sub(&hub, &b, "presence-room", "u2", &is_new);
    ASSERT_EQ(is_new, 1);
    ASSERT_NULL(sb->member->user_info);
    px_channel_t *ch = px_hub_channel(app, PX_STR("presence-room"));
    ASSERT_EQ(ch->kind, PX_CHAN_PRESENCE);
    ASSERT_EQ(ch->nmembers, 2);
    ASSERT_EQ(ch->nsubs, 3);
    ASSERT_STR_EQ(ch->mhead->user_id, "u1"); /* join order */
    ASSERT_STR_EQ(ch->mtail->user_id, "u2");

    char gone[129] = "";
    ASSERT_EQ(px_hub_unsubscribe(&hub, sa, gone), 0); /* u1 still has a2 */
    ASSERT_EQ(ch->nmembers, 2);
    ASSERT_EQ(sa2->member->conns, 1);
    ASSERT_EQ(px_hub_unsubscribe(&hub, sa2, gone), 1);
    ASSERT_STR_EQ(gone, "u1");
    ASSERT_EQ(ch->nmembers, 1);
    ASSERT_PTR_EQ(ch->mhead, ch->mtail);
    ASSERT_STR_EQ(ch->mhead->user_id, "u2");
    ASSERT_NULL(px_map_get(&ch->members, PX_STR("u1")));
    ASSERT_EQ(px_hub_unsubscribe(&hub, sb, gone), 1);
    ASSERT_STR_EQ(gone, "u2");
    ASSERT_NULL(px_hub_channel(app, PX_STR("presence-room")));
    px_client_release(&a.c);
    px_client_release(&a2.c);
    px_client_release(&b.c);
    env_hub_free(&hub);
}

TEST(hub_presence_limit)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = hub_app(&hub, 2);
    fake_client_t f[4];
    for (int i = 0; i < 4; i++)
        fake_init(&f[i], app);
    sub(&hub, &f[0], "presence-r", "u1", NULL);
    sub(&hub, &f[1], "presence-r", "u2", NULL);
    px_sub_t *s = NULL;
    int is_new = 0;
    ASSERT_EQ(px_hub_subscribe(&hub, &f[2].c, PX_STR("presence-r"), PX_STR("u3"),
                               (px_str_t){NULL, 0}, &s, &is_new), PX_ELIMIT);
    ASSERT_EQ(f[2].c.nsubs, 0);
    ASSERT_NULL(f[2].c.subs);
    px_channel_t *ch = px_hub_channel(app, PX_STR("presence-r"));
    ASSERT_EQ(ch->nsubs, 2);
    ASSERT_EQ(ch->nmembers, 2);
    /* Another connection of a present user still fits. */
    sub(&hub, &f[3], "presence-r", "u1", &is_new);
    ASSERT_EQ(is_new, 0);
    ASSERT_EQ(ch->nsubs, 3);
    /* A refused first subscriber leaves no channel behind. */
    px_app_t *app0 = env_app(&hub, json_pack("{s:s, s:s, s:s, s:i}", "id", "4", "key", "k4",
                                             "secret", "s4", "max_presence_members", 0));
    fake_client_t z;
    fake_init(&z, app0);
    ASSERT_EQ(px_hub_subscribe(&hub, &z.c, PX_STR("presence-r"), PX_STR("u1"),
                               (px_str_t){NULL, 0}, &s, &is_new), PX_ELIMIT);
    ASSERT_EQ(app0->channels.len, 0);
    ASSERT_EQ(hub.stats.channels, 1);
    char gone[129];
    for (int i = 0; i < 4; i++) {
        while (f[i].c.subs)
            px_hub_unsubscribe(&hub, f[i].c.subs, gone);
        px_client_release(&f[i].c);
    }
    px_client_release(&z.c);
    env_hub_free(&hub);
}

TEST(hub_max_channels_per_client)
{
    px_hub_t hub;
    env_hub_init(&hub);
    hub.max_channels_per_client = 2;
    px_app_t *app = hub_app(&hub, 100);
    fake_client_t a;
    fake_init(&a, app);
    sub(&hub, &a, "c1", NULL, NULL);
    sub(&hub, &a, "c2", NULL, NULL);
    px_sub_t *s = NULL;
    int is_new;
    ASSERT_EQ(px_hub_subscribe(&hub, &a.c, PX_STR("c3"), (px_str_t){NULL, 0},
                               (px_str_t){NULL, 0}, &s, &is_new), PX_ELIMIT);
    ASSERT_NULL(px_hub_channel(app, PX_STR("c3")));
    ASSERT_EQ(app->channels.len, 2);
    ASSERT_EQ(a.c.nsubs, 2);
    char gone[129];
    while (a.c.subs)
        px_hub_unsubscribe(&hub, a.c.subs, gone);
    px_client_release(&a.c);
    env_hub_free(&hub);
}

TEST(hub_publish_skip_exclude)
{
    px_hub_t hub;
    env_hub_init(&hub);
    px_app_t *app = hub_app(&hub, 100);
    enum { N = 6 };
    fake_client_t f[N];
    for (int i = 0; i < N; i++) {
        fake_init(&f[i], app);
        sub(&hub, &f[i], "news", NULL, NULL);
    }
    px_channel_t *ch = px_hub_channel(app, PX_STR("news"));
    px_rbuf_t *frame = px_proto_event(PX_STR("e"), PX_STR("news"), PX_STR("d"),
                                      (px_str_t){NULL, 0});
    ASSERT_NOT_NULL(frame);
    ASSERT_EQ(px_hub_publish(&hub, ch, frame, NULL, 0, 0, 0), N);
    ASSERT_EQ(px_hub_publish(&hub, ch, frame, &f[1].c, 0, 0, 0), N - 1);
    ASSERT_EQ(px_hub_publish(&hub, ch, frame, NULL, 1, f[2].c.sid_a, f[2].c.sid_b), N - 1);
    ASSERT_EQ(px_hub_publish(&hub, ch, frame, &f[3].c, 1, f[4].c.sid_a, f[4].c.sid_b), N - 2);
    /* Both numbers must match to exclude. */
    ASSERT_EQ(px_hub_publish(&hub, ch, frame, NULL, 1, f[2].c.sid_a, f[2].c.sid_b + 1), N);
    /* A connection that cannot take the frame is not counted. */
    f[5].refuse = 1;
    ASSERT_EQ(px_hub_publish(&hub, ch, frame, NULL, 0, 0, 0), N - 1);
    f[5].refuse = 0;
    ASSERT_EQ(frame->refs, 1); /* the fake keeps no reference */
    px_rbuf_unref(frame);
    size_t want[N] = {6, 5, 5, 5, 5, 5};
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(f[i].nframes, want[i]);
        ASSERT_STR_EQ(f[i].frames[0].text, "{\"event\":\"e\",\"channel\":\"news\",\"data\":\"d\"}");
    }
    ASSERT_EQ(hub.stats.published, 6);
    ASSERT_EQ(hub.stats.deliveries, 31);
    /* Swap-removal keeps every index right and everyone else reachable. */
    char gone[129];
    px_hub_unsubscribe(&hub, px_client_sub(&f[0].c, PX_STR("news")), gone);
    px_hub_unsubscribe(&hub, px_client_sub(&f[3].c, PX_STR("news")), gone);
    ASSERT_EQ(ch->nsubs, N - 2);
    for (uint32_t i = 0; i < ch->nsubs; i++)
        ASSERT_EQ(ch->subs[i]->idx, i);
    frame = px_proto_event(PX_STR("e2"), PX_STR("news"), PX_STR("d"), (px_str_t){NULL, 0});
    ASSERT_EQ(px_hub_publish(&hub, ch, frame, NULL, 0, 0, 0), N - 2);
    px_rbuf_unref(frame);
    for (int i = 0; i < N; i++) {
        ASSERT_EQ(fake_count(&f[i], "e2"), i == 0 || i == 3 ? 0 : 1);
        while (f[i].c.subs)
            px_hub_unsubscribe(&hub, f[i].c.subs, gone);
        px_client_release(&f[i].c);
        fake_free(&f[i]);
    }
    env_hub_free(&hub);
}

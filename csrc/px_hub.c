/* px_hub.c - channel registry and fan-out. */
#include "px_hub.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_crypto.h"
#include "px_err.h"

int px_client_init(px_client_t *c, const px_client_ops_t *ops, px_app_t *app)
{
    memset(c, 0, sizeof(*c));
    c->ops = ops;
    c->app = app;
    uint64_t r[2];
    int rc = px_random_bytes(r, sizeof r);
    if (rc < 0)
        return rc;
    /* Two numbers below 10^15: a socket id of at most 31 characters that any
     * client's number parsing keeps exact (2^53 > 10^15). */
    c->sid_a = r[0] % 1000000000000000ull;
    c->sid_b = r[1] % 1000000000000000ull;
    int n = snprintf(c->socket_id, sizeof c->socket_id, "%" PRIu64 ".%" PRIu64, c->sid_a,
                     c->sid_b);
    c->sid_len = (uint8_t)n;
    return 0;
}

px_sub_t *px_client_sub(const px_client_t *c, px_str_t name)
{
    for (px_sub_t *s = c->subs; s != NULL; s = s->next)
        if (s->chan->nlen == name.n && memcmp(s->chan->name, name.p, name.n) == 0)
            return s;
    return NULL;
}

px_channel_t *px_hub_channel(const px_app_t *app, px_str_t name)
{
    return px_map_get(&app->channels, name);
}

static px_channel_t *channel_new(px_hub_t *hub, px_app_t *app, px_str_t name)
{
    px_channel_t *ch = calloc(1, sizeof(*ch) + name.n + 1);
    if (ch == NULL)
        return NULL;
    ch->app = app;
    ch->kind = px_chan_kind(name);
    ch->nlen = (uint32_t)name.n;
    memcpy(ch->name, name.p, name.n);
    if (px_map_put(&app->channels, (px_str_t){ch->name, name.n}, ch) < 0) {
        free(ch);
        return NULL;
    }
    hub->stats.channels++;
    return ch;
}

static void channel_free(px_hub_t *hub, px_channel_t *ch)
{
    px_map_del(&ch->app->channels, (px_str_t){ch->name, ch->nlen});
    px_map_free(&ch->members);
    free(ch->subs);
    free(ch);
    hub->stats.channels--;
}

static px_member_t *member_join(px_channel_t *ch, px_str_t user_id, px_str_t info,
                                int *is_new, uint32_t limit)
{
    px_member_t *m = px_map_get(&ch->members, user_id);
    if (m != NULL) {
        *is_new = 0;
        /* A later connection of the same user may update the info others
         * see on their next subscribe; member_added is not resent. */
        m->conns++;
        return m;
    }
    if (ch->nmembers >= limit)
        return NULL;
    m = calloc(1, sizeof(*m) + user_id.n + 1);
    if (m == NULL)
        return NULL;
    memcpy(m->user_id, user_id.p, user_id.n);
    m->idlen = (uint32_t)user_id.n;
    if (info.p != NULL) {
        m->user_info = malloc(info.n + 1);
        if (m->user_info == NULL) {
            free(m);
            return NULL;
        }
        memcpy(m->user_info, info.p, info.n);
        m->user_info[info.n] = '\0';
    }
    if (px_map_put(&ch->members, (px_str_t){m->user_id, m->idlen}, m) < 0) {
        free(m->user_info);
        free(m);
        return NULL;
    }
    m->conns = 1;
    m->prev = ch->mtail;
    if (ch->mtail)
        ch->mtail->next = m;
    else
        ch->mhead = m;
    ch->mtail = m;
    ch->nmembers++;
    *is_new = 1;
    return m;
}

static void member_free(px_channel_t *ch, px_member_t *m)
{
    px_map_del(&ch->members, (px_str_t){m->user_id, m->idlen});
    if (m->prev)
        m->prev->next = m->next;
    else
        ch->mhead = m->next;
    if (m->next)
        m->next->prev = m->prev;
    else
        ch->mtail = m->prev;
    ch->nmembers--;
    free(m->user_info);
    free(m->channel_data);
    free(m);
}

int px_hub_subscribe(px_hub_t *hub, px_client_t *c, px_str_t name, px_str_t user_id,
                     px_str_t user_info, px_sub_t **out, int *new_member)
{
    *new_member = 0;
    px_sub_t *s = px_client_sub(c, name);
    if (s != NULL) {
        *out = s;
        return PX_EEXIST;
    }
    if (hub->max_channels_per_client && c->nsubs >= hub->max_channels_per_client)
        return PX_ELIMIT;
    px_channel_t *ch = px_hub_channel(c->app, name);
    int created = 0;
    if (ch == NULL) {
        if ((ch = channel_new(hub, c->app, name)) == NULL)
            return PX_ENOMEM;
        created = 1;
    }
    int rc = PX_ENOMEM;
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        goto fail;
    if (ch->nsubs == ch->cap) {
        uint32_t cap = ch->cap ? ch->cap * 2 : 4;
        px_sub_t **subs = realloc(ch->subs, cap * sizeof(*subs));
        if (subs == NULL)
            goto fail;
        ch->subs = subs;
        ch->cap = cap;
    }
    if (ch->kind == PX_CHAN_PRESENCE && user_id.p != NULL) {
        s->member = member_join(ch, user_id, user_info, new_member,
                                c->app->max_presence_members);
        if (s->member == NULL) {
            rc = ch->nmembers >= c->app->max_presence_members ? PX_ELIMIT : PX_ENOMEM;
            goto fail;
        }
    }
    s->chan = ch;
    s->client = c;
    s->idx = ch->nsubs;
    ch->subs[ch->nsubs++] = s;
    s->next = c->subs;
    c->subs = s;
    c->nsubs++;
    *out = s;
    return 0;
fail:
    free(s);
    if (created)
        channel_free(hub, ch);
    return rc;
}

int px_member_set_data(px_member_t *m, px_str_t data)
{
    char *copy = malloc(data.n + 1);
    if (copy == NULL)
        return PX_ENOMEM;
    memcpy(copy, data.p, data.n);
    copy[data.n] = '\0';
    free(m->channel_data);
    m->channel_data = copy;
    return 0;
}

int px_hub_unsubscribe(px_hub_t *hub, px_sub_t *s, char gone[129])
{
    return px_hub_unsubscribe_ex(hub, s, gone, NULL);
}

int px_hub_unsubscribe_ex(px_hub_t *hub, px_sub_t *s, char gone[129], char **gone_data)
{
    px_channel_t *ch = s->chan;
    px_client_t *c = s->client;
    /* Unlink from the client's list. */
    for (px_sub_t **pp = &c->subs; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    c->nsubs--;
    /* Swap-remove from the channel's array. */
    px_sub_t *last = ch->subs[--ch->nsubs];
    ch->subs[s->idx] = last;
    last->idx = s->idx;
    int left = 0;
    if (gone_data != NULL)
        *gone_data = NULL;
    if (s->member != NULL && --s->member->conns == 0) {
        memcpy(gone, s->member->user_id, s->member->idlen + 1);
        if (gone_data != NULL) {
            *gone_data = s->member->channel_data;
            s->member->channel_data = NULL;
        }
        member_free(ch, s->member);
        left = 1;
    }
    free(s);
    if (ch->nsubs == 0)
        channel_free(hub, ch);
    return left;
}

size_t px_hub_publish(px_hub_t *hub, px_channel_t *ch, px_rbuf_t *frame,
                      const px_client_t *skip, int has_ex, uint64_t ex_a, uint64_t ex_b)
{
    px_rbuf_t *frames[PX_DIALECTS] = {frame, frame};
    return px_hub_publish_each(hub, ch, frames, skip, has_ex, ex_a, ex_b, 0);
}

size_t px_hub_publish_each(px_hub_t *hub, px_channel_t *ch, px_rbuf_t *const frames[],
                           const px_client_t *skip, int has_ex, uint64_t ex_a, uint64_t ex_b,
                           uint64_t epoch)
{
    size_t sent = 0;
    uint32_t n = ch->nsubs;
    px_sub_t **subs = ch->subs;
    for (uint32_t i = 0; i < n; i++) {
        px_client_t *c = subs[i]->client;
        if (c == skip || (has_ex && c->sid_a == ex_a && c->sid_b == ex_b))
            continue;
        px_rbuf_t *frame = frames[c->dialect];
        if (frame == NULL)
            continue;
        if (epoch != 0 && c->dialect == PX_DIALECT_CLASSIC) {
            if (c->epoch == epoch)
                continue;
            c->epoch = epoch;
        }
        if (c->ops->send(c, frame) == 0)
            sent++;
    }
    hub->stats.published++;
    hub->stats.deliveries += sent;
    return sent;
}

void px_client_release(px_client_t *c)
{
    free(c->user_id);
    c->user_id = NULL;
}

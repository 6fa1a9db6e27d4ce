/* px_hub.h - who is subscribed to what: apps -> channels -> subscribers,
 * presence members, and the fan-out of encoded frames.
 *
 * The hub is mechanism only: it never encodes protocol messages (the router
 * does) and never does I/O. It reaches a connection only through the
 * px_client_ops_t the connection supplies, whose send() must queue and
 * return without calling back into the hub. Everything here belongs to the
 * loop thread. */
#ifndef PX_HUB_H
#define PX_HUB_H

#include <jansson.h>
#include <stdint.h>

#include "px_app.h"
#include "px_buf.h"
#include "px_common.h"
#include "px_names.h"

typedef struct px_client_s px_client_t;
typedef struct px_channel_s px_channel_t;

typedef struct {
    /* Queues frame for c. frame is borrowed: the callee takes its own
     * reference if it keeps it. Returns 0, or a negative code when c cannot
     * take it (closing, or over its output cap, in which case the callee
     * schedules its own close). Must not call into the hub. */
    int (*send)(px_client_t *c, px_rbuf_t *frame);
    /* Schedules closing c with a WebSocket close code and reason (reason is
     * copied). Deferred: must not call into the hub. */
    void (*close)(px_client_t *c, uint16_t code, const char *reason);
} px_client_ops_t;

/* Protocol dialects a client can speak (px_client_t.dialect). */
enum { PX_DIALECT_PUSHER = 0, PX_DIALECT_CLASSIC = 1, PX_DIALECTS = 2 };

typedef struct px_member_s {
    struct px_member_s *prev, *next; /* channel's members in join order */
    char *user_info;                 /* owned compact JSON, or NULL */
    char *channel_data;              /* owned compact JSON of the whole
                                      * channel_data object (the classic
                                      * dialect shows it), or NULL */
    uint32_t conns;                  /* subscriptions holding this member */
    uint8_t peer;                    /* joined with "peer": true (peer channels) */
    uint32_t idlen;
    char user_id[];                  /* NUL-terminated */
} px_member_t;

typedef struct px_sub_s {
    px_channel_t *chan;
    px_client_t *client;
    px_member_t *member;    /* presence only, else NULL */
    struct px_sub_s *next;  /* next subscription of the same client */
    uint32_t idx;           /* position in chan->subs */
    uint8_t via;            /* PX_VIA_* bits: why the client is subscribed */
} px_sub_t;

/* Why a subscription exists; it ends when no reason is left. */
enum { PX_VIA_DIRECT = 1, PX_VIA_PERSONAL = 2, PX_VIA_PEER = 4 };

struct px_channel_s {
    px_app_t *app;
    px_sub_t **subs;        /* owned array of subscriptions */
    uint32_t nsubs, cap;
    px_map_t members;       /* user_id -> px_member_t (presence) */
    px_member_t *mhead, *mtail;
    uint32_t nmembers;
    px_chan_kind_t kind;
    uint32_t nlen;
    char name[];            /* NUL-terminated */
};

struct px_client_s {
    const px_client_ops_t *ops;
    px_app_t *app;           /* borrowed from the registry */
    px_sub_t *subs;          /* this client's subscriptions */
    uint32_t nsubs;
    uint64_t sid_a, sid_b;   /* socket id numbers: "<a>.<b>" */
    char socket_id[42];
    uint8_t sid_len;
    char *user_id;           /* owned: set by pusher:signin, else NULL */
    uint64_t ce_window;      /* client-event rate window start (ms) */
    uint32_t ce_count;       /* client events in that window */
    uint8_t dialect;         /* PX_DIALECT_* */
    char *personal_user;     /* owned: user of the personal channel this
                              * client subscribed, or NULL */
    uint64_t epoch;          /* last trigger delivered (classic de-duplication) */
};

typedef struct {
    uint64_t connections;      /* open WebSocket connections */
    uint64_t connections_total;
    uint64_t messages_in;      /* client messages handled */
    uint64_t published;        /* events published (per channel) */
    uint64_t deliveries;       /* frames queued to subscribers */
    uint64_t http_requests;
    uint64_t channels;         /* occupied channels */
    uint64_t persist_queued;   /* writes waiting for the store */
    uint64_t persist_written;  /* events stored */
    uint64_t persist_failures; /* failed store calls */
    uint64_t persist_outage;   /* 1 while the store fails */
} px_stats_t;

/* What the hub's users need from outside the sans-IO core; the server
 * supplies them, tests may leave any NULL (the feature is then off). */
typedef struct {
    /* Queues an event document (the store's event shape, consumed) for
     * persistence, linked to the users in the JSON array users (consumed;
     * may be NULL). Returns 0, or PX_ELIMIT when the backlog is full. */
    int (*persist)(void *ud, json_t *event, json_t *users);
    /* Starts an asynchronous history read for client c: the events of
     * channel (or, with user_id, the inbox of that user), skip/count. The
     * answer arrives later through px_router_history_done(). Returns 0 or a
     * negative code. */
    int (*history)(void *ud, px_client_t *c, const char *channel, const char *user_id,
                   size_t skip, size_t count, int reply_kind);
    /* Stores adding (put = 1) or deleting a personal-channel subscription,
     * written behind. Returns 0 or a negative code. */
    int (*subscription)(void *ud, int put, const char *app_id, const char *user_id,
                        const char *event);
    /* Stores an app (consumed JSON document), written behind. */
    int (*save_app)(void *ud, json_t *app);
    void *ud;
} px_hub_services_t;

typedef struct px_hub_s {
    px_apps_t apps;
    px_hub_services_t svc;
    px_stats_t stats;
    uint64_t now_ms;           /* loop time, updated by the server */
    int64_t wall_s;            /* wall-clock seconds, for signed requests */
    uint32_t activity_timeout; /* seconds, advertised to clients */
    uint32_t max_channels_per_client;
    uint64_t epochs;           /* trigger counter for classic de-duplication */
} px_hub_t;

/* Initialises client for app with a fresh CSPRNG socket id. */
int px_client_init(px_client_t *c, const px_client_ops_t *ops, px_app_t *app);

/* Returns c's subscription to name, or NULL. */
px_sub_t *px_client_sub(const px_client_t *c, px_str_t name);

/* Returns the channel called name in app, or NULL when nobody is subscribed. */
px_channel_t *px_hub_channel(const px_app_t *app, px_str_t name);

/* Subscribes c to name (creating the channel). For presence channels pass
 * the member's user_id (with {NULL,0} the client subscribes without
 * becoming a member, as the original pushi allowed) and user_info (compact
 * JSON or {NULL,0}); *new_member
 * is set to 1 when this is the user's first connection in the channel.
 * Returns 0 and the subscription in *out, PX_EEXIST when c is already
 * subscribed (*out is then that subscription), PX_ELIMIT when the presence
 * member limit of the app is reached for a new user or c has too many
 * channels, or PX_ENOMEM. */
int px_hub_subscribe(px_hub_t *hub, px_client_t *c, px_str_t name, px_str_t user_id,
                     px_str_t user_info, px_sub_t **out, int *new_member);

/* Removes subscription s of its client. When it held the last connection of
 * a presence member, copies the member's user id into gone (129 bytes) and
 * returns 1; else returns 0. The channel is freed when it empties, so s->chan
 * must not be used afterwards. */
int px_hub_unsubscribe(px_hub_t *hub, px_sub_t *s, char gone[129]);

/* Queues frame to every subscriber of ch except the client skip (may be
 * NULL) and except the connection whose socket id is (ex_a, ex_b) when
 * has_ex is 1. Returns how many clients it was queued to. */
size_t px_hub_publish(px_hub_t *hub, px_channel_t *ch, px_rbuf_t *frame,
                      const px_client_t *skip, int has_ex, uint64_t ex_a, uint64_t ex_b);

/* Like px_hub_unsubscribe; when a member left, also hands over its
 * channel_data (owned by the caller, may be NULL) in *gone_data. */
int px_hub_unsubscribe_ex(px_hub_t *hub, px_sub_t *s, char gone[129], char **gone_data);

/* Replaces the stored channel_data of member m with a copy of data (compact
 * JSON). Returns 0 or PX_ENOMEM. */
int px_member_set_data(px_member_t *m, px_str_t data);

/* Like px_hub_publish, with one frame per dialect (frames[PX_DIALECT_*]; a
 * NULL frame skips that dialect's clients). When epoch is not 0, a classic
 * client that already received this epoch is skipped and others are marked:
 * the original pushi delivers a trigger once per socket, whatever number of
 * its channels it names. */
size_t px_hub_publish_each(px_hub_t *hub, px_channel_t *ch, px_rbuf_t *const frames[],
                           const px_client_t *skip, int has_ex, uint64_t ex_a, uint64_t ex_b,
                           uint64_t epoch);

/* Releases c's memory that the hub allocated (user id). c must have no
 * subscriptions left. */
void px_client_release(px_client_t *c);

#endif

/* px_classic.h - the original pushi's WebSocket protocol ("classic"
 * dialect), served on /<64-character app key>, sharing the hub and the
 * fan-out path with the Pusher dialect.
 *
 * What differs from Pusher (pushi-original.md sections 2-6): the greeting
 * carries only socket_id; pusher:subscribe takes channel_data as an object
 * and is answered with a channel-info object {name, members, alias, events};
 * unsubscribing is confirmed; presence changes are pusher:member_added /
 * pusher:member_removed with the member's channel_data in "member"; any
 * other event name is a client event, with "echo" and "persist" flags;
 * pusher:latest reads a channel's history; personal-<user_id> subscribes to
 * the channels that user's subscriptions alias.
 *
 * Where the original dropped the TCP connection on bad input, pushi sends a
 * pusher:error and closes with a code: 1008 for malformed messages, 4009 for
 * failed authorization. Sans-IO; loop thread only. */
#ifndef PX_CLASSIC_H
#define PX_CLASSIC_H

#include "px_hub.h"

/* Close codes of the classic dialect. */
enum { PX_CLASSIC_CLOSE_MALFORMED = 1008, PX_CLASSIC_CLOSE_UNAUTHORIZED = 4009 };

/* Sends pusher:connection_established {"socket_id": ...}. */
int px_classic_open(px_hub_t *hub, px_client_t *c);

/* Handles one text message of a classic client. */
void px_classic_message(px_hub_t *hub, px_client_t *c, const char *text, size_t n);

/* Kinds of asynchronous replies (px_hub_services_t.history's reply_kind). */
enum { PX_REPLY_LATEST = 1, PX_REPLY_SUBSCRIBED = 2, PX_REPLY_UNSUBSCRIBED = 3 };

/* The store's event documents (borrowed array) in the original pushi's
 * shape {mid, instance, channel, owner_id, timestamp, id, data: {channel,
 * event, data, ...extra}}. Returns a new array. */
json_t *px_classic_original_events(const json_t *events);

/* Sends the answer of a history read started through svc.history: events
 * is the store's array (borrowed; NULL when the read failed, which answers
 * with an empty list). channel is the channel the request named. */
void px_classic_history_done(px_hub_t *hub, px_client_t *c, int reply_kind,
                             const char *channel, json_t *events);

/* Personal channels: the aliases of user_id in app changed (one channel
 * added, or removed when added is 0); live personal subscribers follow. */
int px_classic_alias_changed(px_hub_t *hub, px_app_t *app, const char *user_id,
                             const char *channel, int added);

/* Returns the channels user_id's personal channel aliases, as a JSON array
 * (new reference), or an empty array. */
json_t *px_classic_aliases(const px_app_t *app, const char *user_id);

/* Returns the users whose personal channel aliases channel (new array). */
json_t *px_classic_alias_users(const px_app_t *app, const char *channel);

/* Publishes name/data to channels with the classic semantics (one delivery
 * per classic socket, extra envelope keys, optional persistence with mid
 * and timestamp). owner (may be NULL) is the sending client: it is skipped
 * unless echo. extra is an object of additional envelope keys or NULL.
 * exclude_sid (.p NULL for none) is a socket id that does not receive it.
 * Returns deliveries, PX_ELIMIT when persistence is backlogged, PX_ENOMEM. */
long px_classic_trigger(px_hub_t *hub, px_app_t *app, const px_str_t *channels, size_t n,
                        px_str_t name, px_str_t data, const json_t *extra, int persist,
                        px_client_t *owner, int echo, px_str_t exclude_sid);

/* Detaches a closing client (either dialect) from personal-channel
 * bookkeeping. */
void px_classic_closed(px_hub_t *hub, px_client_t *c);

/* Internal, shared with px_router.c (features both dialects have). */

/* 1 when name is a valid classic channel name: 1..PX_MAX_NAME_CLASSIC
 * bytes of the Pusher charset plus ':' and '&' (peer channel names). */
int px__classic_name_ok(px_str_t name);

/* pusher:latest with its data object. */
void px__classic_latest(px_hub_t *hub, px_client_t *c, json_t *d);

/* Peer channels (automatic one-to-one channels between presence members
 * who join with "peer": true). After s (a presence subscription whose member
 * has its peer flag set from channel_data) joined: subscribes its client to
 * the pair channel with every other member, and, when is_new (the user's
 * first connection), those members' connections too. */
void px__classic_peer_join(px_hub_t *hub, px_sub_t *s, int is_new);

/* Before c's presence subscription to presence channel ch (user user_id,
 * peer flag was_peer) goes: c leaves its pair channels with the channel's
 * other members; when the member itself goes (last_conn) and was_peer, the
 * other members' connections leave the pair channels shared with it. */
void px__classic_peer_leave(px_hub_t *hub, px_client_t *c, px_channel_t *ch,
                            const char *user_id, int was_peer, int last_conn);

/* 1 when the JSON text channel_data has a truthy "peer". */
int px__classic_peer_flag(const char *channel_data);

/* When name is a personal channel ("personal-U", "private-personal-U"),
 * subscribes c to (or, subscribe = 0, unsubscribes it from) the channels it
 * aliases, answering as the client's dialect expects, and returns 1; else
 * returns 0. Authorization is the caller's. */
int px__classic_personal(px_hub_t *hub, px_client_t *c, px_str_t name, int subscribe);

#endif

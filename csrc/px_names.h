/* px_names.h - channel and event names: kinds and validity rules.
 *
 * Pure functions; any thread. */
#ifndef PX_NAMES_H
#define PX_NAMES_H

#include "px_common.h"

/* Longest channel or event name accepted (the official SDKs' limit). */
#define PX_MAX_NAME 200

/* Longest channel name of the classic dialect (peer channels join a base
 * name and two user ids). */
#define PX_MAX_NAME_CLASSIC 400

typedef enum {
    PX_CHAN_PUBLIC = 0,
    PX_CHAN_PRIVATE,           /* private-            */
    PX_CHAN_ENCRYPTED,         /* private-encrypted-  */
    PX_CHAN_PRESENCE,          /* presence-           */
    PX_CHAN_USER,              /* #server-to-user-<id> */
} px_chan_kind_t;

/* Classifies a channel name by its prefix (the name need not be valid). */
px_chan_kind_t px_chan_kind(px_str_t name);

/* 1 for kinds whose subscriptions need a signature (private, encrypted,
 * presence). */
static inline int px_chan_kind_authed(px_chan_kind_t k)
{
    return k == PX_CHAN_PRIVATE || k == PX_CHAN_ENCRYPTED || k == PX_CHAN_PRESENCE;
}

/* Returns 0 when name is a valid channel name: 1..PX_MAX_NAME bytes of
 * [A-Za-z0-9_-=@,.;], or "#server-to-user-" followed by a valid user id.
 * Returns PX_ENAME otherwise. */
int px_channel_name_check(px_str_t name);

/* Returns 0 when name is a valid event name (1..PX_MAX_NAME bytes, no
 * control characters), else PX_ENAME. */
int px_event_name_check(px_str_t name);

/* Returns 0 when id is a valid user id: 1..128 bytes of the channel
 * charset. Else PX_ENAME. */
int px_user_id_check(px_str_t id);

/* Parses a Pusher socket id "N.N" (two decimal numbers, each at most 19
 * digits). Returns 0 and stores the numbers, or PX_EINVAL. */
int px_socket_id_parse(px_str_t s, uint64_t *a, uint64_t *b);

#endif

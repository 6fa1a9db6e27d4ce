/* px_router.h - the Pusher protocol's actions: what a connection's messages
 * do to the hub and what they answer, and how a published event reaches
 * subscribers.
 *
 * Sans-IO: all output goes through each client's px_client_ops_t. Loop
 * thread only. */
#ifndef PX_ROUTER_H
#define PX_ROUTER_H

#include "px_hub.h"

/* Pusher close codes and error codes used by the router and the server. */
enum {
    PX_CLOSE_APP_MISSING = 4001,
    PX_CLOSE_APP_DISABLED = 4003,
    PX_CLOSE_OVER_QUOTA = 4004,
    PX_CLOSE_PATH = 4005,
    PX_CLOSE_BAD_VERSION = 4006,
    PX_CLOSE_UNSUPPORTED_PROTOCOL = 4007,
    PX_CLOSE_NO_PROTOCOL = 4008,
    PX_CLOSE_UNAUTHORIZED = 4009,
    PX_CLOSE_OVER_CAPACITY = 4100,
    PX_CLOSE_RECONNECT = 4200,
    PX_CLOSE_PONG_TIMEOUT = 4201,
    PX_CLOSE_INACTIVE = 4202,
    PX_ERR_CLIENT_RATE = 4301,
};

/* Sends pusher:connection_established to a new client. Returns 0 or the
 * send's error. */
int px_router_open(px_hub_t *hub, px_client_t *c);

/* Handles one complete client text message (valid UTF-8, already checked
 * by the WebSocket layer). Answers recoverable errors with pusher:error and
 * asks for a close (through ops->close) on fatal ones. */
void px_router_message(px_hub_t *hub, px_client_t *c, const char *text, size_t n);

/* Detaches a closing client from every channel, telling presence members
 * about users who left, and releases the client's hub memory. */
void px_router_closed(px_hub_t *hub, px_client_t *c);

/* Publishes event name with data (a string sent as-is inside the event's
 * "data") to each named channel of app. exclude_sid, when .p is not NULL, is
 * a socket id ("N.N") that does not receive it. The caller has validated the
 * names and sizes. Returns the number of deliveries queued, or PX_ENOMEM. */
long px_router_trigger(px_hub_t *hub, px_app_t *app, const px_str_t *channels,
                       size_t nchannels, px_str_t name, px_str_t data, px_str_t exclude_sid);

/* Sends pusher:error with message and code to c (borrowed strings). */
void px_router_error(px_client_t *c, const char *message, int code);

/* Internal, shared with px_classic.c (the other dialect). */

/* Sends frame (consumed; NULL means out of memory and closes c). */
void px__router_send_owned(px_client_t *c, px_rbuf_t *frame);

/* Tells a channel's subscribers, in each one's dialect, that a presence
 * member joined (added = 1: user_info and channel_data are compact JSON or
 * NULL) or left. skip does not get it. */
void px__router_member_event(px_hub_t *hub, px_channel_t *ch, const px_client_t *skip,
                             int added, const char *user_id, const char *user_info,
                             const char *channel_data);

/* Removes subscription s and announces a presence member who left. */
void px__router_leave(px_hub_t *hub, px_sub_t *s);

#endif

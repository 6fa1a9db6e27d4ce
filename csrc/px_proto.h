/* px_proto.h - Pusher wire messages: decoding what clients send and encoding
 * what the server sends, as ready-to-write WebSocket text frames.
 *
 * Sans-IO and allocation-explicit. Any thread, on objects it owns. */
#ifndef PX_PROTO_H
#define PX_PROTO_H

#include <jansson.h>

#include "px_buf.h"
#include "px_common.h"

/* A decoded client message. root owns everything; the slices point into it. */
typedef struct {
    json_t *root;      /* owned: the whole message object */
    px_str_t event;    /* "event" (always present after a successful decode) */
    px_str_t channel;  /* "channel", or {NULL,0} when absent */
    json_t *data;      /* borrowed from root: "data" as sent, or NULL */
    json_t *data_obj;  /* owned: data as an object when it was an object or a
                        * string holding a JSON object; NULL otherwise */
} px_msg_t;

/* Decodes one client text message. It must be a JSON object with a string
 * "event"; "channel", when present, must be a string. Returns 0, or PX_EPROTO
 * with a static reason in *why (out is then empty). */
int px_proto_decode(const char *text, size_t n, px_msg_t *out, const char **why);

/* Releases what a decode produced. Safe on an empty message. */
void px_msg_free(px_msg_t *m);

/* Returns a new string field of obj as a slice (borrowed from obj), or
 * {NULL,0} when absent or not a string. */
px_str_t px_json_str(const json_t *obj, const char *key);

/* Wraps json (UTF-8 text) in an unmasked, final WebSocket text frame.
 * Returns an owned rbuf, or NULL on out of memory. */
px_rbuf_t *px_proto_frame(const char *json, size_t n);

/* Encodes {"event":E,"channel":C,"data":"<data as a JSON string>","user_id":U}
 * as a frame. channel and user_id are left out when their .p is NULL. data is
 * the raw text that becomes the string value (escaped here). Returns an owned
 * rbuf or NULL on out of memory. */
px_rbuf_t *px_proto_event(px_str_t event, px_str_t channel, px_str_t data,
                          px_str_t user_id);

/* Like px_proto_event but data is inserted as raw JSON (an object or other
 * value the caller has already encoded), not as a string. */
px_rbuf_t *px_proto_event_json(px_str_t event, px_str_t channel, px_str_t data_json);

/* Encodes a pusher:error frame: {"event":"pusher:error","data":{"message":M,
 * "code":C}} (code null when 0). Returns an owned rbuf or NULL. */
px_rbuf_t *px_proto_error(const char *message, int code);

/* Serialises a JSON value compactly into b (appending). Returns 0 or
 * PX_ENOMEM. */
int px_json_dump(px_buf_t *b, const json_t *v);

#endif

/* px_ws.h - the server side of one WebSocket (RFC 6455), on top of wslay.
 *
 * Sans-IO: the connection feeds received bytes with px_ws_feed(); complete
 * messages, the peer's close and failures come back through px_ws_ops_t, and
 * bytes to send (control frames: pong, close) go out through ops->write.
 * Data frames the server sends do not pass through here: they are encoded
 * once per publish by px_proto and shared by every recipient.
 *
 * wslay parses and validates frames (masking, reserved bits, opcodes,
 * fragmentation, control-frame rules, the message size cap) and answers pings
 * and closes. Around it, px_ws adds what wslay leaves to the application:
 * UTF-8 validation of text messages and close reasons (1007), refusal of
 * binary messages unless ops->on_binary is set (1003), close codes it must
 * refuse, and a frame-boundary scanner. The scanner lets a connection drop its
 * wslay context (about 8.8 KB) whenever it sits between messages, and catches
 * the header errors that make wslay give up without a close frame (a control
 * frame over 125 bytes or fragmented, a 64-bit length with its top bit set, a
 * close frame with a 1-byte payload): those get a 1002 close.
 *
 * One px_ws_t per connection, owned by it. Loop thread only (or any single
 * thread: nothing here is shared). */
#ifndef PX_WS_H
#define PX_WS_H

#include <stddef.h>
#include <stdint.h>

typedef struct px_ws_s px_ws_t;

typedef struct {
    /* Queues len bytes for the peer (copied). Returns 0, or a negative value
     * when the connection cannot take them (the WebSocket then fails). */
    int (*write)(px_ws_t *ws, const uint8_t *data, size_t len);
    /* A complete text message, valid UTF-8. */
    void (*on_text)(px_ws_t *ws, const uint8_t *msg, size_t len);
    /* A complete binary message; NULL refuses binary messages with 1003. */
    void (*on_binary)(px_ws_t *ws, const uint8_t *msg, size_t len);
    /* The peer sent a valid close frame (code 1005 when it had none); the
     * answering close frame has been written. */
    void (*on_peer_close)(px_ws_t *ws, uint16_t code);
    /* px_ws failed the connection with code: a close frame carrying it has
     * been written (unless one was out already) and nothing more will be
     * read; the connection should close its socket once its output drains. */
    void (*on_fail)(px_ws_t *ws, uint16_t code);
} px_ws_ops_t;

struct px_ws_s {
    const px_ws_ops_t *ops;
    void *ctx;              /* wslay_event_context_ptr, or NULL between messages */
    const uint8_t *rd;      /* bytes being fed */
    size_t rdn;
    uint64_t sc_left;       /* scanner: payload bytes left in the current frame */
    uint32_t max_message;   /* largest message accepted (1009 beyond) */
    uint8_t *hold;          /* owned: a close frame split across reads */
    size_t hold_len;
    size_t hold_from;       /* scanner: where a frame to hold starts */
    uint8_t sc_hdr[14];     /* scanner: header bytes so far */
    uint8_t sc_have;
    uint8_t sc_frag;        /* inside a fragmented data message */
    uint8_t failed;         /* on_fail was called: feed ignores input */
    uint8_t closing;        /* a close frame was queued or received */
    uint8_t keep_ctx;       /* keep the context (closing handshake in progress) */
};

/* Prepares ws. No memory is allocated until the first byte arrives. */
void px_ws_init(px_ws_t *ws, const px_ws_ops_t *ops, uint32_t max_message);

/* Feeds n received bytes. Messages and events are delivered through ops
 * during the call. Returns 0, or -1 once the WebSocket has failed (on_fail
 * has been called) and no more input is wanted. */
int px_ws_feed(px_ws_t *ws, const uint8_t *p, size_t n);

/* Writes a close frame with code and reason (at most 123 bytes are kept).
 * Returns 0, or -1 when one was already sent or the frame could not be
 * written. */
int px_ws_close(px_ws_t *ws, uint16_t code, const char *reason);

/* 1 once both close frames have passed (ours written, the peer's read). */
int px_ws_close_done(const px_ws_t *ws);

/* Releases the wslay context, if any. */
void px_ws_free(px_ws_t *ws);

#endif

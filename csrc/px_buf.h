/* px_buf.h - byte buffers.
 *
 * px_buf_t is a growable buffer owned by whoever embeds it. px_rbuf_t is an
 * immutable, reference-counted block of bytes: the publish path encodes one
 * outgoing WebSocket frame into a px_rbuf_t and hands a reference to every
 * recipient, so nothing is copied per subscriber.
 *
 * Reference counts are not atomic: an rbuf belongs to the loop thread once it
 * has been handed to the hub. Other functions here may run on any thread on
 * buffers that thread owns. */
#ifndef PX_BUF_H
#define PX_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "px_common.h"

typedef struct {
    char *data;  /* NULL until the first append; owned */
    size_t len;  /* bytes used */
    size_t cap;  /* bytes allocated */
} px_buf_t;

#define PX_BUF_INIT {NULL, 0, 0}

/* Makes room for at least extra more bytes. Returns 0 or PX_ENOMEM (the
 * buffer is unchanged on failure). */
int px_buf_reserve(px_buf_t *b, size_t extra);

/* Appends n bytes from p. Returns 0 or PX_ENOMEM. */
int px_buf_append(px_buf_t *b, const void *p, size_t n);

/* Appends a NUL-terminated string. Returns 0 or PX_ENOMEM. */
int px_buf_puts(px_buf_t *b, const char *s);

/* Appends printf-formatted text. Returns 0, PX_ENOMEM or PX_EINVAL. */
int px_buf_printf(px_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends s as the body of a JSON string (without the quotes), escaping
 * '"', '\\' and control characters. s must be valid UTF-8 (the caller has
 * checked). Returns 0 or PX_ENOMEM. */
int px_buf_json_escape(px_buf_t *b, const char *s, size_t n);

/* Appends a NUL byte without counting it in len, so data can be used as a C
 * string. Returns 0 or PX_ENOMEM. */
int px_buf_terminate(px_buf_t *b);

/* Drops the first n bytes (n <= len), keeping the rest. */
void px_buf_consume(px_buf_t *b, size_t n);

/* Frees the memory and resets to PX_BUF_INIT. Safe on an empty buffer. */
void px_buf_free(px_buf_t *b);

typedef struct px_rbuf_s {
    uint32_t refs;  /* owners; the block is freed when this drops to 0 */
    uint32_t len;   /* bytes in data */
    char data[];
} px_rbuf_t;

/* Allocates an rbuf with room for len bytes and one reference owned by the
 * caller. The contents are uninitialised. Returns NULL on out of memory. */
px_rbuf_t *px_rbuf_new(size_t len);

/* Adds a reference and returns rb. */
static inline px_rbuf_t *px_rbuf_ref(px_rbuf_t *rb)
{
    rb->refs++;
    return rb;
}

/* Drops a reference; frees the block when it was the last. NULL is a no-op. */
void px_rbuf_unref(px_rbuf_t *rb);

/* Returns 1 when the n bytes at p are valid UTF-8 (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), else 0. */
int px_utf8_valid(const void *p, size_t n);

/* Incremental UTF-8 validation state for text split across frames. */
typedef struct {
    uint32_t need; /* continuation bytes still expected */
    uint32_t cp;   /* code point so far */
    uint32_t min;  /* smallest code point allowed for this sequence length */
} px_utf8_state_t;

/* Feeds n bytes. Returns 1 while the input is a valid prefix, 0 once it is
 * invalid (the state then stays invalid). px_utf8_complete() tells whether
 * the input ended on a character boundary. */
int px_utf8_feed(px_utf8_state_t *st, const void *p, size_t n);

static inline int px_utf8_complete(const px_utf8_state_t *st)
{
    return st->need == 0;
}

#endif

/* px_http.h - HTTP/1.1 request reading on top of llhttp, with limits.
 *
 * Sans-IO: bytes go in through px_http_feed(); each complete request comes
 * out through the on_request callback, in order, so pipelined requests are
 * answered in order. A WebSocket upgrade request stops parsing: the bytes
 * after it belong to the WebSocket layer. One px_http_t per connection while
 * it speaks HTTP. Loop thread only. */
#ifndef PX_HTTP_H
#define PX_HTTP_H

#include <llhttp.h>
#include <stdint.h>

#include "px_buf.h"
#include "px_common.h"

#define PX_HTTP_MAX_HEADERS 64

typedef struct {
    px_str_t method;
    px_str_t target;                       /* raw request target */
    px_str_t names[PX_HTTP_MAX_HEADERS];   /* header names as sent */
    px_str_t values[PX_HTTP_MAX_HEADERS];
    uint32_t nheaders;
    px_str_t body;
    int keep_alive;                        /* 1 when the connection may stay */
    int upgrade;                           /* 1 for an Upgrade request */
    int http_minor;                        /* 0 or 1 */
} px_http_req_t;

typedef struct px_http_s px_http_t;

/* Called for each complete request. The slices are valid only during the
 * call. Return 0 to continue, or non-zero to stop parsing (the connection is
 * closing). */
typedef int (*px_http_request_cb)(px_http_t *h, const px_http_req_t *req, void *ud);

struct px_http_s {
    llhttp_t parser;
    px_buf_t head;          /* method, target and headers of the request */
    px_buf_t body;
    uint32_t name_off[PX_HTTP_MAX_HEADERS], name_len[PX_HTTP_MAX_HEADERS];
    uint32_t val_off[PX_HTTP_MAX_HEADERS], val_len[PX_HTTP_MAX_HEADERS];
    uint32_t url_off, url_len, method_off, method_len;
    uint32_t nheaders;
    int in_value;           /* last header callback was a value */
    int error_status;       /* 400/413/431 once a limit or syntax fails */
    const char *error_msg;  /* static */
    uint32_t max_head;      /* bytes of request line + headers */
    uint32_t max_body;
    px_http_request_cb on_request;
    void *ud;
};

/* Prepares h. Limits: max_head bytes for the request line and headers (431
 * beyond), max_body bytes of body (413 beyond). Returns 0. */
int px_http_init(px_http_t *h, uint32_t max_head, uint32_t max_body, px_http_request_cb cb,
                 void *ud);

/* Parses n bytes. Returns:
 *   n or less: all bytes consumed (>= 0, the number consumed);
 * when an upgrade request completes, parsing stops and the return value is
 * the number of bytes that belonged to HTTP: the rest is WebSocket data.
 * Returns a negative value on a protocol error or broken limit; then
 * h->error_status (400, 413, 431, 505) and h->error_msg say what to answer. */
long px_http_feed(px_http_t *h, const char *data, size_t n);

/* 1 while a request has started but not completed (bytes are pending). */
int px_http_busy(const px_http_t *h);

/* Frees h's buffers. */
void px_http_free(px_http_t *h);

/* Case-insensitive header look-up; {NULL,0} when absent. */
px_str_t px_http_header(const px_http_req_t *req, const char *name);

/* 1 when the comma-separated header value contains token (case-insensitive). */
int px_http_has_token(px_str_t value, const char *token);

#endif

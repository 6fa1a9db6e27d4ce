/* px_tls.h - TLS for the listener (wss:// and https://) with OpenSSL.
 *
 * The engine drives each TLS connection through a pair of memory BIOs: bytes
 * read from the socket go into the SSL object with px_tls_put(), plaintext
 * comes out of px_tls_read(); plaintext to send goes in with px_tls_write()
 * and the records to put on the wire come out of px_tls_take(). No socket is
 * touched here, so libuv keeps doing all I/O. Loop thread only, except
 * px_tls_ctx_new() and px_tls_ctx_free(), which the thread creating or freeing
 * the server calls. */
#ifndef PX_TLS_H
#define PX_TLS_H

#include <stddef.h>

#include "px_buf.h"

typedef struct px_tls_ctx_s px_tls_ctx_t;
typedef struct px_tls_s px_tls_t;

/* Loads a PEM certificate chain and private key. Returns 0 and an owned
 * context, or PX_EINVAL with a static explanation in *why. */
int px_tls_ctx_new(px_tls_ctx_t **out, const char *cert_file, const char *key_file,
                   const char **why);

void px_tls_ctx_free(px_tls_ctx_t *ctx);

/* A server-side TLS session on ctx; NULL on out of memory. */
px_tls_t *px_tls_new(px_tls_ctx_t *ctx);

void px_tls_free(px_tls_t *t);

/* Hands n bytes received from the peer to the session. Returns 0 or
 * PX_ENOMEM. */
int px_tls_put(px_tls_t *t, const void *p, size_t n);

/* Decrypts into buf (up to cap bytes). Returns the number of plaintext bytes
 * (> 0), 0 when more input is needed, or PX_EPROTO when the peer broke TLS
 * or closed it (the connection should then be closed). */
long px_tls_read(px_tls_t *t, void *buf, size_t cap);

/* Encrypts n plaintext bytes (the handshake must be complete; it is once
 * px_tls_read() has produced plaintext). Returns 0 or PX_EPROTO. */
int px_tls_write(px_tls_t *t, const void *p, size_t n);

/* Appends every record waiting for the wire to b. Returns the number of
 * bytes appended or PX_ENOMEM. */
long px_tls_take(px_tls_t *t, px_buf_t *b);

/* Number of record bytes waiting for the wire. */
size_t px_tls_pending(const px_tls_t *t);

#endif

/* px_crypto.h - the few cryptographic primitives the protocols need, on top
 * of OpenSSL's libcrypto: HMAC-SHA256 (Pusher signatures), MD5 (body_md5),
 * SHA-1 + base64 (the WebSocket accept key), constant-time comparison and
 * CSPRNG bytes. Pure functions; any thread. */
#ifndef PX_CRYPTO_H
#define PX_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "px_common.h"

/* Writes the lowercase hex HMAC-SHA256 of msg under key into out (65 bytes:
 * 64 hex digits and a NUL). Returns 0, or PX_EINVAL if libcrypto fails. */
int px_hmac_sha256_hex(px_str_t key, px_str_t msg, char out[65]);

/* Same, over the concatenation of nparts slices (no separator added). */
int px_hmac_sha256_hex_parts(px_str_t key, const px_str_t *parts, size_t nparts,
                             char out[65]);

/* Writes the lowercase hex MD5 of msg into out (33 bytes with the NUL). */
void px_md5_hex(px_str_t msg, char out[33]);

/* Computes Sec-WebSocket-Accept for the client's Sec-WebSocket-Key:
 * base64(SHA-1(key + GUID)), 28 characters and a NUL into out. */
void px_ws_accept_key(px_str_t client_key, char out[29]);

/* 1 when a and b have the same length and bytes. The time taken depends only
 * on the lengths, never on where the bytes differ. */
int px_ct_equal(px_str_t a, px_str_t b);

/* Fills buf with n bytes from the kernel CSPRNG. Returns 0 or PX_EINVAL. */
int px_random_bytes(void *buf, size_t n);

/* Lowercase-hex encodes n bytes of in into out (2n+1 bytes with the NUL). */
void px_hex(const void *in, size_t n, char *out);

#endif

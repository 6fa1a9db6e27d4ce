/* px_auth.h - Pusher signatures: channel subscriptions, user sign-in and
 * signed HTTP API requests. Also the URL query parser those requests need.
 *
 * Every comparison of a signature is constant time (px_ct_equal). Pure
 * functions; any thread. */
#ifndef PX_AUTH_H
#define PX_AUTH_H

#include <stdint.h>

#include "px_app.h"
#include "px_common.h"

/* Checks a channel subscription's "auth" value, "<app key>:<hex sig>", where
 * sig = HMAC-SHA256(secret, "<socket_id>:<channel>") or, when channel_data is
 * given (presence), "<socket_id>:<channel>:<channel_data>". Returns 0 when it
 * matches, PX_EAUTH otherwise (wrong key, malformed, wrong signature). */
int px_auth_channel(const px_app_t *app, px_str_t socket_id, px_str_t channel,
                    const px_str_t *channel_data, px_str_t auth);

/* Checks a pusher:signin "auth" value over "<socket_id>::user::<user_data>".
 * Returns 0 or PX_EAUTH. */
int px_auth_user(const px_app_t *app, px_str_t socket_id, px_str_t user_data,
                 px_str_t auth);

/* One decoded query parameter; both strings owned by the px_query_t. */
typedef struct {
    char *key;
    size_t klen;
    char *val;
    size_t vlen;
} px_param_t;

typedef struct {
    px_param_t *items; /* owned */
    size_t n;
} px_query_t;

/* Parses "a=1&b=%20x" (without the '?') into decoded parameters ('+' is a
 * space, %XX a byte). At most 64 parameters. Returns 0, PX_EINVAL for bad
 * percent escapes or too many parameters, or PX_ENOMEM. On failure q is
 * empty. */
int px_query_parse(px_str_t raw, px_query_t *q);

/* Splits a URL path on '/' into at most max percent-decoded segments (empty
 * segments are skipped), each written NUL-terminated into segs + i * cap.
 * '+', '=' and '&' stay literal. Returns the number of segments, or -1 when
 * there are more than max, one does not fit in cap bytes, or an escape is
 * malformed or %00. */
int px_path_split(px_str_t path, char *segs, size_t cap, int max);

/* Returns the value of the first parameter named key (borrowed), or NULL. */
const px_param_t *px_query_get(const px_query_t *q, const char *key);

void px_query_free(px_query_t *q);

/* Verifies a signed HTTP API request. method is the request method, path the
 * raw path as sent (without the query; clients sign what they send), q the parsed query, body the raw body and
 * now the server's time in seconds. Checks auth_key (the app's key),
 * auth_version ("1.0" when present), auth_timestamp (within window seconds of
 * now), body_md5 (required when the body is not empty and checked whenever
 * present) and auth_signature. Returns 0, or PX_EAUTH with a static message
 * in *why telling which check failed. */
int px_auth_request(const px_app_t *app, px_str_t method, px_str_t path,
                    const px_query_t *q, px_str_t body, int64_t now,
                    int64_t window, const char **why);

#endif

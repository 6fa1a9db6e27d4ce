/* px_server.h - the engine: one libuv loop that owns every connection, the
 * hub and all protocol state, plus the thread-safe doors into it.
 *
 * Life cycle: px_server_new() and px_server_listen() on any one thread, then
 * px_server_run() on the thread that becomes the loop thread (it returns
 * after a stop), then px_server_free() once run has returned. While it runs,
 * other threads reach the loop only through the px_server_post_*() calls and
 * px_server_stats(), which queue a command and wake the loop with
 * uv_async_send. */
#ifndef PX_SERVER_H
#define PX_SERVER_H

#include <jansson.h>
#include <stdint.h>

#include "px_common.h"
#include "px_hub.h"

typedef struct {
    char host[64];                /* listen address (IPv4 or IPv6 literal) */
    int port;                     /* 0 picks an ephemeral port */
    uint32_t activity_timeout;    /* s, advertised; server pings after it */
    uint32_t pong_timeout;        /* s to answer pusher:ping, else 4201 */
    uint32_t max_message_bytes;   /* largest WebSocket message accepted */
    uint32_t max_output_bytes;    /* per-connection queued output cap (4100) */
    uint32_t max_head_bytes;      /* HTTP request line + headers (431) */
    uint32_t max_body_bytes;      /* HTTP body (413) */
    uint32_t request_timeout_ms;  /* a started HTTP request must complete */
    uint32_t keepalive_timeout_ms;/* idle keep-alive HTTP connection */
    uint32_t close_timeout_ms;    /* wait for the peer's close frame */
    uint32_t max_connections;     /* 0: no limit but the fd limit */
    uint32_t max_channels_per_connection;
    uint32_t max_connections_per_ip;  /* TCP connections from one address;
                                       * 0: no limit (429 beyond) */
    uint32_t max_connection_rate_per_ip; /* new connections per second from
                                       * one address; 0: no limit (429) */
    uint32_t shutdown_timeout_ms; /* stop: time for queued output to drain */
    char store[1024];             /* store URL for history, subscriptions and
                                   * apps made over HTTP; "" for none */
    uint32_t persist_backlog;     /* most writes queued for the store */
    uint32_t retention_interval;  /* s between history retention passes (60) */
    char admin_token[128];        /* classic REST: the credential that may
                                   * create apps (POST /apps); "" for none */
    char tls_cert[256];           /* PEM certificate chain: the listener speaks
                                   * TLS (wss://, https://) when both are set */
    char tls_key[256];            /* PEM private key */
    char echo_path[64];           /* "" (off) or a path such as "/echo" whose
                                   * WebSockets echo every message back: for
                                   * RFC 6455 conformance tests only */
} px_config_t;

/* Fills cfg with the defaults (127.0.0.1:0, activity 120 s, pong 30 s,
 * message 64 KiB, output 1 MiB, head 8 KiB, body 256 KiB, ...). */
void px_config_defaults(px_config_t *cfg);

/* Reads known keys of a JSON object into cfg (unknown keys are errors).
 * Returns 0 or PX_EINVAL with a static message in *why. */
int px_config_from_json(px_config_t *cfg, const json_t *obj, const char **why);

typedef struct px_server_s px_server_t;

/* Creates a server with cfg (copied) and the apps in the JSON array apps
 * (borrowed). Returns 0 and an owned server, or PX_EINVAL with *why, or
 * PX_ENOMEM / a libuv error. Does not bind. */
int px_server_new(px_server_t **out, const px_config_t *cfg, const json_t *apps,
                  const char **why);

/* Binds and listens. Returns the bound port (> 0) or a negative libuv code.
 * Call before px_server_run(), on the thread that created the server. */
int px_server_listen(px_server_t *s);

/* Runs the loop on the calling thread until a stop is processed and every
 * handle has closed. Returns 0 or a negative code. Call once. */
int px_server_run(px_server_t *s);

/* Asks the loop to stop: it stops accepting, closes WebSocket connections
 * with 4200 and HTTP connections, and run() returns. Idempotent. Any thread. */
int px_server_post_stop(px_server_t *s);

/* Publishes an event to channels of app app_id as the HTTP API would (the
 * caller validated names and sizes). Everything is copied. Returns 0,
 * PX_ESTOPPED or PX_ENOMEM. Any thread. */
int px_server_post_trigger(px_server_t *s, const char *app_id, const char *const *channels,
                           size_t nchannels, const char *event, const char *data,
                           size_t data_len, const char *socket_id);

/* Adds (or, for an existing id, replaces the settings of) an app from a JSON
 * object (borrowed). Returns 0, PX_EINVAL with *why, PX_ESTOPPED or
 * PX_ENOMEM. Any thread. */
int px_server_post_app(px_server_t *s, const json_t *app, const char **why);

/* Copies the loop's counters into out, waiting for the loop up to timeout_ms.
 * When the loop is not running, reads them directly. Returns 0 or
 * PX_ESTOPPED (timed out). Any thread. */
int px_server_stats(px_server_t *s, px_stats_t *out, uint32_t timeout_ms);

/* Frees a server whose run() has returned (or never ran). */
void px_server_free(px_server_t *s);

#endif

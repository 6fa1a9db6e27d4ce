/* px_api.h - the HTTP API: Pusher's REST endpoints (signed) and /health.
 *
 * Sans-IO: a request goes in as slices, a status and a JSON body come out.
 * Loop thread only (it publishes through the hub). */
#ifndef PX_API_H
#define PX_API_H

#include "px_buf.h"
#include "px_hub.h"

typedef struct {
    px_hub_t *hub;
    /* Closes every connection of app signed in as user_id; returns how many.
     * Supplied by the server (the hub does not index connections by user). */
    size_t (*terminate_user)(void *ud, px_app_t *app, px_str_t user_id);
    /* Returns a new JSON array [{socket_id, channels: [...]}] of app's open
     * WebSocket connections (classic GET /sockets); NULL when unsupported. */
    json_t *(*list_sockets)(void *ud, px_app_t *app);
    void *ud;
    uint32_t max_channels_per_event; /* 100 */
    uint32_t max_batch;              /* 10 */
    int64_t auth_window;             /* 600 s */
    /* Classic REST (px_classic_api.c): sessions by token, and the admin
     * credential ("" disables app creation over HTTP). */
    px_map_t sessions;
    struct px_session_s *session_oldest, *session_newest; /* creation order */
    const char *admin_token;
} px_api_t;

/* Handles one request. target is the raw request target (path and query).
 * Writes the JSON response body into out (appending) and returns the HTTP
 * status code. Errors are {"error": "<message>"} with Pusher's codes: 400
 * bad request, 401 bad signature, 403 app disabled, 404 unknown app or path,
 * 405 wrong method, 413 data too large; 500 only when out of memory. */
int px_api_handle(px_api_t *api, px_str_t method, px_str_t target, px_str_t body,
                  px_buf_t *out);

#endif

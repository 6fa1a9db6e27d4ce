/* px_classic_api.h - the original pushi's REST API (pushi-original.md
 * section 8), beside the Pusher HTTP API on the same listener.
 *
 * Authentication is a session: GET|POST /login?app_id&app_key&app_secret
 * answers {"token": sid}, and later requests carry the sid as a query or
 * form parameter (sid, session_id, _sid), the cookie "sid" or the header
 * X-Session-Id. Creating apps needs the server's admin credential
 * (admin_token), given to /login?admin_token=... or as X-Admin-Token; the
 * original let anyone create apps.
 *
 * Routes: /login, /logout, POST|GET /events, GET|POST /subscriptions, DELETE
 * /subscriptions/<user_id>/<event>, POST|GET /apps, GET|PUT /apps/<ident>,
 * GET /sockets.
 * Errors: {"result":"error","name":...,"message":...,"code":status}.
 * Sans-IO; loop thread only. */
#ifndef PX_CLASSIC_API_H
#define PX_CLASSIC_API_H

#include "px_api.h"

typedef struct {
    px_str_t method, target, body;
    px_str_t cookie;          /* Cookie header or {NULL,0} */
    px_str_t session_header;  /* X-Session-Id */
    px_str_t admin_header;    /* X-Admin-Token */
    px_str_t content_type;
    /* Out: set when the answer needs the store (GET /events): the caller
     * reads the app's newest `defer_count` events and answers with
     * px_classic_api_events(). */
    const char *defer_app_id;
    size_t defer_count;
} px_classic_req_t;

/* Returned by px_classic_api_handle() when the answer comes later. */
#define PX_CLASSIC_DEFER 1

/* Handles req when it is a classic route. Returns 0 when it is not (the
 * caller tries the Pusher API), else the HTTP status, with the JSON body
 * appended to out and extra response header lines ("Name: value\r\n")
 * appended to headers. */
int px_classic_api_handle(px_api_t *api, px_classic_req_t *req, px_buf_t *out,
                          px_buf_t *headers);

/* Writes the GET /events answer for the store's events (borrowed; NULL
 * when the read failed: a 503 error). Returns the HTTP status. */
int px_classic_api_events(px_buf_t *out, json_t *events);

/* Frees the sessions kept in api. */
void px_classic_api_free(px_api_t *api);

#endif

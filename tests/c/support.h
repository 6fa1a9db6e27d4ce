/* support.h - shared fixtures for the hub, router and API tests: a hub with
 * apps, and a fake connection whose ops record every frame sent (decoded
 * from its WebSocket header and parsed as JSON) and every close asked for. */
#ifndef PX_TEST_SUPPORT_H
#define PX_TEST_SUPPORT_H

#include <jansson.h>

#include "../../csrc/px_hub.h"

typedef struct {
    char *text;   /* the frame's payload, NUL-terminated (owned) */
    size_t len;
    json_t *msg;  /* text parsed (owned) */
    json_t *data; /* "data" as an object: parsed when it was a string (owned),
                   * or NULL when it was neither an object nor a JSON string */
} fake_frame_t;

typedef struct {
    px_client_t c;        /* first: the hub sees only this */
    fake_frame_t *frames; /* owned */
    size_t nframes, cap;
    int closes;           /* close() calls */
    uint16_t close_code;  /* of the last close() */
    char close_reason[128];
    int refuse;           /* 1: send() fails (a closing connection) */
} fake_client_t;

extern const px_client_ops_t fake_ops;

/* Initialises f as a connection of app (fresh socket id, no frames). */
void fake_init(fake_client_t *f, px_app_t *app);

/* Frees the recorded frames (not the hub state: see px_router_closed). */
void fake_free(fake_client_t *f);

/* Forgets the recorded frames. */
void fake_clear(fake_client_t *f);

/* Event name of frame i (asserts i < nframes). */
const char *fake_event(const fake_client_t *f, size_t i);

/* Index of the first frame with this event at or after from, or -1. */
long fake_find(const fake_client_t *f, const char *event, size_t from);

/* How many frames carry this event. */
size_t fake_count(const fake_client_t *f, const char *event);

/* Feeds a printf-formatted client message to px_router_message. */
void fake_say(px_hub_t *hub, fake_client_t *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A zeroed hub with activity_timeout 120, now_ms 10000 and a wall clock. */
void env_hub_init(px_hub_t *hub);

/* Builds an app from obj (the reference is stolen) and adds it to the hub. */
px_app_t *env_app(px_hub_t *hub, json_t *obj);

/* Asserts every app is free of channels, then frees the apps. */
void env_hub_free(px_hub_t *hub);

/* Writes "<key>:<hex HMAC-SHA256(secret, msg)>" into out (at least 200
 * bytes), computed independently of px_auth. */
void env_sign(const px_app_t *app, const char *msg, char *out, size_t outsz);

/* Writes "<path>?<query>" for a request signed as Pusher's libraries sign
 * it: auth_key, auth_timestamp ts, auth_version 1.0 and (for a non-empty
 * body) body_md5 are added to params ("k=v&k=v", values needing no
 * escaping, may be ""), sorted, and auth_signature appended. */
void env_signed_target(const px_app_t *app, const char *method, const char *path,
                       const char *params, const char *body, long long ts, char *out,
                       size_t outsz);

/* The test app: id "3", key/secret from the Pusher docs' example. */
#define ENV_APP_KEY "278d425bdf160c739803"
#define ENV_APP_SECRET "7ad3773142a6692b25b8"

/* The REST docs' example request. */
#define REST_PATH "/apps/3/events"
#define REST_QUERY                                                                     \
    "auth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0"         \
    "&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_signature="                       \
    "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
#define REST_BODY "{\"name\":\"foo\",\"channels\":[\"project-3\"],\"data\":\"{\\\"some\\\":\\\"data\\\"}\"}"
#define REST_NOW 1353088179

#endif

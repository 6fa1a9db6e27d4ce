/* px_app.h - applications (tenants) and the registry that finds them by key
 * and by id.
 *
 * An app is built from a JSON object (the same shape the Python package and
 * the store use) and then belongs to the registry. The registry and every app
 * in it belong to the loop thread once the server runs; before that, the
 * thread that builds the server owns them. */
#ifndef PX_APP_H
#define PX_APP_H

#include <jansson.h>
#include <stdint.h>

#include "px_common.h"
#include "px_map.h"

/* A set of strings under a key: the channels a user's personal channel
 * aliases (app->aliases, keyed by user id), or the users aliasing a channel
 * (app->alias_rev, keyed by channel). watchers holds the clients subscribed
 * to that personal channel (aliases only; opaque here). */
typedef struct px_alias_s {
    char *key;            /* owned */
    char **items;         /* owned strings */
    size_t n, cap;
    void **watchers;      /* borrowed client pointers */
    size_t nw, capw;
} px_alias_t;

/* Adds item to the set under key (creating it). Returns 1 when added, 0 when
 * it was there, or PX_ENOMEM. */
int px_alias_add(px_map_t *m, const char *key, const char *item);

/* Removes item from the set under key; the set goes when empty and
 * unwatched. Returns 1 when removed, 0 when absent. */
int px_alias_remove(px_map_t *m, const char *key, const char *item);

/* Adds or removes a watcher of key's set (creating an empty set to watch).
 * Returns 0 or PX_ENOMEM. */
int px_alias_watch(px_map_t *m, const char *key, void *watcher, int on);

/* The set under key (borrowed) or NULL. */
px_alias_t *px_alias_get(const px_map_t *m, const char *key);

/* Frees every set of m and the map. */
void px_aliases_free(px_map_t *m);

typedef struct px_app_s {
    char *id;      /* owned, NUL-terminated */
    char *key;     /* owned */
    char *secret;  /* owned */
    char *name;    /* owned */
    int enabled;                 /* 0: new connections get 4003, API 403 */
    int client_events;           /* 1: client-* events allowed */
    uint32_t max_presence_members;
    uint32_t max_user_info_bytes;
    uint32_t max_event_bytes;    /* data of one event, HTTP and client */
    uint32_t max_client_events_per_second;
    uint32_t max_connections;    /* WebSocket connections; 0: no limit (4004) */
    char **origins;              /* owned allowlist of Origin values; NULL or
                                  * empty: every origin. "https://<*>.x.com"
                                  * (<*>: a literal asterisk)
                                  * matches any subdomain, "*" anything */
    size_t norigins;
    int classic_unsigned_presence; /* classic dialect: accept a presence
                                  * signature over "socket_id:channel" only,
                                  * as the original client makes it (1) */
    int public_client_events;    /* classic dialect: client events on public
                                  * channels (the original allowed them; 0) */
    int persist;                 /* persist HTTP API triggers (0); classic
                                  * triggers and client events say it
                                  * themselves (default 1) */
    uint32_t history_max_count;  /* most events one pusher:latest returns */
    uint32_t history_keep;       /* retention: events kept per channel (0: all) */
    uint32_t history_max_age;    /* retention: seconds an event is kept (0: ever) */
    /* State owned by the hub (px_hub.c): channel name -> px_channel_t. */
    px_map_t channels;
    /* State owned by px_classic.c: user_id -> aliased channels, and
     * channel -> users aliasing it (personal channels). */
    px_map_t aliases;
    px_map_t alias_rev;
    uint64_t connections;        /* open WebSocket connections of this app */
} px_app_t;

/* Builds an app from a JSON object with string "id", "key", "secret" and
 * optional "name", "enabled", "client_events", "max_presence_members",
 * "max_user_info_bytes", "max_event_bytes", "max_client_events_per_second",
 * "max_connections" and "allowed_origins" (array of strings).
 * "id" may also be an integer. Returns 0 and an owned app in *out, or
 * PX_EINVAL with a static explanation in *why, or PX_ENOMEM. */
int px_app_from_json(const json_t *obj, px_app_t **out, const char **why);

/* Returns a new JSON object describing app (secret included). Owned by the
 * caller (jansson reference), or NULL on out of memory. */
json_t *px_app_to_json(const px_app_t *app);

/* 1 when a WebSocket from origin (the Origin header, {NULL,0} when absent)
 * may connect to app: the allowlist is empty, or an entry equals origin
 * (case-insensitive), or an entry "scheme://<*>.domain" matches a subdomain,
 * or an entry is "*". A missing Origin (non-browser clients) is allowed. */
int px_app_origin_allowed(const px_app_t *app, px_str_t origin);

/* Copies the settings of src (everything but id and key, which identify
 * the app, and the hub's state) into dst, which keeps its connections and
 * channels. src is left with dst's old owned settings, to be freed with it. */
void px_app_take_settings(px_app_t *dst, px_app_t *src);

/* Frees an app that has no channels left. NULL is a no-op. */
void px_app_free(px_app_t *app);

typedef struct {
    px_map_t by_key; /* key -> px_app_t */
    px_map_t by_id;  /* id  -> px_app_t */
} px_apps_t;

#define PX_APPS_INIT {PX_MAP_INIT, PX_MAP_INIT}

/* Adds app, which the registry then owns. Returns 0, PX_EEXIST when its id
 * or key is taken (app is not consumed then), or PX_ENOMEM. */
int px_apps_add(px_apps_t *apps, px_app_t *app);

/* Look-ups; borrowed results or NULL. */
px_app_t *px_apps_by_key(const px_apps_t *apps, px_str_t key);
px_app_t *px_apps_by_id(const px_apps_t *apps, px_str_t id);

/* Frees every app (they must have no channels) and the maps. */
void px_apps_free(px_apps_t *apps);

#endif

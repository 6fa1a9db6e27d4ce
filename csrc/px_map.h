/* px_map.h - a string-keyed hash map of pointers.
 *
 * Hand-written because none of the libraries we link exposes a general hash
 * table (jansson's is internal to json_t objects). Open addressing with
 * linear probing and backward-shift deletion; keys are hashed with
 * SipHash-1-3 under a per-process random key, because channel names and
 * user ids come from untrusted clients (hash flooding).
 *
 * Keys are borrowed: the caller keeps each key's bytes alive, unchanged, for
 * as long as the entry exists (usually the key lives inside the value).
 * Values are opaque pointers, never freed by the map. Not thread-safe: a map
 * belongs to one thread. */
#ifndef PX_MAP_H
#define PX_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "px_common.h"

typedef struct {
    const char *key;
    uint32_t klen;
    uint32_t hash;
    void *val;   /* NULL marks an empty slot */
} px_map_slot_t;

typedef struct {
    px_map_slot_t *slots; /* NULL until the first insert; owned */
    size_t cap;           /* power of two, or 0 */
    size_t len;           /* live entries */
} px_map_t;

#define PX_MAP_INIT {NULL, 0, 0}

/* Returns the value stored under key, or NULL. */
void *px_map_get(const px_map_t *m, px_str_t key);

/* Stores val (non-NULL) under key, replacing any previous value. The key's
 * bytes are borrowed (see above). Returns 0 or PX_ENOMEM. */
int px_map_put(px_map_t *m, px_str_t key, void *val);

/* Removes key. Returns the value it had, or NULL when absent. */
void *px_map_del(px_map_t *m, px_str_t key);

/* Iteration: start with *it = 0; returns the next value and advances *it, or
 * NULL at the end. The map must not change during an iteration. */
void *px_map_next(const px_map_t *m, size_t *it);

/* Frees the slot array (not the values) and resets the map. */
void px_map_free(px_map_t *m);

/* SipHash-1-3 of p under the process key, truncated to 64 bits. */
uint64_t px_hash(const void *p, size_t n);

#endif

/* px_persist.h - the engine's door to the store: persistence written behind
 * live delivery, in batches, on the libuv threadpool, and history reads
 * answered back on the loop thread.
 *
 * Operations run one job at a time, in the order they were queued, so a
 * read sees every write queued before it. Writes (events with their inbox
 * links, subscriptions, apps) are batched; when the store fails they stay
 * queued and are retried with a growing delay (0.25 s up to 8 s), and the
 * outage shows in px_persist_stats(). The queue is bounded: past
 * max_backlog queued writes, px_persist_event() refuses with PX_ELIMIT so
 * the caller can refuse the request that asked for persistence instead of
 * losing it silently. Reads during an outage fail (their callback gets the
 * error) rather than wait behind the writes.
 *
 * Everything here runs on the loop thread, except the store calls, which
 * run on a threadpool thread while the loop thread never touches the store. */
#ifndef PX_PERSIST_H
#define PX_PERSIST_H

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

#include "px_store.h"

typedef struct px_persist_s px_persist_t;

typedef struct {
    uint64_t queued;     /* write operations waiting */
    uint64_t written;    /* events stored */
    uint64_t failures;   /* failed store calls (writes and reads) */
    int outage;          /* 1 while the last write batch failed */
    char last_error[320];
} px_persist_stats_t;

/* Called on the loop thread with the result of a read: status 0 and events
 * (borrowed; the store's event documents, newest first), or a negative code
 * and NULL. */
typedef void (*px_persist_read_cb)(void *ud, int status, json_t *events);

/* Creates the writer on loop over store (consumed: closed by
 * px_persist_free). Returns 0 or PX_ENOMEM. */
int px_persist_new(px_persist_t **out, uv_loop_t *loop, px_store_t *store,
                   uint32_t max_backlog);

/* Queues an event document (consumed) with the users whose inbox links it
 * (consumed JSON array of strings, or NULL). Returns 0 or PX_ELIMIT. */
int px_persist_event(px_persist_t *p, json_t *event, json_t *users);

/* Queues adding (put = 1) or deleting a subscription. Returns 0 or
 * PX_ELIMIT / PX_ENOMEM. */
int px_persist_subscription(px_persist_t *p, int put, const char *app_id, const char *user_id,
                            const char *event);

/* Queues storing an app document (consumed). Returns 0, PX_ELIMIT or
 * PX_ENOMEM. */
int px_persist_app(px_persist_t *p, json_t *app);

/* Queues retention for every channel of app_id: keep the newest keep
 * events of each channel (PX_STORE_KEEP_ALL for all) no older than max_age
 * seconds (INFINITY for any age) at time now. Returns 0, PX_ELIMIT or
 * PX_ENOMEM. */
int px_persist_prune(px_persist_t *p, const char *app_id, size_t keep, double max_age,
                     double now);

/* Reads the history of channel (user_id NULL; every channel when channel
 * is NULL too) or the inbox of user_id, in app_id; cb runs later on the loop thread (never during this call).
 * Returns 0 or PX_ENOMEM. */
int px_persist_read(px_persist_t *p, const char *app_id, const char *channel,
                    const char *user_id, size_t skip, size_t count, px_persist_read_cb cb,
                    void *ud);

void px_persist_stats(const px_persist_t *p, px_persist_stats_t *out);

/* 1 when nothing is queued or running. */
int px_persist_idle(const px_persist_t *p);

/* 1 while a job runs on the threadpool (the store must not be closed). */
int px_persist_busy(const px_persist_t *p);

/* Stops retrying; pending reads are answered with PX_ESTOPPED. Call before
 * px_persist_free(), then wait until px_persist_busy() is 0. */
void px_persist_stop(px_persist_t *p);

/* Closes the store and frees p. p must not be busy. Blocks for the store's
 * close (call only when the loop is shutting down). */
void px_persist_free(px_persist_t *p);

#endif

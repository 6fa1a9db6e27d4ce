/* px_persist.c - write-behind persistence and history reads on the
 * threadpool. */
#include "px_persist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_err.h"

typedef enum { OP_EVENT, OP_SUB_PUT, OP_SUB_DEL, OP_APP, OP_PRUNE, OP_READ } op_kind_t;

typedef struct op_s {
    struct op_s *next;
    op_kind_t kind;
    json_t *doc;             /* OP_EVENT: event; OP_APP: app */
    json_t *users;           /* OP_EVENT: users to link, or NULL */
    char *app_id, *a, *b;    /* subscription: user, event; read: channel, user */
    size_t skip, count;          /* read; prune: count = events kept */
    double max_age, now;         /* prune */
    px_persist_read_cb cb;
    void *ud;
    int status;              /* read result */
    json_t *result;          /* read result */
} op_t;

#define BATCH_MAX 256

struct px_persist_s {
    uv_loop_t *loop;
    px_store_t *store;
    uv_work_t work;
    uv_timer_t retry;
    op_t *head, *tail;        /* queued, in order */
    op_t *job[BATCH_MAX];     /* the running job's operations */
    size_t njob;
    int job_write;            /* the job is a write batch */
    int job_status;
    char job_error[320];
    int running;              /* a job is on the threadpool */
    int waiting;              /* writes wait for the retry timer */
    int stopped;
    uint64_t delay_ms;
    uint64_t queued;
    uint32_t max_backlog;
    px_persist_stats_t stats;
};

static void kick(px_persist_t *p);

static void op_free(op_t *o)
{
    json_decref(o->doc);
    json_decref(o->users);
    json_decref(o->result);
    free(o->app_id);
    free(o->a);
    free(o->b);
    free(o);
}

static void push(px_persist_t *p, op_t *o)
{
    o->next = NULL;
    if (p->tail)
        p->tail->next = o;
    else
        p->head = o;
    p->tail = o;
    if (o->kind != OP_READ)
        p->queued++;
    kick(p);
}

/* Takes o out of the queue (it may be anywhere in it). */
static void unlink_op(px_persist_t *p, op_t *o)
{
    op_t **pp = &p->head;
    op_t *prev = NULL;
    while (*pp != NULL && *pp != o) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == NULL)
        return;
    *pp = o->next;
    if (p->tail == o)
        p->tail = prev;
}

static void work_cb(uv_work_t *w)
{
    px_persist_t *p = w->data;
    p->job_status = 0;
    p->job_error[0] = '\0';
    if (!p->job_write) {
        op_t *o = p->job[0];
        o->status = o->b != NULL
                        ? px_store_user_events(p->store, o->app_id, o->b, o->skip, o->count,
                                               &o->result)
                        : px_store_latest_events(p->store, o->app_id, o->a, o->skip, o->count,
                                                 &o->result);
        if (o->status < 0)
            snprintf(p->job_error, sizeof p->job_error, "%.300s", p->store->errmsg);
        return;
    }
    /* Writes, in queue order: consecutive events go as one batch. */
    json_t *events = json_array();
    int rc = events ? 0 : PX_ENOMEM;
    for (size_t i = 0; i < p->njob && rc >= 0; i++) {
        op_t *o = p->job[i];
        if (o->kind == OP_EVENT) {
            json_array_append(events, o->doc);
            int last = i + 1 == p->njob || p->job[i + 1]->kind != OP_EVENT;
            if (!last)
                continue;
            rc = px_store_append_events(p->store, events);
            for (size_t j = i + 1 - json_array_size(events); rc >= 0 && j <= i; j++) {
                op_t *e = p->job[j];
                size_t total = json_array_size(e->users);
                for (size_t start = 0; rc >= 0 && start < total; start += 256) {
                    const char *ids[256];
                    size_t n = total - start < 256 ? total - start : 256;
                    for (size_t k = 0; k < n; k++)
                        ids[k] = json_string_value(json_array_get(e->users, start + k));
                    rc = px_store_add_associations(
                        p->store, json_string_value(json_object_get(e->doc, "app_id")),
                        json_string_value(json_object_get(e->doc, "mid")), ids, n);
                }
            }
            json_array_clear(events);
        } else if (o->kind == OP_SUB_PUT) {
            rc = px_store_put_subscription(p->store, o->app_id, o->a, o->b);
        } else if (o->kind == OP_SUB_DEL) {
            rc = px_store_delete_subscription(p->store, o->app_id, o->a, o->b);
        } else if (o->kind == OP_APP) {
            rc = px_store_put_app(p->store, o->doc);
        } else if (o->kind == OP_PRUNE) {
            rc = px_store_prune_events(p->store, o->app_id, NULL, o->count, o->max_age, o->now);
        }
    }
    json_decref(events);
    if (rc < 0) {
        p->job_status = rc;
        snprintf(p->job_error, sizeof p->job_error, "%.40s (%.250s)", px_strerror(rc),
                 p->store->errmsg);
    }
}

static void on_retry(uv_timer_t *t)
{
    px_persist_t *p = t->data;
    p->waiting = 0;
    kick(p);
}

static void after_work_cb(uv_work_t *w, int status)
{
    px_persist_t *p = w->data;
    p->running = 0;
    if (status == UV_ECANCELED)
        p->job_status = PX_ESTOPPED;
    if (!p->job_write) {
        op_t *o = p->job[0];
        unlink_op(p, o);
        if (o->status < 0 || status < 0) {
            p->stats.failures++;
            if (o->status >= 0)
                o->status = PX_ESTOPPED;
        }
        o->cb(o->ud, o->status, o->status < 0 ? NULL : o->result);
        op_free(o);
    } else if (p->job_status == 0) {
        for (size_t i = 0; i < p->njob; i++) {
            op_t *o = p->job[i];
            unlink_op(p, o);
            if (o->kind == OP_EVENT)
                p->stats.written++;
            p->queued--;
            op_free(o);
        }
        p->stats.outage = 0;
        p->delay_ms = 0;
    } else {
        /* Keep the batch at the head; try again later. appending is
         * idempotent (by mid), so a partly stored batch is safe to redo. */
        p->stats.failures++;
        p->stats.outage = 1;
        memcpy(p->stats.last_error, p->job_error, sizeof p->stats.last_error);
        p->delay_ms = p->delay_ms ? p->delay_ms * 2 : 250;
        if (p->delay_ms > 8000)
            p->delay_ms = 8000;
        if (!p->stopped) {
            p->waiting = 1;
            uv_timer_start(&p->retry, on_retry, p->delay_ms, 0);
        }
    }
    p->njob = 0;
    kick(p);
}

/* Starts the next job when none runs. */
static void kick(px_persist_t *p)
{
    if (p->running || p->head == NULL)
        return;
    p->njob = 0;
    if (p->waiting || p->stopped) {
        /* Writes wait; reads go (and fail fast or succeed). */
        for (op_t *o = p->head; o != NULL; o = o->next)
            if (o->kind == OP_READ) {
                if (p->stopped) {
                    unlink_op(p, o);
                    o->cb(o->ud, PX_ESTOPPED, NULL);
                    op_free(o);
                    kick(p);
                    return;
                }
                p->job[p->njob++] = o;
                break;
            }
        if (p->njob == 0)
            return;
        p->job_write = 0;
    } else if (p->head->kind == OP_READ) {
        p->job[p->njob++] = p->head;
        p->job_write = 0;
    } else {
        for (op_t *o = p->head; o != NULL && o->kind != OP_READ && p->njob < BATCH_MAX;
             o = o->next)
            p->job[p->njob++] = o;
        p->job_write = 1;
    }
    p->work.data = p;
    if (uv_queue_work(p->loop, &p->work, work_cb, after_work_cb) == 0)
        p->running = 1;
}

int px_persist_new(px_persist_t **out, uv_loop_t *loop, px_store_t *store,
                   uint32_t max_backlog)
{
    px_persist_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return PX_ENOMEM;
    p->loop = loop;
    p->store = store;
    p->max_backlog = max_backlog;
    uv_timer_init(loop, &p->retry);
    p->retry.data = p;
    *out = p;
    return 0;
}

static op_t *new_op(px_persist_t *p, op_kind_t kind)
{
    if (kind != OP_READ && p->queued >= p->max_backlog)
        return NULL;
    op_t *o = calloc(1, sizeof(*o));
    if (o != NULL)
        o->kind = kind;
    return o;
}

int px_persist_event(px_persist_t *p, json_t *event, json_t *users)
{
    op_t *o = new_op(p, OP_EVENT);
    if (o == NULL) {
        json_decref(event);
        json_decref(users);
        return PX_ELIMIT;
    }
    o->doc = event;
    o->users = users;
    push(p, o);
    return 0;
}

int px_persist_subscription(px_persist_t *p, int put, const char *app_id, const char *user_id,
                            const char *event)
{
    op_t *o = new_op(p, put ? OP_SUB_PUT : OP_SUB_DEL);
    if (o == NULL)
        return PX_ELIMIT;
    o->app_id = strdup(app_id);
    o->a = strdup(user_id);
    o->b = strdup(event);
    if (!o->app_id || !o->a || !o->b) {
        op_free(o);
        return PX_ENOMEM;
    }
    push(p, o);
    return 0;
}

int px_persist_app(px_persist_t *p, json_t *app)
{
    op_t *o = new_op(p, OP_APP);
    if (o == NULL) {
        json_decref(app);
        return PX_ELIMIT;
    }
    o->doc = app;
    push(p, o);
    return 0;
}

int px_persist_prune(px_persist_t *p, const char *app_id, size_t keep, double max_age,
                     double now)
{
    op_t *o = new_op(p, OP_PRUNE);
    if (o == NULL)
        return PX_ELIMIT;
    if ((o->app_id = strdup(app_id)) == NULL) {
        op_free(o);
        return PX_ENOMEM;
    }
    o->count = keep;
    o->max_age = max_age;
    o->now = now;
    push(p, o);
    return 0;
}

int px_persist_read(px_persist_t *p, const char *app_id, const char *channel,
                    const char *user_id, size_t skip, size_t count, px_persist_read_cb cb,
                    void *ud)
{
    op_t *o = new_op(p, OP_READ);
    if (o == NULL)
        return PX_ENOMEM;
    o->app_id = strdup(app_id);
    o->a = channel ? strdup(channel) : NULL;
    o->b = user_id ? strdup(user_id) : NULL;
    o->skip = skip;
    o->count = count;
    o->cb = cb;
    o->ud = ud;
    if (!o->app_id || (channel && !o->a) || (user_id && !o->b)) {
        op_free(o);
        return PX_ENOMEM;
    }
    push(p, o);
    return 0;
}

void px_persist_stats(const px_persist_t *p, px_persist_stats_t *out)
{
    *out = p->stats;
    out->queued = p->queued;
}

int px_persist_idle(const px_persist_t *p)
{
    return !p->running && p->head == NULL;
}

int px_persist_busy(const px_persist_t *p)
{
    return p->running;
}

void px_persist_stop(px_persist_t *p)
{
    p->stopped = 1;
    uv_timer_stop(&p->retry);
    uv_close((uv_handle_t *)&p->retry, NULL);
    kick(p);
}

void px_persist_free(px_persist_t *p)
{
    if (p == NULL)
        return;
    while (p->head != NULL) {
        op_t *o = p->head;
        p->head = o->next;
        if (o->kind == OP_READ)
            o->cb(o->ud, PX_ESTOPPED, NULL);
        op_free(o);
    }
    px_store_close(p->store);
    free(p);
}

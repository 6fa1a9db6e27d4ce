/* px_server.c - the libuv loop, connections (HTTP -> WebSocket), the output
 * queues and the cross-thread command queue.
 *
 * A connection starts in HTTP state with an llhttp reader (px_http). An
 * upgrade to /app/<key> switches it to WebSocket state: wslay parses the
 * client's frames and produces control frames (pong, close); data frames the
 * server sends are pre-encoded, refcounted px_rbuf_t blocks shared by all
 * recipients (px_router/px_hub). Each connection has one output queue of
 * rbuf references; connections with pending output are put on a dirty list
 * that the prepare and check phases flush with one writev (uv_try_write,
 * then uv_write for a remainder) per connection per loop iteration.
 *
 * Closing is deferred wherever the hub may be iterating: a close requested
 * from a send (output cap) or by the router only queues a close frame and
 * puts the connection on the reap list; the reap step detaches it from the
 * hub in the prepare/check phase. */
#include "px_server.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "px_api.h"
#include "px_auth.h"
#include "px_crypto.h"
#include "px_err.h"
#include "px_http.h"
#include "px_proto.h"
#include "px_router.h"
#include "px_classic.h"
#include "px_classic_api.h"
#include "px_persist.h"
#include "px_store.h"
#include "px_tls.h"
#include "px_ws.h"

enum { CONN_HTTP, CONN_WS, CONN_WS_CLOSING, CONN_CLOSED };

typedef struct {
    px_rbuf_t *rb;
    uint32_t off;   /* bytes of rb already written */
    uint8_t wire;   /* TLS: already encrypted (plaintext entries are sealed
                     * into one encrypted entry before each write) */
} out_t;

typedef struct px_conn_s px_conn_t;

/* Per client address: open connections and the connection-rate window. */
typedef struct {
    uint8_t key[17];      /* address family byte + 16 address bytes */
    uint32_t conns;
    uint32_t in_window;   /* connections accepted in the current second */
    uint64_t window;      /* ms the window started */
} peer_t;

struct px_conn_s {
    uv_tcp_t tcp;
    px_server_t *srv;
    px_conn_t *prev, *next;       /* every open connection */
    px_conn_t *dirty_next;        /* pending output */
    px_conn_t *reap_next;         /* waiting to leave the hub */
    uint8_t state;
    uint8_t dirty, reaping, attached, writing, close_after_write, free_pending;
    uint8_t upgraded;             /* set by the upgrade handler */
    uint8_t failed;               /* WebSocket failed: close TCP once drained */
    uint8_t echo;                 /* an echo_path connection (tests only) */
    uint8_t classic;              /* the original pushi's dialect */
    uint8_t lingering;            /* answered and shut down; input discarded */
    uint8_t deferred;             /* an HTTP answer waits for the store */
    uint8_t deferred_keep_alive;
    px_buf_t pending;             /* input read while an answer was deferred */
    uint16_t upgrade_close;       /* Pusher close code to send after upgrade */
    const char *upgrade_reason;
    px_app_t *upgrade_app;
    px_http_t *http;              /* HTTP state only */
    px_ws_t ws;                   /* WebSocket states only */
    px_tls_t *tls;                /* TLS session, or NULL on a plain listener */
    peer_t *peer;                 /* this client's address record */
    px_client_t client;           /* hub identity (WebSocket) */
    out_t *out;                   /* output queue */
    uint32_t nout, capout, inflight;
    uint64_t out_bytes;
    uv_write_t wreq;
    uint64_t deadline;            /* ms: request / keep-alive / close deadline */
    uint64_t last_rx;             /* ms of the last byte received */
    uint64_t ping_at;             /* ms a pusher:ping was sent, or 0 */
};

typedef enum { CMD_STOP, CMD_TRIGGER, CMD_STATS, CMD_APP } cmd_type_t;

typedef struct stats_sync_s {
    uv_mutex_t mu;
    uv_cond_t cv;
    int done;
    px_stats_t stats;
} stats_sync_t;

typedef struct px_cmd_s {
    struct px_cmd_s *next;
    cmd_type_t type;
    stats_sync_t *sync;  /* CMD_STATS */
    json_t *app;         /* CMD_APP, owned */
    /* CMD_TRIGGER: strings copied into the block after the struct */
    char *app_id, *event, *data, *socket_id;
    size_t data_len, nchannels;
    px_str_t *channels;
} px_cmd_t;

struct px_server_s {
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t wakeup;
    uv_timer_t tick;
    uv_prepare_t prepare;
    uv_check_t check;
    px_config_t cfg;
    px_hub_t hub;
    px_api_t api;
    px_conn_t *conns;          /* every open connection */
    px_conn_t *dirty_head, *dirty_tail;
    px_conn_t *reap_head, *reap_tail;
    uint64_t nconns;
    int listening, running, stopping, loop_ready;
    uv_mutex_t cmd_mu;         /* guards cmd_head/tail and closed */
    px_cmd_t *cmd_head, *cmd_tail;
    int closed;                /* no more commands accepted */
    px_tls_ctx_t *tls;         /* NULL: plain listener */
    px_map_t peers;            /* address key -> peer_t */
    px_map_t by_sid;           /* socket id -> attached px_conn_t */
    px_persist_t *persist;     /* NULL without a store */
    int persist_stopped;
    int conns_cut;             /* stop: the remaining connections were cut */
    uint64_t ticks;            /* 1-second ticks so far */
    uv_timer_t stop_timer;     /* polls the drain during a graceful stop */
    uint64_t stop_deadline;
    int finished;              /* every handle is closing */
    px_buf_t seal;             /* TLS: scratch for plaintext to encrypt */
    char rbuf[65536];          /* shared read buffer: reads are handled at once */
    char plain[16384];         /* TLS: decrypted input, handled at once */
};

static const px_client_ops_t conn_ops;

/* ---------------------------------------------------------------- config */

void px_config_defaults(px_config_t *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->host, sizeof c->host, "127.0.0.1");
    c->port = 0;
    c->activity_timeout = 120;
    c->pong_timeout = 30;
    c->max_message_bytes = 65536;
    c->max_output_bytes = 1u << 20;
    c->max_head_bytes = 8192;
    c->max_body_bytes = 262144;
    c->request_timeout_ms = 10000;
    c->keepalive_timeout_ms = 60000;
    c->close_timeout_ms = 2000;
    c->max_connections = 0;
    c->max_channels_per_connection = 1000;
    c->max_connections_per_ip = 0;
    c->max_connection_rate_per_ip = 0;
    c->shutdown_timeout_ms = 5000;
    c->persist_backlog = 100000;
    c->retention_interval = 60;
}

int px_config_from_json(px_config_t *c, const json_t *obj, const char **why)
{
    static const struct {
        const char *key;
        size_t off;
        uint32_t min, max;
    } nums[] = {
        {"activity_timeout", offsetof(px_config_t, activity_timeout), 1, 86400},
        {"pong_timeout", offsetof(px_config_t, pong_timeout), 1, 3600},
        {"max_message_bytes", offsetof(px_config_t, max_message_bytes), 128, 1u << 30},
        {"max_output_bytes", offsetof(px_config_t, max_output_bytes), 4096, 1u << 30},
        {"max_head_bytes", offsetof(px_config_t, max_head_bytes), 1024, 1u << 20},
        {"max_body_bytes", offsetof(px_config_t, max_body_bytes), 1024, 1u << 30},
        {"request_timeout_ms", offsetof(px_config_t, request_timeout_ms), 10, 3600000},
        {"keepalive_timeout_ms", offsetof(px_config_t, keepalive_timeout_ms), 10, 3600000},
        {"close_timeout_ms", offsetof(px_config_t, close_timeout_ms), 10, 600000},
        {"max_connections", offsetof(px_config_t, max_connections), 0, 10000000},
        {"max_channels_per_connection", offsetof(px_config_t, max_channels_per_connection), 1,
         1000000},
        {"max_connections_per_ip", offsetof(px_config_t, max_connections_per_ip), 0, 10000000},
        {"max_connection_rate_per_ip", offsetof(px_config_t, max_connection_rate_per_ip), 0,
         10000000},
        {"shutdown_timeout_ms", offsetof(px_config_t, shutdown_timeout_ms), 0, 600000},
        {"persist_backlog", offsetof(px_config_t, persist_backlog), 1, 100000000},
        {"retention_interval", offsetof(px_config_t, retention_interval), 1, 86400},
    };
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        if (strcmp(k, "host") == 0) {
            if (!json_is_string(v) || json_string_length(v) >= sizeof c->host) {
                *why = "host must be an address string";
                return PX_EINVAL;
            }
            snprintf(c->host, sizeof c->host, "%s", json_string_value(v));
            continue;
        }
        if (strcmp(k, "tls_cert") == 0 || strcmp(k, "tls_key") == 0) {
            char *dst = k[4] == 'c' ? c->tls_cert : c->tls_key;
            if (!json_is_string(v) || json_string_length(v) >= sizeof c->tls_cert) {
                *why = "tls_cert and tls_key must be file paths";
                return PX_EINVAL;
            }
            snprintf(dst, sizeof c->tls_cert, "%s", json_string_value(v));
            continue;
        }
        if (strcmp(k, "store") == 0 || strcmp(k, "admin_token") == 0) {
            int store = k[0] == 's';
            size_t cap = store ? sizeof c->store : sizeof c->admin_token;
            if (!json_is_string(v) || json_string_length(v) >= cap) {
                *why = store ? "store must be a URL" : "admin_token must be a short string";
                return PX_EINVAL;
            }
            snprintf(store ? c->store : c->admin_token, cap, "%s", json_string_value(v));
            continue;
        }
        if (strcmp(k, "echo_path") == 0) {
            if (!json_is_string(v) || json_string_length(v) >= sizeof c->echo_path ||
                (json_string_length(v) > 0 && json_string_value(v)[0] != '/')) {
                *why = "echo_path must be empty or a path starting with '/'";
                return PX_EINVAL;
            }
            snprintf(c->echo_path, sizeof c->echo_path, "%s", json_string_value(v));
            continue;
        }
        if (strcmp(k, "port") == 0) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > 65535) {
                *why = "port must be an integer from 0 to 65535";
                return PX_EINVAL;
            }
            c->port = (int)json_integer_value(v);
            continue;
        }
        size_t i;
        for (i = 0; i < PX_ARRAY_SIZE(nums); i++)
            if (strcmp(k, nums[i].key) == 0)
                break;
        if (i == PX_ARRAY_SIZE(nums)) {
            *why = "unknown engine option";
            return PX_EINVAL;
        }
        if (!json_is_integer(v) || json_integer_value(v) < nums[i].min ||
            json_integer_value(v) > nums[i].max) {
            *why = "engine option out of range";
            return PX_EINVAL;
        }
        *(uint32_t *)((char *)c + nums[i].off) = (uint32_t)json_integer_value(v);
    }
    return 0;
}

/* ---------------------------------------------------------------- queues */

static void mark_dirty(px_conn_t *c)
{
    if (c->dirty || c->state == CONN_CLOSED)
        return;
    c->dirty = 1;
    c->dirty_next = NULL;
    px_server_t *s = c->srv;
    if (s->dirty_tail)
        s->dirty_tail->dirty_next = c;
    else
        s->dirty_head = c;
    s->dirty_tail = c;
}

static int push(px_conn_t *c, px_rbuf_t *rb)
{
    if (c->nout == c->capout) {
        uint32_t cap = c->capout ? c->capout * 2 : 4;
        out_t *o = realloc(c->out, cap * sizeof(*o));
        if (o == NULL)
            return PX_ENOMEM;
        c->out = o;
        c->capout = cap;
    }
    c->out[c->nout].rb = px_rbuf_ref(rb);
    c->out[c->nout].off = 0;
    c->out[c->nout].wire = 0;
    c->nout++;
    c->out_bytes += rb->len;
    mark_dirty(c);
    return 0;
}

/* Pushes n bytes as a new owned block. */
static int push_copy(px_conn_t *c, const void *p, size_t n)
{
    px_rbuf_t *rb = px_rbuf_new(n);
    if (rb == NULL)
        return PX_ENOMEM;
    memcpy(rb->data, p, n);
    int rc = push(c, rb);
    px_rbuf_unref(rb);
    return rc;
}

/* Removes written bytes from the head of the queue. */
static void consume(px_conn_t *c, size_t n)
{
    uint32_t i = 0;
    c->out_bytes -= n;
    while (i < c->nout && n > 0) {
        size_t rem = c->out[i].rb->len - c->out[i].off;
        if (n < rem) {
            c->out[i].off += (uint32_t)n;
            break;
        }
        n -= rem;
        px_rbuf_unref(c->out[i].rb);
        i++;
    }
    if (i > 0) {
        memmove(c->out, c->out + i, (c->nout - i) * sizeof(*c->out));
        c->nout -= i;
    }
}

static void free_queue(px_conn_t *c)
{
    for (uint32_t i = 0; i < c->nout; i++)
        px_rbuf_unref(c->out[i].rb);
    free(c->out);
    c->out = NULL;
    c->nout = c->capout = c->inflight = 0;
    c->out_bytes = 0;
}

/* ---------------------------------------------------------------- closing */

static void on_close(uv_handle_t *h)
{
    px_conn_t *c = h->data;
    px_server_t *s = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    if (c->peer != NULL)
        c->peer->conns--;
    free_queue(c);
    if (c->dirty || c->reaping || c->deferred) {
        c->free_pending = 1; /* the list walker (or the store answer) frees it */
        return;
    }
    px_buf_free(&c->pending);
    free(c);
}

static void detach(px_conn_t *c)
{
    if (!c->attached)
        return;
    c->attached = 0;
    px_server_t *s = c->srv;
    px_map_del(&s->by_sid, (px_str_t){c->client.socket_id, c->client.sid_len});
    px_router_closed(&s->hub, &c->client);
    c->client.app->connections--;
    s->hub.stats.connections--;
}

/* Closes the socket now; the memory goes in on_close. Idempotent. */
static void close_now(px_conn_t *c)
{
    if (c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSED;
    detach(c);
    if (c->http) {
        px_http_free(c->http);
        free(c->http);
        c->http = NULL;
    }
    px_ws_free(&c->ws);
    px_tls_free(c->tls);
    c->tls = NULL;
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void schedule_reap(px_conn_t *c)
{
    if (c->reaping || !c->attached)
        return;
    c->reaping = 1;
    c->reap_next = NULL;
    px_server_t *s = c->srv;
    if (s->reap_tail)
        s->reap_tail->reap_next = c;
    else
        s->reap_head = c;
    s->reap_tail = c;
}

/* Starts the WebSocket closing handshake with code and reason. Deferred with
 * respect to the hub: safe while the hub iterates. */
static void ws_close(px_conn_t *c, uint16_t code, const char *reason)
{
    if (c->state != CONN_WS)
        return;
    c->state = CONN_WS_CLOSING;
    c->deadline = uv_now(&c->srv->loop) + c->srv->cfg.close_timeout_ms;
    schedule_reap(c);
    if (px_ws_close(&c->ws, code, reason) < 0)
        c->failed = 1; /* no close handshake possible: end at the drain */
}

/* Drops output that has not started to go out, keeping a partly written
 * frame so the stream stays well-formed. */
static void drop_unsent(px_conn_t *c)
{
    uint32_t keep = c->writing ? c->inflight : (c->nout && c->out[0].off ? 1 : 0);
    for (uint32_t i = keep; i < c->nout; i++) {
        c->out_bytes -= c->out[i].rb->len - c->out[i].off;
        px_rbuf_unref(c->out[i].rb);
    }
    if (c->nout > keep)
        c->nout = keep;
}

/* ---------------------------------------------------------------- client ops */

static int conn_send(px_client_t *cl, px_rbuf_t *frame)
{
    px_conn_t *c = px_container_of(cl, px_conn_t, client);
    if (c->state != CONN_WS)
        return -1;
    if (c->out_bytes + frame->len > c->srv->cfg.max_output_bytes) {
        drop_unsent(c);
        ws_close(c, PX_CLOSE_OVER_CAPACITY, "Over capacity: client is not reading");
        return -1;
    }
    if (push(c, frame) < 0) {
        ws_close(c, 1011, "out of memory");
        return -1;
    }
    return 0;
}

static void conn_close_op(px_client_t *cl, uint16_t code, const char *reason)
{
    ws_close(px_container_of(cl, px_conn_t, client), code, reason);
}

static const px_client_ops_t conn_ops = {conn_send, conn_close_op};

/* ---------------------------------------------------------------- writing */

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

static void on_shutdown(uv_shutdown_t *req, int status)
{
    px_conn_t *c = req->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED)
        close_now(c);
}

/* Lingering close: after the last answer, send FIN and read (and drop)
 * whatever the client still sends until it closes or close_timeout_ms
 * passes. Closing at once with unread input would make the kernel send RST,
 * which can destroy the answer before the client reads it. */
static void linger(px_conn_t *c)
{
    if (c->lingering)
        return;
    c->lingering = 1;
    c->deadline = uv_now(&c->srv->loop) + c->srv->cfg.close_timeout_ms;
    uv_shutdown_t *req = malloc(sizeof(*req));
    if (req == NULL) {
        close_now(c);
        return;
    }
    req->data = c;
    if (uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(req);
        close_now(c);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read); /* may be reading already */
}

static void after_drain(px_conn_t *c)
{
    if (c->state == CONN_HTTP && c->close_after_write) {
        if (c->tls != NULL)
            close_now(c); /* no TLS close_notify dance: just close */
        else
            linger(c);
    } else if (c->state == CONN_WS_CLOSING && (c->failed || px_ws_close_done(&c->ws))) {
        close_now(c);
    }
}

static void flush(px_conn_t *c);

static void on_write(uv_write_t *req, int status)
{
    px_conn_t *c = req->data;
    c->writing = 0;
    if (status < 0) {
        if (status != UV_ECANCELED)
            close_now(c);
        return;
    }
    size_t n = 0;
    for (uint32_t i = 0; i < c->inflight; i++)
        n += c->out[i].rb->len - c->out[i].off;
    c->inflight = 0;
    consume(c, n);
    if (c->nout)
        flush(c);
    else
        after_drain(c);
}

/* TLS: encrypts every plaintext entry at the tail of the queue (in order,
 * coalesced into as few records as possible) and appends whatever records
 * the session has for the wire (handshake, tickets, alerts) as one
 * encrypted entry. Returns 0, or -1 when the session failed. */
static int tls_seal(px_conn_t *c)
{
    px_server_t *s = c->srv;
    uint32_t first = c->nout;
    while (first > 0 && !c->out[first - 1].wire)
        first--;
    s->seal.len = 0;
    for (uint32_t i = first; i < c->nout; i++) {
        px_rbuf_t *rb = c->out[i].rb;
        if (px_buf_append(&s->seal, rb->data + c->out[i].off, rb->len - c->out[i].off) < 0)
            return -1;
        c->out_bytes -= rb->len - c->out[i].off;
        px_rbuf_unref(rb);
    }
    c->nout = first;
    if (s->seal.len > 0 && px_tls_write(c->tls, s->seal.data, s->seal.len) < 0)
        return -1;
    size_t pending = px_tls_pending(c->tls);
    if (pending == 0)
        return 0;
    s->seal.len = 0;
    if (px_tls_take(c->tls, &s->seal) <= 0)
        return -1;
    if (push_copy(c, s->seal.data, s->seal.len) < 0)
        return -1;
    c->out[c->nout - 1].wire = 1;
    return 0;
}

#define MAX_IOV 64

static void flush(px_conn_t *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->tls != NULL && tls_seal(c) < 0) {
        close_now(c);
        return;
    }
    if (c->writing)
        return;
    if (c->nout == 0) {
        after_drain(c);
        return;
    }
    uv_buf_t iov[MAX_IOV];
    uint32_t k = c->nout < MAX_IOV ? c->nout : MAX_IOV;
    for (uint32_t i = 0; i < k; i++)
        iov[i] = uv_buf_init(c->out[i].rb->data + c->out[i].off,
                             c->out[i].rb->len - c->out[i].off);
    int r = uv_try_write((uv_stream_t *)&c->tcp, iov, k);
    if (r == UV_EAGAIN || r == UV_ENOSYS)
        r = 0;
    if (r < 0) {
        close_now(c);
        return;
    }
    consume(c, (size_t)r);
    if (c->nout == 0) {
        after_drain(c);
        return;
    }
    k = c->nout < MAX_IOV ? c->nout : MAX_IOV;
    for (uint32_t i = 0; i < k; i++)
        iov[i] = uv_buf_init(c->out[i].rb->data + c->out[i].off,
                             c->out[i].rb->len - c->out[i].off);
    c->wreq.data = c;
    if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, iov, k, on_write) < 0) {
        close_now(c);
        return;
    }
    c->writing = 1;
    c->inflight = k;
}

/* Reaps closing connections, then flushes every dirty one. Runs in the
 * prepare and check phases: once per loop iteration after I/O, and again
 * after timers. */
static void drain_lists(px_server_t *s)
{
    for (;;) {
        px_conn_t *c = s->reap_head;
        if (c != NULL) {
            s->reap_head = c->reap_next;
            if (s->reap_head == NULL)
                s->reap_tail = NULL;
            c->reaping = 0;
            if (c->free_pending && !c->dirty && !c->deferred) {
                px_buf_free(&c->pending);
                free(c);
                continue;
            }
            detach(c);
            continue;
        }
        c = s->dirty_head;
        if (c == NULL)
            break;
        s->dirty_head = c->dirty_next;
        if (s->dirty_head == NULL)
            s->dirty_tail = NULL;
        c->dirty = 0;
        if (c->free_pending) {
            if (!c->reaping && !c->deferred) {
                px_buf_free(&c->pending);
                free(c);
            }
            continue;
        }
        flush(c);
    }
}

static void on_prepare(uv_prepare_t *h)
{
    drain_lists(h->data);
}

static void on_check(uv_check_t *h)
{
    drain_lists(h->data);
}

/* ---------------------------------------------------------------- HTTP */

static const char *status_text(int st)
{
    switch (st) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Internal Server Error";
    }
}

static void respond(px_conn_t *c, int status, const char *extra, const char *body, size_t n,
                    int keep_alive, int head_only)
{
    if (c->srv->stopping)
        keep_alive = 0;
    px_buf_t b = PX_BUF_INIT;
    int rc = px_buf_printf(&b,
                           "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                           "Content-Length: %zu\r\n%s%s\r\n",
                           status, status_text(status), n, keep_alive ? "" : "Connection: close\r\n",
                           extra ? extra : "");
    if (!head_only)
        rc |= px_buf_append(&b, body, n);
    if (rc == 0)
        rc = push_copy(c, b.data, b.len);
    px_buf_free(&b);
    if (rc < 0 || !keep_alive)
        c->close_after_write = 1;
}

static void respond_error(px_conn_t *c, int status, const char *msg, const char *extra)
{
    px_buf_t b = PX_BUF_INIT;
    px_buf_puts(&b, "{\"error\":\"");
    px_buf_json_escape(&b, msg, strlen(msg));
    px_buf_puts(&b, "\"}");
    respond(c, status, extra, b.data ? b.data : "{}", b.data ? b.len : 2, 0, 0);
    px_buf_free(&b);
}

/* Validates a WebSocket upgrade request and queues the 101 answer, or an
 * HTTP error. Sets c->upgraded on success. */
static void handle_upgrade(px_conn_t *c, const px_http_req_t *req)
{
    px_server_t *s = c->srv;
    if (!px_str_eq(req->method, PX_STR("GET")) || req->http_minor < 1) {
        respond_error(c, 400, "WebSocket upgrade needs GET and HTTP/1.1", NULL);
        return;
    }
    px_str_t up = px_http_header(req, "Upgrade");
    px_str_t conn = px_http_header(req, "Connection");
    px_str_t ver = px_http_header(req, "Sec-WebSocket-Version");
    px_str_t key = px_http_header(req, "Sec-WebSocket-Key");
    if (!px_http_has_token(up, "websocket") || !px_http_has_token(conn, "upgrade")) {
        respond_error(c, 400, "Upgrade: websocket and Connection: Upgrade are required", NULL);
        return;
    }
    if (!px_str_eq(ver, PX_STR("13"))) {
        respond_error(c, 426, "Sec-WebSocket-Version must be 13",
                      "Sec-WebSocket-Version: 13\r\n");
        return;
    }
    /* The key is base64 of 16 bytes: 24 characters ending in "==". */
    if (key.n != 24 || key.p[22] != '=' || key.p[23] != '=') {
        respond_error(c, 400, "Sec-WebSocket-Key must be base64 of 16 bytes", NULL);
        return;
    }
    for (size_t i = 0; i < 22; i++) {
        char ch = key.p[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              (ch >= '0' && ch <= '9') || ch == '+' || ch == '/')) {
            respond_error(c, 400, "Sec-WebSocket-Key must be base64 of 16 bytes", NULL);
            return;
        }
    }
    px_str_t t = req->target;
    const char *q = memchr(t.p, '?', t.n);
    px_str_t path = {t.p, q ? (size_t)(q - t.p) : t.n};
    /* The original pushi's path: the key is the last path segment and has
     * 64 characters (its clients use ws://host/<key>). */
    const char *slash = path.n ? memrchr(path.p, '/', path.n) : NULL;
    px_str_t last = slash ? (px_str_t){slash + 1, path.n - (size_t)(slash + 1 - path.p)}
                          : (px_str_t){NULL, 0};
    c->classic = 0;
    if (s->cfg.echo_path[0] && px_str_eq(path, px_cstr(s->cfg.echo_path))) {
        c->echo = 1;
    } else if (!px_str_prefix(path, "/app/") && last.n == 64) {
        c->classic = 1;
    } else if (!px_str_prefix(path, "/app/") || path.n == 5) {
        respond_error(c, 404, "WebSocket endpoint is /app/<key>?protocol=7", NULL);
        return;
    }
    px_str_t appkey = c->classic ? last : (px_str_t){path.p + 5, path.n > 5 ? path.n - 5 : 0};
    c->upgrade_app = c->echo ? NULL : px_apps_by_key(&s->hub.apps, appkey);
    c->upgrade_close = 0;
    if (c->echo) {
        /* no app, no Pusher greeting */
    } else if (c->upgrade_app == NULL) {
        c->upgrade_close = PX_CLOSE_APP_MISSING;
        c->upgrade_reason = "App key not in this server";
    } else if (!c->upgrade_app->enabled) {
        c->upgrade_close = PX_CLOSE_APP_DISABLED;
        c->upgrade_reason = "App disabled";
    } else if (!c->classic) {
        px_query_t qs;
        if (px_query_parse(q ? (px_str_t){q + 1, t.n - path.n - 1} : (px_str_t){"", 0}, &qs) < 0) {
            c->upgrade_close = PX_CLOSE_BAD_VERSION;
            c->upgrade_reason = "Malformed query string";
        } else {
            const px_param_t *p = px_query_get(&qs, "protocol");
            char *end = NULL;
            long v = p ? strtol(p->val, &end, 10) : 0;
            if (p == NULL) {
                c->upgrade_close = PX_CLOSE_NO_PROTOCOL;
                c->upgrade_reason = "No protocol version supplied";
            } else if (p->vlen == 0 || *end != '\0') {
                c->upgrade_close = PX_CLOSE_BAD_VERSION;
                c->upgrade_reason = "Invalid version string format";
            } else if (v < 5 || v > 7) {
                c->upgrade_close = PX_CLOSE_UNSUPPORTED_PROTOCOL;
                c->upgrade_reason = "Unsupported protocol version: this server speaks 5 to 7";
            }
            px_query_free(&qs);
        }
    }
    if (c->upgrade_close == 0 && c->upgrade_app != NULL &&
        !px_app_origin_allowed(c->upgrade_app, px_http_header(req, "Origin"))) {
        c->upgrade_close = PX_CLOSE_UNAUTHORIZED;
        c->upgrade_reason = "Origin not allowed for this app";
    }
    if (c->upgrade_close == 0 && c->upgrade_app != NULL && c->upgrade_app->max_connections &&
        c->upgrade_app->connections >= c->upgrade_app->max_connections) {
        c->upgrade_close = PX_CLOSE_OVER_QUOTA;
        c->upgrade_reason = "Over the app's connection quota";
    }
    if (c->upgrade_close == 0 && s->cfg.max_connections &&
        s->hub.stats.connections >= s->cfg.max_connections) {
        c->upgrade_close = PX_CLOSE_OVER_CAPACITY;
        c->upgrade_reason = "Over capacity";
    }
    char accept[29];
    px_ws_accept_key(key, accept);
    char resp[160];
    int n = snprintf(resp, sizeof resp,
                     "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    if (push_copy(c, resp, (size_t)n) < 0) {
        c->close_after_write = 1;
        return;
    }
    c->upgraded = 1;
}

static void process_input(px_conn_t *c, const char *base, size_t nread);
static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf);

/* The store answered a deferred GET /events: send it, then go on with the
 * requests that arrived meanwhile. */
static void on_deferred_events(void *ud, int status, json_t *events)
{
    px_conn_t *c = ud;
    c->deferred = 0;
    if (c->free_pending) { /* closed while waiting */
        if (!c->dirty && !c->reaping) {
            px_buf_free(&c->pending);
            free(c);
        }
        return;
    }
    if (c->state != CONN_HTTP)
        return;
    px_buf_t out = PX_BUF_INIT;
    int code = px_classic_api_events(&out, status < 0 ? NULL : events);
    respond(c, code, NULL, out.data ? out.data : "{}", out.data ? out.len : 2,
            c->deferred_keep_alive, 0);
    px_buf_free(&out);
    mark_dirty(c);
    if (c->close_after_write)
        return;
    llhttp_resume(&c->http->parser);
    px_buf_t rest = c->pending;
    c->pending = (px_buf_t)PX_BUF_INIT;
    if (rest.len > 0)
        process_input(c, rest.data, rest.len);
    px_buf_free(&rest);
    if (c->state == CONN_HTTP && !c->deferred && !c->close_after_write)
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* Starts the store read behind a GET /events. Returns 0 or an error. */
static int defer_events(px_conn_t *c, const char *app_id, size_t count, int keep_alive)
{
    px_server_t *s = c->srv;
    if (s->persist == NULL)
        return PX_ESTORE;
    int rc = px_persist_read(s->persist, app_id, NULL, NULL, 0, count, on_deferred_events, c);
    if (rc == 0) {
        c->deferred = 1;
        c->deferred_keep_alive = (uint8_t)keep_alive;
    }
    return rc;
}

static int on_request(px_http_t *h, const px_http_req_t *req, void *ud)
{
    px_conn_t *c = ud;
    PX_UNUSED(h);
    if (req->upgrade) {
        handle_upgrade(c, req);
        return 1;
    }
    px_server_t *s = c->srv;
    s->hub.wall_s = (int64_t)time(NULL);
    px_buf_t out = PX_BUF_INIT, headers = PX_BUF_INIT;
    px_classic_req_t creq = {.method = req->method,
                             .target = req->target,
                             .body = req->body,
                             .cookie = px_http_header(req, "Cookie"),
                             .session_header = px_http_header(req, "X-Session-Id"),
                             .admin_header = px_http_header(req, "X-Admin-Token"),
                             .content_type = px_http_header(req, "Content-Type"),
                             .defer_app_id = NULL,
                             .defer_count = 0};
    int status = px_classic_api_handle(&s->api, &creq, &out, &headers);
    if (status == PX_CLASSIC_DEFER) {
        px_buf_free(&out);
        px_buf_free(&headers);
        if (defer_events(c, creq.defer_app_id, creq.defer_count, req->keep_alive) == 0)
            return 1; /* stop parsing until the answer is out */
        respond_error(c, 503, "the store is not available", NULL);
        return c->close_after_write;
    }
    if (status == 0)
        status = px_api_handle(&s->api, req->method, req->target, req->body, &out);
    px_buf_terminate(&headers);
    respond(c, status, headers.len ? headers.data : NULL, out.data ? out.data : "", out.len,
            req->keep_alive, px_str_eq(req->method, PX_STR("HEAD")));
    px_buf_free(&out);
    px_buf_free(&headers);
    return c->close_after_write;
}

/* ---------------------------------------------------------------- WebSocket */

static int ws_write(px_ws_t *ws, const uint8_t *data, size_t len)
{
    px_conn_t *c = px_container_of(ws, px_conn_t, ws);
    if (c->state == CONN_CLOSED)
        return -1;
    return push_copy(c, data, len);
}

static void ws_on_text(px_ws_t *ws, const uint8_t *msg, size_t len)
{
    px_conn_t *c = px_container_of(ws, px_conn_t, ws);
    if (c->state == CONN_WS && c->attached)
        px_router_message(&c->srv->hub, &c->client, (const char *)msg, len);
}

/* Enters the closing state and leaves the hub at the next reap. */
static void begin_closing(px_conn_t *c)
{
    if (c->state != CONN_WS)
        return;
    c->state = CONN_WS_CLOSING;
    c->deadline = uv_now(&c->srv->loop) + c->srv->cfg.close_timeout_ms;
    schedule_reap(c);
}

static void ws_on_peer_close(px_ws_t *ws, uint16_t code)
{
    PX_UNUSED(code);
    begin_closing(px_container_of(ws, px_conn_t, ws));
}

static void ws_on_fail(px_ws_t *ws, uint16_t code)
{
    px_conn_t *c = px_container_of(ws, px_conn_t, ws);
    PX_UNUSED(code);
    begin_closing(c);
    c->failed = 1;
    if (c->state != CONN_CLOSED)
        uv_read_stop((uv_stream_t *)&c->tcp);
}

static const px_ws_ops_t ws_ops = {ws_write, ws_on_text, NULL, ws_on_peer_close, ws_on_fail};

/* Echo endpoint (conformance tests): every message goes back as it came. */
static void echo_back(px_ws_t *ws, uint8_t opcode, const uint8_t *msg, size_t len)
{
    px_conn_t *c = px_container_of(ws, px_conn_t, ws);
    if (c->state != CONN_WS)
        return;
    size_t hdr = len < 126 ? 2 : len < 65536 ? 4 : 10;
    px_rbuf_t *rb = px_rbuf_new(hdr + len);
    if (rb == NULL) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    uint8_t *h = (uint8_t *)rb->data;
    h[0] = (uint8_t)(0x80 | opcode);
    if (len < 126) {
        h[1] = (uint8_t)len;
    } else if (len < 65536) {
        h[1] = 126;
        h[2] = (uint8_t)(len >> 8);
        h[3] = (uint8_t)len;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    }
    if (len > 0)
        memcpy(rb->data + hdr, msg, len); /* msg may be NULL when len is 0 */
    if (push(c, rb) < 0)
        ws_close(c, 1011, "out of memory");
    px_rbuf_unref(rb);
}

static void echo_text(px_ws_t *ws, const uint8_t *msg, size_t len)
{
    echo_back(ws, 0x1, msg, len);
}

static void echo_binary(px_ws_t *ws, const uint8_t *msg, size_t len)
{
    echo_back(ws, 0x2, msg, len);
}

static const px_ws_ops_t echo_ops = {ws_write, echo_text, echo_binary, ws_on_peer_close,
                                     ws_on_fail};

static void ws_feed(px_conn_t *c, const char *p, size_t n)
{
    px_ws_feed(&c->ws, (const uint8_t *)p, n);
    if (c->state == CONN_WS_CLOSING && c->nout == 0 && !c->writing)
        after_drain(c); /* the peer's close reply may be all that was missing */
}

/* Finishes an upgrade: the 101 is queued; set up wslay and greet. */
static void become_ws(px_conn_t *c, const char *rest, size_t nrest)
{
    px_server_t *s = c->srv;
    px_http_free(c->http);
    free(c->http);
    c->http = NULL;
    px_ws_init(&c->ws, c->echo ? &echo_ops : &ws_ops,
               c->echo ? 16u << 20 : s->cfg.max_message_bytes);
    c->state = CONN_WS;
    c->last_rx = uv_now(&s->loop);
    if (c->echo) {
        if (nrest > 0)
            ws_feed(c, rest, nrest);
        return;
    }
    if (c->upgrade_close) {
        px_rbuf_t *f = px_proto_error(c->upgrade_reason, c->upgrade_close);
        if (f != NULL) {
            push(c, f);
            px_rbuf_unref(f);
        }
        ws_close(c, c->upgrade_close, c->upgrade_reason);
        return;
    }
    px_app_t *app = c->upgrade_app;
    if (px_client_init(&c->client, &conn_ops, app) < 0) {
        ws_close(c, 1011, "internal error");
        return;
    }
    c->client.dialect = c->classic ? PX_DIALECT_CLASSIC : PX_DIALECT_PUSHER;
    if (px_map_put(&s->by_sid, (px_str_t){c->client.socket_id, c->client.sid_len}, c) < 0) {
        ws_close(c, 1011, "out of memory");
        return;
    }
    c->attached = 1;
    app->connections++;
    s->hub.stats.connections++;
    s->hub.stats.connections_total++;
    px_router_open(&s->hub, &c->client);
    if (nrest > 0 && c->state == CONN_WS)
        ws_feed(c, rest, nrest);
}

/* ---------------------------------------------------------------- reading */

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    px_conn_t *c = h->data;
    PX_UNUSED(hint);
    *buf = uv_buf_init(c->srv->rbuf, sizeof c->srv->rbuf);
}

static void process_input(px_conn_t *c, const char *base, size_t nread);

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    px_conn_t *c = st->data;
    px_server_t *s = c->srv;
    if (nread == 0)
        return;
    if (nread < 0 || c->lingering) {
        if (nread < 0)
            close_now(c); /* EOF or error; a lingering connection is done */
        return;
    }
    uint64_t now = uv_now(&s->loop);
    s->hub.now_ms = now;
    c->last_rx = now;
    c->ping_at = 0;
    if (c->tls == NULL) {
        process_input(c, buf->base, (size_t)nread);
        return;
    }
    if (px_tls_put(c->tls, buf->base, (size_t)nread) < 0) {
        close_now(c);
        return;
    }
    for (;;) {
        long n = px_tls_read(c->tls, s->plain, sizeof s->plain);
        if (n < 0) {
            close_now(c); /* broken TLS or the peer's close_notify */
            return;
        }
        if (n == 0)
            break;
        process_input(c, s->plain, (size_t)n);
        if (c->state == CONN_CLOSED || c->tls == NULL)
            return;
    }
    /* Handshake records (and anything the reads produced) go out now. */
    if (px_tls_pending(c->tls) > 0)
        mark_dirty(c);
}

/* Handles plaintext input of a connection: HTTP requests or WebSocket frames. */
static void process_input(px_conn_t *c, const char *base, size_t nread)
{
    px_server_t *s = c->srv;
    uv_stream_t *st = (uv_stream_t *)&c->tcp;
    uint64_t now = s->hub.now_ms;
    if (c->state == CONN_HTTP) {
        if (c->close_after_write)
            return; /* answering an error; ignore the rest */
        if (!px_http_busy(c->http))
            c->deadline = now + s->cfg.request_timeout_ms;
        if (c->deferred) {
            /* Waiting for the store: keep the bytes for later, in order. */
            if (px_buf_append(&c->pending, base, nread) < 0 ||
                c->pending.len > s->cfg.max_head_bytes + s->cfg.max_body_bytes)
                close_now(c);
            return;
        }
        long used = px_http_feed(c->http, base, nread);
        if (c->deferred) {
            if (used >= 0 && px_buf_append(&c->pending, base + used, nread - (size_t)used) < 0)
                close_now(c);
            else
                uv_read_stop(st);
            return;
        }
        if (used < 0) {
            respond_error(c, c->http->error_status ? c->http->error_status : 400,
                          c->http->error_msg ? c->http->error_msg : "bad request", NULL);
            uv_read_stop(st);
            return;
        }
        if (c->upgraded) {
            become_ws(c, base + used, nread - (size_t)used);
            return;
        }
        if (c->close_after_write) {
            uv_read_stop(st);
            return;
        }
        if (!px_http_busy(c->http))
            c->deadline = now + s->cfg.keepalive_timeout_ms;
        /* A client that pipelines requests without reading the answers
         * must not grow our memory without bound. */
        if (c->out_bytes > s->cfg.max_output_bytes)
            close_now(c);
        return;
    }
    if (c->state == CONN_WS || c->state == CONN_WS_CLOSING)
        ws_feed(c, base, nread);
}

/* Finds or creates the address record of c's peer and applies the per
 * address limits. Returns 0, or -1 when c was refused (a 429 answer is on its
 * way and the connection closes after it). */
static int admit(px_conn_t *c)
{
    px_server_t *s = c->srv;
    struct sockaddr_storage sa;
    int len = sizeof sa;
    uint8_t key[17] = {0};
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0) {
        key[0] = (uint8_t)sa.ss_family;
        if (sa.ss_family == AF_INET)
            memcpy(key + 1, &((struct sockaddr_in *)&sa)->sin_addr, 4);
        else if (sa.ss_family == AF_INET6)
            memcpy(key + 1, &((struct sockaddr_in6 *)&sa)->sin6_addr, 16);
    }
    peer_t *p = px_map_get(&s->peers, (px_str_t){(const char *)key, sizeof key});
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL) {
            close_now(c);
            return -1;
        }
        memcpy(p->key, key, sizeof key);
        if (px_map_put(&s->peers, (px_str_t){(const char *)p->key, sizeof p->key}, p) < 0) {
            free(p);
            close_now(c);
            return -1;
        }
    }
    uint64_t now = uv_now(&s->loop);
    if (now - p->window >= 1000) {
        p->window = now;
        p->in_window = 0;
    }
    p->in_window++;
    p->conns++;
    c->peer = p;
    const char *why = NULL;
    if (s->cfg.max_connections_per_ip && p->conns > s->cfg.max_connections_per_ip)
        why = "too many connections from this address";
    else if (s->cfg.max_connection_rate_per_ip &&
             p->in_window > s->cfg.max_connection_rate_per_ip)
        why = "too many new connections from this address: retry in a second";
    if (why == NULL)
        return 0;
    respond_error(c, 429, why, "Retry-After: 1\r\n");
    mark_dirty(c);
    return -1;
}

/* Frees address records with no connection whose rate window is over. */
static void prune_peers(px_server_t *s, uint64_t now)
{
    peer_t *idle[256];
    size_t n = 0, it = 0;
    peer_t *p;
    while (n < PX_ARRAY_SIZE(idle) && (p = px_map_next(&s->peers, &it)) != NULL)
        if (p->conns == 0 && now - p->window >= 1000)
            idle[n++] = p;
    for (size_t i = 0; i < n; i++) {
        px_map_del(&s->peers, (px_str_t){(const char *)idle[i]->key, sizeof idle[i]->key});
        free(idle[i]);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    px_server_t *s = server->data;
    if (status < 0)
        return;
    px_conn_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return;
    c->srv = s;
    uv_tcp_init(&s->loop, &c->tcp);
    c->tcp.data = c;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        c->state = CONN_CLOSED;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (admit(c) < 0)
        return;
    if (s->tls != NULL && (c->tls = px_tls_new(s->tls)) == NULL) {
        close_now(c);
        return;
    }
    c->http = malloc(sizeof(*c->http));
    if (c->http == NULL) {
        close_now(c);
        return;
    }
    px_http_init(c->http, s->cfg.max_head_bytes, s->cfg.max_body_bytes, on_request, c);
    c->deadline = uv_now(&s->loop) + s->cfg.request_timeout_ms;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
        close_now(c);
}

/* ---------------------------------------------------------------- timers */

/* Retention: once a minute, each app's history is cut to its
 * history_keep newest events per channel and history_max_age seconds. */
static void retention(px_server_t *s)
{
    if (s->persist == NULL || ++s->ticks % s->cfg.retention_interval != 0)
        return;
    size_t it = 0;
    px_app_t *app;
    while ((app = px_map_next(&s->hub.apps.by_id, &it)) != NULL)
        px_persist_prune(s->persist, app->id,
                         app->history_keep ? app->history_keep : PX_STORE_KEEP_ALL,
                         app->history_max_age ? (double)app->history_max_age : INFINITY,
                         (double)time(NULL));
}

static void on_tick(uv_timer_t *t)
{
    px_server_t *s = t->data;
    uint64_t now = uv_now(&s->loop);
    retention(s);
    s->hub.now_ms = now;
    s->hub.wall_s = (int64_t)time(NULL);
    prune_peers(s, now);
    uint64_t idle = (uint64_t)s->cfg.activity_timeout * 1000;
    uint64_t pong = (uint64_t)s->cfg.pong_timeout * 1000;
    px_conn_t *next;
    for (px_conn_t *c = s->conns; c != NULL; c = next) {
        next = c->next;
        switch (c->state) {
        case CONN_HTTP:
            if (now >= c->deadline)
                close_now(c);
            break;
        case CONN_WS:
            if (c->echo)
                break; /* conformance endpoint: no Pusher pings */
            if (c->ping_at == 0 && now - c->last_rx >= idle) {
                px_rbuf_t *f = px_proto_event_json(PX_STR("pusher:ping"), (px_str_t){NULL, 0},
                                                   PX_STR("{}"));
                if (f != NULL) {
                    conn_send(&c->client, f);
                    px_rbuf_unref(f);
                }
                c->ping_at = now;
            } else if (c->ping_at != 0 && now - c->ping_at >= pong) {
                ws_close(c, PX_CLOSE_PONG_TIMEOUT, "Pong reply not received");
            }
            break;
        case CONN_WS_CLOSING:
            if (now >= c->deadline)
                close_now(c);
            break;
        default:
            break;
        }
    }
}

/* ---------------------------------------------------------------- commands */

static size_t terminate_user(void *ud, px_app_t *app, px_str_t user_id)
{
    px_server_t *s = ud;
    size_t n = 0;
    for (px_conn_t *c = s->conns; c != NULL; c = c->next) {
        if (c->state != CONN_WS || c->client.app != app || c->client.user_id == NULL)
            continue;
        if (px_str_eq(px_cstr(c->client.user_id), user_id)) {
            ws_close(c, PX_CLOSE_UNAUTHORIZED, "Terminated by the server");
            n++;
        }
    }
    return n;
}

/* Closes whatever is left and every handle: run() returns after this. */
static void finish_stop(px_server_t *s)
{
    if (s->finished)
        return;
    s->finished = 1;
    px_conn_t *next;
    for (px_conn_t *c = s->conns; c != NULL; c = next) {
        next = c->next;
        close_now(c);
    }
    drain_lists(s);
    uv_close((uv_handle_t *)&s->stop_timer, NULL);
    uv_close((uv_handle_t *)&s->tick, NULL);
    uv_close((uv_handle_t *)&s->prepare, NULL);
    uv_close((uv_handle_t *)&s->check, NULL);
    uv_close((uv_handle_t *)&s->wakeup, NULL);
}

static void on_stop_timer(uv_timer_t *t)
{
    px_server_t *s = t->data;
    uint64_t now = uv_now(&s->loop);
    if (s->conns != NULL && now < s->stop_deadline)
        return;
    if (!s->conns_cut) {
        s->conns_cut = 1;
        px_conn_t *next;
        for (px_conn_t *c = s->conns; c != NULL; c = next) {
            next = c->next;
            close_now(c);
        }
        drain_lists(s);
    }
    if (s->persist != NULL) {
        /* Pending persistence gets the rest of the shutdown time. */
        if (!px_persist_idle(s->persist) && now < s->stop_deadline && !s->persist_stopped)
            return;
        if (!s->persist_stopped) {
            s->persist_stopped = 1;
            px_persist_stop(s->persist);
        }
        if (px_persist_busy(s->persist))
            return; /* the store call in flight ends within its own timeout */
    }
    finish_stop(s);
}

/* Graceful stop: no new connections; WebSocket clients get close 4200 after
 * everything already queued for them; idle HTTP connections close now and
 * busy ones after their answer; whatever has not drained by
 * shutdown_timeout_ms is cut. */
static json_t *list_sockets(void *ud, px_app_t *app)
{
    px_server_t *s = ud;
    json_t *arr = json_array();
    for (px_conn_t *c = s->conns; arr != NULL && c != NULL; c = c->next) {
        if (!c->attached || c->client.app != app || c->state != CONN_WS)
            continue;
        json_t *chans = json_array();
        for (px_sub_t *sub = c->client.subs; chans != NULL && sub != NULL; sub = sub->next)
            json_array_append_new(chans, json_stringn(sub->chan->name, sub->chan->nlen));
        json_array_append_new(arr, json_pack("{s:s, s:o*}", "socket_id", c->client.socket_id,
                                             "channels", chans));
    }
    return arr;
}

static void begin_stop(px_server_t *s)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    if (s->listening)
        uv_close((uv_handle_t *)&s->listener, NULL);
    px_conn_t *next;
    for (px_conn_t *c = s->conns; c != NULL; c = next) {
        next = c->next;
        if (c->state == CONN_WS)
            ws_close(c, PX_CLOSE_RECONNECT, "Server shutting down");
        else if (c->state == CONN_HTTP && (c->http == NULL || !px_http_busy(c->http)) &&
                 c->nout == 0 && !c->writing)
            close_now(c);
        else if (c->state == CONN_HTTP && (c->http == NULL || !px_http_busy(c->http)))
            c->close_after_write = 1;
    }
    drain_lists(s);
    s->stop_deadline = uv_now(&s->loop) + s->cfg.shutdown_timeout_ms;
    uv_timer_start(&s->stop_timer, on_stop_timer, 0, 20);
}

static void run_cmd(px_server_t *s, px_cmd_t *cmd)
{
    switch (cmd->type) {
    case CMD_STOP:
        begin_stop(s);
        break;
    case CMD_TRIGGER: {
        if (s->stopping)
            break;
        px_app_t *app = px_apps_by_id(&s->hub.apps, px_cstr(cmd->app_id));
        if (app != NULL)
            px_router_trigger(&s->hub, app, cmd->channels, cmd->nchannels, px_cstr(cmd->event),
                              (px_str_t){cmd->data, cmd->data_len},
                              cmd->socket_id ? px_cstr(cmd->socket_id) : (px_str_t){NULL, 0});
        break;
    }
    case CMD_STATS: {
        stats_sync_t *y = cmd->sync;
        uv_mutex_lock(&y->mu);
        y->stats = s->hub.stats;
        if (s->persist != NULL) {
            px_persist_stats_t ps;
            px_persist_stats(s->persist, &ps);
            y->stats.persist_queued = ps.queued;
            y->stats.persist_written = ps.written;
            y->stats.persist_failures = ps.failures;
            y->stats.persist_outage = (uint64_t)ps.outage;
        }
        y->done = 1;
        uv_cond_signal(&y->cv);
        uv_mutex_unlock(&y->mu);
        break;
    }
    case CMD_APP: {
        const char *why = NULL;
        px_app_t *a = NULL;
        if (px_app_from_json(cmd->app, &a, &why) < 0)
            break;
        px_app_t *old = px_apps_by_id(&s->hub.apps, px_cstr(a->id));
        if (old != NULL && strcmp(old->key, a->key) == 0) {
            /* Same identity: update settings in place (connections keep
             * their pointer to the app). */
            px_app_take_settings(old, a);
            px_app_free(a);
        } else if (px_apps_add(&s->hub.apps, a) < 0) {
            px_app_free(a);
        }
        break;
    }
    }
}

static void on_wakeup(uv_async_t *h)
{
    px_server_t *s = h->data;
    uv_mutex_lock(&s->cmd_mu);
    px_cmd_t *list = s->cmd_head;
    s->cmd_head = s->cmd_tail = NULL;
    uv_mutex_unlock(&s->cmd_mu);
    s->hub.now_ms = uv_now(&s->loop);
    while (list != NULL) {
        px_cmd_t *next = list->next;
        run_cmd(s, list);
        json_decref(list->app);
        free(list);
        list = next;
    }
}

static int post(px_server_t *s, px_cmd_t *cmd)
{
    cmd->next = NULL;
    uv_mutex_lock(&s->cmd_mu);
    if (s->closed) {
        uv_mutex_unlock(&s->cmd_mu);
        json_decref(cmd->app);
        free(cmd);
        return PX_ESTOPPED;
    }
    if (s->cmd_tail)
        s->cmd_tail->next = cmd;
    else
        s->cmd_head = cmd;
    s->cmd_tail = cmd;
    if (cmd->type == CMD_STOP)
        s->closed = 1;
    /* uv_async_send is the one libuv call that is safe from any thread; the
     * handle lives until run() returns, which happens only after closed is
     * set, so it is valid here. */
    if (s->loop_ready)
        uv_async_send(&s->wakeup);
    uv_mutex_unlock(&s->cmd_mu);
    return 0;
}

/* ---------------------------------------------------------------- store */

static int svc_persist(void *ud, json_t *event, json_t *users)
{
    px_server_t *s = ud;
    return px_persist_event(s->persist, event, users);
}

typedef struct {
    px_server_t *srv;
    int kind;
    char sid[42];
    char channel[PX_MAX_NAME_CLASSIC + 1];
} history_req_t;

static void on_history(void *ud, int status, json_t *events)
{
    history_req_t *h = ud;
    px_server_t *s = h->srv;
    px_conn_t *c = px_map_get(&s->by_sid, px_cstr(h->sid));
    if (c != NULL && c->attached && c->state == CONN_WS)
        px_classic_history_done(&s->hub, &c->client, h->kind, h->channel,
                                status < 0 ? NULL : events);
    free(h);
}

static int svc_history(void *ud, px_client_t *c, const char *channel, const char *user_id,
                       size_t skip, size_t count, int kind)
{
    px_server_t *s = ud;
    history_req_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return PX_ENOMEM;
    h->srv = s;
    h->kind = kind;
    snprintf(h->sid, sizeof h->sid, "%s", c->socket_id);
    snprintf(h->channel, sizeof h->channel, "%s", channel);
    int rc = px_persist_read(s->persist, c->app->id, channel, user_id, skip, count, on_history, h);
    if (rc < 0)
        free(h);
    return rc;
}

static int svc_subscription(void *ud, int put, const char *app_id, const char *user_id,
                            const char *event)
{
    px_server_t *s = ud;
    return px_persist_subscription(s->persist, put, app_id, user_id, event);
}

static int svc_save_app(void *ud, json_t *app)
{
    px_server_t *s = ud;
    return px_persist_app(s->persist, app);
}

/* Opens the store, loads the personal-channel subscriptions of every app
 * and starts the writer. Runs on the thread creating the server (blocking
 * is fine there: the loop has not started). */
static int open_store(px_server_t *s, const char **why)
{
    px_store_t *st = NULL;
    int rc = px_store_open(s->cfg.store, &st, why);
    if (rc < 0)
        return rc;
    size_t it = 0;
    px_app_t *app;
    while ((app = px_map_next(&s->hub.apps.by_id, &it)) != NULL) {
        json_t *subs = NULL;
        if ((rc = px_store_list_subscriptions(st, app->id, NULL, NULL, &subs)) < 0) {
            *why = "cannot read subscriptions from the store";
            px_store_close(st);
            return rc;
        }
        size_t i;
        json_t *sub;
        json_array_foreach(subs, i, sub) {
            const char *user = json_string_value(json_object_get(sub, "user_id"));
            const char *event = json_string_value(json_object_get(sub, "event"));
            if (user && event) {
                px_alias_add(&app->aliases, user, event);
                px_alias_add(&app->alias_rev, event, user);
            }
        }
        json_decref(subs);
    }
    if ((rc = px_persist_new(&s->persist, &s->loop, st, s->cfg.persist_backlog)) < 0) {
        px_store_close(st);
        return rc;
    }
    s->hub.svc = (px_hub_services_t){svc_persist, svc_history, svc_subscription, svc_save_app, s};
    return 0;
}

/* ---------------------------------------------------------------- public */

int px_server_new(px_server_t **out, const px_config_t *cfg, const json_t *apps,
                  const char **why)
{
    *why = NULL;
    px_server_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return PX_ENOMEM;
    s->cfg = *cfg;
    s->hub.activity_timeout = cfg->activity_timeout;
    s->hub.max_channels_per_client = cfg->max_channels_per_connection;
    s->hub.wall_s = (int64_t)time(NULL);
    s->api.hub = &s->hub;
    s->api.terminate_user = terminate_user;
    s->api.list_sockets = list_sockets;
    s->api.ud = s;
    s->api.max_channels_per_event = 100;
    s->api.max_batch = 10;
    s->api.auth_window = 600;
    s->api.admin_token = s->cfg.admin_token;
    int rc;
    size_t i;
    json_t *v;
    json_array_foreach((json_t *)apps, i, v) {
        px_app_t *a = NULL;
        if ((rc = px_app_from_json(v, &a, why)) < 0)
            goto fail;
        if ((rc = px_apps_add(&s->hub.apps, a)) < 0) {
            px_app_free(a);
            *why = "two apps share an id or a key";
            goto fail;
        }
    }
    if (cfg->tls_cert[0] || cfg->tls_key[0]) {
        if (!cfg->tls_cert[0] || !cfg->tls_key[0]) {
            *why = "TLS needs both tls_cert and tls_key";
            rc = PX_EINVAL;
            goto fail;
        }
        if ((rc = px_tls_ctx_new(&s->tls, cfg->tls_cert, cfg->tls_key, why)) < 0)
            goto fail;
    }
    if ((rc = uv_loop_init(&s->loop)) < 0)
        goto fail;
    uv_mutex_init(&s->cmd_mu);
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    uv_async_init(&s->loop, &s->wakeup, on_wakeup);
    s->wakeup.data = s;
    uv_timer_init(&s->loop, &s->tick);
    s->tick.data = s;
    uv_prepare_init(&s->loop, &s->prepare);
    s->prepare.data = s;
    uv_check_init(&s->loop, &s->check);
    s->check.data = s;
    uv_timer_init(&s->loop, &s->stop_timer);
    s->stop_timer.data = s;
    if (s->cfg.store[0] && (rc = open_store(s, why)) < 0) {
        uv_close((uv_handle_t *)&s->listener, NULL);
        uv_close((uv_handle_t *)&s->wakeup, NULL);
        uv_close((uv_handle_t *)&s->tick, NULL);
        uv_close((uv_handle_t *)&s->prepare, NULL);
        uv_close((uv_handle_t *)&s->check, NULL);
        uv_close((uv_handle_t *)&s->stop_timer, NULL);
        uv_run(&s->loop, UV_RUN_DEFAULT);
        uv_loop_close(&s->loop);
        uv_mutex_destroy(&s->cmd_mu);
        goto fail;
    }
    s->loop_ready = 1;
    *out = s;
    return 0;
fail:
    px_tls_ctx_free(s->tls);
    px_apps_free(&s->hub.apps);
    free(s);
    return rc;
}

int px_server_listen(px_server_t *s)
{
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(s->cfg.host, s->cfg.port, (struct sockaddr_in *)&addr);
    if (rc < 0)
        rc = uv_ip6_addr(s->cfg.host, s->cfg.port, (struct sockaddr_in6 *)&addr);
    if (rc < 0)
        return rc;
    if ((rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0)) < 0)
        return rc;
    if ((rc = uv_listen((uv_stream_t *)&s->listener, 4096, on_connection)) < 0)
        return rc;
    s->listening = 1;
    int len = sizeof addr;
    if ((rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&addr, &len)) < 0)
        return rc;
    if (addr.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

int px_server_run(px_server_t *s)
{
    uv_timer_start(&s->tick, on_tick, 1000, 1000);
    uv_prepare_start(&s->prepare, on_prepare);
    uv_check_start(&s->check, on_check);
    s->hub.now_ms = uv_now(&s->loop);
    uv_mutex_lock(&s->cmd_mu);
    s->running = 1;
    int pending = s->cmd_head != NULL;
    uv_mutex_unlock(&s->cmd_mu);
    if (pending)
        uv_async_send(&s->wakeup);
    int rc = uv_run(&s->loop, UV_RUN_DEFAULT);
    uv_mutex_lock(&s->cmd_mu);
    s->running = 0;
    s->closed = 1;
    uv_mutex_unlock(&s->cmd_mu);
    return rc < 0 ? rc : 0;
}

int px_server_post_stop(px_server_t *s)
{
    px_cmd_t *cmd = calloc(1, sizeof(*cmd));
    if (cmd == NULL)
        return PX_ENOMEM;
    cmd->type = CMD_STOP;
    int rc = post(s, cmd);
    return rc == PX_ESTOPPED ? 0 : rc; /* stopping twice is fine */
}

int px_server_post_trigger(px_server_t *s, const char *app_id, const char *const *channels,
                           size_t nchannels, const char *event, const char *data,
                           size_t data_len, const char *socket_id)
{
    size_t need = sizeof(px_cmd_t) + nchannels * sizeof(px_str_t) + strlen(app_id) + 1 +
                  strlen(event) + 1 + data_len + 1 + (socket_id ? strlen(socket_id) + 1 : 0);
    for (size_t i = 0; i < nchannels; i++)
        need += strlen(channels[i]) + 1;
    px_cmd_t *cmd = calloc(1, need);
    if (cmd == NULL)
        return PX_ENOMEM;
    cmd->type = CMD_TRIGGER;
    cmd->channels = (px_str_t *)(cmd + 1);
    char *p = (char *)(cmd->channels + nchannels);
#define PX_COPY(dst, src, n) do { dst = p; memcpy(p, src, n); p[n] = '\0'; p += (n) + 1; } while (0)
    PX_COPY(cmd->app_id, app_id, strlen(app_id));
    PX_COPY(cmd->event, event, strlen(event));
    PX_COPY(cmd->data, data, data_len);
    if (socket_id)
        PX_COPY(cmd->socket_id, socket_id, strlen(socket_id));
    for (size_t i = 0; i < nchannels; i++) {
        size_t n = strlen(channels[i]);
        char *dst;
        PX_COPY(dst, channels[i], n);
        cmd->channels[i] = (px_str_t){dst, n};
    }
#undef PX_COPY
    cmd->data_len = data_len;
    cmd->nchannels = nchannels;
    return post(s, cmd);
}

int px_server_post_app(px_server_t *s, const json_t *app, const char **why)
{
    px_app_t *check = NULL;
    int rc = px_app_from_json(app, &check, why);
    if (rc < 0)
        return rc;
    px_app_free(check);
    px_cmd_t *cmd = calloc(1, sizeof(*cmd));
    if (cmd == NULL)
        return PX_ENOMEM;
    cmd->type = CMD_APP;
    cmd->app = json_deep_copy(app);
    if (cmd->app == NULL) {
        free(cmd);
        return PX_ENOMEM;
    }
    return post(s, cmd);
}

int px_server_stats(px_server_t *s, px_stats_t *out, uint32_t timeout_ms)
{
    uv_mutex_lock(&s->cmd_mu);
    int running = s->running && !s->closed;
    uv_mutex_unlock(&s->cmd_mu);
    if (!running) {
        *out = s->hub.stats;
        return 0;
    }
    stats_sync_t y;
    memset(&y, 0, sizeof y);
    uv_mutex_init(&y.mu);
    uv_cond_init(&y.cv);
    px_cmd_t *cmd = calloc(1, sizeof(*cmd));
    int rc = PX_ENOMEM;
    if (cmd != NULL) {
        cmd->type = CMD_STATS;
        cmd->sync = &y;
        rc = post(s, cmd);
    }
    if (rc == 0) {
        uv_mutex_lock(&y.mu);
        while (!y.done && rc == 0)
            rc = uv_cond_timedwait(&y.cv, &y.mu, (uint64_t)timeout_ms * 1000000ull);
        /* On a timeout the command may still run later and touch y: wait
         * for it regardless, the loop drains every command before exit. */
        while (!y.done)
            uv_cond_wait(&y.cv, &y.mu);
        *out = y.stats;
        uv_mutex_unlock(&y.mu);
        rc = 0;
    }
    uv_cond_destroy(&y.cv);
    uv_mutex_destroy(&y.mu);
    return rc;
}

void px_server_free(px_server_t *s)
{
    if (s == NULL)
        return;
    if (s->loop_ready) {
        if (!s->stopping) {
            /* Never ran: close the handles we initialised. */
            if (!uv_is_closing((uv_handle_t *)&s->listener))
                uv_close((uv_handle_t *)&s->listener, NULL);
            uv_close((uv_handle_t *)&s->tick, NULL);
            uv_close((uv_handle_t *)&s->prepare, NULL);
            uv_close((uv_handle_t *)&s->check, NULL);
            uv_close((uv_handle_t *)&s->wakeup, NULL);
            uv_close((uv_handle_t *)&s->stop_timer, NULL);
        }
        if (s->persist != NULL && !s->persist_stopped) {
            s->persist_stopped = 1;
            px_persist_stop(s->persist);
        }
        uv_run(&s->loop, UV_RUN_DEFAULT); /* runs every close (and job) to its end */
        uv_loop_close(&s->loop);
        uv_mutex_destroy(&s->cmd_mu);
    }
    px_cmd_t *c = s->cmd_head;
    while (c != NULL) {
        px_cmd_t *next = c->next;
        if (c->type == CMD_STATS) {
            uv_mutex_lock(&c->sync->mu);
            c->sync->done = 1;
            uv_cond_signal(&c->sync->cv);
            uv_mutex_unlock(&c->sync->mu);
        }
        json_decref(c->app);
        free(c);
        c = next;
    }
    px_persist_free(s->persist);
    px_classic_api_free(&s->api);
    px_apps_free(&s->hub.apps);
    px_tls_ctx_free(s->tls);
    px_buf_free(&s->seal);
    size_t it = 0;
    peer_t *p;
    while ((p = px_map_next(&s->peers, &it)) != NULL)
        free(p);
    px_map_free(&s->peers);
    px_map_free(&s->by_sid);
    free(s);
}

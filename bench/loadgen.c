/* loadgen — a Pusher protocol v7 load generator for pushi and its peers.
 *
 * Real WebSocket clients (RFC 6455 client framing, masked) over plain epoll,
 * spread over source addresses 127.0.0.2, 127.0.0.3, ... and over forked worker
 * processes (at most --per-worker sockets each), plus one HTTP publisher
 * process that signs `POST /apps/<id>/events` (HMAC-SHA256, libcrypto) on
 * keep-alive, pipelined connections.  Every run is bounded by --duration and
 * --timeout and stops by itself.  Only 127.0.0.0/8 is ever contacted.
 *
 * Scenarios (one JSON line on stdout, human text on stderr):
 *   connect        N connections, each subscribes; handshakes/s, server RSS/conn
 *   fanout         N subscribers on one channel, events as fast as the server
 *                  takes them (flow window); deliveries/s, completeness, order
 *   latency        N subscribers over C channels, R events/s per subscriber,
 *                  publish timestamp in the payload; latency percentiles
 *   http           signed publishes on keep-alive connections; requests/s
 *   many-channels  N connections each on its own channel; multi-channel events
 *
 * Every event's data is "#<stream>.<seq>.<t_ns>#xxxx..." (padded to
 * --payload bytes): stream = publisher connection, seq = request number on
 * that connection, t = CLOCK_MONOTONIC at publish.  A subscriber checks that
 * seq strictly increases per stream and, at the end, that it got exactly the
 * number of events published to its channel.
 *
 * With --publisher external the loadgen only subscribes and counts; another
 * process (bench/inproc_driver.py, calling pushi.Server.trigger) publishes and
 * reads the progress counters from the --progress-file shared memory (layout:
 * see shm_hdr_t and WSTRIDE below).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAXW 32           /* subscriber worker processes */
#define MAXSTREAMS 64     /* publisher connections */
#define WSTRIDE 65536     /* bytes of shared memory per worker slot */
#define MAGIC 0x3142454853555050ULL /* "PUSHEB1" */

/* ------------------------------------------------------------------ */
/* histogram: log-linear, ns, 64 sub-buckets per power of two (<1.6%) */
#define HB (128 + 34 * 64)
static int hidx(uint64_t v)
{
    if (v < 128)
        return (int)v;
    int e = 63 - __builtin_clzll(v);
    if (e > 40)
        return HB - 1;
    return 128 + (e - 7) * 64 + (int)((v >> (e - 6)) & 63);
}
static double hval(int i)
{
    if (i < 128)
        return i;
    int e = (i - 128) / 64 + 7, sub = (i - 128) % 64;
    uint64_t lo = (uint64_t)(64 + sub) << (e - 6);
    return (double)lo + (double)((uint64_t)1 << (e - 6)) / 2.0;
}

/* ------------------------------------------------------------------ */
/* shared memory.  Header words (uint64) at offset 0 are part of the
 * external-publisher contract (bench/inproc_driver.py): keep them stable. */
typedef struct {
    uint64_t magic;        /* 0 */
    uint64_t nworkers;     /* 1 */
    uint64_t total_subs;   /* 2 */
    uint64_t ready;        /* 3: all subscribed, publishing may start */
    uint64_t pub_done;     /* 4: publisher finished, units_total valid */
    uint64_t units_total;  /* 5: units (channel-events) published */
    uint64_t stop;         /* 6: everyone stops */
    uint64_t channels;     /* 7 */
    uint64_t t_pub_start;  /* 8 */
    uint64_t t_pub_end;    /* 9 */
    uint64_t req_ok;       /* 10 */
    uint64_t req_err;      /* 11 */
    uint64_t pub_lag;      /* 12: paced units that could not be sent in time */
    uint64_t units_sent;   /* 13: live */
    uint64_t window;       /* 14: flow window in deliveries */
    uint64_t nstreams;     /* 15 */
} shm_hdr_t;

typedef struct {
    uint64_t received;     /* word 0: deliveries received (contract) */
    uint64_t established, subscribed, failed, closed, ready, complete, exited;
    uint64_t order_errors, parse_errors, missing, extra, subs_complete;
    uint64_t t_first_conn, t_last_sub, t_first_rx, t_last_rx;
    uint64_t hash, hash_mismatch, server_errors;
    uint64_t pad[32];
    uint64_t hist_a[HB];   /* latency publish->receive (subs) / HTTP latency (pub) */
    uint64_t hist_b[HB];   /* handshake time (subs) */
} wslot_t;

_Static_assert(sizeof(wslot_t) <= WSTRIDE, "worker slot too large");

static unsigned char *g_shm;
static shm_hdr_t *H;
static wslot_t *slot(int i) { return (wslot_t *)(g_shm + 4096 + (size_t)i * WSTRIDE); }
#define LD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define ST(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)

/* ------------------------------------------------------------------ */
/* options */
enum { SC_CONNECT, SC_FANOUT, SC_LATENCY, SC_HTTP, SC_MANY };
static const char *sc_names[] = {"connect", "fanout", "latency", "http", "many-channels"};

static struct {
    int scenario;
    const char *label;
    const char *host;
    int port;
    const char *app_id, *key, *secret;
    int conns, channels, per_worker, nsrc, concurrency;
    double duration, timeout, settle, drain, rate;
    int pub_conns, pipeline, payload, group, batch, external;
    long long max_units;
    long long window;
    const char *progress_file;
    int server_pid;
    int verbose;
    int busy_poll;
} O;

static struct sockaddr_in g_server;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: error: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static uint64_t subs_on(uint64_t c) /* subscribers of channel c */
{
    uint64_t n = (uint64_t)O.conns, C = (uint64_t)O.channels;
    return n / C + (c < n % C ? 1 : 0);
}
static uint64_t expected_for(uint64_t c, uint64_t units)
{
    uint64_t C = (uint64_t)O.channels;
    return units / C + (c < units % C ? 1 : 0);
}
static int chan_name(char *out, size_t cap, uint64_t c)
{
    static const char *pre[] = {"conn", "fanout", "lat", "http", "mc"};
    return snprintf(out, cap, "%s-%" PRIu64, pre[O.scenario], c);
}

/* ------------------------------------------------------------------ */
/* subscriber connections */
enum { ST_IDLE, ST_CONNECTING, ST_HS, ST_WAIT_EST, ST_SUBSCRIBING, ST_READY, ST_CLOSED };

typedef struct {
    int fd;
    uint8_t state;
    uint8_t counted_fail;
    uint32_t gidx;
    uint64_t t0;
    uint64_t rx;
    uint64_t hash;
    char *carry;
    uint32_t carry_len, carry_cap;
    char *wpend;
    uint32_t wpend_len;
    uint32_t *last; /* per stream: last seq + 1 */
} conn_t;

typedef struct {
    int id, ep, first, count;
    conn_t *c;
    wslot_t *s;
    char *rbuf;
    size_t rcap;
    uint64_t now;
    uint64_t rx_total;
    int nstreams;
    int inflight;
    int printed_err;
    uint64_t rng;
} worker_t;

static uint32_t rnd32(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return (uint32_t)(*s >> 11);
}

static void conn_close(worker_t *w, conn_t *c, int failed)
{
    if (c->state == ST_CLOSED || c->state == ST_IDLE)
        return;
    if (c->state != ST_READY) {
        if (failed && !c->counted_fail) {
            c->counted_fail = 1;
            w->s->failed++;
        }
        if (w->inflight > 0)
            w->inflight--;
    } else if (failed) {
        w->s->closed++;
    }
    epoll_ctl(w->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = ST_CLOSED;
    free(c->carry);
    c->carry = NULL;
    c->carry_len = c->carry_cap = 0;
    free(c->wpend);
    c->wpend = NULL;
    c->wpend_len = 0;
}

static void conn_write(worker_t *w, conn_t *c, const char *buf, size_t n)
{
    if (c->wpend_len == 0) {
        ssize_t k = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (k == (ssize_t)n)
            return;
        if (k < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                conn_close(w, c, 1);
                return;
            }
            k = 0;
        }
        buf += k;
        n -= (size_t)k;
    }
    char *p = realloc(c->wpend, c->wpend_len + n);
    if (!p)
        die("out of memory");
    memcpy(p + c->wpend_len, buf, n);
    c->wpend = p;
    c->wpend_len += (uint32_t)n;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - w->c)};
    epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* one masked client frame */
static void ws_send(worker_t *w, conn_t *c, int op, const char *data, size_t n)
{
    char f[256 + 14];
    size_t h = 0;
    if (n > 256)
        n = 256;
    f[h++] = (char)(0x80 | op);
    if (n < 126) {
        f[h++] = (char)(0x80 | n);
    } else {
        f[h++] = (char)(0x80 | 126);
        f[h++] = (char)(n >> 8);
        f[h++] = (char)(n & 255);
    }
    uint32_t m = rnd32(&w->rng);
    unsigned char mk[4];
    memcpy(mk, &m, 4);
    memcpy(f + h, mk, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        f[h + i] = (char)(data[i] ^ mk[i & 3]);
    conn_write(w, c, f, h + n);
}

static void worker_err(worker_t *w, const char *what, const char *p, size_t n)
{
    if (w->printed_err++ < 3)
        logf_("worker %d: %s: %.*s", w->id, what, (int)(n > 300 ? 300 : n), p);
}

static int parse_u64(const char **pp, const char *end, uint64_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    while (p < end && *p >= '0' && *p <= '9')
        v = v * 10 + (uint64_t)(*p++ - '0');
    *pp = p;
    *out = v;
    return 0;
}

static void on_event(worker_t *w, conn_t *c, const char *h, const char *end)
{
    const char *q = h + 1;
    uint64_t st, seq, t;
    if (parse_u64(&q, end, &st) || q >= end || *q++ != '.' || parse_u64(&q, end, &seq) ||
        q >= end || *q++ != '.' || parse_u64(&q, end, &t) || q >= end || *q != '#' ||
        st >= (uint64_t)w->nstreams) {
        w->s->parse_errors++;
        return;
    }
    if (seq + 1 <= c->last[st])
        w->s->order_errors++;
    c->last[st] = (uint32_t)(seq + 1);
    c->hash = (c->hash ^ ((st << 40) ^ seq)) * 1099511628211ULL;
    c->rx++;
    w->rx_total++;
    if (w->now > t)
        w->s->hist_a[hidx(w->now - t)]++;
    else
        w->s->hist_a[0]++;
}

static void on_text(worker_t *w, conn_t *c, const char *p, size_t n)
{
    if (c->state == ST_READY) {
        const char *h = memchr(p, '#', n);
        if (h) {
            on_event(w, c, h, p + n);
            return;
        }
    }
    if (memmem(p, n, "pusher:connection_established", 29)) {
        if (c->state == ST_WAIT_EST) {
            char msg[300], ch[200];
            chan_name(ch, sizeof ch, c->gidx % (uint32_t)O.channels);
            int k = snprintf(msg, sizeof msg,
                             "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"%s\"}}", ch);
            c->state = ST_SUBSCRIBING;
            w->s->established++;
            ws_send(w, c, 1, msg, (size_t)k);
        }
    } else if (memmem(p, n, "subscription_succeeded", 22)) {
        if (c->state == ST_SUBSCRIBING) {
            c->state = ST_READY;
            w->s->subscribed++;
            w->s->t_last_sub = w->now;
            w->s->hist_b[hidx(w->now - c->t0)]++;
            w->inflight--;
        }
    } else if (memmem(p, n, "pusher:ping", 11)) {
        static const char pong[] = "{\"event\":\"pusher:pong\",\"data\":{}}";
        ws_send(w, c, 1, pong, sizeof pong - 1);
    } else if (memmem(p, n, "error", 5)) {
        w->s->server_errors++;
        worker_err(w, "server says", p, n);
        if (c->state != ST_READY)
            conn_close(w, c, 1);
    } else if (c->state == ST_READY) {
        w->s->parse_errors++;
        worker_err(w, "unexpected message", p, n);
    }
}

/* Consumes complete frames (and the HTTP 101 head) from data; returns the
 * number of bytes consumed.  data may be modified (unmasking). */
static size_t conn_process(worker_t *w, conn_t *c, char *data, size_t len)
{
    size_t off = 0;
    if (c->state == ST_HS) {
        char *e = memmem(data, len, "\r\n\r\n", 4);
        if (!e) {
            if (len > 16384)
                conn_close(w, c, 1);
            return 0;
        }
        if (len < 12 || memcmp(data + 9, "101", 3) != 0) {
            worker_err(w, "handshake refused", data, (size_t)(e - data));
            conn_close(w, c, 1);
            return len;
        }
        off = (size_t)(e - data) + 4;
        c->state = ST_WAIT_EST;
    }
    while (off + 2 <= len) {
        unsigned char *f = (unsigned char *)data + off;
        size_t avail = len - off, hl = 2;
        uint64_t pl = f[1] & 127;
        if (pl == 126) {
            if (avail < 4)
                break;
            pl = ((uint64_t)f[2] << 8) | f[3];
            hl = 4;
        } else if (pl == 127) {
            if (avail < 10)
                break;
            pl = 0;
            for (int i = 0; i < 8; i++)
                pl = (pl << 8) | f[2 + i];
            hl = 10;
        }
        int masked = (f[1] & 0x80) != 0;
        if (masked)
            hl += 4;
        if (pl > (1u << 24)) {
            worker_err(w, "frame too large", "", 0);
            conn_close(w, c, 1);
            return len;
        }
        if (avail < hl + pl)
            break;
        char *p = data + off + hl;
        if (masked)
            for (uint64_t i = 0; i < pl; i++)
                p[i] ^= (char)f[hl - 4 + (i & 3)];
        int op = f[0] & 15, fin = (f[0] & 0x80) != 0;
        off += hl + (size_t)pl;
        if (op == 1 || op == 0) {
            if (!fin || op == 0)
                w->s->parse_errors++; /* Pusher servers do not fragment */
            else
                on_text(w, c, p, (size_t)pl);
        } else if (op == 9) {
            ws_send(w, c, 10, p, (size_t)pl);
        } else if (op == 8) {
            unsigned code = pl >= 2 ? ((unsigned)(unsigned char)p[0] << 8) | (unsigned char)p[1] : 0;
            char why[64];
            int k = snprintf(why, sizeof why, "close code %u", code);
            worker_err(w, "server closed", why, (size_t)k);
            conn_close(w, c, 1);
            return len;
        }
        if (c->state == ST_CLOSED)
            return len;
    }
    return off;
}

static void conn_readable(worker_t *w, conn_t *c)
{
    for (int round = 0; round < 8 && c->state != ST_CLOSED; round++) {
        ssize_t n = recv(c->fd, w->rbuf, w->rcap, 0);
        if (n == 0) {
            conn_close(w, c, 1);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            conn_close(w, c, 1);
            return;
        }
        w->now = now_ns();
        if (c->carry_len) {
            if (c->carry_len + (size_t)n > c->carry_cap) {
                uint32_t cap = c->carry_cap ? c->carry_cap : 256;
                while (cap < c->carry_len + (size_t)n)
                    cap *= 2;
                char *p = realloc(c->carry, cap);
                if (!p)
                    die("out of memory");
                c->carry = p;
                c->carry_cap = cap;
            }
            memcpy(c->carry + c->carry_len, w->rbuf, (size_t)n);
            size_t tot = c->carry_len + (size_t)n;
            size_t used = conn_process(w, c, c->carry, tot);
            if (c->state == ST_CLOSED)
                return;
            memmove(c->carry, c->carry + used, tot - used);
            c->carry_len = (uint32_t)(tot - used);
        } else {
            size_t used = conn_process(w, c, w->rbuf, (size_t)n);
            if (c->state == ST_CLOSED)
                return;
            size_t rest = (size_t)n - used;
            if (rest) {
                if (rest > c->carry_cap) {
                    uint32_t cap = c->carry_cap ? c->carry_cap : 256;
                    while (cap < rest)
                        cap *= 2;
                    char *p = realloc(c->carry, cap);
                    if (!p)
                        die("out of memory");
                    c->carry = p;
                    c->carry_cap = cap;
                }
                memcpy(c->carry, w->rbuf + used, rest);
                c->carry_len = (uint32_t)rest;
            }
        }
        if ((size_t)n < w->rcap)
            return;
    }
}

static void conn_writable(worker_t *w, conn_t *c)
{
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            if (!w->printed_err++)
                logf_("worker %d: connect: %s", w->id, strerror(err));
            conn_close(w, c, 1);
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - w->c)};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
        char req[512];
        int k = snprintf(req, sizeof req,
                         "GET /app/%s?protocol=7&client=pushi-loadgen&version=1.0&flash=false HTTP/1.1\r\n"
                         "Host: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                         "Sec-WebSocket-Version: 13\r\n\r\n",
                         O.key, O.host, O.port);
        c->state = ST_HS;
        conn_write(w, c, req, (size_t)k);
        return;
    }
    if (c->wpend_len) {
        ssize_t k = send(c->fd, c->wpend, c->wpend_len, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno != EAGAIN)
                conn_close(w, c, 1);
            return;
        }
        memmove(c->wpend, c->wpend + k, c->wpend_len - (size_t)k);
        c->wpend_len -= (uint32_t)k;
    }
    if (!c->wpend_len) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)(c - w->c)};
        epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
    }
}

static void conn_open(worker_t *w, conn_t *c)
{
    c->t0 = w->now;
    if (!w->s->t_first_conn)
        w->s->t_first_conn = w->now;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        if (!w->printed_err++)
            logf_("worker %d: socket: %s", w->id, strerror(errno));
        c->state = ST_CLOSED;
        c->counted_fail = 1;
        w->s->failed++;
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000002u + (c->gidx % (uint32_t)O.nsrc));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        (connect(fd, (struct sockaddr *)&g_server, sizeof g_server) < 0 && errno != EINPROGRESS)) {
        if (!w->printed_err++)
            logf_("worker %d: bind/connect: %s", w->id, strerror(errno));
        close(fd);
        c->state = ST_CLOSED;
        c->counted_fail = 1;
        w->s->failed++;
        return;
    }
    c->fd = fd;
    c->state = ST_CONNECTING;
    c->hash = 14695981039346656037ULL;
    w->inflight++;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - w->c)};
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void worker_tally(worker_t *w, uint64_t units)
{
    uint64_t missing = 0, extra = 0, complete = 0, mism = 0, h0 = 0;
    int have_h0 = 0;
    for (int i = 0; i < w->count; i++) {
        conn_t *c = &w->c[i];
        uint64_t exp = expected_for(c->gidx % (uint32_t)O.channels, units);
        if (c->state != ST_READY) {
            missing += exp;
            continue;
        }
        if (c->rx < exp)
            missing += exp - c->rx;
        else if (c->rx > exp)
            extra += c->rx - exp;
        else
            complete++;
        if (O.channels == 1) {
            if (!have_h0) {
                h0 = c->hash;
                have_h0 = 1;
            } else if (c->hash != h0) {
                mism++;
            }
        }
    }
    w->s->missing = missing;
    w->s->extra = extra;
    w->s->subs_complete = complete;
    w->s->hash = h0;
    w->s->hash_mismatch = mism;
}

static void worker_main(int id, int first, int count)
{
    worker_t W = {.id = id, .first = first, .count = count};
    worker_t *w = &W;
    w->s = slot(id);
    w->rcap = 256 * 1024;
    w->rbuf = malloc(w->rcap);
    w->c = calloc((size_t)count, sizeof(conn_t));
    w->nstreams = O.external ? 1 : O.pub_conns;
    w->rng = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)getpid() << 16) ^ now_ns();
    uint32_t *lasts = calloc((size_t)count * (size_t)w->nstreams, sizeof(uint32_t));
    if (!w->rbuf || !w->c || !lasts)
        die("out of memory");
    for (int i = 0; i < count; i++) {
        w->c[i].fd = -1;
        w->c[i].gidx = (uint32_t)(first + i);
        w->c[i].last = lasts + (size_t)i * (size_t)w->nstreams;
    }
    w->ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event evs[1024];
    int next = 0, ready = 0, tallied = 0;
    uint64_t deadline = now_ns() + (uint64_t)(O.timeout * 1e9), last_scan = 0;
    for (;;) {
        w->now = now_ns();
        while (next < count && w->inflight < O.concurrency)
            conn_open(w, &w->c[next++]);
        int n = epoll_wait(w->ep, evs, 1024, O.busy_poll && ready ? 0 : 5);
        w->now = now_ns();
        for (int i = 0; i < n; i++) {
            conn_t *c = &w->c[evs[i].data.u32];
            if (c->state == ST_CLOSED)
                continue;
            if (evs[i].events & (EPOLLOUT))
                conn_writable(w, c);
            if (c->state != ST_CLOSED && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                conn_readable(w, c);
        }
        if (w->rx_total) {
            if (!w->s->t_first_rx)
                w->s->t_first_rx = w->now;
            if (w->rx_total != w->s->received)
                w->s->t_last_rx = w->now;
            ST(w->s->received, w->rx_total);
        }
        if (!ready && next == count && w->inflight == 0) {
            ready = 1;
            ST(w->s->ready, 1);
        }
        if (LD(H->stop) || w->now > deadline)
            break;
        if (LD(H->pub_done) && w->now - last_scan > 10000000ULL) {
            last_scan = w->now;
            uint64_t units = LD(H->units_total);
            int all = 1;
            for (int i = 0; i < count && all; i++) {
                conn_t *c = &w->c[i];
                if (c->state == ST_READY && c->rx < expected_for(c->gidx % (uint32_t)O.channels, units))
                    all = 0;
            }
            if (all && !LD(w->s->complete))
                ST(w->s->complete, 1);
        }
    }
    if (LD(H->pub_done)) {
        worker_tally(w, LD(H->units_total));
        tallied = 1;
    }
    (void)tallied;
    for (int i = 0; i < count; i++)
        if (w->c[i].fd >= 0)
            close(w->c[i].fd);
    ST(w->s->exited, 1);
    _exit(0);
}

/* ------------------------------------------------------------------ */
/* HTTP publisher */
typedef struct {
    int fd, dead, cap, seen_resp, closes, reconnect, eof;
    char *out;
    size_t olen, ooff, ocap;
    char *in;
    size_t ilen, icap;
    uint64_t *sent_t;
    int head, inflight;
    uint32_t seq;
} pconn_t;

static void buf_reserve(char **b, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    char *p = realloc(*b, c);
    if (!p)
        die("out of memory");
    *b = p;
    *cap = c;
}

static const char HEX[] = "0123456789abcdef";
static void hexify(char *out, const unsigned char *in, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = HEX[in[i] >> 4];
        out[2 * i + 1] = HEX[in[i] & 15];
    }
    out[2 * n] = 0;
}

static char g_pad[4096];
static size_t g_idlen;

/* Appends one signed POST covering units [u, u+n) to pc->out. */
static void pub_build(pconn_t *pc, int stream, uint64_t u, int n, uint64_t t)
{
    static char body[65536];
    char data[256], ch[64];
    int dl = snprintf(data, sizeof data, "#%d.%u.%" PRIu64 "#", stream, pc->seq, t);
    if (dl < O.payload) {
        memcpy(data + dl, g_pad, (size_t)(O.payload - dl));
        dl = O.payload;
    }
    data[dl] = 0;
    size_t bl = 0;
    const char *path_tail;
    if (O.batch) {
        path_tail = "batch_events";
        bl += (size_t)sprintf(body + bl, "{\"batch\":[");
        for (int i = 0; i < n; i++) {
            chan_name(ch, sizeof ch, (u + (uint64_t)i) % (uint64_t)O.channels);
            bl += (size_t)sprintf(body + bl, "%s{\"name\":\"bench\",\"channel\":\"%s\",\"data\":\"%s\"}",
                                  i ? "," : "", ch, data);
        }
        bl += (size_t)sprintf(body + bl, "]}");
    } else if (n == 1) {
        path_tail = "events";
        chan_name(ch, sizeof ch, u % (uint64_t)O.channels);
        bl += (size_t)sprintf(body, "{\"name\":\"bench\",\"channel\":\"%s\",\"data\":\"%s\"}", ch, data);
    } else {
        path_tail = "events";
        bl += (size_t)sprintf(body, "{\"name\":\"bench\",\"channels\":[");
        for (int i = 0; i < n; i++) {
            chan_name(ch, sizeof ch, (u + (uint64_t)i) % (uint64_t)O.channels);
            bl += (size_t)sprintf(body + bl, "%s\"%s\"", i ? "," : "", ch);
        }
        bl += (size_t)sprintf(body + bl, "],\"data\":\"%s\"}", data);
    }
    pc->seq++;
    unsigned char md[32];
    unsigned int mdl = 0;
    char md5hex[33], sighex[65];
    EVP_Digest(body, bl, md, &mdl, EVP_md5(), NULL);
    hexify(md5hex, md, 16);
    char path[128], query[256], tosign[512];
    snprintf(path, sizeof path, "/apps/%s/%s", O.app_id, path_tail);
    int ql = snprintf(query, sizeof query,
                      "auth_key=%s&auth_timestamp=%ld&auth_version=1.0&body_md5=%s", O.key,
                      (long)time(NULL), md5hex);
    int sl = snprintf(tosign, sizeof tosign, "POST\n%s\n%s", path, query);
    HMAC(EVP_sha256(), O.secret, (int)strlen(O.secret), (unsigned char *)tosign, (size_t)sl, md, &mdl);
    hexify(sighex, md, 32);
    buf_reserve(&pc->out, &pc->ocap, pc->olen + bl + 1024);
    pc->olen += (size_t)sprintf(pc->out + pc->olen,
                                "POST %s?%.*s&auth_signature=%s HTTP/1.1\r\nHost: %s:%d\r\n"
                                "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                                path, ql, query, sighex, O.host, O.port, bl);
    memcpy(pc->out + pc->olen, body, bl);
    pc->olen += bl;
}

static void pub_flush(pconn_t *pc)
{
    while (pc->ooff < pc->olen && !pc->dead) {
        ssize_t k = send(pc->fd, pc->out + pc->ooff, pc->olen - pc->ooff, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR)
                continue;
            pc->dead = 1;
            break;
        }
        pc->ooff += (size_t)k;
    }
    if (pc->ooff == pc->olen)
        pc->ooff = pc->olen = 0;
}

static const char *find_ci(const char *h, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (strncasecmp(h + i, needle, m) == 0)
            return h + i;
    return NULL;
}

/* Parses complete responses; returns the number of responses consumed. */
static int pub_parse(pconn_t *pc, wslot_t *s, uint64_t now, int *printed)
{
    size_t off = 0;
    int got = 0;
    for (;;) {
        char *b = pc->in + off;
        size_t avail = pc->ilen - off;
        char *e = memmem(b, avail, "\r\n\r\n", 4);
        if (!e)
            break;
        size_t hl = (size_t)(e - b) + 4, total;
        int status = avail > 12 ? atoi(b + 9) : 0;
        const char *cl = find_ci(b, hl, "\r\ncontent-length:");
        if (cl) {
            total = hl + (size_t)strtoul(cl + 17, NULL, 10);
            if (avail < total)
                break;
        } else if (find_ci(b, hl, "\r\ntransfer-encoding: chunked")) {
            size_t p = hl;
            int done = 0;
            for (;;) {
                char *le = memmem(b + p, avail - p, "\r\n", 2);
                if (!le)
                    break;
                size_t csz = strtoul(b + p, NULL, 16);
                size_t next = (size_t)(le - b) + 2 + csz + 2;
                if (next > avail)
                    break;
                p = next;
                if (csz == 0) {
                    done = 1;
                    break;
                }
            }
            if (!done)
                break;
            total = p;
        } else {
            total = hl;
        }
        if (!pc->seen_resp) {
            /* the first answer tells whether the server keeps connections
             * alive (pushi, sockudo) or closes after each response (soketi) */
            pc->seen_resp = 1;
            pc->closes = find_ci(b, hl, "\r\nconnection: close") != NULL;
            pc->cap = pc->closes ? 1 : O.pipeline;
        }
        if (pc->closes)
            pc->reconnect = 1;
        if (pc->inflight > 0) {
            uint64_t t = pc->sent_t[pc->head];
            pc->head = (pc->head + 1) % O.pipeline;
            pc->inflight--;
            s->hist_a[hidx(now > t ? now - t : 0)]++;
        }
        if (status == 200) {
            H->req_ok++;
        } else {
            H->req_err++;
            if ((*printed)++ < 3)
                logf_("publisher: HTTP %d: %.*s", status, (int)(total > 400 ? 400 : total), b);
        }
        off += total;
        got++;
    }
    if (off) {
        memmove(pc->in, pc->in + off, pc->ilen - off);
        pc->ilen -= off;
    }
    return got;
}

static uint64_t g_reconnects;

static void pconn_connect(pconn_t *pc, int ep, int i)
{
    pc->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(pc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(pc->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000002u + ((uint32_t)(i + (int)g_reconnects) % (uint32_t)O.nsrc));
    if (bind(pc->fd, (struct sockaddr *)&src, sizeof src) < 0 ||
        connect(pc->fd, (struct sockaddr *)&g_server, sizeof g_server) < 0)
        die("publisher connect: %s", strerror(errno));
    fcntl(pc->fd, F_SETFL, O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.u32 = (uint32_t)i};
    epoll_ctl(ep, EPOLL_CTL_ADD, pc->fd, &ev);
    pc->dead = 0;
    pc->eof = 0;
    pc->reconnect = 0;
    pc->ilen = pc->olen = pc->ooff = 0;
    pc->head = pc->inflight = 0;
    if (!pc->seen_resp)
        pc->cap = 1;
}

static uint64_t sum_received(int nw)
{
    uint64_t r = 0;
    for (int i = 0; i < nw; i++)
        r += LD(slot(i)->received);
    return r;
}

static void publisher_main(int nw)
{
    wslot_t *s = slot(nw);
    int K = O.pub_conns;
    pconn_t *pcs = calloc((size_t)K, sizeof(pconn_t));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < K; i++) {
        pconn_t *pc = &pcs[i];
        pc->sent_t = calloc((size_t)O.pipeline, sizeof(uint64_t));
        pconn_connect(pc, ep, i);
    }
    uint64_t hard = now_ns() + (uint64_t)(O.timeout * 1e9);
    while (!LD(H->ready) && !LD(H->stop) && now_ns() < hard)
        usleep(1000);
    uint64_t t0 = now_ns();
    ST(H->t_pub_start, t0);
    uint64_t t_end = t0 + (uint64_t)(O.duration * 1e9);
    uint64_t units = 0, deliv = 0, max_units = O.max_units > 0 ? (uint64_t)O.max_units : UINT64_MAX;
    uint64_t window = O.window > 0 ? (uint64_t)O.window : 0;
    int G = O.group < 1 ? 1 : O.group;
    if (G > O.channels)
        G = O.channels;
    double units_per_ns = O.scenario == SC_LATENCY ? O.rate * O.channels / 1e9 : 0;
    int printed = 0, rr = 0;
    struct epoll_event evs[MAXSTREAMS];
    uint64_t last_resp = t0;
    for (;;) {
        uint64_t now = now_ns();
        int sending = now < t_end && units < max_units && !LD(H->stop) && now < hard;
        int inflight = 0;
        for (int i = 0; i < K; i++)
            inflight += pcs[i].dead ? 0 : pcs[i].inflight;
        if (!sending && (inflight == 0 || now > hard || now > t_end + 10000000000ULL))
            break;
        int blocked = 0;
        if (sending) {
            uint64_t received = window ? sum_received(nw) : 0;
            for (int j = 0; j < K; j++) {
                int i = (rr + j) % K;
                pconn_t *pc = &pcs[i];
                if (pc->reconnect && pc->inflight == 0) {
                    close(pc->fd);
                    g_reconnects++;
                    pconn_connect(pc, ep, i);
                }
                while (!pc->dead && !pc->reconnect && pc->inflight < pc->cap && units < max_units) {
                    if (units_per_ns > 0) {
                        uint64_t due = (uint64_t)((double)(now - t0) * units_per_ns) + 1;
                        if (units >= due)
                            break;
                    }
                    if (window && deliv > received + window) {
                        blocked = 1;
                        break;
                    }
                    int n = G;
                    if ((uint64_t)n > max_units - units)
                        n = (int)(max_units - units);
                    pc->sent_t[(pc->head + pc->inflight) % O.pipeline] = now;
                    pub_build(pc, i, units, n, now);
                    pc->inflight++;
                    for (int k = 0; k < n; k++)
                        deliv += subs_on((units + (uint64_t)k) % (uint64_t)O.channels);
                    units += (uint64_t)n;
                    if (units_per_ns == 0 && pc->olen > 256 * 1024)
                        break;
                }
                pub_flush(pc);
            }
            rr = (rr + 1) % K;
            ST(H->units_sent, units);
        }
        int timeout = sending ? ((units_per_ns > 0 || blocked) ? 1 : 0) : 5;
        int inflight_any = 0;
        for (int i = 0; i < K; i++)
            inflight_any |= pcs[i].inflight > 0;
        if (sending && !blocked && !inflight_any && units_per_ns == 0)
            timeout = 0;
        if (timeout == 0 && sending && !blocked) {
            /* all pipelines may be full: wait for a response */
            int full = 1;
            for (int i = 0; i < K; i++)
                if (!pcs[i].dead && pcs[i].inflight < pcs[i].cap)
                    full = 0;
            if (full)
                timeout = 1;
        }
        int n = epoll_wait(ep, evs, MAXSTREAMS, timeout);
        now = now_ns();
        for (int e = 0; e < n; e++) {
            pconn_t *pc = &pcs[evs[e].data.u32];
            if (evs[e].events & EPOLLOUT)
                pub_flush(pc);
            if (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    buf_reserve(&pc->in, &pc->icap, pc->ilen + 65536);
                    ssize_t k = recv(pc->fd, pc->in + pc->ilen, pc->icap - pc->ilen, 0);
                    if (k > 0) {
                        pc->ilen += (size_t)k;
                        continue;
                    }
                    if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                        pc->eof = 1;
                    }
                    break;
                }
                if (pub_parse(pc, s, now, &printed))
                    last_resp = now;
                if (pc->eof && !pc->dead && !pc->reconnect) {
                    if (pc->closes) {
                        pc->reconnect = 1;
                    } else {
                        if (printed++ < 3)
                            logf_("publisher: connection %d closed by the server",
                                  (int)evs[e].data.u32);
                        pc->dead = 1;
                    }
                }
            }
        }
        /* failed connections lose their in-flight requests */
        for (int i = 0; i < K; i++)
            if ((pcs[i].dead || pcs[i].eof) && pcs[i].inflight) {
                H->req_err += (uint64_t)pcs[i].inflight;
                pcs[i].inflight = 0;
            }
        int alive = 0;
        for (int i = 0; i < K; i++)
            alive += !pcs[i].dead;
        if (!alive)
            break;
    }
    if (units_per_ns > 0) {
        uint64_t due = (uint64_t)((double)(now_ns() - t0) * units_per_ns);
        if (due > units && units < max_units && now_ns() < t_end)
            H->pub_lag = due - units;
    }
    ST(H->t_pub_end, last_resp);
    ST(H->units_total, units);
    ST(H->pub_done, 1);
    for (int i = 0; i < K; i++)
        close(pcs[i].fd);
    ST(s->exited, 1);
    _exit(0);
}

/* ------------------------------------------------------------------ */
/* master */
static long rss_kb(int pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    fclose(f);
    return v;
}

static double cpu_s(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* fields after ")": 3 state ... 14 utime 15 stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

typedef struct {
    uint64_t h[HB];
    uint64_t n;
} hist_t;

static double pct(const hist_t *h, double q)
{
    if (!h->n)
        return 0;
    uint64_t want = (uint64_t)(q * (double)h->n);
    if (want >= h->n)
        want = h->n - 1;
    uint64_t acc = 0;
    for (int i = 0; i < HB; i++) {
        acc += h->h[i];
        if (acc > want)
            return hval(i);
    }
    return hval(HB - 1);
}
static double hmax(const hist_t *h)
{
    for (int i = HB - 1; i >= 0; i--)
        if (h->h[i])
            return hval(i);
    return 0;
}
static void print_hist(const char *name, const hist_t *h, int comma)
{
    printf("\"%s\":{\"n\":%" PRIu64 ",\"p50\":%.4f,\"p90\":%.4f,\"p99\":%.4f,\"p999\":%.4f,\"max\":%.4f}%s",
           name, h->n, pct(h, .5) / 1e6, pct(h, .9) / 1e6, pct(h, .99) / 1e6, pct(h, .999) / 1e6,
           hmax(h) / 1e6, comma ? "," : "");
}

static pid_t g_kids[MAXW + 1];
static int g_nkids;

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen SCENARIO [options]\n"
            "scenarios: connect fanout latency http many-channels\n"
            "  --port P (6001)  --host 127.0.0.1  --app-id ID --key K --secret S\n"
            "  --conns N        connections / subscribers\n"
            "  --channels C     channels the subscribers are spread over (latency; many-channels: =N)\n"
            "  --duration S     publishing time (5)      --timeout S  hard cap (120)\n"
            "  --pub-conns K    HTTP publisher connections (4)  --pipeline D  requests in flight each (16)\n"
            "  --window W       deliveries in flight, published but not received (32 x conns)\n"
            "  --rate R         events/s per subscriber (latency, 10)\n"
            "  --payload B      bytes of event data (100)  --group G  channels per request (many-channels 100)\n"
            "  --batch          use batch_events (10 events per request) instead of multi-channel events\n"
            "  --max-events E   stop after E channel-events\n"
            "  --publisher http|external|none   --progress-file PATH (shared counters for external)\n"
            "  --per-worker M   sockets per process (7500)  --sources A  source addresses 127.0.0.2.. (16)\n"
            "  --concurrency X  handshakes in flight per worker (128)\n"
            "  --server-pid PID for RSS/CPU  --settle S (2)  --drain S (15)  --label NAME\n"
            "  --busy-poll      subscriber workers poll epoll without sleeping once subscribed (no\n"
            "                   wake-ups for the server to pay on loopback; use with one worker)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    O.scenario = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(argv[1], sc_names[i]) == 0)
            O.scenario = i;
    if (O.scenario < 0)
        usage();
    O.label = "server";
    O.host = "127.0.0.1";
    O.port = 6001;
    O.app_id = "1234567";
    O.key = "pushi-bench-key";
    O.secret = "pushi-bench-secret";
    O.conns = -1;
    O.channels = -1;
    O.per_worker = 7500;
    O.nsrc = 16;
    O.concurrency = 128;
    O.duration = 5;
    O.timeout = 120;
    O.settle = 2;
    O.drain = 15;
    O.rate = 10;
    O.pub_conns = 4;
    O.pipeline = 16;
    O.payload = 100;
    O.group = -1;
    const char *publisher = NULL;
    static struct option lo[] = {
        {"port", 1, 0, 'p'},        {"host", 1, 0, 'H'},        {"app-id", 1, 0, 'a'},
        {"key", 1, 0, 'k'},         {"secret", 1, 0, 's'},      {"conns", 1, 0, 'n'},
        {"channels", 1, 0, 'c'},    {"duration", 1, 0, 'd'},    {"timeout", 1, 0, 'T'},
        {"pub-conns", 1, 0, 'K'},   {"pipeline", 1, 0, 'D'},    {"window", 1, 0, 'w'},
        {"rate", 1, 0, 'r'},        {"payload", 1, 0, 'b'},     {"group", 1, 0, 'g'},
        {"batch", 0, 0, 'B'},       {"max-events", 1, 0, 'E'},  {"publisher", 1, 0, 'P'},
        {"progress-file", 1, 0, 'F'}, {"per-worker", 1, 0, 'M'}, {"sources", 1, 0, 'A'},
        {"concurrency", 1, 0, 'X'}, {"server-pid", 1, 0, 'S'},  {"settle", 1, 0, 'z'},
        {"drain", 1, 0, 'Z'},       {"label", 1, 0, 'L'},       {"help", 0, 0, 'h'},
        {"busy-poll", 0, 0, 'Y'},
        {0, 0, 0, 0}};
    int ch;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (ch) {
        case 'p': O.port = atoi(optarg); break;
        case 'H': O.host = optarg; break;
        case 'a': O.app_id = optarg; break;
        case 'k': O.key = optarg; break;
        case 's': O.secret = optarg; break;
        case 'n': O.conns = atoi(optarg); break;
        case 'c': O.channels = atoi(optarg); break;
        case 'd': O.duration = atof(optarg); break;
        case 'T': O.timeout = atof(optarg); break;
        case 'K': O.pub_conns = atoi(optarg); break;
        case 'D': O.pipeline = atoi(optarg); break;
        case 'w': O.window = atoll(optarg); break;
        case 'r': O.rate = atof(optarg); break;
        case 'b': O.payload = atoi(optarg); break;
        case 'g': O.group = atoi(optarg); break;
        case 'B': O.batch = 1; break;
        case 'E': O.max_units = atoll(optarg); break;
        case 'P': publisher = optarg; break;
        case 'F': O.progress_file = optarg; break;
        case 'M': O.per_worker = atoi(optarg); break;
        case 'A': O.nsrc = atoi(optarg); break;
        case 'X': O.concurrency = atoi(optarg); break;
        case 'S': O.server_pid = atoi(optarg); break;
        case 'z': O.settle = atof(optarg); break;
        case 'Z': O.drain = atof(optarg); break;
        case 'L': O.label = optarg; break;
        case 'Y': O.busy_poll = 1; break;
        default: usage();
        }
    }
    /* scenario defaults */
    static const int def_conns[] = {1000, 1000, 10000, 0, 1000};
    if (O.conns < 0)
        O.conns = def_conns[O.scenario];
    if (O.channels < 0)
        O.channels = O.scenario == SC_LATENCY ? 100 : O.scenario == SC_MANY ? O.conns : 1;
    if (O.channels < 1)
        O.channels = 1;
    if (O.group < 0)
        O.group = O.scenario == SC_MANY ? (O.batch ? 10 : 100) : 1;
    if (O.batch && O.group > 10)
        O.group = 10;
    int pub_http = O.scenario != SC_CONNECT;
    if (publisher) {
        if (strcmp(publisher, "external") == 0) {
            O.external = 1;
            pub_http = 0;
        } else if (strcmp(publisher, "none") == 0) {
            pub_http = 0;
        } else if (strcmp(publisher, "http") != 0) {
            usage();
        }
    }
    if (O.window == 0 && (O.scenario == SC_FANOUT || O.scenario == SC_MANY))
        O.window = 32LL * (O.conns > 0 ? O.conns : 1);
    if (O.scenario == SC_LATENCY || O.scenario == SC_HTTP)
        O.window = O.window > 0 ? O.window : 0;
    if (O.pub_conns < 1 || O.pub_conns > MAXSTREAMS || O.pipeline < 1 || O.payload < 24 ||
        O.payload > 2000 || O.conns < 0 || O.nsrc < 1 || O.nsrc > 250 || O.per_worker < 1 ||
        O.per_worker > 15000)
        die("option out of range");
    if (O.timeout > 1800)
        O.timeout = 1800; /* always bounded */
    if (O.scenario == SC_MANY && O.channels < O.conns)
        die("many-channels needs --channels >= --conns");
    int nw = O.conns ? (O.conns + O.per_worker - 1) / O.per_worker : 0;
    if (nw > MAXW)
        die("too many connections for %d workers of %d", MAXW, O.per_worker);
    memset(g_pad, 'x', sizeof g_pad);
    g_idlen = strlen(O.app_id);

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)O.per_worker + 100)
            die("open-file limit %lu too low for --per-worker %d", (unsigned long)rl.rlim_cur,
                O.per_worker);
    }
    memset(&g_server, 0, sizeof g_server);
    g_server.sin_family = AF_INET;
    g_server.sin_port = htons((uint16_t)O.port);
    if (inet_pton(AF_INET, O.host, &g_server.sin_addr) != 1 ||
        (ntohl(g_server.sin_addr.s_addr) >> 24) != 127)
        die("--host must be an IPv4 loopback address (127.0.0.0/8)");

    size_t shm_size = 4096 + (size_t)(MAXW + 1) * WSTRIDE;
    if (O.progress_file) {
        int fd = open(O.progress_file, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || ftruncate(fd, (off_t)shm_size) < 0)
            die("progress file %s: %s", O.progress_file, strerror(errno));
        g_shm = mmap(NULL, shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
    } else {
        g_shm = mmap(NULL, shm_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    }
    if (g_shm == MAP_FAILED)
        die("mmap: %s", strerror(errno));
    H = (shm_hdr_t *)g_shm;
    H->nworkers = (uint64_t)nw;
    H->total_subs = (uint64_t)O.conns;
    H->channels = (uint64_t)O.channels;
    H->window = (uint64_t)O.window;
    H->nstreams = O.external ? 1 : (uint64_t)O.pub_conns;
    ST(H->magic, MAGIC);

    long rss0 = O.server_pid ? rss_kb(O.server_pid) : -1;
    double cpu_start = O.server_pid ? cpu_s(O.server_pid) : -1;
    fflush(NULL);
    uint64_t t_start = now_ns();
    for (int i = 0; i < nw; i++) {
        int first = i * O.per_worker, count = O.conns - first;
        if (count > O.per_worker)
            count = O.per_worker;
        pid_t p = fork();
        if (p < 0)
            die("fork: %s", strerror(errno));
        if (p == 0)
            worker_main(i, first, count);
        g_kids[g_nkids++] = p;
    }
    logf_("%s %s: %d connections in %d workers, %d channels", O.label, sc_names[O.scenario], O.conns,
          nw, O.channels);
    uint64_t hard = t_start + (uint64_t)(O.timeout * 1e9);
    int ok = 1;
    /* phase 1: everyone subscribed */
    uint64_t last_log = t_start;
    for (;;) {
        int all = 1;
        for (int i = 0; i < nw; i++)
            all &= LD(slot(i)->ready) != 0;
        if (all)
            break;
        uint64_t now = now_ns();
        if (now > hard) {
            logf_("timeout while connecting");
            ok = 0;
            break;
        }
        if (now - last_log > 1000000000ULL) {
            last_log = now;
            uint64_t sub = 0, fail = 0;
            for (int i = 0; i < nw; i++) {
                sub += slot(i)->subscribed;
                fail += slot(i)->failed;
            }
            logf_("  subscribed %" PRIu64 "/%d, failed %" PRIu64, sub, O.conns, fail);
        }
        usleep(2000);
    }
    uint64_t subscribed = 0, failed = 0, t_first_conn = UINT64_MAX, t_last_sub = 0;
    hist_t hs = {0}, lat = {0}, httpl = {0};
    for (int i = 0; i < nw; i++) {
        wslot_t *s = slot(i);
        subscribed += s->subscribed;
        failed += s->failed;
        if (s->t_first_conn && s->t_first_conn < t_first_conn)
            t_first_conn = s->t_first_conn;
        if (s->t_last_sub > t_last_sub)
            t_last_sub = s->t_last_sub;
        for (int b = 0; b < HB; b++) {
            hs.h[b] += s->hist_b[b];
            hs.n += s->hist_b[b];
        }
    }
    double hs_secs = (t_last_sub > t_first_conn && t_first_conn != UINT64_MAX)
                         ? (double)(t_last_sub - t_first_conn) / 1e9 : 0;
    logf_("%" PRIu64 " subscribed, %" PRIu64 " failed in %.3f s", subscribed, failed, hs_secs);
    if (failed)
        ok = 0;
    long rss1 = -1;
    double cpu_a = 0, cpu_b = 0;
    uint64_t t_ready = now_ns();
    if (O.scenario == SC_CONNECT) {
        uint64_t until = now_ns() + (uint64_t)(O.settle * 1e9);
        while (now_ns() < until && now_ns() < hard)
            usleep(10000);
        rss1 = O.server_pid ? rss_kb(O.server_pid) : -1;
    } else {
        if (pub_http) {
            pid_t p = fork();
            if (p < 0)
                die("fork: %s", strerror(errno));
            if (p == 0)
                publisher_main(nw);
            g_kids[g_nkids++] = p;
        }
        cpu_a = O.server_pid ? cpu_s(O.server_pid) : 0;
        ST(H->ready, 1);
        t_ready = now_ns();
        if (!pub_http && !O.external) {
            ST(H->units_total, 0);
            ST(H->pub_done, 1);
        }
        while (!LD(H->pub_done)) {
            uint64_t now = now_ns();
            if (now > hard) {
                logf_("timeout while publishing");
                ok = 0;
                break;
            }
            if (now - last_log > 1000000000ULL) {
                last_log = now;
                logf_("  published %" PRIu64 " units, received %" PRIu64, LD(H->units_sent),
                      sum_received(nw));
            }
            usleep(2000);
        }
        uint64_t drain_until = now_ns() + (uint64_t)(O.drain * 1e9);
        for (;;) {
            int all = 1;
            for (int i = 0; i < nw; i++)
                all &= LD(slot(i)->complete) != 0 || LD(slot(i)->exited) != 0;
            if (all || now_ns() > drain_until || now_ns() > hard)
                break;
            usleep(2000);
        }
        cpu_b = O.server_pid ? cpu_s(O.server_pid) : 0;
    }
    ST(H->stop, 1);
    uint64_t kill_at = now_ns() + 5000000000ULL;
    int left = g_nkids;
    while (left > 0) {
        int st;
        pid_t p = waitpid(-1, &st, WNOHANG);
        if (p > 0) {
            left--;
            continue;
        }
        if (p < 0)
            break;
        if (now_ns() > kill_at) {
            for (int i = 0; i < g_nkids; i++)
                kill(g_kids[i], SIGKILL);
            kill_at = UINT64_MAX;
            ok = 0;
        }
        usleep(2000);
    }
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    double lg_cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                    ru.ru_stime.tv_usec / 1e6;
    double cpu_end = O.server_pid ? cpu_s(O.server_pid) : -1;

    /* aggregate */
    uint64_t recv = 0, oerr = 0, perr = 0, missing = 0, extra = 0, closed = 0, serr = 0, mism = 0,
             complete = 0, t_first_rx = UINT64_MAX, t_last_rx = 0, h0 = 0;
    int have_h0 = 0;
    for (int i = 0; i < nw; i++) {
        wslot_t *s = slot(i);
        recv += s->received;
        oerr += s->order_errors;
        perr += s->parse_errors;
        missing += s->missing;
        extra += s->extra;
        closed += s->closed;
        serr += s->server_errors;
        mism += s->hash_mismatch;
        complete += s->subs_complete;
        if (s->t_first_rx && s->t_first_rx < t_first_rx)
            t_first_rx = s->t_first_rx;
        if (s->t_last_rx > t_last_rx)
            t_last_rx = s->t_last_rx;
        if (O.channels == 1 && s->subscribed) {
            if (!have_h0) {
                h0 = s->hash;
                have_h0 = 1;
            } else if (s->hash != h0) {
                mism++;
            }
        }
        for (int b = 0; b < HB; b++) {
            lat.h[b] += s->hist_a[b];
            lat.n += s->hist_a[b];
        }
    }
    if (pub_http)
        for (int b = 0; b < HB; b++) {
            httpl.h[b] += slot(nw)->hist_a[b];
            httpl.n += slot(nw)->hist_a[b];
        }
    uint64_t units = H->units_total;
    uint64_t expected = 0;
    for (uint64_t c = 0; c < (uint64_t)O.channels && c < (uint64_t)O.conns; c++)
        expected += subs_on(c) * expected_for(c, units);
    double rx_secs = t_last_rx > t_first_rx && t_first_rx != UINT64_MAX
                         ? (double)(t_last_rx - t_first_rx) / 1e9 : 0;
    double pub_secs = H->t_pub_end > H->t_pub_start ? (double)(H->t_pub_end - H->t_pub_start) / 1e9 : 0;

    printf("{\"scenario\":\"%s\",\"server\":\"%s\",\"connections\":%d,\"channels\":%d,", sc_names[O.scenario],
           O.label, O.conns, O.channels);
    printf("\"subscribed\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"connect_seconds\":%.4f,\"handshakes_per_s\":%.1f,",
           subscribed, failed, hs_secs, hs_secs > 0 ? (double)subscribed / hs_secs : 0);
    print_hist("handshake_ms", &hs, 1);
    if (O.scenario == SC_CONNECT) {
        long d = rss0 >= 0 && rss1 >= 0 ? rss1 - rss0 : -1;
        printf("\"rss_before_kb\":%ld,\"rss_after_kb\":%ld,\"rss_per_conn_bytes\":%.1f,", rss0, rss1,
               d >= 0 && subscribed ? (double)d * 1024.0 / (double)subscribed : -1.0);
        if (O.server_pid)
            printf("\"server_cpu_s\":%.3f,", cpu_end - cpu_start);
    } else {
        int complete_ok = missing == 0 && extra == 0 && closed == 0 && failed == 0 &&
                          (O.conns == 0 || complete == (uint64_t)O.conns);
        int order_ok = oerr == 0 && perr == 0;
        if (!complete_ok || !order_ok || mism)
            ok = 0;
        if (H->req_err)
            ok = 0;
        if (!LD(H->pub_done))
            ok = 0;
        if (O.scenario != SC_HTTP && units == 0)
            ok = 0;
        if (O.scenario == SC_HTTP && H->req_ok == 0)
            ok = 0;
        printf("\"publisher\":\"%s\",\"events\":%" PRIu64 ",\"requests_ok\":%" PRIu64 ",\"requests_failed\":%" PRIu64
               ",\"publish_seconds\":%.4f,\"requests_per_s\":%.1f,\"events_per_s\":%.1f,",
               O.external ? "external" : pub_http ? "http" : "none", units, H->req_ok, H->req_err, pub_secs,
               pub_secs > 0 ? (double)H->req_ok / pub_secs : 0, pub_secs > 0 ? (double)units / pub_secs : 0);
        printf("\"deliveries\":%" PRIu64 ",\"expected_deliveries\":%" PRIu64 ",\"receive_seconds\":%.4f,"
               "\"deliveries_per_s\":%.1f,",
               recv, expected, rx_secs, rx_secs > 0 ? (double)recv / rx_secs : 0);
        printf("\"complete\":%s,\"in_order\":%s,\"same_order\":%s,\"missing\":%" PRIu64 ",\"extra\":%" PRIu64
               ",\"order_errors\":%" PRIu64 ",\"parse_errors\":%" PRIu64 ",\"closed_by_server\":%" PRIu64
               ",\"server_errors\":%" PRIu64 ",\"publish_lag\":%" PRIu64 ",",
               complete_ok ? "true" : "false", order_ok ? "true" : "false", mism ? "false" : "true", missing,
               extra, oerr, perr, closed, serr, H->pub_lag);
        print_hist("latency_ms", &lat, 1);
        if (pub_http)
            print_hist("http_latency_ms", &httpl, 1);
        if (O.server_pid) {
            double sc = cpu_b - cpu_a;
            double wall = (double)(now_ns() - t_ready) / 1e9;
            (void)wall;
            printf("\"server_cpu_s\":%.3f,\"server_cpu_ns_per_delivery\":%.1f,", sc,
                   recv ? sc * 1e9 / (double)recv : 0);
        }
    }
    printf("\"loadgen_cpu_s\":%.3f,\"wall_seconds\":%.3f,\"ok\":%s}\n", lg_cpu,
           (double)(now_ns() - t_start) / 1e9, ok ? "true" : "false");
    fflush(stdout);
    if (O.progress_file)
        munmap(g_shm, shm_size);
    return ok ? 0 : 1;
}

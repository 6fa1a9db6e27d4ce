/* fuzz_ws.c - the server side of a WebSocket (px_ws over wslay).
 *
 * Input: byte 0 holds options, byte 1 the chunking seed (fuzz_common.h),
 * the rest is what a client sends after the upgrade. It goes to px_ws_feed
 * in those chunks, each copied into a block of its own size. Clients must
 * mask their frames; a mask key of 00000000 leaves the payload readable,
 * which is what most corpus inputs use.
 *
 * Options (byte 0):
 *   bit 0    binary messages accepted (the echo endpoint) instead of 1003
 *   bits 1-2 largest message: 65536, 125, 1024, 16 MiB
 *   bit 3    the server starts a close (4200) before chunk number bits 4-6
 *   bit 7    the connection refuses writes after its first one
 *
 * Invariants:
 *   - nothing is delivered after on_fail, on_fail comes at most once, and
 *     px_ws_feed returns -1 exactly once it has come;
 *   - no message is delivered after the peer's close, which comes at most
 *     once with 1005 or a code a peer may send;
 *   - text messages are valid UTF-8 (checked here independently of
 *     px_utf8_*) and no message exceeds the size limit;
 *   - the written bytes are whole, valid server frames: unmasked, final,
 *     no reserved bits, only close and pong, control payloads of at most
 *     125 bytes, a close payload empty or a sendable code plus UTF-8, at
 *     most one close and nothing after it;
 *   - on failure a close frame is out (unless writes were refused), carrying
 *     on_fail's code unless one was out before on_fail came;
 *   - px_ws_close() succeeds exactly when no close frame was out yet;
 *   - px_ws_close_done() only after both closes (the peer's may have been
 *     refused);
 *   - against a reference decoder of the client's bytes written here from
 *     RFC 6455 (no wslay): every delivered message is the client's next
 *     one, byte for byte; the peer's close comes only for a valid close,
 *     after all messages before it; a stream without errors is never failed
 *     and all its messages arrive; a protocol error is answered once the
 *     offending frame is complete. Cases the RFC leaves open (failing fast
 *     on a UTF-8 prefix or on a header, non-minimal lengths, codes
 *     1012-1014) may go either way. */
#include "../../csrc/px_ws.h"
#include "fuzz_common.h"

typedef struct {
    px_ws_t ws;
    uint8_t opts;
    uint32_t max_message;
    px_buf_t out;          /* everything written */
    size_t parsed;         /* bytes of out validated as whole frames */
    int writes;
    int refuse_writes;     /* writes fail from now on */
    int write_failed;      /* a write was refused */
    int fails;
    uint16_t fail_code;
    int closes_at_fail;    /* close frames written when on_fail came */
    int peer_closes;
    int closes_out;        /* close frames written */
    uint16_t first_close_code; /* 0: none, 1005: empty close */
    size_t delivered;      /* messages delivered so far */
    int server_closing;    /* px_ws_close was called */
} state_t;

static state_t S;

static int sendable_code(uint16_t c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
           (c >= 3000 && c <= 4999);
}

/* ---------------------------------------------------------------- reference
 * An independent decoder of what the client sent (RFC 6455 from the text,
 * no wslay): the messages it carries, and how the stream ends. */

enum {
    REF_INCOMPLETE,  /* ends inside a frame (or exactly between frames) */
    REF_CLOSED,      /* a valid close frame: the rest is ignored */
    REF_ERROR,       /* a protocol error the server must answer */
    REF_EITHER,      /* a case implementations may treat either way */
};

typedef struct {
    uint8_t op;      /* 1 text, 2 binary */
    size_t off, len; /* in ref.msgs */
} ref_msg_t;

typedef struct {
    px_buf_t msgs;        /* payloads of complete messages, back to back */
    ref_msg_t *list;
    size_t n, cap;
    int end;              /* REF_* */
    uint16_t close_code;  /* REF_CLOSED: 1005 when the close had no code */
    int close_reason;     /* REF_CLOSED: the close carried a reason */
} ref_t;

static ref_t R;

static void ref_decode(const uint8_t *p, size_t n, int binary_ok, uint32_t max)
{
    size_t i = 0;
    int in_msg = 0;
    uint8_t msg_op = 0;
    px_buf_t cur = PX_BUF_INIT;
    R.end = REF_INCOMPLETE;
    while (i < n) {
        if (n - i < 2)
            break;
        uint8_t b0 = p[i], b1 = p[i + 1];
        int fin = b0 & 0x80, op = b0 & 0x0f, masked = b1 & 0x80;
        int control = op & 8;
        uint64_t len = b1 & 0x7f;
        /* What the first two bytes show may be refused at once. */
        int bad2 = !masked || (b0 & 0x70) || (op > 2 && op < 8) || op > 10 ||
                   (control && (!fin || len > 125)) || (op == 0 && !in_msg) ||
                   ((op == 1 || op == 2) && in_msg);
        size_t h = 2;
        if (len == 126) {
            if (n - i < 4) {
                R.end = bad2 ? REF_EITHER : REF_INCOMPLETE;
                break;
            }
            len = (uint64_t)p[i + 2] << 8 | p[i + 3];
            h = 4;
            if (len < 126 && !bad2) { /* not the shortest form */
                R.end = REF_EITHER;
                break;
            }
        } else if (len == 127) {
            if (n - i < 10) {
                R.end = bad2 ? REF_EITHER : REF_INCOMPLETE;
                break;
            }
            len = 0;
            for (int k = 0; k < 8; k++)
                len = len << 8 | p[i + 2 + k];
            h = 10;
            if (len >> 63) { /* answered once the header is all there */
                R.end = n - i >= h + (masked ? 4u : 0u) ? REF_ERROR : REF_EITHER;
                break;
            }
            if (len < 65536 && !bad2) {
                R.end = REF_EITHER;
                break;
            }
        }
        size_t whole = h + (masked ? 4 : 0);
        int complete = n - i >= whole && n - i - whole >= len;
        if (bad2 || (!control && cur.len + len > max)) {
            /* Must be answered once the frame is all there; may be from
             * its header on. */
            R.end = complete ? REF_ERROR : REF_EITHER;
            break;
        }
        if (!complete) {
            /* A text message may be failed as soon as its bytes cannot
             * start valid UTF-8 (fail fast). */
            if ((op == 1 || (op == 0 && msg_op == 1)) && n - i > whole) {
                const uint8_t *mk = p + i + h;
                for (size_t k = 0; k < n - i - whole; k++) {
                    uint8_t c = mk[4 + k] ^ mk[k & 3];
                    FZ_ASSERT(px_buf_append(&cur, &c, 1) == 0);
                }
                if (!fz_utf8_prefix_ok((const uint8_t *)cur.data, cur.len))
                    R.end = REF_EITHER;
            }
            break;
        }
        const uint8_t *mk = p + i + h;
        const uint8_t *pl = mk + 4;
        uint8_t ctl[125];
        for (size_t k = 0; k < len; k++) {
            uint8_t c = pl[k] ^ mk[k & 3];
            if (control)
                ctl[k] = c;
            else
                FZ_ASSERT(px_buf_append(&cur, &c, 1) == 0);
        }
        i += h + 4 + (size_t)len;
        if (op == 8) {
            uint16_t code = 1005;
            if (len == 1) {
                R.end = REF_ERROR;
                break;
            }
            if (len >= 2) {
                code = (uint16_t)(ctl[0] << 8 | ctl[1]);
                if (code >= 1012 && code <= 1014) { /* registered after RFC 6455 */
                    R.end = REF_EITHER;
                    break;
                }
                if (!sendable_code(code) || !fz_utf8_ok(ctl + 2, len - 2)) {
                    R.end = REF_ERROR;
                    break;
                }
            }
            R.end = REF_CLOSED;
            R.close_code = code;
            R.close_reason = len > 2;
            break;
        }
        if (control)
            continue; /* ping (answered) or pong */
        if (op != 0)
            msg_op = (uint8_t)op;
        in_msg = !fin;
        if (!fin) {
            if (msg_op == 1 && !fz_utf8_prefix_ok((const uint8_t *)cur.data, cur.len)) {
                R.end = REF_EITHER; /* fail fast, or when the message ends */
                break;
            }
            continue;
        }
        if ((msg_op == 1 && !fz_utf8_ok((const uint8_t *)cur.data, cur.len)) ||
            (msg_op == 2 && !binary_ok)) {
            R.end = REF_ERROR;
            break;
        }
        if (R.n == R.cap) {
            R.cap = R.cap ? R.cap * 2 : 16;
            R.list = realloc(R.list, R.cap * sizeof(*R.list));
            FZ_ASSERT(R.list != NULL);
        }
        R.list[R.n++] = (ref_msg_t){msg_op, R.msgs.len, cur.len};
        FZ_ASSERT(px_buf_append(&R.msgs, cur.data, cur.len) == 0);
        cur.len = 0;
    }
    px_buf_free(&cur);
}

/* A delivered message must be the next one the client sent. */
static void ref_deliver(uint8_t op, const uint8_t *msg, size_t len)
{
    FZ_ASSERT(S.delivered < R.n);
    const ref_msg_t *m = &R.list[S.delivered++];
    FZ_ASSERT(m->op == op && m->len == len);
    FZ_ASSERT(len == 0 || memcmp(R.msgs.data + m->off, msg, len) == 0);
}

static int ws_write(px_ws_t *ws, const uint8_t *data, size_t len)
{
    FZ_ASSERT(ws == &S.ws);
    FZ_ASSERT(len > 0);
    if (S.refuse_writes) {
        S.write_failed = 1;
        return -1;
    }
    FZ_ASSERT(px_buf_append(&S.out, data, len) == 0);
    S.writes++;
    if (S.opts & 0x80)
        S.refuse_writes = 1;
    return 0;
}

static void deliver_check(px_ws_t *ws, size_t len)
{
    FZ_ASSERT(ws == &S.ws);
    FZ_ASSERT(S.fails == 0);
    FZ_ASSERT(S.peer_closes == 0);
    FZ_ASSERT(len <= S.max_message);
}

static void on_text(px_ws_t *ws, const uint8_t *msg, size_t len)
{
    if (fz_verbose())
        fprintf(stderr, "  text message, %zu bytes\n", len);
    deliver_check(ws, len);
    FZ_ASSERT(fz_utf8_ok(msg, len));
    ref_deliver(1, msg, len);
}

static void on_binary(px_ws_t *ws, const uint8_t *msg, size_t len)
{
    if (fz_verbose())
        fprintf(stderr, "  binary message, %zu bytes\n", len);
    deliver_check(ws, len);
    FZ_ASSERT(S.opts & 1);
    ref_deliver(2, msg, len);
}

static void on_peer_close(px_ws_t *ws, uint16_t code)
{
    if (fz_verbose())
        fprintf(stderr, "  peer close %u\n", code);
    FZ_ASSERT(ws == &S.ws);
    FZ_ASSERT(S.fails == 0);
    FZ_ASSERT(S.peer_closes == 0);
    FZ_ASSERT(code == 1005 || sendable_code(code));
    /* Only after every message before it, and only for a valid close. */
    FZ_ASSERT(R.end == REF_CLOSED || R.end == REF_EITHER);
    if (R.end == REF_CLOSED) {
        FZ_ASSERT(code == R.close_code);
        if (!S.server_closing) /* else messages are dropped while closing */
            FZ_ASSERT(S.delivered == R.n);
    }
    S.peer_closes++;
}

static int check_output(void);

static void on_fail(px_ws_t *ws, uint16_t code)
{
    if (fz_verbose())
        fprintf(stderr, "  fail %u\n", code);
    FZ_ASSERT(ws == &S.ws);
    FZ_ASSERT(S.fails == 0);
    FZ_ASSERT(code >= 1000 && code <= 4999);
    S.fails++;
    S.fail_code = code;
    (void)check_output();
    S.closes_at_fail = S.closes_out;
}

static const px_ws_ops_t ops_text = {ws_write, on_text, NULL, on_peer_close, on_fail};
static const px_ws_ops_t ops_binary = {ws_write, on_text, on_binary, on_peer_close, on_fail};

/* Validates the whole frames written since the last call; returns 1 when
 * out ends on a frame boundary (always, unless a write was refused: wslay
 * may write a frame's header and payload separately). */
static int check_output(void)
{
    const uint8_t *p = (const uint8_t *)S.out.data;
    size_t n = S.out.len;
    while (S.parsed < n) {
        size_t i = S.parsed;
        if (n - i < 2)
            return S.write_failed;
        uint8_t b0 = p[i], b1 = p[i + 1];
        size_t len = b1 & 0x7f;
        FZ_ASSERT((b1 & 0x80) == 0);   /* servers never mask */
        FZ_ASSERT(len <= 125);         /* only control frames come from px_ws */
        if (n - i - 2 < len)
            return S.write_failed;
        FZ_ASSERT(b0 & 0x80);          /* FIN */
        FZ_ASSERT((b0 & 0x70) == 0);   /* RSV1-3 */
        uint8_t op = b0 & 0x0f;
        FZ_ASSERT(op == 0x8 || op == 0xA);
        FZ_ASSERT(S.closes_out == 0);  /* nothing after our close */
        const uint8_t *pl = p + i + 2;
        if (fz_verbose()) {
            fprintf(stderr, "  written: opcode %x, %zu bytes:", op, len);
            for (size_t k = 0; k < len; k++)
                fprintf(stderr, " %02x", pl[k]);
            fprintf(stderr, "\n");
        }
        if (op == 0x8) {
            FZ_ASSERT(len != 1);
            uint16_t code = 1005;
            if (len >= 2) {
                code = (uint16_t)(pl[0] << 8 | pl[1]);
                FZ_ASSERT(sendable_code(code));
                FZ_ASSERT(fz_utf8_ok(pl + 2, len - 2));
            }
            S.closes_out++;
            S.first_close_code = code;
        }
        S.parsed = i + 2 + len;
    }
    return 1;
}

static void start_close(void)
{
    int had_close = S.closes_out;
    S.server_closing = 1;
    int rc = px_ws_close(&S.ws, 4200, "Server restarting, please reconnect");
    FZ_ASSERT(check_output());
    if (S.write_failed)
        return;
    if (had_close) {
        FZ_ASSERT(rc < 0);
    } else {
        FZ_ASSERT(rc == 0);
        FZ_ASSERT(S.closes_out == 1 && S.first_close_code == 4200);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t limits[4] = {65536, 125, 1024, 16u << 20};
    if (size < 2)
        return 0;
    memset(&S, 0, sizeof S);
    S.opts = data[0];
    S.max_message = limits[(S.opts >> 1) & 3];
    fz_chunker_t ch;
    fz_chunker_init(&ch, data[1]);
    data += 2;
    size -= 2;
    memset(&R, 0, sizeof R);
    ref_decode(data, size, S.opts & 1, S.max_message);
    px_ws_init(&S.ws, S.opts & 1 ? &ops_binary : &ops_text, S.max_message);
    int close_at = S.opts & 8 ? (S.opts >> 4) & 7 : -1;
    size_t off = 0;
    for (int k = 0; off < size || k == close_at; k++) {
        if (k == close_at)
            start_close();
        if (off >= size)
            break;
        size_t n = fz_chunk_next(&ch, size - off);
        uint8_t *chunk = fz_dup(data + off, n);
        int before_fails = S.fails;
        int rc = px_ws_feed(&S.ws, chunk, n);
        free(chunk);
        off += n;
        FZ_ASSERT(rc == 0 || rc == -1);
        FZ_ASSERT((rc == -1) == (S.fails == 1));
        FZ_ASSERT(check_output());
        if (S.fails && !before_fails && !S.write_failed) {
            FZ_ASSERT(S.closes_out == 1);
            if (S.closes_at_fail == 0 && S.first_close_code != S.fail_code)
                fprintf(stderr, "on_fail(%u) but the close frame says %u\n", S.fail_code,
                        S.first_close_code);
            if (S.closes_at_fail == 0)
                FZ_ASSERT(S.first_close_code == S.fail_code);
        }
        if (px_ws_close_done(&S.ws))
            FZ_ASSERT(S.closes_out == 1 && (S.peer_closes == 1 || S.fails == 1));
        if (rc < 0)
            break;
    }
    /* Against the reference: a stream without errors is never failed (a
     * failure after the peer's close does not count: what follows a close
     * is ignored) and each of its messages arrives; an error is answered.
     * Not when the server closed first (messages are dropped while
     * closing) or refused writes. */
    int plain = close_at < 0 && !(S.opts & 0x80);
    if (plain && (R.end == REF_INCOMPLETE || R.end == REF_CLOSED)) {
        if (S.fails && !S.peer_closes)
            fprintf(stderr, "valid input failed with %u (%zu of %zu messages)\n", S.fail_code,
                    S.delivered, R.n);
        FZ_ASSERT(S.fails == 0 || S.peer_closes == 1);
        FZ_ASSERT(S.delivered == R.n);
        FZ_ASSERT(S.peer_closes == (R.end == REF_CLOSED));
    }
    if (plain && R.end == REF_ERROR) {
        if (!S.fails)
            fprintf(stderr, "a protocol error went unanswered (%zu of %zu messages)\n",
                    S.delivered, R.n);
        FZ_ASSERT(S.fails == 1);
    }
    /* A failed WebSocket reads nothing more. */
    if (S.fails) {
        uint8_t more[2] = {0x81, 0x80};
        FZ_ASSERT(px_ws_feed(&S.ws, more, sizeof more) == -1);
        FZ_ASSERT(S.fails == 1);
    }
    px_ws_free(&S.ws);
    px_buf_free(&S.out);
    px_buf_free(&R.msgs);
    free(R.list);
    return 0;
}

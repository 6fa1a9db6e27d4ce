/* px_ws.c - wslay glue: feed, callbacks, frame-boundary scanner. */
#include "px_ws.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "px_buf.h"
#include "px_common.h"

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *ud)
{
    px_ws_t *ws = ud;
    PX_UNUSED(flags);
    if (ws->rdn == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = len < ws->rdn ? len : ws->rdn;
    memcpy(buf, ws->rd, n);
    ws->rd += n;
    ws->rdn -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *ud)
{
    px_ws_t *ws = ud;
    PX_UNUSED(flags);
    if (ws->ops->write(ws, data, len) < 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return (ssize_t)len;
}

static int close_code_valid(uint16_t code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int queue_close(px_ws_t *ws, uint16_t code, const char *reason);

/* Fails the WebSocket with code through wslay: the close frame is queued
 * here (this runs inside wslay_event_recv) and sent by px_ws_feed after. */
static void fail(px_ws_t *ws, uint16_t code, const char *reason)
{
    if (ws->failed)
        return;
    if (wslay_event_get_close_received(ws->ctx) && !wslay_event_get_close_sent(ws->ctx)) {
        /* The peer's close was refused: wslay has already queued its echo
         * (the peer's code and reason as received). Send ours instead. */
        uint8_t frame[2 + 125];
        size_t rl = strlen(reason);
        if (rl > 123)
            rl = 123;
        frame[0] = 0x88;
        frame[1] = (uint8_t)(2 + rl);
        frame[2] = (uint8_t)(code >> 8);
        frame[3] = (uint8_t)code;
        memcpy(frame + 4, reason, rl);
        wslay_event_shutdown_write(ws->ctx);
        ws->ops->write(ws, frame, 4 + rl);
        ws->closing = 1;
        ws->keep_ctx = 1;
    } else {
        queue_close(ws, code, reason);
    }
    ws->failed = 1;
    ws->ops->on_fail(ws, code);
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *ud)
{
    px_ws_t *ws = ud;
    PX_UNUSED(ctx);
    if (ws->failed)
        return;
    switch (a->opcode) {
    case WSLAY_TEXT_FRAME:
        if (!px_utf8_valid(a->msg, a->msg_length))
            fail(ws, 1007, "Invalid UTF-8 in text message");
        else if (!ws->closing)
            ws->ops->on_text(ws, a->msg, a->msg_length);
        return;
    case WSLAY_BINARY_FRAME:
        if (ws->ops->on_binary == NULL)
            fail(ws, 1003, "Binary messages are not supported");
        else if (!ws->closing)
            ws->ops->on_binary(ws, a->msg, a->msg_length);
        return;
    case WSLAY_CONNECTION_CLOSE:
        if (a->msg_length >= 2 && !close_code_valid(a->status_code)) {
            fail(ws, 1002, "Invalid close code");
        } else if (a->msg_length > 2 && !px_utf8_valid(a->msg + 2, a->msg_length - 2)) {
            fail(ws, 1007, "Invalid UTF-8 in close reason");
        } else {
            ws->closing = 1;
            ws->keep_ctx = 1;
            ws->ops->on_peer_close(ws, a->msg_length >= 2 ? a->status_code : 1005);
        }
        return;
    case WSLAY_PING:
        /* Send the pong now, ahead of any reply to later messages of the
         * same read and of a close that follows (wslay sends nothing after
         * a close, so a pong still queued then would be lost). */
        if (wslay_event_want_write(ws->ctx))
            wslay_event_send(ws->ctx);
        return;
    default:
        return; /* pong */
    }
}

static const struct wslay_event_callbacks callbacks = {
    recv_cb, send_cb, NULL, NULL, NULL, NULL, on_msg,
};

static int ensure_ctx(px_ws_t *ws)
{
    if (ws->ctx != NULL)
        return 0;
    wslay_event_context_ptr ctx = NULL;
    if (wslay_event_context_server_init(&ctx, &callbacks, ws) != 0)
        return -1;
    wslay_event_config_set_max_recv_msg_length(ctx, ws->max_message);
    ws->ctx = ctx;
    return 0;
}

static void pump(px_ws_t *ws)
{
    wslay_event_context_ptr ctx = ws->ctx;
    if (ctx != NULL && wslay_event_want_write(ctx))
        wslay_event_send(ctx);
}

void px_ws_init(px_ws_t *ws, const px_ws_ops_t *ops, uint32_t max_message)
{
    memset(ws, 0, sizeof(*ws));
    ws->ops = ops;
    ws->max_message = max_message;
}

/* Follows frame headers; returns how many leading bytes may go to wslay (n,
 * or the offset of a header that breaks one of the rules wslay mishandles). */
static size_t scan(px_ws_t *ws, const uint8_t *p, size_t n)
{
    size_t i = 0, start = 0;
    while (i < n) {
        if (ws->sc_left > 0) {
            size_t take = n - i < ws->sc_left ? n - i : (size_t)ws->sc_left;
            i += take;
            ws->sc_left -= take;
            continue;
        }
        if (ws->sc_have == 0)
            start = i;
        ws->sc_hdr[ws->sc_have++] = p[i++];
        if (ws->sc_have < 2)
            continue;
        uint8_t b0 = ws->sc_hdr[0], b1 = ws->sc_hdr[1], len7 = b1 & 0x7f;
        size_t need = 2u + (len7 == 126 ? 2u : len7 == 127 ? 8u : 0u) + (b1 & 0x80 ? 4u : 0u);
        if (ws->sc_have < need)
            continue;
        uint64_t len = len7;
        if (len7 == 126) {
            len = ((uint64_t)ws->sc_hdr[2] << 8) | ws->sc_hdr[3];
        } else if (len7 == 127) {
            len = 0;
            for (int k = 0; k < 8; k++)
                len = (len << 8) | ws->sc_hdr[2 + k];
        }
        uint8_t op = b0 & 0x0f, fin = b0 & 0x80;
        int bad = (int)(len >> 63);
        if (op == 0x8 && !bad && len <= 125 && fin && n - i < len) {
            /* A close frame split across reads: hold it whole (see
             * px_ws_feed). */
            ws->sc_have = 0;
            ws->hold_from = start;
            return start;
        }
        if (op & 0x08)
            bad |= !fin || len > 125 || (op == 0x8 && len == 1);
        else if (op == 1 || op == 2)
            ws->sc_frag = !fin;
        else if (op == 0 && fin)
            ws->sc_frag = 0;
        ws->sc_have = 0;
        if (bad)
            return start;
        ws->sc_left = len;
    }
    if (ws->sc_have > 0 && (ws->sc_hdr[0] & 0x0f) == 0x8) {
        ws->sc_have = 0; /* a close frame's header is split: hold it too */
        ws->hold_from = start;
        return start;
    }
    return n;
}

/* Fails without wslay (its context may be unusable): a hand-built close. */
static void fail_raw(px_ws_t *ws, uint16_t code)
{
    int close_out = ws->ctx != NULL && wslay_event_get_close_sent(ws->ctx);
    if (ws->ctx != NULL) {
        wslay_event_context_free(ws->ctx);
        ws->ctx = NULL;
    }
    if (!close_out) {
        uint8_t frame[4] = {0x88, 0x02, (uint8_t)(code >> 8), (uint8_t)code};
        ws->ops->write(ws, frame, sizeof frame);
    }
    ws->closing = 1;
    if (!ws->failed) {
        ws->failed = 1;
        ws->ops->on_fail(ws, code);
    }
}

int px_ws_feed(px_ws_t *ws, const uint8_t *p, size_t n)
{
    if (ws->failed)
        return -1;
    if (ws->hold != NULL) {
        /* Complete the held close frame with the new bytes and feed both. */
        uint8_t *all = malloc(ws->hold_len + n);
        if (all == NULL) {
            fail_raw(ws, 1011);
            return -1;
        }
        memcpy(all, ws->hold, ws->hold_len);
        memcpy(all + ws->hold_len, p, n);
        size_t total = ws->hold_len + n;
        free(ws->hold);
        ws->hold = NULL;
        ws->hold_len = 0;
        int rc = px_ws_feed(ws, all, total);
        free(all);
        return rc;
    }
    ws->hold_from = SIZE_MAX;
    size_t ok = scan(ws, p, n);
    size_t held = 0;
    if (ws->hold_from != SIZE_MAX) {
        /* wslay checks a close payload chunk by chunk and misreads split
         * ones (it skips 2 bytes per chunk), so a close frame goes to it in
         * one piece: keep the partial frame (at most 2 + 8 + 4 + 125 bytes)
         * until the rest arrives. */
        held = n - ok;
        if ((ws->hold = malloc(held)) == NULL) {
            fail_raw(ws, 1011);
            return -1;
        }
        memcpy(ws->hold, p + ok, held);
        ws->hold_len = held;
        n = ok;
    }
    if (ok > 0) {
        if (ensure_ctx(ws) < 0) {
            fail_raw(ws, 1011);
            return -1;
        }
        ws->rd = p;
        ws->rdn = ok;
        int rc = wslay_event_recv(ws->ctx);
        ws->rdn = 0;
        if (ws->failed) {
            pump(ws);
            return -1;
        }
        if (rc < 0) {
            fail_raw(ws, 1002); /* an error wslay does not answer itself */
            return -1;
        }
        pump(ws);
        if (!wslay_event_want_read(ws->ctx) && !ws->closing) {
            /* wslay failed the connection (protocol error, message too
             * large) and queued its close frame. */
            pump(ws);
            ws->failed = 1;
            ws->closing = 1;
            ws->ops->on_fail(ws, wslay_event_get_status_code_sent(ws->ctx));
            return -1;
        }
    }
    if (ok < n) {
        fail_raw(ws, 1002);
        return -1;
    }
    if (ws->hold != NULL)
        return 0; /* keep the context: a frame is in progress */
    if (ws->ctx != NULL && !ws->keep_ctx && ws->sc_have == 0 && ws->sc_left == 0 &&
        !ws->sc_frag && !wslay_event_want_write(ws->ctx)) {
        /* Between messages wslay holds nothing worth keeping. */
        wslay_event_context_free(ws->ctx);
        ws->ctx = NULL;
    }
    return 0;
}

static int queue_close(px_ws_t *ws, uint16_t code, const char *reason)
{
    if (ensure_ctx(ws) < 0)
        return -1;
    ws->keep_ctx = 1;
    ws->closing = 1;
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > 123)
        rl = 123;
    return wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason, rl) == 0 ? 0 : -1;
}

int px_ws_close(px_ws_t *ws, uint16_t code, const char *reason)
{
    if (queue_close(ws, code, reason) < 0)
        return -1;
    pump(ws);
    return wslay_event_get_close_sent(ws->ctx) ? 0 : -1;
}

int px_ws_close_done(const px_ws_t *ws)
{
    return ws->ctx != NULL && wslay_event_get_close_sent(ws->ctx) &&
           wslay_event_get_close_received(ws->ctx);
}

void px_ws_free(px_ws_t *ws)
{
    free(ws->hold);
    ws->hold = NULL;
    if (ws->ctx != NULL) {
        wslay_event_context_free(ws->ctx);
        ws->ctx = NULL;
    }
}

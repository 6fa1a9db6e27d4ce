/* px_proto.c - Pusher message codec. */
#include "px_proto.h"

#include <stdlib.h>
#include <string.h>

#include "px_err.h"

px_str_t px_json_str(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return (px_str_t){NULL, 0};
    return (px_str_t){json_string_value(v), json_string_length(v)};
}

int px_proto_decode(const char *text, size_t n, px_msg_t *out, const char **why)
{
    memset(out, 0, sizeof(*out));
    json_error_t err;
    json_t *root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        *why = "message is not valid JSON";
        return PX_EPROTO;
    }
    if (!json_is_object(root)) {
        *why = "message must be a JSON object";
        goto fail;
    }
    json_t *ev = json_object_get(root, "event");
    if (!json_is_string(ev) || json_string_length(ev) == 0) {
        *why = "message needs a string \"event\"";
        goto fail;
    }
    json_t *ch = json_object_get(root, "channel");
    if (ch != NULL && !json_is_string(ch) && !json_is_null(ch)) {
        *why = "\"channel\" must be a string";
        goto fail;
    }
    out->root = root;
    out->event = (px_str_t){json_string_value(ev), json_string_length(ev)};
    if (json_is_string(ch))
        out->channel = (px_str_t){json_string_value(ch), json_string_length(ch)};
    out->data = json_object_get(root, "data");
    if (json_is_object(out->data)) {
        out->data_obj = json_incref(out->data);
    } else if (json_is_string(out->data)) {
        /* Some clients double-encode what they send too; accept both. */
        json_t *inner = json_loadb(json_string_value(out->data), json_string_length(out->data),
                                   JSON_REJECT_DUPLICATES, &err);
        if (json_is_object(inner))
            out->data_obj = inner;
        else
            json_decref(inner);
    }
    return 0;
fail:
    json_decref(root);
    return PX_EPROTO;
}

void px_msg_free(px_msg_t *m)
{
    json_decref(m->data_obj);
    json_decref(m->root);
    memset(m, 0, sizeof(*m));
}

px_rbuf_t *px_proto_frame(const char *json, size_t n)
{
    size_t hdr = n < 126 ? 2 : n < 65536 ? 4 : 10;
    px_rbuf_t *rb = px_rbuf_new(hdr + n);
    if (rb == NULL)
        return NULL;
    unsigned char *h = (unsigned char *)rb->data;
    h[0] = 0x81; /* FIN + text */
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n < 65536) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    }
    memcpy(rb->data + hdr, json, n);
    return rb;
}

static int head(px_buf_t *b, px_str_t event, px_str_t channel)
{
    int rc = px_buf_puts(b, "{\"event\":\"");
    rc |= px_buf_json_escape(b, event.p, event.n);
    if (channel.p != NULL) {
        rc |= px_buf_puts(b, "\",\"channel\":\"");
        rc |= px_buf_json_escape(b, channel.p, channel.n);
    }
    rc |= px_buf_puts(b, "\",\"data\":");
    return rc ? PX_ENOMEM : 0;
}

static px_rbuf_t *finish(px_buf_t *b, int rc)
{
    px_rbuf_t *rb = rc == 0 ? px_proto_frame(b->data, b->len) : NULL;
    px_buf_free(b);
    return rb;
}

px_rbuf_t *px_proto_event(px_str_t event, px_str_t channel, px_str_t data, px_str_t user_id)
{
    px_buf_t b = PX_BUF_INIT;
    int rc = px_buf_reserve(&b, 48 + event.n + channel.n + data.n + data.n / 8);
    rc |= head(&b, event, channel);
    rc |= px_buf_puts(&b, "\"");
    rc |= px_buf_json_escape(&b, data.p, data.n);
    rc |= px_buf_puts(&b, "\"");
    if (user_id.p != NULL) {
        rc |= px_buf_puts(&b, ",\"user_id\":\"");
        rc |= px_buf_json_escape(&b, user_id.p, user_id.n);
        rc |= px_buf_puts(&b, "\"");
    }
    rc |= px_buf_puts(&b, "}");
    return finish(&b, rc);
}

px_rbuf_t *px_proto_event_json(px_str_t event, px_str_t channel, px_str_t data_json)
{
    px_buf_t b = PX_BUF_INIT;
    int rc = head(&b, event, channel);
    rc |= px_buf_append(&b, data_json.p, data_json.n);
    rc |= px_buf_puts(&b, "}");
    return finish(&b, rc);
}

px_rbuf_t *px_proto_error(const char *message, int code)
{
    px_buf_t b = PX_BUF_INIT;
    int rc = px_buf_puts(&b, "{\"event\":\"pusher:error\",\"data\":{\"message\":\"");
    rc |= px_buf_json_escape(&b, message, strlen(message));
    if (code)
        rc |= px_buf_printf(&b, "\",\"code\":%d}}", code);
    else
        rc |= px_buf_puts(&b, "\",\"code\":null}}");
    return finish(&b, rc);
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return px_buf_append(data, buf, size) == 0 ? 0 : -1;
}

int px_json_dump(px_buf_t *b, const json_t *v)
{
    return json_dump_callback(v, dump_cb, b, JSON_COMPACT | JSON_ENCODE_ANY) == 0 ? 0 : PX_ENOMEM;
}

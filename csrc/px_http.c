/* px_http.c - llhttp glue: accumulate one request at a time within limits. */
#include "px_http.h"

#include <strings.h>

#include "px_err.h"

static px_http_t *self(llhttp_t *p)
{
    return px_container_of(p, px_http_t, parser);
}

static int limit(px_http_t *h, int status, const char *msg)
{
    h->error_status = status;
    h->error_msg = msg;
    return HPE_USER;
}

static int head_append(px_http_t *h, const char *at, size_t n)
{
    if (h->head.len + n > h->max_head)
        return limit(h, 431, "request header fields too large");
    if (px_buf_append(&h->head, at, n) < 0)
        return limit(h, 503, "out of memory");
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    px_http_t *h = self(p);
    h->head.len = 0;
    h->body.len = 0;
    h->nheaders = 0;
    h->in_value = 0;
    h->url_off = h->url_len = 0;
    h->method_off = h->method_len = 0;
    h->name_len[0] = 0;
    return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t n)
{
    px_http_t *h = self(p);
    if (h->method_len == 0)
        h->method_off = (uint32_t)h->head.len;
    h->method_len += (uint32_t)n;
    return head_append(h, at, n);
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
    px_http_t *h = self(p);
    if (h->url_len == 0)
        h->url_off = (uint32_t)h->head.len;
    h->url_len += (uint32_t)n;
    return head_append(h, at, n);
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
    px_http_t *h = self(p);
    uint32_t i = h->nheaders;
    if (i == PX_HTTP_MAX_HEADERS)
        return limit(h, 431, "too many header fields");
    if (!h->in_value && h->name_len[i] == 0)
        h->name_off[i] = (uint32_t)h->head.len;
    h->name_len[i] += (uint32_t)n;
    return head_append(h, at, n);
}

static int on_header_field_complete(llhttp_t *p)
{
    px_http_t *h = self(p);
    h->in_value = 1;
    h->val_off[h->nheaders] = (uint32_t)h->head.len;
    h->val_len[h->nheaders] = 0;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
    px_http_t *h = self(p);
    h->val_len[h->nheaders] += (uint32_t)n;
    return head_append(h, at, n);
}

static int on_header_value_complete(llhttp_t *p)
{
    px_http_t *h = self(p);
    if (!h->in_value) /* a header with an empty value */
        on_header_field_complete(p);
    h->in_value = 0;
    h->nheaders++;
    if (h->nheaders < PX_HTTP_MAX_HEADERS)
        h->name_len[h->nheaders] = 0;
    return 0;
}

static int on_headers_complete(llhttp_t *p)
{
    /* 2: no body follows an upgrade request; llhttp pauses after it. */
    return p->upgrade ? 2 : 0;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
    px_http_t *h = self(p);
    if (h->body.len + n > h->max_body)
        return limit(h, 413, "request body too large");
    if (px_buf_append(&h->body, at, n) < 0)
        return limit(h, 503, "out of memory");
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    px_http_t *h = self(p);
    px_http_req_t req;
    const char *base = h->head.data;
    req.method = (px_str_t){base + h->method_off, h->method_len};
    req.target = (px_str_t){base + h->url_off, h->url_len};
    req.nheaders = h->nheaders;
    for (uint32_t i = 0; i < h->nheaders; i++) {
        req.names[i] = (px_str_t){base + h->name_off[i], h->name_len[i]};
        req.values[i] = (px_str_t){base + h->val_off[i], h->val_len[i]};
    }
    req.body = (px_str_t){h->body.data ? h->body.data : "", h->body.len};
    req.keep_alive = llhttp_should_keep_alive(p);
    req.upgrade = p->upgrade;
    req.http_minor = p->http_minor;
    int stop = h->on_request(h, &req, h->ud);
    h->head.len = 0;
    h->body.len = 0;
    return stop ? HPE_PAUSED : 0;
}

static llhttp_settings_t settings;
static int settings_ready;

int px_http_init(px_http_t *h, uint32_t max_head, uint32_t max_body, px_http_request_cb cb,
                 void *ud)
{
    if (!settings_ready) { /* loop thread only: no race */
        llhttp_settings_init(&settings);
        settings.on_message_begin = on_message_begin;
        settings.on_method = on_method;
        settings.on_url = on_url;
        settings.on_header_field = on_header_field;
        settings.on_header_field_complete = on_header_field_complete;
        settings.on_header_value = on_header_value;
        settings.on_header_value_complete = on_header_value_complete;
        settings.on_headers_complete = on_headers_complete;
        settings.on_body = on_body;
        settings.on_message_complete = on_message_complete;
        settings_ready = 1;
    }
    memset(h, 0, sizeof(*h));
    llhttp_init(&h->parser, HTTP_REQUEST, &settings);
    h->max_head = max_head;
    h->max_body = max_body;
    h->on_request = cb;
    h->ud = ud;
    return 0;
}

long px_http_feed(px_http_t *h, const char *data, size_t n)
{
    llhttp_errno_t err = llhttp_execute(&h->parser, data, n);
    switch (err) {
    case HPE_OK:
        return (long)n;
    case HPE_PAUSED_UPGRADE:
        return (long)(llhttp_get_error_pos(&h->parser) - data);
    case HPE_PAUSED:
        /* on_request asked to stop: report what was consumed. */
        return (long)(llhttp_get_error_pos(&h->parser) - data);
    case HPE_USER:
        return PX_ETOOBIG;
    case HPE_INVALID_VERSION:
        if (!h->error_status) {
            h->error_status = 505;
            h->error_msg = "HTTP version not supported";
        }
        return PX_EPROTO;
    default:
        if (!h->error_status) {
            h->error_status = 400;
            h->error_msg = llhttp_errno_name(err);
        }
        return PX_EPROTO;
    }
}

int px_http_busy(const px_http_t *h)
{
    return h->head.len > 0;
}

void px_http_free(px_http_t *h)
{
    px_buf_free(&h->head);
    px_buf_free(&h->body);
}

px_str_t px_http_header(const px_http_req_t *req, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < req->nheaders; i++)
        if (req->names[i].n == n && strncasecmp(req->names[i].p, name, n) == 0)
            return req->values[i];
    return (px_str_t){NULL, 0};
}

int px_http_has_token(px_str_t v, const char *token)
{
    size_t tn = strlen(token);
    size_t i = 0;
    while (i < v.n) {
        while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' || v.p[i] == ','))
            i++;
        size_t s = i;
        while (i < v.n && v.p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v.p[e - 1] == ' ' || v.p[e - 1] == '\t'))
            e--;
        if (e - s == tn && strncasecmp(v.p + s, token, tn) == 0)
            return 1;
    }
    return 0;
}

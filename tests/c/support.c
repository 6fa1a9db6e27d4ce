/* support.c - see support.h. */
#include "support.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/px_crypto.h"
#include "../../csrc/px_router.h"
#include "harness.h"

static int fake_send(px_client_t *c, px_rbuf_t *frame)
{
    fake_client_t *f = (fake_client_t *)c;
    if (f->refuse)
        return -1;
    const unsigned char *h = (const unsigned char *)frame->data;
    ASSERT_TRUE(frame->refs >= 1);
    ASSERT_TRUE(frame->len >= 2);
    ASSERT_EQ(h[0], 0x81);          /* FIN + text */
    ASSERT_EQ(h[1] & 0x80, 0);      /* servers never mask */
    size_t hdr = 2, len = h[1] & 0x7f;
    if (len == 126) {
        ASSERT_TRUE(frame->len >= 4);
        len = ((size_t)h[2] << 8) | h[3];
        hdr = 4;
    } else if (len == 127) {
        ASSERT_TRUE(frame->len >= 10);
        len = 0;
        for (int i = 0; i < 8; i++)
            len = (len << 8) | h[2 + i];
        hdr = 10;
    }
    ASSERT_EQ(hdr + len, frame->len);
    if (f->nframes == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->frames = realloc(f->frames, f->cap * sizeof(*f->frames));
        ASSERT_NOT_NULL(f->frames);
    }
    fake_frame_t *fr = &f->frames[f->nframes++];
    memset(fr, 0, sizeof(*fr));
    fr->text = malloc(len + 1);
    ASSERT_NOT_NULL(fr->text);
    memcpy(fr->text, frame->data + hdr, len);
    fr->text[len] = '\0';
    fr->len = len;
    json_error_t err;
    fr->msg = json_loadb(fr->text, len, JSON_REJECT_DUPLICATES, &err);
    if (fr->msg == NULL)
        fprintf(stderr, "# server sent invalid JSON: %s (%s)\n", fr->text, err.text);
    ASSERT_TRUE(json_is_object(fr->msg));
    ASSERT_TRUE(json_is_string(json_object_get(fr->msg, "event")));
    json_t *d = json_object_get(fr->msg, "data");
    if (json_is_object(d))
        fr->data = json_incref(d);
    else if (json_is_string(d))
        fr->data = json_loads(json_string_value(d), 0, &err);
    return 0;
}

static void fake_close(px_client_t *c, uint16_t code, const char *reason)
{
    fake_client_t *f = (fake_client_t *)c;
    f->closes++;
    f->close_code = code;
    snprintf(f->close_reason, sizeof f->close_reason, "%s", reason);
}

const px_client_ops_t fake_ops = {fake_send, fake_close};

void fake_init(fake_client_t *f, px_app_t *app)
{
    memset(f, 0, sizeof(*f));
    ASSERT_OK(px_client_init(&f->c, &fake_ops, app));
}

void fake_clear(fake_client_t *f)
{
    for (size_t i = 0; i < f->nframes; i++) {
        free(f->frames[i].text);
        json_decref(f->frames[i].msg);
        json_decref(f->frames[i].data);
    }
    f->nframes = 0;
}

void fake_free(fake_client_t *f)
{
    fake_clear(f);
    free(f->frames);
    f->frames = NULL;
    f->cap = 0;
}

const char *fake_event(const fake_client_t *f, size_t i)
{
    ASSERT_TRUE(i < f->nframes);
    return json_string_value(json_object_get(f->frames[i].msg, "event"));
}

long fake_find(const fake_client_t *f, const char *event, size_t from)
{
    for (size_t i = from; i < f->nframes; i++)
        if (strcmp(fake_event(f, i), event) == 0)
            return (long)i;
    return -1;
}

size_t fake_count(const fake_client_t *f, const char *event)
{
    size_t n = 0;
    for (size_t i = 0; i < f->nframes; i++)
        n += strcmp(fake_event(f, i), event) == 0;
    return n;
}

void fake_say(px_hub_t *hub, fake_client_t *f, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ASSERT_TRUE(n >= 0 && (size_t)n < sizeof buf);
    px_router_message(hub, &f->c, buf, (size_t)n);
}

void env_hub_init(px_hub_t *hub)
{
    memset(hub, 0, sizeof(*hub));
    hub->activity_timeout = 120;
    hub->now_ms = 10000;
    hub->wall_s = 1353088179;
}

px_app_t *env_app(px_hub_t *hub, json_t *obj)
{
    ASSERT_NOT_NULL(obj);
    px_app_t *app = NULL;
    const char *why = NULL;
    int rc = px_app_from_json(obj, &app, &why);
    if (rc != 0)
        fprintf(stderr, "# px_app_from_json: %s\n", why ? why : "?");
    json_decref(obj);
    ASSERT_OK(rc);
    ASSERT_OK(px_apps_add(&hub->apps, app));
    return app;
}

void env_hub_free(px_hub_t *hub)
{
    size_t it = 0;
    px_app_t *a;
    while ((a = px_map_next(&hub->apps.by_id, &it)) != NULL)
        ASSERT_EQ(a->channels.len, 0);
    ASSERT_EQ(hub->stats.channels, 0);
    px_apps_free(&hub->apps);
}

void env_sign(const px_app_t *app, const char *msg, char *out, size_t outsz)
{
    char hex[65];
    ASSERT_OK(px_hmac_sha256_hex(px_cstr(app->secret), px_cstr(msg), hex));
    int n = snprintf(out, outsz, "%s:%s", app->key, hex);
    ASSERT_TRUE(n > 0 && (size_t)n < outsz);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void env_signed_target(const px_app_t *app, const char *method, const char *path,
                       const char *params, const char *body, long long ts, char *out,
                       size_t outsz)
{
    char *items[80];
    size_t n = 0;
    char tmp[128];
    snprintf(tmp, sizeof tmp, "auth_key=%s", app->key);
    items[n++] = strdup(tmp);
    snprintf(tmp, sizeof tmp, "auth_timestamp=%lld", ts);
    items[n++] = strdup(tmp);
    items[n++] = strdup("auth_version=1.0");
    if (body != NULL && *body != '\0') {
        char md5[33];
        px_md5_hex(px_cstr(body), md5);
        snprintf(tmp, sizeof tmp, "body_md5=%s", md5);
        items[n++] = strdup(tmp);
    }
    char *copy = strdup(params);
    ASSERT_NOT_NULL(copy);
    for (char *save = NULL, *tok = strtok_r(copy, "&", &save); tok != NULL;
         tok = strtok_r(NULL, "&", &save)) {
        ASSERT_TRUE(n < PX_ARRAY_SIZE(items));
        items[n++] = strdup(tok);
    }
    free(copy);
    for (size_t i = 0; i < n; i++)
        ASSERT_NOT_NULL(items[i]);
    /* "k=v" strings sort like their keys for the keys the tests use. */
    qsort(items, n, sizeof(items[0]), cmp_str);
    px_buf_t q = PX_BUF_INIT, s = PX_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        ASSERT_OK(px_buf_printf(&q, "%s%s", i ? "&" : "", items[i]));
        free(items[i]);
    }
    ASSERT_OK(px_buf_printf(&s, "%s\n%s\n", method, path));
    ASSERT_OK(px_buf_append(&s, q.data, q.len));
    char sig[65];
    ASSERT_OK(px_hmac_sha256_hex(px_cstr(app->secret), (px_str_t){s.data, s.len}, sig));
    int len = snprintf(out, outsz, "%s?%.*s&auth_signature=%s", path, (int)q.len, q.data, sig);
    ASSERT_TRUE(len > 0 && (size_t)len < outsz);
    px_buf_free(&q);
    px_buf_free(&s);
}

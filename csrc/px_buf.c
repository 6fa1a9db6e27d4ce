/* px_buf.c - growable buffers, refcounted blocks and UTF-8 validation. */
#include "px_buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "px_err.h"

int px_buf_reserve(px_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return PX_ENOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < extra)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (p == NULL)
        return PX_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int px_buf_append(px_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = px_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int px_buf_puts(px_buf_t *b, const char *s)
{
    return px_buf_append(b, s, strlen(s));
}

int px_buf_printf(px_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return PX_EINVAL;
    if ((size_t)n < sizeof small)
        return px_buf_append(b, small, (size_t)n);
    int rc = px_buf_reserve(b, (size_t)n + 1);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int px_buf_json_escape(px_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = px_buf_reserve(b, n + 2);
    if (rc < 0)
        return rc;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        if ((rc = px_buf_append(b, s + start, i - start)) < 0)
            return rc;
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            len = 6;
        }
        if ((rc = px_buf_append(b, esc, len)) < 0)
            return rc;
        start = i + 1;
    }
    return px_buf_append(b, s + start, n - start);
}

int px_buf_terminate(px_buf_t *b)
{
    int rc = px_buf_reserve(b, 1);
    if (rc < 0)
        return rc;
    b->data[b->len] = '\0';
    return 0;
}

void px_buf_consume(px_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void px_buf_free(px_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

px_rbuf_t *px_rbuf_new(size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    px_rbuf_t *rb = malloc(sizeof(*rb) + len);
    if (rb == NULL)
        return NULL;
    rb->refs = 1;
    rb->len = (uint32_t)len;
    return rb;
}

void px_rbuf_unref(px_rbuf_t *rb)
{
    if (rb != NULL && --rb->refs == 0)
        free(rb);
}

int px_utf8_feed(px_utf8_state_t *st, const void *p, size_t n)
{
    const unsigned char *s = p;
    if (st->need == UINT32_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (st->need == 0) {
            if (c < 0x80)
                continue;
            if (c >= 0xC2 && c <= 0xDF) { st->need = 1; st->cp = c & 0x1F; st->min = 0x80; }
            else if (c >= 0xE0 && c <= 0xEF) { st->need = 2; st->cp = c & 0x0F; st->min = 0x800; }
            else if (c >= 0xF0 && c <= 0xF4) { st->need = 3; st->cp = c & 0x07; st->min = 0x10000; }
            else goto bad;
            continue;
        }
        if ((c & 0xC0) != 0x80)
            goto bad;
        st->cp = (st->cp << 6) | (c & 0x3F);
        st->need--;
        /* Reject overlongs, surrogates and > U+10FFFF as early as the bits
         * known so far allow, so a split code point fails on its first bad
         * byte (Autobahn 6.x expects fail-fast). */
        uint32_t shift = 6 * st->need;
        uint32_t lo = st->cp << shift;
        uint32_t hi = lo | ((1u << shift) - 1);
        if (hi < st->min || lo > 0x10FFFF || (lo >= 0xD800 && hi <= 0xDFFF) ||
            (st->need == 0 && st->cp >= 0xD800 && st->cp <= 0xDFFF))
            goto bad;
    }
    return 1;
bad:
    st->need = UINT32_MAX;
    return 0;
}

int px_utf8_valid(const void *p, size_t n)
{
    px_utf8_state_t st = {0, 0, 0};
    return px_utf8_feed(&st, p, n) && px_utf8_complete(&st);
}

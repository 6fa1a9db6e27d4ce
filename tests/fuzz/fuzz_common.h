/* fuzz_common.h - helpers shared by the fuzz targets: input chunking,
 * assertions that abort (so libFuzzer and the replayer report them), and a
 * request signer written independently of px_auth (OpenSSL directly), used
 * to re-sign fuzzed requests so the code behind the signature check is
 * reached and to check px_auth against.
 *
 * Header-only: each target is one translation unit plus the core. */
#ifndef PX_FUZZ_COMMON_H
#define PX_FUZZ_COMMON_H

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../csrc/px_buf.h"
#include "../../csrc/px_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_ASSERT(expr)                                                        \
    do {                                                                       \
        if (!(expr)) {                                                         \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__,    \
                    __LINE__, #expr);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* 1 when PX_FUZZ_VERBOSE is set: targets then print what they do (for
 * looking at one input with the replayer, never while fuzzing). */
static inline int fz_verbose(void)
{
    static int v = -1;
    if (v < 0)
        v = getenv("PX_FUZZ_VERBOSE") != NULL;
    return v;
}

/* ---------------------------------------------------------------- chunking */

/* Splits input into chunks whose sizes follow from one seed byte:
 * 0 = everything at once, 1 = one byte at a time, otherwise sizes drawn
 * from 1..2^(seed & 7) by a small LCG seeded with the seed's high bits. */
typedef struct {
    uint32_t state;
    uint8_t seed;
} fz_chunker_t;

static inline void fz_chunker_init(fz_chunker_t *c, uint8_t seed)
{
    c->seed = seed;
    c->state = 0x9e3779b9u ^ (uint32_t)(seed >> 3) * 2654435761u;
}

static inline size_t fz_chunk_next(fz_chunker_t *c, size_t left)
{
    size_t n;
    if (c->seed == 0) {
        n = left;
    } else if (c->seed == 1) {
        n = 1;
    } else {
        c->state = c->state * 1103515245u + 12345u;
        size_t max = (size_t)1 << (c->seed & 7);
        n = 1 + (size_t)((c->state >> 8) % max);
    }
    return n < left ? n : left;
}

/* A copy of n bytes in a block of exactly n bytes, so ASan catches any read
 * past the chunk (the picohttpparser guard-page idea). */
static inline uint8_t *fz_dup(const uint8_t *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    FZ_ASSERT(d != NULL);
    if (n)
        memcpy(d, p, n);
    return d;
}

/* Reads every byte of a slice, so ASan checks that it is all in bounds. */
static inline unsigned fz_touch(const void *p, size_t n)
{
    const volatile unsigned char *s = p;
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += s[i];
    return sum;
}

/* Well-formed UTF-8 per Unicode's table 3-7, written without px_buf.c. */
static inline int fz_utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            return 0;
        }
        if (n - i - 1 < need)
            return 0;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return 0;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        i += need + 1;
    }
    return 1;
}

/* 1 when s could begin valid UTF-8: well-formed except that the last
 * sequence may be cut short. */
static inline int fz_utf8_prefix_ok(const uint8_t *s, size_t n)
{
    size_t cut = n;
    /* Find where the last sequence starts (at most 3 bytes back). */
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        uint8_t c = s[n - k];
        if ((c & 0xC0) != 0x80) {
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
            if (need > k)
                cut = n - k;
            break;
        }
    }
    if (!fz_utf8_ok(s, cut))
        return 0;
    if (cut == n)
        return 1;
    /* Complete the cut sequence with the smallest valid continuation and
     * check that. */
    uint8_t tmp[4];
    size_t have = n - cut;
    memcpy(tmp, s + cut, have);
    uint8_t c = tmp[0];
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    for (size_t k = have; k < need; k++) {
        /* 0x80 fits every second byte's range but E0's and F0's. */
        tmp[k] = (uint8_t)(k == 1 && c == 0xE0 ? 0xA0 : k == 1 && c == 0xF0 ? 0x90 : 0x80);
    }
    return fz_utf8_ok(tmp, need);
}

/* ---------------------------------------------------------------- signing */

static inline void fz_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Lowercase hex HMAC-SHA256 of msg under secret (65 bytes with the NUL). */
static inline void fz_hmac_hex(const char *secret, const void *msg, size_t n, char out[65])
{
    unsigned char mac[32];
    unsigned int len = 0;
    FZ_ASSERT(HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, mac, &len) != NULL);
    FZ_ASSERT(len == 32);
    fz_hex(mac, 32, out);
}

static inline void fz_md5_hex(const void *p, size_t n, char out[33])
{
    unsigned char d[16];
    unsigned int len = 0;
    FZ_ASSERT(EVP_Digest(p, n, d, &len, EVP_md5(), NULL) == 1 && len == 16);
    fz_hex(d, 16, out);
}

/* "<key>:<hex HMAC(secret, concatenation of parts)>" into out (>= 200 bytes). */
static inline void fz_sign_parts(const char *key, const char *secret, const px_str_t *parts,
                                 size_t nparts, char *out, size_t outsz)
{
    px_buf_t m = PX_BUF_INIT;
    for (size_t i = 0; i < nparts; i++)
        FZ_ASSERT(px_buf_append(&m, parts[i].p, parts[i].n) == 0);
    char hex[65];
    fz_hmac_hex(secret, m.data ? m.data : "", m.len, hex);
    px_buf_free(&m);
    int n = snprintf(out, outsz, "%s:%s", key, hex);
    FZ_ASSERT(n > 0 && (size_t)n < outsz);
}

typedef struct {
    char *lkey;        /* lowercased key (owned) */
    const char *val;   /* borrowed from the raw query */
    size_t vlen;
} fz_item_t;

static inline int fz_item_cmp(const void *a, const void *b)
{
    const fz_item_t *x = a, *y = b;
    int c = strcmp(x->lkey, y->lkey);
    if (c)
        return c;
    /* Values hold no NUL (fz_sign_query refuses them): strcmp order. */
    size_t n = x->vlen < y->vlen ? x->vlen : y->vlen;
    c = memcmp(x->val, y->val, n);
    return c ? c : (x->vlen > y->vlen) - (x->vlen < y->vlen);
}

static inline int fz_is_auth_key(const char *k, size_t n)
{
    static const char *const names[] = {"auth_signature", "auth_key", "auth_timestamp",
                                        "auth_version", "body_md5"};
    for (size_t i = 0; i < PX_ARRAY_SIZE(names); i++)
        if (strlen(names[i]) == n && memcmp(names[i], k, n) == 0)
            return 1;
    return 0;
}

/* Signs a Pusher HTTP API request as the official libraries do, from the
 * protocol description rather than px_auth: the raw query's parameters,
 * minus any auth_* and body_md5 ones, plus auth_key, auth_timestamp=ts,
 * auth_version=1.0 and (for a non-empty body) body_md5; keys lowercased,
 * sorted by key then value, joined as "k=v&k=v"; the string to sign is
 * "METHOD\npath\nparams". Appends the signed query (without '?') to out.
 * Returns 0, or -1 when the query is not one this simple signer can sign
 * identically (escapes, '+', NUL bytes, or more than 64 parameters); out is
 * then unchanged. */
static inline int fz_sign_query(const char *key, const char *secret, px_str_t method,
                                px_str_t path, px_str_t rawq, px_str_t body, long long ts,
                                px_buf_t *out)
{
    fz_item_t items[64];
    size_t n = 0;
    int rc = -1;
    if (memchr(rawq.p, '%', rawq.n) || memchr(rawq.p, '+', rawq.n) ||
        memchr(rawq.p, '\0', rawq.n))
        return -1;
    char tsbuf[32], md5[33];
    snprintf(tsbuf, sizeof tsbuf, "%lld", ts);
    if (body.n)
        fz_md5_hex(body.p, body.n, md5);
    px_buf_t q = PX_BUF_INIT, s = PX_BUF_INIT;
    size_t i = 0;
    while (i < rawq.n) {
        const char *st = rawq.p + i;
        const char *amp = memchr(st, '&', rawq.n - i);
        size_t len = amp ? (size_t)(amp - st) : rawq.n - i;
        i += len + 1;
        if (len == 0)
            continue;
        const char *eq = memchr(st, '=', len);
        size_t klen = eq ? (size_t)(eq - st) : len;
        if (fz_is_auth_key(st, klen))
            continue;
        if (n == 59) /* ours are 5 more, signature included */
            goto out;
        items[n].lkey = malloc(klen + 1);
        FZ_ASSERT(items[n].lkey != NULL);
        for (size_t k = 0; k < klen; k++) {
            char c = st[k];
            items[n].lkey[k] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        items[n].lkey[klen] = '\0';
        items[n].val = eq ? eq + 1 : st + len;
        items[n].vlen = eq ? len - klen - 1 : 0;
        n++;
        FZ_ASSERT(px_buf_append(&q, st, len) == 0 && px_buf_puts(&q, "&") == 0);
    }
    static const char *const ours[] = {"auth_key", "auth_timestamp", "auth_version",
                                       "body_md5"};
    const char *vals[] = {key, tsbuf, "1.0", md5};
    for (size_t k = 0; k < 4; k++) {
        if (k == 3 && body.n == 0)
            break;
        items[n].lkey = strdup(ours[k]);
        FZ_ASSERT(items[n].lkey != NULL);
        items[n].val = vals[k];
        items[n].vlen = strlen(vals[k]);
        n++;
        FZ_ASSERT(px_buf_printf(&q, "%s=%s&", ours[k], vals[k]) == 0);
    }
    qsort(items, n, sizeof(items[0]), fz_item_cmp);
    FZ_ASSERT(px_buf_append(&s, method.p, method.n) == 0 && px_buf_puts(&s, "\n") == 0);
    FZ_ASSERT(px_buf_append(&s, path.p, path.n) == 0 && px_buf_puts(&s, "\n") == 0);
    for (size_t k = 0; k < n; k++) {
        FZ_ASSERT(px_buf_printf(&s, "%s%s=", k ? "&" : "", items[k].lkey) == 0);
        FZ_ASSERT(px_buf_append(&s, items[k].val, items[k].vlen) == 0);
    }
    char sig[65];
    fz_hmac_hex(secret, s.data, s.len, sig);
    FZ_ASSERT(px_buf_printf(&q, "auth_signature=%s", sig) == 0);
    FZ_ASSERT(px_buf_append(out, q.data, q.len) == 0);
    rc = 0;
out:
    for (size_t k = 0; k < n; k++)
        free(items[k].lkey);
    px_buf_free(&q);
    px_buf_free(&s);
    return rc;
}

#endif

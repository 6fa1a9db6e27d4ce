/* px_map.c - open-addressing hash map; SipHash-1-3 written from the paper
 * (Aumasson and Bernstein, "SipHash: a fast short-input PRF"). */
#include "px_map.h"

#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/random.h>

#include "px_err.h"

static uint64_t sip_k0, sip_k1;
static pthread_once_t sip_once = PTHREAD_ONCE_INIT;

static void sip_key_init(void)
{
    uint64_t k[2] = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
    /* getrandom() cannot fail for 16 bytes once the pool is initialised;
     * if it ever does, the fixed key still gives a working (if
     * predictable) map. */
    if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) { /* keep defaults */ }
    sip_k0 = k[0];
    sip_k1 = k[1];
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                     \
    do {                                                             \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);    \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                       \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                       \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);    \
    } while (0)

uint64_t px_hash(const void *data, size_t n)
{
    pthread_once(&sip_once, sip_key_init);
    const unsigned char *p = data;
    uint64_t v0 = 0x736f6d6570736575ull ^ sip_k0;
    uint64_t v1 = 0x646f72616e646f6dull ^ sip_k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ sip_k0;
    uint64_t v3 = 0x7465646279746573ull ^ sip_k1;
    size_t whole = n & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m;
        memcpy(&m, p + i, 8); /* little-endian hosts only (x86-64, arm64) */
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = 0; i < (n & 7); i++)
        b |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

static size_t find(const px_map_t *m, px_str_t key, uint32_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const px_map_slot_t *s = &m->slots[i];
        if (s->val == NULL)
            return i;
        if (s->hash == h && s->klen == key.n && memcmp(s->key, key.p, key.n) == 0)
            return i;
    }
}

void *px_map_get(const px_map_t *m, px_str_t key)
{
    if (m->len == 0)
        return NULL;
    uint32_t h = (uint32_t)px_hash(key.p, key.n);
    return m->slots[find(m, key, h)].val;
}

static int grow(px_map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 8;
    px_map_slot_t *slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return PX_ENOMEM;
    px_map_t n = {slots, cap, 0};
    for (size_t i = 0; i < m->cap; i++) {
        px_map_slot_t *s = &m->slots[i];
        if (s->val == NULL)
            continue;
        size_t j = find(&n, (px_str_t){s->key, s->klen}, s->hash);
        n.slots[j] = *s;
        n.len++;
    }
    free(m->slots);
    *m = n;
    return 0;
}

int px_map_put(px_map_t *m, px_str_t key, void *val)
{
    if (key.n > UINT32_MAX)
        return PX_EINVAL;
    if ((m->len + 1) * 4 > m->cap * 3) {
        int rc = grow(m);
        if (rc < 0)
            return rc;
    }
    uint32_t h = (uint32_t)px_hash(key.p, key.n);
    size_t i = find(m, key, h);
    px_map_slot_t *s = &m->slots[i];
    if (s->val == NULL)
        m->len++;
    s->key = key.p;
    s->klen = (uint32_t)key.n;
    s->hash = h;
    s->val = val;
    return 0;
}

void *px_map_del(px_map_t *m, px_str_t key)
{
    if (m->len == 0)
        return NULL;
    uint32_t h = (uint32_t)px_hash(key.p, key.n);
    size_t mask = m->cap - 1;
    size_t i = find(m, key, h);
    void *val = m->slots[i].val;
    if (val == NULL)
        return NULL;
    /* Backward-shift deletion: pull later members of the probe run into
     * the hole so lookups never need tombstones. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        px_map_slot_t *s = &m->slots[j];
        if (s->val == NULL)
            break;
        size_t home = s->hash & mask;
        int movable = (i <= j) ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            m->slots[i] = *s;
            i = j;
        }
    }
    m->slots[i].val = NULL;
    m->len--;
    return val;
}

void *px_map_next(const px_map_t *m, size_t *it)
{
    while (*it < m->cap) {
        void *v = m->slots[(*it)++].val;
        if (v != NULL)
            return v;
    }
    return NULL;
}

void px_map_free(px_map_t *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->len = 0;
}

/* px_common.h - small definitions shared by every module of the pushi core.
 *
 * Nothing here allocates or does I/O. Any thread may use these. */
#ifndef PX_COMMON_H
#define PX_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A borrowed byte slice: p points at n bytes owned by someone else. It is
 * not NUL-terminated unless the owner says so. */
/* The release, reported by /health; tests check it equals pushi.__version__. */
#define PX_VERSION "0.7.0"

typedef struct {
    const char *p;
    size_t n;
} px_str_t;

#define PX_STR(lit) ((px_str_t){(lit), sizeof(lit) - 1})
#define PX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PX_UNUSED(x) ((void)(x))
#define PX_LIKELY(x) __builtin_expect(!!(x), 1)
#define PX_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define px_container_of(ptr, type, field) \
    ((type *)((char *)(ptr) - offsetof(type, field)))

/* Slice of a NUL-terminated string (borrowed). */
static inline px_str_t px_cstr(const char *s)
{
    return (px_str_t){s, s ? strlen(s) : 0};
}

/* 1 when the slices hold the same bytes, else 0. Not constant time: use
 * px_ct_equal() for secrets. */
static inline int px_str_eq(px_str_t a, px_str_t b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* 1 when s starts with the NUL-terminated prefix. */
static inline int px_str_prefix(px_str_t s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

#endif

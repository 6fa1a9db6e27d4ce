/* harness.h - a tiny test harness for the pushi C core (libuv task.h
 * style).
 *
 * A test is a function defined with TEST(name) and listed in test_list.h.
 * run.c runs each one in a forked child, so a failed ASSERT_* prints the
 * expression and the values and then abort()s only that child. */
#ifndef PX_TEST_HARNESS_H
#define PX_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every test file sees a prototype of every listed test, so a TEST() that
 * is missing from test_list.h fails the build (-Werror=missing-prototypes). */
#define PX_TEST_DECLARE(name) void px_test_##name(void);
#include "test_list.h"
#undef PX_TEST_DECLARE

#define TEST(name) void px_test_##name(void)

#define PX_FAIL_HEAD() fprintf(stderr, "# %s:%d: assertion failed: ", __FILE__, __LINE__)

/* Prints n bytes of p as a C-ish literal (printable ASCII, else \xNN). */
static inline void px_test_dump(const char *label, const void *p, size_t n)
{
    const unsigned char *s = p;
    fprintf(stderr, "#   %s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n && i < 512; i++) {
        if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\')
            fputc(s[i], stderr);
        else
            fprintf(stderr, "\\x%02x", s[i]);
    }
    fprintf(stderr, n > 512 ? "\"...\n" : "\"\n");
}

#define ASSERT_TRUE(expr)                                                     \
    do {                                                                      \
        if (!(expr)) {                                                        \
            PX_FAIL_HEAD();                                                   \
            fprintf(stderr, "%s\n", #expr);                                   \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define PX_ASSERT_CMP(a, op, b)                                               \
    do {                                                                      \
        long long px_a_ = (long long)(a), px_b_ = (long long)(b);             \
        if (!(px_a_ op px_b_)) {                                              \
            PX_FAIL_HEAD();                                                   \
            fprintf(stderr, "%s %s %s\n#   left: %lld\n#   right: %lld\n",    \
                    #a, #op, #b, px_a_, px_b_);                               \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define ASSERT_EQ(a, b) PX_ASSERT_CMP(a, ==, b)
#define ASSERT_NE(a, b) PX_ASSERT_CMP(a, !=, b)
#define ASSERT_GT(a, b) PX_ASSERT_CMP(a, >, b)
#define ASSERT_OK(expr) PX_ASSERT_CMP(expr, ==, 0)

#define ASSERT_PTR_EQ(a, b)                                                   \
    do {                                                                      \
        const void *px_a_ = (a), *px_b_ = (b);                                \
        if (px_a_ != px_b_) {                                                 \
            PX_FAIL_HEAD();                                                   \
            fprintf(stderr, "%s == %s\n#   left: %p\n#   right: %p\n", #a,    \
                    #b, px_a_, px_b_);                                        \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define ASSERT_NULL(p) ASSERT_PTR_EQ(p, NULL)

#define ASSERT_NOT_NULL(p)                                                    \
    do {                                                                      \
        if ((p) == NULL) {                                                    \
            PX_FAIL_HEAD();                                                   \
            fprintf(stderr, "%s != NULL\n", #p);                              \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                   \
    do {                                                                      \
        const char *px_a_ = (a), *px_b_ = (b);                                \
        if (px_a_ == NULL || px_b_ == NULL || strcmp(px_a_, px_b_) != 0) {    \
            PX_FAIL_HEAD();                                                   \
            fprintf(stderr, "%s equals %s\n", #a, #b);                        \
            px_test_dump("left", px_a_ ? px_a_ : "(null)",                    \
                         px_a_ ? strlen(px_a_) : 6);                          \
            px_test_dump("right", px_b_ ? px_b_ : "(null)",                   \
                         px_b_ ? strlen(px_b_) : 6);                          \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define ASSERT_MEM_EQ(a, b, n)                                                \
    do {                                                                      \
        const void *px_a_ = (a), *px_b_ = (b);                                \
        size_t px_n_ = (n);                                                   \
        if (memcmp(px_a_, px_b_, px_n_) != 0) {                               \
            PX_FAIL_HEAD();                                                   \
            fprintf(stderr, "%s equals %s (%zu bytes)\n", #a, #b, px_n_);     \
            px_test_dump("left", px_a_, px_n_);                               \
            px_test_dump("right", px_b_, px_n_);                              \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* The slice s (px_str_t) holds exactly the C string lit. */
#define ASSERT_SLICE_EQ(s, lit)                                               \
    do {                                                                      \
        px_str_t px_s_ = (s);                                                 \
        const char *px_l_ = (lit);                                            \
        if (px_s_.p == NULL || px_s_.n != strlen(px_l_) ||                    \
            memcmp(px_s_.p, px_l_, px_s_.n) != 0) {                           \
            PX_FAIL_HEAD();                                                   \
            fprintf(stderr, "%s equals %s\n", #s, #lit);                      \
            px_test_dump("left", px_s_.p ? px_s_.p : "(null)",                \
                         px_s_.p ? px_s_.n : 6);                              \
            px_test_dump("right", px_l_, strlen(px_l_));                      \
            abort();                                                          \
        }                                                                     \
    } while (0)

#endif

/* test_buf.c - px_buf, px_rbuf and UTF-8 validation. */
#include <stdint.h>

#include "../../csrc/px_buf.h"
#include "../../csrc/px_err.h"
#include "harness.h"

TEST(buf_append_printf)
{
    px_buf_t b = PX_BUF_INIT;
    ASSERT_NULL(b.data);
    ASSERT_OK(px_buf_append(&b, "abc", 3));
    ASSERT_OK(px_buf_append(&b, NULL, 0));
    ASSERT_OK(px_buf_puts(&b, "def"));
    ASSERT_OK(px_buf_printf(&b, "-%d-%s", 42, "x"));
    ASSERT_EQ(b.len, 11);
    ASSERT_TRUE(b.cap >= b.len);
    ASSERT_MEM_EQ(b.data, "abcdef-42-x", 11);
    ASSERT_OK(px_buf_terminate(&b));
    ASSERT_EQ(b.len, 11);
    ASSERT_STR_EQ(b.data, "abcdef-42-x");

    /* Longer than printf's 256-byte stack buffer: the second path. */
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ASSERT_OK(px_buf_printf(&b, "<%s>", big));
    ASSERT_EQ(b.len, 11 + 1001);
    ASSERT_EQ(b.data[11], '<');
    ASSERT_EQ(b.data[12 + 998], 'z');
    ASSERT_EQ(b.data[b.len - 1], '>');
    /* Growth keeps earlier bytes. */
    ASSERT_MEM_EQ(b.data, "abcdef-42-x", 11);
    px_buf_free(&b);
    ASSERT_NULL(b.data);
    ASSERT_EQ(b.len, 0);
    ASSERT_EQ(b.cap, 0);
    px_buf_free(&b); /* safe twice */
}

TEST(buf_reserve)
{
    px_buf_t b = PX_BUF_INIT;
    ASSERT_OK(px_buf_reserve(&b, 1000));
    ASSERT_TRUE(b.cap >= 1000);
    char *p = b.data;
    ASSERT_OK(px_buf_append(&b, "x", 1));
    ASSERT_PTR_EQ(b.data, p); /* no reallocation within the reservation */
    ASSERT_EQ(px_buf_reserve(&b, SIZE_MAX), PX_ENOMEM);
    ASSERT_EQ(b.len, 1);
    ASSERT_PTR_EQ(b.data, p); /* unchanged on failure */
    px_buf_free(&b);
}

TEST(buf_json_escape)
{
    px_buf_t b = PX_BUF_INIT;
    static const char in[] = "a\"b\\c/\n\r\t\b\f\x01\x1f \x7f\xc3\xa9";
    ASSERT_OK(px_buf_json_escape(&b, in, sizeof in - 1));
    static const char want[] =
        "a\\\"b\\\\c/\\n\\r\\t\\b\\f\\u0001\\u001f \x7f\xc3\xa9";
    ASSERT_EQ(b.len, sizeof want - 1);
    ASSERT_MEM_EQ(b.data, want, sizeof want - 1);

    /* An embedded NUL is a control character too. */
    b.len = 0;
    ASSERT_OK(px_buf_json_escape(&b, "x\0y", 3));
    ASSERT_EQ(b.len, 8);
    ASSERT_MEM_EQ(b.data, "x\\u0000y", 8);

    /* Nothing to escape: copied as-is; empty input appends nothing. */
    b.len = 0;
    ASSERT_OK(px_buf_json_escape(&b, "plain", 5));
    ASSERT_OK(px_buf_json_escape(&b, "", 0));
    ASSERT_EQ(b.len, 5);
    ASSERT_MEM_EQ(b.data, "plain", 5);
    px_buf_free(&b);
}

TEST(buf_consume)
{
    px_buf_t b = PX_BUF_INIT;
    ASSERT_OK(px_buf_puts(&b, "0123456789"));
    px_buf_consume(&b, 3);
    ASSERT_EQ(b.len, 7);
    ASSERT_MEM_EQ(b.data, "3456789", 7);
    px_buf_consume(&b, 0);
    ASSERT_EQ(b.len, 7);
    ASSERT_OK(px_buf_puts(&b, "ab"));
    ASSERT_MEM_EQ(b.data, "3456789ab", 9);
    px_buf_consume(&b, 9);
    ASSERT_EQ(b.len, 0);
    ASSERT_OK(px_buf_puts(&b, "q"));
    px_buf_consume(&b, 100); /* more than len: empties */
    ASSERT_EQ(b.len, 0);
    px_buf_free(&b);
}

TEST(rbuf_refcount)
{
    px_rbuf_t *rb = px_rbuf_new(5);
    ASSERT_NOT_NULL(rb);
    ASSERT_EQ(rb->refs, 1);
    ASSERT_EQ(rb->len, 5);
    memcpy(rb->data, "hello", 5);
    ASSERT_PTR_EQ(px_rbuf_ref(rb), rb);
    ASSERT_PTR_EQ(px_rbuf_ref(rb), rb);
    ASSERT_EQ(rb->refs, 3);
    px_rbuf_unref(rb);
    px_rbuf_unref(rb);
    ASSERT_EQ(rb->refs, 1);
    ASSERT_MEM_EQ(rb->data, "hello", 5);
    px_rbuf_unref(rb); /* frees: ASan/valgrind catch a leak or a double free */
    px_rbuf_unref(NULL);

    px_rbuf_t *empty = px_rbuf_new(0);
    ASSERT_NOT_NULL(empty);
    ASSERT_EQ(empty->len, 0);
    px_rbuf_unref(empty);
#if SIZE_MAX > UINT32_MAX
    ASSERT_NULL(px_rbuf_new((size_t)UINT32_MAX + 1));
#endif
}

#define VALID(lit) px_utf8_valid(lit, sizeof(lit) - 1)

TEST(utf8_valid)
{
    ASSERT_EQ(px_utf8_valid("", 0), 1);
    ASSERT_EQ(VALID("hello, world"), 1);
    ASSERT_EQ(VALID("caf\xc3\xa9"), 1);                  /* U+00E9 */
    ASSERT_EQ(VALID("\xc2\x80"), 1);                     /* U+0080, smallest 2-byte */
    ASSERT_EQ(VALID("\xdf\xbf"), 1);                     /* U+07FF */
    ASSERT_EQ(VALID("\xe0\xa0\x80"), 1);                 /* U+0800, smallest 3-byte */
    ASSERT_EQ(VALID("\xe2\x82\xac"), 1);                 /* euro sign */
    ASSERT_EQ(VALID("\xed\x9f\xbf"), 1);                 /* U+D7FF, below surrogates */
    ASSERT_EQ(VALID("\xee\x80\x80"), 1);                 /* U+E000, above surrogates */
    ASSERT_EQ(VALID("\xef\xbf\xbf"), 1);                 /* U+FFFF */
    ASSERT_EQ(VALID("\xf0\x90\x80\x80"), 1);             /* U+10000 */
    ASSERT_EQ(VALID("\xf0\x9d\x84\x9e"), 1);             /* musical G clef */
    ASSERT_EQ(VALID("\xf4\x8f\xbf\xbf"), 1);             /* U+10FFFF */
    ASSERT_EQ(VALID("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), 1); /* kosme */
    ASSERT_EQ(px_utf8_valid("a\0b", 3), 1);               /* NUL is valid UTF-8 */
}

TEST(utf8_invalid)
{
    /* Overlong encodings. */
    ASSERT_EQ(VALID("\xc0\x80"), 0);
    ASSERT_EQ(VALID("\xc1\xbf"), 0);
    ASSERT_EQ(VALID("\xe0\x80\x80"), 0);
    ASSERT_EQ(VALID("\xe0\x9f\xbf"), 0);
    ASSERT_EQ(VALID("\xf0\x80\x80\x80"), 0);
    ASSERT_EQ(VALID("\xf0\x8f\xbf\xbf"), 0);
    /* UTF-16 surrogates. */
    ASSERT_EQ(VALID("\xed\xa0\x80"), 0);
    ASSERT_EQ(VALID("\xed\xbf\xbf"), 0);
    ASSERT_EQ(VALID("\xed\xa0\x80\xed\xb0\x80"), 0); /* a CESU-8 pair */
    /* Above U+10FFFF and impossible bytes. */
    ASSERT_EQ(VALID("\xf4\x90\x80\x80"), 0);
    ASSERT_EQ(VALID("\xf5\x80\x80\x80"), 0);
    ASSERT_EQ(VALID("\xf8\x88\x80\x80\x80"), 0);
    ASSERT_EQ(VALID("\xfe"), 0);
    ASSERT_EQ(VALID("\xff"), 0);
    /* Stray continuation bytes. */
    ASSERT_EQ(VALID("\x80"), 0);
    ASSERT_EQ(VALID("a\xbf" "b"), 0);
    /* Truncated sequences, at the end and in the middle. */
    ASSERT_EQ(VALID("\xc3"), 0);
    ASSERT_EQ(VALID("\xe2\x82"), 0);
    ASSERT_EQ(VALID("\xf0\x9d\x84"), 0);
    ASSERT_EQ(VALID("\xc3" "a"), 0);
    ASSERT_EQ(VALID("\xe2\x82" "a"), 0);
    ASSERT_EQ(VALID("caf\xc3\xa9\xc3"), 0);
}

TEST(utf8_feed_split)
{
    /* U+1D11E fed one byte at a time: a valid prefix until complete. */
    static const char clef[] = "\xf0\x9d\x84\x9e";
    px_utf8_state_t st = {0, 0, 0};
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ(px_utf8_feed(&st, clef + i, 1), 1);
        ASSERT_EQ(px_utf8_complete(&st), i == 3);
    }
    /* Split 1+2 then 2+1 around a 3-byte character inside text. */
    static const char text[] = "ab\xe2\x82\xac" "cd";
    for (size_t cut = 0; cut <= sizeof text - 1; cut++) {
        px_utf8_state_t s = {0, 0, 0};
        ASSERT_EQ(px_utf8_feed(&s, text, cut), 1);
        ASSERT_EQ(px_utf8_complete(&s), cut != 3 && cut != 4);
        ASSERT_EQ(px_utf8_feed(&s, text + cut, sizeof text - 1 - cut), 1);
        ASSERT_EQ(px_utf8_complete(&s), 1);
    }
    /* Fail fast: a split surrogate fails on its second byte, a split
     * too-large code point and an overlong likewise. */
    px_utf8_state_t s1 = {0, 0, 0};
    ASSERT_EQ(px_utf8_feed(&s1, "\xed", 1), 1);
    ASSERT_EQ(px_utf8_feed(&s1, "\xa0", 1), 0);
    /* Once invalid, it stays invalid. */
    ASSERT_EQ(px_utf8_feed(&s1, "a", 1), 0);
    ASSERT_EQ(px_utf8_complete(&s1), 0);
    px_utf8_state_t s2 = {0, 0, 0};
    ASSERT_EQ(px_utf8_feed(&s2, "\xf4", 1), 1);
    ASSERT_EQ(px_utf8_feed(&s2, "\x90", 1), 0);
    px_utf8_state_t s3 = {0, 0, 0};
    ASSERT_EQ(px_utf8_feed(&s3, "\xe0", 1), 1);
    ASSERT_EQ(px_utf8_feed(&s3, "\x80", 1), 0);
    /* A sequence interrupted by a new lead byte. */
    px_utf8_state_t s4 = {0, 0, 0};
    ASSERT_EQ(px_utf8_feed(&s4, "\xe2\x82", 2), 1);
    ASSERT_EQ(px_utf8_feed(&s4, "\xe2", 1), 0);
}

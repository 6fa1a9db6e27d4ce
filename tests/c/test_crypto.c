/* test_crypto.c - HMAC-SHA256, MD5, the WebSocket accept key, constant-time
 * comparison and random bytes, against published vectors. */
#include "../../csrc/px_crypto.h"
#include "harness.h"

TEST(crypto_hmac_vectors)
{
    char out[65];
    /* Pusher's channel authentication docs. */
    ASSERT_OK(px_hmac_sha256_hex(PX_STR("7ad3773142a6692b25b8"),
                                 PX_STR("1234.1234:private-foobar"), out));
    ASSERT_STR_EQ(out, "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");
    /* RFC 4231 test case 2. */
    ASSERT_OK(px_hmac_sha256_hex(PX_STR("Jefe"), PX_STR("what do ya want for nothing?"), out));
    ASSERT_STR_EQ(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Empty key and message. */
    ASSERT_OK(px_hmac_sha256_hex((px_str_t){NULL, 0}, (px_str_t){"", 0}, out));
    ASSERT_STR_EQ(out, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(crypto_hmac_parts)
{
    px_str_t parts[] = {PX_STR("1234.1234"), PX_STR(":"), {"", 0}, PX_STR("private-foobar")};
    char out[65];
    ASSERT_OK(px_hmac_sha256_hex_parts(PX_STR("7ad3773142a6692b25b8"), parts, 4, out));
    ASSERT_STR_EQ(out, "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");
    ASSERT_OK(px_hmac_sha256_hex_parts(PX_STR("7ad3773142a6692b25b8"), parts, 3, out));
    ASSERT_TRUE(strcmp(out, "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"));
}

TEST(crypto_md5)
{
    char out[33];
    px_md5_hex((px_str_t){"", 0}, out);
    ASSERT_STR_EQ(out, "d41d8cd98f00b204e9800998ecf8427e");
    px_md5_hex(PX_STR("The quick brown fox jumps over the lazy dog"), out);
    ASSERT_STR_EQ(out, "9e107d9d372bb6826bd81d3542a419d6");
    /* The Pusher REST docs' example body. */
    px_md5_hex(PX_STR("{\"name\":\"foo\",\"channels\":[\"project-3\"],"
                      "\"data\":\"{\\\"some\\\":\\\"data\\\"}\"}"), out);
    ASSERT_STR_EQ(out, "ec365a775a4cd0599faeb73354201b6f");
}

TEST(crypto_ws_accept)
{
    char out[29];
    memset(out, 'X', sizeof out);
    px_ws_accept_key(PX_STR("dGhlIHNhbXBsZSBub25jZQ=="), out); /* RFC 6455 section 1.3 */
    ASSERT_STR_EQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    ASSERT_EQ(strlen(out), 28);
}

TEST(crypto_ct_equal)
{
    ASSERT_EQ(px_ct_equal(PX_STR("secret"), PX_STR("secret")), 1);
    ASSERT_EQ(px_ct_equal(PX_STR("secret"), PX_STR("secreT")), 0);
    ASSERT_EQ(px_ct_equal(PX_STR("secret"), PX_STR("Secret")), 0);
    ASSERT_EQ(px_ct_equal(PX_STR("secret"), PX_STR("secret1")), 0);
    ASSERT_EQ(px_ct_equal(PX_STR("secret"), PX_STR("secre")), 0);
    ASSERT_EQ(px_ct_equal((px_str_t){NULL, 0}, (px_str_t){"", 0}), 1);
    ASSERT_EQ(px_ct_equal((px_str_t){NULL, 0}, PX_STR("a")), 0);
    ASSERT_EQ(px_ct_equal(PX_STR("a\0b"), PX_STR("a\0c")), 0);
}

TEST(crypto_random_hex)
{
    unsigned char a[32], b[32];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    ASSERT_OK(px_random_bytes(a, sizeof a));
    ASSERT_OK(px_random_bytes(b, sizeof b));
    ASSERT_TRUE(memcmp(a, b, sizeof a) != 0);
    ASSERT_OK(px_random_bytes(a, 0));
    char hex[9];
    px_hex("\x00\x1f\xa0\xff", 4, hex);
    ASSERT_STR_EQ(hex, "001fa0ff");
    px_hex("", 0, hex);
    ASSERT_STR_EQ(hex, "");
}

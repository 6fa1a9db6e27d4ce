/* px_crypto.c - thin wrappers over libcrypto and getrandom(). */
#include "px_crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <pthread.h>
#include <openssl/sha.h>
#include <sys/random.h>
#include <errno.h>
#include <string.h>

#include "px_err.h"

void px_hex(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static EVP_MAC *hmac_alg;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
    hmac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int px_hmac_sha256_hex_parts(px_str_t key, const px_str_t *parts, size_t nparts,
                             char out[65])
{
    pthread_once(&hmac_once, hmac_fetch);
    if (hmac_alg == NULL)
        return PX_EINVAL;
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t mdlen = 0;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    /* HMAC keys may be empty; OpenSSL wants a non-NULL pointer. */
    static const unsigned char nokey[1];
    const unsigned char *k = key.n ? (const unsigned char *)key.p : nokey;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(hmac_alg);
    int ok = ctx != NULL && EVP_MAC_init(ctx, k, key.n, params);
    for (size_t i = 0; i < nparts && ok; i++)
        ok = EVP_MAC_update(ctx, (const unsigned char *)parts[i].p, parts[i].n);
    ok = ok && EVP_MAC_final(ctx, md, &mdlen, sizeof md) && mdlen == 32;
    EVP_MAC_CTX_free(ctx);
    if (!ok)
        return PX_EINVAL;
    px_hex(md, 32, out);
    return 0;
}

int px_hmac_sha256_hex(px_str_t key, px_str_t msg, char out[65])
{
    return px_hmac_sha256_hex_parts(key, &msg, 1, out);
}

void px_md5_hex(px_str_t msg, char out[33])
{
    unsigned char md[16];
    unsigned int len = 0;
    EVP_Digest(msg.p, msg.n, md, &len, EVP_md5(), NULL);
    px_hex(md, 16, out);
}

void px_ws_accept_key(px_str_t client_key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char md[SHA_DIGEST_LENGTH];
    /* Keys are at most a few dozen bytes (limited by the caller); one
     * stack buffer avoids a digest context. */
    char in[128 + sizeof guid];
    size_t n = client_key.n > 128 ? 128 : client_key.n;
    memcpy(in, client_key.p, n);
    memcpy(in + n, guid, sizeof guid - 1);
    unsigned int len = 0;
    EVP_Digest(in, n + sizeof guid - 1, md, &len, EVP_sha1(), NULL);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
}

int px_ct_equal(px_str_t a, px_str_t b)
{
    if (a.n != b.n)
        return 0;
    return a.n == 0 || CRYPTO_memcmp(a.p, b.p, a.n) == 0;
}

int px_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return PX_EINVAL;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

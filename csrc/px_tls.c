/* px_tls.c - OpenSSL through memory BIOs. */
#include "px_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "px_err.h"

struct px_tls_ctx_s {
    SSL_CTX *ssl;
};

struct px_tls_s {
    SSL *ssl;
    BIO *in;   /* owned by ssl */
    BIO *out;  /* owned by ssl */
};

int px_tls_ctx_new(px_tls_ctx_t **out, const char *cert_file, const char *key_file,
                   const char **why)
{
    px_tls_ctx_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return PX_ENOMEM;
    c->ssl = SSL_CTX_new(TLS_server_method());
    if (c->ssl == NULL) {
        free(c);
        return PX_ENOMEM;
    }
    SSL_CTX_set_min_proto_version(c->ssl, TLS1_2_VERSION);
    /* Give the 34 KB of record buffers back while a connection is idle. */
    SSL_CTX_set_mode(c->ssl, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_options(c->ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    if (SSL_CTX_use_certificate_chain_file(c->ssl, cert_file) != 1) {
        *why = "cannot load the TLS certificate (PEM chain file)";
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(c->ssl, key_file, SSL_FILETYPE_PEM) != 1) {
        *why = "cannot load the TLS private key (PEM file)";
        goto fail;
    }
    if (SSL_CTX_check_private_key(c->ssl) != 1) {
        *why = "the TLS private key does not match the certificate";
        goto fail;
    }
    ERR_clear_error();
    *out = c;
    return 0;
fail:
    ERR_clear_error();
    SSL_CTX_free(c->ssl);
    free(c);
    return PX_EINVAL;
}

void px_tls_ctx_free(px_tls_ctx_t *ctx)
{
    if (ctx == NULL)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

px_tls_t *px_tls_new(px_tls_ctx_t *ctx)
{
    px_tls_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ssl = SSL_new(ctx->ssl);
    t->in = BIO_new(BIO_s_mem());
    t->out = BIO_new(BIO_s_mem());
    if (t->ssl == NULL || t->in == NULL || t->out == NULL) {
        BIO_free(t->in);
        BIO_free(t->out);
        SSL_free(t->ssl);
        free(t);
        return NULL;
    }
    BIO_set_mem_eof_return(t->in, -1); /* empty input means "wait", not EOF */
    SSL_set_bio(t->ssl, t->in, t->out);
    SSL_set_accept_state(t->ssl);
    return t;
}

void px_tls_free(px_tls_t *t)
{
    if (t == NULL)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    free(t);
}

int px_tls_put(px_tls_t *t, const void *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t w = 0;
        if (BIO_write_ex(t->in, (const char *)p + done, n - done, &w) != 1)
            return PX_ENOMEM;
        done += w;
    }
    return 0;
}

long px_tls_read(px_tls_t *t, void *buf, size_t cap)
{
    size_t n = 0;
    if (SSL_read_ex(t->ssl, buf, cap, &n) == 1)
        return (long)n;
    int err = SSL_get_error(t->ssl, 0);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return 0;
    return PX_EPROTO;
}

int px_tls_write(px_tls_t *t, const void *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t w = 0;
        if (SSL_write_ex(t->ssl, (const char *)p + done, n - done, &w) != 1) {
            ERR_clear_error();
            return PX_EPROTO;
        }
        done += w;
    }
    return 0;
}

size_t px_tls_pending(const px_tls_t *t)
{
    return BIO_ctrl_pending(t->out);
}

long px_tls_take(px_tls_t *t, px_buf_t *b)
{
    size_t pending = BIO_ctrl_pending(t->out);
    if (pending == 0)
        return 0;
    if (px_buf_reserve(b, pending) < 0)
        return PX_ENOMEM;
    size_t got = 0;
    if (BIO_read_ex(t->out, b->data + b->len, pending, &got) != 1)
        return 0;
    b->len += got;
    return (long)got;
}

/* px_auth.c - signature checks as the Pusher authentication docs define
 * them. */
#include "px_auth.h"

#include <stdlib.h>
#include <string.h>

#include "px_buf.h"
#include "px_crypto.h"
#include "px_err.h"

/* Splits "key:hex" and checks both halves against the app and the
 * expected signature over parts. */
static int check_auth(const px_app_t *app, px_str_t auth, const px_str_t *parts,
                      size_t nparts)
{
    const char *colon = memchr(auth.p, ':', auth.n);
    if (colon == NULL)
        return PX_EAUTH;
    px_str_t key = {auth.p, (size_t)(colon - auth.p)};
    px_str_t sig = {colon + 1, auth.n - key.n - 1};
    char expect[65];
    if (px_hmac_sha256_hex_parts(px_cstr(app->secret), parts, nparts, expect) < 0)
        return PX_EAUTH;
    /* Evaluate both comparisons so timing does not tell which one failed. */
    int key_ok = px_ct_equal(key, px_cstr(app->key));
    int sig_ok = px_ct_equal(sig, (px_str_t){expect, 64});
    return key_ok & sig_ok ? 0 : PX_EAUTH;
}

int px_auth_channel(const px_app_t *app, px_str_t socket_id, px_str_t channel,
                    const px_str_t *channel_data, px_str_t auth)
{
    px_str_t parts[5] = {socket_id, PX_STR(":"), channel, PX_STR(":"), {NULL, 0}};
    size_t n = 3;
    if (channel_data != NULL) {
        parts[4] = *channel_data;
        n = 5;
    }
    return check_auth(app, auth, parts, n);
}

int px_auth_user(const px_app_t *app, px_str_t socket_id, px_str_t user_data,
                 px_str_t auth)
{
    px_str_t parts[3] = {socket_id, PX_STR("::user::"), user_data};
    return check_auth(app, auth, parts, 3);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes n bytes of src into a new NUL-terminated string. */
static int decode(const char *src, size_t n, char **out, size_t *outlen)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return PX_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == '+') {
            d[j++] = ' ';
        } else if (src[i] == '%') {
            int hi = i + 1 < n ? hexval(src[i + 1]) : -1;
            int lo = i + 2 < n ? hexval(src[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                free(d);
                return PX_EINVAL;
            }
            d[j++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[j++] = src[i];
        }
    }
    d[j] = '\0';
    *out = d;
    *outlen = j;
    return 0;
}

int px_path_split(px_str_t path, char *segs, size_t cap, int max)
{
    int n = 0;
    size_t i = 0;
    while (i < path.n) {
        if (path.p[i] == '/') {
            i++;
            continue;
        }
        if (n == max)
            return -1;
        size_t j = i;
        while (j < path.n && path.p[j] != '/')
            j++;
        char *seg = segs + (size_t)n * cap;
        size_t k = 0;
        for (size_t x = i; x < j; x++) {
            if (k + 1 >= cap)
                return -1;
            char c = path.p[x];
            if (c == '%') {
                int hi = x + 2 < j ? hexval(path.p[x + 1]) : -1;
                int lo = x + 2 < j ? hexval(path.p[x + 2]) : -1;
                if (hi < 0 || lo < 0 || (hi | lo) == 0)
                    return -1;
                c = (char)(hi * 16 + lo);
                x += 2;
            }
            seg[k++] = c;
        }
        seg[k] = '\0';
        n++;
        i = j;
    }
    return n;
}

int px_query_parse(px_str_t raw, px_query_t *q)
{
    q->items = NULL;
    q->n = 0;
    size_t i = 0;
    int rc = 0;
    while (i < raw.n) {
        const char *start = raw.p + i;
        const char *amp = memchr(start, '&', raw.n - i);
        size_t len = amp ? (size_t)(amp - start) : raw.n - i;
        i += len + 1;
        if (len == 0)
            continue;
        if (q->n == 64) {
            rc = PX_EINVAL;
            goto fail;
        }
        if (q->n == 0 || (q->n & (q->n - 1)) == 0) {
            size_t cap = q->n ? q->n * 2 : 4;
            px_param_t *items = realloc(q->items, cap * sizeof(*items));
            if (items == NULL) {
                rc = PX_ENOMEM;
                goto fail;
            }
            q->items = items;
        }
        const char *eq = memchr(start, '=', len);
        size_t klen = eq ? (size_t)(eq - start) : len;
        px_param_t *p = &q->items[q->n];
        p->key = p->val = NULL;
        if ((rc = decode(start, klen, &p->key, &p->klen)) < 0)
            goto fail;
        if ((rc = decode(eq ? eq + 1 : start + len, eq ? len - klen - 1 : 0, &p->val,
                         &p->vlen)) < 0) {
            free(p->key);
            goto fail;
        }
        q->n++;
    }
    return 0;
fail:
    px_query_free(q);
    return rc;
}

const px_param_t *px_query_get(const px_query_t *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->items[i].key, key) == 0)
            return &q->items[i];
    return NULL;
}

void px_query_free(px_query_t *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->items[i].key);
        free(q->items[i].val);
    }
    free(q->items);
    q->items = NULL;
    q->n = 0;
}

static int cmp_params(const void *a, const void *b)
{
    const px_param_t *x = *(px_param_t *const *)a, *y = *(px_param_t *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->val, y->val);
}

int px_auth_request(const px_app_t *app, px_str_t method, px_str_t path,
                    const px_query_t *q, px_str_t body, int64_t now,
                    int64_t window, const char **why)
{
    const px_param_t *key = px_query_get(q, "auth_key");
    const px_param_t *ts = px_query_get(q, "auth_timestamp");
    const px_param_t *ver = px_query_get(q, "auth_version");
    const px_param_t *md5 = px_query_get(q, "body_md5");
    const px_param_t *sig = px_query_get(q, "auth_signature");
    if (key == NULL || ts == NULL || sig == NULL) {
        *why = "missing auth_key, auth_timestamp or auth_signature";
        return PX_EAUTH;
    }
    if (!px_ct_equal((px_str_t){key->val, key->vlen}, px_cstr(app->key))) {
        *why = "unknown auth_key";
        return PX_EAUTH;
    }
    if (ver != NULL && strcmp(ver->val, "1.0") != 0) {
        *why = "unsupported auth_version (expected 1.0)";
        return PX_EAUTH;
    }
    char *end = NULL;
    long long t = strtoll(ts->val, &end, 10);
    if (ts->vlen == 0 || end == NULL || *end != '\0') {
        *why = "auth_timestamp is not an integer";
        return PX_EAUTH;
    }
    if (t < now - window || t > now + window) {
        *why = "auth_timestamp expired: it must be within 600 seconds of the server time";
        return PX_EAUTH;
    }
    if (body.n > 0 || md5 != NULL) {
        char expect[33];
        px_md5_hex(body, expect);
        if (md5 == NULL || !px_ct_equal((px_str_t){md5->val, md5->vlen}, (px_str_t){expect, 32})) {
            *why = "body_md5 does not match the body";
            return PX_EAUTH;
        }
    }
    /* String to sign: METHOD \n path \n sorted "k=v" pairs (keys lowercased,
     * values unescaped), auth_signature left out. */
    px_param_t *sorted[64];
    px_param_t lowered[64];
    size_t n = 0;
    int rc = PX_ENOMEM;
    for (size_t i = 0; i < q->n; i++) {
        if (strcmp(q->items[i].key, "auth_signature") == 0)
            continue;
        lowered[n] = q->items[i];
        lowered[n].key = strdup(q->items[i].key);
        if (lowered[n].key == NULL)
            goto out;
        for (char *c = lowered[n].key; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        sorted[n] = &lowered[n];
        n++;
    }
    qsort(sorted, n, sizeof(sorted[0]), cmp_params);
    px_buf_t s = PX_BUF_INIT;
    int err = px_buf_append(&s, method.p, method.n);
    err |= px_buf_append(&s, "\n", 1);
    err |= px_buf_append(&s, path.p, path.n);
    err |= px_buf_append(&s, "\n", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            err |= px_buf_append(&s, "&", 1);
        err |= px_buf_append(&s, sorted[i]->key, strlen(sorted[i]->key));
        err |= px_buf_append(&s, "=", 1);
        err |= px_buf_append(&s, sorted[i]->val, sorted[i]->vlen);
    }
    if (err == 0) {
        char expect[65];
        rc = px_hmac_sha256_hex((px_str_t){app->secret, strlen(app->secret)},
                                (px_str_t){s.data, s.len}, expect);
        if (rc == 0 && !px_ct_equal((px_str_t){sig->val, sig->vlen}, (px_str_t){expect, 64})) {
            *why = "invalid auth_signature";
            rc = PX_EAUTH;
        } else if (rc < 0) {
            *why = "signature computation failed";
            rc = PX_EAUTH;
        }
    }
    px_buf_free(&s);
out:
    for (size_t i = 0; i < n; i++)
        free(lowered[i].key);
    return rc;
}

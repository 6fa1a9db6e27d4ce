/* fuzz_auth.c - signature checks and the query parser (px_auth).
 *
 * Input: byte 0 holds options; the rest is split on '\n' into method,
 * path, query, socket id, channel, channel data (also the sign-in's
 * user_data), auth, and the body, which is everything after the seventh
 * '\n' (missing fields are empty). The app is the Pusher docs' (key
 * 278d425bdf160c739803, secret 7ad3773142a6692b25b8); the server's clock
 * is 1353088179 and the window 600 s.
 *
 * Options (byte 0):
 *   bit 0    re-sign the request (fuzz_common.h's signer, written from the
 *            protocol rather than px_auth): then px_auth_request must accept
 *            it exactly when the timestamp is in the window, and must refuse
 *            it once the method is altered
 *   bits 1-3 re-signed timestamp: now + 0, -600, +600, -601, +601, -1, +1,
 *            -100000
 *   bit 4    replace auth with a correct channel signature
 *   bit 5    replace auth with a correct sign-in signature (for px_auth_user)
 *   bit 6    the channel data takes part (a presence subscription)
 *
 * Invariants:
 *   - px_query_parse agrees with a reference decoder written here: the
 *     same parameters in order, byte for byte, or PX_EINVAL for a bad
 *     escape or more than 64 parameters;
 *   - px_auth_channel and px_auth_user accept an auth value exactly when
 *     it equals "<key>:<HMAC-SHA256 hex>" computed here with OpenSSL;
 *   - px_auth_request never crashes, returns 0 or PX_EAUTH (with a reason),
 *     and follows the re-signing rules above. */
#include "../../csrc/px_auth.h"
#include "../../csrc/px_err.h"
#include "../c/support.h"
#include "fuzz_common.h"

static px_app_t app = {
    .id = "3",
    .key = ENV_APP_KEY,
    .secret = ENV_APP_SECRET,
    .name = "fuzz",
    .enabled = 1,
};

static const long long ts_offsets[8] = {0, -600, 600, -601, 601, -1, 1, -100000};

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s ('+' is a space) into out; -1 on a bad escape. */
static int ref_decode(const char *s, size_t n, px_buf_t *out)
{
    out->len = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3 || hexval(s[i + 1]) < 0 || hexval(s[i + 2]) < 0)
                return -1;
            c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        FZ_ASSERT(px_buf_append(out, &c, 1) == 0);
    }
    return 0;
}

/* Compares px_query_parse's result for raw with the reference parse. */
static void check_query(px_str_t raw, int rc, const px_query_t *q)
{
    size_t n = 0, i = 0;
    int bad = 0;
    px_buf_t k = PX_BUF_INIT, v = PX_BUF_INIT;
    while (i < raw.n && !bad) {
        const char *st = raw.p + i;
        const char *amp = memchr(st, '&', raw.n - i);
        size_t len = amp ? (size_t)(amp - st) : raw.n - i;
        i += len + 1;
        if (len == 0)
            continue;
        if (n == 64) {
            bad = 1;
            break;
        }
        const char *eq = memchr(st, '=', len);
        size_t klen = eq ? (size_t)(eq - st) : len;
        if (ref_decode(st, klen, &k) < 0 ||
            ref_decode(eq ? eq + 1 : st, eq ? len - klen - 1 : 0, &v) < 0) {
            bad = 1;
            break;
        }
        if (rc == 0) {
            FZ_ASSERT(n < q->n);
            const px_param_t *p = &q->items[n];
            FZ_ASSERT(p->klen == k.len && memcmp(p->key, k.data ? k.data : "", k.len) == 0);
            FZ_ASSERT(p->vlen == v.len && memcmp(p->val, v.data ? v.data : "", v.len) == 0);
            FZ_ASSERT(p->key[p->klen] == '\0' && p->val[p->vlen] == '\0');
        }
        n++;
    }
    px_buf_free(&k);
    px_buf_free(&v);
    if (bad) {
        FZ_ASSERT(rc == PX_EINVAL);
        FZ_ASSERT(q->n == 0 && q->items == NULL);
    } else {
        FZ_ASSERT(rc == 0);
        FZ_ASSERT(q->n == n);
    }
}

static int str_is(px_str_t s, const char *z)
{
    return s.n == strlen(z) && memcmp(s.p, z, s.n) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t opts = data[0];
    /* An exact-size copy of the fields, so over-reads are caught. */
    char *buf = (char *)fz_dup(data + 1, size - 1);
    size_t n = size - 1;
    px_str_t f[8];
    size_t i = 0;
    for (int k = 0; k < 8; k++) {
        if (k == 7) {
            f[k] = (px_str_t){buf + i, n - i};
            break;
        }
        const char *nl = i < n ? memchr(buf + i, '\n', n - i) : NULL;
        size_t len = nl ? (size_t)(nl - (buf + i)) : n - i;
        f[k] = (px_str_t){buf + i, len};
        i += len + (nl != NULL);
    }
    px_str_t method = f[0], path = f[1], rawq = f[2], sid = f[3], channel = f[4],
             cdata = f[5], auth = f[6], body = f[7];

    /* The query parser against the reference. */
    px_query_t q;
    int rc = px_query_parse(rawq, &q);
    check_query(rawq, rc, &q);
    if (rc == 0) {
        const char *why = NULL;
        int arc = px_auth_request(&app, method, path, &q, body, REST_NOW, 600, &why);
        FZ_ASSERT(arc == 0 || (arc == PX_EAUTH && why != NULL));
        px_query_free(&q);
    }

    /* A re-signed request. */
    if (opts & 1) {
        long long off = ts_offsets[(opts >> 1) & 7];
        px_buf_t sq = PX_BUF_INIT;
        if (fz_sign_query(ENV_APP_KEY, ENV_APP_SECRET, method, path, rawq, body, REST_NOW + off,
                          &sq) == 0) {
            px_str_t signed_q = {sq.data, sq.len};
            FZ_ASSERT(px_query_parse(signed_q, &q) == 0);
            const char *why = NULL;
            int arc = px_auth_request(&app, method, path, &q, body, REST_NOW, 600, &why);
            int in_window = off >= -600 && off <= 600;
            if ((arc == 0) != in_window)
                fprintf(stderr, "re-signed request: rc %d (%s), offset %lld\n", arc,
                        why ? why : "-", off);
            FZ_ASSERT((arc == 0) == in_window);
            if (in_window) {
                /* Any change to what was signed must be refused. */
                px_buf_t m2 = PX_BUF_INIT;
                FZ_ASSERT(px_buf_append(&m2, method.p, method.n) == 0 &&
                          px_buf_puts(&m2, "X") == 0);
                arc = px_auth_request(&app, (px_str_t){m2.data, m2.len}, path, &q, body,
                                      REST_NOW, 600, &why);
                FZ_ASSERT(arc == PX_EAUTH);
                px_buf_free(&m2);
            }
            px_query_free(&q);
        }
        px_buf_free(&sq);
    }

    /* Channel and sign-in signatures against the reference. */
    int presence = (opts & 0x40) != 0;
    px_str_t cparts[5] = {sid, PX_STR(":"), channel, PX_STR(":"), cdata};
    char cexpect[256], uexpect[256];
    fz_sign_parts(app.key, app.secret, cparts, presence ? 5 : 3, cexpect, sizeof cexpect);
    px_str_t uparts[3] = {sid, PX_STR("::user::"), cdata};
    fz_sign_parts(app.key, app.secret, uparts, 3, uexpect, sizeof uexpect);
    px_str_t cauth = opts & 0x10 ? px_cstr(cexpect) : auth;
    px_str_t uauth = opts & 0x20 ? px_cstr(uexpect) : auth;
    rc = px_auth_channel(&app, sid, channel, presence ? &cdata : NULL, cauth);
    FZ_ASSERT(rc == 0 || rc == PX_EAUTH);
    FZ_ASSERT((rc == 0) == str_is(cauth, cexpect));
    rc = px_auth_user(&app, sid, cdata, uauth);
    FZ_ASSERT(rc == 0 || rc == PX_EAUTH);
    FZ_ASSERT((rc == 0) == str_is(uauth, uexpect));

    free(buf);
    return 0;
}

/* test_auth.c - channel, user and HTTP API signatures; query parsing. */
#include <stdio.h>

#include "../../csrc/px_auth.h"
#include "../../csrc/px_crypto.h"
#include "../../csrc/px_err.h"
#include "harness.h"
#include "support.h"

#define SIG_PRIVATE "58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
#define SIG_USER "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba"


static px_app_t *docs_app(void)
{
    px_app_t *app = NULL;
    const char *why = NULL;
    json_t *o = json_pack("{s:s, s:s, s:s}", "id", "3", "key", ENV_APP_KEY, "secret",
                          ENV_APP_SECRET);
    ASSERT_NOT_NULL(o);
    ASSERT_OK(px_app_from_json(o, &app, &why));
    json_decref(o);
    return app;
}

TEST(auth_channel_private)
{
    px_app_t *app = docs_app();
    px_str_t sid = PX_STR("1234.1234"), ch = PX_STR("private-foobar");
    ASSERT_OK(px_auth_channel(app, sid, ch, NULL, PX_STR(ENV_APP_KEY ":" SIG_PRIVATE)));
    /* Wrong key, wrong signature, malformed. */
    ASSERT_EQ(px_auth_channel(app, sid, ch, NULL, PX_STR("278d425bdf160c739804:" SIG_PRIVATE)),
              PX_EAUTH);
    ASSERT_EQ(px_auth_channel(app, sid, ch, NULL,
                              PX_STR(ENV_APP_KEY ":58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba4"
                                     "8f5369f135bf843651c3a5")),
              PX_EAUTH);
    ASSERT_EQ(px_auth_channel(app, sid, ch, NULL, PX_STR(ENV_APP_KEY SIG_PRIVATE)), PX_EAUTH);
    ASSERT_EQ(px_auth_channel(app, sid, ch, NULL, PX_STR(ENV_APP_KEY ":")), PX_EAUTH);
    ASSERT_EQ(px_auth_channel(app, sid, ch, NULL, PX_STR(":" SIG_PRIVATE)), PX_EAUTH);
    ASSERT_EQ(px_auth_channel(app, sid, ch, NULL, PX_STR("")), PX_EAUTH);
    ASSERT_EQ(px_auth_channel(app, sid, ch, NULL, PX_STR(ENV_APP_KEY ":" SIG_PRIVATE "0")),
              PX_EAUTH);
    /* The signature binds the socket id and the channel. */
    ASSERT_EQ(px_auth_channel(app, PX_STR("1234.1235"), ch, NULL,
                              PX_STR(ENV_APP_KEY ":" SIG_PRIVATE)), PX_EAUTH);
    ASSERT_EQ(px_auth_channel(app, sid, PX_STR("private-foobaz"), NULL,
                              PX_STR(ENV_APP_KEY ":" SIG_PRIVATE)), PX_EAUTH);
    /* With channel_data the string to sign changes. */
    px_str_t cd = PX_STR("{}");
    ASSERT_EQ(px_auth_channel(app, sid, ch, &cd, PX_STR(ENV_APP_KEY ":" SIG_PRIVATE)), PX_EAUTH);
    px_app_free(app);
}

TEST(auth_channel_presence)
{
    px_app_t *app = docs_app();
    px_str_t sid = PX_STR("1234.1234"), ch = PX_STR("presence-foobar");
    px_str_t cd = PX_STR("{\"user_id\":10,\"user_info\":{\"name\":\"Mr. Pusher\"}}");
    char sig[65], auth[128];
    ASSERT_OK(px_hmac_sha256_hex(PX_STR(ENV_APP_SECRET),
                                 PX_STR("1234.1234:presence-foobar:{\"user_id\":10,"
                                        "\"user_info\":{\"name\":\"Mr. Pusher\"}}"),
                                 sig));
    snprintf(auth, sizeof auth, "%s:%s", ENV_APP_KEY, sig);
    ASSERT_OK(px_auth_channel(app, sid, ch, &cd, px_cstr(auth)));
    ASSERT_EQ(px_auth_channel(app, sid, ch, NULL, px_cstr(auth)), PX_EAUTH);
    px_str_t other = PX_STR("{\"user_id\":11,\"user_info\":{\"name\":\"Mr. Pusher\"}}");
    ASSERT_EQ(px_auth_channel(app, sid, ch, &other, px_cstr(auth)), PX_EAUTH);
    px_app_free(app);
}

TEST(auth_user)
{
    px_app_t *app = docs_app();
    char sig[65];
    ASSERT_OK(px_hmac_sha256_hex(PX_STR(ENV_APP_SECRET),
                                 PX_STR("1234.1234::user::{\"id\":\"12345\"}"), sig));
    ASSERT_STR_EQ(sig, SIG_USER);
    px_str_t sid = PX_STR("1234.1234"), ud = PX_STR("{\"id\":\"12345\"}");
    ASSERT_OK(px_auth_user(app, sid, ud, PX_STR(ENV_APP_KEY ":" SIG_USER)));
    ASSERT_EQ(px_auth_user(app, sid, PX_STR("{\"id\":\"12346\"}"),
                           PX_STR(ENV_APP_KEY ":" SIG_USER)), PX_EAUTH);
    ASSERT_EQ(px_auth_user(app, PX_STR("1.1"), ud, PX_STR(ENV_APP_KEY ":" SIG_USER)), PX_EAUTH);
    ASSERT_EQ(px_auth_user(app, sid, ud, PX_STR("wrong:" SIG_USER)), PX_EAUTH);
    ASSERT_EQ(px_auth_user(app, sid, ud, PX_STR(SIG_USER)), PX_EAUTH);
    px_app_free(app);
}

static void assert_param(const px_query_t *q, const char *key, const char *val, size_t vlen)
{
    const px_param_t *p = px_query_get(q, key);
    if (p == NULL)
        fprintf(stderr, "# missing parameter %s\n", key);
    ASSERT_NOT_NULL(p);
    ASSERT_EQ(p->klen, strlen(key));
    ASSERT_EQ(p->vlen, vlen);
    ASSERT_MEM_EQ(p->val, val, vlen);
    ASSERT_EQ(p->val[vlen], '\0');
}

TEST(auth_query_parse)
{
    px_query_t q;
    ASSERT_OK(px_query_parse(PX_STR("a=1&b=%20x+y&c&&d=&e=%41%4a%4A&k%3Dx=v%2B&a=2&z=%00"), &q));
    ASSERT_EQ(q.n, 8);
    assert_param(&q, "a", "1", 1); /* the first of duplicates */
    assert_param(&q, "b", " x y", 4);
    assert_param(&q, "c", "", 0);
    assert_param(&q, "d", "", 0);
    assert_param(&q, "e", "AJJ", 3);
    assert_param(&q, "k=x", "v+", 2);
    assert_param(&q, "z", "\0", 1);
    ASSERT_NULL(px_query_get(&q, "missing"));
    ASSERT_NULL(px_query_get(&q, "A"));
    px_query_free(&q);
    ASSERT_EQ(q.n, 0);
    ASSERT_NULL(q.items);

    ASSERT_OK(px_query_parse(PX_STR(""), &q));
    ASSERT_EQ(q.n, 0);
    px_query_free(&q);
    ASSERT_OK(px_query_parse(PX_STR("&&&"), &q));
    ASSERT_EQ(q.n, 0);
    px_query_free(&q);

    static const char *const bad[] = {"a=%zz", "a=%2", "a=%", "%=1", "a=1&b=%g0", "a=%0g"};
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        ASSERT_EQ(px_query_parse(px_cstr(bad[i]), &q), PX_EINVAL);
        ASSERT_EQ(q.n, 0);
        ASSERT_NULL(q.items);
    }
}

TEST(auth_query_limit)
{
    px_buf_t b = PX_BUF_INIT;
    for (int i = 0; i < 64; i++)
        ASSERT_OK(px_buf_printf(&b, "%sp%d=%d", i ? "&" : "", i, i));
    px_query_t q;
    ASSERT_OK(px_query_parse((px_str_t){b.data, b.len}, &q));
    ASSERT_EQ(q.n, 64);
    assert_param(&q, "p0", "0", 1);
    assert_param(&q, "p63", "63", 2);
    px_query_free(&q);
    ASSERT_OK(px_buf_puts(&b, "&p64=64"));
    ASSERT_EQ(px_query_parse((px_str_t){b.data, b.len}, &q), PX_EINVAL);
    ASSERT_EQ(q.n, 0);
    px_buf_free(&b);
}

/* Verifies method/path/raw query/body at now; returns the result, *why set. */
static int check_request(px_app_t *app, const char *method, const char *path,
                         const char *query, const char *body, int64_t now, const char **why)
{
    px_query_t q;
    ASSERT_OK(px_query_parse(px_cstr(query), &q));
    *why = NULL;
    int rc = px_auth_request(app, px_cstr(method), px_cstr(path), &q, px_cstr(body), now, 600,
                             why);
    px_query_free(&q);
    if (rc == 0)
        return 0;
    ASSERT_EQ(rc, PX_EAUTH);
    ASSERT_NOT_NULL(*why);
    ASSERT_TRUE(**why != '\0');
    return rc;
}

TEST(auth_request_vector)
{
    px_app_t *app = docs_app();
    const char *why;
    ASSERT_OK(check_request(app, "POST", REST_PATH, REST_QUERY, REST_BODY, REST_NOW, &why));
    /* Parameter order in the URL does not matter. */
    ASSERT_OK(check_request(app, "POST", REST_PATH,
                            "auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430"
                            "e47a1f3f457e6c&body_md5=ec365a775a4cd0599faeb73354201b6f&auth_"
                            "version=1.0&auth_timestamp=1353088179&auth_key=278d425bdf160c739803",
                            REST_BODY, REST_NOW, &why));
    /* The window is inclusive at 600 seconds either way. */
    ASSERT_OK(check_request(app, "POST", REST_PATH, REST_QUERY, REST_BODY, REST_NOW + 600, &why));
    ASSERT_OK(check_request(app, "POST", REST_PATH, REST_QUERY, REST_BODY, REST_NOW - 600, &why));
    px_app_free(app);
}

TEST(auth_request_rejects)
{
    px_app_t *app = docs_app();
    const char *why;
    /* Stale or future timestamp. */
    ASSERT_EQ(check_request(app, "POST", REST_PATH, REST_QUERY, REST_BODY, REST_NOW + 601, &why),
              PX_EAUTH);
    ASSERT_TRUE(strstr(why, "timestamp") != NULL);
    ASSERT_EQ(check_request(app, "POST", REST_PATH, REST_QUERY, REST_BODY, REST_NOW - 601, &why),
              PX_EAUTH);
    ASSERT_TRUE(strstr(why, "timestamp") != NULL);
    /* Tampered body: its MD5 no longer matches. */
    ASSERT_EQ(check_request(app, "POST", REST_PATH, REST_QUERY,
                            "{\"name\":\"bar\",\"channels\":[\"project-3\"],\"data\":\"{}\"}",
                            REST_NOW, &why),
              PX_EAUTH);
    ASSERT_TRUE(strstr(why, "body_md5") != NULL);
    /* Wrong signature. */
    char q[512];
    snprintf(q, sizeof q, "%s", REST_QUERY);
    q[strlen(q) - 1] = 'd';
    ASSERT_EQ(check_request(app, "POST", REST_PATH, q, REST_BODY, REST_NOW, &why), PX_EAUTH);
    ASSERT_TRUE(strstr(why, "signature") != NULL);
    /* The signature covers the method and the path. */
    ASSERT_EQ(check_request(app, "PUT", REST_PATH, REST_QUERY, REST_BODY, REST_NOW, &why),
              PX_EAUTH);
    ASSERT_TRUE(strstr(why, "signature") != NULL);
    ASSERT_EQ(check_request(app, "POST", "/apps/4/events", REST_QUERY, REST_BODY, REST_NOW, &why),
              PX_EAUTH);
    /* Missing parameters and a foreign key. */
    ASSERT_EQ(check_request(app, "POST", REST_PATH, "auth_key=278d425bdf160c739803", REST_BODY,
                            REST_NOW, &why), PX_EAUTH);
    ASSERT_TRUE(strstr(why, "missing") != NULL);
    char *other = strdup(REST_QUERY);
    ASSERT_NOT_NULL(other);
    other[9] = 'X'; /* auth_key=X78d... */
    ASSERT_EQ(check_request(app, "POST", REST_PATH, other, REST_BODY, REST_NOW, &why), PX_EAUTH);
    ASSERT_TRUE(strstr(why, "auth_key") != NULL);
    free(other);
    px_app_free(app);
}

TEST(auth_request_md5_and_version)
{
    px_app_t *app = docs_app();
    const char *why;
    char target[1024];
    /* A GET without a body needs no body_md5. */
    env_signed_target(app, "GET", "/apps/3/channels", "filter_by_prefix=presence-", "",
                      REST_NOW, target, sizeof target);
    const char *query = strchr(target, '?') + 1;
    ASSERT_OK(check_request(app, "GET", "/apps/3/channels", query, "", REST_NOW, &why));
    /* A body without body_md5 is refused even when the rest is signed. */
    ASSERT_EQ(check_request(app, "POST", "/apps/3/channels", query, "{}", REST_NOW, &why),
              PX_EAUTH);
    ASSERT_TRUE(strstr(why, "body_md5") != NULL);
    /* A correctly signed request with a wrong body_md5 is refused. */
    env_signed_target(app, "POST", "/apps/3/events", "body_md5=d41d8cd98f00b204e9800998ecf8427e",
                      "", REST_NOW, target, sizeof target);
    query = strchr(target, '?') + 1;
    ASSERT_OK(check_request(app, "POST", "/apps/3/events", query, "", REST_NOW, &why));
    ASSERT_EQ(check_request(app, "POST", "/apps/3/events", query, "x", REST_NOW, &why), PX_EAUTH);
    ASSERT_TRUE(strstr(why, "body_md5") != NULL);
    /* Only auth_version 1.0 is known. */
    char sig[65], msg[256], q2[512];
    snprintf(msg, sizeof msg, "GET\n/apps/3/channels\nauth_key=%s&auth_timestamp=%d"
             "&auth_version=2.0", ENV_APP_KEY, REST_NOW);
    ASSERT_OK(px_hmac_sha256_hex(PX_STR(ENV_APP_SECRET), px_cstr(msg), sig));
    snprintf(q2, sizeof q2, "auth_key=%s&auth_timestamp=%d&auth_version=2.0&auth_signature=%s",
             ENV_APP_KEY, REST_NOW, sig);
    ASSERT_EQ(check_request(app, "GET", "/apps/3/channels", q2, "", REST_NOW, &why), PX_EAUTH);
    ASSERT_TRUE(strstr(why, "auth_version") != NULL);
    /* Without auth_version at all the same request signs fine. */
    snprintf(msg, sizeof msg, "GET\n/apps/3/channels\nauth_key=%s&auth_timestamp=%d",
             ENV_APP_KEY, REST_NOW);
    ASSERT_OK(px_hmac_sha256_hex(PX_STR(ENV_APP_SECRET), px_cstr(msg), sig));
    snprintf(q2, sizeof q2, "auth_timestamp=%d&auth_key=%s&auth_signature=%s", REST_NOW,
             ENV_APP_KEY, sig);
    ASSERT_OK(check_request(app, "GET", "/apps/3/channels", q2, "", REST_NOW, &why));
    /* A non-numeric timestamp. */
    snprintf(q2, sizeof q2, "auth_timestamp=12x&auth_key=%s&auth_signature=%s", ENV_APP_KEY, sig);
    ASSERT_EQ(check_request(app, "GET", "/apps/3/channels", q2, "", REST_NOW, &why), PX_EAUTH);
    ASSERT_TRUE(strstr(why, "timestamp") != NULL);
    px_app_free(app);
}

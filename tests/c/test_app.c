/* test_app.c - error names, app records and the app registry. */
#include <uv.h>

#include "../../csrc/px_app.h"
#include "../../csrc/px_err.h"
#include "harness.h"

TEST(err_names)
{
    ASSERT_STR_EQ(px_strerror(PX_ENOMEM), "out of memory");
    ASSERT_STR_EQ(px_err_name(PX_EAUTH), "EAUTH");
    ASSERT_STR_EQ(px_err_name(PX_EUTF8), "EUTF8");
    /* libuv codes pass through. */
    ASSERT_STR_EQ(px_err_name(UV_EADDRINUSE), "EADDRINUSE");
    ASSERT_STR_EQ(px_strerror(UV_EADDRINUSE), uv_strerror(UV_EADDRINUSE));
    ASSERT_STR_EQ(px_strerror(-30000), "unknown error");
    ASSERT_STR_EQ(px_err_name(1), "UNKNOWN");
    ASSERT_TRUE(PX_ENOMEM < -4096);
}

static int from_json(const char *text, px_app_t **out, const char **why)
{
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    ASSERT_NOT_NULL(o);
    *out = NULL;
    *why = NULL;
    int rc = px_app_from_json(o, out, why);
    json_decref(o);
    return rc;
}

TEST(app_from_json)
{
    px_app_t *a;
    const char *why;
    ASSERT_OK(from_json("{\"id\":\"3\",\"key\":\"k\",\"secret\":\"s\"}", &a, &why));
    ASSERT_STR_EQ(a->id, "3");
    ASSERT_STR_EQ(a->key, "k");
    ASSERT_STR_EQ(a->secret, "s");
    ASSERT_STR_EQ(a->name, "default");
    ASSERT_EQ(a->enabled, 1);
    ASSERT_EQ(a->client_events, 0);
    ASSERT_EQ(a->max_presence_members, 100);
    ASSERT_EQ(a->max_user_info_bytes, 1024);
    ASSERT_EQ(a->max_event_bytes, 10240);
    ASSERT_EQ(a->max_client_events_per_second, 10);
    /* Round trip through px_app_to_json. */
    json_t *j = px_app_to_json(a);
    ASSERT_NOT_NULL(j);
    px_app_t *b;
    ASSERT_OK(px_app_from_json(j, &b, &why));
    json_t *j2 = px_app_to_json(b);
    ASSERT_TRUE(json_equal(j, j2));
    json_decref(j);
    json_decref(j2);
    px_app_free(a);
    px_app_free(b);

    ASSERT_OK(from_json("{\"id\":42,\"key\":\"a-b_C\",\"secret\":\"s\",\"name\":\"n\","
                        "\"enabled\":false,\"client_events\":true,\"max_presence_members\":5,"
                        "\"max_event_bytes\":0}", &a, &why));
    ASSERT_STR_EQ(a->id, "42");
    ASSERT_STR_EQ(a->name, "n");
    ASSERT_EQ(a->enabled, 0);
    ASSERT_EQ(a->client_events, 1);
    ASSERT_EQ(a->max_presence_members, 5);
    ASSERT_EQ(a->max_event_bytes, 0);
    px_app_free(a);
    px_app_free(NULL);

    static const char *const bad[] = {
        "[]", "{}", "{\"id\":\"3\",\"key\":\"k\"}", "{\"id\":\"\",\"key\":\"k\",\"secret\":\"s\"}",
        "{\"id\":\"3\",\"key\":\"k/x\",\"secret\":\"s\"}",
        "{\"id\":\"a b\",\"key\":\"k\",\"secret\":\"s\"}",
        "{\"id\":\"3\",\"key\":\"k\",\"secret\":\"s\",\"enabled\":1}",
        "{\"id\":\"3\",\"key\":\"k\",\"secret\":\"s\",\"max_event_bytes\":-1}",
        "{\"id\":\"3\",\"key\":\"k\",\"secret\":\"s\",\"max_event_bytes\":4294967296}",
        "{\"id\":\"3\",\"key\":\"k\",\"secret\":\"s\",\"max_presence_members\":\"5\"}",
        "{\"id\":\"3\",\"key\":\"k\\u0000x\",\"secret\":\"s\"}",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        json_error_t err;
        json_t *o = json_loads(bad[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        ASSERT_NOT_NULL(o);
        a = (px_app_t *)1;
        why = NULL;
        int rc = px_app_from_json(o, &a, &why);
        json_decref(o);
        if (rc != PX_EINVAL)
            fprintf(stderr, "# accepted: %s\n", bad[i]);
        ASSERT_EQ(rc, PX_EINVAL);
        ASSERT_NOT_NULL(why);
        ASSERT_PTR_EQ(a, (px_app_t *)1); /* untouched */
    }
}

TEST(app_registry)
{
    px_apps_t apps = PX_APPS_INIT;
    px_app_t *a, *b, *c, *d;
    const char *why;
    ASSERT_OK(from_json("{\"id\":\"1\",\"key\":\"ka\",\"secret\":\"s\"}", &a, &why));
    ASSERT_OK(from_json("{\"id\":\"2\",\"key\":\"kb\",\"secret\":\"s\"}", &b, &why));
    ASSERT_OK(from_json("{\"id\":\"1\",\"key\":\"kc\",\"secret\":\"s\"}", &c, &why));
    ASSERT_OK(from_json("{\"id\":\"4\",\"key\":\"ka\",\"secret\":\"s\"}", &d, &why));
    ASSERT_OK(px_apps_add(&apps, a));
    ASSERT_OK(px_apps_add(&apps, b));
    ASSERT_EQ(px_apps_add(&apps, c), PX_EEXIST); /* id taken */
    ASSERT_EQ(px_apps_add(&apps, d), PX_EEXIST); /* key taken */
    ASSERT_PTR_EQ(px_apps_by_key(&apps, PX_STR("ka")), a);
    ASSERT_PTR_EQ(px_apps_by_key(&apps, PX_STR("kb")), b);
    ASSERT_PTR_EQ(px_apps_by_id(&apps, PX_STR("1")), a);
    ASSERT_PTR_EQ(px_apps_by_id(&apps, PX_STR("2")), b);
    ASSERT_NULL(px_apps_by_key(&apps, PX_STR("kc")));
    ASSERT_NULL(px_apps_by_id(&apps, PX_STR("4")));
    ASSERT_NULL(px_apps_by_key(&apps, PX_STR("1"))); /* ids are not keys */
    px_app_free(c);
    px_app_free(d);
    px_apps_free(&apps);
}

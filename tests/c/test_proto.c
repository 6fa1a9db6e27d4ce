/* test_proto.c - decoding client messages and encoding server frames. */
#include <stdlib.h>

#include "../../csrc/px_err.h"
#include "../../csrc/px_proto.h"
#include "harness.h"

static int decode(const char *text, px_msg_t *m, const char **why)
{
    *why = NULL;
    return px_proto_decode(text, strlen(text), m, why);
}

TEST(proto_decode_valid)
{
    px_msg_t m;
    const char *why;
    ASSERT_OK(decode("{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"news\"}}", &m, &why));
    ASSERT_SLICE_EQ(m.event, "pusher:subscribe");
    ASSERT_NULL(m.channel.p);
    ASSERT_TRUE(json_is_object(m.data));
    ASSERT_NOT_NULL(m.data_obj);
    ASSERT_SLICE_EQ(px_json_str(m.data_obj, "channel"), "news");
    px_msg_free(&m);
    ASSERT_NULL(m.root);
    px_msg_free(&m); /* safe on an empty message */

    /* data as a string holding a JSON object: data_obj is that object. */
    ASSERT_OK(decode("{\"event\":\"client-x\",\"channel\":\"private-a\","
                     "\"data\":\"{\\\"a\\\":1,\\\"b\\\":\\\"c\\\"}\"}", &m, &why));
    ASSERT_SLICE_EQ(m.event, "client-x");
    ASSERT_SLICE_EQ(m.channel, "private-a");
    ASSERT_TRUE(json_is_string(m.data));
    ASSERT_NOT_NULL(m.data_obj);
    ASSERT_EQ(json_integer_value(json_object_get(m.data_obj, "a")), 1);
    ASSERT_SLICE_EQ(px_json_str(m.data_obj, "b"), "c");
    px_msg_free(&m);

    /* data that is not an object, nor a string holding one. */
    static const char *const no_obj[] = {
        "{\"event\":\"e\",\"data\":\"hello\"}", "{\"event\":\"e\",\"data\":\"[1,2]\"}",
        "{\"event\":\"e\",\"data\":\"{broken\"}", "{\"event\":\"e\",\"data\":5}",
        "{\"event\":\"e\",\"data\":[{}]}", "{\"event\":\"e\"}",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(no_obj); i++) {
        ASSERT_OK(decode(no_obj[i], &m, &why));
        ASSERT_SLICE_EQ(m.event, "e");
        ASSERT_NULL(m.data_obj);
        px_msg_free(&m);
    }

    /* A null channel counts as absent. */
    ASSERT_OK(decode("{\"event\":\"e\",\"channel\":null}", &m, &why));
    ASSERT_NULL(m.channel.p);
    px_msg_free(&m);
}

TEST(proto_decode_invalid)
{
    static const char *const bad[] = {
        "not json", "", "{", "{\"event\":\"x\"", "[{\"event\":\"x\"}]", "\"event\"", "42",
        "{\"data\":{}}", "{\"event\":\"\"}", "{\"event\":5}", "{\"event\":null}",
        "{\"event\":{\"a\":1}}", "{\"event\":\"x\",\"channel\":5}",
        "{\"event\":\"x\",\"channel\":[\"a\"]}", "{\"event\":\"x\",\"channel\":{}}",
        "{\"event\":\"x\",\"event\":\"y\"}",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        px_msg_t m;
        const char *why = NULL;
        memset(&m, 0xab, sizeof m);
        int rc = decode(bad[i], &m, &why);
        if (rc != PX_EPROTO)
            fprintf(stderr, "# accepted: %s\n", bad[i]);
        ASSERT_EQ(rc, PX_EPROTO);
        ASSERT_NOT_NULL(why);
        ASSERT_NULL(m.root);
        ASSERT_NULL(m.data_obj);
        ASSERT_NULL(m.event.p);
        px_msg_free(&m);
    }
    /* Bytes after the object, and an explicit length shorter than the text. */
    px_msg_t m;
    const char *why;
    ASSERT_EQ(px_proto_decode("{\"event\":\"x\"}junk", 17, &m, &why), PX_EPROTO);
    ASSERT_EQ(px_proto_decode("{\"event\":\"x\"}", 12, &m, &why), PX_EPROTO);
    ASSERT_OK(px_proto_decode("{\"event\":\"x\"}trailing", 13, &m, &why));
    px_msg_free(&m);
}

TEST(proto_json_str)
{
    json_t *o = json_pack("{s:s, s:i, s:s#}", "a", "x", "b", 1, "c", "p\0q", (int)3);
    ASSERT_NOT_NULL(o);
    ASSERT_SLICE_EQ(px_json_str(o, "a"), "x");
    ASSERT_NULL(px_json_str(o, "b").p);
    ASSERT_NULL(px_json_str(o, "missing").p);
    ASSERT_NULL(px_json_str(NULL, "a").p);
    px_str_t c = px_json_str(o, "c");
    ASSERT_EQ(c.n, 3);
    ASSERT_MEM_EQ(c.p, "p\0q", 3);
    json_decref(o);
}

/* Checks one frame of a payload of n bytes: header, then payload. */
static void check_frame(size_t n, size_t hdr, const unsigned char *want_hdr)
{
    char *payload = malloc(n ? n : 1);
    ASSERT_NOT_NULL(payload);
    for (size_t i = 0; i < n; i++)
        payload[i] = (char)('a' + i % 26);
    px_rbuf_t *rb = px_proto_frame(payload, n);
    ASSERT_NOT_NULL(rb);
    ASSERT_EQ(rb->refs, 1);
    ASSERT_EQ(rb->len, hdr + n);
    ASSERT_MEM_EQ(rb->data, want_hdr, hdr);
    ASSERT_MEM_EQ(rb->data + hdr, payload, n);
    px_rbuf_unref(rb);
    free(payload);
}

TEST(proto_frame_lengths)
{
    check_frame(0, 2, (const unsigned char *)"\x81\x00");
    check_frame(125, 2, (const unsigned char *)"\x81\x7d");
    check_frame(126, 4, (const unsigned char *)"\x81\x7e\x00\x7e");
    check_frame(65535, 4, (const unsigned char *)"\x81\x7e\xff\xff");
    check_frame(65536, 10, (const unsigned char *)"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00");
    check_frame(70000, 10, (const unsigned char *)"\x81\x7f\x00\x00\x00\x00\x00\x01\x11\x70");
}

/* Asserts rb is a short (< 126 bytes) text frame holding exactly want. */
static void assert_frame_text(px_rbuf_t *rb, const char *want)
{
    ASSERT_NOT_NULL(rb);
    size_t n = strlen(want);
    ASSERT_TRUE(n < 126);
    ASSERT_EQ((unsigned char)rb->data[0], 0x81);
    ASSERT_EQ((unsigned char)rb->data[1], n);
    ASSERT_EQ(rb->len, n + 2);
    ASSERT_MEM_EQ(rb->data + 2, want, n);
    px_rbuf_unref(rb);
}

TEST(proto_event_bytes)
{
    /* data is embedded as a JSON string, escaped. */
    assert_frame_text(px_proto_event(PX_STR("my-event"), PX_STR("ch"),
                                     PX_STR("{\"x\":\"a\\\"b\"}\n\x01"), (px_str_t){NULL, 0}),
                      "{\"event\":\"my-event\",\"channel\":\"ch\","
                      "\"data\":\"{\\\"x\\\":\\\"a\\\\\\\"b\\\"}\\n\\u0001\"}");
    /* No channel; a user id. */
    assert_frame_text(px_proto_event(PX_STR("e"), (px_str_t){NULL, 0}, PX_STR("d"),
                                     PX_STR("u\"1")),
                      "{\"event\":\"e\",\"data\":\"d\",\"user_id\":\"u\\\"1\"}");
    /* Empty data and an empty (but present) channel. */
    assert_frame_text(px_proto_event(PX_STR("e"), (px_str_t){"", 0}, (px_str_t){"", 0},
                                     (px_str_t){NULL, 0}),
                      "{\"event\":\"e\",\"channel\":\"\",\"data\":\"\"}");
    /* Event names are escaped too. */
    assert_frame_text(px_proto_event(PX_STR("a\"b"), (px_str_t){NULL, 0}, PX_STR("x"),
                                     (px_str_t){NULL, 0}),
                      "{\"event\":\"a\\\"b\",\"data\":\"x\"}");
    /* Raw JSON data. */
    assert_frame_text(px_proto_event_json(PX_STR("pusher:pong"), (px_str_t){NULL, 0},
                                          PX_STR("{}")),
                      "{\"event\":\"pusher:pong\",\"data\":{}}");
    assert_frame_text(px_proto_event_json(PX_STR("e"), PX_STR("c"), PX_STR("[1,2]")),
                      "{\"event\":\"e\",\"channel\":\"c\",\"data\":[1,2]}");
}

TEST(proto_event_roundtrip_large)
{
    /* A payload past 64 KiB with every escapable byte round-trips through
     * a JSON parser unchanged. */
    size_t n = 70000;
    char *data = malloc(n);
    ASSERT_NOT_NULL(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)(1 + i % 127); /* 0x01..0x7f: controls, quotes, backslash */
    px_rbuf_t *rb = px_proto_event(PX_STR("big"), PX_STR("c"), (px_str_t){data, n},
                                   (px_str_t){NULL, 0});
    ASSERT_NOT_NULL(rb);
    ASSERT_EQ((unsigned char)rb->data[1], 127);
    json_error_t err;
    json_t *o = json_loadb(rb->data + 10, rb->len - 10, 0, &err);
    ASSERT_NOT_NULL(o);
    json_t *d = json_object_get(o, "data");
    ASSERT_TRUE(json_is_string(d));
    ASSERT_EQ(json_string_length(d), n);
    ASSERT_MEM_EQ(json_string_value(d), data, n);
    json_decref(o);
    px_rbuf_unref(rb);
    free(data);
}

TEST(proto_error)
{
    assert_frame_text(px_proto_error("bad \"x\"", 4301),
                      "{\"event\":\"pusher:error\",\"data\":{\"message\":\"bad \\\"x\\\"\","
                      "\"code\":4301}}");
    assert_frame_text(px_proto_error("oops", 0),
                      "{\"event\":\"pusher:error\",\"data\":{\"message\":\"oops\",\"code\":null}}");
}

TEST(proto_json_dump)
{
    px_buf_t b = PX_BUF_INIT;
    ASSERT_OK(px_buf_puts(&b, ">"));
    json_t *v = json_pack("{s:i}", "a", 1);
    ASSERT_OK(px_json_dump(&b, v));
    json_decref(v);
    v = json_string("s\"");
    ASSERT_OK(px_json_dump(&b, v)); /* any value, not only objects */
    json_decref(v);
    ASSERT_EQ(b.len, 13);
    ASSERT_MEM_EQ(b.data, ">{\"a\":1}\"s\\\"\"", 13);
    px_buf_free(&b);
}

/* test_names.c - channel names, kinds, event names, user and socket ids. */
#include "../../csrc/px_err.h"
#include "../../csrc/px_names.h"
#include "harness.h"

static px_str_t repeat(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return (px_str_t){buf, n};
}

TEST(names_channel_valid)
{
    static const char *const ok[] = {
        "a", "my-channel", "private-x", "private-encrypted-x", "presence-room_1",
        "AZaz09_-=@,.;", "#server-to-user-abc", "#server-to-user-a@b.c",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(ok); i++) {
        if (px_channel_name_check(px_cstr(ok[i])) != 0)
            fprintf(stderr, "# rejected: %s\n", ok[i]);
        ASSERT_OK(px_channel_name_check(px_cstr(ok[i])));
    }
    char buf[260];
    ASSERT_OK(px_channel_name_check(repeat(buf, 'c', 200)));
}

TEST(names_channel_invalid)
{
    static const char *const bad[] = {
        "", "has space", "tab\t", "new\nline", "slash/", "colon:", "star*", "quote\"",
        "caf\xc3\xa9", "#foo", "#server-to-user-", "#server-to-user-a b", "##server-to-user-a",
        "#server-to-user-a#",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        if (px_channel_name_check(px_cstr(bad[i])) != PX_ENAME)
            fprintf(stderr, "# accepted: %s\n", bad[i]);
        ASSERT_EQ(px_channel_name_check(px_cstr(bad[i])), PX_ENAME);
    }
    char buf[260];
    ASSERT_EQ(px_channel_name_check(repeat(buf, 'c', 201)), PX_ENAME);
    ASSERT_EQ(px_channel_name_check((px_str_t){"a\0b", 3}), PX_ENAME);
    /* The user id inside a user channel name is held to 128 bytes. */
    memcpy(buf, "#server-to-user-", 16);
    memset(buf + 16, 'u', 128);
    ASSERT_OK(px_channel_name_check((px_str_t){buf, 16 + 128}));
    ASSERT_EQ(px_channel_name_check((px_str_t){buf, 16 + 129}), PX_ENAME);
}

TEST(names_channel_kinds)
{
    ASSERT_EQ(px_chan_kind(PX_STR("news")), PX_CHAN_PUBLIC);
    ASSERT_EQ(px_chan_kind(PX_STR("privatex")), PX_CHAN_PUBLIC);
    ASSERT_EQ(px_chan_kind(PX_STR("private")), PX_CHAN_PUBLIC);
    ASSERT_EQ(px_chan_kind(PX_STR("private-x")), PX_CHAN_PRIVATE);
    ASSERT_EQ(px_chan_kind(PX_STR("private-encrypted")), PX_CHAN_PRIVATE);
    ASSERT_EQ(px_chan_kind(PX_STR("private-encrypted-x")), PX_CHAN_ENCRYPTED);
    ASSERT_EQ(px_chan_kind(PX_STR("presence-x")), PX_CHAN_PRESENCE);
    ASSERT_EQ(px_chan_kind(PX_STR("presence")), PX_CHAN_PUBLIC);
    ASSERT_EQ(px_chan_kind(PX_STR("#server-to-user-1")), PX_CHAN_USER);
    ASSERT_EQ(px_chan_kind(PX_STR("x-private-y")), PX_CHAN_PUBLIC);
    ASSERT_EQ(px_chan_kind_authed(PX_CHAN_PUBLIC), 0);
    ASSERT_EQ(px_chan_kind_authed(PX_CHAN_USER), 0);
    ASSERT_EQ(px_chan_kind_authed(PX_CHAN_PRIVATE), 1);
    ASSERT_EQ(px_chan_kind_authed(PX_CHAN_ENCRYPTED), 1);
    ASSERT_EQ(px_chan_kind_authed(PX_CHAN_PRESENCE), 1);
}

TEST(names_event)
{
    char buf[260];
    ASSERT_OK(px_event_name_check(PX_STR("my-event")));
    ASSERT_OK(px_event_name_check(PX_STR("client-typing")));
    ASSERT_OK(px_event_name_check(PX_STR("with space and \xc3\xa9")));
    ASSERT_OK(px_event_name_check(repeat(buf, 'e', 200)));
    ASSERT_EQ(px_event_name_check(repeat(buf, 'e', 201)), PX_ENAME);
    ASSERT_EQ(px_event_name_check(PX_STR("")), PX_ENAME);
    ASSERT_EQ(px_event_name_check(PX_STR("a\x01")), PX_ENAME);
    ASSERT_EQ(px_event_name_check(PX_STR("a\n")), PX_ENAME);
    ASSERT_EQ(px_event_name_check(PX_STR("a\x7f")), PX_ENAME);
    ASSERT_EQ(px_event_name_check((px_str_t){"a\0", 2}), PX_ENAME);
}

TEST(names_user_id)
{
    char buf[260];
    ASSERT_OK(px_user_id_check(PX_STR("12345")));
    ASSERT_OK(px_user_id_check(PX_STR("user@example.com")));
    ASSERT_OK(px_user_id_check(repeat(buf, 'u', 128)));
    ASSERT_EQ(px_user_id_check(repeat(buf, 'u', 129)), PX_ENAME);
    ASSERT_EQ(px_user_id_check(PX_STR("")), PX_ENAME);
    ASSERT_EQ(px_user_id_check(PX_STR("a b")), PX_ENAME);
    ASSERT_EQ(px_user_id_check(PX_STR("a#b")), PX_ENAME);
}

TEST(names_socket_id)
{
    uint64_t a = 99, b = 99;
    ASSERT_OK(px_socket_id_parse(PX_STR("1.2"), &a, &b));
    ASSERT_EQ(a, 1);
    ASSERT_EQ(b, 2);
    ASSERT_OK(px_socket_id_parse(PX_STR("123456789012345.987654321098765"), &a, &b));
    ASSERT_EQ(a, 123456789012345ll);
    ASSERT_EQ(b, 987654321098765ll);
    ASSERT_OK(px_socket_id_parse(PX_STR("9999999999999999999.0"), &a, &b)); /* 19 digits */
    ASSERT_TRUE(a == 9999999999999999999ull);
    ASSERT_EQ(b, 0);

    static const char *const bad[] = {
        "", "1", "12", ".", "1.", ".2", "a.b", "1.b", "a.2", "1.2.3", "1..2", "-1.2",
        "+1.2", " 1.2", "1.2 ", "0x1.2", "12345678901234567890.1", "1.12345678901234567890",
        "99999999999999999999.1",
    };
    for (size_t i = 0; i < PX_ARRAY_SIZE(bad); i++) {
        if (px_socket_id_parse(px_cstr(bad[i]), &a, &b) != PX_EINVAL)
            fprintf(stderr, "# accepted: \"%s\"\n", bad[i]);
        ASSERT_EQ(px_socket_id_parse(px_cstr(bad[i]), &a, &b), PX_EINVAL);
    }
}

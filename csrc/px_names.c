/* px_names.c - name rules from the Pusher channel documentation. */
#include "px_names.h"

#include "px_err.h"

static const char USER_PREFIX[] = "#server-to-user-";

px_chan_kind_t px_chan_kind(px_str_t name)
{
    if (px_str_prefix(name, "private-encrypted-"))
        return PX_CHAN_ENCRYPTED;
    if (px_str_prefix(name, "private-"))
        return PX_CHAN_PRIVATE;
    if (px_str_prefix(name, "presence-"))
        return PX_CHAN_PRESENCE;
    if (px_str_prefix(name, USER_PREFIX))
        return PX_CHAN_USER;
    return PX_CHAN_PUBLIC;
}

static int charset_ok(px_str_t s)
{
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            continue;
        switch (c) {
        case '_': case '-': case '=': case '@': case ',': case '.': case ';':
            continue;
        default:
            return 0;
        }
    }
    return 1;
}

int px_user_id_check(px_str_t id)
{
    return id.n >= 1 && id.n <= 128 && charset_ok(id) ? 0 : PX_ENAME;
}

int px_channel_name_check(px_str_t name)
{
    if (name.n == 0 || name.n > PX_MAX_NAME)
        return PX_ENAME;
    if (px_str_prefix(name, USER_PREFIX)) {
        size_t n = sizeof USER_PREFIX - 1;
        return px_user_id_check((px_str_t){name.p + n, name.n - n});
    }
    return charset_ok(name) ? 0 : PX_ENAME;
}

int px_event_name_check(px_str_t name)
{
    if (name.n == 0 || name.n > PX_MAX_NAME)
        return PX_ENAME;
    for (size_t i = 0; i < name.n; i++) {
        unsigned char c = (unsigned char)name.p[i];
        if (c < 0x20 || c == 0x7f)
            return PX_ENAME;
    }
    return 0;
}

static int parse_u64(const char *p, size_t n, uint64_t *out)
{
    if (n == 0 || n > 19)
        return PX_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return PX_EINVAL;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return 0;
}

int px_socket_id_parse(px_str_t s, uint64_t *a, uint64_t *b)
{
    const char *dot = memchr(s.p, '.', s.n);
    if (dot == NULL)
        return PX_EINVAL;
    size_t n1 = (size_t)(dot - s.p);
    if (parse_u64(s.p, n1, a) < 0 || parse_u64(dot + 1, s.n - n1 - 1, b) < 0)
        return PX_EINVAL;
    return 0;
}

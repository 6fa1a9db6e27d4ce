/* px_err.h - one table of error codes for the whole core.
 *
 * Fallible functions return int: 0 (or a non-negative count) on success and
 * one of the negative PX_E* codes below on failure. Codes never overlap with
 * libuv's (which are negated errno values, all above -4096): ours start at
 * -20000, so a function may pass a libuv code through unchanged and
 * px_strerror() still names it. Any thread. */
#ifndef PX_ERR_H
#define PX_ERR_H

#define PX_ERRNO_MAP(XX)                                                \
    XX(ENOMEM, -20001, "out of memory")                                 \
    XX(EINVAL, -20002, "invalid argument")                              \
    XX(EPROTO, -20003, "malformed message")                             \
    XX(EAUTH, -20004, "invalid signature")                              \
    XX(ENOAPP, -20005, "no such app")                                   \
    XX(EDISABLED, -20006, "app disabled")                               \
    XX(ETOOBIG, -20007, "too large")                                    \
    XX(ENAME, -20008, "invalid name")                                   \
    XX(ELIMIT, -20009, "limit reached")                                 \
    XX(ESTOPPED, -20010, "server stopped")                              \
    XX(ESTORE, -20011, "store error")                                   \
    XX(ENOTFOUND, -20012, "not found")                                  \
    XX(EEXIST, -20013, "already exists")                                \
    XX(EUTF8, -20014, "invalid UTF-8")

enum {
#define PX_ERR_ENUM(name, code, msg) PX_##name = (code),
    PX_ERRNO_MAP(PX_ERR_ENUM)
#undef PX_ERR_ENUM
};

/* Returns a static, human-readable message for code (ours or libuv's, or
 * "unknown error"). Never NULL. */
const char *px_strerror(int code);

/* Returns the static symbolic name of code ("ENOMEM", ...) or "UNKNOWN". */
const char *px_err_name(int code);

#endif

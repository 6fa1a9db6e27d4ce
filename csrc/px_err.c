/* px_err.c - messages and names for the PX_ERRNO_MAP table. */
#include "px_err.h"

#include <string.h>
#include <uv.h>

const char *px_strerror(int code)
{
    switch (code) {
#define PX_ERR_MSG(name, c, msg) case c: return msg;
        PX_ERRNO_MAP(PX_ERR_MSG)
#undef PX_ERR_MSG
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return uv_strerror(code);
    return "unknown error";
}

const char *px_err_name(int code)
{
    switch (code) {
#define PX_ERR_NAME(name, c, msg) case c: return #name;
        PX_ERRNO_MAP(PX_ERR_NAME)
#undef PX_ERR_NAME
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return uv_err_name(code);
    return "UNKNOWN";
}

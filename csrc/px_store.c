/* px_store.c - picking a backend by URL scheme, and helpers the backends
 * share. */
#include "px_store.h"

#include <stdarg.h>
#include <stdio.h>

#include "px_app.h"
#include "px_err.h"

/* Compiled backends, tried in order. A MongoDB backend adds its vtable here
 * (under its compile-time flag). */
static const px_store_vtable_t *const backends[] = {
    &px__store_memory_vtable,
    &px__store_sqlite_vtable,
};

/* Open errors go to a per-thread buffer so messages can name the path and
 * the backend's reason without the caller freeing anything. */
static _Thread_local char open_error[PX_STORE_ERRMSG_SIZE + 256];

/* Returns the length of prefix when s starts with it, ignoring ASCII case,
 * else 0. */
static size_t scheme_match(const char *s, const char *prefix)
{
    size_t i = 0;
    for (; prefix[i]; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != prefix[i])
            return 0;
    }
    return i;
}

int px_store_open(const char *url, px_store_t **out, const char **why)
{
    const char *dummy;
    if (why == NULL)
        why = &dummy;
    *why = NULL;
    if (url == NULL || *url == '\0') {
        *why = "empty store URL (expected memory: or sqlite:///path)";
        return PX_EINVAL;
    }
    for (size_t i = 0; i < PX_ARRAY_SIZE(backends); i++) {
        size_t n = scheme_match(url, backends[i]->scheme);
        if (n > 0)
            return backends[i]->open(url + n, out, why);
    }
    if (scheme_match(url, "mongodb:") || scheme_match(url, "mongodb+srv:"))
        *why = "the mongodb store is not available in this build";
    else
        *why = "unknown store URL scheme (expected memory: or sqlite:///path)";
    return PX_EINVAL;
}

void px__store_set_error(px_store_t *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
}

const char *px__store_open_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(open_error, sizeof open_error, fmt, ap);
    va_end(ap);
    return open_error;
}

int px__store_normalise_app(px_store_t *s, const json_t *app, json_t **out)
{
    px_app_t *a = NULL;
    const char *why = NULL;
    int rc = px_app_from_json(app, &a, &why);
    if (rc < 0) {
        px__store_set_error(s, "%s", why ? why : px_strerror(rc));
        return rc;
    }
    json_t *doc = px_app_to_json(a);
    px_app_free(a);
    if (doc == NULL) {
        px__store_set_error(s, "%s", px_strerror(PX_ENOMEM));
        return PX_ENOMEM;
    }
    *out = doc;
    return 0;
}

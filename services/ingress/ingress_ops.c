/*  =========================================================================
    ingress_ops - the operator's routes: /livez and /readyz
    =========================================================================
*/

#include "ingress_ops.h"
#include "ingress_watch.h"

#define S_WHY_MAX 1024

//  Appends a line to why, as much as fits
static void
s_missing (char *why, size_t size, const char *line)
{
    size_t used = strlen (why);
    if (used + 1 < size)
        snprintf (why + used, size - used, "%s\n", line);
}

//  True if the frontend is active and one of its active backends is Healthy
static bool
s_frontend_ready (ingress_ctx_t *ctx, json_t *frontend)
{
    if (!json_is_true (json_object_get (frontend, "Active")))
        return false;
    size_t index;
    json_t *id;
    json_array_foreach (json_object_get (frontend, "Backends"), index, id) {
        const char *name = json_string_value (id);
        json_t *backend = name ? of_clone_get (ctx->clone, OF_KIND_BACKEND, name) : NULL;
        json_t *health = backend ? ingress_watch_health (ctx->watch, name) : NULL;
        const char *state = json_string_value (json_object_get (health, "State"));
        if (json_is_true (json_object_get (backend, "Active")) && state
            && streq (state, "Healthy"))
            return true;
    }
    return false;
}

bool
ingress_ops_ready (ingress_ctx_t *ctx, char *why, size_t size)
{
    *why = 0;
    bool config = of_clone_ready (ctx->clone);
    if (!config)
        s_missing (why, size, "no config snapshot applied: configd has not answered");
    if (!ingress_link_up (ctx->link))
        s_missing (why, size, "not linked to the scheduler: no WELCOME yet, or it went silent");
    if (config) {
        json_t *frontends = of_clone_objects (ctx->clone, OF_KIND_FRONTEND);
        bool any = false;
        const char *name;
        json_t *frontend;
        json_object_foreach (frontends, name, frontend)
            if (s_frontend_ready (ctx, frontend)) {
                any = true;
                break;
            }
        if (json_object_size (frontends) == 0)
            s_missing (why, size, "no frontend is configured");
        else
        if (!any)
            s_missing (why, size, ingress_watch_alive (ctx->watch, "healthmon")
                                      ? "no active frontend has a healthy active backend"
                                      : "no active frontend has a healthy active backend "
                                        "(healthmon is silent)");
    }
    return *why == 0;
}

static void
s_text (of_exchange_t *exchange, int status, const char *text)
{
    of_exchange_add_header (exchange, "Cache-Control", "no-store");
    of_exchange_reply (exchange, status, "text/plain; charset=utf-8", text, strlen (text));
}

bool
ingress_ops_handle (ingress_ctx_t *ctx, of_exchange_t *exchange)
{
    const char *path = of_exchange_path (exchange);
    bool livez = streq (path, "/livez");
    bool readyz = streq (path, "/readyz");
    if (!livez && !readyz)
        return false;
    htp_method method = of_exchange_method (exchange);
    if (method != htp_method_GET && method != htp_method_HEAD) {
        of_exchange_add_header (exchange, "Allow", "GET, HEAD");
        s_text (exchange, 405, "method not allowed: use GET or HEAD\n");
        return true;
    }
    if (livez) {
        s_text (exchange, 200, "alive\n");
        return true;
    }
    char why [S_WHY_MAX];
    if (ingress_ops_ready (ctx, why, sizeof why))
        s_text (exchange, 200, "ready\n");
    else
        s_text (exchange, 503, why);
    return true;
}

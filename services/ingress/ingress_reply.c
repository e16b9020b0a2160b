/*  =========================================================================
    ingress_reply - the answers the ingress writes itself
    =========================================================================
*/

#include "ingress_reply.h"
#include "ingress_route.h"
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MESSAGE_MAX 1024
#define S_CONTENT_TYPE "application/json; charset=utf-8"

//  OpenAI's error types by status, as Ollama's /v1 layer names them
static const char *
s_openai_type (int status)
{
    if (status == 400 || status == 413 || status == 405 || status == 414 || status == 431
        || status == 505)
        return "invalid_request_error";
    if (status == 401 || status == 403)
        return "permission_error";
    if (status == 404)
        return "not_found_error";
    if (status == 429)
        return "rate_limit_error";
    return "api_error";
}

json_t *
ingress_reply_error_body (const char *path, int status, const char *code, const char *format,
                          va_list args)
{
    char message [S_MESSAGE_MAX];
    vsnprintf (message, sizeof message, format, args);
    if (ingress_route_openai_path (path))
        return json_pack ("{s:{s:s, s:s, s:n, s:o}}", "error", "message", message, "type",
                          s_openai_type (status), "param", "code",
                          code ? json_string (code) : json_null ());
    return json_pack ("{s:s}", "error", message);
}

void
ingress_reply_error (of_exchange_t *exchange, int status, const char *code, int64_t retry_after_ms,
                     const char *format, ...)
{
    va_list args;
    va_start (args, format);
    json_t *body = ingress_reply_error_body (of_exchange_path (exchange), status, code, format,
                                             args);
    va_end (args);
    if (retry_after_ms >= 0) {
        char seconds [24];
        snprintf (seconds, sizeof seconds, "%lld", (long long) ((retry_after_ms + 999) / 1000));
        of_exchange_add_header (exchange, "Retry-After", seconds);
    }
    ingress_reply_json (exchange, status, body);
}

void
ingress_reply_json (of_exchange_t *exchange, int status, json_t *body)
{
    ingress_reply_dump (exchange, status, body, JSON_COMPACT);
}

void
ingress_reply_dump (of_exchange_t *exchange, int status, json_t *body, size_t flags)
{
    char *text = json_dumps (body, flags);
    json_decref (body);
    size_t size = strlen (text);
    if (flags & JSON_MAX_INDENT) {
        text = (char *) realloc (text, size + 2);
        text [size++] = '\n';
    }
    of_exchange_reply (exchange, status, S_CONTENT_TYPE, text, size);
    free (text);
}

void
ingress_reply_cors (of_exchange_t *exchange)
{
    of_exchange_add_header (exchange, "Access-Control-Allow-Origin", "*");
    of_exchange_add_header (exchange, "Access-Control-Expose-Headers",
                            "X-OllamaFlow-Request, X-OllamaFlow-Backend, X-OllamaFlow-Sticky");
}

void
ingress_reply_preflight (of_exchange_t *exchange)
{
    of_exchange_add_header (exchange, "Access-Control-Allow-Methods",
                            "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
    const char *asked = of_exchange_header (exchange, "Access-Control-Request-Headers");
    of_exchange_add_header (exchange, "Access-Control-Allow-Headers",
                            asked && *asked ? asked
                                            : "Authorization, Content-Type, User-Agent, Accept, "
                                              "X-Requested-With, OpenAI-Beta, X-OllamaFlow-Label");
    of_exchange_add_header (exchange, "Access-Control-Max-Age", "86400");
    of_exchange_reply (exchange, 204, NULL, NULL, 0);
}

void
ingress_reply_home (of_exchange_t *exchange)
{
    of_exchange_reply (exchange, 200, "text/plain; charset=utf-8", INGRESS_HOME_TEXT,
                       strlen (INGRESS_HOME_TEXT));
}

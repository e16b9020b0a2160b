/*  =========================================================================
    ingress_reply - the answers the ingress writes itself: errors in the
    client's dialect, CORS preflights, and Ollama's "Ollama is running"
    =========================================================================
*/

#ifndef INGRESS_REPLY_H_INCLUDED
#define INGRESS_REPLY_H_INCLUDED

#include "of_exchange.h"
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#define INGRESS_HOME_TEXT "Ollama is running"

//  An error: Ollama's {"error": message} on Ollama routes, OpenAI's
//  {"error": {"message", "type", "param", "code"}} on /v1 routes. code may be
//  NULL; retry_after_ms >= 0 adds Retry-After (seconds, rounded up).
void
    ingress_reply_error (of_exchange_t *exchange, int status, const char *code,
                         int64_t retry_after_ms, const char *format, ...)
    __attribute__ ((format (printf, 5, 6)));

//  The body of an error in the dialect of path (NULL: Ollama's), new, its
//  message from format and args; what ingress_reply_error writes, for
//  answers written without an exchange.
json_t *
    ingress_reply_error_body (const char *path, int status, const char *code,
                              const char *format, va_list args);

//  A JSON answer the ingress writes itself, compact as Ollama writes it;
//  takes body over.
void
    ingress_reply_json (of_exchange_t *exchange, int status, json_t *body);

//  A JSON answer dumped with jansson's flags (JSON_INDENT: pretty, ending
//  with a newline, as the admin API writes); takes body over.
void
    ingress_reply_dump (of_exchange_t *exchange, int status, json_t *body, size_t flags);

//  A CORS preflight (OPTIONS): 204 with what browsers need.
void
    ingress_reply_preflight (of_exchange_t *exchange);

//  GET or HEAD /
void
    ingress_reply_home (of_exchange_t *exchange);

//  Adds the CORS headers every answer carries.
void
    ingress_reply_cors (of_exchange_t *exchange);

#endif

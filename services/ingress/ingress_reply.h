/*  =========================================================================
    ingress_reply - the answers the ingress writes itself: errors in the
    client's dialect, CORS preflights, and Ollama's "Ollama is running"
    =========================================================================
*/

#ifndef INGRESS_REPLY_H_INCLUDED
#define INGRESS_REPLY_H_INCLUDED

#include "of_exchange.h"
#include <jansson.h>
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

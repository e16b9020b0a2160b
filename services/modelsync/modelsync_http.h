/*  =========================================================================
    modelsync_http - one request from modelsync to a backend

    A backend's listing, pull or delete request, sent as the ingress sends
    proxied ones (the same pooled evhttp client, of_upstream): the backend's
    Ssl, BearerToken, Headers and Querystring apply, and its own Host. The
    answer is either buffered whole (bounded), or, for a streamed request
    answered 2xx, cut into lines as they come (each bounded). A timer ends
    every request: the whole request's, or, for a stream, the longest
    silence between two pieces.
    =========================================================================
*/

#ifndef MODELSYNC_HTTP_H_INCLUDED
#define MODELSYNC_HTTP_H_INCLUDED

#include "of_classes.h"
#include "of_upstream.h"

//  Longest buffered answer and longest streamed line
#define MODELSYNC_HTTP_BODY_MAX  (8 * 1024 * 1024)
#define MODELSYNC_HTTP_LINE_MAX  (64 * 1024)
#define MODELSYNC_HTTP_ERROR_MAX 256

typedef struct _modelsync_http_t modelsync_http_t;

//  A line of a streamed 2xx answer, without its end of line. Must not
//  destroy the request.
typedef void (modelsync_http_line_fn) (void *arg, const char *line, size_t size);

//  The end, called once (never from inside modelsync_http_new): status is
//  the HTTP status, or 0 when there was no complete answer and error says
//  why. body is the buffered answer (NUL-terminated; empty for a streamed
//  2xx one). The request is over and may be destroyed here.
typedef void (modelsync_http_end_fn) (void *arg, int status, const char *body, size_t size,
                                      const char *error);

//  Sends a request to the backend (its record, borrowed for this call only):
//  method, path, body (JSON text or NULL). timeout_ms bounds the whole
//  request, or with on_line (streamed) the silence between pieces.
modelsync_http_t *
    modelsync_http_new (of_upstream_pool_t *pool, struct event_base *base,
                        const of_backend_t *backend,
                        enum evhttp_cmd_type method, const char *path, const char *body,
                        int64_t timeout_ms, modelsync_http_line_fn *on_line,
                        modelsync_http_end_fn *on_end, void *arg);

//  Abandons a request (no callback after this) or frees an ended one;
//  accepts NULL.
void
    modelsync_http_destroy (modelsync_http_t **self_p);

#endif

/*  =========================================================================
    ingress_wire - strict HTTP on the ingress's connections: the limits of a
    request's head, its version, its framing, and the client timeouts
    =========================================================================
*/

#include "ingress_wire.h"
#include "ingress_admit.h"
#include "ingress_match.h"
#include "ingress_reply.h"
#include "ingress_route.h"
#include <stdarg.h>

//  "HTTP/1.1" and the spaces and line end around the method and target
#define S_REQUEST_LINE_EXTRA 12

struct _ingress_wire_t {
    of_settings_t *settings;        //  borrowed
    of_clone_t *clone;              //  borrowed
    ingress_ops_t *ops;             //  borrowed
    of_conns_t *conns;              //  borrowed
};

static const char *
s_reason (int status)
{
    switch (status) {
        case 400: return "Bad Request";
        case 413: return "Payload Too Large";
        case 414: return "URI Too Long";
        case 431: return "Request Header Fields Too Large";
        case 505: return "HTTP Version Not Supported";
        default:  return "Error";
    }
}

//  A whole HTTP response (new) with an error in path's dialect, closing
static char *
s_answer (const char *path, int status, const char *code, size_t *size_p, const char *format,
          ...) __attribute__ ((format (printf, 5, 6)));

static char *
s_answer_v (const char *path, int status, const char *code, size_t *size_p, const char *format,
            va_list args)
{
    json_t *body = ingress_reply_error_body (path, status, code, format, args);
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    char *response = zsys_sprintf ("HTTP/1.1 %d %s\r\nContent-Type: application/json; "
                                   "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n"
                                   "Access-Control-Allow-Origin: *\r\n\r\n%s", status,
                                   s_reason (status), strlen (text), text);
    free (text);
    *size_p = strlen (response);
    return response;
}

static char *
s_answer (const char *path, int status, const char *code, size_t *size_p, const char *format,
          ...)
{
    va_list args;
    va_start (args, format);
    char *response = s_answer_v (path, status, code, size_p, format, args);
    va_end (args);
    return response;
}

static const char *
s_path (evhtp_request_t *request)
{
    return request && request->uri && request->uri->path && request->uri->path->full
               ? request->uri->path->full : NULL;
}

//  A refusal of the HTTP layer, counted and logged under the route its
//  path names (if any)
static void
s_account (ingress_wire_t *self, evhtp_request_t *request, int status)
{
    bool known;
    const char *path = s_path (request);
    const ingress_route_t *route = path ? ingress_route_find (evhtp_request_get_method (request),
                                                             path, &known)
                                        : NULL;
    ingress_ops_wire_refused (self->ops, route, status);
}

//  Answers the request with an error and closes its connection; the hook
//  returns what this returns
static evhtp_res
s_refuse (ingress_wire_t *self, evhtp_request_t *request, int status, const char *code,
          const char *format, ...) __attribute__ ((format (printf, 5, 6)));

static evhtp_res
s_refuse (ingress_wire_t *self, evhtp_request_t *request, int status, const char *code,
          const char *format, ...)
{
    size_t size;
    va_list args;
    va_start (args, format);
    char *response = s_answer_v (s_path (request), status, code, &size, format, args);
    va_end (args);
    of_conns_refuse (self->conns, evhtp_request_get_connection (request), response, size);
    zstr_free (&response);
    s_account (self, request, status);
    return EVHTP_RES_ERROR;
}

static evhtp_res
s_on_path (evhtp_request_t *request, evhtp_path_t *path, void *arg)
{
    (void) path;
    ingress_wire_t *self = (ingress_wire_t *) arg;
    of_conns_request_begin (self->conns, evhtp_request_get_connection (request));
    return EVHTP_RES_OK;
}

static evhtp_res
s_on_header (evhtp_request_t *request, evhtp_header_t *header, void *arg)
{
    ingress_wire_t *self = (ingress_wire_t *) arg;
    of_settings_t *settings = self->settings;
    size_t count, bytes;
    of_conns_header_seen (self->conns, evhtp_request_get_connection (request),
                          header->klen + header->vlen, &count, &bytes);
    if (count <= (size_t) settings->max_headers && bytes <= (size_t) settings->max_header_bytes)
        return EVHTP_RES_OK;
    if (count > (size_t) settings->max_headers)
        return s_refuse (self, request, 431, "headers_too_large",
                         "more than %d request headers (Ingress.MaxHeaders)",
                         settings->max_headers);
    return s_refuse (self, request, 431, "headers_too_large",
                     "request headers over %d bytes (Ingress.MaxHeaderBytes)",
                     settings->max_header_bytes);
}

//  The request line's length: method, target (path and query), version
static size_t
s_request_line (evhtp_request_t *request)
{
    const char *path = s_path (request);
    const char *query = (const char *) request->uri->query_raw;
    return strlen (htparser_get_methodstr_m (evhtp_request_get_method (request)))
           + (path ? strlen (path) : 0) + (query ? strlen (query) + 1 : 0) + S_REQUEST_LINE_EXTRA;
}

static evhtp_res
s_on_headers (evhtp_request_t *request, evhtp_headers_t *headers, void *arg)
{
    (void) headers;
    ingress_wire_t *self = (ingress_wire_t *) arg;
    of_settings_t *settings = self->settings;
    if (request->uri && s_request_line (request) > (size_t) settings->max_request_line_bytes)
        return s_refuse (self, request, 414, "uri_too_long",
                         "request line over %d bytes (Ingress.MaxRequestLineBytes)",
                         settings->max_request_line_bytes);
    //  evhtp takes any 1.x and beyond for 1.0 or 1.1 (HTTP/9.9 is "1.1")
    int major = htparser_get_major (request->conn->parser);
    int minor = htparser_get_minor (request->conn->parser);
    if (major != 1 || minor > 1)
        return s_refuse (self, request, 505, "http_version_not_supported",
                         "HTTP/%d.%d is not supported: use HTTP/1.1 (or 1.0)", major, minor);
    const of_frontend_t *frontend = of_clone_ready (self->clone)
        ? ingress_match_frontend (of_clone_records (self->clone),
                                  evhtp_header_find (request->headers_in, "Host"))
        : NULL;
    const char *length = evhtp_header_find (request->headers_in, "Content-Length");
    json_int_t limit = frontend ? frontend->max_request_body_size : 0;
    if (frontend && length && atoll (length) > limit)
        //  Before the body is read (docs/notes/libevhtp.md, "Body size")
        return s_refuse (self, request, 413, "request_too_large",
                         "request body of %lld bytes is over this frontend's limit of %lld "
                         "(MaxRequestBodySize)", atoll (length), (long long) limit);
    ingress_admit_headers (request);
    of_conns_body_begin (self->conns, evhtp_request_get_connection (request),
                         frontend ? frontend->timeout_ms : 0);
    return EVHTP_RES_OK;
}

//  What evhtp's parser could not read
static char *
s_on_malformed (evhtp_connection_t *connection, htpparse_error error, void *arg, size_t *size_p)
{
    ingress_wire_t *self = (ingress_wire_t *) arg;
    evhtp_request_t *request = connection->request;
    const char *path = s_path (request);
    if (error == htparse_error_too_big && !(request && request->uri && request->uri->path)) {
        s_account (self, request, 414);
        return s_answer (path, 414, "uri_too_long", size_p,
                         "request line over %d bytes (Ingress.MaxRequestLineBytes)",
                         self->settings->max_request_line_bytes);
    }
    if (error == htparse_error_too_big) {
        s_account (self, request, 431);
        return s_answer (path, 431, "headers_too_large", size_p,
                         "a request header line over 8192 bytes");
    }
    const char *what = error == htparse_error_inval_method ? "an invalid method"
                       : error == htparse_error_inval_reqline ? "an invalid request line"
                       : error == htparse_error_inval_schema ? "an invalid URI scheme"
                       : error == htparse_error_inval_proto ? "not HTTP"
                       : error == htparse_error_inval_ver ? "an invalid HTTP version"
                       : error == htparse_error_inval_hdr ? "an invalid header line"
                       : error == htparse_error_inval_chunk_sz ? "an invalid chunk size"
                       : error == htparse_error_inval_chunk ? "an invalid chunk"
                       : error == htparse_error_user ? "an invalid header line or target"
                       : "a framing error";
    s_account (self, request, 400);
    return s_answer (path, 400, "malformed_request", size_p, "malformed HTTP request: %s", what);
}

ingress_wire_t *
ingress_wire_new (of_settings_t *settings, struct event_base *base, of_clone_t *clone,
                  ingress_ops_t *ops, of_conns_t *conns)
{
    assert (settings && base && clone && ops && conns);
    ingress_wire_t *self = (ingress_wire_t *) zmalloc (sizeof (ingress_wire_t));
    self->settings = settings;
    self->clone = clone;
    self->ops = ops;
    self->conns = conns;
    of_conns_set_timeouts (conns, base, settings->header_timeout_ms,
                           settings->body_timeout_ms, settings->keepalive_timeout_ms);
    of_conns_set_malformed (conns, s_on_malformed, self);
    return self;
}

void
ingress_wire_destroy (ingress_wire_t **self_p)
{
    assert (self_p);
    ingress_wire_t *self = *self_p;
    if (!self)
        return;
    free (self);
    *self_p = NULL;
}

void
ingress_wire_attach (ingress_wire_t *self, evhtp_connection_t *connection)
{
    evhtp_connection_set_hook (connection, evhtp_hook_on_path, (evhtp_hook) s_on_path, self);
    evhtp_connection_set_hook (connection, evhtp_hook_on_header, (evhtp_hook) s_on_header, self);
    evhtp_connection_set_hook (connection, evhtp_hook_on_headers, (evhtp_hook) s_on_headers,
                               self);
}

void
ingress_wire_serving (ingress_wire_t *self, evhtp_request_t *request)
{
    of_conns_serving (self->conns, evhtp_request_get_connection (request));
}

//  --------------------------------------------------------------------------
//  Self test

void
ingress_wire_test (bool verbose)
{
    if (verbose)
        printf (" * ingress_wire: ");
    size_t size;
    char *response = s_answer ("/v1/chat/completions", 431, "headers_too_large", &size,
                               "more than %d request headers", 100);
    assert (size == strlen (response));
    assert (strncmp (response, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0);
    assert (strstr (response, "\r\nConnection: close\r\n"));
    char *body = strstr (response, "\r\n\r\n") + 4;
    char length [32];
    snprintf (length, sizeof length, "Content-Length: %zu\r\n", strlen (body));
    assert (strstr (response, length));
    json_t *json = json_loads (body, 0, NULL);
    assert (streq (json_string_value (json_object_get (json_object_get (json, "error"), "type")),
                   "invalid_request_error"));
    json_decref (json);
    zstr_free (&response);
    response = s_answer (NULL, 505, NULL, &size, "HTTP/%d.%d is not supported", 9, 9);
    assert (strstr (response, "{\"error\":\"HTTP/9.9 is not supported\"}"));
    zstr_free (&response);
    if (verbose)
        printf ("OK\n");
}

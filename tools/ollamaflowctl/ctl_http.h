/*  =========================================================================
    ctl_http - the small HTTP/1.1 client of ollamaflowctl

    One request per connection (Connection: close) over a plain socket,
    bounded in time (connect, send and receive) and in size. Enough for the
    admin API, which answers with a Content-Length; chunked answers are
    decoded too. http:// only: put a TLS proxy in front for https.
    =========================================================================
*/

#ifndef CTL_HTTP_H_INCLUDED
#define CTL_HTTP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define CTL_HTTP_BODY_MAX (64 * 1024 * 1024)

typedef struct {
    int status;                 //  the HTTP status
    char *body;                 //  NUL-terminated, or NULL when empty; caller frees
    size_t size;
    long total;                 //  X-Total-Count, or -1
} ctl_response_t;

//  Sends method path (with its query) to the server at url ("http://host[:port]
//  [/prefix]"), with the bearer token (or NULL) and body (JSON, or NULL).
//  0 with the response filled in, or -1 with a reason when the server could
//  not be reached or answered something that is not HTTP.
int
    ctl_http_request (const char *url, const char *method, const char *path, const char *token,
                      const char *body, int timeout_ms, ctl_response_t *response, char *error,
                      size_t size);

//  Frees the response's body.
void
    ctl_http_free (ctl_response_t *response);

//  Self test
void
    ctl_http_test (bool verbose);

#endif

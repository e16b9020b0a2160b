/*  =========================================================================
    ctl_http - the small HTTP/1.1 client of ollamaflowctl

    One request per connection (Connection: close), bounded in time
    (connect, TLS handshake, send and receive) and in size. Enough for the
    admin API, which answers with a Content-Length; chunked answers are
    decoded too. https:// verifies the server's certificate and name against
    OpenSSL's default trust store (SSL_CERT_FILE, SSL_CERT_DIR replace it),
    unless told to be insecure.
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

//  The server and how to talk to it
typedef struct {
    const char *url;            //  "http[s]://host[:port][/prefix]"
    const char *token;          //  the admin bearer token, or NULL
    int timeout_ms;             //  for the whole request
    bool insecure;              //  https: accept any certificate (no check)
} ctl_server_t;

//  Sends method path (with its query) to the server, with body (JSON, or
//  NULL). 0 with the response filled in, or -1 with a reason when the server
//  could not be reached, failed the TLS checks or answered something that is
//  not HTTP.
int
    ctl_http_request (const ctl_server_t *server, const char *method, const char *path,
                      const char *body, ctl_response_t *response, char *error, size_t size);

//  Frees the response's body.
void
    ctl_http_free (ctl_response_t *response);

//  Self test
void
    ctl_http_test (bool verbose);

#endif

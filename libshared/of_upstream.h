/*  =========================================================================
    of_upstream - requests to backends, over pooled connections

    Used by the ingress (proxied requests) and modelsync (inventories, pulls,
    deletes): an of_upstream_pool_t per event loop, an of_upstream_t per
    request. Every request is made from a backend's record (of_records): its
    address, TLS and SNI here, and what it carries (Host, credentials, Headers,
    Querystring, the per-request extras) by of_upstream_prepare.

    libevent's evhttp client (docs/notes/libevhtp.md): one request at a time
    per connection, so idle keep-alive connections, HTTP and HTTPS alike, are
    kept per backend address and reused, most recently used first, up to
    Upstream.IdlePerBackendMax each and for Upstream.IdleTimeoutMs; one the
    backend closed or that broke is never reused. Hostnames resolve through
    evdns (never a blocking lookup); HTTPS verifies the backend's certificate. The response streams
    back piece by piece as it arrives, and reading can be paused while the
    client is slow. Every request ends with exactly one of on_done or on_fail,
    unless the owner cancels it first.
    =========================================================================
*/

#ifndef OF_UPSTREAM_H_INCLUDED
#define OF_UPSTREAM_H_INCLUDED

#include "of_classes.h"
#include "of_upstream_prepare.h"
#include <event2/dns.h>
#include <event2/http.h>
#include <openssl/ssl.h>

typedef struct _of_upstream_pool_t of_upstream_pool_t;
typedef struct _of_upstream_t of_upstream_t;

//  How a request failed
typedef enum {
    OF_UPSTREAM_FAIL_CONNECT,       //  no connection, or it broke before the request was sent
    OF_UPSTREAM_FAIL_NO_RESPONSE,   //  sent, but the connection ended before any response
    OF_UPSTREAM_FAIL_BROKEN         //  the response had started and did not end cleanly
} of_upstream_fail_t;

typedef struct {
    //  The status line and headers arrived
    void (*on_head) (void *arg, int status, struct evkeyvalq *headers);
    //  A piece of the body; move what you keep out of data
    void (*on_data) (void *arg, struct evbuffer *data);
    //  The response ended cleanly
    void (*on_done) (void *arg);
    //  The request failed; reason says how ("connect: Connection refused")
    void (*on_fail) (void *arg, of_upstream_fail_t fail, const char *reason);
} of_upstream_fn_t;

//  Creates the pools for all backends. NULL if TLS cannot be set up.
of_upstream_pool_t *
    of_upstream_pool_new (struct event_base *base, of_settings_t *settings);

//  Frees every pooled connection; accepts NULL. Requests still running must
//  have been cancelled.
void
    of_upstream_pool_destroy (of_upstream_pool_t **self_p);

//  Connections made, and requests sent on a kept idle connection, since start.
void
    of_upstream_pool_counts (of_upstream_pool_t *self, uint64_t *connects, uint64_t *reuses);

//  Idle connections kept, over all backends.
size_t
    of_upstream_pool_idle (of_upstream_pool_t *self);

//  Starts a request to a backend (Hostname, Port, Ssl: TLS checks the
//  certificate and the name, which is also the SNI). The record is borrowed
//  until of_upstream_send, which reads what the request carries from it:
//  its set must last until then (callers send in the same event).
of_upstream_t *
    of_upstream_new (of_upstream_pool_t *pool, const of_backend_t *backend,
                     const of_upstream_fn_t *fn, void *arg);

//  The request's headers, for the caller's defaults before sending (the
//  backend's Headers win over them; see of_upstream_prepare).
struct evkeyvalq *
    of_upstream_headers (of_upstream_t *self);

//  Prepares the request for the backend (of_upstream_prepare: headers, and
//  path with the client's query and the backend's Querystring; extra may be
//  NULL) and sends it with body (copied). 0, or -1 when it could not even be
//  queued (then on_fail runs later from the loop).
int
    of_upstream_send (of_upstream_t *self, enum evhttp_cmd_type method, const char *path,
                      const of_upstream_extra_t *extra, const char *body, size_t size);

//  Stops (true) or resumes (false) reading the response: backpressure.
void
    of_upstream_hold (of_upstream_t *self, bool hold);

//  Abandons the request: the connection is closed, no callback runs after
//  this. Sets *self_p to NULL; accepts a NULL *self_p.
void
    of_upstream_cancel (of_upstream_t **self_p);

//  Self test
void
    of_upstream_test (bool verbose);

#endif

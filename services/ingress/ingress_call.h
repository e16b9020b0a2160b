/*  =========================================================================
    ingress_call - one client request, from arrival to its last byte

    Matches the frontend, checks the request against its rules, merges the
    pinned properties, asks the scheduler for a lease, sends the request to
    the granted backend and streams the response back as it arrives, then
    releases the lease with its outcome. A connect failure before any byte
    reached the client is retried on another backend; a client that goes away
    cancels the upstream work and frees the lease at once.
    =========================================================================
*/

#ifndef INGRESS_CALL_H_INCLUDED
#define INGRESS_CALL_H_INCLUDED

#include "of_classes.h"
#include "ingress_keys.h"
#include "ingress_link.h"
#include "ingress_models.h"
#include "of_upstream.h"
#include <evhtp.h>

typedef struct _ingress_admin_t ingress_admin_t;
typedef struct _ingress_metrics_t ingress_metrics_t;
typedef struct _ingress_access_t ingress_access_t;
typedef struct _of_conns_t of_conns_t;

//  What every call of one ingress shares
typedef struct {
    of_settings_t *settings;
    struct event_base *base;
    of_clone_t *clone;
    ingress_link_t *link;
    of_upstream_pool_t *pool;
    ingress_watch_t *watch;     //  every service's PUB, followed once
    ingress_requester_t *configd;   //  requests to configd's ROUTER
    ingress_models_t *models;   //  the model routes (ingress_models)
    ingress_admin_t *admin;     //  the admin API (/v1.0/)
    ingress_keys_t *keys;       //  client API keys (ingress_keys)
    uint64_t requests;          //  requests seen, for request ids
    uint64_t calls;             //  calls in progress
    //  Observability (ingress_ops)
    ingress_metrics_t *metrics; //  this ingress's traffic, or NULL (Metrics.Enable false)
    ingress_access_t *access;   //  the access log, or NULL (off)
    of_conns_t *conns;          //  the open client connections (borrowed)
    int64_t started_at;         //  zclock_time when the ingress started
} ingress_ctx_t;

//  Handles one request (any route); evhtp's request callback.
void
    ingress_call_handle (ingress_ctx_t *ctx, evhtp_request_t *request);

//  Prepares a request's headers before its body is read (a form's
//  Content-Type becomes JSON's); the limits are ingress_wire's.
void
    ingress_call_check_headers (ingress_ctx_t *ctx, evhtp_request_t *request);

//  The frontend serving the request's Host (borrowed from the clone's current
//  records, of_clone_records: a caller that keeps it past this event takes a
//  reference to those), or NULL once the error is answered (503 before the first config, 404 when none serves it,
//  505 to an HTTP/1.0 client when the frontend has BlockHttp10, 401 or 403
//  from the key check). *key is the client's API key (borrowed; NULL: none
//  counts), from the one check of every request that names a frontend.
const of_frontend_t *
    ingress_call_frontend (of_clone_t *clone, ingress_keys_t *keys, of_exchange_t *exchange,
                           json_t **key);

//  The client's JSON body (new) for route, or NULL once the error is answered
//  (413 over the frontend's MaxRequestBodySize, 400 when missing, not an
//  object, or with a field of the wrong type: ingress_validate).
json_t *
    ingress_call_body (of_exchange_t *exchange, const of_frontend_t *frontend,
                       const ingress_route_t *route);

#endif

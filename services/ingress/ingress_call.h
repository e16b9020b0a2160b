/*  =========================================================================
    ingress_call - one client request, from arrival to its last byte

    Sends each request to its route's module (the operator's, the admin API,
    the model routes); a proxied one becomes a call. A call is admitted
    (ingress_admit: frontend, key, body), checked against the frontend's
    rules, merges the pinned properties, asks the scheduler for a lease, sends the request to
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
#include "ingress_admin.h"
#include "ingress_models.h"
#include "ingress_ops.h"
#include "of_upstream.h"
#include <evhtp.h>

//  What every call of one ingress shares: the handles the ingress made, all
//  borrowed (a plain record, filled by the ingress; no other module sees it)
typedef struct {
    of_settings_t *settings;
    struct event_base *base;
    of_clone_t *clone;
    ingress_link_t *link;
    of_upstream_pool_t *pool;
    ingress_ops_t *ops;         //  counts, metrics and the access log (ingress_ops)
    ingress_admin_t *admin;     //  the admin API (/v1.0/)
    ingress_models_t *models;   //  the model routes (ingress_models)
    ingress_keys_t *keys;       //  client API keys (ingress_keys)
} ingress_ctx_t;

//  Handles one request (any route); evhtp's request callback.
void
    ingress_call_handle (ingress_ctx_t *ctx, evhtp_request_t *request);

#endif

/*  =========================================================================
    ingress_ops - the operator's routes: /livez and /readyz

    The probes load balancers, systemd, compose and Kubernetes ask. /livez
    says the process serves: it answers 200 "alive" whenever the loop runs.
    /readyz says the ingress can do useful work: its config snapshot is
    applied, it is linked to the scheduler, and at least one active frontend
    has an active backend that healthmon calls Healthy. It answers 200
    "ready", or 503 with one line for each thing missing, so that an operator
    reading a failed probe knows where to look. Both take GET and HEAD, need
    no token and carry nothing secret.
    =========================================================================
*/

#ifndef INGRESS_OPS_H_INCLUDED
#define INGRESS_OPS_H_INCLUDED

#include "ingress_call.h"

//  Answers the request if its path is an operator route; false otherwise
//  (the exchange is untouched).
bool
    ingress_ops_handle (ingress_ctx_t *ctx, of_exchange_t *exchange);

//  Writes what keeps the ingress from being ready, one line each, into
//  why; returns true (and "" in why) when ready.
bool
    ingress_ops_ready (ingress_ctx_t *ctx, char *why, size_t size);

#endif

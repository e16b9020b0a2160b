/*  =========================================================================
    ingress_ops - what an operator sees of an ingress: /livez, /readyz,
    /metrics, /dashboard/ (ingress_dashboard), and each call reported to
    the metrics and the access log

    The probes load balancers, systemd, compose and Kubernetes ask. /livez
    says the process serves: it answers 200 "alive" whenever the loop runs.
    /readyz says the ingress can do useful work: its config snapshot is
    applied, it is linked to the scheduler, and at least one active frontend
    has an active backend that healthmon calls Healthy. It answers 200
    "ready", or 503 with one line for each thing missing, so that an operator
    reading a failed probe knows where to look. Both take GET and HEAD, need
    no token and carry nothing secret.

    /metrics writes Prometheus's text format 0.0.4: this ingress's traffic
    (ingress_metrics), its own gauges (connections, calls, leases, upstream
    connections) and the fleet as the bus tells it (ingress_fleet). It needs
    no token unless Metrics.RequireAdminToken says so (Prometheus targets
    usually are open; the series hold no secret and no client address).
    =========================================================================
*/

#ifndef INGRESS_OPS_H_INCLUDED
#define INGRESS_OPS_H_INCLUDED

#include "ingress_call.h"
#include "ingress_metrics.h"
#include "ingress_route.h"

//  Answers the request if its path is an operator route; false otherwise
//  (the exchange is untouched).
bool
    ingress_ops_handle (ingress_ctx_t *ctx, of_exchange_t *exchange);

//  Serves a request on Metrics.Port: an operator route, else 404.
void
    ingress_ops_serve (ingress_ctx_t *ctx, evhtp_request_t *request);

//  Writes what keeps the ingress from being ready, one line each, into
//  why; returns true (and "" in why) when ready.
bool
    ingress_ops_ready (ingress_ctx_t *ctx, char *why, size_t size);

//  A call starts: fills in what its report needs from the frontend (its
//  index, whether the access log takes it and with which bodies) and starts
//  its meter. The caller filled in id, route, kind, model and request_body;
//  the report borrows the frontend's name from its record.
void
    ingress_ops_start (ingress_ctx_t *ctx, ingress_report_t *report,
                       const of_frontend_t *frontend);

//  A call ended: ends its meter, counts it and writes its access log line.
void
    ingress_ops_report (ingress_ctx_t *ctx, ingress_report_t *report);

//  A proxied route's request was answered before it became a call (an
//  error with that status, or a local answer below 400, neither counted nor
//  logged): counted in /metrics and written to the access log, sampled.
void
    ingress_ops_refused (ingress_ctx_t *ctx, const ingress_route_t *route, const char *id,
                         of_exchange_t *exchange);

//  A request refused by the HTTP layer (ingress_wire: 431, 414, 505, 413,
//  400) before a route or a request id: counted and logged the same way;
//  route is the one its path names, or NULL.
void
    ingress_ops_wire_refused (ingress_ctx_t *ctx, const ingress_route_t *route, int status);

#endif

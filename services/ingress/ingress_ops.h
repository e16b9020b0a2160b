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

    It owns what those read that no other module keeps: the traffic counters
    (ingress_metrics), the access log (ingress_access), and the count of
    requests seen and calls in progress; the rest it borrows, given once at
    construction (ingress_ops_sources_t), so that no module needs the whole
    ingress to reach what it shows.
    =========================================================================
*/

#ifndef INGRESS_OPS_H_INCLUDED
#define INGRESS_OPS_H_INCLUDED

#include "of_classes.h"
#include "of_conns.h"
#include "of_exchange.h"
#include "of_upstream.h"
#include "ingress_link.h"
#include "ingress_metrics.h"
#include "ingress_route.h"
#include "ingress_watch.h"

typedef struct _ingress_ops_t ingress_ops_t;

//  What the operator's routes read (all borrowed, living as long as the ops;
//  a plain record)
typedef struct {
    of_settings_t *settings;
    struct event_base *base;
    of_clone_t *clone;
    ingress_link_t *link;
    ingress_watch_t *watch;
    of_upstream_pool_t *pool;
    of_conns_t *conns;          //  the open client connections
} ingress_ops_sources_t;

//  The operator's view of an ingress starting now: its metrics (NULL when
//  Metrics.Enable is false) and its access log (none when off). NULL, with
//  the reason in error, if the access log cannot be opened.
ingress_ops_t *
    ingress_ops_new (const ingress_ops_sources_t *sources, char *error, size_t size);

//  Destroys it; accepts NULL.
void
    ingress_ops_destroy (ingress_ops_t **self_p);

//  A request arrived (any route): its number on this ingress, from 1, for its id.
uint64_t
    ingress_ops_arrived (ingress_ops_t *self);

//  Requests seen, and calls in progress (started, not reported yet).
uint64_t
    ingress_ops_requests (ingress_ops_t *self);
uint64_t
    ingress_ops_calls (ingress_ops_t *self);

//  Interns the names a config change brings in the metrics (the clone's
//  change handler; kind OF_KIND_COUNT after a snapshot).
void
    ingress_ops_config (ingress_ops_t *self, of_kind_t kind, const char *identifier,
                        json_t *object);

//  Answers the request if its path is an operator route; false otherwise
//  (the exchange is untouched).
bool
    ingress_ops_handle (ingress_ops_t *self, of_exchange_t *exchange);

//  Serves a request on Metrics.Port: an operator route, else 404.
void
    ingress_ops_serve (ingress_ops_t *self, evhtp_request_t *request);

//  Writes what keeps the ingress from being ready, one line each, into
//  why; returns true (and "" in why) when ready.
bool
    ingress_ops_ready (ingress_ops_t *self, char *why, size_t size);

//  A call starts (it is in progress until its report): fills in what its
//  report needs from the frontend (its index, whether the access log takes
//  it and with which bodies) and starts its meter. The caller filled in id,
//  route, kind, model and request_body; the report borrows the frontend's
//  name from its record.
void
    ingress_ops_start (ingress_ops_t *self, ingress_report_t *report,
                       const of_frontend_t *frontend);

//  A call's lease names its backend: the report takes its index and name.
void
    ingress_ops_backend (ingress_ops_t *self, ingress_report_t *report, const char *backend);

//  A call ended: ends its meter, counts it and writes its access log line.
void
    ingress_ops_report (ingress_ops_t *self, ingress_report_t *report);

//  A proxied route's request was answered before it became a call (an
//  error with that status, or a local answer below 400, neither counted nor
//  logged): counted in /metrics and written to the access log, sampled.
void
    ingress_ops_refused (ingress_ops_t *self, const ingress_route_t *route, const char *id,
                         of_exchange_t *exchange);

//  A request refused by the HTTP layer (ingress_wire: 431, 414, 505, 413,
//  400) before a route or a request id: counted and logged the same way;
//  route is the one its path names, or NULL.
void
    ingress_ops_wire_refused (ingress_ops_t *self, const ingress_route_t *route, int status);

#endif

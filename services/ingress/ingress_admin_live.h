/*  =========================================================================
    ingress_admin_live - the admin API's live views: backend health (with
    leases, queues, models and pulls), a frontend's models, and the status
    of the whole system

    The config comes from this replica's copy (of_clone), the live state
    from what the services publish (ingress_watch). A view says when its
    source has gone quiet ("HealthStale", "ModelsStale") rather than hide it.
    =========================================================================
*/

#ifndef INGRESS_ADMIN_LIVE_H_INCLUDED
#define INGRESS_ADMIN_LIVE_H_INCLUDED

#include "ingress_call.h"
#include "ingress_watch.h"
#include "of_exchange.h"

//  GET /v1.0/backends/health (backend NULL: every backend, paged) and
//  GET /v1.0/backends/{id}/health
void
    ingress_admin_live_health (ingress_ctx_t *ctx, ingress_watch_t *watch,
                               of_exchange_t *exchange, const char *backend);

//  GET /v1.0/keys/usage (key NULL: every key, paged) and GET /v1.0/keys/{id}/usage:
//  each key's usage since the scheduler started, from its STATE
void
    ingress_admin_live_usage (ingress_ctx_t *ctx, ingress_watch_t *watch,
                              of_exchange_t *exchange, const char *key);

//  GET /v1.0/frontends/{id}/models
void
    ingress_admin_live_models (ingress_ctx_t *ctx, ingress_watch_t *watch,
                               of_exchange_t *exchange, const char *frontend);

//  GET /v1.0/status
void
    ingress_admin_live_status (ingress_ctx_t *ctx, ingress_watch_t *watch,
                               of_exchange_t *exchange, int64_t started, const char *started_utc);

//  A duration as .NET writes a TimeSpan (OllamaFlow's Uptime): "[d.]hh:mm:ss.fffffff".
void
    ingress_admin_live_span (int64_t ms, char *dest, size_t size);

//  Self test
void
    ingress_admin_live_test (bool verbose);

#endif

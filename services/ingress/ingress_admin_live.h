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

#include "of_classes.h"
#include "of_exchange.h"
#include "ingress_link.h"
#include "ingress_ops.h"
#include "ingress_watch.h"

//  What the live views read: the config copy, the publishers, the link to
//  the scheduler, this replica's counts (all borrowed) and when the admin
//  API started. A plain record, the admin API's.
typedef struct {
    of_settings_t *settings;
    of_clone_t *clone;
    ingress_watch_t *watch;
    ingress_link_t *link;
    ingress_ops_t *ops;
    int64_t started;                    //  zclock_mono
    char started_utc [OFP_TIMESTAMP_LENGTH + 1];
} ingress_admin_live_t;

//  GET /v1.0/backends/health (backend NULL: every backend, paged) and
//  GET /v1.0/backends/{id}/health
void
    ingress_admin_live_health (const ingress_admin_live_t *live, of_exchange_t *exchange,
                               const char *backend);

//  GET /v1.0/keys/usage (key NULL: every key, paged) and GET /v1.0/keys/{id}/usage:
//  each key's usage since the scheduler started, from its STATE
void
    ingress_admin_live_usage (const ingress_admin_live_t *live, of_exchange_t *exchange,
                              const char *key);

//  GET /v1.0/frontends/{id}/models
void
    ingress_admin_live_models (const ingress_admin_live_t *live, of_exchange_t *exchange,
                               const char *frontend);

//  GET /v1.0/status
void
    ingress_admin_live_status (const ingress_admin_live_t *live, of_exchange_t *exchange);

//  A duration as .NET writes a TimeSpan (OllamaFlow's Uptime): "[d.]hh:mm:ss.fffffff".
void
    ingress_admin_live_span (int64_t ms, char *dest, size_t size);

//  Self test
void
    ingress_admin_live_test (bool verbose);

#endif

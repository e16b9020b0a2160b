/*  =========================================================================
    ingress_admin - the admin API under /v1.0/: OllamaFlow's routes for
    frontends and backends, and ours for live state, sessions and status

    Reads and writes of frontends and backends go to configd (proto/config.md),
    so a write is answered after it is committed and a read right after a
    write sees it, whichever replica serves either. Live state comes from
    the services' publishers (ingress_watch), sessions from the scheduler.
    Every route needs a bearer token from AdminBearerTokens
    (ingress_admin_auth). The routes are in README.md, "Admin API"; the shapes in docs/admin-api.md.
    =========================================================================
*/

#ifndef INGRESS_ADMIN_H_INCLUDED
#define INGRESS_ADMIN_H_INCLUDED

#include "of_classes.h"
#include "of_exchange.h"
#include "ingress_link.h"
#include "ingress_ops.h"
#include "ingress_requester.h"
#include "ingress_watch.h"

typedef struct _ingress_admin_t ingress_admin_t;

#define INGRESS_ADMIN_PREFIX "/v1.0/"
//  How long configd or the scheduler may take to answer an admin request
#define INGRESS_ADMIN_TIMEOUT_MS 5000

//  Connects the admin API to the scheduler (sessions), and serves the
//  objects through configd's requester, the live views from the config
//  copy (clone), the publishers (watch), the scheduler link and the
//  replica's counts (ops); all borrowed. NULL if an endpoint is invalid.
ingress_admin_t *
    ingress_admin_new (struct event_base *base, of_settings_t *settings, of_clone_t *clone,
                       ingress_requester_t *configd, ingress_watch_t *watch,
                       ingress_link_t *link, ingress_ops_t *ops);

//  Destroys it; accepts NULL.
void
    ingress_admin_destroy (ingress_admin_t **self_p);

//  True if the path is the admin API's.
bool
    ingress_admin_path (const char *path);

//  Answers one admin request (the exchange is the admin's from now on).
void
    ingress_admin_handle (ingress_admin_t *self, of_exchange_t *exchange);

#endif

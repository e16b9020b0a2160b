/*  =========================================================================
    ingress_watch - every service's published state, followed once for the
    whole ingress

    One ingress_feed per publisher: the scheduler (leases, queues and
    sessions in its STATE, proto/lease.md), healthmon (health per backend,
    proto/health.md) and modelsync (inventories and pulls, proto/models.md);
    configd's PUB is the config clone's (of_clone), read from there. The
    model routes read healthmon's and modelsync's feeds (ingress_models);
    the admin API reads all of them, and when each service was last heard
    and in which epoch, for /v1.0/status. The watch also keeps modelsync's
    pulls (a STATE lists them, a PULL replaces one). Passive: it only
    answers what it last heard.
    =========================================================================
*/

#ifndef INGRESS_WATCH_H_INCLUDED
#define INGRESS_WATCH_H_INCLUDED

#include "of_classes.h"
#include "ingress_feed.h"
#include <event2/event.h>

typedef struct _ingress_watch_t ingress_watch_t;

//  Subscribes to the scheduler's, healthmon's and modelsync's publishers
//  named in settings; configd's liveness comes from clone (borrowed). NULL
//  if an endpoint is invalid.
ingress_watch_t *
    ingress_watch_new (struct event_base *base, of_settings_t *settings, of_clone_t *clone);

//  Unsubscribes; accepts NULL.
void
    ingress_watch_destroy (ingress_watch_t **self_p);

//  healthmon's feed: STATE and TRANSITIONs. Borrowed.
ingress_feed_t *
    ingress_watch_healthmon (ingress_watch_t *self);

//  modelsync's feed: STATE, INVENTORYs and PULLs. Borrowed.
ingress_feed_t *
    ingress_watch_modelsync (ingress_watch_t *self);

//  healthmon's record of a backend (proto/health.md), or NULL. Borrowed.
json_t *
    ingress_watch_health (ingress_watch_t *self, const char *backend);

//  The scheduler's last STATE body, or NULL. Borrowed.
json_t *
    ingress_watch_scheduler (ingress_watch_t *self);

//  modelsync's inventory of a backend, or NULL. Borrowed.
json_t *
    ingress_watch_inventory (ingress_watch_t *self, const char *backend);

//  The pulls modelsync reported (running, or finished in the last minute),
//  on one backend or (NULL) on all: a new array, caller owns.
json_t *
    ingress_watch_pulls (ingress_watch_t *self, const char *backend);

//  True while the service ("configd", "scheduler", "healthmon", "modelsync")
//  has been heard within Bus.LivenessMs.
bool
    ingress_watch_alive (ingress_watch_t *self, const char *service);

//  Every service's liveness: a new array of {"Service", "Alive", "Epoch",
//  "LastHeartbeatUtc", "SilentMs", "Sequence"}; caller owns.
json_t *
    ingress_watch_services (ingress_watch_t *self);

#endif

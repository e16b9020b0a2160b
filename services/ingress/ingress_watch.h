/*  =========================================================================
    ingress_watch - what the admin API shows live: the other services'
    published state, followed from their PUB sockets

    Subscribes to healthmon (health per backend, proto/health.md), the
    scheduler (leases, queues and sessions in its STATE, proto/lease.md),
    modelsync (inventories and pulls, proto/models.md) and configd (its
    HEARTBEAT), following each protocol's subscriber rules: a STATE replaces
    everything, a TRANSITION, INVENTORY or PULL replaces one record. It also
    notes when each service was last heard and in which epoch, for
    /v1.0/status. Passive: it only answers what it last heard.
    =========================================================================
*/

#ifndef INGRESS_WATCH_H_INCLUDED
#define INGRESS_WATCH_H_INCLUDED

#include "of_classes.h"
#include <event2/event.h>

typedef struct _ingress_watch_t ingress_watch_t;

//  Subscribes to every publisher named in settings. NULL if an endpoint is invalid.
ingress_watch_t *
    ingress_watch_new (struct event_base *base, of_settings_t *settings);

//  Unsubscribes; accepts NULL.
void
    ingress_watch_destroy (ingress_watch_t **self_p);

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

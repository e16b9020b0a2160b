/*  =========================================================================
    sched_health - what the monitors say about each backend: whether it is
    Healthy (healthmon, proto/health.md) and which models it has (modelsync,
    proto/models.md)

    Follows the subscriber's rules of both contracts: a STATE replaces the
    whole map, a TRANSITION or an INVENTORY one backend's entry, a PULL one
    pull's (running or not). Until the
    first health message, no backend is healthy; Unknown counts as not
    healthy. A backend whose inventory was never fetched has an unknown
    inventory and is not filtered by model. When a monitor goes silent the
    last map stays in force (routing on stale health beats refusing all).
    =========================================================================
*/

#ifndef SCHED_HEALTH_H_INCLUDED
#define SCHED_HEALTH_H_INCLUDED

#include "of_classes.h"

typedef struct _sched_health_t sched_health_t;

//  Creates the view and connects a SUB to each endpoint given (either may be
//  NULL: then only sched_health_apply feeds it). NULL if a connect failed.
sched_health_t *
    sched_health_new (const char *health_publisher, const char *models_publisher);

//  Destroys the view; accepts NULL.
void
    sched_health_destroy (sched_health_t **self_p);

//  The SUB sockets, to wait on (NULL when not connected).
zsock_t *
    sched_health_health_socket (sched_health_t *self);
zsock_t *
    sched_health_models_socket (sched_health_t *self);

//  Applies every message waiting on one of the sockets, without blocking.
//  Returns true if a backend's health or inventory changed.
bool
    sched_health_recv (sched_health_t *self, zsock_t *socket);

//  Applies one received message (health or models protocol). Returns true if
//  a backend's health or inventory changed; a malformed message is counted.
bool
    sched_health_apply (sched_health_t *self, ofp_msg_t *msg);

//  True if healthmon said the backend is Healthy.
bool
    sched_health_healthy (sched_health_t *self, const char *backend);

//  True once a health STATE has come: before it, no backend is known to be
//  Healthy, which after a restart says nothing about the fleet.
bool
    sched_health_heard (sched_health_t *self);

//  True if the backend has the model, the model is "", or the backend's
//  inventory is unknown. "llama3" and "llama3:latest" are the same model.
bool
    sched_health_has_model (sched_health_t *self, const char *backend, const char *model);

//  True if an inventory of the backend is held (modelsync fetched it).
bool
    sched_health_known (sched_health_t *self, const char *backend);

//  True if the backend's last inventory lists the model as loaded.
bool
    sched_health_loaded (sched_health_t *self, const char *backend, const char *model);

//  How many models the backend's last inventory lists as loaded; their keys
//  (borrowed, valid until the next message applied) fill models, up to max.
size_t
    sched_health_loaded_models (sched_health_t *self, const char *backend, const char **models,
                                size_t max);

//  True if modelsync pulls the model onto the backend now.
bool
    sched_health_pulling (sched_health_t *self, const char *backend, const char *model);

//  Messages refused as malformed.
uint64_t
    sched_health_malformed (sched_health_t *self);

//  Self test
void
    sched_health_test (bool verbose);

#endif

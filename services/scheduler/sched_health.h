/*  =========================================================================
    sched_health - what healthmon says about each backend: whether it is
    Healthy (proto/health.md)

    Follows the subscriber's rules of the contract: a STATE replaces the
    whole map, a TRANSITION one backend's entry. Until the first health
    message, no backend is healthy; Unknown counts as not healthy. When
    healthmon goes silent the last map stays in force (routing on stale
    health beats refusing all). The models each backend has are
    sched_models'.
    =========================================================================
*/

#ifndef SCHED_HEALTH_H_INCLUDED
#define SCHED_HEALTH_H_INCLUDED

#include "of_classes.h"

typedef struct _sched_health_t sched_health_t;

//  Creates the view and connects a SUB to healthmon's publisher (NULL: then
//  only sched_health_apply feeds it). NULL if the connect failed.
sched_health_t *
    sched_health_new (const char *publisher);

//  Destroys the view; accepts NULL.
void
    sched_health_destroy (sched_health_t **self_p);

//  The SUB socket, to wait on (NULL when not connected).
zsock_t *
    sched_health_socket (sched_health_t *self);

//  Applies every message waiting on the socket, without blocking. Returns
//  true if a backend's health changed.
bool
    sched_health_recv (sched_health_t *self);

//  Applies one received message of the health protocol. Returns true if a
//  backend's health changed; a malformed message is counted.
bool
    sched_health_apply (sched_health_t *self, ofp_msg_t *msg);

//  True if healthmon said the backend is Healthy.
bool
    sched_health_healthy (sched_health_t *self, const char *backend);

//  True once a health STATE has come: before it, no backend is known to be
//  Healthy, which after a restart says nothing about the fleet.
bool
    sched_health_heard (sched_health_t *self);

//  Messages refused as malformed.
uint64_t
    sched_health_malformed (sched_health_t *self);

//  Self test
void
    sched_health_test (bool verbose);

#endif

/*  =========================================================================
    ingress_link - the ingress's link to the scheduler (proto/lease.md)

    Registers this replica (HELLO, WELCOME), heartbeats every Bus.HeartbeatMs,
    and notices a scheduler that restarted (a new epoch, or "Registered":
    false) or went silent, registering again when it is back. Lives in the
    ingress's libevent loop; the scheduler's DEALER is its own.
    =========================================================================
*/

#ifndef INGRESS_LINK_H_INCLUDED
#define INGRESS_LINK_H_INCLUDED

#include "of_classes.h"
#include <event2/event.h>

typedef struct _ingress_link_t ingress_link_t;

//  Connects to the scheduler and says HELLO. NULL if the endpoint is invalid.
ingress_link_t *
    ingress_link_new (struct event_base *base, of_settings_t *settings);

//  Disconnects; accepts NULL.
void
    ingress_link_destroy (ingress_link_t **self_p);

//  True while the scheduler answers and knows this replica.
bool
    ingress_link_up (ingress_link_t *self);

//  The scheduler's epoch, or "" before the first WELCOME.
const char *
    ingress_link_epoch (ingress_link_t *self);

#endif

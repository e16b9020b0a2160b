/*  =========================================================================
    ingress_feed - a service's published per-backend state, followed

    healthmon (health.md) and modelsync (models.md) publish the same way: a
    full STATE every heartbeat that lists one record per backend, and
    single-record updates in between (TRANSITION, INVENTORY). A feed follows
    one such PUB inside the ingress's libevent loop with their common rules:
    STATE replaces every record, an update replaces one backend's, a gap in
    Sequence waits for the next STATE, a new Epoch is applied as usual, and
    after Bus.LivenessMs of silence the last records are kept and reported
    stale. Other messages (modelsync's PULL) go to the feed's handler.
    =========================================================================
*/

#ifndef INGRESS_FEED_H_INCLUDED
#define INGRESS_FEED_H_INCLUDED

#include "of_classes.h"
#include <event2/event.h>

typedef struct _ingress_feed_t ingress_feed_t;

//  What to follow: the protocol, the STATE's array of records, the update
//  that carries one record. Records are keyed by their "Backend".
typedef struct {
    const ofp_protocol_t *protocol;
    const char *records;        //  "Backends" (health), "Inventories" (models)
    const char *update;         //  "TRANSITION" (health), "INVENTORY" (models)
} ingress_feed_spec_t;

//  Called for every well-formed message, after the feed applied it (borrowed).
typedef void (ingress_feed_fn) (void *arg, ofp_msg_t *msg);

//  Subscribes to endpoint. spec must outlive the feed. NULL if the endpoint is invalid.
ingress_feed_t *
    ingress_feed_new (struct event_base *base, const char *endpoint, int64_t liveness_ms,
                      const ingress_feed_spec_t *spec);

//  Unsubscribes; accepts NULL.
void
    ingress_feed_destroy (ingress_feed_t **self_p);

//  Sets the function called for every message.
void
    ingress_feed_set_handler (ingress_feed_t *self, ingress_feed_fn *handler, void *arg);

//  True once a STATE came (before that, every backend is unknown).
bool
    ingress_feed_ready (ingress_feed_t *self);

//  True while the publisher was heard within the liveness interval.
bool
    ingress_feed_alive (ingress_feed_t *self);

//  The publisher's epoch, or "" before its first message.
const char *
    ingress_feed_epoch (ingress_feed_t *self);

//  One backend's record, or NULL when unknown. Borrowed.
json_t *
    ingress_feed_get (ingress_feed_t *self, const char *backend);

//  Applies one message as if received (for tests and for the socket handler).
void
    ingress_feed_apply (ingress_feed_t *self, ofp_msg_t *msg);

//  Self test
void
    ingress_feed_test (bool verbose);

#endif

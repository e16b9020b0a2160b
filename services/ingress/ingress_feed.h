/*  =========================================================================
    ingress_feed - one service's PUB, followed inside the ingress's loop

    Every service publishes the same way: a full STATE every heartbeat, and
    other messages in between, all numbered by Epoch and Sequence. healthmon
    (health.md) and modelsync (models.md) list one record per backend in
    their STATE and send single-record updates (TRANSITION, INVENTORY). A
    feed follows one PUB with the subscriber rules they share: STATE
    replaces every record, an update replaces one backend's, a gap in
    Sequence waits for the next STATE, a new Epoch is applied as usual, and
    after Bus.LivenessMs of silence the last records are kept and reported
    stale. It keeps the last STATE body whole (the scheduler's counts) and
    when the publisher was last heard (/v1.0/status). Other messages
    (modelsync's PULL) go to the feed's handlers. One feed per publisher:
    the model routes and the admin API read the same ones (ingress_watch).
    =========================================================================
*/

#ifndef INGRESS_FEED_H_INCLUDED
#define INGRESS_FEED_H_INCLUDED

#include "of_classes.h"
#include <event2/event.h>

//  Handlers one feed calls at most (the admin's pull list, ingress_pull)
#define INGRESS_FEED_HANDLERS_MAX 4

typedef struct _ingress_feed_t ingress_feed_t;

//  What to follow. Records are keyed by their "Backend".
typedef struct {
    const char *service;        //  the publisher, for status and logs: "healthmon"
    const ofp_protocol_t *protocol;
    const char *records;        //  the STATE's array of records ("Backends"), or NULL
    const char *update;         //  the update that carries one record ("TRANSITION"), or NULL
    const char *transient;      //  a field of the update that is not the record's ("Previous"), or NULL
    bool state_epoch;           //  only STATE carries the publisher's Epoch (the scheduler's
                                //  OUTCOME carries its lease's, maybe an older one)
    const char *ignore;         //  a command not followed, dropped before it is decoded, or
                                //  NULL: the scheduler's OUTCOME, one per request of every
                                //  ingress, which no ingress reads. Gaps are then not counted
                                //  (the Sequence counts the dropped messages too).
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

//  Adds a function called for every message (at most INGRESS_FEED_HANDLERS_MAX).
void
    ingress_feed_add_handler (ingress_feed_t *self, ingress_feed_fn *handler, void *arg);

//  Removes a handler added with the same function and argument.
void
    ingress_feed_remove_handler (ingress_feed_t *self, ingress_feed_fn *handler, void *arg);

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

//  The last STATE body, or NULL before the first. Borrowed.
json_t *
    ingress_feed_state (ingress_feed_t *self);

//  The publisher's liveness: a new {"Service", "Alive"} with, once heard,
//  "Epoch", "LastHeartbeatUtc", "SilentMs" and "Sequence"; caller owns.
json_t *
    ingress_feed_status (ingress_feed_t *self);

//  The same record for a service followed otherwise (configd, by the config
//  clone): heard_at is zclock_mono of its last message, 0 if never heard.
json_t *
    ingress_feed_liveness (const char *service, bool alive, const char *epoch, int64_t heard_at,
                           int64_t sequence);

//  Applies one message as if received (for tests and for the socket handler).
void
    ingress_feed_apply (ingress_feed_t *self, ofp_msg_t *msg);

//  Self test
void
    ingress_feed_test (bool verbose);

#endif

/*  =========================================================================
    of_clone - a service's copy of the config, kept current from configd

    The Clone pattern of the ZeroMQ guide, as proto/config.md specifies it:
    subscribe, ask for a snapshot, apply only newer updates, and take a new
    snapshot on a gap, a new epoch, or a heartbeat that shows a missed change.
    It survives configd restarts and starts in any order: until configd
    answers, the copy is simply not ready.

    A passive object, so that both zpoller loops and the ingress's libevent
    loop can drive it: wait on its two sockets (or their ZMQ_FDs), call
    of_clone_recv when either is readable, and of_clone_tick when the time it
    returned has passed. Both drain the sockets completely, as the
    edge-triggered ZMQ_FD requires.
    =========================================================================
*/

#ifndef OF_CLONE_H_INCLUDED
#define OF_CLONE_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include "of_schema.h"
#include "of_records.h"
#include <event2/event.h>

typedef struct _of_clone_t of_clone_t;

//  Called for each change applied: object is the new value (borrowed), or NULL
//  when the object was deleted. After a snapshot replaced the whole copy, it
//  is called once with kind OF_KIND_COUNT and identifier NULL.
typedef void (of_clone_fn) (void *arg, of_kind_t kind, const char *identifier, json_t *object);

//  Creates a copy that follows configd at the given endpoints (connects to
//  both) and asks for its first snapshot. liveness_ms is how long configd may
//  be silent before it counts as gone.
of_clone_t *
    of_clone_new (const char *publisher, const char *router, int64_t liveness_ms);

//  Destroys the copy; accepts NULL.
void
    of_clone_destroy (of_clone_t **self_p);

//  Sets the function called on every change.
void
    of_clone_set_handler (of_clone_t *self, of_clone_fn *handler, void *arg);

//  The SUB socket, to wait on.
zsock_t *
    of_clone_subscriber (of_clone_t *self);

//  The DEALER socket, to wait on.
zsock_t *
    of_clone_requester (of_clone_t *self);

//  Receives everything waiting on both sockets, without blocking.
void
    of_clone_recv (of_clone_t *self);

//  Lets a zloop drive the copy: readers on both sockets and a timer.
//  Returns 0, or -1 if the loop refused a reader.
int
    of_clone_attach (of_clone_t *self, zloop_t *loop);

//  Lets a libevent loop drive the copy instead: its two sockets (through
//  of_evzmq) and a timer join the base; they go with the copy. 0 or -1.
int
    of_clone_attach_events (of_clone_t *self, struct event_base *base);

//  Runs the timers (snapshot retries, liveness); returns the milliseconds
//  until it should be called again.
int64_t
    of_clone_tick (of_clone_t *self);

//  True once a snapshot has been applied.
bool
    of_clone_ready (of_clone_t *self);

//  True while configd has been heard within the liveness interval.
bool
    of_clone_alive (of_clone_t *self);

//  When configd was last heard (zclock_mono), or 0 before its first message.
int64_t
    of_clone_heard (of_clone_t *self);

//  The epoch and sequence number of the copy.
const char *
    of_clone_epoch (of_clone_t *self);
int64_t
    of_clone_sequence (of_clone_t *self);

//  Every object of a kind: a JSON object from Identifier to object. Borrowed.
json_t *
    of_clone_objects (of_clone_t *self, of_kind_t kind);

//  One object, or NULL. Borrowed.
json_t *
    of_clone_get (of_clone_t *self, of_kind_t kind, const char *identifier);

//  The frontends, backends and keys of the copy as typed records, compiled again
//  on every snapshot and update (before the handler is called), so never
//  older than the copy; an empty set until the first snapshot. Borrowed: it
//  lasts until the next change, and whoever keeps it longer (a request in
//  flight) takes a reference (of_records_ref) and keeps it whole.
of_records_t *
    of_clone_records (of_clone_t *self);

//  How many snapshots were taken and how many messages were refused as malformed.
uint64_t
    of_clone_snapshots (of_clone_t *self);
uint64_t
    of_clone_malformed (of_clone_t *self);

//  Self test
void
    of_clone_test (bool verbose);

#endif

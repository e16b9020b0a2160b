/*  =========================================================================
    sched_broker - the life of an ask: granted, queued, refused, served from
    the queue when room frees, refused at its deadline

    Applies sched_pick's verdicts: a GRANT counts the lease (sched_table)
    and pins the sticky session; a WAIT enters the bounded queue if the
    scheduler's MaxQueue and some candidate's RateLimitRequestsThreshold
    allow, else the client gets 429 with a Retry-After; a DENY is answered
    as is. One zloop timer is armed for the earliest deadline in the queue.
    Replies go out on the ROUTER, to the ingress whose routing id asked.
    =========================================================================
*/

#ifndef SCHED_BROKER_H_INCLUDED
#define SCHED_BROKER_H_INCLUDED

#include "of_classes.h"
#include "sched_pick.h"

typedef struct _sched_broker_t sched_broker_t;

//  Creates a broker that answers on router (and copies replies to tap, if
//  not NULL), grants leases of epoch, decides with env (borrowed: the caller
//  keeps its fleet, table, sessions and health current; env->now, env->queue
//  and env->speed are set here) and keeps at most max_queue asks waiting.
sched_broker_t *
    sched_broker_new (zloop_t *loop, zsock_t *router, zsock_t *tap, const char *epoch,
                      sched_pick_env_t *env, size_t max_queue);

//  Destroys the broker and drops the asks still waiting; accepts NULL.
void
    sched_broker_destroy (sched_broker_t **self_p);

//  Answers a new ask (taken over): GRANT, DENY, or QUEUED.
void
    sched_broker_serve (sched_broker_t *self, sched_ask_t **ask_p);

//  Decides the waiting asks again, lowest rank first (sched_keys): with a backend, the asks
//  that wait for it while it has room (a slot freed there); with NULL, every
//  ask (the fleet changed).
void
    sched_broker_drain (sched_broker_t *self, const char *backend);

//  Holds every grant (held true): new asks wait in the queue, and their
//  deadlines refuse them; on false, decides the waiting asks again. For a new
//  epoch, until the leases running before it are declared (sched_settle) and
//  healthmon's first STATE has come: so while held, an ask refused for want
//  of a healthy backend (or of the config) waits too, for any backend.
void
    sched_broker_hold (sched_broker_t *self, bool held);

//  True while grants are held.
bool
    sched_broker_held (sched_broker_t *self);

//  True if an ask of the ingress with the request id waits.
bool
    sched_broker_waits (sched_broker_t *self, const char *ingress, const char *id);

//  Drops a waiting ask without an answer; true if there was one.
bool
    sched_broker_cancel (sched_broker_t *self, const char *ingress, const char *id);

//  Drops every waiting ask of an ingress; returns how many.
size_t
    sched_broker_drop_ingress (sched_broker_t *self, const char *ingress);

//  Learns how long a lease lasted (for Retry-After estimates).
void
    sched_broker_note_duration (sched_broker_t *self, int64_t duration_ms);

//  Learns how fast a backend answered one lease (for LeastLatency):
//  ttfb_ms < 0 when no first byte came.
void
    sched_broker_note_speed (sched_broker_t *self, const char *backend, int64_t ttfb_ms,
                             int64_t duration_ms);

//  Learns what a lease's release said of its model on its backend (outcome
//  ok), before the lease is removed.
void
    sched_broker_note_cost (sched_broker_t *self, const sched_lease_t *lease,
                            const sched_cost_figures_t *figures);

//  Notes a lease of the backend that ended without an answer to learn from
//  (the exploration rule stops trying a backend that only fails).
void
    sched_broker_note_miss (sched_broker_t *self, const char *backend);

//  The queue, for counts. Borrowed.
sched_queue_t *
    sched_broker_queue (sched_broker_t *self);

//  Self test
void
    sched_broker_test (bool verbose);

#endif

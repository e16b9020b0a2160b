/*  =========================================================================
    sched_speed - how fast each backend answers, learned from its releases

    Every RELEASE with outcome ok carries the lease's time to first byte
    (TtfbMs: the backend's prefill of the prompt and its first token) and
    its duration (grant to release). Per backend, this keeps moving averages
    of the first byte time and of the duration (weight 1/8 for each new
    sample) and of the first byte time's mean deviation (1/4, as TCP's
    round-trip estimator), so that LeastLatency can estimate what a
    request will wait for its first token on each backend.

    A backend never heard of is unexplored (sched_speed_unexplored): the
    scheduler's exploration rule (sched_pick) gives it one ask at a time
    until a release of it has been learned from, or until it has failed
    SCHED_SPEED_EXPLORE_MISSES leases in a row without one; until then its
    first token estimate is 0 ms, but LeastLatency ranks it after the
    backends it knows. What was learned fades towards that neutral 0 with the time since the
    backend's last sample (half life SCHED_SPEED_HALF_LIFE_MS): a slow
    backend that gets no traffic is tried again after a while, and is seen
    to have got faster. Times are the caller's (zclock_mono), so tests can
    drive the clock.
    =========================================================================
*/

#ifndef SCHED_SPEED_H_INCLUDED
#define SCHED_SPEED_H_INCLUDED

#include "of_classes.h"

//  Weight of a new sample in the moving averages: 1 / SCHED_SPEED_WEIGHT
#define SCHED_SPEED_WEIGHT       8
//  What was learned fades to half towards neutral after this long without a sample
#define SCHED_SPEED_HALF_LIFE_MS 30000
//  Most backends remembered (the keys come from leases the scheduler
//  granted, but the bound keeps a config churning ids from growing it)
#define SCHED_SPEED_BACKENDS_MAX 10000
//  A backend with nothing learned is no longer explored after this many of
//  its leases ended without an answer to learn from (sched_speed_note_miss)
#define SCHED_SPEED_EXPLORE_MISSES 3

typedef struct _sched_speed_t sched_speed_t;

//  Creates an empty record.
sched_speed_t *
    sched_speed_new (void);

//  Destroys the record; accepts NULL.
void
    sched_speed_destroy (sched_speed_t **self_p);

//  Learns from one lease of a backend released at now: its time to first
//  byte (ttfb_ms < 0 when none came: only the duration counts) and its
//  duration, both in ms.
void
    sched_speed_note (sched_speed_t *self, const char *backend, int64_t ttfb_ms,
                      int64_t duration_ms, int64_t now);

//  Notes that a lease of the backend ended without an answer to learn from
//  (outcome backend_error, connect_failure or timeout).
void
    sched_speed_note_miss (sched_speed_t *self, const char *backend);

//  True while the backend is unexplored: no release of it learned from, and
//  fewer than SCHED_SPEED_EXPLORE_MISSES misses noted since the scheduler
//  started.
bool
    sched_speed_unexplored (sched_speed_t *self, const char *backend);

//  The expected time to first token of a request started now on the backend,
//  in ms: the moving average of its first byte times plus twice their mean
//  deviation (the tail, not the middle, is what a client notices), faded
//  towards 0 with age. 0 for a backend with no first byte time learned.
int64_t
    sched_speed_first_token (sched_speed_t *self, const char *backend, int64_t now);

//  The expected duration of a lease of the backend, in ms (faded likewise),
//  or -1 if no duration is learned.
int64_t
    sched_speed_duration (sched_speed_t *self, const char *backend, int64_t now);

//  How many releases of the backend were learned from.
uint64_t
    sched_speed_samples (sched_speed_t *self, const char *backend);

//  Self test
void
    sched_speed_test (bool verbose);

#endif

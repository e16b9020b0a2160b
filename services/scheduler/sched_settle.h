/*  =========================================================================
    sched_settle - a new epoch takes back the leases still running before it
    grants any

    A restarted scheduler knows no lease. Each ingress learns of the new
    epoch on its own (its next PONG, or a NotRegistered), says HELLO and
    declares what it holds by RESUME; until then its running requests are
    invisible, and a grant to another ingress could take a backend over its
    MaxParallelRequests. So for the first Bus.LivenessMs of an epoch, the
    scheduler waits for the ingresses it has reason to expect: each peer a
    HELLO names (the ingresses registered in the epoch before, from that
    ingress's last PONG), and the ingress that named them, each until its
    last RESUME. While one of them has not declared its leases, grants wait.

    The window is LivenessMs because that is how long the scheduler waits
    for any ingress before it deems it gone (proto/lease.md, "The rules"):
    an ingress silent that long would lose its leases in any epoch. A first
    start, where no HELLO names a peer, waits for nobody. Times are the
    caller's (zclock_mono), so tests can drive the clock.
    =========================================================================
*/

#ifndef SCHED_SETTLE_H_INCLUDED
#define SCHED_SETTLE_H_INCLUDED

#include "of_classes.h"

//  Most ingresses waited for (a HELLO names at most OFP_LEASE_PEERS_MAX)
#define SCHED_SETTLE_EXPECTED_MAX 10000

typedef struct _sched_settle_t sched_settle_t;

//  Creates the window of an epoch that began at started and lasts window_ms.
sched_settle_t *
    sched_settle_new (int64_t started, int64_t window_ms);

//  Destroys it; accepts NULL.
void
    sched_settle_destroy (sched_settle_t **self_p);

//  An ingress said HELLO, naming peers (an array of ingress ids, or NULL);
//  truncated when it knew more peers than it could name (then the whole
//  window is waited).
void
    sched_settle_hello (sched_settle_t *self, const char *ingress, json_t *peers,
                        bool truncated, int64_t now);

//  An ingress sent a RESUME; last when it was its last one after a HELLO.
void
    sched_settle_resumed (sched_settle_t *self, const char *ingress, bool last);

//  An ingress was forgotten (it went silent): nothing is waited from it.
void
    sched_settle_forget (sched_settle_t *self, const char *ingress);

//  True while grants must wait.
bool
    sched_settle_holding (sched_settle_t *self, int64_t now);

//  When the window ends (the caller's clock).
int64_t
    sched_settle_ends (sched_settle_t *self);

//  How many expected ingresses have not declared their leases yet.
size_t
    sched_settle_pending (sched_settle_t *self);

//  Self test
void
    sched_settle_test (bool verbose);

#endif

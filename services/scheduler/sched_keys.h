/*  =========================================================================
    sched_keys - the limits of client API keys, over every ingress replica

    A key's MaxConcurrentRequests, RequestsPerMinute and TokensPerMinute
    (docs/api-keys.md) hold for the whole fleet because every replica asks
    this one scheduler. Each ask carries its key's limits and priority, from
    the config copy of the ingress that admitted the key (so a key is limited
    from its first request, whatever this scheduler's copy has heard yet). Concurrency counts the key's leases and its asks
    waiting; requests and tokens are counted over the last minute, in 60
    buckets of one second. A request counts when its ask arrives; tokens are
    charged when its lease is released (a running request is never cut, so a
    key may end a minute above its TokensPerMinute; its next asks wait out the
    excess). The counts live in memory: a restarted scheduler has the running
    leases back (RESUME carries their key) but starts the minute over.

    Usage (requests, tokens in and out, errors) is counted per key since the
    scheduler started, for the admin API (through STATE); it is not kept
    across a restart.

    A key's Priority ranks its asks in the queue: an ask ranks by its arrival
    plus a head start, 0 for High, one Scheduler.PriorityStepMs for Normal
    (and asks without a key), two for Low. So priorities are served in order
    and each in arrival order, and an ask is never passed by one that arrived
    more than two steps after it (the aging bound of a Low ask).
    =========================================================================
*/

#ifndef SCHED_KEYS_H_INCLUDED
#define SCHED_KEYS_H_INCLUDED

#include "of_classes.h"

#define SCHED_KEYS_WINDOW_S     60
#define SCHED_KEYS_MAX          100000      //  keys followed at once
#define SCHED_KEYS_MESSAGE_MAX  256

typedef struct _sched_keys_t sched_keys_t;

//  Creates an empty set of counts; priority_step_ms is the head start of each
//  priority over the next.
sched_keys_t *
    sched_keys_new (int64_t priority_step_ms);

//  Destroys; accepts NULL.
void
    sched_keys_destroy (sched_keys_t **self_p);

//  Checks a new ask of key (NULL: none) at now_ms (zclock_mono) against its
//  limits (the LEASE's KeyLimits; NULL: none), running being its leases and
//  asks already waiting. 0: the ask may go on, and it is counted as a request
//  (unless retry: the same request again after a connect failure, which only
//  the concurrency limit applies to); -1: over a limit, with a message naming
//  it and when to try again (and the key's usage counts an error).
int
    sched_keys_admit (sched_keys_t *self, const char *key, json_t *limits, size_t running,
                      bool retry, int64_t now_ms, int64_t *retry_after_ms, char *message,
                      size_t size);

//  Charges the tokens of a released lease to key (NULL: nothing), and counts
//  them in its usage; error says the request ended in an error.
void
    sched_keys_charge (sched_keys_t *self, const char *key, int64_t prompt_tokens,
                       int64_t completion_tokens, bool error, int64_t now_ms);

//  Counts an error in the usage of key (NULL: nothing): an ask refused.
void
    sched_keys_note_error (sched_keys_t *self, const char *key);

//  Notes that a lease of key runs that no ask here began (a RESUME), so that
//  the key is listed in the usage (with nothing counted yet).
void
    sched_keys_note_running (sched_keys_t *self, const char *key);

//  The usage of every key since this scheduler started, for STATE:
//  [{"Key", "Requests", "PromptTokens", "CompletionTokens", "Errors"}], at
//  most max records. Caller owns.
json_t *
    sched_keys_usage (sched_keys_t *self, size_t max);

//  Where an ask with limits (its KeyLimits; NULL: no key) that arrived at
//  arrived_at ranks in the queue: the lower, the sooner.
int64_t
    sched_keys_rank (sched_keys_t *self, json_t *limits, int64_t arrived_at);

//  Self test
void
    sched_keys_test (bool verbose);

#endif

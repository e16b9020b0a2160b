/*  =========================================================================
    sched_prefix - which prompt prefixes each backend probably holds in its
    cache, from the prefix chains of the asks granted there

    A LEASE may carry its prompt's prefix chain (proto/lease.md, Prefix):
    hashes that each name the prompt up to the end of a piece. Per backend,
    this keeps the chains of the last asks granted there, most recent
    first, at most capacity of them (what the backend can hold: its slots,
    each keeping its last prompt, and as many again for a host-RAM cache),
    and answers how many leading pieces of a new chain the backend holds:
    the longest prefix that any kept chain shares. A chain that extends a
    kept one (a conversation's next turn) replaces it, as in the slot.
    Approximate by design: the index only sees what this scheduler sent,
    not what the backend evicted on its own. Bounded: SCHED_PREFIX_BACKENDS_MAX
    backends, capacity chains of at most OFP_LEASE_PREFIX_MAX hashes each.
    =========================================================================
*/

#ifndef SCHED_PREFIX_H_INCLUDED
#define SCHED_PREFIX_H_INCLUDED

#include "of_classes.h"

#define SCHED_PREFIX_BACKENDS_MAX 10000
//  Chains kept per slot of a backend (MaxParallelRequests)
#define SCHED_PREFIX_CHAINS_PER_SLOT 2

typedef struct _sched_prefix_t sched_prefix_t;

//  Creates an empty index.
sched_prefix_t *
    sched_prefix_new (void);

//  Destroys the index; accepts NULL.
void
    sched_prefix_destroy (sched_prefix_t **self_p);

//  Notes that an ask with this chain (a JSON array of hash strings, as the
//  codec checked it) went to the backend, which holds at most capacity
//  chains (at least 1).
void
    sched_prefix_note (sched_prefix_t *self, const char *backend, json_t *chain,
                       size_t capacity);

//  How many leading hashes of the chain the backend probably holds (0 to
//  the chain's length).
size_t
    sched_prefix_match (sched_prefix_t *self, const char *backend, json_t *chain);

//  Forgets what the backend holds (its model was unloaded, say).
void
    sched_prefix_forget (sched_prefix_t *self, const char *backend);

//  Self test
void
    sched_prefix_test (bool verbose);

#endif

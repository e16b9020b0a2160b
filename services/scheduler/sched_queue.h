/*  =========================================================================
    sched_queue - the asks waiting for a free slot

    An ask is one LEASE not answered yet. The queue holds the asks that found
    every backend they could use full, in order of rank (their arrival, plus
    their key's priority head start: sched_keys), which is FIFO within a rank
    and per frontend too, and in order of deadline, so that the earliest deadline is
    found at once. It counts, per backend, the asks that wait for it: the
    RateLimitRequestsThreshold bound is checked against that count; and the
    asks that chose to wait for it while another backend was free, which
    bounds how many more may (PredictedLatency's spill-over).
    =========================================================================
*/

#ifndef SCHED_QUEUE_H_INCLUDED
#define SCHED_QUEUE_H_INCLUDED

#include "of_classes.h"

typedef enum {
    SCHED_KIND_COMPLETIONS,
    SCHED_KIND_EMBEDDINGS,
    SCHED_KIND_OTHER,
    SCHED_KIND_COUNT
} sched_kind_t;

//  One ask. The strings point into body, which the ask holds.
typedef struct {
    char *ingress;              //  who asked (its routing id)
    char *id;                   //  the LEASE's request id
    json_t *body;               //  the LEASE body, checked by the codec
    const char *frontend;
    sched_kind_t kind;
    const char *model;          //  "" when the request names none
    json_t *labels;             //  array of strings: every one is required
    json_t *exclude;            //  array of backend Identifiers not to use
    const char *sticky_key;     //  or NULL
    const char *key;            //  the client API key, or NULL
    json_t *key_limits;         //  its limits and priority (KeyLimits), or NULL
    bool ollama_only;           //  its Route is Ollama's own API (/api/...): Ollama backends only
    json_t *prefix;             //  its prompt's prefix chain (Prefix), or NULL
    json_t *prefix_ends;        //  the bytes of prompt each hash covers (PrefixEnds), or NULL
    int64_t prompt_bytes;       //  the last of those: the prompt's size; 0 when not said
    int64_t deadline_ms;        //  how long it may wait (0: not at all)
    int64_t arrived_at;         //  zclock_mono
    int64_t rank;               //  order in the queue, lowest first (arrived_at by default)
    int64_t deadline;           //  arrived_at + deadline_ms
    //  Owned by the queue while the ask waits
    char **usable;              //  backends it waits for
    size_t usable_count;
    char *prefer;               //  the one it chose to wait for while another is free, or NULL
    void *arrival_handle;
    void *deadline_handle;
} sched_ask_t;

typedef struct _sched_queue_t sched_queue_t;

//  Creates an ask from a LEASE body the codec accepted (body is borrowed and
//  referenced), asked by ingress with request id at now.
sched_ask_t *
    sched_ask_new (const char *ingress, const char *id, json_t *body, int64_t now);

//  Destroys an ask that is not queued; accepts NULL.
void
    sched_ask_destroy (sched_ask_t **self_p);

//  True if the ask lists the backend in its Exclude.
bool
    sched_ask_excludes (const sched_ask_t *self, const char *backend);

//  Creates an empty queue.
sched_queue_t *
    sched_queue_new (void);

//  Destroys the queue and every ask in it; accepts NULL.
void
    sched_queue_destroy (sched_queue_t **self_p);

//  Queues an ask (taken over) that waits for the given backends (ids copied).
//  Returns its position among the asks of its frontend (1 is next).
size_t
    sched_queue_push (sched_queue_t *self, sched_ask_t **ask_p, const char *const *usable,
                      size_t count);

//  Replaces the backends a queued ask waits for.
void
    sched_queue_set_usable (sched_queue_t *self, sched_ask_t *ask, const char *const *usable,
                            size_t count);

//  Sets the backend a queued ask chose to wait for although another was free
//  (PredictedLatency's hold), or none (NULL); copied.
void
    sched_queue_set_prefer (sched_queue_t *self, sched_ask_t *ask, const char *backend);

//  True if a queued ask waits for the backend.
bool
    sched_queue_waits_for (sched_ask_t *ask, const char *backend);

//  The queued ask of an ingress with a request id, or NULL.
sched_ask_t *
    sched_queue_lookup (sched_queue_t *self, const char *ingress, const char *id);

//  Takes an ask out of the queue; the caller owns it again.
sched_ask_t *
    sched_queue_remove (sched_queue_t *self, sched_ask_t *ask);

//  Removes and destroys every ask of an ingress; returns how many.
size_t
    sched_queue_drop_ingress (sched_queue_t *self, const char *ingress);

//  Walks the asks, lowest rank first (oldest first within a rank). The current ask may be removed while
//  walking; nothing may be pushed.
sched_ask_t *
    sched_queue_first (sched_queue_t *self);
sched_ask_t *
    sched_queue_next (sched_queue_t *self);

//  The ask whose deadline comes first, or NULL.
sched_ask_t *
    sched_queue_earliest (sched_queue_t *self);

//  Asks queued in all, of one frontend, waiting for one backend.
size_t
    sched_queue_size (sched_queue_t *self);
size_t
    sched_queue_of_frontend (sched_queue_t *self, const char *frontend);
size_t
    sched_queue_waiting (sched_queue_t *self, const char *backend);
//  Queued asks that chose to wait for one backend (sched_queue_set_prefer).
size_t
    sched_queue_preferring (sched_queue_t *self, const char *backend);
//  Asks queued for a client API key.
size_t
    sched_queue_of_key (sched_queue_t *self, const char *key);
//  Asks queued for a model (its name or its ofp_models_key: the same count).
size_t
    sched_queue_of_model (sched_queue_t *self, const char *model);

//  Self test
void
    sched_queue_test (bool verbose);

#endif

/*  =========================================================================
    sched_cost - what each choice of backend costs a request: the model's
    residency and what the backend's releases taught of its speed per model

    Learned per (backend, model), from every RELEASE with outcome ok that
    carries the response meter's figures (proto/lease.md, RELEASE): the
    model's load time (LoadUs of the releases whose grant found the model not
    resident), the prefill time per uncached prompt token (PrefillUs over
    PromptTokens - CachedTokens) and the decode time per token (DecodeUs over
    CompletionTokens), as moving averages (each new sample weighs 1/8), and
    over the fleet the prompt tokens per byte of prompt the LEASE hashed. A
    pair with nothing learned falls back on the backend's other models, then
    on the fleet's, then on fixed guesses (SCHED_COST_*_GUESS).

    Residency: a model is taken as resident on a backend while a lease of it
    runs there, while it is among the last models granted there (at most the
    backend's capacity: the most models it was seen holding at once, in its
    inventory or by leases running), or while modelsync's inventory lists it
    loaded and no grant of other models pushed it out since. So a grant of M
    on B means M is (about to be) resident on B, before modelsync notices,
    and the grants that follow it may evict it, in Ollama's order (the
    first by name among the models with no lease running; not the least
    recently used). Grants noted before the
    backend's first inventory are dropped when it comes (asks are filtered
    by model only from then on: such a grant may name a model the backend
    lacks). The view is approximate by design: the backend's own scheduler
    decides; this only has to rank.

    Model names are ofp_models_key's ("llama3" is "llama3:latest"). Bounded:
    SCHED_COST_PAIRS_MAX pairs, SCHED_COST_RECENT_MAX models per backend.
    =========================================================================
*/

#ifndef SCHED_COST_H_INCLUDED
#define SCHED_COST_H_INCLUDED

#include "of_classes.h"
#include "sched_models.h"
#include "sched_queue.h"
#include "sched_table.h"

#define SCHED_COST_WEIGHT          8        //  a new sample weighs 1/8
#define SCHED_COST_PAIRS_MAX       100000   //  (backend, model) pairs learned
#define SCHED_COST_RECENT_MAX      16       //  models remembered per backend
#define SCHED_COST_DEMAND_WEIGHT   16       //  a grant weighs 1/16 in a model's share
//  Guesses before anything is learned: a cold load, a prompt token, a token
#define SCHED_COST_LOAD_GUESS_US   5000000
#define SCHED_COST_PREFILL_GUESS_US 1000
#define SCHED_COST_DECODE_GUESS_US 25000
#define SCHED_COST_TOKENS_PER_BYTE_GUESS 0.25

typedef struct _sched_cost_t sched_cost_t;

//  What one release said (each -1 when not said)
typedef struct {
    int64_t prompt_tokens;
    int64_t cached_tokens;
    int64_t completion_tokens;
    int64_t load_us;
    int64_t prefill_us;
    int64_t decode_us;
    int64_t prompt_bytes;       //  the prompt's size the LEASE said (PrefixEnds), 0 when not
} sched_cost_figures_t;

//  Creates an empty record.
sched_cost_t *
    sched_cost_new (void);

//  Destroys the record; accepts NULL.
void
    sched_cost_destroy (sched_cost_t **self_p);

//  The model's key (ofp_models_key) in key, of size OFP_MODELS_KEY_MAX.
void
    sched_cost_key (const char *model, char *key);

//  A grant of the model on the backend: it is (about to be) resident there.
//  models gives the inventory's loaded models, which the grant may push
//  out; table the leases running. Returns true if the model was known not
//  to be resident (the grant pays a load); false when resident or when
//  nothing says (no inventory yet, no grant of it).
bool
    sched_cost_note_grant (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
                           const char *backend, const char *model);

//  Learns from a release of a lease of the model on the backend; cold: its
//  grant found the model not resident.
void
    sched_cost_note_release (sched_cost_t *self, const char *backend, const char *model,
                             bool cold, const sched_cost_figures_t *figures);

//  True if the model is taken as resident on the backend (see above).
bool
    sched_cost_resident (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
                         const char *backend, const char *model);

//  True if loading another model on the backend must wait for one of its
//  resident models to go idle: it holds its capacity of models, each with a
//  lease running.
bool
    sched_cost_full (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
                     const char *backend);

//  What loading another model on the backend costs the model it would push
//  out (Ollama's choice: the first by name among the idle ones), in µs: that
//  model's load time there, times its share of the backend's recent grants
//  (the chance it is asked for there again) plus the asks queued for it
//  (queue may be NULL: none), each of which the load would make wait for it
//  to be loaded again; 0 while the backend holds fewer models than its
//  capacity.
int64_t
    sched_cost_evict_us (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
                         sched_queue_t *queue, const char *backend);

//  The learned (or guessed) load time of the model on the backend, and
//  prefill and decode times per token, in µs.
int64_t
    sched_cost_load_us (sched_cost_t *self, const char *backend, const char *model);
double
    sched_cost_prefill_us (sched_cost_t *self, const char *backend, const char *model);
double
    sched_cost_decode_us (sched_cost_t *self, const char *backend, const char *model);

//  Prompt tokens per byte of prompt text, learned over the fleet from the
//  releases of asks that said their prompt's size (PrefixEnds).
double
    sched_cost_tokens_per_byte (sched_cost_t *self);

//  Self test
void
    sched_cost_test (bool verbose);

#endif

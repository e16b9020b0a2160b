/*  =========================================================================
    sim_models - the models one backend stores, and which of them are loaded

    A model on disk shows in /api/tags. A model in memory shows in /api/ps
    with its expiry. Residency follows Ollama's scheduler: a request for a
    loaded model (with the same num_ctx) goes straight through; any other
    waits in one FIFO of pending loads, served one at a time. When
    max_loaded_models are loaded, the head of that queue evicts one: the
    idle model with the shortest keep-alive, then by name (not the least
    recently used), or, when none is idle, the first in that order once its
    requests end; the eviction costs unload_ms, then the load takes the
    model's load_ms, its size over load_rate, or the backend's load_ms. A
    request with another num_ctx than the loaded runner's reloads it. Every
    load starts a new runner id, which tags the prompt caches it fills.
    Idle models unload keep_alive after their last use (evaluated lazily).
    Entries are reference counted so a pull or delete never frees a model
    that a request still points at.
    =========================================================================
*/

#ifndef SIM_MODELS_H_INCLUDED
#define SIM_MODELS_H_INCLUDED

#include "sim_cache.h"
#include "sim_fleet.h"
#include <event2/event.h>
#include <jansson.h>
#include <stdint.h>

typedef struct _sim_models_t sim_models_t;

typedef enum {
    SIM_MODEL_COLD, SIM_MODEL_LOADING, SIM_MODEL_READY, SIM_MODEL_UNLOADING
} sim_model_state_t;

//  What one model went through since the last reset; a plain record
typedef struct {
    uint64_t loads, evictions;      //  evictions: unloads to make room or to reload
    uint64_t prompt_tokens, cached_tokens;
} sim_model_stats_t;

//  One stored model; fields are read-only outside sim_models
typedef struct {
    sim_model_spec_t spec;
    int64_t modified_ns;        //  wall clock
    sim_model_state_t state;
    int64_t until_mono;         //  READY and idle: resident until then
    int64_t keep_alive_ms;      //  the runner's session duration (eviction order)
    int num_ctx;                //  the loaded runner's context
    uint64_t runner;            //  id of the current load; 0 = none yet
    bool draining;              //  chosen for eviction: takes no new requests
    int refs;                   //  requests and timers using it, plus one while stored
    int users;                  //  requests using it now
    bool removed;
    sim_model_stats_t stats;
} sim_model_t;

typedef void (sim_model_ready_fn) (void *arg);

//  A request waiting for its model to load; embed it (zeroed) in the request
typedef struct _sim_model_wait_t sim_model_wait_t;
struct _sim_model_wait_t {
    sim_model_wait_t *next, *prev;
    sim_model_t *model;
    int num_ctx;
    sim_model_ready_fn *ready;
    void *arg;
    bool queued;
};

//  Creates the store from the backend's configured models; timers run on
//  base; cache (may be NULL) loses a runner's tokens when it unloads
sim_models_t *
    sim_models_new (const sim_backend_config_t *config, struct event_base *base,
                    sim_cache_t *cache);

//  Destroys the store; accepts NULL
void
    sim_models_destroy (sim_models_t **self_p);

//  Finds a stored model by name as a client sent it (case-insensitive,
//  ":latest" implied). Returns NULL if absent.
sim_model_t *
    sim_models_find (sim_models_t *self, const char *name);

//  Stores a model (a pull), replacing one of the same name
void
    sim_models_add (sim_models_t *self, const sim_model_spec_t *spec);

//  Removes a model; returns 0, or -1 if absent
int
    sim_models_remove (sim_models_t *self, const char *name);

//  Copies a model under a new name; returns 0, or -1 if source is absent
//  or destination is not a valid name
int
    sim_models_copy (sim_models_t *self, const char *source, const char *destination);

//  A request wants the model with a context of num_ctx (0: the default).
//  Returns true when it is loaded: the request uses it now. Otherwise the
//  request waits in the queue of loads, and ready (arg) is called later
//  (never from inside this call), when it uses the model.
bool
    sim_models_acquire (sim_models_t *self, sim_model_t *model, int num_ctx,
                        sim_model_wait_t *wait, sim_model_ready_fn *ready, void *arg);

//  A waiting request gave up; does nothing if it is not waiting
void
    sim_models_cancel (sim_models_t *self, sim_model_wait_t *wait);

//  The request is done with the model: it stays for keep_alive_ms (forever
//  for SIM_CLOCK_FOREVER, unloads now for 0). Drops the request's reference.
void
    sim_models_release (sim_models_t *self, sim_model_t *model, int64_t keep_alive_ms);

//  Counts a request's prompt tokens and the cached ones
void
    sim_models_count_prompt (sim_models_t *self, sim_model_t *model, int prompt, int cached);

//  Statistics per model (an object by name) and their sum, as JSON
json_t *
    sim_models_stats (sim_models_t *self, sim_model_stats_t *total);

//  Zeroes the statistics
void
    sim_models_reset_stats (sim_models_t *self);

//  Puts the idle models back as at start: those marked loaded, the others cold
void
    sim_models_flush (sim_models_t *self);

//  Unloads a model now (keep_alive 0 with an empty prompt)
void
    sim_models_unload (sim_models_t *self, sim_model_t *model);

//  True if the model is in memory now
bool
    sim_models_loaded (sim_models_t *self, sim_model_t *model);

//  Responses: /api/tags, /api/ps, /api/show, /v1/models, /v1/models/{id}
json_t *
    sim_models_tags (sim_models_t *self);
json_t *
    sim_models_ps (sim_models_t *self);
json_t *
    sim_models_show (sim_models_t *self, sim_model_t *model, bool verbose);
json_t *
    sim_models_v1_list (sim_models_t *self);
json_t *
    sim_models_v1_model (sim_model_t *model, const char *id);

//  Number of stored models
size_t
    sim_models_size (sim_models_t *self);

//  Self-test
void
    sim_models_test (void);

#endif

/*  =========================================================================
    sim_models - the models one backend stores, and which of them are loaded

    A model on disk shows in /api/tags. A model in memory shows in /api/ps
    with its expiry: a cold model loads on first use (taking load_ms), stays
    resident while requests use it, and unloads keep_alive after the last one
    ends. Expiry is evaluated lazily against the monotonic clock. Entries are
    reference counted so a pull or delete never frees a model that a running
    generation still points at.
    =========================================================================
*/

#ifndef SIM_MODELS_H_INCLUDED
#define SIM_MODELS_H_INCLUDED

#include "sim_fleet.h"
#include <jansson.h>
#include <stdint.h>

typedef struct _sim_models_t sim_models_t;

//  One stored model; fields are read-only outside sim_models
typedef struct {
    sim_model_spec_t spec;
    int64_t modified_ns;        //  wall clock
    int64_t ready_mono;         //  load completes at this time
    int64_t until_mono;         //  resident until then; 0 = not loaded
    int refs;                   //  requests using it, plus one while stored
    int users;                  //  requests using it now
    bool removed;
} sim_model_t;

//  Creates the store from the backend's configured models
sim_models_t *
    sim_models_new (const sim_backend_config_t *config);

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

//  A request starts using the model: loads it if cold. Returns the monotonic
//  time at which the model is ready (now if already loaded).
int64_t
    sim_models_use (sim_models_t *self, sim_model_t *model, int load_ms);

//  The request is done with the model: it stays for keep_alive_ms (forever
//  for SIM_CLOCK_FOREVER, unloads now for 0). Drops the request's reference.
void
    sim_models_unuse (sim_models_t *self, sim_model_t *model, int64_t keep_alive_ms);

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

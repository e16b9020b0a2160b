/*  =========================================================================
    sched_models - what modelsync says about each backend: which models it
    has, which are loaded, which are being pulled (proto/models.md)

    Follows the subscriber's rules of the contract: a STATE replaces every
    inventory and pull, an INVENTORY one backend's, a PULL one pull's
    (running or not). A backend whose inventory was never fetched has an
    unknown inventory and is not filtered by model. When modelsync goes
    silent the last inventories stay in force.
    =========================================================================
*/

#ifndef SCHED_MODELS_H_INCLUDED
#define SCHED_MODELS_H_INCLUDED

#include "of_classes.h"

typedef struct _sched_models_t sched_models_t;

//  Creates the view and connects a SUB to modelsync's publisher (NULL: then
//  only sched_models_apply feeds it). NULL if the connect failed.
sched_models_t *
    sched_models_new (const char *publisher);

//  Destroys the view; accepts NULL.
void
    sched_models_destroy (sched_models_t **self_p);

//  The SUB socket, to wait on (NULL when not connected).
zsock_t *
    sched_models_socket (sched_models_t *self);

//  Applies every message waiting on the socket, without blocking. Returns
//  true if a backend's inventory or a pull changed.
bool
    sched_models_recv (sched_models_t *self);

//  Applies one received message of the models protocol. Returns true if a
//  backend's inventory or a pull changed; a malformed message is counted.
bool
    sched_models_apply (sched_models_t *self, ofp_msg_t *msg);

//  True if the backend has the model, the model is "", or the backend's
//  inventory is unknown. "llama3" and "llama3:latest" are the same model.
bool
    sched_models_has (sched_models_t *self, const char *backend, const char *model);

//  True if modelsync has reported on the backend's inventory at all: fetched,
//  or its fetch failed (a backend it could never list stays unfiltered).
bool
    sched_models_reported (sched_models_t *self, const char *backend);

//  True if an inventory of the backend is held (modelsync fetched it).
bool
    sched_models_known (sched_models_t *self, const char *backend);

//  True if the backend's last inventory lists the model as loaded.
bool
    sched_models_loaded (sched_models_t *self, const char *backend, const char *model);

//  How many models the backend's last inventory lists as loaded; their keys
//  (borrowed, valid until the next message applied) fill models, up to max.
size_t
    sched_models_loaded_list (sched_models_t *self, const char *backend, const char **models,
                              size_t max);

//  True if modelsync pulls the model onto the backend now.
bool
    sched_models_pulling (sched_models_t *self, const char *backend, const char *model);

//  Messages refused as malformed.
uint64_t
    sched_models_malformed (sched_models_t *self);

//  Self test
void
    sched_models_test (bool verbose);

#endif

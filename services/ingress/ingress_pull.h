/*  =========================================================================
    ingress_pull - /api/pull and /api/delete through a frontend

    A pull adds the model to the frontend's RequiredModels (committed by
    configd before anything else), asks modelsync to start it on every
    healthy Ollama backend of the frontend (PULL-START), then follows the
    job's PULL messages (and STATE's Pulls, for ends it missed) and streams
    one merged Ollama progress stream (ingress_progress); with stream:false
    it answers once, at the end. Backends modelsync left out are named in
    the X-OllamaFlow-Pull-Skipped header. If modelsync restarts meanwhile,
    the new one is asked to start the pull again on the backends not done
    and the stream goes on (completed never goes back). A client that goes
    away stops the following only: the pull goes on, it is required now.

    A delete removes the model from RequiredModels (or the sync would pull
    it again), then asks modelsync to delete it on every Ollama backend of
    the frontend (DELETE-MODEL): 200 when deleted, 404 when no backend had
    it, 502 naming the backends that failed.
    =========================================================================
*/

#ifndef INGRESS_PULL_H_INCLUDED
#define INGRESS_PULL_H_INCLUDED

#include "ingress_models.h"

//  Creates the table of followed pulls; it takes the inventory feed's handler.
ingress_pulls_t *
    ingress_pulls_new (ingress_models_t *models);

//  Destroys; accepts NULL. Followed pulls end as their exchanges are freed.
void
    ingress_pulls_destroy (ingress_pulls_t **self_p);

//  POST /api/pull: body is the client's (borrowed), frontend the match.
void
    ingress_pull_start (ingress_models_t *models, of_exchange_t *exchange,
                        const of_frontend_t *frontend, json_t *body);

//  DELETE /api/delete: the same arguments.
void
    ingress_pull_delete (ingress_models_t *models, of_exchange_t *exchange,
                         const of_frontend_t *frontend, json_t *body);

#endif

/*  =========================================================================
    ingress_listing - the fleet's models as one Ollama would list them

    Pure functions from modelsync's inventories (models.md records) to the
    bodies of /api/tags, /api/ps, /v1/models and /v1/models/{id}: the union
    over the backends given, one entry per model as the scheduler routes it
    (by name: a name held with different digests is listed once, from a
    backend that has it loaded, else the most recently modified), in
    Ollama's and OpenAI's shapes. The caller chooses the backends (a frontend's
    active, healthy ones); nothing here asks a backend anything.
    =========================================================================
*/

#ifndef INGRESS_LISTING_H_INCLUDED
#define INGRESS_LISTING_H_INCLUDED

#include "of_classes.h"

//  Each function takes an array of inventory records (borrowed) and returns
//  a new JSON body.

//  {"models": [...]} as /api/tags: the models of every backend (Ollama's
//  generation routes reach OpenAI-format ones, translated), sorted by name.
json_t *
    ingress_listing_tags (json_t *inventories);

//  /api/show's answer for a model served by OpenAI-format backends, from
//  what their listing says; the fields only Ollama knows are empty and
//  named in "unknown". NULL when no inventory has the model.
json_t *
    ingress_listing_show (json_t *inventories, const char *name);

//  {"models": [...]} as /api/ps: the loaded models, longest expiry first.
json_t *
    ingress_listing_ps (json_t *inventories);

//  {"object": "list", "data": [...]} as /v1/models: every backend's models.
json_t *
    ingress_listing_openai (json_t *inventories);

//  One model as /v1/models/{id} answers it (id as asked), or NULL if no
//  backend has it.
json_t *
    ingress_listing_openai_model (json_t *inventories, const char *id);

//  True if a and b name the same model (ofp_models_key: ignoring case, and
//  "llama3" is "llama3:latest").
bool
    ingress_listing_same_model (const char *a, const char *b);

//  Seconds since the epoch of an RFC 3339 time ("2025-05-04T17:37:44.7-07:00"),
//  or 0 when it cannot be read.
int64_t
    ingress_listing_unix_time (const char *text);

//  Self test
void
    ingress_listing_test (bool verbose);

#endif

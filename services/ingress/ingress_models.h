/*  =========================================================================
    ingress_models - the model routes of the ingress

    Reads healthmon's and modelsync's publishers (their feeds in the
    ingress's ingress_watch), and answers, per frontend (by Host, as every route), from what they publish:
    /api/tags, /api/ps, /v1/models and /v1/models/{id} (ingress_listing), and
    /api/version. /api/pull and /api/delete go through configd and
    modelsync (ingress_pull). Never asks a backend anything itself.
    =========================================================================
*/

#ifndef INGRESS_MODELS_H_INCLUDED
#define INGRESS_MODELS_H_INCLUDED

#include "of_classes.h"
#include "of_exchange.h"
#include "ingress_feed.h"
#include "ingress_keys.h"
#include "ingress_watch.h"
#include "ingress_requester.h"
#include "ingress_required.h"
#include "ingress_route.h"

//  What /api/version says: the Ollama API version ollamaflow speaks (the
//  one its wire format follows, docs/notes/ollama-api.md), so that
//  clients enable what that version has. ollamaflow's own version goes in
//  the X-OllamaFlow-Version header.
#define INGRESS_OLLAMA_VERSION "0.13.0"
//  Pulls followed at once per replica; beyond, 503
#define INGRESS_PULLS_MAX 256
//  How long configd and modelsync may take to answer a request (each is
//  also given up on as soon as its publisher falls silent)
#define INGRESS_CONFIG_TIMEOUT_MS 10000
#define INGRESS_DELETE_TIMEOUT_MS 120000

typedef struct _ingress_pulls_t ingress_pulls_t;

//  What the model routes share; a plain record
typedef struct {
    of_settings_t *settings;
    struct event_base *base;
    of_clone_t *clone;                  //  the ingress's config copy (borrowed)
    ingress_feed_t *health;             //  healthmon's STATE and TRANSITIONs (borrowed)
    ingress_feed_t *inventory;          //  modelsync's STATE and INVENTORYs, PULLs (borrowed)
    ingress_requester_t *configd;       //  writes to RequiredModels (borrowed)
    ingress_requester_t *modelsync;     //  PULL-START, DELETE-MODEL
    ingress_required_t *required;
    ingress_pulls_t *pulls;             //  the pulls being followed (ingress_pull)
    ingress_keys_t *keys;               //  the key check (set by the ingress; borrowed)
} ingress_models_t;

//  Reads healthmon's and modelsync's feeds from watch, asks configd through
//  configd, and connects to modelsync's router. NULL if its endpoint is invalid.
ingress_models_t *
    ingress_models_new (struct event_base *base, of_settings_t *settings, of_clone_t *clone,
                        ingress_watch_t *watch, ingress_requester_t *configd);

//  Destroys; accepts NULL. Pulls still followed end without their last line.
void
    ingress_models_destroy (ingress_models_t **self_p);

//  Answers one request on a model route (version, listing, pull, delete).
void
    ingress_models_handle (ingress_models_t *self, of_exchange_t *exchange,
                           const ingress_route_t *route);

//  The frontend's backends whose inventories count: active, Healthy (by
//  healthmon), with an inventory. A new array of borrowed records.
json_t *
    ingress_models_inventories (ingress_models_t *self, const of_frontend_t *frontend);

//  Self test
void
    ingress_models_test (bool verbose);

#endif

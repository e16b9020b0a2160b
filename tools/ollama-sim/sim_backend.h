/*  =========================================================================
    sim_backend - one simulated Ollama (or OpenAI-only) server

    Owns its listening socket, its parallel slots and queue, its model store,
    its counters and its fault switches. Every request is counted and
    recorded (for the control endpoint), checked against the active faults
    and Ollama's Host-header rule, then routed: generation and embeddings go
    to sim_generate, model management to sim_manage, pull and push to
    sim_transfer. Routes are matched exactly, never by evhtp's prefix match.
    =========================================================================
*/

#ifndef SIM_BACKEND_H_INCLUDED
#define SIM_BACKEND_H_INCLUDED

#include "sim_cache.h"
#include "sim_fleet.h"
#include "sim_models.h"
#include "sim_req.h"
#include "sim_slots.h"
#include <event2/event.h>
#include <jansson.h>

typedef enum {
    SIM_ROUTE_ROOT, SIM_ROUTE_VERSION, SIM_ROUTE_TAGS, SIM_ROUTE_PS, SIM_ROUTE_SHOW,
    SIM_ROUTE_GENERATE, SIM_ROUTE_CHAT, SIM_ROUTE_EMBED, SIM_ROUTE_EMBEDDINGS,
    SIM_ROUTE_PULL, SIM_ROUTE_PUSH, SIM_ROUTE_COPY, SIM_ROUTE_DELETE, SIM_ROUTE_BLOBS,
    SIM_ROUTE_V1_CHAT, SIM_ROUTE_V1_COMPLETIONS, SIM_ROUTE_V1_EMBEDDINGS,
    SIM_ROUTE_V1_MODELS, SIM_ROUTE_V1_MODEL, SIM_ROUTE_HEALTH,
    SIM_ROUTE_UNKNOWN,
    SIM_ROUTE_COUNT
} sim_route_t;

typedef enum {
    SIM_STAT_REQUESTS,          //  every request received
    SIM_STAT_COMPLETED,         //  slot work that ran to its end
    SIM_STAT_CANCELLED,         //  client went away while queued or running
    SIM_STAT_BUSY,              //  503: queue full
    SIM_STAT_FORBIDDEN,         //  403: foreign Host
    SIM_STAT_FAULTED,           //  answered (or not) by an injected fault
    SIM_STAT_TOKENS,            //  tokens generated
    SIM_STAT_COUNT
} sim_stat_t;

typedef struct _sim_backend_t sim_backend_t;

//  Creates a backend and binds its port. config and fleet stay owned by the
//  caller and must outlive the backend; config is live (the control endpoint
//  changes it, then calls sim_backend_update). Returns NULL if it cannot bind.
sim_backend_t *
    sim_backend_new (struct event_base *base, sim_backend_config_t *config, sim_fleet_t *fleet);

//  Destroys the backend; accepts NULL
void
    sim_backend_destroy (sim_backend_t **self_p);

//  Applies a changed configuration: slots, listener (refuse, flap)
void
    sim_backend_update (sim_backend_t *self);

//  The bound port
int
    sim_backend_port (sim_backend_t *self);

//  Parts other modules work with
sim_backend_config_t *
    sim_backend_config (sim_backend_t *self);
sim_models_t *
    sim_backend_models (sim_backend_t *self);
sim_slots_t *
    sim_backend_slots (sim_backend_t *self);
sim_cache_t *
    sim_backend_cache (sim_backend_t *self);
sim_fleet_t *
    sim_backend_fleet (sim_backend_t *self);
struct event_base *
    sim_backend_base (sim_backend_t *self);

//  Adds to a counter
void
    sim_backend_count (sim_backend_t *self, sim_stat_t stat, uint64_t amount);

//  A pull starts (delta 1) or ends (-1): counts the pulls running and their peak
void
    sim_backend_count_pull (sim_backend_t *self, int delta);

//  True while the backend drops its connections on purpose (a fault), so
//  that work ended that way is not counted as a client cancellation
bool
    sim_backend_dropping (sim_backend_t *self);

//  A small number that grows with each OpenAI reply ("chatcmpl-<n>")
unsigned
    sim_backend_next_id (sim_backend_t *self);

//  Counters, slots, faults and the last request, as JSON (caller owns)
json_t *
    sim_backend_stats (sim_backend_t *self);

//  The last exchange (request and response, see sim_record) on the route of
//  path, or of any route when path is NULL; null if none; NULL if path is not
//  a route of this backend ("(unknown)" names the unknown paths)
json_t *
    sim_backend_last (sim_backend_t *self, const char *path);

//  Resets counters, peaks and the last request
void
    sim_backend_reset (sim_backend_t *self);

//  Puts the state back as at start: idle models loaded or not as the fleet
//  says, prompt caches empty
void
    sim_backend_flush (sim_backend_t *self);

//  True if a Host header value passes Ollama's check for loopback binds
bool
    sim_backend_host_allowed (const char *host);

#endif

/*  =========================================================================
    modelsync_backend - one backend modelsync watches: its config, health,
    model inventory and the fetches that keep the inventory current

    A fetch asks an Ollama backend for /api/tags and /api/ps at once, an
    OpenAI-format one for /v1/models, each bounded by Models.TimeoutMs.
    When every answer is good the lists are replaced and FetchedUtc set;
    otherwise the last good lists stay and Error says what went wrong. A
    fetch asked for while one runs is done again right after it, so an
    answer never predates the ask.
    =========================================================================
*/

#ifndef MODELSYNC_BACKEND_H_INCLUDED
#define MODELSYNC_BACKEND_H_INCLUDED

#include "of_classes.h"
#include "of_upstream.h"

typedef struct _modelsync_backend_t modelsync_backend_t;

//  A fetch ended; changed: the inventory as published (all but FetchedUtc)
//  changed. The backend may be destroyed here.
typedef void (modelsync_backend_fn) (void *arg, modelsync_backend_t *backend, bool changed);

//  Creates the watch of a backend: its record, from records (a reference to
//  the set is taken). pool and base are borrowed and must outlive it.
modelsync_backend_t *
    modelsync_backend_new (of_upstream_pool_t *pool, struct event_base *base,
                           of_records_t *records, const of_backend_t *config, int64_t timeout_ms,
                           modelsync_backend_fn *fetched, void *arg);

//  Destroys the watch, abandoning a fetch in flight; accepts NULL.
void
    modelsync_backend_destroy (modelsync_backend_t **self_p);

//  Takes a newer record of the backend, from records (a reference to the set
//  is taken, the old set's dropped). Returns true if the address, format or
//  credentials changed; a new ApiFormat forgets the lists.
bool
    modelsync_backend_set_config (modelsync_backend_t *self, of_records_t *records,
                                  const of_backend_t *config);

//  The record (borrowed: until the next modelsync_backend_set_config), the
//  Identifier, and whether it is OpenAI-format.
const of_backend_t *
    modelsync_backend_config (modelsync_backend_t *self);
const char *
    modelsync_backend_id (modelsync_backend_t *self);
bool
    modelsync_backend_openai (modelsync_backend_t *self);

//  Health as healthmon last said (Healthy or not); returns true if it changed.
bool
    modelsync_backend_set_healthy (modelsync_backend_t *self, bool healthy);
bool
    modelsync_backend_healthy (modelsync_backend_t *self);

//  Starts a fetch, or asks for one more after the one in flight.
void
    modelsync_backend_fetch (modelsync_backend_t *self);

//  Fetches ended so far, and whether one is in flight.
uint64_t
    modelsync_backend_generation (modelsync_backend_t *self);
bool
    modelsync_backend_fetching (modelsync_backend_t *self);

//  True once a fetch has succeeded; true if the last one failed.
bool
    modelsync_backend_known (modelsync_backend_t *self);
bool
    modelsync_backend_failing (modelsync_backend_t *self);

//  True if the inventory lists the model ("llama3" is "llama3:latest").
bool
    modelsync_backend_has (modelsync_backend_t *self, const char *model);

//  The Inventory record (models.md). Caller owns.
json_t *
    modelsync_backend_record (modelsync_backend_t *self);

#endif

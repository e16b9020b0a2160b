/*  =========================================================================
    sched_fleet - the frontends and backends as the scheduler routes them

    Compiled from the config's records (of_records) and the health view
    whenever either changes, so that deciding an ask reads what routing
    needs at hand: each frontend holds its backends in the order of its
    Backends list (the round-robin order), resolved, each backend its health,
    flags, limits and label set, and both the record they come from. A fleet
    never changes once built; a new one replaces it, taking over the
    round-robin cursors of the old one.
    =========================================================================
*/

#ifndef SCHED_FLEET_H_INCLUDED
#define SCHED_FLEET_H_INCLUDED

#include "of_classes.h"
#include "sched_queue.h"

typedef enum {
    SCHED_POLICY_ROUND_ROBIN,
    SCHED_POLICY_RANDOM,
    SCHED_POLICY_LEAST_OUTSTANDING,
    SCHED_POLICY_LEAST_LATENCY,
    SCHED_POLICY_PREDICTED_LATENCY
} sched_policy_t;

//  One backend (read-only for callers)
typedef struct {
    const char *id;
    const of_backend_t *record; //  NULL when not configured (the fleet's records)
    bool configured;            //  false: a frontend names it, the config lacks it
    bool active;
    bool healthy;               //  per healthmon, when the fleet was built
    bool allows [SCHED_KIND_COUNT];
    zhashx_t *labels;           //  its Labels, as a set
    size_t max_parallel;        //  MaxParallelRequests
    size_t queue_threshold;     //  RateLimitRequestsThreshold: asks that may wait for it
    bool openai;                //  ApiFormat OpenAI: serves /v1 routes only
} sched_backend_t;

//  One frontend (read-only for callers but for cursor)
typedef struct {
    const char *id;
    const of_frontend_t *record;//  the fleet's records
    bool active;
    bool allows [SCHED_KIND_COUNT];
    sched_policy_t policy;
    bool sticky;                //  UseStickySessions
    int64_t sticky_ms;          //  StickySessionExpirationMs
    sched_backend_t **backends; //  in the order of its Backends
    size_t count;
    zhashx_t *members;          //  backend id -> position + 1 in backends
    size_t cursor;              //  where the rotation goes on; the policies move it
} sched_frontend_t;

typedef struct _sched_fleet_t sched_fleet_t;

//  Tells whether a backend is healthy
typedef bool (sched_fleet_healthy_fn) (void *arg, const char *backend);

//  Called for each (frontend, backend) pair whose sessions must go; backend
//  is NULL for every backend of the frontend
typedef void (sched_fleet_lost_fn) (void *arg, const char *frontend, const char *backend);

//  Builds a fleet from the config's records (as of_clone_records gives them;
//  the fleet takes a reference, so they last as long as it) and the health.
//  Cursors are taken over from previous (may be NULL).
sched_fleet_t *
    sched_fleet_new (of_records_t *records, sched_fleet_healthy_fn *healthy, void *arg,
                     sched_fleet_t *previous);

//  Destroys a fleet; accepts NULL.
void
    sched_fleet_destroy (sched_fleet_t **self_p);

//  A frontend or a configured backend by Identifier, or NULL.
sched_frontend_t *
    sched_fleet_frontend (sched_fleet_t *self, const char *id);
sched_backend_t *
    sched_fleet_backend (sched_fleet_t *self, const char *id);

//  Walks the frontends or the configured backends, in no particular order.
sched_frontend_t *
    sched_fleet_first_frontend (sched_fleet_t *self);
sched_frontend_t *
    sched_fleet_next_frontend (sched_fleet_t *self);
sched_backend_t *
    sched_fleet_first_backend (sched_fleet_t *self);
sched_backend_t *
    sched_fleet_next_backend (sched_fleet_t *self);

//  True if the backend can take traffic at all: configured, active, healthy.
bool
    sched_fleet_serves (const sched_backend_t *backend);

//  Compares with the fleet it replaces: calls lost for each frontend of
//  previous that is gone, inactive or no longer sticky (backend NULL), and
//  for each of its backends that no longer serves it (unhealthy, inactive,
//  removed from the config or from the frontend), so that the sticky
//  sessions pinned there are dropped.
void
    sched_fleet_diff (sched_fleet_t *self, sched_fleet_t *previous, sched_fleet_lost_fn *lost,
                      void *arg);

//  Normalizes a JSON array of objects of a kind, given as text, into what
//  of_clone_objects gives (Identifier to object), for tests to compile into
//  records (of_records_new) after changing them. Caller owns.
json_t *
    sched_fleet_objects (of_kind_t kind, const char *text);

//  Self test
void
    sched_fleet_test (bool verbose);

#endif

/*  =========================================================================
    sched_pick - decides one ask: which backends are candidates, and which
    one the frontend's policy picks

    A candidate is a backend of the frontend that is configured, active,
    healthy, allows the ask's kind, carries every label asked for (exact
    match), has the model (when known) and is not excluded. A sticky session
    whose backend is a candidate decides alone. Then RoundRobin, Random,
    LeastOutstanding or LeastLatency picks among the candidates with a free
    slot (leases below MaxParallelRequests). Under LeastOutstanding and
    LeastLatency, the exploration rule comes first: a free candidate nothing
    is learned of (sched_speed_unexplored) and with no lease running gets
    the ask, unless that means a cold load of the model while a free
    candidate has it loaded. LeastLatency picks the one with
    the lowest expected time to first token (sched_speed), and may choose to
    wait for a faster backend that is full rather than start on a slow one
    that is free (the estimates and that choice: sched_predict). The verdict: GRANT that backend, WAIT for the candidates
    (all full, or waiting is expected to be faster), or DENY with the status
    the client gets.

    Deciding has one side effect: a grant moves the frontend's rotation.
    Pinning the session and counting the lease are the caller's.
    =========================================================================
*/

#ifndef SCHED_PICK_H_INCLUDED
#define SCHED_PICK_H_INCLUDED

#include "of_classes.h"
#include "sched_cost.h"
#include "sched_fleet.h"
#include "sched_models.h"
#include "sched_keys.h"
#include "sched_prefix.h"
#include "sched_queue.h"
#include "sched_sessions.h"
#include "sched_speed.h"
#include "sched_table.h"

//  Most backends in a frontend (of_schema's list limit)
#define SCHED_PICK_BACKENDS_MAX 1024
#define SCHED_PICK_MESSAGE_MAX  256

typedef enum {
    SCHED_PICK_GRANT,
    SCHED_PICK_WAIT,
    SCHED_PICK_DENY
} sched_verdict_t;

//  What deciding reads
typedef struct {
    sched_fleet_t *fleet;       //  NULL until the config is known
    sched_table_t *table;       //  leases per backend
    sched_sessions_t *sessions;
    sched_models_t *models;     //  model inventories
    int64_t now;                //  zclock_mono
    sched_speed_t *speed;       //  LeastLatency's estimates; NULL: nothing learned
    sched_cost_t *cost;         //  residency and rates per model; NULL: nothing learned
    sched_prefix_t *prefix;     //  prompt prefixes sent to each backend; NULL: none
    sched_queue_t *queue;       //  the asks waiting; NULL: none
    sched_keys_t *keys;         //  client API keys' limits; NULL: none
} sched_pick_env_t;

//  A verdict
typedef struct {
    sched_verdict_t verdict;
    sched_frontend_t *frontend;     //  when known
    sched_backend_t *backend;       //  GRANT: the backend
    bool sticky;                    //  GRANT: a session chose it
    //  WAIT: the candidates the ask waits for (a session's backend alone)
    const char *usable [SCHED_PICK_BACKENDS_MAX];
    size_t usable_count;
    //  WAIT by choice (LeastLatency): the free backend the ask would rather
    //  not use; the caller grants it if the ask cannot wait after all
    sched_backend_t *fallback;
    //  WAIT by choice (PredictedLatency): the full backend it waits for
    sched_backend_t *prefer;
    //  DENY: HTTP status, error name, message
    int status;
    const char *error;
    char message [SCHED_PICK_MESSAGE_MAX];
} sched_pick_t;

//  Decides an ask; fills pick.
void
    sched_pick_decide (sched_pick_env_t *env, const sched_ask_t *ask, sched_pick_t *pick);

//  True if the backend has a free slot (leases below MaxParallelRequests)
bool
    sched_pick_has_room (sched_pick_env_t *env, const sched_backend_t *backend);

//  Self test
void
    sched_pick_test (bool verbose);

#endif

/*  =========================================================================
    sched_predict - expected times of an ask on a backend, and waiting by
    choice for a full backend rather than starting on a free one

    LeastLatency's estimates are per backend, from first-byte times and
    lease durations (sched_speed); PredictedLatency's are per ask: the wait
    for a slot, the model's load when it is not resident, the prefill of the
    prompt the backend probably does not hold and one token, at the rates
    learned per backend and model (sched_cost, sched_prefix). Both policies
    may make an ask wait for a full backend when that is expected to be
    sooner than the free one picked; these functions say when. They read the
    pick's environment and change nothing.
    =========================================================================
*/

#ifndef SCHED_PREDICT_H_INCLUDED
#define SCHED_PREDICT_H_INCLUDED

#include "sched_pick.h"

//  PredictedLatency: asks that may choose to wait for one backend, per slot
//  (the multi-model scenario's cold loads, 5 seeds against HAProxy: 2 rounds
//  0.38x, 3 rounds 0.30x, 4 rounds 0.32x)
#define SCHED_PREDICT_HOLD_ROUNDS 3

//  How long the ask would wait for a slot of the full backend, in ms: its
//  mean lease duration times the asks that wait for it (itself excluded)
//  plus one, over its slots; -1 if its durations are not known
int64_t
    sched_predict_wait (sched_pick_env_t *env, const sched_ask_t *ask,
                        const sched_backend_t *backend);

//  LeastLatency's expected time to first token of a request started now on
//  the backend, in ms; 0 when nothing is learned
int64_t
    sched_predict_latency (sched_pick_env_t *env, const sched_backend_t *backend);

//  PredictedLatency's expected time to first token of the ask on the
//  backend, in µs, the wait for a slot included when it is full; -1 when a
//  full backend's wait is unknown
int64_t
    sched_predict (sched_pick_env_t *env, const sched_ask_t *ask, const sched_backend_t *backend);

//  LeastLatency: true if the ask had better wait for one of the full
//  candidates (positions in the frontend) than start on the free one picked
bool
    sched_predict_hold_latency (sched_pick_env_t *env, sched_frontend_t *frontend,
                                const sched_ask_t *ask, const size_t *candidates, size_t count,
                                sched_backend_t *picked);

//  PredictedLatency: the full candidate the ask had better wait for than
//  start on the free one picked, or NULL
sched_backend_t *
    sched_predict_hold (sched_pick_env_t *env, sched_frontend_t *frontend, const sched_ask_t *ask,
                        const size_t *candidates, size_t count, sched_backend_t *picked);

//  Self test
void
    sched_predict_test (bool verbose);

#endif

/*  =========================================================================
    sched_predict - expected times of an ask on a backend, and waiting by
    choice for a full backend
    =========================================================================
*/

#include "sched_predict.h"
#include <math.h>

//  Either policy waits for a full backend only if that promises a first token
//  at least this much sooner (percent) than the free one it passes over, and
//  only while the expected wait fits in half of what is left of DeadlineMs
#define S_HOLD_GAIN_PERCENT 10
#define S_HOLD_DEADLINE_SHARE 2
//  A lease's duration before one is learned (PredictedLatency's eviction wait)
#define S_DURATION_GUESS_MS 1000

//  A queued ask waits for every candidate it had, so the asks that wait for
//  the backend are counted without it
int64_t
sched_predict_wait (sched_pick_env_t *env, const sched_ask_t *ask, const sched_backend_t *backend)
{
    int64_t duration = env->speed ? sched_speed_duration (env->speed, backend->id, env->now) : -1;
    if (duration < 0 || backend->max_parallel == 0)
        return -1;
    size_t ahead = env->queue ? sched_queue_waiting (env->queue, backend->id) : 0;
    if (ahead && ask->arrival_handle)
        ahead--;
    //  Leases above a lowered cap must end before a slot frees
    size_t leases = sched_table_leases (env->table, backend->id);
    if (leases > backend->max_parallel)
        ahead += leases - backend->max_parallel;
    return duration * (int64_t) (ahead + 1) / (int64_t) backend->max_parallel;
}

int64_t
sched_predict_latency (sched_pick_env_t *env, const sched_backend_t *backend)
{
    assert (env && backend);
    return env->speed ? sched_speed_first_token (env->speed, backend->id, env->now) : 0;
}

//  PredictedLatency's estimate of the ask's time to first token on the
//  backend once it has a slot, in µs: the model's load when it is not
//  resident (and, when every model the backend holds is busy, half a lease
//  for one of them to go idle first), the prefill of the prompt's tokens the
//  backend probably does not hold, and one token. The rates are the
//  backend's learned ones (sched_cost), the held prefix the index's
//  (sched_prefix)
static int64_t
s_predict_free (sched_pick_env_t *env, const sched_ask_t *ask, const sched_backend_t *backend)
{
    if (!env->cost)
        return 0;
    int64_t total = 0;
    bool resident = sched_cost_resident (env->cost, env->models, env->table, backend->id,
                                         ask->model);
    if (!resident) {
        total += sched_cost_load_us (env->cost, backend->id, ask->model)
               + sched_cost_evict_us (env->cost, env->models, env->table, env->queue,
                                     backend->id);
        if (sched_cost_full (env->cost, env->models, env->table, backend->id)) {
            int64_t duration = env->speed ? sched_speed_duration (env->speed, backend->id,
                                                                  env->now) : -1;
            total += (duration > 0 ? duration : S_DURATION_GUESS_MS) * 1000 / 2;
        }
    }
    if (ask->prompt_bytes > 0) {
        //  A cache belongs to the model's runner: none when it is not loaded
        size_t matched = resident && env->prefix
                       ? sched_prefix_match (env->prefix, backend->id, ask->prefix) : 0;
        int64_t held = matched ? json_integer_value (json_array_get (ask->prefix_ends,
                                                                     matched - 1)) : 0;
        double tokens = (double) (ask->prompt_bytes - held)
                      * sched_cost_tokens_per_byte (env->cost);
        total += (int64_t) (tokens * sched_cost_prefill_us (env->cost, backend->id, ask->model));
    }
    return total + (int64_t) sched_cost_decode_us (env->cost, backend->id, ask->model);
}

int64_t
sched_predict (sched_pick_env_t *env, const sched_ask_t *ask, const sched_backend_t *backend)
{
    int64_t wait = 0;
    if (!sched_pick_has_room (env, backend)) {
        wait = sched_predict_wait (env, ask, backend);
        if (wait < 0)
            return -1;
    }
    return wait * 1000 + s_predict_free (env, ask, backend);
}

//  LeastLatency: true if the ask had better wait for a full candidate than
//  start on the free one picked: the wait plus that backend's time to first
//  token beats the free one's by S_HOLD_GAIN_PERCENT, and the wait fits the
//  ask's deadline. Never for an ask that may not wait, nor before the free
//  backend's speed is known (a new backend is tried, not avoided).
bool
sched_predict_hold_latency (sched_pick_env_t *env, sched_frontend_t *frontend,
                            const sched_ask_t *ask, const size_t *candidates, size_t count,
                            sched_backend_t *picked)
{
    int64_t picked_ms = sched_predict_latency (env, picked);
    if (ask->deadline_ms == 0 || picked_ms == 0)
        return false;
    int64_t left = ask->deadline - env->now;
    for (size_t index = 0; index < count; index++) {
        sched_backend_t *backend = frontend->backends [candidates [index]];
        if (sched_pick_has_room (env, backend))
            continue;
        int64_t wait = sched_predict_wait (env, ask, backend);
        if (wait < 0 || wait * S_HOLD_DEADLINE_SHARE > left)
            continue;
        int64_t expected = wait + sched_predict_latency (env, backend);
        if (expected * 100 < picked_ms * (100 - S_HOLD_GAIN_PERCENT))
            return true;
    }
    return false;
}

//  What a wait by choice is priced at: the expected wait plus one standard
//  deviation. Slots free at random, so the wait for the next of them is
//  about exponential (its deviation as long as its mean), and the wait behind
//  `ahead` asks is the sum of ahead + 1 such intervals (a deviation of the
//  mean over the root of ahead + 1). An ask that waits risks that tail, and
//  so does every ask queued behind it: the first in line waits only for a
//  clear saving (a long history's prefill), a model's load is worth a queue.
//  (Conversations, seed 1, TTFT p99: 6.1 s priced at the mean alone, 5.5 s
//  so, 5.4 s for HAProxy leastconn; multi-model's cold loads as before.)
static int64_t
s_wait_risk (int64_t wait, size_t ahead)
{
    return wait + (int64_t) ((double) wait / sqrt ((double) (ahead + 1)));
}

//  PredictedLatency: the full candidate the ask had better wait for than
//  start on the free one picked, or NULL; as LeastLatency decides
//  but on the predicted times (a resident model and a held prefix count).
//  The wait counts the asks that chose that backend before (its slots go to
//  them first), not every ask that could use it: in a queue where every ask
//  could use every backend that count is the whole queue, and no ask would
//  ever wait for its model's backend. The wait is priced with its risk
//  (s_wait_risk). And the imbalance is bounded: an ask
//  waits by choice for a backend only while fewer asks have chosen it than
//  SCHED_PREDICT_HOLD_ROUNDS times its slots, so a hot model or prefix spills over to
//  the other backends instead of queueing on its own.
sched_backend_t *
sched_predict_hold (sched_pick_env_t *env, sched_frontend_t *frontend, const sched_ask_t *ask,
                    const size_t *candidates, size_t count, sched_backend_t *picked)
{
    if (ask->deadline_ms == 0 || !env->speed || sched_speed_samples (env->speed, picked->id) == 0)
        return NULL;
    int64_t picked_us = sched_predict (env, ask, picked);
    int64_t left = ask->deadline - env->now;
    sched_backend_t *best = NULL;
    int64_t best_us = picked_us * (100 - S_HOLD_GAIN_PERCENT) / 100;
    for (size_t index = 0; index < count; index++) {
        sched_backend_t *backend = frontend->backends [candidates [index]];
        if (sched_pick_has_room (env, backend) || backend->max_parallel == 0)
            continue;
        size_t chosen = env->queue ? sched_queue_preferring (env->queue, backend->id) : 0;
        if (chosen && ask->prefer && streq (ask->prefer, backend->id))
            chosen--;
        if (chosen >= backend->max_parallel * SCHED_PREDICT_HOLD_ROUNDS)
            continue;
        int64_t duration = sched_speed_duration (env->speed, backend->id, env->now);
        if (duration < 0)
            continue;
        int64_t wait = duration * (int64_t) (chosen + 1) / (int64_t) backend->max_parallel;
        if (wait * S_HOLD_DEADLINE_SHARE > left)
            continue;
        int64_t expected = s_predict_free (env, ask, backend) + s_wait_risk (wait, chosen) * 1000;
        if (expected < best_us) {
            best_us = expected;
            best = backend;
        }
    }
    return best;
}

//  --------------------------------------------------------------------------
//  Self test (the policies' decisions are tested through sched_pick)

void
sched_predict_test (bool verbose)
{
    (void) verbose;
    printf (" * sched_predict: ");
    //  A wait by choice is priced at its mean plus one deviation, which
    //  shrinks relative to the mean as the asks ahead add up
    assert (s_wait_risk (100, 0) == 200);
    assert (s_wait_risk (100, 3) == 150);
    assert (s_wait_risk (0, 5) == 0);
    printf ("OK\n");
}

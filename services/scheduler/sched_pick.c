/*  =========================================================================
    sched_pick - decides one ask: candidates and the frontend's policy
    =========================================================================
*/

#include "sched_pick.h"
#include "sched_predict.h"

static const char *const s_kind_names [SCHED_KIND_COUNT] = {"completions", "embeddings", "other"};

static void
s_verdict (sched_pick_t *pick, sched_verdict_t verdict)
{
    pick->verdict = verdict;
}

static void
s_deny (sched_pick_t *pick, int status, const char *error, const char *format, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_deny (sched_pick_t *pick, int status, const char *error, const char *format, ...)
{
    s_verdict (pick, SCHED_PICK_DENY);
    pick->status = status;
    pick->error = error;
    va_list args;
    va_start (args, format);
    vsnprintf (pick->message, sizeof pick->message, format, args);
    va_end (args);
}

static void
s_grant (sched_pick_t *pick, sched_backend_t *backend, bool sticky)
{
    s_verdict (pick, SCHED_PICK_GRANT);
    pick->backend = backend;
    pick->sticky = sticky;
}

static bool
s_has_labels (const sched_backend_t *backend, json_t *labels)
{
    size_t index;
    json_t *label;
    json_array_foreach (labels, index, label)
        if (!zhashx_lookup (backend->labels, json_string_value (label)))
            return false;
    return true;
}

bool
sched_pick_has_room (sched_pick_env_t *env, const sched_backend_t *backend)
{
    return sched_table_leases (env->table, backend->id) < backend->max_parallel;
}

//  True if a has fewer leases than b relative to their MaxParallelRequests
static bool
s_less_loaded (sched_pick_env_t *env, const sched_backend_t *a, const sched_backend_t *b)
{
    size_t load_a = sched_table_leases (env->table, a->id);
    size_t load_b = sched_table_leases (env->table, b->id);
    return (uint64_t) load_a * b->max_parallel < (uint64_t) load_b * a->max_parallel;
}

//  True while nothing is learned of the backend: exploration's business
static bool
s_unexplored (sched_pick_env_t *env, const sched_backend_t *backend)
{
    return env->speed && sched_speed_unexplored (env->speed, backend->id);
}

//  LeastOutstanding's and LeastLatency's order: a backend that has the model
//  loaded first (no cold load; what LeastLatency learns is per backend, not
//  per model, so it does not see one coming), then for LeastLatency a
//  backend it has learned from (one it knows nothing of gets its asks from
//  s_explore, one at a time, or when the known ones are full), the lowest
//  expected time to first token, then the least loaded
static bool
s_better (sched_pick_env_t *env, const char *model, bool by_latency, const sched_backend_t *a,
          const sched_backend_t *b)
{
    bool loaded_a = sched_models_loaded (env->models, a->id, model);
    bool loaded_b = sched_models_loaded (env->models, b->id, model);
    if (loaded_a != loaded_b)
        return loaded_a;
    bool known_a = by_latency && env->speed && sched_speed_samples (env->speed, a->id) > 0;
    bool known_b = by_latency && env->speed && sched_speed_samples (env->speed, b->id) > 0;
    if (known_a != known_b)
        return known_a;
    int64_t first_a = by_latency ? sched_predict_latency (env, a) : 0;
    int64_t first_b = by_latency ? sched_predict_latency (env, b) : 0;
    if (first_a != first_b)
        return first_a < first_b;
    return s_less_loaded (env, a, b);
}

//  The exploration rule (LeastOutstanding, LeastLatency): the first free
//  candidate in rotation order from start that is unexplored and has no
//  lease running (one exploration ask at a time), unless taking it means a
//  cold load of the model while a free candidate has it loaded. Returns its
//  index in free, or count if there is none: then the policy's order. Only
//  free candidates are looked at, so it never overrides a full fleet.
static size_t
s_explore (sched_pick_env_t *env, sched_frontend_t *frontend, const char *model,
           const size_t *free, size_t count, size_t start)
{
    bool warm_room = false;
    for (size_t index = 0; index < count && !warm_room; index++)
        warm_room = sched_models_loaded (env->models, frontend->backends [free [index]]->id, model);
    for (size_t step = 0; step < count; step++) {
        size_t index = (start + step) % count;
        sched_backend_t *backend = frontend->backends [free [index]];
        if (s_unexplored (env, backend) && sched_table_leases (env->table, backend->id) == 0
        &&  (!warm_room || sched_models_loaded (env->models, backend->id, model)))
            return index;
    }
    return count;
}

//  Picks among free candidates (positions in the frontend, ascending) by the
//  frontend's policy, and moves the rotation past the one picked
static sched_backend_t *
s_policy_pick (sched_pick_env_t *env, sched_frontend_t *frontend, const sched_ask_t *ask,
               const size_t *free, size_t count)
{
    const char *model = ask->model;
    assert (count > 0);
    //  The rotation: the first free candidate at or after the cursor
    size_t start = 0;
    while (start < count && free [start] < frontend->cursor)
        start++;
    start %= count;
    size_t chosen = start;
    if (frontend->policy == SCHED_POLICY_RANDOM)
        chosen = (size_t) randof ((int) count);
    else
    if (frontend->policy == SCHED_POLICY_LEAST_OUTSTANDING
    ||  frontend->policy == SCHED_POLICY_LEAST_LATENCY
    ||  frontend->policy == SCHED_POLICY_PREDICTED_LATENCY) {
        bool by_latency = frontend->policy == SCHED_POLICY_LEAST_LATENCY;
        size_t explore = s_explore (env, frontend, model, free, count, start);
        if (explore < count)
            chosen = explore;
        else
        if (frontend->policy == SCHED_POLICY_PREDICTED_LATENCY) {
            //  The lowest predicted time to first token; ties to the least
            //  loaded, then in rotation order
            int64_t best = sched_predict (env, ask, frontend->backends [free [chosen]]);
            for (size_t step = 1; step < count; step++) {
                size_t index = (start + step) % count;
                sched_backend_t *backend = frontend->backends [free [index]];
                int64_t predicted = sched_predict (env, ask, backend);
                if (predicted < best
                ||  (predicted == best
                     && s_less_loaded (env, backend, frontend->backends [free [chosen]]))) {
                    best = predicted;
                    chosen = index;
                }
            }
        }
        else {
            //  Ties go to the first in rotation order, so an idle fleet is spread too
            for (size_t step = 1; step < count; step++) {
                size_t index = (start + step) % count;
                if (s_better (env, model, by_latency, frontend->backends [free [index]],
                              frontend->backends [free [chosen]]))
                    chosen = index;
            }
        }
    }
    if (frontend->policy != SCHED_POLICY_RANDOM)
        frontend->cursor = (free [chosen] + 1) % frontend->count;
    return frontend->backends [free [chosen]];
}

//  The frontend's candidates for the ask (positions, in the frontend's
//  order); with none, the verdict: WAIT for the backends pulling the model
//  asked for, or the DENY naming the first reason
static size_t
s_candidates (sched_pick_env_t *env, sched_frontend_t *frontend, const sched_ask_t *ask,
              size_t *candidates, sched_pick_t *pick)
{
    size_t count = 0, allowing = 0, speaking = 0, labelled = 0, stocked = 0;
    for (size_t index = 0; index < frontend->count && index < SCHED_PICK_BACKENDS_MAX; index++) {
        sched_backend_t *backend = frontend->backends [index];
        if (!backend->configured || !backend->active || !backend->allows [ask->kind])
            continue;
        allowing++;
        //  Ollama's own routes only to Ollama backends; /v1 routes to both
        if (ask->ollama_only && backend->openai)
            continue;
        speaking++;
        if (!s_has_labels (backend, ask->labels))
            continue;
        labelled++;
        bool usable = backend->healthy && !sched_ask_excludes (ask, backend->id);
        if (!sched_models_has (env->models, backend->id, ask->model)) {
            //  A model on its way: the ask may wait for it
            if (usable && sched_models_pulling (env->models, backend->id, ask->model))
                pick->usable [pick->usable_count++] = backend->id;
            continue;
        }
        stocked++;
        if (usable)
            candidates [count++] = index;
    }
    //  A backend modelsync has not reported on yet (just configured, or just
    //  started) may lack the model, whose 404 would reach the client: it is a
    //  candidate only while no backend is known to have the model
    if (count && *ask->model) {
        bool holder = false;
        for (size_t index = 0; index < count && !holder; index++)
            holder = sched_models_known (env->models, frontend->backends [candidates [index]]->id);
        size_t kept = 0;
        for (size_t index = 0; holder && index < count; index++)
            if (sched_models_reported (env->models, frontend->backends [candidates [index]]->id))
                candidates [kept++] = candidates [index];
        if (holder)
            count = kept;
    }
    if (allowing == 0)
        s_deny (pick, 403, "KindNotAllowed", "no active backend of '%s' allows %s", frontend->id,
                s_kind_names [ask->kind]);
    else
    if (speaking == 0)
        s_deny (pick, 404, "NotFound", "no active backend of '%s' serves Ollama's API (%s): "
                "its backends are OpenAI-format", frontend->id,
                json_string_value (json_object_get (ask->body, "Route")));
    else
    if (labelled == 0)
        s_deny (pick, 503, "NoHealthyBackend", "no active backend of '%s' carries every label "
                "asked for", frontend->id);
    else
    if (stocked == 0 && pick->usable_count)
        s_verdict (pick, SCHED_PICK_WAIT);
    else
    if (stocked == 0)
        //  Ollama's own words, which clients recognise
        s_deny (pick, 404, "NotFound", "model '%s' not found", ask->model);
    else
    if (count == 0 && *ask->model)
        s_deny (pick, 503, "NoHealthyBackend", "no healthy backend of '%s' has model '%s'",
                frontend->id, ask->model);
    else
    if (count == 0)
        s_deny (pick, 503, "NoHealthyBackend", "no healthy backend of '%s' can take the request",
                frontend->id);
    if (count)
        pick->usable_count = 0;
    return count;
}

//  A session whose backend is still a candidate decides, even if it must
//  wait; true if it did
static bool
s_sticky (sched_pick_env_t *env, sched_frontend_t *frontend, const sched_ask_t *ask,
          const size_t *candidates, size_t count, sched_pick_t *pick)
{
    if (!frontend->sticky || !ask->sticky_key)
        return false;
    const char *pinned =
        sched_sessions_lookup (env->sessions, frontend->id, ask->sticky_key, env->now);
    for (size_t index = 0; pinned && index < count; index++) {
        sched_backend_t *backend = frontend->backends [candidates [index]];
        if (!streq (backend->id, pinned))
            continue;
        if (sched_pick_has_room (env, backend))
            s_grant (pick, backend, true);
        else {
            s_verdict (pick, SCHED_PICK_WAIT);
            pick->usable [pick->usable_count++] = backend->id;
        }
        return true;
    }
    return false;
}

void
sched_pick_decide (sched_pick_env_t *env, const sched_ask_t *ask, sched_pick_t *pick)
{
    assert (env && env->table && env->sessions && env->models && ask && pick);
    pick->frontend = NULL;
    pick->backend = NULL;
    pick->sticky = false;
    pick->usable_count = 0;
    pick->fallback = NULL;
    pick->prefer = NULL;
    pick->status = 0;
    pick->error = NULL;
    pick->message [0] = 0;
    if (!env->fleet) {
        s_deny (pick, 503, "NoHealthyBackend", "the scheduler has no config yet");
        return;
    }
    sched_frontend_t *frontend = sched_fleet_frontend (env->fleet, ask->frontend);
    if (!frontend || !frontend->active) {
        s_deny (pick, 404, "NotFound", "no active frontend '%s'", ask->frontend);
        return;
    }
    pick->frontend = frontend;
    if (!frontend->allows [ask->kind]) {
        s_deny (pick, 403, "KindNotAllowed", "frontend '%s' does not allow %s", frontend->id,
                s_kind_names [ask->kind]);
        return;
    }
    size_t candidates [SCHED_PICK_BACKENDS_MAX];
    size_t count = s_candidates (env, frontend, ask, candidates, pick);
    if (count == 0 || s_sticky (env, frontend, ask, candidates, count, pick))
        return;

    size_t free [SCHED_PICK_BACKENDS_MAX];
    size_t free_count = 0;
    for (size_t index = 0; index < count; index++)
        if (sched_pick_has_room (env, frontend->backends [candidates [index]]))
            free [free_count++] = candidates [index];
    sched_backend_t *picked = NULL;
    if (free_count) {
        size_t cursor = frontend->cursor;
        picked = s_policy_pick (env, frontend, ask, free, free_count);
        if (frontend->policy == SCHED_POLICY_PREDICTED_LATENCY)
            pick->prefer = sched_predict_hold (env, frontend, ask, candidates, count, picked);
        if (pick->prefer
        ||  (frontend->policy == SCHED_POLICY_LEAST_LATENCY
             && sched_predict_hold_latency (env, frontend, ask, candidates, count, picked))) {
            frontend->cursor = cursor;
            pick->fallback = picked;
            picked = NULL;
        }
    }
    if (picked)
        s_grant (pick, picked, false);
    else {
        s_verdict (pick, SCHED_PICK_WAIT);
        for (size_t index = 0; index < count; index++)
            pick->usable [pick->usable_count++] = frontend->backends [candidates [index]]->id;
    }
}

//  --------------------------------------------------------------------------
//  Self test

typedef struct {
    sched_pick_env_t env;
    zhashx_t *sick;             //  backends the test says are not healthy
    json_t *frontends;
    json_t *backends;
    int leases;
} s_test_t;

static bool
s_test_healthy (void *arg, const char *backend)
{
    return zhashx_lookup (((s_test_t *) arg)->sick, backend) == NULL;
}

static void
s_test_rebuild (s_test_t *test)
{
    of_records_t *records = of_records_new (test->frontends, test->backends, NULL, NULL);
    sched_fleet_t *fleet = sched_fleet_new (records, s_test_healthy, test, test->env.fleet);
    of_records_destroy (&records);
    sched_fleet_destroy (&test->env.fleet);
    test->env.fleet = fleet;
}

static void
s_test_sick (s_test_t *test, const char *backend, bool sick)
{
    if (sick)
        zhashx_insert (test->sick, backend, (void *) 1);
    else
        zhashx_delete (test->sick, backend);
    s_test_rebuild (test);
}

//  Decides an ask given as LEASE JSON text; on GRANT, counts the lease
static void
s_test_decide (s_test_t *test, const char *lease, sched_pick_t *pick)
{
    json_t *body = json_loads (lease, 0, NULL);
    assert (body);
    json_t *defaults = json_pack ("{s:s, s:s, s:[], s:[], s:i}", "Kind", "completions", "Model",
                                  "", "Labels", "Exclude", "DeadlineMs", 1000);
    json_object_update_missing (body, defaults);
    json_decref (defaults);
    sched_ask_t *ask = sched_ask_new ("i1", "1", body, test->env.now);
    json_decref (body);
    sched_pick_decide (&test->env, ask, pick);
    if (pick->verdict == SCHED_PICK_GRANT) {
        char lease_id [16];
        snprintf (lease_id, sizeof lease_id, "%d", ++test->leases);
        sched_table_add (test->env.table, "0123456789abcdef", lease_id, "i1", pick->backend->id,
                         ask->frontend, NULL);
        if (pick->frontend->sticky && ask->sticky_key)
            sched_sessions_pin (test->env.sessions, ask->frontend, ask->sticky_key,
                                pick->backend->id, test->env.now, pick->frontend->sticky_ms);
        //  What the broker notes of a grant
        if (test->env.cost && *ask->model) {
            char model [OFP_MODELS_KEY_MAX];
            sched_cost_key (ask->model, model);
            bool cold = sched_cost_note_grant (test->env.cost, test->env.models, test->env.table,
                                               pick->backend->id, ask->model);
            sched_table_set_model (test->env.table,
                                   sched_table_lookup (test->env.table, "0123456789abcdef",
                                                       lease_id), model, cold, 0);
        }
        if (test->env.prefix && ask->prefix)
            sched_prefix_note (test->env.prefix, pick->backend->id, ask->prefix,
                               pick->backend->max_parallel * SCHED_PREFIX_CHAINS_PER_SLOT);
    }
    sched_ask_destroy (&ask);
}

//  The backend granted, "WAIT n" or the DENY's status
static const char *
s_test_verdict (s_test_t *test, const char *lease)
{
    static char verdict [64];
    sched_pick_t pick;
    s_test_decide (test, lease, &pick);
    if (pick.verdict == SCHED_PICK_GRANT)
        snprintf (verdict, sizeof verdict, "%s%s", pick.backend->id, pick.sticky ? "*" : "");
    else
    if (pick.verdict == SCHED_PICK_WAIT)
        snprintf (verdict, sizeof verdict, "WAIT %zu", pick.usable_count);
    else
        snprintf (verdict, sizeof verdict, "%d %s", pick.status, pick.error);
    return verdict;
}

static void
s_test_release_all (s_test_t *test)
{
    sched_table_register (test->env.table, "i1", test->env.now);
}

void
sched_pick_test (bool verbose)
{
    printf (" * sched_pick: ");
    if (verbose)
        printf ("\n");
    s_test_t test;
    memset (&test, 0, sizeof test);
    test.sick = zhashx_new ();
    test.env.table = sched_table_new ();
    test.env.sessions = sched_sessions_new (100);
    test.env.models = sched_models_new (NULL);
    test.env.now = 1000;
    sched_table_register (test.env.table, "i1", test.env.now);
    const char *f1 = "{\"Frontend\":\"f1\"}";
    assert (streq (s_test_verdict (&test, f1), "503 NoHealthyBackend"));

    test.backends = sched_fleet_objects (OF_KIND_BACKEND,
        "[{\"Identifier\":\"b1\",\"MaxParallelRequests\":2,\"Labels\":[\"gpu\",\"eu\"]},"
        "{\"Identifier\":\"b2\",\"MaxParallelRequests\":2,\"AllowEmbeddings\":false},"
        "{\"Identifier\":\"b3\",\"MaxParallelRequests\":2,\"Labels\":[\"gpu\"]},"
        "{\"Identifier\":\"b4\",\"Active\":false},"
        "{\"Identifier\":\"b5\",\"ApiFormat\":\"OpenAI\"}]");
    test.frontends = sched_fleet_objects (OF_KIND_FRONTEND,
        "[{\"Identifier\":\"f1\",\"Backends\":[\"b1\",\"b2\",\"b3\",\"b4\"]},"
        "{\"Identifier\":\"f2\",\"Backends\":[\"b1\",\"b2\",\"b3\"],"
        "\"LoadBalancing\":\"LeastOutstanding\",\"UseStickySessions\":true,"
        "\"AllowCompletions\":false},"
        "{\"Identifier\":\"off\",\"Active\":false,\"Backends\":[\"b1\"]},"
        "{\"Identifier\":\"only2\",\"Backends\":[\"b2\",\"b4\"]},"
        "{\"Identifier\":\"mixed\",\"Backends\":[\"b5\",\"b3\"]},"
        "{\"Identifier\":\"openai\",\"Backends\":[\"b5\"]},"
        "{\"Identifier\":\"ll\",\"Backends\":[\"b1\",\"b2\",\"b3\"],"
        "\"LoadBalancing\":\"LeastLatency\",\"UseStickySessions\":true},"
        "{\"Identifier\":\"ex\",\"Backends\":[\"b1\",\"b2\",\"b3\"],"
        "\"LoadBalancing\":\"LeastLatency\"},"
        "{\"Identifier\":\"exo\",\"Backends\":[\"b1\",\"b2\",\"b3\"],"
        "\"LoadBalancing\":\"LeastOutstanding\"},"
        "{\"Identifier\":\"pl\",\"Backends\":[\"b1\",\"b2\",\"b3\"],"
        "\"LoadBalancing\":\"PredictedLatency\",\"UseStickySessions\":true}]");
    s_test_rebuild (&test);

    //  Round robin, stable when a backend is out of the rotation
    assert (streq (s_test_verdict (&test, f1), "b1"));
    assert (streq (s_test_verdict (&test, f1), "b2"));
    assert (streq (s_test_verdict (&test, f1), "b3"));
    s_test_release_all (&test);
    s_test_sick (&test, "b2", true);
    assert (streq (s_test_verdict (&test, f1), "b1"));
    assert (streq (s_test_verdict (&test, f1), "b3"));
    assert (streq (s_test_verdict (&test, f1), "b1"));
    assert (streq (s_test_verdict (&test, f1), "b3"));
    //  Both full: wait for the two of them
    assert (streq (s_test_verdict (&test, f1), "WAIT 2"));
    s_test_release_all (&test);
    s_test_sick (&test, "b2", false);

    //  Labels: exact, every one
    const char *gpu_eu = "{\"Frontend\":\"f1\",\"Labels\":[\"gpu\",\"eu\"]}";
    assert (streq (s_test_verdict (&test, gpu_eu), "b1"));
    assert (streq (s_test_verdict (&test, gpu_eu), "b1"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"f1\",\"Labels\":[\"gpu\"]}"), "b3"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"f1\",\"Labels\":[\"e\"]}"),
                   "503 NoHealthyBackend"));
    assert (streq (s_test_verdict (&test, gpu_eu), "WAIT 1"));
    s_test_release_all (&test);

    //  Kinds, frontends, exclusions
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"f1\",\"Kind\":\"embeddings\"}"), "b1"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"f2\",\"Kind\":\"completions\"}"),
                   "403 KindNotAllowed"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"only2\",\"Kind\":\"embeddings\"}"),
                   "403 KindNotAllowed"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"nope\"}"), "404 NotFound"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"off\"}"), "404 NotFound"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"f1\",\"Exclude\":[\"b1\",\"b2\",\"b3\"]}"),
                   "503 NoHealthyBackend"));
    s_test_release_all (&test);

    //  API formats: Ollama's own routes go to Ollama backends only, /v1 routes
    //  and the Ollama routes the ingress translates to both
    const char *mixed_api = "{\"Frontend\":\"mixed\",\"Route\":\"POST /api/show\"}";
    const char *mixed_v1 = "{\"Frontend\":\"mixed\",\"Route\":\"POST /v1/chat/completions\"}";
    assert (streq (s_test_verdict (&test, mixed_api), "b3"));
    assert (streq (s_test_verdict (&test, mixed_api), "b3"));
    assert (streq (s_test_verdict (&test, mixed_api), "WAIT 1"));
    s_test_release_all (&test);
    assert (streq (s_test_verdict (&test, mixed_v1), "b5"));
    assert (streq (s_test_verdict (&test, mixed_v1), "b3"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"mixed\"}"), "b5"));
    assert (streq (s_test_verdict (&test,
                   "{\"Frontend\":\"openai\",\"Route\":\"POST /api/show\"}"),
                   "404 NotFound"));
    assert (streq (s_test_verdict (&test,
                   "{\"Frontend\":\"openai\",\"Route\":\"POST /api/embed\"}"), "b5"));
    s_test_release_all (&test);
    assert (streq (s_test_verdict (&test,
                   "{\"Frontend\":\"openai\",\"Route\":\"POST /v1/embeddings\"}"), "b5"));
    s_test_release_all (&test);

    //  Models: known inventories filter, unknown ones do not
    json_t *inventory = json_pack ("{s:s, s:i, s:s, s:s, s:[{s:s, s:s, s:{}}], s:[], s:s}",
                                   "Epoch", "0123456789abcdef", "Sequence", 1, "Backend", "b1",
                                   "ApiFormat", "Ollama", "Models", "Name", "llama3:latest",
                                   "Model", "llama3:latest", "Details", "Loaded", "FetchedUtc",
                                   "2025-01-01T00:00:00.000000Z");
    ofp_msg_t *msg = ofp_msg_new (&ofp_models_protocol, "INVENTORY", NULL, &inventory);
    sched_models_apply (test.env.models, msg);
    ofp_msg_destroy (&msg);
    const char *llama = "{\"Frontend\":\"f1\",\"Model\":\"llama3\",\"Labels\":[\"eu\"]}";
    assert (streq (s_test_verdict (&test, llama), "b1"));
    const char *qwen = "{\"Frontend\":\"f1\",\"Model\":\"qwen\",\"Labels\":[\"eu\"]}";
    sched_pick_t pick;
    s_test_decide (&test, qwen, &pick);
    assert (pick.verdict == SCHED_PICK_DENY && pick.status == 404);
    assert (streq (pick.message, "model 'qwen' not found"));
    //  A model being pulled onto a candidate: the ask waits for it
    json_t *pull = json_pack ("{s:s, s:i, s:s, s:s, s:s, s:b}", "Epoch", "0123456789abcdef",
                              "Sequence", 2, "Backend", "b1", "Model", "qwen:latest", "Status",
                              "pulling manifest", "Done", 0);
    msg = ofp_msg_new (&ofp_models_protocol, "PULL", NULL, &pull);
    assert (sched_models_apply (test.env.models, msg));
    ofp_msg_destroy (&msg);
    assert (streq (s_test_verdict (&test, qwen), "WAIT 1"));
    //  The only backend with the model is not healthy: a clear refusal
    s_test_sick (&test, "b1", true);
    s_test_decide (&test, llama, &pick);
    assert (pick.verdict == SCHED_PICK_DENY && pick.status == 503);
    assert (streq (pick.message, "no healthy backend of 'f1' has model 'llama3'"));
    assert (streq (s_test_verdict (&test, qwen), "404 NotFound"));
    s_test_sick (&test, "b1", false);
    s_test_release_all (&test);
    //  b2 and b3 not reported on yet: while b1 is known to have the model,
    //  they are no candidates for it, even with b1 full (they may lack it)
    const char *anywhere = "{\"Frontend\":\"f1\",\"Model\":\"llama3\"}";
    assert (streq (s_test_verdict (&test, anywhere), "b1"));
    assert (streq (s_test_verdict (&test, anywhere), "b1"));
    assert (streq (s_test_verdict (&test, anywhere), "WAIT 1"));
    //  A model no backend is known to have: the unreported ones may serve it
    const char *mistral = "{\"Frontend\":\"f1\",\"Model\":\"mistral\"}";
    char other [16];
    snprintf (other, sizeof other, "%s", s_test_verdict (&test, mistral));
    assert (streq (other, "b2") || streq (other, "b3"));
    //  b2's listing failed (reported, never fetched): it is unfiltered again
    inventory = json_pack ("{s:s, s:i, s:s, s:s, s:[], s:[], s:s}", "Epoch", "0123456789abcdef",
                           "Sequence", 3, "Backend", "b2", "ApiFormat", "Ollama", "Models",
                           "Loaded", "Error", "connect: connection refused");
    msg = ofp_msg_new (&ofp_models_protocol, "INVENTORY", NULL, &inventory);
    assert (sched_models_apply (test.env.models, msg));
    ofp_msg_destroy (&msg);
    assert (streq (s_test_verdict (&test, anywhere), "b2"));
    s_test_release_all (&test);

    //  Least outstanding, relative to MaxParallelRequests; sticky sessions
    const char *alice = "{\"Frontend\":\"f2\",\"Kind\":\"other\",\"StickyKey\":\"alice\"}";
    const char *bob = "{\"Frontend\":\"f2\",\"Kind\":\"other\",\"StickyKey\":\"bob\"}";
    assert (streq (s_test_verdict (&test, alice), "b1"));
    assert (streq (s_test_verdict (&test, bob), "b2"));
    assert (streq (s_test_verdict (&test, alice), "b1*"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"f2\",\"Kind\":\"other\"}"), "b3"));
    //  b1 is full: alice waits for it alone; then b1 turns unhealthy and she moves
    assert (streq (s_test_verdict (&test, alice), "WAIT 1"));
    s_test_sick (&test, "b1", true);
    assert (streq (s_test_verdict (&test, alice), "b2"));
    assert (streq (s_test_verdict (&test, alice), "WAIT 1"));
    s_test_release_all (&test);
    assert (streq (s_test_verdict (&test, alice), "b2*"));
    //  Sessions respect labels: b2 lacks "eu", so alice goes elsewhere this time
    s_test_sick (&test, "b1", false);
    assert (streq (s_test_verdict (&test,
                   "{\"Frontend\":\"f2\",\"Kind\":\"other\",\"StickyKey\":\"alice\","
                   "\"Labels\":[\"eu\"]}"), "b1"));

    //  LeastOutstanding prefers a backend where the model is loaded, while it has room
    inventory = json_pack ("{s:s, s:i, s:s, s:s, s:[{s:s, s:s, s:{}}], s:[{s:s}], s:s}",
                           "Epoch", "0123456789abcdef", "Sequence", 3, "Backend", "b3",
                           "ApiFormat", "Ollama", "Models", "Name", "llama3:latest", "Model",
                           "llama3:latest", "Details", "Loaded", "Name", "llama3:latest",
                           "FetchedUtc", "2025-01-01T00:00:00.000000Z");
    msg = ofp_msg_new (&ofp_models_protocol, "INVENTORY", NULL, &inventory);
    sched_models_apply (test.env.models, msg);
    ofp_msg_destroy (&msg);
    const char *loaded = "{\"Frontend\":\"f2\",\"Kind\":\"other\",\"Model\":\"llama3\"}";
    assert (streq (s_test_verdict (&test, loaded), "b3"));
    assert (streq (s_test_verdict (&test, loaded), "b3"));
    assert (!streq (s_test_verdict (&test, loaded), "b3"));
    s_test_release_all (&test);

    //  LeastLatency: with nothing learned, every backend is tried, spread in
    //  rotation order
    s_test_release_all (&test);
    test.env.speed = sched_speed_new ();
    test.env.queue = sched_queue_new ();
    const char *ll = "{\"Frontend\":\"ll\"}";
    assert (streq (s_test_verdict (&test, ll), "b1"));
    assert (streq (s_test_verdict (&test, ll), "b2"));
    assert (streq (s_test_verdict (&test, ll), "b3"));
    s_test_release_all (&test);
    //  Learned: b2 is fast, b3 middling, b1 slow (first byte, duration in ms)
    for (int round = 0; round < 8; round++) {
        sched_speed_note (test.env.speed, "b1", 800, 4000, test.env.now);
        sched_speed_note (test.env.speed, "b2", 50, 500, test.env.now);
        sched_speed_note (test.env.speed, "b3", 200, 1500, test.env.now);
    }
    //  The fastest while it has room, then the next fastest
    assert (streq (s_test_verdict (&test, ll), "b2"));
    assert (streq (s_test_verdict (&test, ll), "b2"));
    assert (streq (s_test_verdict (&test, ll), "b3"));
    assert (streq (s_test_verdict (&test, ll), "b3"));
    //  Only the slow one is free: waiting for b2 (500 ms / 2 slots, then 50
    //  ms) beats starting on b1 (800 ms): the ask waits, b1 in reserve
    s_test_decide (&test, ll, &pick);
    assert (pick.verdict == SCHED_PICK_WAIT && pick.usable_count == 3);
    assert (pick.fallback && streq (pick.fallback->id, "b1"));
    //  An ask that may not wait, or not long enough, starts on b1 at once
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"ll\",\"DeadlineMs\":0}"), "b1"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"ll\",\"DeadlineMs\":400}"), "b1"));
    //  With asks already waiting for b2, the wait grows and b1 is worth it
    s_test_release_all (&test);
    assert (streq (s_test_verdict (&test, ll), "b2"));
    assert (streq (s_test_verdict (&test, ll), "b2"));
    assert (streq (s_test_verdict (&test, ll), "b3"));
    assert (streq (s_test_verdict (&test, ll), "b3"));
    json_t *waiting_body = json_pack ("{s:s, s:s, s:s, s:[], s:[], s:i}", "Frontend", "ll",
                                      "Kind", "completions", "Model", "", "Labels", "Exclude",
                                      "DeadlineMs", 1000);
    const char *b2_only [] = {"b2"};
    for (int round = 0; round < 6; round++) {
        char id [8];
        snprintf (id, sizeof id, "w%d", round);
        sched_ask_t *waiting = sched_ask_new ("i1", id, waiting_body, test.env.now);
        sched_queue_push (test.env.queue, &waiting, b2_only, 1);
    }
    json_decref (waiting_body);
    assert (streq (s_test_verdict (&test, ll), "b1"));
    //  Sticky sessions still decide alone: the session's backend, even the slow one
    const char *carol = "{\"Frontend\":\"ll\",\"StickyKey\":\"carol\"}";
    assert (streq (s_test_verdict (&test, carol), "b1"));
    assert (streq (s_test_verdict (&test, carol), "WAIT 1"));
    s_test_release_all (&test);
    assert (streq (s_test_verdict (&test, carol), "b1*"));
    s_test_release_all (&test);
    //  Labels and exclusions still filter: b1 alone carries "eu"
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"ll\",\"Labels\":[\"eu\"]}"), "b1"));
    assert (streq (s_test_verdict (&test, "{\"Frontend\":\"ll\",\"Exclude\":[\"b2\"]}"), "b3"));
    s_test_release_all (&test);
    //  A backend that got faster is noticed, and what was learned fades:
    //  after a quiet while the slow one is tried again
    for (int round = 0; round < 40; round++)
        sched_speed_note (test.env.speed, "b3", 20, 300, test.env.now);
    assert (streq (s_test_verdict (&test, ll), "b3"));
    s_test_release_all (&test);
    sched_speed_note (test.env.speed, "b2", 50, 500, test.env.now + 10 * SCHED_SPEED_HALF_LIFE_MS);
    sched_speed_note (test.env.speed, "b3", 20, 300, test.env.now + 10 * SCHED_SPEED_HALF_LIFE_MS);
    test.env.now += 10 * SCHED_SPEED_HALF_LIFE_MS;
    assert (streq (s_test_verdict (&test, ll), "b1"));
    test.env.now -= 10 * SCHED_SPEED_HALF_LIFE_MS;
    s_test_release_all (&test);
    sched_speed_destroy (&test.env.speed);

    //  Exploration: b1 has llama3 but not loaded (cold), b3 has it loaded;
    //  now b2 has it loaded too, and b2 alone is known (fast)
    s_test_release_all (&test);
    inventory = json_pack ("{s:s, s:i, s:s, s:s, s:[{s:s, s:s, s:{}}], s:[{s:s}], s:s}",
                           "Epoch", "0123456789abcdef", "Sequence", 4, "Backend", "b2",
                           "ApiFormat", "Ollama", "Models", "Name", "llama3:latest", "Model",
                           "llama3:latest", "Details", "Loaded", "Name", "llama3:latest",
                           "FetchedUtc", "2025-01-01T00:00:00.000000Z");
    msg = ofp_msg_new (&ofp_models_protocol, "INVENTORY", NULL, &inventory);
    assert (sched_models_apply (test.env.models, msg));
    ofp_msg_destroy (&msg);
    test.env.speed = sched_speed_new ();
    sched_speed_note (test.env.speed, "b2", 50, 500, test.env.now);
    const char *ex = "{\"Frontend\":\"ex\",\"Model\":\"llama3\"}";
    //  The new warm backend gets the next ask, though b2 is known to be fast...
    assert (streq (s_test_verdict (&test, ex), "b3"));
    //  ...one ask at a time: while it runs, the known backend takes the next
    assert (streq (s_test_verdict (&test, ex), "b2"));
    assert (streq (s_test_verdict (&test, ex), "b2"));
    //  b2 full: the warm unknown one before the cold one (no cold load while
    //  a warm backend has room), then the cold one, the fleet's last free slot
    assert (streq (s_test_verdict (&test, ex), "b3"));
    assert (streq (s_test_verdict (&test, ex), "b1"));
    assert (streq (s_test_verdict (&test, ex), "b1"));
    //  The fleet full: the ask waits for all, whatever is unexplored
    assert (streq (s_test_verdict (&test, ex), "WAIT 3"));
    //  Never with a cold load while a warm backend has room: b1 is never
    //  explored for llama3 while b2 or b3 is free
    s_test_release_all (&test);
    sched_speed_note (test.env.speed, "b3", 300, 1000, test.env.now);
    assert (sched_speed_unexplored (test.env.speed, "b1"));
    for (int round = 0; round < 4; round++)
        assert (!streq (s_test_verdict (&test, ex), "b1"));
    //  For an ask with no model (or a model loaded nowhere) b1 is not cold
    //  next to the others: explored at once
    s_test_release_all (&test);
    const char *any = "{\"Frontend\":\"ex\"}";
    assert (streq (s_test_verdict (&test, any), "b1"));
    assert (streq (s_test_verdict (&test, any), "b2"));
    //  A backend whose leases only fail is explored SCHED_SPEED_EXPLORE_MISSES
    //  times, then ranked after the backends that answer
    s_test_release_all (&test);
    for (int miss = 0; miss < SCHED_SPEED_EXPLORE_MISSES; miss++) {
        assert (streq (s_test_verdict (&test, any), "b1"));
        s_test_release_all (&test);
        sched_speed_note_miss (test.env.speed, "b1");
    }
    assert (streq (s_test_verdict (&test, any), "b2"));
    assert (streq (s_test_verdict (&test, any), "b2"));
    assert (streq (s_test_verdict (&test, any), "b3"));
    sched_speed_destroy (&test.env.speed);

    //  LeastOutstanding explores too: the new backend takes the next ask it
    //  can serve, not the next in rotation among the idle ones
    s_test_release_all (&test);
    test.env.speed = sched_speed_new ();
    sched_speed_note (test.env.speed, "b1", 50, 500, test.env.now);
    sched_speed_note (test.env.speed, "b2", 50, 500, test.env.now);
    const char *exo = "{\"Frontend\":\"exo\"}";
    assert (streq (s_test_verdict (&test, exo), "b3"));
    assert (streq (s_test_verdict (&test, exo), "b1"));
    assert (streq (s_test_verdict (&test, exo), "b2"));
    //  Never beyond MaxParallelRequests: six slots, then the ask waits
    for (int round = 0; round < 3; round++)
        assert (strncmp (s_test_verdict (&test, exo), "b", 1) == 0);
    assert (streq (s_test_verdict (&test, exo), "WAIT 3"));
    s_test_release_all (&test);
    sched_speed_destroy (&test.env.speed);
    sched_queue_destroy (&test.env.queue);

    //  PredictedLatency: every backend known (nothing to explore), llama3
    //  loaded on b2 and b3, not on b1
    s_test_release_all (&test);
    test.env.speed = sched_speed_new ();
    test.env.queue = sched_queue_new ();
    test.env.cost = sched_cost_new ();
    test.env.prefix = sched_prefix_new ();
    for (int round = 0; round < 4; round++) {
        sched_speed_note (test.env.speed, "b1", 100, 400, test.env.now);
        sched_speed_note (test.env.speed, "b2", 100, 400, test.env.now);
        sched_speed_note (test.env.speed, "b3", 100, 400, test.env.now);
    }
    //  The model where it is resident while that has room, never the free cold b1...
    const char *resident = "{\"Frontend\":\"pl\",\"Model\":\"llama3\"}";
    for (int round = 0; round < 4; round++)
        assert (!streq (s_test_verdict (&test, resident), "b1"));
    //  ...then waiting for a warm slot (200 ms, priced with its risk at
    //  400) beats a cold load (5 s guessed)
    s_test_decide (&test, resident, &pick);
    assert (pick.verdict == SCHED_PICK_WAIT && pick.fallback && streq (pick.fallback->id, "b1"));
    assert (pick.prefer && !streq (pick.prefer->id, "b1"));
    //  Asks that merely could use b2 and b3 do not count against the bound:
    //  with a queue of them an ask still waits for its warm backend (with a
    //  deadline long enough for SCHED_PREDICT_HOLD_ROUNDS rounds of leases)
    const char *patient = "{\"Frontend\":\"pl\",\"Model\":\"llama3\",\"DeadlineMs\":60000}";
    json_t *hot_body = json_pack ("{s:s, s:s, s:s, s:[], s:[], s:i}", "Frontend", "pl", "Kind",
                                  "completions", "Model", "llama3", "Labels", "Exclude",
                                  "DeadlineMs", 60000);
    const char *warm [] = {"b2", "b3"};
    sched_ask_t *queued [2 * 2 * SCHED_PREDICT_HOLD_ROUNDS];
    for (int index = 0; index < 2 * 2 * SCHED_PREDICT_HOLD_ROUNDS; index++) {
        char id [8];
        snprintf (id, sizeof id, "h%d", index);
        sched_ask_t *waiting = sched_ask_new ("i1", id, hot_body, test.env.now);
        queued [index] = waiting;
        sched_queue_push (test.env.queue, &waiting, warm, 2);
    }
    s_test_decide (&test, patient, &pick);
    assert (pick.verdict == SCHED_PICK_WAIT && pick.prefer);
    //  With SCHED_PREDICT_HOLD_ROUNDS rounds of asks having chosen each of b2 and b3,
    //  the hot model spills over to b1 (the bound on imbalance)
    for (int index = 0; index < 2 * 2 * SCHED_PREDICT_HOLD_ROUNDS; index++) {
        sched_queue_set_prefer (test.env.queue, queued [index], warm [index % 2]);
        if (index < 2 * 2 * SCHED_PREDICT_HOLD_ROUNDS - 1) {
            s_test_decide (&test, patient, &pick);
            assert (pick.verdict == SCHED_PICK_WAIT && pick.prefer);
        }
    }
    resident = patient;
    json_decref (hot_body);
    assert (streq (s_test_verdict (&test, resident), "b1"));
    //  b1 took llama3 (a grant: about to be resident), so the next goes there too
    assert (streq (s_test_verdict (&test, resident), "b1"));
    sched_queue_destroy (&test.env.queue);
    test.env.queue = sched_queue_new ();
    s_test_release_all (&test);

    //  A conversation goes back to the backend holding its history while it
    //  has room (4000 bytes held against 4200 to prefill elsewhere)
    const char *turn1 = "{\"Frontend\":\"pl\",\"Prefix\":[\"00000000000000a1\","
                        "\"00000000000000a2\"],\"PrefixEnds\":[4000,4100]}";
    const char *turn2 = "{\"Frontend\":\"pl\",\"Prefix\":[\"00000000000000a1\","
                        "\"00000000000000a2\",\"00000000000000a3\"],\"PrefixEnds\":[4000,4100,4200]}";
    char holder [16];
    snprintf (holder, sizeof holder, "%s", s_test_verdict (&test, turn1));
    s_test_release_all (&test);
    assert (streq (s_test_verdict (&test, turn2), holder));
    assert (streq (s_test_verdict (&test, turn2), holder));
    //  Full: an ask that may not wait goes elsewhere (and then that backend
    //  holds its prefix too); one that may waits for the holder
    assert (!streq (s_test_verdict (&test,
                    "{\"Frontend\":\"pl\",\"DeadlineMs\":0,\"Prefix\":[\"00000000000000a1\","
                    "\"00000000000000c2\"],\"PrefixEnds\":[4000,4300]}"), holder));
    assert (!streq (s_test_verdict (&test,
                    "{\"Frontend\":\"pl\",\"Prefix\":[\"00000000000000a1\","
                    "\"00000000000000c2\",\"00000000000000c3\"],\"PrefixEnds\":[4000,4300,4400]}"),
                    holder));

    s_test_decide (&test, turn2, &pick);
    assert (pick.verdict == SCHED_PICK_WAIT && pick.fallback);
    //  A sticky session still wins over the prefix
    s_test_release_all (&test);
    const char *erin = "{\"Frontend\":\"pl\",\"StickyKey\":\"erin\"}";
    char pinned [16];
    snprintf (pinned, sizeof pinned, "%s", s_test_verdict (&test, erin));
    if (streq (pinned, holder)) {
        s_test_release_all (&test);
        sched_sessions_pin (test.env.sessions, "pl", "erin", streq (holder, "b1") ? "b2" : "b1",
                            test.env.now, 60000);
        snprintf (pinned, sizeof pinned, "%s", streq (holder, "b1") ? "b2" : "b1");
    }
    s_test_release_all (&test);
    char erin_turn [256];
    snprintf (erin_turn, sizeof erin_turn, "{\"Frontend\":\"pl\",\"StickyKey\":\"erin\","
              "\"Prefix\":[\"00000000000000a1\"],\"PrefixEnds\":[4000]}");
    char expected [20];
    snprintf (expected, sizeof expected, "%s*", pinned);
    assert (streq (s_test_verdict (&test, erin_turn), expected));
    //  A saving smaller than the wait's risk is not worth waiting for: the
    //  holder of a 1000-byte history is full (two slots of 400 ms leases: a
    //  200 ms wait, priced at 400), and the turn's prefill elsewhere costs
    //  260 ms, so it starts elsewhere (priced at the mean alone it would wait)
    s_test_release_all (&test);
    const char *short1 = "{\"Frontend\":\"pl\",\"Prefix\":[\"00000000000000d1\"],"
                         "\"PrefixEnds\":[1000]}";
    snprintf (holder, sizeof holder, "%s", s_test_verdict (&test, short1));
    assert (streq (s_test_verdict (&test, short1), holder));
    const char *short2 = "{\"Frontend\":\"pl\",\"Prefix\":[\"00000000000000d1\","
                         "\"00000000000000d2\"],\"PrefixEnds\":[1000,1040]}";
    s_test_decide (&test, short2, &pick);
    assert (pick.verdict == SCHED_PICK_GRANT && !streq (pick.backend->id, holder));
    s_test_release_all (&test);
    sched_speed_destroy (&test.env.speed);
    sched_queue_destroy (&test.env.queue);
    sched_cost_destroy (&test.env.cost);
    sched_prefix_destroy (&test.env.prefix);

    //  Random picks only candidates with room
    json_object_set_new (json_object_get (test.frontends, "f1"), "LoadBalancing",
                         json_string ("Random"));
    s_test_rebuild (&test);
    s_test_release_all (&test);
    for (int round = 0; round < 6; round++)
        assert (!streq (s_test_verdict (&test, f1), "WAIT 3"));
    assert (streq (s_test_verdict (&test, f1), "WAIT 3"));

    sched_fleet_destroy (&test.env.fleet);
    sched_models_destroy (&test.env.models);
    sched_sessions_destroy (&test.env.sessions);
    sched_table_destroy (&test.env.table);
    zhashx_destroy (&test.sick);
    json_decref (test.frontends);
    json_decref (test.backends);
    printf ("OK\n");
}

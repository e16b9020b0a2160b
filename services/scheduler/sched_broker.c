/*  =========================================================================
    sched_broker - the life of an ask
    =========================================================================
*/

#include "sched_broker.h"

//  Retry-After for a 429: the estimated wait, within these bounds
#define S_RETRY_MIN_MS      1000
#define S_RETRY_MAX_MS      60000
//  Lease duration assumed before any release was seen, and the weight of
//  each new one in the moving average (1/8)
#define S_DURATION_GUESS_MS 1000
#define S_DURATION_WEIGHT   8
#define S_NO_TIMER          -1

struct _sched_broker_t {
    zloop_t *loop;
    zsock_t *router;
    zsock_t *tap;
    const char *epoch;
    sched_pick_env_t *env;
    sched_queue_t *queue;
    sched_speed_t *speed;           //  what releases taught of each backend
    sched_cost_t *cost;             //  ...and of each of its models
    sched_prefix_t *prefix;         //  the prompt prefixes sent to each backend
    size_t max_queue;
    uint64_t lease_ids;             //  the last lease id given
    int64_t duration_ms;            //  moving average of lease durations
    int deadline_timer;             //  the zloop timer of the earliest deadline
    int64_t deadline_armed;         //  when it fires
    bool held;                      //  no grant until released (sched_broker_hold)
};

sched_broker_t *
sched_broker_new (zloop_t *loop, zsock_t *router, zsock_t *tap, const char *epoch,
                  sched_pick_env_t *env, size_t max_queue)
{
    assert (loop && router && epoch && env);
    sched_broker_t *self = (sched_broker_t *) zmalloc (sizeof (sched_broker_t));
    self->loop = loop;
    self->router = router;
    self->tap = tap;
    self->epoch = epoch;
    self->env = env;
    self->queue = sched_queue_new ();
    self->speed = sched_speed_new ();
    self->cost = sched_cost_new ();
    self->prefix = sched_prefix_new ();
    env->queue = self->queue;
    env->speed = self->speed;
    env->cost = self->cost;
    env->prefix = self->prefix;
    self->max_queue = max_queue;
    self->duration_ms = S_DURATION_GUESS_MS;
    self->deadline_timer = S_NO_TIMER;
    return self;
}

void
sched_broker_destroy (sched_broker_t **self_p)
{
    assert (self_p);
    sched_broker_t *self = *self_p;
    if (!self)
        return;
    if (self->deadline_timer != S_NO_TIMER)
        zloop_timer_end (self->loop, self->deadline_timer);
    if (self->env->queue == self->queue)
        self->env->queue = NULL;
    if (self->env->speed == self->speed)
        self->env->speed = NULL;
    if (self->env->cost == self->cost)
        self->env->cost = NULL;
    if (self->env->prefix == self->prefix)
        self->env->prefix = NULL;
    sched_queue_destroy (&self->queue);
    sched_speed_destroy (&self->speed);
    sched_cost_destroy (&self->cost);
    sched_prefix_destroy (&self->prefix);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Answers

//  Sends a reply to an ask (body taken over); the ingress id is its routing id
static void
s_answer (sched_broker_t *self, sched_ask_t *ask, const char *command, json_t *body)
{
    ofp_msg_t *reply = ofp_msg_new (&ofp_lease_protocol, command, ask->id, &body);
    zframe_t *routing_id = zframe_new (ask->ingress, strlen (ask->ingress));
    ofp_msg_set_routing_id (reply, routing_id);
    zframe_destroy (&routing_id);
    ofp_tap_publish (self->tap, "scheduler", "OUT", reply);
    ofp_msg_send (&reply, self->router);
}

//  retry_after_ms < 0: none
static void
s_deny (sched_broker_t *self, sched_ask_t *ask, int status, const char *error,
        const char *message, int64_t retry_after_ms)
{
    json_t *body = json_pack ("{s:i, s:s, s:s}", "Status", status, "Error", error, "Message",
                              message);
    if (retry_after_ms >= 0)
        json_object_set_new (body, "RetryAfterMs", json_integer (retry_after_ms));
    //  A refusal by the key's own limits is counted where it is decided
    if (self->env->keys && !streq (error, "KeyLimit"))
        sched_keys_note_error (self->env->keys, ask->key);
    s_answer (self, ask, "DENY", body);
}

//  Counts the lease, pins the session, answers GRANT
static void
s_grant (sched_broker_t *self, sched_ask_t *ask, sched_pick_t *pick)
{
    char lease [24];
    snprintf (lease, sizeof lease, "%llu", (unsigned long long) ++self->lease_ids);
    sched_backend_t *backend = pick->backend;
    sched_frontend_t *frontend = pick->frontend;
    int64_t now = self->env->now;
    if (sched_table_add (self->env->table, self->epoch, lease, ask->ingress, backend->id,
                         frontend->id, ask->sticky_key) != 0) {
        s_deny (self, ask, 503, "NoHealthyBackend", "the scheduler's lease table is full", -1);
        return;
    }
    sched_lease_t *counted = sched_table_lookup (self->env->table, self->epoch, lease);
    sched_table_set_key (self->env->table, counted, ask->key);
    //  The model is (about to be) resident where it was granted
    if (*ask->model) {
        char model [OFP_MODELS_KEY_MAX];
        sched_cost_key (ask->model, model);
        bool cold = sched_cost_note_grant (self->cost, self->env->models, self->env->table,
                                           backend->id, ask->model);
        sched_table_set_model (self->env->table, counted, model, cold, ask->prompt_bytes);
    }
    //  The prompt's prefix will be in that backend's cache
    if (ask->prefix)
        sched_prefix_note (self->prefix, backend->id, ask->prefix,
                           (size_t) backend->max_parallel * SCHED_PREFIX_CHAINS_PER_SLOT);
    if (frontend->sticky && ask->sticky_key)
        sched_sessions_pin (self->env->sessions, frontend->id, ask->sticky_key, backend->id, now,
                            frontend->sticky_ms);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:i, s:b, s:s, s:b, s:I}", "Lease", lease,
                              "Epoch", self->epoch, "Backend", backend->id, "Hostname",
                              backend->record->hostname, "Port", backend->record->port,
                              "Ssl", backend->record->ssl,
                              "ApiFormat", of_api_format_name (backend->record->api_format),
                              "Sticky", pick->sticky,
                              "QueuedMs", (json_int_t) (now - ask->arrived_at));
    s_answer (self, ask, "GRANT", body);
}

//  When a client refused for a full queue should try again: the estimated
//  wait for the least backlogged backend it could use
static int64_t
s_retry_after (sched_broker_t *self, sched_pick_t *pick)
{
    int64_t best = S_RETRY_MAX_MS;
    for (size_t index = 0; index < pick->usable_count; index++) {
        sched_backend_t *backend = sched_fleet_backend (self->env->fleet, pick->usable [index]);
        int64_t waiting = (int64_t) sched_queue_waiting (self->queue, backend->id);
        int64_t wait = self->duration_ms * (waiting + 1) / (int64_t) backend->max_parallel;
        if (wait < best)
            best = wait;
    }
    return best < S_RETRY_MIN_MS ? S_RETRY_MIN_MS : best;
}

//  True if, for some backend the ask would wait for, fewer asks wait than its
//  RateLimitRequestsThreshold
static bool
s_room_to_wait (sched_broker_t *self, sched_pick_t *pick)
{
    for (size_t index = 0; index < pick->usable_count; index++) {
        sched_backend_t *backend = sched_fleet_backend (self->env->fleet, pick->usable [index]);
        if (sched_queue_waiting (self->queue, backend->id) < backend->queue_threshold)
            return true;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Deadlines

static int s_on_deadline (zloop_t *loop, int timer_id, void *arg);

//  Makes sure a timer fires by the earliest deadline in the queue. A timer
//  left from an ask that went is harmless: it finds nothing due and re-arms.
static void
s_arm_deadline (sched_broker_t *self, int64_t now)
{
    sched_ask_t *earliest = sched_queue_earliest (self->queue);
    if (!earliest
        || (self->deadline_timer != S_NO_TIMER && self->deadline_armed <= earliest->deadline))
        return;
    if (self->deadline_timer != S_NO_TIMER)
        zloop_timer_end (self->loop, self->deadline_timer);
    int64_t delay = earliest->deadline - now;
    self->deadline_timer =
        zloop_timer (self->loop, (size_t) (delay > 0 ? delay : 1), 1, s_on_deadline, self);
    self->deadline_armed = earliest->deadline;
}

static int
s_on_deadline (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    sched_broker_t *self = (sched_broker_t *) arg;
    self->deadline_timer = S_NO_TIMER;
    int64_t now = zclock_mono ();
    sched_ask_t *ask;
    self->env->now = now;
    while ((ask = sched_queue_earliest (self->queue)) && ask->deadline <= now) {
        sched_queue_remove (self->queue, ask);
        //  An ask that chose to wait for a faster backend (LeastLatency)
        //  takes a free one rather than fail
        sched_pick_t pick;
        sched_pick_decide (self->env, ask, &pick);
        if (self->held)
            ;                   //  no grant, not even a fallback: the ask fails
        else
        if (pick.verdict == SCHED_PICK_GRANT || (pick.verdict == SCHED_PICK_WAIT && pick.fallback)) {
            if (pick.verdict == SCHED_PICK_WAIT)
                pick.backend = pick.fallback;
            s_grant (self, ask, &pick);
            sched_ask_destroy (&ask);
            continue;
        }
        char message [96];
        snprintf (message, sizeof message, "no free slot within %lld ms",
                  (long long) ask->deadline_ms);
        s_deny (self, ask, 503, "DeadlineExceeded", message, -1);
        sched_ask_destroy (&ask);
    }
    s_arm_deadline (self, now);
    return 0;
}

//  --------------------------------------------------------------------------
//  Serving

void
sched_broker_serve (sched_broker_t *self, sched_ask_t **ask_p)
{
    assert (self && ask_p && *ask_p);
    sched_ask_t *ask = *ask_p;
    self->env->now = zclock_mono ();
    //  The key's limits first: they hold whatever the fleet could do
    if (ask->key && self->env->keys) {
        size_t running = sched_table_key_leases (self->env->table, ask->key)
                         + sched_queue_of_key (self->queue, ask->key);
        int64_t retry_after_ms = 0;
        char message [SCHED_KEYS_MESSAGE_MAX];
        //  A retry after a connect failure is the same request: counted once
        bool retry = json_array_size (ask->exclude) > 0;
        if (sched_keys_admit (self->env->keys, ask->key, ask->key_limits, running, retry,
                              self->env->now, &retry_after_ms, message, sizeof message) != 0) {
            s_deny (self, ask, 429, "KeyLimit", message, retry_after_ms);
            sched_ask_destroy (ask_p);
            return;
        }
    }
    sched_pick_t pick;
    sched_pick_decide (self->env, ask, &pick);
    //  Held: what would be granted waits, for the backend it would get; and
    //  what finds no healthy backend waits to be decided again, since the
    //  health (or the config) may not be known yet
    bool unknown = false;
    if (self->held && pick.verdict == SCHED_PICK_DENY && pick.status == 503
    &&  streq (pick.error, "NoHealthyBackend")) {
        pick.verdict = SCHED_PICK_WAIT;
        unknown = true;
    }
    if (self->held && (pick.verdict == SCHED_PICK_GRANT || pick.fallback)) {
        if (pick.verdict == SCHED_PICK_GRANT && pick.usable_count == 0) {
            pick.usable [0] = pick.backend->id;
            pick.usable_count = 1;
        }
        pick.verdict = SCHED_PICK_WAIT;
        pick.fallback = NULL;
        pick.prefer = NULL;
    }
    //  An ask that chose to wait for a faster backend but may not wait takes
    //  the free one
    if (pick.verdict == SCHED_PICK_WAIT && pick.fallback
    &&  (ask->deadline_ms == 0 || sched_queue_size (self->queue) >= self->max_queue
         || !s_room_to_wait (self, &pick))) {
        pick.verdict = SCHED_PICK_GRANT;
        pick.backend = pick.fallback;
    }
    if (pick.verdict == SCHED_PICK_GRANT)
        s_grant (self, ask, &pick);
    else
    if (pick.verdict == SCHED_PICK_DENY)
        s_deny (self, ask, pick.status, pick.error, pick.message, -1);
    else
    if (ask->deadline_ms == 0)
        s_deny (self, ask, 503, "DeadlineExceeded", self->held
                ? "the scheduler has just started (it takes back the leases running and "
                  "learns the backends' health) and DeadlineMs is 0"
                : "every backend is full and DeadlineMs is 0", s_retry_after (self, &pick));
    else
    if (sched_queue_size (self->queue) >= self->max_queue)
        s_deny (self, ask, 429, "QueueFull", "the scheduler's queue is full",
                s_retry_after (self, &pick));
    else
    if (!unknown && !s_room_to_wait (self, &pick))
        s_deny (self, ask, 429, "QueueFull", "every backend that could serve has "
                "RateLimitRequestsThreshold requests waiting", s_retry_after (self, &pick));
    else {
        if (self->env->keys)
            ask->rank = sched_keys_rank (self->env->keys, ask->key_limits, ask->arrived_at);
        size_t position = sched_queue_push (self->queue, ask_p, pick.usable, pick.usable_count);
        sched_queue_set_prefer (self->queue, ask, pick.prefer ? pick.prefer->id : NULL);
        s_answer (self, ask, "QUEUED", json_pack ("{s:I}", "Position", (json_int_t) position));
        s_arm_deadline (self, self->env->now);
        return;
    }
    sched_ask_destroy (ask_p);
}

void
sched_broker_drain (sched_broker_t *self, const char *backend_id)
{
    assert (self);
    if (self->held)
        return;
    self->env->now = zclock_mono ();
    sched_fleet_t *fleet = self->env->fleet;
    sched_backend_t *backend = backend_id && fleet ? sched_fleet_backend (fleet, backend_id) : NULL;
    if (backend_id && !backend)
        return;                 //  a backend no longer configured: nothing waits for it
    for (sched_ask_t *ask = sched_queue_first (self->queue); ask;
         ask = sched_queue_next (self->queue)) {
        if (backend && sched_table_leases (self->env->table, backend->id) >= backend->max_parallel)
            break;
        if (backend && !sched_queue_waits_for (ask, backend->id))
            continue;
        sched_pick_t pick;
        sched_pick_decide (self->env, ask, &pick);
        if (pick.verdict == SCHED_PICK_WAIT) {
            sched_queue_set_usable (self->queue, ask, pick.usable, pick.usable_count);
            sched_queue_set_prefer (self->queue, ask, pick.prefer ? pick.prefer->id : NULL);
            continue;
        }
        //  Removing the current ask keeps the walk going (see sched_queue_first)
        sched_queue_remove (self->queue, ask);
        if (pick.verdict == SCHED_PICK_GRANT)
            s_grant (self, ask, &pick);
        else
            s_deny (self, ask, pick.status, pick.error, pick.message, -1);
        sched_ask_destroy (&ask);
    }
}

void
sched_broker_hold (sched_broker_t *self, bool held)
{
    assert (self);
    if (self->held == held)
        return;
    self->held = held;
    if (!held)
        sched_broker_drain (self, NULL);
}

bool
sched_broker_held (sched_broker_t *self)
{
    assert (self);
    return self->held;
}

bool
sched_broker_waits (sched_broker_t *self, const char *ingress, const char *id)
{
    assert (self);
    return sched_queue_lookup (self->queue, ingress, id) != NULL;
}

bool
sched_broker_cancel (sched_broker_t *self, const char *ingress, const char *id)
{
    assert (self);
    sched_ask_t *ask = sched_queue_lookup (self->queue, ingress, id);
    if (!ask)
        return false;
    sched_queue_remove (self->queue, ask);
    sched_ask_destroy (&ask);
    return true;
}

size_t
sched_broker_drop_ingress (sched_broker_t *self, const char *ingress)
{
    assert (self);
    return sched_queue_drop_ingress (self->queue, ingress);
}

void
sched_broker_note_duration (sched_broker_t *self, int64_t duration_ms)
{
    assert (self);
    self->duration_ms += (duration_ms - self->duration_ms) / S_DURATION_WEIGHT;
}

void
sched_broker_note_speed (sched_broker_t *self, const char *backend, int64_t ttfb_ms,
                         int64_t duration_ms)
{
    assert (self && backend);
    sched_speed_note (self->speed, backend, ttfb_ms, duration_ms, zclock_mono ());
}

void
sched_broker_note_cost (sched_broker_t *self, const sched_lease_t *lease,
                        const sched_cost_figures_t *figures)
{
    assert (self && lease && figures);
    sched_cost_note_release (self->cost, lease->backend, lease->model, lease->cold, figures);
}

void
sched_broker_note_miss (sched_broker_t *self, const char *backend)
{
    assert (self && backend);
    sched_speed_note_miss (self->speed, backend);
}

sched_queue_t *
sched_broker_queue (sched_broker_t *self)
{
    assert (self);
    return self->queue;
}

//  --------------------------------------------------------------------------
//  Self test

#define S_TEST_ENDPOINT "inproc://sched-broker-test"
#define S_TEST_EPOCH    "0123456789abcdef"

//  Every backend is healthy unless a test says none is
static bool s_test_none_healthy = false;

static bool
s_test_healthy (void *arg, const char *backend)
{
    (void) arg;
    (void) backend;
    return !s_test_none_healthy;
}

//  The fleet compiled again, as on a health change
static void
s_test_recompile (sched_pick_env_t *env, json_t *frontends, json_t *backends)
{
    of_records_t *records = of_records_new (frontends, backends, NULL, NULL);
    sched_fleet_t *fleet = sched_fleet_new (records, s_test_healthy, NULL, env->fleet);
    of_records_destroy (&records);
    sched_fleet_destroy (&env->fleet);
    env->fleet = fleet;
}

static int
s_test_stop (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    (void) arg;
    return -1;
}

//  Serves an ask with the given id and DeadlineMs
static void
s_test_serve (sched_broker_t *broker, const char *id, int deadline_ms)
{
    json_t *body = json_pack ("{s:s, s:s, s:s, s:[], s:[], s:i}", "Frontend", "f1", "Kind",
                              "other", "Model", "", "Labels", "Exclude", "DeadlineMs",
                              deadline_ms);
    sched_ask_t *ask = sched_ask_new ("i1", id, body, zclock_mono ());
    json_decref (body);
    sched_broker_serve (broker, &ask);
    assert (ask == NULL);
}

//  Receives the next reply and checks its command, id and (for DENY) status
static void
s_test_expect (zsock_t *dealer, const char *command, const char *id, int status)
{
    zpoller_t *poller = zpoller_new (dealer, NULL);
    assert (zpoller_wait (poller, 5000) == dealer);
    zpoller_destroy (&poller);
    ofp_msg_t *reply = ofp_msg_recv (&ofp_lease_protocol, dealer);
    assert (reply && !ofp_msg_error (reply));
    assert (ofp_msg_is (reply, command) && streq (ofp_msg_id (reply), id));
    json_t *body = ofp_msg_body (reply);
    if (status)
        assert (json_integer_value (json_object_get (body, "Status")) == status);
    if (status == 429)
        assert (json_integer_value (json_object_get (body, "RetryAfterMs")) >= S_RETRY_MIN_MS);
    if (ofp_msg_is (reply, "GRANT"))
        assert (streq (json_string_value (json_object_get (body, "Backend")), "b1"));
    ofp_msg_destroy (&reply);
}

//  A test env over a fleet given as text (the broker sets queue and speed)
typedef struct {
    sched_pick_env_t env;
    json_t *backends;
    json_t *frontends;
} s_test_fleet_t;

static void
s_test_fleet_start (s_test_fleet_t *test, const char *backends, const char *frontends)
{
    memset (test, 0, sizeof *test);
    test->backends = sched_fleet_objects (OF_KIND_BACKEND, backends);
    test->frontends = sched_fleet_objects (OF_KIND_FRONTEND, frontends);
    of_records_t *records = of_records_new (test->frontends, test->backends, NULL, NULL);
    test->env.fleet = sched_fleet_new (records, s_test_healthy, NULL, NULL);
    of_records_destroy (&records);
    test->env.table = sched_table_new ();
    test->env.sessions = sched_sessions_new (10);
    test->env.models = sched_models_new (NULL);
    sched_table_register (test->env.table, "i1", zclock_mono ());
}

static void
s_test_fleet_stop (s_test_fleet_t *test)
{
    sched_fleet_destroy (&test->env.fleet);
    sched_table_destroy (&test->env.table);
    sched_sessions_destroy (&test->env.sessions);
    sched_models_destroy (&test->env.models);
    json_decref (test->frontends);
    json_decref (test->backends);
}

//  Receives the next reply, a GRANT for the ask id, and returns its backend
static char *
s_test_granted (zsock_t *dealer, const char *id)
{
    zpoller_t *poller = zpoller_new (dealer, NULL);
    assert (zpoller_wait (poller, 5000) == dealer);
    zpoller_destroy (&poller);
    ofp_msg_t *reply = ofp_msg_recv (&ofp_lease_protocol, dealer);
    assert (reply && ofp_msg_is (reply, "GRANT") && streq (ofp_msg_id (reply), id));
    char *backend = strdup (json_string_value (json_object_get (ofp_msg_body (reply), "Backend")));
    ofp_msg_destroy (&reply);
    return backend;
}

//  LeastLatency: an ask that chose to wait for the fast backend takes the
//  slow free one when the queue is full, and at its deadline
static void
s_test_least_latency (zsock_t *router, zsock_t *dealer)
{
    s_test_fleet_t test;
    s_test_fleet_start (&test,
        "[{\"Identifier\":\"b1\",\"MaxParallelRequests\":1},"
        "{\"Identifier\":\"b2\",\"MaxParallelRequests\":1}]",
        "[{\"Identifier\":\"f1\",\"Backends\":[\"b1\",\"b2\"],"
        "\"LoadBalancing\":\"LeastLatency\"}]");
    sched_pick_env_t *env = &test.env;
    zloop_t *loop = zloop_new ();
    sched_broker_t *broker = sched_broker_new (loop, router, NULL, S_TEST_EPOCH, env, 1);
    assert (env->speed && env->queue);
    //  b1 answers fast, b2 slowly
    for (int round = 0; round < 4; round++) {
        sched_broker_note_speed (broker, "b1", 10, 100);
        sched_broker_note_speed (broker, "b2", 500, 5000);
    }
    s_test_serve (broker, "11", 5000);
    s_test_expect (dealer, "GRANT", "11", 0);
    //  b1 is full: waiting ~100 ms for it beats 500 ms on b2
    s_test_serve (broker, "12", 5000);
    s_test_expect (dealer, "QUEUED", "12", 0);
    //  The queue is full: the next one takes b2 rather than a 429
    s_test_serve (broker, "13", 5000);
    char *backend = s_test_granted (dealer, "13");
    assert (streq (backend, "b2"));
    freen (backend);
    //  b1 frees: the waiting ask gets it
    sched_table_remove (env->table, sched_table_lookup (env->table, S_TEST_EPOCH, "1"));
    sched_broker_drain (broker, "b1");
    s_test_expect (dealer, "GRANT", "12", 0);
    //  b2 frees; an ask that waits for b1 gets b2 at its deadline, not a 503
    sched_table_remove (env->table, sched_table_lookup (env->table, S_TEST_EPOCH, "2"));
    s_test_serve (broker, "14", 300);
    s_test_expect (dealer, "QUEUED", "14", 0);
    zloop_timer (loop, 500, 1, s_test_stop, NULL);
    zloop_start (loop);
    backend = s_test_granted (dealer, "14");
    assert (streq (backend, "b2"));
    freen (backend);

    sched_broker_destroy (&broker);
    assert (!env->speed && !env->queue);
    zloop_destroy (&loop);
    s_test_fleet_stop (&test);
}

void
sched_broker_test (bool verbose)
{
    printf (" * sched_broker: ");
    if (verbose)
        printf ("\n");
    zsock_t *router = zsock_new_router (S_TEST_ENDPOINT);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert (router && dealer);
    zsock_set_identity (dealer, "i1");
    assert (zsock_connect (dealer, S_TEST_ENDPOINT) == 0);
    //  The router knows the route once the dealer has spoken
    zstr_send (dealer, "hello");
    zmsg_t *hello = zmsg_recv (router);
    zmsg_destroy (&hello);

    s_test_fleet_t test;
    s_test_fleet_start (&test,
        "[{\"Identifier\":\"b1\",\"MaxParallelRequests\":1,\"RateLimitRequestsThreshold\":1}]",
        "[{\"Identifier\":\"f1\",\"Backends\":[\"b1\"]}]");
    sched_pick_env_t *env = &test.env;
    zloop_t *loop = zloop_new ();
    sched_broker_t *broker = sched_broker_new (loop, router, NULL, S_TEST_EPOCH, env, 10);

    //  Granted, queued, refused beyond the threshold, refused with DeadlineMs 0
    s_test_serve (broker, "1", 5000);
    s_test_expect (dealer, "GRANT", "1", 0);
    s_test_serve (broker, "2", 5000);
    s_test_expect (dealer, "QUEUED", "2", 0);
    s_test_serve (broker, "3", 5000);
    s_test_expect (dealer, "DENY", "3", 429);
    s_test_serve (broker, "4", 0);
    s_test_expect (dealer, "DENY", "4", 503);
    assert (sched_broker_waits (broker, "i1", "2") && !sched_broker_waits (broker, "i1", "3"));

    //  A release serves the queue
    sched_table_remove (env->table, sched_table_lookup (env->table, S_TEST_EPOCH, "1"));
    sched_broker_note_duration (broker, 100);
    sched_broker_drain (broker, "b1");
    s_test_expect (dealer, "GRANT", "2", 0);
    assert (sched_queue_size (sched_broker_queue (broker)) == 0);

    //  Held (a new epoch taking back its leases): a free slot is not granted
    //  until the hold ends, and DeadlineMs 0 is refused at once
    sched_table_remove (env->table, sched_table_lookup (env->table, S_TEST_EPOCH, "2"));
    sched_broker_hold (broker, true);
    assert (sched_broker_held (broker));
    s_test_serve (broker, "h1", 5000);
    s_test_expect (dealer, "QUEUED", "h1", 0);
    s_test_serve (broker, "h2", 0);
    s_test_expect (dealer, "DENY", "h2", 503);
    sched_broker_drain (broker, "b1");
    assert (sched_broker_waits (broker, "i1", "h1"));
    sched_broker_hold (broker, false);
    s_test_expect (dealer, "GRANT", "h1", 0);
    assert (!sched_broker_held (broker));

    //  Held before the health is known (a restart, no STATE yet): an ask
    //  that finds no healthy backend waits, and is decided when the hold ends
    sched_table_remove (env->table, sched_table_lookup (env->table, S_TEST_EPOCH, "3"));
    s_test_none_healthy = true;
    s_test_recompile (env, test.frontends, test.backends);
    s_test_serve (broker, "u0", 5000);
    s_test_expect (dealer, "DENY", "u0", 503);
    sched_broker_hold (broker, true);
    s_test_serve (broker, "u1", 5000);
    s_test_expect (dealer, "QUEUED", "u1", 0);
    s_test_none_healthy = false;
    s_test_recompile (env, test.frontends, test.backends);
    sched_broker_hold (broker, false);
    s_test_expect (dealer, "GRANT", "u1", 0);
    sched_table_remove (env->table, sched_table_lookup (env->table, S_TEST_EPOCH, "4"));
    //  Still none healthy when the hold ends: refused then
    s_test_none_healthy = true;
    s_test_recompile (env, test.frontends, test.backends);
    sched_broker_hold (broker, true);
    s_test_serve (broker, "u2", 5000);
    s_test_expect (dealer, "QUEUED", "u2", 0);
    sched_broker_hold (broker, false);
    s_test_expect (dealer, "DENY", "u2", 503);
    s_test_none_healthy = false;
    s_test_recompile (env, test.frontends, test.backends);
    s_test_serve (broker, "u3", 5000);
    s_test_expect (dealer, "GRANT", "u3", 0);

    //  A deadline passes while the loop runs
    s_test_serve (broker, "5", 50);
    s_test_expect (dealer, "QUEUED", "5", 0);
    zloop_timer (loop, 300, 1, s_test_stop, NULL);
    zloop_start (loop);
    s_test_expect (dealer, "DENY", "5", 503);

    //  Cancelled and dropped asks go without an answer
    s_test_serve (broker, "6", 5000);
    s_test_expect (dealer, "QUEUED", "6", 0);
    assert (sched_broker_cancel (broker, "i1", "6"));
    assert (!sched_broker_cancel (broker, "i1", "6"));
    s_test_serve (broker, "7", 5000);
    s_test_expect (dealer, "QUEUED", "7", 0);
    assert (sched_broker_drop_ingress (broker, "i1") == 1);
    assert (sched_queue_size (sched_broker_queue (broker)) == 0);
    //  One left waiting is freed with the broker
    s_test_serve (broker, "8", 5000);
    s_test_expect (dealer, "QUEUED", "8", 0);

    sched_broker_destroy (&broker);
    sched_broker_destroy (&broker);
    s_test_least_latency (router, dealer);
    zloop_destroy (&loop);
    s_test_fleet_stop (&test);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
    printf ("OK\n");
}

/*  =========================================================================
    scheduler - the lease service actor (proto/lease.md)

    Owns the sockets and the loop, and dispatches: ingress requests on the
    ROUTER, health and model inventories from the monitors' PUBs, the config
    from configd (of_clone), and three kinds of timer (state, expiry, the
    earliest queue deadline). What an ask gets is decided by sched_pick over
    the compiled fleet; this file applies the verdict: counts the lease, pins
    the session, queues the ask, or answers DENY.

    Waiting asks are served the moment something may have made room: a
    RELEASE or a freed ingress (the backends concerned), a config or health
    change (every ask is decided again). Nothing polls.
    =========================================================================
*/

#include "scheduler.h"
#include "of_service.h"
#include "sched_fleet.h"
#include "sched_health.h"
#include "sched_pick.h"
#include "sched_queue.h"
#include "sched_sessions.h"
#include "sched_table.h"

#define S_MALFORMED_LOGGED  10
//  Retry-After for a 429: the estimated wait, within these bounds
#define S_RETRY_MIN_MS      1000
#define S_RETRY_MAX_MS      60000
//  Lease duration assumed before any release was seen, and the weight of
//  each new one in the moving average (1/8)
#define S_DURATION_GUESS_MS 1000
#define S_DURATION_WEIGHT   8
#define S_NO_TIMER          -1

typedef struct {
    of_settings_t *settings;
    zsock_t *router;
    zsock_t *publisher;
    zsock_t *tap;
    zloop_t *loop;
    of_clone_t *clone;
    sched_health_t *health;
    sched_fleet_t *fleet;           //  NULL until the config is known
    sched_table_t *table;
    sched_queue_t *queue;
    sched_sessions_t *sessions;
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;               //  messages published in this epoch
    uint64_t lease_ids;             //  the last lease id given
    int64_t duration_ms;            //  moving average of lease durations
    int deadline_timer;             //  the zloop timer of the earliest deadline
    int64_t deadline_armed;         //  when it fires
    uint64_t malformed;
} s_scheduler_t;

//  --------------------------------------------------------------------------
//  Replies

static void
s_send (s_scheduler_t *self, ofp_msg_t **reply_p)
{
    ofp_tap_publish (self->tap, "scheduler", "OUT", *reply_p);
    ofp_msg_send (reply_p, self->router);
}

static void
s_reply_error (s_scheduler_t *self, ofp_msg_t *request, int status, const char *error,
               const char *message)
{
    ofp_msg_t *reply = ofp_msg_reply_error (request, status, error, message);
    s_send (self, &reply);
}

//  Sends a reply to an ask (body taken over); the ingress id is its routing id
static void
s_answer (s_scheduler_t *self, sched_ask_t *ask, const char *command, json_t *body)
{
    ofp_msg_t *reply = ofp_msg_new (&ofp_lease_protocol, command, ask->id, &body);
    zframe_t *routing_id = zframe_new (ask->ingress, strlen (ask->ingress));
    ofp_msg_set_routing_id (reply, routing_id);
    zframe_destroy (&routing_id);
    s_send (self, &reply);
}

//  The ingress id of a request: its routing id, if it is a valid token
static bool
s_ingress_of (ofp_msg_t *request, char *dest)
{
    zframe_t *routing_id = ofp_msg_routing_id (request);
    size_t size = routing_id ? zframe_size (routing_id) : 0;
    if (size == 0 || size > OFP_LEASE_INGRESS_MAX)
        return false;
    const byte *data = zframe_data (routing_id);
    for (size_t index = 0; index < size; index++)
        if (data [index] <= ' ' || data [index] >= 0x7f)
            return false;
    memcpy (dest, data, size);
    dest [size] = 0;
    return true;
}

//  --------------------------------------------------------------------------
//  Deciding asks

//  When a client refused for a full queue should try again: the estimated
//  wait for the least backlogged backend it could use
static int64_t
s_retry_after (s_scheduler_t *self, sched_pick_t *pick)
{
    int64_t best = S_RETRY_MAX_MS;
    for (size_t index = 0; index < pick->usable_count; index++) {
        sched_backend_t *backend = sched_fleet_backend (self->fleet, pick->usable [index]);
        int64_t waiting = (int64_t) sched_queue_waiting (self->queue, backend->id);
        int64_t wait = self->duration_ms * (waiting + 1) / (int64_t) backend->max_parallel;
        if (wait < best)
            best = wait;
    }
    return best < S_RETRY_MIN_MS ? S_RETRY_MIN_MS : best;
}

static void
s_deny (s_scheduler_t *self, sched_ask_t *ask, int status, const char *error,
        const char *message, int64_t retry_after_ms)
{
    json_t *body = json_pack ("{s:i, s:s, s:s}", "Status", status, "Error", error, "Message",
                              message);
    if (retry_after_ms >= 0)
        json_object_set_new (body, "RetryAfterMs", json_integer (retry_after_ms));
    s_answer (self, ask, "DENY", body);
}

//  Counts the lease, pins the session, answers GRANT
static void
s_grant (s_scheduler_t *self, sched_ask_t *ask, sched_pick_t *pick, int64_t now)
{
    char lease [24];
    snprintf (lease, sizeof lease, "%llu", (unsigned long long) ++self->lease_ids);
    sched_backend_t *backend = pick->backend;
    if (sched_table_add (self->table, self->epoch, lease, ask->ingress, backend->id,
                         pick->frontend->id, ask->sticky_key) != 0) {
        s_deny (self, ask, 503, "NoHealthyBackend", "the scheduler's lease table is full", -1);
        return;
    }
    if (pick->frontend->sticky && ask->sticky_key)
        sched_sessions_pin (self->sessions, pick->frontend->id, ask->sticky_key, backend->id,
                            now, pick->frontend->sticky_ms);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:i, s:b, s:s, s:b, s:I}", "Lease", lease,
                              "Epoch", self->epoch, "Backend", backend->id, "Hostname",
                              backend->hostname, "Port", backend->port, "Ssl", backend->ssl,
                              "ApiFormat", backend->api_format, "Sticky", pick->sticky,
                              "QueuedMs", (json_int_t) (now - ask->arrived_at));
    s_answer (self, ask, "GRANT", body);
}

static sched_pick_env_t
s_env (s_scheduler_t *self, int64_t now)
{
    sched_pick_env_t env = {self->fleet, self->table, self->sessions, self->health, now};
    return env;
}

//  True if, for some backend the ask would wait for, fewer asks wait than its
//  RateLimitRequestsThreshold
static bool
s_room_to_wait (s_scheduler_t *self, sched_pick_t *pick)
{
    for (size_t index = 0; index < pick->usable_count; index++) {
        sched_backend_t *backend = sched_fleet_backend (self->fleet, pick->usable [index]);
        if (sched_queue_waiting (self->queue, backend->id) < backend->queue_threshold)
            return true;
    }
    return false;
}

static int s_on_deadline (zloop_t *loop, int timer_id, void *arg);

//  Makes sure a timer fires by the earliest deadline in the queue. A timer
//  left from an ask that went is harmless: it finds nothing due and re-arms.
static void
s_arm_deadline (s_scheduler_t *self, int64_t now)
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

//  Answers a new ask: GRANT, DENY, or into the queue (QUEUED)
static void
s_serve (s_scheduler_t *self, sched_ask_t **ask_p, int64_t now)
{
    sched_ask_t *ask = *ask_p;
    sched_pick_env_t env = s_env (self, now);
    sched_pick_t pick;
    sched_pick_decide (&env, ask, &pick);
    if (pick.verdict == SCHED_PICK_GRANT)
        s_grant (self, ask, &pick, now);
    else
    if (pick.verdict == SCHED_PICK_DENY)
        s_deny (self, ask, pick.status, pick.error, pick.message, -1);
    else
    if (ask->deadline_ms == 0)
        s_deny (self, ask, 503, "DeadlineExceeded", "every backend is full and DeadlineMs is 0",
                s_retry_after (self, &pick));
    else
    if (sched_queue_size (self->queue) >= (size_t) self->settings->max_queue)
        s_deny (self, ask, 429, "QueueFull", "the scheduler's queue is full",
                s_retry_after (self, &pick));
    else
    if (!s_room_to_wait (self, &pick))
        s_deny (self, ask, 429, "QueueFull", "every backend that could serve has "
                "RateLimitRequestsThreshold requests waiting", s_retry_after (self, &pick));
    else {
        size_t position = sched_queue_push (self->queue, ask_p, pick.usable, pick.usable_count);
        s_answer (self, ask, "QUEUED", json_pack ("{s:I}", "Position", (json_int_t) position));
        s_arm_deadline (self, now);
        return;
    }
    sched_ask_destroy (ask_p);
}

//  Decides the waiting asks again, oldest first. With a backend, only the
//  asks that wait for it, and only while it has room (a release freed a slot
//  there and nothing else changed); without, every ask (the fleet changed).
static void
s_drain (s_scheduler_t *self, const char *backend_id)
{
    int64_t now = zclock_mono ();
    sched_pick_env_t env = s_env (self, now);
    sched_backend_t *backend =
        backend_id && self->fleet ? sched_fleet_backend (self->fleet, backend_id) : NULL;
    if (backend_id && !backend)
        return;
    for (sched_ask_t *ask = sched_queue_first (self->queue); ask;
         ask = sched_queue_next (self->queue)) {
        if (backend && sched_table_leases (self->table, backend->id) >= backend->max_parallel)
            break;
        if (backend && !sched_queue_waits_for (ask, backend->id))
            continue;
        sched_pick_t pick;
        sched_pick_decide (&env, ask, &pick);
        if (pick.verdict == SCHED_PICK_WAIT)
            sched_queue_set_usable (self->queue, ask, pick.usable, pick.usable_count);
        else {
            sched_queue_remove (self->queue, ask);
            if (pick.verdict == SCHED_PICK_GRANT)
                s_grant (self, ask, &pick, now);
            else
                s_deny (self, ask, pick.status, pick.error, pick.message, -1);
            sched_ask_destroy (&ask);
        }
    }
}

static int
s_on_deadline (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_scheduler_t *self = (s_scheduler_t *) arg;
    self->deadline_timer = S_NO_TIMER;
    int64_t now = zclock_mono ();
    sched_ask_t *ask;
    while ((ask = sched_queue_earliest (self->queue)) && ask->deadline <= now) {
        sched_queue_remove (self->queue, ask);
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
//  Config and health

static bool
s_healthy (void *arg, const char *backend)
{
    return sched_health_healthy (((s_scheduler_t *) arg)->health, backend);
}

static void
s_lost (void *arg, const char *frontend, const char *backend)
{
    sched_sessions_drop (((s_scheduler_t *) arg)->sessions, frontend, backend);
}

//  Compiles the fleet again, drops the sessions it invalidates, and decides
//  every waiting ask again
static void
s_rebuild (s_scheduler_t *self)
{
    if (!of_clone_ready (self->clone))
        return;
    sched_fleet_t *fleet = sched_fleet_new (of_clone_objects (self->clone, OF_KIND_FRONTEND),
                                            of_clone_objects (self->clone, OF_KIND_BACKEND),
                                            s_healthy, self, self->fleet);
    sched_fleet_diff (fleet, self->fleet, s_lost, self);
    sched_fleet_destroy (&self->fleet);
    self->fleet = fleet;
    s_drain (self, NULL);
}

static void
s_on_config (void *arg, of_kind_t kind, const char *identifier, json_t *object)
{
    (void) kind;
    (void) identifier;
    (void) object;
    s_rebuild ((s_scheduler_t *) arg);
}

static int
s_on_monitor (zloop_t *loop, zsock_t *socket, void *arg)
{
    (void) loop;
    s_scheduler_t *self = (s_scheduler_t *) arg;
    if (sched_health_recv (self->health, socket))
        s_rebuild (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Published

static void
s_publish (s_scheduler_t *self, const char *command, json_t *body)
{
    json_object_set_new (body, "Sequence", json_integer (++self->sequence));
    ofp_msg_t *msg = ofp_msg_new (&ofp_lease_protocol, command, NULL, &body);
    ofp_msg_send (&msg, self->publisher);
}

static void
s_publish_state (s_scheduler_t *self)
{
    json_t *backends = json_array ();
    json_t *frontends = json_array ();
    for (sched_backend_t *backend = self->fleet ? sched_fleet_first_backend (self->fleet) : NULL;
         backend && json_array_size (backends) < OFP_LEASE_RECORDS_MAX;
         backend = sched_fleet_next_backend (self->fleet))
        json_array_append_new (backends, json_pack (
            "{s:s, s:I, s:I, s:I}", "Backend", backend->id, "Leases",
            (json_int_t) sched_table_leases (self->table, backend->id), "MaxParallelRequests",
            (json_int_t) backend->max_parallel, "Sessions",
            (json_int_t) sched_sessions_of_backend (self->sessions, backend->id)));
    for (sched_frontend_t *frontend = self->fleet ? sched_fleet_first_frontend (self->fleet) : NULL;
         frontend && json_array_size (frontends) < OFP_LEASE_RECORDS_MAX;
         frontend = sched_fleet_next_frontend (self->fleet))
        json_array_append_new (frontends, json_pack (
            "{s:s, s:I, s:I}", "Frontend", frontend->id, "Queued",
            (json_int_t) sched_queue_of_frontend (self->queue, frontend->id), "Sessions",
            (json_int_t) sched_sessions_of_frontend (self->sessions, frontend->id)));
    s_publish (self, "STATE", json_pack ("{s:s, s:I, s:I, s:I, s:o, s:o}", "Epoch", self->epoch,
                                         "Ingresses",
                                         (json_int_t) sched_table_ingresses (self->table),
                                         "Leases", (json_int_t) sched_table_size (self->table),
                                         "Asks", (json_int_t) sched_queue_size (self->queue),
                                         "Backends", backends, "Frontends", frontends));
}

//  Every heartbeat: forget silent ingresses, expire sessions, publish STATE
static int
s_on_state_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_scheduler_t *self = (s_scheduler_t *) arg;
    int64_t now = zclock_mono ();
    zlistx_t *silent = sched_table_expire (self->table, now, self->settings->liveness_ms);
    for (char *id = silent ? (char *) zlistx_first (silent) : NULL; id;
         id = (char *) zlistx_next (silent)) {
        size_t asks = sched_queue_drop_ingress (self->queue, id);
        of_log_warning ("ingress %s went silent; forgetting it, its leases and %zu asks", id,
                        asks);
    }
    if (silent)
        s_drain (self, NULL);
    zlistx_destroy (&silent);
    sched_sessions_expire (self->sessions, now);
    s_publish_state (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Requests

static void
s_on_hello (s_scheduler_t *self, ofp_msg_t *request, const char *ingress, int64_t now)
{
    json_t *body = ofp_msg_body (request);
    if (!streq (ingress, json_string_value (json_object_get (body, "Ingress")))) {
        s_reply_error (self, request, 400, "BadRequest",
                       "Ingress: must be the DEALER's routing id");
        return;
    }
    bool known = sched_table_registered (self->table, ingress);
    int freed = sched_table_register (self->table, ingress, now);
    if (freed < 0) {
        s_reply_error (self, request, 503, "TooManyIngresses", "the ingress table is full");
        return;
    }
    if (known) {
        //  "I start from nothing": what the predecessor held is gone
        size_t asks = sched_queue_drop_ingress (self->queue, ingress);
        of_log_info ("ingress %s registered again: %d leases freed, %zu asks dropped", ingress,
                     freed, asks);
        if (freed)
            s_drain (self, NULL);
    }
    else
        of_log_info ("ingress %s registered (pid %lld, version %s)", ingress,
                     (long long) json_integer_value (json_object_get (body, "Pid")),
                     json_string_value (json_object_get (body, "Version")));
    json_t *welcome = json_pack ("{s:s, s:I, s:I}", "Epoch", self->epoch, "HeartbeatMs",
                                 (json_int_t) self->settings->heartbeat_ms, "LivenessMs",
                                 (json_int_t) self->settings->liveness_ms);
    ofp_msg_t *reply = ofp_msg_reply (request, "WELCOME", &welcome);
    s_send (self, &reply);
}

static void
s_on_lease (s_scheduler_t *self, ofp_msg_t *request, const char *ingress, int64_t now)
{
    if (sched_queue_lookup (self->queue, ingress, ofp_msg_id (request))) {
        s_reply_error (self, request, 400, "BadRequest", "an ask with this request id waits");
        return;
    }
    sched_ask_t *ask = sched_ask_new (ingress, ofp_msg_id (request), ofp_msg_body (request), now);
    s_serve (self, &ask, now);
}

static void
s_on_release (s_scheduler_t *self, ofp_msg_t *request, const char *ingress)
{
    json_t *body = ofp_msg_body (request);
    const char *epoch = json_string_value (json_object_get (body, "Epoch"));
    const char *lease_id = json_string_value (json_object_get (body, "Lease"));
    json_t *outcome = json_deep_copy (body);
    json_object_set_new (outcome, "Ingress", json_string (ingress));
    char *backend = NULL;
    sched_lease_t *lease = sched_table_lookup (self->table, epoch, lease_id);
    //  Only the holder frees a lease; anyone's outcome counts
    if (lease && streq (lease->ingress, ingress)) {
        json_object_set_new (outcome, "Frontend", json_string (lease->frontend));
        backend = strdup (lease->backend);
        sched_table_remove (self->table, lease);
    }
    if (streq (json_string_value (json_object_get (body, "Outcome")), "ok")) {
        int64_t duration = json_integer_value (json_object_get (body, "DurationMs"));
        self->duration_ms += (duration - self->duration_ms) / S_DURATION_WEIGHT;
    }
    s_publish (self, "OUTCOME", outcome);
    if (backend)
        s_drain (self, backend);
    free (backend);
}

static void
s_on_resume (s_scheduler_t *self, ofp_msg_t *request, const char *ingress, int64_t now)
{
    json_t *body = ofp_msg_body (request);
    if (!streq (ingress, json_string_value (json_object_get (body, "Ingress")))) {
        s_reply_error (self, request, 400, "BadRequest",
                       "Ingress: must be the DEALER's routing id");
        return;
    }
    if (!streq (self->epoch, json_string_value (json_object_get (body, "Epoch")))) {
        s_reply_error (self, request, 409, "NotRegistered", "Epoch: not the scheduler's epoch");
        return;
    }
    size_t adopted = 0, index;
    json_t *held;
    json_array_foreach (json_object_get (body, "Leases"), index, held) {
        const char *frontend_id = json_string_value (json_object_get (held, "Frontend"));
        const char *backend_id = json_string_value (json_object_get (held, "Backend"));
        const char *sticky_key = json_string_value (json_object_get (held, "StickyKey"));
        if (sched_table_add (self->table, json_string_value (json_object_get (held, "Epoch")),
                             json_string_value (json_object_get (held, "Lease")), ingress,
                             backend_id, frontend_id, sticky_key) != 0)
            continue;
        adopted++;
        //  Sessions died with the old epoch: the running requests say where they were
        sched_frontend_t *frontend =
            self->fleet ? sched_fleet_frontend (self->fleet, frontend_id) : NULL;
        if (frontend && frontend->sticky && sticky_key
            && !sched_sessions_lookup (self->sessions, frontend_id, sticky_key, now))
            sched_sessions_pin (self->sessions, frontend_id, sticky_key, backend_id, now,
                                frontend->sticky_ms);
    }
    of_log_info ("ingress %s resumed %zu leases", ingress, adopted);
    json_t *resumed = json_pack ("{s:s, s:I}", "Epoch", self->epoch, "Leases",
                                 (json_int_t) adopted);
    ofp_msg_t *reply = ofp_msg_reply (request, "RESUMED", &resumed);
    s_send (self, &reply);
}

static void
s_on_malformed (s_scheduler_t *self, ofp_msg_t *request)
{
    self->malformed++;
    if (self->malformed <= S_MALFORMED_LOGGED || self->malformed % 1000 == 0)
        of_log_warning ("malformed message #%llu refused: %s",
                        (unsigned long long) self->malformed, ofp_msg_error (request));
    if (ofp_msg_id (request))
        s_reply_error (self, request, 400, "BadRequest", ofp_msg_error (request));
}

static void
s_handle_request (s_scheduler_t *self, ofp_msg_t *request)
{
    ofp_tap_publish (self->tap, "scheduler", "IN", request);
    if (ofp_msg_error (request)) {
        s_on_malformed (self, request);
        return;
    }
    int64_t now = zclock_mono ();
    char ingress [OFP_LEASE_INGRESS_MAX + 1] = "";
    bool named = s_ingress_of (request, ingress);
    bool registered = named && sched_table_seen (self->table, ingress, now);

    if (ofp_msg_is (request, "HELLO")) {
        if (named)
            s_on_hello (self, request, ingress, now);
        else
            s_reply_error (self, request, 400, "BadRequest",
                           "Ingress: must be the DEALER's routing id");
    }
    else
    if (ofp_msg_is (request, "HEARTBEAT")) {
        json_t *pong = json_pack ("{s:s, s:b, s:I}", "Epoch", self->epoch, "Registered",
                                  registered, "Leases",
                                  (json_int_t) sched_table_ingress_leases (self->table, ingress));
        ofp_msg_t *reply = ofp_msg_reply (request, "PONG", &pong);
        s_send (self, &reply);
    }
    else
    if ((ofp_msg_is (request, "LEASE") || ofp_msg_is (request, "RESUME")) && !registered)
        s_reply_error (self, request, 409, "NotRegistered",
                       "no HELLO from this ingress in this epoch");
    else
    if (ofp_msg_is (request, "LEASE"))
        s_on_lease (self, request, ingress, now);
    else
    if (ofp_msg_is (request, "RESUME"))
        s_on_resume (self, request, ingress, now);
    else
    if (ofp_msg_is (request, "RELEASE")) {
        if (named)
            s_on_release (self, request, ingress);
    }
    else
    if (ofp_msg_is (request, "CANCEL")) {
        sched_ask_t *ask =
            named ? sched_queue_lookup (self->queue, ingress, ofp_msg_id (request)) : NULL;
        if (ask) {
            sched_queue_remove (self->queue, ask);
            sched_ask_destroy (&ask);
        }
    }
    else
    if (ofp_msg_id (request)) {
        char message [128];
        snprintf (message, sizeof message, "%s is not a request", ofp_msg_command (request));
        s_reply_error (self, request, 400, "BadRequest", message);
    }
}

static int
s_on_request (zloop_t *loop, zsock_t *router, void *arg)
{
    (void) loop;
    ofp_msg_t *request = ofp_msg_recv (&ofp_lease_protocol, router);
    if (request) {
        s_handle_request ((s_scheduler_t *) arg, request);
        ofp_msg_destroy (&request);
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The actor

static void
s_destroy (s_scheduler_t *self)
{
    sched_queue_destroy (&self->queue);
    sched_table_destroy (&self->table);
    sched_sessions_destroy (&self->sessions);
    sched_fleet_destroy (&self->fleet);
    sched_health_destroy (&self->health);
    of_clone_destroy (&self->clone);
    zsock_destroy (&self->router);
    zsock_destroy (&self->publisher);
}

void
scheduler_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    s_scheduler_t self = {.settings = (of_settings_t *) args};
    of_settings_t *settings = self.settings;
    self.router = of_service_bind (settings, ZMQ_ROUTER, settings->scheduler_router);
    self.publisher = of_service_bind (settings, ZMQ_PUB, settings->scheduler_publisher);
    self.clone = of_clone_new (settings->config_publisher, settings->config_router,
                               settings->liveness_ms);
    self.health = sched_health_new (settings->health_publisher, settings->models_publisher);
    if (!self.router || !self.publisher || !self.clone || !self.health) {
        of_service_failed (pipe, "cannot bind %s and %s, or reach configd and the monitors: %s",
                           settings->scheduler_router, settings->scheduler_publisher,
                           strerror (errno));
        s_destroy (&self);
        return;
    }
    if (settings->tap)
        self.tap = self.publisher;
    //  An ingress that reconnects (same id) takes its routing id over
    zsock_set_router_handover (self.router, 1);
    of_service_epoch (self.epoch);
    self.table = sched_table_new ();
    self.queue = sched_queue_new ();
    self.sessions = sched_sessions_new ((size_t) settings->max_sessions);
    self.duration_ms = S_DURATION_GUESS_MS;
    self.deadline_timer = S_NO_TIMER;
    of_clone_set_handler (self.clone, s_on_config, &self);
    of_log_info ("epoch %s; leases on %s, state on %s", self.epoch, settings->scheduler_router,
                 settings->scheduler_publisher);
    of_service_ready (pipe);

    self.loop = zloop_new ();
    zloop_set_nonstop (self.loop, true);
    zloop_reader (self.loop, pipe, of_service_on_pipe, NULL);
    zloop_reader (self.loop, self.router, s_on_request, &self);
    zloop_reader (self.loop, sched_health_health_socket (self.health), s_on_monitor, &self);
    zloop_reader (self.loop, sched_health_models_socket (self.health), s_on_monitor, &self);
    of_clone_attach (self.clone, self.loop);
    zloop_timer (self.loop, (size_t) settings->heartbeat_ms, 0, s_on_state_timer, &self);
    s_publish_state (&self);
    zloop_start (self.loop);
    zloop_destroy (&self.loop);
    s_destroy (&self);
}

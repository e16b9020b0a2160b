/*  =========================================================================
    scheduler - the lease service actor (proto/lease.md)

    Owns the sockets and the loop, and dispatches: ingress requests on the
    ROUTER, health (sched_health) and model inventories (sched_models) from
    the monitors' PUBs, the config from configd (of_clone), and the
    heartbeat timer (expiry of silent ingresses and sessions, STATE). The asks go to
    sched_broker, which decides them with sched_pick over the fleet that is
    compiled again here whenever the config or the health changes.

    Waiting asks are served the moment something may have made room: a
    RELEASE or a freed ingress (the backends concerned), a config or health
    change (every ask is decided again). Nothing polls.
    =========================================================================
*/

#include "scheduler.h"
#include "of_service.h"
#include "sched_broker.h"
#include "sched_admin.h"
#include "sched_health.h"
#include "sched_settle.h"

#define S_MALFORMED_LOGGED  10
//  Requests handled per wake of the loop: under load many wait, and taking
//  them together saves a zmq_poll (and often a wake-up) for each; bounded, so
//  the pipe, the monitors and the timers still get their turn
#define S_REQUESTS_PER_WAKE 64

typedef struct {
    of_settings_t *settings;
    zsock_t *router;
    zsock_t *publisher;
    zsock_t *tap;
    zloop_t *loop;
    of_clone_t *clone;
    sched_pick_env_t env;           //  fleet (NULL until the config is known),
                                    //  table, sessions, models: owned here
    sched_health_t *health;         //  healthmon's word, compiled into the fleet
    sched_broker_t *broker;
    sched_settle_t *settle;         //  the epoch's first LivenessMs: leases taken back
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;               //  messages published in this epoch
    uint64_t malformed;
} s_scheduler_t;

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
//  Config and health

static void s_settle (s_scheduler_t *self, int64_t now);

static bool
s_healthy (void *arg, const char *backend)
{
    return sched_health_healthy (((s_scheduler_t *) arg)->health, backend);
}

static void
s_lost (void *arg, const char *frontend, const char *backend)
{
    sched_sessions_drop (((s_scheduler_t *) arg)->env.sessions, frontend, backend);
}

//  Compiles the fleet again, drops the sessions it invalidates, and decides
//  every waiting ask again
static void
s_rebuild (s_scheduler_t *self)
{
    if (!of_clone_ready (self->clone))
        return;
    sched_fleet_t *fleet = sched_fleet_new (of_clone_records (self->clone), s_healthy, self,
                                            self->env.fleet);
    sched_fleet_diff (fleet, self->env.fleet, s_lost, self);
    sched_fleet_destroy (&self->env.fleet);
    self->env.fleet = fleet;
    sched_broker_drain (self->broker, NULL);
}

static void
s_on_config (void *arg, of_kind_t kind, const char *identifier, json_t *object)
{
    (void) kind;
    (void) object;
    s_scheduler_t *self = (s_scheduler_t *) arg;
    //  configd writes only what the schema takes, so this is a newer configd's
    //  object or a bug: routed as if absent, and said once per change
    of_records_t *records = of_clone_records (self->clone);
    if (of_records_refused (records))
        of_log_warning ("config %s: %zu objects left out: %s", identifier ? identifier : "snapshot",
                        of_records_refused (records), of_records_error (records));
    s_rebuild (self);
}

static int
s_on_monitor (zloop_t *loop, zsock_t *socket, void *arg)
{
    (void) loop;
    s_scheduler_t *self = (s_scheduler_t *) arg;
    //  Health is compiled into the fleet; inventories are read as asks are decided
    if (socket == sched_health_socket (self->health) ? sched_health_recv (self->health)
                                                     : sched_models_recv (self->env.models))
        s_rebuild (self);
    s_settle (self, zclock_mono ());
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
    for (sched_backend_t *backend = self->env.fleet ? sched_fleet_first_backend (self->env.fleet) : NULL;
         backend && json_array_size (backends) < OFP_LEASE_RECORDS_MAX;
         backend = sched_fleet_next_backend (self->env.fleet))
        json_array_append_new (backends, json_pack (
            "{s:s, s:I, s:I, s:I, s:I}", "Backend", backend->id, "Leases",
            (json_int_t) sched_table_leases (self->env.table, backend->id), "MaxParallelRequests",
            (json_int_t) backend->max_parallel, "Queued",
            (json_int_t) sched_queue_waiting (sched_broker_queue (self->broker), backend->id),
            "Sessions",
            (json_int_t) sched_sessions_of_backend (self->env.sessions, backend->id)));
    for (sched_frontend_t *frontend = self->env.fleet ? sched_fleet_first_frontend (self->env.fleet) : NULL;
         frontend && json_array_size (frontends) < OFP_LEASE_RECORDS_MAX;
         frontend = sched_fleet_next_frontend (self->env.fleet))
        json_array_append_new (frontends, json_pack (
            "{s:s, s:I, s:I}", "Frontend", frontend->id, "Queued",
            (json_int_t) sched_queue_of_frontend (sched_broker_queue (self->broker), frontend->id), "Sessions",
            (json_int_t) sched_sessions_of_frontend (self->env.sessions, frontend->id)));
    //  Each key's usage since this scheduler started, with its leases now
    json_t *keys = sched_keys_usage (self->env.keys, OFP_LEASE_RECORDS_MAX);
    size_t index;
    json_t *record;
    json_array_foreach (keys, index, record)
        json_object_set_new (record, "Running", json_integer ((json_int_t) sched_table_key_leases (
            self->env.table, json_string_value (json_object_get (record, "Key")))));
    s_publish (self, "STATE", json_pack ("{s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "Epoch",
                                         self->epoch, "Ingresses",
                                         (json_int_t) sched_table_ingresses (self->env.table),
                                         "Leases", (json_int_t) sched_table_size (self->env.table),
                                         "Asks", (json_int_t) sched_queue_size (sched_broker_queue (self->broker)),
                                         "Backends", backends, "Frontends", frontends, "Keys",
                                         keys));
}

//  Holds grants while an ingress expected to hold leases from before this
//  epoch has not declared them (sched_settle), and while healthmon's first
//  STATE has not come within the same window (until then no backend is
//  known to be healthy, and asks would be refused that a restart should not
//  refuse); releases them after
static void
s_settle (s_scheduler_t *self, int64_t now)
{
    bool blind = !sched_health_heard (self->health)
              && now < sched_settle_ends (self->settle);
    bool holding = sched_settle_holding (self->settle, now) || blind;
    if (holding == sched_broker_held (self->broker))
        return;
    if (holding)
        of_log_info ("grants wait until %zu ingresses declare the leases they hold%s "
                     "(at most %lld ms)", sched_settle_pending (self->settle),
                     blind ? " and healthmon's STATE comes" : "",
                     (long long) (sched_settle_ends (self->settle) - now));
    else
    if (!sched_health_heard (self->health))
        of_log_info ("grants resume without healthmon's STATE: no backend is known healthy");
    else
        of_log_info ("grants resume: %s", sched_settle_pending (self->settle)
                     ? "the leases of a restart are taken back, or their holders are gone"
                     : "the leases running are declared and the health is known");
    sched_broker_hold (self->broker, holding);
}

static int
s_on_settle_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_settle ((s_scheduler_t *) arg, zclock_mono ());
    return 0;
}

//  Every heartbeat: forget silent ingresses, expire sessions, publish STATE
static int
s_on_state_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_scheduler_t *self = (s_scheduler_t *) arg;
    int64_t now = zclock_mono ();
    zlistx_t *silent = sched_table_expire (self->env.table, now, self->settings->liveness_ms);
    for (char *id = silent ? (char *) zlistx_first (silent) : NULL; id;
         id = (char *) zlistx_next (silent)) {
        size_t asks = sched_broker_drop_ingress (self->broker, id);
        of_log_warning ("ingress %s went silent; forgetting it, its leases and %zu asks", id,
                        asks);
        sched_settle_forget (self->settle, id);
    }
    s_settle (self, now);
    if (silent)
        sched_broker_drain (self->broker, NULL);
    zlistx_destroy (&silent);
    sched_sessions_expire (self->env.sessions, now);
    s_publish_state (self);
    return 0;
}

//  --------------------------------------------------------------------------
//  Requests

static void
s_on_hello (s_scheduler_t *self, ofp_msg_t *request, const char *ingress, int64_t now)
{
    json_t *body = ofp_msg_body (request);
    bool known = sched_table_registered (self->env.table, ingress);
    int freed = sched_table_register (self->env.table, ingress, now);
    if (freed < 0) {
        s_reply_error (self, request, 503, "TooManyIngresses", "the ingress table is full");
        return;
    }
    if (known) {
        //  "I start from nothing": what the predecessor held is gone
        size_t asks = sched_broker_drop_ingress (self->broker, ingress);
        of_log_info ("ingress %s registered again: %d leases freed, %zu asks dropped", ingress,
                     freed, asks);
        if (freed)
            sched_broker_drain (self->broker, NULL);
    }
    else
        of_log_info ("ingress %s registered (pid %lld, version %s)", ingress,
                     (long long) json_integer_value (json_object_get (body, "Pid")),
                     json_string_value (json_object_get (body, "Version")));
    //  The ingress and the peers it names may hold leases from before this epoch
    sched_settle_hello (self->settle, ingress, json_object_get (body, "Peers"),
                        json_is_true (json_object_get (body, "PeersTruncated")), now);
    s_settle (self, now);
    json_t *welcome = json_pack ("{s:s, s:I, s:I}", "Epoch", self->epoch, "HeartbeatMs",
                                 (json_int_t) self->settings->heartbeat_ms, "LivenessMs",
                                 (json_int_t) self->settings->liveness_ms);
    ofp_msg_t *reply = ofp_msg_reply (request, "WELCOME", &welcome);
    s_send (self, &reply);
}

static void
s_on_lease (s_scheduler_t *self, ofp_msg_t *request, const char *ingress, int64_t now)
{
    if (sched_broker_waits (self->broker, ingress, ofp_msg_id (request))) {
        s_reply_error (self, request, 400, "BadRequest", "an ask with this request id waits");
        return;
    }
    sched_ask_t *ask = sched_ask_new (ingress, ofp_msg_id (request), ofp_msg_body (request), now);
    sched_broker_serve (self->broker, &ask);
}

static void
s_on_release (s_scheduler_t *self, ofp_msg_t *request, const char *ingress)
{
    json_t *body = ofp_msg_body (request);
    const char *epoch = json_string_value (json_object_get (body, "Epoch"));
    const char *lease_id = json_string_value (json_object_get (body, "Lease"));
    //  OUTCOME is the RELEASE body plus a few fields: the request is ours and
    //  goes right after this, so its body is taken rather than copied
    json_t *outcome = json_incref (body);
    json_object_set_new (outcome, "Ingress", json_string (ingress));
    char *backend = NULL;
    sched_lease_t *lease = sched_table_lookup (self->env.table, epoch, lease_id);
    //  Only the holder frees a lease; anyone's outcome counts
    if (lease && streq (lease->ingress, ingress)) {
        json_object_set_new (outcome, "Frontend", json_string (lease->frontend));
        backend = strdup (lease->backend);
        //  A key's tokens are charged after the fact: they are known only now.
        //  Errors: what the client got as one (a connect failure is retried, a
        //  client that left chose to)
        const char *ended = json_string_value (json_object_get (body, "Outcome"));
        bool failed = streq (ended, "backend_error") || streq (ended, "timeout")
                      || streq (ended, "rejected")
                      || json_integer_value (json_object_get (body, "Status")) >= 400;
        //  What the response said of itself: the model's load, prefill and
        //  decode rates on this backend
        if (streq (ended, "ok")) {
            const char *names [] = {"PromptTokens", "CachedTokens", "CompletionTokens",
                                    "LoadUs", "PrefillUs", "DecodeUs"};
            int64_t values [6];
            for (size_t index = 0; index < 6; index++) {
                json_t *value = json_object_get (body, names [index]);
                values [index] = json_is_integer (value) ? json_integer_value (value) : -1;
            }
            sched_cost_figures_t figures = {values [0], values [1], values [2], values [3],
                                            values [4], values [5], lease->prompt_bytes};
            sched_broker_note_cost (self->broker, lease, &figures);
        }
        sched_keys_charge (self->env.keys, lease->key,
                           json_integer_value (json_object_get (body, "PromptTokens")),
                           json_integer_value (json_object_get (body, "CompletionTokens")),
                           failed, zclock_mono ());
        sched_table_remove (self->env.table, lease);
    }
    const char *outcome_name = json_string_value (json_object_get (body, "Outcome"));
    if (streq (outcome_name, "ok")) {
        sched_broker_note_duration (self->broker,
                                    json_integer_value (json_object_get (body, "DurationMs")));
        //  LeastLatency learns from the leases this scheduler counted
        json_t *ttfb = json_object_get (body, "TtfbMs");
        if (backend)
            sched_broker_note_speed (self->broker, backend,
                                     json_is_integer (ttfb) ? json_integer_value (ttfb) : -1,
                                     json_integer_value (json_object_get (body, "DurationMs")));
    }
    else
    if (backend && (streq (outcome_name, "backend_error") || streq (outcome_name, "connect_failure")
                ||  streq (outcome_name, "timeout")))
        sched_broker_note_miss (self->broker, backend);
    s_publish (self, "OUTCOME", outcome);
    if (backend)
        sched_broker_drain (self->broker, backend);
    free (backend);
}

static void
s_on_resume (s_scheduler_t *self, ofp_msg_t *request, const char *ingress, int64_t now)
{
    json_t *body = ofp_msg_body (request);
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
        if (sched_table_add (self->env.table, json_string_value (json_object_get (held, "Epoch")),
                             json_string_value (json_object_get (held, "Lease")), ingress,
                             backend_id, frontend_id, sticky_key) != 0)
            continue;
        //  The key's running requests stay counted against its limits
        sched_table_set_key (self->env.table,
                             sched_table_lookup (self->env.table,
                                                 json_string_value (json_object_get (held, "Epoch")),
                                                 json_string_value (json_object_get (held, "Lease"))),
                             json_string_value (json_object_get (held, "Key")));
        sched_keys_note_running (self->env.keys, json_string_value (json_object_get (held, "Key")));
        adopted++;
        //  Sessions died with the old epoch: the running requests say where they were
        sched_frontend_t *frontend =
            self->env.fleet ? sched_fleet_frontend (self->env.fleet, frontend_id) : NULL;
        if (frontend && frontend->sticky && sticky_key
            && !sched_sessions_lookup (self->env.sessions, frontend_id, sticky_key, now))
            sched_sessions_pin (self->env.sessions, frontend_id, sticky_key, backend_id, now,
                                frontend->sticky_ms);
    }
    of_log_info ("ingress %s resumed %zu leases", ingress, adopted);
    //  An older ingress sends no Last: each of its RESUMEs may be its last
    sched_settle_resumed (self->settle, ingress,
                          !json_is_false (json_object_get (body, "Last")));
    s_settle (self, now);
    json_t *resumed = json_pack ("{s:s, s:I}", "Epoch", self->epoch, "Leases",
                                 (json_int_t) adopted);
    ofp_msg_t *reply = ofp_msg_reply (request, "RESUMED", &resumed);
    s_send (self, &reply);
}

//  True if the command is a request that carries a request id
static bool
s_has_id (const char *command)
{
    for (const ofp_command_t *spec = ofp_lease_protocol.commands; spec->name; spec++)
        if (streq (spec->name, command))
            return spec->has_id;
    return false;
}

//  A malformed request is answered ERROR 400 with its id, or with "-" when
//  its id could not be read; a message that carries no id is only counted
static void
s_on_malformed (s_scheduler_t *self, ofp_msg_t *request)
{
    self->malformed++;
    if (self->malformed <= S_MALFORMED_LOGGED || self->malformed % 1000 == 0)
        of_log_warning ("malformed message #%llu refused: %s",
                        (unsigned long long) self->malformed, ofp_msg_error (request));
    if (ofp_msg_id (request) || s_has_id (ofp_msg_command (request)))
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
    bool registered = named && sched_table_seen (self->env.table, ingress, now);

    //  Replies are routed by routing id: the ids must agree
    const char *claimed = json_string_value (json_object_get (ofp_msg_body (request), "Ingress"));
    if ((ofp_msg_is (request, "HELLO") || ofp_msg_is (request, "RESUME"))
        && !(named && streq (ingress, claimed)))
        s_reply_error (self, request, 400, "BadRequest", "Ingress: must be the DEALER's routing id");
    else
    if (ofp_msg_is (request, "HELLO"))
        s_on_hello (self, request, ingress, now);
    else
    if (ofp_msg_is (request, "HEARTBEAT")) {
        json_t *pong = json_pack ("{s:s, s:b, s:I}", "Epoch", self->epoch, "Registered",
                                  registered, "Leases",
                                  (json_int_t) sched_table_ingress_leases (self->env.table, ingress));
        //  Who else is registered: after a restart of the scheduler, this
        //  ingress names them in its HELLO, so that the new epoch waits for
        //  their leases (sched_settle)
        json_t *peers = registered ? sched_table_ingress_ids (self->env.table,
                                                              OFP_LEASE_PEERS_MAX) : NULL;
        if (peers)
            json_object_set_new (pong, "Peers", peers);
        else
        if (registered)
            json_object_set_new (pong, "PeersTruncated", json_true ());
        ofp_msg_t *reply = ofp_msg_reply (request, "PONG", &pong);
        s_send (self, &reply);
    }
    else
    if (sched_admin_handles (request)) {
        size_t forgotten;
        ofp_msg_t *reply = sched_admin_answer (self->env.sessions, self->epoch, request, now,
                                               &forgotten);
        s_send (self, &reply);
        if (forgotten)              //  asks waiting for a session's backend may go elsewhere
            sched_broker_drain (self->broker, NULL);
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
        if (named)
            sched_broker_cancel (self->broker, ingress, ofp_msg_id (request));
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
    //  The ROUTER's receive timeout is 0: a receive with nothing waiting
    //  returns NULL at once
    for (int count = 0; count < S_REQUESTS_PER_WAKE; count++) {
        ofp_msg_t *request = ofp_msg_recv (&ofp_lease_protocol, router);
        if (!request)
            break;
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
    //  The broker ends its timer in the loop: before the loop goes
    sched_broker_destroy (&self->broker);
    sched_settle_destroy (&self->settle);
    zloop_destroy (&self->loop);
    sched_table_destroy (&self->env.table);
    sched_keys_destroy (&self->env.keys);
    sched_sessions_destroy (&self->env.sessions);
    sched_fleet_destroy (&self->env.fleet);
    sched_health_destroy (&self->health);
    sched_models_destroy (&self->env.models);
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
    char bind_error [OF_SERVICE_BIND_ERROR_MAX];
    if (of_service_bind_pair (settings, &self.router, settings->scheduler_router,
                              &self.publisher, settings->scheduler_publisher, bind_error,
                              sizeof bind_error)) {
        of_service_failed (pipe, "%s", bind_error);
        s_destroy (&self);
        return;
    }
    self.clone = of_clone_new (settings->config_publisher, settings->config_router,
                               settings->liveness_ms);
    self.health = sched_health_new (settings->health_publisher);
    self.env.models = sched_models_new (settings->models_publisher);
    if (!self.clone || !self.health || !self.env.models) {
        of_service_failed (pipe, "cannot connect to configd (%s) or the monitors (%s, %s): %s",
                           settings->config_publisher, settings->health_publisher,
                           settings->models_publisher, strerror (errno));
        s_destroy (&self);
        return;
    }
    if (settings->tap)
        self.tap = self.publisher;
    //  An ingress that reconnects (same id) takes its routing id over
    zsock_set_router_handover (self.router, 1);
    //  s_on_request takes every request waiting, and stops when none is left
    zsock_set_rcvtimeo (self.router, 0);
    of_service_epoch (self.epoch);
    self.env.table = sched_table_new ();
    self.env.keys = sched_keys_new (settings->priority_step_ms);
    self.env.sessions = sched_sessions_new ((size_t) settings->max_sessions);
    self.loop = zloop_new ();
    self.broker = sched_broker_new (self.loop, self.router, self.tap, self.epoch, &self.env,
                                    (size_t) settings->max_queue);
    self.settle = sched_settle_new (zclock_mono (), settings->liveness_ms);
    s_settle (&self, zclock_mono ());
    of_clone_set_handler (self.clone, s_on_config, &self);
    of_log_info ("epoch %s; leases on %s, state on %s", self.epoch, settings->scheduler_router,
                 settings->scheduler_publisher);
    of_service_ready (pipe);

    zloop_set_nonstop (self.loop, true);
    zloop_reader (self.loop, pipe, of_service_on_pipe, NULL);
    zloop_reader (self.loop, self.router, s_on_request, &self);
    zloop_reader (self.loop, sched_health_socket (self.health), s_on_monitor, &self);
    zloop_reader (self.loop, sched_models_socket (self.env.models), s_on_monitor, &self);
    of_clone_attach (self.clone, self.loop);
    zloop_timer (self.loop, (size_t) settings->heartbeat_ms, 0, s_on_state_timer, &self);
    zloop_timer (self.loop, (size_t) settings->liveness_ms, 1, s_on_settle_timer, &self);
    s_publish_state (&self);
    zloop_start (self.loop);
    s_destroy (&self);
}

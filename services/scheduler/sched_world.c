/*  =========================================================================
    sched_world - the scheduler's surroundings, faked for its service test
    =========================================================================
*/

#include "sched_world.h"
#include "configd.h"
#include "scheduler.h"

//  Longer than the harness's 500 ms, so that a loaded machine under the
//  sanitizers never expires a fake ingress that the test keeps beating for
#define S_LIVENESS_MS 1500
#define S_LIVENESS_VARIABLE "OLLAMAFLOW_LIVENESS_MS=1500"
//  How long one round of the pump waits for input
#define S_SLICE_MS    20
//  The frontend the world adds over every backend, to probe health
#define S_PROBE       "probe"

struct _sched_world_t {
    it_env_t env;
    of_settings_t *settings;
    zactor_t *configd;              //  in-process actors,
    zactor_t *scheduler;
    pid_t configd_pid;              //  or the real programs
    pid_t scheduler_pid;
    zsock_t *healthmon;             //  the fake healthmon's PUB
    zsock_t *states;                //  SUB to the scheduler's STATE
    zsock_t *config;                //  DEALER to configd
    json_t *backends;               //  every backend id, in the seed's order
    json_t *health;                 //  backend -> state the fake healthmon says
    json_t *most;                   //  backend -> most leases seen in a STATE
    json_t *outcomes;               //  OUTCOME bodies published, as JSON text
    const char *awaited_command;    //  what sched_world_await_published waits for
    const char *awaited_text;
    bool awaited;
    int64_t health_sequence;
    int64_t health_at;              //  when the fake healthmon publishes next
    sched_ingress_t *ingresses [SCHED_WORLD_INGRESSES_MAX];
    size_t count;
    sched_ingress_t *prober;
};

static void
s_held_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_msg_destroy (void **item)
{
    ofp_msg_destroy ((ofp_msg_t **) item);
}

static zactor_t *
s_start (zactor_fn *actor_fn, of_settings_t *settings)
{
    zactor_t *actor = zactor_new (actor_fn, settings);
    char *status = zstr_recv (actor);
    IT_ASSERT (status && streq (status, "READY"), "actor failed: %s", status ? status : "-");
    zstr_free (&status);
    return actor;
}

//  The seed with a probe frontend over every backend added
static char *
s_settings_text (const char *extra, json_t **backends_p)
{
    json_t *settings = json_loads (extra, 0, NULL);
    IT_ASSERT (settings, "extra settings are not JSON: %s", extra);
    json_t *backends = json_array ();
    size_t index;
    json_t *backend;
    json_array_foreach (json_object_get (settings, "Backends"), index, backend)
        json_array_append (backends, json_object_get (backend, "Identifier"));
    json_array_append_new (json_object_get (settings, "Frontends"),
                           json_pack ("{s:s, s:O}", "Identifier", S_PROBE, "Backends", backends));
    char *text = json_dumps (settings, JSON_COMPACT);
    json_decref (settings);
    *backends_p = backends;
    return text;
}

sched_world_t *
sched_world_new (const char *name, const char *extra, bool binaries)
{
    sched_world_t *self = (sched_world_t *) zmalloc (sizeof (sched_world_t));
    char *text = s_settings_text (extra, &self->backends);
    it_env_init (&self->env, name, text);
    free (text);
    char error [OF_SETTINGS_ERROR_MAX];
    self->settings = of_settings_load (self->env.settings, error, sizeof error);
    IT_ASSERT (self->settings, "settings: %s", error);
    self->settings->liveness_ms = S_LIVENESS_MS;
    self->health = json_object ();
    self->most = json_object ();
    self->outcomes = json_array ();
    self->healthmon = zsock_new_pub (self->env.health_publisher);
    self->states = zsock_new_sub (self->env.scheduler_publisher, OFP_LEASE_SIGNATURE);
    IT_ASSERT (self->healthmon && self->states, "cannot bind the fake healthmon");
    if (binaries) {
        static const char *const environment [] = {S_LIVENESS_VARIABLE, NULL};
        self->configd_pid = it_start (&self->env, "ollamaflow-configd", environment);
        self->scheduler_pid = it_start (&self->env, "ollamaflow-scheduler", environment);
    }
    else {
        self->configd = s_start (configd_actor, self->settings);
        self->scheduler = s_start (scheduler_actor, self->settings);
    }
    self->config = it_config_client (&self->env);
    self->prober = sched_world_ingress (self, "prober", true);
    return self;
}

void
sched_world_destroy (sched_world_t **self_p)
{
    sched_world_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < self->count; index++) {
        sched_ingress_t *ingress = self->ingresses [index];
        zsock_destroy (&ingress->dealer);
        zlistx_destroy (&ingress->inbox);
        zlistx_destroy (&ingress->held);
        json_decref (ingress->asks);
        json_decref (ingress->pong);
        free (ingress);
    }
    zactor_destroy (&self->scheduler);
    zactor_destroy (&self->configd);
    //  A program must stop cleanly on SIGTERM (it_stop checks)
    if (self->scheduler_pid)
        it_stop (self->scheduler_pid, SIGTERM);
    if (self->configd_pid)
        it_stop (self->configd_pid, SIGTERM);
    zsock_destroy (&self->config);
    zsock_destroy (&self->healthmon);
    zsock_destroy (&self->states);
    json_decref (self->backends);
    json_decref (self->health);
    json_decref (self->most);
    json_decref (self->outcomes);
    of_settings_destroy (&self->settings);
    it_env_cleanup (&self->env);
    free (self);
    *self_p = NULL;
}

void
sched_world_restart (sched_world_t *self)
{
    if (self->scheduler_pid) {
        static const char *const environment [] = {S_LIVENESS_VARIABLE, NULL};
        it_stop (self->scheduler_pid, SIGKILL);
        self->scheduler_pid = it_start (&self->env, "ollamaflow-scheduler", environment);
    }
    else {
        zactor_destroy (&self->scheduler);
        self->scheduler = s_start (scheduler_actor, self->settings);
    }
}

zsock_t *
sched_world_config (sched_world_t *self)
{
    return self->config;
}

//  Reads what the scheduler published: notes the most leases each backend
//  had in a STATE, keeps OUTCOMEs, and notes when a message of the command
//  awaited contains the text awaited
static void
s_read_published (sched_world_t *self)
{
    while (zsock_events (self->states) & ZMQ_POLLIN) {
        ofp_msg_t *msg = ofp_msg_recv (&ofp_lease_protocol, self->states);
        if (!msg)
            break;
        IT_ASSERT (!ofp_msg_error (msg), "the scheduler published: %s", ofp_msg_error (msg));
        json_t *body = ofp_msg_body (msg);
        size_t index;
        json_t *record;
        json_array_foreach (json_object_get (body, "Backends"), index, record) {
            const char *backend = json_string_value (json_object_get (record, "Backend"));
            json_t *leases = json_object_get (record, "Leases");
            if (json_integer_value (leases) > json_integer_value (json_object_get (self->most, backend)))
                json_object_set (self->most, backend, leases);
        }
        char *dump = json_dumps (body, JSON_COMPACT);
        if (self->awaited_command && ofp_msg_is (msg, self->awaited_command)
            && strstr (dump, self->awaited_text))
            self->awaited = true;
        if (ofp_msg_is (msg, "OUTCOME"))
            json_array_append_new (self->outcomes, json_string (dump));
        free (dump);
        ofp_msg_destroy (&msg);
    }
}

//  --------------------------------------------------------------------------
//  The pump: heartbeats, health, receiving

static void
s_publish_health (sched_world_t *self)
{
    char now [OFP_TIMESTAMP_LENGTH + 1];
    of_schema_timestamp (now, sizeof now);
    json_t *records = json_array ();
    const char *backend;
    json_t *state;
    json_object_foreach (self->health, backend, state)
        json_array_append_new (records, json_pack ("{s:s, s:O, s:s, s:s, s:i, s:i}", "Backend",
                                                   backend, "State", state, "Since", now,
                                                   "Reason", "", "ConsecutiveSuccesses", 0,
                                                   "ConsecutiveFailures", 0));
    json_t *body = json_pack ("{s:s, s:I, s:i, s:o}", "Epoch", "feedfacefeedface", "Sequence",
                              (json_int_t) ++self->health_sequence, "IntervalMs", 1000,
                              "Backends", records);
    ofp_msg_t *msg = ofp_msg_new (&ofp_health_protocol, "STATE", NULL, &body);
    ofp_msg_send (&msg, self->healthmon);
    self->health_at = zclock_mono () + self->settings->heartbeat_ms;
}

static void
s_beat (sched_world_t *self, sched_ingress_t *ingress)
{
    json_t *body = json_pack ("{s:s, s:s, s:i, s:i}", "Ingress", ingress->id, "Epoch",
                              *ingress->epoch ? ingress->epoch : "0000000000000000", "Leases",
                              (int) zlistx_size (ingress->held), "Asks", 0);
    sched_world_send (self, ingress, "HEARTBEAT", body);
    ingress->beat_at = zclock_mono () + self->settings->heartbeat_ms;
}

static void
s_receive (sched_ingress_t *ingress)
{
    while (zsock_events (ingress->dealer) & ZMQ_POLLIN) {
        ofp_msg_t *msg = ofp_msg_recv (&ofp_lease_protocol, ingress->dealer);
        if (!msg)
            break;
        IT_ASSERT (ofp_msg_error (msg) == NULL, "the scheduler sent a malformed %s: %s",
                   ofp_msg_command (msg), ofp_msg_error (msg));
        if (ofp_msg_is (msg, "PONG")) {
            json_decref (ingress->pong);
            ingress->pong = json_incref (ofp_msg_body (msg));
            ingress->pongs++;
            ofp_msg_destroy (&msg);
        }
        else
            zlistx_add_end (ingress->inbox, msg);
    }
}

void
sched_world_pump (sched_world_t *self, int milliseconds)
{
    int64_t deadline = zclock_mono () + milliseconds;
    zpoller_t *poller = zpoller_new (NULL);
    for (size_t index = 0; index < self->count; index++)
        zpoller_add (poller, self->ingresses [index]->dealer);
    int64_t now;
    do {
        now = zclock_mono ();
        if (now >= self->health_at)
            s_publish_health (self);
        for (size_t index = 0; index < self->count; index++) {
            sched_ingress_t *ingress = self->ingresses [index];
            if (!ingress->silent && now >= ingress->beat_at)
                s_beat (self, ingress);
        }
        int64_t left = deadline - now;
        zpoller_wait (poller, (int) (left < S_SLICE_MS ? (left > 0 ? left : 0) : S_SLICE_MS));
        for (size_t index = 0; index < self->count; index++)
            s_receive (self->ingresses [index]);
        s_read_published (self);
    } while (zclock_mono () < deadline);
    zpoller_destroy (&poller);
}

//  --------------------------------------------------------------------------
//  Fake ingresses

sched_ingress_t *
sched_world_ingress (sched_world_t *self, const char *id, bool hello)
{
    IT_ASSERT (self->count < SCHED_WORLD_INGRESSES_MAX, "too many fake ingresses");
    sched_ingress_t *ingress = (sched_ingress_t *) zmalloc (sizeof (sched_ingress_t));
    snprintf (ingress->id, sizeof ingress->id, "%s", id);
    ingress->dealer = zsock_new (ZMQ_DEALER);
    zsock_set_identity (ingress->dealer, id);
    zsock_set_linger (ingress->dealer, 0);
    zsock_set_sndtimeo (ingress->dealer, IT_TIMEOUT_MS);
    IT_ASSERT (zsock_connect (ingress->dealer, "%s", self->env.scheduler_router) == 0, "connect");
    ingress->inbox = zlistx_new ();
    zlistx_set_destructor (ingress->inbox, s_msg_destroy);
    ingress->held = zlistx_new ();
    zlistx_set_destructor (ingress->held, s_held_destroy);
    ingress->asks = json_object ();
    self->ingresses [self->count++] = ingress;
    if (hello)
        sched_world_hello (self, ingress);
    return ingress;
}

void
sched_world_hello (sched_world_t *self, sched_ingress_t *ingress)
{
    json_t *body = json_pack ("{s:s, s:i, s:s}", "Ingress", ingress->id, "Pid", (int) getpid (),
                              "Version", "test");
    const char *request = sched_world_send (self, ingress, "HELLO", body);
    ofp_msg_t *welcome = sched_world_reply (self, ingress, request, "WELCOME");
    snprintf (ingress->epoch, sizeof ingress->epoch, "%s",
              json_string_value (json_object_get (ofp_msg_body (welcome), "Epoch")));
    ofp_msg_destroy (&welcome);
}

const char *
sched_world_send (sched_world_t *self, sched_ingress_t *ingress, const char *command,
                  json_t *body)
{
    (void) self;
    static char id [32];
    bool has_id = !streq (command, "RELEASE") && !streq (command, "HEARTBEAT");
    snprintf (id, sizeof id, "%s-%u", command, ++ingress->requests);
    if (!body)
        body = json_object ();
    ofp_msg_t *msg = ofp_msg_new (&ofp_lease_protocol, command, has_id ? id : NULL, &body);
    IT_ASSERT (ofp_msg_send (&msg, ingress->dealer) == 0, "send %s", command);
    return has_id ? id : NULL;
}

const char *
sched_world_ask (sched_world_t *self, sched_ingress_t *ingress, const char *fields)
{
    json_t *body = json_pack ("{s:s, s:s, s:[], s:[], s:i}", "Kind", "completions", "Model", "",
                              "Labels", "Exclude", "DeadlineMs", 30000);
    json_t *more = json_loads (fields, 0, NULL);
    IT_ASSERT (more, "not JSON: %s", fields);
    json_object_update (body, more);
    json_decref (more);
    char frontend [OFP_IDENTIFIER_MAX + 1];
    snprintf (frontend, sizeof frontend, "%s",
              json_is_string (json_object_get (body, "Frontend"))
                  ? json_string_value (json_object_get (body, "Frontend")) : "");
    const char *id = sched_world_send (self, ingress, "LEASE", body);
    json_object_set_new (ingress->asks, id, json_string (frontend));
    return id;
}

json_t *
sched_world_pong (sched_world_t *self, sched_ingress_t *ingress)
{
    unsigned pongs = ingress->pongs;
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    while (ingress->pongs == pongs) {
        IT_ASSERT (zclock_mono () < deadline, "%s got no PONG", ingress->id);
        sched_world_pump (self, S_SLICE_MS);
    }
    return ingress->pong;
}

bool
sched_world_received (sched_ingress_t *ingress, const char *id)
{
    for (ofp_msg_t *msg = (ofp_msg_t *) zlistx_first (ingress->inbox); msg;
         msg = (ofp_msg_t *) zlistx_next (ingress->inbox))
        if (ofp_msg_id (msg) && streq (ofp_msg_id (msg), id))
            return true;
    return false;
}

//  Takes the first message in the inbox that matches, or NULL
static ofp_msg_t *
s_take (sched_ingress_t *ingress, const char *id, const char *commands)
{
    for (ofp_msg_t *msg = (ofp_msg_t *) zlistx_first (ingress->inbox); msg;
         msg = (ofp_msg_t *) zlistx_next (ingress->inbox)) {
        const char *command = ofp_msg_command (msg);
        if ((id && (!ofp_msg_id (msg) || !streq (ofp_msg_id (msg), id)))
            || !strstr (commands, command))
            continue;
        zlistx_detach_cur (ingress->inbox);
        return msg;
    }
    return NULL;
}

static void
s_hold (sched_ingress_t *ingress, ofp_msg_t *grant)
{
    json_t *body = ofp_msg_body (grant);
    sched_held_t *held = (sched_held_t *) zmalloc (sizeof (sched_held_t));
    snprintf (held->epoch, sizeof held->epoch, "%s",
              json_string_value (json_object_get (body, "Epoch")));
    snprintf (held->lease, sizeof held->lease, "%s",
              json_string_value (json_object_get (body, "Lease")));
    snprintf (held->backend, sizeof held->backend, "%s",
              json_string_value (json_object_get (body, "Backend")));
    const char *frontend = json_string_value (json_object_get (ingress->asks, ofp_msg_id (grant)));
    snprintf (held->frontend, sizeof held->frontend, "%s", frontend ? frontend : "");
    zlistx_add_end (ingress->held, held);
}

ofp_msg_t *
sched_world_reply (sched_world_t *self, sched_ingress_t *ingress, const char *id,
                   const char *commands)
{
    char wanted [64];
    snprintf (wanted, sizeof wanted, "%s", id ? id : "");
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    ofp_msg_t *msg;
    while (!(msg = s_take (ingress, id ? wanted : NULL, commands))) {
        IT_ASSERT (zclock_mono () < deadline, "%s got no %s for %s", ingress->id, commands,
                   id ? wanted : "any ask");
        sched_world_pump (self, S_SLICE_MS);
    }
    if (ofp_msg_is (msg, "GRANT"))
        s_hold (ingress, msg);
    return msg;
}

void
sched_world_expect (sched_world_t *self, sched_ingress_t *ingress, const char *id,
                    const char *commands)
{
    ofp_msg_t *msg = sched_world_reply (self, ingress, id, commands);
    ofp_msg_destroy (&msg);
}

void
sched_world_queue (sched_world_t *self, sched_ingress_t *ingress, const char *fields, char *id)
{
    snprintf (id, SCHED_WORLD_ID_MAX, "%s", sched_world_ask (self, ingress, fields));
    sched_world_expect (self, ingress, id, "QUEUED");
}

//  "b1", "b1*", "DENY 429 QueueFull", "ERROR 409 NotRegistered"
static const char *
s_verdict (ofp_msg_t *msg)
{
    static char verdict [128];
    json_t *body = ofp_msg_body (msg);
    if (ofp_msg_is (msg, "GRANT"))
        snprintf (verdict, sizeof verdict, "%s%s",
                  json_string_value (json_object_get (body, "Backend")),
                  json_is_true (json_object_get (body, "Sticky")) ? "*" : "");
    else
        snprintf (verdict, sizeof verdict, "%s %lld %s", ofp_msg_command (msg),
                  (long long) json_integer_value (json_object_get (body, "Status")),
                  json_string_value (json_object_get (body, "Error")));
    return verdict;
}

const char *
sched_world_lease (sched_world_t *self, sched_ingress_t *ingress, const char *fields)
{
    const char *id = sched_world_ask (self, ingress, fields);
    ofp_msg_t *msg = sched_world_reply (self, ingress, id, "GRANT DENY ERROR");
    const char *verdict = s_verdict (msg);
    ofp_msg_destroy (&msg);
    return verdict;
}

void
sched_world_release_with (sched_world_t *self, sched_ingress_t *ingress, sched_held_t *held,
                          const char *fields)
{
    if (!held)
        held = (sched_held_t *) zlistx_first (ingress->held);
    IT_ASSERT (held, "%s holds no lease", ingress->id);
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:i, s:i, s:i}", "Lease", held->lease,
                              "Epoch", held->epoch, "Backend", held->backend, "Outcome", "ok",
                              "DurationMs", 100, "TtfbMs", 10, "Status", 200);
    if (fields) {
        json_t *extra = json_loads (fields, 0, NULL);
        IT_ASSERT (extra, "not JSON: %s", fields);
        json_object_update (body, extra);
        json_decref (extra);
    }
    sched_world_send (self, ingress, "RELEASE", body);
}

void
sched_world_release (sched_world_t *self, sched_ingress_t *ingress, sched_held_t *held)
{
    if (!held)
        held = (sched_held_t *) zlistx_first (ingress->held);
    sched_world_release_with (self, ingress, held, NULL);
    zlistx_delete (ingress->held, zlistx_find (ingress->held, held));
}

void
sched_world_release_all (sched_world_t *self, sched_ingress_t *ingress)
{
    while (zlistx_size (ingress->held))
        sched_world_release (self, ingress, NULL);
}

//  --------------------------------------------------------------------------
//  Health and state

//  Whether the scheduler sees the backend healthy: a probe that may only use it
static bool
s_probe (sched_world_t *self, const char *backend)
{
    json_t *others = json_array ();
    size_t index;
    json_t *id;
    json_array_foreach (self->backends, index, id)
        if (!streq (json_string_value (id), backend))
            json_array_append (others, id);
    json_t *fields = json_pack ("{s:s, s:s, s:o, s:i}", "Frontend", S_PROBE, "Kind", "other",
                                "Exclude", others, "DeadlineMs", 0);
    char *text = json_dumps (fields, JSON_COMPACT);
    json_decref (fields);
    const char *verdict = sched_world_lease (self, self->prober, text);
    free (text);
    if (streq (verdict, "ERROR 409 NotRegistered")) {
        //  The scheduler restarted: register the prober again
        sched_world_hello (self, self->prober);
        return false;
    }
    bool healthy = !strstr (verdict, "NoHealthyBackend");
    sched_world_release_all (self, self->prober);
    return healthy;
}

void
sched_world_health (sched_world_t *self, const char *backend, const char *state)
{
    json_object_set_new (self->health, backend, json_string (state));
    s_publish_health (self);
    bool healthy = streq (state, "Healthy");
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    while (s_probe (self, backend) != healthy) {
        IT_ASSERT (zclock_mono () < deadline, "the scheduler does not see %s %s", backend, state);
        sched_world_pump (self, S_SLICE_MS);
    }
}

void
sched_world_await_published (sched_world_t *self, const char *command, const char *text)
{
    //  OUTCOMEs are kept, since one may have come already; STATEs repeat
    size_t index;
    json_t *outcome;
    json_array_foreach (self->outcomes, index, outcome)
        if (streq (command, "OUTCOME") && strstr (json_string_value (outcome), text))
            return;
    self->awaited_command = command;
    self->awaited_text = text;
    self->awaited = false;
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    while (!self->awaited) {
        IT_ASSERT (zclock_mono () < deadline, "no %s with %s", command, text);
        sched_world_pump (self, S_SLICE_MS);
    }
    self->awaited_command = NULL;
}

size_t
sched_world_most_leases (sched_world_t *self, const char *backend)
{
    s_read_published (self);
    return (size_t) json_integer_value (json_object_get (self->most, backend));
}

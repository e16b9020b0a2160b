/*  =========================================================================
    ingress_link - the ingress's link to the scheduler (proto/lease.md)
    =========================================================================
*/

#include "ingress_link.h"
#include "of_evzmq.h"

struct _ingress_ask_t {
    ingress_link_t *link;
    char id [24];
    json_t *body;               //  the LEASE body, kept to send again after NotRegistered
    ingress_ask_fn *callback;
    void *arg;
    struct event *timer;        //  the ask's own bound: deadline plus liveness
    bool unavailable;           //  the timer fired because the scheduler is gone
    bool resend;                //  refused as NotRegistered: send again after WELCOME
};

struct _ingress_link_t {
    of_settings_t *settings;
    struct event_base *base;
    zsock_t *dealer;
    of_evzmq_t *watch;
    struct event *timer;
    char epoch [OFP_EPOCH_LENGTH + 1];
    bool registered;            //  a WELCOME came and nothing has denied it since
    int64_t heard_at;           //  zclock_mono of the scheduler's last answer
    int64_t hello_at;           //  zclock_mono of the last HELLO
    uint64_t hellos;
    uint64_t asks_made;
    zhashx_t *asks;             //  request id -> ingress_ask_t, open asks
    zhashx_t *leases;           //  "epoch/lease" -> ingress_lease_t, leases held
    json_t *peers;              //  the last PONG's Peers: named in the next HELLO
    bool peers_truncated;       //  ...or that there were too many to name
    uint64_t malformed;
    zlistx_t *outbox;           //  zmsg_t, encoded, in order: sent together at the end of the turn
    struct event *flush;        //  active while the outbox holds messages
};

//  Sends what this turn of the loop queued, then looks once for input (a
//  send may eat the ZMQ_FD edge: docs/notes/libevhtp.md). One batch per turn
//  instead of a send and a ZMQ_EVENTS check per message: fewer wake-ups of
//  ZeroMQ's I/O thread, fewer system calls.
static void
s_flush (ingress_link_t *self)
{
    zmsg_t *zmsg;
    while ((zmsg = (zmsg_t *) zlistx_detach (self->outbox, NULL))) {
        //  A send that cannot go out now fails: asks then run into their timer
        zmsg_send (&zmsg, self->dealer);
        zmsg_destroy (&zmsg);   //  zmsg_send keeps the message when it fails
    }
    of_evzmq_kick (self->watch);
}

static void
s_on_flush (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_flush ((ingress_link_t *) arg);
}

//  Queues a message for the end of this turn of the loop (order is kept),
//  encoded now: the bytes are what the message says at this moment
static void
s_send (ingress_link_t *self, ofp_msg_t **msg_p)
{
    if (zlistx_size (self->outbox) == 0)
        event_active (self->flush, EV_TIMEOUT, 0);
    zlistx_add_end (self->outbox, ofp_msg_encode (*msg_p));
    ofp_msg_destroy (msg_p);
}

static void
s_hello (ingress_link_t *self)
{
    char id [24];
    snprintf (id, sizeof id, "hello-%llu", (unsigned long long) ++self->hellos);
    json_t *body = json_pack ("{s:s, s:i, s:s}", "Ingress", self->settings->ingress_id, "Pid",
                              (int) getpid (), "Version", OF_VERSION);
    //  The ingresses registered with the scheduler before: a restarted one
    //  waits for their leases before it grants any (proto/lease.md, RESUME)
    if (self->peers)
        json_object_set (body, "Peers", self->peers);
    if (self->peers_truncated)
        json_object_set_new (body, "PeersTruncated", json_true ());
    ofp_msg_t *hello = ofp_msg_new (&ofp_lease_protocol, "HELLO", id, &body);
    self->hello_at = zclock_mono ();
    s_send (self, &hello);
}

static void
s_lease_key (const char *epoch, const char *lease, char *key, size_t size)
{
    snprintf (key, size, "%s/%s", epoch, lease);
}

static void
s_lease_free (ingress_lease_t **lease_p)
{
    ingress_lease_t *lease = *lease_p;
    if (lease) {
        free (lease->sticky_key);
        free (lease);
        *lease_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Asks

static void
s_ask_free (ingress_ask_t **ask_p)
{
    ingress_ask_t *ask = *ask_p;
    if (ask) {
        if (ask->timer)
            event_free (ask->timer);
        json_decref (ask->body);
        free (ask);
        *ask_p = NULL;
    }
}

//  Ends an ask: removes it and runs its callback once
static void
s_ask_finish (ingress_ask_t *ask, ingress_lease_t *lease, const ingress_denial_t *denial)
{
    zhashx_delete (ask->link->asks, ask->id);
    ingress_ask_fn *callback = ask->callback;
    void *arg = ask->arg;
    s_ask_free (&ask);
    callback (arg, lease, denial);
}

static void
s_ask_deny (ingress_ask_t *ask, int status, const char *error, const char *message)
{
    ingress_denial_t denial = {status, "", "", -1};
    snprintf (denial.error, sizeof denial.error, "%s", error);
    snprintf (denial.message, sizeof denial.message, "%s", message);
    s_ask_finish (ask, NULL, &denial);
}

static void
s_ask_send (ingress_link_t *self, ingress_ask_t *ask)
{
    json_t *body = json_incref (ask->body);
    ofp_msg_t *lease = ofp_msg_new (&ofp_lease_protocol, "LEASE", ask->id, &body);
    s_send (self, &lease);
}

static void
s_on_ask_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    ingress_ask_t *ask = (ingress_ask_t *) arg;
    ingress_link_t *self = ask->link;
    if (!ask->unavailable) {
        //  The scheduler owes every ask an answer by its deadline; it gave none
        json_t *body = json_pack ("{s:s}", "Reason", "no answer from the scheduler");
        ofp_msg_t *cancel = ofp_msg_new (&ofp_lease_protocol, "CANCEL", ask->id, &body);
        s_send (self, &cancel);
    }
    s_ask_deny (ask, 503, "SchedulerUnavailable",
                "ollamaflow's scheduler did not answer; try again shortly");
}

ingress_ask_t *
ingress_link_ask (ingress_link_t *self, json_t **body_p, ingress_ask_fn *callback, void *arg)
{
    assert (self && body_p && *body_p && callback);
    ingress_ask_t *ask = (ingress_ask_t *) zmalloc (sizeof (ingress_ask_t));
    ask->link = self;
    snprintf (ask->id, sizeof ask->id, "ask-%llu", (unsigned long long) ++self->asks_made);
    ask->body = *body_p;
    *body_p = NULL;
    ask->callback = callback;
    ask->arg = arg;
    ask->timer = evtimer_new (self->base, s_on_ask_timer, ask);
    zhashx_insert (self->asks, ask->id, ask);

    int64_t bound;
    if (!self->registered && zclock_mono () - self->heard_at >= self->settings->liveness_ms) {
        //  The scheduler is known to be gone: answer at once, from the loop
        ask->unavailable = true;
        bound = 0;
    }
    else {
        bound = json_integer_value (json_object_get (ask->body, "DeadlineMs"))
                + self->settings->liveness_ms;
        s_ask_send (self, ask);
    }
    struct timeval delay = {bound / 1000, (bound % 1000) * 1000};
    evtimer_add (ask->timer, &delay);
    return ask;
}

void
ingress_link_cancel (ingress_link_t *self, ingress_ask_t **ask_p, const char *reason)
{
    assert (self && ask_p);
    ingress_ask_t *ask = *ask_p;
    if (!ask)
        return;
    json_t *body = json_pack ("{s:s}", "Reason", reason ? reason : "");
    ofp_msg_t *cancel = ofp_msg_new (&ofp_lease_protocol, "CANCEL", ask->id, &body);
    s_send (self, &cancel);
    zhashx_delete (self->asks, ask->id);
    s_ask_free (ask_p);
}

//  Every open ask gets its 503 now: the scheduler is gone
static void
s_fail_asks (ingress_link_t *self)
{
    zlistx_t *open = zlistx_new ();
    for (ingress_ask_t *ask = (ingress_ask_t *) zhashx_first (self->asks); ask;
         ask = (ingress_ask_t *) zhashx_next (self->asks))
        zlistx_add_end (open, ask);
    for (ingress_ask_t *ask = (ingress_ask_t *) zlistx_first (open); ask;
         ask = (ingress_ask_t *) zlistx_next (open)) {
        ask->unavailable = true;
        event_active (ask->timer, EV_TIMEOUT, 0);
    }
    zlistx_destroy (&open);
}

//  --------------------------------------------------------------------------
//  Leases

static void
s_send_release (ingress_link_t *self, const char *epoch, const char *lease, const char *backend,
                const ingress_outcome_t *outcome, int64_t duration_ms)
{
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:I}", "Lease", lease, "Epoch", epoch,
                              "Backend", backend, "Outcome", outcome->outcome, "DurationMs",
                              (json_int_t) (duration_ms > 0 ? duration_ms : 0));
    if (outcome->ttfb_ms >= 0)
        json_object_set_new (body, "TtfbMs", json_integer (outcome->ttfb_ms));
    if (outcome->status >= 100 && outcome->status <= 599)
        json_object_set_new (body, "Status", json_integer (outcome->status));
    //  The meter's figures, each when the response said it
    const ingress_meter_t *meter = outcome->meter;
    if (meter) {
        const struct {
            const char *name;
            int64_t value;
            int64_t max;
        } figures [] = {
            {"PromptTokens", meter->tokens_in, INT64_MAX},
            {"CompletionTokens", meter->tokens_out, INT64_MAX},
            //  A server's cached count above its prompt count is not sent (the
            //  codec refuses it)
            {"CachedTokens", meter->tokens_in >= 0 && meter->tokens_cached > meter->tokens_in
                                 ? -1 : meter->tokens_cached, INT64_MAX},
            {"LoadUs", meter->load_us, OFP_LEASE_MICROS_MAX},
            {"PrefillUs", meter->prefill_us, OFP_LEASE_MICROS_MAX},
            {"DecodeUs", meter->decode_us, OFP_LEASE_MICROS_MAX}
        };
        for (size_t index = 0; index < sizeof figures / sizeof figures [0]; index++)
            if (figures [index].value >= 0 && figures [index].value <= figures [index].max)
                json_object_set_new (body, figures [index].name,
                                     json_integer (figures [index].value));
    }
    ofp_msg_t *release = ofp_msg_new (&ofp_lease_protocol, "RELEASE", NULL, &body);
    s_send (self, &release);
}

void
ingress_link_release (ingress_link_t *self, ingress_lease_t **lease_p,
                      const ingress_outcome_t *outcome)
{
    assert (self && lease_p && outcome);
    ingress_lease_t *lease = *lease_p;
    if (!lease)
        return;
    s_send_release (self, lease->epoch, lease->id, lease->backend, outcome,
                    zclock_mono () - lease->granted_at);
    char key [OFP_EPOCH_LENGTH + OFP_IDENTIFIER_MAX + 2];
    s_lease_key (lease->epoch, lease->id, key, sizeof key);
    zhashx_delete (self->leases, key);
    s_lease_free (lease_p);
}

static ingress_lease_t *
s_lease_from_grant (json_t *grant, json_t *ask_body)
{
    ingress_lease_t *lease = (ingress_lease_t *) zmalloc (sizeof (ingress_lease_t));
    snprintf (lease->epoch, sizeof lease->epoch, "%s",
              json_string_value (json_object_get (grant, "Epoch")));
    snprintf (lease->id, sizeof lease->id, "%s",
              json_string_value (json_object_get (grant, "Lease")));
    snprintf (lease->backend, sizeof lease->backend, "%s",
              json_string_value (json_object_get (grant, "Backend")));
    snprintf (lease->frontend, sizeof lease->frontend, "%s",
              json_string_value (json_object_get (ask_body, "Frontend")));
    const char *sticky_key = json_string_value (json_object_get (ask_body, "StickyKey"));
    lease->sticky_key = sticky_key ? strdup (sticky_key) : NULL;
    const char *key = json_string_value (json_object_get (ask_body, "Key"));
    snprintf (lease->key, sizeof lease->key, "%s", key ? key : "");
    snprintf (lease->hostname, sizeof lease->hostname, "%s",
              json_string_value (json_object_get (grant, "Hostname")));
    lease->port = (int) json_integer_value (json_object_get (grant, "Port"));
    lease->ssl = json_is_true (json_object_get (grant, "Ssl"));
    lease->openai = streq (json_string_value (json_object_get (grant, "ApiFormat")), "OpenAI");
    lease->sticky = json_is_true (json_object_get (grant, "Sticky"));
    lease->queued_ms = json_integer_value (json_object_get (grant, "QueuedMs"));
    lease->granted_at = zclock_mono ();
    return lease;
}

//  Declares every lease still held to a scheduler that does not know them
static void
s_resume (ingress_link_t *self)
{
    json_t *held = json_array ();
    for (ingress_lease_t *lease = (ingress_lease_t *) zhashx_first (self->leases); lease;
         lease = (ingress_lease_t *) zhashx_next (self->leases)) {
        json_t *record = json_pack ("{s:s, s:s, s:s, s:s}", "Lease", lease->id, "Epoch",
                                    lease->epoch, "Backend", lease->backend, "Frontend",
                                    lease->frontend);
        if (lease->sticky_key)
            json_object_set_new (record, "StickyKey", json_string (lease->sticky_key));
        //  The key's running requests stay counted against its limit
        if (*lease->key)
            json_object_set_new (record, "Key", json_string (lease->key));
        json_array_append_new (held, record);
    }
    //  In batches: each RESUME adds to what the scheduler holds. At least
    //  one, and the last says so: a restarted scheduler grants nothing
    //  until the leases from before it are declared (sched_settle)
    size_t total = json_array_size (held);
    for (size_t start = 0; start == 0 || start < total; start += OFP_LEASE_RESUME_MAX) {
        json_t *batch = json_array ();
        for (size_t i = start; i < total && i < start + OFP_LEASE_RESUME_MAX; i++)
            json_array_append (batch, json_array_get (held, i));
        json_t *body = json_pack ("{s:s, s:s, s:o, s:b}", "Ingress", self->settings->ingress_id,
                                  "Epoch", self->epoch, "Leases", batch, "Last",
                                  start + OFP_LEASE_RESUME_MAX >= total);
        char id [32];
        snprintf (id, sizeof id, "resume-%zu", start);
        ofp_msg_t *resume = ofp_msg_new (&ofp_lease_protocol, "RESUME", id, &body);
        s_send (self, &resume);
    }
    if (total)
        of_log_info ("declared %zu leases held to the scheduler (epoch %s)", total, self->epoch);
    json_decref (held);
}

//  --------------------------------------------------------------------------
//  Messages from the scheduler

static void
s_on_welcome (ingress_link_t *self, json_t *body)
{
    const char *epoch = json_string_value (json_object_get (body, "Epoch"));
    if (!streq (self->epoch, epoch))
        of_log_info ("registered with the scheduler, epoch %s", epoch);
    snprintf (self->epoch, sizeof self->epoch, "%s", epoch);
    self->registered = true;
    //  HELLO means "from nothing": what is still held must be declared again
    s_resume (self);
    //  Asks refused as NotRegistered go again, now that the scheduler knows us
    for (ingress_ask_t *ask = (ingress_ask_t *) zhashx_first (self->asks); ask;
         ask = (ingress_ask_t *) zhashx_next (self->asks))
        if (ask->resend) {
            ask->resend = false;
            s_ask_send (self, ask);
        }
}

static void
s_on_answer (ingress_link_t *self, ofp_msg_t *msg)
{
    json_t *body = ofp_msg_body (msg);
    ingress_ask_t *ask = (ingress_ask_t *) zhashx_lookup (self->asks, ofp_msg_id (msg));
    if (ofp_msg_is (msg, "GRANT")) {
        if (!ask) {
            //  A grant for an ask abandoned meanwhile: give the slot back at once
            ingress_outcome_t outcome = {"client_gone", 0, -1, NULL};
            s_send_release (self, json_string_value (json_object_get (body, "Epoch")),
                            json_string_value (json_object_get (body, "Lease")),
                            json_string_value (json_object_get (body, "Backend")), &outcome, 0);
            return;
        }
        ingress_lease_t *lease = s_lease_from_grant (body, ask->body);
        char key [OFP_EPOCH_LENGTH + OFP_IDENTIFIER_MAX + 2];
        s_lease_key (lease->epoch, lease->id, key, sizeof key);
        zhashx_update (self->leases, key, lease);
        s_ask_finish (ask, lease, NULL);
    }
    else if (ofp_msg_is (msg, "DENY") && ask) {
        ingress_denial_t denial = {0};
        denial.status = (int) json_integer_value (json_object_get (body, "Status"));
        snprintf (denial.error, sizeof denial.error, "%s",
                  json_string_value (json_object_get (body, "Error")));
        snprintf (denial.message, sizeof denial.message, "%s",
                  json_string_value (json_object_get (body, "Message")));
        json_t *retry = json_object_get (body, "RetryAfterMs");
        denial.retry_after_ms = json_is_integer (retry) ? json_integer_value (retry) : -1;
        s_ask_finish (ask, NULL, &denial);
    }
    else if (ofp_msg_is (msg, "ERROR")) {
        const char *error = json_string_value (json_object_get (body, "Error"));
        if (ask && streq (error, "NotRegistered")) {
            //  The scheduler restarted or expired us: register, then ask again
            ask->resend = true;
            if (self->registered || zclock_mono () - self->hello_at > self->settings->heartbeat_ms)
                s_hello (self);
            self->registered = false;
        }
        else if (ask) {
            of_log_error ("the scheduler refused ask %s: %s", ask->id,
                          json_string_value (json_object_get (body, "Message")));
            s_ask_deny (ask, 500, "InternalError", "the scheduler refused the request");
        }
        else
            of_log_warning ("the scheduler answered %s: %s", ofp_msg_id (msg),
                            json_string_value (json_object_get (body, "Message")));
    }
}

static void
s_on_message (zsock_t *dealer, void *arg)
{
    ingress_link_t *self = (ingress_link_t *) arg;
    //  The DEALER's receive timeout is 0: receive until nothing is left,
    //  which resets the ZMQ_FD edge as a ZMQ_EVENTS check would, without
    //  one (a system call) per message
    for (;;) {
        ofp_msg_t *msg = ofp_msg_recv (&ofp_lease_protocol, dealer);
        if (!msg)
            break;
        json_t *body = ofp_msg_body (msg);
        if (ofp_msg_error (msg)) {
            if (self->malformed++ == 0)
                of_log_warning ("malformed message from the scheduler: %s", ofp_msg_error (msg));
            ofp_msg_destroy (&msg);
            continue;
        }
        self->heard_at = zclock_mono ();
        if (ofp_msg_is (msg, "WELCOME"))
            s_on_welcome (self, body);
        else if (ofp_msg_is (msg, "PONG")) {
            const char *epoch = json_string_value (json_object_get (body, "Epoch"));
            //  Who was registered in the epoch this ingress knows
            if (streq (self->epoch, epoch)
                && json_is_true (json_object_get (body, "Registered"))) {
                json_decref (self->peers);
                self->peers = json_incref (json_object_get (body, "Peers"));
                self->peers_truncated = json_is_true (json_object_get (body, "PeersTruncated"));
            }
            if (!streq (self->epoch, epoch)
                || !json_is_true (json_object_get (body, "Registered"))) {
                of_log_info ("the scheduler restarted or forgot this ingress; registering again");
                self->registered = false;
                s_hello (self);
            }
        }
        else if (ofp_msg_is (msg, "GRANT") || ofp_msg_is (msg, "DENY")
                 || ofp_msg_is (msg, "ERROR"))
            s_on_answer (self, msg);
        //  QUEUED and RESUMED need nothing
        ofp_msg_destroy (&msg);
    }
}

static void
s_on_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    ingress_link_t *self = (ingress_link_t *) arg;
    int64_t now = zclock_mono ();
    int64_t liveness = self->settings->liveness_ms;
    if (self->registered && now - self->heard_at >= liveness) {
        of_log_warning ("the scheduler has been silent for %lld ms", (long long) liveness);
        self->registered = false;
        s_fail_asks (self);
    }
    if (self->registered) {
        json_t *body = json_pack ("{s:s, s:s, s:i, s:i}", "Ingress", self->settings->ingress_id,
                                  "Epoch", self->epoch, "Leases",
                                  (int) zhashx_size (self->leases), "Asks",
                                  (int) zhashx_size (self->asks));
        ofp_msg_t *heartbeat = ofp_msg_new (&ofp_lease_protocol, "HEARTBEAT", NULL, &body);
        s_send (self, &heartbeat);
    }
    else if (now - self->hello_at >= liveness)
        s_hello (self);
}

//  --------------------------------------------------------------------------
//  Construction

ingress_link_t *
ingress_link_new (struct event_base *base, of_settings_t *settings)
{
    assert (base && settings);
    ingress_link_t *self = (ingress_link_t *) zmalloc (sizeof (ingress_link_t));
    self->settings = settings;
    self->base = base;
    self->asks = zhashx_new ();
    self->leases = zhashx_new ();
    self->outbox = zlistx_new ();
    self->flush = event_new (base, -1, 0, s_on_flush, self);
    self->dealer = zsock_new (ZMQ_DEALER);
    assert (self->dealer);
    //  The scheduler knows a replica by its id, across reconnects
    zsock_set_identity (self->dealer, settings->ingress_id);
    zsock_set_linger (self->dealer, 0);
    zsock_set_sndtimeo (self->dealer, 0);
    zsock_set_rcvtimeo (self->dealer, 0);
    if (zsock_connect (self->dealer, "%s", settings->scheduler_router) != 0) {
        ingress_link_destroy (&self);
        return NULL;
    }
    self->heard_at = zclock_mono ();
    self->watch = of_evzmq_new (base, self->dealer, s_on_message, self);
    self->timer = event_new (base, -1, EV_PERSIST, s_on_timer, self);
    struct timeval interval = {settings->heartbeat_ms / 1000, (settings->heartbeat_ms % 1000) * 1000};
    event_add (self->timer, &interval);
    s_hello (self);
    return self;
}

void
ingress_link_destroy (ingress_link_t **self_p)
{
    assert (self_p);
    ingress_link_t *self = *self_p;
    if (!self)
        return;
    if (self->timer)
        event_free (self->timer);
    //  What the last turn queued still goes (as far as linger 0 lets it)
    if (self->dealer && self->watch)
        s_flush (self);
    if (self->flush)
        event_free (self->flush);
    for (zmsg_t *zmsg = self->outbox ? (zmsg_t *) zlistx_detach (self->outbox, NULL) : NULL;
         zmsg; zmsg = (zmsg_t *) zlistx_detach (self->outbox, NULL))
        zmsg_destroy (&zmsg);
    zlistx_destroy (&self->outbox);
    of_evzmq_destroy (&self->watch);
    for (ingress_ask_t *ask = (ingress_ask_t *) zhashx_first (self->asks); ask;
         ask = (ingress_ask_t *) zhashx_next (self->asks))
        s_ask_free (&ask);
    zhashx_destroy (&self->asks);
    for (ingress_lease_t *lease = (ingress_lease_t *) zhashx_first (self->leases); lease;
         lease = (ingress_lease_t *) zhashx_next (self->leases))
        s_lease_free (&lease);
    zhashx_destroy (&self->leases);
    json_decref (self->peers);
    zsock_destroy (&self->dealer);
    free (self);
    *self_p = NULL;
}

bool
ingress_link_up (ingress_link_t *self)
{
    assert (self);
    return self->registered;
}

const char *
ingress_link_epoch (ingress_link_t *self)
{
    assert (self);
    return self->epoch;
}

size_t
ingress_link_leases (ingress_link_t *self)
{
    assert (self);
    return zhashx_size (self->leases);
}

size_t
ingress_link_asks (ingress_link_t *self)
{
    assert (self);
    return zhashx_size (self->asks);
}

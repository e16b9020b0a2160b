/*  =========================================================================
    ingress_feed - a service's published per-backend state, followed
    =========================================================================
*/

#include "ingress_feed.h"

typedef struct {
    ingress_feed_fn *fn;
    void *arg;
} s_handler_t;

struct _ingress_feed_t {
    const ingress_feed_spec_t *spec;
    int64_t liveness_ms;
    zsock_t *subscriber;
    of_evzmq_t *watch;
    s_handler_t handlers [INGRESS_FEED_HANDLERS_MAX];
    json_t *records;            //  Backend -> record
    json_t *state;              //  the last STATE body, or NULL
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;           //  the last one received, 0 before any
    bool ready;
    int64_t heard_at;           //  zclock_mono of the last message, 0 before any
    uint64_t gaps;
    uint64_t malformed;
};

void
ingress_feed_apply (ingress_feed_t *self, ofp_msg_t *msg)
{
    assert (self && msg);
    const ingress_feed_spec_t *spec = self->spec;
    json_t *body = ofp_msg_body (msg);
    bool state = ofp_msg_is (msg, "STATE");
    const char *epoch = spec->state_epoch && !state
                            ? NULL
                            : json_string_value (json_object_get (body, "Epoch"));
    json_t *sequence = json_object_get (body, "Sequence");
    self->heard_at = zclock_mono ();
    //  A gap means a lost update: the next STATE, one heartbeat away, heals it
    if (epoch && streq (epoch, self->epoch) && json_integer_value (sequence) > self->sequence + 1
        && !spec->ignore)
        self->gaps++;
    if (epoch)
        snprintf (self->epoch, sizeof self->epoch, "%s", epoch);
    if (sequence)
        self->sequence = json_integer_value (sequence);
    if (state) {
        json_decref (self->state);
        self->state = json_incref (body);
        if (spec->records) {
            json_object_clear (self->records);
            size_t index;
            json_t *record;
            json_array_foreach (json_object_get (body, spec->records), index, record)
                json_object_set (self->records,
                                 json_string_value (json_object_get (record, "Backend")), record);
        }
        self->ready = true;
    }
    else if (spec->update && ofp_msg_is (msg, spec->update)) {
        json_t *record = json_deep_copy (body);
        json_object_del (record, "Epoch");
        json_object_del (record, "Sequence");
        if (spec->transient)
            json_object_del (record, spec->transient);
        json_object_set_new (self->records, json_string_value (json_object_get (body, "Backend")),
                             record);
    }
    for (int i = 0; i < INGRESS_FEED_HANDLERS_MAX; i++)
        if (self->handlers [i].fn)
            self->handlers [i].fn (self->handlers [i].arg, msg);
}

//  True if the frames are [signature, command, ...] with this command (not
//  checked further: a message dropped is never read)
static bool
s_is_command (zmsg_t *zmsg, const char *command)
{
    zframe_t *frame = zmsg_first (zmsg);
    frame = frame ? zmsg_next (zmsg) : NULL;
    size_t size = strlen (command);
    return frame && zframe_size (frame) == size && memcmp (zframe_data (frame), command, size) == 0;
}

static void
s_on_message (zsock_t *subscriber, void *arg)
{
    ingress_feed_t *self = (ingress_feed_t *) arg;
    while (zsock_events (subscriber) & ZMQ_POLLIN) {
        zmsg_t *zmsg = zmsg_recv (subscriber);
        if (!zmsg)
            break;
        if (self->spec->ignore && s_is_command (zmsg, self->spec->ignore)) {
            zmsg_destroy (&zmsg);
            continue;
        }
        ofp_msg_t *msg = ofp_msg_decode (self->spec->protocol, &zmsg, false);
        if (ofp_msg_error (msg)) {
            if (self->malformed++ == 0)
                of_log_warning ("malformed message from %s: %s", self->spec->service,
                                ofp_msg_error (msg));
        }
        else
            ingress_feed_apply (self, msg);
        ofp_msg_destroy (&msg);
    }
}

ingress_feed_t *
ingress_feed_new (struct event_base *base, const char *endpoint, int64_t liveness_ms,
                  const ingress_feed_spec_t *spec)
{
    assert (base && endpoint && spec && spec->service && spec->protocol && liveness_ms > 0);
    ingress_feed_t *self = (ingress_feed_t *) zmalloc (sizeof (ingress_feed_t));
    self->spec = spec;
    self->liveness_ms = liveness_ms;
    self->records = json_object ();
    self->subscriber = zsock_new (ZMQ_SUB);
    assert (self->subscriber);
    zsock_set_linger (self->subscriber, 0);
    zsock_set_subscribe (self->subscriber, spec->protocol->signature);
    if (zsock_connect (self->subscriber, "%s", endpoint) != 0) {
        ingress_feed_destroy (&self);
        return NULL;
    }
    self->watch = of_evzmq_new (base, self->subscriber, s_on_message, self);
    return self;
}

void
ingress_feed_destroy (ingress_feed_t **self_p)
{
    assert (self_p);
    ingress_feed_t *self = *self_p;
    if (!self)
        return;
    of_evzmq_destroy (&self->watch);
    zsock_destroy (&self->subscriber);
    json_decref (self->records);
    json_decref (self->state);
    free (self);
    *self_p = NULL;
}

void
ingress_feed_add_handler (ingress_feed_t *self, ingress_feed_fn *handler, void *arg)
{
    assert (self && handler);
    for (int i = 0; i < INGRESS_FEED_HANDLERS_MAX; i++)
        if (!self->handlers [i].fn) {
            self->handlers [i] = (s_handler_t) {handler, arg};
            return;
        }
    assert (false);             //  INGRESS_FEED_HANDLERS_MAX is too small
}

void
ingress_feed_remove_handler (ingress_feed_t *self, ingress_feed_fn *handler, void *arg)
{
    assert (self && handler);
    for (int i = 0; i < INGRESS_FEED_HANDLERS_MAX; i++)
        if (self->handlers [i].fn == handler && self->handlers [i].arg == arg)
            self->handlers [i] = (s_handler_t) {NULL, NULL};
}

bool
ingress_feed_ready (ingress_feed_t *self)
{
    assert (self);
    return self->ready;
}

bool
ingress_feed_alive (ingress_feed_t *self)
{
    assert (self);
    return self->heard_at && zclock_mono () - self->heard_at < self->liveness_ms;
}

const char *
ingress_feed_epoch (ingress_feed_t *self)
{
    assert (self);
    return self->epoch;
}

json_t *
ingress_feed_get (ingress_feed_t *self, const char *backend)
{
    assert (self);
    return backend ? json_object_get (self->records, backend) : NULL;
}

json_t *
ingress_feed_state (ingress_feed_t *self)
{
    assert (self);
    return self->state;
}

json_t *
ingress_feed_status (ingress_feed_t *self)
{
    assert (self);
    return ingress_feed_liveness (self->spec->service, ingress_feed_alive (self), self->epoch,
                                  self->heard_at, self->sequence);
}

json_t *
ingress_feed_liveness (const char *service, bool alive, const char *epoch, int64_t heard_at,
                       int64_t sequence)
{
    assert (service && epoch);
    json_t *status = json_pack ("{s:s, s:b}", "Service", service, "Alive", alive);
    if (heard_at) {
        int64_t silent = zclock_mono () - heard_at;
        char heard_utc [OFP_TIMESTAMP_LENGTH + 1];
        of_schema_time (zclock_time () - silent, heard_utc, sizeof heard_utc);
        json_object_set_new (status, "Epoch", json_string (epoch));
        json_object_set_new (status, "LastHeartbeatUtc", json_string (heard_utc));
        json_object_set_new (status, "SilentMs", json_integer (silent));
        json_object_set_new (status, "Sequence", json_integer (sequence));
    }
    return status;
}

//  --------------------------------------------------------------------------
//  Self test

static void
s_test_publish (zsock_t *publisher, const char *command, const char *body)
{
    json_t *json = json_loads (body, 0, NULL);
    assert (json);
    ofp_msg_t *msg = ofp_msg_new (&ofp_models_protocol, command, NULL, &json);
    ofp_msg_send (&msg, publisher);
}

static void
s_test_count (void *arg, ofp_msg_t *msg)
{
    (void) msg;
    (*(int *) arg)++;
}

//  Runs the loop long enough for what was published to arrive
static void
s_test_settle (struct event_base *base)
{
    zclock_sleep (50);
    struct timeval pause = {0, 50000};
    event_base_loopexit (base, &pause);
    event_base_dispatch (base);
}

void
ingress_feed_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_feed: ");
    static const ingress_feed_spec_t spec = {"modelsync", &ofp_models_protocol, "Inventories",
                                             "INVENTORY", NULL, false, NULL};
    struct event_base *base = event_base_new ();
    zsock_t *publisher = zsock_new_pub ("inproc://ingress_feed_test");
    assert (base && publisher);
    ingress_feed_t *self = ingress_feed_new (base, "inproc://ingress_feed_test", 300, &spec);
    assert (self && !ingress_feed_ready (self) && !ingress_feed_alive (self));
    int messages = 0;
    ingress_feed_add_handler (self, s_test_count, &messages);
    zclock_sleep (50);          //  the subscription reaches the publisher

    //  STATE: every record; the feed is ready and alive
    s_test_publish (publisher, "STATE",
                    "{\"Epoch\":\"00000000000000aa\",\"Sequence\":1,\"Inventories\":["
                    "{\"Backend\":\"a\",\"ApiFormat\":\"Ollama\",\"Models\":[],\"Loaded\":[]},"
                    "{\"Backend\":\"b\",\"ApiFormat\":\"OpenAI\",\"Models\":[],\"Loaded\":[]}],"
                    "\"Pulls\":[]}");
    s_test_settle (base);
    assert (ingress_feed_ready (self) && ingress_feed_alive (self) && messages == 1);
    assert (ingress_feed_get (self, "a") && ingress_feed_get (self, "b"));
    assert (streq (ingress_feed_epoch (self), "00000000000000aa"));

    //  INVENTORY replaces one backend's record, without Epoch and Sequence
    s_test_publish (publisher, "INVENTORY",
                    "{\"Epoch\":\"00000000000000aa\",\"Sequence\":2,\"Backend\":\"a\","
                    "\"ApiFormat\":\"Ollama\",\"Models\":[{\"Name\":\"m:latest\",\"Model\":"
                    "\"m:latest\",\"Details\":{}}],\"Loaded\":[]}");
    s_test_settle (base);
    json_t *a = ingress_feed_get (self, "a");
    assert (json_array_size (json_object_get (a, "Models")) == 1);
    assert (!json_object_get (a, "Sequence"));

    //  A gap is counted, and the next STATE replaces everything (b is gone)
    s_test_publish (publisher, "STATE",
                    "{\"Epoch\":\"00000000000000aa\",\"Sequence\":9,\"Inventories\":["
                    "{\"Backend\":\"a\",\"ApiFormat\":\"Ollama\",\"Models\":[],\"Loaded\":[]}],"
                    "\"Pulls\":[]}");
    s_test_settle (base);
    assert (self->gaps == 1 && !ingress_feed_get (self, "b"));
    assert (json_array_size (json_object_get (ingress_feed_get (self, "a"), "Models")) == 0);
    assert (json_integer_value (json_object_get (ingress_feed_state (self), "Sequence")) == 9);

    //  Every handler sees every message, until removed
    int seen = 0;
    ingress_feed_add_handler (self, s_test_count, &seen);
    s_test_publish (publisher, "INVENTORY",
                    "{\"Epoch\":\"00000000000000aa\",\"Sequence\":10,\"Backend\":\"a\","
                    "\"ApiFormat\":\"Ollama\",\"Models\":[],\"Loaded\":[]}");
    s_test_settle (base);
    ingress_feed_remove_handler (self, s_test_count, &seen);
    assert (seen == 1 && messages == 4);

    //  Silence: stale, with the last records kept
    zclock_sleep (350);
    assert (!ingress_feed_alive (self) && ingress_feed_ready (self));
    assert (ingress_feed_get (self, "a"));
    json_t *status = ingress_feed_status (self);
    assert (streq (json_string_value (json_object_get (status, "Service")), "modelsync"));
    assert (json_is_false (json_object_get (status, "Alive")));
    assert (json_integer_value (json_object_get (status, "Sequence")) == 10);
    json_decref (status);

    ingress_feed_destroy (&self);
    ingress_feed_destroy (&self);

    //  A command the feed ignores is dropped before it is decoded: handlers
    //  never see it, a malformed one is not counted, and the Sequence it
    //  takes is no gap
    static const ingress_feed_spec_t ignoring = {"modelsync", &ofp_models_protocol,
                                                 "Inventories", "INVENTORY", NULL, false,
                                                 "INVENTORY"};
    self = ingress_feed_new (base, "inproc://ingress_feed_test", 300, &ignoring);
    messages = 0;
    ingress_feed_add_handler (self, s_test_count, &messages);
    zclock_sleep (50);
    s_test_publish (publisher, "STATE",
                    "{\"Epoch\":\"00000000000000aa\",\"Sequence\":1,\"Inventories\":["
                    "{\"Backend\":\"a\",\"ApiFormat\":\"Ollama\",\"Models\":[],\"Loaded\":[]}],"
                    "\"Pulls\":[]}");
    s_test_publish (publisher, "INVENTORY",
                    "{\"Epoch\":\"00000000000000aa\",\"Sequence\":2,\"Backend\":\"b\","
                    "\"ApiFormat\":\"Ollama\",\"Models\":[],\"Loaded\":[]}");
    zmsg_t *broken = zmsg_new ();
    zmsg_addstr (broken, ofp_models_protocol.signature);
    zmsg_addstr (broken, "INVENTORY");
    zmsg_addstr (broken, "");
    zmsg_addstr (broken, "{not json");
    zmsg_send (&broken, publisher);
    s_test_publish (publisher, "STATE",
                    "{\"Epoch\":\"00000000000000aa\",\"Sequence\":4,\"Inventories\":["
                    "{\"Backend\":\"a\",\"ApiFormat\":\"Ollama\",\"Models\":[],\"Loaded\":[]}],"
                    "\"Pulls\":[]}");
    s_test_settle (base);
    assert (messages == 2 && self->malformed == 0 && self->gaps == 0);
    assert (ingress_feed_get (self, "a") && !ingress_feed_get (self, "b"));
    ingress_feed_destroy (&self);

    //  The scheduler's OUTCOME carries its lease's epoch, not the publisher's;
    //  healthmon's TRANSITION loses Previous, which is not part of a record
    static const ingress_feed_spec_t health = {"healthmon", &ofp_health_protocol, "Backends",
                                               "TRANSITION", "Previous", true, NULL};
    self = ingress_feed_new (base, "inproc://ingress_feed_test_none", 300, &health);
    status = ingress_feed_status (self);
    assert (!json_object_get (status, "Epoch"));
    json_decref (status);
    json_t *body = json_pack ("{s:s, s:i, s:[]}", "Epoch", "00000000000000bb", "Sequence", 1,
                              "Backends");
    ofp_msg_t *msg = ofp_msg_new (&ofp_health_protocol, "STATE", NULL, &body);
    ingress_feed_apply (self, msg);
    ofp_msg_destroy (&msg);
    body = json_pack ("{s:s, s:i, s:s, s:s, s:s}", "Epoch", "00000000000000cc", "Sequence", 2,
                      "Backend", "a", "State", "Healthy", "Previous", "Unknown");
    msg = ofp_msg_new (&ofp_health_protocol, "TRANSITION", NULL, &body);
    ingress_feed_apply (self, msg);
    ofp_msg_destroy (&msg);
    assert (streq (ingress_feed_epoch (self), "00000000000000bb"));
    assert (!json_object_get (ingress_feed_get (self, "a"), "Previous"));
    assert (ingress_feed_alive (self));
    ingress_feed_destroy (&self);
    zsock_destroy (&publisher);
    event_base_free (base);
    printf ("OK\n");
}

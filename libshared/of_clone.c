/*  =========================================================================
    of_clone - a service's copy of the config, kept current from configd
    =========================================================================
*/

#include "of_clone.h"
#include "ofp_classes.h"
#include "of_evzmq.h"

//  Updates kept while a snapshot is awaited; beyond this, they are dropped
//  and the next heartbeat shows the gap, which asks for another snapshot.
#define S_PENDING_MAX 10000
//  How often of_clone_attach's timer ticks, per liveness interval
#define S_TICKS_PER_LIVENESS 5

struct _of_clone_t {
    zsock_t *subscriber;
    zsock_t *requester;
    int64_t liveness_ms;
    of_clone_fn *handler;
    void *handler_arg;

    json_t *objects [OF_KIND_COUNT];    //  Identifier -> object
    of_records_t *records;              //  compiled from objects after each change
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;
    bool ready;

    bool awaiting;                      //  a SNAPSHOT is in flight
    char request_id [24];               //  the one whose STATE we accept
    uint64_t requests;                  //  request ids are this counter
    int64_t requested_at;               //  zclock_mono of the last SNAPSHOT
    json_t *pending;                    //  UPDATE bodies received meanwhile
    int64_t heard_at;                   //  zclock_mono of configd's last message
    bool heard;                         //  configd was heard at all

    uint64_t snapshots;
    uint64_t malformed;

    //  When a libevent loop drives the copy
    of_evzmq_t *watches [2];
    struct event *timer;
};

static void
s_request_snapshot (of_clone_t *self)
{
    snprintf (self->request_id, sizeof self->request_id, "snap-%llu",
              (unsigned long long) ++self->requests);
    ofp_msg_t *request = ofp_msg_new (&ofp_config_protocol, "SNAPSHOT", self->request_id, NULL);
    //  Fails (and is retried later) while configd is not connected
    ofp_msg_send (&request, self->requester);
    self->awaiting = true;
    self->requested_at = zclock_mono ();
}

of_clone_t *
of_clone_new (const char *publisher, const char *router, int64_t liveness_ms)
{
    assert (publisher && router && liveness_ms > 0);
    of_clone_t *self = (of_clone_t *) zmalloc (sizeof (of_clone_t));
    self->subscriber = zsock_new (ZMQ_SUB);
    self->requester = zsock_new (ZMQ_DEALER);
    assert (self->subscriber && self->requester);
    zsock_set_subscribe (self->subscriber, OFP_CONFIG_SIGNATURE);
    zsock_set_linger (self->requester, 0);
    zsock_set_linger (self->subscriber, 0);
    //  Never block the service: a send that cannot go out now fails, and the
    //  snapshot request is retried on the next tick
    zsock_set_sndtimeo (self->requester, 0);
    if (zsock_connect (self->subscriber, "%s", publisher) != 0
        || zsock_connect (self->requester, "%s", router) != 0) {
        of_clone_destroy (&self);
        return NULL;
    }
    self->liveness_ms = liveness_ms;
    for (int kind = 0; kind < OF_KIND_COUNT; kind++)
        self->objects [kind] = json_object ();
    self->pending = json_array ();
    self->records = of_records_new (NULL, NULL, NULL, NULL);
    self->heard_at = zclock_mono () - liveness_ms;
    s_request_snapshot (self);
    return self;
}

void
of_clone_destroy (of_clone_t **self_p)
{
    assert (self_p);
    of_clone_t *self = *self_p;
    if (!self)
        return;
    of_evzmq_destroy (&self->watches [0]);
    of_evzmq_destroy (&self->watches [1]);
    if (self->timer)
        event_free (self->timer);
    zsock_destroy (&self->subscriber);
    zsock_destroy (&self->requester);
    for (int kind = 0; kind < OF_KIND_COUNT; kind++)
        json_decref (self->objects [kind]);
    of_records_destroy (&self->records);
    json_decref (self->pending);
    free (self);
    *self_p = NULL;
}

void
of_clone_set_handler (of_clone_t *self, of_clone_fn *handler, void *arg)
{
    assert (self);
    self->handler = handler;
    self->handler_arg = arg;
}

zsock_t *
of_clone_subscriber (of_clone_t *self)
{
    assert (self);
    return self->subscriber;
}

zsock_t *
of_clone_requester (of_clone_t *self)
{
    assert (self);
    return self->requester;
}

//  Compiles the records again; the ones of unchanged objects are shared
static void
s_compile (of_clone_t *self)
{
    of_records_t *records = of_records_new (self->objects [OF_KIND_FRONTEND],
                                            self->objects [OF_KIND_BACKEND],
                                            self->objects [OF_KIND_KEY], self->records);
    of_records_destroy (&self->records);
    self->records = records;
}

//  Applies one UPDATE body that is known to be the next change
static void
s_apply (of_clone_t *self, json_t *body)
{
    of_kind_t kind;
    if (of_kind_parse (json_string_value (json_object_get (body, "Kind")), &kind) != 0)
        return;     //  the codec checked it; keep the copy whole regardless
    const char *identifier = json_string_value (json_object_get (body, "Identifier"));
    json_t *object = json_object_get (body, "Object");
    if (json_is_object (object))
        json_object_set (self->objects [kind], identifier, object);
    else
        json_object_del (self->objects [kind], identifier);
    self->sequence = json_integer_value (json_object_get (body, "Sequence"));
    s_compile (self);
    if (self->handler)
        self->handler (self->handler_arg, kind, identifier,
                       json_is_object (object) ? object : NULL);
}

//  Takes an UPDATE in order, or notices that something was missed
static void
s_on_update (of_clone_t *self, json_t *body)
{
    if (self->awaiting) {
        if (json_array_size (self->pending) < S_PENDING_MAX)
            json_array_append (self->pending, body);
        return;
    }
    const char *epoch = json_string_value (json_object_get (body, "Epoch"));
    int64_t sequence = json_integer_value (json_object_get (body, "Sequence"));
    if (!streq (epoch, self->epoch) || sequence > self->sequence + 1)
        s_request_snapshot (self);
    else if (sequence == self->sequence + 1)
        s_apply (self, body);
    //  else: a change the copy already has
}

static void
s_on_heartbeat (of_clone_t *self, json_t *body)
{
    if (self->awaiting)
        return;
    const char *epoch = json_string_value (json_object_get (body, "Epoch"));
    int64_t sequence = json_integer_value (json_object_get (body, "Sequence"));
    if (!streq (epoch, self->epoch) || sequence > self->sequence)
        s_request_snapshot (self);
}

//  Replaces the whole copy, then applies the updates that came meanwhile
static void
s_on_state (of_clone_t *self, json_t *body)
{
    static const char *const keys [OF_KIND_COUNT] = {"Frontends", "Backends", "Keys"};
    for (int kind = 0; kind < OF_KIND_COUNT; kind++) {
        json_t *objects = json_object ();
        size_t index;
        json_t *object;
        json_array_foreach (json_object_get (body, keys [kind]), index, object) {
            const char *identifier = json_string_value (json_object_get (object, "Identifier"));
            if (identifier)
                json_object_set (objects, identifier, object);
        }
        json_decref (self->objects [kind]);
        self->objects [kind] = objects;
    }
    snprintf (self->epoch, sizeof self->epoch, "%s",
              json_string_value (json_object_get (body, "Epoch")));
    self->sequence = json_integer_value (json_object_get (body, "Sequence"));
    self->awaiting = false;
    self->ready = true;
    self->snapshots++;
    s_compile (self);
    if (self->handler)
        self->handler (self->handler_arg, OF_KIND_COUNT, NULL, NULL);

    json_t *pending = self->pending;
    self->pending = json_array ();
    size_t index;
    json_t *update;
    json_array_foreach (pending, index, update)
        s_on_update (self, update);
    json_decref (pending);
}

static void
s_recv_subscriber (of_clone_t *self)
{
    ofp_msg_t *msg = ofp_msg_recv (&ofp_config_protocol, self->subscriber);
    if (!msg)
        return;
    if (ofp_msg_error (msg))
        self->malformed++;
    else {
        self->heard_at = zclock_mono ();
        self->heard = true;
        if (ofp_msg_is (msg, "UPDATE"))
            s_on_update (self, ofp_msg_body (msg));
        else if (ofp_msg_is (msg, "HEARTBEAT"))
            s_on_heartbeat (self, ofp_msg_body (msg));
    }
    ofp_msg_destroy (&msg);
}

static void
s_recv_requester (of_clone_t *self)
{
    ofp_msg_t *msg = ofp_msg_recv (&ofp_config_protocol, self->requester);
    if (!msg)
        return;
    if (ofp_msg_error (msg))
        self->malformed++;
    else if (ofp_msg_is (msg, "STATE") && self->awaiting
             && streq (ofp_msg_id (msg), self->request_id)) {
        self->heard_at = zclock_mono ();
        self->heard = true;
        s_on_state (self, ofp_msg_body (msg));
    }
    //  Replies to older requests are dropped: a newer one is in flight
    ofp_msg_destroy (&msg);
}

void
of_clone_recv (of_clone_t *self)
{
    assert (self);
    //  Until neither socket shows input: ZMQ_FD is edge-triggered, and our own
    //  sends (snapshot requests) can swallow an edge
    bool more = true;
    while (more) {
        more = false;
        if (zsock_events (self->subscriber) & ZMQ_POLLIN) {
            s_recv_subscriber (self);
            more = true;
        }
        if (zsock_events (self->requester) & ZMQ_POLLIN) {
            s_recv_requester (self);
            more = true;
        }
    }
}

int64_t
of_clone_tick (of_clone_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
    if (self->awaiting && now - self->requested_at >= self->liveness_ms)
        s_request_snapshot (self);
    of_clone_recv (self);
    int64_t next = self->awaiting ? self->requested_at + self->liveness_ms - now
                                  : self->liveness_ms;
    return next > 0 ? next : 1;
}

static int
s_on_socket (zloop_t *loop, zsock_t *sock, void *arg)
{
    (void) loop;
    (void) sock;
    of_clone_recv ((of_clone_t *) arg);
    return 0;
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    of_clone_tick ((of_clone_t *) arg);
    return 0;
}

int
of_clone_attach (of_clone_t *self, zloop_t *loop)
{
    assert (self && loop);
    if (zloop_reader (loop, self->subscriber, s_on_socket, self) != 0
        || zloop_reader (loop, self->requester, s_on_socket, self) != 0)
        return -1;
    //  Often enough that a lost snapshot request is retried within the liveness interval
    size_t interval = (size_t) (self->liveness_ms / S_TICKS_PER_LIVENESS);
    zloop_timer (loop, interval > 0 ? interval : 1, 0, s_on_timer, self);
    return 0;
}

static void
s_on_events (zsock_t *sock, void *arg)
{
    (void) sock;
    of_clone_recv ((of_clone_t *) arg);
}

static void
s_on_event_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    of_clone_t *self = (of_clone_t *) arg;
    int64_t next = of_clone_tick (self);
    //  The tick may have sent a snapshot request, which can swallow an edge
    of_evzmq_kick (self->watches [0]);
    of_evzmq_kick (self->watches [1]);
    struct timeval delay = {next / 1000, (next % 1000) * 1000};
    evtimer_add (self->timer, &delay);
}

int
of_clone_attach_events (of_clone_t *self, struct event_base *base)
{
    assert (self && base && !self->timer);
    self->watches [0] = of_evzmq_new (base, self->subscriber, s_on_events, self);
    self->watches [1] = of_evzmq_new (base, self->requester, s_on_events, self);
    self->timer = evtimer_new (base, s_on_event_timer, self);
    if (!self->watches [0] || !self->watches [1] || !self->timer)
        return -1;
    s_on_event_timer (-1, 0, self);
    return 0;
}

bool
of_clone_ready (of_clone_t *self)
{
    assert (self);
    return self->ready;
}

bool
of_clone_alive (of_clone_t *self)
{
    assert (self);
    return zclock_mono () - self->heard_at < self->liveness_ms;
}

int64_t
of_clone_heard (of_clone_t *self)
{
    assert (self);
    return self->heard ? self->heard_at : 0;
}

const char *
of_clone_epoch (of_clone_t *self)
{
    assert (self);
    return self->epoch;
}

int64_t
of_clone_sequence (of_clone_t *self)
{
    assert (self);
    return self->sequence;
}

json_t *
of_clone_objects (of_clone_t *self, of_kind_t kind)
{
    assert (self && kind < OF_KIND_COUNT);
    return self->objects [kind];
}

json_t *
of_clone_get (of_clone_t *self, of_kind_t kind, const char *identifier)
{
    assert (self && kind < OF_KIND_COUNT && identifier);
    return json_object_get (self->objects [kind], identifier);
}

of_records_t *
of_clone_records (of_clone_t *self)
{
    assert (self);
    return self->records;
}

uint64_t
of_clone_snapshots (of_clone_t *self)
{
    assert (self);
    return self->snapshots;
}

uint64_t
of_clone_malformed (of_clone_t *self)
{
    assert (self);
    return self->malformed;
}

//  --------------------------------------------------------------------------
//  Self test: a scripted configd on inproc sockets

typedef struct {
    zsock_t *router;
    zsock_t *publisher;
    int changes;
} s_fake_t;

static void
s_count_changes (void *arg, of_kind_t kind, const char *identifier, json_t *object)
{
    (void) kind;
    (void) identifier;
    (void) object;
    ((s_fake_t *) arg)->changes++;
}

static void
s_publish (s_fake_t *fake, const char *command, const char *text)
{
    json_t *body = json_loads (text, 0, NULL);
    assert (body);
    ofp_msg_t *msg = ofp_msg_new (&ofp_config_protocol, command, NULL, &body);
    ofp_msg_send (&msg, fake->publisher);
}

//  Answers the next SNAPSHOT with the given STATE body; returns its request id
static void
s_answer_snapshot (s_fake_t *fake, const char *state)
{
    ofp_msg_t *request = ofp_msg_recv (&ofp_config_protocol, fake->router);
    assert (request && !ofp_msg_error (request) && ofp_msg_is (request, "SNAPSHOT"));
    json_t *body = json_loads (state, 0, NULL);
    ofp_msg_t *reply = ofp_msg_reply (request, "STATE", &body);
    ofp_msg_send (&reply, fake->router);
    ofp_msg_destroy (&request);
}

//  Lets the clone read what was sent to it
static void
s_settle (of_clone_t *clone)
{
    for (int i = 0; i < 20; i++) {
        zclock_sleep (5);
        of_clone_recv (clone);
    }
}

void
of_clone_test (bool verbose)
{
    (void) verbose;
    printf (" * of_clone: ");
    s_fake_t fake = {0};
    fake.router = zsock_new_router ("inproc://of_clone_router");
    fake.publisher = zsock_new_pub ("inproc://of_clone_publisher");
    of_clone_t *clone = of_clone_new ("inproc://of_clone_publisher", "inproc://of_clone_router",
                                      200);
    assert (clone);
    of_clone_set_handler (clone, s_count_changes, &fake);
    assert (!of_clone_ready (clone) && of_clone_heard (clone) == 0);
    zclock_sleep (20);          //  the subscription reaches the publisher

    //  An update before the snapshot is kept, and applied if newer than it
    s_publish (&fake, "UPDATE", "{\"Epoch\":\"aaaaaaaaaaaaaaaa\",\"Sequence\":4,\"Kind\":"
                                "\"backend\",\"Identifier\":\"b2\",\"Object\":{\"Identifier\":\"b2\"}}");
    s_settle (clone);
    s_answer_snapshot (&fake, "{\"Epoch\":\"aaaaaaaaaaaaaaaa\",\"Sequence\":3,\"Frontends\":[],"
                              "\"Backends\":[{\"Identifier\":\"b1\"}]}");
    s_settle (clone);
    assert (of_clone_ready (clone) && of_clone_alive (clone) && of_clone_heard (clone) > 0);
    assert (of_clone_sequence (clone) == 4);
    assert (of_clone_get (clone, OF_KIND_BACKEND, "b1"));
    assert (of_clone_get (clone, OF_KIND_BACKEND, "b2"));
    assert (fake.changes == 2);        //  the reload, then b2
    //  ...and compiled into records, the handler seeing them already
    assert (of_records_backend_count (of_clone_records (clone)) == 2);
    const of_backend_t *b1 = of_records_backend (of_clone_records (clone), "b1");
    assert (b1 && b1->port == 11434 && b1->api_format == OF_API_OLLAMA);
    of_records_t *held = of_records_ref (of_clone_records (clone));

    //  In order: applied; a duplicate: ignored; a deletion
    s_publish (&fake, "UPDATE", "{\"Epoch\":\"aaaaaaaaaaaaaaaa\",\"Sequence\":5,\"Kind\":"
                                "\"backend\",\"Identifier\":\"b1\",\"Object\":null}");
    s_publish (&fake, "UPDATE", "{\"Epoch\":\"aaaaaaaaaaaaaaaa\",\"Sequence\":5,\"Kind\":"
                                "\"backend\",\"Identifier\":\"b1\",\"Object\":null}");
    s_settle (clone);
    assert (of_clone_sequence (clone) == 5);
    assert (!of_clone_get (clone, OF_KIND_BACKEND, "b1"));
    assert (fake.changes == 3);
    //  The records follow; a holder of the set before keeps b1 whole
    assert (of_records_backend (of_clone_records (clone), "b1") == NULL);
    assert (of_records_backend (of_clone_records (clone), "b2")
            == of_records_backend (held, "b2"));
    assert (of_records_backend (held, "b1") == b1 && streq (b1->hostname, "localhost"));
    of_records_destroy (&held);

    //  Malformed messages are counted and change nothing
    zmsg_t *junk = zmsg_new ();
    zmsg_addstr (junk, OFP_CONFIG_SIGNATURE);
    zmsg_addstr (junk, "UPDATE");
    zmsg_addstr (junk, "{\"Epoch\": 1}");
    zmsg_send (&junk, fake.publisher);
    s_settle (clone);
    assert (of_clone_malformed (clone) == 1 && of_clone_sequence (clone) == 5);

    //  A gap asks for a new snapshot
    s_publish (&fake, "UPDATE", "{\"Epoch\":\"aaaaaaaaaaaaaaaa\",\"Sequence\":7,\"Kind\":"
                                "\"frontend\",\"Identifier\":\"f\",\"Object\":{}}");
    s_settle (clone);
    s_answer_snapshot (&fake, "{\"Epoch\":\"aaaaaaaaaaaaaaaa\",\"Sequence\":7,\"Frontends\":"
                              "[{\"Identifier\":\"f\"}],\"Backends\":[]}");
    s_settle (clone);
    assert (of_clone_sequence (clone) == 7 && of_clone_snapshots (clone) == 2);
    assert (of_clone_get (clone, OF_KIND_FRONTEND, "f"));
    const of_frontend_t *f = of_records_frontend (of_clone_records (clone), "f");
    assert (f && streq (f->hostname, "*") && of_records_refused (of_clone_records (clone)) == 0);

    //  A heartbeat from a new epoch (a new database) does too
    s_publish (&fake, "HEARTBEAT", "{\"Epoch\":\"bbbbbbbbbbbbbbbb\",\"Sequence\":1,\"Service\":"
                                   "\"configd\"}");
    s_settle (clone);
    s_answer_snapshot (&fake, "{\"Epoch\":\"bbbbbbbbbbbbbbbb\",\"Sequence\":1,\"Frontends\":[],"
                              "\"Backends\":[]}");
    s_settle (clone);
    assert (streq (of_clone_epoch (clone), "bbbbbbbbbbbbbbbb"));
    assert (!of_clone_get (clone, OF_KIND_FRONTEND, "f"));

    //  An unanswered snapshot request is sent again after the liveness interval;
    //  the answer to the stale one is dropped
    s_publish (&fake, "HEARTBEAT", "{\"Epoch\":\"bbbbbbbbbbbbbbbb\",\"Sequence\":2,\"Service\":"
                                   "\"configd\"}");
    s_settle (clone);
    ofp_msg_t *stale = ofp_msg_recv (&ofp_config_protocol, fake.router);
    assert (stale && ofp_msg_is (stale, "SNAPSHOT"));
    zclock_sleep (250);
    assert (!of_clone_alive (clone));
    of_clone_tick (clone);
    json_t *body = json_loads ("{\"Epoch\":\"bbbbbbbbbbbbbbbb\",\"Sequence\":9,\"Frontends\":[],"
                               "\"Backends\":[]}", 0, NULL);
    ofp_msg_t *reply = ofp_msg_reply (stale, "STATE", &body);
    ofp_msg_send (&reply, fake.router);
    ofp_msg_destroy (&stale);
    s_settle (clone);
    assert (of_clone_sequence (clone) == 1);   //  stale answer dropped
    s_answer_snapshot (&fake, "{\"Epoch\":\"bbbbbbbbbbbbbbbb\",\"Sequence\":2,\"Frontends\":[],"
                              "\"Backends\":[]}");
    s_settle (clone);
    assert (of_clone_sequence (clone) == 2 && of_clone_alive (clone));

    of_clone_destroy (&clone);
    of_clone_destroy (&clone);
    zsock_destroy (&fake.router);
    zsock_destroy (&fake.publisher);
    printf ("OK\n");
}

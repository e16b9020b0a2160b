/*  =========================================================================
    scheduler - the lease service actor (proto/lease.md)

    Knows the config (of_clone) and every ingress: registers them (HELLO),
    answers their heartbeats (PONG), expires the silent ones, and publishes
    its STATE every heartbeat interval. Choosing backends and counting leases
    (LEASE, GRANT, RELEASE, RESUME, the queue) is the request path's work and
    is not built yet: a LEASE is answered 501 so that no ingress waits on it.
    =========================================================================
*/

#include "scheduler.h"
#include "of_service.h"

#define S_MALFORMED_LOGGED 10
#define S_INGRESSES_MAX    10000

typedef struct {
    char *id;
    int64_t seen_at;            //  zclock_mono of its last message
} s_ingress_t;

typedef struct {
    of_settings_t *settings;
    zsock_t *router;
    zsock_t *publisher;
    zsock_t *tap;
    of_clone_t *clone;
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;           //  messages published in this epoch
    zhashx_t *ingresses;        //  Ingress id -> s_ingress_t
    uint64_t malformed;
} s_scheduler_t;

static void
s_ingress_destroy (void **item)
{
    s_ingress_t *ingress = (s_ingress_t *) *item;
    if (ingress) {
        free (ingress->id);
        free (ingress);
        *item = NULL;
    }
}

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

static void
s_publish_state (s_scheduler_t *self)
{
    json_t *backends = json_array ();
    const char *id;
    json_t *backend;
    json_object_foreach (of_clone_objects (self->clone, OF_KIND_BACKEND), id, backend)
        if (json_array_size (backends) < S_INGRESSES_MAX)
            json_array_append_new (
                backends, json_pack ("{s:s, s:i, s:O, s:i}", "Backend", id, "Leases", 0,
                                     "MaxParallelRequests",
                                     json_object_get (backend, "MaxParallelRequests"),
                                     "Sessions", 0));
    json_t *frontends = json_array ();
    json_t *frontend;
    json_object_foreach (of_clone_objects (self->clone, OF_KIND_FRONTEND), id, frontend)
        if (json_array_size (frontends) < S_INGRESSES_MAX)
            json_array_append_new (frontends, json_pack ("{s:s, s:i, s:i}", "Frontend", id,
                                                         "Queued", 0, "Sessions", 0));
    json_t *body = json_pack ("{s:s, s:I, s:i, s:i, s:i, s:o, s:o}", "Epoch", self->epoch,
                              "Sequence", (json_int_t) ++self->sequence, "Ingresses",
                              (int) zhashx_size (self->ingresses), "Leases", 0, "Asks", 0,
                              "Backends", backends, "Frontends", frontends);
    ofp_msg_t *state = ofp_msg_new (&ofp_lease_protocol, "STATE", NULL, &body);
    ofp_msg_send (&state, self->publisher);
}

//  Forgets the ingresses that have been silent for the liveness interval
static void
s_expire_ingresses (s_scheduler_t *self)
{
    int64_t now = zclock_mono ();
    zlistx_t *silent = zlistx_new ();
    for (s_ingress_t *ingress = (s_ingress_t *) zhashx_first (self->ingresses); ingress;
         ingress = (s_ingress_t *) zhashx_next (self->ingresses))
        if (now - ingress->seen_at >= self->settings->liveness_ms)
            zlistx_add_end (silent, ingress->id);
    for (char *id = (char *) zlistx_first (silent); id; id = (char *) zlistx_next (silent)) {
        of_log_warning ("ingress %s went silent; forgetting it", id);
        zhashx_delete (self->ingresses, id);
    }
    zlistx_destroy (&silent);
}

static s_ingress_t *
s_ingress_seen (s_scheduler_t *self, const char *id)
{
    s_ingress_t *ingress = (s_ingress_t *) zhashx_lookup (self->ingresses, id);
    if (ingress)
        ingress->seen_at = zclock_mono ();
    return ingress;
}

static void
s_handle_request (s_scheduler_t *self, ofp_msg_t *request)
{
    ofp_tap_publish (self->tap, "scheduler", "IN", request);
    if (ofp_msg_error (request)) {
        self->malformed++;
        if (self->malformed <= S_MALFORMED_LOGGED || self->malformed % 1000 == 0)
            of_log_warning ("malformed message #%llu refused: %s",
                            (unsigned long long) self->malformed, ofp_msg_error (request));
        if (ofp_msg_id (request))
            s_reply_error (self, request, 400, "BadRequest", ofp_msg_error (request));
        return;
    }
    json_t *body = ofp_msg_body (request);
    const char *ingress_id = json_string_value (json_object_get (body, "Ingress"));

    if (ofp_msg_is (request, "HELLO")) {
        s_ingress_t *ingress = s_ingress_seen (self, ingress_id);
        if (!ingress && zhashx_size (self->ingresses) >= S_INGRESSES_MAX) {
            s_reply_error (self, request, 503, "TooManyIngresses", "the ingress table is full");
            return;
        }
        if (!ingress) {
            ingress = (s_ingress_t *) zmalloc (sizeof (s_ingress_t));
            ingress->id = strdup (ingress_id);
            ingress->seen_at = zclock_mono ();
            zhashx_insert (self->ingresses, ingress_id, ingress);
            of_log_info ("ingress %s registered (pid %lld, version %s)", ingress_id,
                         (long long) json_integer_value (json_object_get (body, "Pid")),
                         json_string_value (json_object_get (body, "Version")));
        }
        json_t *welcome = json_pack ("{s:s, s:I, s:I}", "Epoch", self->epoch, "HeartbeatMs",
                                     (json_int_t) self->settings->heartbeat_ms, "LivenessMs",
                                     (json_int_t) self->settings->liveness_ms);
        ofp_msg_t *reply = ofp_msg_reply (request, "WELCOME", &welcome);
        s_send (self, &reply);
    }
    else if (ofp_msg_is (request, "HEARTBEAT")) {
        bool registered = s_ingress_seen (self, ingress_id) != NULL;
        json_t *pong = json_pack ("{s:s, s:b, s:i}", "Epoch", self->epoch, "Registered",
                                  registered, "Leases", 0);
        //  A HEARTBEAT has no request id: answer with the id "-"
        ofp_msg_t *reply = ofp_msg_reply (request, "PONG", &pong);
        s_send (self, &reply);
    }
    else if (ofp_msg_is (request, "LEASE") || ofp_msg_is (request, "RESUME")) {
        //  Asks are matched to ingresses by routing id only once leases exist
        s_reply_error (self, request, 501, "NotImplemented",
                       "this scheduler does not grant leases yet");
    }
    else if (ofp_msg_is (request, "CANCEL") || ofp_msg_is (request, "RELEASE")) {
        //  Nothing is queued or leased yet: nothing to free
    }
    else if (ofp_msg_id (request)) {
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

static int
s_on_state_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_expire_ingresses ((s_scheduler_t *) arg);
    s_publish_state ((s_scheduler_t *) arg);
    return 0;
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
    if (!self.router || !self.publisher || !self.clone) {
        of_service_failed (pipe, "cannot bind %s and %s, or reach configd: %s",
                           settings->scheduler_router, settings->scheduler_publisher,
                           strerror (errno));
        zsock_destroy (&self.router);
        zsock_destroy (&self.publisher);
        of_clone_destroy (&self.clone);
        return;
    }
    if (settings->tap)
        self.tap = self.publisher;
    //  An ingress that reconnects (same id) takes its routing id over
    zsock_set_router_handover (self.router, 1);
    of_service_epoch (self.epoch);
    self.ingresses = zhashx_new ();
    zhashx_set_destructor (self.ingresses, s_ingress_destroy);
    of_log_info ("epoch %s; leases on %s, state on %s", self.epoch, settings->scheduler_router,
                 settings->scheduler_publisher);
    of_service_ready (pipe);

    zloop_t *loop = zloop_new ();
    zloop_set_nonstop (loop, true);
    zloop_reader (loop, pipe, of_service_on_pipe, NULL);
    zloop_reader (loop, self.router, s_on_request, &self);
    of_clone_attach (self.clone, loop);
    zloop_timer (loop, (size_t) settings->heartbeat_ms, 0, s_on_state_timer, &self);
    s_publish_state (&self);
    zloop_start (loop);
    zloop_destroy (&loop);
    zhashx_destroy (&self.ingresses);
    of_clone_destroy (&self.clone);
    zsock_destroy (&self.router);
    zsock_destroy (&self.publisher);
}

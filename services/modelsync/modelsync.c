/*  =========================================================================
    modelsync - the model service actor (proto/models.md)

    Follows the config, publishes its STATE every heartbeat interval, and
    answers requests on its ROUTER. Discovery (/api/tags, /api/ps,
    /v1/models) and pulls come with model-aware routing and are not built
    yet: inventories are empty (unknown, so the scheduler does not filter by
    model) and a pull or delete is answered 501.
    =========================================================================
*/

#include "modelsync.h"
#include "of_service.h"

#define S_MALFORMED_LOGGED 10

typedef struct {
    of_settings_t *settings;
    zsock_t *router;
    zsock_t *publisher;
    zsock_t *tap;
    of_clone_t *clone;
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;
    uint64_t malformed;
} s_modelsync_t;

static void
s_publish_state (s_modelsync_t *self)
{
    json_t *body = json_pack ("{s:s, s:I, s:[], s:[]}", "Epoch", self->epoch, "Sequence",
                              (json_int_t) ++self->sequence, "Inventories", "Pulls");
    ofp_msg_t *state = ofp_msg_new (&ofp_models_protocol, "STATE", NULL, &body);
    ofp_msg_send (&state, self->publisher);
}

static int
s_on_state_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_publish_state ((s_modelsync_t *) arg);
    return 0;
}

static void
s_handle_request (s_modelsync_t *self, ofp_msg_t *request)
{
    ofp_tap_publish (self->tap, "modelsync", "IN", request);
    ofp_msg_t *reply;
    if (ofp_msg_error (request)) {
        self->malformed++;
        if (self->malformed <= S_MALFORMED_LOGGED || self->malformed % 1000 == 0)
            of_log_warning ("malformed request #%llu refused: %s",
                            (unsigned long long) self->malformed, ofp_msg_error (request));
        reply = ofp_msg_reply_error (request, 400, "BadRequest", ofp_msg_error (request));
    }
    else if (ofp_msg_is (request, "PULL-START") || ofp_msg_is (request, "DELETE-MODEL"))
        reply = ofp_msg_reply_error (request, 501, "NotImplemented",
                                     "this modelsync does not pull or delete models yet");
    else {
        char message [128];
        snprintf (message, sizeof message, "%s is not a request", ofp_msg_command (request));
        reply = ofp_msg_reply_error (request, 400, "BadRequest", message);
    }
    ofp_tap_publish (self->tap, "modelsync", "OUT", reply);
    ofp_msg_send (&reply, self->router);
}

static int
s_on_request (zloop_t *loop, zsock_t *router, void *arg)
{
    (void) loop;
    ofp_msg_t *request = ofp_msg_recv (&ofp_models_protocol, router);
    if (request) {
        s_handle_request ((s_modelsync_t *) arg, request);
        ofp_msg_destroy (&request);
    }
    return 0;
}

void
modelsync_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    s_modelsync_t self = {.settings = (of_settings_t *) args};
    of_settings_t *settings = self.settings;
    self.router = of_service_bind (settings, ZMQ_ROUTER, settings->models_router);
    self.publisher = of_service_bind (settings, ZMQ_PUB, settings->models_publisher);
    self.clone = of_clone_new (settings->config_publisher, settings->config_router,
                               settings->liveness_ms);
    if (!self.router || !self.publisher || !self.clone) {
        of_service_failed (pipe, "cannot bind %s and %s, or reach configd: %s",
                           settings->models_router, settings->models_publisher, strerror (errno));
        zsock_destroy (&self.router);
        zsock_destroy (&self.publisher);
        of_clone_destroy (&self.clone);
        return;
    }
    if (settings->tap)
        self.tap = self.publisher;
    of_service_epoch (self.epoch);
    of_log_info ("epoch %s; requests on %s, models on %s", self.epoch, settings->models_router,
                 settings->models_publisher);
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
    of_clone_destroy (&self.clone);
    zsock_destroy (&self.router);
    zsock_destroy (&self.publisher);
}

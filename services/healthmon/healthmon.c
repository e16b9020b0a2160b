/*  =========================================================================
    healthmon - the health service actor (proto/health.md)

    Follows the config and publishes, every heartbeat interval, the state of
    every active backend. Probing (HealthCheckMethod, HealthCheckUrl and the
    thresholds) belongs to the request path and is not built yet, so every
    backend stays Unknown: the scheduler sends it no traffic until proven.
    =========================================================================
*/

#include "healthmon.h"
#include "of_service.h"

#define S_PROBE_INTERVAL_MS 5000

typedef struct {
    of_settings_t *settings;
    zsock_t *publisher;
    of_clone_t *clone;
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;
    json_t *since;              //  Backend -> when it entered its state
} s_healthmon_t;

static void
s_publish_state (s_healthmon_t *self)
{
    char now [OFP_TIMESTAMP_LENGTH + 1];
    of_schema_timestamp (now, sizeof now);
    json_t *records = json_array ();
    json_t *since = json_object ();
    const char *id;
    json_t *backend;
    json_object_foreach (of_clone_objects (self->clone, OF_KIND_BACKEND), id, backend) {
        if (!json_is_true (json_object_get (backend, "Active")))
            continue;
        json_t *entered = json_object_get (self->since, id);
        json_object_set_new (since, id, entered ? json_copy (entered) : json_string (now));
        json_array_append_new (records,
                               json_pack ("{s:s, s:s, s:O, s:s, s:i, s:i}", "Backend", id,
                                          "State", "Unknown", "Since", json_object_get (since, id),
                                          "Reason", "", "ConsecutiveSuccesses", 0,
                                          "ConsecutiveFailures", 0));
    }
    json_decref (self->since);
    self->since = since;
    json_t *body = json_pack ("{s:s, s:I, s:i, s:o}", "Epoch", self->epoch, "Sequence",
                              (json_int_t) ++self->sequence, "IntervalMs", S_PROBE_INTERVAL_MS,
                              "Backends", records);
    ofp_msg_t *state = ofp_msg_new (&ofp_health_protocol, "STATE", NULL, &body);
    ofp_msg_send (&state, self->publisher);
}

static int
s_on_state_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_publish_state ((s_healthmon_t *) arg);
    return 0;
}

void
healthmon_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    s_healthmon_t self = {.settings = (of_settings_t *) args};
    of_settings_t *settings = self.settings;
    self.publisher = of_service_bind (settings, ZMQ_PUB, settings->health_publisher);
    self.clone = of_clone_new (settings->config_publisher, settings->config_router,
                               settings->liveness_ms);
    if (!self.publisher || !self.clone) {
        of_service_failed (pipe, "cannot bind %s, or reach configd: %s",
                           settings->health_publisher, strerror (errno));
        zsock_destroy (&self.publisher);
        of_clone_destroy (&self.clone);
        return;
    }
    of_service_epoch (self.epoch);
    self.since = json_object ();
    of_log_info ("epoch %s; health on %s", self.epoch, settings->health_publisher);
    of_service_ready (pipe);

    zloop_t *loop = zloop_new ();
    zloop_set_nonstop (loop, true);
    zloop_reader (loop, pipe, of_service_on_pipe, NULL);
    of_clone_attach (self.clone, loop);
    zloop_timer (loop, (size_t) settings->heartbeat_ms, 0, s_on_state_timer, &self);
    s_publish_state (&self);
    zloop_start (loop);
    zloop_destroy (&loop);
    json_decref (self.since);
    of_clone_destroy (&self.clone);
    zsock_destroy (&self.publisher);
}

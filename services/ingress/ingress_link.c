/*  =========================================================================
    ingress_link - the ingress's link to the scheduler (proto/lease.md)
    =========================================================================
*/

#include "ingress_link.h"
#include "of_evzmq.h"

struct _ingress_link_t {
    of_settings_t *settings;
    zsock_t *dealer;
    of_evzmq_t *watch;
    struct event *timer;
    char epoch [OFP_EPOCH_LENGTH + 1];
    bool registered;            //  a WELCOME came and no PONG has denied it since
    int64_t heard_at;           //  zclock_mono of the scheduler's last answer
    int64_t hello_at;           //  zclock_mono of the last HELLO
    uint64_t hellos;
    uint64_t malformed;
};

static void
s_send (ingress_link_t *self, ofp_msg_t **msg_p)
{
    //  A send that cannot go out now fails; the next tick tries again
    ofp_msg_send (msg_p, self->dealer);
    of_evzmq_kick (self->watch);
}

static void
s_hello (ingress_link_t *self)
{
    char id [24];
    snprintf (id, sizeof id, "hello-%llu", (unsigned long long) ++self->hellos);
    json_t *body = json_pack ("{s:s, s:i, s:s}", "Ingress", self->settings->ingress_id, "Pid",
                              (int) getpid (), "Version", OF_VERSION);
    ofp_msg_t *hello = ofp_msg_new (&ofp_lease_protocol, "HELLO", id, &body);
    self->hello_at = zclock_mono ();
    s_send (self, &hello);
}

static void
s_on_message (zsock_t *dealer, void *arg)
{
    ingress_link_t *self = (ingress_link_t *) arg;
    while (zsock_events (dealer) & ZMQ_POLLIN) {
        ofp_msg_t *msg = ofp_msg_recv (&ofp_lease_protocol, dealer);
        if (!msg)
            break;
        json_t *body = ofp_msg_body (msg);
        const char *epoch = json_string_value (json_object_get (body, "Epoch"));
        if (ofp_msg_error (msg)) {
            if (self->malformed++ == 0)
                of_log_warning ("malformed message from the scheduler: %s", ofp_msg_error (msg));
        }
        else if (ofp_msg_is (msg, "WELCOME")) {
            if (!streq (self->epoch, epoch))
                of_log_info ("registered with the scheduler, epoch %s", epoch);
            snprintf (self->epoch, sizeof self->epoch, "%s", epoch);
            self->registered = true;
            self->heard_at = zclock_mono ();
        }
        else if (ofp_msg_is (msg, "PONG")) {
            self->heard_at = zclock_mono ();
            if (!streq (self->epoch, epoch) || !json_is_true (json_object_get (body, "Registered"))) {
                of_log_info ("the scheduler restarted or forgot this ingress; registering again");
                self->registered = false;
                s_hello (self);
            }
        }
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
    }
    if (self->registered) {
        json_t *body = json_pack ("{s:s, s:s, s:i, s:i}", "Ingress", self->settings->ingress_id,
                                  "Epoch", self->epoch, "Leases", 0, "Asks", 0);
        ofp_msg_t *heartbeat = ofp_msg_new (&ofp_lease_protocol, "HEARTBEAT", NULL, &body);
        s_send (self, &heartbeat);
    }
    else if (now - self->hello_at >= liveness)
        s_hello (self);
}

ingress_link_t *
ingress_link_new (struct event_base *base, of_settings_t *settings)
{
    assert (base && settings);
    ingress_link_t *self = (ingress_link_t *) zmalloc (sizeof (ingress_link_t));
    self->settings = settings;
    self->dealer = zsock_new (ZMQ_DEALER);
    assert (self->dealer);
    //  The scheduler knows a replica by its id, across reconnects
    zsock_set_identity (self->dealer, settings->ingress_id);
    zsock_set_linger (self->dealer, 0);
    zsock_set_sndtimeo (self->dealer, 0);
    if (zsock_connect (self->dealer, "%s", settings->scheduler_router) != 0) {
        ingress_link_destroy (&self);
        return NULL;
    }
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
    of_evzmq_destroy (&self->watch);
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

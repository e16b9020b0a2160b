/*  =========================================================================
    ingress_bus - requests from the admin API to another service
    =========================================================================
*/

#include "ingress_bus.h"

#define S_ID_MAX 24

typedef struct {
    ingress_bus_t *bus;
    char id [S_ID_MAX];
    of_exchange_t *exchange;
    ingress_bus_fn *fn;
    void *arg;
    struct event *timer;
} s_request_t;

struct _ingress_bus_t {
    struct event_base *base;
    const ofp_protocol_t *protocol;
    zsock_t *dealer;
    of_evzmq_t *watch;
    int64_t timeout_ms;
    uint64_t sent;
    zhashx_t *requests;         //  request id -> s_request_t
};

static void
s_request_free (s_request_t **request_p)
{
    s_request_t *request = *request_p;
    if (request) {
        event_free (request->timer);
        free (request->arg);
        free (request);
        *request_p = NULL;
    }
}

//  Ends a request: forgets it, then answers its exchange
static void
s_finish (s_request_t *request, ofp_msg_t *reply)
{
    zhashx_delete (request->bus->requests, request->id);
    of_exchange_set_owner (request->exchange, NULL, NULL);
    request->fn (request->exchange, reply, request->arg);
    s_request_free (&request);
}

static void
s_on_gone (of_exchange_t *exchange, void *arg)
{
    (void) exchange;
    s_request_t *request = (s_request_t *) arg;
    zhashx_delete (request->bus->requests, request->id);
    s_request_free (&request);
}

static void
s_on_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_finish ((s_request_t *) arg, NULL);
}

static void
s_on_input (zsock_t *dealer, void *arg)
{
    ingress_bus_t *self = (ingress_bus_t *) arg;
    while (zsock_events (dealer) & ZMQ_POLLIN) {
        ofp_msg_t *reply = ofp_msg_recv (self->protocol, dealer);
        if (!reply)
            break;
        const char *id = ofp_msg_id (reply);
        s_request_t *request = id ? (s_request_t *) zhashx_lookup (self->requests, id) : NULL;
        //  A reply to a request that timed out or whose client left: dropped
        if (request)
            s_finish (request, ofp_msg_error (reply) ? NULL : reply);
        ofp_msg_destroy (&reply);
    }
}

ingress_bus_t *
ingress_bus_new (struct event_base *base, const ofp_protocol_t *protocol, const char *endpoint,
                 int64_t timeout_ms)
{
    assert (base && protocol && endpoint);
    zsock_t *dealer = zsock_new_dealer (endpoint);
    if (!dealer)
        return NULL;
    //  Never block the loop: a send the socket cannot take now is left to the timer
    zsock_set_sndtimeo (dealer, 0);
    ingress_bus_t *self = (ingress_bus_t *) zmalloc (sizeof (ingress_bus_t));
    self->base = base;
    self->protocol = protocol;
    self->dealer = dealer;
    self->timeout_ms = timeout_ms;
    self->requests = zhashx_new ();
    self->watch = of_evzmq_new (base, dealer, s_on_input, self);
    return self;
}

void
ingress_bus_destroy (ingress_bus_t **self_p)
{
    assert (self_p);
    ingress_bus_t *self = *self_p;
    if (!self)
        return;
    for (s_request_t *request = (s_request_t *) zhashx_first (self->requests); request;
         request = (s_request_t *) zhashx_next (self->requests)) {
        of_exchange_set_owner (request->exchange, NULL, NULL);
        s_request_free (&request);
    }
    zhashx_destroy (&self->requests);
    of_evzmq_destroy (&self->watch);
    zsock_destroy (&self->dealer);
    free (self);
    *self_p = NULL;
}

void
ingress_bus_ask (ingress_bus_t *self, of_exchange_t *exchange, const char *command,
                 json_t **body_p, ingress_bus_fn *fn, void *arg)
{
    assert (self && exchange && command && body_p && fn);
    s_request_t *request = (s_request_t *) zmalloc (sizeof (s_request_t));
    request->bus = self;
    snprintf (request->id, sizeof request->id, "admin-%llu", (unsigned long long) ++self->sent);
    request->exchange = exchange;
    request->fn = fn;
    request->arg = arg;
    request->timer = evtimer_new (self->base, s_on_timer, request);
    struct timeval delay = {self->timeout_ms / 1000, (self->timeout_ms % 1000) * 1000};
    evtimer_add (request->timer, &delay);
    zhashx_insert (self->requests, request->id, request);
    of_exchange_set_owner (exchange, s_on_gone, request);
    of_exchange_watch (exchange);
    ofp_msg_t *msg = ofp_msg_new (self->protocol, command, request->id, body_p);
    //  A message that cannot go out now is simply not answered: the timer says so
    ofp_msg_send (&msg, self->dealer);
    of_evzmq_kick (self->watch);
}

size_t
ingress_bus_open (ingress_bus_t *self)
{
    assert (self);
    return zhashx_size (self->requests);
}

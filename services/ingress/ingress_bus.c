/*  =========================================================================
    ingress_bus - ZeroMQ sockets inside the ingress's libevent loop
    =========================================================================
*/

#include "ingress_bus.h"

struct _ingress_bus_watch_t {
    zsock_t *sock;
    struct event *event;
    ingress_bus_fn *handler;
    void *arg;
};

static void
s_on_event (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    ingress_bus_watch_t *self = (ingress_bus_watch_t *) arg;
    self->handler (self->sock, self->arg);
}

ingress_bus_watch_t *
ingress_bus_watch (struct event_base *base, zsock_t *sock, ingress_bus_fn *handler, void *arg)
{
    assert (base && sock && handler);
    ingress_bus_watch_t *self = (ingress_bus_watch_t *) zmalloc (sizeof (ingress_bus_watch_t));
    self->sock = sock;
    self->handler = handler;
    self->arg = arg;
    self->event = event_new (base, zsock_fd (sock), EV_READ | EV_PERSIST, s_on_event, self);
    event_add (self->event, NULL);
    //  Input may already be waiting, and its edge gone
    ingress_bus_kick (self);
    return self;
}

void
ingress_bus_unwatch (ingress_bus_watch_t **self_p)
{
    assert (self_p);
    ingress_bus_watch_t *self = *self_p;
    if (self) {
        event_free (self->event);
        free (self);
        *self_p = NULL;
    }
}

void
ingress_bus_kick (ingress_bus_watch_t *self)
{
    assert (self);
    if (zsock_events (self->sock) & ZMQ_POLLIN)
        event_active (self->event, EV_READ, 0);
}

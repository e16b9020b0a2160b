/*  =========================================================================
    of_evzmq - a ZeroMQ socket inside a libevent loop
    =========================================================================
*/

#include "of_evzmq.h"

struct _of_evzmq_t {
    zsock_t *sock;
    struct event *event;
    of_evzmq_fn *handler;
    void *arg;
};

static void
s_on_event (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    of_evzmq_t *self = (of_evzmq_t *) arg;
    self->handler (self->sock, self->arg);
}

of_evzmq_t *
of_evzmq_new (struct event_base *base, zsock_t *sock, of_evzmq_fn *handler, void *arg)
{
    assert (base && sock && handler);
    of_evzmq_t *self = (of_evzmq_t *) zmalloc (sizeof (of_evzmq_t));
    self->sock = sock;
    self->handler = handler;
    self->arg = arg;
    self->event = event_new (base, zsock_fd (sock), EV_READ | EV_PERSIST, s_on_event, self);
    event_add (self->event, NULL);
    //  Input may already be waiting, and its edge gone
    of_evzmq_kick (self);
    return self;
}

void
of_evzmq_destroy (of_evzmq_t **self_p)
{
    assert (self_p);
    of_evzmq_t *self = *self_p;
    if (self) {
        event_free (self->event);
        free (self);
        *self_p = NULL;
    }
}

void
of_evzmq_kick (of_evzmq_t *self)
{
    assert (self);
    if (zsock_events (self->sock) & ZMQ_POLLIN)
        event_active (self->event, EV_READ, 0);
}

//  --------------------------------------------------------------------------
//  Self test

typedef struct {
    int received;
    struct event_base *base;
} s_test_state_t;

static void
s_test_drain (zsock_t *sock, void *arg)
{
    s_test_state_t *state = (s_test_state_t *) arg;
    while (zsock_events (sock) & ZMQ_POLLIN) {
        char *text = zstr_recv (sock);
        zstr_free (&text);
        state->received++;
    }
    event_base_loopbreak (state->base);
}

void
of_evzmq_test (bool verbose)
{
    (void) verbose;
    printf (" * of_evzmq: ");
    struct event_base *base = event_base_new ();
    zsock_t *in = zsock_new_pair ("@inproc://of_evzmq_test");
    zsock_t *out = zsock_new_pair (">inproc://of_evzmq_test");
    assert (base && in && out);

    //  Input waiting before the watch starts is not lost
    zstr_send (out, "early");
    zclock_sleep (10);
    s_test_state_t state = {0, base};
    of_evzmq_t *watch = of_evzmq_new (base, in, s_test_drain, &state);
    event_base_dispatch (base);
    assert (state.received == 1);

    //  Several messages behind one edge: all drained
    for (int i = 0; i < 5; i++)
        zstr_send (out, "burst");
    struct timeval limit = {2, 0};
    event_base_loopexit (base, &limit);
    event_base_dispatch (base);
    assert (state.received == 6);

    //  A send on the watched socket may eat the edge: the kick restores it
    zstr_send (out, "after");
    zclock_sleep (10);
    zstr_send (in, "reply");
    of_evzmq_kick (watch);
    event_base_loopexit (base, &limit);
    event_base_dispatch (base);
    assert (state.received == 7);

    of_evzmq_destroy (&watch);
    of_evzmq_destroy (&watch);
    zsock_destroy (&in);
    zsock_destroy (&out);
    event_base_free (base);
    printf ("OK\n");
}

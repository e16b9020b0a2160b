/*  =========================================================================
    of_loop - the end of a libevent loop
    =========================================================================
*/

#include "of_loop.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

void
of_loop_free (struct event_base **base_p)
{
    assert (base_p);
    if (!*base_p)
        return;
    //  A non-blocking pass runs every active and deferred callback; the
    //  bufferevents freed before it drop their last reference and are
    //  finalized (event_base_free runs the finalizers)
    event_base_loop (*base_p, EVLOOP_NONBLOCK);
    event_base_free (*base_p);
    *base_p = NULL;
}

//  --------------------------------------------------------------------------
//  Self test

//  Ends the loop as soon as input is in the buffer: within the socket's read
//  callback, before the bufferevent defers its own
static void
s_test_break (struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    (void) buffer;
    if (info->n_added > 0)
        event_base_loopbreak ((struct event_base *) arg);
}

static void
s_test_read (struct bufferevent *bev, void *arg)
{
    (void) bev;
    (*(int *) arg)++;
}

//  A bufferevent whose input came in the loop's last turn: its deferred read
//  callback still holds a reference when it is freed. Without the pass in
//  of_loop_free, the sanitizer's leak check reports it at exit.
void
of_loop_test (bool verbose)
{
    (void) verbose;
    printf (" * of_loop: ");
    struct event_base *base = event_base_new ();
    assert (base);
    int pair [2];
    int rc = socketpair (AF_UNIX, SOCK_STREAM, 0, pair);
    assert (rc == 0);
    evutil_make_socket_nonblocking (pair [0]);
    struct bufferevent *bev = bufferevent_socket_new (
        base, pair [0], BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    assert (bev);
    int reads = 0;
    bufferevent_setcb (bev, s_test_read, NULL, NULL, &reads);
    bufferevent_enable (bev, EV_READ);
    //  The loop ends in the turn that reads the input
    evbuffer_add_cb (bufferevent_get_input (bev), s_test_break, base);
    ssize_t sent = write (pair [1], "input", 5);
    assert (sent == 5);
    struct pollfd ready = {.fd = pair [0], .events = POLLIN};
    rc = poll (&ready, 1, 5000);
    assert (rc == 1);
    event_base_loop (base, EVLOOP_ONCE);
    //  The input was read, its callback deferred and not run
    assert (evbuffer_get_length (bufferevent_get_input (bev)) == 5 && reads == 0);
    bufferevent_free (bev);
    close (pair [1]);
    of_loop_free (&base);
    assert (base == NULL);
    of_loop_free (&base);
    printf ("OK\n");
}

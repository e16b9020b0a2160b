/*  =========================================================================
    ingress_bus - ZeroMQ sockets inside the ingress's libevent loop

    libevent owns the ingress's loop; a ZeroMQ socket joins it through its
    ZMQ_FD, which is edge-triggered: on every wake-up the handler must drain
    until ZMQ_EVENTS shows no input, and must be run again after any send on
    that socket, because a send can consume the edge (a verified stall, see
    ../shared/reference/libevhtp-and-bus-notes.md). ingress_bus_watch does the
    first; ingress_bus_kick does the second.
    =========================================================================
*/

#ifndef INGRESS_BUS_H_INCLUDED
#define INGRESS_BUS_H_INCLUDED

#include <czmq.h>
#include <event2/event.h>

typedef struct _ingress_bus_watch_t ingress_bus_watch_t;

//  Called when the socket may have input; must read until it has none
typedef void (ingress_bus_fn) (zsock_t *sock, void *arg);

//  Watches a socket on the event base: handler runs whenever it may have input.
ingress_bus_watch_t *
    ingress_bus_watch (struct event_base *base, zsock_t *sock, ingress_bus_fn *handler, void *arg);

//  Stops watching; accepts NULL.
void
    ingress_bus_unwatch (ingress_bus_watch_t **self_p);

//  Runs the handler soon if the socket shows input: call after every send.
void
    ingress_bus_kick (ingress_bus_watch_t *self);

#endif

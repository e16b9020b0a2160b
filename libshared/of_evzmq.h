/*  =========================================================================
    of_evzmq - a ZeroMQ socket inside a libevent loop

    Where libevent owns the loop (the ingress, healthmon), a ZeroMQ socket joins it through its
    ZMQ_FD, which is edge-triggered: on every wake-up the handler must drain
    until ZMQ_EVENTS shows no input, and must be run again after any send on
    that socket, because a send can consume the edge (a verified stall, see
    docs/notes/libevhtp.md). of_evzmq_new does the
    first; of_evzmq_kick does the second.
    =========================================================================
*/

#ifndef OF_EVZMQ_H_INCLUDED
#define OF_EVZMQ_H_INCLUDED

#include <czmq.h>
#include <event2/event.h>
#include <stdbool.h>

typedef struct _of_evzmq_t of_evzmq_t;

//  Called when the socket may have input; must read until it has none
typedef void (of_evzmq_fn) (zsock_t *sock, void *arg);

//  Watches a socket on the event base: handler runs whenever it may have input.
of_evzmq_t *
    of_evzmq_new (struct event_base *base, zsock_t *sock, of_evzmq_fn *handler, void *arg);

//  Stops watching; accepts NULL.
void
    of_evzmq_destroy (of_evzmq_t **self_p);

//  Runs the handler soon if the socket shows input: call after every send.
void
    of_evzmq_kick (of_evzmq_t *self);

//  Self test
void
    of_evzmq_test (bool verbose);

#endif

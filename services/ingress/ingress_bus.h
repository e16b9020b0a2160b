/*  =========================================================================
    ingress_bus - requests from the admin API to another service (configd's
    config requests, the scheduler's session requests), each on behalf of
    one HTTP exchange

    One DEALER per peer in the ingress's libevent loop. Replies are matched
    by request id; each request is answered exactly once: with the reply, or
    with NULL when the peer did not answer within the timeout (the DEALER
    queues while a peer is down, so only a timer can tell). A client that
    goes away cancels its request: the late reply is then dropped.
    =========================================================================
*/

#ifndef INGRESS_BUS_H_INCLUDED
#define INGRESS_BUS_H_INCLUDED

#include "of_classes.h"
#include "of_exchange.h"
#include <event2/event.h>

typedef struct _ingress_bus_t ingress_bus_t;

//  Called once per request whose client is still there: reply is the
//  well-formed answer (borrowed), or NULL after the timeout or when the
//  answer was malformed. The exchange is the callback's to answer; arg is
//  freed (free ()) after the callback returns.
typedef void (ingress_bus_fn) (of_exchange_t *exchange, ofp_msg_t *reply, void *arg);

//  Connects a DEALER to endpoint for protocol. NULL if the endpoint is invalid.
ingress_bus_t *
    ingress_bus_new (struct event_base *base, const ofp_protocol_t *protocol,
                     const char *endpoint, int64_t timeout_ms);

//  Disconnects; accepts NULL. Open requests are dropped (their exchanges are
//  freed by evhtp, which ends first).
void
    ingress_bus_destroy (ingress_bus_t **self_p);

//  Sends command with body (taken over) for the exchange; fn runs later,
//  never from inside this call. arg is taken over (heap memory, or NULL).
void
    ingress_bus_ask (ingress_bus_t *self, of_exchange_t *exchange, const char *command,
                     json_t **body_p, ingress_bus_fn *fn, void *arg);

//  Requests open, for status
size_t
    ingress_bus_open (ingress_bus_t *self);

#endif

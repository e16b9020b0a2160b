/*  =========================================================================
    ingress_requester - requests from the ingress to a service's ROUTER
    (configd, modelsync, the scheduler's admin requests), answered exactly
    once

    A DEALER inside the ingress's libevent loop. Each request gets an id and
    its own timer; its callback runs once: with the reply whose request id
    matches, or with NULL when none came within the request's bound, when
    the reply was malformed, or sooner when the service is known to be gone
    (the alive check, run every liveness interval, says so, or the send was
    refused because no peer is connected). Callbacks never run from inside
    the call that sent. A request made for an HTTP exchange (the admin API)
    is cancelled when its client goes away: the late reply is then dropped.
    =========================================================================
*/

#ifndef INGRESS_REQUESTER_H_INCLUDED
#define INGRESS_REQUESTER_H_INCLUDED

#include "of_classes.h"
#include "of_exchange.h"
#include <event2/event.h>

typedef struct _ingress_requester_t ingress_requester_t;
typedef struct _ingress_request_t ingress_request_t;

//  The answer to one request: the reply (borrowed, well-formed), or NULL
//  when the service did not answer in time.
typedef void (ingress_requester_fn) (void *arg, ofp_msg_t *reply);

//  The answer to a request made for an exchange whose client is still
//  there: as above; the exchange is the callback's to answer, and arg is
//  freed (free ()) after the callback returns.
typedef void (ingress_requester_ask_fn) (of_exchange_t *exchange, ofp_msg_t *reply, void *arg);

//  True while the service is heard from (its PUB's heartbeat).
typedef bool (ingress_requester_alive_fn) (void *arg);

//  Connects a DEALER to endpoint for protocol. name prefixes request ids and
//  names the service in logs. alive may be NULL (then only timeouts end a
//  request early). NULL if the endpoint is invalid.
ingress_requester_t *
    ingress_requester_new (struct event_base *base, const ofp_protocol_t *protocol,
                           const char *endpoint, const char *name, int64_t liveness_ms,
                           ingress_requester_alive_fn *alive, void *alive_arg);

//  Disconnects; accepts NULL. Open requests are dropped without their callback.
void
    ingress_requester_destroy (ingress_requester_t **self_p);

//  Sends command with body (taken over) and returns the request, for
//  ingress_requester_cancel. timeout_ms bounds the wait.
ingress_request_t *
    ingress_requester_send (ingress_requester_t *self, const char *command, json_t **body_p,
                            int64_t timeout_ms, ingress_requester_fn *callback, void *arg);

//  Sends command with body (taken over) for the exchange, and watches its
//  client: fn runs later unless the client went away. arg is taken over
//  (heap memory, or NULL).
void
    ingress_requester_ask (ingress_requester_t *self, of_exchange_t *exchange,
                           const char *command, json_t **body_p, int64_t timeout_ms,
                           ingress_requester_ask_fn *fn, void *arg);

//  Abandons a request: its callback will not run, a late reply is dropped.
//  Sets *request_p to NULL; accepts a NULL *request_p.
void
    ingress_requester_cancel (ingress_requester_t *self, ingress_request_t **request_p);

//  Requests open, for logs and tests.
size_t
    ingress_requester_open (ingress_requester_t *self);

//  Self test
void
    ingress_requester_test (bool verbose);

#endif

/*  =========================================================================
    ingress_wire - strict HTTP on the ingress's connections: the limits of a
    request's head, its version, its framing, and the client timeouts

    evhtp parses without limits on the number or size of headers, answers
    any HTTP version as 1.1, and on a parse error closes the connection
    without a word. The wire hooks each request as evhtp parses it: more
    than Ingress.MaxHeaders headers or Ingress.MaxHeaderBytes of them is a
    431, a request line over Ingress.MaxRequestLineBytes a 414 (as is one
    over the parser's own 8 KB), a version other than 1.0 and 1.1 a 505, a
    Content-Length over the frontend's MaxRequestBodySize a 413, and what
    the parser cannot read (a bad request line or header, bad chunks) a
    400; each in the route's dialect where the path is known, each closing
    the connection after the answer (of_conns_refuse). It also tells the
    connection registry (of_conns) where each request is, for the header,
    body and keep-alive timeouts.
    =========================================================================
*/

#ifndef INGRESS_WIRE_H_INCLUDED
#define INGRESS_WIRE_H_INCLUDED

#include "of_classes.h"
#include "of_conns.h"
#include "ingress_ops.h"
#include <evhtp.h>

typedef struct _ingress_wire_t ingress_wire_t;

//  The wire of the connections conns follows, with the limits of settings,
//  the frontends of clone's config and the refusals counted by ops (all
//  borrowed); sets the client timeouts and the malformed answer.
ingress_wire_t *
    ingress_wire_new (of_settings_t *settings, struct event_base *base, of_clone_t *clone,
                      ingress_ops_t *ops, of_conns_t *conns);

//  Destroys the wire; accepts NULL.
void
    ingress_wire_destroy (ingress_wire_t **self_p);

//  Hooks a connection just accepted (its parser's path, header and headers)
void
    ingress_wire_attach (ingress_wire_t *self, evhtp_connection_t *connection);

//  The request is complete and goes to its handler (no client timeout now)
void
    ingress_wire_serving (ingress_wire_t *self, evhtp_request_t *request);

//  Self test
void
    ingress_wire_test (bool verbose);

#endif

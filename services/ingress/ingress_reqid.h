/*  =========================================================================
    ingress_reqid - every request's id

    A client that sends a well-formed X-Request-Id (1-128 characters, each a
    letter, a digit or one of . _ : -) keeps it: the id then joins its own
    logs with the balancer's and the backend's. Any other request, and one
    whose X-Request-Id is malformed, gets the ingress's own id, its Ingress.Id
    and a counter. The id is echoed to the client (X-OllamaFlow-Request and
    X-Request-Id), sent to the backend (X-Request-Id, through
    of_upstream_prepare), carried in the lease ask (the tap shows it) and
    written in the access log.
    =========================================================================
*/

#ifndef INGRESS_REQID_H_INCLUDED
#define INGRESS_REQID_H_INCLUDED

#include "of_classes.h"
#include "of_exchange.h"

#define INGRESS_REQID_CLIENT_MAX 128
//  Room for any id: the longest Ingress.Id, "-", a 64-bit counter
#define INGRESS_REQID_MAX        OFP_LEASE_REQUEST_ID_MAX

//  True if text is a well-formed client request id.
bool
    ingress_reqid_valid (const char *text);

//  Writes the request's id into id (size > INGRESS_REQID_MAX): the client's
//  X-Request-Id when well-formed, else "<ingress>-<counter>".
void
    ingress_reqid_make (of_exchange_t *exchange, const char *ingress, uint64_t counter, char *id,
                        size_t size);

//  Self test
void
    ingress_reqid_test (bool verbose);

#endif

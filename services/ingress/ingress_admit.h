/*  =========================================================================
    ingress_admit - whether a request gets in: its frontend, its key, its body

    The checks every request that names a frontend goes through before
    anything works for it, in the order a client needs to hear about them:
    the config is there (503), a frontend serves its Host (404), its HTTP
    version is one the frontend takes (505), its API key (ingress_keys: 401,
    403), then its body: within the frontend's MaxRequestBodySize (413), a
    JSON object whose fields have their types (400, ingress_validate). The
    proxied calls (ingress_call) and the model routes (ingress_models) both
    admit their requests here, so a refusal reads the same on every route.
    =========================================================================
*/

#ifndef INGRESS_ADMIT_H_INCLUDED
#define INGRESS_ADMIT_H_INCLUDED

#include "of_classes.h"
#include "of_exchange.h"
#include "ingress_keys.h"
#include "ingress_route.h"
#include <evhtp.h>

//  Prepares a request's headers before its body is read (a form's
//  Content-Type becomes JSON's); the limits are ingress_wire's.
void
    ingress_admit_headers (evhtp_request_t *request);

//  The frontend serving the request's Host (borrowed from the clone's current
//  records, of_clone_records: a caller that keeps it past this event takes a
//  reference to those), or NULL once the error is answered (503 before the
//  first config, 404 when none serves it, 505 to an HTTP/1.0 client when the
//  frontend has BlockHttp10, 401 or 403 from the key check). *key is the
//  client's API key (borrowed; NULL: none counts), from the one check of
//  every request that names a frontend.
const of_frontend_t *
    ingress_admit_frontend (of_clone_t *clone, ingress_keys_t *keys, of_exchange_t *exchange,
                            const of_key_t **key);

//  The client's JSON body (new) for route, or NULL once the error is answered
//  (413 over the frontend's MaxRequestBodySize, 400 when missing, not an
//  object, or with a field of the wrong type: ingress_validate).
json_t *
    ingress_admit_body (of_exchange_t *exchange, const of_frontend_t *frontend,
                        const ingress_route_t *route);

#endif

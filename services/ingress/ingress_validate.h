/*  =========================================================================
    ingress_validate - the request validator: the type of every body field
    the ingress reads or rewrites

    One place checks a client's JSON body before anything reads it (the
    model for the lease, stream for a pull, the fields the translation maps,
    the objects the pins merge into): a field of the wrong type is refused
    with a 400 naming it ("model: must be a string", "messages[2].content:
    must be a string") instead of travelling on to a backend. A null counts
    as absent, as Ollama's own decoder reads it. Fields the ingress never
    reads are left to the backend. Later checks (client keys, translation)
    are added here as rules, not written beside the code that reads them.
    =========================================================================
*/

#ifndef INGRESS_VALIDATE_H_INCLUDED
#define INGRESS_VALIDATE_H_INCLUDED

#include "ingress_route.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  True if body (a JSON object) is fit for a route of this kind; false with
//  the reason in why, naming the field, for a 400 in the route's dialect.
bool
    ingress_validate_body (ingress_route_kind_t kind, const json_t *body, char *why,
                           size_t why_size);

//  Self test
void
    ingress_validate_test (bool verbose);

#endif

/*  =========================================================================
    ingress_prefix - the prompt's prefix chain, for the scheduler's prefix
    cache estimate (proto/lease.md, LEASE's Prefix)

    A chat's prompt is its messages in order; a generate's or completion's
    is its text (system, then prompt), cut into fixed chunks of
    INGRESS_PREFIX_CHUNK bytes. Each piece gets a 64-bit hash chained from
    the one before it (seeded with the model's key, since a cache belongs
    to one model), so that a hash names the whole prompt up to the end of
    its piece: two requests whose chains share a hash share that prefix.
    With each hash goes that end, in bytes of the text hashed.

    Bounded: at most OFP_LEASE_PREFIX_MAX pieces (the last one takes what
    is left) and INGRESS_PREFIX_BYTES bytes hashed in all, whatever the
    body's size; the hash reads 8 bytes at a step. The body must have passed
    ingress_validate_body (the types read here are checked there).
    =========================================================================
*/

#ifndef INGRESS_PREFIX_H_INCLUDED
#define INGRESS_PREFIX_H_INCLUDED

#include "ingress_route.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define INGRESS_PREFIX_CHUNK 1024           //  bytes of text per piece
#define INGRESS_PREFIX_BYTES (256 * 1024)   //  most bytes hashed per request

//  Adds "Prefix" and "PrefixEnds" to a LEASE body for the request body of a
//  route of this kind, with the model asked for; nothing when the route
//  has no prompt, or the prompt is empty.
void
    ingress_prefix_add (ingress_route_kind_t kind, const json_t *body, const char *model,
                        json_t *ask);

//  Self test
void
    ingress_prefix_test (bool verbose);

#endif

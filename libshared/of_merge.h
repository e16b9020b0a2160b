/*  =========================================================================
    of_merge - pinned properties: a deep merge of JSON objects; and the
    JSON merge patch (RFC 7396) of the admin API's PATCH

    The seed's rule for pinned properties: values pinned by the operator
    override the client's; nested objects merge key by key; arrays and every
    other value are replaced whole. Applied twice per request, the backend's
    pins over the frontend's over the client's body.
    =========================================================================
*/

#ifndef OF_MERGE_H_INCLUDED
#define OF_MERGE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>

//  Merges pinned into target in place: pinned wins. Both must be objects.
//  Returns 0, or -1 if either is not an object (target unchanged).
int
    of_merge_pinned (json_t *target, json_t *pinned);

//  Applies a JSON merge patch (RFC 7396) to target and returns the result, a
//  new value (caller owns); target is not changed. null in the patch removes
//  a key; objects merge; anything else replaces.
json_t *
    of_merge_patch (json_t *target, json_t *patch);

//  Self test
void
    of_merge_test (bool verbose);

#endif

/*  =========================================================================
    ingress_jscan - the members of a JSON object, found without a tree

    A scan over a byte range that skips values instead of building them, for
    the streaming paths where jansson's tree costs more than the work: a
    caller walks an object member by member and keeps what it needs as the
    JSON literal it is (a string literal is what an NDJSON line needs, already
    quoted and escaped). The scan is strict where it reads (strings, the
    object's punctuation) and lenient where it only skips (a number or a
    literal is any run of [A-Za-z0-9+-.]): a caller that must trust a value
    parses it. Nesting is bounded (INGRESS_JSCAN_DEPTH_MAX), so hostile input
    costs at most its length.
    =========================================================================
*/

#ifndef INGRESS_JSCAN_H_INCLUDED
#define INGRESS_JSCAN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#define INGRESS_JSCAN_DEPTH_MAX 32

//  Called for each member of a walked object: key points at the key's
//  opening quote and after just past its closing one, value at the value
//  (white space skipped). Returns the end of the value, or NULL to stop
//  the walk (a value the caller will not or cannot follow).
typedef const char *(ingress_jscan_member_fn) (const char *key, const char *after,
                                               const char *value, const char *end, void *arg);

//  After the white space at p.
const char *
    ingress_jscan_ws (const char *p, const char *end);

//  After the string literal at p (at its opening quote), or NULL.
const char *
    ingress_jscan_string (const char *p, const char *end);

//  After the value at p (white space first skipped), or NULL.
const char *
    ingress_jscan_value (const char *p, const char *end);

//  True if the key literal [key, after) is "name".
bool
    ingress_jscan_key_is (const char *key, const char *after, const char *name);

//  Walks the object that fills [p, end) (white space around it allowed),
//  calling member for each member. True if the whole object was walked.
bool
    ingress_jscan_object (const char *p, const char *end, ingress_jscan_member_fn *member,
                          void *arg);

//  Walks the object value at p, inside a larger range: its end, or NULL.
const char *
    ingress_jscan_nested (const char *p, const char *end, ingress_jscan_member_fn *member,
                          void *arg);

//  The string literal (quotes included) at value into *literal and *size,
//  and its end; a null leaves them as they are. NULL for anything else.
const char *
    ingress_jscan_literal (const char *value, const char *end, const char **literal,
                           size_t *size);

//  Self test
void
    ingress_jscan_test (bool verbose);

#endif

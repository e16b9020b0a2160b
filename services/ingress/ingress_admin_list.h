/*  =========================================================================
    ingress_admin_list - the admin API's query strings, and the paging and
    ordering of its lists

    Every list route (frontends, backends, backends/health, sessions) takes

        order-by=Field   a field of the listed objects (default Identifier;
                         case ignored); strings compare bytewise, numbers as
                         numbers, absent and null first
        order=asc|desc   (default asc)
        offset=N         skip N objects (default 0)
        limit=N          at most N objects, 1-10000 (default: all)

    The answer stays a JSON array (OllamaFlow's shape); the header
    X-Total-Count says how many objects there are before paging.
    =========================================================================
*/

#ifndef INGRESS_ADMIN_LIST_H_INCLUDED
#define INGRESS_ADMIN_LIST_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define INGRESS_ADMIN_LIMIT_MAX 10000
//  The paging parameters, for a route's list of allowed names
#define INGRESS_ADMIN_PAGING "order-by", "order", "offset", "limit"

//  The names a plain list route accepts: the paging parameters only
extern const char *const ingress_admin_list_params [];

//  Percent-decodes length bytes of text ('+' is a space) into dest, NUL-
//  terminated. -1 if malformed, holding a NUL, or longer than size - 1.
int
    ingress_admin_decode (const char *text, size_t length, char *dest, size_t size);

//  Parses a raw query string (NULL: none) into a new object of name to
//  decoded value. Only the names listed (NULL-terminated) are accepted, each
//  once. NULL with a reason naming the parameter.
json_t *
    ingress_admin_query (const char *raw, const char *const *allowed, char *error, size_t size);

//  Orders and pages list (an array of objects, borrowed) by the query's
//  paging parameters; returns a new array, with the count before paging in
//  *total. NULL with a reason naming the parameter.
json_t *
    ingress_admin_page (json_t *list, json_t *query, char *error, size_t size, size_t *total);

//  Both at once: parses raw with the allowed names, then pages list. NULL
//  with a reason naming the parameter.
json_t *
    ingress_admin_paged (json_t *list, const char *raw, const char *const *allowed, char *error,
                         size_t size, size_t *total);

//  Self test
void
    ingress_admin_list_test (bool verbose);

#endif

/*  =========================================================================
    of_upstream_prepare - what every request to a backend carries

    The one place that turns a backend (its record, of_records) into a
    request's headers and target: Host, the backend's credentials (BearerToken, Headers),
    Querystring, and the per-request extras a caller hands in
    (X-Forwarded-For, X-Request-Id, a client's credentials). The proxy,
    modelsync and healthmon all call it, so a backend sees the same request
    whoever sends it. The address, TLS and SNI come from the same record
    (of_upstream).

    The credentials rule (README, "Backend credentials"):
    - BearerToken wins over a Headers.Authorization: it is the field made
      for the token, secret in the admin API, with its own length rule;
    - a client's Authorization and x-api-key are never copied by a caller;
      they reach the backend only when handed in as extras (the frontend's
      PassClientCredentials) and the backend has no credentials of its own
      (a BearerToken, or an Authorization or x-api-key in Headers). Every
      other way, they are removed from the request here.
    =========================================================================
*/

#ifndef OF_UPSTREAM_PREPARE_H_INCLUDED
#define OF_UPSTREAM_PREPARE_H_INCLUDED

#include <event2/http.h>
#include <stdbool.h>
#include "of_records.h"

//  What one request adds to the backend's own (each NULL when absent)
typedef struct {
    const char *query;              //  the client's query string, before Querystring
    const char *forwarded_for;      //  X-Forwarded-For
    const char *request_id;         //  X-Request-Id
    const char *authorization;      //  a client's Authorization, offered for pass-through
    const char *api_key;            //  a client's x-api-key, offered for pass-through
} of_upstream_extra_t;

//  Sets the request's headers for backend (over any the caller put there
//  first: the backend's Headers win over the caller's defaults) and returns
//  the target: path, then the client's query, then the backend's
//  Querystring. Caller frees the target. extra may be NULL.
char *
    of_upstream_prepare (const of_backend_t *backend, const char *path,
                         const of_upstream_extra_t *extra, struct evkeyvalq *headers);

//  True if a header carries a client's credentials (Authorization,
//  x-api-key, Proxy-Authorization): never copied from a client to a backend.
bool
    of_upstream_prepare_credential (const char *name);

//  True if the backend has credentials of its own.
bool
    of_upstream_prepare_own_credentials (const of_backend_t *backend);

//  True if two backends get the same requests from it: the same address,
//  TLS, Querystring, BearerToken and Headers (in any order). What else
//  decides a caller's requests (a probe's URL, an API format) is the caller's.
bool
    of_upstream_prepare_same (const of_backend_t *backend, const of_backend_t *other);

//  Self test
void
    of_upstream_prepare_test (bool verbose);

#endif

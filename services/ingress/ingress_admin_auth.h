/*  =========================================================================
    ingress_admin_auth - who may use the admin API: a bearer token from
    AdminBearerTokens, compared in constant time

    With no token configured the admin API is disabled (403 on every admin
    route), never open: a forgotten setting must not hand the fleet to
    whoever can reach the port. OllamaFlow wrote a well-known default token
    ("ollamaflowadmin") instead; we do not.

    The comparison hashes both sides with SHA-256 and compares the digests
    with CRYPTO_memcmp, against every configured token without stopping at a
    match, so neither the content nor the length of a token leaks through
    the time an answer takes.
    =========================================================================
*/

#ifndef INGRESS_ADMIN_AUTH_H_INCLUDED
#define INGRESS_ADMIN_AUTH_H_INCLUDED

#include <stdbool.h>

typedef enum {
    INGRESS_AUTH_OK,            //  a configured token
    INGRESS_AUTH_REFUSED,       //  no token, a malformed header, or a token not configured
    INGRESS_AUTH_DISABLED       //  no token is configured: the admin API is off
} ingress_auth_t;

//  Checks an Authorization header value (NULL: none) against the tokens
//  (NULL-terminated list; NULL or empty: none configured).
ingress_auth_t
    ingress_admin_auth (char **tokens, const char *authorization);

//  Self test
void
    ingress_admin_auth_test (bool verbose);

#endif

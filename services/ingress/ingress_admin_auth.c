/*  =========================================================================
    ingress_admin_auth - bearer tokens, compared in constant time
    =========================================================================
*/

#include "ingress_admin_auth.h"
#include <assert.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define S_SCHEME "Bearer"

static void
s_digest (const char *text, unsigned char *digest)
{
    SHA256 ((const unsigned char *) text, strlen (text), digest);
}

ingress_auth_t
ingress_admin_auth (char **tokens, const char *authorization)
{
    if (!tokens || !tokens [0])
        return INGRESS_AUTH_DISABLED;
    size_t scheme = strlen (S_SCHEME);
    if (!authorization || strncasecmp (authorization, S_SCHEME, scheme) != 0
        || authorization [scheme] != ' ')
        return INGRESS_AUTH_REFUSED;
    const char *token = authorization + scheme;
    while (*token == ' ')
        token++;
    if (!*token)
        return INGRESS_AUTH_REFUSED;
    unsigned char given [SHA256_DIGEST_LENGTH], known [SHA256_DIGEST_LENGTH];
    s_digest (token, given);
    int matched = 0;
    for (char **candidate = tokens; *candidate; candidate++) {
        s_digest (*candidate, known);
        matched |= CRYPTO_memcmp (given, known, sizeof given) == 0;
    }
    return matched ? INGRESS_AUTH_OK : INGRESS_AUTH_REFUSED;
}

void
ingress_admin_auth_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_admin_auth: ");
    char *tokens [] = {"alpha", "beta-2", NULL};
    char *none [] = {NULL};
    assert (ingress_admin_auth (tokens, "Bearer alpha") == INGRESS_AUTH_OK);
    assert (ingress_admin_auth (tokens, "bearer  beta-2") == INGRESS_AUTH_OK);
    assert (ingress_admin_auth (tokens, "Bearer alph") == INGRESS_AUTH_REFUSED);
    assert (ingress_admin_auth (tokens, "Bearer alphaa") == INGRESS_AUTH_REFUSED);
    assert (ingress_admin_auth (tokens, "Bearer ALPHA") == INGRESS_AUTH_REFUSED);
    assert (ingress_admin_auth (tokens, "Basic alpha") == INGRESS_AUTH_REFUSED);
    assert (ingress_admin_auth (tokens, "Beareralpha") == INGRESS_AUTH_REFUSED);
    assert (ingress_admin_auth (tokens, "Bearer ") == INGRESS_AUTH_REFUSED);
    assert (ingress_admin_auth (tokens, NULL) == INGRESS_AUTH_REFUSED);
    assert (ingress_admin_auth (none, "Bearer alpha") == INGRESS_AUTH_DISABLED);
    assert (ingress_admin_auth (NULL, NULL) == INGRESS_AUTH_DISABLED);
    printf ("OK\n");
}

/*  =========================================================================
    ingress_keys - client API keys: their secrets, and the check of every
    request that names a frontend

    A key is a configd object (of_schema, kind "key") that every replica holds
    in its config copy, so a change or a revocation applies here as soon as
    configd publishes it. Only the SHA-256 of a secret is stored: a secret is
    32 random bytes, so its hash cannot be reversed or guessed, and a fast
    hash costs each request nothing (a slow password hash is for secrets a
    person chose). A presented secret is hashed, looked up by its hash, and
    the stored hash compared in constant time.

    Repeated unknown secrets from one address are slowed down: after
    INGRESS_KEYS_FREE_FAILURES within INGRESS_KEYS_WINDOW_MS, each 401 waits
    twice as long as the one before, up to INGRESS_KEYS_DELAY_MAX_MS; the
    addresses followed and the answers held back are bounded.
    docs/api-keys.md has the rules.
    =========================================================================
*/

#ifndef INGRESS_KEYS_H_INCLUDED
#define INGRESS_KEYS_H_INCLUDED

#include "of_classes.h"
#include "of_exchange.h"
#include <event2/event.h>

//  "ofk-" and 64 hex digits
#define INGRESS_KEYS_SECRET_PREFIX   "ofk-"
#define INGRESS_KEYS_SECRET_LENGTH   (4 + 64)
#define INGRESS_KEYS_FREE_FAILURES   5
#define INGRESS_KEYS_WINDOW_MS       60000
#define INGRESS_KEYS_DELAY_FIRST_MS  250
#define INGRESS_KEYS_DELAY_MAX_MS    4000
#define INGRESS_KEYS_ADDRESSES_MAX   10000
#define INGRESS_KEYS_HELD_MAX        1024

typedef struct _ingress_keys_t ingress_keys_t;

//  Makes a new secret (INGRESS_KEYS_SECRET_LENGTH + 1 bytes) and its SHA-256
//  in hex (OF_SCHEMA_KEY_HASH_LENGTH + 1 bytes); -1 if no randomness.
int
    ingress_keys_secret (char *secret, char *hash);

//  The SHA-256 of text, in lower-case hex (OF_SCHEMA_KEY_HASH_LENGTH + 1 bytes).
void
    ingress_keys_hash (const char *text, size_t length, char *hash);

//  Checks keys against the config copy of clone (borrowed).
ingress_keys_t *
    ingress_keys_new (struct event_base *base, of_clone_t *clone);

//  Destroys; answers still held back go out at once. Accepts NULL.
void
    ingress_keys_destroy (ingress_keys_t **self_p);

//  The check of a request on frontend: true when it may go on, with *key the
//  key it presented (borrowed from the clone's current records; NULL when
//  none counts).
//  On a frontend with RequireApiKey, a missing, unknown, inactive or expired
//  key is answered 401 and one the key may not use 403, in the route's
//  dialect (the answer to a repeated unknown secret possibly held back);
//  false then. Elsewhere a valid key allowed on the frontend counts, and
//  anything else is ignored (clients such as openai's always send one).
bool
    ingress_keys_admit (ingress_keys_t *self, of_exchange_t *exchange,
                        const of_frontend_t *frontend, const of_key_t **key);

//  True if key (NULL: none) may use model; else answers 403 and false.
bool
    ingress_keys_admit_model (of_exchange_t *exchange, const of_key_t *key,
                              const char *model);

//  Self test
void
    ingress_keys_test (bool verbose);

#endif

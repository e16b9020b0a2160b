/*  =========================================================================
    ingress_keys - client API keys: their secrets, and the check of every
    request that names a frontend
    =========================================================================
*/

#include "ingress_keys.h"
#include "ingress_reply.h"
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#define S_SECRET_BYTES 32
#define S_CANDIDATES   2

//  Unknown secrets seen from one address
typedef struct {
    int failures;               //  within the window
    int64_t since;              //  zclock_mono of the window's first
} s_failures_t;

//  A 401 held back
typedef struct {
    ingress_keys_t *keys;
    of_exchange_t *exchange;
    struct event *timer;
    char *message;
} s_held_t;

struct _ingress_keys_t {
    struct event_base *base;
    of_clone_t *clone;
    zhashx_t *by_hash;          //  SecretHash -> key record, of the set below
    of_records_t *indexed;      //  the records the index was built from (a reference)
    zhashx_t *failures;         //  address -> s_failures_t
    zlistx_t *held;             //  s_held_t
};

int
ingress_keys_secret (char *secret, char *hash)
{
    unsigned char bytes [S_SECRET_BYTES];
    if (RAND_bytes (bytes, sizeof bytes) != 1)
        return -1;
    size_t used = (size_t) snprintf (secret, INGRESS_KEYS_SECRET_LENGTH + 1, "%s",
                                     INGRESS_KEYS_SECRET_PREFIX);
    for (size_t i = 0; i < sizeof bytes; i++)
        used += (size_t) snprintf (secret + used, INGRESS_KEYS_SECRET_LENGTH + 1 - used, "%02x",
                                   bytes [i]);
    OPENSSL_cleanse (bytes, sizeof bytes);
    ingress_keys_hash (secret, used, hash);
    return 0;
}

void
ingress_keys_hash (const char *text, size_t length, char *hash)
{
    unsigned char digest [SHA256_DIGEST_LENGTH];
    SHA256 ((const unsigned char *) text, length, digest);
    for (size_t i = 0; i < sizeof digest; i++)
        snprintf (hash + 2 * i, 3, "%02x", digest [i]);
}

static void
s_failures_free (void **item)
{
    free (*item);
    *item = NULL;
}

ingress_keys_t *
ingress_keys_new (struct event_base *base, of_clone_t *clone)
{
    assert (base && clone);
    ingress_keys_t *self = (ingress_keys_t *) zmalloc (sizeof (ingress_keys_t));
    self->base = base;
    self->clone = clone;
    self->by_hash = zhashx_new ();
    self->failures = zhashx_new ();
    zhashx_set_destructor (self->failures, s_failures_free);
    self->held = zlistx_new ();
    return self;
}

static void
s_held_free (s_held_t *held)
{
    event_free (held->timer);
    free (held->message);
    free (held);
}

//  Sends a held-back 401 now
static void
s_held_send (s_held_t *held)
{
    of_exchange_set_owner (held->exchange, NULL, NULL);
    ingress_reply_error (held->exchange, 401, "invalid_api_key", -1, "%s", held->message);
}

void
ingress_keys_destroy (ingress_keys_t **self_p)
{
    assert (self_p);
    ingress_keys_t *self = *self_p;
    if (!self)
        return;
    s_held_t *held;
    while ((held = (s_held_t *) zlistx_detach (self->held, NULL))) {
        s_held_send (held);
        s_held_free (held);
    }
    zlistx_destroy (&self->held);
    zhashx_destroy (&self->failures);
    zhashx_destroy (&self->by_hash);
    of_records_destroy (&self->indexed);
    free (self);
    *self_p = NULL;
}

//  Rebuilds the index when the config copy changed since it was built (the
//  reference held keeps the records it points to, and their address unique)
static void
s_index (ingress_keys_t *self)
{
    of_records_t *records = of_clone_records (self->clone);
    if (records == self->indexed)
        return;
    zhashx_purge (self->by_hash);
    for (size_t index = 0; index < of_records_key_count (records); index++) {
        const of_key_t *key = of_records_key_at (records, index);
        if (key->secret_hash)
            zhashx_update (self->by_hash, key->secret_hash, (void *) key);
    }
    of_records_destroy (&self->indexed);
    self->indexed = of_records_ref (records);
}

//  The key whose secret is text, or NULL
static const of_key_t *
s_find (ingress_keys_t *self, const char *text)
{
    char hash [OF_SCHEMA_KEY_HASH_LENGTH + 1];
    ingress_keys_hash (text, strlen (text), hash);
    const of_key_t *key = (const of_key_t *) zhashx_lookup (self->by_hash, hash);
    const char *stored = key ? key->secret_hash : NULL;
    //  The lookup compared hashes, which say nothing of the secret; the last
    //  word is a comparison in constant time all the same
    if (!stored || strlen (stored) != OF_SCHEMA_KEY_HASH_LENGTH
        || CRYPTO_memcmp (stored, hash, OF_SCHEMA_KEY_HASH_LENGTH) != 0)
        return NULL;
    return key;
}

//  What the client presented: Authorization's bearer token, then x-api-key
static size_t
s_candidates (of_exchange_t *exchange, const char *candidates [S_CANDIDATES])
{
    size_t count = 0;
    const char *authorization = of_exchange_header (exchange, "Authorization");
    if (authorization && strncasecmp (authorization, "Bearer ", 7) == 0) {
        const char *token = authorization + 7;
        while (*token == ' ')
            token++;
        if (*token)
            candidates [count++] = token;
    }
    const char *api_key = of_exchange_header (exchange, "x-api-key");
    if (api_key && *api_key)
        candidates [count++] = api_key;
    return count;
}

//  True if the key may use frontend
static bool
s_allows_frontend (const of_key_t *key, const char *frontend)
{
    return of_strings_has (&key->frontends, "*") || of_strings_has (&key->frontends, frontend);
}

//  Why a known key cannot be used now, or NULL
static const char *
s_unusable (const of_key_t *key, char *why, size_t size)
{
    const char *id = key->identifier;
    if (!key->active) {
        snprintf (why, size, "API key '%s' is not active", id);
        return why;
    }
    const char *expires = key->expires_utc;
    int64_t at = expires ? of_schema_time_parse (expires) : -1;
    if (at >= 0 && zclock_time () >= at) {
        snprintf (why, size, "API key '%s' expired at %s", id, expires);
        return why;
    }
    return NULL;
}

//  Counts an unknown secret from address; the wait before its 401 (0: none)
static int64_t
s_count_failure (ingress_keys_t *self, const char *address)
{
    int64_t now = zclock_mono ();
    s_failures_t *record = (s_failures_t *) zhashx_lookup (self->failures, address);
    if (record && now - record->since > INGRESS_KEYS_WINDOW_MS) {
        record->failures = 0;
        record->since = now;
    }
    if (!record) {
        if (zhashx_size (self->failures) >= INGRESS_KEYS_ADDRESSES_MAX) {
            //  Full: forget the windows that are over, else everyone (bounded)
            zlistx_t *addresses = zhashx_keys (self->failures);
            for (const char *a = (const char *) zlistx_first (addresses); a;
                 a = (const char *) zlistx_next (addresses)) {
                s_failures_t *old = (s_failures_t *) zhashx_lookup (self->failures, a);
                if (now - old->since > INGRESS_KEYS_WINDOW_MS)
                    zhashx_delete (self->failures, a);
            }
            zlistx_destroy (&addresses);
            if (zhashx_size (self->failures) >= INGRESS_KEYS_ADDRESSES_MAX)
                zhashx_purge (self->failures);
        }
        record = (s_failures_t *) zmalloc (sizeof (s_failures_t));
        record->since = now;
        zhashx_insert (self->failures, address, record);
    }
    record->failures++;
    int over = record->failures - INGRESS_KEYS_FREE_FAILURES;
    if (over <= 0)
        return 0;
    int64_t delay = INGRESS_KEYS_DELAY_FIRST_MS;
    for (int i = 1; i < over && delay < INGRESS_KEYS_DELAY_MAX_MS; i++)
        delay *= 2;
    return delay < INGRESS_KEYS_DELAY_MAX_MS ? delay : INGRESS_KEYS_DELAY_MAX_MS;
}

static void
s_on_held_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_held_t *held = (s_held_t *) arg;
    zlistx_delete (held->keys->held, zlistx_find (held->keys->held, held));
    s_held_send (held);
    s_held_free (held);
}

//  The client left while its 401 was held back
static void
s_on_held_gone (of_exchange_t *exchange, void *arg)
{
    (void) exchange;
    s_held_t *held = (s_held_t *) arg;
    zlistx_delete (held->keys->held, zlistx_find (held->keys->held, held));
    s_held_free (held);
}

//  401 for an unknown secret: at once, or after the address's wait
static void
s_refuse_unknown (ingress_keys_t *self, of_exchange_t *exchange, const char *message)
{
    int64_t delay = s_count_failure (self, of_exchange_peer (exchange));
    if (delay == 0 || zlistx_size (self->held) >= INGRESS_KEYS_HELD_MAX) {
        ingress_reply_error (exchange, 401, "invalid_api_key", delay ? delay : -1, "%s", message);
        return;
    }
    s_held_t *held = (s_held_t *) zmalloc (sizeof (s_held_t));
    held->keys = self;
    held->exchange = exchange;
    held->message = strdup (message);
    held->timer = evtimer_new (self->base, s_on_held_timer, held);
    zlistx_add_end (self->held, held);
    of_exchange_set_owner (exchange, s_on_held_gone, held);
    of_exchange_watch (exchange);
    struct timeval wait = {delay / 1000, (delay % 1000) * 1000};
    evtimer_add (held->timer, &wait);
}

bool
ingress_keys_admit (ingress_keys_t *self, of_exchange_t *exchange,
                    const of_frontend_t *frontend, const of_key_t **key)
{
    assert (self && exchange && frontend && key);
    *key = NULL;
    s_index (self);
    const char *frontend_id = frontend->identifier;
    bool required = frontend->require_api_key;
    const char *candidates [S_CANDIDATES];
    size_t count = s_candidates (exchange, candidates);
    const of_key_t *found = NULL;
    for (size_t i = 0; i < count && !found; i++)
        found = s_find (self, candidates [i]);
    char why [256];
    if (!required) {
        //  Only a key that could be used here counts; anything else is the
        //  client's own business (an openai client always sends some key)
        if (found && !s_unusable (found, why, sizeof why)
            && s_allows_frontend (found, frontend_id))
            *key = found;
        return true;
    }
    if (!found) {
        if (count == 0)
            ingress_reply_error (exchange, 401, "invalid_api_key", -1,
                                 "frontend '%s' requires an API key: send 'Authorization: Bearer "
                                 "<key>' or 'x-api-key: <key>'", frontend_id);
        else
            s_refuse_unknown (self, exchange, "invalid API key");
        return false;
    }
    if (s_unusable (found, why, sizeof why)) {
        ingress_reply_error (exchange, 401, "invalid_api_key", -1, "%s", why);
        return false;
    }
    if (!s_allows_frontend (found, frontend_id)) {
        ingress_reply_error (exchange, 403, "api_key_not_allowed", -1,
                             "API key '%s' may not use frontend '%s'", found->identifier,
                             frontend_id);
        return false;
    }
    *key = found;
    return true;
}

bool
ingress_keys_admit_model (of_exchange_t *exchange, const of_key_t *key, const char *model)
{
    if (!key || key->models.count == 0)
        return true;
    char wanted [OFP_MODELS_KEY_MAX], entry [OFP_MODELS_KEY_MAX];
    ofp_models_key (wanted, model ? model : "");
    for (size_t index = 0; index < key->models.count; index++) {
        ofp_models_key (entry, key->models.items [index]);
        if (model && streq (entry, wanted))
            return true;
    }
    ingress_reply_error (exchange, 403, "api_key_not_allowed", -1,
                         "API key '%s' may not use model '%s'", key->identifier,
                         model ? model : "");
    return false;
}

//  --------------------------------------------------------------------------
//  Self test

void
ingress_keys_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_keys: ");
    char secret [INGRESS_KEYS_SECRET_LENGTH + 1], other [INGRESS_KEYS_SECRET_LENGTH + 1];
    char hash [OF_SCHEMA_KEY_HASH_LENGTH + 1], other_hash [OF_SCHEMA_KEY_HASH_LENGTH + 1];
    assert (ingress_keys_secret (secret, hash) == 0);
    assert (ingress_keys_secret (other, other_hash) == 0);
    assert (strlen (secret) == INGRESS_KEYS_SECRET_LENGTH);
    assert (strncmp (secret, INGRESS_KEYS_SECRET_PREFIX, 4) == 0);
    assert (strlen (hash) == OF_SCHEMA_KEY_HASH_LENGTH);
    assert (!streq (secret, other) && !streq (hash, other_hash));
    char again [OF_SCHEMA_KEY_HASH_LENGTH + 1];
    ingress_keys_hash (secret, strlen (secret), again);
    assert (streq (again, hash));
    //  The SHA-256 of "abc"
    ingress_keys_hash ("abc", 3, again);
    assert (streq (again, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    //  The hash passes the schema's rule
    char error [OF_SCHEMA_ERROR_MAX];
    json_t *input = json_pack ("{s:s, s:s}", "Identifier", "k1", "SecretHash", hash);
    json_t *object = of_schema_normalize (OF_KIND_KEY, input, error, sizeof error);
    assert (object);
    json_decref (object);
    json_decref (input);

    //  The slow-down: free at first, then doubling up to the bound
    struct event_base *base = event_base_new ();
    of_clone_t *clone = of_clone_new ("inproc://ingress_keys_test_pub",
                                      "inproc://ingress_keys_test_router", 1000);
    ingress_keys_t *self = ingress_keys_new (base, clone);
    for (int i = 0; i < INGRESS_KEYS_FREE_FAILURES; i++)
        assert (s_count_failure (self, "10.0.0.1") == 0);
    assert (s_count_failure (self, "10.0.0.1") == INGRESS_KEYS_DELAY_FIRST_MS);
    assert (s_count_failure (self, "10.0.0.1") == 2 * INGRESS_KEYS_DELAY_FIRST_MS);
    for (int i = 0; i < 20; i++)
        assert (s_count_failure (self, "10.0.0.1") <= INGRESS_KEYS_DELAY_MAX_MS);
    assert (s_count_failure (self, "10.0.0.1") == INGRESS_KEYS_DELAY_MAX_MS);
    assert (s_count_failure (self, "10.0.0.2") == 0);
    //  The addresses followed stay bounded
    for (int i = 0; i < INGRESS_KEYS_ADDRESSES_MAX + 10; i++) {
        char address [32];
        snprintf (address, sizeof address, "10.1.%d.%d", i / 256, i % 256);
        s_count_failure (self, address);
    }
    assert (zhashx_size (self->failures) <= INGRESS_KEYS_ADDRESSES_MAX);
    //  Keys: frontends, and what makes one unusable
    json_t *keys = json_pack (
        "{s:{s:s, s:[s]}, s:{s:s, s:s}, s:{s:s, s:b}}", "k1", "Identifier", "k1", "Frontends",
        "main", "k2", "Identifier", "k2", "ExpiresUtc", "2020-01-01T00:00:00.000000Z", "k3",
        "Identifier", "k3", "Active", false);
    of_records_t *records = of_records_new (NULL, NULL, keys, NULL);
    const of_key_t *key = of_records_key (records, "k1");
    assert (s_allows_frontend (key, "main") && !s_allows_frontend (key, "team"));
    assert (!s_unusable (key, error, sizeof error));
    assert (s_allows_frontend (of_records_key (records, "k2"), "team"));
    assert (s_unusable (of_records_key (records, "k2"), error, sizeof error)
            && strstr (error, "expired"));
    assert (s_unusable (of_records_key (records, "k3"), error, sizeof error)
            && strstr (error, "not active"));
    of_records_destroy (&records);
    json_decref (keys);
    ingress_keys_destroy (&self);
    ingress_keys_destroy (&self);
    of_clone_destroy (&clone);

    event_base_free (base);
    printf ("OK\n");
}

/*  =========================================================================
    of_records - the frontends, backends and keys, compiled into typed records

    What a frontend, a backend and a client API key are, as the services
    read them: every field of_schema defines, typed (integers, booleans,
    enums, lists of strings), validated by the same schema configd writes
    with, so that a service reads record->port instead of looking a key up
    in JSON where it uses it, and a field's type and default live in one
    place.

    A set of records is compiled once per config change (of_clone does it on
    every snapshot and update) and never changes afterwards. It is shared by
    reference count: whoever keeps using a set after the next change (a
    request in flight, a compiled fleet) takes a reference, so it keeps the
    records it started with while a newer set replaces them for everyone
    else. A record unchanged since the previous set is shared with it rather
    than compiled again, so a change costs one object's validation, not the
    whole fleet's.
    =========================================================================
*/

#ifndef OF_RECORDS_H_INCLUDED
#define OF_RECORDS_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "of_schema.h"

typedef enum {
    OF_BALANCING_ROUND_ROBIN,
    OF_BALANCING_RANDOM,
    OF_BALANCING_LEAST_OUTSTANDING,
    OF_BALANCING_LEAST_LATENCY,
    OF_BALANCING_PREDICTED_LATENCY
} of_balancing_t;

typedef enum {
    OF_API_OLLAMA,
    OF_API_OPENAI
} of_api_format_t;

typedef enum {
    OF_PRIORITY_NORMAL,
    OF_PRIORITY_HIGH,
    OF_PRIORITY_LOW
} of_priority_t;

//  A list of strings (Labels, Backends, RequiredModels, ImageModels). Plain
//  record, read directly.
typedef struct {
    const char *const *items;
    size_t count;
} of_strings_t;

//  One header of a backend's Headers (plain record)
typedef struct {
    const char *name;
    const char *value;
} of_header_t;

//  A frontend (plain record, read directly; never changed once compiled).
//  Strings are never NULL except where marked nullable; everything is owned
//  by the set and lives as long as it.
typedef struct {
    const char *identifier;
    const char *name;                   //  nullable
    const char *hostname;               //  the Host to match, or "*"
    int64_t timeout_ms;                 //  0: no limit
    of_balancing_t load_balancing;
    bool block_http10;
    int64_t max_request_body_size;
    of_strings_t backends;              //  backend Identifiers, in rotation order
    of_strings_t required_models;
    bool log_request_full;
    bool log_request_body;
    bool log_response_body;
    bool use_sticky_sessions;
    int64_t sticky_session_expiration_ms;
    json_t *pinned_embeddings;          //  PinnedEmbeddingsProperties, an object (read only)
    json_t *pinned_completions;         //  PinnedCompletionsProperties, an object (read only)
    bool allow_embeddings;
    bool allow_completions;
    bool allow_retries;
    bool pass_client_credentials;
    bool require_api_key;
    bool active;
    const char *created_utc;            //  nullable
    const char *last_update_utc;        //  nullable
} of_frontend_t;

//  A backend (plain record, as above)
typedef struct {
    const char *identifier;
    const char *name;                   //  nullable
    const char *hostname;
    int port;
    bool ssl;
    int unhealthy_threshold;
    int healthy_threshold;
    const char *health_check_method;    //  "GET" or "HEAD"
    const char *health_check_url;       //  a path, at least "/"
    int64_t max_parallel_requests;
    int64_t rate_limit_requests_threshold;
    bool log_request_full;
    bool log_request_body;
    bool log_response_body;
    of_api_format_t api_format;
    of_strings_t labels;
    json_t *pinned_embeddings;          //  read only
    json_t *pinned_completions;         //  read only
    bool allow_embeddings;
    bool allow_completions;
    of_strings_t image_models;          //  ["*"]: every model
    const char *bearer_token;           //  nullable; a secret
    const char *querystring;            //  nullable; without its '?'
    const of_header_t *headers;         //  header values are secrets
    size_t header_count;
    bool active;
    const char *created_utc;            //  nullable
    const char *last_update_utc;        //  nullable
} of_backend_t;

//  A client API key (plain record, as above)
typedef struct {
    const char *identifier;
    const char *name;                   //  nullable
    const char *owner;                  //  nullable
    of_strings_t frontends;             //  frontend Identifiers, or ["*"]: every one
    of_strings_t models;                //  empty: every model
    of_priority_t priority;
    int64_t max_concurrent_requests;    //  0: no limit
    int64_t requests_per_minute;        //  0: no limit
    int64_t tokens_per_minute;          //  0: no limit
    const char *expires_utc;            //  nullable: never
    bool active;
    const char *secret_hash;            //  nullable (no secret yet); the SHA-256 in hex
    const char *created_utc;            //  nullable
    const char *last_update_utc;        //  nullable
} of_key_t;

typedef struct _of_records_t of_records_t;

//  Compiles the config's frontends, backends and keys (JSON objects from
//  Identifier to object, as of_clone_objects gives them; borrowed, any may be
//  NULL) into a new set with one reference, the caller's. Records of previous
//  (borrowed, may be NULL) whose object is unchanged are shared. An object
//  the schema refuses is left out of the set and counted, with the reason.
of_records_t *
    of_records_new (json_t *frontends, json_t *backends, json_t *keys, of_records_t *previous);

//  Takes another reference to the set; returns it.
of_records_t *
    of_records_ref (of_records_t *self);

//  Drops the caller's reference and sets its pointer to NULL; the set goes
//  with its last reference. Accepts NULL.
void
    of_records_destroy (of_records_t **self_p);

//  A frontend or a backend by Identifier, or NULL. Borrowed from the set.
const of_frontend_t *
    of_records_frontend (of_records_t *self, const char *identifier);
const of_backend_t *
    of_records_backend (of_records_t *self, const char *identifier);
const of_key_t *
    of_records_key (of_records_t *self, const char *identifier);

//  How many frontends, backends and keys the set holds, and each by position, in
//  the order of the objects it was compiled from.
size_t
    of_records_frontend_count (of_records_t *self);
const of_frontend_t *
    of_records_frontend_at (of_records_t *self, size_t index);
size_t
    of_records_backend_count (of_records_t *self);
const of_backend_t *
    of_records_backend_at (of_records_t *self, size_t index);
size_t
    of_records_key_count (of_records_t *self);
const of_key_t *
    of_records_key_at (of_records_t *self, size_t index);

//  The config's object a backend's record was compiled from, as configd
//  sent it (borrowed from the set, read only): for a view that shows the
//  object whole, as the admin API's health does; a field is read from the
//  record.
json_t *
    of_backend_object (const of_backend_t *record);

//  How many objects the schema refused, and why the last one was ("" if none).
size_t
    of_records_refused (of_records_t *self);
const char *
    of_records_error (of_records_t *self);

//  The names the config writes for an enum value ("RoundRobin", "OpenAI").
const char *
    of_balancing_name (of_balancing_t balancing);
const char *
    of_api_format_name (of_api_format_t format);
const char *
    of_priority_name (of_priority_t priority);

//  True if list holds text (compared exactly).
bool
    of_strings_has (const of_strings_t *list, const char *text);

//  For the self tests of the classes that read backends: a set of one
//  backend, compiled from a Backend object (borrowed; Identifier "b" when it
//  has none) that the schema must take. *backend_p is its record, borrowed
//  from the set. Caller owns the set.
of_records_t *
    of_records_test_backend (json_t *object, const of_backend_t **backend_p);

//  Self test
void
    of_records_test (bool verbose);

#endif

/*  =========================================================================
    of_schema - the Frontend, Backend and Key objects: fields, defaults, validation

    The single description of what a frontend and a backend are, after
    OllamaFlow's objects (PascalCase fields, enums as strings) with their
    documented defaults and ranges, and of a client API key (ours). configd validates every write with it and
    builds its tables from it; the admin API and the CLI show its rules.

    Objects travel as JSON. A normalized object has every field, in schema
    order, with canonical names and enum spellings and defaults filled in.
    =========================================================================
*/

#ifndef OF_SCHEMA_H_INCLUDED
#define OF_SCHEMA_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define OF_IDENTIFIER_MAX 64
#define OF_SCHEMA_ERROR_MAX 256
//  Limits of a backend's fields that travel in every request to it: code that
//  sizes a buffer for one of them uses these, never a bus protocol's limits
#define OF_SCHEMA_HOSTNAME_MAX      253     //  Hostname (a DNS name's limit)
#define OF_SCHEMA_TOKEN_MAX         4096    //  BearerToken
#define OF_SCHEMA_HEADER_VALUE_MAX  8192    //  a value in Headers
//  What a secret shows as; written back unchanged (REPLACE, PATCH), it keeps the secret
#define OF_SCHEMA_SECRET_MASK "********"
//  A key's SecretHash: the SHA-256 of its secret, in lower-case hex
#define OF_SCHEMA_KEY_HASH_LENGTH   64

typedef enum {
    OF_KIND_FRONTEND,
    OF_KIND_BACKEND,
    OF_KIND_KEY,                //  a client API key (docs/api-keys.md)
    OF_KIND_COUNT
} of_kind_t;

typedef enum {
    OF_FIELD_STRING,        //  text, or null where nullable
    OF_FIELD_INT,           //  integer within min..max
    OF_FIELD_BOOL,
    OF_FIELD_ENUM,          //  one of values, matched case-insensitively
    OF_FIELD_STRINGS,       //  array of non-empty strings
    OF_FIELD_OBJECT,        //  any JSON object (pinned properties)
    OF_FIELD_HEADERS,       //  object of header name to string value
    OF_FIELD_TIME           //  set by configd: "yyyy-MM-ddTHH:mm:ss.ffffffZ"
} of_field_type_t;

//  Field flags
#define OF_FIELD_REQUIRED   (1u << 0)   //  must be given on create
#define OF_FIELD_NULLABLE   (1u << 1)   //  null is a value, not "use the default"
#define OF_FIELD_SECRET     (1u << 2)   //  write-only through the admin API
#define OF_FIELD_READONLY   (1u << 3)   //  set by the server; ignored on input

typedef int (of_field_check_fn) (json_t **value, char *error, size_t size);

typedef struct {
    const char *name;               //  "TimeoutMs"
    of_field_type_t type;
    const char *def;                //  default as JSON text
    int64_t min, max;               //  INT range; STRING and list lengths
    const char *const *values;      //  ENUM names, NULL-terminated
    unsigned flags;
    of_field_check_fn *check;       //  extra rule, may rewrite the value; or NULL
    const char *rule;               //  the rule in words, for errors and docs
} of_field_t;

//  "frontend", "backend" or "key"
const char *
    of_kind_name (of_kind_t kind);

//  "frontends", "backends" or "keys": table names and admin routes
const char *
    of_kind_plural (of_kind_t kind);

//  Reads a kind from "frontend", "Backend", "backends", ...; 0 or -1.
int
    of_kind_parse (const char *name, of_kind_t *kind);

//  The fields of a kind, in schema order; sets count.
const of_field_t *
    of_schema_fields (of_kind_t kind, size_t *count);

//  Checks an object from outside and returns a new normalized object (caller
//  owns), or NULL with a reason that names the field and its rule. Read-only
//  fields in the input are ignored; CreatedUtc and LastUpdateUtc come out null
//  for the caller to set.
json_t *
    of_schema_normalize (of_kind_t kind, json_t *input, char *error, size_t size);

//  A copy of a normalized object without its secrets (BearerToken and header
//  values), for showing to clients. Caller owns.
json_t *
    of_schema_redact (of_kind_t kind, json_t *object);

//  True if text is a valid Identifier: 1-64 of letters, digits, '.', '_', '-'.
bool
    of_identifier_valid (const char *text);

//  Writes the current UTC time as "yyyy-MM-ddTHH:mm:ss.ffffffZ" (28 bytes + NUL).
void
    of_schema_timestamp (char *dest, size_t size);

//  Writes a wall-clock time (ms since the Unix epoch, as zclock_time) the same way.
void
    of_schema_time (int64_t ms, char *dest, size_t size);

//  Reads a time written as above (any fraction of a second, or none): ms
//  since the Unix epoch, or -1 if text is not one.
int64_t
    of_schema_time_parse (const char *text);

//  Self test
void
    of_schema_test (bool verbose);

#endif

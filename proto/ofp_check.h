/*  =========================================================================
    ofp_check - checks of body fields shared by the protocol codecs

    Each returns 0, or -1 with a reason naming the field in error.
    =========================================================================
*/

#ifndef OFP_CHECK_H_INCLUDED
#define OFP_CHECK_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define OFP_IDENTIFIER_MAX 64
//  An epoch: 16 hex digits, random per database (configd) or per start (the others)
#define OFP_EPOCH_LENGTH 16
//  A UTC timestamp "yyyy-MM-ddTHH:mm:ss.ffffffZ", as of_schema_timestamp writes it
#define OFP_TIMESTAMP_LENGTH 27

//  Checks one object of an array (see ofp_check_each); same contract as the checks below
typedef int (ofp_check_fn) (json_t *object, char *error, size_t size);

//  body[name] is of the given JSON type
int
    ofp_check_type (json_t *body, const char *name, json_type type, char *error, size_t size);

//  body[name] is a string of min..max bytes without NUL
int
    ofp_check_string (json_t *body, const char *name, size_t min, size_t max, char *error,
                      size_t size);

//  body[name] is an integer within min..max
int
    ofp_check_int (json_t *body, const char *name, int64_t min, int64_t max, char *error,
                   size_t size);

//  body[name] is a boolean
int
    ofp_check_bool (json_t *body, const char *name, char *error, size_t size);

//  body[name] is "frontend", "backend" or "key"
int
    ofp_check_kind (json_t *body, const char *name, char *error, size_t size);

//  body[name] is an array of objects
int
    ofp_check_objects (json_t *body, const char *name, char *error, size_t size);

//  True if body[name] is there and not null. Optional fields ("absent or null:
//  unknown") are checked only when present.
bool
    ofp_check_present (json_t *body, const char *name);

//  body[name] is an Identifier: 1-64 letters, digits, '.', '_' or '-' (the rule
//  of of_identifier_valid, for frontends, backends, leases and jobs)
int
    ofp_check_identifier (json_t *body, const char *name, char *error, size_t size);

//  body[name] is a string of 1..max printable ASCII bytes without spaces
int
    ofp_check_token (json_t *body, const char *name, size_t max, char *error, size_t size);

//  body[name] is one of values (NULL-terminated), spelled exactly
int
    ofp_check_enum (json_t *body, const char *name, const char *const *values, char *error,
                    size_t size);

//  body[name] is an epoch: OFP_EPOCH_LENGTH hex digits
int
    ofp_check_epoch (json_t *body, const char *name, char *error, size_t size);

//  body has "Epoch" (an epoch) and "Sequence" (an integer of at least first):
//  the numbering every published message carries
int
    ofp_check_epoch_sequence (json_t *body, int64_t first, char *error, size_t size);

//  body[name] is a UTC timestamp "yyyy-MM-ddTHH:mm:ss.ffffffZ"
int
    ofp_check_timestamp (json_t *body, const char *name, char *error, size_t size);

//  body[name] is an array of at most max_count strings of min..max bytes
int
    ofp_check_strings (json_t *body, const char *name, size_t max_count, size_t min, size_t max,
                       char *error, size_t size);

//  body[name] is an array of at most max_count Identifiers, none listed twice
int
    ofp_check_identifiers (json_t *body, const char *name, size_t max_count, char *error,
                           size_t size);

//  body[name] is an array of at most max_count objects that each pass check;
//  the reason names the item: "Models[3].Size: must be ..."
int
    ofp_check_each (json_t *body, const char *name, size_t max_count, ofp_check_fn *check,
                    char *error, size_t size);

//  body is an ERROR body {"Status": 100-599, "Error", "Message"}
int
    ofp_check_error (json_t *body, char *error, size_t size);

#endif

/*  =========================================================================
    ofp_check - checks of body fields shared by the protocol codecs

    Each returns 0, or -1 with a reason naming the field in error.
    =========================================================================
*/

#ifndef OFP_CHECK_H_INCLUDED
#define OFP_CHECK_H_INCLUDED

#include <jansson.h>
#include <stdint.h>
#include <stddef.h>

#define OFP_IDENTIFIER_MAX 64

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

//  body[name] is "frontend" or "backend"
int
    ofp_check_kind (json_t *body, const char *name, char *error, size_t size);

//  body[name] is an array of objects
int
    ofp_check_objects (json_t *body, const char *name, char *error, size_t size);

//  body is an ERROR body {"Status": 100-599, "Error", "Message"}
int
    ofp_check_error (json_t *body, char *error, size_t size);

#endif

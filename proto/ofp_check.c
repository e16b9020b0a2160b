/*  =========================================================================
    ofp_check - checks of body fields shared by the protocol codecs
    =========================================================================
*/

#include "ofp_check.h"
#include <stdio.h>
#include <string.h>

static const char *
s_type_name (json_type type)
{
    switch (type) {
        case JSON_OBJECT: return "an object";
        case JSON_ARRAY: return "an array";
        case JSON_STRING: return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL: return "a number";
        case JSON_TRUE:
        case JSON_FALSE: return "a boolean";
        case JSON_NULL: return "null";
    }
    return "a value";
}

int
ofp_check_type (json_t *body, const char *name, json_type type, char *error, size_t size)
{
    json_t *value = json_object_get (body, name);
    if (!value || json_typeof (value) != type) {
        snprintf (error, size, "%s: must be %s", name, s_type_name (type));
        return -1;
    }
    return 0;
}

int
ofp_check_string (json_t *body, const char *name, size_t min, size_t max, char *error,
                  size_t size)
{
    json_t *value = json_object_get (body, name);
    size_t length = json_string_length (value);
    if (!json_is_string (value) || length < min || length > max
        || strlen (json_string_value (value)) != length) {
        snprintf (error, size, "%s: must be a string of %zu to %zu bytes", name, min, max);
        return -1;
    }
    return 0;
}

int
ofp_check_int (json_t *body, const char *name, int64_t min, int64_t max, char *error,
               size_t size)
{
    json_t *value = json_object_get (body, name);
    if (!json_is_integer (value) || json_integer_value (value) < min
        || json_integer_value (value) > max) {
        snprintf (error, size, "%s: must be an integer from %lld to %lld", name, (long long) min,
                  (long long) max);
        return -1;
    }
    return 0;
}

int
ofp_check_bool (json_t *body, const char *name, char *error, size_t size)
{
    if (!json_is_boolean (json_object_get (body, name))) {
        snprintf (error, size, "%s: must be true or false", name);
        return -1;
    }
    return 0;
}

int
ofp_check_kind (json_t *body, const char *name, char *error, size_t size)
{
    const char *kind = json_string_value (json_object_get (body, name));
    if (!kind || (strcmp (kind, "frontend") != 0 && strcmp (kind, "backend") != 0)) {
        snprintf (error, size, "%s: must be \"frontend\" or \"backend\"", name);
        return -1;
    }
    return 0;
}

int
ofp_check_objects (json_t *body, const char *name, char *error, size_t size)
{
    json_t *value = json_object_get (body, name);
    if (!json_is_array (value)) {
        snprintf (error, size, "%s: must be an array of objects", name);
        return -1;
    }
    size_t index;
    json_t *item;
    json_array_foreach (value, index, item)
        if (!json_is_object (item)) {
            snprintf (error, size, "%s[%zu]: must be an object", name, index);
            return -1;
        }
    return 0;
}

int
ofp_check_error (json_t *body, char *error, size_t size)
{
    if (ofp_check_int (body, "Status", 100, 599, error, size) != 0
        || ofp_check_string (body, "Error", 1, 64, error, size) != 0)
        return -1;
    return ofp_check_type (body, "Message", JSON_STRING, error, size);
}

/*  =========================================================================
    ofp_check - checks of body fields shared by the protocol codecs
    =========================================================================
*/

#include "ofp_check.h"
#include <ctype.h>
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
    if (!kind || (strcmp (kind, "frontend") != 0 && strcmp (kind, "backend") != 0
                  && strcmp (kind, "key") != 0)) {
        snprintf (error, size, "%s: must be \"frontend\", \"backend\" or \"key\"", name);
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

bool
ofp_check_present (json_t *body, const char *name)
{
    json_t *value = json_object_get (body, name);
    return value && !json_is_null (value);
}

//  True if value is an Identifier string
static bool
s_is_identifier (json_t *value)
{
    const char *text = json_string_value (value);
    size_t length = json_string_length (value);
    bool valid = text && length > 0 && length <= OFP_IDENTIFIER_MAX && strlen (text) == length;
    for (size_t i = 0; valid && i < length; i++)
        valid = isalnum ((unsigned char) text [i]) || strchr ("._-", text [i]);
    return valid;
}

int
ofp_check_identifier (json_t *body, const char *name, char *error, size_t size)
{
    if (!s_is_identifier (json_object_get (body, name))) {
        snprintf (error, size, "%s: must be an Identifier of 1 to %d letters, digits, '.', '_' "
                  "or '-'", name, OFP_IDENTIFIER_MAX);
        return -1;
    }
    return 0;
}

int
ofp_check_token (json_t *body, const char *name, size_t max, char *error, size_t size)
{
    json_t *value = json_object_get (body, name);
    const char *text = json_string_value (value);
    size_t length = json_string_length (value);
    bool valid = text && length > 0 && length <= max;
    //  Checking every byte also rejects an embedded NUL
    for (size_t i = 0; valid && i < length; i++)
        valid = text [i] > 0x20 && text [i] < 0x7f;
    if (!valid) {
        snprintf (error, size, "%s: must be 1 to %zu printable ASCII bytes without spaces", name,
                  max);
        return -1;
    }
    return 0;
}

int
ofp_check_enum (json_t *body, const char *name, const char *const *values, char *error,
                size_t size)
{
    json_t *value = json_object_get (body, name);
    const char *text = json_string_value (value);
    if (text && strlen (text) == json_string_length (value))
        for (const char *const *v = values; *v; v++)
            if (strcmp (text, *v) == 0)
                return 0;
    //  The reason lists the values: the tap and the logs show what was expected
    int used = snprintf (error, size, "%s: must be one of", name);
    for (const char *const *v = values; *v && used >= 0 && (size_t) used < size; v++)
        used += snprintf (error + used, size - used, "%s \"%s\"", v == values ? "" : ",", *v);
    return -1;
}

int
ofp_check_epoch (json_t *body, const char *name, char *error, size_t size)
{
    json_t *value = json_object_get (body, name);
    const char *text = json_string_value (value);
    bool valid = text && json_string_length (value) == OFP_EPOCH_LENGTH;
    for (size_t i = 0; valid && i < OFP_EPOCH_LENGTH; i++)
        valid = isxdigit ((unsigned char) text [i]);
    if (!valid) {
        snprintf (error, size, "%s: must be an epoch of %d hex digits", name, OFP_EPOCH_LENGTH);
        return -1;
    }
    return 0;
}

int
ofp_check_timestamp (json_t *body, const char *name, char *error, size_t size)
{
    //  Digits where the pattern has 'd', the other characters exactly
    static const char pattern [] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    json_t *value = json_object_get (body, name);
    const char *text = json_string_value (value);
    bool valid = text && json_string_length (value) == OFP_TIMESTAMP_LENGTH;
    for (size_t i = 0; valid && i < OFP_TIMESTAMP_LENGTH; i++)
        valid = pattern [i] == 'd' ? isdigit ((unsigned char) text [i]) : text [i] == pattern [i];
    if (valid) {
        int month = (text [5] - '0') * 10 + text [6] - '0';
        int day = (text [8] - '0') * 10 + text [9] - '0';
        int hour = (text [11] - '0') * 10 + text [12] - '0';
        int minute = (text [14] - '0') * 10 + text [15] - '0';
        int second = (text [17] - '0') * 10 + text [18] - '0';
        valid = month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59
             && second <= 60;
    }
    if (!valid) {
        snprintf (error, size, "%s: must be a UTC time \"yyyy-MM-ddTHH:mm:ss.ffffffZ\"", name);
        return -1;
    }
    return 0;
}

int
ofp_check_strings (json_t *body, const char *name, size_t max_count, size_t min, size_t max,
                   char *error, size_t size)
{
    json_t *value = json_object_get (body, name);
    if (!json_is_array (value) || json_array_size (value) > max_count) {
        snprintf (error, size, "%s: must be an array of at most %zu strings", name, max_count);
        return -1;
    }
    size_t index;
    json_t *item;
    json_array_foreach (value, index, item) {
        size_t length = json_string_length (item);
        if (!json_is_string (item) || length < min || length > max
            || strlen (json_string_value (item)) != length) {
            snprintf (error, size, "%s[%zu]: must be a string of %zu to %zu bytes", name, index,
                      min, max);
            return -1;
        }
    }
    return 0;
}

int
ofp_check_identifiers (json_t *body, const char *name, size_t max_count, char *error,
                       size_t size)
{
    json_t *value = json_object_get (body, name);
    if (!json_is_array (value) || json_array_size (value) > max_count) {
        snprintf (error, size, "%s: must be an array of at most %zu Identifiers", name, max_count);
        return -1;
    }
    size_t index;
    json_t *item;
    json_array_foreach (value, index, item) {
        if (!s_is_identifier (item)) {
            snprintf (error, size, "%s[%zu]: must be an Identifier of 1 to %d letters, digits, "
                      "'.', '_' or '-'", name, index, OFP_IDENTIFIER_MAX);
            return -1;
        }
        //  Quadratic, but max_count is small (tens): cheaper than a hash here
        for (size_t other = 0; other < index; other++)
            if (json_equal (json_array_get (value, other), item)) {
                snprintf (error, size, "%s[%zu]: '%s' is listed twice", name, index,
                          json_string_value (item));
                return -1;
            }
    }
    return 0;
}

int
ofp_check_each (json_t *body, const char *name, size_t max_count, ofp_check_fn *check,
                char *error, size_t size)
{
    json_t *value = json_object_get (body, name);
    if (!json_is_array (value) || json_array_size (value) > max_count) {
        snprintf (error, size, "%s: must be an array of at most %zu objects", name, max_count);
        return -1;
    }
    size_t index;
    json_t *item;
    json_array_foreach (value, index, item) {
        if (!json_is_object (item)) {
            snprintf (error, size, "%s[%zu]: must be an object", name, index);
            return -1;
        }
        char reason [256] = "";
        if (check (item, reason, sizeof reason) != 0) {
            snprintf (error, size, "%s[%zu].%s", name, index, *reason ? reason : "invalid");
            return -1;
        }
    }
    return 0;
}

int
ofp_check_epoch_sequence (json_t *body, int64_t first, char *error, size_t size)
{
    if (ofp_check_epoch (body, "Epoch", error, size) != 0)
        return -1;
    return ofp_check_int (body, "Sequence", first, INT64_MAX, error, size);
}

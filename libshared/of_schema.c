/*  =========================================================================
    of_schema - the Frontend and Backend objects: fields, defaults, validation
    =========================================================================
*/

#include "of_schema.h"
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

//  Limits on what an outsider can grow
#define S_NAME_MAX       256
#define S_URL_MAX        2048
#define S_LIST_MAX       1024
#define S_LABEL_MAX      128
#define S_MODEL_MAX      256
#define S_HEADERS_MAX    64
#define S_INT32_MAX      2147483647

static const char *const s_balancing [] = {"RoundRobin", "Random", "LeastOutstanding",
                                           "LeastLatency", "PredictedLatency", NULL};
static const char *const s_api_formats [] = {"Ollama", "OpenAI", NULL};
static const char *const s_methods [] = {"GET", "HEAD", NULL};
static const char *const s_priorities [] = {"High", "Normal", "Low", NULL};

//  Read-only fields OllamaFlow returns, accepted and ignored on input so that a
//  GET, edit, PUT round trip works
static const char *const s_runtime_fields [] = {
    "HealthySinceUtc", "UnhealthySinceUtc", "Uptime", "Downtime", "ActiveRequests", "IsSticky",
    "Healthy", "Health", NULL
};

//  --------------------------------------------------------------------------
//  Rules beyond type and range

static int
s_check_identifier (json_t **value, char *error, size_t size)
{
    if (!of_identifier_valid (json_string_value (*value))) {
        snprintf (error, size, "1 to %d letters, digits, '.', '_' or '-'", OF_IDENTIFIER_MAX);
        return -1;
    }
    return 0;
}

static int
s_check_identifiers (json_t **value, char *error, size_t size)
{
    size_t index;
    json_t *item;
    json_array_foreach (*value, index, item) {
        if (!of_identifier_valid (json_string_value (item))) {
            snprintf (error, size, "item %zu: an Identifier of 1 to %d letters, digits, '.', '_' "
                      "or '-'", index, OF_IDENTIFIER_MAX);
            return -1;
        }
        for (size_t other = 0; other < index; other++)
            if (json_equal (json_array_get (*value, other), item)) {
                snprintf (error, size, "'%s' is listed twice", json_string_value (item));
                return -1;
            }
    }
    return 0;
}

//  A host name or address: no spaces, slashes or scheme
static int
s_check_hostname (json_t **value, char *error, size_t size)
{
    const char *text = json_string_value (*value);
    for (const char *c = text; *c; c++)
        if (isspace ((unsigned char) *c) || *c == '/' || *c == '?' || *c == '#' || *c == '@') {
            snprintf (error, size, "a host name or address without scheme, path or spaces");
            return -1;
        }
    return 0;
}

//  A path: empty becomes "/"
static int
s_check_path (json_t **value, char *error, size_t size)
{
    const char *text = json_string_value (*value);
    if (*text == 0) {
        json_decref (*value);
        *value = json_string ("/");
        return 0;
    }
    for (const char *c = text; *c; c++)
        if ((unsigned char) *c <= ' ' || *c == 0x7f) {
            snprintf (error, size, "a URL path without spaces or control characters");
            return -1;
        }
    if (*text != '/') {
        snprintf (error, size, "a URL path starting with '/'");
        return -1;
    }
    return 0;
}

//  A query string: the leading '?'s are dropped (all of them, so that a stored
//  value normalizes to itself: a GET-edit-PUT round trip changes nothing)
static int
s_check_querystring (json_t **value, char *error, size_t size)
{
    const char *text = json_string_value (*value);
    if (*text == '?') {
        while (*text == '?')
            text++;
        json_t *trimmed = json_string (text);
        json_decref (*value);
        *value = trimmed;
        text = json_string_value (*value);
    }
    for (const char *c = text; *c; c++)
        if ((unsigned char) *c <= ' ' || *c == '#' || *c == 0x7f) {
            snprintf (error, size, "a query string without spaces, '#' or control characters");
            return -1;
        }
    return 0;
}

//  A bearer token: printable, no spaces
static int
s_check_token (json_t **value, char *error, size_t size)
{
    for (const char *c = json_string_value (*value); *c; c++)
        if ((unsigned char) *c <= ' ' || *c == 0x7f) {
            snprintf (error, size, "printable characters without spaces");
            return -1;
        }
    return 0;
}

static bool
s_is_star (const char *text)
{
    return text && strcmp (text, "*") == 0;
}

//  A key's Frontends: Identifiers, each once, or ["*"] for every frontend
static int
s_check_key_frontends (json_t **value, char *error, size_t size)
{
    size_t index;
    json_t *item;
    json_array_foreach (*value, index, item)
        if (s_is_star (json_string_value (item)) && json_array_size (*value) > 1) {
            snprintf (error, size, "\"*\" (every frontend) must be the only entry");
            return -1;
        }
    if (json_array_size (*value) == 1 && s_is_star (json_string_value (json_array_get (*value, 0))))
        return 0;
    return s_check_identifiers (value, error, size);
}

//  A time given by a client (ExpiresUtc): rewritten as "yyyy-MM-ddTHH:mm:ss.ffffffZ"
static int
s_check_time (json_t **value, char *error, size_t size)
{
    int64_t ms = of_schema_time_parse (json_string_value (*value));
    if (ms < 0) {
        snprintf (error, size, "a UTC time such as 2027-01-31T00:00:00Z");
        return -1;
    }
    char text [32];
    of_schema_time (ms, text, sizeof text);
    json_decref (*value);
    *value = json_string (text);
    return 0;
}

//  A SHA-256 in lower-case hex
static int
s_check_hash (json_t **value, char *error, size_t size)
{
    const char *text = json_string_value (*value);
    bool valid = strlen (text) == OF_SCHEMA_KEY_HASH_LENGTH;
    for (const char *c = text; valid && *c; c++)
        valid = isdigit ((unsigned char) *c) || (*c >= 'a' && *c <= 'f');
    if (!valid) {
        snprintf (error, size, "set by the server: %d lower-case hex digits",
                  OF_SCHEMA_KEY_HASH_LENGTH);
        return -1;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  The objects

static const of_field_t s_frontend [] = {
    {"Identifier", OF_FIELD_STRING, "null", 1, OF_IDENTIFIER_MAX, NULL, OF_FIELD_REQUIRED,
     s_check_identifier, "required; 1-64 letters, digits, '.', '_' or '-'"},
    {"Name", OF_FIELD_STRING, "null", 0, S_NAME_MAX, NULL, OF_FIELD_NULLABLE, NULL,
     "a string of at most 256 characters"},
    {"Hostname", OF_FIELD_STRING, "\"*\"", 1, OF_SCHEMA_HOSTNAME_MAX, NULL, 0,
     s_check_hostname, "the Host header to match, or * for any"},
    {"TimeoutMs", OF_FIELD_INT, "60000", 0, 86400000, NULL, 0, NULL,
     "0 (no limit) to 86400000 ms: longest wait for a backend's first byte"},
    {"LoadBalancing", OF_FIELD_ENUM, "\"RoundRobin\"", 0, 0, s_balancing, 0, NULL,
     "RoundRobin, Random, LeastOutstanding, LeastLatency or PredictedLatency"},
    {"BlockHttp10", OF_FIELD_BOOL, "true", 0, 0, NULL, 0, NULL, "true or false"},
    {"MaxRequestBodySize", OF_FIELD_INT, "536870912", 1, S_INT32_MAX, NULL, 0, NULL,
     "1 to 2147483647 bytes"},
    {"Backends", OF_FIELD_STRINGS, "[]", 0, S_LIST_MAX, NULL, 0, s_check_identifiers,
     "a list of backend Identifiers, each at most once"},
    {"RequiredModels", OF_FIELD_STRINGS, "[]", 0, S_LIST_MAX, NULL, 0, NULL,
     "a list of model names"},
    {"LogRequestFull", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    {"LogRequestBody", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    {"LogResponseBody", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    {"UseStickySessions", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    {"StickySessionExpirationMs", OF_FIELD_INT, "1800000", 10000, 86400000, NULL, 0, NULL,
     "10000 to 86400000 ms (10 s to 24 h)"},
    {"PinnedEmbeddingsProperties", OF_FIELD_OBJECT, "{}", 0, 0, NULL, 0, NULL, "a JSON object"},
    {"PinnedCompletionsProperties", OF_FIELD_OBJECT, "{}", 0, 0, NULL, 0, NULL, "a JSON object"},
    {"AllowEmbeddings", OF_FIELD_BOOL, "true", 0, 0, NULL, 0, NULL, "true or false"},
    {"AllowCompletions", OF_FIELD_BOOL, "true", 0, 0, NULL, 0, NULL, "true or false"},
    {"AllowRetries", OF_FIELD_BOOL, "true", 0, 0, NULL, 0, NULL, "true or false"},
    {"PassClientCredentials", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    //  Ours: the frontend takes only requests with a client API key (docs/api-keys.md)
    {"RequireApiKey", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    {"Active", OF_FIELD_BOOL, "true", 0, 0, NULL, 0, NULL, "true or false"},
    {"CreatedUtc", OF_FIELD_TIME, "null", 0, 0, NULL, OF_FIELD_READONLY | OF_FIELD_NULLABLE,
     NULL, "set by the server"},
    {"LastUpdateUtc", OF_FIELD_TIME, "null", 0, 0, NULL, OF_FIELD_READONLY | OF_FIELD_NULLABLE,
     NULL, "set by the server"},
};

static const of_field_t s_backend [] = {
    {"Identifier", OF_FIELD_STRING, "null", 1, OF_IDENTIFIER_MAX, NULL, OF_FIELD_REQUIRED,
     s_check_identifier, "required; 1-64 letters, digits, '.', '_' or '-'"},
    {"Name", OF_FIELD_STRING, "null", 0, S_NAME_MAX, NULL, OF_FIELD_NULLABLE, NULL,
     "a string of at most 256 characters"},
    {"Hostname", OF_FIELD_STRING, "\"localhost\"", 1, OF_SCHEMA_HOSTNAME_MAX, NULL, 0,
     s_check_hostname, "a host name or address without scheme, path or spaces"},
    {"Port", OF_FIELD_INT, "11434", 1, 65535, NULL, 0, NULL, "1 to 65535"},
    {"Ssl", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    {"UnhealthyThreshold", OF_FIELD_INT, "2", 1, 100, NULL, 0, NULL, "1 to 100 checks"},
    {"HealthyThreshold", OF_FIELD_INT, "2", 1, 100, NULL, 0, NULL, "1 to 100 checks"},
    {"HealthCheckMethod", OF_FIELD_ENUM, "\"GET\"", 0, 0, s_methods, 0, NULL, "GET or HEAD"},
    {"HealthCheckUrl", OF_FIELD_STRING, "\"/\"", 0, S_URL_MAX, NULL, 0, s_check_path,
     "a URL path starting with '/'"},
    {"MaxParallelRequests", OF_FIELD_INT, "4", 1, 100000, NULL, 0, NULL, "1 to 100000"},
    {"RateLimitRequestsThreshold", OF_FIELD_INT, "10", 1, 1000000, NULL, 0, NULL,
     "1 to 1000000"},
    {"LogRequestFull", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    {"LogRequestBody", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    {"LogResponseBody", OF_FIELD_BOOL, "false", 0, 0, NULL, 0, NULL, "true or false"},
    {"ApiFormat", OF_FIELD_ENUM, "\"Ollama\"", 0, 0, s_api_formats, 0, NULL, "Ollama or OpenAI"},
    {"Labels", OF_FIELD_STRINGS, "[]", 0, S_LIST_MAX, NULL, 0, NULL, "a list of labels"},
    {"PinnedEmbeddingsProperties", OF_FIELD_OBJECT, "{}", 0, 0, NULL, 0, NULL, "a JSON object"},
    {"PinnedCompletionsProperties", OF_FIELD_OBJECT, "{}", 0, 0, NULL, 0, NULL, "a JSON object"},
    {"AllowEmbeddings", OF_FIELD_BOOL, "true", 0, 0, NULL, 0, NULL, "true or false"},
    {"AllowCompletions", OF_FIELD_BOOL, "true", 0, 0, NULL, 0, NULL, "true or false"},
    //  Ours: the models an OpenAI-format backend takes images for, when an
    //  Ollama request is translated for it (docs/translation.md)
    {"ImageModels", OF_FIELD_STRINGS, "[]", 0, S_LIST_MAX, NULL, 0, NULL,
     "a list of model names, or [\"*\"] for every model"},
    {"BearerToken", OF_FIELD_STRING, "null", 1, OF_SCHEMA_TOKEN_MAX, NULL,
     OF_FIELD_NULLABLE | OF_FIELD_SECRET, s_check_token, "a token without spaces, or null"},
    {"Querystring", OF_FIELD_STRING, "null", 0, S_URL_MAX, NULL, OF_FIELD_NULLABLE,
     s_check_querystring, "a query string such as token=abc, or null"},
    {"Headers", OF_FIELD_HEADERS, "{}", 0, S_HEADERS_MAX, NULL, OF_FIELD_SECRET, NULL,
     "an object of header names to string values"},
    {"Active", OF_FIELD_BOOL, "true", 0, 0, NULL, 0, NULL, "true or false"},
    {"CreatedUtc", OF_FIELD_TIME, "null", 0, 0, NULL, OF_FIELD_READONLY | OF_FIELD_NULLABLE,
     NULL, "set by the server"},
    {"LastUpdateUtc", OF_FIELD_TIME, "null", 0, 0, NULL, OF_FIELD_READONLY | OF_FIELD_NULLABLE,
     NULL, "set by the server"},
};

//  A client API key (ours, not OllamaFlow's): who may use which frontends and
//  models, how much, at what priority. The secret itself is never stored.
static const of_field_t s_key [] = {
    {"Identifier", OF_FIELD_STRING, "null", 1, OF_IDENTIFIER_MAX, NULL, OF_FIELD_REQUIRED,
     s_check_identifier, "required; 1-64 letters, digits, '.', '_' or '-'"},
    {"Name", OF_FIELD_STRING, "null", 0, S_NAME_MAX, NULL, OF_FIELD_NULLABLE, NULL,
     "a string of at most 256 characters"},
    {"Owner", OF_FIELD_STRING, "null", 0, S_NAME_MAX, NULL, OF_FIELD_NULLABLE, NULL,
     "the owner or team, a string of at most 256 characters"},
    {"Frontends", OF_FIELD_STRINGS, "[\"*\"]", 0, S_LIST_MAX, NULL, 0, s_check_key_frontends,
     "a list of frontend Identifiers, each at most once, or [\"*\"] for every frontend"},
    {"Models", OF_FIELD_STRINGS, "[]", 0, S_LIST_MAX, NULL, 0, NULL,
     "a list of model names; empty allows every model"},
    {"Priority", OF_FIELD_ENUM, "\"Normal\"", 0, 0, s_priorities, 0, NULL,
     "High, Normal or Low"},
    {"MaxConcurrentRequests", OF_FIELD_INT, "0", 0, 1000000, NULL, 0, NULL,
     "0 (no limit) to 1000000 requests at once"},
    {"RequestsPerMinute", OF_FIELD_INT, "0", 0, 100000000, NULL, 0, NULL,
     "0 (no limit) to 100000000"},
    {"TokensPerMinute", OF_FIELD_INT, "0", 0, 100000000000LL, NULL, 0, NULL,
     "0 (no limit) to 100000000000 prompt and output tokens"},
    {"ExpiresUtc", OF_FIELD_STRING, "null", 1, 64, NULL, OF_FIELD_NULLABLE, s_check_time,
     "a UTC time such as 2027-01-31T00:00:00Z, or null (never)"},
    {"Active", OF_FIELD_BOOL, "true", 0, 0, NULL, 0, NULL, "true or false"},
    {"SecretHash", OF_FIELD_STRING, "null", 1, OF_SCHEMA_KEY_HASH_LENGTH, NULL,
     OF_FIELD_NULLABLE | OF_FIELD_SECRET, s_check_hash,
     "set by the server: the SHA-256 of the secret"},
    {"CreatedUtc", OF_FIELD_TIME, "null", 0, 0, NULL, OF_FIELD_READONLY | OF_FIELD_NULLABLE,
     NULL, "set by the server"},
    {"LastUpdateUtc", OF_FIELD_TIME, "null", 0, 0, NULL, OF_FIELD_READONLY | OF_FIELD_NULLABLE,
     NULL, "set by the server"},
};

static const struct {
    const char *name;
    const char *plural;
    const of_field_t *fields;
    size_t count;
} s_kinds [OF_KIND_COUNT] = {
    [OF_KIND_FRONTEND] = {"frontend", "frontends", s_frontend,
                          sizeof s_frontend / sizeof s_frontend [0]},
    [OF_KIND_BACKEND] = {"backend", "backends", s_backend, sizeof s_backend / sizeof s_backend [0]},
    [OF_KIND_KEY] = {"key", "keys", s_key, sizeof s_key / sizeof s_key [0]},
};

const char *
of_kind_name (of_kind_t kind)
{
    assert (kind < OF_KIND_COUNT);
    return s_kinds [kind].name;
}

const char *
of_kind_plural (of_kind_t kind)
{
    assert (kind < OF_KIND_COUNT);
    return s_kinds [kind].plural;
}

int
of_kind_parse (const char *name, of_kind_t *kind)
{
    assert (kind);
    if (!name)
        return -1;
    for (int k = 0; k < OF_KIND_COUNT; k++)
        if (strcasecmp (name, s_kinds [k].name) == 0 || strcasecmp (name, s_kinds [k].plural) == 0) {
            *kind = (of_kind_t) k;
            return 0;
        }
    return -1;
}

const of_field_t *
of_schema_fields (of_kind_t kind, size_t *count)
{
    assert (kind < OF_KIND_COUNT && count);
    *count = s_kinds [kind].count;
    return s_kinds [kind].fields;
}

bool
of_identifier_valid (const char *text)
{
    if (!text)
        return false;
    size_t length = strlen (text);
    if (length == 0 || length > OF_IDENTIFIER_MAX)
        return false;
    for (const char *c = text; *c; c++)
        if (!isalnum ((unsigned char) *c) && *c != '.' && *c != '_' && *c != '-')
            return false;
    return true;
}

//  Seconds and microseconds since the Unix epoch as "yyyy-MM-ddTHH:mm:ss.ffffffZ"
static void
s_format_time (time_t seconds, long micros, char *dest, size_t size)
{
    struct tm tm;
    gmtime_r (&seconds, &tm);
    char text [24];
    strftime (text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf (dest, size, "%s.%06ldZ", text, micros);
}

void
of_schema_timestamp (char *dest, size_t size)
{
    struct timeval now;
    gettimeofday (&now, NULL);
    s_format_time (now.tv_sec, (long) now.tv_usec, dest, size);
}

void
of_schema_time (int64_t ms, char *dest, size_t size)
{
    s_format_time ((time_t) (ms / 1000), (long) (ms % 1000) * 1000, dest, size);
}

int64_t
of_schema_time_parse (const char *text)
{
    struct tm tm = {0};
    const char *rest = text ? strptime (text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!rest)
        return -1;
    //  The fraction as milliseconds, from its first three digits: ".5" is 500 ms and
    //  ".6666666666666666666600" 666 (read whole, it overflowed into a date
    //  thousands of years ahead: fuzz_schema)
    int64_t ms = 0;
    if (*rest == '.') {
        int digits = 0;
        for (const char *c = rest + 1; isdigit ((unsigned char) *c); c++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*c - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    return (int64_t) timegm (&tm) * 1000 + ms;
}

//  Checks one value against its field; may replace *value. 0 or -1 with reason.
static int
s_check_value (const of_field_t *field, json_t **value, char *error, size_t size)
{
    switch (field->type) {
        case OF_FIELD_STRING: {
            if (!json_is_string (*value)) {
                snprintf (error, size, "must be a string");
                return -1;
            }
            size_t length = json_string_length (*value);
            if ((int64_t) length < field->min || (int64_t) length > field->max) {
                snprintf (error, size, "must be %lld to %lld characters long",
                          (long long) field->min, (long long) field->max);
                return -1;
            }
            if (strlen (json_string_value (*value)) != length) {
                snprintf (error, size, "must not contain NUL characters");
                return -1;
            }
            break;
        }
        case OF_FIELD_INT:
            if (!json_is_integer (*value) || json_integer_value (*value) < field->min
                || json_integer_value (*value) > field->max) {
                snprintf (error, size, "must be an integer from %lld to %lld",
                          (long long) field->min, (long long) field->max);
                return -1;
            }
            break;
        case OF_FIELD_BOOL:
            if (!json_is_boolean (*value)) {
                snprintf (error, size, "must be true or false");
                return -1;
            }
            break;
        case OF_FIELD_ENUM: {
            const char *text = json_string_value (*value);
            for (const char *const *v = field->values; text && *v; v++)
                if (strcasecmp (text, *v) == 0) {
                    json_decref (*value);
                    *value = json_string (*v);
                    return field->check ? field->check (value, error, size) : 0;
                }
            snprintf (error, size, "must be %s", field->rule);
            return -1;
        }
        case OF_FIELD_STRINGS: {
            if (!json_is_array (*value) || (int64_t) json_array_size (*value) > field->max) {
                snprintf (error, size, "must be an array of at most %lld strings",
                          (long long) field->max);
                return -1;
            }
            size_t index;
            json_t *item;
            json_array_foreach (*value, index, item) {
                if (!json_is_string (item) || json_string_length (item) == 0
                    || json_string_length (item) > S_MODEL_MAX
                    || strlen (json_string_value (item)) != json_string_length (item)) {
                    snprintf (error, size, "item %zu must be a non-empty string of at most %d "
                              "characters", index, S_MODEL_MAX);
                    return -1;
                }
            }
            break;
        }
        case OF_FIELD_OBJECT:
            if (!json_is_object (*value)) {
                snprintf (error, size, "must be a JSON object");
                return -1;
            }
            break;
        case OF_FIELD_HEADERS: {
            if (!json_is_object (*value) || (int64_t) json_object_size (*value) > field->max) {
                snprintf (error, size, "must be an object of at most %lld header names to "
                          "string values", (long long) field->max);
                return -1;
            }
            const char *name;
            json_t *item;
            json_object_foreach (*value, name, item) {
                bool name_ok = *name != 0 && strlen (name) <= S_LABEL_MAX;
                for (const char *c = name; *c && name_ok; c++)
                    name_ok = isalnum ((unsigned char) *c) || strchr ("!#$%&'*+-.^_`|~", *c);
                if (!name_ok) {
                    snprintf (error, size, "'%.64s' is not a valid header name", name);
                    return -1;
                }
                const char *text = json_string_value (item);
                bool value_ok = text && strlen (text) <= OF_SCHEMA_HEADER_VALUE_MAX
                                && strlen (text) == json_string_length (item);
                for (const char *c = text; value_ok && *c; c++)
                    value_ok = *c != '\r' && *c != '\n';
                if (!value_ok) {
                    snprintf (error, size, "header '%.64s' must have a one-line string value",
                              name);
                    return -1;
                }
            }
            break;
        }
        case OF_FIELD_TIME:
            break;
    }
    return field->check ? field->check (value, error, size) : 0;
}

static bool
s_is_runtime_field (const char *name)
{
    for (const char *const *f = s_runtime_fields; *f; f++)
        if (strcasecmp (name, *f) == 0)
            return true;
    return false;
}

json_t *
of_schema_normalize (of_kind_t kind, json_t *input, char *error, size_t size)
{
    assert (kind < OF_KIND_COUNT);
    const of_field_t *fields = s_kinds [kind].fields;
    size_t count = s_kinds [kind].count;
    if (!json_is_object (input)) {
        snprintf (error, size, "a %s must be a JSON object", s_kinds [kind].name);
        return NULL;
    }
    //  Every key of the input must name a field (in any case), once
    json_t *given [count];
    memset (given, 0, sizeof given);
    const char *key;
    json_t *value;
    json_object_foreach (input, key, value) {
        size_t f = 0;
        while (f < count && strcasecmp (key, fields [f].name) != 0)
            f++;
        if (f == count) {
            if (s_is_runtime_field (key))
                continue;
            snprintf (error, size, "%.64s: unknown field of a %s", key, s_kinds [kind].name);
            return NULL;
        }
        if (given [f]) {
            snprintf (error, size, "%s: given twice (field names ignore case)", fields [f].name);
            return NULL;
        }
        given [f] = value;
    }

    json_t *object = json_object ();
    for (size_t f = 0; f < count; f++) {
        const of_field_t *field = &fields [f];
        json_t *item = given [f];
        if (field->flags & OF_FIELD_READONLY)
            item = NULL;
        if (item && json_is_null (item) && !(field->flags & OF_FIELD_NULLABLE))
            item = NULL;
        if (!item && (field->flags & OF_FIELD_REQUIRED)) {
            snprintf (error, size, "%s: is required (%s)", field->name, field->rule);
            json_decref (object);
            return NULL;
        }
        item = item ? json_deep_copy (item) : json_loads (field->def, JSON_DECODE_ANY, NULL);
        assert (item);
        if (!json_is_null (item)) {
            char reason [OF_SCHEMA_ERROR_MAX] = "";
            if (s_check_value (field, &item, reason, sizeof reason) != 0) {
                //  The rule in words, unless the reason already says it
                if (strstr (reason, field->rule))
                    snprintf (error, size, "%s: %s", field->name, reason);
                else
                    snprintf (error, size, "%s: %s (rule: %s)", field->name, reason, field->rule);
                json_decref (item);
                json_decref (object);
                return NULL;
            }
        }
        json_object_set_new (object, field->name, item);
    }
    return object;
}

json_t *
of_schema_redact (of_kind_t kind, json_t *object)
{
    assert (kind < OF_KIND_COUNT);
    json_t *copy = json_deep_copy (object);
    for (size_t f = 0; f < s_kinds [kind].count; f++) {
        const of_field_t *field = &s_kinds [kind].fields [f];
        if (!(field->flags & OF_FIELD_SECRET))
            continue;
        json_t *value = json_object_get (copy, field->name);
        if (field->type == OF_FIELD_HEADERS && json_is_object (value)) {
            //  The header names stay visible; their values do not
            const char *name;
            json_t *item;
            json_object_foreach (value, name, item)
                json_object_set_new (value, name, json_string (OF_SCHEMA_SECRET_MASK));
        }
        else if (value && !json_is_null (value))
            json_object_set_new (copy, field->name, json_string (OF_SCHEMA_SECRET_MASK));
    }
    return copy;
}

//  --------------------------------------------------------------------------
//  Self test

static void
s_expect_refused (of_kind_t kind, const char *text, const char *fragment, bool verbose)
{
    char error [OF_SCHEMA_ERROR_MAX] = "";
    json_t *input = json_loads (text, 0, NULL);
    assert (input);
    json_t *object = of_schema_normalize (kind, input, error, sizeof error);
    if (verbose)
        printf ("  %s -> %s\n", text, error);
    assert (object == NULL);
    assert (strstr (error, fragment));
    json_decref (input);
}

void
of_schema_test (bool verbose)
{
    printf (" * of_schema: ");
    if (verbose)
        printf ("\n");
    char error [OF_SCHEMA_ERROR_MAX];
    of_kind_t kind;
    assert (of_kind_parse ("Backends", &kind) == 0 && kind == OF_KIND_BACKEND);
    assert (of_kind_parse ("frontend", &kind) == 0 && kind == OF_KIND_FRONTEND);
    assert (of_kind_parse ("model", &kind) == -1);

    //  Defaults are OllamaFlow's documented ones; names ignore case on input
    json_t *input = json_pack ("{s:s, s:s}", "identifier", "b1", "healthcheckmethod", "head");
    json_t *backend = of_schema_normalize (OF_KIND_BACKEND, input, error, sizeof error);
    assert (backend);
    json_decref (input);
    assert (json_integer_value (json_object_get (backend, "Port")) == 11434);
    assert (strcmp (json_string_value (json_object_get (backend, "Identifier")), "b1") == 0);
    assert (strcmp (json_string_value (json_object_get (backend, "Hostname")), "localhost") == 0);
    assert (strcmp (json_string_value (json_object_get (backend, "HealthCheckMethod")), "HEAD")
            == 0);
    assert (strcmp (json_string_value (json_object_get (backend, "ApiFormat")), "Ollama") == 0);
    assert (json_is_true (json_object_get (backend, "AllowCompletions")));
    assert (json_is_null (json_object_get (backend, "BearerToken")));
    assert (json_is_null (json_object_get (backend, "CreatedUtc")));
    size_t count;
    of_schema_fields (OF_KIND_BACKEND, &count);
    assert (json_object_size (backend) == count);
    json_decref (backend);

    input = json_pack ("{s:s, s:s, s:s, s:s, s:{s:s}, s:s}", "Identifier", "b2", "HealthCheckUrl",
                       "", "Querystring", "?token=abc", "BearerToken", "secret", "Headers",
                       "X-Key", "k", "UnhealthySinceUtc", "2025-01-01");
    backend = of_schema_normalize (OF_KIND_BACKEND, input, error, sizeof error);
    json_decref (input);
    assert (backend);
    assert (strcmp (json_string_value (json_object_get (backend, "HealthCheckUrl")), "/") == 0);
    assert (strcmp (json_string_value (json_object_get (backend, "Querystring")), "token=abc")
            == 0);
    //  A normalized object normalizes to itself (fuzz_schema found "??a" losing a '?' each time)
    input = json_pack ("{s:s, s:s}", "Identifier", "b3", "Querystring", "??a=1");
    json_t *twice = of_schema_normalize (OF_KIND_BACKEND, input, error, sizeof error);
    json_decref (input);
    assert (twice && strcmp (json_string_value (json_object_get (twice, "Querystring")), "a=1") == 0);
    json_decref (twice);
    json_t *shown = of_schema_redact (OF_KIND_BACKEND, backend);
    assert (strcmp (json_string_value (json_object_get (shown, "BearerToken")), "secret") != 0);
    assert (strcmp (json_string_value (json_object_get (json_object_get (shown, "Headers"),
                                                        "X-Key")), "k") != 0);
    json_decref (shown);
    json_decref (backend);

    input = json_pack ("{s:s}", "Identifier", "f1");
    json_t *frontend = of_schema_normalize (OF_KIND_FRONTEND, input, error, sizeof error);
    json_decref (input);
    assert (frontend);
    assert (strcmp (json_string_value (json_object_get (frontend, "Hostname")), "*") == 0);
    assert (json_integer_value (json_object_get (frontend, "TimeoutMs")) == 60000);
    assert (json_integer_value (json_object_get (frontend, "StickySessionExpirationMs"))
            == 1800000);
    assert (json_integer_value (json_object_get (frontend, "MaxRequestBodySize")) == 536870912);
    assert (strcmp (json_string_value (json_object_get (frontend, "LoadBalancing")), "RoundRobin")
            == 0);
    json_decref (frontend);
    input = json_pack ("{s:s, s:s}", "Identifier", "f2", "LoadBalancing", "leastlatency");
    frontend = of_schema_normalize (OF_KIND_FRONTEND, input, error, sizeof error);
    json_decref (input);
    assert (frontend);
    assert (strcmp (json_string_value (json_object_get (frontend, "LoadBalancing")),
                    "LeastLatency") == 0);
    json_decref (frontend);
    input = json_pack ("{s:s, s:s}", "Identifier", "f3", "LoadBalancing", "predictedlatency");
    frontend = of_schema_normalize (OF_KIND_FRONTEND, input, error, sizeof error);
    json_decref (input);
    assert (frontend);
    assert (strcmp (json_string_value (json_object_get (frontend, "LoadBalancing")),
                    "PredictedLatency") == 0);
    json_decref (frontend);

    //  Every refusal names the field and the rule
    s_expect_refused (OF_KIND_BACKEND, "{}", "Identifier: is required", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"a/b\"}", "Identifier:", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"Port\": 70000}",
                      "Port: must be an integer from 1 to 65535", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"Port\": \"80\"}", "Port:",
                      verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"HealthCheckMethod\": \"POST\"}",
                      "HealthCheckMethod: must be GET or HEAD", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"HealthCheckUrl\": \"health\"}",
                      "HealthCheckUrl:", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"ApiFormat\": \"Claude\"}",
                      "ApiFormat:", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"Hostname\": \"http://x\"}",
                      "Hostname:", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"Headers\": {\"A\": 1}}",
                      "Headers:", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"Headers\": {\"A\": \"x\\ny\"}}",
                      "Headers:", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"Speed\": 1}",
                      "Speed: unknown field", verbose);
    s_expect_refused (OF_KIND_BACKEND, "{\"Identifier\": \"b\", \"port\": 1, \"Port\": 2}",
                      "Port: given twice", verbose);
    s_expect_refused (OF_KIND_FRONTEND,
                      "{\"Identifier\": \"f\", \"StickySessionExpirationMs\": 5000}",
                      "StickySessionExpirationMs: must be an integer from 10000 to 86400000",
                      verbose);
    s_expect_refused (OF_KIND_FRONTEND, "{\"Identifier\": \"f\", \"Backends\": [\"a\", \"a\"]}",
                      "Backends: 'a' is listed twice", verbose);
    s_expect_refused (OF_KIND_FRONTEND, "{\"Identifier\": \"f\", \"LoadBalancing\": \"Fastest\"}",
                      "LoadBalancing: must be RoundRobin, Random, LeastOutstanding, LeastLatency "
                      "or PredictedLatency", verbose);
    s_expect_refused (OF_KIND_FRONTEND, "{\"Identifier\": \"f\", \"Active\": \"yes\"}",
                      "Active: must be true or false", verbose);
    s_expect_refused (OF_KIND_FRONTEND,
                      "{\"Identifier\": \"f\", \"PinnedCompletionsProperties\": []}",
                      "PinnedCompletionsProperties:", verbose);
    s_expect_refused (OF_KIND_FRONTEND, "[1]", "JSON object", verbose);

    //  Keys: every frontend, any model, no limits, Normal, by default
    input = json_pack ("{s:s, s:s, s:s}", "Identifier", "k1", "priority", "high", "ExpiresUtc",
                       "2027-01-31T00:00:00Z");
    json_t *key = of_schema_normalize (OF_KIND_KEY, input, error, sizeof error);
    json_decref (input);
    assert (key);
    assert (json_array_size (json_object_get (key, "Frontends")) == 1);
    assert (strcmp (json_string_value (json_array_get (json_object_get (key, "Frontends"), 0)),
                    "*") == 0);
    assert (json_array_size (json_object_get (key, "Models")) == 0);
    assert (strcmp (json_string_value (json_object_get (key, "Priority")), "High") == 0);
    assert (strcmp (json_string_value (json_object_get (key, "ExpiresUtc")),
                    "2027-01-31T00:00:00.000000Z") == 0);
    assert (json_integer_value (json_object_get (key, "TokensPerMinute")) == 0);
    assert (json_is_true (json_object_get (key, "Active")));
    assert (json_is_null (json_object_get (key, "SecretHash")));
    json_decref (key);
    input = json_pack ("{s:s}", "Identifier", "f3");
    frontend = of_schema_normalize (OF_KIND_FRONTEND, input, error, sizeof error);
    json_decref (input);
    assert (frontend && json_is_false (json_object_get (frontend, "RequireApiKey")));
    json_decref (frontend);
    s_expect_refused (OF_KIND_KEY, "{\"Identifier\": \"k\", \"Frontends\": [\"*\", \"main\"]}",
                      "Frontends: \"*\" (every frontend) must be the only entry", verbose);
    s_expect_refused (OF_KIND_KEY, "{\"Identifier\": \"k\", \"Frontends\": [\"a b\"]}",
                      "Frontends: item 0", verbose);
    s_expect_refused (OF_KIND_KEY, "{\"Identifier\": \"k\", \"ExpiresUtc\": \"soon\"}",
                      "ExpiresUtc: a UTC time", verbose);
    s_expect_refused (OF_KIND_KEY, "{\"Identifier\": \"k\", \"Priority\": \"Urgent\"}",
                      "Priority: must be High, Normal or Low", verbose);
    s_expect_refused (OF_KIND_KEY, "{\"Identifier\": \"k\", \"RequestsPerMinute\": -1}",
                      "RequestsPerMinute: must be an integer from 0", verbose);
    s_expect_refused (OF_KIND_KEY, "{\"Identifier\": \"k\", \"SecretHash\": \"abc\"}",
                      "SecretHash:", verbose);
    s_expect_refused (OF_KIND_KEY, "{\"Identifier\": \"k\", \"Secret\": \"abc\"}",
                      "Secret: unknown field of a key", verbose);
    assert (of_kind_parse ("keys", &kind) == 0 && kind == OF_KIND_KEY);

    char stamp [32];
    of_schema_timestamp (stamp, sizeof stamp);
    assert (strlen (stamp) == 27 && stamp [26] == 'Z' && stamp [19] == '.');
    of_schema_time (1700000000123, stamp, sizeof stamp);
    assert (strcmp (stamp, "2023-11-14T22:13:20.123000Z") == 0);
    assert (of_schema_time_parse (stamp) == 1700000000123);
    assert (of_schema_time_parse ("2023-11-14T22:13:20.5Z") == 1700000000500);
    assert (of_schema_time_parse ("2023-11-14T22:13:20.6666666666666666666600Z")
            == 1700000000666);
    assert (of_schema_time_parse ("yesterday") == -1);
    assert (of_schema_time_parse (NULL) == -1);
    printf ("OK\n");
}

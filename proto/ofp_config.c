/*  =========================================================================
    ofp_config - codec of the config protocol (ofconfig/1), see config.md
    =========================================================================
*/

#include "ofp_config.h"
#include "ofp_check.h"

//  {"Kind"}
static int
s_check_kind (json_t *body, char *error, size_t size)
{
    return ofp_check_kind (body, "Kind", error, size);
}

//  {"Kind", "Identifier"}
static int
s_check_kind_id (json_t *body, char *error, size_t size)
{
    if (ofp_check_kind (body, "Kind", error, size) != 0)
        return -1;
    return ofp_check_string (body, "Identifier", 1, OFP_IDENTIFIER_MAX, error, size);
}

//  {"Kind", "Object"}
static int
s_check_create (json_t *body, char *error, size_t size)
{
    if (ofp_check_kind (body, "Kind", error, size) != 0)
        return -1;
    return ofp_check_type (body, "Object", JSON_OBJECT, error, size);
}

//  {"Kind", "Identifier", "Object"}
static int
s_check_replace (json_t *body, char *error, size_t size)
{
    if (s_check_kind_id (body, error, size) != 0)
        return -1;
    return ofp_check_type (body, "Object", JSON_OBJECT, error, size);
}

//  {"Kind", "Identifier", "Patch"}: a JSON merge patch (RFC 7396) is an object
static int
s_check_patch (json_t *body, char *error, size_t size)
{
    if (s_check_kind_id (body, error, size) != 0)
        return -1;
    return ofp_check_type (body, "Patch", JSON_OBJECT, error, size);
}

//  One side of an EDIT, when present: {"Field": ["value", ...], ...}
static int
s_check_edit_side (json_t *body, const char *name, char *error, size_t size)
{
    json_t *side = json_object_get (body, name);
    if (!side)
        return 0;
    if (!json_is_object (side) || json_object_size (side) == 0) {
        snprintf (error, size, "%s: must be an object of lists, {\"RequiredModels\": [...]}",
                  name);
        return -1;
    }
    const char *field;
    json_t *values;
    json_object_foreach (side, field, values) {
        if (!json_is_array (values) || json_array_size (values) > OFP_CONFIG_EDIT_VALUES_MAX) {
            snprintf (error, size, "%s.%s: must be an array of at most %d strings", name, field,
                      OFP_CONFIG_EDIT_VALUES_MAX);
            return -1;
        }
        size_t index;
        json_t *value;
        json_array_foreach (values, index, value) {
            size_t length = json_is_string (value) ? json_string_length (value) : 0;
            if (length == 0 || length > OFP_CONFIG_EDIT_VALUE_MAX) {
                snprintf (error, size, "%s.%s[%zu]: must be a string of 1-%d bytes", name, field,
                          index, OFP_CONFIG_EDIT_VALUE_MAX);
                return -1;
            }
        }
    }
    return 0;
}

//  {"Kind", "Identifier", "Add"?, "Remove"?}: at least one of the two
static int
s_check_edit (json_t *body, char *error, size_t size)
{
    if (s_check_kind_id (body, error, size) != 0
        || s_check_edit_side (body, "Add", error, size) != 0
        || s_check_edit_side (body, "Remove", error, size) != 0)
        return -1;
    if (!json_object_get (body, "Add") && !json_object_get (body, "Remove")) {
        snprintf (error, size, "Add or Remove: one is required");
        return -1;
    }
    return 0;
}

//  Changes are numbered from 1 within an epoch; 0 before the first
static int
s_check_epoch_sequence (json_t *body, char *error, size_t size)
{
    return ofp_check_epoch_sequence (body, 0, error, size);
}

//  {"Epoch", "Sequence", "Frontends": [], "Backends": [], "Keys": []}; Keys may be
//  absent (a configd from before keys)
static int
s_check_state (json_t *body, char *error, size_t size)
{
    if (s_check_epoch_sequence (body, error, size) != 0
        || ofp_check_objects (body, "Frontends", error, size) != 0
        || ofp_check_objects (body, "Backends", error, size) != 0)
        return -1;
    return json_object_get (body, "Keys") ? ofp_check_objects (body, "Keys", error, size) : 0;
}

//  {"Kind", "Object", "Sequence"}
static int
s_check_object (json_t *body, char *error, size_t size)
{
    if (s_check_create (body, error, size) != 0)
        return -1;
    return ofp_check_int (body, "Sequence", 0, INT64_MAX, error, size);
}

//  {"Kind", "Objects", "Sequence"}
static int
s_check_objects (json_t *body, char *error, size_t size)
{
    if (ofp_check_kind (body, "Kind", error, size) != 0
        || ofp_check_objects (body, "Objects", error, size) != 0)
        return -1;
    return ofp_check_int (body, "Sequence", 0, INT64_MAX, error, size);
}

//  {"Kind", "Identifier", "Sequence"}
static int
s_check_deleted (json_t *body, char *error, size_t size)
{
    if (s_check_kind_id (body, error, size) != 0)
        return -1;
    return ofp_check_int (body, "Sequence", 0, INT64_MAX, error, size);
}

//  {"Epoch", "Sequence", "Kind", "Identifier", "Object": {} or null}
static int
s_check_update (json_t *body, char *error, size_t size)
{
    if (s_check_epoch_sequence (body, error, size) != 0
        || s_check_kind_id (body, error, size) != 0)
        return -1;
    json_t *object = json_object_get (body, "Object");
    if (!object || !(json_is_object (object) || json_is_null (object))) {
        snprintf (error, size, "Object: must be an object, or null for a deletion");
        return -1;
    }
    return 0;
}

static int
s_check_heartbeat (json_t *body, char *error, size_t size)
{
    if (s_check_epoch_sequence (body, error, size) != 0)
        return -1;
    return ofp_check_string (body, "Service", 1, OFP_IDENTIFIER_MAX, error, size);
}

static const ofp_command_t s_commands [] = {
    //  Requests
    {"SNAPSHOT", true, NULL},
    {"GET", true, s_check_kind_id},
    {"LIST", true, s_check_kind},
    {"CREATE", true, s_check_create},
    {"REPLACE", true, s_check_replace},
    {"PATCH", true, s_check_patch},
    {"EDIT", true, s_check_edit},
    {"DELETE", true, s_check_kind_id},
    {"PING", true, NULL},
    //  Replies
    {"STATE", true, s_check_state},
    {"OBJECT", true, s_check_object},
    {"OBJECTS", true, s_check_objects},
    {"DELETED", true, s_check_deleted},
    {"PONG", true, s_check_epoch_sequence},
    {"ERROR", true, ofp_check_error},
    //  Published
    {"UPDATE", false, s_check_update},
    {"HEARTBEAT", false, s_check_heartbeat},
    {NULL, false, NULL}
};

const ofp_protocol_t ofp_config_protocol = {OFP_CONFIG_SIGNATURE, OFP_CONFIG_MAX_BODY, s_commands};

//  --------------------------------------------------------------------------
//  Self test

static void
s_expect (const char *command, bool has_id, const char *body, const char *fragment, bool verbose)
{
    ofp_msg_expect (&ofp_config_protocol, OFP_CONFIG_SIGNATURE, command, has_id ? "7" : NULL, body,
                    fragment, verbose);
}

void
ofp_config_test (bool verbose)
{
    printf (" * ofp_config: ");
    if (verbose)
        printf ("\n");
    s_expect ("SNAPSHOT", true, "{}", NULL, verbose);
    s_expect ("GET", true, "{\"Kind\":\"backend\",\"Identifier\":\"b1\"}", NULL, verbose);
    s_expect ("GET", true, "{\"Kind\":\"model\",\"Identifier\":\"b1\"}", "Kind", verbose);
    s_expect ("GET", true, "{\"Kind\":\"backend\"}", "Identifier", verbose);
    s_expect ("GET", true, "{\"Kind\":\"backend\",\"Identifier\":7}", "Identifier", verbose);
    s_expect ("CREATE", true, "{\"Kind\":\"frontend\",\"Object\":{\"Identifier\":\"f\"}}", NULL,
              verbose);
    s_expect ("CREATE", true, "{\"Kind\":\"frontend\",\"Object\":[]}", "Object", verbose);
    s_expect ("REPLACE", true, "{\"Kind\":\"frontend\",\"Identifier\":\"f\",\"Object\":{}}", NULL,
              verbose);
    s_expect ("PATCH", true,
              "{\"Kind\":\"backend\",\"Identifier\":\"b\",\"Patch\":{\"Port\":1}}", NULL,
              verbose);
    s_expect ("PATCH", true, "{\"Kind\":\"backend\",\"Identifier\":\"b\",\"Patch\":null}",
              "Patch", verbose);
    s_expect ("EDIT", true,
              "{\"Kind\":\"frontend\",\"Identifier\":\"f\",\"Add\":{\"RequiredModels\":[\"x\"]}}",
              NULL, verbose);
    s_expect ("EDIT", true,
              "{\"Kind\":\"frontend\",\"Identifier\":\"f\",\"Remove\":{\"Labels\":[\"x\"]},"
              "\"Add\":{\"Labels\":[\"y\"]}}",
              NULL, verbose);
    s_expect ("EDIT", true, "{\"Kind\":\"frontend\",\"Identifier\":\"f\"}", "Add or Remove",
              verbose);
    s_expect ("EDIT", true,
              "{\"Kind\":\"frontend\",\"Identifier\":\"f\",\"Add\":{\"RequiredModels\":\"x\"}}",
              "Add.RequiredModels", verbose);
    s_expect ("EDIT", true,
              "{\"Kind\":\"frontend\",\"Identifier\":\"f\",\"Remove\":{\"RequiredModels\":[\"\"]}}",
              "Remove.RequiredModels[0]", verbose);
    s_expect ("EDIT", true, "{\"Kind\":\"frontend\",\"Identifier\":\"f\",\"Add\":{}}", "Add",
              verbose);
    s_expect ("UPDATE", false,
              "{\"Epoch\":\"0123456789abcdef\",\"Sequence\":3,\"Kind\":\"backend\","
              "\"Identifier\":\"b\",\"Object\":null}",
              NULL, verbose);
    s_expect ("UPDATE", false,
              "{\"Epoch\":\"0123456789abcdef\",\"Sequence\":-3,\"Kind\":\"backend\","
              "\"Identifier\":\"b\",\"Object\":null}",
              "Sequence", verbose);
    s_expect ("UPDATE", false,
              "{\"Epoch\":\"short\",\"Sequence\":3,\"Kind\":\"backend\",\"Identifier\":\"b\","
              "\"Object\":null}",
              "Epoch", verbose);
    s_expect ("UPDATE", false,
              "{\"Epoch\":\"0123456789abcdef\",\"Sequence\":3,\"Kind\":\"backend\","
              "\"Identifier\":\"b\"}",
              "Object", verbose);
    s_expect ("STATE", true,
              "{\"Epoch\":\"0123456789abcdef\",\"Sequence\":0,\"Frontends\":[],\"Backends\":[{}]}",
              NULL, verbose);
    s_expect ("STATE", true,
              "{\"Epoch\":\"0123456789abcdef\",\"Sequence\":0,\"Frontends\":[1],\"Backends\":[]}",
              "Frontends", verbose);
    s_expect ("STATE", true,
              "{\"Epoch\":\"0123456789abcdef\",\"Sequence\":0,\"Frontends\":[],\"Backends\":[],"
              "\"Keys\":[{}]}",
              NULL, verbose);
    s_expect ("STATE", true,
              "{\"Epoch\":\"0123456789abcdef\",\"Sequence\":0,\"Frontends\":[],\"Backends\":[],"
              "\"Keys\":{}}",
              "Keys", verbose);
    s_expect ("GET", true, "{\"Kind\":\"key\",\"Identifier\":\"k1\"}", NULL, verbose);
    s_expect ("ERROR", true, "{\"Status\":404,\"Error\":\"NotFound\",\"Message\":\"x\"}", NULL,
              verbose);
    s_expect ("ERROR", true, "{\"Status\":\"404\",\"Error\":\"NotFound\",\"Message\":\"x\"}",
              "Status", verbose);
    s_expect ("HEARTBEAT", false,
              "{\"Epoch\":\"0123456789abcdef\",\"Sequence\":0,\"Service\":\"configd\"}", NULL,
              verbose);
    s_expect ("HEARTBEAT", true, "{}", "not valid JSON", verbose);
    printf ("OK\n");
}

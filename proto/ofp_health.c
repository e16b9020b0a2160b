/*  =========================================================================
    ofp_health - codec of the health protocol (ofhealth/1), see health.md
    =========================================================================
*/

#include "ofp_health.h"
#include "ofp_check.h"

static const char *const s_states [] = {"Unknown", "Healthy", "Unhealthy", NULL};

//  {"Backend", "State", "Since", "Reason", "LastCheckUtc"?, "ConsecutiveSuccesses",
//   "ConsecutiveFailures", "LatencyMs"?}
static int
s_check_record (json_t *record, char *error, size_t size)
{
    if (ofp_check_identifier (record, "Backend", error, size) != 0
        || ofp_check_enum (record, "State", s_states, error, size) != 0
        || ofp_check_timestamp (record, "Since", error, size) != 0
        || ofp_check_string (record, "Reason", 0, OFP_HEALTH_REASON_MAX, error, size) != 0
        || ofp_check_int (record, "ConsecutiveSuccesses", 0, OFP_HEALTH_COUNT_MAX, error, size)
               != 0
        || ofp_check_int (record, "ConsecutiveFailures", 0, OFP_HEALTH_COUNT_MAX, error, size)
               != 0)
        return -1;
    if ((ofp_check_present (record, "LastCheckUtc")
         && ofp_check_timestamp (record, "LastCheckUtc", error, size) != 0)
        || (ofp_check_present (record, "LatencyMs")
            && ofp_check_int (record, "LatencyMs", 0, INT64_MAX, error, size) != 0))
        return -1;
    return 0;
}

//  Published messages are numbered from 1 within an epoch
static int
s_check_epoch_sequence (json_t *body, char *error, size_t size)
{
    return ofp_check_epoch_sequence (body, 1, error, size);
}

//  {"Epoch", "Sequence", "Previous", record...}
static int
s_check_transition (json_t *body, char *error, size_t size)
{
    if (s_check_epoch_sequence (body, error, size) != 0
        || s_check_record (body, error, size) != 0
        || ofp_check_enum (body, "Previous", s_states, error, size) != 0)
        return -1;
    //  A transition to the same state is a bug in the publisher; catch it at the edge
    if (json_equal (json_object_get (body, "Previous"), json_object_get (body, "State"))) {
        snprintf (error, size, "Previous: must differ from State");
        return -1;
    }
    return 0;
}

//  {"Epoch", "Sequence", "IntervalMs", "Backends": [record...]}
static int
s_check_state (json_t *body, char *error, size_t size)
{
    if (s_check_epoch_sequence (body, error, size) != 0
        || ofp_check_int (body, "IntervalMs", OFP_HEALTH_INTERVAL_MIN, OFP_HEALTH_INTERVAL_MAX,
                          error, size) != 0)
        return -1;
    return ofp_check_each (body, "Backends", OFP_HEALTH_BACKENDS_MAX, s_check_record, error,
                           size);
}

static const ofp_command_t s_commands [] = {
    {"TRANSITION", false, s_check_transition},
    {"STATE", false, s_check_state},
    {NULL, false, NULL}
};

const ofp_protocol_t ofp_health_protocol = {OFP_HEALTH_SIGNATURE, OFP_HEALTH_MAX_BODY,
                                            s_commands};

//  --------------------------------------------------------------------------
//  Self test

#define S_EPOCH "0123456789abcdef"
#define S_NOW   "2026-11-25T04:10:00.123456Z"

//  Decodes the given frames (NULL leaves a frame out) and checks the verdict:
//  fragment NULL means well-formed, else the error must contain it
static void
s_expect_frames (const char *signature, const char *command, const char *body,
                 const char *fragment, bool verbose)
{
    ofp_msg_expect (&ofp_health_protocol, signature, command, NULL, body, fragment, verbose);
}

//  Checks a TRANSITION made of a valid one with one field replaced (value is
//  JSON text, NULL removes the field)
static void
s_expect_field (const char *name, const char *value, const char *fragment, bool verbose)
{
    json_t *body = json_pack ("{s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i}",
                              "Epoch", S_EPOCH, "Sequence", 2, "Previous", "Unknown",
                              "Backend", "b1", "State", "Healthy", "Since", S_NOW,
                              "Reason", "HTTP 200", "LastCheckUtc", S_NOW,
                              "ConsecutiveSuccesses", 2, "ConsecutiveFailures", 0,
                              "LatencyMs", 3);
    if (value)
        json_object_set_new (body, name, json_loads (value, JSON_DECODE_ANY, NULL));
    else
        json_object_del (body, name);
    char *text = json_dumps (body, JSON_COMPACT);
    if (verbose)
        printf ("  with %s = %.40s:\n", name, value ? value : "(absent)");
    s_expect_frames (OFP_HEALTH_SIGNATURE, "TRANSITION", text, fragment, verbose);
    free (text);
    json_decref (body);
}

void
ofp_health_test (bool verbose)
{
    printf (" * ofp_health: ");
    if (verbose)
        printf ("\n");

    //  What healthmon will build survives encode and decode
    json_t *body = json_pack ("{s:s, s:i, s:i, s:[{s:s, s:s, s:s, s:s, s:n, s:i, s:i, s:n}]}",
                              "Epoch", S_EPOCH, "Sequence", 1, "IntervalMs", 5000, "Backends",
                              "Backend", "b1", "State", "Unknown", "Since", S_NOW, "Reason", "",
                              "LastCheckUtc", "ConsecutiveSuccesses", 0, "ConsecutiveFailures",
                              0, "LatencyMs");
    ofp_msg_t *msg = ofp_msg_new (&ofp_health_protocol, "STATE", NULL, &body);
    zmsg_t *zmsg = ofp_msg_encode (msg);
    ofp_msg_destroy (&msg);
    msg = ofp_msg_decode (&ofp_health_protocol, &zmsg, false);
    assert (ofp_msg_error (msg) == NULL);
    assert (ofp_msg_is (msg, "STATE") && ofp_msg_id (msg) == NULL);
    ofp_msg_destroy (&msg);

    //  TRANSITION, one field at a time
    s_expect_field ("Reason", "\"HTTP 200\"", NULL, verbose);
    s_expect_field ("LastCheckUtc", "null", NULL, verbose);
    s_expect_field ("LatencyMs", NULL, NULL, verbose);
    s_expect_field ("State", "\"healthy\"", "State", verbose);
    s_expect_field ("State", NULL, "State", verbose);
    s_expect_field ("Previous", "\"Healthy\"", "Previous: must differ", verbose);
    s_expect_field ("Previous", "\"Down\"", "Previous", verbose);
    s_expect_field ("Backend", "\"\"", "Backend", verbose);
    s_expect_field ("Since", "\"2026-11-25 04:10:00\"", "Since", verbose);
    s_expect_field ("Since", "\"2026-13-25T04:10:00.123456Z\"", "Since", verbose);
    s_expect_field ("Since", "\"2026-11-25T04:10:00.123456+01:00\"", "Since", verbose);
    s_expect_field ("LastCheckUtc", "1764043800", "LastCheckUtc", verbose);
    s_expect_field ("ConsecutiveSuccesses", "-1", "ConsecutiveSuccesses", verbose);
    s_expect_field ("ConsecutiveFailures", "\"2\"", "ConsecutiveFailures", verbose);
    s_expect_field ("LatencyMs", "1.5", "LatencyMs", verbose);
    s_expect_field ("Sequence", "0", "Sequence", verbose);
    s_expect_field ("Epoch", "\"0123\"", "Epoch", verbose);
    char reason [OFP_HEALTH_REASON_MAX + 4];
    memset (reason, 'x', sizeof reason - 1);
    reason [0] = '"';
    reason [sizeof reason - 2] = '"';
    reason [sizeof reason - 1] = 0;
    s_expect_field ("Reason", reason, "Reason", verbose);

    //  STATE: the reason names the record in error
    s_expect_frames (OFP_HEALTH_SIGNATURE, "STATE",
                     "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":3,\"IntervalMs\":5000,"
                     "\"Backends\":[]}", NULL, verbose);
    s_expect_frames (OFP_HEALTH_SIGNATURE, "STATE",
                     "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":3,\"IntervalMs\":5000,"
                     "\"Backends\":[{\"Backend\":\"b1\",\"State\":\"Healthy\",\"Since\":\"" S_NOW
                     "\",\"Reason\":\"\",\"ConsecutiveSuccesses\":1,"
                     "\"ConsecutiveFailures\":0},{\"Backend\":\"b2\"}]}",
                     "Backends[1].State", verbose);
    s_expect_frames (OFP_HEALTH_SIGNATURE, "STATE",
                     "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":3,\"IntervalMs\":10,"
                     "\"Backends\":[]}", "IntervalMs", verbose);
    s_expect_frames (OFP_HEALTH_SIGNATURE, "STATE",
                     "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":3,\"IntervalMs\":5000,"
                     "\"Backends\":{}}", "Backends", verbose);

    //  Frames: signature, command, body, JSON, size
    s_expect_frames ("oflease/1", "STATE", "{}", "signature", verbose);
    s_expect_frames (NULL, NULL, NULL, "signature", verbose);
    s_expect_frames (OFP_HEALTH_SIGNATURE, NULL, NULL, "command", verbose);
    s_expect_frames (OFP_HEALTH_SIGNATURE, "STATE", NULL, "missing body", verbose);
    s_expect_frames (OFP_HEALTH_SIGNATURE, "HEARTBEAT", "{}", "unknown command", verbose);
    s_expect_frames (OFP_HEALTH_SIGNATURE, "STATE", "{\"Epoch\"", "not valid JSON", verbose);
    s_expect_frames (OFP_HEALTH_SIGNATURE, "STATE", "[\"state\"]", "JSON object", verbose);
    size_t big_size = OFP_HEALTH_MAX_BODY + 1;
    char *big = (char *) malloc (big_size + 1);
    memset (big, ' ', big_size);
    big [0] = '{';
    big [big_size - 1] = '}';
    big [big_size] = 0;
    s_expect_frames (OFP_HEALTH_SIGNATURE, "STATE", big, "over the limit", verbose);
    free (big);

    printf ("OK\n");
}

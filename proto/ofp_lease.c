/*  =========================================================================
    ofp_lease - codec of the lease protocol (oflease/1), see lease.md
    =========================================================================
*/

#include "ofp_lease.h"
#include "ofp_lease_sessions.h"
#include "ofp_check.h"

static const char *const s_kinds [] = {"completions", "embeddings", "other", NULL};
static const char *const s_api_formats [] = {"Ollama", "OpenAI", NULL};
static const char *const s_priorities [] = {"High", "Normal", "Low", NULL};
static const char *const s_outcomes [] = {
    "ok", "backend_error", "connect_failure", "client_gone", "timeout", "rejected", NULL
};

//  A count of leases, asks or positions
static int
s_check_count (json_t *body, const char *name, char *error, size_t size)
{
    return ofp_check_int (body, name, 0, OFP_LEASE_COUNT_MAX, error, size);
}

static int
s_check_ingress (json_t *body, char *error, size_t size)
{
    return ofp_check_token (body, "Ingress", OFP_LEASE_INGRESS_MAX, error, size);
}

//  "Peers"? (ingress ids) and "PeersTruncated"? (bool) of a HELLO or a PONG
static int
s_check_peers (json_t *body, char *error, size_t size)
{
    if (ofp_check_present (body, "Peers")
        && ofp_check_strings (body, "Peers", OFP_LEASE_PEERS_MAX, 1, OFP_LEASE_INGRESS_MAX, error,
                              size) != 0)
        return -1;
    if (ofp_check_present (body, "PeersTruncated")
        && ofp_check_bool (body, "PeersTruncated", error, size) != 0)
        return -1;
    return 0;
}

//  {"Ingress", "Pid", "Version", "Peers"?, "PeersTruncated"?}
static int
s_check_hello (json_t *body, char *error, size_t size)
{
    if (s_check_ingress (body, error, size) != 0
        || ofp_check_int (body, "Pid", 1, INT32_MAX, error, size) != 0
        || ofp_check_string (body, "Version", 1, 64, error, size) != 0)
        return -1;
    return s_check_peers (body, error, size);
}

//  {"Epoch", "HeartbeatMs", "LivenessMs"}
static int
s_check_welcome (json_t *body, char *error, size_t size)
{
    if (ofp_check_epoch (body, "Epoch", error, size) != 0
        || ofp_check_int (body, "HeartbeatMs", 1, OFP_LEASE_DEADLINE_MAX, error, size) != 0
        || ofp_check_int (body, "LivenessMs", 1, OFP_LEASE_DEADLINE_MAX, error, size) != 0)
        return -1;
    //  A liveness shorter than the heartbeat would expire every peer between two beats
    if (json_integer_value (json_object_get (body, "LivenessMs"))
        <= json_integer_value (json_object_get (body, "HeartbeatMs"))) {
        snprintf (error, size, "LivenessMs: must be longer than HeartbeatMs");
        return -1;
    }
    return 0;
}

//  The client API key of a lease or an ask, when present: an Identifier
static int
s_check_key (json_t *body, char *error, size_t size)
{
    return ofp_check_present (body, "Key") ? ofp_check_identifier (body, "Key", error, size) : 0;
}

//  A LEASE's key, when present: "Key" and its "KeyLimits" {"Priority",
//  "MaxConcurrentRequests", "RequestsPerMinute", "TokensPerMinute"}
static int
s_check_key_limits (json_t *body, char *error, size_t size)
{
    if (s_check_key (body, error, size) != 0)
        return -1;
    json_t *limits = json_object_get (body, "KeyLimits");
    if (!ofp_check_present (body, "KeyLimits"))
        return 0;
    if (!json_is_object (limits) || !ofp_check_present (body, "Key")) {
        snprintf (error, size, "KeyLimits: an object, with Key");
        return -1;
    }
    if (ofp_check_enum (limits, "Priority", s_priorities, error, size) != 0
        || ofp_check_int (limits, "MaxConcurrentRequests", 0, OFP_LEASE_COUNT_MAX, error, size)
           != 0
        || ofp_check_int (limits, "RequestsPerMinute", 0, INT64_MAX, error, size) != 0
        || ofp_check_int (limits, "TokensPerMinute", 0, INT64_MAX, error, size) != 0)
        return -1;
    return 0;
}

//  A LEASE's prompt prefix chain, when present: "Prefix", 1-OFP_LEASE_PREFIX_MAX
//  hashes of 16 lowercase hex digits, and "PrefixEnds", as many integers,
//  strictly increasing, from 1 to OFP_LEASE_PREFIX_END_MAX
static int
s_check_prefix (json_t *body, char *error, size_t size)
{
    bool hashes = ofp_check_present (body, "Prefix");
    if (!hashes && !ofp_check_present (body, "PrefixEnds"))
        return 0;
    json_t *prefix = json_object_get (body, "Prefix");
    json_t *ends = json_object_get (body, "PrefixEnds");
    if (!hashes || !json_is_array (prefix) || json_array_size (prefix) == 0
        || json_array_size (prefix) > OFP_LEASE_PREFIX_MAX) {
        snprintf (error, size, "Prefix: must be an array of 1 to %d hashes, with PrefixEnds",
                  OFP_LEASE_PREFIX_MAX);
        return -1;
    }
    if (!json_is_array (ends) || json_array_size (ends) != json_array_size (prefix)) {
        snprintf (error, size, "PrefixEnds: must be an array as long as Prefix");
        return -1;
    }
    json_int_t last = 0;
    for (size_t index = 0; index < json_array_size (prefix); index++) {
        const char *hash = json_string_value (json_array_get (prefix, index));
        bool hex = hash && strlen (hash) == 16;
        for (const char *digit = hash; hex && *digit; digit++)
            hex = (*digit >= '0' && *digit <= '9') || (*digit >= 'a' && *digit <= 'f');
        if (!hex) {
            snprintf (error, size, "Prefix[%zu]: must be 16 lowercase hex digits", index);
            return -1;
        }
        json_t *end = json_array_get (ends, index);
        if (!json_is_integer (end) || json_integer_value (end) <= last
            || json_integer_value (end) > OFP_LEASE_PREFIX_END_MAX) {
            snprintf (error, size, "PrefixEnds[%zu]: must be an integer above the one before, "
                      "at most %d", index, OFP_LEASE_PREFIX_END_MAX);
            return -1;
        }
        last = json_integer_value (end);
    }
    return 0;
}

//  {"Frontend", "Kind", "Route"?, "Model", "Labels", "StickyKey"?, "Key"?, "KeyLimits"?,
//   "Exclude", "DeadlineMs", "RequestId"?, "Prefix"?, "PrefixEnds"?}
static int
s_check_lease (json_t *body, char *error, size_t size)
{
    if (ofp_check_identifier (body, "Frontend", error, size) != 0
        || ofp_check_enum (body, "Kind", s_kinds, error, size) != 0
        || ofp_check_string (body, "Model", 0, OFP_LEASE_MODEL_MAX, error, size) != 0
        || ofp_check_strings (body, "Labels", OFP_LEASE_LABELS_MAX, 1, OFP_LEASE_LABEL_MAX, error,
                              size) != 0
        || ofp_check_identifiers (body, "Exclude", OFP_LEASE_EXCLUDE_MAX, error, size) != 0
        || ofp_check_int (body, "DeadlineMs", 0, OFP_LEASE_DEADLINE_MAX, error, size) != 0)
        return -1;
    if (ofp_check_present (body, "Route")
        && ofp_check_string (body, "Route", 1, OFP_LEASE_ROUTE_MAX, error, size) != 0)
        return -1;
    if (ofp_check_present (body, "StickyKey")
        && ofp_check_string (body, "StickyKey", 1, OFP_LEASE_STICKY_MAX, error, size) != 0)
        return -1;
    if (ofp_check_present (body, "RequestId")
        && ofp_check_string (body, "RequestId", 1, OFP_LEASE_REQUEST_ID_MAX, error, size) != 0)
        return -1;
    if (s_check_prefix (body, error, size) != 0)
        return -1;
    return s_check_key_limits (body, error, size);
}

//  {"Position"}
static int
s_check_queued (json_t *body, char *error, size_t size)
{
    return ofp_check_int (body, "Position", 1, OFP_LEASE_COUNT_MAX, error, size);
}

//  {"Lease", "Epoch", "Backend", "Hostname", "Port", "Ssl", "ApiFormat", "Sticky", "QueuedMs"}
static int
s_check_grant (json_t *body, char *error, size_t size)
{
    if (ofp_check_identifier (body, "Lease", error, size) != 0
        || ofp_check_epoch (body, "Epoch", error, size) != 0
        || ofp_check_identifier (body, "Backend", error, size) != 0
        || ofp_check_string (body, "Hostname", 1, OFP_LEASE_HOSTNAME_MAX, error, size) != 0
        || ofp_check_int (body, "Port", 1, 65535, error, size) != 0
        || ofp_check_bool (body, "Ssl", error, size) != 0
        || ofp_check_enum (body, "ApiFormat", s_api_formats, error, size) != 0
        || ofp_check_bool (body, "Sticky", error, size) != 0)
        return -1;
    return ofp_check_int (body, "QueuedMs", 0, INT64_MAX, error, size);
}

//  {"Status", "Error", "Message", "RetryAfterMs" (required with 429)}
static int
s_check_deny (json_t *body, char *error, size_t size)
{
    if (ofp_check_int (body, "Status", 400, 599, error, size) != 0
        || ofp_check_string (body, "Error", 1, 64, error, size) != 0
        || ofp_check_string (body, "Message", 0, OFP_LEASE_MESSAGE_MAX, error, size) != 0)
        return -1;
    //  A 429 without a retry time leaves the client guessing, and clients retry at once
    bool required = json_integer_value (json_object_get (body, "Status")) == 429;
    if ((required || ofp_check_present (body, "RetryAfterMs"))
        && ofp_check_int (body, "RetryAfterMs", 0, OFP_LEASE_RETRY_MAX, error, size) != 0)
        return -1;
    return 0;
}

//  {"Reason"?}
static int
s_check_cancel (json_t *body, char *error, size_t size)
{
    if (ofp_check_present (body, "Reason")
        && ofp_check_string (body, "Reason", 0, OFP_LEASE_REASON_MAX, error, size) != 0)
        return -1;
    return 0;
}

//  An optional integer member within [min, max]
static int
s_check_optional (json_t *body, const char *name, int64_t min, int64_t max, char *error,
                  size_t size)
{
    return ofp_check_present (body, name) ? ofp_check_int (body, name, min, max, error, size) : 0;
}

//  What the response said of itself: {"CachedTokens"?, "LoadUs"?, "PrefillUs"?, "DecodeUs"?},
//  cached tokens no more than the prompt's
static int
s_check_figures (json_t *body, char *error, size_t size)
{
    if (s_check_optional (body, "CachedTokens", 0, INT64_MAX, error, size) != 0
        || s_check_optional (body, "LoadUs", 0, OFP_LEASE_MICROS_MAX, error, size) != 0
        || s_check_optional (body, "PrefillUs", 0, OFP_LEASE_MICROS_MAX, error, size) != 0
        || s_check_optional (body, "DecodeUs", 0, OFP_LEASE_MICROS_MAX, error, size) != 0)
        return -1;
    json_t *cached = json_object_get (body, "CachedTokens");
    json_t *prompt = json_object_get (body, "PromptTokens");
    if (json_is_integer (cached) && json_is_integer (prompt)
        && json_integer_value (cached) > json_integer_value (prompt)) {
        snprintf (error, size, "CachedTokens: more than PromptTokens");
        return -1;
    }
    return 0;
}

//  {"Lease", "Epoch", "Backend", "Outcome", "DurationMs", "TtfbMs"?, "Status"?,
//   "PromptTokens"?, "CompletionTokens"?, "CachedTokens"?, "LoadUs"?, "PrefillUs"?,
//   "DecodeUs"?}
static int
s_check_release (json_t *body, char *error, size_t size)
{
    if (ofp_check_identifier (body, "Lease", error, size) != 0
        || ofp_check_epoch (body, "Epoch", error, size) != 0
        || ofp_check_identifier (body, "Backend", error, size) != 0
        || ofp_check_enum (body, "Outcome", s_outcomes, error, size) != 0
        || ofp_check_int (body, "DurationMs", 0, INT64_MAX, error, size) != 0)
        return -1;
    if ((ofp_check_present (body, "TtfbMs")
         && ofp_check_int (body, "TtfbMs", 0, INT64_MAX, error, size) != 0)
        || (ofp_check_present (body, "Status")
            && ofp_check_int (body, "Status", 100, 599, error, size) != 0)
        || (ofp_check_present (body, "PromptTokens")
            && ofp_check_int (body, "PromptTokens", 0, INT64_MAX, error, size) != 0)
        || (ofp_check_present (body, "CompletionTokens")
            && ofp_check_int (body, "CompletionTokens", 0, INT64_MAX, error, size) != 0))
        return -1;
    return s_check_figures (body, error, size);
}

//  One lease held across a restart: {"Lease", "Epoch", "Backend", "Frontend", "StickyKey"?,
//  "Key"?}
static int
s_check_held (json_t *lease, char *error, size_t size)
{
    if (ofp_check_identifier (lease, "Lease", error, size) != 0
        || ofp_check_epoch (lease, "Epoch", error, size) != 0
        || ofp_check_identifier (lease, "Backend", error, size) != 0
        || ofp_check_identifier (lease, "Frontend", error, size) != 0)
        return -1;
    if (ofp_check_present (lease, "StickyKey")
        && ofp_check_string (lease, "StickyKey", 1, OFP_LEASE_STICKY_MAX, error, size) != 0)
        return -1;
    return s_check_key (lease, error, size);
}

//  {"Ingress", "Epoch", "Leases": [held...], "Last"?}
static int
s_check_resume (json_t *body, char *error, size_t size)
{
    if (s_check_ingress (body, error, size) != 0
        || ofp_check_epoch (body, "Epoch", error, size) != 0)
        return -1;
    if (ofp_check_present (body, "Last") && ofp_check_bool (body, "Last", error, size) != 0)
        return -1;
    return ofp_check_each (body, "Leases", OFP_LEASE_RESUME_MAX, s_check_held, error, size);
}

//  {"Epoch", "Leases"}
static int
s_check_resumed (json_t *body, char *error, size_t size)
{
    if (ofp_check_epoch (body, "Epoch", error, size) != 0)
        return -1;
    return s_check_count (body, "Leases", error, size);
}

//  {"Ingress", "Epoch", "Leases", "Asks"}
static int
s_check_heartbeat (json_t *body, char *error, size_t size)
{
    if (s_check_ingress (body, error, size) != 0
        || ofp_check_epoch (body, "Epoch", error, size) != 0
        || s_check_count (body, "Leases", error, size) != 0)
        return -1;
    return s_check_count (body, "Asks", error, size);
}

//  {"Epoch", "Registered", "Leases", "Peers"?, "PeersTruncated"?}
static int
s_check_pong (json_t *body, char *error, size_t size)
{
    if (ofp_check_epoch (body, "Epoch", error, size) != 0
        || ofp_check_bool (body, "Registered", error, size) != 0
        || s_check_count (body, "Leases", error, size) != 0)
        return -1;
    return s_check_peers (body, error, size);
}

//  {"Backend", "Leases", "MaxParallelRequests", "Queued", "Sessions"}
static int
s_check_backend_state (json_t *record, char *error, size_t size)
{
    if (ofp_check_identifier (record, "Backend", error, size) != 0
        || s_check_count (record, "Leases", error, size) != 0
        || ofp_check_int (record, "MaxParallelRequests", 1, OFP_LEASE_COUNT_MAX, error, size) != 0
        || s_check_count (record, "Queued", error, size) != 0)
        return -1;
    return s_check_count (record, "Sessions", error, size);
}

//  {"Frontend", "Queued", "Sessions"}
static int
s_check_frontend_state (json_t *record, char *error, size_t size)
{
    if (ofp_check_identifier (record, "Frontend", error, size) != 0
        || s_check_count (record, "Queued", error, size) != 0)
        return -1;
    return s_check_count (record, "Sessions", error, size);
}

//  {"Key", "Requests", "PromptTokens", "CompletionTokens", "Errors", "Running"}
static int
s_check_key_state (json_t *record, char *error, size_t size)
{
    if (ofp_check_identifier (record, "Key", error, size) != 0
        || ofp_check_int (record, "Requests", 0, INT64_MAX, error, size) != 0
        || ofp_check_int (record, "PromptTokens", 0, INT64_MAX, error, size) != 0
        || ofp_check_int (record, "CompletionTokens", 0, INT64_MAX, error, size) != 0
        || ofp_check_int (record, "Errors", 0, INT64_MAX, error, size) != 0)
        return -1;
    return s_check_count (record, "Running", error, size);
}

//  Published messages are numbered from 1 within an epoch
static int
s_check_epoch_sequence (json_t *body, char *error, size_t size)
{
    return ofp_check_epoch_sequence (body, 1, error, size);
}

//  {"Epoch", "Sequence", "Ingresses", "Leases", "Asks", "Backends": [], "Frontends": []}
static int
s_check_state (json_t *body, char *error, size_t size)
{
    if (s_check_epoch_sequence (body, error, size) != 0
        || s_check_count (body, "Ingresses", error, size) != 0
        || s_check_count (body, "Leases", error, size) != 0
        || s_check_count (body, "Asks", error, size) != 0
        || ofp_check_each (body, "Backends", OFP_LEASE_RECORDS_MAX, s_check_backend_state, error,
                           size) != 0)
        return -1;
    if (ofp_check_each (body, "Frontends", OFP_LEASE_RECORDS_MAX, s_check_frontend_state, error,
                        size) != 0)
        return -1;
    //  Keys: optional (a scheduler from before keys sends none)
    return ofp_check_present (body, "Keys")
               ? ofp_check_each (body, "Keys", OFP_LEASE_RECORDS_MAX, s_check_key_state, error,
                                 size)
               : 0;
}

//  A RELEASE plus {"Ingress", "Frontend"?, "Epoch", "Sequence"}
static int
s_check_outcome (json_t *body, char *error, size_t size)
{
    if (s_check_release (body, error, size) != 0
        || ofp_check_int (body, "Sequence", 1, INT64_MAX, error, size) != 0
        || s_check_ingress (body, error, size) != 0)
        return -1;
    if (ofp_check_present (body, "Frontend")
        && ofp_check_identifier (body, "Frontend", error, size) != 0)
        return -1;
    return 0;
}

static const ofp_command_t s_commands [] = {
    //  Ingress to scheduler
    {"HELLO", true, s_check_hello},
    {"LEASE", true, s_check_lease},
    {"CANCEL", true, s_check_cancel},
    {"RELEASE", false, s_check_release},
    {"RESUME", true, s_check_resume},
    {"HEARTBEAT", false, s_check_heartbeat},
    //  The admin API's sessions (ofp_lease_sessions)
    {"SESSIONS", true, ofp_lease_check_sessions},
    {"SESSION-LIST", true, ofp_lease_check_session_list},
    {"FORGET", true, ofp_lease_check_forget},
    {"FORGOTTEN", true, ofp_lease_check_forgotten},
    //  Scheduler to ingress
    {"WELCOME", true, s_check_welcome},
    {"QUEUED", true, s_check_queued},
    {"GRANT", true, s_check_grant},
    {"DENY", true, s_check_deny},
    {"RESUMED", true, s_check_resumed},
    {"PONG", false, s_check_pong},
    {"ERROR", true, ofp_check_error},
    //  Published
    {"STATE", false, s_check_state},
    {"OUTCOME", false, s_check_outcome},
    {NULL, false, NULL}
};

const ofp_protocol_t ofp_lease_protocol = {OFP_LEASE_SIGNATURE, OFP_LEASE_MAX_BODY, s_commands};

//  --------------------------------------------------------------------------
//  Self test

#define S_EPOCH "0123456789abcdef"

//  Decodes the given frames (NULL leaves a frame out) and checks the verdict:
//  fragment NULL means well-formed, else the error must contain it
static void
s_expect_frames (const char *signature, const char *command, const char *id, const char *body,
                 const char *fragment, bool verbose)
{
    ofp_msg_expect (&ofp_lease_protocol, signature, command, id, body, fragment, verbose);
}

static void
s_expect (const char *command, bool has_id, const char *body, const char *fragment, bool verbose)
{
    s_expect_frames (OFP_LEASE_SIGNATURE, command, has_id ? "7" : NULL, body, fragment, verbose);
}

//  Builds a message as a service would, and checks it survives encode and decode
static void
s_round_trip (const char *command, const char *id, json_t *body, bool verbose)
{
    ofp_msg_t *msg = ofp_msg_new (&ofp_lease_protocol, command, id, &body);
    zmsg_t *zmsg = ofp_msg_encode (msg);
    ofp_msg_destroy (&msg);
    msg = ofp_msg_decode (&ofp_lease_protocol, &zmsg, false);
    if (verbose || ofp_msg_error (msg))
        printf ("  round trip %s -> %s\n", command,
                ofp_msg_error (msg) ? ofp_msg_error (msg) : "ok");
    assert (ofp_msg_error (msg) == NULL);
    assert (ofp_msg_is (msg, command));
    ofp_msg_destroy (&msg);
}

bool
ofp_lease_translated_path (const char *path)
{
    static const char *const translated [] = {
        "/api/chat", "/api/generate", "/api/embed", "/api/embeddings", NULL
    };
    for (const char *const *p = translated; path && *p; p++)
        if (streq (path, *p))
            return true;
    return false;
}

void
ofp_lease_test (bool verbose)
{
    printf (" * ofp_lease: ");
    if (verbose)
        printf ("\n");

    assert (ofp_lease_translated_path ("/api/chat") && ofp_lease_translated_path ("/api/embed"));
    assert (!ofp_lease_translated_path ("/api/show") && !ofp_lease_translated_path ("/v1/chat"));
    assert (!ofp_lease_translated_path (NULL));

    //  What the ingress and the scheduler will build
    s_round_trip ("HELLO", "1",
                  json_pack ("{s:s, s:i, s:s}", "Ingress", "host-a-4242", "Pid", 4242, "Version",
                             "0.1.0"), verbose);
    s_round_trip ("WELCOME", "1",
                  json_pack ("{s:s, s:i, s:i}", "Epoch", S_EPOCH, "HeartbeatMs", 1000,
                             "LivenessMs", 3000), verbose);
    s_round_trip ("LEASE", "2",
                  json_pack ("{s:s, s:s, s:s, s:s, s:[s], s:s, s:[], s:i}", "Frontend", "f1",
                             "Kind", "completions", "Route", "POST /api/chat", "Model",
                             "llama3.2:latest", "Labels", "gpu", "StickyKey", "10.0.0.7",
                             "Exclude", "DeadlineMs", 30000), verbose);
    s_round_trip ("GRANT", "2",
                  json_pack ("{s:s, s:s, s:s, s:s, s:i, s:b, s:s, s:b, s:i}", "Lease", "42",
                             "Epoch", S_EPOCH, "Backend", "b1", "Hostname", "10.0.0.2", "Port",
                             11434, "Ssl", 0, "ApiFormat", "Ollama", "Sticky", 1, "QueuedMs", 0),
                  verbose);
    s_round_trip ("RELEASE", NULL,
                  json_pack ("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:n}", "Lease", "42",
                             "Epoch", S_EPOCH, "Backend", "b1", "Outcome", "ok", "DurationMs",
                             5120, "TtfbMs", 180, "Status", 200, "PromptTokens", 31,
                             "CompletionTokens"), verbose);
    s_round_trip ("RELEASE", NULL,
                  json_pack ("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:I, s:I}", "Lease",
                             "43", "Epoch", S_EPOCH, "Backend", "b1", "Outcome", "ok",
                             "DurationMs", 900, "PromptTokens", 310, "CompletionTokens", 12,
                             "CachedTokens", 300, "LoadUs", (json_int_t) 0, "PrefillUs",
                             (json_int_t) 5000, "DecodeUs", (json_int_t) 200000), verbose);
    s_round_trip ("PONG", NULL,
                  json_pack ("{s:s, s:b, s:i}", "Epoch", S_EPOCH, "Registered", 1, "Leases", 3),
                  verbose);
    s_round_trip ("PONG", NULL,
                  json_pack ("{s:s, s:b, s:i, s:[s, s]}", "Epoch", S_EPOCH, "Registered", 1,
                             "Leases", 3, "Peers", "host-a-4242", "host-b-17"), verbose);
    s_round_trip ("HELLO", "hello-2",
                  json_pack ("{s:s, s:i, s:s, s:[s], s:b}", "Ingress", "host-a-4242", "Pid", 4242,
                             "Version", "0.1.0", "Peers", "host-b-17", "PeersTruncated", 0),
                  verbose);
    s_round_trip ("RESUME", "resume-0",
                  json_pack ("{s:s, s:s, s:[], s:b}", "Ingress", "a", "Epoch", S_EPOCH, "Leases",
                             "Last", 1), verbose);
    s_round_trip ("STATE", NULL,
                  json_pack ("{s:s, s:i, s:i, s:i, s:i, s:[{s:s, s:i, s:i, s:i, s:i}], s:[{s:s, "
                             "s:i, s:i}]}", "Epoch", S_EPOCH, "Sequence", 1, "Ingresses", 2,
                             "Leases", 5, "Asks", 1, "Backends", "Backend", "b1", "Leases", 5,
                             "MaxParallelRequests", 4, "Queued", 1, "Sessions", 2, "Frontends",
                             "Frontend", "f1", "Queued", 1, "Sessions", 2), verbose);

    //  HELLO, WELCOME
    s_expect ("HELLO", true, "{\"Ingress\":\"has space\",\"Pid\":1,\"Version\":\"1\"}", "Ingress",
              verbose);
    s_expect ("HELLO", true, "{\"Ingress\":\"a\",\"Pid\":0,\"Version\":\"1\"}", "Pid", verbose);
    s_expect ("HELLO", true, "{\"Ingress\":\"a\",\"Pid\":1}", "Version", verbose);
    s_expect ("HELLO", true, "{\"Ingress\":\"a\",\"Pid\":1,\"Version\":\"1\",\"Peers\":[3]}",
              "Peers", verbose);
    s_expect ("HELLO", true,
              "{\"Ingress\":\"a\",\"Pid\":1,\"Version\":\"1\",\"PeersTruncated\":\"yes\"}",
              "PeersTruncated", verbose);
    s_expect ("WELCOME", true,
              "{\"Epoch\":\"" S_EPOCH "\",\"HeartbeatMs\":1000,\"LivenessMs\":1000}",
              "LivenessMs", verbose);
    s_expect ("WELCOME", true,
              "{\"Epoch\":\"0123456789abcdeg\",\"HeartbeatMs\":1000,\"LivenessMs\":3000}",
              "Epoch", verbose);

    //  LEASE: the ask is what an outsider (an HTTP client) shapes most
    const char *lease_tail = ",\"Labels\":[],\"Exclude\":[],\"DeadlineMs\":0}";
    char body [512];
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"\"%s",
              lease_tail);
    s_expect ("LEASE", true, body, NULL, verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"chat\",\"Model\":\"\"%s",
              lease_tail);
    s_expect ("LEASE", true, body, "Kind: must be one of \"completions\"", verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f/1\",\"Kind\":\"other\",\"Model\":\"\"%s",
              lease_tail);
    s_expect ("LEASE", true, body, "Frontend", verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":null%s",
              lease_tail);
    s_expect ("LEASE", true, body, "Model", verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"\","
              "\"StickyKey\":\"\"%s", lease_tail);
    s_expect ("LEASE", true, body, "StickyKey", verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"\","
              "\"Key\":\"a b\"%s", lease_tail);
    s_expect ("LEASE", true, body, "Key", verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"\","
              "\"Key\":\"k\",\"KeyLimits\":{\"Priority\":\"Low\",\"MaxConcurrentRequests\":2,"
              "\"RequestsPerMinute\":0,\"TokensPerMinute\":10}%s", lease_tail);
    s_expect ("LEASE", true, body, NULL, verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"\","
              "\"Key\":\"k\",\"KeyLimits\":{\"Priority\":\"Top\",\"MaxConcurrentRequests\":2,"
              "\"RequestsPerMinute\":0,\"TokensPerMinute\":10}%s", lease_tail);
    s_expect ("LEASE", true, body, "Priority", verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"\","
              "\"KeyLimits\":{}%s", lease_tail);
    s_expect ("LEASE", true, body, "KeyLimits", verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"\","
              "\"StickyKey\":null%s", lease_tail);
    s_expect ("LEASE", true, body, NULL, verbose);
    snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"\","
              "\"RequestId\":\"\"%s", lease_tail);
    s_expect ("LEASE", true, body, "RequestId", verbose);
    //  The prefix chain: hashes and their ends, as many of each, in order
    const struct {
        const char *fields;
        const char *fragment;
    } chains [] = {
        {"\"Prefix\":[\"0123456789abcdef\",\"fedcba9876543210\"],\"PrefixEnds\":[15,22]", NULL},
        {"\"Prefix\":null,\"PrefixEnds\":null", NULL},
        {"\"Prefix\":[\"0123456789abcdef\"]", "PrefixEnds"},
        {"\"PrefixEnds\":[1]", "Prefix"},
        {"\"Prefix\":[],\"PrefixEnds\":[]", "Prefix"},
        {"\"Prefix\":\"0123456789abcdef\",\"PrefixEnds\":[1]", "Prefix"},
        {"\"Prefix\":[\"0123456789ABCDEF\"],\"PrefixEnds\":[1]", "Prefix[0]"},
        {"\"Prefix\":[\"0123456789abcde\"],\"PrefixEnds\":[1]", "Prefix[0]"},
        {"\"Prefix\":[7],\"PrefixEnds\":[1]", "Prefix[0]"},
        {"\"Prefix\":[\"0123456789abcdef\",\"0123456789abcdef\"],\"PrefixEnds\":[5,5]",
         "PrefixEnds[1]"},
        {"\"Prefix\":[\"0123456789abcdef\"],\"PrefixEnds\":[0]", "PrefixEnds[0]"},
        {"\"Prefix\":[\"0123456789abcdef\"],\"PrefixEnds\":[1073741825]", "PrefixEnds[0]"},
        {"\"Prefix\":[\"0123456789abcdef\"],\"PrefixEnds\":[1,2]", "PrefixEnds"},
    };
    for (size_t index = 0; index < sizeof chains / sizeof chains [0]; index++) {
        snprintf (body, sizeof body, "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"\","
                  "%s%s", chains [index].fields, lease_tail);
        s_expect ("LEASE", true, body, chains [index].fragment, verbose);
    }
    //  Too many hashes
    json_t *chain = json_pack ("{s:s, s:s, s:s, s:[], s:[], s:i, s:[], s:[]}", "Frontend", "f1",
                               "Kind", "other", "Model", "", "Labels", "Exclude", "DeadlineMs", 0,
                               "Prefix", "PrefixEnds");
    for (int index = 0; index <= OFP_LEASE_PREFIX_MAX; index++) {
        json_array_append_new (json_object_get (chain, "Prefix"), json_string ("0123456789abcdef"));
        json_array_append_new (json_object_get (chain, "PrefixEnds"), json_integer (index + 1));
    }
    char *chain_text = json_dumps (chain, JSON_COMPACT);
    s_expect ("LEASE", true, chain_text, "Prefix: must be an array of 1 to 64", verbose);
    free (chain_text);
    json_decref (chain);
    s_expect ("LEASE", true,
              "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"m\",\"Labels\":[\"a\",\"\"],"
              "\"Exclude\":[],\"DeadlineMs\":0}", "Labels[1]", verbose);
    s_expect ("LEASE", true,
              "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"m\",\"Labels\":\"gpu\","
              "\"Exclude\":[],\"DeadlineMs\":0}", "Labels", verbose);
    s_expect ("LEASE", true,
              "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"m\",\"Labels\":[],"
              "\"Exclude\":[\"b1\",\"b1\"],\"DeadlineMs\":0}", "listed twice", verbose);
    s_expect ("LEASE", true,
              "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"m\",\"Labels\":[],"
              "\"Exclude\":[],\"DeadlineMs\":-1}", "DeadlineMs", verbose);
    s_expect ("LEASE", true,
              "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"m\",\"Labels\":[],"
              "\"Exclude\":[]}", "DeadlineMs", verbose);
    s_expect ("LEASE", true,
              "{\"Frontend\":\"f1\",\"Kind\":\"other\",\"Model\":\"m\",\"Labels\":[],"
              "\"Exclude\":[],\"DeadlineMs\":1.5}", "DeadlineMs", verbose);
    //  Too many labels, too long a model
    json_t *labels = json_array ();
    for (int i = 0; i <= OFP_LEASE_LABELS_MAX; i++)
        json_array_append_new (labels, json_string ("l"));
    json_t *ask = json_pack ("{s:s, s:s, s:s, s:o, s:[], s:i}", "Frontend", "f1", "Kind", "other",
                             "Model", "m", "Labels", labels, "Exclude", "DeadlineMs", 0);
    char *text = json_dumps (ask, JSON_COMPACT);
    s_expect ("LEASE", true, text, "Labels", verbose);
    free (text);
    char model [OFP_LEASE_MODEL_MAX + 2];
    memset (model, 'm', sizeof model - 1);
    model [sizeof model - 1] = 0;
    json_object_set_new (ask, "Labels", json_array ());
    json_object_set_new (ask, "Model", json_string (model));
    text = json_dumps (ask, JSON_COMPACT);
    s_expect ("LEASE", true, text, "Model", verbose);
    free (text);
    json_decref (ask);

    //  QUEUED, GRANT, DENY
    s_expect ("QUEUED", true, "{\"Position\":0}", "Position", verbose);
    s_expect ("GRANT", true,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\",\"Hostname\":\"h\","
              "\"Port\":70000,\"Ssl\":false,\"ApiFormat\":\"Ollama\",\"Sticky\":false,"
              "\"QueuedMs\":0}", "Port", verbose);
    s_expect ("GRANT", true,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\",\"Hostname\":\"h\","
              "\"Port\":80,\"Ssl\":\"no\",\"ApiFormat\":\"Ollama\",\"Sticky\":false,"
              "\"QueuedMs\":0}", "Ssl", verbose);
    s_expect ("GRANT", true,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\",\"Hostname\":\"h\","
              "\"Port\":80,\"Ssl\":false,\"ApiFormat\":\"ollama\",\"Sticky\":false,"
              "\"QueuedMs\":0}", "ApiFormat", verbose);
    s_expect ("DENY", true,
              "{\"Status\":503,\"Error\":\"NoHealthyBackend\",\"Message\":\"none\"}", NULL,
              verbose);
    s_expect ("DENY", true, "{\"Status\":429,\"Error\":\"QueueFull\",\"Message\":\"full\"}",
              "RetryAfterMs", verbose);
    s_expect ("DENY", true,
              "{\"Status\":429,\"Error\":\"QueueFull\",\"Message\":\"\",\"RetryAfterMs\":1000}",
              NULL, verbose);
    s_expect ("DENY", true, "{\"Status\":200,\"Error\":\"Ok\",\"Message\":\"\"}", "Status",
              verbose);

    //  CANCEL, RELEASE
    s_expect ("CANCEL", true, "{}", NULL, verbose);
    s_expect ("CANCEL", true, "{\"Reason\":5}", "Reason", verbose);
    //  Without its id frame, the body is read as the id and the body is missing
    s_expect ("CANCEL", false, "{}", "missing body", verbose);
    s_expect ("RELEASE", false,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\","
              "\"Outcome\":\"failed\",\"DurationMs\":1}", "Outcome", verbose);
    s_expect ("RELEASE", false,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\","
              "\"Outcome\":\"client_gone\",\"DurationMs\":0,\"TtfbMs\":null}", NULL, verbose);
    s_expect ("RELEASE", false,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\","
              "\"Outcome\":\"ok\",\"DurationMs\":1,\"Status\":99}", "Status", verbose);
    s_expect ("RELEASE", false,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\","
              "\"Outcome\":\"ok\",\"DurationMs\":1,\"PromptTokens\":-1}", "PromptTokens",
              verbose);
    s_expect ("RELEASE", false,
              "{\"Lease\":\"42\",\"Backend\":\"b1\",\"Outcome\":\"ok\",\"DurationMs\":1}",
              "Epoch", verbose);
    //  The meter's figures: ranges, and no more cached tokens than prompt tokens
    const char *release_head = "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\","
                               "\"Outcome\":\"ok\",\"DurationMs\":1,\"PromptTokens\":10";
    const struct {
        const char *tail;
        const char *fragment;
    } figures [] = {
        {",\"CachedTokens\":10,\"LoadUs\":0,\"PrefillUs\":5,\"DecodeUs\":86400000000}", NULL},
        {",\"CachedTokens\":null,\"LoadUs\":null}", NULL},
        {",\"CachedTokens\":11}", "CachedTokens: more than PromptTokens"},
        {",\"CachedTokens\":-1}", "CachedTokens"},
        {",\"CachedTokens\":\"3\"}", "CachedTokens"},
        {",\"LoadUs\":-5}", "LoadUs"},
        {",\"LoadUs\":1.5}", "LoadUs"},
        {",\"PrefillUs\":86400000001}", "PrefillUs"},
        {",\"DecodeUs\":true}", "DecodeUs"},
    };
    for (size_t index = 0; index < sizeof figures / sizeof figures [0]; index++) {
        snprintf (body, sizeof body, "%s%s", release_head, figures [index].tail);
        s_expect ("RELEASE", false, body, figures [index].fragment, verbose);
    }
    s_expect ("RELEASE", false,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\","
              "\"Outcome\":\"ok\",\"DurationMs\":1,\"CachedTokens\":99}", NULL, verbose);

    //  RESUME: the reason names the record in error
    s_expect ("RESUME", true,
              "{\"Ingress\":\"a\",\"Epoch\":\"" S_EPOCH "\",\"Leases\":[{\"Lease\":\"1\","
              "\"Epoch\":\"fedcba9876543210\",\"Backend\":\"b1\",\"Frontend\":\"f1\"}]}", NULL,
              verbose);
    s_expect ("RESUME", true,
              "{\"Ingress\":\"a\",\"Epoch\":\"" S_EPOCH "\",\"Leases\":[{\"Lease\":\"1\","
              "\"Epoch\":\"fedcba9876543210\",\"Backend\":\"b1\",\"Frontend\":\"f1\"},"
              "{\"Lease\":\"2\",\"Epoch\":\"fedcba9876543210\",\"Backend\":\"b1\"}]}",
              "Leases[1].Frontend", verbose);
    s_expect ("RESUME", true, "{\"Ingress\":\"a\",\"Epoch\":\"" S_EPOCH "\",\"Leases\":[3]}",
              "Leases[0]", verbose);
    s_expect ("RESUME", true,
              "{\"Ingress\":\"a\",\"Epoch\":\"" S_EPOCH "\",\"Leases\":[],\"Last\":1}",
              "Last", verbose);
    s_expect ("RESUMED", true, "{\"Epoch\":\"" S_EPOCH "\",\"Leases\":-1}", "Leases", verbose);

    //  HEARTBEAT, PONG, STATE, OUTCOME
    s_expect ("HEARTBEAT", false,
              "{\"Ingress\":\"a\",\"Epoch\":\"" S_EPOCH "\",\"Leases\":0,\"Asks\":0}", NULL,
              verbose);
    s_expect ("HEARTBEAT", false, "{\"Ingress\":\"a\",\"Epoch\":null,\"Leases\":0,\"Asks\":0}",
              "Epoch", verbose);
    s_expect ("PONG", false, "{\"Epoch\":\"" S_EPOCH "\",\"Registered\":1,\"Leases\":0}",
              "Registered", verbose);
    s_expect ("PONG", false,
              "{\"Epoch\":\"" S_EPOCH "\",\"Registered\":true,\"Leases\":0,\"Peers\":[\"\"]}",
              "Peers", verbose);
    s_expect ("STATE", false,
              "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":1,\"Ingresses\":0,\"Leases\":0,"
              "\"Asks\":0,\"Backends\":[{\"Backend\":\"b1\",\"Leases\":0,"
              "\"MaxParallelRequests\":0,\"Queued\":0,\"Sessions\":0}],\"Frontends\":[]}",
              "Backends[0].MaxParallelRequests", verbose);
    s_expect ("STATE", false,
              "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":1,\"Ingresses\":0,\"Leases\":0,"
              "\"Asks\":0,\"Backends\":[{\"Backend\":\"b1\",\"Leases\":0,"
              "\"MaxParallelRequests\":1,\"Sessions\":0}],\"Frontends\":[]}",
              "Backends[0].Queued", verbose);
    s_expect ("STATE", false,
              "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":1,\"Ingresses\":0,\"Leases\":0,"
              "\"Asks\":0,\"Backends\":[]}", "Frontends", verbose);
    s_expect ("OUTCOME", false,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\","
              "\"Outcome\":\"timeout\",\"DurationMs\":60000,\"Sequence\":9,\"Ingress\":\"a\","
              "\"Frontend\":null}", NULL, verbose);
    s_expect ("OUTCOME", false,
              "{\"Lease\":\"42\",\"Epoch\":\"" S_EPOCH "\",\"Backend\":\"b1\","
              "\"Outcome\":\"timeout\",\"DurationMs\":60000,\"Sequence\":9}", "Ingress",
              verbose);

    //  Frames: signature, command, id, body, JSON, size
    s_expect_frames ("ofconfig/1", "CANCEL", "7", "{}", "signature", verbose);
    s_expect_frames ("oflease/2", "CANCEL", "7", "{}", "signature", verbose);
    s_expect_frames (OFP_LEASE_SIGNATURE, NULL, NULL, NULL, "command", verbose);
    s_expect_frames (OFP_LEASE_SIGNATURE, "GRANT", NULL, NULL, "request id", verbose);
    s_expect_frames (OFP_LEASE_SIGNATURE, "CANCEL", "7", NULL, "missing body", verbose);
    s_expect_frames (OFP_LEASE_SIGNATURE, "ACQUIRE", "7", "{}", "unknown command", verbose);
    s_expect ("CANCEL", true, "{\"Reason\":", "not valid JSON", verbose);
    s_expect ("CANCEL", true, "[]", "JSON object", verbose);
    size_t big_size = OFP_LEASE_MAX_BODY + 1;
    char *big = (char *) malloc (big_size + 1);
    memset (big, ' ', big_size);
    big [0] = '{';
    big [big_size - 1] = '}';
    big [big_size] = 0;
    s_expect ("CANCEL", true, big, "over the limit", verbose);
    free (big);

    printf ("OK\n");
}

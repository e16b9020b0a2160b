/*  =========================================================================
    ofp_lease_sessions - the sticky-session requests of the lease protocol
    =========================================================================
*/

#include "ofp_lease_sessions.h"
#include "ofp_lease.h"
#include "ofp_check.h"

//  The optional filters every session request may carry
static int
s_check_filters (json_t *body, char *error, size_t size)
{
    if ((ofp_check_present (body, "Frontend")
         && ofp_check_identifier (body, "Frontend", error, size) != 0)
        || (ofp_check_present (body, "Backend")
            && ofp_check_identifier (body, "Backend", error, size) != 0)
        || (ofp_check_present (body, "Key")
            && ofp_check_string (body, "Key", 1, OFP_LEASE_STICKY_MAX, error, size) != 0))
        return -1;
    return 0;
}

int
ofp_lease_check_sessions (json_t *body, char *error, size_t size)
{
    if (s_check_filters (body, error, size) != 0)
        return -1;
    return ofp_check_int (body, "Limit", 1, OFP_LEASE_SESSIONS_MAX, error, size);
}

static int
s_check_session (json_t *record, char *error, size_t size)
{
    if (ofp_check_identifier (record, "Frontend", error, size) != 0
        || ofp_check_identifier (record, "Backend", error, size) != 0
        || ofp_check_string (record, "Key", 1, OFP_LEASE_STICKY_MAX, error, size) != 0)
        return -1;
    return ofp_check_int (record, "ExpiresInMs", 0, OFP_LEASE_DEADLINE_MAX, error, size);
}

int
ofp_lease_check_session_list (json_t *body, char *error, size_t size)
{
    if (ofp_check_epoch (body, "Epoch", error, size) != 0
        || ofp_check_int (body, "Total", 0, INT64_MAX, error, size) != 0)
        return -1;
    return ofp_check_each (body, "Sessions", OFP_LEASE_SESSIONS_MAX, s_check_session, error,
                           size);
}

int
ofp_lease_check_forget (json_t *body, char *error, size_t size)
{
    return s_check_filters (body, error, size);
}

int
ofp_lease_check_forgotten (json_t *body, char *error, size_t size)
{
    if (ofp_check_epoch (body, "Epoch", error, size) != 0)
        return -1;
    return ofp_check_int (body, "Sessions", 0, INT64_MAX, error, size);
}

//  --------------------------------------------------------------------------
//  Self test

#define S_EPOCH "0123456789abcdef"

static void
s_expect (const char *command, const char *body, const char *fragment, bool verbose)
{
    ofp_msg_expect (&ofp_lease_protocol, OFP_LEASE_SIGNATURE, command, "7", body, fragment,
                    verbose);
}

void
ofp_lease_sessions_test (bool verbose)
{
    printf (" * ofp_lease_sessions: ");
    if (verbose)
        printf ("\n");
    s_expect ("SESSIONS", "{\"Limit\":100}", NULL, verbose);
    s_expect ("SESSIONS", "{\"Frontend\":\"f1\",\"Key\":\"10.0.0.1\",\"Limit\":1}", NULL, verbose);
    s_expect ("SESSIONS", "{\"Limit\":0}", "Limit", verbose);
    s_expect ("SESSIONS", "{}", "Limit", verbose);
    s_expect ("SESSIONS", "{\"Frontend\":\"f/1\",\"Limit\":1}", "Frontend", verbose);
    s_expect ("SESSIONS", "{\"Key\":\"\",\"Limit\":1}", "Key", verbose);
    s_expect ("SESSION-LIST",
              "{\"Epoch\":\"" S_EPOCH "\",\"Total\":1,\"Sessions\":[{\"Frontend\":\"f1\","
              "\"Backend\":\"b1\",\"Key\":\"alice\",\"ExpiresInMs\":1000}]}", NULL, verbose);
    s_expect ("SESSION-LIST",
              "{\"Epoch\":\"" S_EPOCH "\",\"Total\":1,\"Sessions\":[{\"Frontend\":\"f1\","
              "\"Backend\":\"b1\",\"ExpiresInMs\":1000}]}", "Sessions[0].Key", verbose);
    s_expect ("FORGET", "{}", NULL, verbose);
    s_expect ("FORGET", "{\"Backend\":\"b1\",\"Key\":null}", NULL, verbose);
    s_expect ("FORGET", "{\"Backend\":5}", "Backend", verbose);
    s_expect ("FORGOTTEN", "{\"Epoch\":\"" S_EPOCH "\",\"Sessions\":3}", NULL, verbose);
    s_expect ("FORGOTTEN", "{\"Epoch\":\"" S_EPOCH "\",\"Sessions\":-1}", "Sessions", verbose);
    printf ("OK\n");
}

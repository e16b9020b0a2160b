/*  =========================================================================
    ofp_lease_sessions - the sticky-session requests of the lease protocol
    (SESSIONS, SESSION-LIST, FORGET, FORGOTTEN; lease.md, "Sessions")

    Sessions live only in the scheduler; the admin API lists and drops them
    with these four commands. Their checks live here, apart from the lease
    traffic proper; ofp_lease's command table refers to them.
    =========================================================================
*/

#ifndef OFP_LEASE_SESSIONS_H_INCLUDED
#define OFP_LEASE_SESSIONS_H_INCLUDED

#include "ofp_msg.h"

//  Records in one SESSION-LIST, at most
#define OFP_LEASE_SESSIONS_MAX 10000

//  SESSIONS {"Frontend"?, "Backend"?, "Key"?, "Limit"}
int
    ofp_lease_check_sessions (json_t *body, char *error, size_t size);

//  SESSION-LIST {"Epoch", "Total", "Sessions": [{"Frontend", "Backend", "Key", "ExpiresInMs"}]}
int
    ofp_lease_check_session_list (json_t *body, char *error, size_t size);

//  FORGET {"Frontend"?, "Backend"?, "Key"?}
int
    ofp_lease_check_forget (json_t *body, char *error, size_t size);

//  FORGOTTEN {"Epoch", "Sessions"}
int
    ofp_lease_check_forgotten (json_t *body, char *error, size_t size);

//  Self test
void
    ofp_lease_sessions_test (bool verbose);

#endif

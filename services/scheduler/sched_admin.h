/*  =========================================================================
    sched_admin - the scheduler's answers to the admin API: SESSIONS lists
    sticky sessions, FORGET drops them (lease.md, "Sessions")

    Sessions live only in the scheduler, so the ingress's admin API asks
    here. These requests need no HELLO: the admin API sends them from its
    own DEALER, not as a registered ingress.
    =========================================================================
*/

#ifndef SCHED_ADMIN_H_INCLUDED
#define SCHED_ADMIN_H_INCLUDED

#include "sched_sessions.h"

//  True if the request is one of the admin's (SESSIONS, FORGET).
bool
    sched_admin_handles (ofp_msg_t *request);

//  The reply to a well-formed SESSIONS or FORGET request (caller sends it);
//  *forgotten is set to the sessions dropped.
ofp_msg_t *
    sched_admin_answer (sched_sessions_t *sessions, const char *epoch, ofp_msg_t *request,
                        int64_t now, size_t *forgotten);

#endif

/*  =========================================================================
    sched_admin - the scheduler's answers to the admin API's session requests
    =========================================================================
*/

#include "sched_admin.h"

bool
sched_admin_handles (ofp_msg_t *request)
{
    return ofp_msg_is (request, "SESSIONS") || ofp_msg_is (request, "FORGET");
}

ofp_msg_t *
sched_admin_answer (sched_sessions_t *sessions, const char *epoch, ofp_msg_t *request,
                    int64_t now, size_t *forgotten)
{
    assert (sessions && epoch && request && forgotten);
    json_t *body = ofp_msg_body (request);
    const char *frontend = json_string_value (json_object_get (body, "Frontend"));
    const char *backend = json_string_value (json_object_get (body, "Backend"));
    const char *key = json_string_value (json_object_get (body, "Key"));
    *forgotten = 0;
    if (ofp_msg_is (request, "FORGET")) {
        *forgotten = sched_sessions_forget (sessions, frontend, backend, key);
        json_t *reply = json_pack ("{s:s, s:I}", "Epoch", epoch, "Sessions",
                                   (json_int_t) *forgotten);
        return ofp_msg_reply (request, "FORGOTTEN", &reply);
    }
    size_t total = 0;
    json_t *list = sched_sessions_list (sessions, frontend, backend, key, now,
                                        (size_t) json_integer_value (json_object_get (body, "Limit")),
                                        &total);
    json_t *reply = json_pack ("{s:s, s:I, s:o}", "Epoch", epoch, "Total", (json_int_t) total,
                               "Sessions", list);
    return ofp_msg_reply (request, "SESSION-LIST", &reply);
}

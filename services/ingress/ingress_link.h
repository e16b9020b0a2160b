/*  =========================================================================
    ingress_link - the ingress's link to the scheduler (proto/lease.md)

    Registers this replica (HELLO, WELCOME), heartbeats every Bus.HeartbeatMs,
    asks for leases and releases them. It keeps every lease it holds, so that
    after a scheduler restart (a new epoch, or "Registered": false) it can
    register again and declare them (RESUME), which keeps MaxParallelRequests
    true across the restart. Every ask is answered exactly once: a lease, a
    denial from the scheduler, or a 503 of its own when the scheduler does not
    answer in time. Lives in the ingress's libevent loop.
    =========================================================================
*/

#ifndef INGRESS_LINK_H_INCLUDED
#define INGRESS_LINK_H_INCLUDED

#include "of_classes.h"
#include <event2/event.h>
#include "ingress_meter.h"

typedef struct _ingress_link_t ingress_link_t;
typedef struct _ingress_ask_t ingress_ask_t;

//  A granted lease: where to send the request. Owned by the link until released.
typedef struct {
    char epoch [OFP_EPOCH_LENGTH + 1];
    char id [OFP_IDENTIFIER_MAX + 1];
    char backend [OFP_IDENTIFIER_MAX + 1];
    char frontend [OFP_IDENTIFIER_MAX + 1];
    char *sticky_key;           //  or NULL
    char key [OFP_IDENTIFIER_MAX + 1];  //  the client API key, "" when none
    char hostname [OFP_LEASE_HOSTNAME_MAX + 1];
    int port;
    bool ssl;
    bool openai;                //  the backend's ApiFormat is OpenAI
    bool sticky;                //  a sticky session chose the backend
    int64_t queued_ms;
    int64_t granted_at;         //  zclock_mono
} ingress_lease_t;

//  Why an ask got no lease: the HTTP answer for the client.
typedef struct {
    int status;
    char error [64];
    char message [OFP_LEASE_MESSAGE_MAX + 1];
    int64_t retry_after_ms;     //  -1 when none
} ingress_denial_t;

//  Called once per ask that was not cancelled: with a lease (now the caller's
//  to release, exactly once) and denial NULL, or with lease NULL and a denial.
typedef void (ingress_ask_fn) (void *arg, ingress_lease_t *lease, const ingress_denial_t *denial);

//  Connects to the scheduler and says HELLO. NULL if the endpoint is invalid.
ingress_link_t *
    ingress_link_new (struct event_base *base, of_settings_t *settings);

//  Disconnects; accepts NULL. Open asks are dropped without their callback.
void
    ingress_link_destroy (ingress_link_t **self_p);

//  Asks for a lease. body is the LEASE body (Frontend, Kind, Route, Model,
//  Labels, StickyKey, Exclude, DeadlineMs), taken over (a reference: the caller
//  may keep one but must not change the body while the ask is open). Returns the ask, for
//  ingress_link_cancel; its callback runs later, never from inside this call.
ingress_ask_t *
    ingress_link_ask (ingress_link_t *self, json_t **body_p, ingress_ask_fn *callback, void *arg);

//  Abandons an ask (the client went away): its callback will not run. Sets
//  *ask_p to NULL; accepts a NULL *ask_p.
void
    ingress_link_cancel (ingress_link_t *self, ingress_ask_t **ask_p, const char *reason);

//  What a release reports (proto/lease.md, RELEASE)
typedef struct {
    const char *outcome;        //  ok, backend_error, connect_failure, client_gone, timeout, rejected
    int status;                 //  the backend's HTTP status, or 0
    int64_t ttfb_ms;            //  -1 when no byte came
    //  What the response said of itself (tokens, durations), read once the
    //  meter ended; NULL when no response came
    const ingress_meter_t *meter;
} ingress_outcome_t;

//  Releases a lease and frees it; sets *lease_p to NULL.
void
    ingress_link_release (ingress_link_t *self, ingress_lease_t **lease_p,
                          const ingress_outcome_t *outcome);

//  True while the scheduler answers and knows this replica.
bool
    ingress_link_up (ingress_link_t *self);

//  The scheduler's epoch, or "" before the first WELCOME.
const char *
    ingress_link_epoch (ingress_link_t *self);

//  Leases held and asks open, for the heartbeat and the logs.
size_t
    ingress_link_leases (ingress_link_t *self);
size_t
    ingress_link_asks (ingress_link_t *self);

#endif

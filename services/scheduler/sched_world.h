/*  =========================================================================
    sched_world - the scheduler's surroundings, faked for its service test

    A real configd actor and the real scheduler actor on private ipc://
    endpoints, a fake healthmon (a PUB at Bus.HealthPublisher publishing
    ofhealth/1 STATE with the states the test sets), a SUB on the
    scheduler's STATE, and fake ingresses: DEALERs whose routing id is their
    Ingress id, that heartbeat while the test waits and keep what they receive
    in an inbox. Every wait is bounded by IT_TIMEOUT_MS.
    =========================================================================
*/

#ifndef SCHED_WORLD_H_INCLUDED
#define SCHED_WORLD_H_INCLUDED

#include "it_harness.h"

#define SCHED_WORLD_INGRESSES_MAX 24
//  Room for a request id the fakes make
#define SCHED_WORLD_ID_MAX 32

typedef struct _sched_world_t sched_world_t;

//  One lease a fake ingress holds
typedef struct {
    char epoch [OFP_EPOCH_LENGTH + 1];
    char lease [OFP_IDENTIFIER_MAX + 1];
    char backend [OFP_IDENTIFIER_MAX + 1];
    char frontend [OFP_IDENTIFIER_MAX + 1];
} sched_held_t;

//  One fake ingress
typedef struct {
    char id [OFP_LEASE_INGRESS_MAX + 1];
    zsock_t *dealer;
    char epoch [OFP_EPOCH_LENGTH + 1];  //  from the last WELCOME
    bool silent;                        //  sends no heartbeat
    int64_t beat_at;
    unsigned requests;
    zlistx_t *inbox;                    //  ofp_msg_t, received and not taken yet
    zlistx_t *held;                     //  sched_held_t, granted and not released
    json_t *asks;                       //  request id -> Frontend of its LEASE
    json_t *pong;                       //  the last PONG's body
    unsigned pongs;
} sched_ingress_t;

//  Starts configd and the scheduler with the given settings (JSON text: seed
//  Frontends and Backends, limits), the fake healthmon and the STATE SUB.
//  With binaries, configd and the scheduler are the real programs, started
//  from $OF_BIN_DIR; else actors in this process.
sched_world_t *
    sched_world_new (const char *name, const char *extra, bool binaries);

//  Stops everything and removes the private directory.
void
    sched_world_destroy (sched_world_t **self_p);

//  Stops the scheduler (a program: with SIGKILL) and starts a new one (a new
//  epoch).
void
    sched_world_restart (sched_world_t *self);

//  A DEALER to configd, for config changes.
zsock_t *
    sched_world_config (sched_world_t *self);

//  Sets a backend's state ("Healthy", "Unhealthy", "Unknown") as the fake
//  healthmon publishes it, and waits until the scheduler routes by it.
void
    sched_world_health (sched_world_t *self, const char *backend, const char *state);

//  Waits until a message the scheduler publishes (STATE, OUTCOME) contains
//  the text in its body.
void
    sched_world_await_published (sched_world_t *self, const char *command, const char *text);

//  The most leases a STATE showed on the backend since the start (the STATEs
//  come every Bus.HeartbeatMs: a sample, not every moment).
size_t
    sched_world_most_leases (sched_world_t *self, const char *backend);

//  Connects a fake ingress; with hello, registers it (HELLO, WELCOME).
sched_ingress_t *
    sched_world_ingress (sched_world_t *self, const char *id, bool hello);

//  Sends a request from an ingress: command and body (taken over; NULL: {}).
//  Returns the request id used (static buffer), or NULL for a command without.
const char *
    sched_world_send (sched_world_t *self, sched_ingress_t *ingress, const char *command,
                      json_t *body);

//  Sends a LEASE whose body is the defaults (Kind completions, no model,
//  labels or exclusions, DeadlineMs 30000) overridden by the JSON text.
//  Returns the request id (static buffer).
const char *
    sched_world_ask (sched_world_t *self, sched_ingress_t *ingress, const char *fields);

//  Waits for a message to an ingress with the request id (NULL: any id) and
//  one of the commands ("GRANT DENY ERROR"); takes it from the inbox. A GRANT
//  is added to the ingress's held leases. Fails the test on timeout.
ofp_msg_t *
    sched_world_reply (sched_world_t *self, sched_ingress_t *ingress, const char *id,
                       const char *commands);

//  Waits for a message as sched_world_reply does, and drops it.
void
    sched_world_expect (sched_world_t *self, sched_ingress_t *ingress, const char *id,
                        const char *commands);

//  Asks (as sched_world_ask) and waits for QUEUED; copies the request id
//  into id (SCHED_WORLD_ID_MAX bytes).
void
    sched_world_queue (sched_world_t *self, sched_ingress_t *ingress, const char *fields,
                       char *id);

//  Sends HELLO and waits for WELCOME; remembers its epoch.
void
    sched_world_hello (sched_world_t *self, sched_ingress_t *ingress);

//  Asks and waits for the end (GRANT, DENY or ERROR). Returns "b1" (granted
//  backend, "b1*" if sticky), "DENY 429 QueueFull" or "ERROR 409 NotRegistered"
//  (static buffer).
const char *
    sched_world_lease (sched_world_t *self, sched_ingress_t *ingress, const char *fields);

//  Releases a held lease (outcome ok) and forgets it; NULL: the oldest held.
void
    sched_world_release (sched_world_t *self, sched_ingress_t *ingress, sched_held_t *held);

//  Sends a RELEASE of a held lease (NULL: the oldest) as sched_world_release
//  does, with the members of fields (JSON text) added or replaced, and keeps
//  it held (the scheduler may refuse it).
void
    sched_world_release_with (sched_world_t *self, sched_ingress_t *ingress, sched_held_t *held,
                              const char *fields);

//  Releases every lease the ingress holds.
void
    sched_world_release_all (sched_world_t *self, sched_ingress_t *ingress);

//  Runs the fakes (heartbeats, health, receiving) for a while.
void
    sched_world_pump (sched_world_t *self, int milliseconds);

//  Waits for the ingress's next PONG; returns its body (borrowed).
json_t *
    sched_world_pong (sched_world_t *self, sched_ingress_t *ingress);

//  True if the ingress received a message with the request id (left in the inbox).
bool
    sched_world_received (sched_ingress_t *ingress, const char *id);

#endif

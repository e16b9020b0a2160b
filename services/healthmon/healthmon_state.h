/*  =========================================================================
    healthmon_state - one backend's health: the state machine of health.md

    Pure logic, no I/O: probe results go in, the record of health.md comes
    out. A backend starts Unknown; HealthyThreshold successes in a row make
    it Healthy, UnhealthyThreshold failures in a row make it Unhealthy.
    Callers pass the current time, so tests can drive it.
    =========================================================================
*/

#ifndef HEALTHMON_STATE_H_INCLUDED
#define HEALTHMON_STATE_H_INCLUDED

#include "of_classes.h"

typedef enum {
    HEALTHMON_UNKNOWN,
    HEALTHMON_HEALTHY,
    HEALTHMON_UNHEALTHY
} healthmon_health_t;

typedef struct _healthmon_state_t healthmon_state_t;

//  Creates the state of a backend watched since now (a UTC timestamp):
//  Unknown, no probe yet. Thresholds are clamped to 1..OFP_HEALTH_COUNT_MAX.
healthmon_state_t *
    healthmon_state_new (int healthy_threshold, int unhealthy_threshold, const char *now);

//  Destroys the state; accepts NULL.
void
    healthmon_state_destroy (healthmon_state_t **self_p);

//  Changes the thresholds; the state and counters stay (the next probe
//  applies the new thresholds).
void
    healthmon_state_set_thresholds (healthmon_state_t *self, int healthy_threshold,
                                    int unhealthy_threshold);

//  Records one probe's result at time now. reason is truncated to
//  OFP_HEALTH_REASON_MAX bytes; latency_ms < 0 means no answer. Returns true
//  if the state changed (see healthmon_state_previous).
bool
    healthmon_state_record (healthmon_state_t *self, bool ok, const char *reason,
                            int64_t latency_ms, const char *now);

//  Starts over as Unknown, as for a new backend (its address or probe
//  changed). Returns true if the state changed.
bool
    healthmon_state_reset (healthmon_state_t *self, const char *now);

//  The current state, and the one before the last change.
healthmon_health_t
    healthmon_state_health (healthmon_state_t *self);
healthmon_health_t
    healthmon_state_previous (healthmon_state_t *self);

//  Consecutive successes and failures.
int
    healthmon_state_successes (healthmon_state_t *self);
int
    healthmon_state_failures (healthmon_state_t *self);

//  When the backend entered its state, and the last probe's reason. Borrowed.
const char *
    healthmon_state_since (healthmon_state_t *self);
const char *
    healthmon_state_reason (healthmon_state_t *self);

//  "Unknown", "Healthy" or "Unhealthy".
const char *
    healthmon_health_name (healthmon_health_t health);

//  The record of health.md for this backend: a new JSON object.
json_t *
    healthmon_state_record_json (healthmon_state_t *self, const char *backend);

//  Self test
void
    healthmon_state_test (bool verbose);

#endif

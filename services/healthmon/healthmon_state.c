/*  =========================================================================
    healthmon_state - one backend's health: the state machine of health.md
    =========================================================================
*/

#include "healthmon_state.h"

struct _healthmon_state_t {
    healthmon_health_t health;
    healthmon_health_t previous;
    int healthy_threshold;
    int unhealthy_threshold;
    int successes;
    int failures;
    char since [OFP_TIMESTAMP_LENGTH + 1];
    char last_check [OFP_TIMESTAMP_LENGTH + 1];     //  "" before the first probe
    char reason [OFP_HEALTH_REASON_MAX + 1];
    int64_t latency_ms;                             //  < 0: no answer
};

static int
s_clamp (int value)
{
    return value < 1 ? 1 : value > OFP_HEALTH_COUNT_MAX ? OFP_HEALTH_COUNT_MAX : value;
}

//  Copies a reason, truncated to the contract's limit at a character
//  boundary: a cut UTF-8 sequence would make the record invalid JSON text
static void
s_copy_reason (char *dest, size_t size, const char *reason)
{
    size_t length = strlen (reason);
    if (length >= size) {
        length = size - 1;
        while (length > 0 && ((unsigned char) reason [length] & 0xC0) == 0x80)
            length--;
    }
    memcpy (dest, reason, length);
    dest [length] = 0;
}

//  Enters a state at time now; true if it differs from the current one
static bool
s_enter (healthmon_state_t *self, healthmon_health_t health, const char *now)
{
    if (health == self->health)
        return false;
    self->previous = self->health;
    self->health = health;
    snprintf (self->since, sizeof self->since, "%s", now);
    return true;
}

healthmon_state_t *
healthmon_state_new (int healthy_threshold, int unhealthy_threshold, const char *now)
{
    assert (now);
    healthmon_state_t *self = (healthmon_state_t *) zmalloc (sizeof (healthmon_state_t));
    healthmon_state_set_thresholds (self, healthy_threshold, unhealthy_threshold);
    healthmon_state_reset (self, now);
    snprintf (self->since, sizeof self->since, "%s", now);
    return self;
}

void
healthmon_state_destroy (healthmon_state_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

void
healthmon_state_set_thresholds (healthmon_state_t *self, int healthy_threshold,
                                int unhealthy_threshold)
{
    assert (self);
    self->healthy_threshold = s_clamp (healthy_threshold);
    self->unhealthy_threshold = s_clamp (unhealthy_threshold);
}

bool
healthmon_state_record (healthmon_state_t *self, bool ok, const char *reason,
                        int64_t latency_ms, const char *now)
{
    assert (self && now);
    s_copy_reason (self->reason, sizeof self->reason, reason ? reason : "");
    snprintf (self->last_check, sizeof self->last_check, "%s", now);
    self->latency_ms = latency_ms;
    if (ok) {
        self->failures = 0;
        if (self->successes < OFP_HEALTH_COUNT_MAX)
            self->successes++;
        if (self->successes >= self->healthy_threshold)
            return s_enter (self, HEALTHMON_HEALTHY, now);
    }
    else {
        self->successes = 0;
        if (self->failures < OFP_HEALTH_COUNT_MAX)
            self->failures++;
        if (self->failures >= self->unhealthy_threshold)
            return s_enter (self, HEALTHMON_UNHEALTHY, now);
    }
    return false;
}

bool
healthmon_state_reset (healthmon_state_t *self, const char *now)
{
    assert (self && now);
    self->successes = 0;
    self->failures = 0;
    self->last_check [0] = 0;
    self->reason [0] = 0;
    self->latency_ms = -1;
    return s_enter (self, HEALTHMON_UNKNOWN, now);
}

healthmon_health_t
healthmon_state_health (healthmon_state_t *self)
{
    assert (self);
    return self->health;
}

healthmon_health_t
healthmon_state_previous (healthmon_state_t *self)
{
    assert (self);
    return self->previous;
}

int
healthmon_state_successes (healthmon_state_t *self)
{
    assert (self);
    return self->successes;
}

int
healthmon_state_failures (healthmon_state_t *self)
{
    assert (self);
    return self->failures;
}

const char *
healthmon_state_since (healthmon_state_t *self)
{
    assert (self);
    return self->since;
}

const char *
healthmon_state_reason (healthmon_state_t *self)
{
    assert (self);
    return self->reason;
}

const char *
healthmon_health_name (healthmon_health_t health)
{
    return health == HEALTHMON_HEALTHY     ? "Healthy"
           : health == HEALTHMON_UNHEALTHY ? "Unhealthy"
                                           : "Unknown";
}

json_t *
healthmon_state_record_json (healthmon_state_t *self, const char *backend)
{
    assert (self && backend);
    return json_pack ("{s:s, s:s, s:s, s:s, s:o, s:i, s:i, s:o}", "Backend", backend, "State",
                      healthmon_health_name (self->health), "Since", self->since, "Reason",
                      self->reason, "LastCheckUtc",
                      *self->last_check ? json_string (self->last_check) : json_null (),
                      "ConsecutiveSuccesses", self->successes, "ConsecutiveFailures",
                      self->failures, "LatencyMs",
                      self->latency_ms >= 0 ? json_integer (self->latency_ms) : json_null ());
}

//  --------------------------------------------------------------------------
//  Self test

#define S_T0 "2026-11-25T04:10:00.000000Z"
#define S_T1 "2026-11-25T04:10:01.000000Z"
#define S_T2 "2026-11-25T04:10:02.000000Z"
#define S_T3 "2026-11-25T04:10:03.000000Z"
#define S_T4 "2026-11-25T04:10:04.000000Z"

//  The record passes the codec's own checks, inside a TRANSITION
static void
s_check_record (healthmon_state_t *self)
{
    json_t *body = healthmon_state_record_json (self, "b1");
    json_object_set_new (body, "Epoch", json_string ("0123456789abcdef"));
    json_object_set_new (body, "Sequence", json_integer (1));
    json_object_set_new (body, "Previous", json_string (healthmon_health_name (
        healthmon_state_health (self) == HEALTHMON_UNKNOWN ? HEALTHMON_HEALTHY
                                                           : HEALTHMON_UNKNOWN)));
    ofp_msg_t *msg = ofp_msg_new (&ofp_health_protocol, "TRANSITION", NULL, &body);
    zmsg_t *zmsg = ofp_msg_encode (msg);
    ofp_msg_destroy (&msg);
    msg = ofp_msg_decode (&ofp_health_protocol, &zmsg, false);
    assert (ofp_msg_error (msg) == NULL);
    ofp_msg_destroy (&msg);
}

void
healthmon_state_test (bool verbose)
{
    printf (" * healthmon_state: ");
    if (verbose)
        printf ("\n");

    //  A new backend is Unknown, with no probe
    healthmon_state_t *state = healthmon_state_new (2, 3, S_T0);
    assert (healthmon_state_health (state) == HEALTHMON_UNKNOWN);
    assert (streq (healthmon_state_since (state), S_T0));
    json_t *record = healthmon_state_record_json (state, "b1");
    assert (json_is_null (json_object_get (record, "LastCheckUtc")));
    assert (json_is_null (json_object_get (record, "LatencyMs")));
    assert (streq (json_string_value (json_object_get (record, "Reason")), ""));
    json_decref (record);
    s_check_record (state);

    //  Unknown -> Healthy after HealthyThreshold successes, not before
    assert (!healthmon_state_record (state, true, "HTTP 200", 3, S_T1));
    assert (healthmon_state_health (state) == HEALTHMON_UNKNOWN);
    assert (streq (healthmon_state_since (state), S_T0));
    assert (healthmon_state_successes (state) == 1);
    assert (healthmon_state_record (state, true, "HTTP 200", 4, S_T2));
    assert (healthmon_state_health (state) == HEALTHMON_HEALTHY);
    assert (healthmon_state_previous (state) == HEALTHMON_UNKNOWN);
    assert (streq (healthmon_state_since (state), S_T2));
    //  More successes: no transition, Since kept, counter grows
    assert (!healthmon_state_record (state, true, "HTTP 200", 4, S_T3));
    assert (streq (healthmon_state_since (state), S_T2));
    assert (healthmon_state_successes (state) == 3);
    record = healthmon_state_record_json (state, "b1");
    assert (streq (json_string_value (json_object_get (record, "LastCheckUtc")), S_T3));
    assert (json_integer_value (json_object_get (record, "LatencyMs")) == 4);
    json_decref (record);
    s_check_record (state);

    //  Healthy -> Unhealthy after UnhealthyThreshold failures; a success in
    //  between resets the failures
    assert (!healthmon_state_record (state, false, "HTTP 503", 2, S_T3));
    assert (healthmon_state_successes (state) == 0 && healthmon_state_failures (state) == 1);
    assert (!healthmon_state_record (state, false, "HTTP 503", 2, S_T3));
    assert (!healthmon_state_record (state, true, "HTTP 200", 2, S_T3));
    assert (healthmon_state_failures (state) == 0 && healthmon_state_successes (state) == 1);
    assert (!healthmon_state_record (state, false, "connect: Connection refused", -1, S_T3));
    assert (!healthmon_state_record (state, false, "connect: Connection refused", -1, S_T3));
    assert (healthmon_state_health (state) == HEALTHMON_HEALTHY);
    assert (healthmon_state_record (state, false, "timeout after 2500 ms", -1, S_T4));
    assert (healthmon_state_health (state) == HEALTHMON_UNHEALTHY);
    assert (healthmon_state_previous (state) == HEALTHMON_HEALTHY);
    assert (streq (healthmon_state_since (state), S_T4));
    assert (streq (healthmon_state_reason (state), "timeout after 2500 ms"));
    s_check_record (state);

    //  Unhealthy -> Healthy again after HealthyThreshold successes
    assert (!healthmon_state_record (state, true, "HTTP 200", 1, S_T4));
    assert (healthmon_state_record (state, true, "HTTP 200", 1, S_T4));
    assert (healthmon_state_previous (state) == HEALTHMON_UNHEALTHY);

    //  A config change: back to Unknown, counters and last probe cleared
    assert (healthmon_state_reset (state, S_T1));
    assert (healthmon_state_health (state) == HEALTHMON_UNKNOWN);
    assert (healthmon_state_previous (state) == HEALTHMON_HEALTHY);
    assert (healthmon_state_successes (state) == 0 && healthmon_state_failures (state) == 0);
    assert (streq (healthmon_state_since (state), S_T1));
    assert (!healthmon_state_reset (state, S_T2));
    assert (streq (healthmon_state_since (state), S_T1));

    //  Unknown -> Unhealthy after UnhealthyThreshold failures
    healthmon_state_set_thresholds (state, 1, 1);
    assert (healthmon_state_record (state, false, "HTTP 500", 1, S_T2));
    assert (healthmon_state_health (state) == HEALTHMON_UNHEALTHY);
    assert (healthmon_state_previous (state) == HEALTHMON_UNKNOWN);
    healthmon_state_destroy (&state);
    assert (state == NULL);
    healthmon_state_destroy (&state);

    //  Out-of-range thresholds are clamped; long reasons are truncated to the limit
    state = healthmon_state_new (0, -5, S_T0);
    assert (healthmon_state_record (state, true, "HTTP 200", 1, S_T1));
    char reason [OFP_HEALTH_REASON_MAX * 2];
    memset (reason, 'x', sizeof reason - 1);
    //  A two-byte UTF-8 character straddling the limit is dropped whole
    reason [OFP_HEALTH_REASON_MAX - 1] = (char) 0xC3;
    reason [OFP_HEALTH_REASON_MAX] = (char) 0xA9;
    reason [sizeof reason - 1] = 0;
    healthmon_state_record (state, false, reason, -1, S_T1);
    assert (strlen (healthmon_state_reason (state)) == OFP_HEALTH_REASON_MAX - 1);
    assert (healthmon_state_health (state) == HEALTHMON_UNHEALTHY);
    s_check_record (state);
    healthmon_state_destroy (&state);

    printf ("OK\n");
}

/*  =========================================================================
    sched_health - what healthmon says about each backend
    =========================================================================
*/

#include "sched_health.h"
#include "sched_view.h"

struct _sched_health_t {
    zsock_t *socket;            //  SUB to healthmon
    zhashx_t *healthy;          //  backends that are Healthy (a set)
    bool heard;                 //  a STATE came: the healthy set is healthmon's
    uint64_t malformed;
};

sched_health_t *
sched_health_new (const char *publisher)
{
    sched_health_t *self = (sched_health_t *) zmalloc (sizeof (sched_health_t));
    self->healthy = zhashx_new ();
    if (publisher) {
        self->socket = sched_view_subscriber (publisher, OFP_HEALTH_SIGNATURE);
        if (!self->socket)
            sched_health_destroy (&self);
    }
    return self;
}

void
sched_health_destroy (sched_health_t **self_p)
{
    assert (self_p);
    sched_health_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->socket);
    zhashx_destroy (&self->healthy);
    free (self);
    *self_p = NULL;
}

zsock_t *
sched_health_socket (sched_health_t *self)
{
    assert (self);
    return self->socket;
}

static bool
s_apply (void *self, ofp_msg_t *msg)
{
    return sched_health_apply ((sched_health_t *) self, msg);
}

bool
sched_health_recv (sched_health_t *self)
{
    assert (self && self->socket);
    return sched_view_drain (self->socket, &ofp_health_protocol, s_apply, self);
}

//  Sets one backend's health from its record; true if that changed it
static bool
s_apply_record (zhashx_t *healthy, json_t *record)
{
    const char *backend = json_string_value (json_object_get (record, "Backend"));
    bool now = streq (json_string_value (json_object_get (record, "State")), "Healthy");
    bool before = zhashx_lookup (healthy, backend) != NULL;
    if (now && !before)
        zhashx_insert (healthy, backend, SCHED_VIEW_MEMBER);
    else if (before && !now)
        zhashx_delete (healthy, backend);
    return now != before;
}

//  A STATE: the healthy set becomes exactly its records
static bool
s_apply_state (zhashx_t **map_p, json_t *records)
{
    zhashx_t *map = zhashx_new ();
    size_t index;
    json_t *record;
    json_array_foreach (records, index, record)
        s_apply_record (map, record);
    bool changed = !sched_view_sets_equal (map, *map_p);
    zhashx_destroy (map_p);
    *map_p = map;
    return changed;
}

bool
sched_health_apply (sched_health_t *self, ofp_msg_t *msg)
{
    assert (self && msg);
    if (ofp_msg_error (msg) || ofp_msg_protocol (msg) != &ofp_health_protocol) {
        self->malformed++;
        return false;
    }
    json_t *body = ofp_msg_body (msg);
    if (ofp_msg_is (msg, "STATE")) {
        self->heard = true;
        return s_apply_state (&self->healthy, json_object_get (body, "Backends"));
    }
    if (ofp_msg_is (msg, "TRANSITION"))
        return s_apply_record (self->healthy, body);
    return false;
}

bool
sched_health_healthy (sched_health_t *self, const char *backend)
{
    assert (self && backend);
    return zhashx_lookup (self->healthy, backend) != NULL;
}

bool
sched_health_heard (sched_health_t *self)
{
    assert (self);
    return self->heard;
}

uint64_t
sched_health_malformed (sched_health_t *self)
{
    assert (self);
    return self->malformed;
}

//  --------------------------------------------------------------------------
//  Self test

#define S_EPOCH "0123456789abcdef"
#define S_SINCE "2025-01-01T00:00:00.000000Z"

//  A health STATE or TRANSITION of one backend, or a STATE of two
static ofp_msg_t *
s_health (const char *command, const char *backend, const char *state, const char *other,
          const char *other_state)
{
    json_t *records = json_array ();
    json_array_append_new (records, json_pack ("{s:s, s:s, s:s, s:s, s:i, s:i}", "Backend",
                                               backend, "State", state, "Since", S_SINCE,
                                               "Reason", "", "ConsecutiveSuccesses", 0,
                                               "ConsecutiveFailures", 0));
    if (other)
        json_array_append_new (records, json_pack ("{s:s, s:s, s:s, s:s, s:i, s:i}", "Backend",
                                                   other, "State", other_state, "Since",
                                                   S_SINCE, "Reason", "",
                                                   "ConsecutiveSuccesses", 0,
                                                   "ConsecutiveFailures", 0));
    json_t *body;
    if (streq (command, "STATE"))
        body = json_pack ("{s:s, s:i, s:i, s:o}", "Epoch", S_EPOCH, "Sequence", 1, "IntervalMs",
                          5000, "Backends", records);
    else {
        body = json_deep_copy (json_array_get (records, 0));
        json_decref (records);
        json_object_update_new (body, json_pack ("{s:s, s:i, s:s}", "Epoch", S_EPOCH,
                                                 "Sequence", 2, "Previous",
                                                 streq (state, "Healthy") ? "Unhealthy"
                                                                          : "Healthy"));
    }
    ofp_msg_t *msg = ofp_msg_new (&ofp_health_protocol, command, NULL, &body);
    //  Through the codec, as a subscriber receives it
    zmsg_t *zmsg = ofp_msg_encode (msg);
    ofp_msg_destroy (&msg);
    return ofp_msg_decode (&ofp_health_protocol, &zmsg, false);
}

static bool
s_test_apply (sched_health_t *self, ofp_msg_t *msg)
{
    assert (ofp_msg_error (msg) == NULL);
    bool changed = sched_health_apply (self, msg);
    ofp_msg_destroy (&msg);
    return changed;
}

void
sched_health_test (bool verbose)
{
    printf (" * sched_health: ");
    if (verbose)
        printf ("\n");
    sched_health_t *health = sched_health_new (NULL);
    assert (health && sched_health_socket (health) == NULL);

    //  Nobody is healthy until healthmon says so; Unknown is not healthy
    assert (!sched_health_healthy (health, "b1") && !sched_health_heard (health));
    assert (!s_test_apply (health, s_health ("TRANSITION", "b9", "Unknown", NULL, NULL)));
    assert (!sched_health_heard (health));
    assert (s_test_apply (health, s_health ("STATE", "b1", "Healthy", "b2", "Unknown")));
    assert (sched_health_heard (health));
    assert (sched_health_healthy (health, "b1") && !sched_health_healthy (health, "b2"));
    assert (!s_test_apply (health, s_health ("STATE", "b1", "Healthy", "b2", "Unhealthy")));
    assert (s_test_apply (health, s_health ("TRANSITION", "b2", "Healthy", NULL, NULL)));
    assert (sched_health_healthy (health, "b2"));
    assert (!s_test_apply (health, s_health ("TRANSITION", "b2", "Healthy", NULL, NULL)));
    //  A STATE replaces everything: b1 missing from it is Unknown
    assert (s_test_apply (health, s_health ("STATE", "b2", "Healthy", NULL, NULL)));
    assert (!sched_health_healthy (health, "b1") && sched_health_healthy (health, "b2"));

    //  Malformed messages are counted and change nothing
    zmsg_t *zmsg = zmsg_new ();
    zmsg_addstr (zmsg, OFP_HEALTH_SIGNATURE);
    zmsg_addstr (zmsg, "STATE");
    zmsg_addstr (zmsg, "{\"Epoch\":1}");
    ofp_msg_t *bad = ofp_msg_decode (&ofp_health_protocol, &zmsg, false);
    assert (!sched_health_apply (health, bad));
    ofp_msg_destroy (&bad);
    assert (sched_health_malformed (health) == 1);
    assert (sched_health_healthy (health, "b2"));
    sched_health_destroy (&health);
    printf ("OK\n");
}

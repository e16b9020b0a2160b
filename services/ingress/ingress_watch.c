/*  =========================================================================
    ingress_watch - the other services' published state, for the admin API
    =========================================================================
*/

#include "ingress_watch.h"

//  Pulls are keyed by backend and model; the separator cannot be in either
#define S_PULL_SEPARATOR "\x1f"

typedef enum { S_CONFIGD, S_SCHEDULER, S_HEALTHMON, S_MODELSYNC, S_FEEDS } s_feed_id_t;

typedef struct {
    ingress_watch_t *watch;
    s_feed_id_t id;
    const char *service;
    const ofp_protocol_t *protocol;
    zsock_t *sub;
    of_evzmq_t *events;
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t heard_at;               //  zclock_mono, 0 before the first message
    char heard_utc [OFP_TIMESTAMP_LENGTH + 1];
    int64_t sequence;
} s_feed_t;

struct _ingress_watch_t {
    int64_t liveness_ms;
    s_feed_t feeds [S_FEEDS];
    json_t *health;                 //  backend -> health record
    json_t *scheduler;              //  the last STATE body, or NULL
    json_t *inventories;            //  backend -> inventory
    json_t *pulls;                  //  backend<sep>model -> pull
};

//  Copies a published body without the numbering: what a record is
static json_t *
s_record (json_t *body)
{
    json_t *record = json_deep_copy (body);
    json_object_del (record, "Epoch");
    json_object_del (record, "Sequence");
    return record;
}

static void
s_set_pull (ingress_watch_t *self, json_t *pull)
{
    char key [OFP_IDENTIFIER_MAX + OFP_MODELS_NAME_MAX + 2];
    snprintf (key, sizeof key, "%s" S_PULL_SEPARATOR "%s",
              json_string_value (json_object_get (pull, "Backend")),
              json_string_value (json_object_get (pull, "Model")));
    json_object_set_new (self->pulls, key, s_record (pull));
}

//  A STATE list replaces a map: key field of each record to the record
static void
s_replace_map (json_t *map, json_t *records, const char *key)
{
    json_object_clear (map);
    size_t index;
    json_t *record;
    json_array_foreach (records, index, record)
        json_object_set (map, json_string_value (json_object_get (record, key)), record);
}

static void
s_apply (ingress_watch_t *self, s_feed_id_t id, ofp_msg_t *msg)
{
    json_t *body = ofp_msg_body (msg);
    if (id == S_SCHEDULER && ofp_msg_is (msg, "STATE")) {
        json_decref (self->scheduler);
        self->scheduler = json_incref (body);
    }
    else if (id == S_HEALTHMON && ofp_msg_is (msg, "STATE"))
        s_replace_map (self->health, json_object_get (body, "Backends"), "Backend");
    else if (id == S_HEALTHMON && ofp_msg_is (msg, "TRANSITION")) {
        json_t *record = s_record (body);
        json_object_del (record, "Previous");
        json_object_set_new (self->health, json_string_value (json_object_get (body, "Backend")),
                             record);
    }
    else if (id == S_MODELSYNC && ofp_msg_is (msg, "STATE")) {
        s_replace_map (self->inventories, json_object_get (body, "Inventories"), "Backend");
        json_object_clear (self->pulls);
        size_t index;
        json_t *pull;
        json_array_foreach (json_object_get (body, "Pulls"), index, pull)
            s_set_pull (self, pull);
    }
    else if (id == S_MODELSYNC && ofp_msg_is (msg, "INVENTORY"))
        json_object_set_new (self->inventories,
                             json_string_value (json_object_get (body, "Backend")),
                             s_record (body));
    else if (id == S_MODELSYNC && ofp_msg_is (msg, "PULL"))
        s_set_pull (self, body);
}

static void
s_on_input (zsock_t *sub, void *arg)
{
    s_feed_t *feed = (s_feed_t *) arg;
    while (zsock_events (sub) & ZMQ_POLLIN) {
        ofp_msg_t *msg = ofp_msg_recv (feed->protocol, sub);
        if (!msg)
            break;
        //  Malformed messages are the tap's business; here they are skipped
        if (!ofp_msg_error (msg)) {
            json_t *body = ofp_msg_body (msg);
            const char *epoch = json_string_value (json_object_get (body, "Epoch"));
            //  An OUTCOME carries its lease's epoch, which may be an old one
            if (epoch && !(feed->id == S_SCHEDULER && !ofp_msg_is (msg, "STATE")))
                snprintf (feed->epoch, sizeof feed->epoch, "%s", epoch);
            feed->sequence = json_integer_value (json_object_get (body, "Sequence"));
            feed->heard_at = zclock_mono ();
            of_schema_timestamp (feed->heard_utc, sizeof feed->heard_utc);
            s_apply (feed->watch, feed->id, msg);
        }
        ofp_msg_destroy (&msg);
    }
}

ingress_watch_t *
ingress_watch_new (struct event_base *base, of_settings_t *settings)
{
    assert (base && settings);
    ingress_watch_t *self = (ingress_watch_t *) zmalloc (sizeof (ingress_watch_t));
    self->liveness_ms = settings->liveness_ms;
    self->health = json_object ();
    self->inventories = json_object ();
    self->pulls = json_object ();
    const struct {
        const char *service;
        const ofp_protocol_t *protocol;
        const char *endpoint;
    } feeds [S_FEEDS] = {
        {"configd", &ofp_config_protocol, settings->config_publisher},
        {"scheduler", &ofp_lease_protocol, settings->scheduler_publisher},
        {"healthmon", &ofp_health_protocol, settings->health_publisher},
        {"modelsync", &ofp_models_protocol, settings->models_publisher},
    };
    for (int i = 0; i < S_FEEDS; i++) {
        s_feed_t *feed = &self->feeds [i];
        *feed = (s_feed_t) {.watch = self, .id = (s_feed_id_t) i, .service = feeds [i].service,
                            .protocol = feeds [i].protocol};
        feed->sub = zsock_new_sub (feeds [i].endpoint, feeds [i].protocol->signature);
        if (!feed->sub) {
            ingress_watch_destroy (&self);
            return NULL;
        }
        feed->events = of_evzmq_new (base, feed->sub, s_on_input, feed);
    }
    return self;
}

void
ingress_watch_destroy (ingress_watch_t **self_p)
{
    assert (self_p);
    ingress_watch_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < S_FEEDS; i++) {
        of_evzmq_destroy (&self->feeds [i].events);
        zsock_destroy (&self->feeds [i].sub);
    }
    json_decref (self->health);
    json_decref (self->scheduler);
    json_decref (self->inventories);
    json_decref (self->pulls);
    free (self);
    *self_p = NULL;
}

json_t *
ingress_watch_health (ingress_watch_t *self, const char *backend)
{
    assert (self && backend);
    return json_object_get (self->health, backend);
}

json_t *
ingress_watch_scheduler (ingress_watch_t *self)
{
    assert (self);
    return self->scheduler;
}

json_t *
ingress_watch_inventory (ingress_watch_t *self, const char *backend)
{
    assert (self && backend);
    return json_object_get (self->inventories, backend);
}

json_t *
ingress_watch_pulls (ingress_watch_t *self, const char *backend)
{
    assert (self);
    json_t *pulls = json_array ();
    const char *key;
    json_t *pull;
    json_object_foreach (self->pulls, key, pull)
        if (!backend || streq (json_string_value (json_object_get (pull, "Backend")), backend))
            json_array_append (pulls, pull);
    return pulls;
}

static s_feed_t *
s_feed (ingress_watch_t *self, const char *service)
{
    for (int i = 0; i < S_FEEDS; i++)
        if (streq (self->feeds [i].service, service))
            return &self->feeds [i];
    return NULL;
}

bool
ingress_watch_alive (ingress_watch_t *self, const char *service)
{
    assert (self && service);
    s_feed_t *feed = s_feed (self, service);
    return feed && feed->heard_at && zclock_mono () - feed->heard_at <= self->liveness_ms;
}

json_t *
ingress_watch_services (ingress_watch_t *self)
{
    assert (self);
    json_t *services = json_array ();
    int64_t now = zclock_mono ();
    for (int i = 0; i < S_FEEDS; i++) {
        s_feed_t *feed = &self->feeds [i];
        json_t *record = json_pack ("{s:s, s:b}", "Service", feed->service, "Alive",
                                    ingress_watch_alive (self, feed->service));
        if (feed->heard_at) {
            json_object_set_new (record, "Epoch", json_string (feed->epoch));
            json_object_set_new (record, "LastHeartbeatUtc", json_string (feed->heard_utc));
            json_object_set_new (record, "SilentMs", json_integer (now - feed->heard_at));
            json_object_set_new (record, "Sequence", json_integer (feed->sequence));
        }
        json_array_append_new (services, record);
    }
    return services;
}

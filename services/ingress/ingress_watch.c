/*  =========================================================================
    ingress_watch - every service's published state, followed once
    =========================================================================
*/

#include "ingress_watch.h"

//  Pulls are keyed by backend and model; the separator cannot be in either
#define S_PULL_SEPARATOR "\x1f"

typedef enum { S_SCHEDULER, S_HEALTHMON, S_MODELSYNC, S_FEEDS } s_feed_id_t;

static const ingress_feed_spec_t s_specs [S_FEEDS] = {
    {"scheduler", &ofp_lease_protocol, NULL, NULL, NULL, true, "OUTCOME"},
    {"healthmon", &ofp_health_protocol, "Backends", "TRANSITION", "Previous", false, NULL},
    {"modelsync", &ofp_models_protocol, "Inventories", "INVENTORY", NULL, false, NULL},
};

struct _ingress_watch_t {
    of_clone_t *clone;              //  configd's PUB, followed by the config copy
    ingress_feed_t *feeds [S_FEEDS];
    json_t *pulls;                  //  backend<sep>model -> pull
};

static void
s_set_pull (ingress_watch_t *self, json_t *pull)
{
    char key [OFP_IDENTIFIER_MAX + OFP_MODELS_NAME_MAX + 2];
    snprintf (key, sizeof key, "%s" S_PULL_SEPARATOR "%s",
              json_string_value (json_object_get (pull, "Backend")),
              json_string_value (json_object_get (pull, "Model")));
    json_t *record = json_deep_copy (pull);
    json_object_del (record, "Epoch");
    json_object_del (record, "Sequence");
    json_object_set_new (self->pulls, key, record);
}

//  modelsync's pulls: a STATE lists them all, a PULL replaces one
static void
s_on_models (void *arg, ofp_msg_t *msg)
{
    ingress_watch_t *self = (ingress_watch_t *) arg;
    json_t *body = ofp_msg_body (msg);
    if (ofp_msg_is (msg, "STATE")) {
        json_object_clear (self->pulls);
        size_t index;
        json_t *pull;
        json_array_foreach (json_object_get (body, "Pulls"), index, pull)
            s_set_pull (self, pull);
    }
    else if (ofp_msg_is (msg, "PULL"))
        s_set_pull (self, body);
}

ingress_watch_t *
ingress_watch_new (struct event_base *base, of_settings_t *settings, of_clone_t *clone)
{
    assert (base && settings && clone);
    ingress_watch_t *self = (ingress_watch_t *) zmalloc (sizeof (ingress_watch_t));
    self->clone = clone;
    self->pulls = json_object ();
    const char *endpoints [S_FEEDS] = {settings->scheduler_publisher, settings->health_publisher,
                                       settings->models_publisher};
    for (int i = 0; i < S_FEEDS; i++) {
        self->feeds [i] = ingress_feed_new (base, endpoints [i], settings->liveness_ms,
                                            &s_specs [i]);
        if (!self->feeds [i]) {
            ingress_watch_destroy (&self);
            return NULL;
        }
    }
    ingress_feed_add_handler (self->feeds [S_MODELSYNC], s_on_models, self);
    return self;
}

void
ingress_watch_destroy (ingress_watch_t **self_p)
{
    assert (self_p);
    ingress_watch_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < S_FEEDS; i++)
        ingress_feed_destroy (&self->feeds [i]);
    json_decref (self->pulls);
    free (self);
    *self_p = NULL;
}

ingress_feed_t *
ingress_watch_healthmon (ingress_watch_t *self)
{
    assert (self);
    return self->feeds [S_HEALTHMON];
}

ingress_feed_t *
ingress_watch_modelsync (ingress_watch_t *self)
{
    assert (self);
    return self->feeds [S_MODELSYNC];
}

json_t *
ingress_watch_health (ingress_watch_t *self, const char *backend)
{
    assert (self && backend);
    return ingress_feed_get (self->feeds [S_HEALTHMON], backend);
}

json_t *
ingress_watch_scheduler (ingress_watch_t *self)
{
    assert (self);
    return ingress_feed_state (self->feeds [S_SCHEDULER]);
}

json_t *
ingress_watch_inventory (ingress_watch_t *self, const char *backend)
{
    assert (self && backend);
    return ingress_feed_get (self->feeds [S_MODELSYNC], backend);
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

bool
ingress_watch_alive (ingress_watch_t *self, const char *service)
{
    assert (self && service);
    if (streq (service, "configd"))
        return of_clone_alive (self->clone);
    for (int i = 0; i < S_FEEDS; i++)
        if (streq (s_specs [i].service, service))
            return ingress_feed_alive (self->feeds [i]);
    return false;
}

json_t *
ingress_watch_services (ingress_watch_t *self)
{
    assert (self);
    json_t *services = json_array ();
    json_array_append_new (services, ingress_feed_liveness (
        "configd", of_clone_alive (self->clone), of_clone_epoch (self->clone),
        of_clone_heard (self->clone), of_clone_sequence (self->clone)));
    for (int i = 0; i < S_FEEDS; i++)
        json_array_append_new (services, ingress_feed_status (self->feeds [i]));
    return services;
}

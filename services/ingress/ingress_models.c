/*  =========================================================================
    ingress_models - the model routes of the ingress
    =========================================================================
*/

#include "ingress_models.h"
#include "ingress_admit.h"
#include "ingress_listing.h"
#include "ingress_pull.h"
#include "ingress_reply.h"

#define S_MODELS_PREFIX    "/v1/models/"
#define S_STALE_HEADER     "X-OllamaFlow-Stale"

static bool
s_modelsync_alive (void *arg)
{
    return ingress_feed_alive ((ingress_feed_t *) arg);
}

ingress_models_t *
ingress_models_new (struct event_base *base, of_settings_t *settings, of_clone_t *clone,
                    ingress_watch_t *watch, ingress_requester_t *configd)
{
    assert (base && settings && clone && watch && configd);
    ingress_models_t *self = (ingress_models_t *) zmalloc (sizeof (ingress_models_t));
    self->settings = settings;
    self->base = base;
    self->clone = clone;
    self->health = ingress_watch_healthmon (watch);
    self->inventory = ingress_watch_modelsync (watch);
    self->configd = configd;
    self->modelsync = ingress_requester_new (base, &ofp_models_protocol, settings->models_router,
                                             "models", settings->liveness_ms, s_modelsync_alive,
                                             self->inventory);
    if (!self->modelsync) {
        ingress_models_destroy (&self);
        return NULL;
    }
    self->required = ingress_required_new (self->configd, INGRESS_CONFIG_TIMEOUT_MS);
    self->pulls = ingress_pulls_new (self);
    return self;
}

void
ingress_models_destroy (ingress_models_t **self_p)
{
    assert (self_p);
    ingress_models_t *self = *self_p;
    if (!self)
        return;
    ingress_pulls_destroy (&self->pulls);
    ingress_required_destroy (&self->required);
    ingress_requester_destroy (&self->modelsync);
    free (self);
    *self_p = NULL;
}

json_t *
ingress_models_inventories (ingress_models_t *self, const of_frontend_t *frontend)
{
    assert (self && frontend);
    json_t *inventories = json_array ();
    of_records_t *records = of_clone_records (self->clone);
    for (size_t index = 0; index < frontend->backends.count; index++) {
        const char *name = frontend->backends.items [index];
        const of_backend_t *backend = of_records_backend (records, name);
        json_t *health = ingress_feed_get (self->health, name);
        json_t *inventory = ingress_feed_get (self->inventory, name);
        if (backend && backend->active && inventory
            && streq (json_string_value (json_object_get (health, "State")), "Healthy"))
            json_array_append (inventories, inventory);
    }
    return inventories;
}

//  The id of /v1/models/{id}, percent-decoded (clients escape ':' and '/')
static char *
s_model_id (of_exchange_t *exchange)
{
    const char *raw = of_exchange_path (exchange) + strlen (S_MODELS_PREFIX);
    size_t length = strlen (raw);
    unsigned char *id = (unsigned char *) zmalloc (length + 1);
    unsigned char *out = id;
    if (evhtp_unescape_string (&out, (unsigned char *) raw, length) != 0)
        snprintf ((char *) id, length + 1, "%s", raw);
    return (char *) id;
}

static void
s_listing (ingress_models_t *self, of_exchange_t *exchange, const of_frontend_t *frontend)
{
    if (!ingress_feed_ready (self->inventory) || !ingress_feed_ready (self->health)) {
        ingress_reply_error (exchange, 503, "not_ready", 1000,
                             "ollamaflow has no model inventory yet: %s has not published",
                             ingress_feed_ready (self->inventory) ? "healthmon" : "modelsync");
        return;
    }
    //  A silent publisher: its last word is served, and said to be old
    if (!ingress_feed_alive (self->inventory) || !ingress_feed_alive (self->health))
        of_exchange_add_header (exchange, S_STALE_HEADER,
                                ingress_feed_alive (self->inventory) ? "health" : "inventory");
    json_t *inventories = ingress_models_inventories (self, frontend);
    const char *path = of_exchange_path (exchange);
    json_t *body = NULL;
    if (streq (path, "/api/tags"))
        body = ingress_listing_tags (inventories);
    else if (streq (path, "/api/ps"))
        body = ingress_listing_ps (inventories);
    else if (streq (path, "/v1/models"))
        body = ingress_listing_openai (inventories);
    else {
        char *id = s_model_id (exchange);
        body = ingress_listing_openai_model (inventories, id);
        if (!body)
            ingress_reply_error (exchange, 404, "model_not_found", -1, "model '%s' not found",
                                 id);
        free (id);
    }
    json_decref (inventories);
    if (body)
        ingress_reply_json (exchange, 200, body);
}

void
ingress_models_handle (ingress_models_t *self, of_exchange_t *exchange,
                       const ingress_route_t *route)
{
    assert (self && exchange && route);
    if (route->action == INGRESS_VERSION) {
        //  Like "/": a liveness probe for clients, whatever the Host
        of_exchange_add_header (exchange, "X-OllamaFlow-Version", OF_VERSION);
        ingress_reply_json (exchange, 200, json_pack ("{s:s}", "version", INGRESS_OLLAMA_VERSION));
        return;
    }
    const of_key_t *key;
    const of_frontend_t *frontend = ingress_admit_frontend (self->clone, self->keys, exchange,
                                                            &key);
    if (!frontend)
        return;
    if (route->action == INGRESS_LISTING) {
        s_listing (self, exchange, frontend);
        return;
    }
    json_t *body = ingress_admit_body (exchange, frontend, route);
    if (!body)
        return;
    const char *model = json_string_value (json_object_get (body, "model"));
    if (!ingress_keys_admit_model (exchange, key,
                                   model ? model
                                         : json_string_value (json_object_get (body, "name")))) {
        json_decref (body);
        return;
    }
    if (route->action == INGRESS_PULL)
        ingress_pull_start (self, exchange, frontend, body);
    else
        ingress_pull_delete (self, exchange, frontend, body);
    json_decref (body);
}

//  --------------------------------------------------------------------------
//  Self test

void
ingress_models_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_models: ");
    //  The frontend's backends count only when active, Healthy and inventoried
    struct event_base *base = event_base_new ();
    char error [OF_SETTINGS_ERROR_MAX];
    of_settings_t *settings = of_settings_load (NULL, error, sizeof error);
    assert (base && settings);
    of_clone_t *clone = of_clone_new ("inproc://ingress_models_test_config_pub",
                                      "inproc://ingress_models_test_config", 1000);
    ingress_watch_t *watch = ingress_watch_new (base, settings, clone);
    ingress_requester_t *configd = ingress_requester_new (
        base, &ofp_config_protocol, "inproc://ingress_models_test_config", "configd", 1000, NULL,
        NULL);
    ingress_models_t *self = ingress_models_new (base, settings, clone, watch, configd);
    assert (self);
    const char *health =
        "{\"Epoch\":\"00000000000000aa\",\"Sequence\":1,\"IntervalMs\":1000,\"Backends\":["
        "{\"Backend\":\"a\",\"State\":\"Healthy\",\"Since\":\"2026-01-01T00:00:00.000000Z\","
        "\"Reason\":\"\",\"ConsecutiveSuccesses\":1,\"ConsecutiveFailures\":0}]}";
    json_t *body = json_loads (health, 0, NULL);
    ofp_msg_t *msg = ofp_msg_new (&ofp_health_protocol, "STATE", NULL, &body);
    ingress_feed_apply (self->health, msg);
    ofp_msg_destroy (&msg);
    json_t *frontends = json_pack ("{s:{s:s, s:[s, s]}}", "f", "Identifier", "f", "Backends",
                                   "a", "b");
    of_records_t *records = of_records_new (frontends, NULL, NULL, NULL);
    json_t *inventories = ingress_models_inventories (self, of_records_frontend (records, "f"));
    assert (json_array_size (inventories) == 0);        //  no config, no inventory
    json_decref (inventories);
    of_records_destroy (&records);
    json_decref (frontends);
    ingress_models_destroy (&self);
    ingress_models_destroy (&self);
    ingress_requester_destroy (&configd);
    ingress_watch_destroy (&watch);
    of_clone_destroy (&clone);
    of_settings_destroy (&settings);
    event_base_free (base);
    printf ("OK\n");
}

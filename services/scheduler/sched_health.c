/*  =========================================================================
    sched_health - what the monitors say about each backend
    =========================================================================
*/

#include "sched_health.h"

//  Value stored in a set: any non-NULL pointer
#define S_MEMBER ((void *) 1)

struct _sched_health_t {
    zsock_t *health;            //  SUB to healthmon
    zsock_t *models;            //  SUB to modelsync
    zhashx_t *healthy;          //  backends that are Healthy (a set)
    zhashx_t *inventories;      //  backend -> set of model keys, for fetched inventories
    zhashx_t *loaded;           //  backend -> set of the model keys it has loaded
    zhashx_t *pulls;            //  "backend\nmodel key" of the pulls running (a set)
    bool heard;                 //  a health STATE came: the healthy set is healthmon's
    uint64_t malformed;
};

static void
s_set_destroy (void **item)
{
    zhashx_destroy ((zhashx_t **) item);
}

static bool
s_sets_equal (zhashx_t *one, zhashx_t *two)
{
    if (zhashx_size (one) != zhashx_size (two))
        return false;
    for (void *item = zhashx_first (one); item; item = zhashx_next (one))
        if (!zhashx_lookup (two, (const char *) zhashx_cursor (one)))
            return false;
    return true;
}

static zsock_t *
s_subscriber (const char *endpoint, const char *signature)
{
    zsock_t *socket = zsock_new (ZMQ_SUB);
    assert (socket);
    zsock_set_linger (socket, 0);
    zsock_set_subscribe (socket, signature);
    if (zsock_connect (socket, "%s", endpoint) != 0)
        zsock_destroy (&socket);
    return socket;
}

sched_health_t *
sched_health_new (const char *health_publisher, const char *models_publisher)
{
    sched_health_t *self = (sched_health_t *) zmalloc (sizeof (sched_health_t));
    self->healthy = zhashx_new ();
    self->inventories = zhashx_new ();
    zhashx_set_destructor (self->inventories, s_set_destroy);
    self->loaded = zhashx_new ();
    zhashx_set_destructor (self->loaded, s_set_destroy);
    self->pulls = zhashx_new ();
    if (health_publisher)
        self->health = s_subscriber (health_publisher, OFP_HEALTH_SIGNATURE);
    if (models_publisher)
        self->models = s_subscriber (models_publisher, OFP_MODELS_SIGNATURE);
    if ((health_publisher && !self->health) || (models_publisher && !self->models))
        sched_health_destroy (&self);
    return self;
}

void
sched_health_destroy (sched_health_t **self_p)
{
    assert (self_p);
    sched_health_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->health);
    zsock_destroy (&self->models);
    zhashx_destroy (&self->healthy);
    zhashx_destroy (&self->inventories);
    zhashx_destroy (&self->loaded);
    zhashx_destroy (&self->pulls);
    free (self);
    *self_p = NULL;
}

zsock_t *
sched_health_health_socket (sched_health_t *self)
{
    assert (self);
    return self->health;
}

zsock_t *
sched_health_models_socket (sched_health_t *self)
{
    assert (self);
    return self->models;
}

bool
sched_health_recv (sched_health_t *self, zsock_t *socket)
{
    assert (self && socket);
    const ofp_protocol_t *protocol =
        socket == self->models ? &ofp_models_protocol : &ofp_health_protocol;
    bool changed = false;
    while (zsock_events (socket) & ZMQ_POLLIN) {
        ofp_msg_t *msg = ofp_msg_recv (protocol, socket);
        if (!msg)
            break;
        changed |= sched_health_apply (self, msg);
        ofp_msg_destroy (&msg);
    }
    return changed;
}

//  Sets one backend's health from its record; true if that changed it
static bool
s_apply_record (zhashx_t *healthy, json_t *record)
{
    const char *backend = json_string_value (json_object_get (record, "Backend"));
    bool now = streq (json_string_value (json_object_get (record, "State")), "Healthy");
    bool before = zhashx_lookup (healthy, backend) != NULL;
    if (now && !before)
        zhashx_insert (healthy, backend, S_MEMBER);
    else if (before && !now)
        zhashx_delete (healthy, backend);
    return now != before;
}

//  The set of model keys of an inventory's list, or NULL if it was never fetched
static zhashx_t *
s_inventory_keys (json_t *inventory, const char *list)
{
    if (!ofp_check_present (inventory, "FetchedUtc"))
        return NULL;
    zhashx_t *models = zhashx_new ();
    size_t index;
    json_t *model;
    char key [OFP_MODELS_KEY_MAX];
    json_array_foreach (json_object_get (inventory, list), index, model) {
        ofp_models_key (key, json_string_value (json_object_get (model, "Name")));
        zhashx_insert (models, key, S_MEMBER);
    }
    return models;
}

//  Replaces one backend's inventory (and loaded models) in the maps; true
//  if that changed its models
static bool
s_apply_inventory (zhashx_t *inventories, zhashx_t *loaded, json_t *inventory)
{
    const char *backend = json_string_value (json_object_get (inventory, "Backend"));
    zhashx_t *models = s_inventory_keys (inventory, "Models");
    zhashx_t *before = (zhashx_t *) zhashx_lookup (inventories, backend);
    bool changed = (models == NULL) != (before == NULL)
                   || (models && !s_sets_equal (models, before));
    if (models)
        zhashx_update (inventories, backend, models);
    else
        zhashx_delete (inventories, backend);
    zhashx_t *running = s_inventory_keys (inventory, "Loaded");
    if (running)
        zhashx_update (loaded, backend, running);
    else
        zhashx_delete (loaded, backend);
    return changed;
}

//  The key of a pull in the set of pulls running
static void
s_pull_key (char *dest, size_t size, json_t *pull)
{
    char model [OFP_MODELS_KEY_MAX];
    ofp_models_key (model, json_string_value (json_object_get (pull, "Model")));
    snprintf (dest, size, "%s\n%s", json_string_value (json_object_get (pull, "Backend")), model);
}

#define S_PULL_KEY_MAX (OFP_IDENTIFIER_MAX + OFP_MODELS_KEY_MAX + 2)

//  Notes a pull's progress; true if it started or ended
static bool
s_apply_pull (zhashx_t *pulls, json_t *pull)
{
    char key [S_PULL_KEY_MAX];
    s_pull_key (key, sizeof key, pull);
    bool running = !json_is_true (json_object_get (pull, "Done"));
    bool before = zhashx_lookup (pulls, key) != NULL;
    if (running && !before)
        zhashx_insert (pulls, key, S_MEMBER);
    else if (!running && before)
        zhashx_delete (pulls, key);
    return running != before;
}

//  A models STATE: inventories, loaded models and pulls become its own
static bool
s_apply_models_state (sched_health_t *self, json_t *body)
{
    zhashx_t *inventories = zhashx_new ();
    zhashx_set_destructor (inventories, s_set_destroy);
    zhashx_t *loaded = zhashx_new ();
    zhashx_set_destructor (loaded, s_set_destroy);
    zhashx_t *pulls = zhashx_new ();
    size_t index;
    json_t *record;
    json_array_foreach (json_object_get (body, "Inventories"), index, record)
        s_apply_inventory (inventories, loaded, record);
    json_array_foreach (json_object_get (body, "Pulls"), index, record)
        s_apply_pull (pulls, record);
    //  Applied to empty maps, every record "changed" them: compare with the old ones
    bool changed = zhashx_size (inventories) != zhashx_size (self->inventories)
                   || !s_sets_equal (pulls, self->pulls);
    for (zhashx_t *models = (zhashx_t *) zhashx_first (inventories); models && !changed;
         models = (zhashx_t *) zhashx_next (inventories)) {
        zhashx_t *before = (zhashx_t *) zhashx_lookup (self->inventories,
                                                       (const char *) zhashx_cursor (inventories));
        changed = !before || !s_sets_equal (models, before);
    }
    zhashx_destroy (&self->inventories);
    zhashx_destroy (&self->loaded);
    zhashx_destroy (&self->pulls);
    self->inventories = inventories;
    self->loaded = loaded;
    self->pulls = pulls;
    return changed;
}

//  A health STATE: the healthy set becomes exactly its records
static bool
s_apply_health_state (zhashx_t **map_p, json_t *records)
{
    zhashx_t *map = zhashx_new ();
    size_t index;
    json_t *record;
    json_array_foreach (records, index, record)
        s_apply_record (map, record);
    bool changed = !s_sets_equal (map, *map_p);
    zhashx_destroy (map_p);
    *map_p = map;
    return changed;
}

bool
sched_health_apply (sched_health_t *self, ofp_msg_t *msg)
{
    assert (self && msg);
    if (ofp_msg_error (msg)) {
        self->malformed++;
        return false;
    }
    json_t *body = ofp_msg_body (msg);
    bool models = ofp_msg_protocol (msg) == &ofp_models_protocol;
    if (ofp_msg_is (msg, "STATE") && models)
        return s_apply_models_state (self, body);
    if (ofp_msg_is (msg, "STATE")) {
        self->heard = true;
        return s_apply_health_state (&self->healthy, json_object_get (body, "Backends"));
    }
    if (!models && ofp_msg_is (msg, "TRANSITION"))
        return s_apply_record (self->healthy, body);
    if (models && ofp_msg_is (msg, "INVENTORY"))
        return s_apply_inventory (self->inventories, self->loaded, body);
    if (models && ofp_msg_is (msg, "PULL"))
        return s_apply_pull (self->pulls, body);
    return false;
}

bool
sched_health_healthy (sched_health_t *self, const char *backend)
{
    assert (self && backend);
    return zhashx_lookup (self->healthy, backend) != NULL;
}

bool
sched_health_has_model (sched_health_t *self, const char *backend, const char *model)
{
    assert (self && backend && model);
    if (*model == 0)
        return true;
    zhashx_t *models = (zhashx_t *) zhashx_lookup (self->inventories, backend);
    if (!models)
        return true;
    char key [OFP_MODELS_KEY_MAX];
    ofp_models_key (key, model);
    return zhashx_lookup (models, key) != NULL;
}

bool
sched_health_heard (sched_health_t *self)
{
    assert (self);
    return self->heard;
}

bool
sched_health_known (sched_health_t *self, const char *backend)
{
    assert (self && backend);
    return zhashx_lookup (self->inventories, backend) != NULL;
}

bool
sched_health_loaded (sched_health_t *self, const char *backend, const char *model)
{
    assert (self && backend && model);
    zhashx_t *loaded = (zhashx_t *) zhashx_lookup (self->loaded, backend);
    char key [OFP_MODELS_KEY_MAX];
    ofp_models_key (key, model);
    return *model && loaded && zhashx_lookup (loaded, key) != NULL;
}

size_t
sched_health_loaded_models (sched_health_t *self, const char *backend, const char **models,
                            size_t max)
{
    assert (self && backend);
    zhashx_t *loaded = (zhashx_t *) zhashx_lookup (self->loaded, backend);
    if (!loaded)
        return 0;
    size_t count = 0;
    for (void *item = zhashx_first (loaded); item; item = zhashx_next (loaded), count++)
        if (count < max)
            models [count] = (const char *) zhashx_cursor (loaded);
    return count;
}

bool
sched_health_pulling (sched_health_t *self, const char *backend, const char *model)
{
    assert (self && backend && model);
    char key [S_PULL_KEY_MAX];
    char model_key [OFP_MODELS_KEY_MAX];
    ofp_models_key (model_key, model);
    snprintf (key, sizeof key, "%s\n%s", backend, model_key);
    return *model && zhashx_lookup (self->pulls, key) != NULL;
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

static ofp_msg_t *
s_inventory (const char *backend, const char *model, bool fetched)
{
    json_t *body = json_pack ("{s:s, s:i, s:s, s:s, s:[{s:s, s:s, s:{}}], s:[{s:s}]}", "Epoch",
                              S_EPOCH, "Sequence", 3, "Backend", backend, "ApiFormat", "Ollama",
                              "Models", "Name", model, "Model", model, "Details", "Loaded",
                              "Name", model);
    if (fetched)
        json_object_set_new (body, "FetchedUtc", json_string (S_SINCE));
    ofp_msg_t *msg = ofp_msg_new (&ofp_models_protocol, "INVENTORY", NULL, &body);
    zmsg_t *zmsg = ofp_msg_encode (msg);
    ofp_msg_destroy (&msg);
    return ofp_msg_decode (&ofp_models_protocol, &zmsg, false);
}

//  A models message from its JSON text, through the codec
static ofp_msg_t *
s_models (const char *command, const char *text)
{
    zmsg_t *zmsg = zmsg_new ();
    zmsg_addstr (zmsg, OFP_MODELS_SIGNATURE);
    zmsg_addstr (zmsg, command);
    zmsg_addstr (zmsg, text);
    return ofp_msg_decode (&ofp_models_protocol, &zmsg, false);
}

static bool
s_apply (sched_health_t *self, ofp_msg_t *msg)
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
    sched_health_t *health = sched_health_new (NULL, NULL);
    assert (health);

    //  Nobody is healthy until healthmon says so; Unknown is not healthy
    assert (!sched_health_healthy (health, "b1") && !sched_health_heard (health));
    assert (!s_apply (health, s_health ("TRANSITION", "b9", "Unknown", NULL, NULL)));
    assert (!sched_health_heard (health));
    assert (s_apply (health, s_health ("STATE", "b1", "Healthy", "b2", "Unknown")));
    assert (sched_health_heard (health));
    assert (sched_health_healthy (health, "b1") && !sched_health_healthy (health, "b2"));
    assert (!s_apply (health, s_health ("STATE", "b1", "Healthy", "b2", "Unhealthy")));
    assert (s_apply (health, s_health ("TRANSITION", "b2", "Healthy", NULL, NULL)));
    assert (sched_health_healthy (health, "b2"));
    assert (!s_apply (health, s_health ("TRANSITION", "b2", "Healthy", NULL, NULL)));
    //  A STATE replaces everything: b1 missing from it is Unknown
    assert (s_apply (health, s_health ("STATE", "b2", "Healthy", NULL, NULL)));
    assert (!sched_health_healthy (health, "b1") && sched_health_healthy (health, "b2"));

    //  Inventories: unknown means no filter; names without a tag are ":latest"
    assert (sched_health_has_model (health, "b1", "llama3"));
    assert (!sched_health_known (health, "b1"));
    assert (!s_apply (health, s_inventory ("b1", "llama3:latest", false)));
    assert (sched_health_has_model (health, "b1", "mistral"));
    assert (s_apply (health, s_inventory ("b1", "llama3:latest", true)));
    assert (sched_health_known (health, "b1") && !sched_health_known (health, "b2"));
    assert (sched_health_has_model (health, "b1", "llama3"));
    assert (sched_health_has_model (health, "b1", "llama3:latest"));
    assert (!sched_health_has_model (health, "b1", "llama3:8b"));
    assert (!sched_health_has_model (health, "b1", "mistral"));
    assert (sched_health_has_model (health, "b1", ""));
    assert (!s_apply (health, s_inventory ("b1", "llama3", true)));
    assert (s_apply (health, s_inventory ("b1", "registry:5000/x/qwen", true)));
    assert (sched_health_has_model (health, "b1", "registry:5000/x/qwen:latest"));
    assert (sched_health_loaded (health, "b1", "registry:5000/x/qwen"));
    assert (!sched_health_loaded (health, "b1", "llama3") && !sched_health_loaded (health, "b2", ""));
    const char *listed [2];
    assert (sched_health_loaded_models (health, "b1", listed, 2) == 1);
    assert (sched_health_loaded (health, "b1", listed [0]));
    assert (sched_health_loaded_models (health, "b9", listed, 2) == 0);

    //  Pulls: a PULL starts or ends one; STATE replaces them all
    const char *pulling = "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":4,\"Backend\":\"b2\","
                          "\"Model\":\"Qwen\",\"Status\":\"pulling manifest\",\"Done\":false}";
    const char *pulled = "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":5,\"Backend\":\"b2\","
                         "\"Model\":\"qwen\",\"Status\":\"success\",\"Done\":true}";
    assert (!sched_health_pulling (health, "b2", "qwen"));
    assert (s_apply (health, s_models ("PULL", pulling)));
    assert (!s_apply (health, s_models ("PULL", pulling)));
    assert (sched_health_pulling (health, "b2", "qwen:latest"));
    assert (!sched_health_pulling (health, "b1", "qwen"));
    assert (s_apply (health, s_models ("PULL", pulled)));
    assert (!sched_health_pulling (health, "b2", "qwen"));
    assert (s_apply (health, s_models ("STATE", "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":6,"
                                       "\"Inventories\":[],\"Pulls\":[{\"Backend\":\"b2\","
                                       "\"Model\":\"m\",\"Status\":\"\",\"Done\":false}]}")));
    assert (sched_health_pulling (health, "b2", "m"));
    //  That STATE listed no inventory: b1's is unknown again
    assert (sched_health_has_model (health, "b1", "x"));

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

    //  Over real sockets
    health = sched_health_new ("inproc://sched-health-test", "inproc://sched-models-test");
    zsock_t *publisher = zsock_new_pub ("inproc://sched-health-test");
    assert (health && publisher);
    int64_t deadline = zclock_mono () + 5000;
    while (!sched_health_healthy (health, "b7") && zclock_mono () < deadline) {
        //  The subscription takes a moment to reach the publisher
        ofp_msg_t *state = s_health ("STATE", "b7", "Healthy", NULL, NULL);
        ofp_msg_send (&state, publisher);
        zpoller_t *poller = zpoller_new (sched_health_health_socket (health), NULL);
        if (zpoller_wait (poller, 50))
            sched_health_recv (health, sched_health_health_socket (health));
        zpoller_destroy (&poller);
    }
    assert (sched_health_healthy (health, "b7"));
    zsock_destroy (&publisher);
    sched_health_destroy (&health);
    sched_health_destroy (&health);
    printf ("OK\n");
}

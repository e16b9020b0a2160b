/*  =========================================================================
    sched_models - what modelsync says about each backend's models
    =========================================================================
*/

#include "sched_models.h"
#include "sched_view.h"

#define S_PULL_KEY_MAX (OFP_IDENTIFIER_MAX + OFP_MODELS_KEY_MAX + 2)

struct _sched_models_t {
    zsock_t *socket;            //  SUB to modelsync
    zhashx_t *inventories;      //  backend -> set of model keys, for fetched inventories
    zhashx_t *loaded;           //  backend -> set of the model keys it has loaded
    zhashx_t *pulls;            //  "backend\nmodel key" of the pulls running (a set)
    zhashx_t *reported;         //  backends with an inventory record, fetched or not (a set)
    uint64_t malformed;
};

//  A map from backend to a set of model keys
static zhashx_t *
s_map_new (void)
{
    zhashx_t *map = zhashx_new ();
    zhashx_set_destructor (map, sched_view_set_destroy);
    return map;
}

sched_models_t *
sched_models_new (const char *publisher)
{
    sched_models_t *self = (sched_models_t *) zmalloc (sizeof (sched_models_t));
    self->inventories = s_map_new ();
    self->loaded = s_map_new ();
    self->pulls = zhashx_new ();
    self->reported = zhashx_new ();
    if (publisher) {
        self->socket = sched_view_subscriber (publisher, OFP_MODELS_SIGNATURE);
        if (!self->socket)
            sched_models_destroy (&self);
    }
    return self;
}

void
sched_models_destroy (sched_models_t **self_p)
{
    assert (self_p);
    sched_models_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->socket);
    zhashx_destroy (&self->inventories);
    zhashx_destroy (&self->loaded);
    zhashx_destroy (&self->pulls);
    zhashx_destroy (&self->reported);
    free (self);
    *self_p = NULL;
}

zsock_t *
sched_models_socket (sched_models_t *self)
{
    assert (self);
    return self->socket;
}

static bool
s_apply (void *self, ofp_msg_t *msg)
{
    return sched_models_apply ((sched_models_t *) self, msg);
}

bool
sched_models_recv (sched_models_t *self)
{
    assert (self && self->socket);
    return sched_view_drain (self->socket, &ofp_models_protocol, s_apply, self);
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
        zhashx_insert (models, key, SCHED_VIEW_MEMBER);
    }
    return models;
}

//  Replaces one backend's inventory (and loaded models) in the maps; true
//  if that changed its models
static bool
s_apply_inventory (zhashx_t *inventories, zhashx_t *loaded, zhashx_t *reported,
                   json_t *inventory)
{
    const char *backend = json_string_value (json_object_get (inventory, "Backend"));
    //  First word of a backend, even of a fetch that failed: from now on a
    //  backend known to have a model is not preferred to it (sched_pick)
    bool first = !zhashx_lookup (reported, backend);
    if (first)
        zhashx_insert (reported, backend, SCHED_VIEW_MEMBER);
    zhashx_t *models = s_inventory_keys (inventory, "Models");
    zhashx_t *before = (zhashx_t *) zhashx_lookup (inventories, backend);
    bool changed = first || (models == NULL) != (before == NULL)
                   || (models && !sched_view_sets_equal (models, before));
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
s_pull_key (char *dest, size_t size, const char *backend, const char *model)
{
    char model_key [OFP_MODELS_KEY_MAX];
    ofp_models_key (model_key, model);
    snprintf (dest, size, "%s\n%s", backend, model_key);
}

//  Notes a pull's progress; true if it started or ended
static bool
s_apply_pull (zhashx_t *pulls, json_t *pull)
{
    char key [S_PULL_KEY_MAX];
    s_pull_key (key, sizeof key, json_string_value (json_object_get (pull, "Backend")),
                json_string_value (json_object_get (pull, "Model")));
    bool running = !json_is_true (json_object_get (pull, "Done"));
    bool before = zhashx_lookup (pulls, key) != NULL;
    if (running && !before)
        zhashx_insert (pulls, key, SCHED_VIEW_MEMBER);
    else if (!running && before)
        zhashx_delete (pulls, key);
    return running != before;
}

//  A STATE: inventories, loaded models and pulls become its own
static bool
s_apply_state (sched_models_t *self, json_t *body)
{
    zhashx_t *inventories = s_map_new ();
    zhashx_t *loaded = s_map_new ();
    zhashx_t *pulls = zhashx_new ();
    zhashx_t *reported = zhashx_new ();
    size_t index;
    json_t *record;
    json_array_foreach (json_object_get (body, "Inventories"), index, record)
        s_apply_inventory (inventories, loaded, reported, record);
    json_array_foreach (json_object_get (body, "Pulls"), index, record)
        s_apply_pull (pulls, record);
    //  Applied to empty maps, every record "changed" them: compare with the old ones
    bool changed = zhashx_size (inventories) != zhashx_size (self->inventories)
                   || !sched_view_sets_equal (pulls, self->pulls)
                   || !sched_view_sets_equal (reported, self->reported);
    for (zhashx_t *models = (zhashx_t *) zhashx_first (inventories); models && !changed;
         models = (zhashx_t *) zhashx_next (inventories)) {
        zhashx_t *before = (zhashx_t *) zhashx_lookup (self->inventories,
                                                       (const char *) zhashx_cursor (inventories));
        changed = !before || !sched_view_sets_equal (models, before);
    }
    zhashx_destroy (&self->inventories);
    zhashx_destroy (&self->loaded);
    zhashx_destroy (&self->pulls);
    zhashx_destroy (&self->reported);
    self->inventories = inventories;
    self->loaded = loaded;
    self->pulls = pulls;
    self->reported = reported;
    return changed;
}

bool
sched_models_apply (sched_models_t *self, ofp_msg_t *msg)
{
    assert (self && msg);
    if (ofp_msg_error (msg) || ofp_msg_protocol (msg) != &ofp_models_protocol) {
        self->malformed++;
        return false;
    }
    json_t *body = ofp_msg_body (msg);
    if (ofp_msg_is (msg, "STATE"))
        return s_apply_state (self, body);
    if (ofp_msg_is (msg, "INVENTORY"))
        return s_apply_inventory (self->inventories, self->loaded, self->reported, body);
    if (ofp_msg_is (msg, "PULL"))
        return s_apply_pull (self->pulls, body);
    return false;
}

bool
sched_models_has (sched_models_t *self, const char *backend, const char *model)
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
sched_models_reported (sched_models_t *self, const char *backend)
{
    assert (self && backend);
    return zhashx_lookup (self->reported, backend) != NULL;
}

bool
sched_models_known (sched_models_t *self, const char *backend)
{
    assert (self && backend);
    return zhashx_lookup (self->inventories, backend) != NULL;
}

bool
sched_models_loaded (sched_models_t *self, const char *backend, const char *model)
{
    assert (self && backend && model);
    zhashx_t *loaded = (zhashx_t *) zhashx_lookup (self->loaded, backend);
    char key [OFP_MODELS_KEY_MAX];
    ofp_models_key (key, model);
    return *model && loaded && zhashx_lookup (loaded, key) != NULL;
}

size_t
sched_models_loaded_list (sched_models_t *self, const char *backend, const char **models,
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
sched_models_pulling (sched_models_t *self, const char *backend, const char *model)
{
    assert (self && backend && model);
    char key [S_PULL_KEY_MAX];
    s_pull_key (key, sizeof key, backend, model);
    return *model && zhashx_lookup (self->pulls, key) != NULL;
}

uint64_t
sched_models_malformed (sched_models_t *self)
{
    assert (self);
    return self->malformed;
}

//  --------------------------------------------------------------------------
//  Self test

#define S_EPOCH "0123456789abcdef"
#define S_SINCE "2025-01-01T00:00:00.000000Z"

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
    //  Through the codec, as a subscriber receives it
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
s_test_apply (sched_models_t *self, ofp_msg_t *msg)
{
    assert (ofp_msg_error (msg) == NULL);
    bool changed = sched_models_apply (self, msg);
    ofp_msg_destroy (&msg);
    return changed;
}

void
sched_models_test (bool verbose)
{
    printf (" * sched_models: ");
    if (verbose)
        printf ("\n");
    sched_models_t *models = sched_models_new (NULL);
    assert (models && sched_models_socket (models) == NULL);

    //  Inventories: unknown means no filter; names without a tag are ":latest"
    assert (sched_models_has (models, "b1", "llama3"));
    assert (!sched_models_known (models, "b1") && !sched_models_reported (models, "b1"));
    //  A fetch that failed before any success: still unknown, but reported
    //  (a change: it no longer yields to a backend known to have a model)
    assert (s_test_apply (models, s_inventory ("b1", "llama3:latest", false)));
    assert (!s_test_apply (models, s_inventory ("b1", "llama3:latest", false)));
    assert (sched_models_has (models, "b1", "mistral"));
    assert (!sched_models_known (models, "b1") && sched_models_reported (models, "b1"));
    assert (s_test_apply (models, s_inventory ("b1", "llama3:latest", true)));
    assert (sched_models_known (models, "b1") && !sched_models_known (models, "b2"));
    assert (sched_models_has (models, "b1", "llama3"));
    assert (sched_models_has (models, "b1", "llama3:latest"));
    assert (!sched_models_has (models, "b1", "llama3:8b"));
    assert (!sched_models_has (models, "b1", "mistral"));
    assert (sched_models_has (models, "b1", ""));
    assert (!s_test_apply (models, s_inventory ("b1", "llama3", true)));
    assert (s_test_apply (models, s_inventory ("b1", "registry:5000/x/qwen", true)));
    assert (sched_models_has (models, "b1", "registry:5000/x/qwen:latest"));
    assert (sched_models_loaded (models, "b1", "registry:5000/x/qwen"));
    assert (!sched_models_loaded (models, "b1", "llama3") && !sched_models_loaded (models, "b2", ""));
    const char *listed [2];
    assert (sched_models_loaded_list (models, "b1", listed, 2) == 1);
    assert (sched_models_loaded (models, "b1", listed [0]));
    assert (sched_models_loaded_list (models, "b9", listed, 2) == 0);

    //  Pulls: a PULL starts or ends one; STATE replaces them all
    const char *pulling = "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":4,\"Backend\":\"b2\","
                          "\"Model\":\"Qwen\",\"Status\":\"pulling manifest\",\"Done\":false}";
    const char *pulled = "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":5,\"Backend\":\"b2\","
                         "\"Model\":\"qwen\",\"Status\":\"success\",\"Done\":true}";
    assert (!sched_models_pulling (models, "b2", "qwen"));
    assert (s_test_apply (models, s_models ("PULL", pulling)));
    assert (!s_test_apply (models, s_models ("PULL", pulling)));
    assert (sched_models_pulling (models, "b2", "qwen:latest"));
    assert (!sched_models_pulling (models, "b1", "qwen"));
    assert (s_test_apply (models, s_models ("PULL", pulled)));
    assert (!sched_models_pulling (models, "b2", "qwen"));
    assert (s_test_apply (models, s_models ("STATE", "{\"Epoch\":\"" S_EPOCH "\",\"Sequence\":6,"
                                            "\"Inventories\":[],\"Pulls\":[{\"Backend\":\"b2\","
                                            "\"Model\":\"m\",\"Status\":\"\",\"Done\":false}]}")));
    assert (sched_models_pulling (models, "b2", "m"));
    //  That STATE listed no inventory: b1's is unknown again, and not reported
    assert (sched_models_has (models, "b1", "x") && !sched_models_reported (models, "b1"));

    //  Malformed messages are counted and change nothing
    ofp_msg_t *bad = s_models ("PULL", "{\"Epoch\":1}");
    assert (ofp_msg_error (bad));
    assert (!sched_models_apply (models, bad));
    ofp_msg_destroy (&bad);
    assert (sched_models_malformed (models) == 1 && sched_models_pulling (models, "b2", "m"));
    sched_models_destroy (&models);
    printf ("OK\n");
}

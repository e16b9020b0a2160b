/*  =========================================================================
    modelsync_backend - one backend modelsync watches
    =========================================================================
*/

#include "modelsync_backend.h"
#include "modelsync_http.h"
#include "modelsync_parse.h"

//  One of a fetch's requests
typedef struct {
    modelsync_backend_t *owner;
    modelsync_http_t *http;
    json_t *(*parse) (const char *, size_t, char *, size_t);
    json_t *result;             //  the parsed list, when good
    char error [MODELSYNC_PARSE_ERROR_MAX];
    bool over;
} s_part_t;

struct _modelsync_backend_t {
    of_upstream_pool_t *pool;
    struct event_base *base;
    int64_t timeout_ms;
    modelsync_backend_fn *fetched;
    void *arg;
    char *id;
    of_records_t *records;      //  a reference to the set of its record
    const of_backend_t *config; //  its record
    bool openai;
    bool healthy;
    //  The inventory
    json_t *models;
    json_t *loaded;
    zhashx_t *keys;             //  model keys of models
    char fetched_utc [OFP_TIMESTAMP_LENGTH + 1];
    char *error;
    //  The fetch
    s_part_t parts [2];         //  tags (or /v1/models), ps
    size_t part_count;
    bool again;
    uint64_t generation;
};

modelsync_backend_t *
modelsync_backend_new (of_upstream_pool_t *pool, struct event_base *base, of_records_t *records,
                       const of_backend_t *config, int64_t timeout_ms,
                       modelsync_backend_fn *fetched, void *arg)
{
    assert (pool && base && records && config && fetched);
    modelsync_backend_t *self = (modelsync_backend_t *) zmalloc (sizeof (modelsync_backend_t));
    self->pool = pool;
    self->base = base;
    self->timeout_ms = timeout_ms;
    self->fetched = fetched;
    self->arg = arg;
    self->id = strdup (config->identifier);
    self->models = json_array ();
    self->loaded = json_array ();
    self->keys = zhashx_new ();
    modelsync_backend_set_config (self, records, config);
    return self;
}

static void
s_drop_fetch (modelsync_backend_t *self)
{
    for (size_t index = 0; index < self->part_count; index++) {
        modelsync_http_destroy (&self->parts [index].http);
        json_decref (self->parts [index].result);
    }
    memset (self->parts, 0, sizeof self->parts);
    self->part_count = 0;
    self->again = false;
}

void
modelsync_backend_destroy (modelsync_backend_t **self_p)
{
    assert (self_p);
    modelsync_backend_t *self = *self_p;
    if (!self)
        return;
    s_drop_fetch (self);
    of_records_destroy (&self->records);
    json_decref (self->models);
    json_decref (self->loaded);
    zhashx_destroy (&self->keys);
    free (self->error);
    free (self->id);
    free (self);
    *self_p = NULL;
}

bool
modelsync_backend_set_config (modelsync_backend_t *self, of_records_t *records,
                              const of_backend_t *config)
{
    assert (self && records && config);
    bool openai = config->api_format == OF_API_OPENAI;
    bool changed = !self->config || !of_upstream_prepare_same (self->config, config)
                   || openai != self->openai;
    if (self->config && openai != self->openai) {
        //  Another API: what the old one listed says nothing now
        s_drop_fetch (self);
        json_array_clear (self->models);
        json_array_clear (self->loaded);
        zhashx_purge (self->keys);
        self->fetched_utc [0] = 0;
        free (self->error);
        self->error = NULL;
    }
    self->openai = openai;
    //  The new set first: the old one may be the same
    records = of_records_ref (records);
    of_records_destroy (&self->records);
    self->records = records;
    self->config = config;
    return changed;
}

const of_backend_t *
modelsync_backend_config (modelsync_backend_t *self)
{
    assert (self);
    return self->config;
}

const char *
modelsync_backend_id (modelsync_backend_t *self)
{
    assert (self);
    return self->id;
}

bool
modelsync_backend_openai (modelsync_backend_t *self)
{
    assert (self);
    return self->openai;
}

bool
modelsync_backend_set_healthy (modelsync_backend_t *self, bool healthy)
{
    assert (self);
    bool changed = self->healthy != healthy;
    self->healthy = healthy;
    return changed;
}

bool
modelsync_backend_healthy (modelsync_backend_t *self)
{
    assert (self);
    return self->healthy;
}

//  --------------------------------------------------------------------------
//  Fetching

//  The published part of the inventory, to tell a change
static json_t *
s_published (modelsync_backend_t *self)
{
    return json_pack ("{s:O, s:O, s:s?}", "Models", self->models, "Loaded", self->loaded,
                      "Error", self->error);
}

static void
s_set_models (modelsync_backend_t *self, json_t *models)
{
    json_decref (self->models);
    self->models = json_incref (models);
    zhashx_purge (self->keys);
    size_t index;
    json_t *model;
    json_array_foreach (models, index, model) {
        char key [OFP_MODELS_KEY_MAX];
        ofp_models_key (key, json_string_value (json_object_get (model, "Name")));
        zhashx_update (self->keys, key, (void *) 1);
    }
}

//  Every part answered: take the lists or the error, tell the owner
static void
s_fetch_over (modelsync_backend_t *self)
{
    json_t *before = s_published (self);
    const char *error = NULL;
    for (size_t index = 0; index < self->part_count && !error; index++)
        if (!self->parts [index].result)
            error = self->parts [index].error;
    free (self->error);
    self->error = error ? strndup (error, OFP_MODELS_ERROR_MAX) : NULL;
    if (!error) {
        s_set_models (self, self->parts [0].result);
        json_decref (self->loaded);
        self->loaded = self->part_count > 1 ? json_incref (self->parts [1].result) : json_array ();
        of_schema_timestamp (self->fetched_utc, sizeof self->fetched_utc);
    }
    json_t *after = s_published (self);
    bool changed = !json_equal (before, after) || self->generation == 0;
    json_decref (before);
    json_decref (after);
    bool again = self->again;
    s_drop_fetch (self);
    self->generation++;
    if (again)
        modelsync_backend_fetch (self);
    self->fetched (self->arg, self, changed);
}

static void
s_on_part_end (void *arg, int status, const char *body, size_t size, const char *error)
{
    s_part_t *part = (s_part_t *) arg;
    modelsync_backend_t *self = part->owner;
    part->over = true;
    if (status == 200)
        part->result = part->parse (body, size, part->error, sizeof part->error);
    else if (status)
        snprintf (part->error, sizeof part->error, "HTTP %d", status);
    else
        snprintf (part->error, sizeof part->error, "%s", error);
    for (size_t index = 0; index < self->part_count; index++)
        if (!self->parts [index].over)
            return;
    s_fetch_over (self);
}

static void
s_part_start (modelsync_backend_t *self, const char *path,
              json_t *(*parse) (const char *, size_t, char *, size_t))
{
    s_part_t *part = &self->parts [self->part_count++];
    part->owner = self;
    part->parse = parse;
    part->http = modelsync_http_new (self->pool, self->base, self->config, EVHTTP_REQ_GET, path,
                                     NULL, self->timeout_ms, NULL, s_on_part_end, part);
}

void
modelsync_backend_fetch (modelsync_backend_t *self)
{
    assert (self);
    if (self->part_count) {
        self->again = true;
        return;
    }
    if (self->openai)
        s_part_start (self, "/v1/models", modelsync_parse_openai);
    else {
        s_part_start (self, "/api/tags", modelsync_parse_tags);
        s_part_start (self, "/api/ps", modelsync_parse_ps);
    }
}

uint64_t
modelsync_backend_generation (modelsync_backend_t *self)
{
    assert (self);
    return self->generation;
}

bool
modelsync_backend_fetching (modelsync_backend_t *self)
{
    assert (self);
    return self->part_count > 0;
}

bool
modelsync_backend_known (modelsync_backend_t *self)
{
    assert (self);
    return self->fetched_utc [0] != 0;
}

bool
modelsync_backend_failing (modelsync_backend_t *self)
{
    assert (self);
    return self->error != NULL;
}

bool
modelsync_backend_has (modelsync_backend_t *self, const char *model)
{
    assert (self && model);
    char key [OFP_MODELS_KEY_MAX];
    ofp_models_key (key, model);
    return zhashx_lookup (self->keys, key) != NULL;
}

json_t *
modelsync_backend_record (modelsync_backend_t *self)
{
    assert (self);
    json_t *record = json_pack ("{s:s, s:s, s:O, s:O}", "Backend", self->id, "ApiFormat",
                                self->openai ? "OpenAI" : "Ollama", "Models", self->models,
                                "Loaded", self->loaded);
    if (self->fetched_utc [0])
        json_object_set_new (record, "FetchedUtc", json_string (self->fetched_utc));
    if (self->error)
        json_object_set_new (record, "Error", json_string (self->error));
    return record;
}

/*  =========================================================================
    sim_models - the models one backend stores, and which of them are loaded
    =========================================================================
*/

#include "sim_models.h"
#include "sim_clock.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STORE_GROWTH 8
//  A model in memory takes this share of its file size in VRAM, in percent
#define VRAM_PERCENT 100
//  Number of layers claimed by model_info
#define BLOCK_COUNT 28

struct _sim_models_t {
    sim_model_t **models;
    size_t size, capacity;
    int embedding_dim;
    const sim_backend_config_t *config;     //  live: max_loaded_models
};

static void
s_model_drop (sim_model_t **model_p)
{
    sim_model_t *model = *model_p;
    if (model && --model->refs == 0)
        free (model);
    *model_p = NULL;
}

static sim_model_t *
s_store (sim_models_t *self, const sim_model_spec_t *spec)
{
    if (self->size == self->capacity) {
        size_t capacity = self->capacity + STORE_GROWTH;
        sim_model_t **models = realloc (self->models, capacity * sizeof *models);
        assert (models);
        self->models = models;
        self->capacity = capacity;
    }
    sim_model_t *model = calloc (1, sizeof *model);
    assert (model);
    model->spec = *spec;
    if (model->spec.embedding_length == 0)
        model->spec.embedding_length = self->embedding_dim;
    model->modified_ns = sim_clock_wall_ns ();
    model->refs = 1;
    self->models [self->size++] = model;
    return model;
}

sim_models_t *
sim_models_new (const sim_backend_config_t *config)
{
    sim_models_t *self = calloc (1, sizeof *self);
    assert (self);
    self->embedding_dim = config->embedding_dim;
    self->config = config;
    int64_t now = sim_clock_mono_ns ();
    for (size_t i = 0; i < config->model_count; i++) {
        sim_model_t *model = s_store (self, &config->models [i]);
        if (model->spec.loaded) {
            model->ready_mono = now;
            model->until_mono = config->keep_alive_ms == SIM_CLOCK_FOREVER? INT64_MAX
                              : now + config->keep_alive_ms * SIM_NS_PER_MS;
        }
    }
    return self;
}

void
sim_models_destroy (sim_models_t **self_p)
{
    assert (self_p);
    sim_models_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        s_model_drop (&self->models [i]);
    free (self->models);
    free (self);
    *self_p = NULL;
}

static ssize_t
s_index (sim_models_t *self, const char *name)
{
    char normal [SIM_NAME_MAX];
    if (sim_fleet_normalise (name, normal, sizeof normal))
        return -1;
    for (size_t i = 0; i < self->size; i++)
        if (strcmp (self->models [i]->spec.name, normal) == 0)
            return (ssize_t) i;
    return -1;
}

sim_model_t *
sim_models_find (sim_models_t *self, const char *name)
{
    ssize_t index = s_index (self, name);
    return index < 0? NULL: self->models [index];
}

int
sim_models_remove (sim_models_t *self, const char *name)
{
    ssize_t index = s_index (self, name);
    if (index < 0)
        return -1;
    sim_model_t *model = self->models [index];
    model->removed = true;
    model->until_mono = 0;
    s_model_drop (&model);
    memmove (&self->models [index], &self->models [index + 1],
             (self->size - (size_t) index - 1) * sizeof *self->models);
    self->size--;
    return 0;
}

void
sim_models_add (sim_models_t *self, const sim_model_spec_t *spec)
{
    sim_models_remove (self, spec->name);
    s_store (self, spec)->spec.loaded = false;
}

int
sim_models_copy (sim_models_t *self, const char *source, const char *destination)
{
    sim_model_t *model = sim_models_find (self, source);
    sim_model_spec_t spec;
    if (!model)
        return -1;
    spec = model->spec;
    if (sim_fleet_normalise (destination, spec.name, sizeof spec.name))
        return -1;
    sim_models_add (self, &spec);
    return 0;
}

bool
sim_models_loaded (sim_models_t *self, sim_model_t *model)
{
    (void) self;
    return model->users > 0 || model->until_mono > sim_clock_mono_ns ();
}

//  Makes room for one more loaded model: unloads idle models, the one that
//  would expire first, until fewer than max_loaded_models are loaded. Models
//  in use are never unloaded (the limit is then exceeded).
static void
s_make_room (sim_models_t *self)
{
    int limit = self->config->max_loaded_models;
    while (limit > 0) {
        int loaded = 0;
        sim_model_t *victim = NULL;
        for (size_t i = 0; i < self->size; i++) {
            sim_model_t *model = self->models [i];
            if (!sim_models_loaded (self, model))
                continue;
            loaded++;
            if (model->users == 0 && (!victim || model->until_mono < victim->until_mono))
                victim = model;
        }
        if (loaded < limit || !victim)
            return;
        victim->until_mono = 0;
    }
}

int64_t
sim_models_use (sim_models_t *self, sim_model_t *model, int load_ms)
{
    int64_t now = sim_clock_mono_ns ();
    if (!sim_models_loaded (self, model)) {
        s_make_room (self);
        model->ready_mono = now + (int64_t) load_ms * SIM_NS_PER_MS;
        model->until_mono = INT64_MAX;
    }
    model->refs++;
    model->users++;
    return model->ready_mono > now? model->ready_mono: now;
}

void
sim_models_unuse (sim_models_t *self, sim_model_t *model, int64_t keep_alive_ms)
{
    (void) self;
    if (--model->users > 0)
        ;   //  others still use it: it stays resident
    else if (keep_alive_ms == SIM_CLOCK_FOREVER)
        model->until_mono = INT64_MAX;
    else if (keep_alive_ms == 0)
        model->until_mono = 0;
    else
        model->until_mono = sim_clock_mono_ns () + keep_alive_ms * SIM_NS_PER_MS;
    s_model_drop (&model);
}

void
sim_models_unload (sim_models_t *self, sim_model_t *model)
{
    (void) self;
    model->until_mono = 0;
}

static json_t *
s_details (const sim_model_t *model)
{
    return json_pack ("{sssssss[s]ssss}", "parent_model", "", "format", "gguf",
                      "family", model->spec.family, "families", model->spec.family,
                      "parameter_size", model->spec.parameter_size,
                      "quantization_level", model->spec.quantization);
}

static json_t *
s_stamp (int64_t wall_ns)
{
    char stamp [SIM_CLOCK_STAMP_MAX];
    sim_clock_format (wall_ns, stamp, sizeof stamp);
    return json_string (stamp);
}

json_t *
sim_models_tags (sim_models_t *self)
{
    json_t *list = json_array ();
    for (size_t i = 0; i < self->size; i++) {
        const sim_model_t *model = self->models [i];
        json_array_append_new (list, json_pack ("{sssssosIssso}",
            "name", model->spec.name, "model", model->spec.name,
            "modified_at", s_stamp (model->modified_ns), "size", (json_int_t) model->spec.size,
            "digest", model->spec.digest, "details", s_details (model)));
    }
    return json_pack ("{so}", "models", list);
}

//  Loaded models sorted so the longest expiry comes first, as Ollama does
static int
s_compare_expiry (const void *a, const void *b)
{
    const sim_model_t *x = *(sim_model_t *const *) a, *y = *(sim_model_t *const *) b;
    return x->until_mono < y->until_mono? 1: x->until_mono > y->until_mono? -1: 0;
}

json_t *
sim_models_ps (sim_models_t *self)
{
    sim_model_t **loaded = calloc (self->size + 1, sizeof *loaded);
    assert (loaded);
    size_t count = 0;
    for (size_t i = 0; i < self->size; i++)
        if (sim_models_loaded (self, self->models [i]))
            loaded [count++] = self->models [i];
    qsort (loaded, count, sizeof *loaded, s_compare_expiry);
    int64_t now_mono = sim_clock_mono_ns (), now_wall = sim_clock_wall_ns ();
    //  Forever is shown the way Go prints a far-future time
    const int64_t far_future = now_wall + 10 * 365 * 24 * 3600 * SIM_NS_PER_SEC;
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++) {
        const sim_model_t *model = loaded [i];
        int64_t expires = model->until_mono == INT64_MAX? far_future
                        : now_wall + (model->until_mono - now_mono);
        json_int_t size = (json_int_t) model->spec.size;
        json_array_append_new (list, json_pack ("{sssssIsssososIsi}",
            "name", model->spec.name, "model", model->spec.name, "size", size,
            "digest", model->spec.digest, "details", s_details (model),
            "expires_at", s_stamp (expires), "size_vram", size * VRAM_PERCENT / 100,
            "context_length", model->spec.context_length));
    }
    free (loaded);
    return json_pack ("{so}", "models", list);
}

json_t *
sim_models_show (sim_models_t *self, sim_model_t *model, bool verbose)
{
    (void) self;
    const sim_model_spec_t *spec = &model->spec;
    char key [SIM_NAME_MAX];
    json_t *info = json_pack ("{sssIsi}", "general.architecture", spec->family,
                              "general.parameter_count", (json_int_t) spec->size * 2,
                              "general.file_type", 15);
    snprintf (key, sizeof key, "%s.context_length", spec->family);
    json_object_set_new (info, key, json_integer (spec->context_length));
    snprintf (key, sizeof key, "%s.embedding_length", spec->family);
    json_object_set_new (info, key, json_integer (spec->embedding_length));
    snprintf (key, sizeof key, "%s.block_count", spec->family);
    json_object_set_new (info, key, json_integer (BLOCK_COUNT));
    json_object_set_new (info, "tokenizer.ggml.tokens", verbose? json_pack ("[sss]", "<s>",
                         "</s>", "the"): json_array ());
    char modelfile [SIM_NAME_MAX * 2];
    snprintf (modelfile, sizeof modelfile, "# Modelfile generated by \"ollama show\"\nFROM %s\n",
              spec->name);
    json_t *capabilities = spec->embedding? json_pack ("[s]", "embedding")
                                          : json_pack ("[ss]", "completion", "tools");
    return json_pack ("{sssssssssosososo}", "license", "Simulated model: no license.",
                      "modelfile", modelfile, "parameters", "stop \"<|eot_id|>\"",
                      "template", "{{ .Prompt }}", "details", s_details (model),
                      "model_info", info, "capabilities", capabilities,
                      "modified_at", s_stamp (model->modified_ns));
}

static json_t *
s_v1_model (const sim_model_t *model, const char *id)
{
    return json_pack ("{sssssIss}", "id", id, "object", "model",
                      "created", (json_int_t) (model->modified_ns / SIM_NS_PER_SEC),
                      "owned_by", "library");
}

json_t *
sim_models_v1_list (sim_models_t *self)
{
    //  Ollama's Go slice is nil without models: "data" is null, not []
    json_t *data = self->size? json_array (): json_null ();
    for (size_t i = 0; i < self->size; i++)
        json_array_append_new (data, s_v1_model (self->models [i], self->models [i]->spec.name));
    return json_pack ("{ssso}", "object", "list", "data", data);
}

json_t *
sim_models_v1_model (sim_model_t *model, const char *id)
{
    return s_v1_model (model, id);
}

size_t
sim_models_size (sim_models_t *self)
{
    return self->size;
}

void
sim_models_test (void)
{
    sim_backend_config_t config;
    sim_fleet_defaults (&config);
    sim_model_spec_t specs [2];
    char error [SIM_ERROR_MAX];
    json_t *llama = json_pack ("{ss}", "name", "llama3.2");
    json_t *minilm = json_pack ("{sssb}", "name", "all-minilm", "loaded", true);
    assert (sim_fleet_parse_model (llama, &specs [0], error, sizeof error) == 0);
    assert (sim_fleet_parse_model (minilm, &specs [1], error, sizeof error) == 0);
    json_decref (llama);
    json_decref (minilm);
    config.models = specs;
    config.model_count = 2;
    config.max_loaded_models = 1;
    sim_models_t *models = sim_models_new (&config);
    assert (sim_models_size (models) == 2);
    sim_model_t *model = sim_models_find (models, "LLAMA3.2");
    sim_model_t *loaded = sim_models_find (models, "all-minilm:latest");
    assert (model && loaded && !sim_models_find (models, "nothing"));
    assert (!sim_models_loaded (models, model) && sim_models_loaded (models, loaded));

    //  A cold model loads (evicting the idle one over the limit) and stays while used
    int64_t now = sim_clock_mono_ns ();
    int64_t ready = sim_models_use (models, model, 1000);
    assert (ready >= now + 1000 * SIM_NS_PER_MS);
    assert (sim_models_loaded (models, model) && !sim_models_loaded (models, loaded));
    json_t *ps = sim_models_ps (models);
    assert (json_array_size (json_object_get (ps, "models")) == 1);
    json_decref (ps);
    //  Removed while in use: the entry lives until the request lets go
    assert (sim_models_remove (models, "llama3.2") == 0);
    assert (sim_models_remove (models, "llama3.2") == -1);
    assert (sim_models_size (models) == 1);
    sim_models_unuse (models, model, 0);

    //  keep_alive 0 unloads at once; forever keeps it (look the model up again
    //  after each unuse: the store owns it, the request's pointer is gone)
    sim_models_use (models, sim_models_find (models, "all-minilm"), 0);
    sim_models_unuse (models, sim_models_find (models, "all-minilm"), 0);
    assert (!sim_models_loaded (models, sim_models_find (models, "all-minilm")));
    sim_models_use (models, sim_models_find (models, "all-minilm"), 0);
    sim_models_unuse (models, sim_models_find (models, "all-minilm"), SIM_CLOCK_FOREVER);
    assert (sim_models_loaded (models, sim_models_find (models, "all-minilm")));
    sim_models_unload (models, sim_models_find (models, "all-minilm"));
    assert (!sim_models_loaded (models, sim_models_find (models, "all-minilm")));

    //  Copy, tags, /v1/models
    assert (sim_models_copy (models, "all-minilm", "mine:v2") == 0);
    assert (sim_models_copy (models, "ghost", "x") == -1);
    json_t *tags = sim_models_tags (models);
    assert (json_array_size (json_object_get (tags, "models")) == 2);
    json_decref (tags);
    json_t *list = sim_models_v1_list (models);
    assert (json_array_size (json_object_get (list, "data")) == 2);
    json_decref (list);
    sim_models_remove (models, "mine:v2");
    sim_models_remove (models, "all-minilm");
    list = sim_models_v1_list (models);
    assert (json_is_null (json_object_get (list, "data")));
    json_decref (list);
    sim_models_destroy (&models);
    sim_models_destroy (&models);
    assert (models == NULL);
}

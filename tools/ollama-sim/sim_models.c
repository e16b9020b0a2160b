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
    const sim_backend_config_t *config;     //  live: limits, times, time scale
    struct event_base *base;
    sim_cache_t *cache;
    sim_model_wait_t *head, *tail;          //  requests waiting for a load
    struct event *timer;                    //  the load or unload in progress
    struct event *kick;                     //  runs the queue from the loop
    sim_model_t *working;                   //  the model loading, draining or unloading
    bool pumping, again;
};

static uint64_t s_runners;                  //  runner ids, fleet-wide

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

static void s_on_timer (evutil_socket_t fd, short what, void *arg);
static void s_on_kick (evutil_socket_t fd, short what, void *arg);

//  A model loaded at start, or put back so by a flush
static void
s_preload (sim_models_t *self, sim_model_t *model)
{
    model->state = SIM_MODEL_READY;
    model->runner = ++s_runners;
    model->num_ctx = SIM_DEFAULT_CONTEXT;
    model->keep_alive_ms = self->config->keep_alive_ms;
    model->until_mono = self->config->keep_alive_ms == SIM_CLOCK_FOREVER? INT64_MAX
                      : sim_clock_mono_ns () + sim_fleet_scaled_ns (self->config,
                                                    (double) self->config->keep_alive_ms);
}

sim_models_t *
sim_models_new (const sim_backend_config_t *config, struct event_base *base, sim_cache_t *cache)
{
    sim_models_t *self = calloc (1, sizeof *self);
    assert (self);
    self->embedding_dim = config->embedding_dim;
    self->config = config;
    self->base = base;
    self->cache = cache;
    self->timer = evtimer_new (base, s_on_timer, self);
    self->kick = event_new (base, -1, 0, s_on_kick, self);
    assert (self->timer && self->kick);
    for (size_t i = 0; i < config->model_count; i++) {
        sim_model_t *model = s_store (self, &config->models [i]);
        if (model->spec.loaded)
            s_preload (self, model);
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
    if (self->timer)
        event_free (self->timer);
    if (self->kick)
        event_free (self->kick);
    s_model_drop (&self->working);
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

//  True if an idle READY model's keep-alive has run out
static bool
s_expired (const sim_model_t *model, int64_t now)
{
    return model->state == SIM_MODEL_READY && model->users == 0 && model->until_mono <= now;
}

bool
sim_models_loaded (sim_models_t *self, sim_model_t *model)
{
    (void) self;
    return (model->state == SIM_MODEL_READY && !s_expired (model, sim_clock_mono_ns ()))
        || model->state == SIM_MODEL_UNLOADING;
}

//  The runner is gone: the model is cold and its prompt caches are lost
static void
s_cold (sim_models_t *self, sim_model_t *model)
{
    model->state = SIM_MODEL_COLD;
    model->until_mono = 0;
    model->draining = false;
    if (self->cache && model->runner)
        sim_cache_forget (self->cache, model->runner);
}

//  Idle models whose keep-alive ran out unload (at no cost: nothing waits)
static void
s_expire (sim_models_t *self)
{
    int64_t now = sim_clock_mono_ns ();
    for (size_t i = 0; i < self->size; i++)
        if (s_expired (self->models [i], now))
            s_cold (self, self->models [i]);
}

static int
s_resident (sim_models_t *self)
{
    int count = 0;
    for (size_t i = 0; i < self->size; i++)
        count += self->models [i]->state != SIM_MODEL_COLD;
    return count;
}

//  Ollama's eviction order: the shortest keep-alive (forever last), then the
//  name; the first idle model in that order, else the first one
static sim_model_t *
s_victim (sim_models_t *self)
{
    sim_model_t *first = NULL, *idle = NULL;
    for (size_t i = 0; i < self->size; i++) {
        sim_model_t *model = self->models [i];
        if (model->state != SIM_MODEL_READY)
            continue;
        uint64_t duration = (uint64_t) model->keep_alive_ms;     //  forever (-1) is the largest
        bool before_first = !first || duration < (uint64_t) first->keep_alive_ms
            || (duration == (uint64_t) first->keep_alive_ms
                && strcmp (model->spec.name, first->spec.name) < 0);
        if (before_first)
            first = model;
        bool before_idle = !idle || duration < (uint64_t) idle->keep_alive_ms
            || (duration == (uint64_t) idle->keep_alive_ms
                && strcmp (model->spec.name, idle->spec.name) < 0);
        if (model->users == 0 && before_idle)
            idle = model;
    }
    return idle? idle: first;
}

static void
s_start_timer (sim_models_t *self, sim_model_t *model, int64_t ns)
{
    model->refs++;
    self->working = model;
    struct timeval tv = { (time_t) (ns / SIM_NS_PER_SEC), (long) (ns % SIM_NS_PER_SEC / 1000) };
    event_base_update_cache_time (self->base);     //  from now, not from the loop's start
    evtimer_add (self->timer, &tv);
}

static void
s_start_unload (sim_models_t *self, sim_model_t *model)
{
    model->state = SIM_MODEL_UNLOADING;
    model->stats.evictions++;
    s_start_timer (self, model, sim_fleet_scaled_ns (self->config, self->config->unload_ms));
}

static int64_t
s_load_ns (sim_models_t *self, const sim_model_t *model)
{
    const sim_backend_config_t *config = self->config;
    double ms = model->spec.load_ms >= 0? model->spec.load_ms
              : config->load_rate > 0? (double) model->spec.size / config->load_rate * 1000
              : config->load_ms;
    return sim_fleet_scaled_ns (config, ms);
}

static void
s_unlink (sim_models_t *self, sim_model_wait_t *wait)
{
    if (wait->prev)
        wait->prev->next = wait->next;
    else
        self->head = wait->next;
    if (wait->next)
        wait->next->prev = wait->prev;
    else
        self->tail = wait->prev;
    wait->next = wait->prev = NULL;
    wait->queued = false;
}

static void
s_use (sim_model_t *model)
{
    model->refs++;
    model->users++;
}

//  One pass over the queue of loads, while no load or unload is under way
static void
s_pump_once (sim_models_t *self)
{
    s_expire (self);
    while (!self->working && self->head) {
        sim_model_wait_t *wait = self->head;
        sim_model_t *model = wait->model;
        if (model->removed) {
            //  Deleted while it waited: the request finds out when it runs
            s_unlink (self, wait);
            model->users++;
            wait->ready (wait->arg);
            continue;
        }
        if (model->state == SIM_MODEL_READY && model->num_ctx == wait->num_ctx) {
            //  Loaded: every request waiting for it with that context goes
            for (sim_model_wait_t *w = self->head, *next; w; w = next) {
                next = w->next;
                if (w->model == model && w->num_ctx == model->num_ctx) {
                    s_unlink (self, w);
                    model->users++;         //  the waiter's reference is the user's now
                    w->ready (w->arg);
                }
            }
            continue;
        }
        sim_model_t *victim = NULL;
        if (model->state == SIM_MODEL_READY)
            victim = model;                 //  another num_ctx: a reload
        else
        if (self->config->max_loaded_models > 0
        &&  s_resident (self) >= self->config->max_loaded_models)
            victim = s_victim (self);
        if (victim) {
            victim->draining = true;
            if (victim->users == 0)
                s_start_unload (self, victim);
            else {
                victim->refs++;
                self->working = victim;     //  until its requests end
            }
            return;
        }
        model->state = SIM_MODEL_LOADING;
        model->num_ctx = wait->num_ctx;
        model->runner = ++s_runners;
        model->stats.loads++;
        s_start_timer (self, model, s_load_ns (self, model));
        return;
    }
}

static void
s_pump (sim_models_t *self)
{
    if (self->pumping) {
        self->again = true;
        return;
    }
    self->pumping = true;
    do {
        self->again = false;
        s_pump_once (self);
    } while (self->again);
    self->pumping = false;
}

//  The load or unload under way is over
static void
s_on_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd, (void) what;
    sim_models_t *self = (sim_models_t *) arg;
    sim_model_t *model = self->working;
    self->working = NULL;
    if (model->state == SIM_MODEL_LOADING) {
        model->state = SIM_MODEL_READY;
        model->until_mono = INT64_MAX;      //  its requests are about to use it
        model->keep_alive_ms = self->config->keep_alive_ms;
    }
    else
        s_cold (self, model);
    s_model_drop (&model);
    s_pump (self);
}

static void
s_on_kick (evutil_socket_t fd, short what, void *arg)
{
    (void) fd, (void) what;
    s_pump ((sim_models_t *) arg);
}

bool
sim_models_acquire (sim_models_t *self, sim_model_t *model, int num_ctx, sim_model_wait_t *wait,
                    sim_model_ready_fn *ready, void *arg)
{
    assert (!wait->queued);
    if (num_ctx <= 0)
        num_ctx = SIM_DEFAULT_CONTEXT;
    //  Ollama's fast path: loaded, not on its way out, the same runner options
    if (model->state == SIM_MODEL_READY && !model->draining && model->num_ctx == num_ctx
    &&  !s_expired (model, sim_clock_mono_ns ())) {
        s_use (model);
        return true;
    }
    model->refs++;                          //  the waiter's, while it waits
    wait->model = model;
    wait->num_ctx = num_ctx;
    wait->ready = ready;
    wait->arg = arg;
    wait->queued = true;
    wait->next = NULL;
    wait->prev = self->tail;
    if (self->tail)
        self->tail->next = wait;
    else
        self->head = wait;
    self->tail = wait;
    event_active (self->kick, 0, 0);
    return false;
}

void
sim_models_cancel (sim_models_t *self, sim_model_wait_t *wait)
{
    if (wait->queued) {
        s_unlink (self, wait);
        s_model_drop (&wait->model);
    }
}

void
sim_models_release (sim_models_t *self, sim_model_t *model, int64_t keep_alive_ms)
{
    model->keep_alive_ms = keep_alive_ms;
    if (--model->users > 0)
        ;   //  others still use it: it stays resident
    else if (keep_alive_ms == SIM_CLOCK_FOREVER)
        model->until_mono = INT64_MAX;
    else if (keep_alive_ms == 0)
        model->until_mono = 0;
    else
        model->until_mono = sim_clock_mono_ns ()
                          + sim_fleet_scaled_ns (self->config, (double) keep_alive_ms);
    if (model->users == 0 && model->draining && self->working == model
    &&  model->state == SIM_MODEL_READY) {
        //  The eviction waited for this: it starts now (the timer holds the model)
        self->working = NULL;
        model->refs--;
        s_start_unload (self, model);
    }
    else
    if (model->users == 0 && keep_alive_ms == 0 && model->state == SIM_MODEL_READY)
        s_cold (self, model);
    s_model_drop (&model);
    if (self->head)
        event_active (self->kick, 0, 0);
}

void
sim_models_unload (sim_models_t *self, sim_model_t *model)
{
    (void) self;
    model->until_mono = 0;
}

void
sim_models_count_prompt (sim_models_t *self, sim_model_t *model, int prompt, int cached)
{
    (void) self;
    model->stats.prompt_tokens += (uint64_t) prompt;
    model->stats.cached_tokens += (uint64_t) cached;
}

json_t *
sim_models_stats (sim_models_t *self, sim_model_stats_t *total)
{
    memset (total, 0, sizeof *total);
    json_t *list = json_object ();
    for (size_t i = 0; i < self->size; i++) {
        const sim_model_t *model = self->models [i];
        const sim_model_stats_t *s = &model->stats;
        total->loads += s->loads;
        total->evictions += s->evictions;
        total->prompt_tokens += s->prompt_tokens;
        total->cached_tokens += s->cached_tokens;
        json_object_set_new (list, model->spec.name, json_pack ("{sIsIsIsIsb}",
            "loads", (json_int_t) s->loads, "evictions", (json_int_t) s->evictions,
            "prompt_tokens", (json_int_t) s->prompt_tokens,
            "cached_tokens", (json_int_t) s->cached_tokens,
            "loaded", sim_models_loaded (self, self->models [i])));
    }
    return list;
}

void
sim_models_reset_stats (sim_models_t *self)
{
    for (size_t i = 0; i < self->size; i++)
        memset (&self->models [i]->stats, 0, sizeof self->models [i]->stats);
}

void
sim_models_flush (sim_models_t *self)
{
    for (size_t i = 0; i < self->size; i++) {
        sim_model_t *model = self->models [i];
        if (model->users || model == self->working)
            continue;
        s_cold (self, model);
        if (model->spec.loaded)
            s_preload (self, model);
    }
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

//  Self-test: timers may fire a little early by the monotonic clock
#define S_TEST_SLACK_NS SIM_NS_PER_MS

//  A request of the test, and the loop it waits in
typedef struct {
    bool ready;
    int64_t at;                 //  when it was called ready
} s_test_req_t;

static void
s_test_ready (void *arg)
{
    s_test_req_t *req = (s_test_req_t *) arg;
    req->ready = true;
    req->at = sim_clock_mono_ns ();
}

//  Runs the loop until the request is ready (at most a second)
static void
s_test_wait (struct event_base *base, s_test_req_t *req)
{
    int64_t limit = sim_clock_mono_ns () + SIM_NS_PER_SEC;
    while (!req->ready && sim_clock_mono_ns () < limit)
        event_base_loop (base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert (req->ready);
}

static sim_model_spec_t
s_test_spec (const char *json)
{
    sim_model_spec_t spec;
    char error [SIM_ERROR_MAX];
    json_t *object = json_loads (json, 0, NULL);
    assert (object && sim_fleet_parse_model (object, &spec, error, sizeof error) == 0);
    json_decref (object);
    return spec;
}

//  Residency as Ollama's scheduler has it
static void
s_test_residency (struct event_base *base)
{
    sim_backend_config_t config;
    sim_fleet_defaults (&config);
    sim_model_spec_t specs [3] = {
        s_test_spec ("{\"name\":\"a\",\"loaded\":true,\"load_ms\":20}"),
        s_test_spec ("{\"name\":\"b\",\"loaded\":true,\"size\":1000}"),
        s_test_spec ("{\"name\":\"c\",\"load_ms\":20}"),
    };
    config.models = specs;
    config.model_count = 3;
    config.max_loaded_models = 2;
    config.load_rate = 50000;           //  b: 1000 bytes in 20 ms
    config.unload_ms = 10;
    sim_cache_t *cache = sim_cache_new (1);
    sim_models_t *models = sim_models_new (&config, base, cache);
    sim_model_t *a = sim_models_find (models, "a"), *b = sim_models_find (models, "b");
    sim_model_t *c = sim_models_find (models, "c");
    sim_model_wait_t wait [4];
    memset (wait, 0, sizeof wait);
    s_test_req_t req [4];
    memset (req, 0, sizeof req);

    //  Loaded: straight through. Not LRU: "a" was used last, yet with equal
    //  keep-alives the name order evicts "a" to load "c"
    assert (sim_models_acquire (models, b, 0, &wait [0], s_test_ready, &req [0]));
    sim_models_release (models, b, 300000);
    assert (sim_models_acquire (models, a, 0, &wait [0], s_test_ready, &req [0]));
    sim_models_release (models, a, 300000);
    int64_t start = sim_clock_mono_ns ();
    assert (!sim_models_acquire (models, c, 0, &wait [1], s_test_ready, &req [1]));
    assert (!req [1].ready);            //  never called back from inside acquire
    s_test_wait (base, &req [1]);
    assert (req [1].at - start >= 30 * SIM_NS_PER_MS - S_TEST_SLACK_NS);     //  unload 10 + load 20
    assert (!sim_models_loaded (models, a) && sim_models_loaded (models, b));
    assert (a->stats.evictions == 1 && c->stats.loads == 1);

    //  A hard limit: with "b" and "c" in use, "a" waits; the victim is chosen
    //  among busy models by the same order ("b") and waits for its requests
    assert (sim_models_acquire (models, b, 0, &wait [2], s_test_ready, &req [2]));
    memset (&req [0], 0, sizeof req [0]);
    assert (!sim_models_acquire (models, a, 0, &wait [0], s_test_ready, &req [0]));
    for (int i = 0; i < 20; i++)
        event_base_loop (base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    assert (!req [0].ready && sim_models_loaded (models, b) && sim_models_loaded (models, c));
    //  "c" is done first, yet "a" waits for "b", the victim chosen
    sim_models_release (models, c, 300000);
    sim_models_release (models, b, 60000);
    s_test_wait (base, &req [0]);
    assert (!sim_models_loaded (models, b) && sim_models_loaded (models, c));
    assert (b->stats.evictions == 1);
    sim_models_release (models, a, 300000);
    //  The shortest keep-alive goes first: "c" (1m) before "a" (5m), though
    //  "a" comes first by name
    assert (sim_models_acquire (models, c, 0, &wait [1], s_test_ready, &req [1]));
    sim_models_release (models, c, 60000);
    memset (&req [2], 0, sizeof req [2]);
    assert (!sim_models_acquire (models, b, 0, &wait [2], s_test_ready, &req [2]));
    s_test_wait (base, &req [2]);
    assert (sim_models_loaded (models, a) && !sim_models_loaded (models, c));
    assert (c->stats.evictions == 1 && b->stats.loads == 1);
    sim_models_release (models, b, 300000);

    //  Another num_ctx reloads the runner: a new runner id
    uint64_t runner = a->runner;
    memset (&req [0], 0, sizeof req [0]);
    assert (!sim_models_acquire (models, a, 8192, &wait [0], s_test_ready, &req [0]));
    s_test_wait (base, &req [0]);
    assert (a->runner != runner && a->num_ctx == 8192 && a->stats.loads == 2);
    //  The same num_ctx again: straight through
    assert (sim_models_acquire (models, a, 8192, &wait [1], s_test_ready, &req [1]));
    sim_models_release (models, a, 300000);
    sim_models_release (models, a, 300000);

    //  A waiter that gives up leaves the queue; the stats and a flush
    assert (!sim_models_acquire (models, c, 0, &wait [3], s_test_ready, &req [3]));
    sim_models_cancel (models, &wait [3]);
    sim_models_cancel (models, &wait [3]);
    sim_model_stats_t total;
    json_t *stats = sim_models_stats (models, &total);
    assert (total.loads == 4 && total.evictions == 4);
    assert (json_integer_value (json_object_get (json_object_get (stats, "a:latest"), "loads")) == 2);
    json_decref (stats);
    sim_models_count_prompt (models, a, 10, 4);
    json_decref (sim_models_stats (models, &total));
    assert (total.prompt_tokens == 10 && total.cached_tokens == 4);
    sim_models_reset_stats (models);
    json_decref (sim_models_stats (models, &total));
    assert (total.loads == 0 && total.prompt_tokens == 0);
    sim_models_flush (models);
    assert (sim_models_loaded (models, a) && sim_models_loaded (models, b)
            && !sim_models_loaded (models, c));
    sim_models_destroy (&models);
    sim_cache_destroy (&cache);
}

//  One load at a time, and the time scale
static void
s_test_serial (struct event_base *base)
{
    sim_backend_config_t config;
    sim_fleet_defaults (&config);
    sim_model_spec_t specs [2] = {
        s_test_spec ("{\"name\":\"x\",\"load_ms\":200}"),
        s_test_spec ("{\"name\":\"y\",\"load_ms\":200}"),
    };
    config.models = specs;
    config.model_count = 2;
    config.max_loaded_models = 0;
    config.time_scale = 10;             //  200 ms loads take 20
    sim_models_t *models = sim_models_new (&config, base, NULL);
    sim_model_wait_t wait [2];
    memset (wait, 0, sizeof wait);
    s_test_req_t req [2];
    memset (req, 0, sizeof req);
    int64_t start = sim_clock_mono_ns ();
    assert (!sim_models_acquire (models, sim_models_find (models, "x"), 0, &wait [0],
                                 s_test_ready, &req [0]));
    assert (!sim_models_acquire (models, sim_models_find (models, "y"), 0, &wait [1],
                                 s_test_ready, &req [1]));
    s_test_wait (base, &req [0]);
    s_test_wait (base, &req [1]);
    assert (req [0].at - start >= 20 * SIM_NS_PER_MS - S_TEST_SLACK_NS);
    assert (req [0].at - start < 150 * SIM_NS_PER_MS);
    assert (req [1].at - req [0].at >= 20 * SIM_NS_PER_MS - S_TEST_SLACK_NS);
    sim_models_release (models, sim_models_find (models, "x"), 0);
    sim_models_release (models, sim_models_find (models, "y"), SIM_CLOCK_FOREVER);
    assert (!sim_models_loaded (models, sim_models_find (models, "x")));
    assert (sim_models_loaded (models, sim_models_find (models, "y")));
    sim_models_destroy (&models);
}

void
sim_models_test (void)
{
    struct event_config *settings = event_config_new ();
    event_config_set_flag (settings, EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = event_base_new_with_config (settings);
    event_config_free (settings);
    s_test_residency (base);
    s_test_serial (base);
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
    config.load_ms = 10;
    sim_models_t *models = sim_models_new (&config, base, NULL);
    assert (sim_models_size (models) == 2);
    sim_model_t *model = sim_models_find (models, "LLAMA3.2");
    sim_model_t *loaded = sim_models_find (models, "all-minilm:latest");
    assert (model && loaded && !sim_models_find (models, "nothing"));
    assert (!sim_models_loaded (models, model) && sim_models_loaded (models, loaded));

    //  A cold model loads (evicting the idle one over the limit) and stays while used
    sim_model_wait_t wait;
    memset (&wait, 0, sizeof wait);
    s_test_req_t req = {0};
    int64_t now = sim_clock_mono_ns ();
    assert (!sim_models_acquire (models, model, 0, &wait, s_test_ready, &req));
    s_test_wait (base, &req);
    assert (req.at >= now + 10 * SIM_NS_PER_MS - S_TEST_SLACK_NS);
    assert (sim_models_loaded (models, model) && !sim_models_loaded (models, loaded));
    json_t *ps = sim_models_ps (models);
    assert (json_array_size (json_object_get (ps, "models")) == 1);
    json_decref (ps);
    //  Removed while in use: the entry lives until the request lets go
    assert (sim_models_remove (models, "llama3.2") == 0);
    assert (sim_models_remove (models, "llama3.2") == -1);
    assert (sim_models_size (models) == 1);
    sim_models_release (models, model, 0);

    //  keep_alive 0 unloads at once; forever keeps it (look the model up again
    //  after each release: the store owns it, the request's pointer is gone)
    memset (&req, 0, sizeof req);
    if (!sim_models_acquire (models, sim_models_find (models, "all-minilm"), 0, &wait,
                             s_test_ready, &req))
        s_test_wait (base, &req);
    sim_models_release (models, sim_models_find (models, "all-minilm"), 0);
    assert (!sim_models_loaded (models, sim_models_find (models, "all-minilm")));
    memset (&req, 0, sizeof req);
    if (!sim_models_acquire (models, sim_models_find (models, "all-minilm"), 0, &wait,
                             s_test_ready, &req))
        s_test_wait (base, &req);
    sim_models_release (models, sim_models_find (models, "all-minilm"), SIM_CLOCK_FOREVER);
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
    event_base_free (base);
}

/*  =========================================================================
    sim_fleet - the fleet file: which simulated backends to run, and how
    =========================================================================
*/

#include "sim_fleet.h"
#include "sim_clock.h"
#include <assert.h>
#include <ctype.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PORT_MAX 65535

struct _sim_fleet_t {
    sim_backend_config_t *backends;
    size_t size;
    sim_model_spec_t *registry;
    size_t registry_size;
    int control_port;
};

static int
s_fail (char *error, size_t size, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (error, size, format, args);
    va_end (args);
    return -1;
}

int
sim_fleet_normalise (const char *name, char *buf, size_t size)
{
    size_t len = name? strlen (name): 0;
    if (len == 0 || len + strlen (":latest") >= size)
        return -1;
    for (size_t i = 0; i <= len; i++)
        buf [i] = (char) tolower ((unsigned char) name [i]);
    const char *slash = strrchr (buf, '/');
    const char *colon = strrchr (slash? slash: buf, ':');
    if (colon == NULL)
        strcat (buf, ":latest");
    else if (colon [1] == 0)
        return -1;
    for (const char *p = buf; *p; p++)
        if ((unsigned char) *p <= ' ' || *p == '"' || *p == '\\')
            return -1;
    return 0;
}

void
sim_fleet_defaults (sim_backend_config_t *config)
{
    memset (config, 0, sizeof *config);
    snprintf (config->host, sizeof config->host, "%s", SIM_DEFAULT_HOST);
    snprintf (config->version, sizeof config->version, "%s", SIM_DEFAULT_VERSION);
    config->api = SIM_API_OLLAMA;
    config->parallel = SIM_DEFAULT_PARALLEL;
    config->max_queue = SIM_DEFAULT_MAX_QUEUE;
    config->prefill_rate = SIM_DEFAULT_PREFILL_RATE;
    config->decode_rate = SIM_DEFAULT_DECODE_RATE;
    config->load_ms = SIM_DEFAULT_LOAD_MS;
    config->keep_alive_ms = SIM_DEFAULT_KEEP_ALIVE;
    config->pull_bandwidth = SIM_DEFAULT_PULL_RATE;
    config->embedding_dim = SIM_DEFAULT_EMBED_DIM;
    config->default_tokens = SIM_DEFAULT_TOKENS;
    config->max_loaded_models = SIM_DEFAULT_MAX_LOADED;
    config->cache_restore_rate = SIM_DEFAULT_RESTORE_RATE;
    config->time_scale = 1;
    config->host_check = true;
    config->faults.drop_after_tokens = -1;
    config->faults.stall_after_tokens = -1;
    config->faults.error_after_tokens = -1;
    snprintf (config->faults.error_message, sizeof config->faults.error_message, "%s",
              SIM_RUNNER_STOPPED);
}

int64_t
sim_fleet_scaled_ns (const sim_backend_config_t *config, double ms)
{
    return (int64_t) (ms * 1e6 / config->time_scale);
}

double
sim_fleet_scaled_rate (const sim_backend_config_t *config, double rate)
{
    return rate * config->time_scale;
}

//  Typed field readers: each returns 0 or -1 with a reason
static int
s_get_string (json_t *value, const char *key, char *buf, size_t size, char *error, size_t esize)
{
    if (!json_is_string (value) || json_string_length (value) == 0
        || json_string_length (value) >= size)
        return s_fail (error, esize, "'%s' must be a non-empty string shorter than %zu bytes",
                       key, size);
    snprintf (buf, size, "%s", json_string_value (value));
    return 0;
}

static int
s_get_int (json_t *value, const char *key, int min, int max, int *out, char *error, size_t esize)
{
    if (!json_is_integer (value) || json_integer_value (value) < min
        || json_integer_value (value) > max)
        return s_fail (error, esize, "'%s' must be an integer from %d to %d", key, min, max);
    *out = (int) json_integer_value (value);
    return 0;
}

static int
s_get_rate (json_t *value, const char *key, double *out, char *error, size_t esize)
{
    if (!json_is_number (value) || json_number_value (value) < 0
        || json_number_value (value) > SIM_RATE_MAX)
        return s_fail (error, esize, "'%s' must be a number from 0 to %g", key, SIM_RATE_MAX);
    *out = json_number_value (value);
    return 0;
}

static int
s_get_bool (json_t *value, const char *key, bool *out, char *error, size_t esize)
{
    if (!json_is_boolean (value))
        return s_fail (error, esize, "'%s' must be true or false", key);
    *out = json_is_true (value);
    return 0;
}

int
sim_fleet_parse_model (json_t *object, sim_model_spec_t *spec, char *error, size_t size)
{
    memset (spec, 0, sizeof *spec);
    if (json_is_string (object)) {
        json_t *wrapped = json_pack ("{sO}", "name", object);
        int rc = sim_fleet_parse_model (wrapped, spec, error, size);
        json_decref (wrapped);
        return rc;
    }
    if (!json_is_object (object))
        return s_fail (error, size, "a model must be a name or an object");
    json_t *name = json_object_get (object, "name");
    if (!json_is_string (name)
        || sim_fleet_normalise (json_string_value (name), spec->name, sizeof spec->name))
        return s_fail (error, size, "a model needs a valid 'name'");
    spec->size = SIM_DEFAULT_MODEL_SIZE;
    spec->context_length = SIM_DEFAULT_CONTEXT;
    spec->load_ms = -1;
    snprintf (spec->family, sizeof spec->family, "llama");
    snprintf (spec->parameter_size, sizeof spec->parameter_size, "3.2B");
    snprintf (spec->quantization, sizeof spec->quantization, "Q4_K_M");
    const char *key;
    json_t *value;
    int rc = 0;
    json_object_foreach (object, key, value) {
        if (rc)
            break;
        if (strcmp (key, "name") == 0)
            continue;
        else if (strcmp (key, "size") == 0) {
            if (!json_is_integer (value) || json_integer_value (value) < 0)
                rc = s_fail (error, size, "'size' must be a non-negative integer");
            else
                spec->size = (uint64_t) json_integer_value (value);
        }
        else if (strcmp (key, "digest") == 0) {
            const char *text = json_string_value (value);
            if (text && strncmp (text, "sha256:", 7) == 0)
                text += 7;
            if (!text || strlen (text) != SIM_DIGEST_HEX
                || strspn (text, "0123456789abcdef") != SIM_DIGEST_HEX)
                rc = s_fail (error, size, "'digest' must be 64 lower-case hex digits");
            else
                memcpy (spec->digest, text, SIM_DIGEST_HEX + 1);
        }
        else if (strcmp (key, "family") == 0)
            rc = s_get_string (value, key, spec->family, sizeof spec->family, error, size);
        else if (strcmp (key, "parameter_size") == 0)
            rc = s_get_string (value, key, spec->parameter_size, sizeof spec->parameter_size,
                               error, size);
        else if (strcmp (key, "quantization") == 0)
            rc = s_get_string (value, key, spec->quantization, sizeof spec->quantization,
                               error, size);
        else if (strcmp (key, "embedding") == 0)
            rc = s_get_bool (value, key, &spec->embedding, error, size);
        else if (strcmp (key, "loaded") == 0)
            rc = s_get_bool (value, key, &spec->loaded, error, size);
        else if (strcmp (key, "context_length") == 0)
            rc = s_get_int (value, key, 1, SIM_TOKENS_MAX, &spec->context_length, error, size);
        else if (strcmp (key, "load_ms") == 0)
            rc = s_get_int (value, key, 0, SIM_TIME_MAX_MS, &spec->load_ms, error, size);
        else if (strcmp (key, "embedding_length") == 0)
            rc = s_get_int (value, key, 1, SIM_EMBED_DIM_MAX, &spec->embedding_length, error,
                            size);
        else
            rc = s_fail (error, size, "unknown model key '%s'", key);
    }
    if (rc == 0 && spec->digest [0] == 0) {
        //  A stable digest from the name, as a real registry would have one
        unsigned char hash [SHA256_DIGEST_LENGTH];
        SHA256 ((const unsigned char *) spec->name, strlen (spec->name), hash);
        for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
            snprintf (spec->digest + 2 * i, 3, "%02x", hash [i]);
    }
    return rc;
}

//  Parses an array of models into a new array; caller frees
static int
s_parse_models (json_t *array, sim_model_spec_t **models_p, size_t *count_p, char *error,
                size_t size)
{
    if (!json_is_array (array) || json_array_size (array) > SIM_MODELS_MAX)
        return s_fail (error, size, "'models' must be an array of at most %d models",
                       SIM_MODELS_MAX);
    size_t count = json_array_size (array);
    sim_model_spec_t *models = calloc (count? count: 1, sizeof *models);
    if (!models)
        return s_fail (error, size, "out of memory");
    for (size_t i = 0; i < count; i++) {
        char reason [SIM_ERROR_MAX];
        if (sim_fleet_parse_model (json_array_get (array, i), &models [i], reason, sizeof reason)) {
            free (models);
            return s_fail (error, size, "model %zu: %s", i, reason);
        }
    }
    *models_p = models;
    *count_p = count;
    return 0;
}

static int
s_apply_faults (sim_faults_t *faults, json_t *object, char *error, size_t size)
{
    if (!json_is_object (object))
        return s_fail (error, size, "'faults' must be an object");
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value) {
        int rc;
        if (strcmp (key, "refuse") == 0)
            rc = s_get_bool (value, key, &faults->refuse, error, size);
        else if (strcmp (key, "hang") == 0)
            rc = s_get_bool (value, key, &faults->hang, error, size);
        else if (strcmp (key, "http_500") == 0)
            rc = s_get_bool (value, key, &faults->http_500, error, size);
        else if (strcmp (key, "pull_fail") == 0)
            rc = s_get_bool (value, key, &faults->pull_fail, error, size);
        else if (strcmp (key, "bad_listings") == 0)
            rc = s_get_bool (value, key, &faults->bad_listings, error, size);
        else if (strcmp (key, "slow_first_byte_ms") == 0)
            rc = s_get_int (value, key, 0, SIM_TIME_MAX_MS, &faults->slow_first_byte_ms, error,
                            size);
        else if (strcmp (key, "http_500_every") == 0)
            rc = s_get_int (value, key, 0, SIM_QUEUE_MAX, &faults->http_500_every, error, size);
        else if (strcmp (key, "flap_ms") == 0)
            rc = s_get_int (value, key, 0, SIM_TIME_MAX_MS, &faults->flap_ms, error, size);
        else if (strcmp (key, "drop_after_tokens") == 0)
            rc = s_get_int (value, key, -1, SIM_TOKENS_MAX, &faults->drop_after_tokens, error,
                            size);
        else if (strcmp (key, "stall_after_tokens") == 0)
            rc = s_get_int (value, key, -1, SIM_TOKENS_MAX, &faults->stall_after_tokens, error,
                            size);
        else if (strcmp (key, "error_after_tokens") == 0)
            rc = s_get_int (value, key, -1, SIM_TOKENS_MAX, &faults->error_after_tokens, error,
                            size);
        else if (strcmp (key, "error_message") == 0)
            rc = s_get_string (value, key, faults->error_message, sizeof faults->error_message,
                               error, size);
        else
            rc = s_fail (error, size, "unknown fault '%s'", key);
        if (rc)
            return rc;
    }
    return 0;
}

static int
s_apply_key (sim_backend_config_t *c, const char *key, json_t *value, char *error, size_t size)
{
    if (strcmp (key, "name") == 0)
        return s_get_string (value, key, c->name, sizeof c->name, error, size);
    if (strcmp (key, "host") == 0)
        return s_get_string (value, key, c->host, sizeof c->host, error, size);
    if (strcmp (key, "version") == 0)
        return s_get_string (value, key, c->version, sizeof c->version, error, size);
    if (strcmp (key, "port") == 0)
        return s_get_int (value, key, 0, PORT_MAX, &c->port, error, size);
    if (strcmp (key, "api") == 0) {
        const char *text = json_string_value (value);
        if (text && strcmp (text, "ollama") == 0)
            c->api = SIM_API_OLLAMA;
        else if (text && strcmp (text, "openai") == 0)
            c->api = SIM_API_OPENAI;
        else
            return s_fail (error, size, "'api' must be \"ollama\" or \"openai\"");
        return 0;
    }
    if (strcmp (key, "parallel") == 0)
        return s_get_int (value, key, 1, SIM_PARALLEL_MAX, &c->parallel, error, size);
    if (strcmp (key, "max_queue") == 0)
        return s_get_int (value, key, 0, SIM_QUEUE_MAX, &c->max_queue, error, size);
    if (strcmp (key, "prefill_rate") == 0)
        return s_get_rate (value, key, &c->prefill_rate, error, size);
    if (strcmp (key, "decode_rate") == 0)
        return s_get_rate (value, key, &c->decode_rate, error, size);
    if (strcmp (key, "pull_bandwidth") == 0)
        return s_get_rate (value, key, &c->pull_bandwidth, error, size);
    if (strcmp (key, "load_ms") == 0)
        return s_get_int (value, key, 0, SIM_TIME_MAX_MS, &c->load_ms, error, size);
    if (strcmp (key, "load_rate") == 0)
        return s_get_rate (value, key, &c->load_rate, error, size);
    if (strcmp (key, "unload_ms") == 0)
        return s_get_int (value, key, 0, SIM_TIME_MAX_MS, &c->unload_ms, error, size);
    if (strcmp (key, "cache_ram_tokens") == 0)
        return s_get_int (value, key, 0, SIM_CACHE_RAM_MAX, &c->cache_ram_tokens, error, size);
    if (strcmp (key, "cache_restore_rate") == 0)
        return s_get_rate (value, key, &c->cache_restore_rate, error, size);
    if (strcmp (key, "time_scale") == 0) {
        if (!json_is_number (value) || json_number_value (value) <= 0
            || json_number_value (value) > SIM_TIME_SCALE_MAX)
            return s_fail (error, size, "'time_scale' must be a number above 0, at most %g",
                           SIM_TIME_SCALE_MAX);
        c->time_scale = json_number_value (value);
        return 0;
    }
    if (strcmp (key, "embedding_dim") == 0)
        return s_get_int (value, key, 1, SIM_EMBED_DIM_MAX, &c->embedding_dim, error, size);
    if (strcmp (key, "max_loaded_models") == 0)
        return s_get_int (value, key, 0, SIM_LOADED_MAX, &c->max_loaded_models, error, size);
    if (strcmp (key, "default_tokens") == 0)
        return s_get_int (value, key, 0, SIM_TOKENS_MAX, &c->default_tokens, error, size);
    if (strcmp (key, "host_check") == 0)
        return s_get_bool (value, key, &c->host_check, error, size);
    if (strcmp (key, "stamp_chunks") == 0)
        return s_get_bool (value, key, &c->stamp_chunks, error, size);
    if (strcmp (key, "tls_cert") == 0)
        return s_get_string (value, key, c->tls_cert, sizeof c->tls_cert, error, size);
    if (strcmp (key, "tls_key") == 0)
        return s_get_string (value, key, c->tls_key, sizeof c->tls_key, error, size);
    if (strcmp (key, "keep_alive") == 0) {
        if (sim_clock_parse_duration (value, &c->keep_alive_ms))
            return s_fail (error, size, "'keep_alive' must be a duration like \"5m\" or seconds");
        return 0;
    }
    if (strcmp (key, "seed") == 0) {
        if (!json_is_integer (value))
            return s_fail (error, size, "'seed' must be an integer");
        c->seed = (uint64_t) json_integer_value (value);
        return 0;
    }
    if (strcmp (key, "faults") == 0)
        return s_apply_faults (&c->faults, value, error, size);
    return s_fail (error, size, "unknown backend key '%s'", key);
}

int
sim_fleet_apply_backend (sim_backend_config_t *config, json_t *object, bool allow_models,
                         char *error, size_t size)
{
    if (!json_is_object (object))
        return s_fail (error, size, "a backend must be a JSON object");
    sim_backend_config_t copy = *config;
    sim_model_spec_t *models = NULL;
    size_t model_count = 0;
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value) {
        int rc;
        if (!allow_models && (strcmp (key, "tls_cert") == 0 || strcmp (key, "tls_key") == 0))
            rc = s_fail (error, size, "'%s' cannot be changed at run time", key);
        else
        if (strcmp (key, "models") == 0) {
            if (!allow_models)
                rc = s_fail (error, size, "'models' cannot be changed at run time");
            else {
                free (models);
                models = NULL;
                rc = s_parse_models (value, &models, &model_count, error, size);
            }
        }
        else
            rc = s_apply_key (&copy, key, value, error, size);
        if (rc) {
            free (models);
            return -1;
        }
    }
    if (!*copy.tls_cert != !*copy.tls_key) {
        free (models);
        return s_fail (error, size, "'tls_cert' and 'tls_key' go together");
    }
    if (models) {
        free (config->models);
        copy.models = models;
        copy.model_count = model_count;
    }
    *config = copy;
    return 0;
}

static sim_fleet_t *
s_fleet_alloc (size_t size)
{
    sim_fleet_t *self = calloc (1, sizeof *self);
    if (self)
        self->backends = calloc (size? size: 1, sizeof *self->backends);
    if (self && !self->backends) {
        free (self);
        return NULL;
    }
    if (self)
        self->size = size;
    return self;
}

//  Copies the models array so each backend owns its own
static int
s_own_models (sim_backend_config_t *config)
{
    sim_model_spec_t *models = calloc (config->model_count? config->model_count: 1,
                                       sizeof *models);
    if (!models)
        return -1;
    if (config->model_count)
        memcpy (models, config->models, config->model_count * sizeof *models);
    config->models = models;
    return 0;
}

static sim_fleet_t *
s_fleet_parse (json_t *root, char *error, size_t size)
{
    json_t *backends = json_object_get (root, "backends");
    if (!json_is_array (backends) || json_array_size (backends) == 0
        || json_array_size (backends) > SIM_FLEET_MAX) {
        s_fail (error, size, "'backends' must be an array of 1 to %d backends", SIM_FLEET_MAX);
        return NULL;
    }
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value) {
        if (strcmp (key, "backends") && strcmp (key, "defaults") && strcmp (key, "registry")
            && strcmp (key, "control_port") && strcmp (key, "host") && strcmp (key, "seed")
            && strcmp (key, "time_scale")) {
            s_fail (error, size, "unknown fleet key '%s'", key);
            return NULL;
        }
    }
    sim_fleet_t *self = s_fleet_alloc (json_array_size (backends));
    if (!self) {
        s_fail (error, size, "out of memory");
        return NULL;
    }
    sim_backend_config_t defaults;
    sim_fleet_defaults (&defaults);
    char reason [SIM_ERROR_MAX];
    json_t *common = json_pack ("{}");
    json_t *host = json_object_get (root, "host"), *seed = json_object_get (root, "seed");
    json_t *scale = json_object_get (root, "time_scale");
    if (host)
        json_object_set (common, "host", host);
    if (seed)
        json_object_set (common, "seed", seed);
    if (scale)
        json_object_set (common, "time_scale", scale);
    json_t *port = json_object_get (root, "control_port");
    int rc = 0;
    if (port && s_get_int (port, "control_port", 0, PORT_MAX, &self->control_port, reason,
                           sizeof reason))
        rc = s_fail (error, size, "%s", reason);
    if (rc == 0 && sim_fleet_apply_backend (&defaults, common, true, reason, sizeof reason))
        rc = s_fail (error, size, "%s", reason);
    json_t *dflt = json_object_get (root, "defaults");
    if (rc == 0 && dflt && sim_fleet_apply_backend (&defaults, dflt, true, reason, sizeof reason))
        rc = s_fail (error, size, "defaults: %s", reason);
    json_decref (common);
    json_t *registry = json_object_get (root, "registry");
    if (rc == 0 && registry
        && s_parse_models (registry, &self->registry, &self->registry_size, reason, sizeof reason))
        rc = s_fail (error, size, "registry: %s", reason);
    for (size_t i = 0; rc == 0 && i < self->size; i++) {
        sim_backend_config_t *config = &self->backends [i];
        *config = defaults;
        snprintf (config->name, sizeof config->name, "backend-%zu", i);
        if (s_own_models (config)) {
            rc = s_fail (error, size, "out of memory");
            break;
        }
        if (sim_fleet_apply_backend (config, json_array_get (backends, i), true, reason,
                                     sizeof reason))
            rc = s_fail (error, size, "backend %zu: %s", i, reason);
        for (size_t j = 0; rc == 0 && j < i; j++)
            if (strcmp (self->backends [j].name, config->name) == 0)
                rc = s_fail (error, size, "backend %zu: duplicate name '%s'", i, config->name);
    }
    free (defaults.models);
    if (rc)
        sim_fleet_destroy (&self);
    return self;
}

sim_fleet_t *
sim_fleet_new_from_text (const char *text, char *error, size_t size)
{
    json_error_t jerror;
    json_t *root = json_loads (text, 0, &jerror);
    if (!root) {
        s_fail (error, size, "line %d: %s", jerror.line, jerror.text);
        return NULL;
    }
    sim_fleet_t *self = NULL;
    if (!json_is_object (root))
        s_fail (error, size, "a fleet must be a JSON object");
    else
        self = s_fleet_parse (root, error, size);
    json_decref (root);
    return self;
}

sim_fleet_t *
sim_fleet_new_from_file (const char *path, char *error, size_t size)
{
    json_error_t jerror;
    json_t *root = json_load_file (path, 0, &jerror);
    if (!root) {
        s_fail (error, size, "%s:%d: %s", path, jerror.line, jerror.text);
        return NULL;
    }
    sim_fleet_t *self = NULL;
    if (!json_is_object (root))
        s_fail (error, size, "%s: a fleet must be a JSON object", path);
    else
        self = s_fleet_parse (root, error, size);
    json_decref (root);
    return self;
}

sim_fleet_t *
sim_fleet_new_simple (json_t *backend, int count, char *error, size_t size)
{
    if (count < 1 || count > SIM_FLEET_MAX) {
        s_fail (error, size, "the number of backends must be from 1 to %d", SIM_FLEET_MAX);
        return NULL;
    }
    json_t *root = json_pack ("{s[]}", "backends");
    json_t *array = json_object_get (root, "backends");
    int port = (int) json_integer_value (json_object_get (backend, "port"));
    for (int i = 0; i < count; i++) {
        json_t *copy = json_deep_copy (backend);
        if (!json_object_get (copy, "name"))
            json_object_set_new (copy, "name", json_sprintf ("sim-%d", i));
        if (port > 0)
            json_object_set_new (copy, "port", json_integer (port + i));
        json_array_append_new (array, copy);
    }
    sim_fleet_t *self = s_fleet_parse (root, error, size);
    json_decref (root);
    return self;
}

void
sim_fleet_destroy (sim_fleet_t **self_p)
{
    assert (self_p);
    sim_fleet_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++)
        free (self->backends [i].models);
    free (self->backends);
    free (self->registry);
    free (self);
    *self_p = NULL;
}

size_t
sim_fleet_size (sim_fleet_t *self)
{
    return self->size;
}

sim_backend_config_t *
sim_fleet_backend (sim_fleet_t *self, size_t index)
{
    return index < self->size? &self->backends [index]: NULL;
}

int
sim_fleet_control_port (sim_fleet_t *self)
{
    return self->control_port;
}

void
sim_fleet_set_control_port (sim_fleet_t *self, int port)
{
    self->control_port = port;
}

const sim_model_spec_t *
sim_fleet_registry_find (sim_fleet_t *self, const char *name)
{
    for (size_t i = 0; i < self->registry_size; i++)
        if (strcmp (self->registry [i].name, name) == 0)
            return &self->registry [i];
    for (size_t b = 0; b < self->size; b++)
        for (size_t i = 0; i < self->backends [b].model_count; i++)
            if (strcmp (self->backends [b].models [i].name, name) == 0)
                return &self->backends [b].models [i];
    return NULL;
}

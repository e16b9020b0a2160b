/*  =========================================================================
    ingress_fleet - the fleet, as the bus tells every ingress, for Prometheus
    =========================================================================
*/

#include "ingress_fleet.h"
#include "ingress_metrics.h"

static const char *const s_services [] = {"configd", "scheduler", "healthmon", "modelsync"};
static const char *const s_states [] = {"Healthy", "Unhealthy", "Unknown"};

static void
s_head_typed (struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
s_head (struct evbuffer *out, const char *name, const char *help)
{
    s_head_typed (out, name, "gauge", help);
}

//  name{label="value"[,label2="value2"]} number
static void
s_gauge (struct evbuffer *out, const char *name, const char *label, const char *value,
         const char *label2, const char *value2, double number)
{
    evbuffer_add_printf (out, "%s{%s=\"", name, label);
    ingress_metrics_escape (out, value);
    if (label2) {
        evbuffer_add_printf (out, "\",%s=\"", label2);
        ingress_metrics_escape (out, value2);
    }
    evbuffer_add_printf (out, "\"} %.17g\n", number);
}

//  A string member, "" when absent
static const char *
s_string (json_t *record, const char *key)
{
    const char *value = json_string_value (json_object_get (record, key));
    return value ? value : "";
}

//  The record of a list whose field key is id, or NULL
static json_t *
s_find (json_t *records, const char *key, const char *id)
{
    size_t index;
    json_t *record;
    json_array_foreach (records, index, record)
        if (streq (s_string (record, key), id))
            return record;
    return NULL;
}

static double
s_number (json_t *record, const char *key)
{
    return (double) json_integer_value (json_object_get (record, key));
}

static void
s_write_health (ingress_watch_t *watch, struct evbuffer *out, of_records_t *records)
{
    size_t count = of_records_backend_count (records);
    s_head (out, "ollamaflow_backend_active", "1 if the backend is active in the config");
    for (size_t index = 0; index < count; index++) {
        const of_backend_t *backend = of_records_backend_at (records, index);
        s_gauge (out, "ollamaflow_backend_active", "backend", backend->identifier, NULL, NULL,
                 backend->active);
    }
    s_head (out, "ollamaflow_backend_up", "1 if healthmon calls the backend Healthy");
    for (size_t index = 0; index < count; index++) {
        const char *id = of_records_backend_at (records, index)->identifier;
        const char *state = json_string_value (json_object_get (
            ingress_watch_health (watch, id), "State"));
        s_gauge (out, "ollamaflow_backend_up", "backend", id, NULL, NULL,
                 state && streq (state, "Healthy"));
    }
    s_head (out, "ollamaflow_backend_health_state",
            "1 for the backend's health state (Healthy, Unhealthy, Unknown), 0 for the others");
    for (size_t index = 0; index < count; index++) {
        const char *id = of_records_backend_at (records, index)->identifier;
        const char *state = json_string_value (json_object_get (
            ingress_watch_health (watch, id), "State"));
        for (size_t i = 0; i < 3; i++)
            s_gauge (out, "ollamaflow_backend_health_state", "backend", id, "state", s_states [i],
                     streq (state ? state : "Unknown", s_states [i]));
    }
    s_head (out, "ollamaflow_backend_health_since_timestamp_seconds",
            "When the backend entered its health state (Unix time)");
    for (size_t index = 0; index < count; index++) {
        const char *id = of_records_backend_at (records, index)->identifier;
        const char *since = json_string_value (json_object_get (
            ingress_watch_health (watch, id), "Since"));
        int64_t ms = since ? of_schema_time_parse (since) : -1;
        if (ms >= 0)
            s_gauge (out, "ollamaflow_backend_health_since_timestamp_seconds", "backend", id,
                     NULL, NULL, (double) ms / 1000);
    }
}

static void
s_write_scheduler (ingress_watch_t *watch, struct evbuffer *out, of_records_t *records)
{
    json_t *state = ingress_watch_scheduler (watch);
    json_t *leases = json_object_get (state, "Backends");
    static const struct {
        const char *name, *key, *help;
    } per_backend [] = {
        {"ollamaflow_backend_leases", "Leases", "Leases held on the backend, over all ingresses"},
        {"ollamaflow_backend_queued", "Queued", "Asks waiting that the backend could serve"},
        {"ollamaflow_backend_sessions", "Sessions", "Sticky sessions pinned to the backend"},
    };
    size_t count = of_records_backend_count (records);
    for (size_t i = 0; i < 3; i++) {
        s_head (out, per_backend [i].name, per_backend [i].help);
        for (size_t index = 0; index < count; index++) {
            const char *id = of_records_backend_at (records, index)->identifier;
            s_gauge (out, per_backend [i].name, "backend", id, NULL, NULL,
                     s_number (s_find (leases, "Backend", id), per_backend [i].key));
        }
    }
    s_head (out, "ollamaflow_backend_max_parallel_requests",
            "The backend's MaxParallelRequests: leases it may hold at once");
    for (size_t index = 0; index < count; index++) {
        const of_backend_t *backend = of_records_backend_at (records, index);
        s_gauge (out, "ollamaflow_backend_max_parallel_requests", "backend", backend->identifier,
                 NULL, NULL, (double) backend->max_parallel_requests);
    }
    json_t *frontends = json_object_get (state, "Frontends");
    size_t frontend_count = of_records_frontend_count (records);
    s_head (out, "ollamaflow_frontend_queued", "Asks waiting in the frontend's queue");
    for (size_t index = 0; index < frontend_count; index++) {
        const char *id = of_records_frontend_at (records, index)->identifier;
        s_gauge (out, "ollamaflow_frontend_queued", "frontend", id, NULL, NULL,
                 s_number (s_find (frontends, "Frontend", id), "Queued"));
    }
    s_head (out, "ollamaflow_frontend_sessions", "Sticky sessions of the frontend");
    for (size_t index = 0; index < frontend_count; index++) {
        const char *id = of_records_frontend_at (records, index)->identifier;
        s_gauge (out, "ollamaflow_frontend_sessions", "frontend", id, NULL, NULL,
                 s_number (s_find (frontends, "Frontend", id), "Sessions"));
    }
    s_head (out, "ollamaflow_scheduler_ingresses", "Ingress replicas the scheduler knows");
    evbuffer_add_printf (out, "ollamaflow_scheduler_ingresses %.0f\n",
                         s_number (state, "Ingresses"));
    s_head (out, "ollamaflow_scheduler_leases", "Leases held over the whole fleet");
    evbuffer_add_printf (out, "ollamaflow_scheduler_leases %.0f\n", s_number (state, "Leases"));
    s_head (out, "ollamaflow_scheduler_asks", "Asks not answered yet over the whole fleet");
    evbuffer_add_printf (out, "ollamaflow_scheduler_asks %.0f\n", s_number (state, "Asks"));
}

static void
s_write_models (ingress_watch_t *watch, struct evbuffer *out, of_records_t *records)
{
    static const struct {
        const char *name, *key, *help;
    } counts [] = {
        {"ollamaflow_backend_models", "Models", "Models on the backend's disk (its listing)"},
        {"ollamaflow_backend_models_loaded", "Loaded", "Models loaded in the backend's memory"},
    };
    size_t count = of_records_backend_count (records);
    for (size_t i = 0; i < 2; i++) {
        s_head (out, counts [i].name, counts [i].help);
        for (size_t index = 0; index < count; index++) {
            const char *id = of_records_backend_at (records, index)->identifier;
            json_t *inventory = ingress_watch_inventory (watch, id);
            if (inventory)
                s_gauge (out, counts [i].name, "backend", id, NULL, NULL,
                         (double) json_array_size (json_object_get (inventory, counts [i].key)));
        }
    }
    s_head (out, "ollamaflow_backend_model_loaded", "1 for each model loaded on a backend");
    for (size_t index = 0; index < count; index++) {
        const char *id = of_records_backend_at (records, index)->identifier;
        size_t i;
        json_t *loaded;
        json_array_foreach (json_object_get (ingress_watch_inventory (watch, id), "Loaded"), i,
                            loaded) {
            const char *name = json_string_value (json_object_get (loaded, "Name"));
            if (name)
                s_gauge (out, "ollamaflow_backend_model_loaded", "backend", id, "model", name, 1);
        }
    }
    json_t *pulls = ingress_watch_pulls (watch, NULL);
    s_head (out, "ollamaflow_pull_completed_bytes", "Bytes of the current layer a pull has");
    size_t index;
    json_t *pull;
    json_array_foreach (pulls, index, pull)
        if (!json_is_true (json_object_get (pull, "Done")))
            s_gauge (out, "ollamaflow_pull_completed_bytes", "backend",
                     s_string (pull, "Backend"), "model", s_string (pull, "Model"),
                     s_number (pull, "Completed"));
    s_head (out, "ollamaflow_pull_total_bytes", "Bytes of the layer a pull is fetching");
    json_array_foreach (pulls, index, pull)
        if (!json_is_true (json_object_get (pull, "Done")))
            s_gauge (out, "ollamaflow_pull_total_bytes", "backend",
                     s_string (pull, "Backend"), "model", s_string (pull, "Model"),
                     s_number (pull, "Total"));
    json_decref (pulls);
}

//  Each client API key's usage since the scheduler started (its STATE's Keys),
//  by key while the config has at most Metrics.KeyLabelsMax keys, else summed:
//  a label set bounded by the operator, and never a secret
static void
s_write_keys (ingress_watch_t *watch, of_records_t *records, const of_settings_t *settings,
              struct evbuffer *out)
{
    json_t *usage = json_object_get (ingress_watch_scheduler (watch), "Keys");
    size_t count = of_records_key_count (records);
    bool named = count <= (size_t) settings->metrics_key_labels_max;
    //  The usage counts are counters: they only grow, and start again from 0
    //  with a new scheduler (its epoch), which rate() takes as a reset
    static const struct {
        const char *name, *type, *field, *help;
    } per_key [] = {
        {"ollamaflow_key_requests_total", "counter", "Requests",
         "Requests of the key since the scheduler started"},
        {"ollamaflow_key_prompt_tokens_total", "counter", "PromptTokens",
         "Prompt tokens of the key since the scheduler started"},
        {"ollamaflow_key_completion_tokens_total", "counter", "CompletionTokens",
         "Completion tokens of the key since the scheduler started"},
        {"ollamaflow_key_errors_total", "counter", "Errors",
         "Requests of the key refused or failed since the scheduler started"},
        {"ollamaflow_key_running", "gauge", "Running", "Requests of the key holding a backend slot"},
    };
    for (size_t i = 0; i < sizeof per_key / sizeof per_key [0]; i++) {
        s_head_typed (out, per_key [i].name, per_key [i].type, per_key [i].help);
        double sum = 0;
        for (size_t index = 0; index < count; index++) {
            const char *id = of_records_key_at (records, index)->identifier;
            double value = s_number (s_find (usage, "Key", id), per_key [i].field);
            if (named)
                s_gauge (out, per_key [i].name, "key", id, NULL, NULL, value);
            sum += value;
        }
        if (!named)
            evbuffer_add_printf (out, "%s %.17g\n", per_key [i].name, sum);
    }
}

void
ingress_fleet_write (ingress_watch_t *watch, of_clone_t *clone, const of_settings_t *settings,
                     struct evbuffer *out)
{
    s_head (out, "ollamaflow_service_up",
            "1 while the service has been heard within Bus.LivenessMs");
    for (size_t i = 0; i < 4; i++)
        s_gauge (out, "ollamaflow_service_up", "service", s_services [i], NULL, NULL,
                 ingress_watch_alive (watch, s_services [i]));
    of_records_t *records = of_clone_records (clone);
    s_write_health (watch, out, records);
    s_write_scheduler (watch, out, records);
    s_write_models (watch, out, records);
    s_write_keys (watch, records, settings, out);
}

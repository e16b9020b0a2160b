/*  =========================================================================
    ingress_admin_live - backend health, a frontend's models, and status
    =========================================================================
*/

#include "ingress_admin_live.h"
#include "ingress_admin_list.h"
#include "ingress_admin_reply.h"

#define S_SPAN_MAX 32

//  --------------------------------------------------------------------------
//  Times

void
ingress_admin_live_span (int64_t ms, char *dest, size_t size)
{
    if (ms < 0)
        ms = 0;
    int64_t days = ms / 86400000, rest = ms % 86400000;
    char day [24] = "";
    if (days)
        snprintf (day, sizeof day, "%lld.", (long long) days);
    snprintf (dest, size, "%s%02lld:%02lld:%02lld.%03lld0000", day, (long long) rest / 3600000,
              (long long) rest / 60000 % 60, (long long) rest / 1000 % 60,
              (long long) rest % 1000);
}

//  --------------------------------------------------------------------------
//  Health

//  The record of backend in the scheduler's STATE list, or NULL
static json_t *
s_find (json_t *list, const char *field, const char *value)
{
    size_t index;
    json_t *record;
    json_array_foreach (list, index, record)
        if (streq (json_string_value (json_object_get (record, field)), value))
            return record;
    return NULL;
}

//  The names of a list of Model or Loaded records
static json_t *
s_names (json_t *records)
{
    json_t *names = json_array ();
    size_t index;
    json_t *record;
    json_array_foreach (records, index, record)
        json_array_append (names, json_object_get (record, "Name"));
    return names;
}

//  OllamaFlow's in-memory Backend, with what it never showed
static json_t *
s_health (ingress_watch_t *watch, const of_backend_t *backend)
{
    const char *id = backend->identifier;
    json_t *record = of_schema_redact (OF_KIND_BACKEND, of_backend_object (backend));
    json_t *health = ingress_watch_health (watch, id);
    const char *state = health ? json_string_value (json_object_get (health, "State")) : "Unknown";
    bool healthy = streq (state, "Healthy");
    json_object_set_new (record, "Healthy", json_boolean (healthy));
    json_object_set_new (record, "State", json_string (state));
    json_object_set_new (record, "HealthStale",
                         json_boolean (!ingress_watch_alive (watch, "healthmon")));
    if (health) {
        const char *since = json_string_value (json_object_get (health, "Since"));
        char span [S_SPAN_MAX];
        ingress_admin_live_span (zclock_time () - of_schema_time_parse (since), span, sizeof span);
        json_object_set_new (record, healthy ? "HealthySinceUtc" : "UnhealthySinceUtc",
                             json_string (since));
        json_object_set_new (record, healthy ? "Uptime" : "Downtime", json_string (span));
        const char *copied [] = {"Reason", "LastCheckUtc", "ConsecutiveSuccesses",
                                 "ConsecutiveFailures", "LatencyMs"};
        for (size_t i = 0; i < sizeof copied / sizeof copied [0]; i++)
            json_object_set (record, copied [i], json_object_get (health, copied [i]));
    }
    json_t *state_body = ingress_watch_scheduler (watch);
    json_t *leases = s_find (json_object_get (state_body, "Backends"), "Backend", id);
    json_object_set_new (record, "ActiveRequests",
                         json_integer (json_integer_value (json_object_get (leases, "Leases"))));
    json_object_set_new (record, "Sessions",
                         json_integer (json_integer_value (json_object_get (leases, "Sessions"))));
    json_object_set_new (record, "QueueDepth",
                         json_integer (json_integer_value (json_object_get (leases, "Queued"))));
    json_object_set_new (record, "SchedulerStale",
                         json_boolean (!ingress_watch_alive (watch, "scheduler")));
    json_t *inventory = ingress_watch_inventory (watch, id);
    json_object_set_new (record, "ModelsKnown", json_boolean (inventory != NULL));
    json_object_set_new (record, "Models", s_names (json_object_get (inventory, "Models")));
    json_object_set_new (record, "LoadedModels", s_names (json_object_get (inventory, "Loaded")));
    json_object_set (record, "ModelsFetchedUtc", json_object_get (inventory, "FetchedUtc"));
    json_object_set (record, "ModelsError", json_object_get (inventory, "Error"));
    json_object_set_new (record, "Pulls", ingress_watch_pulls (watch, id));
    return record;
}

//  Answers 503 and returns false until this replica has the config
static bool
s_config_ready (const ingress_admin_live_t *live, of_exchange_t *exchange)
{
    if (of_clone_ready (live->clone))
        return true;
    ingress_admin_error (exchange, 503, NULL, "this replica has no configuration yet: configd "
                         "has not answered");
    return false;
}

//  A client API key's usage since the scheduler started (its STATE's Keys)
static json_t *
s_usage (ingress_watch_t *watch, const char *id)
{
    json_t *state_body = ingress_watch_scheduler (watch);
    json_t *usage = s_find (json_object_get (state_body, "Keys"), "Key", id);
    json_t *record = json_pack ("{s:s}", "Identifier", id);
    const char *counts [] = {"Requests", "PromptTokens", "CompletionTokens", "Errors", "Running"};
    for (size_t i = 0; i < sizeof counts / sizeof counts [0]; i++)
        json_object_set_new (record, counts [i], json_integer (json_integer_value (
                                 json_object_get (usage, counts [i]))));
    json_object_set (record, "SchedulerEpoch", json_object_get (state_body, "Epoch"));
    json_object_set_new (record, "SchedulerStale",
                         json_boolean (!ingress_watch_alive (watch, "scheduler")));
    return record;
}

//  Answers 404 for an object of kind the config does not have
static void
s_not_found (of_exchange_t *exchange, of_kind_t kind, const char *id)
{
    ingress_admin_error (exchange, 404, NULL, "no %s with Identifier '%.64s'",
                         of_kind_name (kind), id);
}

//  Sends the views of every object (all, taken), paged by the query
static void
s_send_all (of_exchange_t *exchange, json_t *all)
{
    char error [OF_SCHEMA_ERROR_MAX];
    size_t total = 0;
    json_t *page = ingress_admin_paged (all, of_exchange_query (exchange),
                                        ingress_admin_list_params, error, sizeof error, &total);
    json_decref (all);
    if (page)
        ingress_admin_send_page (exchange, page, total);
    else
        ingress_admin_error (exchange, 400, NULL, "%s", error);
}

void
ingress_admin_live_health (const ingress_admin_live_t *live, of_exchange_t *exchange,
                           const char *backend)
{
    if (!s_config_ready (live, exchange))
        return;
    of_records_t *records = of_clone_records (live->clone);
    if (backend) {
        const of_backend_t *record = of_records_backend (records, backend);
        if (record)
            ingress_admin_send (exchange, 200, s_health (live->watch, record));
        else
            s_not_found (exchange, OF_KIND_BACKEND, backend);
        return;
    }
    json_t *all = json_array ();
    for (size_t index = 0; index < of_records_backend_count (records); index++)
        json_array_append_new (all, s_health (live->watch,
                                              of_records_backend_at (records, index)));
    s_send_all (exchange, all);
}

void
ingress_admin_live_usage (const ingress_admin_live_t *live, of_exchange_t *exchange,
                          const char *key)
{
    if (!s_config_ready (live, exchange))
        return;
    of_records_t *records = of_clone_records (live->clone);
    if (key) {
        if (of_records_key (records, key))
            ingress_admin_send (exchange, 200, s_usage (live->watch, key));
        else
            s_not_found (exchange, OF_KIND_KEY, key);
        return;
    }
    json_t *all = json_array ();
    for (size_t index = 0; index < of_records_key_count (records); index++)
        json_array_append_new (all, s_usage (live->watch,
                                             of_records_key_at (records, index)->identifier));
    s_send_all (exchange, all);
}

//  --------------------------------------------------------------------------
//  Models

//  Adds backend to models[key][list], where key is the model name as the
//  scheduler compares it (ofp_models_key: lower case, ":latest" if untagged);
//  returns the model's record
static json_t *
s_note (json_t *models, const char *name, const char *list, const char *backend)
{
    char key [OFP_MODELS_KEY_MAX];
    ofp_models_key (key, name);
    json_t *model = json_object_get (models, key);
    if (!model) {
        model = json_pack ("{s:s, s:[], s:[], s:[], s:b}", "Name", key, "Backends", "LoadedOn",
                           "Digests", "DigestDrift", 0);
        json_object_set_new (models, key, model);
    }
    json_array_append_new (json_object_get (model, list), json_string (backend));
    return model;
}

//  Adds backend to the model's Digests (which backends hold which digest:
//  a name the scheduler routes alike may differ between backends) and sets
//  DigestDrift when there is more than one
static void
s_note_digest (json_t *model, const char *digest, const char *backend)
{
    json_t *digests = json_object_get (model, "Digests");
    json_t *entry = NULL, *item;
    size_t index;
    json_array_foreach (digests, index, item)
        if (streq (json_string_value (json_object_get (item, "Digest")), digest))
            entry = item;
    if (!entry) {
        entry = json_pack ("{s:s, s:[]}", "Digest", digest, "Backends");
        json_array_append_new (digests, entry);
    }
    json_array_append_new (json_object_get (entry, "Backends"), json_string (backend));
    json_object_set_new (model, "DigestDrift", json_boolean (json_array_size (digests) > 1));
}

void
ingress_admin_live_models (const ingress_admin_live_t *live, of_exchange_t *exchange,
                           const char *frontend_id)
{
    ingress_watch_t *watch = live->watch;
    if (!s_config_ready (live, exchange))
        return;
    const of_frontend_t *frontend = of_records_frontend (of_clone_records (live->clone),
                                                         frontend_id);
    if (!frontend) {
        s_not_found (exchange, OF_KIND_FRONTEND, frontend_id);
        return;
    }
    json_t *models = json_object ();
    json_t *backends = json_array ();
    json_t *pulls = json_array ();
    json_t *required = json_array ();
    for (size_t index = 0; index < frontend->required_models.count; index++)
        json_array_append_new (required, json_string (frontend->required_models.items [index]));
    for (size_t index = 0; index < frontend->backends.count; index++) {
        const char *id = frontend->backends.items [index];
        json_t *inventory = ingress_watch_inventory (watch, id);
        json_t *health = ingress_watch_health (watch, id);
        json_t *record = json_pack ("{s:s, s:b, s:s}", "Backend", id, "ModelsKnown",
                                    inventory != NULL, "State",
                                    health ? json_string_value (json_object_get (health, "State"))
                                           : "Unknown");
        json_object_set (record, "ApiFormat", json_object_get (inventory, "ApiFormat"));
        json_object_set (record, "FetchedUtc", json_object_get (inventory, "FetchedUtc"));
        json_object_set (record, "Error", json_object_get (inventory, "Error"));
        json_array_append_new (backends, record);
        size_t i;
        json_t *item;
        json_array_foreach (json_object_get (inventory, "Models"), i, item) {
            json_t *model = s_note (models, json_string_value (json_object_get (item, "Name")),
                                    "Backends", id);
            const char *digest = json_string_value (json_object_get (item, "Digest"));
            s_note_digest (model, digest ? digest : "", id);
        }
        json_array_foreach (json_object_get (inventory, "Loaded"), i, item)
            s_note (models, json_string_value (json_object_get (item, "Name")), "LoadedOn", id);
        json_t *running = ingress_watch_pulls (watch, id);
        json_array_extend (pulls, running);
        json_decref (running);
    }
    json_t *list = json_array ();
    const char *name;
    json_t *model;
    json_object_foreach (models, name, model)
        json_array_append (list, model);
    json_decref (models);
    size_t total;
    char error [OF_SCHEMA_ERROR_MAX];
    json_t *sorted = ingress_admin_paged (list, "order-by=Name", ingress_admin_list_params, error,
                                          sizeof error, &total);
    json_decref (list);
    ingress_admin_send (exchange, 200, json_pack (
        "{s:s, s:o, s:o, s:o, s:o, s:b}", "Frontend", frontend_id, "RequiredModels", required,
        "Models", sorted, "Backends", backends,
        "Pulls", pulls, "ModelsStale", !ingress_watch_alive (watch, "modelsync")));
}

//  --------------------------------------------------------------------------
//  Status

void
ingress_admin_live_status (const ingress_admin_live_t *live, of_exchange_t *exchange)
{
    ingress_watch_t *watch = live->watch;
    int64_t uptime = zclock_mono () - live->started;
    char span [S_SPAN_MAX];
    ingress_admin_live_span (uptime, span, sizeof span);
    json_t *state = ingress_watch_scheduler (watch);
    json_t *scheduler = json_pack ("{s:b, s:s}", "Linked", ingress_link_up (live->link), "Epoch",
                                   ingress_link_epoch (live->link));
    const char *counts [] = {"Ingresses", "Leases", "Asks"};
    for (size_t i = 0; state && i < sizeof counts / sizeof counts [0]; i++)
        json_object_set (scheduler, counts [i], json_object_get (state, counts [i]));
    of_records_t *records = of_clone_records (live->clone);
    json_t *config = json_pack ("{s:b, s:b, s:s, s:I, s:I, s:I}", "Ready",
                                of_clone_ready (live->clone), "Alive", of_clone_alive (live->clone),
                                "Epoch", of_clone_epoch (live->clone), "Sequence",
                                (json_int_t) of_clone_sequence (live->clone), "Frontends",
                                (json_int_t) of_records_frontend_count (records), "Backends",
                                (json_int_t) of_records_backend_count (records));
    ingress_admin_send (exchange, 200, json_pack (
        "{s:s, s:s, s:s, s:I, s:s, s:{s:I, s:I}, s:o, s:o, s:o}", "Version", OF_VERSION,
        "Ingress", live->settings->ingress_id, "StartedUtc", live->started_utc, "UptimeMs",
        (json_int_t) uptime, "Uptime", span, "Requests", "Served",
        (json_int_t) ingress_ops_requests (live->ops), "InFlight",
        (json_int_t) ingress_ops_calls (live->ops), "Config", config, "Scheduler", scheduler,
        "Services", ingress_watch_services (watch)));
}

//  --------------------------------------------------------------------------
//  Self test

void
ingress_admin_live_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_admin_live: ");
    char text [64];
    ingress_admin_live_span (3723004, text, sizeof text);
    assert (streq (text, "01:02:03.0040000"));
    ingress_admin_live_span (2 * 86400000 + 1000, text, sizeof text);
    assert (streq (text, "2.00:00:01.0000000"));
    printf ("OK\n");
}

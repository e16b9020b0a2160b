/*  =========================================================================
    of_records - the frontends, backends and keys, compiled into typed records
    =========================================================================
*/

#include "of_records.h"
#include <czmq.h>

#define S_SLOTS 3               //  frontends, backends, keys

//  A compiled frontend, backend or key: the record, then what it is made of. The
//  record comes first, so that a pointer to it is a pointer to the entry.
typedef struct {
    union {
        of_frontend_t frontend;
        of_backend_t backend;
        of_key_t key;
    } record;
    of_kind_t kind;
    int links;                  //  sets holding it
    json_t *source;             //  the object compiled (a reference): unchanged if the same
    json_t *object;             //  normalized; the record's strings and pins point into it
    const char **lists [2];     //  the items of its lists of strings
    of_header_t *headers;
} s_entry_t;

struct _of_records_t {
    int links;
    s_entry_t **entries [S_SLOTS];  //  frontends, backends, keys, in the order given
    size_t counts [S_SLOTS];
    zhashx_t *index [S_SLOTS];  //  Identifier -> entry (not owned)
    size_t refused;
    char error [OF_SCHEMA_ERROR_MAX + OF_IDENTIFIER_MAX + 32];
};

static const char *const s_balancing_names [] = {
    [OF_BALANCING_ROUND_ROBIN] = "RoundRobin",
    [OF_BALANCING_RANDOM] = "Random",
    [OF_BALANCING_LEAST_OUTSTANDING] = "LeastOutstanding",
    [OF_BALANCING_LEAST_LATENCY] = "LeastLatency",
    [OF_BALANCING_PREDICTED_LATENCY] = "PredictedLatency",
};

static const char *const s_api_format_names [] = {
    [OF_API_OLLAMA] = "Ollama",
    [OF_API_OPENAI] = "OpenAI",
};

//  The schema's names, its default first (s_enum)
static const char *const s_priority_names [] = {
    [OF_PRIORITY_NORMAL] = "Normal",
    [OF_PRIORITY_HIGH] = "High",
    [OF_PRIORITY_LOW] = "Low",
};

#define S_COUNT(array) (sizeof (array) / sizeof ((array) [0]))

//  --------------------------------------------------------------------------
//  Reading a normalized object: every field is there, of its type

static const char *
s_string (json_t *object, const char *name)
{
    return json_string_value (json_object_get (object, name));
}

static int64_t
s_int (json_t *object, const char *name)
{
    return json_integer_value (json_object_get (object, name));
}

static bool
s_bool (json_t *object, const char *name)
{
    return json_is_true (json_object_get (object, name));
}

//  Fills a list from an array of strings; items is the array to free later
static void
s_list (json_t *object, const char *name, of_strings_t *list, const char ***items)
{
    json_t *array = json_object_get (object, name);
    size_t count = json_array_size (array);
    *items = (const char **) zmalloc ((count + 1) * sizeof (char *));
    for (size_t index = 0; index < count; index++)
        (*items) [index] = json_string_value (json_array_get (array, index));
    list->items = *items;
    list->count = count;
}

//  The index of name among names, or 0 (the schema's default comes first)
static int
s_enum (const char *const *names, size_t count, const char *name)
{
    for (size_t index = 0; name && index < count; index++)
        if (streq (names [index], name))
            return (int) index;
    return 0;
}

static void
s_compile_frontend (s_entry_t *entry)
{
    of_frontend_t *record = &entry->record.frontend;
    json_t *object = entry->object;
    record->identifier = s_string (object, "Identifier");
    record->name = s_string (object, "Name");
    record->hostname = s_string (object, "Hostname");
    record->timeout_ms = s_int (object, "TimeoutMs");
    record->load_balancing = (of_balancing_t) s_enum (s_balancing_names,
                                                      S_COUNT (s_balancing_names),
                                                      s_string (object, "LoadBalancing"));
    record->block_http10 = s_bool (object, "BlockHttp10");
    record->max_request_body_size = s_int (object, "MaxRequestBodySize");
    s_list (object, "Backends", &record->backends, &entry->lists [0]);
    s_list (object, "RequiredModels", &record->required_models, &entry->lists [1]);
    record->log_request_full = s_bool (object, "LogRequestFull");
    record->log_request_body = s_bool (object, "LogRequestBody");
    record->log_response_body = s_bool (object, "LogResponseBody");
    record->use_sticky_sessions = s_bool (object, "UseStickySessions");
    record->sticky_session_expiration_ms = s_int (object, "StickySessionExpirationMs");
    record->pinned_embeddings = json_object_get (object, "PinnedEmbeddingsProperties");
    record->pinned_completions = json_object_get (object, "PinnedCompletionsProperties");
    record->allow_embeddings = s_bool (object, "AllowEmbeddings");
    record->allow_completions = s_bool (object, "AllowCompletions");
    record->allow_retries = s_bool (object, "AllowRetries");
    record->pass_client_credentials = s_bool (object, "PassClientCredentials");
    record->require_api_key = s_bool (object, "RequireApiKey");
    record->active = s_bool (object, "Active");
    record->created_utc = s_string (object, "CreatedUtc");
    record->last_update_utc = s_string (object, "LastUpdateUtc");
}

static void
s_compile_backend (s_entry_t *entry)
{
    of_backend_t *record = &entry->record.backend;
    json_t *object = entry->object;
    record->identifier = s_string (object, "Identifier");
    record->name = s_string (object, "Name");
    record->hostname = s_string (object, "Hostname");
    record->port = (int) s_int (object, "Port");
    record->ssl = s_bool (object, "Ssl");
    record->unhealthy_threshold = (int) s_int (object, "UnhealthyThreshold");
    record->healthy_threshold = (int) s_int (object, "HealthyThreshold");
    record->health_check_method = s_string (object, "HealthCheckMethod");
    record->health_check_url = s_string (object, "HealthCheckUrl");
    record->max_parallel_requests = s_int (object, "MaxParallelRequests");
    record->rate_limit_requests_threshold = s_int (object, "RateLimitRequestsThreshold");
    record->log_request_full = s_bool (object, "LogRequestFull");
    record->log_request_body = s_bool (object, "LogRequestBody");
    record->log_response_body = s_bool (object, "LogResponseBody");
    record->api_format = (of_api_format_t) s_enum (s_api_format_names,
                                                   S_COUNT (s_api_format_names),
                                                   s_string (object, "ApiFormat"));
    s_list (object, "Labels", &record->labels, &entry->lists [0]);
    record->pinned_embeddings = json_object_get (object, "PinnedEmbeddingsProperties");
    record->pinned_completions = json_object_get (object, "PinnedCompletionsProperties");
    record->allow_embeddings = s_bool (object, "AllowEmbeddings");
    record->allow_completions = s_bool (object, "AllowCompletions");
    s_list (object, "ImageModels", &record->image_models, &entry->lists [1]);
    record->bearer_token = s_string (object, "BearerToken");
    record->querystring = s_string (object, "Querystring");
    json_t *headers = json_object_get (object, "Headers");
    entry->headers = (of_header_t *) zmalloc ((json_object_size (headers) + 1)
                                              * sizeof (of_header_t));
    const char *name;
    json_t *value;
    json_object_foreach (headers, name, value) {
        entry->headers [record->header_count].name = name;
        entry->headers [record->header_count].value = json_string_value (value);
        record->header_count++;
    }
    record->headers = entry->headers;
    record->active = s_bool (object, "Active");
    record->created_utc = s_string (object, "CreatedUtc");
    record->last_update_utc = s_string (object, "LastUpdateUtc");
}

static void
s_compile_key (s_entry_t *entry)
{
    of_key_t *record = &entry->record.key;
    json_t *object = entry->object;
    record->identifier = s_string (object, "Identifier");
    record->name = s_string (object, "Name");
    record->owner = s_string (object, "Owner");
    s_list (object, "Frontends", &record->frontends, &entry->lists [0]);
    s_list (object, "Models", &record->models, &entry->lists [1]);
    record->priority = (of_priority_t) s_enum (s_priority_names, S_COUNT (s_priority_names),
                                               s_string (object, "Priority"));
    record->max_concurrent_requests = s_int (object, "MaxConcurrentRequests");
    record->requests_per_minute = s_int (object, "RequestsPerMinute");
    record->tokens_per_minute = s_int (object, "TokensPerMinute");
    record->expires_utc = s_string (object, "ExpiresUtc");
    record->active = s_bool (object, "Active");
    record->secret_hash = s_string (object, "SecretHash");
    record->created_utc = s_string (object, "CreatedUtc");
    record->last_update_utc = s_string (object, "LastUpdateUtc");
}

static void
s_entry_unlink (s_entry_t **entry_p)
{
    s_entry_t *entry = *entry_p;
    if (entry && --entry->links == 0) {
        json_decref (entry->source);
        json_decref (entry->object);
        free (entry->lists [0]);
        free (entry->lists [1]);
        free (entry->headers);
        free (entry);
    }
    *entry_p = NULL;
}

//  Validates an object with configd's schema and compiles it; NULL with a
//  reason if the schema refuses it
static s_entry_t *
s_entry_new (of_kind_t kind, json_t *source, char *error, size_t size)
{
    json_t *object = of_schema_normalize (kind, source, error, size);
    if (!object)
        return NULL;
    //  Set by configd, so ignored on input: taken as the object has them
    static const char *const stamps [] = {"CreatedUtc", "LastUpdateUtc"};
    for (size_t index = 0; index < S_COUNT (stamps); index++) {
        const char *stamp = json_string_value (json_object_get (source, stamps [index]));
        if (stamp)
            json_object_set_new (object, stamps [index], json_string (stamp));
    }
    s_entry_t *entry = (s_entry_t *) zmalloc (sizeof (s_entry_t));
    entry->kind = kind;
    entry->links = 1;
    entry->source = json_incref (source);
    entry->object = object;
    if (kind == OF_KIND_FRONTEND)
        s_compile_frontend (entry);
    else
    if (kind == OF_KIND_BACKEND)
        s_compile_backend (entry);
    else
        s_compile_key (entry);
    return entry;
}

//  Fills one kind of the set: the previous set's entry where the object is
//  the same, else a new one
static void
s_fill (of_records_t *self, int slot, of_kind_t kind, json_t *objects, of_records_t *previous)
{
    self->index [slot] = zhashx_new ();
    self->entries [slot] = (s_entry_t **) zmalloc ((json_object_size (objects) + 1)
                                                   * sizeof (s_entry_t *));
    const char *identifier;
    json_t *source;
    json_object_foreach (objects, identifier, source) {
        s_entry_t *entry = previous
                         ? (s_entry_t *) zhashx_lookup (previous->index [slot], identifier)
                         : NULL;
        if (entry && entry->source == source)
            entry->links++;
        else {
            char reason [OF_SCHEMA_ERROR_MAX] = "";
            entry = s_entry_new (kind, source, reason, sizeof reason);
            if (entry && !streq (s_string (entry->object, "Identifier"), identifier)) {
                snprintf (reason, sizeof reason, "Identifier: differs from its key");
                s_entry_unlink (&entry);
            }
            if (!entry) {
                self->refused++;
                snprintf (self->error, sizeof self->error, "%s %.64s: %s", of_kind_name (kind),
                          identifier, reason);
                continue;
            }
        }
        zhashx_insert (self->index [slot], identifier, entry);
        self->entries [slot][self->counts [slot]++] = entry;
    }
}

//  --------------------------------------------------------------------------
//  The set

of_records_t *
of_records_new (json_t *frontends, json_t *backends, json_t *keys, of_records_t *previous)
{
    of_records_t *self = (of_records_t *) zmalloc (sizeof (of_records_t));
    self->links = 1;
    s_fill (self, 0, OF_KIND_FRONTEND, frontends, previous);
    s_fill (self, 1, OF_KIND_BACKEND, backends, previous);
    s_fill (self, 2, OF_KIND_KEY, keys, previous);
    return self;
}

of_records_t *
of_records_ref (of_records_t *self)
{
    assert (self);
    __atomic_add_fetch (&self->links, 1, __ATOMIC_RELAXED);
    return self;
}

void
of_records_destroy (of_records_t **self_p)
{
    assert (self_p);
    of_records_t *self = *self_p;
    *self_p = NULL;
    if (!self || __atomic_sub_fetch (&self->links, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    for (int slot = 0; slot < S_SLOTS; slot++) {
        for (size_t index = 0; index < self->counts [slot]; index++)
            s_entry_unlink (&self->entries [slot][index]);
        free (self->entries [slot]);
        zhashx_destroy (&self->index [slot]);
    }
    free (self);
}

const of_frontend_t *
of_records_frontend (of_records_t *self, const char *identifier)
{
    assert (self && identifier);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->index [0], identifier);
    return entry ? &entry->record.frontend : NULL;
}

const of_backend_t *
of_records_backend (of_records_t *self, const char *identifier)
{
    assert (self && identifier);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->index [1], identifier);
    return entry ? &entry->record.backend : NULL;
}

const of_key_t *
of_records_key (of_records_t *self, const char *identifier)
{
    assert (self && identifier);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->index [2], identifier);
    return entry ? &entry->record.key : NULL;
}

size_t
of_records_frontend_count (of_records_t *self)
{
    assert (self);
    return self->counts [0];
}

const of_frontend_t *
of_records_frontend_at (of_records_t *self, size_t index)
{
    assert (self && index < self->counts [0]);
    return &self->entries [0][index]->record.frontend;
}

size_t
of_records_backend_count (of_records_t *self)
{
    assert (self);
    return self->counts [1];
}

const of_backend_t *
of_records_backend_at (of_records_t *self, size_t index)
{
    assert (self && index < self->counts [1]);
    return &self->entries [1][index]->record.backend;
}

size_t
of_records_key_count (of_records_t *self)
{
    assert (self);
    return self->counts [2];
}

const of_key_t *
of_records_key_at (of_records_t *self, size_t index)
{
    assert (self && index < self->counts [2]);
    return &self->entries [2][index]->record.key;
}

size_t
of_records_refused (of_records_t *self)
{
    assert (self);
    return self->refused;
}

const char *
of_records_error (of_records_t *self)
{
    assert (self);
    return self->error;
}

json_t *
of_backend_object (const of_backend_t *record)
{
    assert (record);
    //  The record is the entry's first member
    return ((const s_entry_t *) record)->source;
}

const char *
of_balancing_name (of_balancing_t balancing)
{
    assert ((size_t) balancing < S_COUNT (s_balancing_names));
    return s_balancing_names [balancing];
}

const char *
of_api_format_name (of_api_format_t format)
{
    assert ((size_t) format < S_COUNT (s_api_format_names));
    return s_api_format_names [format];
}

const char *
of_priority_name (of_priority_t priority)
{
    assert ((size_t) priority < S_COUNT (s_priority_names));
    return s_priority_names [priority];
}

bool
of_strings_has (const of_strings_t *list, const char *text)
{
    assert (list && text);
    for (size_t index = 0; index < list->count; index++)
        if (streq (list->items [index], text))
            return true;
    return false;
}

of_records_t *
of_records_test_backend (json_t *object, const of_backend_t **backend_p)
{
    assert (json_is_object (object) && backend_p);
    json_t *copy = json_deep_copy (object);
    if (!json_object_get (copy, "Identifier"))
        json_object_set_new (copy, "Identifier", json_string ("b"));
    json_t *backends = json_object ();
    json_object_set (backends, json_string_value (json_object_get (copy, "Identifier")), copy);
    json_decref (copy);
    of_records_t *self = of_records_new (NULL, backends, NULL, NULL);
    json_decref (backends);
    assert (of_records_backend_count (self) == 1);
    *backend_p = of_records_backend_at (self, 0);
    return self;
}

//  --------------------------------------------------------------------------
//  Self test

void
of_records_test (bool verbose)
{
    printf (" * of_records: ");
    if (verbose)
        printf ("\n");
    json_t *frontends = json_loads (
        "{\"f1\": {\"Identifier\": \"f1\", \"Hostname\": \"a.example\", \"TimeoutMs\": 500,"
        "  \"LoadBalancing\": \"leastlatency\", \"Backends\": [\"b2\", \"b1\"],"
        "  \"RequiredModels\": [\"llama3\"], \"PinnedCompletionsProperties\": {\"seed\": 1},"
        "  \"AllowEmbeddings\": false, \"CreatedUtc\": \"2026-01-01T00:00:00.000000Z\"},"
        " \"f2\": {\"Identifier\": \"f2\", \"TimeoutMs\": -1}}", 0, NULL);
    json_t *backends = json_loads (
        "{\"b1\": {\"Identifier\": \"b1\", \"Port\": 8080, \"ApiFormat\": \"openai\","
        "  \"Labels\": [\"gpu\"], \"Headers\": {\"X-A\": \"1\"}, \"BearerToken\": \"t\","
        "  \"Querystring\": \"?k=v\", \"HealthCheckMethod\": \"head\"},"
        " \"b2\": {\"Identifier\": \"b2\"},"
        " \"b3\": {\"Identifier\": \"other\"}}", 0, NULL);
    json_t *keys = json_loads (
        "{\"k1\": {\"Identifier\": \"k1\", \"Frontends\": [\"f1\"], \"Priority\": \"high\","
        "  \"TokensPerMinute\": 900, \"ExpiresUtc\": \"2027-01-31T00:00:00Z\"},"
        " \"k2\": {\"Identifier\": \"k2\", \"Active\": false, \"Models\": [\"llama3\"]},"
        " \"k3\": {\"Identifier\": \"k3\", \"Priority\": \"urgent\"}}", 0, NULL);
    assert (frontends && backends && keys);

    //  Typed fields, defaults filled in by the schema; refusals counted, with the reason
    of_records_t *records = of_records_new (frontends, backends, keys, NULL);
    const of_frontend_t *f1 = of_records_frontend (records, "f1");
    assert (f1 && streq (f1->identifier, "f1") && streq (f1->hostname, "a.example"));
    assert (f1->timeout_ms == 500 && f1->load_balancing == OF_BALANCING_LEAST_LATENCY);
    assert (f1->backends.count == 2 && streq (f1->backends.items [0], "b2"));
    assert (of_strings_has (&f1->required_models, "llama3"));
    assert (json_integer_value (json_object_get (f1->pinned_completions, "seed")) == 1);
    assert (json_object_size (f1->pinned_embeddings) == 0);
    assert (!f1->allow_embeddings && f1->allow_completions && f1->active);
    assert (f1->sticky_session_expiration_ms == 1800000 && !f1->use_sticky_sessions);
    assert (f1->name == NULL && streq (f1->created_utc, "2026-01-01T00:00:00.000000Z"));
    assert (f1->last_update_utc == NULL);
    assert (of_records_frontend (records, "f2") == NULL);
    assert (of_records_frontend_count (records) == 1);
    const of_backend_t *b1 = of_records_backend (records, "b1");
    assert (b1 && b1->port == 8080 && b1->api_format == OF_API_OPENAI && !b1->ssl);
    assert (streq (b1->hostname, "localhost") && streq (b1->health_check_method, "HEAD"));
    assert (streq (b1->health_check_url, "/") && b1->max_parallel_requests == 4);
    assert (b1->rate_limit_requests_threshold == 10 && b1->healthy_threshold == 2);
    assert (of_strings_has (&b1->labels, "gpu") && !of_strings_has (&b1->labels, "cpu"));
    assert (b1->header_count == 1 && streq (b1->headers [0].name, "X-A"));
    assert (streq (b1->headers [0].value, "1") && streq (b1->bearer_token, "t"));
    assert (streq (b1->querystring, "k=v"));
    const of_backend_t *b2 = of_records_backend (records, "b2");
    assert (b2 && b2->api_format == OF_API_OLLAMA && b2->bearer_token == NULL);
    assert (b2->querystring == NULL && b2->header_count == 0 && b2->labels.count == 0);
    assert (of_records_backend_count (records) == 2);
    assert (of_records_backend_at (records, 0) == b1 && of_records_backend_at (records, 1) == b2);
    assert (of_records_frontend_at (records, 0) == f1);
    assert (of_backend_object (b2) == json_object_get (backends, "b2"));
    const of_key_t *k1 = of_records_key (records, "k1");
    assert (k1 && of_strings_has (&k1->frontends, "f1") && k1->models.count == 0);
    assert (k1->priority == OF_PRIORITY_HIGH && k1->tokens_per_minute == 900 && k1->active);
    assert (k1->max_concurrent_requests == 0 && k1->requests_per_minute == 0);
    assert (streq (k1->expires_utc, "2027-01-31T00:00:00.000000Z") && !k1->secret_hash);
    const of_key_t *k2 = of_records_key (records, "k2");
    assert (k2 && !k2->active && k2->priority == OF_PRIORITY_NORMAL && !k2->expires_utc);
    assert (of_strings_has (&k2->frontends, "*") && of_strings_has (&k2->models, "llama3"));
    assert (of_records_key (records, "k3") == NULL && of_records_key_count (records) == 2);
    assert (of_records_key_at (records, 1) == k2);
    assert (streq (of_priority_name (k1->priority), "High"));
    assert (of_records_refused (records) == 3);
    if (verbose)
        printf ("  last refused: %s\n", of_records_error (records));
    assert (strstr (of_records_error (records), "key k3: Priority"));
    assert (streq (of_balancing_name (f1->load_balancing), "LeastLatency"));
    assert (streq (of_api_format_name (b1->api_format), "OpenAI"));

    //  A change: the unchanged records are shared, the changed one is new, and a
    //  holder of the old set keeps the old record whole after the set is replaced
    of_records_t *held = of_records_ref (records);
    json_object_set_new (backends, "b1", json_pack ("{s:s, s:i}", "Identifier", "b1",
                                                    "Port", 9090));
    of_records_t *next = of_records_new (frontends, backends, keys, records);
    of_records_destroy (&records);
    assert (records == NULL);
    assert (of_records_backend (next, "b2") == b2 && of_records_frontend (next, "f1") == f1);
    assert (of_records_key (next, "k1") == k1);
    const of_backend_t *b1_next = of_records_backend (next, "b1");
    assert (b1_next != b1 && b1_next->port == 9090 && b1_next->api_format == OF_API_OLLAMA);
    assert (of_records_backend (held, "b1") == b1);
    assert (b1->port == 8080 && streq (b1->headers [0].value, "1"));
    of_records_destroy (&held);
    //  Still whole: the shared records went with neither set
    assert (streq (b2->identifier, "b2") && f1->timeout_ms == 500);

    //  Nothing at all
    of_records_t *empty = of_records_new (NULL, NULL, NULL, next);
    assert (of_records_frontend_count (empty) == 0 && of_records_backend_count (empty) == 0);
    assert (of_records_key_count (empty) == 0);
    assert (of_records_refused (empty) == 0 && streq (of_records_error (empty), ""));
    of_records_destroy (&empty);
    of_records_destroy (&next);
    of_records_destroy (&next);
    json_decref (frontends);
    json_decref (backends);
    json_decref (keys);
    printf ("OK\n");
}

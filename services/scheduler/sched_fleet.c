/*  =========================================================================
    sched_fleet - the frontends and backends as the scheduler routes them
    =========================================================================
*/

#include "sched_fleet.h"

//  Value stored in a set: any non-NULL pointer
#define S_MEMBER ((void *) 1)

struct _sched_fleet_t {
    of_records_t *records;      //  a reference: what the fleet's records point into
    zhashx_t *frontends;        //  id -> sched_frontend_t
    zhashx_t *backends;         //  id -> sched_backend_t, configured ones
    zhashx_t *ghosts;           //  id -> sched_backend_t, named but not configured
};

static void
s_backend_destroy (void **item)
{
    sched_backend_t *backend = (sched_backend_t *) *item;
    if (backend) {
        zhashx_destroy (&backend->labels);
        free (backend);
        *item = NULL;
    }
}

static void
s_frontend_destroy (void **item)
{
    sched_frontend_t *frontend = (sched_frontend_t *) *item;
    if (frontend) {
        zhashx_destroy (&frontend->members);
        free (frontend->backends);
        free (frontend);
        *item = NULL;
    }
}

//  Which kinds the Allow* flags allow ("other" always)
static void
s_allows (bool *allows, bool completions, bool embeddings)
{
    allows [SCHED_KIND_COMPLETIONS] = completions;
    allows [SCHED_KIND_EMBEDDINGS] = embeddings;
    allows [SCHED_KIND_OTHER] = true;
}

//  A backend from its record, or one a frontend names that the config lacks
//  (record NULL; id is then borrowed from the frontend's record)
static sched_backend_t *
s_backend_new (const char *id, const of_backend_t *record, bool healthy)
{
    sched_backend_t *backend = (sched_backend_t *) zmalloc (sizeof (sched_backend_t));
    backend->id = id;
    backend->record = record;
    backend->labels = zhashx_new ();
    if (!record)
        return backend;
    backend->configured = true;
    backend->active = record->active;
    backend->healthy = healthy;
    s_allows (backend->allows, record->allow_completions, record->allow_embeddings);
    for (size_t index = 0; index < record->labels.count; index++)
        zhashx_insert (backend->labels, record->labels.items [index], S_MEMBER);
    backend->max_parallel = (size_t) record->max_parallel_requests;
    backend->queue_threshold = (size_t) record->rate_limit_requests_threshold;
    backend->openai = record->api_format == OF_API_OPENAI;
    return backend;
}

static sched_policy_t
s_policy (of_balancing_t balancing)
{
    switch (balancing) {
        case OF_BALANCING_RANDOM:
            return SCHED_POLICY_RANDOM;
        case OF_BALANCING_LEAST_OUTSTANDING:
            return SCHED_POLICY_LEAST_OUTSTANDING;
        case OF_BALANCING_LEAST_LATENCY:
            return SCHED_POLICY_LEAST_LATENCY;
        case OF_BALANCING_PREDICTED_LATENCY:
            return SCHED_POLICY_PREDICTED_LATENCY;
        case OF_BALANCING_ROUND_ROBIN:
            break;
    }
    return SCHED_POLICY_ROUND_ROBIN;
}

static sched_frontend_t *
s_frontend_new (sched_fleet_t *self, const of_frontend_t *record)
{
    sched_frontend_t *frontend = (sched_frontend_t *) zmalloc (sizeof (sched_frontend_t));
    frontend->id = record->identifier;
    frontend->record = record;
    frontend->active = record->active;
    s_allows (frontend->allows, record->allow_completions, record->allow_embeddings);
    frontend->policy = s_policy (record->load_balancing);
    frontend->sticky = record->use_sticky_sessions;
    frontend->sticky_ms = record->sticky_session_expiration_ms;
    frontend->backends = (sched_backend_t **) zmalloc ((record->backends.count + 1)
                                                       * sizeof (sched_backend_t *));
    frontend->members = zhashx_new ();
    for (size_t index = 0; index < record->backends.count; index++) {
        const char *backend_id = record->backends.items [index];
        sched_backend_t *backend = sched_fleet_backend (self, backend_id);
        if (!backend)
            backend = (sched_backend_t *) zhashx_lookup (self->ghosts, backend_id);
        if (!backend) {
            backend = s_backend_new (backend_id, NULL, false);
            zhashx_insert (self->ghosts, backend_id, backend);
        }
        //  configd refuses duplicates; a duplicate here would only be skipped
        if (zhashx_insert (frontend->members, backend_id, (void *) (frontend->count + 1)) == 0)
            frontend->backends [frontend->count++] = backend;
    }
    return frontend;
}

sched_fleet_t *
sched_fleet_new (of_records_t *records, sched_fleet_healthy_fn *healthy, void *arg,
                 sched_fleet_t *previous)
{
    assert (records && healthy);
    sched_fleet_t *self = (sched_fleet_t *) zmalloc (sizeof (sched_fleet_t));
    self->records = of_records_ref (records);
    self->frontends = zhashx_new ();
    zhashx_set_destructor (self->frontends, s_frontend_destroy);
    self->backends = zhashx_new ();
    zhashx_set_destructor (self->backends, s_backend_destroy);
    self->ghosts = zhashx_new ();
    zhashx_set_destructor (self->ghosts, s_backend_destroy);
    for (size_t index = 0; index < of_records_backend_count (records); index++) {
        const of_backend_t *record = of_records_backend_at (records, index);
        zhashx_insert (self->backends, record->identifier,
                       s_backend_new (record->identifier, record,
                                      healthy (arg, record->identifier)));
    }
    for (size_t index = 0; index < of_records_frontend_count (records); index++) {
        const of_frontend_t *record = of_records_frontend_at (records, index);
        sched_frontend_t *frontend = s_frontend_new (self, record);
        sched_frontend_t *before = previous ? sched_fleet_frontend (previous, frontend->id)
                                            : NULL;
        if (before && frontend->count)
            frontend->cursor = before->cursor % frontend->count;
        zhashx_insert (self->frontends, frontend->id, frontend);
    }
    return self;
}

void
sched_fleet_destroy (sched_fleet_t **self_p)
{
    assert (self_p);
    sched_fleet_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->frontends);
    zhashx_destroy (&self->backends);
    zhashx_destroy (&self->ghosts);
    of_records_destroy (&self->records);
    free (self);
    *self_p = NULL;
}

sched_frontend_t *
sched_fleet_frontend (sched_fleet_t *self, const char *id)
{
    assert (self && id);
    return (sched_frontend_t *) zhashx_lookup (self->frontends, id);
}

sched_backend_t *
sched_fleet_backend (sched_fleet_t *self, const char *id)
{
    assert (self && id);
    return (sched_backend_t *) zhashx_lookup (self->backends, id);
}

sched_frontend_t *
sched_fleet_first_frontend (sched_fleet_t *self)
{
    assert (self);
    return (sched_frontend_t *) zhashx_first (self->frontends);
}

sched_frontend_t *
sched_fleet_next_frontend (sched_fleet_t *self)
{
    assert (self);
    return (sched_frontend_t *) zhashx_next (self->frontends);
}

sched_backend_t *
sched_fleet_first_backend (sched_fleet_t *self)
{
    assert (self);
    return (sched_backend_t *) zhashx_first (self->backends);
}

sched_backend_t *
sched_fleet_next_backend (sched_fleet_t *self)
{
    assert (self);
    return (sched_backend_t *) zhashx_next (self->backends);
}

bool
sched_fleet_serves (const sched_backend_t *backend)
{
    assert (backend);
    return backend->configured && backend->active && backend->healthy;
}

void
sched_fleet_diff (sched_fleet_t *self, sched_fleet_t *previous, sched_fleet_lost_fn *lost,
                  void *arg)
{
    assert (self && lost);
    if (!previous)
        return;
    for (sched_frontend_t *before = sched_fleet_first_frontend (previous); before;
         before = sched_fleet_next_frontend (previous)) {
        sched_frontend_t *after = sched_fleet_frontend (self, before->id);
        if (!after || !after->active || !after->sticky) {
            lost (arg, before->id, NULL);
            continue;
        }
        for (size_t index = 0; index < before->count; index++) {
            const char *id = before->backends [index]->id;
            uintptr_t position = (uintptr_t) zhashx_lookup (after->members, id);
            if (!position || !sched_fleet_serves (after->backends [position - 1]))
                lost (arg, before->id, id);
        }
    }
}

json_t *
sched_fleet_objects (of_kind_t kind, const char *text)
{
    json_t *input = json_loads (text, 0, NULL);
    assert (json_is_array (input));
    json_t *objects = json_object ();
    char error [OF_SCHEMA_ERROR_MAX];
    size_t index;
    json_t *item;
    json_array_foreach (input, index, item) {
        json_t *object = of_schema_normalize (kind, item, error, sizeof error);
        assert (object);
        json_object_set_new (objects, json_string_value (json_object_get (object, "Identifier")),
                             object);
    }
    json_decref (input);
    return objects;
}

//  --------------------------------------------------------------------------
//  Self test

static bool
s_test_healthy (void *arg, const char *backend)
{
    (void) arg;
    return !streq (backend, "b2");
}

static void
s_test_lost (void *arg, const char *frontend, const char *backend)
{
    char *log = (char *) arg;
    snprintf (log + strlen (log), 256 - strlen (log), "%s/%s ", frontend,
              backend ? backend : "*");
}

void
sched_fleet_test (bool verbose)
{
    printf (" * sched_fleet: ");
    if (verbose)
        printf ("\n");
    json_t *backends = sched_fleet_objects (OF_KIND_BACKEND,
        "[{\"Identifier\":\"b1\",\"Labels\":[\"gpu\",\"eu\"]},"
        "{\"Identifier\":\"b2\",\"AllowEmbeddings\":false,\"MaxParallelRequests\":2},"
        "{\"Identifier\":\"b3\"}]");
    json_t *frontends = sched_fleet_objects (OF_KIND_FRONTEND,
        "[{\"Identifier\":\"f1\",\"Backends\":[\"b3\",\"b1\",\"b2\"],"
        "\"LoadBalancing\":\"leastoutstanding\",\"UseStickySessions\":true}]");

    of_records_t *records = of_records_new (frontends, backends, NULL, NULL);
    sched_fleet_t *fleet = sched_fleet_new (records, s_test_healthy, NULL, NULL);
    of_records_destroy (&records);
    sched_frontend_t *frontend = sched_fleet_frontend (fleet, "f1");
    assert (frontend && frontend->count == 3 && frontend->sticky && frontend->active);
    assert (frontend->policy == SCHED_POLICY_LEAST_OUTSTANDING);
    assert (frontend->sticky_ms == 1800000);
    assert (streq (frontend->backends [0]->id, "b3") && streq (frontend->backends [2]->id, "b2"));
    sched_backend_t *b1 = sched_fleet_backend (fleet, "b1");
    assert (b1 && b1->healthy && b1->max_parallel == 4 && b1->queue_threshold == 10);
    assert (zhashx_lookup (b1->labels, "eu") && !zhashx_lookup (b1->labels, "europe"));
    assert (b1->record == of_records_backend (fleet->records, "b1") && !b1->openai);
    assert (b1->record->port == 11434 && streq (b1->record->hostname, "localhost"));
    sched_backend_t *b2 = sched_fleet_backend (fleet, "b2");
    assert (!b2->healthy && !sched_fleet_serves (b2));
    assert (!b2->allows [SCHED_KIND_EMBEDDINGS] && b2->allows [SCHED_KIND_OTHER]);
    assert (sched_fleet_backend (fleet, "b9") == NULL);
    size_t count = 0;
    for (sched_backend_t *backend = sched_fleet_first_backend (fleet); backend;
         backend = sched_fleet_next_backend (fleet))
        count++;
    assert (count == 3);
    frontend->cursor = 2;

    //  b1 leaves the frontend, b9 (not configured) joins it: b1's sessions go
    json_object_set_new (json_object_get (frontends, "f1"), "Backends",
                         json_pack ("[s, s, s]", "b3", "b9", "b2"));
    records = of_records_new (frontends, backends, NULL, NULL);
    sched_fleet_t *next = sched_fleet_new (records, s_test_healthy, NULL, fleet);
    of_records_destroy (&records);
    frontend = sched_fleet_frontend (next, "f1");
    assert (frontend->cursor == 2);
    assert (!frontend->backends [1]->configured && !sched_fleet_serves (frontend->backends [1]));
    assert (frontend->backends [1]->record == NULL && streq (frontend->backends [1]->id, "b9"));
    char log [256] = "";
    sched_fleet_diff (next, fleet, s_test_lost, log);
    assert (streq (log, "f1/b1 f1/b2 "));

    //  The frontend is deleted: all its sessions go
    records = of_records_new (NULL, backends, NULL, NULL);
    sched_fleet_t *empty = sched_fleet_new (records, s_test_healthy, NULL, next);
    of_records_destroy (&records);
    *log = 0;
    sched_fleet_diff (empty, next, s_test_lost, log);
    assert (streq (log, "f1/* "));
    sched_fleet_diff (empty, NULL, s_test_lost, log);

    sched_fleet_destroy (&empty);
    sched_fleet_destroy (&next);
    sched_fleet_destroy (&fleet);
    sched_fleet_destroy (&fleet);
    json_decref (frontends);
    json_decref (backends);
    printf ("OK\n");
}

/*  =========================================================================
    sched_queue - the asks waiting for a free slot
    =========================================================================
*/

#include "sched_queue.h"
#include "sched_tally.h"

//  An ask's key: ingress id, a separator no token holds, request id
#define S_KEY_MAX (OFP_LEASE_INGRESS_MAX + 1 + OFP_ID_MAX + 1)
#define S_KEY_SEPARATOR '\x1f'

static const char *const s_kinds [SCHED_KIND_COUNT] = {"completions", "embeddings", "other"};
//  Routes under this path are Ollama's own API, which OpenAI-format servers lack
#define S_OLLAMA_API_PREFIX "/api/"

//  True if a Route ("POST /api/show") names Ollama's own API, and one that
//  only Ollama backends can serve (not one the ingress translates)
static bool
s_ollama_route (const char *route)
{
    const char *path = route ? strchr (route, ' ') : NULL;
    return path && strncmp (path + 1, S_OLLAMA_API_PREFIX, strlen (S_OLLAMA_API_PREFIX)) == 0
           && !ofp_lease_translated_path (path + 1);
}

struct _sched_queue_t {
    zhashx_t *asks;             //  key -> sched_ask_t
    zlistx_t *arrivals;         //  every ask, lowest rank first; owns them
    zlistx_t *deadlines;        //  every ask, earliest deadline first
    zhashx_t *frontends;        //  frontend -> asks queued (sched_tally)
    zhashx_t *waiting;          //  backend -> asks waiting for it (sched_tally)
    zhashx_t *preferring;       //  backend -> asks that chose to wait for it
    zhashx_t *keys;             //  client API key -> asks queued (sched_tally)
    zhashx_t *models;           //  model key (ofp_models_key) -> asks queued (sched_tally)
};

static void
s_key (char *dest, const char *ingress, const char *id)
{
    snprintf (dest, S_KEY_MAX, "%s%c%s", ingress, S_KEY_SEPARATOR, id);
}

//  Counts the ask in (or out of) its model's tally
static void
s_count_model (sched_queue_t *self, const sched_ask_t *ask, int delta)
{
    if (!*ask->model)
        return;
    char key [OFP_MODELS_KEY_MAX];
    ofp_models_key (key, ask->model);
    sched_tally_add (self->models, key, delta);
}

//  Equal ranks keep their arrival order: an insert goes after its equals
static int
s_compare_ranks (const void *item1, const void *item2)
{
    int64_t one = ((const sched_ask_t *) item1)->rank;
    int64_t two = ((const sched_ask_t *) item2)->rank;
    return one < two ? -1 : one > two ? 1 : 0;
}

static int
s_compare_deadlines (const void *item1, const void *item2)
{
    int64_t one = ((const sched_ask_t *) item1)->deadline;
    int64_t two = ((const sched_ask_t *) item2)->deadline;
    return one < two ? -1 : one > two ? 1 : 0;
}

sched_ask_t *
sched_ask_new (const char *ingress, const char *id, json_t *body, int64_t now)
{
    assert (ingress && id && body);
    sched_ask_t *self = (sched_ask_t *) zmalloc (sizeof (sched_ask_t));
    self->ingress = strdup (ingress);
    self->id = strdup (id);
    self->body = json_incref (body);
    self->frontend = json_string_value (json_object_get (body, "Frontend"));
    const char *kind = json_string_value (json_object_get (body, "Kind"));
    self->kind = SCHED_KIND_OTHER;
    for (int index = 0; index < SCHED_KIND_COUNT; index++)
        if (kind && streq (kind, s_kinds [index]))
            self->kind = (sched_kind_t) index;
    self->model = json_string_value (json_object_get (body, "Model"));
    self->labels = json_object_get (body, "Labels");
    self->exclude = json_object_get (body, "Exclude");
    self->sticky_key = json_string_value (json_object_get (body, "StickyKey"));
    self->key = json_string_value (json_object_get (body, "Key"));
    self->key_limits = json_object_get (body, "KeyLimits");
    self->ollama_only = s_ollama_route (json_string_value (json_object_get (body, "Route")));
    self->prefix = json_object_get (body, "Prefix");
    self->prefix_ends = json_object_get (body, "PrefixEnds");
    if (!json_is_array (self->prefix) || !json_is_array (self->prefix_ends))
        self->prefix = self->prefix_ends = NULL;
    self->prompt_bytes = json_integer_value (
        json_array_get (self->prefix_ends, json_array_size (self->prefix_ends) - 1));
    self->deadline_ms = json_integer_value (json_object_get (body, "DeadlineMs"));
    self->arrived_at = now;
    self->rank = now;
    self->deadline = now + self->deadline_ms;
    //  The codec checked the body; these defaults only keep a caller's slip harmless
    if (!self->frontend)
        self->frontend = "";
    if (!self->model)
        self->model = "";
    return self;
}

static void
s_usable_free (sched_ask_t *self)
{
    for (size_t index = 0; index < self->usable_count; index++)
        free (self->usable [index]);
    free (self->usable);
    self->usable = NULL;
    self->usable_count = 0;
}

void
sched_ask_destroy (sched_ask_t **self_p)
{
    assert (self_p);
    sched_ask_t *self = *self_p;
    if (!self)
        return;
    assert (!self->arrival_handle);
    s_usable_free (self);
    free (self->prefer);
    json_decref (self->body);
    free (self->ingress);
    free (self->id);
    free (self);
    *self_p = NULL;
}

bool
sched_ask_excludes (const sched_ask_t *self, const char *backend)
{
    assert (self && backend);
    size_t index;
    json_t *item;
    json_array_foreach (self->exclude, index, item)
        if (streq (json_string_value (item), backend))
            return true;
    return false;
}

sched_queue_t *
sched_queue_new (void)
{
    sched_queue_t *self = (sched_queue_t *) zmalloc (sizeof (sched_queue_t));
    self->asks = zhashx_new ();
    self->arrivals = zlistx_new ();
    zlistx_set_comparator (self->arrivals, s_compare_ranks);
    self->deadlines = zlistx_new ();
    zlistx_set_comparator (self->deadlines, s_compare_deadlines);
    self->frontends = zhashx_new ();
    self->waiting = zhashx_new ();
    self->preferring = zhashx_new ();
    self->keys = zhashx_new ();
    self->models = zhashx_new ();
    return self;
}

void
sched_queue_destroy (sched_queue_t **self_p)
{
    assert (self_p);
    sched_queue_t *self = *self_p;
    if (!self)
        return;
    while (zlistx_size (self->arrivals)) {
        sched_ask_t *ask = sched_queue_remove (self, (sched_ask_t *) zlistx_head (self->arrivals));
        sched_ask_destroy (&ask);
    }
    zhashx_destroy (&self->asks);
    zlistx_destroy (&self->arrivals);
    zlistx_destroy (&self->deadlines);
    zhashx_destroy (&self->frontends);
    zhashx_destroy (&self->waiting);
    zhashx_destroy (&self->preferring);
    zhashx_destroy (&self->keys);
    zhashx_destroy (&self->models);
    free (self);
    *self_p = NULL;
}

size_t
sched_queue_push (sched_queue_t *self, sched_ask_t **ask_p, const char *const *usable,
                  size_t count)
{
    assert (self && ask_p && *ask_p);
    sched_ask_t *ask = *ask_p;
    *ask_p = NULL;
    char key [S_KEY_MAX];
    s_key (key, ask->ingress, ask->id);
    assert (!zhashx_lookup (self->asks, key));
    zhashx_insert (self->asks, key, ask);
    //  Ranks mostly grow with arrivals: search from the end
    ask->arrival_handle = zlistx_insert (self->arrivals, ask, false);
    //  Deadlines mostly grow with arrivals: search from the end
    ask->deadline_handle = zlistx_insert (self->deadlines, ask, false);
    sched_tally_add (self->frontends, ask->frontend, 1);
    if (ask->key)
        sched_tally_add (self->keys, ask->key, 1);
    s_count_model (self, ask, 1);
    sched_queue_set_usable (self, ask, usable, count);
    return sched_tally_get (self->frontends, ask->frontend);
}

void
sched_queue_set_usable (sched_queue_t *self, sched_ask_t *ask, const char *const *usable,
                        size_t count)
{
    assert (self && ask && ask->arrival_handle);
    for (size_t index = 0; index < ask->usable_count; index++)
        sched_tally_add (self->waiting, ask->usable [index], -1);
    s_usable_free (ask);
    ask->usable = (char **) zmalloc ((count ? count : 1) * sizeof (char *));
    for (size_t index = 0; index < count; index++) {
        ask->usable [index] = strdup (usable [index]);
        sched_tally_add (self->waiting, usable [index], 1);
    }
    ask->usable_count = count;
}

void
sched_queue_set_prefer (sched_queue_t *self, sched_ask_t *ask, const char *backend)
{
    assert (self && ask && ask->arrival_handle);
    if (ask->prefer && backend && streq (ask->prefer, backend))
        return;
    if (ask->prefer) {
        sched_tally_add (self->preferring, ask->prefer, -1);
        zstr_free (&ask->prefer);
    }
    if (backend) {
        ask->prefer = strdup (backend);
        sched_tally_add (self->preferring, backend, 1);
    }
}

bool
sched_queue_waits_for (sched_ask_t *ask, const char *backend)
{
    assert (ask && backend);
    for (size_t index = 0; index < ask->usable_count; index++)
        if (streq (ask->usable [index], backend))
            return true;
    return false;
}

sched_ask_t *
sched_queue_lookup (sched_queue_t *self, const char *ingress, const char *id)
{
    assert (self && ingress && id);
    char key [S_KEY_MAX];
    s_key (key, ingress, id);
    return (sched_ask_t *) zhashx_lookup (self->asks, key);
}

sched_ask_t *
sched_queue_remove (sched_queue_t *self, sched_ask_t *ask)
{
    assert (self && ask && ask->arrival_handle);
    char key [S_KEY_MAX];
    s_key (key, ask->ingress, ask->id);
    zhashx_delete (self->asks, key);
    //  zlistx moves its cursor back when the current item goes: walking goes on
    zlistx_delete (self->arrivals, ask->arrival_handle);
    zlistx_delete (self->deadlines, ask->deadline_handle);
    ask->arrival_handle = NULL;
    ask->deadline_handle = NULL;
    sched_tally_add (self->frontends, ask->frontend, -1);
    if (ask->key)
        sched_tally_add (self->keys, ask->key, -1);
    s_count_model (self, ask, -1);
    for (size_t index = 0; index < ask->usable_count; index++)
        sched_tally_add (self->waiting, ask->usable [index], -1);
    s_usable_free (ask);
    if (ask->prefer) {
        sched_tally_add (self->preferring, ask->prefer, -1);
        zstr_free (&ask->prefer);
    }
    return ask;
}

size_t
sched_queue_drop_ingress (sched_queue_t *self, const char *ingress)
{
    assert (self && ingress);
    size_t count = 0;
    for (sched_ask_t *ask = sched_queue_first (self); ask; ask = sched_queue_next (self))
        if (streq (ask->ingress, ingress)) {
            sched_queue_remove (self, ask);
            sched_ask_destroy (&ask);
            count++;
        }
    return count;
}

sched_ask_t *
sched_queue_first (sched_queue_t *self)
{
    assert (self);
    return (sched_ask_t *) zlistx_first (self->arrivals);
}

sched_ask_t *
sched_queue_next (sched_queue_t *self)
{
    assert (self);
    return (sched_ask_t *) zlistx_next (self->arrivals);
}

sched_ask_t *
sched_queue_earliest (sched_queue_t *self)
{
    assert (self);
    return (sched_ask_t *) zlistx_head (self->deadlines);
}

size_t
sched_queue_size (sched_queue_t *self)
{
    assert (self);
    return zlistx_size (self->arrivals);
}

size_t
sched_queue_of_frontend (sched_queue_t *self, const char *frontend)
{
    assert (self);
    return sched_tally_get (self->frontends, frontend);
}

size_t
sched_queue_waiting (sched_queue_t *self, const char *backend)
{
    assert (self);
    return sched_tally_get (self->waiting, backend);
}

size_t
sched_queue_preferring (sched_queue_t *self, const char *backend)
{
    assert (self);
    return sched_tally_get (self->preferring, backend);
}

size_t
sched_queue_of_key (sched_queue_t *self, const char *key)
{
    assert (self);
    return sched_tally_get (self->keys, key);
}

size_t
sched_queue_of_model (sched_queue_t *self, const char *model)
{
    assert (self && model);
    char key [OFP_MODELS_KEY_MAX];
    ofp_models_key (key, model);
    return sched_tally_get (self->models, key);
}

//  --------------------------------------------------------------------------
//  Self test

static sched_ask_t *
s_test_ask (const char *ingress, const char *id, const char *frontend, int deadline_ms,
            int64_t now)
{
    json_t *body = json_pack ("{s:s, s:s, s:s, s:[s], s:[s], s:i}", "Frontend", frontend,
                              "Kind", "embeddings", "Model", "m", "Labels", "gpu", "Exclude",
                              "b9", "DeadlineMs", deadline_ms);
    sched_ask_t *ask = sched_ask_new (ingress, id, body, now);
    json_decref (body);
    return ask;
}

void
sched_queue_test (bool verbose)
{
    printf (" * sched_queue: ");
    if (verbose)
        printf ("\n");
    int64_t now = 1000;
    const char *both [] = {"b1", "b2"};
    const char *second [] = {"b2"};

    //  An ask reads its LEASE body
    sched_ask_t *ask = s_test_ask ("i1", "1", "f1", 500, now);
    assert (ask->kind == SCHED_KIND_EMBEDDINGS && streq (ask->model, "m"));
    assert (ask->sticky_key == NULL && ask->deadline == now + 500);
    assert (sched_ask_excludes (ask, "b9") && !sched_ask_excludes (ask, "b1"));
    assert (!ask->ollama_only);
    assert (s_ollama_route ("POST /api/show") && s_ollama_route ("POST /api/pull"));
    assert (!s_ollama_route ("POST /api/chat") && !s_ollama_route ("POST /api/embeddings"));
    assert (!s_ollama_route ("POST /v1/chat/completions") && !s_ollama_route ("POST /apix"));
    assert (!s_ollama_route ("/api/chat") && !s_ollama_route (NULL));

    //  Positions per frontend, counts per backend
    sched_queue_t *queue = sched_queue_new ();
    assert (sched_queue_push (queue, &ask, both, 2) == 1);
    assert (ask == NULL);
    ask = s_test_ask ("i2", "1", "f1", 100, now);
    assert (sched_queue_push (queue, &ask, second, 1) == 2);
    ask = s_test_ask ("i1", "2", "f2", 300, now);
    assert (sched_queue_push (queue, &ask, both, 2) == 1);
    assert (sched_queue_size (queue) == 3);
    assert (sched_queue_of_frontend (queue, "f1") == 2);
    assert (sched_queue_waiting (queue, "b1") == 2);
    assert (sched_queue_waiting (queue, "b2") == 3);
    assert (sched_queue_waiting (queue, "b3") == 0);
    //  Per model, by name or key (every test ask names "m")
    assert (sched_queue_of_model (queue, "m") == 3 && sched_queue_of_model (queue, "M:latest") == 3);
    assert (sched_queue_of_model (queue, "n") == 0);

    //  Earliest deadline first, oldest arrival first
    sched_ask_t *earliest = sched_queue_earliest (queue);
    assert (streq (earliest->ingress, "i2"));
    assert (streq (sched_queue_first (queue)->ingress, "i1"));

    //  Lookup, usable sets, removal while walking
    sched_ask_t *found = sched_queue_lookup (queue, "i1", "2");
    assert (found && streq (found->frontend, "f2"));
    assert (sched_queue_lookup (queue, "i1", "3") == NULL);
    assert (sched_queue_waits_for (found, "b1"));
    sched_queue_set_usable (queue, found, second, 1);
    assert (!sched_queue_waits_for (found, "b1"));
    assert (sched_queue_waiting (queue, "b1") == 1);
    //  The backend an ask chose to wait for: counted once, moved, cleared
    sched_queue_set_prefer (queue, found, "b2");
    sched_queue_set_prefer (queue, found, "b2");
    assert (sched_queue_preferring (queue, "b2") == 1);
    sched_queue_set_prefer (queue, found, "b1");
    assert (sched_queue_preferring (queue, "b2") == 0);
    assert (sched_queue_preferring (queue, "b1") == 1);
    sched_queue_set_prefer (queue, found, NULL);
    assert (sched_queue_preferring (queue, "b1") == 0);
    sched_queue_set_prefer (queue, found, "b2");
    size_t walked = 0;
    for (ask = sched_queue_first (queue); ask; ask = sched_queue_next (queue)) {
        walked++;
        if (streq (ask->ingress, "i2")) {
            sched_queue_remove (queue, ask);
            sched_ask_destroy (&ask);
        }
    }
    assert (walked == 3);
    assert (sched_queue_size (queue) == 2);
    assert (streq (sched_queue_earliest (queue)->id, "2"));

    //  An ingress's asks go with it, and what they preferred
    assert (sched_queue_drop_ingress (queue, "i1") == 2);
    assert (sched_queue_preferring (queue, "b2") == 0);
    assert (sched_queue_size (queue) == 0);
    assert (sched_queue_waiting (queue, "b2") == 0);
    assert (sched_queue_of_frontend (queue, "f1") == 0);
    assert (sched_queue_of_model (queue, "m") == 0);
    assert (sched_queue_earliest (queue) == NULL);

    //  Ranks: lowest first, arrival order within one rank (a key's priority
    //  sets the rank: sched_keys)
    const char *order [] = {"a", "b", "c", "d", "e"};
    int64_t ranks [] = {200, 100, 200, 100, 50};
    for (int i = 0; i < 5; i++) {
        ask = s_test_ask ("i4", order [i], "f1", 1000, now);
        ask->rank = ranks [i];
        sched_queue_push (queue, &ask, NULL, 0);
    }
    const char *expected = "ebdac";
    walked = 0;
    for (ask = sched_queue_first (queue); ask; ask = sched_queue_next (queue))
        assert (ask->id [0] == expected [walked++]);
    assert (walked == 5 && sched_queue_drop_ingress (queue, "i4") == 5);

    //  Destroy frees what is queued
    ask = s_test_ask ("i3", "1", "f1", 0, now);
    sched_queue_push (queue, &ask, NULL, 0);
    sched_queue_destroy (&queue);
    sched_queue_destroy (&queue);
    printf ("OK\n");
}

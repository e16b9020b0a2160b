/*  =========================================================================
    sched_cost - what each choice of backend costs a request
    =========================================================================
*/

#include "sched_cost.h"

//  Fewest uncached prompt tokens, and completion tokens, a rate is learned
//  from (below, fixed costs and rounding swamp the rate)
#define S_MIN_PREFILL_TOKENS 8
#define S_MIN_DECODE_TOKENS  2
#define S_BACKENDS_MAX       10000

//  Moving averages of µs per load and per token
typedef struct {
    double load_us, prefill_us, decode_us;
    uint64_t loads, prefills, decodes;
} s_rates_t;

typedef struct {
    s_rates_t rates;            //  every model of the backend
    //  The models granted here, most recent first; the first capacity of
    //  them are resident
    char recent [SCHED_COST_RECENT_MAX][OFP_MODELS_KEY_MAX];
    size_t recent_count;
    //  Models the grants pushed out, whatever the inventory still says
    char pushed [SCHED_COST_RECENT_MAX][OFP_MODELS_KEY_MAX];
    size_t pushed_count;
    size_t capacity;            //  the most models seen loaded at once, at least 1
    //  The share of the grants here that went to each model, as a moving
    //  average (each grant weighs 1/SCHED_COST_DEMAND_WEIGHT)
    char demand_keys [SCHED_COST_RECENT_MAX][OFP_MODELS_KEY_MAX];
    double demand [SCHED_COST_RECENT_MAX];
    size_t demand_count;
    bool blind;                 //  grants noted before the backend's inventory was known
} s_backend_t;

struct _sched_cost_t {
    zhashx_t *backends;         //  backend id -> s_backend_t
    zhashx_t *pairs;            //  "backend\tmodel" -> s_rates_t
    s_rates_t fleet;            //  every backend
    double tokens_per_byte;
    uint64_t ratios;
};

static void
s_free_item (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

sched_cost_t *
sched_cost_new (void)
{
    sched_cost_t *self = (sched_cost_t *) zmalloc (sizeof (sched_cost_t));
    self->backends = zhashx_new ();
    zhashx_set_destructor (self->backends, s_free_item);
    self->pairs = zhashx_new ();
    zhashx_set_destructor (self->pairs, s_free_item);
    return self;
}

void
sched_cost_destroy (sched_cost_t **self_p)
{
    assert (self_p);
    sched_cost_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->backends);
    zhashx_destroy (&self->pairs);
    free (self);
    *self_p = NULL;
}

void
sched_cost_key (const char *model, char *key)
{
    ofp_models_key (key, model);
}

static s_backend_t *
s_backend (sched_cost_t *self, const char *backend, bool create)
{
    s_backend_t *record = (s_backend_t *) zhashx_lookup (self->backends, backend);
    if (!record && create && zhashx_size (self->backends) < S_BACKENDS_MAX) {
        record = (s_backend_t *) zmalloc (sizeof (s_backend_t));
        record->capacity = 1;
        zhashx_insert (self->backends, backend, record);
    }
    return record;
}

static s_rates_t *
s_pair (sched_cost_t *self, const char *backend, const char *key, bool create)
{
    char pair [OF_IDENTIFIER_MAX + OFP_MODELS_KEY_MAX + 2];
    snprintf (pair, sizeof pair, "%s\t%s", backend, key);
    s_rates_t *rates = (s_rates_t *) zhashx_lookup (self->pairs, pair);
    if (!rates && create && zhashx_size (self->pairs) < SCHED_COST_PAIRS_MAX) {
        rates = (s_rates_t *) zmalloc (sizeof (s_rates_t));
        zhashx_insert (self->pairs, pair, rates);
    }
    return rates;
}

//  The position of key in a list of names, or count if absent
static size_t
s_find (char (*names) [OFP_MODELS_KEY_MAX], size_t count, const char *key)
{
    for (size_t index = 0; index < count; index++)
        if (streq (names [index], key))
            return index;
    return count;
}

//  Removes the name at index from a list
static void
s_remove (char (*names) [OFP_MODELS_KEY_MAX], size_t *count, size_t index)
{
    memmove (names [index], names [index + 1], (*count - index - 1) * OFP_MODELS_KEY_MAX);
    (*count)--;
}

//  Adds a name at the front of a list, dropping its last when full
static void
s_push_front (char (*names) [OFP_MODELS_KEY_MAX], size_t *count, const char *key)
{
    if (*count == SCHED_COST_RECENT_MAX)
        (*count)--;
    memmove (names [1], names [0], *count * OFP_MODELS_KEY_MAX);
    snprintf (names [0], OFP_MODELS_KEY_MAX, "%s", key);
    (*count)++;
}

//  One more grant of key: every model's share fades by the grant's weight
//  and key's grows by it; a full list forgets its smallest share
static void
s_note_demand (s_backend_t *record, const char *key)
{
    const double weight = 1.0 / SCHED_COST_DEMAND_WEIGHT;
    for (size_t index = 0; index < record->demand_count; index++)
        record->demand [index] *= 1 - weight;
    size_t at = s_find (record->demand_keys, record->demand_count, key);
    if (at == record->demand_count) {
        if (at == SCHED_COST_RECENT_MAX) {
            at = 0;
            for (size_t index = 1; index < record->demand_count; index++)
                if (record->demand [index] < record->demand [at])
                    at = index;
        }
        else
            record->demand_count++;
        snprintf (record->demand_keys [at], OFP_MODELS_KEY_MAX, "%s", key);
        record->demand [at] = 0;
    }
    record->demand [at] += weight;
}

static double
s_demand (const s_backend_t *record, const char *key)
{
    for (size_t index = 0; index < record->demand_count; index++)
        if (streq (record->demand_keys [index], key))
            return record->demand [index];
    return 0;
}

//  The model among recent [from, to) that a load pushes out, as Ollama
//  chooses (its findRunnerToUnload): the first by name among those with no
//  lease running (keep-alives taken as equal); when every one is busy, the
//  first by name, which the load then waits for. to if the range is empty.
static size_t
s_victim (const s_backend_t *record, sched_table_t *table, const char *backend, size_t from,
          size_t to, bool idle_only)
{
    size_t idle = to, first = to;
    for (size_t index = from; index < to; index++) {
        const char *name = record->recent [index];
        if (first == to || strcmp (name, record->recent [first]) < 0)
            first = index;
        bool busy = table && sched_table_model_leases (table, backend, name) > 0;
        if (!busy && (idle == to || strcmp (name, record->recent [idle]) < 0))
            idle = index;
    }
    return idle < to || idle_only ? idle : first;
}

static size_t
s_capacity (const s_backend_t *record)
{
    return record->capacity < SCHED_COST_RECENT_MAX ? record->capacity : SCHED_COST_RECENT_MAX;
}

//  The backend's record, without what grants noted before its inventory
//  was known: such a grant may name a model the backend does not have (the
//  ask is filtered by model only once the inventory is in: its answer is a
//  404), which would push out the models it has loaded. From the first
//  inventory on, that is the truth and the grants after it count.
static s_backend_t *
s_current (sched_cost_t *self, sched_models_t *models, const char *backend, bool create)
{
    s_backend_t *record = s_backend (self, backend, create);
    if (record && record->blind && models && sched_models_known (models, backend)) {
        record->recent_count = 0;
        record->pushed_count = 0;
        record->blind = false;
    }
    return record;
}

//  Residency of a model key (see the header): 1 resident, 0 not, -1 not
//  known (no inventory and no grant says)
static int
s_residency (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
             const char *backend, const char *key)
{
    if (!*key)
        return 1;
    if (table && sched_table_model_leases (table, backend, key) > 0)
        return 1;
    s_backend_t *record = s_current (self, models, backend, false);
    if (record) {
        size_t at = s_find (record->recent, record->recent_count, key);
        if (at < record->recent_count)
            return at < s_capacity (record);
        if (s_find (record->pushed, record->pushed_count, key) < record->pushed_count)
            return 0;
    }
    if (!models || !sched_models_known (models, backend))
        return -1;
    return sched_models_loaded (models, backend, key);
}

static bool
s_resident (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
            const char *backend, const char *key)
{
    return s_residency (self, models, table, backend, key) == 1;
}

bool
sched_cost_resident (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
                     const char *backend, const char *model)
{
    assert (self && backend && model);
    char key [OFP_MODELS_KEY_MAX];
    sched_cost_key (model, key);
    return s_resident (self, models, table, backend, *model ? key : "");
}

bool
sched_cost_full (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
                 const char *backend)
{
    assert (self && backend);
    s_backend_t *record = s_backend (self, backend, false);
    size_t capacity = record ? s_capacity (record) : 1;
    if (models) {
        size_t loaded = sched_models_loaded_list (models, backend, NULL, 0);
        if (loaded > capacity)
            capacity = loaded;
    }
    return table && sched_table_models_running (table, backend) >= capacity;
}

int64_t
sched_cost_evict_us (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
                     sched_queue_t *queue, const char *backend)
{
    assert (self && backend);
    s_backend_t *record = s_current (self, models, backend, false);
    if (!record || record->recent_count < s_capacity (record))
        return 0;
    size_t resident = s_capacity (record);
    size_t victim = s_victim (record, table, backend, 0, resident, false);
    if (victim == resident)
        return 0;
    const char *key = record->recent [victim];
    double share = s_demand (record, key);
    size_t queued = queue ? sched_queue_of_model (queue, key) : 0;
    return (int64_t) ((share + (double) queued) * (double) sched_cost_load_us (self, backend, key));
}

bool
sched_cost_note_grant (sched_cost_t *self, sched_models_t *models, sched_table_t *table,
                       const char *backend, const char *model)
{
    assert (self && backend && model);
    if (!*model)
        return false;
    char key [OFP_MODELS_KEY_MAX];
    sched_cost_key (model, key);
    //  Cold only when known not to be resident: a load time is learned
    //  only from a lease that did load (else a warm answer's LoadUs of a
    //  few µs would teach that loads cost nothing)
    bool cold = s_residency (self, models, table, backend, key) == 0;
    s_backend_t *record = s_current (self, models, backend, true);
    if (!record)
        return cold;
    if (models && !sched_models_known (models, backend))
        record->blind = true;
    size_t at = s_find (record->recent, record->recent_count, key);
    if (at == 0 && record->recent_count)
        return cold;
    //  What the inventory lists loaded and the grants have not seen yet is
    //  older than any grant: at the tail
    const char *loaded [SCHED_COST_RECENT_MAX];
    size_t listed = models ? sched_models_loaded_list (models, backend, loaded,
                                                         SCHED_COST_RECENT_MAX) : 0;
    if (listed > record->capacity)
        record->capacity = listed;
    for (size_t index = 0; index < listed && index < SCHED_COST_RECENT_MAX; index++)
        if (s_find (record->recent, record->recent_count, loaded [index]) == record->recent_count
            && s_find (record->pushed, record->pushed_count, loaded [index])
               == record->pushed_count
            && record->recent_count < SCHED_COST_RECENT_MAX)
            snprintf (record->recent [record->recent_count++], OFP_MODELS_KEY_MAX, "%s",
                      loaded [index]);
    at = s_find (record->recent, record->recent_count, key);
    if (at < record->recent_count)
        s_remove (record->recent, &record->recent_count, at);
    s_push_front (record->recent, &record->recent_count, key);
    at = s_find (record->pushed, record->pushed_count, key);
    if (at < record->pushed_count)
        s_remove (record->pushed, &record->pushed_count, at);
    s_note_demand (record, key);
    //  Beyond the capacity, what Ollama unloads goes: never one with a
    //  lease running (the backend waits for it to go idle; the grants that
    //  follow will tell)
    size_t capacity = s_capacity (record);
    while (record->recent_count > capacity) {
        size_t victim = s_victim (record, table, backend, 1, record->recent_count, true);
        if (victim == record->recent_count)
            break;
        s_push_front (record->pushed, &record->pushed_count, record->recent [victim]);
        s_remove (record->recent, &record->recent_count, victim);
    }
    return cold;
}

//  Moves an average a new sample's weight towards it
static void
s_learn (double *average, uint64_t *samples, double sample)
{
    *average = *samples == 0 ? sample : *average + (sample - *average) / SCHED_COST_WEIGHT;
    (*samples)++;
}

static void
s_learn_rates (s_rates_t *rates, double load_us, double prefill_us, double decode_us)
{
    if (!rates)
        return;
    if (load_us >= 0)
        s_learn (&rates->load_us, &rates->loads, load_us);
    if (prefill_us >= 0)
        s_learn (&rates->prefill_us, &rates->prefills, prefill_us);
    if (decode_us >= 0)
        s_learn (&rates->decode_us, &rates->decodes, decode_us);
}

void
sched_cost_note_release (sched_cost_t *self, const char *backend, const char *model, bool cold,
                         const sched_cost_figures_t *figures)
{
    assert (self && backend && figures);
    if (figures->prompt_bytes > 0 && figures->prompt_tokens > 0)
        s_learn (&self->tokens_per_byte, &self->ratios,
                 (double) figures->prompt_tokens / (double) figures->prompt_bytes);
    double load_us = cold && figures->load_us >= 0 ? (double) figures->load_us : -1;
    double prefill_us = -1, decode_us = -1;
    int64_t uncached = figures->prompt_tokens
                     - (figures->cached_tokens > 0 ? figures->cached_tokens : 0);
    if (figures->prompt_tokens >= 0 && uncached >= S_MIN_PREFILL_TOKENS && figures->prefill_us >= 0)
        prefill_us = (double) figures->prefill_us / (double) uncached;
    if (figures->completion_tokens >= S_MIN_DECODE_TOKENS && figures->decode_us >= 0)
        decode_us = (double) figures->decode_us / (double) figures->completion_tokens;
    if (load_us < 0 && prefill_us < 0 && decode_us < 0)
        return;
    if (model && *model) {
        char key [OFP_MODELS_KEY_MAX];
        sched_cost_key (model, key);
        s_learn_rates (s_pair (self, backend, key, true), load_us, prefill_us, decode_us);
    }
    s_backend_t *record = s_backend (self, backend, true);
    s_learn_rates (record ? &record->rates : NULL, load_us, prefill_us, decode_us);
    s_learn_rates (&self->fleet, load_us, prefill_us, decode_us);
}

//  The first of the pair's, the backend's, the fleet's rates that has samples
//  of the kind (by offset), else the guess
typedef enum { S_LOAD, S_PREFILL, S_DECODE } s_kind_t;

static double
s_value (const s_rates_t *rates, s_kind_t kind, bool *known)
{
    uint64_t samples = kind == S_LOAD ? rates->loads : kind == S_PREFILL ? rates->prefills
                                                                           : rates->decodes;
    *known = samples > 0;
    return kind == S_LOAD ? rates->load_us : kind == S_PREFILL ? rates->prefill_us
                                                                : rates->decode_us;
}

static double
s_lookup (sched_cost_t *self, const char *backend, const char *model, s_kind_t kind,
          double guess)
{
    bool known = false;
    double value;
    if (model && *model) {
        char key [OFP_MODELS_KEY_MAX];
        sched_cost_key (model, key);
        s_rates_t *rates = s_pair (self, backend, key, false);
        if (rates && (value = s_value (rates, kind, &known), known))
            return value;
    }
    s_backend_t *record = s_backend (self, backend, false);
    if (record && (value = s_value (&record->rates, kind, &known), known))
        return value;
    value = s_value (&self->fleet, kind, &known);
    return known ? value : guess;
}

int64_t
sched_cost_load_us (sched_cost_t *self, const char *backend, const char *model)
{
    assert (self && backend);
    return (int64_t) s_lookup (self, backend, model, S_LOAD, SCHED_COST_LOAD_GUESS_US);
}

double
sched_cost_prefill_us (sched_cost_t *self, const char *backend, const char *model)
{
    assert (self && backend);
    return s_lookup (self, backend, model, S_PREFILL, SCHED_COST_PREFILL_GUESS_US);
}

double
sched_cost_decode_us (sched_cost_t *self, const char *backend, const char *model)
{
    assert (self && backend);
    return s_lookup (self, backend, model, S_DECODE, SCHED_COST_DECODE_GUESS_US);
}

double
sched_cost_tokens_per_byte (sched_cost_t *self)
{
    assert (self);
    return self->ratios ? self->tokens_per_byte : SCHED_COST_TOKENS_PER_BYTE_GUESS;
}

//  --------------------------------------------------------------------------
//  Self test

static void
s_test_inventory (sched_models_t *models, const char *backend, const char *loaded,
                  const char *also)
{
    json_t *inventory = json_pack ("{s:s, s:i, s:s, s:s, s:[{s:s, s:s, s:{}}, {s:s, s:s, s:{}}],"
                                   " s:[], s:s}", "Epoch", "0123456789abcdef", "Sequence", 1,
                                   "Backend", backend, "ApiFormat", "Ollama", "Models", "Name",
                                   "a:latest", "Model", "a:latest", "Details", "Name", "b:latest",
                                   "Model", "b:latest", "Details", "Loaded", "FetchedUtc",
                                   "2025-01-01T00:00:00.000000Z");
    if (loaded)
        json_array_append_new (json_object_get (inventory, "Loaded"),
                               json_pack ("{s:s}", "Name", loaded));
    if (also)
        json_array_append_new (json_object_get (inventory, "Loaded"),
                               json_pack ("{s:s}", "Name", also));
    ofp_msg_t *msg = ofp_msg_new (&ofp_models_protocol, "INVENTORY", NULL, &inventory);
    sched_models_apply (models, msg);
    ofp_msg_destroy (&msg);
}

void
sched_cost_test (bool verbose)
{
    printf (" * sched_cost: ");
    if (verbose)
        printf ("\n");
    sched_cost_t *cost = sched_cost_new ();
    sched_models_t *models = sched_models_new (NULL);
    sched_table_t *table = sched_table_new ();
    sched_table_register (table, "i1", 0);

    //  Nothing learned: the guesses
    assert (sched_cost_load_us (cost, "b1", "a") == SCHED_COST_LOAD_GUESS_US);
    assert (sched_cost_prefill_us (cost, "b1", "a") == SCHED_COST_PREFILL_GUESS_US);
    assert (sched_cost_decode_us (cost, "b1", "a") == SCHED_COST_DECODE_GUESS_US);

    //  Rates per pair, then the backend's, then the fleet's
    assert (sched_cost_tokens_per_byte (cost) == SCHED_COST_TOKENS_PER_BYTE_GUESS);
    sched_cost_figures_t figures = {1000, 200, 50, 2000000, 400000, 1000000, 5000};
    sched_cost_note_release (cost, "b1", "a", true, &figures);
    assert (sched_cost_load_us (cost, "b1", "a:latest") == 2000000);
    assert (sched_cost_prefill_us (cost, "b1", "A") == 500);   //  400 ms / 800 uncached
    assert (sched_cost_decode_us (cost, "b1", "a") == 20000);
    assert (sched_cost_tokens_per_byte (cost) == 0.2);
    assert (sched_cost_prefill_us (cost, "b1", "b") == 500);   //  the backend's
    assert (sched_cost_prefill_us (cost, "b2", "b") == 500);   //  the fleet's
    //  A warm grant's load is not a load time; the average moves by 1/8
    sched_cost_figures_t warm = {1000, 1000, 50, 100000, 0, 500000, 0};
    sched_cost_note_release (cost, "b1", "a", false, &warm);
    assert (sched_cost_load_us (cost, "b1", "a") == 2000000);
    assert (sched_cost_prefill_us (cost, "b1", "a") == 500);   //  no uncached tokens
    assert (sched_cost_decode_us (cost, "b1", "a") == 20000 - 10000 / 8);
    sched_cost_figures_t none = {-1, -1, -1, -1, -1, -1, 0};
    sched_cost_note_release (cost, "b3", "a", true, &none);
    assert (sched_cost_prefill_us (cost, "b3", "a") == 500);

    //  Residency: the inventory, then the grants
    assert (sched_cost_resident (cost, models, table, "b1", ""));
    assert (!sched_cost_resident (cost, models, table, "b1", "a"));
    s_test_inventory (models, "b1", "a:latest", NULL);
    assert (sched_cost_resident (cost, models, table, "b1", "a"));
    //  b1 holds one model: a grant of b pushes a out, whatever the inventory says
    assert (sched_cost_note_grant (cost, models, table, "b1", "b"));
    assert (sched_cost_resident (cost, models, table, "b1", "b"));
    assert (!sched_cost_resident (cost, models, table, "b1", "a"));
    assert (!sched_cost_note_grant (cost, models, table, "b1", "b"));
    //  ...and a grant of a brings it back (a cold grant)
    assert (sched_cost_note_grant (cost, models, table, "b1", "a"));
    assert (sched_cost_resident (cost, models, table, "b1", "a"));
    assert (!sched_cost_resident (cost, models, table, "b1", "b"));
    //  A model with a lease running stays resident; with every resident model
    //  busy, a load must wait
    assert (sched_table_add (table, "0123456789abcdef", "1", "i1", "b1", "f1", NULL) == 0);
    sched_lease_t *lease = sched_table_lookup (table, "0123456789abcdef", "1");
    sched_table_set_model (table, lease, "a:latest", false, 0);
    assert (sched_cost_full (cost, models, table, "b1"));
    assert (!sched_cost_full (cost, models, table, "b2"));
    assert (sched_cost_note_grant (cost, models, table, "b1", "b"));
    assert (sched_cost_resident (cost, models, table, "b1", "a"));
    sched_table_remove (table, lease);
    assert (!sched_cost_full (cost, models, table, "b1"));
    //  A backend seen holding two models at once holds two
    s_test_inventory (models, "b2", "a:latest", NULL);
    json_t *both = json_pack ("{s:s, s:i, s:s, s:s, s:[{s:s, s:s, s:{}}, {s:s, s:s, s:{}}],"
                              " s:[{s:s}, {s:s}], s:s}", "Epoch", "0123456789abcdef", "Sequence",
                              2, "Backend", "b2", "ApiFormat", "Ollama", "Models", "Name",
                              "a:latest", "Model", "a:latest", "Details", "Name", "b:latest",
                              "Model", "b:latest", "Details", "Loaded", "Name", "a:latest",
                              "Name", "b:latest", "FetchedUtc", "2025-01-01T00:00:00.000000Z");
    ofp_msg_t *msg = ofp_msg_new (&ofp_models_protocol, "INVENTORY", NULL, &both);
    sched_models_apply (models, msg);
    ofp_msg_destroy (&msg);
    assert (sched_cost_note_grant (cost, models, table, "b2", "c"));
    assert (sched_cost_resident (cost, models, table, "b2", "c"));
    //  c and b: of the two listed, a went, as Ollama unloads (the first by
    //  name among the idle; not the least recently used)
    assert (!sched_cost_resident (cost, models, table, "b2", "a"));
    assert (sched_cost_resident (cost, models, table, "b2", "b"));
    //  What a load there costs the model it would push out (b, the first by
    //  name): its load time times its share of b2's grants, none yet
    assert (sched_cost_evict_us (cost, models, table, NULL, "b2") == 0);
    assert (!sched_cost_note_grant (cost, models, table, "b2", "b"));
    double share = 1.0 / SCHED_COST_DEMAND_WEIGHT;
    assert (sched_cost_evict_us (cost, models, table, NULL, "b2")
            == (int64_t) (share * (double) sched_cost_load_us (cost, "b2", "b")));
    //  With b busy, c (idle) is the one to go, with its faded share
    assert (sched_table_add (table, "0123456789abcdef", "2", "i1", "b2", "f1", NULL) == 0);
    lease = sched_table_lookup (table, "0123456789abcdef", "2");
    sched_table_set_model (table, lease, "b:latest", false, 0);
    share = 1.0 / SCHED_COST_DEMAND_WEIGHT * (1 - 1.0 / SCHED_COST_DEMAND_WEIGHT);
    assert (sched_cost_evict_us (cost, models, table, NULL, "b2")
            == (int64_t) (share * (double) sched_cost_load_us (cost, "b2", "c")));
    //  Asks queued for c would each wait for it to be loaded again
    sched_queue_t *queue = sched_queue_new ();
    for (int index = 0; index < 2; index++) {
        json_t *body = json_pack ("{s:s, s:s, s:s, s:i}", "Frontend", "f1", "Kind",
                                  "completions", "Model", "C", "DeadlineMs", 1000);
        sched_ask_t *ask = sched_ask_new ("i1", index ? "q2" : "q1", body, 0);
        json_decref (body);
        sched_queue_push (queue, &ask, NULL, 0);
    }
    assert (sched_cost_evict_us (cost, models, table, queue, "b2")
            == (int64_t) ((share + 2) * (double) sched_cost_load_us (cost, "b2", "c")));
    sched_queue_destroy (&queue);
    sched_table_remove (table, lease);
    //  A backend below its capacity pushes nothing out
    assert (sched_cost_evict_us (cost, models, table, NULL, "b9") == 0);
    //  A grant before the backend's inventory is known may name a model it
    //  lacks (its answer a 404): not cold, since nothing is known, and once
    //  the inventory is in, what it lists loaded is not pushed out by it
    assert (!sched_cost_note_grant (cost, models, table, "b4", "x"));
    assert (sched_cost_resident (cost, models, table, "b4", "x"));
    s_test_inventory (models, "b4", "a:latest", "b:latest");
    assert (!sched_cost_resident (cost, models, table, "b4", "x"));
    assert (!sched_cost_note_grant (cost, models, table, "b4", "b"));
    assert (sched_cost_resident (cost, models, table, "b4", "a")
            && sched_cost_resident (cost, models, table, "b4", "b"));
    assert (sched_cost_note_grant (cost, models, table, "b4", "x"));
    //  Bounded: many models on one backend
    for (int index = 0; index < 3 * SCHED_COST_RECENT_MAX; index++) {
        char name [16];
        snprintf (name, sizeof name, "m%d", index);
        sched_cost_note_grant (cost, models, table, "b3", name);
        assert (sched_cost_resident (cost, models, table, "b3", name));
    }
    assert (!sched_cost_resident (cost, models, table, "b3", "m0"));

    sched_table_destroy (&table);
    sched_models_destroy (&models);
    sched_cost_destroy (&cost);
    sched_cost_destroy (&cost);
    printf ("OK\n");
}

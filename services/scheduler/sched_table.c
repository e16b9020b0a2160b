/*  =========================================================================
    sched_table - the ingresses registered and the leases each one holds
    =========================================================================
*/

#include "sched_table.h"
#include "sched_tally.h"

//  A lease's key: epoch, ':', lease id
#define S_KEY_MAX (OFP_EPOCH_LENGTH + 1 + OFP_IDENTIFIER_MAX + 1)

typedef struct {
    char *id;
    int64_t seen_at;            //  zclock_mono of its last message
    zhashx_t *leases;           //  lease key -> sched_lease_t (owned by the table)
} s_ingress_t;

struct _sched_table_t {
    zhashx_t *leases;           //  lease key -> sched_lease_t
    zhashx_t *ingresses;        //  id -> s_ingress_t
    zhashx_t *backends;         //  backend -> leases held (sched_tally)
    zhashx_t *keys;             //  client API key -> leases held (sched_tally)
    zhashx_t *models;           //  backend, model -> leases held (sched_tally)
    zhashx_t *running;          //  backend -> models with leases held (sched_tally)
};

//  The key of a (backend, model) pair in models
static void
s_pair (char *dest, size_t size, const char *backend, const char *model)
{
    snprintf (dest, size, "%s\t%s", backend, model);
}

//  Counts a lease of the backend's model in or out
static void
s_count_model (sched_table_t *self, const char *backend, const char *model, int delta)
{
    char pair [OF_IDENTIFIER_MAX + OFP_MODELS_KEY_MAX + 2];
    s_pair (pair, sizeof pair, backend, model);
    size_t before = sched_tally_get (self->models, pair);
    sched_tally_add (self->models, pair, delta);
    if ((before == 0) != (sched_tally_get (self->models, pair) == 0))
        sched_tally_add (self->running, backend, delta);
}

static void
s_key (char *dest, const char *epoch, const char *lease)
{
    //  As snprintf "%s:%s" would (truncated to S_KEY_MAX), without the
    //  formatting: three of these per lease
    size_t size = 0;
    for (const char *c = epoch; *c && size < S_KEY_MAX - 1; c++)
        dest [size++] = *c;
    if (size < S_KEY_MAX - 1)
        dest [size++] = ':';
    for (const char *c = lease; *c && size < S_KEY_MAX - 1; c++)
        dest [size++] = *c;
    dest [size] = 0;
}

static void
s_ingress_destroy (void **item)
{
    s_ingress_t *ingress = (s_ingress_t *) *item;
    if (ingress) {
        zhashx_destroy (&ingress->leases);
        free (ingress->id);
        free (ingress);
        *item = NULL;
    }
}

sched_table_t *
sched_table_new (void)
{
    sched_table_t *self = (sched_table_t *) zmalloc (sizeof (sched_table_t));
    self->leases = zhashx_new ();
    self->ingresses = zhashx_new ();
    zhashx_set_destructor (self->ingresses, s_ingress_destroy);
    self->backends = zhashx_new ();
    self->keys = zhashx_new ();
    self->models = zhashx_new ();
    self->running = zhashx_new ();
    return self;
}

void
sched_table_destroy (sched_table_t **self_p)
{
    assert (self_p);
    sched_table_t *self = *self_p;
    if (!self)
        return;
    //  Frees every lease through its ingress
    while (zhashx_size (self->ingresses)) {
        s_ingress_t *ingress = (s_ingress_t *) zhashx_first (self->ingresses);
        while (zhashx_size (ingress->leases))
            sched_table_remove (self, (sched_lease_t *) zhashx_first (ingress->leases));
        zhashx_delete (self->ingresses, ingress->id);
    }
    zhashx_destroy (&self->leases);
    zhashx_destroy (&self->ingresses);
    zhashx_destroy (&self->backends);
    zhashx_destroy (&self->keys);
    zhashx_destroy (&self->models);
    zhashx_destroy (&self->running);
    free (self);
    *self_p = NULL;
}

//  Frees every lease of an ingress; returns how many
static size_t
s_free_leases (sched_table_t *self, s_ingress_t *ingress)
{
    size_t count = zhashx_size (ingress->leases);
    while (zhashx_size (ingress->leases))
        sched_table_remove (self, (sched_lease_t *) zhashx_first (ingress->leases));
    return count;
}

int
sched_table_register (sched_table_t *self, const char *ingress_id, int64_t now)
{
    assert (self && ingress_id);
    s_ingress_t *ingress = (s_ingress_t *) zhashx_lookup (self->ingresses, ingress_id);
    if (ingress) {
        ingress->seen_at = now;
        return (int) s_free_leases (self, ingress);
    }
    if (zhashx_size (self->ingresses) >= SCHED_TABLE_INGRESSES_MAX)
        return -1;
    ingress = (s_ingress_t *) zmalloc (sizeof (s_ingress_t));
    ingress->id = strdup (ingress_id);
    ingress->seen_at = now;
    ingress->leases = zhashx_new ();
    zhashx_insert (self->ingresses, ingress_id, ingress);
    return 0;
}

bool
sched_table_seen (sched_table_t *self, const char *ingress_id, int64_t now)
{
    assert (self);
    s_ingress_t *ingress =
        ingress_id ? (s_ingress_t *) zhashx_lookup (self->ingresses, ingress_id) : NULL;
    if (ingress)
        ingress->seen_at = now;
    return ingress != NULL;
}

bool
sched_table_registered (sched_table_t *self, const char *ingress_id)
{
    assert (self);
    return ingress_id && zhashx_lookup (self->ingresses, ingress_id) != NULL;
}

zlistx_t *
sched_table_expire (sched_table_t *self, int64_t now, int64_t liveness_ms)
{
    assert (self);
    zlistx_t *silent = NULL;
    for (s_ingress_t *ingress = (s_ingress_t *) zhashx_first (self->ingresses); ingress;
         ingress = (s_ingress_t *) zhashx_next (self->ingresses))
        if (now - ingress->seen_at >= liveness_ms) {
            if (!silent) {
                silent = zlistx_new ();
                zlistx_set_destructor (silent, (zlistx_destructor_fn *) zstr_free);
            }
            zlistx_add_end (silent, strdup (ingress->id));
        }
    for (char *id = silent ? (char *) zlistx_first (silent) : NULL; id;
         id = (char *) zlistx_next (silent)) {
        s_free_leases (self, (s_ingress_t *) zhashx_lookup (self->ingresses, id));
        zhashx_delete (self->ingresses, id);
    }
    return silent;
}

int
sched_table_add (sched_table_t *self, const char *epoch, const char *lease_id,
                 const char *ingress_id, const char *backend, const char *frontend,
                 const char *sticky_key)
{
    assert (self && epoch && lease_id && ingress_id && backend && frontend);
    s_ingress_t *ingress = (s_ingress_t *) zhashx_lookup (self->ingresses, ingress_id);
    char key [S_KEY_MAX];
    s_key (key, epoch, lease_id);
    if (!ingress || zhashx_lookup (self->leases, key)
        || zhashx_size (self->leases) >= SCHED_TABLE_LEASES_MAX)
        return -1;
    sched_lease_t *lease = (sched_lease_t *) zmalloc (sizeof (sched_lease_t));
    lease->epoch = strdup (epoch);
    lease->lease = strdup (lease_id);
    lease->ingress = strdup (ingress_id);
    lease->backend = strdup (backend);
    lease->frontend = strdup (frontend);
    lease->sticky_key = sticky_key ? strdup (sticky_key) : NULL;
    zhashx_insert (self->leases, key, lease);
    zhashx_insert (ingress->leases, key, lease);
    sched_tally_add (self->backends, backend, 1);
    return 0;
}

sched_lease_t *
sched_table_lookup (sched_table_t *self, const char *epoch, const char *lease_id)
{
    assert (self && epoch && lease_id);
    char key [S_KEY_MAX];
    s_key (key, epoch, lease_id);
    return (sched_lease_t *) zhashx_lookup (self->leases, key);
}

void
sched_table_remove (sched_table_t *self, sched_lease_t *lease)
{
    assert (self && lease);
    char key [S_KEY_MAX];
    s_key (key, lease->epoch, lease->lease);
    s_ingress_t *ingress = (s_ingress_t *) zhashx_lookup (self->ingresses, lease->ingress);
    assert (ingress);
    zhashx_delete (ingress->leases, key);
    zhashx_delete (self->leases, key);
    sched_tally_add (self->backends, lease->backend, -1);
    if (lease->key)
        sched_tally_add (self->keys, lease->key, -1);
    if (lease->model)
        s_count_model (self, lease->backend, lease->model, -1);
    free (lease->key);
    free (lease->model);
    free (lease->epoch);
    free (lease->lease);
    free (lease->ingress);
    free (lease->backend);
    free (lease->frontend);
    free (lease->sticky_key);
    free (lease);
}

void
sched_table_set_key (sched_table_t *self, sched_lease_t *lease, const char *key)
{
    assert (self && lease && !lease->key);
    if (!key)
        return;
    lease->key = strdup (key);
    sched_tally_add (self->keys, key, 1);
}

void
sched_table_set_model (sched_table_t *self, sched_lease_t *lease, const char *model, bool cold,
                       int64_t prompt_bytes)
{
    assert (self && lease && !lease->model);
    lease->cold = cold;
    lease->prompt_bytes = prompt_bytes;
    if (!model || !*model)
        return;
    lease->model = strdup (model);
    s_count_model (self, lease->backend, model, 1);
}

size_t
sched_table_model_leases (sched_table_t *self, const char *backend, const char *model)
{
    assert (self && backend && model);
    char pair [OF_IDENTIFIER_MAX + OFP_MODELS_KEY_MAX + 2];
    s_pair (pair, sizeof pair, backend, model);
    return sched_tally_get (self->models, pair);
}

size_t
sched_table_models_running (sched_table_t *self, const char *backend)
{
    assert (self && backend);
    return sched_tally_get (self->running, backend);
}

size_t
sched_table_key_leases (sched_table_t *self, const char *key)
{
    assert (self);
    return sched_tally_get (self->keys, key);
}

size_t
sched_table_leases (sched_table_t *self, const char *backend)
{
    assert (self && backend);
    return sched_tally_get (self->backends, backend);
}

size_t
sched_table_ingress_leases (sched_table_t *self, const char *ingress_id)
{
    assert (self);
    s_ingress_t *ingress =
        ingress_id ? (s_ingress_t *) zhashx_lookup (self->ingresses, ingress_id) : NULL;
    return ingress ? zhashx_size (ingress->leases) : 0;
}

size_t
sched_table_size (sched_table_t *self)
{
    assert (self);
    return zhashx_size (self->leases);
}

size_t
sched_table_ingresses (sched_table_t *self)
{
    assert (self);
    return zhashx_size (self->ingresses);
}

json_t *
sched_table_ingress_ids (sched_table_t *self, size_t max)
{
    assert (self);
    if (zhashx_size (self->ingresses) > max)
        return NULL;
    json_t *ids = json_array ();
    for (s_ingress_t *ingress = (s_ingress_t *) zhashx_first (self->ingresses); ingress;
         ingress = (s_ingress_t *) zhashx_next (self->ingresses))
        json_array_append_new (ids, json_string (ingress->id));
    return ids;
}

//  --------------------------------------------------------------------------
//  Self test

#define S_EPOCH_A "0123456789abcdef"
#define S_EPOCH_B "fedcba9876543210"
#define S_LIVENESS 3000

void
sched_table_test (bool verbose)
{
    printf (" * sched_table: ");
    if (verbose)
        printf ("\n");
    sched_table_t *table = sched_table_new ();
    int64_t now = 1000;

    //  Only registered ingresses hold leases
    assert (!sched_table_registered (table, "i1"));
    assert (sched_table_add (table, S_EPOCH_A, "1", "i1", "b1", "f1", NULL) == -1);
    assert (sched_table_register (table, "i1", now) == 0);
    assert (sched_table_register (table, "i2", now) == 0);
    assert (sched_table_ingresses (table) == 2);
    //  Their ids, for a PONG's Peers; none beyond the bound
    json_t *ids = sched_table_ingress_ids (table, 2);
    assert (json_array_size (ids) == 2);
    const char *first = json_string_value (json_array_get (ids, 0));
    assert (streq (first, "i1") || streq (first, "i2"));
    json_decref (ids);
    assert (sched_table_ingress_ids (table, 1) == NULL);
    assert (sched_table_add (table, S_EPOCH_A, "1", "i1", "b1", "f1", NULL) == 0);
    assert (sched_table_add (table, S_EPOCH_A, "2", "i1", "b1", "f1", "alice") == 0);
    assert (sched_table_add (table, S_EPOCH_A, "3", "i2", "b2", "f1", NULL) == 0);
    //  The same pair twice is refused; another epoch's "1" is another lease
    assert (sched_table_add (table, S_EPOCH_A, "1", "i2", "b1", "f1", NULL) == -1);
    assert (sched_table_add (table, S_EPOCH_B, "1", "i2", "b9", "f1", NULL) == 0);
    assert (sched_table_leases (table, "b1") == 2);
    assert (sched_table_leases (table, "b9") == 1);
    assert (sched_table_leases (table, "b3") == 0);
    assert (sched_table_ingress_leases (table, "i1") == 2);
    assert (sched_table_ingress_leases (table, "nobody") == 0);
    assert (sched_table_size (table) == 4);

    //  Lookup and remove
    sched_lease_t *lease = sched_table_lookup (table, S_EPOCH_A, "2");
    assert (lease && streq (lease->ingress, "i1") && streq (lease->sticky_key, "alice"));
    //  Leases per client API key
    sched_table_set_key (table, lease, "k1");
    assert (sched_table_key_leases (table, "k1") == 1 && sched_table_key_leases (table, NULL) == 0);
    assert (sched_table_lookup (table, S_EPOCH_B, "2") == NULL);
    sched_table_remove (table, lease);
    assert (sched_table_lookup (table, S_EPOCH_A, "2") == NULL);
    assert (sched_table_leases (table, "b1") == 1);

    //  Leases per model of a backend, and the models running there
    lease = sched_table_lookup (table, S_EPOCH_A, "1");
    sched_table_set_model (table, lease, "m1:latest", true, 100);
    assert (lease->cold && streq (lease->model, "m1:latest"));
    assert (sched_table_add (table, S_EPOCH_A, "5", "i1", "b1", "f1", NULL) == 0);
    sched_table_set_model (table, sched_table_lookup (table, S_EPOCH_A, "5"), "m2:latest", false, 0);
    assert (sched_table_add (table, S_EPOCH_A, "6", "i1", "b1", "f1", NULL) == 0);
    sched_table_set_model (table, sched_table_lookup (table, S_EPOCH_A, "6"), "m2:latest", false, 0);
    assert (sched_table_model_leases (table, "b1", "m2:latest") == 2);
    assert (sched_table_models_running (table, "b1") == 2);
    sched_table_remove (table, sched_table_lookup (table, S_EPOCH_A, "6"));
    assert (sched_table_models_running (table, "b1") == 2);
    sched_table_remove (table, sched_table_lookup (table, S_EPOCH_A, "5"));
    assert (sched_table_models_running (table, "b1") == 1);
    assert (sched_table_model_leases (table, "b1", "m2:latest") == 0);

    //  HELLO again frees the ingress's leases
    assert (sched_table_register (table, "i1", now) == 1);
    assert (sched_table_models_running (table, "b1") == 0);
    assert (sched_table_leases (table, "b1") == 0);
    assert (sched_table_registered (table, "i1"));

    //  Silence: i2 expires with its leases, i1 (heard) stays
    assert (sched_table_seen (table, "i1", now + S_LIVENESS));
    assert (!sched_table_seen (table, "nobody", now));
    assert (sched_table_expire (table, now + S_LIVENESS - 1, S_LIVENESS) == NULL);
    zlistx_t *silent = sched_table_expire (table, now + S_LIVENESS, S_LIVENESS);
    assert (silent && zlistx_size (silent) == 1 && streq ((char *) zlistx_first (silent), "i2"));
    zlistx_destroy (&silent);
    assert (!sched_table_registered (table, "i2"));
    assert (sched_table_size (table) == 0);
    assert (sched_table_leases (table, "b2") == 0);

    //  Destroy frees leases still held
    assert (sched_table_add (table, S_EPOCH_A, "9", "i1", "b1", "f1", "k") == 0);
    sched_table_destroy (&table);
    sched_table_destroy (&table);
    printf ("OK\n");
}

/*  =========================================================================
    sched_prefix - which prompt prefixes each backend probably holds
    =========================================================================
*/

#include "sched_prefix.h"
#include "sched_tally.h"

#define S_HASH_SIZE 17

typedef struct {
    size_t count;
    char (*hashes) [S_HASH_SIZE];
} s_chain_t;

typedef struct {
    zhashx_t *hashes;           //  hash -> chains holding it (sched_tally)
    zlistx_t *chains;           //  s_chain_t, most recent first
    zhashx_t *tails;            //  a chain's last hash -> its handle in chains
} s_index_t;

struct _sched_prefix_t {
    zhashx_t *backends;         //  backend id -> s_index_t
};

static void
s_index_destroy (void **item_p)
{
    s_index_t *index = (s_index_t *) *item_p;
    if (!index)
        return;
    for (s_chain_t *chain = (s_chain_t *) zlistx_first (index->chains); chain;
         chain = (s_chain_t *) zlistx_next (index->chains)) {
        free (chain->hashes);
        free (chain);
    }
    zlistx_destroy (&index->chains);
    zhashx_destroy (&index->hashes);
    zhashx_destroy (&index->tails);
    free (index);
    *item_p = NULL;
}

sched_prefix_t *
sched_prefix_new (void)
{
    sched_prefix_t *self = (sched_prefix_t *) zmalloc (sizeof (sched_prefix_t));
    self->backends = zhashx_new ();
    zhashx_set_destructor (self->backends, s_index_destroy);
    return self;
}

void
sched_prefix_destroy (sched_prefix_t **self_p)
{
    assert (self_p);
    sched_prefix_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->backends);
    free (self);
    *self_p = NULL;
}

//  Drops a kept chain
static void
s_drop (s_index_t *index, void *handle)
{
    s_chain_t *chain = (s_chain_t *) zlistx_handle_item (handle);
    for (size_t at = 0; at < chain->count; at++)
        sched_tally_add (index->hashes, chain->hashes [at], -1);
    zhashx_delete (index->tails, chain->hashes [chain->count - 1]);
    zlistx_delete (index->chains, handle);
    free (chain->hashes);
    free (chain);
}

void
sched_prefix_note (sched_prefix_t *self, const char *backend, json_t *chain, size_t capacity)
{
    assert (self && backend);
    size_t count = json_array_size (chain);
    if (count == 0)
        return;
    s_index_t *index = (s_index_t *) zhashx_lookup (self->backends, backend);
    if (!index) {
        if (zhashx_size (self->backends) >= SCHED_PREFIX_BACKENDS_MAX)
            return;
        index = (s_index_t *) zmalloc (sizeof (s_index_t));
        index->hashes = zhashx_new ();
        index->chains = zlistx_new ();
        index->tails = zhashx_new ();
        zhashx_insert (self->backends, backend, index);
    }
    s_chain_t *kept = (s_chain_t *) zmalloc (sizeof (s_chain_t));
    kept->hashes = (char (*) [S_HASH_SIZE]) zmalloc (count * S_HASH_SIZE);
    for (size_t at = 0; at < count; at++) {
        const char *hash = json_string_value (json_array_get (chain, at));
        snprintf (kept->hashes [kept->count], S_HASH_SIZE, "%s", hash ? hash : "");
        //  A kept chain that ends inside this one is its prefix: replaced
        void *handle = zhashx_lookup (index->tails, kept->hashes [kept->count]);
        if (handle)
            s_drop (index, handle);
        kept->count++;
    }
    for (size_t at = 0; at < kept->count; at++)
        sched_tally_add (index->hashes, kept->hashes [at], 1);
    void *handle = zlistx_add_start (index->chains, kept);
    zhashx_insert (index->tails, kept->hashes [kept->count - 1], handle);
    if (capacity < 1)
        capacity = 1;
    while (zlistx_size (index->chains) > capacity) {
        zlistx_last (index->chains);
        s_drop (index, zlistx_cursor (index->chains));
    }
}

size_t
sched_prefix_match (sched_prefix_t *self, const char *backend, json_t *chain)
{
    assert (self && backend);
    s_index_t *index = (s_index_t *) zhashx_lookup (self->backends, backend);
    if (!index)
        return 0;
    //  A hash names its whole prefix: the last one held is the match
    for (size_t at = json_array_size (chain); at-- > 0; ) {
        const char *hash = json_string_value (json_array_get (chain, at));
        if (hash && zhashx_lookup (index->hashes, hash))
            return at + 1;
    }
    return 0;
}

void
sched_prefix_forget (sched_prefix_t *self, const char *backend)
{
    assert (self && backend);
    zhashx_delete (self->backends, backend);
}

//  --------------------------------------------------------------------------
//  Self test

//  A chain of the given one-letter pieces: each hash names the letters so far
static json_t *
s_chain (const char *pieces)
{
    json_t *chain = json_array ();
    for (size_t length = 1; length <= strlen (pieces); length++) {
        char hash [S_HASH_SIZE];
        snprintf (hash, sizeof hash, "%-16.*s", (int) length, pieces);
        for (char *space = hash; *space; space++)
            if (*space == ' ')
                *space = '0';
        json_array_append_new (chain, json_string (hash));
    }
    return chain;
}

static size_t
s_match (sched_prefix_t *prefix, const char *backend, const char *pieces)
{
    json_t *chain = s_chain (pieces);
    size_t matched = sched_prefix_match (prefix, backend, chain);
    json_decref (chain);
    return matched;
}

static void
s_note (sched_prefix_t *prefix, const char *backend, const char *pieces, size_t capacity)
{
    json_t *chain = s_chain (pieces);
    sched_prefix_note (prefix, backend, chain, capacity);
    json_decref (chain);
}

void
sched_prefix_test (bool verbose)
{
    printf (" * sched_prefix: ");
    if (verbose)
        printf ("\n");
    sched_prefix_t *prefix = sched_prefix_new ();
    assert (s_match (prefix, "b1", "abc") == 0);

    //  A conversation: its next turn finds its history where it went
    s_note (prefix, "b1", "sab", 2);
    assert (s_match (prefix, "b1", "sabcd") == 3);
    assert (s_match (prefix, "b2", "sabcd") == 0);
    assert (s_match (prefix, "b1", "sx") == 1);     //  the same system prompt
    assert (s_match (prefix, "b1", "tab") == 0);
    //  The next turn replaces its prefix: one chain kept, not two
    s_note (prefix, "b1", "sabcd", 2);
    assert (s_match (prefix, "b1", "sabcdef") == 5);
    //  Two slots' worth: the least recent chain goes
    s_note (prefix, "b1", "txy", 2);
    assert (s_match (prefix, "b1", "sabcd") == 5);
    s_note (prefix, "b1", "uvw", 2);
    assert (s_match (prefix, "b1", "sabcd") == 0);
    assert (s_match (prefix, "b1", "txy") == 3 && s_match (prefix, "b1", "uvw") == 3);
    //  A shared prefix stays while a chain holds it
    s_note (prefix, "b1", "txz", 2);
    s_note (prefix, "b1", "tq", 2);
    assert (s_match (prefix, "b1", "txy") == 2 && s_match (prefix, "b1", "txz") == 3);
    assert (s_match (prefix, "b1", "uvw") == 0);
    //  The same chain again is one chain
    s_note (prefix, "b1", "tq", 2);
    assert (s_match (prefix, "b1", "txz") == 3);
    //  Capacity 0 counts as 1; forget drops all
    s_note (prefix, "b3", "ab", 0);
    s_note (prefix, "b3", "cd", 0);
    assert (s_match (prefix, "b3", "ab") == 0 && s_match (prefix, "b3", "cd") == 2);
    sched_prefix_forget (prefix, "b3");
    assert (s_match (prefix, "b3", "cd") == 0);
    //  Many chains on a backend: bounded by its capacity
    for (int round = 0; round < 1000; round++) {
        char pieces [8];
        snprintf (pieces, sizeof pieces, "%c%c%c", 'a' + round % 26, 'a' + round / 26 % 26, 'q');
        s_note (prefix, "b4", pieces, 8);
    }
    sched_prefix_destroy (&prefix);
    sched_prefix_destroy (&prefix);
    printf ("OK\n");
}

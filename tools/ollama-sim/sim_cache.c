/*  =========================================================================
    sim_cache - the prompt cache of one backend's slots, as llama-server keeps it
    =========================================================================
*/

#include "sim_cache.h"
#include <assert.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define S_FNV_OFFSET    14695981039346656037ULL
#define S_FNV_PRIME     1099511628211ULL
//  Marker tokens hash a byte no word contains first, so no word equals one
#define S_MARKER_BYTE   0x01
#define S_TOKENS_GROWTH 64

typedef struct {
    sim_tokens_t tokens;
    uint64_t runner;            //  0: empty
    uint64_t used;              //  LRU tick of the last use
    bool busy;
} s_slot_t;

typedef struct {
    sim_tokens_t tokens;
    uint64_t runner;
    uint64_t used;
} s_entry_t;

struct _sim_cache_t {
    s_slot_t *slots;
    int size;
    s_entry_t *ram;             //  the RAM cache, unordered
    size_t ram_count, ram_capacity, ram_tokens;
    uint64_t tick;
};

void
sim_tokens_append (sim_tokens_t *self, uint64_t token)
{
    if (self->size == self->capacity) {
        size_t capacity = self->capacity? self->capacity * 2: S_TOKENS_GROWTH;
        uint64_t *items = realloc (self->items, capacity * sizeof *items);
        assert (items);
        self->items = items;
        self->capacity = capacity;
    }
    self->items [self->size++] = token;
}

void
sim_tokens_words (sim_tokens_t *self, const char *text, size_t length)
{
    uint64_t hash = S_FNV_OFFSET;
    bool in_word = false;
    for (size_t i = 0; i <= length; i++) {
        unsigned char c = i < length? (unsigned char) text [i]: ' ';
        if (isspace (c) || c == 0) {
            if (in_word)
                sim_tokens_append (self, hash);
            in_word = false;
            hash = S_FNV_OFFSET;
        }
        else {
            in_word = true;
            hash = (hash ^ c) * S_FNV_PRIME;
        }
    }
}

void
sim_tokens_marker (sim_tokens_t *self, const char *role)
{
    uint64_t hash = (S_FNV_OFFSET ^ S_MARKER_BYTE) * S_FNV_PRIME;
    for (const unsigned char *p = (const unsigned char *) role; *p; p++)
        hash = (hash ^ *p) * S_FNV_PRIME;
    sim_tokens_append (self, hash);
}

void
sim_tokens_free (sim_tokens_t *self)
{
    free (self->items);
    memset (self, 0, sizeof *self);
}

size_t
sim_tokens_common (const sim_tokens_t *a, const sim_tokens_t *b)
{
    size_t limit = a->size < b->size? a->size: b->size, i = 0;
    while (i < limit && a->items [i] == b->items [i])
        i++;
    return i;
}

sim_cache_t *
sim_cache_new (int slots)
{
    sim_cache_t *self = calloc (1, sizeof *self);
    assert (self);
    sim_cache_resize (self, slots);
    return self;
}

void
sim_cache_destroy (sim_cache_t **self_p)
{
    assert (self_p);
    sim_cache_t *self = *self_p;
    if (!self)
        return;
    sim_cache_clear (self);
    free (self->slots);
    free (self->ram);
    free (self);
    *self_p = NULL;
}

void
sim_cache_resize (sim_cache_t *self, int slots)
{
    if (slots <= self->size)
        return;
    s_slot_t *grown = realloc (self->slots, (size_t) slots * sizeof *grown);
    assert (grown);
    memset (grown + self->size, 0, (size_t) (slots - self->size) * sizeof *grown);
    self->slots = grown;
    self->size = slots;
}

static void
s_ram_remove (sim_cache_t *self, size_t index)
{
    self->ram_tokens -= self->ram [index].tokens.size;
    sim_tokens_free (&self->ram [index].tokens);
    self->ram [index] = self->ram [--self->ram_count];
}

//  Saves a copy of a slot's tokens to the RAM cache, dropping the least
//  recently used entries to stay within limit tokens; an entry that is a
//  prefix of the new one is dropped as well (the new one holds it)
static void
s_ram_trim (sim_cache_t *self, size_t limit, size_t room)
{
    while (self->ram_count && self->ram_tokens + room > limit) {
        size_t oldest = 0;
        for (size_t i = 1; i < self->ram_count; i++)
            if (self->ram [i].used < self->ram [oldest].used)
                oldest = i;
        s_ram_remove (self, oldest);
    }
}

static void
s_ram_save (sim_cache_t *self, const s_slot_t *slot, size_t limit)
{
    s_ram_trim (self, limit, 0);
    if (limit == 0 || slot->runner == 0 || slot->tokens.size == 0 || slot->tokens.size > limit)
        return;
    for (size_t i = 0; i < self->ram_count; )
        if (self->ram [i].runner == slot->runner
        &&  sim_tokens_common (&self->ram [i].tokens, &slot->tokens) == self->ram [i].tokens.size)
            s_ram_remove (self, i);
        else
            i++;
    s_ram_trim (self, limit, slot->tokens.size);
    if (self->ram_count == self->ram_capacity) {
        size_t capacity = self->ram_capacity? self->ram_capacity * 2: 8;
        s_entry_t *ram = realloc (self->ram, capacity * sizeof *ram);
        assert (ram);
        self->ram = ram;
        self->ram_capacity = capacity;
    }
    s_entry_t *entry = &self->ram [self->ram_count++];
    memset (entry, 0, sizeof *entry);
    entry->runner = slot->runner;
    entry->used = ++self->tick;
    for (size_t i = 0; i < slot->tokens.size; i++)
        sim_tokens_append (&entry->tokens, slot->tokens.items [i]);
    self->ram_tokens += entry->tokens.size;
}

void
sim_cache_take (sim_cache_t *self, uint64_t runner, const sim_tokens_t *prompt,
                size_t ram_tokens, sim_cache_hit_t *hit)
{
    memset (hit, 0, sizeof *hit);
    int best = -1, lru = -1;
    size_t best_common = 0;
    for (int i = 0; i < self->size; i++) {
        s_slot_t *slot = &self->slots [i];
        if (slot->busy)
            continue;
        if (lru < 0 || slot->used < self->slots [lru].used)
            lru = i;
        size_t common = slot->runner == runner? sim_tokens_common (&slot->tokens, prompt): 0;
        if (common > best_common) {
            best = i;
            best_common = common;
        }
    }
    assert (lru >= 0);
    bool similar = best >= 0 && prompt->size
                && (double) best_common / (double) prompt->size > SIM_CACHE_SIMILARITY;
    int chosen = similar? best: lru;
    s_slot_t *slot = &self->slots [chosen];
    size_t common = similar? best_common
                  : slot->runner == runner? sim_tokens_common (&slot->tokens, prompt): 0;
    //  What the prompt will overwrite is saved first: always for the LRU
    //  slot, for a similar one when less than half of it survives
    if (common < slot->tokens.size
    &&  (!similar || (double) common / (double) slot->tokens.size < SIM_CACHE_KEEP))
        s_ram_save (self, slot, ram_tokens);
    //  The RAM cache restores a longer prefix, if it has one
    size_t restored = 0, from = 0;
    for (size_t i = 0; i < self->ram_count; i++) {
        if (self->ram [i].runner != runner)
            continue;
        size_t c = sim_tokens_common (&self->ram [i].tokens, prompt);
        if (c > common && c > restored) {
            restored = c;
            from = i;
        }
    }
    if (restored) {
        self->ram [from].used = ++self->tick;
        common = restored;
    }
    //  The last prompt token is always evaluated, to produce the first output
    if (prompt->size && common >= prompt->size)
        common = prompt->size - 1;
    if (restored > common)
        restored = common;
    slot->busy = true;
    slot->used = ++self->tick;
    hit->slot = chosen;
    hit->cached = common;
    hit->restored = restored;
}

void
sim_cache_give (sim_cache_t *self, int slot_index, uint64_t runner, sim_tokens_t *tokens)
{
    assert (slot_index >= 0 && slot_index < self->size);
    s_slot_t *slot = &self->slots [slot_index];
    sim_tokens_free (&slot->tokens);
    slot->tokens = *tokens;
    memset (tokens, 0, sizeof *tokens);
    slot->runner = runner;
    slot->busy = false;
    slot->used = ++self->tick;
}

void
sim_cache_forget (sim_cache_t *self, uint64_t runner)
{
    for (int i = 0; i < self->size; i++)
        if (self->slots [i].runner == runner && !self->slots [i].busy) {
            sim_tokens_free (&self->slots [i].tokens);
            self->slots [i].runner = 0;
        }
    for (size_t i = 0; i < self->ram_count; )
        if (self->ram [i].runner == runner)
            s_ram_remove (self, i);
        else
            i++;
}

void
sim_cache_clear (sim_cache_t *self)
{
    for (int i = 0; i < self->size; i++) {
        sim_tokens_free (&self->slots [i].tokens);
        self->slots [i].runner = 0;
    }
    while (self->ram_count)
        s_ram_remove (self, 0);
}

size_t
sim_cache_ram_size (sim_cache_t *self)
{
    return self->ram_tokens;
}

//  A prompt of the words of text, as a fresh sequence
static sim_tokens_t
s_test_prompt (const char *text)
{
    sim_tokens_t tokens = {0};
    sim_tokens_words (&tokens, text, strlen (text));
    return tokens;
}

void
sim_cache_test (void)
{
    //  Words and markers
    sim_tokens_t a = s_test_prompt ("  one two\tthree\n"), b = s_test_prompt ("one two four");
    assert (a.size == 3 && b.size == 3 && sim_tokens_common (&a, &b) == 2);
    sim_tokens_t m = {0};
    sim_tokens_marker (&m, "user");
    sim_tokens_words (&m, "user", 4);
    assert (m.size == 2 && m.items [0] != m.items [1]);
    sim_tokens_free (&m);
    sim_tokens_free (&a);
    sim_tokens_free (&b);

    //  Two slots. A first prompt takes the LRU slot and pays for everything
    //  but its last token; its answer is kept with it
    sim_cache_t *cache = sim_cache_new (2);
    sim_cache_hit_t hit;
    sim_tokens_t p1 = s_test_prompt ("s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 q1");
    sim_cache_take (cache, 7, &p1, 0, &hit);
    assert (hit.cached == 0 && hit.restored == 0);
    int first = hit.slot;
    sim_tokens_t kept = s_test_prompt ("s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 q1 a1 a2");
    sim_cache_give (cache, first, 7, &kept);
    assert (kept.size == 0 && kept.items == NULL);
    //  The next turn extends it: that slot, only the new tokens are paid
    sim_tokens_t p2 = s_test_prompt ("s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 q1 a1 a2 q2 q3");
    sim_cache_take (cache, 7, &p2, 0, &hit);
    assert (hit.slot == first && hit.cached == 13);
    //  Meanwhile another prompt finds the first slot busy: the other one
    sim_cache_hit_t other;
    sim_cache_take (cache, 7, &p1, 0, &other);
    assert (other.slot != first && other.cached == 0);
    sim_tokens_t copy = s_test_prompt ("s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 q1");
    sim_cache_give (cache, other.slot, 7, &copy);
    sim_tokens_t again = s_test_prompt ("s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 q1 a1 a2 q2 q3");
    sim_cache_give (cache, first, 7, &again);
    //  The same prompt again: everything but the last token is cached
    sim_cache_take (cache, 7, &p2, 0, &hit);
    assert (hit.slot == first && hit.cached == p2.size - 1);
    sim_tokens_t keep = s_test_prompt ("s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 q1 a1 a2 q2 q3");
    sim_cache_give (cache, first, 7, &keep);
    //  Another runner (the model reloaded) shares nothing
    sim_cache_take (cache, 8, &p2, 0, &hit);
    assert (hit.cached == 0);
    sim_tokens_t empty = {0};
    sim_cache_give (cache, hit.slot, 8, &empty);
    //  A prefix of 10% or less does not choose a slot: the least recently used
    //  one is taken (the first slot, whose one shared token still counts)
    sim_tokens_t p3 = s_test_prompt ("s1 x2 x3 x4 x5 x6 x7 x8 x9 x10 x11 x12");
    sim_cache_forget (cache, 8);
    sim_cache_take (cache, 7, &p3, 0, &hit);
    assert (hit.slot == first && hit.cached == 1);
    sim_tokens_t p3_kept = s_test_prompt ("s1 x2 x3");
    sim_cache_give (cache, hit.slot, 7, &p3_kept);
    sim_cache_destroy (&cache);

    //  The RAM cache: one slot; a prompt that overwrites it saves it, and a
    //  later prompt restores the saved prefix
    cache = sim_cache_new (1);
    sim_tokens_t long_prompt = s_test_prompt ("c1 c2 c3 c4 c5 c6 c7 c8 c9 c10");
    sim_cache_take (cache, 1, &long_prompt, 1000, &hit);
    sim_tokens_t held = s_test_prompt ("c1 c2 c3 c4 c5 c6 c7 c8 c9 c10 r1 r2");
    sim_cache_give (cache, hit.slot, 1, &held);
    sim_tokens_t unrelated = s_test_prompt ("u1 u2 u3");
    sim_cache_take (cache, 1, &unrelated, 1000, &hit);
    assert (hit.cached == 0 && sim_cache_ram_size (cache) == 12);
    sim_tokens_t u_held = s_test_prompt ("u1 u2 u3 v1");
    sim_cache_give (cache, hit.slot, 1, &u_held);
    sim_tokens_t back = s_test_prompt ("c1 c2 c3 c4 c5 c6 c7 c8 c9 c10 r1 r2 n1");
    sim_cache_take (cache, 1, &back, 1000, &hit);
    assert (hit.cached == 12 && hit.restored == 12);
    //  RAM holds "c.. r2" and "u1 u2 u3 v1" (saved when "back" took the slot).
    //  Saving "c.. n2" replaces its prefix "c.. r2"; within a bound of 14
    //  tokens the least recently used "u" entry goes, so "u" restores nothing
    sim_tokens_t b_held = s_test_prompt ("c1 c2 c3 c4 c5 c6 c7 c8 c9 c10 r1 r2 n1 n2");
    sim_cache_give (cache, hit.slot, 1, &b_held);
    sim_cache_take (cache, 1, &unrelated, 14, &hit);
    assert (sim_cache_ram_size (cache) == 14 && hit.cached == 0);
    sim_tokens_t u_again = s_test_prompt ("u1 u2 u3 v1");
    sim_cache_give (cache, hit.slot, 1, &u_again);
    //  With room for both, "u" restores 2 tokens ("u3" is evaluated)
    sim_cache_take (cache, 1, &long_prompt, 100, &hit);
    sim_tokens_t c_again = s_test_prompt ("c1 c2");
    sim_cache_give (cache, hit.slot, 1, &c_again);
    sim_cache_take (cache, 1, &unrelated, 100, &hit);
    assert (hit.cached == 2 && hit.restored == 2);
    sim_cache_forget (cache, 1);
    assert (sim_cache_ram_size (cache) == 0);
    sim_tokens_t none = {0};
    sim_cache_give (cache, hit.slot, 1, &none);
    sim_cache_clear (cache);
    sim_cache_destroy (&cache);
    sim_cache_destroy (&cache);
    assert (cache == NULL);
    sim_tokens_free (&p1);
    sim_tokens_free (&p2);
    sim_tokens_free (&p3);
    sim_tokens_free (&long_prompt);
    sim_tokens_free (&unrelated);
    sim_tokens_free (&back);
}

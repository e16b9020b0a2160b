/*  =========================================================================
    sim_cache - the prompt cache of one backend's slots, as llama-server keeps it

    Each slot keeps the tokens of its last prompt and answer, tagged with the
    runner (one load of one model) whose KV cache holds them. A request takes
    the idle slot whose tokens share the longest prefix with its prompt when
    that prefix covers more than a tenth of the prompt, else the least
    recently used idle slot; only the tokens after the shared prefix pay for
    prefill, and at least the last prompt token is always evaluated. A slot
    whose tokens are about to be overwritten can be saved to a bounded
    host-RAM cache (llama-server's --cache-ram), from which a later prompt
    restores the longest matching prefix when it beats every slot's.

    A token is a 64-bit hash of one word (sim_tokens), so a prompt is an
    array of them and a shared prefix is a shared run of hashes.
    =========================================================================
*/

#ifndef SIM_CACHE_H_INCLUDED
#define SIM_CACHE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  A slot is chosen for its prefix when the prefix covers more than this
//  share of the prompt (llama-server's --slot-prompt-similarity)
#define SIM_CACHE_SIMILARITY 0.10
//  A slot chosen for its prefix is saved to RAM first when less than this
//  share of its tokens survives
#define SIM_CACHE_KEEP 0.5

//  A sequence of tokens; a plain record, zero it to start
typedef struct {
    uint64_t *items;
    size_t size, capacity;
} sim_tokens_t;

//  Appends one token
void
    sim_tokens_append (sim_tokens_t *self, uint64_t token);

//  Appends the tokens of text: one per whitespace-separated word
void
    sim_tokens_words (sim_tokens_t *self, const char *text, size_t length);

//  Appends a marker of the chat template ("<|user|>"), one token
void
    sim_tokens_marker (sim_tokens_t *self, const char *role);

//  Frees the items and empties the sequence
void
    sim_tokens_free (sim_tokens_t *self);

//  Length of the common prefix of two sequences
size_t
    sim_tokens_common (const sim_tokens_t *a, const sim_tokens_t *b);

//  Where a prompt's cached tokens came from; a plain record
typedef struct {
    int slot;                   //  the slot taken
    size_t cached;              //  prompt tokens not evaluated again
    size_t restored;            //  of those, tokens restored from RAM (they cost restore time)
} sim_cache_hit_t;

typedef struct _sim_cache_t sim_cache_t;

//  Creates the cache of slots (parallel)
sim_cache_t *
    sim_cache_new (int slots);

//  Destroys the cache; accepts NULL
void
    sim_cache_destroy (sim_cache_t **self_p);

//  Grows the number of slots (never shrinks: the backend's slots bound how
//  many are busy at once)
void
    sim_cache_resize (sim_cache_t *self, int slots);

//  Takes an idle slot for a prompt of runner; ram_tokens bounds the RAM
//  cache (0: none). There is always an idle slot when the caller holds one
//  of the backend's slots. Fills hit.
void
    sim_cache_take (sim_cache_t *self, uint64_t runner, const sim_tokens_t *prompt,
                    size_t ram_tokens, sim_cache_hit_t *hit);

//  The slot's work ended: it holds tokens now (moved: tokens is emptied)
void
    sim_cache_give (sim_cache_t *self, int slot, uint64_t runner, sim_tokens_t *tokens);

//  A runner was unloaded: its slots and RAM entries are gone
void
    sim_cache_forget (sim_cache_t *self, uint64_t runner);

//  Empties every slot and the RAM cache
void
    sim_cache_clear (sim_cache_t *self);

//  Tokens held in the RAM cache now
size_t
    sim_cache_ram_size (sim_cache_t *self);

//  Self-test
void
    sim_cache_test (void);

#endif

/*  =========================================================================
    sim_text - deterministic text and embeddings for the simulated models

    Output depends only on a key made from the seed and the prompt, so a test
    can ask twice (or through two APIs) and compare bytes. Token i of a
    generation is a pure function of (key, i): no state to carry around.
    Tokens are plain ASCII words with a leading space (except the first), so
    they need no JSON escaping.
    =========================================================================
*/

#ifndef SIM_TEXT_H_INCLUDED
#define SIM_TEXT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

//  Room for one token, with its leading space and punctuation
#define SIM_TEXT_TOKEN_MAX 24

//  Hashes text into a key, mixed with a seed (FNV-1a then splitmix64)
uint64_t
    sim_text_key (uint64_t seed, const char *text);

//  Writes token number index of the generation for key into buf and returns
//  its length. *id_p (if not NULL) receives a token id for "context" arrays.
size_t
    sim_text_token (uint64_t key, uint32_t index, char *buf, size_t size, int *id_p);

//  Counts the tokens of a prompt the way the simulator bills them: one per
//  whitespace-separated word, at least one.
int
    sim_text_count_tokens (const char *text);

//  Fills vector [dim] with an L2-normalised embedding of text
void
    sim_text_embedding (uint64_t seed, const char *text, float *vector, int dim);

//  Self-test
void
    sim_text_test (void);

#endif

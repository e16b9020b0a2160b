/*  =========================================================================
    sim_text - deterministic text and embeddings for the simulated models
    =========================================================================
*/

#include "sim_text.h"
#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define FNV_OFFSET   14695981039346656037ULL
#define FNV_PRIME    1099511628211ULL
#define GOLDEN_GAMMA 0x9E3779B97F4A7C15ULL
//  About one token in SENTENCE_EVERY ends a sentence
#define SENTENCE_EVERY 9

static const char *s_words [] = {
    "the", "model", "answers", "quickly", "with", "a", "clear", "and", "simple", "reply",
    "about", "llamas", "living", "in", "high", "mountains", "where", "grass", "is", "green",
    "every", "server", "streams", "tokens", "to", "its", "clients", "over", "fast", "networks",
    "load", "balancers", "share", "work", "between", "many", "machines", "so", "nothing", "waits",
    "long", "today", "we", "learn", "that", "small", "steps", "make", "big", "progress",
    "while", "careful", "tests", "compare", "bytes", "one", "by", "other", "until", "done",
    "bright", "river", "stone", "cloud"
};
#define WORD_COUNT (sizeof s_words / sizeof s_words [0])

static uint64_t
s_mix (uint64_t z)
{
    z += GOLDEN_GAMMA;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t
sim_text_key (uint64_t seed, const char *text)
{
    uint64_t hash = FNV_OFFSET;
    for (const unsigned char *p = (const unsigned char *) (text? text: ""); *p; p++)
        hash = (hash ^ *p) * FNV_PRIME;
    return s_mix (hash ^ s_mix (seed));
}

static uint64_t
s_token_hash (uint64_t key, uint32_t index)
{
    return s_mix (key ^ ((uint64_t) index * GOLDEN_GAMMA));
}

static bool
s_ends_sentence (uint64_t hash)
{
    return (hash >> 40) % SENTENCE_EVERY == 0;
}

size_t
sim_text_token (uint64_t key, uint32_t index, char *buf, size_t size, int *id_p)
{
    assert (size >= SIM_TEXT_TOKEN_MAX);
    uint64_t hash = s_token_hash (key, index);
    size_t word = hash % WORD_COUNT;
    bool capital = index == 0 || s_ends_sentence (s_token_hash (key, index - 1));
    int len = snprintf (buf, size, "%s%s%s", index? " ": "", s_words [word],
                        s_ends_sentence (hash)? ".": "");
    if (capital)
        buf [index? 1: 0] = (char) toupper ((unsigned char) buf [index? 1: 0]);
    if (id_p)
        *id_p = (int) word + 1;
    return (size_t) len;
}

int
sim_text_count_tokens (const char *text)
{
    int count = 0;
    bool in_word = false;
    for (const unsigned char *p = (const unsigned char *) (text? text: ""); *p; p++) {
        if (isspace (*p))
            in_word = false;
        else if (!in_word) {
            in_word = true;
            count++;
        }
    }
    return count > 0? count: 1;
}

void
sim_text_embedding (uint64_t seed, const char *text, float *vector, int dim)
{
    uint64_t key = sim_text_key (seed, text);
    double norm = 0;
    for (int i = 0; i < dim; i++) {
        uint64_t hash = s_mix (key + (uint64_t) i);
        //  Uniform in [-1, 1), from the top 53 bits
        double value = (double) (hash >> 11) / (double) (1ULL << 52) - 1.0;
        vector [i] = (float) value;
        norm += value * value;
    }
    norm = sqrt (norm);
    for (int i = 0; i < dim && norm > 0; i++)
        vector [i] = (float) (vector [i] / norm);
}

void
sim_text_test (void)
{
    //  Same key, same tokens; different seed or prompt, different text
    uint64_t key = sim_text_key (42, "Why is the sky blue?");
    assert (key == sim_text_key (42, "Why is the sky blue?"));
    assert (key != sim_text_key (43, "Why is the sky blue?"));
    assert (key != sim_text_key (42, "Why is the sky green?"));
    char first [SIM_TEXT_TOKEN_MAX], again [SIM_TEXT_TOKEN_MAX];
    size_t total = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        int id;
        size_t len = sim_text_token (key, i, first, sizeof first, &id);
        assert (len == strlen (first) && len > 0 && len < SIM_TEXT_TOKEN_MAX);
        assert (id >= 1 && id <= (int) WORD_COUNT);
        assert ((i == 0) == (first [0] != ' '));
        sim_text_token (key, i, again, sizeof again, NULL);
        assert (strcmp (first, again) == 0);
        for (size_t c = 0; c < len; c++)
            assert (first [c] >= ' ' && first [c] < 127 && first [c] != '"' && first [c] != '\\');
        total += len;
    }
    assert (total > 1000);
    sim_text_token (key, 0, first, sizeof first, NULL);
    assert (isupper ((unsigned char) first [0]));

    assert (sim_text_count_tokens ("") == 1);
    assert (sim_text_count_tokens (NULL) == 1);
    assert (sim_text_count_tokens ("  hello   big\tworld \n") == 3);

    float a [384], b [384];
    sim_text_embedding (1, "hello", a, 384);
    sim_text_embedding (1, "hello", b, 384);
    double norm = 0;
    for (int i = 0; i < 384; i++) {
        assert (a [i] == b [i]);
        norm += (double) a [i] * a [i];
    }
    assert (fabs (norm - 1.0) < 1e-5);
    sim_text_embedding (1, "world", b, 384);
    assert (memcmp (a, b, sizeof a) != 0);
}

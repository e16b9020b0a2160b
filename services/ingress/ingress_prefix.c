/*  =========================================================================
    ingress_prefix - the prompt's prefix chain, for the scheduler
    =========================================================================
*/

#include "ingress_prefix.h"
#include "ofp_lease.h"
#include "ofp_models.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

#define S_MULTIPLY 0x9E3779B97F4A7C15ULL

typedef struct {
    uint64_t hash;              //  the chain so far
    size_t bytes;               //  text hashed so far
    size_t emitted;             //  the end of the last piece emitted
    json_t *hashes;
    json_t *ends;
} s_chain_t;

//  A finaliser (MurmurHash3's), so that every bit of the state reaches
//  every bit of the hash
static uint64_t
s_mix (uint64_t value)
{
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdULL;
    value ^= value >> 33;
    value *= 0xc4ceb9fe1a85ec53ULL;
    value ^= value >> 33;
    return value;
}

//  Moves the chain's state over size bytes, 8 at a step
static uint64_t
s_hash (uint64_t state, const char *data, size_t size)
{
    state ^= (uint64_t) size * S_MULTIPLY;
    while (size >= 8) {
        uint64_t word;
        memcpy (&word, data, 8);
        state = (state ^ word) * S_MULTIPLY;
        state ^= state >> 29;
        data += 8;
        size -= 8;
    }
    uint64_t word = 0;
    memcpy (&word, data, size);
    state = (state ^ word ^ ((uint64_t) size << 56)) * S_MULTIPLY;
    return state ^ (state >> 31);
}

//  Hashes what the budget allows of a piece of text
static void
s_feed (s_chain_t *self, const char *data, size_t size)
{
    if (self->bytes + size > INGRESS_PREFIX_BYTES)
        size = INGRESS_PREFIX_BYTES - self->bytes;
    if (size == 0)
        return;
    self->hash = s_hash (self->hash, data, size);
    self->bytes += size;
}

//  Ends a piece: its hash names the prompt so far. The last place is kept
//  for what is left (s_finish)
static void
s_emit (s_chain_t *self, bool last)
{
    if (self->bytes == self->emitted)
        return;
    if (!last && json_array_size (self->hashes) >= OFP_LEASE_PREFIX_MAX - 1)
        return;
    char hex [17];
    snprintf (hex, sizeof hex, "%016llx", (unsigned long long) s_mix (self->hash));
    json_array_append_new (self->hashes, json_string (hex));
    json_array_append_new (self->ends, json_integer ((json_int_t) self->bytes));
    self->emitted = self->bytes;
}

//  Text cut into fixed chunks, counted from the chain's start
static void
s_feed_chunked (s_chain_t *self, const char *data, size_t size)
{
    while (size && self->bytes < INGRESS_PREFIX_BYTES) {
        size_t room = INGRESS_PREFIX_CHUNK - self->bytes % INGRESS_PREFIX_CHUNK;
        size_t take = size < room ? size : room;
        s_feed (self, data, take);
        if (self->bytes % INGRESS_PREFIX_CHUNK == 0)
            s_emit (self, false);
        data += take;
        size -= take;
    }
}

static void
s_feed_string (s_chain_t *self, const json_t *string)
{
    if (json_is_string (string))
        s_feed (self, json_string_value (string), json_string_length (string));
}

//  One chat message: its role, its content (text, or OpenAI's parts: the
//  text of each, the type of the others) and Ollama's images
static void
s_feed_message (s_chain_t *self, const json_t *message)
{
    s_feed_string (self, json_object_get (message, "role"));
    s_feed (self, "\n", 1);
    const json_t *content = json_object_get (message, "content");
    if (json_is_array (content)) {
        size_t index;
        const json_t *part;
        json_array_foreach (content, index, part) {
            const json_t *text = json_object_get (part, "text");
            s_feed_string (self, json_is_string (text) ? text : json_object_get (part, "type"));
        }
    }
    else
        s_feed_string (self, content);
    size_t index;
    const json_t *image;
    json_array_foreach (json_object_get (message, "images"), index, image)
        s_feed_string (self, image);
}

void
ingress_prefix_add (ingress_route_kind_t kind, const json_t *body, const char *model,
                    json_t *ask)
{
    assert (body && ask);
    bool chat = kind == INGRESS_ROUTE_CHAT || kind == INGRESS_ROUTE_OPENAI_CHAT;
    if (!chat && kind != INGRESS_ROUTE_GENERATE && kind != INGRESS_ROUTE_OPENAI_COMPLETIONS)
        return;
    char key [OFP_MODELS_KEY_MAX];
    ofp_models_key (key, model ? model : "");
    s_chain_t chain = {s_hash (0, key, strlen (key)), 0, 0, json_array (), json_array ()};
    if (chat) {
        size_t index;
        const json_t *message;
        json_array_foreach (json_object_get (body, "messages"), index, message)
            if (json_is_object (message) && chain.bytes < INGRESS_PREFIX_BYTES) {
                s_feed_message (&chain, message);
                s_emit (&chain, false);
            }
    }
    else {
        const json_t *system = json_object_get (body, "system");
        if (json_is_string (system))
            s_feed_chunked (&chain, json_string_value (system), json_string_length (system));
        //  A completion's prompt may be a list: its first text
        const json_t *prompt = json_object_get (body, "prompt");
        if (json_is_array (prompt))
            prompt = json_array_get (prompt, 0);
        if (json_is_string (prompt))
            s_feed_chunked (&chain, json_string_value (prompt), json_string_length (prompt));
    }
    s_emit (&chain, true);
    if (json_array_size (chain.hashes)) {
        json_object_set_new (ask, "Prefix", chain.hashes);
        json_object_set_new (ask, "PrefixEnds", chain.ends);
    }
    else {
        json_decref (chain.hashes);
        json_decref (chain.ends);
    }
}

//  --------------------------------------------------------------------------
//  Self test

//  The chain of a body given as JSON text: its hashes (caller decrefs), NULL if none
static json_t *
s_chain (ingress_route_kind_t kind, const char *text, const char *model, json_t **ends)
{
    json_t *body = json_loads (text, 0, NULL);
    assert (body);
    json_t *ask = json_object ();
    ingress_prefix_add (kind, body, model, ask);
    json_t *hashes = json_incref (json_object_get (ask, "Prefix"));
    if (ends)
        *ends = json_incref (json_object_get (ask, "PrefixEnds"));
    json_decref (ask);
    json_decref (body);
    return hashes;
}

static const char *
s_at (json_t *hashes, size_t index)
{
    return json_string_value (json_array_get (hashes, index));
}

void
ingress_prefix_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_prefix: ");

    //  A conversation's next turn shares the hashes of its history
    json_t *ends;
    json_t *first = s_chain (INGRESS_ROUTE_CHAT,
                             "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                             "{\"role\":\"user\",\"content\":\"hi\"}]}", "llama3", &ends);
    assert (json_array_size (first) == 2 && strlen (s_at (first, 0)) == 16);
    //  "system\nbe brief" is 15 bytes, "user\nhi" 7 more
    assert (json_integer_value (json_array_get (ends, 0)) == 15);
    assert (json_integer_value (json_array_get (ends, 1)) == 22);
    json_decref (ends);
    json_t *next = s_chain (INGRESS_ROUTE_CHAT,
                            "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                            "{\"role\":\"user\",\"content\":\"hi\"},"
                            "{\"role\":\"assistant\",\"content\":\"hello\"},"
                            "{\"role\":\"user\",\"content\":\"more\"}]}", "llama3:latest", NULL);
    assert (json_array_size (next) == 4);
    assert (streq (s_at (first, 0), s_at (next, 0)) && streq (s_at (first, 1), s_at (next, 1)));
    assert (!streq (s_at (next, 1), s_at (next, 2)));
    //  OpenAI's chat, the same words: the same chain; another model: another
    json_t *openai = s_chain (INGRESS_ROUTE_OPENAI_CHAT,
                              "{\"messages\":[{\"role\":\"system\",\"content\":[{\"type\":\"text\","
                              "\"text\":\"be brief\"}]},{\"role\":\"user\",\"content\":\"hi\"}]}",
                              "llama3", NULL);
    assert (json_equal (first, openai));
    json_t *other = s_chain (INGRESS_ROUTE_CHAT,
                             "{\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"}]}",
                             "qwen", NULL);
    assert (!streq (s_at (other, 0), s_at (first, 0)));
    //  A change early on changes every hash after it
    json_t *changed = s_chain (INGRESS_ROUTE_CHAT,
                               "{\"messages\":[{\"role\":\"system\",\"content\":\"be Brief\"},"
                               "{\"role\":\"user\",\"content\":\"hi\"}]}", "llama3", NULL);
    assert (!streq (s_at (changed, 0), s_at (first, 0)) && !streq (s_at (changed, 1), s_at (first, 1)));
    json_decref (first);
    json_decref (next);
    json_decref (openai);
    json_decref (other);
    json_decref (changed);

    //  Long text in fixed chunks: a longer prompt with the same start shares
    //  the chunks it fills
    char *text = (char *) malloc (INGRESS_PREFIX_BYTES * 2 + 64);
    for (size_t index = 0; index < INGRESS_PREFIX_BYTES * 2; index++)
        text [index] = (char) ('a' + index % 26);
    json_t *body = json_pack ("{s:s%}", "prompt", text, (size_t) 2500);
    char *short_text = json_dumps (body, 0);
    json_decref (body);
    json_t *short_chain = s_chain (INGRESS_ROUTE_GENERATE, short_text, "m", &ends);
    assert (json_array_size (short_chain) == 3);
    assert (json_integer_value (json_array_get (ends, 0)) == INGRESS_PREFIX_CHUNK);
    assert (json_integer_value (json_array_get (ends, 2)) == 2500);
    json_decref (ends);
    body = json_pack ("{s:s%}", "prompt", text, (size_t) 3000);
    char *long_text = json_dumps (body, 0);
    json_decref (body);
    json_t *long_chain = s_chain (INGRESS_ROUTE_OPENAI_COMPLETIONS, long_text, "m", NULL);
    assert (json_array_size (long_chain) == 3);
    assert (streq (s_at (short_chain, 1), s_at (long_chain, 1)));
    assert (!streq (s_at (short_chain, 2), s_at (long_chain, 2)));
    json_decref (short_chain);
    json_decref (long_chain);
    free (short_text);
    free (long_text);
    //  A huge prompt: at most OFP_LEASE_PREFIX_MAX pieces, INGRESS_PREFIX_BYTES hashed
    body = json_pack ("{s:s%}", "prompt", text, (size_t) INGRESS_PREFIX_BYTES * 2);
    char *huge = json_dumps (body, 0);
    json_decref (body);
    json_t *huge_chain = s_chain (INGRESS_ROUTE_GENERATE, huge, "m", &ends);
    assert (json_array_size (huge_chain) == OFP_LEASE_PREFIX_MAX);
    assert (json_integer_value (json_array_get (ends, OFP_LEASE_PREFIX_MAX - 1))
            == INGRESS_PREFIX_BYTES);
    json_decref (ends);
    json_decref (huge_chain);
    free (huge);
    free (text);

    //  No prompt, or a route without one: nothing
    assert (!s_chain (INGRESS_ROUTE_CHAT, "{\"messages\":[]}", "m", NULL));
    assert (!s_chain (INGRESS_ROUTE_GENERATE, "{\"prompt\":\"\"}", "m", NULL));
    assert (!s_chain (INGRESS_ROUTE_EMBED, "{\"input\":\"text\"}", "m", NULL));
    printf ("OK\n");
}

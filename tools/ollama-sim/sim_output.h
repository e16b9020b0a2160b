/*  =========================================================================
    sim_output - the bytes of generation and embedding replies

    Ollama's NDJSON lines (generate, chat), the OpenAI SSE events (chat
    completions, completions) in the format of the configured server version,
    the non-streamed objects, mid-stream error lines, and the embedding
    replies of /api/embed, /api/embeddings and /v1/embeddings (float or
    base64 of little-endian float32). Fields come in Go struct order.
    =========================================================================
*/

#ifndef SIM_OUTPUT_H_INCLUDED
#define SIM_OUTPUT_H_INCLUDED

#include "sim_backend.h"
#include <event2/buffer.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

//  Room for a JSON-escaped, quoted model name
#define SIM_OUTPUT_NAME_MAX (SIM_NAME_MAX * 6 + 3)

//  Everything a reply needs to know about one generation
typedef struct {
    sim_route_t route;
    char model_json [SIM_OUTPUT_NAME_MAX];  //  the name as sent, JSON-quoted
    uint64_t key;                           //  sim_text key of the output
    unsigned id;                            //  OpenAI "chatcmpl-<id>"
    int64_t created;                        //  OpenAI "created", Unix seconds
    bool new_sse;                           //  Ollama >= 0.32.6 SSE framing
    bool stamp_chunks;                      //  "created_at" in OpenAI stream chunks too
    bool include_usage;                     //  stream_options.include_usage
    bool raw;                               //  no "context" in generate
    int prompt_tokens;                      //  all of the prompt
    int cached_tokens;                      //  of those, taken from the prompt cache
    int eval_count;                         //  tokens generated
    const char *done_reason;                //  "stop", "length", "load", "unload"
    int64_t total_ns, load_ns, prompt_ns, eval_ns;
} sim_gen_t;

//  Quotes and escapes a model name for gen->model_json
void
    sim_output_set_model (sim_gen_t *gen, const char *name);

//  Appends the stream line (or SSE event) of token number index
void
    sim_output_token (const sim_gen_t *gen, struct evbuffer *out, uint32_t index);

//  Appends the end of a stream: the done object, or the OpenAI finish,
//  usage and [DONE] events
void
    sim_output_stream_end (const sim_gen_t *gen, struct evbuffer *out);

//  Appends the whole non-streamed reply object
void
    sim_output_whole (const sim_gen_t *gen, struct evbuffer *out);

//  Appends a mid-stream error line or event
void
    sim_output_error (const sim_gen_t *gen, struct evbuffer *out, const char *message);

//  Builds an embeddings reply for the inputs (an array of strings)
json_t *
    sim_output_embeddings (const sim_gen_t *gen, json_t *inputs, uint64_t seed, int dim,
                           bool base64);

//  Content type of a stream on this route
const char *
    sim_output_stream_type (sim_route_t route);

#endif

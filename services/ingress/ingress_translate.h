/*  =========================================================================
    ingress_translate - Ollama requests served by OpenAI-format backends

    Requests: an Ollama body (after the pins, which apply in the client's
    dialect) becomes the OpenAI body for the backend, field by field; a field
    that has no counterpart is refused with a 400 naming it, never dropped.
        /api/chat        -> /v1/chat/completions
        /api/generate    -> /v1/chat/completions (the prompt as a user message,
                            system as a system message: Ollama templates the
                            prompt, as chat does); raw:true -> /v1/completions
        /api/embed       -> /v1/embeddings
        /api/embeddings  -> /v1/embeddings
    Responses: a translator per call turns the backend's answer back: SSE
    chunks into NDJSON objects (each written out as soon as its chunk's line
    is complete, inputs split anywhere), or a whole JSON body; errors into
    Ollama's {"error": "..."}. Counts come from `usage` (stream_options
    include_usage is asked for); durations from llama.cpp's `timings` when
    the backend reports them, else from the translator's own clock.
    =========================================================================
*/

#ifndef INGRESS_TRANSLATE_H_INCLUDED
#define INGRESS_TRANSLATE_H_INCLUDED

#include <event2/buffer.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct _ingress_translate_t ingress_translate_t;

//  True if an Ollama route can be served by an OpenAI-format backend.
bool
    ingress_translate_route (const char *path);

//  The OpenAI request (new) for an Ollama request to path, and the OpenAI
//  path in *openai_path; NULL with the reason in error (naming the field)
//  when the request cannot be translated.
json_t *
    ingress_translate_request (const char *path, json_t *body, const char **openai_path,
                               char *error, size_t size);

//  A translator for one response to an Ollama request to path; model is the
//  name to report, stream whether the client asked for a stream.
ingress_translate_t *
    ingress_translate_new (const char *path, const char *model, bool stream);

void
    ingress_translate_destroy (ingress_translate_t **self_p);

//  Streamed: feeds backend bytes (any split), appends NDJSON lines to out.
void
    ingress_translate_feed (ingress_translate_t *self, const char *data, size_t size,
                            struct evbuffer *out);

//  Streamed: the backend's stream ended; appends what is still due to out
//  (the final object when the backend sent no [DONE]).
void
    ingress_translate_end (ingress_translate_t *self, struct evbuffer *out);

//  Whole: the Ollama body (new string) for a non-streamed backend answer
//  with status, and the status to answer with in *status_out.
char *
    ingress_translate_whole (ingress_translate_t *self, int status, const char *data,
                             size_t size, int *status_out);

//  Self test
void
    ingress_translate_test (bool verbose);

#endif

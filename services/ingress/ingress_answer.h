/*  =========================================================================
    ingress_answer - an OpenAI-format backend's answer, in Ollama's shape

    The other half of a translated request (ingress_translate): one per call,
    it turns the backend's answer back into what the Ollama client asked
    for. A stream's SSE chunks become NDJSON objects, each written out as
    soon as its line is complete (inputs split anywhere); the common chunk,
    one token's delta, is read by a scan (ingress_jscan) without a JSON
    tree. A whole JSON body becomes one object; errors become Ollama's
    {"error": "..."}. Counts come from `usage` (the request asked for
    stream_options.include_usage); durations from llama.cpp's `timings`
    when the backend reports them, else from this answer's own clock.
    =========================================================================
*/

#ifndef INGRESS_ANSWER_H_INCLUDED
#define INGRESS_ANSWER_H_INCLUDED

#include "ingress_translate.h"
#include <event2/buffer.h>

typedef struct _ingress_answer_t ingress_answer_t;

//  The answer to an Ollama request to path, made when the request leaves;
//  model is the name to report.
ingress_answer_t *
    ingress_answer_new (const char *path, const char *model);

void
    ingress_answer_destroy (ingress_answer_t **self_p);

//  Streamed: feeds backend bytes (any split), appends NDJSON lines to out.
void
    ingress_answer_feed (ingress_answer_t *self, const char *data, size_t size,
                         struct evbuffer *out);

//  Streamed: the backend's stream ended; appends what is still due to out
//  (the final object when the backend sent no [DONE]).
void
    ingress_answer_end (ingress_answer_t *self, struct evbuffer *out);

//  Whole: the Ollama body (new string) for a non-streamed backend answer
//  with status, and the status to answer with in *status_out.
char *
    ingress_answer_whole (ingress_answer_t *self, int status, const char *data, size_t size,
                          int *status_out);

//  Self test
void
    ingress_answer_test (bool verbose);

#endif

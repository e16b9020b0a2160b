/*  =========================================================================
    ingress_translate - Ollama requests for OpenAI-format backends

    An Ollama body (after the pins, which apply in the client's dialect)
    becomes the OpenAI body for the backend, field by field; a field that
    has no counterpart is refused with a 400 naming it, never dropped. A
    null counts as absent, as Ollama's own decoder reads it.
        /api/chat        -> /v1/chat/completions
        /api/generate    -> /v1/chat/completions (the prompt as a user message,
                            system as a system message: Ollama templates the
                            prompt, as chat does); raw:true -> /v1/completions
        /api/embed       -> /v1/embeddings
        /api/embeddings  -> /v1/embeddings
    Streamed chat and generate ask for stream_options.include_usage, so the
    answer (ingress_answer) has the counts for Ollama's final object.
    =========================================================================
*/

#ifndef INGRESS_TRANSLATE_H_INCLUDED
#define INGRESS_TRANSLATE_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>

//  What an Ollama route asks for
typedef enum {
    INGRESS_TRANSLATE_CHAT,
    INGRESS_TRANSLATE_GENERATE,
    INGRESS_TRANSLATE_EMBED,
    INGRESS_TRANSLATE_EMBEDDINGS
} ingress_translate_kind_t;

//  The kind of a route the ingress translates (ofp_lease_translated_path).
ingress_translate_kind_t
    ingress_translate_kind (const char *path);

//  The OpenAI request (new) for an Ollama request to path, and the OpenAI
//  path in *openai_path; NULL with the reason in error (naming the field)
//  when the request cannot be translated. images: the backend takes images
//  for this model (else images are refused). body is only read.
json_t *
    ingress_translate_request (const char *path, json_t *body, bool images,
                               const char **openai_path, char *error, size_t size);

//  Self test
void
    ingress_translate_test (bool verbose);

#endif

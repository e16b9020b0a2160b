/*  =========================================================================
    sim_output - the bytes of generation and embedding replies
    =========================================================================
*/

#include "sim_output.h"
#include "sim_clock.h"
#include "sim_text.h"
#include <assert.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FINGERPRINT "fp_ollama"

void
sim_output_set_model (sim_gen_t *gen, const char *name)
{
    //  JSON string escaping; the name came from parsed JSON, so it is UTF-8
    static const char hex [] = "0123456789abcdef";
    char *out = gen->model_json;
    char *limit = out + sizeof gen->model_json - 8;
    *out++ = '"';
    for (const unsigned char *p = (const unsigned char *) name; *p && out < limit; p++) {
        if (*p == '"' || *p == '\\') {
            *out++ = '\\';
            *out++ = (char) *p;
        }
        else if (*p < 0x20) {
            memcpy (out, "\\u00", 4);
            out [4] = hex [*p >> 4];
            out [5] = hex [*p & 15];
            out += 6;
        }
        else
            *out++ = (char) *p;
    }
    *out++ = '"';
    *out = 0;
}

const char *
sim_output_stream_type (sim_route_t route)
{
    return route == SIM_ROUTE_V1_CHAT || route == SIM_ROUTE_V1_COMPLETIONS? SIM_CT_SSE
                                                                        : SIM_CT_NDJSON;
}

static void
s_now (char *stamp)
{
    sim_clock_format (sim_clock_wall_ns (), stamp, SIM_CLOCK_STAMP_MAX);
}

//  The OpenAI object header shared by every chunk and reply
static void
s_v1_head (const sim_gen_t *gen, struct evbuffer *out, bool chunk)
{
    bool chat = gen->route == SIM_ROUTE_V1_CHAT;
    evbuffer_add_printf (out, "{\"id\":\"%s-%u\",\"object\":\"%s\",\"created\":%lld,\"model\":%s,"
                         "\"system_fingerprint\":\"" FINGERPRINT "\",",
                         chat? "chatcmpl": "cmpl", gen->id,
                         chat? (chunk? "chat.completion.chunk": "chat.completion")
                             : "text_completion",
                         (long long) gen->created, gen->model_json);
}

//  stamp_chunks: a token chunk's wall time as Ollama stamps its NDJSON lines, so that a
//  client times each chunk's way through a proxy (OpenAI's "created" is in whole seconds)
static void
s_v1_stamp (const sim_gen_t *gen, struct evbuffer *out)
{
    if (!gen->stamp_chunks)
        return;
    char stamp [SIM_CLOCK_STAMP_MAX];
    s_now (stamp);
    evbuffer_add_printf (out, "\"created_at\":\"%s\",", stamp);
}

//  The cached prompt tokens show only when there are some (Go's omitempty)
static void
s_usage (const sim_gen_t *gen, struct evbuffer *out)
{
    evbuffer_add_printf (out, "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,"
                         "\"total_tokens\":%d", gen->prompt_tokens, gen->eval_count,
                         gen->prompt_tokens + gen->eval_count);
    if (gen->cached_tokens)
        evbuffer_add_printf (out, ",\"prompt_tokens_details\":{\"cached_tokens\":%d}",
                             gen->cached_tokens);
    evbuffer_add (out, "}", 1);
}

//  The timing fields of Ollama's final object, after a comma
static void
s_metrics (const sim_gen_t *gen, struct evbuffer *out)
{
    evbuffer_add_printf (out, "\"total_duration\":%lld,\"load_duration\":%lld,"
                         "\"prompt_eval_count\":%d,", (long long) gen->total_ns,
                         (long long) gen->load_ns, gen->prompt_tokens);
    if (gen->cached_tokens)
        evbuffer_add_printf (out, "\"prompt_eval_cached_count\":%d,", gen->cached_tokens);
    evbuffer_add_printf (out, "\"prompt_eval_duration\":%lld,\"eval_count\":%d,"
                         "\"eval_duration\":%lld}", (long long) gen->prompt_ns, gen->eval_count,
                         (long long) gen->eval_ns);
}

void
sim_output_token (const sim_gen_t *gen, struct evbuffer *out, uint32_t index)
{
    char token [SIM_TEXT_TOKEN_MAX], stamp [SIM_CLOCK_STAMP_MAX];
    sim_text_token (gen->key, index, token, sizeof token, NULL);
    switch (gen->route) {
        case SIM_ROUTE_GENERATE:
            s_now (stamp);
            evbuffer_add_printf (out, "{\"model\":%s,\"created_at\":\"%s\",\"response\":\"%s\","
                                 "\"done\":false}\n", gen->model_json, stamp, token);
            break;
        case SIM_ROUTE_CHAT:
            s_now (stamp);
            evbuffer_add_printf (out, "{\"model\":%s,\"created_at\":\"%s\",\"message\":"
                                 "{\"role\":\"assistant\",\"content\":\"%s\"},\"done\":false}\n",
                                 gen->model_json, stamp, token);
            break;
        case SIM_ROUTE_V1_CHAT:
            evbuffer_add_printf (out, "data: ");
            s_v1_head (gen, out, true);
            s_v1_stamp (gen, out);
            evbuffer_add_printf (out, "\"choices\":[{\"index\":0,\"delta\":{%s\"content\":\"%s\"},"
                                 "\"finish_reason\":null}]}\n\n",
                                 !gen->new_sse || index == 0? "\"role\":\"assistant\",": "", token);
            break;
        case SIM_ROUTE_V1_COMPLETIONS:
            evbuffer_add_printf (out, "data: ");
            s_v1_head (gen, out, true);
            s_v1_stamp (gen, out);
            evbuffer_add_printf (out, "\"choices\":[{\"text\":\"%s\",\"index\":0,"
                                 "\"finish_reason\":null}]}\n\n", token);
            break;
        default:
            assert (false);
    }
}

//  Appends the generated text (safe ASCII, no escaping needed)
static void
s_text (const sim_gen_t *gen, struct evbuffer *out)
{
    char token [SIM_TEXT_TOKEN_MAX];
    for (int i = 0; i < gen->eval_count; i++) {
        size_t length = sim_text_token (gen->key, (uint32_t) i, token, sizeof token, NULL);
        evbuffer_add (out, token, length);
    }
}

static void
s_context (const sim_gen_t *gen, struct evbuffer *out)
{
    evbuffer_add_printf (out, "\"context\":[");
    char token [SIM_TEXT_TOKEN_MAX];
    for (int i = 0; i < gen->eval_count; i++) {
        int id;
        sim_text_token (gen->key, (uint32_t) i, token, sizeof token, &id);
        evbuffer_add_printf (out, i? ",%d": "%d", id);
    }
    evbuffer_add_printf (out, "],");
}

//  Ollama's done object; text is the whole output (non-streamed) or empty
static void
s_native_done (const sim_gen_t *gen, struct evbuffer *out, bool whole)
{
    char stamp [SIM_CLOCK_STAMP_MAX];
    s_now (stamp);
    bool chat = gen->route == SIM_ROUTE_CHAT;
    evbuffer_add_printf (out, "{\"model\":%s,\"created_at\":\"%s\",%s", gen->model_json, stamp,
                         chat? "\"message\":{\"role\":\"assistant\",\"content\":\"": "\"response\":\"");
    if (whole)
        s_text (gen, out);
    evbuffer_add_printf (out, "\"%s,\"done\":true,\"done_reason\":\"%s\",", chat? "}": "",
                         gen->done_reason);
    bool finished = strcmp (gen->done_reason, "stop") == 0
                 || strcmp (gen->done_reason, "length") == 0;
    if (!chat && !gen->raw && finished)
        s_context (gen, out);
    s_metrics (gen, out);
}

void
sim_output_stream_end (const sim_gen_t *gen, struct evbuffer *out)
{
    if (gen->route == SIM_ROUTE_GENERATE || gen->route == SIM_ROUTE_CHAT) {
        s_native_done (gen, out, false);
        evbuffer_add (out, "\n", 1);
        return;
    }
    bool chat = gen->route == SIM_ROUTE_V1_CHAT;
    evbuffer_add_printf (out, "data: ");
    s_v1_head (gen, out, true);
    if (chat && gen->new_sse)
        evbuffer_add_printf (out, "\"choices\":[{\"index\":0,\"delta\":{},");
    else if (chat)
        evbuffer_add_printf (out, "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
                             "\"content\":\"\"},");
    else
        evbuffer_add_printf (out, "\"choices\":[{\"text\":\"\",\"index\":0,");
    evbuffer_add_printf (out, "\"finish_reason\":\"%s\"}]}\n\n", gen->done_reason);
    if (gen->include_usage) {
        evbuffer_add_printf (out, "data: ");
        s_v1_head (gen, out, true);
        evbuffer_add_printf (out, "\"choices\":[],");
        s_usage (gen, out);
        evbuffer_add_printf (out, "}\n\n");
    }
    evbuffer_add_printf (out, "data: [DONE]\n\n");
}

void
sim_output_whole (const sim_gen_t *gen, struct evbuffer *out)
{
    if (gen->route == SIM_ROUTE_GENERATE || gen->route == SIM_ROUTE_CHAT) {
        s_native_done (gen, out, true);
        return;
    }
    s_v1_head (gen, out, false);
    if (gen->route == SIM_ROUTE_V1_CHAT) {
        evbuffer_add_printf (out, "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                             "\"content\":\"");
        s_text (gen, out);
        evbuffer_add_printf (out, "\"},\"finish_reason\":\"%s\"}],", gen->done_reason);
    }
    else {
        evbuffer_add_printf (out, "\"choices\":[{\"text\":\"");
        s_text (gen, out);
        evbuffer_add_printf (out, "\",\"index\":0,\"finish_reason\":\"%s\"}],", gen->done_reason);
    }
    s_usage (gen, out);
    evbuffer_add_printf (out, "}");
}

void
sim_output_error (const sim_gen_t *gen, struct evbuffer *out, const char *message)
{
    json_t *json;
    if (gen->route == SIM_ROUTE_GENERATE || gen->route == SIM_ROUTE_CHAT)
        json = json_pack ("{ss}", "error", message);
    else
        json = json_pack ("{s{sssssnsn}}", "error", "message", message, "type", "api_error",
                          "param", "code");
    char *text = json_dumps (json, JSON_COMPACT);
    if (gen->route == SIM_ROUTE_GENERATE || gen->route == SIM_ROUTE_CHAT)
        evbuffer_add_printf (out, "%s\n", text);
    else
        evbuffer_add_printf (out, "data: %s\n\n", text);
    free (text);
    json_decref (json);
}

static json_t *
s_vector (const float *vector, int dim, bool base64)
{
    if (base64) {
        //  Little-endian float32, as the OpenAI client decodes it
        unsigned char *bytes = malloc ((size_t) dim * 4);
        char *text = malloc ((size_t) dim * 4 / 3 * 4 + 8);
        assert (bytes && text);
        for (int i = 0; i < dim; i++) {
            uint32_t bits;
            memcpy (&bits, &vector [i], 4);
            for (int b = 0; b < 4; b++)
                bytes [i * 4 + b] = (unsigned char) (bits >> (8 * b));
        }
        EVP_EncodeBlock ((unsigned char *) text, bytes, dim * 4);
        json_t *json = json_string (text);
        free (bytes);
        free (text);
        return json;
    }
    json_t *array = json_array ();
    for (int i = 0; i < dim; i++)
        json_array_append_new (array, json_real (vector [i]));
    return array;
}

json_t *
sim_output_embeddings (const sim_gen_t *gen, json_t *inputs, uint64_t seed, int dim,
                       bool base64)
{
    float *vector = calloc ((size_t) dim, sizeof (float));
    assert (vector);
    json_t *list = json_array ();
    size_t index;
    json_t *input;
    json_array_foreach (inputs, index, input) {
        sim_text_embedding (seed, json_string_value (input), vector, dim);
        json_t *embedding = s_vector (vector, dim, base64);
        if (gen->route == SIM_ROUTE_V1_EMBEDDINGS)
            json_array_append_new (list, json_pack ("{sssosi}", "object", "embedding",
                                                    "embedding", embedding, "index", (int) index));
        else
            json_array_append_new (list, embedding);
    }
    free (vector);
    json_t *model = json_loads (gen->model_json, JSON_DECODE_ANY, NULL);
    json_t *reply;
    if (gen->route == SIM_ROUTE_V1_EMBEDDINGS)
        reply = json_pack ("{sssosos{sisi}}", "object", "list", "data", list, "model", model,
                           "usage", "prompt_tokens", gen->prompt_tokens,
                           "total_tokens", gen->prompt_tokens);
    else if (gen->route == SIM_ROUTE_EMBEDDINGS) {
        json_t *first = json_array_size (list)? json_incref (json_array_get (list, 0))
                                              : json_array ();
        reply = json_pack ("{so}", "embedding", first);
        json_decref (list);
        json_decref (model);
    }
    else
        reply = json_pack ("{sososIsIsi}", "model", model, "embeddings", list,
                           "total_duration", (json_int_t) gen->total_ns,
                           "load_duration", (json_int_t) gen->load_ns,
                           "prompt_eval_count", gen->prompt_tokens);
    return reply;
}

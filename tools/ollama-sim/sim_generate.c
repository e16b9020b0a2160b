/*  =========================================================================
    sim_generate - generation and embedding requests, paced like a real server
    =========================================================================
*/

#include "sim_generate.h"
#include "sim_clock.h"
#include "sim_output.h"
#include "sim_text.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Reported per token when a rate is 0 ("as fast as possible")
#define INSTANT_TOKEN_NS 1000
//  A mid-stream drop waits this long so the tokens before it reach the client
#define DROP_FLUSH_NS    (20 * SIM_NS_PER_MS)
//  Most inputs in one embeddings request: the reply grows with inputs x dimensions
#define EMBED_INPUTS_MAX 2048
//  Most tokens written in one timer turn, so instant streams stay fair
#define TOKENS_PER_TURN  256
//  Longest prompt text kept for hashing, and tokenised for the prompt cache
#define PROMPT_TEXT_MAX  (1024 * 1024)
//  Fastest pace of a stream's writes: tokens due sooner go out together
//  (only above 250 tokens/s, as under a time scale)
#define TICK_MIN_NS      (4 * SIM_NS_PER_MS)
//  Ollama version from which SSE chat streams use the new framing
#define NEW_SSE_MAJOR 0
#define NEW_SSE_MINOR 32
#define NEW_SSE_PATCH 6

typedef struct {
    sim_backend_t *backend;
    sim_req_t *req;
    sim_gen_t gen;
    sim_waiter_t waiter;
    sim_model_wait_t load;      //  waiting for the model to load
    char model_name [SIM_NAME_MAX];     //  normalised
    sim_model_t *model;         //  in use once it is loaded
    int num_ctx;                //  options.num_ctx; 0: the default
    sim_tokens_t prompt;        //  the prompt's tokens (chat: through the template)
    sim_cache_hit_t hit;        //  the prompt-cache slot taken
    bool cache_slot;            //  holds hit.slot
    bool finished;              //  ran to its end: the slot keeps prompt and answer
    bool holding;               //  holds a slot
    bool stream;
    bool embedding;
    bool load_only;
    json_t *inputs;             //  embedding inputs (strings), owned
    bool base64;
    int dim;
    uint64_t seed;
    int64_t keep_alive_ms;
    int64_t t_arrival, t_granted, t_ready, t_first;     //  monotonic ns
    int64_t token_ns;           //  decode interval, 0 = instant
    int emitted;
    int drop_at, error_at;      //  fault positions, -1 off
    int stall_at;               //  where a stream falls silent, -1 off
} job_t;

static bool
s_is_v1 (sim_route_t route)
{
    return route == SIM_ROUTE_V1_CHAT || route == SIM_ROUTE_V1_COMPLETIONS
        || route == SIM_ROUTE_V1_EMBEDDINGS;
}

static void
s_reject (sim_req_t *req, sim_route_t route, int status, const char *message)
{
    if (s_is_v1 (route))
        sim_req_reply_openai_error (req, status, message);
    else
        sim_req_reply_error (req, status, message);
}

static void
s_job_destroy (job_t **job_p)
{
    job_t *job = *job_p;
    json_decref (job->inputs);
    sim_tokens_free (&job->prompt);
    free (job);
    *job_p = NULL;
}

//  The prompt-cache slot keeps the prompt and the answer after a whole
//  generation, else only what was cached before it
static void
s_cache_return (job_t *job)
{
    if (!job->cache_slot)
        return;
    job->cache_slot = false;
    sim_tokens_t *tokens = &job->prompt;
    if (job->finished)
        for (int i = 0; i < job->emitted; i++) {
            char token [SIM_TEXT_TOKEN_MAX];
            size_t length = sim_text_token (job->gen.key, (uint32_t) i, token, sizeof token, NULL);
            sim_tokens_words (tokens, token, length);
        }
    else
    if (tokens->size > job->hit.cached)
        tokens->size = job->hit.cached;
    sim_cache_give (sim_backend_cache (job->backend), job->hit.slot, job->model->runner, tokens);
}

//  Gives back the model and the slot (granting the next waiter)
static void
s_release (job_t *job)
{
    sim_slots_t *slots = sim_backend_slots (job->backend);
    sim_slots_cancel (slots, &job->waiter);
    sim_models_cancel (sim_backend_models (job->backend), &job->load);
    if (job->model) {
        s_cache_return (job);
        sim_models_release (sim_backend_models (job->backend), job->model, job->keep_alive_ms);
        job->model = NULL;
    }
    if (job->holding) {
        job->holding = false;
        sim_slots_release (slots);
    }
}

//  Normal end: the final output is queued
static void
s_complete (job_t *job)
{
    job->finished = true;
    sim_backend_count (job->backend, SIM_STAT_COMPLETED, 1);
    sim_backend_count (job->backend, SIM_STAT_TOKENS, (uint64_t) job->emitted);
    s_release (job);
    s_job_destroy (&job);
}

//  The client went away while queued or running
static void
s_gone (sim_req_t *req, void *arg)
{
    (void) req;
    job_t *job = (job_t *) arg;
    sim_backend_count (job->backend, sim_backend_dropping (job->backend)? SIM_STAT_FAULTED
                                                                       : SIM_STAT_CANCELLED, 1);
    s_release (job);
    s_job_destroy (&job);
}

static void
s_fill_timing (job_t *job)
{
    int64_t now = sim_clock_mono_ns ();
    sim_gen_t *gen = &job->gen;
    gen->eval_count = job->emitted;
    gen->total_ns = now - job->t_arrival;
    gen->load_ns = job->t_ready - job->t_granted;
    gen->prompt_ns = job->t_first - job->t_ready;
    if (gen->prompt_ns == 0)
        gen->prompt_ns = (int64_t) gen->prompt_tokens * INSTANT_TOKEN_NS;
    gen->eval_ns = (int64_t) job->emitted * (job->token_ns? job->token_ns: INSTANT_TOKEN_NS);
}

static void
s_send (sim_req_t *req, struct evbuffer *out)
{
    size_t size = evbuffer_get_length (out);
    if (size)
        sim_req_stream_write (req, (const char *) evbuffer_pullup (out, -1), size);
}

static void
s_abort_later (sim_req_t *req, void *arg)
{
    (void) arg;
    sim_req_abort (req);
}

//  Fault: drop the connection at this point, after the bytes before it left
static void
s_drop (job_t *job)
{
    sim_req_t *req = job->req;
    sim_backend_count (job->backend, SIM_STAT_FAULTED, 1);
    sim_backend_count (job->backend, SIM_STAT_TOKENS, (uint64_t) job->emitted);
    sim_req_set_owner (req, NULL, NULL);
    s_release (job);
    s_job_destroy (&job);
    sim_req_timer (req, DROP_FLUSH_NS, s_abort_later, NULL);
}

//  Fault: an error in the middle (or, before any output, a 500)
static void
s_fail (job_t *job, struct evbuffer *out)
{
    const char *message = sim_backend_config (job->backend)->faults.error_message;
    sim_backend_count (job->backend, SIM_STAT_FAULTED, 1);
    if (!sim_req_streaming (job->req))
        s_reject (job->req, job->gen.route, 500, message);
    else {
        sim_output_error (&job->gen, out, message);
        s_send (job->req, out);
        sim_req_stream_end (job->req);
    }
    s_release (job);
    s_job_destroy (&job);
}

static void
s_tick (sim_req_t *req, void *arg)
{
    job_t *job = (job_t *) arg;
    int64_t now = sim_clock_mono_ns ();
    int total = job->gen.eval_count;
    //  Token i leaves when its decode ends, at t_first + (i + 1) * token_ns
    int due = job->token_ns? (int) ((now - job->t_first) / job->token_ns): total;
    if (due > total)
        due = total;
    if (due > job->emitted + TOKENS_PER_TURN)
        due = job->emitted + TOKENS_PER_TURN;
    struct evbuffer *out = evbuffer_new ();
    if (!sim_req_streaming (req) && job->error_at != 0)
        sim_req_stream_start (req, 200, sim_output_stream_type (job->gen.route));
    while (job->emitted < due) {
        if (job->emitted == job->drop_at) {
            s_send (req, out);
            evbuffer_free (out);
            s_drop (job);
            return;
        }
        if (job->emitted == job->error_at) {
            s_fail (job, out);
            evbuffer_free (out);
            return;
        }
        if (job->emitted == job->stall_at) {
            //  Silent from here on; the slot stays taken until the client leaves
            s_send (req, out);
            evbuffer_free (out);
            return;
        }
        sim_output_token (&job->gen, out, (uint32_t) job->emitted++);
    }
    if (job->emitted == total && job->drop_at != total && job->error_at != total) {
        s_fill_timing (job);
        sim_output_stream_end (&job->gen, out);
        s_send (req, out);
        evbuffer_free (out);
        sim_req_stream_end (req);
        s_complete (job);
        return;
    }
    s_send (req, out);
    evbuffer_free (out);
    if (job->emitted == total) {
        //  A fault sits right after the last token
        if (job->drop_at == total)
            s_drop (job);
        else {
            out = evbuffer_new ();
            s_fail (job, out);
            evbuffer_free (out);
        }
        return;
    }
    int64_t next = job->t_first + (int64_t) (job->emitted + 1) * job->token_ns;
    int64_t last = job->t_first + (int64_t) total * job->token_ns;
    now = sim_clock_mono_ns ();
    if (next < now + TICK_MIN_NS)
        next = now + TICK_MIN_NS < last? now + TICK_MIN_NS: last;
    sim_req_timer (req, next - now, s_tick, job);
}

//  Non-streamed generation: one reply at the end
static void
s_whole (sim_req_t *req, void *arg)
{
    job_t *job = (job_t *) arg;
    int total = job->gen.eval_count;
    if (job->drop_at >= 0 && job->drop_at <= total) {
        s_drop (job);
        return;
    }
    if (job->error_at >= 0 && job->error_at <= total) {
        struct evbuffer *out = evbuffer_new ();
        s_fail (job, out);
        evbuffer_free (out);
        return;
    }
    job->emitted = total;
    s_fill_timing (job);
    struct evbuffer *out = evbuffer_new ();
    sim_output_whole (&job->gen, out);
    sim_req_reply (req, 200, s_is_v1 (job->gen.route)? SIM_CT_JSON_V1: SIM_CT_JSON,
                   (const char *) evbuffer_pullup (out, -1), evbuffer_get_length (out));
    evbuffer_free (out);
    s_complete (job);
}

static void
s_embedded (sim_req_t *req, void *arg)
{
    job_t *job = (job_t *) arg;
    s_fill_timing (job);
    json_t *reply = sim_output_embeddings (&job->gen, job->inputs, job->seed, job->dim,
                                           job->base64);
    sim_req_reply_json (req, 200, s_is_v1 (job->gen.route)? SIM_CT_JSON_V1: SIM_CT_JSON, reply);
    json_decref (reply);
    s_complete (job);
}

//  An empty prompt only loads the model (or unloads it with keep_alive 0)
static void
s_loaded (sim_req_t *req, void *arg)
{
    job_t *job = (job_t *) arg;
    bool unload = job->keep_alive_ms == 0;
    if (unload)
        sim_models_unload (sim_backend_models (job->backend), job->model);
    char stamp [SIM_CLOCK_STAMP_MAX];
    sim_clock_format (sim_clock_wall_ns (), stamp, sizeof stamp);
    json_t *model = json_loads (job->gen.model_json, JSON_DECODE_ANY, NULL);
    json_t *reply = json_pack ("{sos:s}", "model", model, "created_at", stamp);
    if (job->gen.route == SIM_ROUTE_CHAT)
        json_object_set_new (reply, "message", json_pack ("{ssss}", "role", "assistant",
                                                          "content", ""));
    else
        json_object_set_new (reply, "response", json_string (""));
    json_object_set_new (reply, "done", json_true ());
    json_object_set_new (reply, "done_reason", json_string (unload? "unload": "load"));
    sim_req_reply_json (req, 200, SIM_CT_JSON, reply);
    json_decref (reply);
    s_complete (job);
}

//  The model was deleted while the request waited: 404, and the job ends
static void
s_deleted (job_t *job)
{
    char message [SIM_ERROR_TEXT_MAX];
    snprintf (message, sizeof message, "model '%s' not found", job->model_name);
    s_reject (job->req, job->gen.route, 404, message);
    s_release (job);
    s_job_destroy (&job);
}

//  The model is ours: the prompt cache, prefill, then produce. A reply that
//  is due at once is sent at once when the request handler runs this
//  (reply_now); a grant from a queue always goes through a timer, so that a
//  long queue of instant replies never recurses.
static void
s_start (job_t *job, bool reply_now)
{
    const sim_backend_config_t *config = sim_backend_config (job->backend);
    if (job->model->removed) {
        s_deleted (job);
        return;
    }
    int64_t now = sim_clock_mono_ns ();
    job->t_ready = now;
    double prefill_ns = 0;
    double prefill_rate = sim_fleet_scaled_rate (config, config->prefill_rate);
    if (!job->load_only && !job->embedding) {
        sim_cache_take (sim_backend_cache (job->backend), job->model->runner, &job->prompt,
                        (size_t) config->cache_ram_tokens, &job->hit);
        job->cache_slot = true;
        job->gen.cached_tokens = (int) job->hit.cached;
        sim_models_count_prompt (sim_backend_models (job->backend), job->model,
                                 job->gen.prompt_tokens, job->gen.cached_tokens);
        double restore_rate = sim_fleet_scaled_rate (config, config->cache_restore_rate);
        if (restore_rate > 0)
            prefill_ns += (double) job->hit.restored * 1e9 / restore_rate;
    }
    if (prefill_rate > 0)
        prefill_ns += (job->gen.prompt_tokens - job->gen.cached_tokens) * 1e9 / prefill_rate;
    job->t_first = job->t_ready + (int64_t) prefill_ns;
    double decode_rate = sim_fleet_scaled_rate (config, config->decode_rate);
    job->token_ns = decode_rate > 0? (int64_t) (1e9 / decode_rate): 0;
    sim_req_fn *finish = job->load_only? s_loaded: job->embedding? s_embedded: s_whole;
    int64_t at = job->load_only? job->t_ready: job->t_first;
    if (!job->load_only && !job->embedding && !job->stream) {
        int end = job->gen.eval_count;
        if (job->drop_at >= 0 && job->drop_at < end)
            end = job->drop_at;
        if (job->error_at >= 0 && job->error_at < end)
            end = job->error_at;
        at = job->t_first + (int64_t) end * job->token_ns;
    }
    if (job->stream && !job->load_only && !job->embedding) {
        sim_req_watch (job->req);
        sim_req_timer (job->req, job->t_first + job->token_ns - now, s_tick, job);
    }
    else if (reply_now && at <= now && job->drop_at < 0)
        finish (job->req, job);
    else {
        sim_req_watch (job->req);
        sim_req_timer (job->req, at - now, finish, job);
    }
}

static void
s_model_ready (void *arg)
{
    job_t *job = (job_t *) arg;
    job->model = job->load.model;
    job->load.model = NULL;
    s_start (job, false);
}

//  The slot is ours: the model next (loaded now, or after the loads before it)
static void
s_run (job_t *job, bool reply_now)
{
    job->holding = true;
    sim_model_t *model = sim_models_find (sim_backend_models (job->backend), job->model_name);
    if (!model) {
        s_deleted (job);
        return;
    }
    job->t_granted = sim_clock_mono_ns ();
    if (sim_models_acquire (sim_backend_models (job->backend), model, job->num_ctx, &job->load,
                            s_model_ready, job)) {
        job->model = model;
        s_start (job, reply_now);
    }
    else
        sim_req_watch (job->req);
}

static void
s_granted (void *arg)
{
    s_run ((job_t *) arg, false);
}


static bool
s_new_sse (const char *version)
{
    //  The answer for the last version string asked about
    static char last [SIM_SHORT_MAX];
    static bool last_answer;
    if (strcmp (version, last) == 0)
        return last_answer;
    snprintf (last, sizeof last, "%s", version);
    int major = 0, minor = 0, patch = 0;
    sscanf (version, "%d.%d.%d", &major, &minor, &patch);
    if (major != NEW_SSE_MAJOR)
        last_answer = major > NEW_SSE_MAJOR;
    else if (minor != NEW_SSE_MINOR)
        last_answer = minor > NEW_SSE_MINOR;
    else
        last_answer = patch >= NEW_SSE_PATCH;
    return last_answer;
}


//  Appends the text of a message content (a string, or OpenAI content parts)
static void
s_append_content (struct evbuffer *text, json_t *content)
{
    if (json_is_string (content)) {
        evbuffer_add (text, json_string_value (content), json_string_length (content));
        return;
    }
    size_t index;
    json_t *part;
    json_array_foreach (content, index, part) {
        json_t *piece = json_object_get (part, "text");
        if (json_is_string (piece))
            evbuffer_add (text, json_string_value (piece), json_string_length (piece));
    }
}

//  The prompt of a chat: every message's content, one per line (the text
//  the output is drawn from); and its tokens through a fixed template: each
//  message is its role's marker then its words, and the prompt ends with
//  the assistant's marker, so that a conversation's next turn (history,
//  answer, new message) extends the tokens of the turn before
static int
s_chat_text (json_t *messages, struct evbuffer *text, sim_tokens_t *tokens)
{
    size_t index;
    json_t *message;
    json_array_foreach (messages, index, message) {
        if (!json_is_object (message))
            return -1;
        if (index)
            evbuffer_add (text, "\n", 1);
        size_t before = evbuffer_get_length (text);
        s_append_content (text, json_object_get (message, "content"));
        const char *role = json_string_value (json_object_get (message, "role"));
        sim_tokens_marker (tokens, role? role: "user");
        size_t length = evbuffer_get_length (text) - before;
        if (evbuffer_get_length (text) <= PROMPT_TEXT_MAX)
            sim_tokens_words (tokens, (const char *) evbuffer_pullup (text, -1) + before, length);
    }
    if (json_array_size (messages))
        sim_tokens_marker (tokens, "assistant");
    return 0;
}

//  Embedding inputs as an array of strings; NULL if the type is wrong
static json_t *
s_inputs (json_t *input)
{
    if (json_is_string (input))
        return json_pack ("[O]", input);
    if (!json_is_array (input))
        return NULL;
    size_t index;
    json_t *item;
    json_array_foreach (input, index, item)
        if (!json_is_string (item))
            return NULL;
    return json_incref (input);
}

//  Reads an embeddings request. Returns 0, or an HTTP status with a message.
static int
s_parse_embedding (job_t *job, json_t *body, char *error, size_t size)
{
    sim_route_t route = job->gen.route;
    bool v1 = s_is_v1 (route);
    job->embedding = true;
    if (route == SIM_ROUTE_EMBEDDINGS) {
        const char *prompt = json_string_value (json_object_get (body, "prompt"));
        job->inputs = prompt && *prompt? json_pack ("[s]", prompt): json_array ();
    }
    else
        job->inputs = s_inputs (json_object_get (body, "input"));
    if (!job->inputs || (v1 && json_array_size (job->inputs) == 0)) {
        snprintf (error, size, v1? "invalid input": "invalid input type");
        return 400;
    }
    if (json_array_size (job->inputs) > EMBED_INPUTS_MAX) {
        snprintf (error, size, "too many inputs: at most %d", EMBED_INPUTS_MAX);
        return 400;
    }
    json_t *dimensions = json_object_get (body, "dimensions");
    if (json_is_integer (dimensions)) {
        if (json_integer_value (dimensions) < 1 || json_integer_value (dimensions) > job->dim) {
            snprintf (error, size, "invalid dimensions");
            return 400;
        }
        job->dim = (int) json_integer_value (dimensions);
    }
    const char *format = json_string_value (json_object_get (body, "encoding_format"));
    job->base64 = format && strcmp (format, "base64") == 0;
    size_t index;
    json_t *input;
    json_array_foreach (job->inputs, index, input)
        job->gen.prompt_tokens += sim_text_count_tokens (json_string_value (input));
    return 0;
}

//  Reads a generation request. Returns 0, or an HTTP status with a message.
static int
s_parse_generation (job_t *job, json_t *body, sim_model_t *model, const char *name, char *error,
                    size_t size)
{
    sim_route_t route = job->gen.route;
    const sim_backend_config_t *config = sim_backend_config (job->backend);
    bool v1 = s_is_v1 (route);
    json_t *options = json_object_get (body, "options");
    if (model->spec.embedding) {
        snprintf (error, size, "\"%.200s\" does not support %s", name,
                  route == SIM_ROUTE_GENERATE || route == SIM_ROUTE_V1_COMPLETIONS
                  ? "generate": "chat");
        return 400;
    }
    json_t *stream = json_object_get (body, "stream");
    job->stream = v1? json_is_true (stream): !json_is_false (stream);
    job->gen.include_usage = json_is_true (json_object_get (json_object_get (body,
                                           "stream_options"), "include_usage"));
    struct evbuffer *text = evbuffer_new ();
    if (route == SIM_ROUTE_CHAT || route == SIM_ROUTE_V1_CHAT) {
        json_t *messages = json_object_get (body, "messages");
        if ((messages && !json_is_array (messages)) || s_chat_text (messages, text, &job->prompt)) {
            evbuffer_free (text);
            snprintf (error, size, "json: cannot unmarshal messages");
            return 400;
        }
        if (json_array_size (messages) == 0) {
            if (v1) {
                evbuffer_free (text);
                snprintf (error, size, "[] is too short - 'messages'");
                return 400;
            }
            job->load_only = true;
        }
    }
    else {
        json_t *prompt = json_object_get (body, "prompt");
        if (prompt && !json_is_string (prompt)) {
            evbuffer_free (text);
            snprintf (error, size, "json: cannot unmarshal prompt into Go value of type string");
            return 400;
        }
        s_append_content (text, prompt);
        if (!v1 && json_string_length (prompt) == 0)
            job->load_only = true;
    }
    evbuffer_add (text, "", 1);
    size_t length = evbuffer_get_length (text);
    const char *prompt_text = (const char *) evbuffer_pullup (text, -1);
    job->gen.key = sim_text_key (job->seed, length > PROMPT_TEXT_MAX? "": prompt_text);
    bool chat = route == SIM_ROUTE_CHAT || route == SIM_ROUTE_V1_CHAT;
    if (!chat && length <= PROMPT_TEXT_MAX)
        sim_tokens_words (&job->prompt, prompt_text, length - 1);
    job->gen.prompt_tokens = chat && length <= PROMPT_TEXT_MAX? (int) job->prompt.size
                           : sim_text_count_tokens (prompt_text);
    if (job->gen.prompt_tokens < 1)
        job->gen.prompt_tokens = 1;
    evbuffer_free (text);
    json_t *num_ctx = json_object_get (options, "num_ctx");
    if (json_is_integer (num_ctx) && json_integer_value (num_ctx) > 0
        && json_integer_value (num_ctx) <= SIM_TOKENS_MAX)
        job->num_ctx = (int) json_integer_value (num_ctx);

    json_t *limit = v1? json_object_get (body, "max_tokens")
                      : json_object_get (options, "num_predict");
    if (v1 && !limit)
        limit = json_object_get (body, "max_completion_tokens");
    int tokens = config->default_tokens;
    job->gen.done_reason = "stop";
    if (json_is_integer (limit) && json_integer_value (limit) >= 0) {
        json_int_t wanted = json_integer_value (limit);
        tokens = wanted > SIM_TOKENS_MAX? SIM_TOKENS_MAX: (int) wanted;
        job->gen.done_reason = "length";
    }
    job->gen.eval_count = tokens;
    return 0;
}

//  Reads the request into the job. Returns 0, or an HTTP status with a message.
static int
s_parse (job_t *job, json_t *body, char *error, size_t size)
{
    sim_route_t route = job->gen.route;
    const sim_backend_config_t *config = sim_backend_config (job->backend);
    bool v1 = s_is_v1 (route);
    const char *name = json_string_value (json_object_get (body, "model"));
    if (!name && route == SIM_ROUTE_EMBEDDINGS)
        name = json_string_value (json_object_get (body, "name"));
    if ((!name || !*name) && (route == SIM_ROUTE_CHAT || v1)) {
        snprintf (error, size, "model is required");
        return 400;
    }
    sim_model_t *model = sim_models_find (sim_backend_models (job->backend), name? name: "");
    if (!model) {
        snprintf (error, size, "model '%.200s' not found", name? name: "");
        return 404;
    }
    snprintf (job->model_name, sizeof job->model_name, "%s", model->spec.name);
    sim_output_set_model (&job->gen, name);
    job->dim = model->spec.embedding_length;
    json_t *options = json_object_get (body, "options");
    json_t *seed = v1? json_object_get (body, "seed"): json_object_get (options, "seed");
    job->seed = json_is_integer (seed)? (uint64_t) json_integer_value (seed): config->seed;
    job->keep_alive_ms = config->keep_alive_ms;
    json_t *keep_alive = json_object_get (body, "keep_alive");
    if (keep_alive && sim_clock_parse_duration (keep_alive, &job->keep_alive_ms)) {
        snprintf (error, size, "time: invalid duration");
        return 400;
    }
    job->drop_at = config->faults.drop_after_tokens;
    job->error_at = config->faults.error_after_tokens;
    job->stall_at = config->faults.stall_after_tokens;
    job->gen.id = sim_backend_next_id (job->backend);
    job->gen.created = sim_clock_wall_ns () / SIM_NS_PER_SEC;
    job->gen.new_sse = s_new_sse (config->version);
    job->gen.stamp_chunks = config->stamp_chunks;
    job->gen.raw = json_is_true (json_object_get (body, "raw"));

    if (route == SIM_ROUTE_EMBED || route == SIM_ROUTE_EMBEDDINGS
        || route == SIM_ROUTE_V1_EMBEDDINGS)
        return s_parse_embedding (job, body, error, size);
    return s_parse_generation (job, body, model, name, error, size);
}

void
sim_generate_handle (sim_backend_t *backend, sim_req_t *req, sim_route_t route)
{
    char error [SIM_ERROR_TEXT_MAX];
    json_t *body = sim_req_body (req, error, sizeof error);
    if (!body) {
        s_reject (req, route, 400, error);
        return;
    }
    job_t *job = calloc (1, sizeof *job);
    assert (job);
    job->backend = backend;
    job->req = req;
    job->t_arrival = sim_clock_mono_ns ();
    job->gen.route = route;
    int status = s_parse (job, body, error, sizeof error);
    if (status) {
        s_reject (req, route, status, error);
        s_job_destroy (&job);
        return;
    }
    sim_req_set_owner (req, s_gone, job);
    sim_slot_result_t result = sim_slots_acquire (sim_backend_slots (backend), &job->waiter,
                                                  s_granted, job);
    if (result == SIM_SLOT_BUSY) {
        sim_req_set_owner (req, NULL, NULL);
        sim_backend_count (backend, SIM_STAT_BUSY, 1);
        s_reject (req, route, 503,
                  "server busy, please try again.  maximum pending requests exceeded");
        s_job_destroy (&job);
    }
    else if (result == SIM_SLOT_QUEUED)
        sim_req_watch (req);
    else
        s_run (job, true);
}

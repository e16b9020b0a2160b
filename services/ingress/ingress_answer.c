/*  =========================================================================
    ingress_answer - an OpenAI-format backend's answer, in Ollama's shape

    One SSE line is collected at a time (bounded: S_LINE_MAX); every complete
    `data:` line is parsed and answered at once, so the client sees each
    token as the backend sends it. The final object waits for the usage
    chunk that follows the finish_reason chunk, or for [DONE].
    =========================================================================
*/

#include "ingress_answer.h"
#include "ingress_jscan.h"
#include <assert.h>
#include <czmq.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define S_LINE_MAX (1024 * 1024)

struct _ingress_answer_t {
    ingress_translate_kind_t kind;
    char *model;
    int64_t started_us;         //  when the answer was made (the request left)
    int64_t first_us;           //  the first token, 0 until then
    char *line;                 //  the SSE line being collected
    size_t line_size;
    size_t line_max;            //  allocated for line
    bool overflow;              //  the line is over S_LINE_MAX: skipped to its end
    bool finished;              //  a finish_reason was seen
    bool ended;                 //  the final object (or an error) was written
    char done_reason [32];
    json_t *tool_calls;         //  accumulated from the deltas, by index
    json_t *usage;              //  the last usage seen
    json_t *timings;            //  llama.cpp's timings, when seen
};

static int64_t
s_now_us (void)
{
    struct timeval now;
    gettimeofday (&now, NULL);
    return (int64_t) now.tv_sec * 1000000 + now.tv_usec;
}

ingress_answer_t *
ingress_answer_new (const char *path, const char *model)
{
    ingress_answer_t *self = (ingress_answer_t *) zmalloc (sizeof (ingress_answer_t));
    self->kind = ingress_translate_kind (path);
    self->model = strdup (model ? model : "");
    self->started_us = s_now_us ();
    self->tool_calls = json_array ();
    return self;
}

void
ingress_answer_destroy (ingress_answer_t **self_p)
{
    ingress_answer_t *self = *self_p;
    if (!self)
        return;
    free (self->model);
    free (self->line);
    json_decref (self->tool_calls);
    json_decref (self->usage);
    json_decref (self->timings);
    free (self);
    *self_p = NULL;
}

//  Ollama's created_at: RFC 3339 with microseconds, UTC (the date part
//  formatted once a second: this is on every chunk's path)
static void
s_created_at (char *text, size_t size)
{
    static __thread time_t second = -1;
    static __thread char day [32];
    struct timeval now;
    gettimeofday (&now, NULL);
    if (now.tv_sec != second) {
        struct tm tm;
        gmtime_r (&now.tv_sec, &tm);
        strftime (day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
        second = now.tv_sec;
    }
    snprintf (text, size, "%s.%06ldZ", day, (long) now.tv_usec);
}

//  A JSON string, quoted and escaped, onto out
static void
s_add_string (struct evbuffer *out, const char *text)
{
    static const char hex [] = "0123456789abcdef";
    evbuffer_add (out, "\"", 1);
    const char *run = text;
    for (const char *c = text; *c; c++) {
        unsigned char byte = (unsigned char) *c;
        if (byte >= 0x20 && byte != '"' && byte != '\\')
            continue;
        evbuffer_add (out, run, c - run);
        char escape [6] = {'\\', (char) byte, 0, 0, 0, 0};
        size_t length = 2;
        if (byte == '\n')
            escape [1] = 'n';
        else
        if (byte == '\r')
            escape [1] = 'r';
        else
        if (byte == '\t')
            escape [1] = 't';
        else
        if (byte < 0x20) {
            memcpy (escape, "\\u00", 4);
            escape [4] = hex [byte >> 4];
            escape [5] = hex [byte & 15];
            length = 6;
        }
        evbuffer_add (out, escape, length);
        run = c + 1;
    }
    evbuffer_add (out, run, strlen (run));
    evbuffer_add (out, "\"", 1);
}

//  One token's object, written directly (the hot path: no JSON tree);
//  content and thinking are JSON string literals (quoted, escaped), or NULL
static void
s_write_token (ingress_answer_t *self, struct evbuffer *out, const char *content,
               size_t content_size, const char *thinking, size_t thinking_size)
{
    char created [64];
    s_created_at (created, sizeof created);
    evbuffer_add (out, "{\"model\":", 9);
    s_add_string (out, self->model);
    evbuffer_add_printf (out, ",\"created_at\":\"%s\",", created);
    if (self->kind == INGRESS_TRANSLATE_GENERATE)
        evbuffer_add (out, "\"response\":", 11);
    else
        evbuffer_add (out, "\"message\":{\"role\":\"assistant\",\"content\":", 40);
    if (content)
        evbuffer_add (out, content, content_size);
    else
        evbuffer_add (out, "\"\"", 2);
    if (thinking) {
        evbuffer_add (out, ",\"thinking\":", 12);
        evbuffer_add (out, thinking, thinking_size);
    }
    if (self->kind != INGRESS_TRANSLATE_GENERATE)
        evbuffer_add (out, "}", 1);
    evbuffer_add (out, ",\"done\":false}\n", 15);
}

//  --------------------------------------------------------------------------
//  The fast path: most chunks are one token's delta. A scan that skips
//  values finds the delta's content (kept as the JSON literal it is, which
//  is what the NDJSON object needs) without building a tree; any chunk that
//  says more (a finish_reason, usage, timings, an error, tool calls) or that
//  the scan does not follow goes the slow way, through jansson.

typedef struct {
    const char *content;        //  the content (or text) literal, or NULL
    size_t content_size;
    const char *thinking;
    size_t thinking_size;
} s_token_t;

static const char *
s_delta_member (const char *key, const char *after, const char *value, const char *end,
                void *arg)
{
    s_token_t *token = (s_token_t *) arg;
    if (ingress_jscan_key_is (key, after, "content"))
        return ingress_jscan_literal (value, end, &token->content, &token->content_size);
    if (ingress_jscan_key_is (key, after, "reasoning_content"))
        return ingress_jscan_literal (value, end, &token->thinking, &token->thinking_size);
    if (ingress_jscan_key_is (key, after, "role"))
        return ingress_jscan_value (value, end);
    return NULL;                //  tool calls, or anything else: the slow way
}

static const char *
s_choice_member (const char *key, const char *after, const char *value, const char *end,
                 void *arg)
{
    s_token_t *token = (s_token_t *) arg;
    if (ingress_jscan_key_is (key, after, "delta"))
        return ingress_jscan_nested (value, end, s_delta_member, token);
    if (ingress_jscan_key_is (key, after, "text"))
        return ingress_jscan_literal (value, end, &token->content, &token->content_size);
    if (ingress_jscan_key_is (key, after, "finish_reason"))
        return end - value >= 4 && memcmp (value, "null", 4) == 0 ? value + 4 : NULL;
    if (ingress_jscan_key_is (key, after, "index")
        || ingress_jscan_key_is (key, after, "logprobs"))
        return ingress_jscan_value (value, end);
    return NULL;
}

static const char *
s_chunk_member (const char *key, const char *after, const char *value, const char *end,
                void *arg)
{
    s_token_t *token = (s_token_t *) arg;
    if (ingress_jscan_key_is (key, after, "choices")) {
        //  One choice, walked; more (n > 1) is the slow way
        if (value >= end || *value != '[')
            return NULL;
        const char *p = ingress_jscan_ws (value + 1, end);
        const char *choice_end = ingress_jscan_nested (p, end, s_choice_member, token);
        if (!choice_end)
            return NULL;
        p = ingress_jscan_ws (choice_end, end);
        return p < end && *p == ']' ? p + 1 : NULL;
    }
    if (ingress_jscan_key_is (key, after, "usage") || ingress_jscan_key_is (key, after, "timings")
        || ingress_jscan_key_is (key, after, "error"))
        return NULL;
    return ingress_jscan_value (value, end);
}

//  True if the chunk was a plain token delta, and answered
static bool
s_fast_chunk (ingress_answer_t *self, const char *data, size_t size, struct evbuffer *out)
{
    s_token_t token = {NULL, 0, NULL, 0};
    if (!ingress_jscan_object (data, data + size, s_chunk_member, &token))
        return false;
    bool content = token.content && token.content_size > 2;
    bool thinking = token.thinking && token.thinking_size > 2;
    if (content || thinking) {
        if (!self->first_us)
            self->first_us = s_now_us ();
        s_write_token (self, out, token.content, token.content_size,
                       thinking ? token.thinking : NULL, token.thinking_size);
    }
    return true;
}

static json_t *
s_object (ingress_answer_t *self)
{
    char created [64];
    s_created_at (created, sizeof created);
    return json_pack ("{s:s, s:s}", "model", self->model, "created_at", created);
}

static void
s_write (struct evbuffer *out, json_t *object)
{
    char *text = json_dumps (object, JSON_COMPACT);
    evbuffer_add (out, text, strlen (text));
    evbuffer_add (out, "\n", 1);
    free (text);
    json_decref (object);
}

//  The message (chat) or response (generate) field of an object
static void
s_set_text (ingress_answer_t *self, json_t *object, const char *content, const char *thinking,
            json_t *tool_calls)
{
    if (self->kind == INGRESS_TRANSLATE_GENERATE) {
        json_object_set_new (object, "response", json_string (content ? content : ""));
        if (thinking)
            json_object_set_new (object, "thinking", json_string (thinking));
        return;
    }
    json_t *message = json_pack ("{s:s, s:s}", "role", "assistant", "content",
                                 content ? content : "");
    if (thinking)
        json_object_set_new (message, "thinking", json_string (thinking));
    if (json_array_size (tool_calls))
        json_object_set (message, "tool_calls", tool_calls);
    json_object_set_new (object, "message", message);
}

static json_int_t
s_int (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    return json_is_number (value) ? (json_int_t) json_number_value (value) : 0;
}

//  done, done_reason, counts and durations: the final object's fields
static void
s_set_final (ingress_answer_t *self, json_t *object)
{
    int64_t now = s_now_us ();
    json_object_set_new (object, "done", json_true ());
    json_object_set_new (object, "done_reason",
                         json_string (*self->done_reason ? self->done_reason : "stop"));
    json_object_set_new (object, "total_duration",
                         json_integer ((now - self->started_us) * 1000));
    json_object_set_new (object, "load_duration", json_integer (0));
    json_object_set_new (object, "prompt_eval_count",
                         json_integer (s_int (self->usage, "prompt_tokens")));
    json_int_t prompt_ns, eval_ns;
    if (self->timings) {
        prompt_ns = (json_int_t) (json_number_value (json_object_get (self->timings,
                                                                      "prompt_ms")) * 1e6);
        eval_ns = (json_int_t) (json_number_value (json_object_get (self->timings,
                                                                    "predicted_ms")) * 1e6);
    }
    else {
        int64_t first = self->first_us ? self->first_us : now;
        prompt_ns = (first - self->started_us) * 1000;
        eval_ns = (now - first) * 1000;
    }
    json_object_set_new (object, "prompt_eval_duration", json_integer (prompt_ns));
    json_object_set_new (object, "eval_count",
                         json_integer (s_int (self->usage, "completion_tokens")));
    json_object_set_new (object, "eval_duration", json_integer (eval_ns));
}

static void
s_done_reason (ingress_answer_t *self, const char *finish)
{
    //  Ollama says stop for a turn that ends in tool calls
    snprintf (self->done_reason, sizeof self->done_reason, "%s",
              streq (finish, "tool_calls") || streq (finish, "function_call") ? "stop" : finish);
}

//  Tool calls as Ollama gives them: arguments an object
static json_t *
s_ollama_tool_calls (json_t *calls)
{
    json_t *out = json_array ();
    size_t index;
    json_t *call;
    json_array_foreach (calls, index, call) {
        json_t *function = json_object_get (call, "function");
        const char *text = json_string_value (json_object_get (function, "arguments"));
        json_t *arguments = text ? json_loads (text, JSON_DECODE_ANY, NULL) : NULL;
        if (!arguments)
            arguments = text ? json_string (text) : json_object ();
        const char *fname = json_string_value (json_object_get (function, "name"));
        json_array_append_new (out, json_pack ("{s:{s:s, s:o}}", "function", "name",
                                               fname ? fname : "", "arguments", arguments));
    }
    return out;
}

//  A streamed delta's tool call pieces, accumulated by index
static void
s_add_tool_deltas (ingress_answer_t *self, json_t *deltas)
{
    size_t at;
    json_t *delta;
    json_array_foreach (deltas, at, delta) {
        json_t *index = json_object_get (delta, "index");
        size_t slot = json_is_integer (index) ? (size_t) json_integer_value (index) : at;
        if (slot > 64)
            continue;
        while (json_array_size (self->tool_calls) <= slot)
            json_array_append_new (self->tool_calls,
                                   json_pack ("{s:{s:s, s:s}}", "function", "name", "",
                                              "arguments", ""));
        json_t *function = json_object_get (json_array_get (self->tool_calls, slot), "function");
        json_t *piece = json_object_get (delta, "function");
        const char *name = json_string_value (json_object_get (piece, "name"));
        const char *args = json_string_value (json_object_get (piece, "arguments"));
        if (name && *name)
            json_object_set_new (function, "name", json_string (name));
        if (args) {
            char *joined = zsys_sprintf ("%s%s", json_string_value (json_object_get (function,
                                                                                     "arguments")),
                                         args);
            json_object_set_new (function, "arguments", json_string (joined));
            zstr_free (&joined);
        }
    }
}

//  The backend's error (OpenAI's {"error": {"message"}} or llama.cpp's, or
//  anything) as Ollama's message
static char *
s_error_message (json_t *body, const char *raw, size_t size)
{
    json_t *error = json_object_get (body, "error");
    const char *message = json_string_value (json_object_get (error, "message"));
    if (!message)
        message = json_string_value (error);
    if (message)
        return strdup (message);
    return zsys_sprintf ("the backend answered: %.*s", (int) (size > 300 ? 300 : size),
                         raw ? raw : "");
}

static void
s_final (ingress_answer_t *self, struct evbuffer *out)
{
    if (self->ended)
        return;
    self->ended = true;
    json_t *object = s_object (self);
    json_t *calls = s_ollama_tool_calls (self->tool_calls);
    s_set_text (self, object, "", NULL, calls);
    json_decref (calls);
    s_set_final (self, object);
    s_write (out, object);
}

//  A string as a JSON literal (new)
static char *
s_literal_of (const char *text)
{
    json_t *string = json_string (text);
    char *literal = string ? json_dumps (string, JSON_ENCODE_ANY) : strdup ("\"\"");
    json_decref (string);
    return literal;
}

//  One SSE data payload
static void
s_chunk (ingress_answer_t *self, const char *data, size_t size, struct evbuffer *out)
{
    if (self->ended)
        return;
    if (size == 6 && memcmp (data, "[DONE]", 6) == 0) {
        s_final (self, out);
        return;
    }
    if (s_fast_chunk (self, data, size, out))
        return;
    json_t *chunk = json_loadb (data, size, 0, NULL);
    if (!json_is_object (chunk)) {
        json_decref (chunk);
        return;                 //  not JSON: nothing a client could use
    }
    if (json_object_get (chunk, "error")) {
        char *message = s_error_message (chunk, data, size);
        s_write (out, json_pack ("{s:s}", "error", message));
        free (message);
        self->ended = true;
        json_decref (chunk);
        return;
    }
    json_t *usage = json_object_get (chunk, "usage");
    if (json_is_object (usage)) {
        json_decref (self->usage);
        self->usage = json_incref (usage);
    }
    json_t *timings = json_object_get (chunk, "timings");
    if (json_is_object (timings)) {
        json_decref (self->timings);
        self->timings = json_incref (timings);
    }
    json_t *choice = json_array_get (json_object_get (chunk, "choices"), 0);
    const char *content = NULL, *thinking = NULL;
    if (choice) {
        json_t *delta = json_object_get (choice, "delta");
        content = json_string_value (json_object_get (delta ? delta : choice,
                                                      delta ? "content" : "text"));
        thinking = json_string_value (json_object_get (delta, "reasoning_content"));
        s_add_tool_deltas (self, json_object_get (delta, "tool_calls"));
        const char *finish = json_string_value (json_object_get (choice, "finish_reason"));
        if (finish) {
            s_done_reason (self, finish);
            self->finished = true;
        }
    }
    if ((content && *content) || (thinking && *thinking)) {
        if (!self->first_us)
            self->first_us = s_now_us ();
        char *literal = s_literal_of (content ? content : "");
        char *thought = thinking && *thinking ? s_literal_of (thinking) : NULL;
        s_write_token (self, out, literal, strlen (literal), thought,
                       thought ? strlen (thought) : 0);
        free (literal);
        free (thought);
    }
    //  The usage chunk (no choices) comes after the finish: the end
    if (self->finished && json_is_object (usage))
        s_final (self, out);
    json_decref (chunk);
}

static void
s_line (ingress_answer_t *self, struct evbuffer *out)
{
    const char *line = self->line;
    size_t size = self->line_size;
    if (size && line [size - 1] == '\r')
        size--;
    if (size >= 5 && memcmp (line, "data:", 5) == 0) {
        line += 5;
        size -= 5;
        if (size && *line == ' ') {
            line++;
            size--;
        }
        s_chunk (self, line, size, out);
    }
    else
    if (size >= 6 && memcmp (line, "error:", 6) == 0)
        s_chunk (self, line + 6, size - 6, out);
}

void
ingress_answer_feed (ingress_answer_t *self, const char *data, size_t size,
                        struct evbuffer *out)
{
    while (size) {
        const char *end = (const char *) memchr (data, '\n', size);
        size_t piece = end ? (size_t) (end - data) : size;
        if (!self->overflow) {
            if (self->line_size + piece > S_LINE_MAX) {
                self->overflow = true;
                self->line_size = 0;
            }
            else {
                if (self->line_size + piece + 1 > self->line_max) {
                    //  Grown by doubling: a token's line is usually far below the first size
                    size_t max = self->line_max ? self->line_max : 1024;
                    while (max < self->line_size + piece + 1)
                        max *= 2;
                    self->line = (char *) realloc (self->line, max);
                    self->line_max = max;
                }
                memcpy (self->line + self->line_size, data, piece);
                self->line_size += piece;
            }
        }
        if (!end)
            return;
        if (!self->overflow)
            s_line (self, out);
        self->overflow = false;
        self->line_size = 0;
        data = end + 1;
        size -= piece + 1;
    }
}

void
ingress_answer_end (ingress_answer_t *self, struct evbuffer *out)
{
    if (self->line_size && !self->overflow)
        s_line (self, out);
    self->line_size = 0;
    if (self->finished)
        s_final (self, out);
}

char *
ingress_answer_whole (ingress_answer_t *self, int status, const char *data, size_t size,
                         int *status_out)
{
    json_t *body = json_loadb (data, size, 0, NULL);
    *status_out = status;
    if (status < 200 || status > 299 || !json_is_object (body)) {
        char *message = s_error_message (body, data, size);
        json_t *error = json_pack ("{s:s}", "error", message);
        free (message);
        if (status >= 200 && status <= 299)
            *status_out = 502;
        char *text = json_dumps (error, JSON_COMPACT);
        json_decref (error);
        json_decref (body);
        return text;
    }
    json_t *object;
    if (self->kind == INGRESS_TRANSLATE_EMBED || self->kind == INGRESS_TRANSLATE_EMBEDDINGS) {
        json_t *vectors = json_array ();
        size_t index;
        json_t *item;
        json_array_foreach (json_object_get (body, "data"), index, item)
            json_array_append (vectors, json_object_get (item, "embedding"));
        if (self->kind == INGRESS_TRANSLATE_EMBEDDINGS) {
            json_t *first = json_array_get (vectors, 0);
            object = json_pack ("{s:O}", "embedding", first ? first : json_array ());
            if (!first)
                json_decref (json_object_get (object, "embedding"));
            json_decref (vectors);
        }
        else {
            object = json_pack ("{s:s, s:o, s:I, s:i, s:I}", "model", self->model, "embeddings",
                                vectors, "total_duration",
                                (json_int_t) (s_now_us () - self->started_us) * 1000,
                                "load_duration", 0, "prompt_eval_count",
                                s_int (json_object_get (body, "usage"), "prompt_tokens"));
        }
    }
    else {
        json_t *choice = json_array_get (json_object_get (body, "choices"), 0);
        json_t *message = json_object_get (choice, "message");
        const char *content = json_string_value (json_object_get (message ? message : choice,
                                                                  message ? "content" : "text"));
        const char *thinking = json_string_value (json_object_get (message,
                                                                   "reasoning_content"));
        const char *finish = json_string_value (json_object_get (choice, "finish_reason"));
        if (finish)
            s_done_reason (self, finish);
        json_decref (self->usage);
        self->usage = json_incref (json_object_get (body, "usage"));
        json_t *timings = json_object_get (body, "timings");
        if (json_is_object (timings))
            self->timings = json_incref (timings);
        self->first_us = s_now_us ();
        object = s_object (self);
        json_t *calls = s_ollama_tool_calls (json_object_get (message, "tool_calls"));
        s_set_text (self, object, content, thinking, calls);
        json_decref (calls);
        s_set_final (self, object);
    }
    json_decref (body);
    char *text = json_dumps (object, JSON_COMPACT);
    json_decref (object);
    return text;
}

//  --------------------------------------------------------------------------
//  Self test

//  Feeds input split at every position in turn (and whole); each run must
//  give the same lines
static char *
s_feed_split (const char *path, const char *input, size_t split)
{
    ingress_answer_t *answer = ingress_answer_new (path, "tiny");
    struct evbuffer *out = evbuffer_new ();
    size_t size = strlen (input);
    if (split > size)
        split = size;
    ingress_answer_feed (answer, input, split, out);
    ingress_answer_feed (answer, input + split, size - split, out);
    ingress_answer_end (answer, out);
    size_t length = evbuffer_get_length (out);
    char *text = (char *) zmalloc (length + 1);
    evbuffer_remove (out, text, length);
    evbuffer_free (out);
    ingress_answer_destroy (&answer);
    return text;
}

static json_t *
s_line_at (const char *text, size_t index)
{
    for (size_t i = 0; i < index && text; i++) {
        text = strchr (text, '\n');
        if (text)
            text++;
    }
    const char *end = text ? strchr (text, '\n') : NULL;
    return end ? json_loadb (text, end - text, 0, NULL) : NULL;
}

static size_t
s_lines (const char *text)
{
    size_t count = 0;
    for (; *text; text++)
        count += *text == '\n';
    return count;
}

static const char *s_stream =
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"role\":\"assistant\","
    "\"content\":null}}],\"object\":\"chat.completion.chunk\"}\n\n"
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"He\"}}]}\r\n\r\n"
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"llo\\n\"}}]}\n\n"
    ": a comment\n\n"
    "data: {\"choices\":[{\"finish_reason\":\"length\",\"index\":0,\"delta\":{}}]}\n\n"
    "data: {\"choices\":[],\"usage\":{\"completion_tokens\":2,\"prompt_tokens\":29},"
    "\"timings\":{\"prompt_ms\":2.5,\"predicted_ms\":4.0}}\n\n"
    "data: [DONE]\n\n";

void
ingress_answer_test (bool verbose)
{
    if (verbose)
        printf (" * ingress_answer: ");
    //  A stream, split at every byte: the same NDJSON each time
    char *whole = s_feed_split ("/api/chat", s_stream, strlen (s_stream));
    assert (s_lines (whole) == 3);
    json_t *first = s_line_at (whole, 0);
    assert (streq (json_string_value (json_object_get (json_object_get (first, "message"),
                                                       "content")), "He"));
    assert (json_is_false (json_object_get (first, "done")));
    json_decref (first);
    json_t *last = s_line_at (whole, 2);
    assert (json_is_true (json_object_get (last, "done")));
    assert (streq (json_string_value (json_object_get (last, "done_reason")), "length"));
    assert (json_integer_value (json_object_get (last, "eval_count")) == 2);
    assert (json_integer_value (json_object_get (last, "prompt_eval_count")) == 29);
    assert (json_integer_value (json_object_get (last, "prompt_eval_duration")) == 2500000);
    assert (json_integer_value (json_object_get (last, "eval_duration")) == 4000000);
    json_decref (last);
    for (size_t split = 0; split < strlen (s_stream); split++) {
        char *text = s_feed_split ("/api/chat", s_stream, split);
        assert (s_lines (text) == 3);
        json_t *a = s_line_at (text, 1), *b = s_line_at (whole, 1);
        assert (json_equal (json_object_get (a, "message"), json_object_get (b, "message")));
        json_decref (a);
        json_decref (b);
        free (text);
    }
    free (whole);
    json_t *line;

    //  The fast scan keeps escapes as they are; what it cannot follow (bad
    //  JSON, two choices) goes the slow way or is skipped, never misread
    whole = s_feed_split ("/api/chat",
        "data: {\"id\":\"a}\\\"\",\"choices\":[{\"index\":0,\"delta\":{\"content\":"
        "\"q\\\"}\\\\ \\u00e9\\n\"},\"finish_reason\":null}]}\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"cut\n"
        "data: {\"choices\":[{\"delta\":{\"content\":\"one\"}},{\"delta\":{\"content\":"
        "\"two\"}}]}\n", 3);
    assert (s_lines (whole) == 2);
    line = s_line_at (whole, 0);
    assert (streq (json_string_value (json_object_get (json_object_get (line, "message"),
                                                       "content")), "q\"}\\ \xc3\xa9\n"));
    json_decref (line);
    line = s_line_at (whole, 1);
    assert (streq (json_string_value (json_object_get (json_object_get (line, "message"),
                                                       "content")), "one"));
    json_decref (line);
    free (whole);

    //  Generate's stream: response, not message; an error mid-stream
    whole = s_feed_split ("/api/generate", "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n"
                          "data: {\"error\":{\"code\":500,\"message\":\"boom\"}}\n", 1000);
    line = s_line_at (whole, 0);
    assert (streq (json_string_value (json_object_get (line, "response")), "x"));
    json_decref (line);
    line = s_line_at (whole, 1);
    assert (streq (json_string_value (json_object_get (line, "error")), "boom"));
    json_decref (line);
    free (whole);

    //  Streamed tool calls, in pieces: one call with an object at the end
    whole = s_feed_split ("/api/chat",
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n"
        "data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":"
        "{\"arguments\":\":1}\"}}]},\"finish_reason\":\"tool_calls\"}]}\n"
        "data: [DONE]\n", 7);
    line = s_line_at (whole, 0);
    json_t *tool = json_array_get (json_object_get (json_object_get (line, "message"),
                                                    "tool_calls"), 0);
    assert (json_integer_value (json_object_get (json_object_get (json_object_get (tool,
        "function"), "arguments"), "a")) == 1);
    assert (streq (json_string_value (json_object_get (line, "done_reason")), "stop"));
    json_decref (line);
    free (whole);

    //  Whole answers, and errors in Ollama's shape
    ingress_answer_t *answer = ingress_answer_new ("/api/chat", "tiny");
    int status;
    const char *reply = "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"role\":"
                        "\"assistant\",\"content\":\"ok\"}}],\"usage\":{\"completion_tokens\":1,"
                        "\"prompt_tokens\":3}}";
    char *text = ingress_answer_whole (answer, 200, reply, strlen (reply), &status);
    json_t *object = json_loads (text, 0, NULL);
    assert (status == 200);
    assert (streq (json_string_value (json_object_get (json_object_get (object, "message"),
                                                       "content")), "ok"));
    assert (json_integer_value (json_object_get (object, "prompt_eval_count")) == 3);
    assert (json_is_true (json_object_get (object, "done")));
    json_decref (object);
    free (text);
    const char *failure = "{\"error\":{\"code\":400,\"message\":\"bad thing\","
                          "\"type\":\"invalid_request_error\"}}";
    text = ingress_answer_whole (answer, 400, failure, strlen (failure), &status);
    assert (status == 400 && streq (text, "{\"error\":\"bad thing\"}"));
    free (text);
    ingress_answer_destroy (&answer);

    answer = ingress_answer_new ("/api/embed", "tiny");
    const char *vectors = "{\"data\":[{\"embedding\":[0.5,1]},{\"embedding\":[1,0]}],"
                          "\"usage\":{\"prompt_tokens\":4}}";
    text = ingress_answer_whole (answer, 200, vectors, strlen (vectors), &status);
    object = json_loads (text, 0, NULL);
    assert (json_array_size (json_object_get (object, "embeddings")) == 2);
    assert (json_integer_value (json_object_get (object, "prompt_eval_count")) == 4);
    json_decref (object);
    free (text);
    ingress_answer_destroy (&answer);
    answer = ingress_answer_new ("/api/embeddings", "tiny");
    text = ingress_answer_whole (answer, 200, vectors, strlen (vectors), &status);
    object = json_loads (text, 0, NULL);
    assert (json_array_size (json_object_get (object, "embedding")) == 2);
    json_decref (object);
    free (text);
    ingress_answer_destroy (&answer);

    if (verbose)
        printf ("OK\n");
}

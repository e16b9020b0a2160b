/*  =========================================================================
    ingress_translate - Ollama requests served by OpenAI-format backends

    One SSE line is collected at a time (bounded: S_LINE_MAX); every complete
    `data:` line is parsed and answered at once, so the client sees each
    token as the backend sends it. The final object waits for the usage
    chunk that follows the finish_reason chunk, or for [DONE].
    =========================================================================
*/

#include "ingress_translate.h"
#include <assert.h>
#include <czmq.h>
#include <ctype.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define S_LINE_MAX (1024 * 1024)

typedef enum { S_CHAT, S_GENERATE, S_EMBED, S_EMBEDDINGS } s_kind_t;

struct _ingress_translate_t {
    s_kind_t kind;
    char *model;
    bool stream;
    int64_t started_us;         //  when the translator was made (the request left)
    int64_t first_us;           //  the first token, 0 until then
    char *line;                 //  the SSE line being collected
    size_t line_size;
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

static s_kind_t
s_kind (const char *path)
{
    if (streq (path, "/api/generate"))
        return S_GENERATE;
    if (streq (path, "/api/embed"))
        return S_EMBED;
    if (streq (path, "/api/embeddings"))
        return S_EMBEDDINGS;
    return S_CHAT;
}

bool
ingress_translate_route (const char *path)
{
    return path && (streq (path, "/api/chat") || streq (path, "/api/generate")
                    || streq (path, "/api/embed") || streq (path, "/api/embeddings"));
}

//  --------------------------------------------------------------------------
//  Requests

#define s_refuse(...) \
    do { \
        snprintf (error, size, __VA_ARGS__); \
        json_decref (out); \
        return NULL; \
    } while (0)

//  options.* that have a counterpart: OpenAI's name (NULL: the same)
static const char *const s_options [][2] = {
    {"num_predict", "max_tokens"}, {"temperature", NULL}, {"top_p", NULL}, {"top_k", NULL},
    {"min_p", NULL}, {"seed", NULL}, {"stop", NULL}, {"frequency_penalty", NULL},
    {"presence_penalty", NULL}, {NULL, NULL}
};

static bool
s_map_options (json_t *options, json_t *out, char *error, size_t size)
{
    if (!options || json_is_null (options))
        return true;
    if (!json_is_object (options)) {
        snprintf (error, size, "options: must be an object");
        return false;
    }
    const char *name;
    json_t *value;
    json_object_foreach (options, name, value) {
        const char *target = NULL;
        bool known = false;
        for (size_t i = 0; s_options [i][0]; i++)
            if (streq (s_options [i][0], name)) {
                target = s_options [i][1] ? s_options [i][1] : name;
                known = true;
                break;
            }
        if (!known) {
            snprintf (error, size, "options.%s: has no counterpart on this frontend's "
                      "OpenAI-format backends", name);
            return false;
        }
        if (streq (name, "stop")) {
            if (!json_is_string (value) && !json_is_array (value)) {
                snprintf (error, size, "options.stop: must be a string or an array of strings");
                return false;
            }
        }
        else
        if (!json_is_number (value)) {
            snprintf (error, size, "options.%s: must be a number", name);
            return false;
        }
        if (streq (name, "num_predict")) {
            json_int_t count = json_integer_value (value);
            if (!json_is_integer (value) || count < -1) {
                snprintf (error, size, "options.num_predict: a count of tokens, or -1 for no "
                          "limit (-2, fill the context, has no counterpart)");
                return false;
            }
            if (count == -1)
                continue;       //  no limit: the OpenAI default
        }
        json_object_set (out, target, value);
    }
    return true;
}

static bool
s_map_format (json_t *format, json_t *out, char *error, size_t size)
{
    if (!format || json_is_null (format) || (json_is_string (format)
                                             && !*json_string_value (format)))
        return true;
    if (json_is_string (format) && streq (json_string_value (format), "json"))
        json_object_set_new (out, "response_format", json_pack ("{s:s}", "type", "json_object"));
    else
    if (json_is_object (format))
        json_object_set_new (out, "response_format",
                             json_pack ("{s:s, s:{s:s, s:O}}", "type", "json_schema",
                                        "json_schema", "name", "format", "schema", format));
    else {
        snprintf (error, size, "format: \"json\" or a JSON schema object");
        return false;
    }
    return true;
}

//  One Ollama chat message as OpenAI's
static json_t *
s_message (json_t *message, size_t index, char *error, size_t size)
{
    json_t *out = json_object ();
    if (!json_is_object (message))
        s_refuse ("messages[%zu]: must be an object", index);
    const char *name;
    json_t *value;
    json_object_foreach (message, name, value) {
        if (streq (name, "role") || streq (name, "content")) {
            if (!json_is_string (value))
                s_refuse ("messages[%zu].%s: must be a string", index, name);
            json_object_set (out, name, value);
        }
        else
        if (streq (name, "images")) {
            if (json_array_size (value) > 0)
                s_refuse ("messages[%zu].images: this frontend's OpenAI-format backends are "
                          "not known to take images", index);
        }
        else
        if (streq (name, "tool_name"))
            json_object_set (out, "name", value);
        else
        if (streq (name, "tool_calls")) {
            if (!json_is_array (value))
                s_refuse ("messages[%zu].tool_calls: must be an array", index);
            json_t *calls = json_array ();
            json_object_set_new (out, "tool_calls", calls);
            size_t at;
            json_t *call;
            json_array_foreach (value, at, call) {
                json_t *function = json_object_get (call, "function");
                const char *fname = json_string_value (json_object_get (function, "name"));
                if (!fname)
                    s_refuse ("messages[%zu].tool_calls[%zu].function.name: must be a string",
                              index, at);
                json_t *arguments = json_object_get (function, "arguments");
                char *text = arguments ? json_dumps (arguments, JSON_COMPACT | JSON_ENCODE_ANY)
                                       : strdup ("{}");
                char id [32];
                snprintf (id, sizeof id, "call_%zu_%zu", index, at);
                json_array_append_new (calls, json_pack ("{s:s, s:s, s:{s:s, s:s}}", "id", id,
                                                         "type", "function", "function", "name",
                                                         fname, "arguments", text));
                free (text);
            }
        }
        else
        if (streq (name, "thinking"))
            continue;           //  the model's own earlier reasoning: not sent back
        else
            s_refuse ("messages[%zu].%s: has no counterpart on this frontend's OpenAI-format "
                      "backends", index, name);
    }
    if (!json_object_get (out, "content"))
        json_object_set_new (out, "content", json_string (""));
    return out;
}

json_t *
ingress_translate_request (const char *path, json_t *body, const char **openai_path,
                           char *error, size_t size)
{
    s_kind_t kind = s_kind (path);
    json_t *out = json_object ();
    bool raw = json_is_true (json_object_get (body, "raw"));
    *openai_path = kind == S_EMBED || kind == S_EMBEDDINGS ? "/v1/embeddings"
                   : kind == S_GENERATE && raw             ? "/v1/completions"
                                                           : "/v1/chat/completions";
    //  Ollama streams unless told not to
    json_t *stream = json_object_get (body, "stream");
    if (stream && !json_is_boolean (stream))
        s_refuse ("stream: must be true or false");
    bool streamed = !json_is_false (stream);
    const char *name;
    json_t *value;
    json_object_foreach (body, name, value) {
        if (streq (name, "model")) {
            if (!json_is_string (value))
                s_refuse ("model: must be a string");
            json_object_set (out, "model", value);
        }
        else
        if (streq (name, "stream") || streq (name, "keep_alive") || streq (name, "raw"))
            continue;           //  read above; keep_alive: these servers keep their model loaded
        else
        if (streq (name, "options")) {
            if (kind == S_EMBED || kind == S_EMBEDDINGS) {
                if (json_object_size (value) > 0)
                    s_refuse ("options: have no counterpart on OpenAI's /v1/embeddings");
            }
            else
            if (!s_map_options (value, out, error, size)) {
                json_decref (out);
                return NULL;
            }
        }
        else
        if (kind == S_CHAT && streq (name, "messages")) {
            if (!json_is_array (value))
                s_refuse ("messages: must be an array");
            json_t *messages = json_array ();
            json_object_set_new (out, "messages", messages);
            size_t index;
            json_t *message;
            json_array_foreach (value, index, message) {
                json_t *translated = s_message (message, index, error, size);
                if (!translated) {
                    json_decref (out);
                    return NULL;
                }
                json_array_append_new (messages, translated);
            }
        }
        else
        if ((kind == S_CHAT || kind == S_GENERATE) && streq (name, "format")) {
            if (!s_map_format (value, out, error, size)) {
                json_decref (out);
                return NULL;
            }
        }
        else
        if (kind == S_CHAT && streq (name, "tools")) {
            if (!json_is_array (value))
                s_refuse ("tools: must be an array");
            if (json_array_size (value))
                json_object_set (out, "tools", value);
        }
        else
        if ((kind == S_CHAT || kind == S_GENERATE) && streq (name, "think")) {
            if (!json_is_false (value) && !json_is_null (value))
                s_refuse ("think: has no counterpart on this frontend's OpenAI-format backends "
                          "(only false)");
        }
        else
        if (kind == S_GENERATE && (streq (name, "prompt") || streq (name, "system"))) {
            if (!json_is_string (value))
                s_refuse ("%s: must be a string", name);
            if (raw && streq (name, "system") && *json_string_value (value))
                s_refuse ("system: has no counterpart with raw: true (/v1/completions)");
        }
        else
        if (kind == S_GENERATE && streq (name, "images")) {
            if (json_array_size (value) > 0)
                s_refuse ("images: this frontend's OpenAI-format backends are not known to "
                          "take images");
        }
        else
        if (kind == S_EMBED && streq (name, "input")) {
            if (!json_is_string (value) && !json_is_array (value))
                s_refuse ("input: must be a string or an array of strings");
            json_object_set (out, "input", value);
        }
        else
        if (kind == S_EMBED && streq (name, "dimensions")) {
            if (!json_is_integer (value))
                s_refuse ("dimensions: must be an integer");
            json_object_set (out, "dimensions", value);
        }
        else
        if (kind == S_EMBED && streq (name, "truncate")) {
            if (!json_is_true (value))
                s_refuse ("truncate: only true (the default) has a counterpart on "
                          "OpenAI-format backends");
        }
        else
        if (kind == S_EMBEDDINGS && streq (name, "prompt")) {
            if (!json_is_string (value))
                s_refuse ("prompt: must be a string");
            json_object_set (out, "input", value);
        }
        else
            s_refuse ("%s: has no counterpart on this frontend's OpenAI-format backends", name);
    }
    if (kind == S_GENERATE) {
        const char *prompt = json_string_value (json_object_get (body, "prompt"));
        const char *system = json_string_value (json_object_get (body, "system"));
        if (raw)
            json_object_set_new (out, "prompt", json_string (prompt ? prompt : ""));
        else {
            json_t *messages = json_array ();
            if (system && *system)
                json_array_append_new (messages, json_pack ("{s:s, s:s}", "role", "system",
                                                            "content", system));
            json_array_append_new (messages, json_pack ("{s:s, s:s}", "role", "user", "content",
                                                        prompt ? prompt : ""));
            json_object_set_new (out, "messages", messages);
        }
    }
    if (kind == S_CHAT && !json_object_get (out, "messages"))
        json_object_set_new (out, "messages", json_array ());
    if (kind == S_EMBED && !json_object_get (out, "input"))
        s_refuse ("input: missing");
    if (kind == S_EMBEDDINGS && !json_object_get (out, "input"))
        s_refuse ("prompt: missing");
    if ((kind == S_CHAT || kind == S_GENERATE) && streamed) {
        json_object_set_new (out, "stream", json_true ());
        json_object_set_new (out, "stream_options", json_pack ("{s:b}", "include_usage", 1));
    }
    else
    if (kind == S_CHAT || kind == S_GENERATE)
        json_object_set_new (out, "stream", json_false ());
    return out;
}

//  --------------------------------------------------------------------------
//  Responses

ingress_translate_t *
ingress_translate_new (const char *path, const char *model, bool stream)
{
    ingress_translate_t *self = (ingress_translate_t *) zmalloc (sizeof (ingress_translate_t));
    self->kind = s_kind (path);
    self->model = strdup (model ? model : "");
    self->stream = stream;
    self->started_us = s_now_us ();
    self->tool_calls = json_array ();
    return self;
}

void
ingress_translate_destroy (ingress_translate_t **self_p)
{
    ingress_translate_t *self = *self_p;
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
s_write_token (ingress_translate_t *self, struct evbuffer *out, const char *content,
               size_t content_size, const char *thinking, size_t thinking_size)
{
    char created [64];
    s_created_at (created, sizeof created);
    evbuffer_add (out, "{\"model\":", 9);
    s_add_string (out, self->model);
    evbuffer_add_printf (out, ",\"created_at\":\"%s\",", created);
    if (self->kind == S_GENERATE)
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
    if (self->kind != S_GENERATE)
        evbuffer_add (out, "}", 1);
    evbuffer_add (out, ",\"done\":false}\n", 15);
}

//  --------------------------------------------------------------------------
//  The fast path: most chunks are one token's delta. A scan that skips
//  values finds the delta's content (kept as the JSON literal it is, which
//  is what the NDJSON object needs) without building a tree; any chunk that
//  says more (a finish_reason, usage, timings, an error, tool calls) or that
//  the scan does not follow goes the slow way, through jansson.

static const char *
s_ws (const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

//  After the string literal at p (at its opening quote), or NULL
static const char *
s_skip_string (const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else
        if (*p == '"')
            return p + 1;
        else
        if ((unsigned char) *p < 0x20)
            return NULL;
    }
    return NULL;
}

//  After the value at p, or NULL (depth-bounded)
static const char *
s_skip_value (const char *p, const char *end, int depth)
{
    p = s_ws (p, end);
    if (p >= end || depth > 32)
        return NULL;
    if (*p == '"')
        return s_skip_string (p, end);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool object = *p == '{';
        p = s_ws (p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        while (p && p < end) {
            if (object) {
                p = s_ws (p, end);
                if (p >= end || *p != '"' || !(p = s_skip_string (p, end)))
                    return NULL;
                p = s_ws (p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p++;
            }
            p = s_skip_value (p, end, depth + 1);
            if (!p)
                return NULL;
            p = s_ws (p, end);
            if (p < end && *p == ',')
                p++;
            else
                return p < end && *p == close ? p + 1 : NULL;
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && (isalnum ((unsigned char) *p) || *p == '-' || *p == '+' || *p == '.'))
        p++;
    return p > start ? p : NULL;
}

typedef struct {
    const char *content;        //  the content (or text) literal, or NULL
    size_t content_size;
    const char *thinking;
    size_t thinking_size;
} s_token_t;

static bool
s_key_is (const char *key, const char *after, const char *name)
{
    size_t size = strlen (name);
    return (size_t) (after - key) == size + 2 && memcmp (key + 1, name, size) == 0;
}

//  Walks the object at p; calls the member function for each key. True if
//  the whole object was walked and every member said yes
typedef const char *(s_member_fn) (const char *key, const char *after, const char *value,
                                   const char *end, s_token_t *token);

static bool
s_walk (const char *p, const char *end, s_member_fn *member, s_token_t *token)
{
    p = s_ws (p, end);
    if (p >= end || *p != '{')
        return false;
    p = s_ws (p + 1, end);
    if (p < end && *p == '}')
        return true;
    while (p < end) {
        const char *key = p;
        if (*p != '"' || !(p = s_skip_string (p, end)))
            return false;
        const char *after = p;
        p = s_ws (p, end);
        if (p >= end || *p != ':')
            return false;
        p = member (key, after, s_ws (p + 1, end), end, token);
        if (!p)
            return false;
        p = s_ws (p, end);
        if (p < end && *p == ',')
            p = s_ws (p + 1, end);
        else
            return p < end && *p == '}' && s_ws (p + 1, end) == end;
    }
    return false;
}

static const char *
s_literal (const char *value, const char *end, const char **literal, size_t *size)
{
    if (value < end && *value == '"') {
        const char *after = s_skip_string (value, end);
        if (after) {
            *literal = value;
            *size = after - value;
        }
        return after;
    }
    if (end - value >= 4 && memcmp (value, "null", 4) == 0)
        return value + 4;
    return NULL;
}

static const char *
s_delta_member (const char *key, const char *after, const char *value, const char *end,
                s_token_t *token)
{
    if (s_key_is (key, after, "content"))
        return s_literal (value, end, &token->content, &token->content_size);
    if (s_key_is (key, after, "reasoning_content"))
        return s_literal (value, end, &token->thinking, &token->thinking_size);
    if (s_key_is (key, after, "role"))
        return s_skip_value (value, end, 0);
    return NULL;                //  tool calls, or anything else: the slow way
}

//  Walks an object nested in a chunk: its end, or NULL
static const char *
s_nested (const char *value, const char *end, s_member_fn *member, s_token_t *token)
{
    const char *after = s_skip_value (value, end, 0);
    return after && s_walk (value, after, member, token) ? after : NULL;
}

static const char *
s_choice_member (const char *key, const char *after, const char *value, const char *end,
                 s_token_t *token)
{
    if (s_key_is (key, after, "delta"))
        return s_nested (value, end, s_delta_member, token);
    if (s_key_is (key, after, "text"))
        return s_literal (value, end, &token->content, &token->content_size);
    if (s_key_is (key, after, "finish_reason"))
        return end - value >= 4 && memcmp (value, "null", 4) == 0 ? value + 4 : NULL;
    if (s_key_is (key, after, "index") || s_key_is (key, after, "logprobs"))
        return s_skip_value (value, end, 0);
    return NULL;
}

static const char *
s_chunk_member (const char *key, const char *after, const char *value, const char *end,
                s_token_t *token)
{
    if (s_key_is (key, after, "choices")) {
        //  One choice, walked; more (n > 1) is the slow way
        if (value >= end || *value != '[')
            return NULL;
        const char *p = s_ws (value + 1, end);
        const char *choice_end = s_nested (p, end, s_choice_member, token);
        if (!choice_end)
            return NULL;
        p = s_ws (choice_end, end);
        return p < end && *p == ']' ? p + 1 : NULL;
    }
    if (s_key_is (key, after, "usage") || s_key_is (key, after, "timings")
        || s_key_is (key, after, "error"))
        return NULL;
    return s_skip_value (value, end, 0);
}

//  True if the chunk was a plain token delta, and answered
static bool
s_fast_chunk (ingress_translate_t *self, const char *data, size_t size, struct evbuffer *out)
{
    s_token_t token = {NULL, 0, NULL, 0};
    if (!s_walk (data, data + size, s_chunk_member, &token))
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
s_object (ingress_translate_t *self)
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
s_set_text (ingress_translate_t *self, json_t *object, const char *content, const char *thinking,
            json_t *tool_calls)
{
    if (self->kind == S_GENERATE) {
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
s_set_final (ingress_translate_t *self, json_t *object)
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
s_done_reason (ingress_translate_t *self, const char *finish)
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
s_add_tool_deltas (ingress_translate_t *self, json_t *deltas)
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
s_final (ingress_translate_t *self, struct evbuffer *out)
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
s_chunk (ingress_translate_t *self, const char *data, size_t size, struct evbuffer *out)
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
        s_write_token (self, out, literal, strlen (literal), thought, thought ? strlen (thought) : 0);
        free (literal);
        free (thought);
    }
    //  The usage chunk (no choices) comes after the finish: the end
    if (self->finished && json_is_object (usage))
        s_final (self, out);
    json_decref (chunk);
}

static void
s_line (ingress_translate_t *self, struct evbuffer *out)
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
ingress_translate_feed (ingress_translate_t *self, const char *data, size_t size,
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
                self->line = (char *) realloc (self->line, self->line_size + piece + 1);
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
ingress_translate_end (ingress_translate_t *self, struct evbuffer *out)
{
    if (self->line_size && !self->overflow)
        s_line (self, out);
    self->line_size = 0;
    if (self->finished)
        s_final (self, out);
}

char *
ingress_translate_whole (ingress_translate_t *self, int status, const char *data, size_t size,
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
    if (self->kind == S_EMBED || self->kind == S_EMBEDDINGS) {
        json_t *vectors = json_array ();
        size_t index;
        json_t *item;
        json_array_foreach (json_object_get (body, "data"), index, item)
            json_array_append (vectors, json_object_get (item, "embedding"));
        if (self->kind == S_EMBEDDINGS) {
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
    ingress_translate_t *translate = ingress_translate_new (path, "tiny", true);
    struct evbuffer *out = evbuffer_new ();
    size_t size = strlen (input);
    if (split > size)
        split = size;
    ingress_translate_feed (translate, input, split, out);
    ingress_translate_feed (translate, input + split, size - split, out);
    ingress_translate_end (translate, out);
    size_t length = evbuffer_get_length (out);
    char *text = (char *) zmalloc (length + 1);
    evbuffer_remove (out, text, length);
    evbuffer_free (out);
    ingress_translate_destroy (&translate);
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

static json_t *
s_translated (const char *path, const char *body, char *error, const char **target)
{
    json_t *in = json_loads (body, 0, NULL);
    assert (in);
    json_t *out = ingress_translate_request (path, in, target, error, 256);
    json_decref (in);
    return out;
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
ingress_translate_test (bool verbose)
{
    if (verbose)
        printf (" * ingress_translate: ");
    char error [256];
    const char *target;

    //  Chat: options field by field, format, tools, stream options
    json_t *out = s_translated ("/api/chat",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"options\":{\"num_predict\":5,\"temperature\":0.5,\"top_p\":0.9,\"top_k\":40,"
        "\"seed\":7,\"stop\":[\"x\"]},\"format\":\"json\",\"keep_alive\":\"5m\","
        "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}]}", error, &target);
    assert (out);
    assert (streq (target, "/v1/chat/completions"));
    assert (json_integer_value (json_object_get (out, "max_tokens")) == 5);
    assert (json_number_value (json_object_get (out, "temperature")) == 0.5);
    assert (json_integer_value (json_object_get (out, "top_k")) == 40);
    assert (json_integer_value (json_object_get (out, "seed")) == 7);
    assert (json_array_size (json_object_get (out, "stop")) == 1);
    assert (json_array_size (json_object_get (out, "tools")) == 1);
    assert (streq (json_string_value (json_object_get (json_object_get (out, "response_format"),
                                                       "type")), "json_object"));
    assert (json_is_true (json_object_get (out, "stream")));
    assert (json_is_true (json_object_get (json_object_get (out, "stream_options"),
                                           "include_usage")));
    assert (!json_object_get (out, "keep_alive") && !json_object_get (out, "options"));
    json_decref (out);

    //  A JSON schema format, no stream, num_predict -1 (no limit)
    out = s_translated ("/api/chat", "{\"model\":\"m\",\"stream\":false,\"messages\":[],"
                        "\"format\":{\"type\":\"object\"},\"options\":{\"num_predict\":-1}}",
                        error, &target);
    assert (out && json_is_false (json_object_get (out, "stream")));
    assert (!json_object_get (out, "stream_options") && !json_object_get (out, "max_tokens"));
    assert (json_object_get (json_object_get (json_object_get (out, "response_format"),
                                              "json_schema"), "schema"));
    json_decref (out);

    //  What cannot be mapped is refused, naming the field
    assert (!s_translated ("/api/chat", "{\"model\":\"m\",\"messages\":[],\"options\":"
                           "{\"num_ctx\":4096}}", error, &target));
    assert (strstr (error, "options.num_ctx"));
    assert (!s_translated ("/api/chat", "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
                           "\"content\":\"x\",\"images\":[\"AAAA\"]}]}", error, &target));
    assert (strstr (error, "messages[0].images"));
    assert (!s_translated ("/api/generate", "{\"model\":\"m\",\"prompt\":\"x\",\"template\":\"t\"}",
                           error, &target));
    assert (strstr (error, "template"));
    assert (!s_translated ("/api/chat", "{\"model\":\"m\",\"format\":\"yaml\"}", error, &target));
    assert (strstr (error, "format"));
    assert (!s_translated ("/api/chat", "{\"model\":\"m\",\"think\":true}", error, &target));
    assert (strstr (error, "think"));
    assert (!s_translated ("/api/chat", "{\"model\":\"m\",\"options\":{\"num_predict\":-2}}",
                           error, &target));
    assert (strstr (error, "num_predict"));

    //  Assistant tool calls: arguments become a string, tool_name the name
    out = s_translated ("/api/chat", "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
                        "\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
                        "\"arguments\":{\"a\":1}}}]},{\"role\":\"tool\",\"content\":\"2\","
                        "\"tool_name\":\"f\"}]}", error, &target);
    assert (out);
    json_t *call = json_array_get (json_object_get (json_array_get (json_object_get (out,
        "messages"), 0), "tool_calls"), 0);
    assert (streq (json_string_value (json_object_get (json_object_get (call, "function"),
                                                       "arguments")), "{\"a\":1}"));
    assert (streq (json_string_value (json_object_get (json_array_get (json_object_get (out,
        "messages"), 1), "name")), "f"));
    json_decref (out);

    //  Generate: a chat turn (templated, as Ollama does); raw: a completion
    out = s_translated ("/api/generate", "{\"model\":\"m\",\"prompt\":\"p\",\"system\":\"s\"}",
                        error, &target);
    assert (out && streq (target, "/v1/chat/completions"));
    assert (json_array_size (json_object_get (out, "messages")) == 2);
    json_decref (out);
    out = s_translated ("/api/generate", "{\"model\":\"m\",\"prompt\":\"p\",\"raw\":true}",
                        error, &target);
    assert (out && streq (target, "/v1/completions"));
    assert (streq (json_string_value (json_object_get (out, "prompt")), "p"));
    json_decref (out);

    //  Embeddings
    out = s_translated ("/api/embed", "{\"model\":\"m\",\"input\":[\"a\",\"b\"]}", error, &target);
    assert (out && streq (target, "/v1/embeddings"));
    assert (json_array_size (json_object_get (out, "input")) == 2);
    json_decref (out);
    out = s_translated ("/api/embeddings", "{\"model\":\"m\",\"prompt\":\"a\"}", error, &target);
    assert (out && streq (json_string_value (json_object_get (out, "input")), "a"));
    json_decref (out);
    assert (!s_translated ("/api/embed", "{\"model\":\"m\"}", error, &target));
    assert (strstr (error, "input"));

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
    ingress_translate_t *translate = ingress_translate_new ("/api/chat", "tiny", false);
    int status;
    const char *answer = "{\"choices\":[{\"finish_reason\":\"stop\",\"message\":{\"role\":"
                         "\"assistant\",\"content\":\"ok\"}}],\"usage\":{\"completion_tokens\":1,"
                         "\"prompt_tokens\":3}}";
    char *text = ingress_translate_whole (translate, 200, answer, strlen (answer), &status);
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
    text = ingress_translate_whole (translate, 400, failure, strlen (failure), &status);
    assert (status == 400 && streq (text, "{\"error\":\"bad thing\"}"));
    free (text);
    ingress_translate_destroy (&translate);

    translate = ingress_translate_new ("/api/embed", "tiny", false);
    const char *vectors = "{\"data\":[{\"embedding\":[0.5,1]},{\"embedding\":[1,0]}],"
                          "\"usage\":{\"prompt_tokens\":4}}";
    text = ingress_translate_whole (translate, 200, vectors, strlen (vectors), &status);
    object = json_loads (text, 0, NULL);
    assert (json_array_size (json_object_get (object, "embeddings")) == 2);
    assert (json_integer_value (json_object_get (object, "prompt_eval_count")) == 4);
    json_decref (object);
    free (text);
    ingress_translate_destroy (&translate);
    translate = ingress_translate_new ("/api/embeddings", "tiny", false);
    text = ingress_translate_whole (translate, 200, vectors, strlen (vectors), &status);
    object = json_loads (text, 0, NULL);
    assert (json_array_size (json_object_get (object, "embedding")) == 2);
    json_decref (object);
    free (text);
    ingress_translate_destroy (&translate);

    if (verbose)
        printf ("OK\n");
}

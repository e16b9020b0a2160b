/*  =========================================================================
    ingress_validate - the request validator: the type of every body field
    the ingress reads or rewrites
    =========================================================================
*/

#include "ingress_validate.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

//  The types a field may have (a mask)
#define S_STRING   0x01
#define S_NUMBER   0x02
#define S_INTEGER  0x04
#define S_BOOLEAN  0x08
#define S_OBJECT   0x10
#define S_ARRAY    0x20
#define S_STRINGS  0x40             //  an array of strings

//  The route kinds a rule applies to (a mask)
#define S_KIND(k)  (1u << (k))
#define S_OLLAMA_TEXT (S_KIND (INGRESS_ROUTE_CHAT) | S_KIND (INGRESS_ROUTE_GENERATE))
#define S_OLLAMA_MODEL (S_OLLAMA_TEXT | S_KIND (INGRESS_ROUTE_EMBED) \
                        | S_KIND (INGRESS_ROUTE_EMBEDDINGS))
#define S_OLLAMA_NAMED (S_KIND (INGRESS_ROUTE_SHOW) | S_KIND (INGRESS_ROUTE_PULL) \
                        | S_KIND (INGRESS_ROUTE_DELETE))
#define S_OPENAI_TEXT (S_KIND (INGRESS_ROUTE_OPENAI_CHAT) \
                       | S_KIND (INGRESS_ROUTE_OPENAI_COMPLETIONS))
#define S_EVERY    0xffffffffu

//  Room for a field's path in a message ("messages[12].tool_calls[3].function.name")
#define S_PATH_MAX 96

typedef struct {
    const char *field;
    unsigned types;
    unsigned kinds;
} s_rule_t;

//  Top-level fields, by route kind. What each is read for: model (the lease,
//  the translation), name (show, pull and delete: Ollama's older spelling),
//  stream (pulls, the translation), options, keep_alive, format, think,
//  tools, prompt, system, raw, images, input, truncate, dimensions (the
//  translation), messages (the translation; entries below), insecure and
//  stream_options (objects the pins may merge into)
static const s_rule_t s_rules [] = {
    {"model", S_STRING, S_EVERY},
    {"name", S_STRING, S_OLLAMA_NAMED},
    {"stream", S_BOOLEAN, S_OLLAMA_TEXT | S_KIND (INGRESS_ROUTE_PULL)
                          | S_KIND (INGRESS_ROUTE_DELETE) | S_OPENAI_TEXT},
    {"insecure", S_BOOLEAN, S_KIND (INGRESS_ROUTE_PULL)},
    {"options", S_OBJECT, S_OLLAMA_MODEL},
    {"keep_alive", S_STRING | S_NUMBER, S_OLLAMA_MODEL},
    {"format", S_STRING | S_OBJECT, S_OLLAMA_TEXT},
    {"think", S_BOOLEAN | S_STRING, S_OLLAMA_TEXT},
    {"messages", S_ARRAY, S_KIND (INGRESS_ROUTE_CHAT) | S_KIND (INGRESS_ROUTE_OPENAI_CHAT)},
    {"tools", S_ARRAY, S_KIND (INGRESS_ROUTE_CHAT) | S_KIND (INGRESS_ROUTE_OPENAI_CHAT)},
    {"prompt", S_STRING, S_KIND (INGRESS_ROUTE_GENERATE) | S_KIND (INGRESS_ROUTE_EMBEDDINGS)},
    {"prompt", S_STRING | S_ARRAY, S_KIND (INGRESS_ROUTE_OPENAI_COMPLETIONS)},
    {"system", S_STRING, S_KIND (INGRESS_ROUTE_GENERATE)},
    {"template", S_STRING, S_KIND (INGRESS_ROUTE_GENERATE)},
    {"suffix", S_STRING, S_KIND (INGRESS_ROUTE_GENERATE)},
    {"raw", S_BOOLEAN, S_KIND (INGRESS_ROUTE_GENERATE)},
    {"images", S_STRINGS, S_KIND (INGRESS_ROUTE_GENERATE)},
    {"input", S_STRING | S_STRINGS, S_KIND (INGRESS_ROUTE_EMBED)},
    {"input", S_STRING | S_ARRAY, S_KIND (INGRESS_ROUTE_OPENAI_EMBEDDINGS)},
    {"truncate", S_BOOLEAN, S_KIND (INGRESS_ROUTE_EMBED)},
    {"dimensions", S_INTEGER, S_KIND (INGRESS_ROUTE_EMBED)
                              | S_KIND (INGRESS_ROUTE_OPENAI_EMBEDDINGS)},
    {"stream_options", S_OBJECT, S_OPENAI_TEXT},
    {NULL, 0, 0}
};

//  Ollama's typed options (api.Options); others are the backend's to judge
static const s_rule_t s_options [] = {
    {"num_keep", S_NUMBER, 0}, {"seed", S_NUMBER, 0}, {"num_predict", S_NUMBER, 0},
    {"top_k", S_NUMBER, 0}, {"top_p", S_NUMBER, 0}, {"min_p", S_NUMBER, 0},
    {"typical_p", S_NUMBER, 0}, {"repeat_last_n", S_NUMBER, 0}, {"temperature", S_NUMBER, 0},
    {"repeat_penalty", S_NUMBER, 0}, {"presence_penalty", S_NUMBER, 0},
    {"frequency_penalty", S_NUMBER, 0}, {"num_ctx", S_NUMBER, 0}, {"num_batch", S_NUMBER, 0},
    {"num_gpu", S_NUMBER, 0}, {"main_gpu", S_NUMBER, 0}, {"num_thread", S_NUMBER, 0},
    {"penalize_newline", S_BOOLEAN, 0}, {"numa", S_BOOLEAN, 0}, {"use_mmap", S_BOOLEAN, 0},
    {"stop", S_STRING | S_STRINGS, 0},
    {NULL, 0, 0}
};

//  One entry of Ollama's messages (api.Message)
static const s_rule_t s_message [] = {
    {"role", S_STRING, 0}, {"content", S_STRING, 0}, {"thinking", S_STRING, 0},
    {"images", S_STRINGS, 0}, {"tool_calls", S_ARRAY, 0}, {"tool_name", S_STRING, 0},
    {NULL, 0, 0}
};

//  One entry of OpenAI's messages: content is text or an array of parts
static const s_rule_t s_openai_message [] = {
    {"role", S_STRING, 0}, {"content", S_STRING | S_ARRAY, 0}, {"name", S_STRING, 0},
    {"tool_calls", S_ARRAY, 0}, {"tool_call_id", S_STRING, 0},
    {NULL, 0, 0}
};

//  The types value has, as a mask (an integer is also a number; an array of
//  strings also an array)
static unsigned
s_types_of (const json_t *value)
{
    switch (json_typeof (value)) {
        case JSON_STRING:
            return S_STRING;
        case JSON_INTEGER:
            return S_NUMBER | S_INTEGER;
        case JSON_REAL:
            return S_NUMBER;
        case JSON_TRUE:
        case JSON_FALSE:
            return S_BOOLEAN;
        case JSON_OBJECT:
            return S_OBJECT;
        case JSON_ARRAY: {
            size_t index;
            const json_t *item;
            json_array_foreach (value, index, item)
                if (!json_is_string (item))
                    return S_ARRAY;
            return S_ARRAY | S_STRINGS;
        }
        default:
            return 0;
    }
}

//  "a string or an array of strings"
static void
s_describe (unsigned types, char *text, size_t size)
{
    static const struct {
        unsigned type;
        const char *name;
    } names [] = {
        {S_STRING, "a string"}, {S_NUMBER, "a number"}, {S_INTEGER, "an integer"},
        {S_BOOLEAN, "true or false"}, {S_OBJECT, "an object"}, {S_ARRAY, "an array"},
        {S_STRINGS, "an array of strings"}
    };
    text [0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        if (types & names [i].type) {
            size_t used = strlen (text);
            snprintf (text + used, size - used, "%s%s", used ? " or " : "", names [i].name);
        }
}

//  Checks the fields of object named in rules (those of this kind); prefix
//  is the object's place in the body ("" for the body itself)
static bool
s_check (const json_t *object, const s_rule_t *rules, unsigned kind, const char *prefix,
         char *why, size_t size)
{
    for (const s_rule_t *rule = rules; rule->field; rule++) {
        if (rule->kinds && !(rule->kinds & kind))
            continue;
        const json_t *value = json_object_get (object, rule->field);
        if (!value || json_is_null (value) || (s_types_of (value) & rule->types))
            continue;
        char expected [96];
        s_describe (rule->types, expected, sizeof expected);
        snprintf (why, size, "%s%s: must be %s", prefix, rule->field, expected);
        return false;
    }
    return true;
}

static bool
s_check_messages (const json_t *messages, bool openai, char *why, size_t size)
{
    size_t index;
    const json_t *message;
    json_array_foreach (messages, index, message) {
        char prefix [S_PATH_MAX];
        snprintf (prefix, sizeof prefix, "messages[%zu]", index);
        if (!json_is_object (message)) {
            snprintf (why, size, "%s: must be an object", prefix);
            return false;
        }
        strcat (prefix, ".");
        if (!s_check (message, openai ? s_openai_message : s_message, 0, prefix, why, size))
            return false;
        if (openai)
            continue;
        //  Ollama's tool calls: the translation reads each function's name
        size_t at;
        const json_t *call;
        json_array_foreach (json_object_get (message, "tool_calls"), at, call) {
            const json_t *function = json_object_get (call, "function");
            const json_t *name = json_object_get (function, "name");
            if (!json_is_object (call) || (function && !json_is_object (function))
                || (name && !json_is_null (name) && !json_is_string (name))) {
                snprintf (why, size, "messages[%zu].tool_calls[%zu]%s: must be %s", index, at,
                          !json_is_object (call) ? ""
                          : !json_is_object (function) ? ".function" : ".function.name",
                          json_is_object (call) && json_is_object (function) ? "a string"
                                                                               : "an object");
                return false;
            }
        }
    }
    return true;
}

bool
ingress_validate_body (ingress_route_kind_t kind, const json_t *body, char *why,
                       size_t why_size)
{
    assert (why && why_size);
    assert (kind < INGRESS_ROUTE_KINDS && kind < 32);
    if (!json_is_object (body)) {
        snprintf (why, why_size, "the request body must be a JSON object");
        return false;
    }
    unsigned mask = S_KIND (kind);
    if (!s_check (body, s_rules, mask, "", why, why_size))
        return false;
    const json_t *options = json_object_get (body, "options");
    if ((mask & S_OLLAMA_MODEL) && json_is_object (options)
        && !s_check (options, s_options, 0, "options.", why, why_size))
        return false;
    const json_t *messages = json_object_get (body, "messages");
    if (json_is_array (messages)
        && (kind == INGRESS_ROUTE_CHAT || kind == INGRESS_ROUTE_OPENAI_CHAT)
        && !s_check_messages (messages, kind == INGRESS_ROUTE_OPENAI_CHAT, why, why_size))
        return false;
    return true;
}

//  --------------------------------------------------------------------------
//  Self test

//  True if text is valid for kind; otherwise the reason must contain expected
static void
s_expect (ingress_route_kind_t kind, const char *text, const char *expected)
{
    json_t *body = json_loads (text, 0, NULL);
    assert (body);
    char why [256] = "";
    bool valid = ingress_validate_body (kind, body, why, sizeof why);
    json_decref (body);
    if (!expected) {
        if (!valid)
            printf ("unexpected refusal of %s: %s\n", text, why);
        assert (valid);
    }
    else {
        if (valid || !strstr (why, expected))
            printf ("%s: expected '%s', got '%s'\n", text, expected, why);
        assert (!valid && strstr (why, expected));
    }
}

void
ingress_validate_test (bool verbose)
{
    if (verbose)
        printf (" * ingress_validate: ");
    //  What the real clients send passes, nulls included
    s_expect (INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
              "\"content\":\"hi\",\"images\":null}],\"stream\":true,\"options\":"
              "{\"temperature\":0.5,\"stop\":[\"x\"],\"num_ctx\":4096,\"mirostat\":\"x\"},"
              "\"keep_alive\":\"5m\",\"format\":null,\"tools\":null,\"think\":false}", NULL);
    s_expect (INGRESS_ROUTE_GENERATE, "{\"model\":\"m\",\"prompt\":\"p\",\"keep_alive\":300,"
              "\"format\":{\"type\":\"object\"},\"images\":[\"AAAA\"],\"raw\":true}", NULL);
    s_expect (INGRESS_ROUTE_EMBED, "{\"model\":\"m\",\"input\":[\"a\",\"b\"],\"truncate\":true,"
              "\"dimensions\":8}", NULL);
    s_expect (INGRESS_ROUTE_OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\","
              "\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]},{\"role\":\"assistant\","
              "\"content\":null}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
              NULL);
    s_expect (INGRESS_ROUTE_OPENAI_EMBEDDINGS, "{\"model\":\"m\",\"input\":[[1,2],[3]]}", NULL);
    s_expect (INGRESS_ROUTE_PULL, "{\"name\":\"m\",\"stream\":false,\"insecure\":false}", NULL);
    s_expect (INGRESS_ROUTE_SHOW, "{\"model\":\"m\",\"verbose\":\"anything\"}", NULL);
    s_expect (INGRESS_ROUTE_NONE, "{\"model\":\"m\"}", NULL);

    //  The field named, in every route kind that reads it
    for (int kind = 0; kind < INGRESS_ROUTE_KINDS; kind++) {
        s_expect ((ingress_route_kind_t) kind, "{\"model\":5}", "model: must be a string");
        s_expect ((ingress_route_kind_t) kind, "{\"model\":[\"m\"]}", "model: must be a string");
    }
    //  Each wrong type named (the route kind, the body, what the reason holds)
    static const struct {
        ingress_route_kind_t kind;
        const char *body;
        const char *expected;
    } wrong [] = {
        {INGRESS_ROUTE_SHOW, "{\"name\":{}}", "name: must be a string"},
        {INGRESS_ROUTE_PULL, "{\"model\":\"m\",\"stream\":\"no\"}",
         "stream: must be true or false"},
        {INGRESS_ROUTE_OPENAI_CHAT, "{\"model\":\"m\",\"stream\":1}", "stream: must be"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"options\":[1]}", "options: must be an object"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"options\":{\"temperature\":\"hot\"}}",
         "options.temperature: must be a number"},
        {INGRESS_ROUTE_GENERATE, "{\"model\":\"m\",\"options\":{\"stop\":[1]}}",
         "options.stop: must be a string or an array of strings"},
        {INGRESS_ROUTE_EMBED, "{\"model\":\"m\",\"keep_alive\":true}",
         "keep_alive: must be a string or a number"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"messages\":{}}", "messages: must be an array"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"},3]}",
         "messages[1]: must be an object"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":{}}]}",
         "messages[0].content: must be a string"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\","
         "\"images\":[5]}]}",
         "messages[0].images: must be an array"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
         "\"tool_calls\":[{\"function\":{\"name\":7}}]}]}",
         "messages[0].tool_calls[0].function.name: must be a string"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\","
         "\"tool_calls\":[\"f\"]}]}",
         "messages[0].tool_calls[0]: must be an object"},
        {INGRESS_ROUTE_OPENAI_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":1}]}",
         "messages[0].role: must be a string"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"format\":5}", "format: must be"},
        {INGRESS_ROUTE_CHAT, "{\"model\":\"m\",\"tools\":{}}", "tools: must be an array"},
        {INGRESS_ROUTE_GENERATE, "{\"model\":\"m\",\"think\":1}", "think: must be"},
        {INGRESS_ROUTE_GENERATE, "{\"model\":\"m\",\"prompt\":[\"p\"]}",
         "prompt: must be a string"},
        {INGRESS_ROUTE_GENERATE, "{\"model\":\"m\",\"system\":1}", "system: must be"},
        {INGRESS_ROUTE_GENERATE, "{\"model\":\"m\",\"raw\":\"yes\"}", "raw: must be"},
        {INGRESS_ROUTE_EMBED, "{\"model\":\"m\",\"input\":[\"a\",1]}", "input: must be"},
        {INGRESS_ROUTE_EMBED, "{\"model\":\"m\",\"dimensions\":1.5}",
         "dimensions: must be an integer"},
        {INGRESS_ROUTE_EMBEDDINGS, "{\"model\":\"m\",\"prompt\":{}}", "prompt: must be"},
        {INGRESS_ROUTE_OPENAI_COMPLETIONS, "{\"model\":\"m\",\"stream_options\":1}",
         "stream_options: must be an object"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong [0]; i++)
        s_expect (wrong [i].kind, wrong [i].body, wrong [i].expected);
    //  A field a route does not read is the backend's to judge
    s_expect (INGRESS_ROUTE_EMBED, "{\"model\":\"m\",\"messages\":5}", NULL);
    s_expect (INGRESS_ROUTE_OPENAI_CHAT, "{\"model\":\"m\",\"options\":5}", NULL);

    json_t *array = json_array ();
    char why [64];
    assert (!ingress_validate_body (INGRESS_ROUTE_CHAT, array, why, sizeof why));
    assert (strstr (why, "JSON object"));
    json_decref (array);
    if (verbose)
        printf ("OK\n");
}

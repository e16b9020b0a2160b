/*  =========================================================================
    ingress_translate - Ollama requests for OpenAI-format backends
    =========================================================================
*/

#include "ingress_translate.h"
#include <assert.h>
#include <czmq.h>
#include <string.h>

ingress_translate_kind_t
ingress_translate_kind (const char *path)
{
    if (streq (path, "/api/generate"))
        return INGRESS_TRANSLATE_GENERATE;
    if (streq (path, "/api/embed"))
        return INGRESS_TRANSLATE_EMBED;
    if (streq (path, "/api/embeddings"))
        return INGRESS_TRANSLATE_EMBEDDINGS;
    return INGRESS_TRANSLATE_CHAT;
}

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
    //  Types were checked before (ingress_validate); a pin of another type
    //  is passed on as it is
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

//  An Ollama image (base64, no type) as an OpenAI content part: a data URL,
//  its type read from the first bytes (what the backend decodes it by)
static json_t *
s_image_part (const char *base64)
{
    static const struct {
        const char *start;
        const char *type;
    } types [] = {
        {"iVBORw0KGgo", "image/png"}, {"/9j/", "image/jpeg"}, {"R0lGOD", "image/gif"},
        {"UklGR", "image/webp"}, {"Qk", "image/bmp"}
    };
    const char *type = "application/octet-stream";
    for (size_t t = 0; t < sizeof types / sizeof types [0]; t++)
        if (strncmp (base64, types [t].start, strlen (types [t].start)) == 0) {
            type = types [t].type;
            break;
        }
    char *url = zsys_sprintf ("data:%s;base64,%s", type, base64);
    json_t *part = json_pack ("{s:s, s:{s:s}}", "type", "image_url", "image_url", "url", url);
    zstr_free (&url);
    return part;
}

//  OpenAI's content for a text and Ollama's images: the text as it is when
//  there are none, else the text and the images as parts (new)
static json_t *
s_content (const char *text, json_t *images)
{
    if (json_array_size (images) == 0)
        return json_string (text ? text : "");
    json_t *parts = json_array ();
    if (text && *text)
        json_array_append_new (parts, json_pack ("{s:s, s:s}", "type", "text", "text", text));
    size_t index;
    json_t *image;
    json_array_foreach (images, index, image)
        if (json_is_string (image))
            json_array_append_new (parts, s_image_part (json_string_value (image)));
    return parts;
}

//  One Ollama chat message as OpenAI's
static json_t *
s_message (json_t *message, size_t index, bool images, char *error, size_t size)
{
    json_t *out = json_object ();
    const char *name;
    json_t *value;
    json_object_foreach (message, name, value) {
        if (json_is_null (value))
            continue;
        if (streq (name, "role"))
            json_object_set (out, name, value);
        else
        if (streq (name, "content")) {
            if (!json_array_size (json_object_get (message, "images")))
                json_object_set (out, name, value);
        }
        else
        if (streq (name, "images")) {
            if (json_array_size (value) > 0 && !images)
                s_refuse ("messages[%zu].images: this OpenAI-format backend is not known to "
                          "take images for this model (its ImageModels)", index);
            if (json_array_size (value) > 0) {
                json_t *content = json_object_get (message, "content");
                json_object_set_new (out, "content",
                                     s_content (json_string_value (content), value));
            }
        }
        else
        if (streq (name, "tool_name"))
            json_object_set (out, "name", value);
        else
        if (streq (name, "tool_calls")) {
            json_t *calls = json_array ();
            json_object_set_new (out, "tool_calls", calls);
            size_t at;
            json_t *call;
            json_array_foreach (value, at, call) {
                json_t *function = json_object_get (call, "function");
                const char *fname = json_string_value (json_object_get (function, "name"));
                if (!fname)
                    s_refuse ("messages[%zu].tool_calls[%zu].function.name: missing", index,
                              at);
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
ingress_translate_request (const char *path, json_t *body, bool images,
                           const char **openai_path, char *error, size_t size)
{
    ingress_translate_kind_t kind = ingress_translate_kind (path);
    json_t *out = json_object ();
    bool raw = json_is_true (json_object_get (body, "raw"));
    bool embeddings = kind == INGRESS_TRANSLATE_EMBED || kind == INGRESS_TRANSLATE_EMBEDDINGS;
    *openai_path = embeddings ? "/v1/embeddings"
                   : kind == INGRESS_TRANSLATE_GENERATE && raw ? "/v1/completions"
                   : "/v1/chat/completions";
    //  Ollama streams unless told not to. The fields' types were checked
    //  before the pins (ingress_validate): what is left here is what has no
    //  counterpart; a pin of another type is passed on as it is.
    bool streamed = !json_is_false (json_object_get (body, "stream"));
    const char *name;
    json_t *value;
    json_object_foreach (body, name, value) {
        if (json_is_null (value))
            continue;           //  absent, as Ollama reads it
        if (streq (name, "model"))
            json_object_set (out, "model", value);
        else
        if (streq (name, "stream") || streq (name, "keep_alive") || streq (name, "raw"))
            continue;           //  read above; keep_alive: these servers keep their model loaded
        else
        if (streq (name, "options")) {
            if (embeddings) {
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
        if (kind == INGRESS_TRANSLATE_CHAT && streq (name, "messages")) {
            json_t *messages = json_array ();
            json_object_set_new (out, "messages", messages);
            size_t index;
            json_t *message;
            json_array_foreach (value, index, message) {
                json_t *translated = s_message (message, index, images, error, size);
                if (!translated) {
                    json_decref (out);
                    return NULL;
                }
                json_array_append_new (messages, translated);
            }
        }
        else
        if (!embeddings && streq (name, "format")) {
            if (!s_map_format (value, out, error, size)) {
                json_decref (out);
                return NULL;
            }
        }
        else
        if (kind == INGRESS_TRANSLATE_CHAT && streq (name, "tools")) {
            if (json_array_size (value))
                json_object_set (out, "tools", value);
        }
        else
        if (!embeddings && streq (name, "think")) {
            if (!json_is_false (value) && !json_is_null (value))
                s_refuse ("think: has no counterpart on this frontend's OpenAI-format backends "
                          "(only false)");
        }
        else
        if (kind == INGRESS_TRANSLATE_GENERATE
            && (streq (name, "prompt") || streq (name, "system"))) {
            const char *text = json_string_value (value);
            if (raw && streq (name, "system") && text && *text)
                s_refuse ("system: has no counterpart with raw: true (/v1/completions)");
        }
        else
        if (kind == INGRESS_TRANSLATE_GENERATE && streq (name, "images")) {
            if (json_array_size (value) > 0 && !images)
                s_refuse ("images: this OpenAI-format backend is not known to take images "
                          "for this model (its ImageModels)");
            if (json_array_size (value) > 0 && raw)
                s_refuse ("images: have no counterpart with raw: true (/v1/completions)");
        }
        else
        if (kind == INGRESS_TRANSLATE_EMBED
            && (streq (name, "input") || streq (name, "dimensions")))
            json_object_set (out, name, value);
        else
        if (kind == INGRESS_TRANSLATE_EMBED && streq (name, "truncate")) {
            if (!json_is_true (value))
                s_refuse ("truncate: only true (the default) has a counterpart on "
                          "OpenAI-format backends");
        }
        else
        if (kind == INGRESS_TRANSLATE_EMBEDDINGS && streq (name, "prompt"))
            json_object_set (out, "input", value);
        else
            s_refuse ("%s: has no counterpart on this frontend's OpenAI-format backends", name);
    }
    if (kind == INGRESS_TRANSLATE_GENERATE) {
        const char *prompt = json_string_value (json_object_get (body, "prompt"));
        const char *system = json_string_value (json_object_get (body, "system"));
        if (raw)
            json_object_set_new (out, "prompt", json_string (prompt ? prompt : ""));
        else {
            json_t *messages = json_array ();
            if (system && *system)
                json_array_append_new (messages, json_pack ("{s:s, s:s}", "role", "system",
                                                            "content", system));
            json_array_append_new (messages,
                                   json_pack ("{s:s, s:o}", "role", "user", "content",
                                              s_content (prompt,
                                                         json_object_get (body, "images"))));
            json_object_set_new (out, "messages", messages);
        }
    }
    if (kind == INGRESS_TRANSLATE_CHAT && !json_object_get (out, "messages"))
        json_object_set_new (out, "messages", json_array ());
    if (kind == INGRESS_TRANSLATE_EMBED && !json_object_get (out, "input"))
        s_refuse ("input: missing");
    if (kind == INGRESS_TRANSLATE_EMBEDDINGS && !json_object_get (out, "input"))
        s_refuse ("prompt: missing");
    if (!embeddings && streamed) {
        json_object_set_new (out, "stream", json_true ());
        json_object_set_new (out, "stream_options", json_pack ("{s:b}", "include_usage", 1));
    }
    else
    if (!embeddings)
        json_object_set_new (out, "stream", json_false ());
    return out;
}

//  --------------------------------------------------------------------------
//  Self test

static json_t *
s_translated (const char *path, const char *body, char *error, const char **target)
{
    json_t *in = json_loads (body, 0, NULL);
    assert (in);
    json_t *out = ingress_translate_request (path, in, false, target, error, 256);
    json_decref (in);
    return out;
}

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

    //  A null is absent, as Ollama reads it (what the real clients send for unset fields)
    out = s_translated ("/api/chat", "{\"model\":\"m\",\"stream\":null,\"format\":null,"
                        "\"options\":null,\"keep_alive\":null,\"tools\":null,\"think\":null,"
                        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\",\"images\":null}]}",
                        error, &target);
    assert (out && json_is_true (json_object_get (out, "stream")));
    assert (!json_object_get (out, "response_format") && !json_object_get (out, "tools"));
    assert (json_object_size (json_array_get (json_object_get (out, "messages"), 0)) == 2);
    json_decref (out);
    //  A wrong type (only a pin can bring one here) is passed on, not a crash
    out = s_translated ("/api/generate", "{\"model\":5,\"stream\":\"yes\",\"raw\":true,"
                        "\"system\":7,\"options\":[1],\"prompt\":{}}", error, &target);
    assert (out && json_is_integer (json_object_get (out, "model")));
    json_decref (out);
    out = s_translated ("/api/chat", "{\"model\":\"m\",\"messages\":[3,{\"role\":1}],"
                        "\"tools\":{}}", error, &target);
    assert (out);
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

    //  Images, where the backend takes them: OpenAI content parts, data URLs
    json_t *in = json_loads ("{\"model\":\"m\",\"stream\":false,\"messages\":[{\"role\":"
                             "\"user\",\"images\":[\"iVBORw0KGgoAAAA\",\"/9j/AA\"],\"content\":"
                             "\"what?\"}]}", 0, NULL);
    out = ingress_translate_request ("/api/chat", in, true, &target, error, sizeof error);
    json_decref (in);
    json_t *parts = json_object_get (json_array_get (json_object_get (out, "messages"), 0),
                                     "content");
    assert (json_array_size (parts) == 3);
    assert (streq (json_string_value (json_object_get (json_array_get (parts, 0), "text")),
                   "what?"));
    assert (streq (json_string_value (json_object_get (json_object_get (
                       json_array_get (parts, 1), "image_url"), "url")),
                   "data:image/png;base64,iVBORw0KGgoAAAA"));
    assert (strncmp (json_string_value (json_object_get (json_object_get (
                         json_array_get (parts, 2), "image_url"), "url")),
                     "data:image/jpeg;", 16) == 0);
    json_decref (out);
    in = json_loads ("{\"model\":\"m\",\"prompt\":\"p\",\"images\":[\"R0lGODlh\"]}", 0, NULL);
    out = ingress_translate_request ("/api/generate", in, true, &target, error, sizeof error);
    parts = json_object_get (json_array_get (json_object_get (out, "messages"), 0), "content");
    assert (json_array_size (parts) == 2);
    json_decref (out);
    json_object_set_new (in, "raw", json_true ());
    assert (!ingress_translate_request ("/api/generate", in, true, &target, error, sizeof error));
    assert (strstr (error, "images") && strstr (error, "raw"));
    json_decref (in);

    if (verbose)
        printf ("OK\n");
}

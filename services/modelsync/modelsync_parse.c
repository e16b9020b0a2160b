/*  =========================================================================
    modelsync_parse - what backends answer, turned into models.md records
    =========================================================================
*/

#include "modelsync_parse.h"
#include <ctype.h>

//  Details keys other than the known ones are passed through when they are
//  scalars; at most this many, with names of at most S_KEY_MAX bytes
#define S_EXTRA_DETAILS_MAX 32
#define S_KEY_MAX           64
#define S_EXTRA_STRING_MAX  1024

//  Ollama's details keys and ours
static const char *const s_detail_names [][2] = {
    {"format", "Format"}, {"family", "Family"}, {"parameter_size", "ParameterSize"},
    {"quantization_level", "QuantizationLevel"}, {"parent_model", "ParentModel"},
    {NULL, NULL}
};

//  Parses a JSON object body; NULL with the reason
static json_t *
s_object (const char *body, size_t size, const char *what, char *error, size_t error_size)
{
    json_error_t parse;
    json_t *root = json_loadb (body, size, JSON_REJECT_DUPLICATES, &parse);
    if (!root)
        snprintf (error, error_size, "%s: invalid JSON: %s", what, parse.text);
    else if (!json_is_object (root)) {
        snprintf (error, error_size, "%s: not a JSON object", what);
        json_decref (root);
        root = NULL;
    }
    return root;
}

//  The array under key (null or absent: empty); NULL with the reason
static json_t *
s_list (json_t *root, const char *key, size_t max, const char *what, char *error,
        size_t error_size)
{
    json_t *list = json_object_get (root, key);
    if (!list || json_is_null (list))
        return json_array ();
    if (!json_is_array (list)) {
        snprintf (error, error_size, "%s: \"%s\" is not an array", what, key);
        return NULL;
    }
    if (json_array_size (list) > max) {
        snprintf (error, error_size, "%s: more than %zu entries", what, max);
        return NULL;
    }
    return json_incref (list);
}

//  The string value if it is one of 1..max bytes (or 0..max with empty_ok)
static const char *
s_string (json_t *object, const char *key, size_t max, bool empty_ok)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_string (value))
        return NULL;
    size_t length = json_string_length (value);
    if (length > max || (length == 0 && !empty_ok))
        return NULL;
    return json_string_value (value);
}

//  Copies object[key] as a string into record[name] when it is a valid one
static void
s_copy_string (json_t *record, const char *name, json_t *object, const char *key, size_t max)
{
    const char *value = s_string (object, key, max, true);
    if (value)
        json_object_set_new (record, name, json_string (value));
}

//  Copies object[key] as an integer >= 0 into record[name] when it is one
static void
s_copy_size (json_t *record, const char *name, json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    if (json_is_integer (value) && json_integer_value (value) >= 0)
        json_object_set_new (record, name, json_integer (json_integer_value (value)));
}

//  "context_length" -> "ContextLength"
static void
s_pascal_case (char *dest, size_t size, const char *name)
{
    size_t length = 0;
    bool upper = true;
    for (const char *c = name; *c && length + 1 < size; c++) {
        if (*c == '_') {
            upper = true;
            continue;
        }
        dest [length++] = upper ? (char) toupper ((unsigned char) *c) : *c;
        upper = false;
    }
    dest [length] = 0;
}

static bool
s_known_detail (const char *key)
{
    for (size_t index = 0; s_detail_names [index][0]; index++)
        if (streq (s_detail_names [index][0], key))
            return true;
    return streq (key, "families");
}

//  Ollama's details in PascalCase: the known keys checked, other scalars
//  passed through (bounded)
static json_t *
s_details (json_t *details)
{
    json_t *record = json_object ();
    if (!json_is_object (details))
        return record;
    for (size_t index = 0; s_detail_names [index][0]; index++)
        s_copy_string (record, s_detail_names [index][1], details, s_detail_names [index][0],
                       OFP_MODELS_DETAIL_MAX);
    json_t *families = json_object_get (details, "families");
    if (json_is_array (families) && json_array_size (families) <= OFP_MODELS_FAMILIES_MAX) {
        json_t *copy = json_array ();
        size_t index;
        json_t *family;
        json_array_foreach (families, index, family)
            if (json_is_string (family) && json_string_length (family) <= OFP_MODELS_DETAIL_MAX)
                json_array_append (copy, family);
        json_object_set_new (record, "Families", copy);
    }
    size_t extra = 0;
    const char *key;
    json_t *value;
    json_object_foreach (details, key, value) {
        if (s_known_detail (key) || strlen (key) >= S_KEY_MAX || extra >= S_EXTRA_DETAILS_MAX)
            continue;
        bool scalar = json_is_number (value) || json_is_boolean (value)
                      || (json_is_string (value) && json_string_length (value) <= S_EXTRA_STRING_MAX);
        char name [S_KEY_MAX];
        s_pascal_case (name, sizeof name, key);
        if (scalar && *name && !json_object_get (record, name)) {
            json_object_set (record, name, value);
            extra++;
        }
    }
    return record;
}

//  One /api/tags entry as a Model record, or NULL if it has no usable name
static json_t *
s_tags_model (json_t *entry)
{
    const char *name = s_string (entry, "name", OFP_MODELS_NAME_MAX, false);
    if (!name)
        name = s_string (entry, "model", OFP_MODELS_NAME_MAX, false);
    if (!name)
        return NULL;
    const char *model = s_string (entry, "model", OFP_MODELS_NAME_MAX, true);
    json_t *record = json_pack ("{s:s, s:s}", "Name", name, "Model", model ? model : name);
    s_copy_string (record, "Digest", entry, "digest", OFP_MODELS_DIGEST_MAX);
    s_copy_size (record, "Size", entry, "size");
    s_copy_string (record, "ModifiedAt", entry, "modified_at", OFP_MODELS_TIME_MAX);
    json_object_set_new (record, "Details", s_details (json_object_get (entry, "details")));
    return record;
}

//  One /api/ps entry as a Loaded record, or NULL
static json_t *
s_ps_model (json_t *entry)
{
    const char *name = s_string (entry, "name", OFP_MODELS_NAME_MAX, false);
    if (!name)
        name = s_string (entry, "model", OFP_MODELS_NAME_MAX, false);
    if (!name)
        return NULL;
    json_t *record = json_pack ("{s:s}", "Name", name);
    s_copy_string (record, "ExpiresAt", entry, "expires_at", OFP_MODELS_TIME_MAX);
    s_copy_size (record, "SizeVram", entry, "size_vram");
    return record;
}

//  One /v1/models entry as a Model record, or NULL
static json_t *
s_openai_model (json_t *entry)
{
    const char *id = s_string (entry, "id", OFP_MODELS_NAME_MAX, false);
    if (!id)
        return NULL;
    json_t *record = json_pack ("{s:s, s:s, s:{}}", "Name", id, "Model", id, "Details");
    json_t *created = json_object_get (entry, "created");
    if (json_is_integer (created) && json_integer_value (created) >= 0
        && json_integer_value (created) < INT32_MAX) {
        char text [OFP_TIMESTAMP_LENGTH + 1];
        of_schema_time (json_integer_value (created) * 1000, text, sizeof text);
        json_object_set_new (record, "ModifiedAt", json_string (text));
    }
    return record;
}

typedef json_t *(s_entry_fn) (json_t *entry);

//  The records made from body[key] by fn; NULL with the reason
static json_t *
s_records (const char *body, size_t size, const char *what, const char *key, size_t max,
           s_entry_fn *fn, char *error, size_t error_size)
{
    json_t *root = s_object (body, size, what, error, error_size);
    json_t *list = root ? s_list (root, key, max, what, error, error_size) : NULL;
    json_t *records = NULL;
    if (list) {
        records = json_array ();
        size_t index;
        json_t *entry;
        json_array_foreach (list, index, entry) {
            json_t *record = json_is_object (entry) ? fn (entry) : NULL;
            if (record)
                json_array_append_new (records, record);
        }
    }
    json_decref (list);
    json_decref (root);
    return records;
}

json_t *
modelsync_parse_tags (const char *body, size_t size, char *error, size_t error_size)
{
    return s_records (body, size, "/api/tags", "models", OFP_MODELS_MODELS_MAX, s_tags_model,
                      error, error_size);
}

json_t *
modelsync_parse_ps (const char *body, size_t size, char *error, size_t error_size)
{
    return s_records (body, size, "/api/ps", "models", OFP_MODELS_LOADED_MAX, s_ps_model, error,
                      error_size);
}

json_t *
modelsync_parse_openai (const char *body, size_t size, char *error, size_t error_size)
{
    return s_records (body, size, "/v1/models", "data", OFP_MODELS_MODELS_MAX, s_openai_model,
                      error, error_size);
}

modelsync_line_t
modelsync_parse_progress (const char *line, size_t size, json_t *pull, char *error,
                          size_t error_size)
{
    assert (line && pull && error);
    json_t *root = s_object (line, size, "pull progress", error, error_size);
    if (!root)
        return MODELSYNC_LINE_BAD;
    modelsync_line_t verdict = MODELSYNC_LINE_PROGRESS;
    json_t *failure = json_object_get (root, "error");
    const char *status = s_string (root, "status", OFP_MODELS_STATUS_MAX, true);
    if (failure) {
        snprintf (error, error_size, "%.*s", OFP_MODELS_ERROR_MAX,
                  json_is_string (failure) ? json_string_value (failure) : "error");
        verdict = MODELSYNC_LINE_ERROR;
    }
    else if (!status) {
        snprintf (error, error_size, "pull progress: no status");
        verdict = MODELSYNC_LINE_BAD;
    }
    else {
        //  A new status starts afresh: digest and sizes belong to one layer
        if (!json_equal (json_object_get (pull, "Status"), json_object_get (root, "status"))) {
            json_object_del (pull, "Digest");
            json_object_del (pull, "Completed");
            json_object_del (pull, "Total");
        }
        json_object_set_new (pull, "Status", json_string (status));
        s_copy_string (pull, "Digest", root, "digest", OFP_MODELS_DIGEST_MAX);
        s_copy_size (pull, "Completed", root, "completed");
        s_copy_size (pull, "Total", root, "total");
    }
    json_decref (root);
    return verdict;
}

//  --------------------------------------------------------------------------
//  Self test

static json_t *
s_test_parse (json_t *(*fn) (const char *, size_t, char *, size_t), const char *body,
              const char *fragment)
{
    char error [MODELSYNC_PARSE_ERROR_MAX] = "";
    json_t *records = fn (body, strlen (body), error, sizeof error);
    if (fragment) {
        assert (!records);
        assert (strstr (error, fragment));
    }
    else
        assert (records && json_is_array (records));
    return records;
}

void
modelsync_parse_test (bool verbose)
{
    printf (" * modelsync_parse: ");
    if (verbose)
        printf ("\n");

    //  /api/tags as Ollama writes it, with newer keys in details
    json_t *models = s_test_parse (modelsync_parse_tags,
        "{\"models\":[{\"name\":\"llama3.2:latest\",\"model\":\"llama3.2:latest\","
        "\"modified_at\":\"2025-05-04T17:37:44.706015396-07:00\",\"size\":2019393189,"
        "\"digest\":\"a80c4f17\",\"details\":{\"parent_model\":\"\",\"format\":\"gguf\","
        "\"family\":\"llama\",\"families\":[\"llama\"],\"parameter_size\":\"3.2B\","
        "\"quantization_level\":\"Q4_K_M\",\"context_length\":131072,\"nested\":{\"a\":1}}},"
        "{\"name\":\"\"},{\"size\":5},7,{\"name\":\"qwen\",\"size\":-1,\"digest\":42,"
        "\"details\":\"x\"}]}", NULL);
    assert (json_array_size (models) == 2);
    json_t *model = json_array_get (models, 0);
    assert (streq (json_string_value (json_object_get (model, "Name")), "llama3.2:latest"));
    assert (json_integer_value (json_object_get (model, "Size")) == 2019393189);
    json_t *details = json_object_get (model, "Details");
    assert (streq (json_string_value (json_object_get (details, "QuantizationLevel")), "Q4_K_M"));
    assert (json_integer_value (json_object_get (details, "ContextLength")) == 131072);
    assert (!json_object_get (details, "Nested"));
    assert (json_array_size (json_object_get (details, "Families")) == 1);
    model = json_array_get (models, 1);
    assert (!json_object_get (model, "Size") && !json_object_get (model, "Digest"));
    assert (json_object_size (json_object_get (model, "Details")) == 0);
    //  What the parser builds is what the codec accepts
    json_t *body = json_pack ("{s:s, s:i, s:s, s:s, s:O, s:[]}", "Epoch", "0123456789abcdef",
                              "Sequence", 1, "Backend", "b1", "ApiFormat", "Ollama", "Models",
                              models, "Loaded");
    char *text = json_dumps (body, JSON_COMPACT);
    ofp_msg_expect (&ofp_models_protocol, OFP_MODELS_SIGNATURE, "INVENTORY", NULL, text, NULL,
                    verbose);
    free (text);
    json_decref (body);
    json_decref (models);

    json_decref (s_test_parse (modelsync_parse_tags, "{\"models\":null}", NULL));
    s_test_parse (modelsync_parse_tags, "{\"models\":[", "invalid JSON");
    s_test_parse (modelsync_parse_tags, "[]", "not a JSON object");
    s_test_parse (modelsync_parse_tags, "{\"models\":{}}", "not an array");
    s_test_parse (modelsync_parse_tags, "", "invalid JSON");
    //  More models than a record may hold
    size_t many = OFP_MODELS_MODELS_MAX + 1;
    char *big = (char *) malloc (many * 11 + 32);
    char *cursor = big + sprintf (big, "{\"models\":[");
    for (size_t index = 0; index < many; index++)
        cursor += sprintf (cursor, "%s{\"name\":1}", index ? "," : "");
    sprintf (cursor, "]}");
    s_test_parse (modelsync_parse_tags, big, "more than 4096");
    free (big);

    //  /api/ps
    json_t *loaded = s_test_parse (modelsync_parse_ps,
        "{\"models\":[{\"name\":\"llama3.2:latest\",\"expires_at\":\"2025-05-04T18:00:00Z\","
        "\"size_vram\":123},{\"model\":\"x:1\",\"size_vram\":\"big\"}]}", NULL);
    assert (json_array_size (loaded) == 2);
    assert (json_integer_value (json_object_get (json_array_get (loaded, 0), "SizeVram")) == 123);
    assert (!json_object_get (json_array_get (loaded, 1), "SizeVram"));
    json_decref (loaded);

    //  /v1/models, including Ollama's null data
    models = s_test_parse (modelsync_parse_openai,
        "{\"object\":\"list\",\"data\":[{\"id\":\"qwen2.5:7b\",\"object\":\"model\","
        "\"created\":1700000000,\"owned_by\":\"library\"},{\"id\":5}]}", NULL);
    assert (json_array_size (models) == 1);
    assert (streq (json_string_value (json_object_get (json_array_get (models, 0), "ModifiedAt")),
                   "2023-11-14T22:13:20.000000Z"));
    json_decref (models);
    models = s_test_parse (modelsync_parse_openai, "{\"object\":\"list\",\"data\":null}", NULL);
    assert (json_array_size (models) == 0);
    json_decref (models);

    //  Progress lines
    json_t *pull = json_pack ("{s:s, s:s, s:b}", "Backend", "b1", "Model", "m", "Done", 0);
    char error [MODELSYNC_PARSE_ERROR_MAX];
    const char *line = "{\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"sha256:6a07\","
                       "\"total\":100,\"completed\":40}";
    assert (modelsync_parse_progress (line, strlen (line), pull, error, sizeof error)
            == MODELSYNC_LINE_PROGRESS);
    assert (json_integer_value (json_object_get (pull, "Completed")) == 40);
    line = "{\"status\":\"verifying sha256 digest\"}";
    assert (modelsync_parse_progress (line, strlen (line), pull, error, sizeof error)
            == MODELSYNC_LINE_PROGRESS);
    assert (!json_object_get (pull, "Completed") && !json_object_get (pull, "Digest"));
    line = "{\"error\":\"pull model manifest: file does not exist\"}";
    assert (modelsync_parse_progress (line, strlen (line), pull, error, sizeof error)
            == MODELSYNC_LINE_ERROR);
    assert (streq (error, "pull model manifest: file does not exist"));
    line = "{\"stat";
    assert (modelsync_parse_progress (line, strlen (line), pull, error, sizeof error)
            == MODELSYNC_LINE_BAD);
    line = "{\"total\":5}";
    assert (modelsync_parse_progress (line, strlen (line), pull, error, sizeof error)
            == MODELSYNC_LINE_BAD);
    json_decref (pull);
    printf ("OK\n");
}

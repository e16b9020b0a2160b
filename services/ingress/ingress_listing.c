/*  =========================================================================
    ingress_listing - the fleet's models as one Ollama would list them
    =========================================================================
*/

#include "ingress_listing.h"
#include <ctype.h>
#include <time.h>

#define S_DETAIL_KEY_MAX 64
#define S_OWNER_DEFAULT "library"

//  --------------------------------------------------------------------------
//  Names and times

bool
ingress_listing_same_model (const char *a, const char *b)
{
    if (!a || !b)
        return false;
    char key_a [OFP_MODELS_KEY_MAX], key_b [OFP_MODELS_KEY_MAX];
    ofp_models_key (key_a, a);
    ofp_models_key (key_b, b);
    return streq (key_a, key_b);
}

int64_t
ingress_listing_unix_time (const char *text)
{
    int year, month, day, hour, minute, second, consumed = 0;
    if (!text
        || sscanf (text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                   &second, &consumed) != 6)
        return 0;
    const char *rest = text + consumed;
    if (*rest == '.')
        for (rest++; isdigit ((unsigned char) *rest); rest++)
            ;
    int offset = 0;
    if (*rest == '+' || *rest == '-') {
        int hours, minutes;
        if (sscanf (rest + 1, "%2d:%2d", &hours, &minutes) != 2)
            return 0;
        offset = (hours * 60 + minutes) * 60 * (*rest == '-' ? -1 : 1);
    }
    else if (*rest != 'Z' && *rest != 'z')
        return 0;
    struct tm utc = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
                     .tm_hour = hour, .tm_min = minute, .tm_sec = second};
    return (int64_t) timegm (&utc) - offset;
}

//  OpenAI's owned_by, as Ollama says it: the namespace ("library" by default)
static void
s_owner (const char *name, char *owner, size_t size)
{
    const char *last = strrchr (name, '/');
    if (!last) {
        snprintf (owner, size, "%s", S_OWNER_DEFAULT);
        return;
    }
    const char *start = last;
    while (start > name && start [-1] != '/')
        start--;
    snprintf (owner, size, "%.*s", (int) (last - start), start);
}

//  --------------------------------------------------------------------------
//  Ollama's shapes

//  "QuantizationLevel" -> "quantization_level"
static void
s_snake_case (const char *name, char *out, size_t size)
{
    size_t used = 0;
    for (const char *c = name; *c && used + 2 < size; c++) {
        if (isupper ((unsigned char) *c) && c != name)
            out [used++] = '_';
        out [used++] = (char) tolower ((unsigned char) *c);
    }
    out [used] = 0;
}

static json_t *
s_details (json_t *details)
{
    json_t *result = json_object ();
    const char *name;
    json_t *value;
    json_object_foreach (details, name, value) {
        char key [S_DETAIL_KEY_MAX];
        s_snake_case (name, key, sizeof key);
        if (!json_is_null (value))
            json_object_set (result, key, value);
    }
    return result;
}

static const char *
s_string (json_t *record, const char *name)
{
    const char *value = json_string_value (json_object_get (record, name));
    return value ? value : "";
}

static json_int_t
s_integer (json_t *record, const char *name)
{
    return json_integer_value (json_object_get (record, name));
}

//  One /api/tags entry from a Model record
static json_t *
s_tag (json_t *model)
{
    const char *name = s_string (model, "Name");
    const char *as_model = s_string (model, "Model");
    return json_pack ("{s:s, s:s, s:s, s:I, s:s, s:o}", "name", name, "model",
                      *as_model ? as_model : name, "modified_at", s_string (model, "ModifiedAt"),
                      "size", s_integer (model, "Size"), "digest", s_string (model, "Digest"),
                      "details", s_details (json_object_get (model, "Details")));
}

//  The key that de-duplicates: the model as the scheduler routes it
//  (ofp_models_key: any case, "llama3" is "llama3:latest"), so a name held
//  with different digests on two backends is one entry
static void
s_key (json_t *model, char *key)
{
    ofp_models_key (key, s_string (model, "Name"));
}

static int
s_compare_names (const void *a, const void *b)
{
    json_t *left = *(json_t *const *) a, *right = *(json_t *const *) b;
    int order = strcasecmp (s_string (left, "name"), s_string (right, "name"));
    return order ? order : strcmp (s_string (left, "digest"), s_string (right, "digest"));
}

//  Longest expiry first, as Ollama sorts /api/ps
static int
s_compare_expiry (const void *a, const void *b)
{
    json_t *left = *(json_t *const *) a, *right = *(json_t *const *) b;
    int order = strcmp (s_string (right, "expires_at"), s_string (left, "expires_at"));
    return order ? order : s_compare_names (a, b);
}

//  The values of an object (Key -> entry) as an array, sorted
static json_t *
s_sorted (json_t *entries, int (*compare) (const void *, const void *))
{
    size_t count = json_object_size (entries);
    json_t **items = (json_t **) calloc (count ? count : 1, sizeof (json_t *));
    size_t used = 0;
    const char *key;
    json_t *entry;
    json_object_foreach (entries, key, entry)
        items [used++] = entry;
    qsort (items, used, sizeof (json_t *), compare);
    json_t *array = json_array ();
    for (size_t i = 0; i < used; i++)
        json_array_append (array, items [i]);
    free (items);
    return array;
}

//  The record of the model in the inventory's list ("Models" or "Loaded"),
//  or NULL
static json_t *
s_find (json_t *inventory, const char *list, const char *name)
{
    size_t index;
    json_t *record;
    json_array_foreach (json_object_get (inventory, list), index, record)
        if (ingress_listing_same_model (s_string (record, "Name"), name))
            return record;
    return NULL;
}

//  The models of the inventories (of every format: Ollama's routes reach
//  OpenAI-format backends through translation), one entry (made by entry)
//  per model: the record of a backend that has it loaded, else the most
//  recently modified (the first of equals), sorted
static json_t *
s_union (json_t *inventories, json_t *(*entry) (json_t *),
         int (*compare) (const void *, const void *))
{
    json_t *chosen = json_object ();    //  key -> [model record, loaded]
    size_t index, at;
    json_t *inventory, *model;
    json_array_foreach (inventories, index, inventory)
        json_array_foreach (json_object_get (inventory, "Models"), at, model) {
            char key [OFP_MODELS_KEY_MAX];
            s_key (model, key);
            bool loaded = s_find (inventory, "Loaded", s_string (model, "Name")) != NULL;
            json_t *held = json_object_get (chosen, key);
            if (held) {
                json_t *held_model = json_array_get (held, 0);
                bool held_loaded = json_is_true (json_array_get (held, 1));
                if (loaded != held_loaded ? !loaded
                    : ingress_listing_unix_time (s_string (model, "ModifiedAt"))
                      <= ingress_listing_unix_time (s_string (held_model, "ModifiedAt")))
                    continue;
            }
            json_object_set_new (chosen, key, json_pack ("[O, b]", model, loaded));
        }
    json_t *entries = json_object ();
    const char *key;
    json_t *held;
    json_object_foreach (chosen, key, held)
        json_object_set_new (entries, key, entry (json_array_get (held, 0)));
    json_decref (chosen);
    json_t *sorted = s_sorted (entries, compare);
    json_decref (entries);
    return sorted;
}

json_t *
ingress_listing_tags (json_t *inventories)
{
    return json_pack ("{s:o}", "models",
                      s_union (inventories, s_tag, s_compare_names));
}

json_t *
ingress_listing_ps (json_t *inventories)
{
    json_t *entries = json_object ();
    size_t index, at;
    json_t *inventory, *loaded;
    json_array_foreach (inventories, index, inventory)
        json_array_foreach (json_object_get (inventory, "Loaded"), at, loaded) {
            const char *name = s_string (loaded, "Name");
            json_t *model = s_find (inventory, "Models", name);
            json_t *entry = model ? s_tag (model)
                                  : json_pack ("{s:s, s:s, s:I, s:s, s:{}}", "name", name,
                                               "model", name, "size", (json_int_t) 0, "digest",
                                               "", "details");
            json_object_del (entry, "modified_at");
            json_object_set_new (entry, "expires_at",
                                 json_string (s_string (loaded, "ExpiresAt")));
            json_object_set_new (entry, "size_vram",
                                 json_integer (s_integer (loaded, "SizeVram")));
            char key [OFP_MODELS_KEY_MAX];
            s_key (model ? model : loaded, key);
            //  Loaded on several backends: one entry, the latest expiry, the largest VRAM
            json_t *seen = json_object_get (entries, key);
            if (seen) {
                if (strcmp (s_string (entry, "expires_at"), s_string (seen, "expires_at")) > 0)
                    json_object_set (seen, "expires_at", json_object_get (entry, "expires_at"));
                if (s_integer (entry, "size_vram") > s_integer (seen, "size_vram"))
                    json_object_set (seen, "size_vram", json_object_get (entry, "size_vram"));
                json_decref (entry);
            }
            else
                json_object_set_new (entries, key, entry);
        }
    json_t *body = json_pack ("{s:o}", "models", s_sorted (entries, s_compare_expiry));
    json_decref (entries);
    return body;
}

//  --------------------------------------------------------------------------
//  OpenAI's shapes

static json_t *
s_openai_model (const char *id, json_t *model)
{
    char owner [OFP_MODELS_NAME_MAX + 1];
    s_owner (s_string (model, "Name"), owner, sizeof owner);
    return json_pack ("{s:s, s:s, s:I, s:s}", "id", id, "object", "model", "created",
                      (json_int_t) ingress_listing_unix_time (s_string (model, "ModifiedAt")),
                      "owned_by", owner);
}

static json_t *
s_openai_entry (json_t *model)
{
    return s_openai_model (s_string (model, "Name"), model);
}

static int
s_compare_ids (const void *a, const void *b)
{
    json_t *left = *(json_t *const *) a, *right = *(json_t *const *) b;
    return strcasecmp (s_string (left, "id"), s_string (right, "id"));
}

json_t *
ingress_listing_openai (json_t *inventories)
{
    //  An empty list is [] (Ollama says null, which some clients cannot page through)
    return json_pack ("{s:s, s:o}", "object", "list", "data",
                      s_union (inventories, s_openai_entry, s_compare_ids));
}

//  The Model record of the first inventory that has the model, or NULL
static json_t *
s_find_any (json_t *inventories, const char *name)
{
    size_t index;
    json_t *inventory;
    json_array_foreach (inventories, index, inventory) {
        json_t *model = s_find (inventory, "Models", name);
        if (model)
            return model;
    }
    return NULL;
}

json_t *
ingress_listing_openai_model (json_t *inventories, const char *id)
{
    json_t *model = s_find_any (inventories, id);
    return model ? s_openai_model (id, model) : NULL;
}

json_t *
ingress_listing_show (json_t *inventories, const char *name)
{
    json_t *model = s_find_any (inventories, name);
    if (!model)
        return NULL;
    //  What an OpenAI listing says: the name, when, the details it has;
    //  what only Ollama knows is empty and named in "unknown"
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:o, s:{}, s:[], s:[ssssss]}", "modelfile", "",
                      "parameters", "", "template", "", "license", "", "modified_at",
                      s_string (model, "ModifiedAt"), "details",
                      s_details (json_object_get (model, "Details")), "model_info",
                      "capabilities", "unknown", "modelfile", "parameters", "template",
                      "license", "model_info", "capabilities");
}

//  --------------------------------------------------------------------------
//  Self test

static json_t *
s_test_inventories (void)
{
    const char *text =
        "[{\"Backend\":\"a\",\"ApiFormat\":\"Ollama\",\"Models\":["
        "  {\"Name\":\"llama3.2:latest\",\"Model\":\"llama3.2:latest\",\"Digest\":\"d1\","
        "   \"Size\":100,\"ModifiedAt\":\"2025-05-04T17:37:44.706015396-07:00\","
        "   \"Details\":{\"Family\":\"llama\",\"QuantizationLevel\":\"Q4_K_M\","
        "   \"Families\":[\"llama\"]}},"
        "  {\"Name\":\"all-minilm:latest\",\"Model\":\"all-minilm:latest\",\"Digest\":\"d2\","
        "   \"Details\":{}}],"
        " \"Loaded\":[{\"Name\":\"llama3.2:latest\",\"ExpiresAt\":\"2026-01-01T00:05:00Z\","
        "   \"SizeVram\":100}]},"
        " {\"Backend\":\"b\",\"ApiFormat\":\"Ollama\",\"Models\":["
        "  {\"Name\":\"llama3.2:latest\",\"Model\":\"llama3.2:latest\",\"Digest\":\"d1\","
        "   \"Details\":{}},"
        "  {\"Name\":\"Qwen/qwen2.5:7b\",\"Model\":\"\",\"Digest\":\"d3\",\"Details\":{}}],"
        " \"Loaded\":[{\"Name\":\"llama3.2:latest\",\"ExpiresAt\":\"2026-01-01T00:09:00Z\","
        "   \"SizeVram\":90},"
        "   {\"Name\":\"qwen/qwen2.5:7b\",\"ExpiresAt\":\"2026-01-01T00:01:00Z\"}]},"
        " {\"Backend\":\"v\",\"ApiFormat\":\"OpenAI\",\"Models\":["
        "  {\"Name\":\"mistral-7b\",\"Model\":\"mistral-7b\","
        "   \"ModifiedAt\":\"2025-01-01T00:00:00Z\","
        "   \"Details\":{}}],\"Loaded\":[]}]";
    json_error_t error;
    json_t *inventories = json_loads (text, 0, &error);
    assert (inventories);
    return inventories;
}

void
ingress_listing_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_listing: ");
    assert (ingress_listing_same_model ("llama3", "llama3:latest"));
    assert (ingress_listing_same_model ("LLaMA3:Latest", "llama3"));
    assert (ingress_listing_same_model ("ns/m", "ns/m:latest"));
    assert (!ingress_listing_same_model ("llama3", "llama3:8b"));
    assert (!ingress_listing_same_model ("llama3:8b", "llama3:8b:latest"));
    assert (!ingress_listing_same_model ("llama", "llama3"));
    assert (!ingress_listing_same_model (NULL, "x"));
    assert (ingress_listing_unix_time ("1970-01-01T00:00:10Z") == 10);
    assert (ingress_listing_unix_time ("1970-01-01T01:00:10.123456789+01:00") == 10);
    assert (ingress_listing_unix_time ("2025-05-04T17:37:44.706015396-07:00") == 1746405464);
    assert (ingress_listing_unix_time ("yesterday") == 0);
    assert (ingress_listing_unix_time ("1970-01-01T00:00:10") == 0);

    json_t *inventories = s_test_inventories ();
    //  tags: every backend (Ollama's routes reach OpenAI-format ones through
    //  translation), one entry per name, Ollama's field names
    json_t *tags = ingress_listing_tags (inventories);
    json_t *models = json_object_get (tags, "models");
    assert (json_array_size (models) == 4);
    assert (streq (s_string (json_array_get (models, 2), "name"), "mistral-7b"));
    json_t *first = json_array_get (models, 0);
    assert (streq (s_string (first, "name"), "all-minilm:latest"));
    json_t *llama = json_array_get (models, 1);
    assert (streq (s_string (llama, "name"), "llama3.2:latest"));
    assert (s_integer (llama, "size") == 100);
    json_t *details = json_object_get (llama, "details");
    assert (streq (s_string (details, "quantization_level"), "Q4_K_M"));
    assert (json_array_size (json_object_get (details, "families")) == 1);
    json_t *qwen = json_array_get (models, 3);
    assert (streq (s_string (qwen, "model"), "Qwen/qwen2.5:7b"));
    json_decref (tags);

    //  ps: one entry per model, the latest expiry first, joined with its model
    json_t *ps = ingress_listing_ps (inventories);
    models = json_object_get (ps, "models");
    assert (json_array_size (models) == 2);
    first = json_array_get (models, 0);
    assert (streq (s_string (first, "name"), "llama3.2:latest"));
    assert (streq (s_string (first, "expires_at"), "2026-01-01T00:09:00Z"));
    assert (s_integer (first, "size_vram") == 100 && streq (s_string (first, "digest"), "d1"));
    assert (!json_object_get (first, "modified_at"));
    json_decref (ps);

    //  OpenAI: every backend, by id, with the namespace as owner
    json_t *list = ingress_listing_openai (inventories);
    json_t *data = json_object_get (list, "data");
    assert (streq (s_string (list, "object"), "list") && json_array_size (data) == 4);
    assert (streq (s_string (json_array_get (data, 2), "id"), "mistral-7b"));
    assert (s_integer (json_array_get (data, 2), "created") == 1735689600);
    assert (streq (s_string (json_array_get (data, 3), "owned_by"), "Qwen"));
    assert (streq (s_string (json_array_get (data, 0), "owned_by"), "library"));
    json_decref (list);
    json_t *shown = ingress_listing_show (inventories, "mistral-7b");
    assert (shown && json_array_size (json_object_get (shown, "unknown")) == 6);
    assert (streq (s_string (shown, "modified_at"), "2025-01-01T00:00:00Z"));
    json_decref (shown);
    assert (!ingress_listing_show (inventories, "nothing"));
    json_t *one = ingress_listing_openai_model (inventories, "llama3.2");
    assert (one && streq (s_string (one, "id"), "llama3.2") && s_integer (one, "created") > 0);
    json_decref (one);
    assert (!ingress_listing_openai_model (inventories, "llama3.2:70b"));

    //  One name with two digests (one backend updated): listed once, from
    //  the backend that has it loaded, else the most recently modified
    const char *drift_text =
        "[{\"Backend\":\"a\",\"ApiFormat\":\"Ollama\",\"Models\":["
        "  {\"Name\":\"llama3:latest\",\"Digest\":\"old\",\"Size\":1,"
        "   \"ModifiedAt\":\"2025-01-01T00:00:00Z\",\"Details\":{}}],\"Loaded\":[]},"
        " {\"Backend\":\"b\",\"ApiFormat\":\"Ollama\",\"Models\":["
        "  {\"Name\":\"LLaMA3\",\"Digest\":\"new\",\"Size\":2,"
        "   \"ModifiedAt\":\"2025-06-01T00:00:00Z\",\"Details\":{}}],\"Loaded\":[]},"
        " {\"Backend\":\"c\",\"ApiFormat\":\"Ollama\",\"Models\":["
        "  {\"Name\":\"llama3:latest\",\"Digest\":\"older\",\"Size\":3,"
        "   \"ModifiedAt\":\"2024-01-01T00:00:00Z\",\"Details\":{}}],\"Loaded\":[]}]";
    json_t *drift = json_loads (drift_text, 0, NULL);
    assert (drift);
    tags = ingress_listing_tags (drift);
    models = json_object_get (tags, "models");
    assert (json_array_size (models) == 1);
    assert (streq (s_string (json_array_get (models, 0), "digest"), "new"));
    json_decref (tags);
    list = ingress_listing_openai (drift);
    data = json_object_get (list, "data");
    assert (json_array_size (data) == 1);
    assert (s_integer (json_array_get (data, 0), "created") == 1748736000);
    json_decref (list);
    json_t *loaded = json_pack ("[{s:s}]", "Name", "llama3");
    json_object_set_new (json_array_get (drift, 2), "Loaded", loaded);
    tags = ingress_listing_tags (drift);
    models = json_object_get (tags, "models");
    assert (json_array_size (models) == 1);
    assert (streq (s_string (json_array_get (models, 0), "digest"), "older"));
    json_decref (tags);
    ps = ingress_listing_ps (drift);
    assert (json_array_size (json_object_get (ps, "models")) == 1);
    json_decref (ps);
    json_decref (drift);

    //  No backends: empty lists, never null
    json_t *none = json_array ();
    list = ingress_listing_openai (none);
    assert (json_is_array (json_object_get (list, "data")));
    json_decref (list);
    tags = ingress_listing_tags (none);
    assert (json_array_size (json_object_get (tags, "models")) == 0);
    json_decref (tags);
    json_decref (none);
    json_decref (inventories);
    printf ("OK\n");
}

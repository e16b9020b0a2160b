/*  =========================================================================
    configd_edit - the merge patch of PATCH, the list edits of EDIT, and
    secrets kept on a write back
    =========================================================================
*/

#include "configd_edit.h"

//  The list whose entries are model names, compared as models
#define S_MODELS_FIELD "RequiredModels"

json_t *
configd_edit_patch (json_t *stored, json_t *patch, char *error, size_t size)
{
    assert (json_is_object (stored) && json_is_object (patch));
    json_t *identifier = json_object_get (patch, "Identifier");
    if (identifier && !json_equal (identifier, json_object_get (stored, "Identifier"))) {
        snprintf (error, size, "Identifier: cannot be changed (create the object under its new "
                               "Identifier, then delete this one)");
        return NULL;
    }
    return of_merge_patch (stored, patch);
}

//  The string-list field of kind named name (any case), or NULL
static const of_field_t *
s_list_field (of_kind_t kind, const char *name)
{
    size_t count;
    const of_field_t *fields = of_schema_fields (kind, &count);
    for (size_t f = 0; f < count; f++)
        if (fields [f].type == OF_FIELD_STRINGS && !(fields [f].flags & OF_FIELD_READONLY)
            && strcasecmp (fields [f].name, name) == 0)
            return &fields [f];
    return NULL;
}

static bool
s_same_entry (const char *a, const char *b, bool models)
{
    if (!models)
        return streq (a, b);
    char key_a [OFP_MODELS_KEY_MAX], key_b [OFP_MODELS_KEY_MAX];
    ofp_models_key (key_a, a);
    ofp_models_key (key_b, b);
    return streq (key_a, key_b);
}

//  Adds value to list unless there, or removes every entry of it; true if
//  the list changed
static bool
s_edit_list (json_t *list, const char *value, bool add, bool models)
{
    bool changed = false;
    for (size_t index = json_array_size (list); index > 0; index--) {
        const char *entry = json_string_value (json_array_get (list, index - 1));
        if (entry && s_same_entry (entry, value, models)) {
            if (add)
                return false;
            json_array_remove (list, index - 1);
            changed = true;
        }
    }
    if (add)
        json_array_append_new (list, json_string (value));
    return add || changed;
}

//  Applies one side of an EDIT ({"Field": [values]}) to input; -1 on a bad name
static int
s_edit_side (of_kind_t kind, json_t *input, json_t *side, bool add, bool *changed, char *error,
             size_t size)
{
    const char *name;
    json_t *values;
    json_object_foreach (side, name, values) {
        const of_field_t *field = s_list_field (kind, name);
        if (!field) {
            snprintf (error, size, "%s: a %s has no list of strings by that name (%s)", name,
                      of_kind_name (kind), add ? "Add" : "Remove");
            return -1;
        }
        json_t *list = json_object_get (input, field->name);
        if (!json_is_array (list)) {
            list = json_array ();
            json_object_set_new (input, field->name, list);
        }
        size_t index;
        json_t *value;
        json_array_foreach (values, index, value)
            if (s_edit_list (list, json_string_value (value), add,
                             streq (field->name, S_MODELS_FIELD)))
                *changed = true;
    }
    return 0;
}

json_t *
configd_edit_lists (of_kind_t kind, json_t *stored, json_t *add, json_t *remove, bool *changed,
                    char *error, size_t size)
{
    assert (json_is_object (stored) && changed);
    *changed = false;
    json_t *input = json_deep_copy (stored);
    if ((remove && s_edit_side (kind, input, remove, false, changed, error, size) != 0)
        || (add && s_edit_side (kind, input, add, true, changed, error, size) != 0)) {
        json_decref (input);
        return NULL;
    }
    return input;
}

static bool
s_masked (json_t *value)
{
    return json_is_string (value) && streq (json_string_value (value), OF_SCHEMA_SECRET_MASK);
}

void
configd_edit_keep_secrets (of_kind_t kind, json_t *input, json_t *stored)
{
    if (!json_is_object (input))
        return;
    size_t count;
    const of_field_t *fields = of_schema_fields (kind, &count);
    for (size_t f = 0; f < count; f++) {
        if (!(fields [f].flags & OF_FIELD_SECRET))
            continue;
        //  Input names are matched without regard to case, as of_schema does
        const char *key;
        json_t *value = NULL;
        json_object_foreach (input, key, value)
            if (strcasecmp (key, fields [f].name) == 0)
                break;
        json_t *kept = stored ? json_object_get (stored, fields [f].name) : NULL;
        if (!key)
            continue;
        if (fields [f].type != OF_FIELD_HEADERS) {
            if (s_masked (value))
                json_object_set (input, key, kept ? kept : json_null ());
            continue;
        }
        if (!json_is_object (value))
            continue;
        const char *name;
        json_t *header;
        void *tmp;
        json_object_foreach_safe (value, tmp, name, header) {
            json_t *old = json_is_object (kept) ? json_object_get (kept, name) : NULL;
            if (s_masked (header)) {
                if (old)
                    json_object_set (value, name, old);
                else
                    json_object_del (value, name);
            }
        }
    }
}

//  --------------------------------------------------------------------------
//  Self test

void
configd_edit_test (bool verbose)
{
    (void) verbose;
    printf (" * configd_edit: ");
    char error [OF_SCHEMA_ERROR_MAX];
    json_t *stored = json_pack ("{s:s, s:i, s:s, s:{s:s, s:s}, s:[s]}", "Identifier", "b1",
                                "Port", 11434, "BearerToken", "tok", "Headers", "X-Key", "k1",
                                "X-Other", "o", "Labels", "eu");

    //  A patch changes what it names, removes what it nulls, keeps the rest
    json_t *patch = json_pack ("{s:i, s:n, s:{s:n}}", "Port", 8000, "Labels", "Headers", "X-Other");
    json_t *input = configd_edit_patch (stored, patch, error, sizeof error);
    assert (input);
    assert (json_integer_value (json_object_get (input, "Port")) == 8000);
    assert (!json_object_get (input, "Labels"));
    assert (json_object_size (json_object_get (input, "Headers")) == 1);
    assert (streq (json_string_value (json_object_get (input, "BearerToken")), "tok"));
    json_decref (input);
    json_decref (patch);

    //  The Identifier is the object's name, not a field to edit
    patch = json_pack ("{s:s}", "Identifier", "b2");
    assert (!configd_edit_patch (stored, patch, error, sizeof error));
    assert (strstr (error, "Identifier"));
    json_decref (patch);
    patch = json_pack ("{s:s}", "Identifier", "b1");
    input = configd_edit_patch (stored, patch, error, sizeof error);
    assert (input);
    json_decref (input);
    json_decref (patch);

    //  A GET, edit, PUT round trip keeps the secrets; a new value replaces them
    input = json_pack ("{s:s, s:s, s:{s:s, s:s, s:s}}", "Identifier", "b1", "bearertoken",
                       OF_SCHEMA_SECRET_MASK, "Headers", "X-Key", OF_SCHEMA_SECRET_MASK, "X-New",
                       OF_SCHEMA_SECRET_MASK, "X-Set", "v");
    configd_edit_keep_secrets (OF_KIND_BACKEND, input, stored);
    assert (streq (json_string_value (json_object_get (input, "bearertoken")), "tok"));
    json_t *headers = json_object_get (input, "Headers");
    assert (streq (json_string_value (json_object_get (headers, "X-Key")), "k1"));
    assert (!json_object_get (headers, "X-New"));
    assert (streq (json_string_value (json_object_get (headers, "X-Set")), "v"));
    json_decref (input);
    input = json_pack ("{s:s, s:s}", "Identifier", "b1", "BearerToken", "new");
    configd_edit_keep_secrets (OF_KIND_BACKEND, input, stored);
    assert (streq (json_string_value (json_object_get (input, "BearerToken")), "new"));
    json_decref (input);
    //  Nothing stored: a mask is no secret at all
    input = json_pack ("{s:s, s:s}", "Identifier", "b9", "BearerToken", OF_SCHEMA_SECRET_MASK);
    configd_edit_keep_secrets (OF_KIND_BACKEND, input, NULL);
    assert (json_is_null (json_object_get (input, "BearerToken")));
    json_decref (input);
    json_decref (stored);

    //  EDIT: models compared as models, no duplicate, removals before additions
    stored = json_pack ("{s:s, s:[s, s], s:[s]}", "Identifier", "f1", "RequiredModels",
                        "llama3:latest", "all-minilm", "Backends", "a");
    bool changed;
    json_t *add = json_pack ("{s:[s, s]}", "requiredmodels", "LLAMA3", "qwen2.5:7b");
    input = configd_edit_lists (OF_KIND_FRONTEND, stored, add, NULL, &changed, error,
                                sizeof error);
    assert (input && changed);
    json_t *list = json_object_get (input, "RequiredModels");
    assert (json_array_size (list) == 3);
    assert (streq (json_string_value (json_array_get (list, 2)), "qwen2.5:7b"));
    json_decref (input);
    json_decref (add);
    add = json_pack ("{s:[s]}", "RequiredModels", "llama3");
    input = configd_edit_lists (OF_KIND_FRONTEND, stored, add, NULL, &changed, error,
                                sizeof error);
    assert (input && !changed && json_equal (input, stored));
    json_decref (input);
    json_t *remove = json_pack ("{s:[s], s:[s]}", "RequiredModels", "llama3", "Backends", "A");
    input = configd_edit_lists (OF_KIND_FRONTEND, stored, NULL, remove, &changed, error,
                                sizeof error);
    assert (input && changed);
    assert (json_array_size (json_object_get (input, "RequiredModels")) == 1);
    //  Other lists compare exactly: "A" is not "a"
    assert (json_array_size (json_object_get (input, "Backends")) == 1);
    json_decref (input);
    //  Remove then add: the entry ends present
    input = configd_edit_lists (OF_KIND_FRONTEND, stored, add, remove, &changed, error,
                                sizeof error);
    assert (input && changed);
    list = json_object_get (input, "RequiredModels");
    assert (json_array_size (list) == 2);
    assert (streq (json_string_value (json_array_get (list, 1)), "llama3"));
    json_decref (input);
    json_decref (remove);
    json_decref (add);
    //  Only string lists of the kind can be edited
    add = json_pack ("{s:[s]}", "Hostname", "x");
    assert (!configd_edit_lists (OF_KIND_FRONTEND, stored, add, NULL, &changed, error,
                                 sizeof error));
    assert (strstr (error, "Hostname"));
    json_decref (add);
    add = json_pack ("{s:[s]}", "Labels", "gpu");
    assert (!configd_edit_lists (OF_KIND_FRONTEND, stored, add, NULL, &changed, error,
                                 sizeof error));
    input = configd_edit_lists (OF_KIND_BACKEND, stored, add, NULL, &changed, error,
                                sizeof error);
    assert (input && changed);
    json_decref (input);
    json_decref (add);
    json_decref (stored);
    printf ("OK\n");
}

/*  =========================================================================
    configd_edit - the merge patch of PATCH, and secrets kept on a write back
    =========================================================================
*/

#include "configd_edit.h"

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
    printf ("OK\n");
}

/*  =========================================================================
    of_merge - pinned properties: a deep merge of JSON objects
    =========================================================================
*/

#include "of_merge.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

int
of_merge_pinned (json_t *target, json_t *pinned)
{
    if (!json_is_object (target) || !json_is_object (pinned))
        return -1;
    const char *key;
    json_t *value;
    json_object_foreach (pinned, key, value) {
        json_t *current = json_object_get (target, key);
        if (json_is_object (current) && json_is_object (value))
            of_merge_pinned (current, value);
        else
            json_object_set_new (target, key, json_deep_copy (value));
    }
    return 0;
}

json_t *
of_merge_patch (json_t *target, json_t *patch)
{
    //  RFC 7396: a patch that is not an object replaces the target whole
    if (!json_is_object (patch))
        return json_deep_copy (patch);
    json_t *result = json_is_object (target) ? json_deep_copy (target) : json_object ();
    const char *key;
    json_t *value;
    json_object_foreach (patch, key, value) {
        if (json_is_null (value))
            json_object_del (result, key);
        else
            json_object_set_new (result, key, of_merge_patch (json_object_get (result, key),
                                                              value));
    }
    return result;
}

//  --------------------------------------------------------------------------
//  Self test

//  RFC 7396's examples: target, patch, result
static void
s_expect_patch (const char *target_text, const char *patch_text, const char *expected_text)
{
    json_t *target = json_loads (target_text, JSON_DECODE_ANY, NULL);
    json_t *patch = json_loads (patch_text, JSON_DECODE_ANY, NULL);
    json_t *expected = json_loads (expected_text, JSON_DECODE_ANY, NULL);
    assert (target && patch && expected);
    json_t *result = of_merge_patch (target, patch);
    assert (json_equal (result, expected));
    json_decref (result);
    json_decref (target);
    json_decref (patch);
    json_decref (expected);
}

static void
s_expect (const char *target_text, const char *pinned_text, const char *expected_text)
{
    json_t *target = json_loads (target_text, 0, NULL);
    json_t *pinned = json_loads (pinned_text, 0, NULL);
    json_t *expected = json_loads (expected_text, 0, NULL);
    assert (target && pinned && expected);
    assert (of_merge_pinned (target, pinned) == 0);
    assert (json_equal (target, expected));
    json_decref (target);
    json_decref (pinned);
    json_decref (expected);
}

void
of_merge_test (bool verbose)
{
    (void) verbose;
    printf (" * of_merge: ");
    //  Pinned scalars override; others stay
    s_expect ("{\"model\":\"a\",\"stream\":true}", "{\"model\":\"b\"}",
              "{\"model\":\"b\",\"stream\":true}");
    //  Objects merge deeply
    s_expect ("{\"options\":{\"temperature\":0.9,\"seed\":1}}",
              "{\"options\":{\"temperature\":0.1,\"num_ctx\":4096}}",
              "{\"options\":{\"temperature\":0.1,\"seed\":1,\"num_ctx\":4096}}");
    //  Arrays are replaced whole, and a pinned object replaces a scalar
    s_expect ("{\"stop\":[\"a\",\"b\"],\"options\":3}", "{\"stop\":[\"c\"],\"options\":{\"x\":1}}",
              "{\"stop\":[\"c\"],\"options\":{\"x\":1}}");
    //  The two layers: the backend's over the frontend's over the client's
    json_t *body = json_loads ("{\"model\":\"client\",\"options\":{\"num_ctx\":1,\"seed\":7}}",
                               0, NULL);
    json_t *frontend = json_loads ("{\"model\":\"frontend\",\"options\":{\"num_ctx\":2}}", 0, NULL);
    json_t *backend = json_loads ("{\"options\":{\"num_ctx\":3}}", 0, NULL);
    assert (of_merge_pinned (body, frontend) == 0 && of_merge_pinned (body, backend) == 0);
    json_t *expected = json_loads ("{\"model\":\"frontend\",\"options\":{\"num_ctx\":3,\"seed\":7}}",
                                   0, NULL);
    assert (json_equal (body, expected));
    //  The pins themselves are not shared with the result
    json_object_set_new (json_object_get (body, "options"), "num_ctx", json_integer (9));
    assert (json_integer_value (json_object_get (json_object_get (backend, "options"), "num_ctx"))
            == 3);
    json_t *array = json_array ();
    assert (of_merge_pinned (body, array) == -1);
    json_decref (array);
    json_decref (body);
    json_decref (frontend);
    json_decref (backend);
    json_decref (expected);

    //  The merge patch (RFC 7396, appendix A)
    s_expect_patch ("{\"a\":\"b\"}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    s_expect_patch ("{\"a\":\"b\"}", "{\"b\":\"c\"}", "{\"a\":\"b\",\"b\":\"c\"}");
    s_expect_patch ("{\"a\":\"b\"}", "{\"a\":null}", "{}");
    s_expect_patch ("{\"a\":[\"b\"]}", "{\"a\":\"c\"}", "{\"a\":\"c\"}");
    s_expect_patch ("{\"a\":{\"b\":\"c\"}}", "{\"a\":{\"b\":\"d\",\"c\":null}}",
                    "{\"a\":{\"b\":\"d\"}}");
    s_expect_patch ("{\"a\":\"foo\"}", "null", "null");
    s_expect_patch ("{\"e\":null}", "{\"a\":1}", "{\"e\":null,\"a\":1}");
    s_expect_patch ("[1,2]", "{\"a\":{\"bb\":{\"ccc\":null}}}", "{\"a\":{\"bb\":{}}}");
    printf ("OK\n");
}

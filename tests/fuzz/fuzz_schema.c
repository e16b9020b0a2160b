/*  fuzz_schema - the config schema's validation of admin writes and seeded objects

    Input: a first byte choosing the kind (frontend, backend, key), then a JSON
    document. It is normalized as a create would be; a valid object is then
    redacted (as a GET shows it), patched with the input itself (as a PATCH
    would be, RFC 7396) and the result validated again: a normalized object
    must normalize to itself. */

#include "of_merge.h"
#include "of_schema.h"
#include <assert.h>
#include <czmq.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    of_kind_t kind = (of_kind_t) (data [0] % OF_KIND_COUNT);
    json_t *input = json_loadb ((const char *) data + 1, size - 1, JSON_DECODE_ANY, NULL);
    if (!input)
        return 0;
    char error [256];
    json_t *object = of_schema_normalize (kind, input, error, sizeof error);
    if (object) {
        json_t *shown = of_schema_redact (kind, object);
        json_decref (shown);
        json_t *again = of_schema_normalize (kind, object, error, sizeof error);
        assert (again && json_equal (again, object));
        json_decref (again);
        json_t *patched = of_merge_patch (object, input);
        json_t *checked = of_schema_normalize (kind, patched, error, sizeof error);
        json_decref (checked);
        json_decref (patched);
        json_decref (object);
    }
    else
        assert (*error);
    json_decref (input);
    return 0;
}

/*  fuzz_modelsync_parse - what a backend answers modelsync: /api/tags, /api/ps,
    /v1/models and a pull's progress lines

    Input: a first byte choosing the parser, then the backend's bytes. */

#include "modelsync_parse.h"
#include <assert.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *) data + 1;
    size_t length = size - 1;
    char error [256] = "";
    json_t *records = NULL;
    switch (data [0] % 4) {
        case 0: records = modelsync_parse_tags (body, length, error, sizeof error); break;
        case 1: records = modelsync_parse_ps (body, length, error, sizeof error); break;
        case 2: records = modelsync_parse_openai (body, length, error, sizeof error); break;
        default: {
            json_t *pull = json_pack ("{s:s, s:n, s:i, s:i}", "Status", "pulling", "Digest",
                                      "Completed", 0, "Total", 0);
            modelsync_parse_progress (body, length, pull, error, sizeof error);
            json_decref (pull);
            return 0;
        }
    }
    assert (records ? json_is_array (records) : *error != 0);
    json_decref (records);
    return 0;
}

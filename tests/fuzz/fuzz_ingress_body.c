/*  fuzz_ingress_body - a client's request body as the ingress reads it: the
    JSON parse, the request validator, the pins merged in, and the translation
    for OpenAI-format backends

    Input: a first byte choosing the route kind, then the body. */

#include "ingress_route.h"
#include "ingress_translate.h"
#include "ingress_validate.h"
#include "of_merge.h"
#include <assert.h>
#include <czmq.h>

//  The route paths by kind, for the translation (NULL: not translated)
static const char *
s_translated_path (ingress_route_kind_t kind)
{
    switch (kind) {
        case INGRESS_ROUTE_CHAT: return "/api/chat";
        case INGRESS_ROUTE_GENERATE: return "/api/generate";
        case INGRESS_ROUTE_EMBED: return "/api/embed";
        case INGRESS_ROUTE_EMBEDDINGS: return "/api/embeddings";
        default: return NULL;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static json_t *pins;
    if (!pins)
        pins = json_loads ("{\"options\":{\"num_ctx\":2048,\"temperature\":0.5},\"keep_alive\":"
                           "\"5m\",\"messages\":[{\"role\":\"system\",\"content\":\"pinned\"}]}",
                           0, NULL);
    if (size < 1)
        return 0;
    ingress_route_kind_t kind = (ingress_route_kind_t) (data [0] % INGRESS_ROUTE_KINDS);
    json_t *body = json_loadb ((const char *) data + 1, size - 1, 0, NULL);
    if (!body)
        return 0;
    char why [256];
    if (ingress_validate_body (kind, body, why, sizeof why)) {
        of_merge_pinned (body, pins);
        const char *path = s_translated_path (kind);
        if (path) {
            const char *target = NULL;
            json_t *openai = ingress_translate_request (path, body, data [0] >= 128, &target, why,
                                                        sizeof why);
            assert (openai ? target != NULL : *why != 0);
            char *text = openai ? json_dumps (openai, JSON_COMPACT) : NULL;
            assert (!openai || text);
            free (text);
            json_decref (openai);
        }
    }
    else
        assert (*why);
    json_decref (body);
    return 0;
}

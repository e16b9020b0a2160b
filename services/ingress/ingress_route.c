/*  =========================================================================
    ingress_route - the routes the ingress serves, matched exactly
    =========================================================================
*/

#include "ingress_route.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

static const ingress_route_t s_routes [] = {
    {htp_method_GET, "/", INGRESS_HOME, "other", false},
    {htp_method_HEAD, "/", INGRESS_HOME, "other", false},
    {htp_method_POST, "/api/generate", INGRESS_PROXY, "completions", false},
    {htp_method_POST, "/api/chat", INGRESS_PROXY, "completions", false},
    {htp_method_POST, "/api/embed", INGRESS_PROXY, "embeddings", false},
    {htp_method_POST, "/api/embeddings", INGRESS_PROXY, "embeddings", false},
    {htp_method_POST, "/api/show", INGRESS_PROXY, "other", false},
    {htp_method_POST, "/v1/chat/completions", INGRESS_PROXY, "completions", true},
    {htp_method_POST, "/v1/completions", INGRESS_PROXY, "completions", true},
    {htp_method_POST, "/v1/embeddings", INGRESS_PROXY, "embeddings", true},
};
#define S_ROUTE_COUNT (sizeof s_routes / sizeof s_routes [0])

const ingress_route_t *
ingress_route_find (htp_method method, const char *path, bool *path_known)
{
    assert (path && path_known);
    *path_known = false;
    for (size_t i = 0; i < S_ROUTE_COUNT; i++)
        if (strcmp (s_routes [i].path, path) == 0) {
            *path_known = true;
            if (s_routes [i].method == method)
                return &s_routes [i];
        }
    return NULL;
}

bool
ingress_route_openai_path (const char *path)
{
    return path && strncmp (path, "/v1/", 4) == 0;
}

void
ingress_route_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_route: ");
    bool known;
    const ingress_route_t *route = ingress_route_find (htp_method_POST, "/api/chat", &known);
    assert (route && known && route->action == INGRESS_PROXY);
    assert (strcmp (route->kind, "completions") == 0 && !route->openai);
    route = ingress_route_find (htp_method_POST, "/v1/embeddings", &known);
    assert (route && route->openai && strcmp (route->kind, "embeddings") == 0);
    //  Exact: no prefix matches, no trailing slash
    assert (!ingress_route_find (htp_method_POST, "/api/chatty", &known) && !known);
    assert (!ingress_route_find (htp_method_POST, "/api/chat/", &known) && !known);
    assert (!ingress_route_find (htp_method_POST, "/api", &known) && !known);
    //  Known path, wrong method: 405, not 404
    assert (!ingress_route_find (htp_method_GET, "/api/chat", &known) && known);
    route = ingress_route_find (htp_method_HEAD, "/", &known);
    assert (route && route->action == INGRESS_HOME);
    assert (ingress_route_openai_path ("/v1/models") && !ingress_route_openai_path ("/api/tags"));
    printf ("OK\n");
}

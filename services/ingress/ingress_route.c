/*  =========================================================================
    ingress_route - the routes the ingress serves, matched exactly
    =========================================================================
*/

#include "ingress_route.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>

static const ingress_route_t s_routes [] = {
    {htp_method_GET, "/", INGRESS_HOME, "other", false, false},
    {htp_method_HEAD, "/", INGRESS_HOME, "other", false, false},
    {htp_method_POST, "/api/generate", INGRESS_PROXY, "completions", false, false},
    {htp_method_POST, "/api/chat", INGRESS_PROXY, "completions", false, false},
    {htp_method_POST, "/api/embed", INGRESS_PROXY, "embeddings", false, false},
    {htp_method_POST, "/api/embeddings", INGRESS_PROXY, "embeddings", false, false},
    {htp_method_POST, "/api/show", INGRESS_PROXY, "other", false, false},
    {htp_method_POST, "/v1/chat/completions", INGRESS_PROXY, "completions", true, false},
    {htp_method_POST, "/v1/completions", INGRESS_PROXY, "completions", true, false},
    {htp_method_POST, "/v1/embeddings", INGRESS_PROXY, "embeddings", true, false},
    {htp_method_GET, "/api/version", INGRESS_VERSION, "other", false, false},
    {htp_method_HEAD, "/api/version", INGRESS_VERSION, "other", false, false},
    {htp_method_GET, "/api/tags", INGRESS_LISTING, "other", false, false},
    {htp_method_HEAD, "/api/tags", INGRESS_LISTING, "other", false, false},
    {htp_method_GET, "/api/ps", INGRESS_LISTING, "other", false, false},
    {htp_method_GET, "/v1/models", INGRESS_LISTING, "other", true, false},
    {htp_method_GET, "/v1/models/", INGRESS_LISTING, "other", true, true},
    {htp_method_POST, "/api/pull", INGRESS_PULL, "other", false, false},
    {htp_method_DELETE, "/api/delete", INGRESS_DELETE, "other", false, false},
    {htp_method_POST, "/api/create", INGRESS_REFUSE, "other", false, false},
    {htp_method_POST, "/api/push", INGRESS_REFUSE, "other", false, false},
    {htp_method_POST, "/api/copy", INGRESS_REFUSE, "other", false, false},
};
#define S_ROUTE_COUNT (sizeof s_routes / sizeof s_routes [0])

const ingress_route_t *
ingress_route_find (htp_method method, const char *path, bool *path_known)
{
    assert (path && path_known);
    *path_known = false;
    for (size_t i = 0; i < S_ROUTE_COUNT; i++) {
        const ingress_route_t *route = &s_routes [i];
        size_t length = strlen (route->path);
        //  A prefix route takes one non-empty parameter after its path
        bool match = route->prefix ? strncmp (route->path, path, length) == 0 && path [length]
                                   : strcmp (route->path, path) == 0;
        if (match) {
            *path_known = true;
            if (route->method == method)
                return route;
        }
    }
    return NULL;
}

bool
ingress_route_openai_path (const char *path)
{
    return path && strncmp (path, "/v1/", 4) == 0;
}

ingress_route_kind_t
ingress_route_kind (const ingress_route_t *route)
{
    static const struct {
        const char *path;
        ingress_route_kind_t kind;
    } kinds [] = {
        {"/api/chat", INGRESS_ROUTE_CHAT}, {"/api/generate", INGRESS_ROUTE_GENERATE},
        {"/api/embed", INGRESS_ROUTE_EMBED}, {"/api/embeddings", INGRESS_ROUTE_EMBEDDINGS},
        {"/api/show", INGRESS_ROUTE_SHOW}, {"/api/pull", INGRESS_ROUTE_PULL},
        {"/api/delete", INGRESS_ROUTE_DELETE}, {"/v1/chat/completions", INGRESS_ROUTE_OPENAI_CHAT},
        {"/v1/completions", INGRESS_ROUTE_OPENAI_COMPLETIONS},
        {"/v1/embeddings", INGRESS_ROUTE_OPENAI_EMBEDDINGS}
    };
    assert (route);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds [0]; i++)
        if (strcmp (route->path, kinds [i].path) == 0)
            return kinds [i].kind;
    return INGRESS_ROUTE_NONE;
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
    //  Model routes; /v1/models/{id} takes any id, slashes and colons included
    route = ingress_route_find (htp_method_HEAD, "/api/tags", &known);
    assert (route && route->action == INGRESS_LISTING);
    route = ingress_route_find (htp_method_GET, "/v1/models/library/llama3:8b", &known);
    assert (route && route->action == INGRESS_LISTING && route->prefix && route->openai);
    route = ingress_route_find (htp_method_GET, "/v1/models", &known);
    assert (route && !route->prefix);
    assert (!ingress_route_find (htp_method_POST, "/v1/models/x", &known) && known);
    route = ingress_route_find (htp_method_DELETE, "/api/delete", &known);
    assert (route && route->action == INGRESS_DELETE);
    assert (!ingress_route_find (htp_method_GET, "/api/pull", &known) && known);
    route = ingress_route_find (htp_method_POST, "/api/push", &known);
    assert (route && route->action == INGRESS_REFUSE);
    assert (ingress_route_kind (route) == INGRESS_ROUTE_NONE);
    route = ingress_route_find (htp_method_POST, "/v1/embeddings", &known);
    assert (ingress_route_kind (route) == INGRESS_ROUTE_OPENAI_EMBEDDINGS);
    route = ingress_route_find (htp_method_DELETE, "/api/delete", &known);
    assert (ingress_route_kind (route) == INGRESS_ROUTE_DELETE);
    printf ("OK\n");
}

/*  =========================================================================
    ingress_route - the routes the ingress serves, matched exactly

    evhtp matches callbacks by prefix, so the ingress dispatches itself from
    this one table: method and exact path to what to do, which request kind
    the scheduler must allow (completions, embeddings, other) and which
    dialect errors are written in (Ollama's or OpenAI's).
    =========================================================================
*/

#ifndef INGRESS_ROUTE_H_INCLUDED
#define INGRESS_ROUTE_H_INCLUDED

#include <evhtp.h>
#include <stdbool.h>

typedef enum {
    INGRESS_HOME,           //  GET and HEAD /: "Ollama is running"
    INGRESS_PROXY,          //  through a lease to a backend
    INGRESS_VERSION,        //  /api/version, answered by the ingress
    INGRESS_LISTING,        //  /api/tags, /api/ps, /v1/models[/{id}]: from the inventories
    INGRESS_PULL,           //  /api/pull through a frontend (ingress_pull)
    INGRESS_DELETE,         //  /api/delete through a frontend (ingress_pull)
    INGRESS_REFUSE          //  /api/create, /api/push, /api/copy: refused, saying why
} ingress_action_t;

typedef struct {
    htp_method method;
    const char *path;
    ingress_action_t action;
    const char *kind;       //  for the scheduler: "completions", "embeddings" or "other"
    bool openai;            //  an OpenAI route (/v1/...): OpenAI's error shape
    bool prefix;            //  path is a prefix followed by one parameter (/v1/models/{id})
} ingress_route_t;

//  What a route's JSON body is, for the request validator (ingress_validate)
typedef enum {
    INGRESS_ROUTE_NONE,                 //  no JSON body read
    INGRESS_ROUTE_CHAT,                 //  POST /api/chat
    INGRESS_ROUTE_GENERATE,             //  POST /api/generate
    INGRESS_ROUTE_EMBED,                //  POST /api/embed
    INGRESS_ROUTE_EMBEDDINGS,           //  POST /api/embeddings
    INGRESS_ROUTE_SHOW,                 //  POST /api/show
    INGRESS_ROUTE_PULL,                 //  POST /api/pull
    INGRESS_ROUTE_DELETE,               //  DELETE /api/delete
    INGRESS_ROUTE_OPENAI_CHAT,          //  POST /v1/chat/completions
    INGRESS_ROUTE_OPENAI_COMPLETIONS,   //  POST /v1/completions
    INGRESS_ROUTE_OPENAI_EMBEDDINGS,    //  POST /v1/embeddings
    INGRESS_ROUTE_KINDS
} ingress_route_kind_t;

//  The route for a request, or NULL. When NULL, *path_known tells whether the
//  path exists with another method (405) or not at all (404).
const ingress_route_t *
    ingress_route_find (htp_method method, const char *path, bool *path_known);

//  True if errors for this path are written in OpenAI's shape (/v1/...).
bool
    ingress_route_openai_path (const char *path);

//  What the route's body is (INGRESS_ROUTE_NONE for a route without one).
ingress_route_kind_t
    ingress_route_kind (const ingress_route_t *route);

//  Self test
void
    ingress_route_test (bool verbose);

#endif

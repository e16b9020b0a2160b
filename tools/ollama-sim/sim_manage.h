/*  =========================================================================
    sim_manage - model management routes that answer at once

    /api/version, /api/tags, /api/ps, /api/show, /api/copy, /api/delete,
    /v1/models and /v1/models/{id}, with Ollama's exact error texts (note
    that copy quotes with %q and delete with single quotes).
    =========================================================================
*/

#ifndef SIM_MANAGE_H_INCLUDED
#define SIM_MANAGE_H_INCLUDED

#include "sim_backend.h"

//  Answers one management request
void
    sim_manage_handle (sim_backend_t *backend, sim_req_t *req, sim_route_t route);

//  Decodes %XX escapes of a URL path segment into buf; returns 0 or -1
int
    sim_manage_url_decode (const char *text, char *buf, size_t size);

#endif

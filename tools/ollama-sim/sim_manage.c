/*  =========================================================================
    sim_manage - model management routes that answer at once
    =========================================================================
*/

#include "sim_manage.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
sim_manage_url_decode (const char *text, char *buf, size_t size)
{
    size_t out = 0;
    for (const char *p = text; *p; p++) {
        if (out + 1 >= size)
            return -1;
        if (*p == '%' && isxdigit ((unsigned char) p [1]) && isxdigit ((unsigned char) p [2])) {
            char hex [3] = { p [1], p [2], 0 };
            buf [out++] = (char) strtol (hex, NULL, 16);
            p += 2;
        }
        else
            buf [out++] = *p;
    }
    buf [out] = 0;
    return 0;
}

//  The model name of a request: "model", or the deprecated "name"
static const char *
s_model_name (json_t *body)
{
    const char *name = json_string_value (json_object_get (body, "model"));
    if (!name || !*name)
        name = json_string_value (json_object_get (body, "name"));
    return name && *name? name: NULL;
}

static void
s_reply_json (sim_req_t *req, json_t *json)
{
    sim_req_reply_json (req, 200, SIM_CT_JSON, json);
    json_decref (json);
}

static void
s_show (sim_backend_t *backend, sim_req_t *req, json_t *body)
{
    const char *name = s_model_name (body);
    if (!name) {
        sim_req_reply_error (req, 400, "model is required");
        return;
    }
    sim_model_t *model = sim_models_find (sim_backend_models (backend), name);
    if (!model) {
        char normal [SIM_NAME_MAX], message [SIM_ERROR_TEXT_MAX];
        if (sim_fleet_normalise (name, normal, sizeof normal))
            snprintf (normal, sizeof normal, "%.100s", name);
        snprintf (message, sizeof message, "model '%s' not found", normal);
        sim_req_reply_error (req, 404, message);
        return;
    }
    bool verbose = json_is_true (json_object_get (body, "verbose"));
    s_reply_json (req, sim_models_show (sim_backend_models (backend), model, verbose));
}

static void
s_copy (sim_backend_t *backend, sim_req_t *req, json_t *body)
{
    const char *source = json_string_value (json_object_get (body, "source"));
    const char *destination = json_string_value (json_object_get (body, "destination"));
    if (!source || !*source || !destination || !*destination) {
        sim_req_reply_error (req, 400, "source and destination are required");
        return;
    }
    sim_models_t *models = sim_backend_models (backend);
    if (!sim_models_find (models, source)) {
        char message [SIM_ERROR_TEXT_MAX];
        snprintf (message, sizeof message, "model \"%.200s\" not found", source);
        sim_req_reply_error (req, 404, message);
        return;
    }
    if (sim_models_copy (models, source, destination)) {
        sim_req_reply_error (req, 400, "invalid model name");
        return;
    }
    sim_req_reply (req, 200, NULL, NULL, 0);
}

static void
s_delete (sim_backend_t *backend, sim_req_t *req, json_t *body)
{
    const char *name = s_model_name (body);
    if (!name) {
        sim_req_reply_error (req, 400, "model is required");
        return;
    }
    if (sim_models_remove (sim_backend_models (backend), name)) {
        char message [SIM_ERROR_TEXT_MAX];
        snprintf (message, sizeof message, "model '%.200s' not found", name);
        sim_req_reply_error (req, 404, message);
        return;
    }
    sim_req_reply (req, 200, NULL, NULL, 0);
}

static void
s_v1_model (sim_backend_t *backend, sim_req_t *req)
{
    char id [SIM_NAME_MAX];
    const char *raw = sim_req_path (req) + strlen ("/v1/models/");
    if (sim_manage_url_decode (raw, id, sizeof id)) {
        sim_req_reply_openai_error (req, 400, "invalid model name");
        return;
    }
    sim_model_t *model = sim_models_find (sim_backend_models (backend), id);
    if (!model) {
        char message [SIM_ERROR_TEXT_MAX];
        snprintf (message, sizeof message, "model '%s' not found", id);
        sim_req_reply_openai_error (req, 404, message);
        return;
    }
    json_t *json = sim_models_v1_model (model, id);
    sim_req_reply_json (req, 200, SIM_CT_JSON_V1, json);
    json_decref (json);
}

//  The bad_listings fault: a 200 whose JSON breaks off, as from a server
//  that died mid-reply or a proxy that cut it
#define S_BROKEN_LISTING "{\"models\":[{\"name\":\"llama3"

void
sim_manage_handle (sim_backend_t *backend, sim_req_t *req, sim_route_t route)
{
    sim_models_t *models = sim_backend_models (backend);
    if ((route == SIM_ROUTE_TAGS || route == SIM_ROUTE_PS || route == SIM_ROUTE_V1_MODELS)
        && sim_backend_config (backend)->faults.bad_listings) {
        sim_req_reply (req, 200, route == SIM_ROUTE_V1_MODELS ? SIM_CT_JSON_V1 : SIM_CT_JSON,
                       S_BROKEN_LISTING, strlen (S_BROKEN_LISTING));
        return;
    }
    if (route == SIM_ROUTE_VERSION) {
        s_reply_json (req, json_pack ("{ss}", "version", sim_backend_config (backend)->version));
        return;
    }
    if (route == SIM_ROUTE_TAGS) {
        s_reply_json (req, sim_models_tags (models));
        return;
    }
    if (route == SIM_ROUTE_PS) {
        s_reply_json (req, sim_models_ps (models));
        return;
    }
    if (route == SIM_ROUTE_V1_MODELS) {
        json_t *json = sim_models_v1_list (models);
        sim_req_reply_json (req, 200, SIM_CT_JSON_V1, json);
        json_decref (json);
        return;
    }
    if (route == SIM_ROUTE_V1_MODEL) {
        s_v1_model (backend, req);
        return;
    }
    char error [SIM_ERROR_TEXT_MAX];
    json_t *body = sim_req_body (req, error, sizeof error);
    if (!body) {
        sim_req_reply_error (req, 400, error);
        return;
    }
    if (route == SIM_ROUTE_SHOW)
        s_show (backend, req, body);
    else if (route == SIM_ROUTE_COPY)
        s_copy (backend, req, body);
    else if (route == SIM_ROUTE_DELETE)
        s_delete (backend, req, body);
    else
        sim_req_reply (req, 404, SIM_CT_GIN_TEXT, "404 page not found", 18);
}

/*  =========================================================================
    modelsync_jobs - the requests on modelsync's ROUTER (proto/models.md)

    PULL-START names a job and wants the model on each active, healthy
    Ollama backend of the frontend (or the subset asked for); the pulls
    then report with the job's name. DELETE-MODEL sends DELETE /api/delete
    to every active Ollama backend of the frontend at once and answers when
    the last one has (pulls of the model on them are cancelled first, or they
    would bring it back); the backends are listed again right after. Both are
    bounded by Models.MaxJobs (jobs followed, deletes in flight).
    =========================================================================
*/

#include "modelsync_jobs.h"
#include "modelsync.h"
#include "modelsync_http.h"

#define S_MESSAGE_MAX 256
#define S_MALFORMED_LOGGED 10       //  malformed requests logged one by one, then every 1000th

typedef struct _s_delete_t s_delete_t;

//  One backend's delete
typedef struct {
    s_delete_t *owner;
    char id [OFP_IDENTIFIER_MAX + 1];
    modelsync_http_t *http;
} s_target_t;

//  A DELETE-MODEL waiting for its backends
struct _s_delete_t {
    modelsync_ctx_t *ctx;
    ofp_msg_t *request;
    json_t *results;
    s_target_t *targets;
    size_t count;
    size_t remaining;
    void *handle;               //  in ctx->deletes
};

static void
s_delete_destroy (s_delete_t **self_p)
{
    s_delete_t *self = *self_p;
    if (self) {
        for (size_t index = 0; index < self->count; index++)
            modelsync_http_destroy (&self->targets [index].http);
        free (self->targets);
        json_decref (self->results);
        ofp_msg_destroy (&self->request);
        free (self);
        *self_p = NULL;
    }
}

static void
s_refuse (modelsync_ctx_t *ctx, ofp_msg_t *request, int status, const char *error,
          const char *format, ...) __attribute__ ((format (printf, 5, 6)));

static void
s_refuse (modelsync_ctx_t *ctx, ofp_msg_t *request, int status, const char *error,
          const char *format, ...)
{
    char message [S_MESSAGE_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    ofp_msg_t *reply = ofp_msg_reply_error (request, status, error, message);
    modelsync_reply (ctx, &reply);
}

//  The frontend a request names, if it exists and is active; else refuses.
//  Borrowed from the current records: for this request's handling only.
static const of_frontend_t *
s_frontend (modelsync_ctx_t *ctx, ofp_msg_t *request)
{
    const char *id = json_string_value (json_object_get (ofp_msg_body (request), "Frontend"));
    const of_frontend_t *frontend = of_records_frontend (of_clone_records (ctx->clone), id);
    if (!frontend || !frontend->active) {
        s_refuse (ctx, request, 404, "NotFound", "no active frontend '%s'", id);
        return NULL;
    }
    return frontend;
}

//  --------------------------------------------------------------------------
//  PULL-START

static void
s_pull_start (modelsync_ctx_t *ctx, ofp_msg_t *request)
{
    json_t *body = ofp_msg_body (request);
    const of_frontend_t *frontend = s_frontend (ctx, request);
    if (!frontend)
        return;
    if (modelsync_pulls_jobs (ctx->pulls) >= (size_t) ctx->settings->max_jobs) {
        s_refuse (ctx, request, 503, "Busy", "modelsync follows %d jobs already",
                  ctx->settings->max_jobs);
        return;
    }
    const char *model = json_string_value (json_object_get (body, "Model"));
    //  The backends asked for (the codec checked them: Identifiers), else the frontend's
    json_t *asked = json_object_get (body, "Backends");
    size_t wanted = json_is_array (asked) ? json_array_size (asked) : frontend->backends.count;
    json_t *chosen = json_array ();
    json_t *skipped = json_array ();
    size_t index;
    json_t *member;
    for (index = 0; index < wanted; index++) {
        const char *id = json_is_array (asked) ? json_string_value (json_array_get (asked, index))
                                               : frontend->backends.items [index];
        modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_lookup (ctx->backends, id);
        bool usable = backend && of_strings_has (&frontend->backends, id)
                      && !modelsync_backend_openai (backend) && modelsync_backend_healthy (backend);
        json_array_append_new (usable ? chosen : skipped, json_string (id));
    }
    if (json_array_size (chosen) == 0) {
        s_refuse (ctx, request, 409, "NoOllamaBackend",
                  "frontend '%s' has no active, healthy Ollama backend to pull to",
                  frontend->identifier);
        json_decref (chosen);
        json_decref (skipped);
        return;
    }
    char job [OFP_IDENTIFIER_MAX + 1];
    snprintf (job, sizeof job, "pull-%.8s-%llu", ctx->epoch, (unsigned long long) ++ctx->jobs);
    json_t *accepted = json_pack ("{s:s, s:O, s:s, s:O, s:O}", "Job", job, "Frontend",
                                  json_object_get (body, "Frontend"), "Model", model, "Backends",
                                  chosen, "Skipped", skipped);
    ofp_msg_t *reply = ofp_msg_reply (request, "ACCEPTED", &accepted);
    modelsync_reply (ctx, &reply);
    of_log_info ("job %s: %s on %zu backends of %s", job, model, json_array_size (chosen),
                 json_string_value (json_object_get (body, "Frontend")));

    //  A backend that has it says so at once; the others pull (or join a pull)
    int64_t now = zclock_mono ();
    json_array_foreach (chosen, index, member) {
        const char *id = json_string_value (member);
        modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_lookup (ctx->backends, id);
        const char *error = NULL;
        if (modelsync_backend_has (backend, model) && !modelsync_pulls_active (ctx->pulls, id, model))
            ;
        else if (modelsync_pulls_want (ctx->pulls, id, model, job, now))
            continue;
        else
            error = "modelsync follows too many pulls";
        modelsync_publish (ctx, "PULL",
                           json_pack ("{s:s, s:s, s:s, s:s, s:b, s:s?}", "Backend", id, "Model",
                                      model, "Job", job, "Status", error ? "" : "success", "Done",
                                      1, "Error", error));
    }
    json_decref (chosen);
    json_decref (skipped);
    modelsync_pulls_dispatch (ctx->pulls, now);
}

//  --------------------------------------------------------------------------
//  DELETE-MODEL

static void
s_on_delete_end (void *arg, int status, const char *body, size_t size, const char *error)
{
    (void) size;
    s_target_t *target = (s_target_t *) arg;
    s_delete_t *self = target->owner;
    modelsync_http_destroy (&target->http);
    json_t *result = json_pack ("{s:s, s:i}", "Backend", target->id, "Status", status);
    if (status == 0)
        json_object_set_new (result, "Error", json_sprintf ("%.*s", OFP_MODELS_ERROR_MAX, error));
    else if (status >= 300) {
        json_t *answer = json_loads (body, 0, NULL);
        const char *text = json_string_value (json_object_get (answer, "error"));
        json_object_set_new (result, "Error", json_sprintf ("%.*s", OFP_MODELS_ERROR_MAX,
                                                            text ? text : "HTTP error"));
        json_decref (answer);
    }
    json_array_append_new (self->results, result);
    //  What it has now (unless it left the config meanwhile)
    modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_lookup (self->ctx->backends,
                                                                        target->id);
    if (backend)
        modelsync_backend_fetch (backend);
    if (--self->remaining)
        return;
    modelsync_ctx_t *ctx = self->ctx;
    json_t *request = ofp_msg_body (self->request);
    json_t *deleted = json_pack ("{s:O, s:O, s:O}", "Frontend", json_object_get (request, "Frontend"),
                                 "Model", json_object_get (request, "Model"), "Results",
                                 self->results);
    ofp_msg_t *reply = ofp_msg_reply (self->request, "DELETED", &deleted);
    modelsync_reply (ctx, &reply);
    zlistx_delete (ctx->deletes, self->handle);
}

static void
s_delete_model (modelsync_ctx_t *ctx, ofp_msg_t **request_p)
{
    ofp_msg_t *request = *request_p;
    const of_frontend_t *frontend = s_frontend (ctx, request);
    if (!frontend)
        return;
    if (zlistx_size (ctx->deletes) >= (size_t) ctx->settings->max_jobs) {
        s_refuse (ctx, request, 503, "Busy", "modelsync runs %d deletes already",
                  ctx->settings->max_jobs);
        return;
    }
    s_delete_t *self = (s_delete_t *) zmalloc (sizeof (s_delete_t));
    self->ctx = ctx;
    self->results = json_array ();
    self->targets = (s_target_t *) zmalloc (sizeof (s_target_t) * (frontend->backends.count + 1));
    bool healthy = false;
    size_t index;
    for (index = 0; index < frontend->backends.count; index++) {
        modelsync_backend_t *backend =
            (modelsync_backend_t *) zhashx_lookup (ctx->backends, frontend->backends.items [index]);
        if (!backend || modelsync_backend_openai (backend))
            continue;
        healthy |= modelsync_backend_healthy (backend);
        snprintf (self->targets [self->count++].id, OFP_IDENTIFIER_MAX + 1, "%s",
                  modelsync_backend_id (backend));
    }
    if (!healthy) {
        s_refuse (ctx, request, 409, "NoOllamaBackend",
                  "frontend '%s' has no active, healthy Ollama backend to delete from",
                  frontend->identifier);
        s_delete_destroy (&self);
        return;
    }
    self->request = request;
    *request_p = NULL;
    self->remaining = self->count;
    self->handle = zlistx_add_end (ctx->deletes, self);
    //  A pull of the model still running would bring it back
    const char *model = json_string_value (json_object_get (ofp_msg_body (request), "Model"));
    for (index = 0; index < self->count; index++)
        modelsync_pulls_cancel (ctx->pulls, self->targets [index].id, model,
                                "cancelled: the model was deleted", zclock_mono ());
    modelsync_pulls_dispatch (ctx->pulls, zclock_mono ());
    json_t *delete = json_pack ("{s:s}", "model", model);
    char *text = json_dumps (delete, JSON_COMPACT);
    json_decref (delete);
    for (index = 0; index < self->count; index++) {
        s_target_t *target = &self->targets [index];
        target->owner = self;
        modelsync_backend_t *backend =
            (modelsync_backend_t *) zhashx_lookup (ctx->backends, target->id);
        target->http = modelsync_http_new (ctx->pool, ctx->base, modelsync_backend_config (backend),
                                           EVHTTP_REQ_DELETE, "/api/delete", text,
                                           ctx->settings->models_timeout_ms, NULL,
                                           s_on_delete_end, target);
    }
    free (text);
}

//  --------------------------------------------------------------------------
//  Dispatch

static void
s_delete_item_destroy (void **item)
{
    s_delete_destroy ((s_delete_t **) item);
}

void
modelsync_jobs_handle (modelsync_ctx_t *ctx, ofp_msg_t **request_p)
{
    ofp_msg_t *request = *request_p;
    ofp_tap_publish (ctx->tap, "modelsync", "IN", request);
    if (!ctx->deletes) {
        ctx->deletes = zlistx_new ();
        zlistx_set_destructor (ctx->deletes, s_delete_item_destroy);
    }
    if (ofp_msg_error (request)) {
        ctx->malformed++;
        if (ctx->malformed <= S_MALFORMED_LOGGED || ctx->malformed % 1000 == 0)
            of_log_warning ("malformed request #%llu refused: %s",
                            (unsigned long long) ctx->malformed, ofp_msg_error (request));
        s_refuse (ctx, request, 400, "BadRequest", "%s", ofp_msg_error (request));
    }
    else if (ofp_msg_is (request, "PULL-START"))
        s_pull_start (ctx, request);
    else if (ofp_msg_is (request, "DELETE-MODEL"))
        s_delete_model (ctx, request_p);
    else
        s_refuse (ctx, request, 400, "BadRequest", "%s is not a request",
                  ofp_msg_command (request));
    ofp_msg_destroy (request_p);
}

void
modelsync_jobs_stop (modelsync_ctx_t *ctx)
{
    zlistx_destroy (&ctx->deletes);
}

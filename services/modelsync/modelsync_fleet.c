/*  =========================================================================
    modelsync_fleet - the backends modelsync watches, their fetches, and
    the RequiredModels sync with its pulls

    Why a successful pull ends only after a fetch: the scheduler lets an ask
    for a model being pulled wait, and decides it again when the pull ends.
    If the end came before the inventory that lists the model, the ask would
    be refused in between. So the end of a pull is published after the next
    fetch of its backend that started after the pull's stream ended (the
    PUB socket keeps the order: INVENTORY first, then PULL with Done).
    =========================================================================
*/

#include "modelsync_fleet.h"
#include "modelsync.h"
#include "modelsync_http.h"

//  A pull's request in flight
typedef struct {
    modelsync_ctx_t *ctx;
    modelsync_pull_t *pull;
    modelsync_http_t *http;
} s_call_t;

//  A pull whose stream ended well, waiting for a fetch to show the model
typedef struct {
    modelsync_pull_t *pull;
    modelsync_backend_t *backend;
    uint64_t generation;        //  ends once the backend has finished this many fetches
} s_finishing_t;

static void
s_on_fetched (void *arg, modelsync_backend_t *backend, bool changed);

//  --------------------------------------------------------------------------
//  Pulls: the requests behind modelsync_pull

static void
s_call_destroy (s_call_t **call_p)
{
    s_call_t *call = *call_p;
    if (call) {
        modelsync_http_destroy (&call->http);
        modelsync_pull_set_handle (call->pull, NULL);
        free (call);
        *call_p = NULL;
    }
}

static void
s_on_pull_line (void *arg, const char *line, size_t size)
{
    s_call_t *call = (s_call_t *) arg;
    modelsync_pulls_progress (call->ctx->pulls, call->pull, line, size, zclock_mono ());
}

static void
s_on_pull_end (void *arg, int status, const char *body, size_t size, const char *error)
{
    (void) size;
    s_call_t *call = (s_call_t *) arg;
    modelsync_ctx_t *ctx = call->ctx;
    modelsync_pull_t *pull = call->pull;
    const char *id = modelsync_pull_backend (pull);
    s_call_destroy (&call);
    char reason [MODELSYNC_HTTP_ERROR_MAX + OFP_MODELS_ERROR_MAX];
    if (status >= 200 && status < 300 && !modelsync_pull_error (pull)) {
        modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_lookup (ctx->backends, id);
        s_finishing_t *finishing = (s_finishing_t *) zmalloc (sizeof (s_finishing_t));
        finishing->pull = pull;
        finishing->backend = backend;
        finishing->generation = modelsync_backend_generation (backend)
                                + (modelsync_backend_fetching (backend) ? 2 : 1);
        zlistx_add_end (ctx->finishing, finishing);
        modelsync_backend_fetch (backend);
        return;
    }
    if (status >= 200 && status < 300)
        snprintf (reason, sizeof reason, "%s", modelsync_pull_error (pull));
    else if (status) {
        json_t *answer = json_loads (body, 0, NULL);
        const char *text = json_string_value (json_object_get (answer, "error"));
        snprintf (reason, sizeof reason, "HTTP %d%s%.*s", status, text ? ": " : "",
                  OFP_MODELS_ERROR_MAX, text ? text : "");
        json_decref (answer);
    }
    else
        snprintf (reason, sizeof reason, "%s", error);
    of_log_warning ("backend %s: pull of %s failed: %s", id, modelsync_pull_model (pull), reason);
    modelsync_pulls_end (ctx->pulls, pull, reason, zclock_mono ());
    modelsync_fleet_sync (ctx);
}

static void
s_pull_start (void *arg, modelsync_pull_t *pull)
{
    modelsync_ctx_t *ctx = (modelsync_ctx_t *) arg;
    modelsync_backend_t *backend =
        (modelsync_backend_t *) zhashx_lookup (ctx->backends, modelsync_pull_backend (pull));
    assert (backend);       //  a backend's pulls go with it
    s_call_t *call = (s_call_t *) zmalloc (sizeof (s_call_t));
    call->ctx = ctx;
    call->pull = pull;
    json_t *request = json_pack ("{s:s, s:b}", "model", modelsync_pull_model (pull), "stream", 1);
    char *body = json_dumps (request, JSON_COMPACT);
    json_decref (request);
    call->http = modelsync_http_new (ctx->pool, ctx->base, modelsync_backend_config (backend),
                                     EVHTTP_REQ_POST, "/api/pull", body,
                                     ctx->settings->pull_idle_timeout_ms, s_on_pull_line,
                                     s_on_pull_end, call);
    free (body);
    modelsync_pull_set_handle (pull, call);
    of_log_info ("backend %s: pulling %s", modelsync_pull_backend (pull),
                 modelsync_pull_model (pull));
}

static void
s_pull_publish (void *arg, json_t **record_p)
{
    modelsync_publish ((modelsync_ctx_t *) arg, "PULL", *record_p);
    *record_p = NULL;
}

static void
s_pull_stop (void *arg, modelsync_pull_t *pull)
{
    modelsync_ctx_t *ctx = (modelsync_ctx_t *) arg;
    s_call_t *call = (s_call_t *) modelsync_pull_handle (pull);
    s_call_destroy (&call);
    for (s_finishing_t *finishing = (s_finishing_t *) zlistx_first (ctx->finishing); finishing;
         finishing = (s_finishing_t *) zlistx_next (ctx->finishing))
        if (finishing->pull == pull) {
            zlistx_delete (ctx->finishing, zlistx_cursor (ctx->finishing));
            break;
        }
}

static const modelsync_pulls_fn_t s_pulls_fn = {s_pull_start, s_pull_publish, s_pull_stop};

//  --------------------------------------------------------------------------
//  The sync

static void
s_on_retry_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    modelsync_fleet_sync ((modelsync_ctx_t *) arg);
}

//  Wants every model the backend's frontends require and it lacks
static void
s_sync_backend (modelsync_ctx_t *ctx, modelsync_backend_t *backend, of_records_t *records,
                int64_t now)
{
    const char *id = modelsync_backend_id (backend);
    for (size_t at = 0; at < of_records_frontend_count (records); at++) {
        const of_frontend_t *frontend = of_records_frontend_at (records, at);
        if (!frontend->active || !of_strings_has (&frontend->backends, id))
            continue;
        const char *name = frontend->identifier;
        for (size_t index = 0; index < frontend->required_models.count; index++) {
            const char *model = frontend->required_models.items [index];
            if (!*model || strlen (model) > OFP_MODELS_NAME_MAX
                || modelsync_backend_has (backend, model)
                || modelsync_pulls_pending (ctx->pulls, id, model, now))
                continue;
            of_log_info ("backend %s: lacks %s, required by frontend %s", id, model, name);
            if (!modelsync_pulls_want (ctx->pulls, id, model, NULL, now) && !ctx->over_limit_logged) {
                of_log_warning ("more than %d pulls: the rest wait", OFP_MODELS_RECORDS_MAX);
                ctx->over_limit_logged = true;
            }
        }
    }
}

void
modelsync_fleet_sync (modelsync_ctx_t *ctx)
{
    int64_t now = zclock_mono ();
    of_records_t *records = of_clone_records (ctx->clone);
    //  Only what a good, fresh list says is missing: never pull on a guess
    for (modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_first (ctx->backends);
         backend; backend = (modelsync_backend_t *) zhashx_next (ctx->backends))
        if (!modelsync_backend_openai (backend) && modelsync_backend_healthy (backend)
            && modelsync_backend_known (backend) && !modelsync_backend_failing (backend))
            s_sync_backend (ctx, backend, records, now);
    modelsync_pulls_dispatch (ctx->pulls, now);
    int64_t next = modelsync_pulls_tick (ctx->pulls, now);
    evtimer_del (ctx->retry_timer);
    if (next >= 0) {
        struct timeval delay = {(long) ((next + 1) / 1000), (long) ((next + 1) % 1000) * 1000};
        evtimer_add (ctx->retry_timer, &delay);
    }
}

//  --------------------------------------------------------------------------
//  Fetches

static void
s_on_fetched (void *arg, modelsync_backend_t *backend, bool changed)
{
    modelsync_ctx_t *ctx = (modelsync_ctx_t *) arg;
    if (changed) {
        json_t *record = modelsync_backend_record (backend);
        const char *error = json_string_value (json_object_get (record, "Error"));
        if (error)
            of_log_warning ("backend %s: cannot list its models: %s",
                            modelsync_backend_id (backend), error);
        else
            of_log_info ("backend %s: %zu models, %zu loaded", modelsync_backend_id (backend),
                         json_array_size (json_object_get (record, "Models")),
                         json_array_size (json_object_get (record, "Loaded")));
        modelsync_publish (ctx, "INVENTORY", record);
    }
    //  The pulls this fetch was waiting for end now, after their INVENTORY
    uint64_t generation = modelsync_backend_generation (backend);
    s_finishing_t *finishing = (s_finishing_t *) zlistx_first (ctx->finishing);
    while (finishing) {
        void *handle = zlistx_cursor (ctx->finishing);
        s_finishing_t *next = (s_finishing_t *) zlistx_next (ctx->finishing);
        if (finishing->backend == backend && finishing->generation <= generation) {
            modelsync_pulls_end (ctx->pulls, finishing->pull, NULL, zclock_mono ());
            zlistx_delete (ctx->finishing, handle);
        }
        finishing = next;
    }
    modelsync_fleet_sync (ctx);
}

void
modelsync_fleet_fetch_all (modelsync_ctx_t *ctx, bool all)
{
    for (modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_first (ctx->backends);
         backend; backend = (modelsync_backend_t *) zhashx_next (ctx->backends))
        if (all || modelsync_backend_healthy (backend))
            modelsync_backend_fetch (backend);
}

void
modelsync_fleet_fetch_frontend (modelsync_ctx_t *ctx, const char *frontend)
{
    const of_frontend_t *object = of_records_frontend (of_clone_records (ctx->clone), frontend);
    for (size_t index = 0; object && index < object->backends.count; index++) {
        modelsync_backend_t *backend =
            (modelsync_backend_t *) zhashx_lookup (ctx->backends, object->backends.items [index]);
        if (backend && modelsync_backend_healthy (backend))
            modelsync_backend_fetch (backend);
    }
}

//  --------------------------------------------------------------------------
//  Health

static void
s_set_health (modelsync_ctx_t *ctx, modelsync_backend_t *backend, bool healthy)
{
    if (!modelsync_backend_set_healthy (backend, healthy))
        return;
    of_log_debug ("backend %s: %s", modelsync_backend_id (backend),
                  healthy ? "healthy, listing its models" : "not healthy");
    if (healthy)
        modelsync_backend_fetch (backend);
    (void) ctx;
}

void
modelsync_fleet_health (modelsync_ctx_t *ctx, ofp_msg_t *msg)
{
    json_t *body = ofp_msg_body (msg);
    if (ofp_msg_is (msg, "TRANSITION")) {
        modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_lookup (
            ctx->backends, json_string_value (json_object_get (body, "Backend")));
        if (backend)
            s_set_health (ctx, backend, streq (json_string_value (json_object_get (body, "State")),
                                               "Healthy"));
        return;
    }
    if (!ofp_msg_is (msg, "STATE"))
        return;
    //  STATE replaces everything: a backend it leaves out is Unknown
    zhashx_t *healthy = zhashx_new ();
    size_t index;
    json_t *record;
    json_array_foreach (json_object_get (body, "Backends"), index, record)
        if (streq (json_string_value (json_object_get (record, "State")), "Healthy"))
            zhashx_update (healthy, json_string_value (json_object_get (record, "Backend")),
                           (void *) 1);
    for (modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_first (ctx->backends);
         backend; backend = (modelsync_backend_t *) zhashx_next (ctx->backends))
        s_set_health (ctx, backend, zhashx_lookup (healthy, modelsync_backend_id (backend)) != NULL);
    zhashx_destroy (&healthy);
}

//  --------------------------------------------------------------------------
//  The watched set

//  Stops a backend's pulls and forgets its waiting ends
static void
s_drop_pulls (modelsync_ctx_t *ctx, modelsync_backend_t *backend)
{
    s_finishing_t *finishing = (s_finishing_t *) zlistx_first (ctx->finishing);
    while (finishing) {
        void *handle = zlistx_cursor (ctx->finishing);
        s_finishing_t *next = (s_finishing_t *) zlistx_next (ctx->finishing);
        if (finishing->backend == backend)
            zlistx_delete (ctx->finishing, handle);
        finishing = next;
    }
    modelsync_pulls_drop_backend (ctx->pulls, modelsync_backend_id (backend));
}

static void
s_backend_drop (modelsync_ctx_t *ctx, modelsync_backend_t *backend)
{
    s_drop_pulls (ctx, backend);
    char *id = strdup (modelsync_backend_id (backend));
    zhashx_delete (ctx->backends, id);
    free (id);
}

void
modelsync_fleet_reconcile (modelsync_ctx_t *ctx)
{
    of_records_t *records = of_clone_records (ctx->clone);
    zlistx_t *gone = zlistx_new ();
    for (modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_first (ctx->backends);
         backend; backend = (modelsync_backend_t *) zhashx_next (ctx->backends)) {
        const of_backend_t *config = of_records_backend (records, modelsync_backend_id (backend));
        if (!config || !config->active)
            zlistx_add_end (gone, backend);
    }
    for (modelsync_backend_t *backend = (modelsync_backend_t *) zlistx_first (gone); backend;
         backend = (modelsync_backend_t *) zlistx_next (gone)) {
        of_log_info ("backend %s: removed or inactive, no longer listed",
                     modelsync_backend_id (backend));
        s_backend_drop (ctx, backend);
    }
    zlistx_destroy (&gone);

    for (size_t index = 0; index < of_records_backend_count (records); index++) {
        const of_backend_t *config = of_records_backend_at (records, index);
        if (!config->active)
            continue;
        const char *id = config->identifier;
        modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_lookup (ctx->backends, id);
        if (backend) {
            //  An unchanged object keeps its record from one set to the next
            if (modelsync_backend_config (backend) == config)
                continue;
            bool was_openai = modelsync_backend_openai (backend);
            if (!modelsync_backend_set_config (backend, records, config))
                continue;
            if (modelsync_backend_openai (backend) && !was_openai)
                s_drop_pulls (ctx, backend);        //  OpenAI backends are never pulled to
            if (modelsync_backend_healthy (backend))
                modelsync_backend_fetch (backend);
        }
        else if (zhashx_size (ctx->backends) < OFP_MODELS_RECORDS_MAX) {
            backend = modelsync_backend_new (ctx->pool, ctx->base, records, config,
                                             ctx->settings->models_timeout_ms, s_on_fetched, ctx);
            zhashx_insert (ctx->backends, id, backend);
        }
        else if (!ctx->over_limit_logged) {
            of_log_warning ("more than %d active backends: the rest are not listed",
                            OFP_MODELS_RECORDS_MAX);
            ctx->over_limit_logged = true;
        }
    }
}

//  --------------------------------------------------------------------------
//  Start and stop

static void
s_finishing_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_backend_destroy (void **item)
{
    modelsync_backend_destroy ((modelsync_backend_t **) item);
}

int
modelsync_fleet_start (modelsync_ctx_t *ctx)
{
    of_settings_t *settings = ctx->settings;
    ctx->backends = zhashx_new ();
    zhashx_set_destructor (ctx->backends, s_backend_destroy);
    ctx->pulls = modelsync_pulls_new (settings->pulls_per_backend, settings->max_pulls,
                                      settings->pull_retry_ms, &s_pulls_fn, ctx);
    ctx->finishing = zlistx_new ();
    zlistx_set_destructor (ctx->finishing, s_finishing_destroy);
    ctx->retry_timer = evtimer_new (ctx->base, s_on_retry_timer, ctx);
    return ctx->retry_timer ? 0 : -1;
}

void
modelsync_fleet_stop (modelsync_ctx_t *ctx)
{
    if (!ctx->backends)
        return;
    for (modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_first (ctx->backends);
         backend; backend = (modelsync_backend_t *) zhashx_next (ctx->backends))
        s_drop_pulls (ctx, backend);
    zlistx_destroy (&ctx->finishing);
    modelsync_pulls_destroy (&ctx->pulls);
    zhashx_destroy (&ctx->backends);
    if (ctx->retry_timer)
        event_free (ctx->retry_timer);
    ctx->retry_timer = NULL;
}

/*  =========================================================================
    ingress_pull - /api/pull and /api/delete through a frontend

    A pull's states, in order: writing (RequiredModels, through configd),
    starting (PULL-START sent), following (ACCEPTED came; PULL records
    flow in), and rejoining while modelsync is silent or restarted (a new
    epoch): PULL-START again for the backends not done, then following the
    new job. Every path out ends the call exactly once (s_end or s_free).
    =========================================================================
*/

#include "ingress_pull.h"
#include "ingress_listing.h"
#include "ingress_progress.h"
#include "ingress_reply.h"

#define S_NDJSON         "application/x-ndjson"
#define S_MESSAGE_MAX    2048
#define S_RETRY_AFTER_MS 1000
//  PULL records kept for replies that come after them (PUB and ROUTER are
//  two connections, so a pull's first records may overtake its ACCEPTED)
#define S_RECENT_MAX     256
//  How long a followed pull waits for a silent or restarted modelsync to
//  take it again before it ends with an error line
#define S_REJOIN_MS      60000
//  A new modelsync's wording for a pull it started again
#define S_SKIPPED_AGAIN  "left out when modelsync restarted and the pull was started again"

struct _ingress_pulls_t {
    ingress_models_t *models;
    zlistx_t *calls;                //  every s_call_t, pulls and deletes
    struct event *timer;            //  watches modelsync's liveness for the followers
    json_t *recent;                 //  the last PULL records received, oldest first
};

typedef struct {
    ingress_models_t *models;
    of_exchange_t *exchange;
    bool delete;                    //  a delete, not a pull
    char frontend [OFP_IDENTIFIER_MAX + 1];
    char *model;
    bool stream;
    ingress_required_job_t *writing;
    ingress_request_t *request;
    //  Following a pull
    char job [OFP_IDENTIFIER_MAX + 1];
    char epoch [OFP_EPOCH_LENGTH + 1];
    json_t *jobs;                   //  Job -> true: ours, and those that joined it
    ingress_progress_t *progress;
    int64_t rejoin_since;           //  modelsync silent or restarted since (zclock_mono), or 0
} s_call_t;

//  --------------------------------------------------------------------------
//  The end of a call

static void
s_free (s_call_t *self)
{
    ingress_pulls_t *pulls = self->models->pulls;
    void *handle = zlistx_find (pulls->calls, self);
    if (handle)
        zlistx_detach (pulls->calls, handle);
    ingress_required_cancel (self->models->required, &self->writing);
    ingress_requester_cancel (self->models->modelsync, &self->request);
    ingress_progress_destroy (&self->progress);
    json_decref (self->jobs);
    free (self->model);
    free (self);
}

//  The client went away: stop following (a pull goes on; it is required now)
static void
s_on_client_gone (of_exchange_t *exchange, void *arg)
{
    (void) exchange;
    s_call_t *self = (s_call_t *) arg;
    of_log_debug ("client left the %s of '%s' on frontend %s", self->delete ? "delete" : "pull",
                  self->model, self->frontend);
    s_free (self);
}

//  Ends the call with an error answer, before any byte of a stream
#define s_fail(self, status, code, retry_after_ms, ...) \
    do { \
        of_exchange_set_owner ((self)->exchange, NULL, NULL); \
        ingress_reply_error ((self)->exchange, status, code, retry_after_ms, __VA_ARGS__); \
        s_free (self); \
    } while (0)

//  A pull's end: the last line of the stream, or the one answer
static void
s_end_pull (s_call_t *self, const char *reason)
{
    struct evbuffer *out = evbuffer_new ();
    char error [S_MESSAGE_MAX];
    bool success = ingress_progress_end (self->progress, reason, out, error, sizeof error);
    of_log_info ("pull of '%s' through frontend %s (job %s): %s", self->model, self->frontend,
                 self->job, success ? "success" : error);
    of_exchange_set_owner (self->exchange, NULL, NULL);
    if (self->stream) {
        of_exchange_stream_write (self->exchange, out);
        of_exchange_stream_end (self->exchange);
    }
    else if (success)
        ingress_reply_json (self->exchange, 200, json_pack ("{s:s}", "status", "success"));
    else
        ingress_reply_json (self->exchange, 500, json_pack ("{s:s}", "error", error));
    evbuffer_free (out);
    s_free (self);
}

//  modelsync refused, or did not answer
static void
s_fail_modelsync (s_call_t *self, ofp_msg_t *reply)
{
    if (!reply) {
        s_fail (self, 503, "modelsync_unavailable", S_RETRY_AFTER_MS,
                "ollamaflow's modelsync did not answer; try again shortly");
        return;
    }
    json_t *body = ofp_msg_body (reply);
    int status = (int) json_integer_value (json_object_get (body, "Status"));
    const char *error = json_string_value (json_object_get (body, "Error"));
    const char *message = json_string_value (json_object_get (body, "Message"));
    if (status == 400)
        of_log_error ("modelsync refused a request as malformed: %s", message);
    s_fail (self, status == 400 ? 500 : status, error, status == 503 ? S_RETRY_AFTER_MS : -1,
            "%s", message && *message ? message : error);
}

//  --------------------------------------------------------------------------
//  Following a pull

static void s_rejoin (s_call_t *self);

//  A record of the followed pull: ours, or (published is true) of a later job
//  that joined it. True if the call ended (and is freed).
static bool
s_follow_record (s_call_t *self, json_t *pull, bool published)
{
    const char *job = json_string_value (json_object_get (pull, "Job"));
    bool ours = job && json_object_get (self->jobs, job);
    //  A joined pull's PULLs carry the newest Job: same model, one of our backends
    if (!ours
        && (!job || !published
            || !ingress_listing_same_model (json_string_value (json_object_get (pull, "Model")),
                                            self->model)))
        return false;
    struct evbuffer *out = self->stream ? evbuffer_new () : NULL;
    if (ingress_progress_apply (self->progress, pull, out) && !ours)
        json_object_set_new (self->jobs, job, json_true ());
    if (out) {
        of_exchange_stream_write (self->exchange, out);
        evbuffer_free (out);
    }
    if (!ingress_progress_done (self->progress))
        return false;
    s_end_pull (self, NULL);
    return true;
}

//  Every message of modelsync's PUB, after the feed applied it
static void
s_on_models_message (void *arg, ofp_msg_t *msg)
{
    ingress_pulls_t *pulls = (ingress_pulls_t *) arg;
    json_t *body = ofp_msg_body (msg);
    const char *epoch = json_string_value (json_object_get (body, "Epoch"));
    bool state = ofp_msg_is (msg, "STATE");
    if (!state && !ofp_msg_is (msg, "PULL"))
        return;
    if (!state) {
        json_t *oldest = json_array_get (pulls->recent, 0);
        if (oldest && !streq (json_string_value (json_object_get (oldest, "Epoch")), epoch))
            json_array_clear (pulls->recent);
        if (json_array_size (pulls->recent) >= S_RECENT_MAX)
            json_array_remove (pulls->recent, 0);
        json_array_append (pulls->recent, body);
    }
    //  A call may end (and leave the list) while it is handled: walk a copy
    zlistx_t *calls = zlistx_dup (pulls->calls);
    for (s_call_t *call = (s_call_t *) zlistx_first (calls); call;
         call = (s_call_t *) zlistx_next (calls)) {
        if (!call->progress)
            ;                   //  not following yet
        else if (!streq (call->epoch, epoch)) {
            //  A new modelsync: take the pull up again with it
            if (!call->rejoin_since)
                call->rejoin_since = zclock_mono ();
            s_rejoin (call);
        }
        else if (call->request)
            ;                   //  rejoining: the new job's records come after its ACCEPTED
        else if (state) {
            call->rejoin_since = 0;
            //  Ends missed among the PULLs are in STATE's Pulls (kept 60 s)
            size_t index;
            json_t *pull;
            json_array_foreach (json_object_get (body, "Pulls"), index, pull)
                if (s_follow_record (call, pull, false))
                    break;
        }
        else
            s_follow_record (call, body, true);
    }
    zlistx_destroy (&calls);
}

//  A silent modelsync reports nothing more: followers wait for it (or for
//  a new one) at most S_REJOIN_MS, asking a new one to take the pull up
//  again until it does
static void
s_on_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    ingress_pulls_t *pulls = (ingress_pulls_t *) arg;
    ingress_feed_t *inventory = pulls->models->inventory;
    bool alive = ingress_feed_alive (inventory);
    int64_t now = zclock_mono ();
    zlistx_t *calls = zlistx_dup (pulls->calls);
    for (s_call_t *call = (s_call_t *) zlistx_first (calls); call;
         call = (s_call_t *) zlistx_next (calls)) {
        if (!call->progress)
            continue;
        if (!alive && !call->rejoin_since)
            call->rejoin_since = now;
        if (!call->rejoin_since)
            continue;
        if (now - call->rejoin_since > S_REJOIN_MS)
            s_end_pull (call, "modelsync stopped reporting and did not take the pull up again; "
                              "it goes on as a required model");
        else if (alive && !streq (call->epoch, ingress_feed_epoch (inventory)))
            s_rejoin (call);
    }
    zlistx_destroy (&calls);
}

//  Follows the Job of an ACCEPTED (alone: jobs of an earlier epoch are over)
static void
s_take_job (s_call_t *self, json_t *accepted)
{
    snprintf (self->job, sizeof self->job, "%s",
              json_string_value (json_object_get (accepted, "Job")));
    snprintf (self->epoch, sizeof self->epoch, "%s", ingress_feed_epoch (self->models->inventory));
    if (!self->jobs)
        self->jobs = json_object ();
    json_object_clear (self->jobs);
    json_object_set_new (self->jobs, self->job, json_true ());
    self->rejoin_since = 0;
}

//  Records that overtook the ACCEPTED; older ends are in STATE's Pulls
static void
s_replay_recent (s_call_t *self)
{
    json_t *recent = json_copy (self->models->pulls->recent);
    size_t index;
    json_t *pull;
    json_array_foreach (recent, index, pull)
        if (s_follow_record (self, pull, false))
            break;
    json_decref (recent);
}

static void
s_on_rejoined (void *arg, ofp_msg_t *reply)
{
    s_call_t *self = (s_call_t *) arg;
    self->request = NULL;
    if (!reply || !ofp_msg_is (reply, "ACCEPTED")) {
        //  A new modelsync may not know the frontend or its health yet: the
        //  timer asks again, within S_REJOIN_MS
        of_log_debug ("pull of '%s' through frontend %s: modelsync did not take it up yet (%s)",
                      self->model, self->frontend, reply ? ofp_msg_command (reply) : "no answer");
        return;
    }
    json_t *body = ofp_msg_body (reply);
    s_take_job (self, body);
    of_log_info ("pull of '%s' through frontend %s: modelsync restarted, following job %s",
                 self->model, self->frontend, self->job);
    //  Backends the new modelsync leaves out (unhealthy now) failed
    struct evbuffer *out = self->stream ? evbuffer_new () : NULL;
    size_t index;
    json_t *id;
    json_array_foreach (json_object_get (body, "Skipped"), index, id) {
        json_t *record = json_pack ("{s:O, s:s, s:b, s:s}", "Backend", id, "Status", "", "Done",
                                    1, "Error", S_SKIPPED_AGAIN);
        ingress_progress_apply (self->progress, record, out);
        json_decref (record);
    }
    if (out) {
        of_exchange_stream_write (self->exchange, out);
        evbuffer_free (out);
    }
    if (ingress_progress_done (self->progress))
        s_end_pull (self, NULL);
    else
        s_replay_recent (self);
}

//  modelsync restarted (a new epoch): asks the new one to pull again on the
//  backends not done yet (Ollama resumes a partial download; a backend that
//  finished meanwhile says success at once), unless already asked
static void
s_rejoin (s_call_t *self)
{
    if (self->request)
        return;
    json_t *body = json_pack ("{s:s, s:s, s:o}", "Frontend", self->frontend, "Model",
                              self->model, "Backends",
                              ingress_progress_pending (self->progress));
    self->request = ingress_requester_send (self->models->modelsync, "PULL-START", &body,
                                            INGRESS_CONFIG_TIMEOUT_MS, s_on_rejoined, self);
}

//  Why modelsync left a backend out of a pull, as this replica's copies say
static const char *
s_skip_reason (ingress_models_t *models, const char *id)
{
    const of_backend_t *backend = of_records_backend (of_clone_records (models->clone), id);
    json_t *health = ingress_feed_get (models->health, id);
    if (!backend)
        return "unknown";
    if (backend->api_format == OF_API_OPENAI)
        return "OpenAI format";
    if (!backend->active)
        return "inactive";
    if (!streq (json_string_value (json_object_get (health, "State")), "Healthy"))
        return "unhealthy";
    return "not in the frontend";
}

//  The X-OllamaFlow-Pull-Skipped header: "v (OpenAI format), b (unhealthy)"
static void
s_add_skipped (s_call_t *self, json_t *skipped)
{
    if (json_array_size (skipped) == 0)
        return;
    char text [S_MESSAGE_MAX] = "";
    size_t used = 0;
    size_t index;
    json_t *id;
    json_array_foreach (skipped, index, id) {
        const char *name = json_string_value (id);
        int written = snprintf (text + used, sizeof text - used, "%s%s (%s)", index ? ", " : "",
                                name, s_skip_reason (self->models, name));
        if (written < 0 || used + (size_t) written >= sizeof text)
            break;
        used += (size_t) written;
    }
    of_log_info ("pull of '%s' through frontend %s: skipped %s", self->model, self->frontend,
                 text);
    of_exchange_add_header (self->exchange, "X-OllamaFlow-Pull-Skipped", text);
}

static void
s_on_accepted (void *arg, ofp_msg_t *reply)
{
    s_call_t *self = (s_call_t *) arg;
    self->request = NULL;
    if (!reply || !ofp_msg_is (reply, "ACCEPTED")) {
        s_fail_modelsync (self, reply);
        return;
    }
    json_t *body = ofp_msg_body (reply);
    json_t *backends = json_object_get (body, "Backends");
    if (json_array_size (backends) == 0) {
        s_fail (self, 409, "NoOllamaBackend", -1,
                "frontend '%s' has no active, healthy Ollama backend to pull '%s' onto",
                self->frontend, self->model);
        return;
    }
    s_take_job (self, body);
    self->progress = ingress_progress_new (self->model, backends);
    of_log_info ("pull of '%s' through frontend %s: job %s on %zu backends", self->model,
                 self->frontend, self->job, json_array_size (backends));
    of_exchange_add_header (self->exchange, "X-OllamaFlow-Pull-Job", self->job);
    s_add_skipped (self, json_object_get (body, "Skipped"));
    if (self->stream) {
        of_exchange_add_header (self->exchange, "Content-Type", S_NDJSON);
        of_exchange_stream_start (self->exchange, 200);
        struct evbuffer *out = evbuffer_new ();
        ingress_progress_begin (self->progress, out);
        of_exchange_stream_write (self->exchange, out);
        evbuffer_free (out);
    }
    s_replay_recent (self);
}

//  --------------------------------------------------------------------------
//  Deleting

static void
s_on_deleted (void *arg, ofp_msg_t *reply)
{
    s_call_t *self = (s_call_t *) arg;
    self->request = NULL;
    if (!reply || !ofp_msg_is (reply, "DELETED")) {
        s_fail_modelsync (self, reply);
        return;
    }
    char failed [S_MESSAGE_MAX] = "";
    size_t used = 0, failures = 0, deleted = 0, total = 0;
    size_t index;
    json_t *result;
    json_array_foreach (json_object_get (ofp_msg_body (reply), "Results"), index, result) {
        int status = (int) json_integer_value (json_object_get (result, "Status"));
        const char *error = json_string_value (json_object_get (result, "Error"));
        total++;
        if (status == 200)
            deleted++;
        else if (status != 404) {
            char reason [32];
            snprintf (reason, sizeof reason, status ? "HTTP %d" : "no answer", status);
            int written = snprintf (failed + used, sizeof failed - used, "%s%s (%s)",
                                    failures ? ", " : "",
                                    json_string_value (json_object_get (result, "Backend")),
                                    error ? error : reason);
            if (written > 0 && used + (size_t) written < sizeof failed)
                used += (size_t) written;
            failures++;
        }
    }
    of_log_info ("delete of '%s' through frontend %s: %zu deleted, %zu failed of %zu", self->model,
                 self->frontend, deleted, failures, total);
    if (failures)
        s_fail (self, 502, "backend_error", -1,
                "deleting '%s' failed on %zu of %zu backends: %s", self->model, failures, total,
                failed);
    else if (deleted == 0)
        s_fail (self, 404, "model_not_found", -1, "model '%s' not found", self->model);
    else {
        of_exchange_set_owner (self->exchange, NULL, NULL);
        of_exchange_reply (self->exchange, 200, NULL, NULL, 0);
        s_free (self);
    }
}

//  --------------------------------------------------------------------------
//  Starting

//  RequiredModels is changed and committed: now modelsync
static void
s_on_written (void *arg, int status, const char *message)
{
    s_call_t *self = (s_call_t *) arg;
    self->writing = NULL;
    if (status) {
        s_fail (self, status == 400 ? 500 : status, "config_write_failed",
                status == 503 ? S_RETRY_AFTER_MS : -1, "%s", message);
        return;
    }
    json_t *body = json_pack ("{s:s, s:s}", "Frontend", self->frontend, "Model", self->model);
    if (self->delete)
        self->request = ingress_requester_send (self->models->modelsync, "DELETE-MODEL", &body,
                                                INGRESS_DELETE_TIMEOUT_MS, s_on_deleted, self);
    else
        self->request = ingress_requester_send (self->models->modelsync, "PULL-START", &body,
                                                INGRESS_CONFIG_TIMEOUT_MS, s_on_accepted, self);
}

//  Checks what pull and delete share and starts the RequiredModels change
static void
s_begin (ingress_models_t *models, of_exchange_t *exchange, const of_frontend_t *frontend,
         json_t *body, bool delete)
{
    //  Ollama's deprecated "name" still works, and ollama-js sends it
    const char *model = json_string_value (json_object_get (body, "model"));
    if (!model || !*model)
        model = json_string_value (json_object_get (body, "name"));
    if (!model || !*model) {
        ingress_reply_error (exchange, 400, "invalid_request", -1, "model is required");
        return;
    }
    if (strlen (model) > OFP_MODELS_NAME_MAX) {
        ingress_reply_error (exchange, 400, "invalid_request", -1,
                             "model: a name of at most %d characters", OFP_MODELS_NAME_MAX);
        return;
    }
    //  Nothing is changed while modelsync cannot act on it
    if (!ingress_feed_alive (models->inventory)) {
        ingress_reply_error (exchange, 503, "modelsync_unavailable", S_RETRY_AFTER_MS,
                             "ollamaflow's modelsync is not running (silent for over %lld ms); "
                             "try again shortly", (long long) models->settings->liveness_ms);
        return;
    }
    if (zlistx_size (models->pulls->calls) >= INGRESS_PULLS_MAX) {
        ingress_reply_error (exchange, 503, "busy", S_RETRY_AFTER_MS,
                             "this ollamaflow replica follows %d pulls and deletes already",
                             INGRESS_PULLS_MAX);
        return;
    }
    s_call_t *self = (s_call_t *) zmalloc (sizeof (s_call_t));
    self->models = models;
    self->exchange = exchange;
    self->delete = delete;
    snprintf (self->frontend, sizeof self->frontend, "%s", frontend->identifier);
    self->model = strdup (model);
    self->stream = !json_is_false (json_object_get (body, "stream"));
    self->writing = ingress_required_change (models->required, self->frontend, model, !delete,
                                             s_on_written, self);
    if (!self->writing) {
        free (self->model);
        free (self);
        ingress_reply_error (exchange, 503, "busy", S_RETRY_AFTER_MS,
                             "too many changes of RequiredModels wait; try again shortly");
        return;
    }
    zlistx_add_end (models->pulls->calls, self);
    of_exchange_set_owner (exchange, s_on_client_gone, self);
    of_exchange_watch (exchange);
}

void
ingress_pull_start (ingress_models_t *models, of_exchange_t *exchange,
                    const of_frontend_t *frontend, json_t *body)
{
    s_begin (models, exchange, frontend, body, false);
}

void
ingress_pull_delete (ingress_models_t *models, of_exchange_t *exchange,
                     const of_frontend_t *frontend, json_t *body)
{
    s_begin (models, exchange, frontend, body, true);
}

//  --------------------------------------------------------------------------
//  The table

ingress_pulls_t *
ingress_pulls_new (ingress_models_t *models)
{
    assert (models);
    ingress_pulls_t *self = (ingress_pulls_t *) zmalloc (sizeof (ingress_pulls_t));
    self->models = models;
    self->calls = zlistx_new ();
    self->recent = json_array ();
    ingress_feed_add_handler (models->inventory, s_on_models_message, self);
    self->timer = event_new (models->base, -1, EV_PERSIST, s_on_timer, self);
    int64_t interval = models->settings->heartbeat_ms;
    struct timeval tick = {interval / 1000, (interval % 1000) * 1000};
    event_add (self->timer, &tick);
    return self;
}

void
ingress_pulls_destroy (ingress_pulls_t **self_p)
{
    assert (self_p);
    ingress_pulls_t *self = *self_p;
    if (!self)
        return;
    ingress_feed_remove_handler (self->models->inventory, s_on_models_message, self);
    s_call_t *call;
    while ((call = (s_call_t *) zlistx_first (self->calls))) {
        of_exchange_set_owner (call->exchange, NULL, NULL);
        s_free (call);
    }
    zlistx_destroy (&self->calls);
    json_decref (self->recent);
    event_free (self->timer);
    free (self);
    *self_p = NULL;
}

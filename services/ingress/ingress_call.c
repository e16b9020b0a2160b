/*  =========================================================================
    ingress_call - one client request, from arrival to its last byte

    The states, in order: asking (a lease ask is open), sending (the request
    is on its way to the backend, no answer yet), streaming (the backend's
    answer flows to the client). Every path out of a state releases the lease
    exactly once and frees the call exactly once (s_finish).
    =========================================================================
*/

#include "ingress_call.h"
#include "ingress_admin.h"
#include "ingress_admit.h"
#include "ingress_listing.h"
#include "ingress_match.h"
#include "ingress_reply.h"
#include "ingress_route.h"
#include "ingress_answer.h"
#include "ingress_ops.h"
#include "ingress_reqid.h"
#include "ingress_prefix.h"
#include <event2/keyvalq_struct.h>

//  Backpressure: stop reading the backend above this much unsent client
//  output, resume below the low mark (bounded memory per stream)
#define S_OUTPUT_HIGH (256 * 1024)
#define S_OUTPUT_LOW  (64 * 1024)
//  The most of a connect failure's reason told to the client
#define S_FAILURE_MAX 400

typedef struct {
    ingress_ctx_t *ctx;
    of_exchange_t *exchange;
    const ingress_route_t *route;
    of_records_t *records;      //  the config when the call began (a reference): a change
                                //  while the call runs does not change the call
    const of_frontend_t *frontend;  //  its frontend, from records
    json_t *body;               //  the client's body with the frontend's pins
    json_t *ask;                //  the LEASE body; Exclude grows with each failed backend
    ingress_ask_t *asking;
    ingress_lease_t *lease;
    of_upstream_t *upstream;
    struct event *timer;        //  first byte, then idle between chunks
    bool streaming_timer;       //  the timer is the idle one
    int attempts;
    int64_t sent_at;            //  zclock_mono when the request left for the backend
    int64_t ttfb_ms;            //  -1 until the first byte
    int status;                 //  the backend's status, 0 until known
    struct evbuffer *whole;     //  a response with a Content-Length, collected
    char *content_type;         //  its Content-Type
    ingress_answer_t *answer;   //  a translated request's answer, in Ollama's shape
    bool answer_streamed;       //  its client asked for a stream (NDJSON)
    char *failure;              //  the last backend that failed to connect, and why, or NULL
    char *model;                //  the model asked for (the report's), or NULL
    char id [INGRESS_REQID_MAX + 1];    //  the request's id (ingress_reqid)
    ingress_report_t report;    //  what the metrics and access log see (ingress_ops)
    char key [OF_IDENTIFIER_MAX + 1];   //  the client's API key, "" when none counts
} s_call_t;

static void s_ask (s_call_t *self);

//  --------------------------------------------------------------------------
//  The end of a call

static void
s_release (s_call_t *self, const char *outcome)
{
    if (!self->lease)
        return;
    //  The tokens and durations the response reported, as the meter read them
    //  (ended by s_finish's report): a key's TokensPerMinute is charged with
    //  them, the scheduler learns from them
    ingress_outcome_t report = {outcome, self->status, self->ttfb_ms, &self->report.meter};
    ingress_link_release (self->ctx->link, &self->lease, &report);
}

//  Frees the call; whatever it still holds is given back with outcome
static void
s_finish (s_call_t *self, const char *outcome)
{
    self->report.outcome = outcome;
    if (!self->report.status)
        self->report.status = streq (outcome, "client_gone") ? 0 : self->status;
    ingress_ops_report (self->ctx->ops, &self->report);
    if (self->asking)
        ingress_link_cancel (self->ctx->link, &self->asking, outcome);
    of_upstream_cancel (&self->upstream);
    s_release (self, outcome);
    if (self->timer)
        event_free (self->timer);
    of_records_destroy (&self->records);
    json_decref (self->body);
    json_decref (self->ask);
    if (self->whole)
        evbuffer_free (self->whole);
    free (self->content_type);
    free (self->failure);
    free (self->model);
    ingress_answer_destroy (&self->answer);
    free (self);
}

//  The client went away, in any state: cancel everything now
static void
s_on_client_gone (of_exchange_t *exchange, void *arg)
{
    (void) exchange;
    s_finish ((s_call_t *) arg, "client_gone");
}

//  Ends the call with an error answer (nothing was sent to the client yet)
#define s_fail_reply(self, outcome, http_status, code, ...) \
    do { \
        of_exchange_set_owner ((self)->exchange, NULL, NULL); \
        (self)->report.status = http_status; \
        ingress_reply_error ((self)->exchange, http_status, code, -1, __VA_ARGS__); \
        s_finish (self, outcome); \
    } while (0)

//  --------------------------------------------------------------------------
//  Timers

static void
s_on_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_call_t *self = (s_call_t *) arg;
    of_upstream_cancel (&self->upstream);
    if (self->streaming_timer) {
        //  A stream that stopped moving: the client must see it cut, not ended
        of_exchange_set_owner (self->exchange, NULL, NULL);
        of_exchange_abort (self->exchange);
        s_finish (self, "timeout");
        return;
    }
    s_fail_reply (self, "timeout", 504, "timeout",
                  "backend '%s' sent nothing within the frontend's TimeoutMs (%lld ms)",
                  self->lease->backend,
                  (long long) self->frontend->timeout_ms);
}

static void
s_arm_timer (s_call_t *self, int64_t ms, bool streaming)
{
    self->streaming_timer = streaming;
    if (ms <= 0) {
        event_del (self->timer);
        return;
    }
    struct timeval delay = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add (self->timer, &delay);
}

//  --------------------------------------------------------------------------
//  The backend's answer

//  Hop-by-hop and framing headers are the ingress's own to write
static bool
s_forwardable_response_header (const char *name)
{
    static const char *const dropped [] = {
        "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Proxy-Connection",
        "Trailer", "Upgrade", "Date", "Server", "X-Request-Id", NULL
    };
    for (const char *const *d = dropped; *d; d++)
        if (strcasecmp (name, *d) == 0)
            return false;
    return strncasecmp (name, "Access-Control-", 15) != 0
           && strncasecmp (name, "X-OllamaFlow-", 13) != 0;
}

static void
s_on_full (of_exchange_t *exchange, bool full, void *arg)
{
    (void) exchange;
    s_call_t *self = (s_call_t *) arg;
    if (self->upstream)
        of_upstream_hold (self->upstream, full);
}

static void
s_on_head (void *arg, int status, struct evkeyvalq *headers)
{
    s_call_t *self = (s_call_t *) arg;
    self->status = status;
    self->ttfb_ms = zclock_mono () - self->sent_at;
    //  The backend answered: nothing sends the request again, so the LEASE
    //  body and the request's go now rather than with the call (a held
    //  stream's memory), the request's unless the access log is to show it
    json_decref (self->ask);
    self->ask = NULL;
    if (!self->report.request_body) {
        json_decref (self->body);
        self->body = NULL;
    }
    bool whole = evhttp_find_header (headers, "Content-Length")
                 && !evhttp_find_header (headers, "Transfer-Encoding");
    //  A translated answer is written in Ollama's shape: a failure is collected
    //  whole to become Ollama's error, a stream is NDJSON
    if (self->answer && (status < 200 || status > 299))
        whole = true;
    //  A backend may answer a streamed request with one whole JSON body (its
    //  length said or chunked): collected, it becomes the one final object
    const char *backend_type = evhttp_find_header (headers, "Content-Type");
    if (self->answer && backend_type && strncasecmp (backend_type, "application/json", 16) == 0)
        whole = true;
    struct evkeyval *header;
    TAILQ_FOREACH (header, headers, next)
        if (s_forwardable_response_header (header->key)
            && !((whole || self->answer) && strcasecmp (header->key, "Content-Type") == 0))
            of_exchange_add_header (self->exchange, header->key, header->value);
    of_exchange_add_header (self->exchange, "X-OllamaFlow-Backend", self->lease->backend);
    of_exchange_add_header (self->exchange, "X-OllamaFlow-Sticky",
                            self->lease->sticky ? "true" : "false");
    //  A response that says its length (not a stream) goes out whole, with its
    //  length, as the backend sent it; a stream goes out chunk by chunk
    if (whole) {
        self->whole = evbuffer_new ();
        const char *type = self->answer ? "application/json; charset=utf-8" : backend_type;
        self->content_type = type ? strdup (type) : NULL;
        s_arm_timer (self, self->ctx->settings->idle_timeout_ms, true);
        return;
    }
    if (self->answer)
        of_exchange_add_header (self->exchange, "Content-Type", "application/x-ndjson");
    of_exchange_stream_start (self->exchange, status);
    of_exchange_set_watermarks (self->exchange, S_OUTPUT_HIGH, S_OUTPUT_LOW, s_on_full, self);
    s_arm_timer (self, self->ctx->settings->idle_timeout_ms, true);
}

//  What a translated answer makes of the backend's bytes, to the client;
//  data NULL: the backend's stream ended
static void
s_answer_write (s_call_t *self, struct evbuffer *data)
{
    struct evbuffer *out = evbuffer_new ();
    if (data) {
        size_t size = evbuffer_get_length (data);
        ingress_answer_feed (self->answer, (const char *) evbuffer_pullup (data, -1), size, out);
        evbuffer_drain (data, size);
    }
    else
        ingress_answer_end (self->answer, out);
    ingress_meter_feed_buffer (&self->report.meter, out);
    of_exchange_stream_write (self->exchange, out);
    evbuffer_free (out);
}

static void
s_on_data (void *arg, struct evbuffer *data)
{
    s_call_t *self = (s_call_t *) arg;
    s_arm_timer (self, self->ctx->settings->idle_timeout_ms, true);
    if (self->whole)
        evbuffer_add_buffer (self->whole, data);
    else
    if (self->answer)
        s_answer_write (self, data);
    else {
        ingress_meter_feed_buffer (&self->report.meter, data);
        of_exchange_stream_write (self->exchange, data);
    }
}

static void
s_on_done (void *arg)
{
    s_call_t *self = (s_call_t *) arg;
    self->upstream = NULL;
    of_exchange_set_owner (self->exchange, NULL, NULL);
    if (self->whole && self->answer) {
        int status;
        char *text = ingress_answer_whole (self->answer, self->status,
                                           (const char *) evbuffer_pullup (self->whole, -1),
                                           evbuffer_get_length (self->whole), &status);
        self->report.status = status;
        //  A streamed client's answer is NDJSON even when it is one object
        //  (an error before the stream began stays JSON, as Ollama's is)
        const char *type = self->content_type;
        if (self->answer_streamed && status >= 200 && status <= 299) {
            char *line = zsys_sprintf ("%s\n", text);
            zstr_free (&text);
            text = line;
            type = "application/x-ndjson";
        }
        ingress_meter_feed (&self->report.meter, text, strlen (text));
        of_exchange_reply (self->exchange, status, type, text, strlen (text));
        zstr_free (&text);
    }
    else
    if (self->whole) {
        size_t size = evbuffer_get_length (self->whole);
        ingress_meter_feed_buffer (&self->report.meter, self->whole);
        of_exchange_reply (self->exchange, self->status, self->content_type,
                           (const char *) evbuffer_pullup (self->whole, -1), size);
    }
    else {
        if (self->answer)
            s_answer_write (self, NULL);
        of_exchange_stream_end (self->exchange);
    }
    s_finish (self, "ok");
}

static void
s_on_fail (void *arg, of_upstream_fail_t fail, const char *reason)
{
    s_call_t *self = (s_call_t *) arg;
    self->upstream = NULL;
    if (fail == OF_UPSTREAM_FAIL_BROKEN && self->whole) {
        //  Nothing reached the client yet, but the backend did the work: no retry
        of_log_info ("backend %s: %s", self->lease->backend, reason);
        s_fail_reply (self, "backend_error", 502, "backend_error", "backend '%s' failed: %s",
                      self->lease->backend, reason);
        return;
    }
    if (fail == OF_UPSTREAM_FAIL_BROKEN) {
        //  Bytes reached the client: it must see the stream cut, not a clean end
        of_log_info ("backend %s: %s", self->lease->backend, reason);
        of_exchange_set_owner (self->exchange, NULL, NULL);
        of_exchange_abort (self->exchange);
        s_finish (self, "backend_error");
        return;
    }
    of_log_info ("backend %s (attempt %d): %s", self->lease->backend, self->attempts, reason);
    //  Nothing reached the client: another backend may answer instead
    bool retry = self->frontend->allow_retries
                 && self->attempts < self->ctx->settings->max_attempts
                 && json_array_size (json_object_get (self->ask, "Exclude")) < OFP_LEASE_EXCLUDE_MAX;
    char backend [OFP_IDENTIFIER_MAX + 1];
    snprintf (backend, sizeof backend, "%s", self->lease->backend);
    s_release (self, "connect_failure");
    free (self->failure);
    self->failure = zsys_sprintf ("backend '%s' failed: %.*s", backend, S_FAILURE_MAX, reason);
    if (retry) {
        event_del (self->timer);
        json_array_append_new (json_object_get (self->ask, "Exclude"), json_string (backend));
        s_ask (self);
        return;
    }
    s_fail_reply (self, "connect_failure", 502, "backend_unavailable", "%s", self->failure);
}

//  --------------------------------------------------------------------------
//  Sending to the backend

//  Client headers that are the ingress's own to write, or must not travel on;
//  a client's credentials travel only as the builder's extras (s_send)
static bool
s_forwardable_request_header (const char *name)
{
    static const char *const dropped [] = {
        "Host", "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "TE",
        "Proxy-Connection", "Upgrade", "Expect", "Accept-Encoding", "X-Forwarded-For", NULL
    };
    for (const char *const *d = dropped; *d; d++)
        if (strcasecmp (name, *d) == 0)
            return false;
    return strncasecmp (name, "X-OllamaFlow-", 13) != 0 && !of_upstream_prepare_credential (name);
}

//  The client's headers that go on, and the proxy's defaults
static void
s_fill_headers (s_call_t *self, struct evkeyvalq *headers)
{
    evhtp_kv_t *header;
    TAILQ_FOREACH (header, of_exchange_request (self->exchange)->headers_in, next)
        if (header->key && header->val && s_forwardable_request_header (header->key))
            evhttp_add_header (headers, header->key, header->val);
    evhttp_remove_header (headers, "Content-Type");
    evhttp_add_header (headers, "Content-Type", "application/json");
}

//  True if an OpenAI-format backend takes images for the request's model
//  (its ImageModels names it, or is ["*"]; "name" and "name:latest" are one)
static bool
s_takes_images (const of_backend_t *backend, json_t *body)
{
    const char *model = json_string_value (json_object_get (body, "model"));
    if (!model)
        return false;
    size_t length = strlen (model);
    if (length > 7 && streq (model + length - 7, ":latest"))
        length -= 7;
    for (size_t index = 0; index < backend->image_models.count; index++) {
        const char *text = backend->image_models.items [index];
        size_t size = strlen (text);
        if (size > 7 && streq (text + size - 7, ":latest"))
            size -= 7;
        if (streq (text, "*") || (size == length && strncmp (text, model, length) == 0))
            return true;
    }
    return false;
}

static void
s_send (s_call_t *self)
{
    ingress_lease_t *lease = self->lease;
    //  The backend as configured now, not when the call began: the scheduler
    //  granted it from its own current copy (it may be newer than the call).
    //  Borrowed for this event only: of_upstream reads it until the send below.
    const of_backend_t *backend = of_records_backend (of_clone_records (self->ctx->clone),
                                                      lease->backend);
    //  An Ollama route goes to an OpenAI-format backend only when translated,
    //  and nowhere this replica has no config for. The scheduler filters by the
    //  route's API already: this only catches config copies that disagree.
    bool translated = lease->openai && !self->route->openai;
    if (!backend || (translated && !ofp_lease_translated_path (self->route->path))) {
        of_log_info ("lease on %s not usable for %s %s", lease->backend, "POST",
                     self->route->path);
        json_array_append_new (json_object_get (self->ask, "Exclude"),
                               json_string (lease->backend));
        s_release (self, "rejected");
        if (json_array_size (json_object_get (self->ask, "Exclude")) < OFP_LEASE_EXCLUDE_MAX) {
            s_ask (self);
            return;
        }
        s_fail_reply (self, "rejected", 502, "backend_unavailable",
                      "no backend of this frontend can serve %s", self->route->path);
        return;
    }
    //  The backend's pins go over the frontend's, over the client's (on a
    //  copy: a retry on another backend starts from the frontend's again)
    json_t *pinned = streq (self->route->kind, "other")      ? NULL
                     : streq (self->route->kind, "embeddings") ? backend->pinned_embeddings
                                                               : backend->pinned_completions;
    json_t *body = json_incref (self->body);
    if (json_object_size (pinned) > 0) {
        json_decref (body);
        body = json_deep_copy (self->body);
        of_merge_pinned (body, pinned);
    }
    //  The pins apply in the client's dialect; a translated request then
    //  goes in the backend's, and its answer comes back in the client's
    const char *path = self->route->path;
    ingress_answer_destroy (&self->answer);
    if (translated) {
        char error [256];
        json_t *openai = ingress_translate_request (path, body, s_takes_images (backend, body),
                                                    &path, error, sizeof error);
        json_decref (body);
        if (!openai) {
            s_fail_reply (self, "rejected", 400, "invalid_request", "%s", error);
            return;
        }
        body = openai;
        self->answer_streamed = json_is_true (json_object_get (openai, "stream"));
        self->answer = ingress_answer_new (
            self->route->path, json_string_value (json_object_get (self->body, "model")));
    }
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);

    static const of_upstream_fn_t callbacks = {s_on_head, s_on_data, s_on_done, s_on_fail};
    self->upstream = of_upstream_new (self->ctx->pool, backend, &callbacks, self);
    s_fill_headers (self, of_upstream_headers (self->upstream));
    const char *chain = of_exchange_header (self->exchange, "X-Forwarded-For");
    char *forwarded = chain && *chain ? zsys_sprintf ("%s, %s", chain,
                                                      of_exchange_peer (self->exchange))
                                      : NULL;
    of_upstream_extra_t extra = {
        .query = of_exchange_query (self->exchange),
        .forwarded_for = forwarded ? forwarded : of_exchange_peer (self->exchange),
        .request_id = self->id
    };
    //  The one place a client's credentials are offered to a backend (the
    //  builder passes them only to a backend without credentials of its own).
    //  A frontend that checks client API keys never offers them, nor does a
    //  request that presented one: they are ollamaflow's, not the backend's.
    if (self->frontend->pass_client_credentials && !self->frontend->require_api_key
        && !*self->key) {
        extra.authorization = of_exchange_header (self->exchange, "Authorization");
        extra.api_key = of_exchange_header (self->exchange, "x-api-key");
    }
    self->attempts++;
    self->sent_at = zclock_mono ();
    of_upstream_send (self->upstream, EVHTTP_REQ_POST, path, &extra, text,
                      strlen (text));
    zstr_free (&forwarded);
    free (text);
    s_arm_timer (self, self->frontend->timeout_ms, false);
}

//  --------------------------------------------------------------------------
//  The lease

static void
s_on_lease (void *arg, ingress_lease_t *lease, const ingress_denial_t *denial)
{
    s_call_t *self = (s_call_t *) arg;
    self->asking = NULL;
    if (lease) {
        self->lease = lease;
        ingress_ops_backend (self->ctx->ops, &self->report, lease->backend);
        self->report.queue_ms = lease->queued_ms;
        s_send (self);
        return;
    }
    if (self->failure && streq (denial->error, "NoHealthyBackend")) {
        //  Every backend left failed to connect: what the client needs is why
        s_fail_reply (self, "rejected", 502, "backend_unavailable", "%s", self->failure);
        return;
    }
    of_exchange_set_owner (self->exchange, NULL, NULL);
    self->report.status = denial->status;
    snprintf (self->report.reason, sizeof self->report.reason, "%s", denial->error);
    ingress_reply_error (self->exchange, denial->status, denial->error, denial->retry_after_ms,
                         "%s", denial->message);
    s_finish (self, "rejected");
}

static void
s_ask (s_call_t *self)
{
    //  Shared, not copied: the call changes its ask (Exclude) only once the
    //  ask is over, and the link encodes each LEASE when it queues it
    json_t *body = json_incref (self->ask);
    self->asking = ingress_link_ask (self->ctx->link, &body, s_on_lease, self);
}

//  --------------------------------------------------------------------------
//  Arrival

//  True if every backend of the frontend is OpenAI-format (none serves
//  Ollama's own routes such as /api/show)
static bool
s_openai_only (ingress_ctx_t *ctx, const of_frontend_t *frontend)
{
    of_records_t *records = of_clone_records (ctx->clone);
    for (size_t index = 0; index < frontend->backends.count; index++) {
        const of_backend_t *backend = of_records_backend (records,
                                                          frontend->backends.items [index]);
        if (backend && backend->api_format != OF_API_OPENAI)
            return false;
    }
    return true;
}

//  /api/show on a frontend of OpenAI-format backends: what their listings say
static void
s_show (ingress_ctx_t *ctx, of_exchange_t *exchange, const of_frontend_t *frontend,
        const char *model)
{
    json_t *inventories = ingress_models_inventories (ctx->models, frontend);
    json_t *shown = model ? ingress_listing_show (inventories, model) : NULL;
    json_decref (inventories);
    if (shown)
        ingress_reply_json (exchange, 200, shown);
    else
        ingress_reply_error (exchange, 404, "model_not_found", -1, "model '%s' not found",
                             model ? model : "");
}

static void
s_start (ingress_ctx_t *ctx, of_exchange_t *exchange, const ingress_route_t *route, const char *id)
{
    const of_key_t *key;
    const of_frontend_t *frontend = ingress_admit_frontend (ctx->clone, ctx->keys, exchange, &key);
    if (!frontend)
        return;
    bool embeddings = streq (route->kind, "embeddings");
    bool pinned = embeddings || streq (route->kind, "completions");
    if (pinned && !(embeddings ? frontend->allow_embeddings : frontend->allow_completions)) {
        ingress_reply_error (exchange, 403, "kind_not_allowed", -1,
                             "%s requests are not allowed on frontend '%s'", route->kind,
                             frontend->identifier);
        return;
    }
    json_t *body = ingress_admit_body (exchange, frontend, route);
    if (!body)
        return;
    char error [256];
    json_t *labels = ingress_match_labels (exchange, error, sizeof error);
    if (!labels) {
        json_decref (body);
        ingress_reply_error (exchange, 400, "invalid_request", -1, "%s", error);
        return;
    }
    if (pinned)
        of_merge_pinned (body, embeddings ? frontend->pinned_embeddings
                                          : frontend->pinned_completions);
    //  The model the backend will get: after the pins
    const char *model = json_string_value (json_object_get (body, "model"));
    if (!model)
        model = json_string_value (json_object_get (body, "name"));
    if (model && strlen (model) > OFP_LEASE_MODEL_MAX) {
        json_decref (body);
        json_decref (labels);
        ingress_reply_error (exchange, 400, "invalid_request", -1,
                             "model: a name of at most %d characters", OFP_LEASE_MODEL_MAX);
        return;
    }
    if (!ingress_keys_admit_model (exchange, key, model)) {
        json_decref (body);
        json_decref (labels);
        return;
    }
    if (streq (route->path, "/api/show") && s_openai_only (ctx, frontend)) {
        s_show (ctx, exchange, frontend, model);
        json_decref (body);
        json_decref (labels);
        return;
    }
    char client [INGRESS_STICKY_KEY_MAX + 1];
    ingress_match_client (exchange, ctx->settings->sticky_headers, ctx->settings->trusted_proxies,
                          client, sizeof client);
    char route_name [OFP_LEASE_ROUTE_MAX];
    snprintf (route_name, sizeof route_name, "POST %s", route->path);

    s_call_t *self = (s_call_t *) zmalloc (sizeof (s_call_t));
    self->ctx = ctx;
    self->exchange = exchange;
    self->route = route;
    //  The frontend matched is the current records': the call keeps them
    self->records = of_records_ref (of_clone_records (ctx->clone));
    self->frontend = frontend;
    self->body = body;
    self->ttfb_ms = -1;
    snprintf (self->id, sizeof self->id, "%s", id);
    //  The call's own copy: the body may go before the call ends (s_on_head)
    self->model = model ? strdup (model) : NULL;
    self->report = (ingress_report_t) {
        .id = self->id, .route = route->path, .kind = route->kind, .model = self->model,
        .request_body = body
    };
    ingress_ops_start (ctx->ops, &self->report, frontend);
    if (key) {
        snprintf (self->key, sizeof self->key, "%s", key->identifier);
        self->report.key = self->key;
    }
    self->timer = evtimer_new (ctx->base, s_on_timer, self);
    self->ask = json_pack ("{s:s, s:s, s:s, s:s, s:o, s:s, s:[], s:I, s:s}", "Frontend",
                           frontend->identifier, "Kind", route->kind, "Route",
                           route_name, "Model", model ? model : "", "Labels", labels,
                           "StickyKey", client, "Exclude", "DeadlineMs",
                           (json_int_t) ctx->settings->queue_timeout_ms, "RequestId", id);
    //  The prompt's prefix chain: where its cache probably is
    ingress_prefix_add (ingress_route_kind (route), body, model, self->ask);
    //  The scheduler applies the key's limits and priority across every replica
    if (key) {
        json_object_set_new (self->ask, "Key", json_string (self->key));
        json_object_set_new (self->ask, "KeyLimits", json_pack (
            "{s:s, s:I, s:I, s:I}", "Priority", of_priority_name (key->priority),
            "MaxConcurrentRequests", (json_int_t) key->max_concurrent_requests,
            "RequestsPerMinute", (json_int_t) key->requests_per_minute, "TokensPerMinute",
            (json_int_t) key->tokens_per_minute));
    }
    of_exchange_set_owner (exchange, s_on_client_gone, self);
    of_exchange_watch (exchange);
    s_ask (self);
}

void
ingress_call_handle (ingress_ctx_t *ctx, evhtp_request_t *request)
{
    of_exchange_t *exchange = of_exchange_new (request, ctx->base);
    char id [INGRESS_REQID_MAX + 1];
    ingress_reqid_make (exchange, ctx->settings->ingress_id, ingress_ops_arrived (ctx->ops), id,
                        sizeof id);
    of_exchange_add_header (exchange, "X-OllamaFlow-Request", id);
    of_exchange_add_header (exchange, "X-Request-Id", id);
    ingress_reply_cors (exchange);

    htp_method method = evhtp_request_get_method (request);
    const char *path = of_exchange_path (exchange);
    if (method == htp_method_OPTIONS) {
        ingress_reply_preflight (exchange);
        return;
    }
    if (ingress_ops_handle (ctx->ops, exchange))
        return;
    if (ingress_admin_path (path)) {
        ingress_admin_handle (ctx->admin, exchange);
        return;
    }
    bool known;
    const ingress_route_t *route = ingress_route_find (method, path, &known);
    if (!route) {
        if (known)
            ingress_reply_error (exchange, 405, "method_not_allowed", -1,
                                 "method %s is not allowed on %.200s",
                                 htparser_get_methodstr_m (method), path);
        else
            ingress_reply_error (exchange, 404, "not_found", -1, "unknown route %s %.200s",
                                 htparser_get_methodstr_m (method), path);
    }
    else if (route->action == INGRESS_HOME)
        ingress_reply_home (exchange);
    else if (route->action == INGRESS_PROXY) {
        s_start (ctx, exchange, route, id);
        ingress_ops_refused (ctx->ops, route, id, exchange);
    }
    else if (route->action == INGRESS_REFUSE)
        //  They change one server's models, and a frontend is many servers
        ingress_reply_error (exchange, 403, "not_supported", -1,
                             "%s is not served through ollamaflow: it writes one server's models "
                             "and a frontend spreads over many (OpenAI-format backends have no "
                             "such route at all); send it to the backend itself", path);
    else
        ingress_models_handle (ctx->models, exchange, route);
}

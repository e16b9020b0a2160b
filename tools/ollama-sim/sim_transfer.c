/*  =========================================================================
    sim_transfer - /api/pull and /api/push with progress streams
    =========================================================================
*/

#include "sim_transfer.h"
#include "sim_clock.h"
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Ollama reports progress about every 60 ms per layer
#define PROGRESS_NS     (60 * SIM_NS_PER_MS)
#define SHORT_DIGEST    12
#define UNKNOWN_MODEL   "pull model manifest: file does not exist"
#define PULL_FAILURE    "max retries exceeded: unexpected EOF"
#define LINE_MAX_BYTES  512

typedef struct {
    sim_backend_t *backend;
    sim_req_t *req;
    bool push;
    bool stream;
    sim_model_spec_t spec;
    bool cached;                //  already on the backend: no bytes to move
    bool fail;                  //  pull_fail fault, taken at the start
    bool unknown;               //  neither here nor in the registry
    double bandwidth;
    int64_t t_start;
} transfer_t;

//  The transfer is over: a pull stops counting as running
static void
s_free (transfer_t *self)
{
    if (!self->push)
        sim_backend_count_pull (self->backend, -1);
    free (self);
}

static void
s_gone (sim_req_t *req, void *arg)
{
    (void) req;
    transfer_t *self = (transfer_t *) arg;
    sim_backend_count (self->backend, sim_backend_dropping (self->backend)? SIM_STAT_FAULTED
                                                                         : SIM_STAT_CANCELLED, 1);
    s_free (self);
}

static void
s_line (transfer_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_line (transfer_t *self, const char *format, ...)
{
    if (!self->stream)
        return;
    char line [LINE_MAX_BYTES];
    va_list args;
    va_start (args, format);
    int length = vsnprintf (line, sizeof line - 1, format, args);
    va_end (args);
    if (length < 0 || length >= (int) sizeof line - 1)
        return;
    line [length++] = '\n';
    sim_req_stream_write (self->req, line, (size_t) length);
}

static void
s_end_error (transfer_t *self, const char *message)
{
    sim_backend_count (self->backend, SIM_STAT_FAULTED, self->fail? 1: 0);
    if (self->stream) {
        s_line (self, "{\"error\":\"%s\"}", message);
        sim_req_stream_end (self->req);
    }
    else
        sim_req_reply_error (self->req, 500, message);
    s_free (self);
}

static void
s_end_success (transfer_t *self)
{
    if (self->push)
        s_line (self, "{\"status\":\"pushing manifest\"}");
    else {
        s_line (self, "{\"status\":\"verifying sha256 digest\"}");
        s_line (self, "{\"status\":\"writing manifest\"}");
        sim_models_add (sim_backend_models (self->backend), &self->spec);
    }
    sim_backend_count (self->backend, SIM_STAT_COMPLETED, 1);
    if (self->stream) {
        s_line (self, "{\"status\":\"success\"}");
        sim_req_stream_end (self->req);
    }
    else
        sim_req_reply (self->req, 200, SIM_CT_JSON, "{\"status\":\"success\"}", 20);
    s_free (self);
}

static void
s_tick (sim_req_t *req, void *arg)
{
    transfer_t *self = (transfer_t *) arg;
    uint64_t total = self->spec.size, completed = total;
    if (!self->cached && self->bandwidth > 0) {
        double seconds = (double) (sim_clock_mono_ns () - self->t_start) / 1e9;
        double moved = seconds * self->bandwidth;
        if (moved < (double) total)
            completed = (uint64_t) moved;
    }
    if (self->fail && completed >= total / 2) {
        sim_req_set_owner (req, NULL, NULL);
        s_end_error (self, PULL_FAILURE);
        return;
    }
    s_line (self, "{\"status\":\"%s %.*s\",\"digest\":\"sha256:%s\",\"total\":%llu,"
            "\"completed\":%llu}", self->push? "pushing": "pulling", SHORT_DIGEST,
            self->spec.digest, self->spec.digest, (unsigned long long) total,
            (unsigned long long) completed);
    if (completed == total) {
        sim_req_set_owner (req, NULL, NULL);
        s_end_success (self);
        return;
    }
    sim_req_timer (req, PROGRESS_NS, s_tick, self);
}

static void
s_start (sim_req_t *req, void *arg)
{
    transfer_t *self = (transfer_t *) arg;
    if (self->stream)
        sim_req_stream_start (req, 200, SIM_CT_NDJSON);
    s_line (self, "{\"status\":\"%s\"}", self->push? "retrieving manifest": "pulling manifest");
    if (self->unknown) {
        sim_req_set_owner (req, NULL, NULL);
        s_end_error (self, self->push? "file does not exist": UNKNOWN_MODEL);
        return;
    }
    s_tick (req, self);
}

void
sim_transfer_handle (sim_backend_t *backend, sim_req_t *req, sim_route_t route)
{
    char error [SIM_ERROR_TEXT_MAX];
    json_t *body = sim_req_body (req, error, sizeof error);
    if (!body) {
        sim_req_reply_error (req, 400, error);
        return;
    }
    const char *name = json_string_value (json_object_get (body, "model"));
    if (!name || !*name)
        name = json_string_value (json_object_get (body, "name"));
    char normal [SIM_NAME_MAX];
    if (!name || !*name) {
        sim_req_reply_error (req, 400, "model is required");
        return;
    }
    if (sim_fleet_normalise (name, normal, sizeof normal)) {
        sim_req_reply_error (req, 400, "invalid model name");
        return;
    }
    transfer_t *self = calloc (1, sizeof *self);
    assert (self);
    const sim_backend_config_t *config = sim_backend_config (backend);
    self->backend = backend;
    self->req = req;
    self->push = route == SIM_ROUTE_PUSH;
    self->stream = !json_is_false (json_object_get (body, "stream"));
    self->bandwidth = sim_fleet_scaled_rate (config, config->pull_bandwidth);
    self->fail = !self->push && config->faults.pull_fail;
    self->t_start = sim_clock_mono_ns ();
    sim_model_t *local = sim_models_find (sim_backend_models (backend), normal);
    const sim_model_spec_t *remote = sim_fleet_registry_find (sim_backend_fleet (backend), normal);
    self->unknown = self->push? !local: !local && !remote;
    if (!self->unknown) {
        self->spec = local? local->spec: *remote;
        self->cached = local != NULL && !self->push;
    }
    if (!self->push)
        sim_backend_count_pull (backend, 1);
    sim_req_set_owner (req, s_gone, self);
    sim_req_watch (req);
    //  Start from the event loop: a stream started inside evhtp's request
    //  callback and continued from a timer loses its connection
    sim_req_timer (req, 0, s_start, self);
}

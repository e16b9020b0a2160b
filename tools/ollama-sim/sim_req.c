/*  =========================================================================
    sim_req - one HTTP exchange of a simulated backend, held paused

    A thin layer over libshared's of_exchange (pausing, the disconnect watch,
    replies and streams): what the simulator adds is Ollama's way of reading
    a body, its error shapes, and one timer per exchange for token pacing.
    =========================================================================
*/

#include "sim_req.h"
#include "of_exchange.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _sim_req_t {
    of_exchange_t *exchange;
    struct event_base *base;
    struct event *timer;
    sim_req_fn *timer_fn;
    void *timer_arg;
    sim_req_fn *gone;               //  owner's cancel callback
    void *gone_arg;
    json_t *body;
    sim_req_tee_fn *tee;            //  sees the response's bytes
    void *tee_arg;
    uint64_t tee_tag;
};

static void
s_tee (sim_req_t *self, sim_tee_t event, const char *data, size_t size)
{
    if (self->tee)
        self->tee (self->tee_arg, self->tee_tag, event, data, size);
}

//  The client is gone: the owner learns it once
static void
s_on_gone (of_exchange_t *exchange, void *arg)
{
    (void) exchange;
    sim_req_t *self = (sim_req_t *) arg;
    if (self->timer)
        event_del (self->timer);
    s_tee (self, SIM_TEE_ABORT, NULL, 0);
    sim_req_fn *gone = self->gone;
    self->gone = NULL;
    if (gone)
        gone (self, self->gone_arg);
}

//  evhtp frees the exchange: so goes the rest
static void
s_on_fini (of_exchange_t *exchange, void *arg)
{
    (void) exchange;
    sim_req_t *self = (sim_req_t *) arg;
    if (self->timer)
        event_free (self->timer);
    json_decref (self->body);
    free (self);
}

sim_req_t *
sim_req_new (evhtp_request_t *request, struct event_base *base)
{
    sim_req_t *self = calloc (1, sizeof *self);
    assert (self);
    self->base = base;
    self->exchange = of_exchange_new (request, base);
    of_exchange_set_fini (self->exchange, s_on_fini, self);
    return self;
}

htp_method
sim_req_method (sim_req_t *self)
{
    return of_exchange_method (self->exchange);
}

const char *
sim_req_path (sim_req_t *self)
{
    return of_exchange_path (self->exchange);
}

const char *
sim_req_header (sim_req_t *self, const char *name)
{
    return of_exchange_header (self->exchange, name);
}

evhtp_request_t *
sim_req_evhtp (sim_req_t *self)
{
    return of_exchange_request (self->exchange);
}

const char *
sim_req_body_raw (sim_req_t *self, size_t *size_p)
{
    return of_exchange_body (self->exchange, size_p);
}

json_t *
sim_req_body (sim_req_t *self, char *error, size_t size)
{
    if (self->body)
        return self->body;
    size_t length;
    const char *raw = sim_req_body_raw (self, &length);
    size_t start = 0;
    while (start < length && strchr (" \t\r\n", raw [start]))
        start++;
    if (start == length) {
        snprintf (error, size, "missing request body");
        return NULL;
    }
    json_error_t jerror;
    json_t *json = json_loadb (raw, length, JSON_DISABLE_EOF_CHECK, &jerror);
    if (!json) {
        if (strchr ("{[\"-0123456789tfn", raw [start]) == NULL)
            snprintf (error, size, "invalid character '%c' looking for beginning of value",
                      raw [start]);
        else
            snprintf (error, size, "unexpected EOF");
        return NULL;
    }
    if (!json_is_object (json)) {
        snprintf (error, size, "json: cannot unmarshal %s into Go value of type api.Request",
                  json_is_array (json)? "array": json_is_string (json)? "string": "number");
        json_decref (json);
        return NULL;
    }
    self->body = json;
    return json;
}

void
sim_req_set_owner (sim_req_t *self, sim_req_fn *gone, void *arg)
{
    self->gone = gone;
    self->gone_arg = arg;
    of_exchange_set_owner (self->exchange, gone ? s_on_gone : NULL, self);
}

void
sim_req_set_tee (sim_req_t *self, sim_req_tee_fn *tee, void *arg, uint64_t tag)
{
    self->tee = tee;
    self->tee_arg = arg;
    self->tee_tag = tag;
}

void
sim_req_watch (sim_req_t *self)
{
    of_exchange_watch (self->exchange);
}

static void
s_on_timer (evutil_socket_t fd, short what, void *arg)
{
    sim_req_t *self = (sim_req_t *) arg;
    (void) fd;
    (void) what;
    self->timer_fn (self, self->timer_arg);
}

void
sim_req_timer (sim_req_t *self, int64_t delay_ns, sim_req_fn *fn, void *arg)
{
    if (!self->timer) {
        self->timer = evtimer_new (self->base, s_on_timer, self);
        assert (self->timer);
    }
    self->timer_fn = fn;
    self->timer_arg = arg;
    if (delay_ns < 0)
        delay_ns = 0;
    struct timeval tv = { (time_t) (delay_ns / 1000000000LL),
                          (suseconds_t) ((delay_ns % 1000000000LL) / 1000) };
    evtimer_add (self->timer, &tv);
}

//  The exchange ends: no timer may fire after it
static void
s_ending (sim_req_t *self)
{
    if (self->timer)
        event_del (self->timer);
    self->gone = NULL;
}

void
sim_req_reply (sim_req_t *self, int status, const char *content_type, const char *data,
               size_t size)
{
    s_ending (self);
    s_tee (self, SIM_TEE_HEAD, NULL, (size_t) status);
    if (sim_req_method (self) != htp_method_HEAD)
        s_tee (self, SIM_TEE_DATA, data, size);
    s_tee (self, SIM_TEE_END, NULL, 0);
    of_exchange_reply (self->exchange, status, content_type, data, size);
}

void
sim_req_reply_json (sim_req_t *self, int status, const char *content_type, json_t *json)
{
    char *text = json_dumps (json, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION (9));
    assert (text);
    sim_req_reply (self, status, content_type, text, strlen (text));
    free (text);
}

void
sim_req_reply_error (sim_req_t *self, int status, const char *message)
{
    json_t *json = json_pack ("{ss}", "error", message);
    sim_req_reply_json (self, status, SIM_CT_JSON, json);
    json_decref (json);
}

void
sim_req_reply_openai_error (sim_req_t *self, int status, const char *message)
{
    const char *type = status == 400? "invalid_request_error":
                       status == 404? "not_found_error": "api_error";
    json_t *json = json_pack ("{s{sssssnsn}}", "error", "message", message, "type", type,
                              "param", "code");
    sim_req_reply_json (self, status, SIM_CT_JSON_V1, json);
    json_decref (json);
}

void
sim_req_stream_start (sim_req_t *self, int status, const char *content_type)
{
    of_exchange_add_header (self->exchange, "Content-Type", content_type);
    s_tee (self, SIM_TEE_HEAD, NULL, (size_t) status);
    of_exchange_stream_start (self->exchange, status);
}

void
sim_req_stream_write (sim_req_t *self, const char *data, size_t size)
{
    if (!of_exchange_finished (self->exchange))
        s_tee (self, SIM_TEE_DATA, data, size);
    of_exchange_stream_send (self->exchange, data, size);
}

void
sim_req_stream_end (sim_req_t *self)
{
    if (of_exchange_finished (self->exchange))
        return;
    s_ending (self);
    s_tee (self, SIM_TEE_END, NULL, 0);
    of_exchange_stream_end (self->exchange);
}

void
sim_req_abort (sim_req_t *self)
{
    s_ending (self);
    s_tee (self, SIM_TEE_ABORT, NULL, 0);
    of_exchange_abort (self->exchange);
}

bool
sim_req_streaming (sim_req_t *self)
{
    return of_exchange_streaming (self->exchange);
}

/*  =========================================================================
    ingress_metrics - this ingress's own traffic, counted for Prometheus
    =========================================================================
*/

#include "ingress_metrics.h"

//  Histogram bucket bounds, in microseconds (docs/metrics.md lists them in seconds)
static const int64_t s_bounds [] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
    30000000, 60000000, 120000000, 300000000
};
#define S_BUCKETS (sizeof s_bounds / sizeof s_bounds [0])

static const char *const s_kinds [] = {"completions", "embeddings", "other"};
#define S_KINDS 3

static const char *const s_outcomes [] = {
    "ok", "refused", "queue_full", "backend_error", "connect_failure", "timeout", "client_gone"
};
#define S_OUTCOMES 7
#define S_OUTCOME_REFUSED    1
#define S_OUTCOME_QUEUE_FULL 2

//  Why ollamaflow refused a request: the scheduler's DENY errors, then the
//  ingress's own answers by status, then those of the HTTP layer (before any
//  route: ingress_wire)
static const char *const s_reasons [] = {
    "not_found", "kind_not_allowed", "queue_full", "no_healthy_backend", "deadline_exceeded",
    "invalid_request", "not_allowed", "too_large", "not_ready", "http_version",
    "backend_unavailable", "headers_too_large", "uri_too_long", "malformed", "other"
};
#define S_REASONS 15
#define S_REASON_MALFORMED 13
#define S_REASON_OTHER 14

static const char *const s_token_types [] = {"prompt", "completion", "cached"};

typedef struct {
    uint64_t counts [S_BUCKETS + 1];    //  per bucket, not cumulative; the last is +Inf
    int64_t sum_us;
} s_histogram_t;

typedef struct {
    uint64_t requests [S_KINDS][S_OUTCOMES];
    uint64_t bytes;
    uint64_t tokens [3];
    s_histogram_t ttfb, total, queue;
} s_frontend_t;

typedef struct {
    uint64_t requests [S_OUTCOMES];
    uint64_t tokens [3];
    s_histogram_t ttfb;
} s_backend_t;

//  The interned names of one kind, with their counters
typedef struct {
    zhashx_t *index;                //  name -> index + 1
    char *names [INGRESS_METRICS_NAMES_MAX + 1];    //  the last is "_other"
    void *counters [INGRESS_METRICS_NAMES_MAX + 1];
    size_t count;                   //  names in use, "_other" included once used
    size_t size;                    //  sizeof a counters record
} s_names_t;

struct _ingress_metrics_t {
    s_names_t frontends;
    s_names_t backends;
    uint64_t refused [S_KINDS][S_REASONS];
};

static void
s_names_init (s_names_t *self, size_t size)
{
    self->index = zhashx_new ();
    self->size = size;
}

static void
s_names_fini (s_names_t *self)
{
    zhashx_destroy (&self->index);
    for (size_t i = 0; i <= INGRESS_METRICS_NAMES_MAX; i++) {
        free (self->names [i]);
        free (self->counters [i]);
    }
}

static int
s_intern (s_names_t *self, const char *name)
{
    if (!name || !*name)
        return -1;
    intptr_t found = (intptr_t) zhashx_lookup (self->index, name);
    if (found)
        return (int) found - 1;
    size_t slot = self->count < INGRESS_METRICS_NAMES_MAX ? self->count
                                                          : INGRESS_METRICS_NAMES_MAX;
    if (!self->names [slot]) {
        self->names [slot] = strdup (slot < INGRESS_METRICS_NAMES_MAX ? name : "_other");
        self->counters [slot] = zmalloc (self->size);
        self->count++;
    }
    if (slot < INGRESS_METRICS_NAMES_MAX)
        zhashx_insert (self->index, name, (void *) (intptr_t) (slot + 1));
    return (int) slot;
}

ingress_metrics_t *
ingress_metrics_new (void)
{
    ingress_metrics_t *self = (ingress_metrics_t *) zmalloc (sizeof (ingress_metrics_t));
    s_names_init (&self->frontends, sizeof (s_frontend_t));
    s_names_init (&self->backends, sizeof (s_backend_t));
    return self;
}

void
ingress_metrics_destroy (ingress_metrics_t **self_p)
{
    assert (self_p);
    ingress_metrics_t *self = *self_p;
    if (!self)
        return;
    s_names_fini (&self->frontends);
    s_names_fini (&self->backends);
    free (self);
    *self_p = NULL;
}

int
ingress_metrics_frontend (ingress_metrics_t *self, const char *identifier)
{
    return s_intern (&self->frontends, identifier);
}

int
ingress_metrics_backend (ingress_metrics_t *self, const char *identifier)
{
    return s_intern (&self->backends, identifier);
}

void
ingress_metrics_config (ingress_metrics_t *self, of_records_t *records, of_kind_t kind,
                        const char *identifier, bool present)
{
    if (kind == OF_KIND_COUNT) {
        for (size_t index = 0; index < of_records_frontend_count (records); index++)
            s_intern (&self->frontends, of_records_frontend_at (records, index)->identifier);
        for (size_t index = 0; index < of_records_backend_count (records); index++)
            s_intern (&self->backends, of_records_backend_at (records, index)->identifier);
    }
    else if (present && kind == OF_KIND_FRONTEND)
        s_intern (&self->frontends, identifier);
    else if (present && kind == OF_KIND_BACKEND)
        s_intern (&self->backends, identifier);
}

const char *
ingress_metrics_frontend_name (ingress_metrics_t *self, int index)
{
    return index >= 0 && (size_t) index < self->frontends.count ? self->frontends.names [index]
                                                                 : "";
}

const char *
ingress_metrics_backend_name (ingress_metrics_t *self, int index)
{
    return index >= 0 && (size_t) index < self->backends.count ? self->backends.names [index]
                                                                : "";
}

static void
s_observe (s_histogram_t *self, int64_t us)
{
    if (us < 0)
        return;
    size_t bucket = 0;
    while (bucket < S_BUCKETS && us > s_bounds [bucket])
        bucket++;
    self->counts [bucket]++;
    self->sum_us += us;
}

static int
s_kind (const char *kind)
{
    return !kind ? 2 : *kind == 'c' ? 0 : *kind == 'e' ? 1 : 2;
}

static int
s_reason (const char *error)
{
    static const char *const denials [] = {
        "NotFound", "KindNotAllowed", "QueueFull", "NoHealthyBackend", "DeadlineExceeded"
    };
    for (int i = 0; error && i < 5; i++)
        if (streq (error, denials [i]))
            return i;
    return S_REASON_OTHER;
}

//  A refusal the ingress wrote itself, by its status (wire: by the HTTP
//  layer, where a 400 is a malformed request, not an invalid body)
static int
s_reason_status (int status, bool wire)
{
    return status == 400   ? (wire ? S_REASON_MALFORMED : 5)
           : status == 403 ? 6
           : status == 404 ? 0
           : status == 413 ? 7
           : status == 503 ? 8
           : status == 505 ? 9
           : status == 502 ? 10
           : status == 431 ? 11
           : status == 414 ? 12
                           : S_REASON_OTHER;
}

const char *
ingress_metrics_reason (int status, bool wire)
{
    return s_reasons [s_reason_status (status, wire)];
}

static int
s_outcome (const char *outcome, int reason)
{
    if (streq (outcome, "rejected"))
        return reason == 2 ? S_OUTCOME_QUEUE_FULL : S_OUTCOME_REFUSED;
    for (int i = 0; i < S_OUTCOMES; i++)
        if (streq (outcome, s_outcomes [i]))
            return i;
    return S_OUTCOME_REFUSED;
}

void
ingress_metrics_record (ingress_metrics_t *self, const ingress_report_t *report)
{
    int kind = s_kind (report->kind);
    int reason = *report->reason ? s_reason (report->reason) : -1;
    int outcome = s_outcome (report->outcome, reason);
    if (outcome == S_OUTCOME_REFUSED || outcome == S_OUTCOME_QUEUE_FULL)
        self->refused [kind][reason >= 0 ? reason : s_reason_status (report->status, false)]++;
    const ingress_meter_t *meter = &report->meter;
    int64_t tokens [3] = {meter->tokens_in, meter->tokens_out, meter->tokens_cached};
    if (report->frontend >= 0) {
        s_frontend_t *frontend = (s_frontend_t *) self->frontends.counters [report->frontend];
        frontend->requests [kind][outcome]++;
        frontend->bytes += meter->bytes;
        for (int i = 0; i < 3; i++)
            if (tokens [i] > 0)
                frontend->tokens [i] += (uint64_t) tokens [i];
        s_observe (&frontend->ttfb, ingress_meter_ttfb_us (meter));
        s_observe (&frontend->total, ingress_meter_total_us (meter));
        if (report->queue_ms >= 0)
            s_observe (&frontend->queue, report->queue_ms * 1000);
    }
    if (report->backend >= 0) {
        s_backend_t *backend = (s_backend_t *) self->backends.counters [report->backend];
        backend->requests [outcome]++;
        for (int i = 0; i < 3; i++)
            if (tokens [i] > 0)
                backend->tokens [i] += (uint64_t) tokens [i];
        s_observe (&backend->ttfb, ingress_meter_ttfb_us (meter));
    }
}

void
ingress_metrics_refused (ingress_metrics_t *self, const char *kind, int status, bool wire)
{
    if (status >= 400)
        self->refused [s_kind (kind)][s_reason_status (status, wire)]++;
}

//  --------------------------------------------------------------------------
//  The exposition

void
ingress_metrics_escape (struct evbuffer *out, const char *value)
{
    const char *run = value;
    for (const char *c = value; *c; c++)
        if (*c == '\\' || *c == '"' || *c == '\n') {
            evbuffer_add (out, run, (size_t) (c - run));
            evbuffer_add (out, *c == '\\' ? "\\\\" : *c == '"' ? "\\\"" : "\\n", 2);
            run = c + 1;
        }
    evbuffer_add (out, run, strlen (run));
}

static void
s_head (struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
s_histogram (struct evbuffer *out, const char *name, const char *label, const char *value,
             const s_histogram_t *histogram)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= S_BUCKETS; i++) {
        cumulative += histogram->counts [i];
        evbuffer_add_printf (out, "%s_bucket{%s=\"", name, label);
        ingress_metrics_escape (out, value);
        if (i < S_BUCKETS)
            evbuffer_add_printf (out, "\",le=\"%g\"} %llu\n", (double) s_bounds [i] / 1e6,
                                 (unsigned long long) cumulative);
        else
            evbuffer_add_printf (out, "\",le=\"+Inf\"} %llu\n", (unsigned long long) cumulative);
    }
    evbuffer_add_printf (out, "%s_sum{%s=\"", name, label);
    ingress_metrics_escape (out, value);
    evbuffer_add_printf (out, "\"} %.6f\n%s_count{%s=\"", (double) histogram->sum_us / 1e6, name,
                         label);
    ingress_metrics_escape (out, value);
    evbuffer_add_printf (out, "\"} %llu\n", (unsigned long long) cumulative);
}

//  One labelled sample: name{label="value"<extra>} number
static void
s_sample (struct evbuffer *out, const char *name, const char *label, const char *value,
          const char *extra, uint64_t number)
{
    evbuffer_add_printf (out, "%s{%s=\"", name, label);
    ingress_metrics_escape (out, value);
    evbuffer_add_printf (out, "\"%s} %llu\n", extra ? extra : "", (unsigned long long) number);
}

static void
s_write_frontends (ingress_metrics_t *self, struct evbuffer *out)
{
    const s_names_t *names = &self->frontends;
    char extra [96];
    s_head (out, "ollamaflow_ingress_requests_total", "counter",
            "Proxied requests this ingress ended, by frontend, route kind and outcome");
    for (size_t f = 0; f < names->count; f++) {
        const s_frontend_t *frontend = (const s_frontend_t *) names->counters [f];
        for (int k = 0; k < S_KINDS; k++)
            for (int o = 0; o < S_OUTCOMES; o++) {
                snprintf (extra, sizeof extra, ",kind=\"%s\",outcome=\"%s\"", s_kinds [k],
                          s_outcomes [o]);
                s_sample (out, "ollamaflow_ingress_requests_total", "frontend", names->names [f],
                          extra, frontend->requests [k][o]);
            }
    }
    s_head (out, "ollamaflow_ingress_response_bytes_total", "counter",
            "Response body bytes sent to clients, by frontend");
    for (size_t f = 0; f < names->count; f++)
        s_sample (out, "ollamaflow_ingress_response_bytes_total", "frontend", names->names [f],
                  NULL, ((const s_frontend_t *) names->counters [f])->bytes);
    s_head (out, "ollamaflow_ingress_tokens_total", "counter",
            "Tokens the backends reported in their final chunks, by frontend and type");
    for (size_t f = 0; f < names->count; f++)
        for (int t = 0; t < 3; t++) {
            snprintf (extra, sizeof extra, ",type=\"%s\"", s_token_types [t]);
            s_sample (out, "ollamaflow_ingress_tokens_total", "frontend", names->names [f], extra,
                      ((const s_frontend_t *) names->counters [f])->tokens [t]);
        }
    static const struct {
        const char *name, *help;
        size_t offset;
    } histograms [] = {
        {"ollamaflow_ingress_ttfb_seconds",
         "Time from a request's arrival to the first body byte sent to its client",
         offsetof (s_frontend_t, ttfb)},
        {"ollamaflow_ingress_duration_seconds",
         "Time from a request's arrival to the end of its response",
         offsetof (s_frontend_t, total)},
        {"ollamaflow_ingress_queue_wait_seconds",
         "Time a request waited for its lease (the scheduler's QueuedMs)",
         offsetof (s_frontend_t, queue)},
    };
    for (size_t h = 0; h < 3; h++) {
        s_head (out, histograms [h].name, "histogram", histograms [h].help);
        for (size_t f = 0; f < names->count; f++)
            s_histogram (out, histograms [h].name, "frontend", names->names [f],
                         (const s_histogram_t *) ((const char *) names->counters [f]
                                                  + histograms [h].offset));
    }
}

static void
s_write_backends (ingress_metrics_t *self, struct evbuffer *out)
{
    const s_names_t *names = &self->backends;
    char extra [64];
    s_head (out, "ollamaflow_ingress_backend_requests_total", "counter",
            "Requests this ingress sent to a backend, by outcome");
    for (size_t b = 0; b < names->count; b++)
        for (int o = 0; o < S_OUTCOMES; o++) {
            snprintf (extra, sizeof extra, ",outcome=\"%s\"", s_outcomes [o]);
            s_sample (out, "ollamaflow_ingress_backend_requests_total", "backend",
                      names->names [b], extra,
                      ((const s_backend_t *) names->counters [b])->requests [o]);
        }
    s_head (out, "ollamaflow_ingress_backend_tokens_total", "counter",
            "Tokens the backends reported in their final chunks, by backend and type");
    for (size_t b = 0; b < names->count; b++)
        for (int t = 0; t < 3; t++) {
            snprintf (extra, sizeof extra, ",type=\"%s\"", s_token_types [t]);
            s_sample (out, "ollamaflow_ingress_backend_tokens_total", "backend", names->names [b],
                      extra, ((const s_backend_t *) names->counters [b])->tokens [t]);
        }
    s_head (out, "ollamaflow_ingress_backend_ttfb_seconds", "histogram",
            "Time from a request's arrival to its first body byte, by the backend that served it");
    for (size_t b = 0; b < names->count; b++)
        s_histogram (out, "ollamaflow_ingress_backend_ttfb_seconds", "backend", names->names [b],
                     &((const s_backend_t *) names->counters [b])->ttfb);
}

void
ingress_metrics_write (ingress_metrics_t *self, struct evbuffer *out)
{
    s_write_frontends (self, out);
    s_write_backends (self, out);
    s_head (out, "ollamaflow_ingress_refused_total", "counter",
            "Requests ollamaflow refused itself, by route kind and reason");
    char extra [64];
    for (int k = 0; k < S_KINDS; k++)
        for (int r = 0; r < S_REASONS; r++) {
            snprintf (extra, sizeof extra, ",reason=\"%s\"", s_reasons [r]);
            s_sample (out, "ollamaflow_ingress_refused_total", "kind", s_kinds [k], extra,
                      self->refused [k][r]);
        }
}

void
ingress_metrics_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_metrics: ");
    ingress_metrics_t *self = ingress_metrics_new ();
    int main_index = ingress_metrics_frontend (self, "main");
    assert (main_index == 0 && ingress_metrics_frontend (self, "main") == 0);
    assert (ingress_metrics_frontend (self, "") == -1 && ingress_metrics_frontend (self, NULL) == -1);
    int gpu = ingress_metrics_backend (self, "gpu\"1");
    assert (streq (ingress_metrics_backend_name (self, gpu), "gpu\"1"));
    assert (streq (ingress_metrics_backend_name (self, -1), ""));

    ingress_report_t report = {"r-1", "/api/chat", "completions", "m", main_index, gpu, "ok",
                               "", 200, 2, "main", "gpu\"1", false, NULL, {0}, NULL};
    ingress_meter_t *meter = &report.meter;
    ingress_meter_start (meter);
    meter->started_us -= 30000;
    const char *last = "{\"done\":true,\"prompt_eval_count\":3,\"eval_count\":5}\n";
    ingress_meter_feed (meter, last, strlen (last));
    ingress_meter_end (meter);
    ingress_metrics_record (self, &report);
    report.outcome = "rejected";
    snprintf (report.reason, sizeof report.reason, "QueueFull");
    report.backend = -1;
    ingress_metrics_record (self, &report);
    ingress_metrics_refused (self, "embeddings", 413, false);
    ingress_metrics_refused (self, "other", 400, true);
    ingress_metrics_refused (self, "completions", 400, false);
    ingress_metrics_refused (self, "completions", 431, true);
    assert (streq (ingress_metrics_reason (400, true), "malformed"));
    assert (streq (ingress_metrics_reason (400, false), "invalid_request"));
    assert (streq (ingress_metrics_reason (414, true), "uri_too_long"));
    assert (streq (ingress_metrics_reason (418, false), "other"));

    struct evbuffer *out = evbuffer_new ();
    ingress_metrics_write (self, out);
    evbuffer_add (out, "", 1);
    const char *text = (const char *) evbuffer_pullup (out, -1);
    assert (strstr (text, "ollamaflow_ingress_requests_total{frontend=\"main\",kind=\"completions\","
                          "outcome=\"ok\"} 1\n"));
    assert (strstr (text, "ollamaflow_ingress_requests_total{frontend=\"main\",kind=\"completions\","
                          "outcome=\"queue_full\"} 1\n"));
    assert (strstr (text, "ollamaflow_ingress_refused_total{kind=\"completions\","
                          "reason=\"queue_full\"} 1\n"));
    assert (strstr (text, "ollamaflow_ingress_refused_total{kind=\"embeddings\","
                          "reason=\"too_large\"} 1\n"));
    assert (strstr (text, "ollamaflow_ingress_refused_total{kind=\"other\","
                          "reason=\"malformed\"} 1\n"));
    assert (strstr (text, "ollamaflow_ingress_refused_total{kind=\"completions\","
                          "reason=\"invalid_request\"} 1\n"));
    assert (strstr (text, "ollamaflow_ingress_refused_total{kind=\"completions\","
                          "reason=\"headers_too_large\"} 1\n"));
    assert (strstr (text, "ollamaflow_ingress_backend_tokens_total{backend=\"gpu\\\"1\","
                          "type=\"completion\"} 5\n"));
    assert (strstr (text, "ollamaflow_ingress_tokens_total{frontend=\"main\",type=\"prompt\"} 6\n"));
    //  30 ms: above the 25 ms bound, within the 50 ms one
    assert (strstr (text, "ollamaflow_ingress_ttfb_seconds_bucket{frontend=\"main\","
                          "le=\"0.025\"} 0\n"));
    assert (strstr (text, "ollamaflow_ingress_ttfb_seconds_bucket{frontend=\"main\","
                          "le=\"0.05\"} 2\n"));
    assert (strstr (text, "ollamaflow_ingress_queue_wait_seconds_bucket{frontend=\"main\","
                          "le=\"+Inf\"} 2\n"));
    evbuffer_free (out);

    //  Past the bound, names share "_other"
    for (int i = 0; i < INGRESS_METRICS_NAMES_MAX; i++) {
        char name [32];
        snprintf (name, sizeof name, "b%d", i);
        ingress_metrics_backend (self, name);
    }
    int other = ingress_metrics_backend (self, "one-more");
    assert (other == INGRESS_METRICS_NAMES_MAX
            && ingress_metrics_backend (self, "and-another") == other);
    assert (streq (ingress_metrics_backend_name (self, other), "_other"));
    ingress_metrics_destroy (&self);
    printf ("OK\n");
}

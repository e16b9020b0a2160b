/*  =========================================================================
    ingress_ops - what an operator sees of an ingress
    =========================================================================
*/

#include "ingress_ops.h"
#include "ingress_watch.h"
#include "ingress_fleet.h"
#include "ingress_access.h"
#include "ingress_dashboard.h"
#include "ingress_admin_auth.h"
#include "ingress_reply.h"
#include "ingress_match.h"
#include "of_conns.h"

#define S_WHY_MAX 1024

struct _ingress_ops_t {
    ingress_ops_sources_t sources;  //  borrowed
    ingress_metrics_t *metrics;     //  this ingress's traffic, or NULL (Metrics.Enable false)
    ingress_access_t *access;       //  the access log, or NULL (off)
    int64_t started_at;             //  zclock_time when the ingress started
    uint64_t requests;              //  requests seen, for request ids
    uint64_t calls;                 //  calls in progress
};

ingress_ops_t *
ingress_ops_new (const ingress_ops_sources_t *sources, char *error, size_t size)
{
    assert (sources && sources->settings && sources->base && sources->clone && sources->link
            && sources->watch && sources->pool && sources->conns);
    ingress_ops_t *self = (ingress_ops_t *) zmalloc (sizeof (ingress_ops_t));
    self->sources = *sources;
    self->started_at = zclock_time ();
    self->metrics = sources->settings->metrics_enable ? ingress_metrics_new () : NULL;
    self->access = ingress_access_new (sources->base, sources->settings, error, size);
    if (!self->access && *error)
        ingress_ops_destroy (&self);
    return self;
}

void
ingress_ops_destroy (ingress_ops_t **self_p)
{
    assert (self_p);
    ingress_ops_t *self = *self_p;
    if (!self)
        return;
    ingress_metrics_destroy (&self->metrics);
    ingress_access_destroy (&self->access);
    free (self);
    *self_p = NULL;
}

uint64_t
ingress_ops_arrived (ingress_ops_t *self)
{
    return ++self->requests;
}

uint64_t
ingress_ops_requests (ingress_ops_t *self)
{
    return self->requests;
}

uint64_t
ingress_ops_calls (ingress_ops_t *self)
{
    return self->calls;
}

void
ingress_ops_config (ingress_ops_t *self, of_kind_t kind, const char *identifier, json_t *object)
{
    //  The metrics intern names here, off the request path
    if (self->metrics)
        ingress_metrics_config (self->metrics, of_clone_records (self->sources.clone), kind,
                                identifier, object != NULL);
}

//  Appends a line to why, as much as fits
static void
s_missing (char *why, size_t size, const char *line)
{
    size_t used = strlen (why);
    if (used + 1 < size)
        snprintf (why + used, size - used, "%s\n", line);
}

//  True if the frontend is active and one of its active backends is Healthy
static bool
s_frontend_ready (ingress_ops_t *self, of_records_t *records, const of_frontend_t *frontend)
{
    if (!frontend->active)
        return false;
    for (size_t index = 0; index < frontend->backends.count; index++) {
        const char *name = frontend->backends.items [index];
        const of_backend_t *backend = of_records_backend (records, name);
        json_t *health = backend ? ingress_watch_health (self->sources.watch, name) : NULL;
        const char *state = json_string_value (json_object_get (health, "State"));
        if (backend && backend->active && state && streq (state, "Healthy"))
            return true;
    }
    return false;
}

bool
ingress_ops_ready (ingress_ops_t *self, char *why, size_t size)
{
    *why = 0;
    bool config = of_clone_ready (self->sources.clone);
    if (!config)
        s_missing (why, size, "no config snapshot applied: configd has not answered");
    if (!ingress_link_up (self->sources.link))
        s_missing (why, size, "not linked to the scheduler: no WELCOME yet, or it went silent");
    if (config) {
        of_records_t *records = of_clone_records (self->sources.clone);
        size_t count = of_records_frontend_count (records);
        bool any = false;
        for (size_t index = 0; index < count && !any; index++)
            any = s_frontend_ready (self, records, of_records_frontend_at (records, index));
        if (count == 0)
            s_missing (why, size, "no frontend is configured");
        else
        if (!any)
            s_missing (why, size, ingress_watch_alive (self->sources.watch, "healthmon")
                                      ? "no active frontend has a healthy active backend"
                                      : "no active frontend has a healthy active backend "
                                        "(healthmon is silent)");
    }
    return *why == 0;
}

static void
s_text (of_exchange_t *exchange, int status, const char *text)
{
    of_exchange_add_header (exchange, "Cache-Control", "no-store");
    of_exchange_reply (exchange, status, "text/plain; charset=utf-8", text, strlen (text));
}

static void
s_gauge (struct evbuffer *out, const char *name, const char *help, double value)
{
    evbuffer_add_printf (out, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name,
                         value);
}

static void
s_counter (struct evbuffer *out, const char *name, const char *help, uint64_t value)
{
    evbuffer_add_printf (out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name,
                         name, (unsigned long long) value);
}

//  This ingress's own gauges
static void
s_write_ingress (ingress_ops_t *self, struct evbuffer *out)
{
    evbuffer_add_printf (out, "# HELP ollamaflow_ingress_info The ingress's id and version\n"
                              "# TYPE ollamaflow_ingress_info gauge\nollamaflow_ingress_info{"
                              "ingress=\"");
    ingress_metrics_escape (out, self->sources.settings->ingress_id);
    evbuffer_add_printf (out, "\",version=\"%s\"} 1\n", OF_VERSION);
    s_gauge (out, "ollamaflow_ingress_start_time_seconds", "When this ingress started (Unix time)",
             (double) self->started_at / 1000);
    char why [S_WHY_MAX];
    s_gauge (out, "ollamaflow_ingress_ready", "1 when /readyz answers 200",
             ingress_ops_ready (self, why, sizeof why));
    s_gauge (out, "ollamaflow_ingress_connections", "Open client connections",
             (double) of_conns_size (self->sources.conns));
    s_gauge (out, "ollamaflow_ingress_connections_max", "Client connections this ingress accepts "
             "(Ingress.MaxConnections, or what the open-files limit allows)",
             (double) self->sources.settings->max_connections);
    s_counter (out, "ollamaflow_ingress_connections_refused_total",
               "Client connections closed at once because Ingress.MaxConnections were open "
               "and none was slow or idle", of_conns_refused (self->sources.conns));
    s_counter (out, "ollamaflow_ingress_connections_shed_total",
               "Slow or idle client connections closed to make room at Ingress.MaxConnections",
               of_conns_shed (self->sources.conns));
    s_counter (out, "ollamaflow_ingress_connections_timed_out_total",
               "Client connections closed past the header, body or keep-alive timeout",
               of_conns_expired (self->sources.conns));
    s_gauge (out, "ollamaflow_ingress_calls", "Proxied requests in progress (asking, sending or "
             "streaming)", (double) self->calls);
    s_gauge (out, "ollamaflow_ingress_leases", "Leases this ingress holds",
             (double) ingress_link_leases (self->sources.link));
    s_gauge (out, "ollamaflow_ingress_asks", "Lease asks this ingress has open (queued included)",
             (double) ingress_link_asks (self->sources.link));
    uint64_t connects, reuses;
    of_upstream_pool_counts (self->sources.pool, &connects, &reuses);
    s_counter (out, "ollamaflow_ingress_upstream_connects_total",
               "Connections made to backends", connects);
    s_counter (out, "ollamaflow_ingress_upstream_reuses_total",
               "Requests sent to a backend on a kept idle connection", reuses);
    s_gauge (out, "ollamaflow_ingress_upstream_idle_connections",
             "Idle backend connections kept for reuse",
             (double) of_upstream_pool_idle (self->sources.pool));
}

static void
s_metrics (ingress_ops_t *self, of_exchange_t *exchange)
{
    if (!self->metrics) {
        ingress_reply_error (exchange, 404, "not_found", -1,
                             "metrics are off on this ingress (Metrics.Enable)");
        return;
    }
    if (self->sources.settings->metrics_require_token
        && ingress_admin_auth (self->sources.settings->admin_tokens,
                               of_exchange_header (exchange, "Authorization"))
               != INGRESS_AUTH_OK) {
        of_exchange_add_header (exchange, "WWW-Authenticate", "Bearer");
        s_text (exchange, 401, "send 'Authorization: Bearer <token>' with one of the "
                "AdminBearerTokens (Metrics.RequireAdminToken)\n");
        return;
    }
    struct evbuffer *out = evbuffer_new ();
    ingress_metrics_write (self->metrics, out);
    s_write_ingress (self, out);
    ingress_fleet_write (self->sources.watch, self->sources.clone, self->sources.settings, out);
    of_exchange_add_header (exchange, "Cache-Control", "no-store");
    size_t size = evbuffer_get_length (out);
    of_exchange_reply (exchange, 200, "text/plain; version=0.0.4; charset=utf-8",
                       (const char *) evbuffer_pullup (out, -1), size);
    evbuffer_free (out);
}

void
ingress_ops_start (ingress_ops_t *self, ingress_report_t *report, const of_frontend_t *frontend)
{
    report->frontend_name = frontend->identifier;
    report->frontend = self->metrics ? ingress_metrics_frontend (self->metrics,
                                                                report->frontend_name)
                                    : -1;
    report->backend = -1;
    report->queue_ms = -1;
    ingress_meter_start (&report->meter);
    report->logged = ingress_access_wanted (self->access);
    if (report->logged && frontend->log_response_body)
        ingress_meter_capture (&report->meter, INGRESS_ACCESS_BODY_MAX);
    if (!report->logged || !frontend->log_request_body)
        report->request_body = NULL;
    self->calls++;
}

void
ingress_ops_backend (ingress_ops_t *self, ingress_report_t *report, const char *backend)
{
    report->backend = self->metrics ? ingress_metrics_backend (self->metrics, backend) : -1;
    snprintf (report->backend_name, sizeof report->backend_name, "%s", backend);
}

void
ingress_ops_serve (ingress_ops_t *self, evhtp_request_t *request)
{
    of_exchange_t *exchange = of_exchange_new (request, self->sources.base);
    //  Not the dashboard: it needs the admin API, which is on Webserver.Port
    if (ingress_dashboard_path (of_exchange_path (exchange))
        || !ingress_ops_handle (self, exchange))
        s_text (exchange, 404, "this port (Metrics.Port) serves /metrics, /livez and /readyz "
                "only\n");
}

void
ingress_ops_report (ingress_ops_t *self, ingress_report_t *report)
{
    ingress_meter_end (&report->meter);
    if (self->metrics)
        ingress_metrics_record (self->metrics, report);
    if (report->logged)
        ingress_access_write (self->access, report, report->frontend_name, report->backend_name);
    ingress_meter_release (&report->meter);
    self->calls--;
}

//  A refusal counted and, when sampled, logged: a line of its own, with no
//  backend, model or tokens, its reason the /metrics reason label
static void
s_refusal (ingress_ops_t *self, const char *id, const char *route, const char *kind,
           const char *frontend, int status, bool wire)
{
    if (status < 400)
        return;
    if (self->metrics)
        ingress_metrics_refused (self->metrics, kind, status, wire);
    if (!ingress_access_wanted (self->access))
        return;
    ingress_report_t report = {
        .id = id, .route = route, .kind = kind, .frontend = -1, .backend = -1,
        .outcome = "rejected", .status = status, .queue_ms = -1
    };
    snprintf (report.reason, sizeof report.reason, "%s", ingress_metrics_reason (status, wire));
    ingress_meter_start (&report.meter);
    ingress_meter_end (&report.meter);
    ingress_access_write (self->access, &report, frontend ? frontend : "", "");
}

void
ingress_ops_refused (ingress_ops_t *self, const ingress_route_t *route, const char *id,
                     of_exchange_t *exchange)
{
    if (!of_exchange_finished (exchange))
        return;
    evhtp_request_t *request = of_exchange_request (exchange);
    const of_frontend_t *frontend = of_clone_ready (self->sources.clone)
        ? ingress_match_frontend (of_clone_records (self->sources.clone),
                                  evhtp_header_find (request->headers_in, "Host"))
        : NULL;
    s_refusal (self, id, route->path, route->kind, frontend ? frontend->identifier : NULL,
               request->status, false);
}

void
ingress_ops_wire_refused (ingress_ops_t *self, const ingress_route_t *route, int status)
{
    s_refusal (self, NULL, route ? route->path : NULL, route ? route->kind : "other", NULL, status,
               true);
}

bool
ingress_ops_handle (ingress_ops_t *self, of_exchange_t *exchange)
{
    const char *path = of_exchange_path (exchange);
    bool livez = streq (path, "/livez");
    bool readyz = streq (path, "/readyz");
    bool metrics = streq (path, "/metrics");
    if (ingress_dashboard_path (path)) {
        ingress_dashboard_handle (exchange);
        return true;
    }
    if (!livez && !readyz && !metrics)
        return false;
    htp_method method = of_exchange_method (exchange);
    if (method != htp_method_GET && method != htp_method_HEAD) {
        of_exchange_add_header (exchange, "Allow", "GET, HEAD");
        s_text (exchange, 405, "method not allowed: use GET or HEAD\n");
        return true;
    }
    if (livez) {
        s_text (exchange, 200, "alive\n");
        return true;
    }
    if (metrics) {
        s_metrics (self, exchange);
        return true;
    }
    char why [S_WHY_MAX];
    if (ingress_ops_ready (self, why, sizeof why))
        s_text (exchange, 200, "ready\n");
    else
        s_text (exchange, 503, why);
    return true;
}

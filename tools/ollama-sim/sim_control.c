/*  =========================================================================
    sim_control - the simulator's control endpoint (JSON over HTTP)
    =========================================================================
*/

#include "sim_control.h"
#include "sim_clock.h"
#include "of_conns.h"
#include <arpa/inet.h>
#include <assert.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTROL_BACKLOG 128
#define CONTROL_BODY_MAX (1024 * 1024)

struct _sim_control_t {
    struct event_base *base;
    evhtp_t *htp;
    of_conns_t *conns;
    int port;
    sim_fleet_t *fleet;
    sim_backend_t **backends;
    size_t count;
};

json_t *
sim_control_config_json (const sim_backend_config_t *c)
{
    const sim_faults_t *f = &c->faults;
    json_t *faults = json_pack ("{sbsbsisbsisisisisssisbsb}", "refuse", f->refuse, "hang", f->hang,
                                "slow_first_byte_ms", f->slow_first_byte_ms,
                                "http_500", f->http_500, "http_500_every", f->http_500_every,
                                "drop_after_tokens", f->drop_after_tokens,
                                "error_after_tokens", f->error_after_tokens,
                                "stall_after_tokens", f->stall_after_tokens,
                                "error_message", f->error_message, "flap_ms", f->flap_ms,
                                "pull_fail", f->pull_fail, "bad_listings", f->bad_listings);
    json_t *keep_alive = c->keep_alive_ms == SIM_CLOCK_FOREVER? json_string ("-1")
                       : json_sprintf ("%lldms", (long long) c->keep_alive_ms);
    json_t *json = json_pack ("{sssssssssisisfsfsisosfsisisisbsIso}", "name", c->name, "host", c->host,
                      "api", c->api == SIM_API_OPENAI? "openai": "ollama", "version", c->version,
                      "parallel", c->parallel, "max_queue", c->max_queue,
                      "prefill_rate", c->prefill_rate, "decode_rate", c->decode_rate,
                      "load_ms", c->load_ms, "keep_alive", keep_alive,
                      "pull_bandwidth", c->pull_bandwidth, "embedding_dim", c->embedding_dim,
                      "default_tokens", c->default_tokens,
                      "max_loaded_models", c->max_loaded_models, "host_check", c->host_check,
                      "seed", (json_int_t) c->seed, "faults", faults);
    json_object_set_new (json, "load_rate", json_real (c->load_rate));
    json_object_set_new (json, "unload_ms", json_integer (c->unload_ms));
    json_object_set_new (json, "cache_ram_tokens", json_integer (c->cache_ram_tokens));
    json_object_set_new (json, "cache_restore_rate", json_real (c->cache_restore_rate));
    json_object_set_new (json, "time_scale", json_real (c->time_scale));
    json_object_set_new (json, "stamp_chunks", json_boolean (c->stamp_chunks));
    return json;
}

static json_t *
s_backend_json (sim_backend_t *backend)
{
    json_t *json = sim_control_config_json (sim_backend_config (backend));
    json_object_set_new (json, "port", json_integer (sim_backend_port (backend)));
    json_object_set_new (json, "stats", sim_backend_stats (backend));
    return json;
}

static sim_backend_t *
s_find (sim_control_t *self, const char *name, size_t length)
{
    for (size_t i = 0; i < self->count; i++) {
        const char *candidate = sim_backend_config (self->backends [i])->name;
        if (strlen (candidate) == length && strncmp (candidate, name, length) == 0)
            return self->backends [i];
    }
    //  Or by index
    char *end;
    char text [SIM_NAME_MAX];
    snprintf (text, sizeof text, "%.*s", (int) (length < SIM_NAME_MAX? length: 0), name);
    unsigned long index = strtoul (text, &end, 10);
    if (end != text && *end == 0 && index < self->count)
        return self->backends [index];
    return NULL;
}

static void
s_reply (sim_req_t *req, int status, json_t *json)
{
    sim_req_reply_json (req, status, SIM_CT_JSON_V1, json);
    json_decref (json);
}

static void
s_fail (sim_req_t *req, int status, const char *message)
{
    s_reply (req, status, json_pack ("{ss}", "error", message));
}

static json_t *
s_fleet_json (sim_control_t *self)
{
    json_t *list = json_array ();
    for (size_t i = 0; i < self->count; i++)
        json_array_append_new (list, s_backend_json (self->backends [i]));
    return json_pack ("{sisiso}", "pid", (int) getpid (), "control_port", self->port,
                      "backends", list);
}

//  POST /backends/NAME with backend keys, or /backends/NAME/faults with faults
static void
s_configure (sim_control_t *self, sim_req_t *req, sim_backend_t *backend, bool faults_only)
{
    char error [SIM_ERROR_MAX];
    json_t *body = sim_req_body (req, error, sizeof error);
    if (!body) {
        s_fail (req, 400, error);
        return;
    }
    json_t *change = faults_only? json_pack ("{sO}", "faults", body): json_incref (body);
    int rc = sim_fleet_apply_backend (sim_backend_config (backend), change, false, error,
                                      sizeof error);
    json_decref (change);
    if (rc) {
        s_fail (req, 400, error);
        return;
    }
    sim_backend_update (backend);
    (void) self;
    s_reply (req, 200, s_backend_json (backend));
}

static void
s_on_request (evhtp_request_t *request, void *arg)
{
    sim_control_t *self = (sim_control_t *) arg;
    sim_req_t *req = sim_req_new (request, self->base);
    const char *path = sim_req_path (req);
    htp_method method = sim_req_method (req);
    bool post = method == htp_method_POST || method == htp_method_PUT;
    if (strcmp (path, "/") == 0 || strcmp (path, "/fleet") == 0) {
        s_reply (req, 200, s_fleet_json (self));
        return;
    }
    if (strcmp (path, "/reset") == 0 && post) {
        for (size_t i = 0; i < self->count; i++)
            sim_backend_reset (self->backends [i]);
        s_reply (req, 200, s_fleet_json (self));
        return;
    }
    if (strcmp (path, "/flush") == 0 && post) {
        for (size_t i = 0; i < self->count; i++)
            sim_backend_flush (self->backends [i]);
        s_reply (req, 200, s_fleet_json (self));
        return;
    }
    const char *prefix = "/backends/";
    if (strncmp (path, prefix, strlen (prefix)) != 0) {
        s_fail (req, 404, "unknown control path");
        return;
    }
    const char *name = path + strlen (prefix);
    const char *slash = strchr (name, '/');
    size_t length = slash? (size_t) (slash - name): strlen (name);
    const char *action = slash? slash + 1: "";
    sim_backend_t *backend = s_find (self, name, length);
    if (!backend) {
        s_fail (req, 404, "no such backend");
        return;
    }
    if (*action == 0 && !post)
        s_reply (req, 200, s_backend_json (backend));
    else if (*action == 0 || strcmp (action, "config") == 0)
        s_configure (self, req, backend, false);
    else if (strcmp (action, "faults") == 0 && post)
        s_configure (self, req, backend, true);
    else if (strcmp (action, "reset") == 0 && post) {
        sim_backend_reset (backend);
        s_reply (req, 200, s_backend_json (backend));
    }
    else if (strcmp (action, "flush") == 0 && post) {
        sim_backend_flush (backend);
        s_reply (req, 200, s_backend_json (backend));
    }
    else if (strcmp (action, "last") == 0)
        s_reply (req, 200, sim_backend_last (backend, NULL));
    else if (strncmp (action, "last/", 5) == 0) {
        //  /backends/NAME/last/api/chat: the last exchange on /api/chat
        json_t *last = sim_backend_last (backend, action + 4);
        if (last)
            s_reply (req, 200, last);
        else
            s_fail (req, 404, "no such route");
    }
    else
        s_fail (req, 404, "unknown control path");
}

sim_control_t *
sim_control_new (struct event_base *base, const char *host, int port, sim_fleet_t *fleet,
                 sim_backend_t **backends, size_t count)
{
    sim_control_t *self = calloc (1, sizeof *self);
    assert (self);
    self->base = base;
    self->fleet = fleet;
    self->backends = backends;
    self->count = count;
    self->htp = evhtp_new (base, NULL);
    assert (self->htp);
    evhtp_set_gencb (self->htp, s_on_request, self);
    evhtp_set_max_body_size (self->htp, CONTROL_BODY_MAX);
    self->conns = of_conns_new (self->htp, 0, NULL, NULL);
    char address [SIM_HOST_MAX + 8];
    snprintf (address, sizeof address, "%s%s", strchr (host, ':')? "ipv6:": "", host);
    if (evhtp_bind_socket (self->htp, address, (uint16_t) port, CONTROL_BACKLOG)) {
        of_conns_destroy (&self->conns);
        evhtp_free (self->htp);
        free (self);
        return NULL;
    }
    struct sockaddr_storage bound;
    socklen_t size = sizeof bound;
    getsockname (evconnlistener_get_fd (self->htp->server), (struct sockaddr *) &bound, &size);
    self->port = ntohs (bound.ss_family == AF_INET6? ((struct sockaddr_in6 *) &bound)->sin6_port
                                                   : ((struct sockaddr_in *) &bound)->sin_port);
    return self;
}

void
sim_control_destroy (sim_control_t **self_p)
{
    assert (self_p);
    sim_control_t *self = *self_p;
    if (!self)
        return;
    evhtp_unbind_socket (self->htp);
    of_conns_destroy (&self->conns);
    evhtp_free (self->htp);
    free (self);
    *self_p = NULL;
}

int
sim_control_port (sim_control_t *self)
{
    return self->port;
}

/*  =========================================================================
    sim_backend - one simulated Ollama (or OpenAI-only) server
    =========================================================================
*/

#include "sim_backend.h"
#include "sim_clock.h"
#include "of_conns.h"
#include "sim_generate.h"
#include "sim_manage.h"
#include "sim_record.h"
#include "sim_transfer.h"
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_BACKLOG   4096
#define MAX_BODY_BYTES   (64 * 1024 * 1024)
#define HOSTNAME_MAX     256
#define METHOD_GET       (1u << htp_method_GET)
#define METHOD_HEAD      (1u << htp_method_HEAD)
#define METHOD_POST      (1u << htp_method_POST)
#define METHOD_DELETE    (1u << htp_method_DELETE)

typedef struct {
    const char *path;
    bool prefix;                //  path is a prefix ("/v1/models/" + id)
    unsigned methods;
    bool native;                //  Ollama API only (absent on OpenAI-only servers)
    bool openai_only;           //  present only on OpenAI-only servers
} route_spec_t;

//  Indexed by sim_route_t
static const route_spec_t s_routes [] = {
    { "/", false, METHOD_GET | METHOD_HEAD, true, false },
    { "/api/version", false, METHOD_GET | METHOD_HEAD, true, false },
    { "/api/tags", false, METHOD_GET | METHOD_HEAD, true, false },
    { "/api/ps", false, METHOD_GET, true, false },
    { "/api/show", false, METHOD_POST, true, false },
    { "/api/generate", false, METHOD_POST, true, false },
    { "/api/chat", false, METHOD_POST, true, false },
    { "/api/embed", false, METHOD_POST, true, false },
    { "/api/embeddings", false, METHOD_POST, true, false },
    { "/api/pull", false, METHOD_POST, true, false },
    { "/api/push", false, METHOD_POST, true, false },
    { "/api/copy", false, METHOD_POST, true, false },
    { "/api/delete", false, METHOD_DELETE, true, false },
    { "/api/blobs/", true, METHOD_HEAD | METHOD_POST, true, false },
    { "/v1/chat/completions", false, METHOD_POST, false, false },
    { "/v1/completions", false, METHOD_POST, false, false },
    { "/v1/embeddings", false, METHOD_POST, false, false },
    { "/v1/models", false, METHOD_GET, false, false },
    { "/v1/models/", true, METHOD_GET, false, false },
    { "/health", false, METHOD_GET, false, true },
    { "(unknown)", false, 0, false, false },
};

struct _sim_backend_t {
    sim_backend_config_t *config;       //  live; owned by the fleet
    sim_fleet_t *fleet;
    struct event_base *base;
    evhtp_t *htp;
    of_conns_t *conns;
    int port;
    int holder;                         //  bound, never listening: keeps the port while down
    bool listening;
    bool loopback;
    bool flap_down;
    int flap_ms;                        //  period the flap timer runs with
    struct event *flap_timer;
    sim_slots_t *slots;
    sim_cache_t *cache;
    sim_models_t *models;
    uint64_t stats [SIM_STAT_COUNT];
    uint64_t routes [SIM_ROUTE_COUNT];
    sim_record_t *records [SIM_ROUTE_COUNT];   //  the last exchange per route, made on use
    sim_route_t last_route;             //  the route of the last request
    uint64_t exchanges;                 //  requests recorded, for the records' tags
    unsigned next_id;
    uint64_t fail_count;                //  for http_500_every
    int pulls, peak_pulls;              //  pulls running now, and the most at once
    bool dropping;                      //  connections are being dropped on purpose
};

//  While the server is down (a refuse or flap fault) its port must stay
//  ours: a freed port can be handed to any process asking for a free one (a
//  test's next ingress), which would then answer in the backend's name. A
//  second socket bound to the port with SO_REUSEPORT, never listening, holds
//  it; connections to a port with no listener are refused, as when Ollama is
//  down.
static int
s_hold_port (sim_backend_t *self)
{
    struct sockaddr_storage bound;
    socklen_t length = sizeof bound;
    evutil_socket_t fd = evconnlistener_get_fd (self->htp->server);
    if (getsockname (fd, (struct sockaddr *) &bound, &length) != 0)
        return -1;
    self->holder = socket (bound.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (self->holder < 0
        || setsockopt (self->holder, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0
        || bind (self->holder, (struct sockaddr *) &bound, length) != 0)
        return -1;
    self->port = ntohs (bound.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *) &bound)->sin6_port
                        : ((struct sockaddr_in *) &bound)->sin_port);
    return 0;
}

static int
s_listen (sim_backend_t *self, bool on)
{
    if (on == self->listening)
        return 0;
    if (!on) {
        evhtp_unbind_socket (self->htp);
        self->listening = false;
        return 0;
    }
    char address [SIM_HOST_MAX + 8];
    snprintf (address, sizeof address, "%s%s", strchr (self->config->host, ':')? "ipv6:": "",
              self->config->host);
    if (evhtp_bind_socket (self->htp, address, (uint16_t) self->port, LISTEN_BACKLOG))
        return -1;
    self->listening = true;
    return self->holder < 0 ? s_hold_port (self) : 0;
}

static void
s_apply_listener (sim_backend_t *self)
{
    bool want = !self->config->faults.refuse && !self->flap_down;
    if (!want && self->listening) {
        //  Going down: open connections die too, streams included, as when
        //  the server process goes away. Their work counts as faulted.
        self->dropping = true;
        of_conns_drop_all (self->conns);
        self->dropping = false;
    }
    if (s_listen (self, want))
        fprintf (stderr, "ollama-sim: %s: cannot listen again on port %d\n", self->config->name,
                 self->port);
}

static void
s_on_flap (evutil_socket_t fd, short what, void *arg)
{
    sim_backend_t *self = (sim_backend_t *) arg;
    (void) fd;
    (void) what;
    self->flap_down = !self->flap_down;
    s_apply_listener (self);
}

void
sim_backend_update (sim_backend_t *self)
{
    const sim_backend_config_t *config = self->config;
    sim_slots_resize (self->slots, config->parallel, config->max_queue);
    sim_cache_resize (self->cache, config->parallel);
    if (config->faults.flap_ms != self->flap_ms) {
        event_del (self->flap_timer);
        self->flap_down = false;
        self->flap_ms = config->faults.flap_ms;
        if (self->flap_ms > 0) {
            struct timeval period = { self->flap_ms / 1000, (self->flap_ms % 1000) * 1000 };
            event_add (self->flap_timer, &period);
        }
    }
    s_apply_listener (self);
}

//  Ollama checks Host only when it is bound to a loopback address
static bool
s_is_loopback (const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;
    if (strcmp (host, "localhost") == 0)
        return true;
    if (inet_pton (AF_INET, host, &v4) == 1)
        return (ntohl (v4.s_addr) >> 24) == 127;
    if (inet_pton (AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK (&v6);
    return false;
}

static bool
s_ends_with (const char *text, const char *suffix)
{
    size_t length = strlen (text), slength = strlen (suffix);
    return length >= slength && strcmp (text + length - slength, suffix) == 0;
}

bool
sim_backend_host_allowed (const char *header)
{
    if (!header || !*header)
        return true;
    char host [HOSTNAME_MAX];
    if (strlen (header) >= sizeof host)
        return false;
    //  Strip the port: "[::1]:11434", "name:11434"
    if (header [0] == '[') {
        const char *close = strchr (header, ']');
        if (!close)
            return false;
        snprintf (host, sizeof host, "%.*s", (int) (close - header - 1), header + 1);
    }
    else {
        snprintf (host, sizeof host, "%s", header);
        char *colon = strchr (host, ':');
        if (colon && strchr (colon + 1, ':') == NULL)
            *colon = 0;
    }
    for (char *p = host; *p; p++)
        *p = (char) tolower ((unsigned char) *p);
    if (strcmp (host, "localhost") == 0 || s_ends_with (host, ".localhost")
        || s_ends_with (host, ".local") || s_ends_with (host, ".internal"))
        return true;
    struct in_addr v4;
    struct in6_addr v6;
    if (inet_pton (AF_INET, host, &v4) == 1) {
        uint32_t ip = ntohl (v4.s_addr);
        return (ip >> 24) == 127 || (ip >> 24) == 10 || (ip >> 20) == 0xAC1
            || (ip >> 16) == 0xC0A8 || ip == 0;
    }
    if (inet_pton (AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK (&v6) || IN6_IS_ADDR_UNSPECIFIED (&v6)
            || (v6.s6_addr [0] & 0xFE) == 0xFC;
    //  The machine's own name (looked up once)
    static char self_name [HOSTNAME_MAX];
    if (!*self_name && gethostname (self_name, sizeof self_name - 1))
        return false;
    return strcasecmp (self_name, host) == 0;
}

static sim_route_t
s_route (sim_backend_t *self, const char *path)
{
    bool openai = self->config->api == SIM_API_OPENAI;
    for (int route = 0; route < SIM_ROUTE_UNKNOWN; route++) {
        const route_spec_t *spec = &s_routes [route];
        if ((openai && spec->native) || (!openai && spec->openai_only))
            continue;
        if (spec->prefix? strncmp (path, spec->path, strlen (spec->path)) == 0
                              && path [strlen (spec->path)] != 0
                        : strcmp (path, spec->path) == 0)
            return (sim_route_t) route;
    }
    return SIM_ROUTE_UNKNOWN;
}

//  The response tee: bytes go to the record of their route, if their request
//  is still that route's last (a tag is the exchange count times the route
//  count, plus the route)
static void
s_on_tee (void *arg, uint64_t tag, sim_tee_t event, const char *data, size_t size)
{
    sim_backend_t *self = (sim_backend_t *) arg;
    sim_record_t *record = self->records [tag % SIM_ROUTE_COUNT];
    if (record)
        sim_record_response (record, tag, event, data, size);
}

//  Records a request as its route's last, and follows its response
static void
s_record (sim_backend_t *self, sim_req_t *req, sim_route_t route)
{
    if (!self->records [route])
        self->records [route] = sim_record_new ();
    uint64_t tag = ++self->exchanges * SIM_ROUTE_COUNT + route;
    sim_record_request (self->records [route], req, tag);
    sim_req_set_tee (req, s_on_tee, self, tag);
    self->last_route = route;
}

static void
s_blobs (sim_backend_t *self, sim_req_t *req)
{
    const char *digest = sim_req_path (req) + strlen ("/api/blobs/");
    if (sim_req_method (req) == htp_method_POST) {
        sim_req_reply (req, 201, NULL, NULL, 0);
        return;
    }
    if (strncmp (digest, "sha256:", 7) == 0 || strncmp (digest, "sha256-", 7) == 0)
        digest += 7;
    for (size_t i = 0; i < self->config->model_count; i++)
        if (strcmp (self->config->models [i].digest, digest) == 0) {
            sim_req_reply (req, 200, NULL, NULL, 0);
            return;
        }
    sim_req_reply (req, 404, NULL, NULL, 0);
}

static void
s_dispatch (sim_req_t *req, void *arg)
{
    sim_backend_t *self = (sim_backend_t *) arg;
    const sim_faults_t *faults = &self->config->faults;
    const char *path = sim_req_path (req);
    sim_route_t route = s_route (self, path);
    bool v1 = strncmp (path, "/v1/", 4) == 0;
    bool fail = faults->http_500;
    if (faults->http_500_every > 0)
        fail |= ++self->fail_count % (uint64_t) faults->http_500_every == 0;
    if (fail) {
        sim_backend_count (self, SIM_STAT_FAULTED, 1);
        if (v1)
            sim_req_reply_openai_error (req, 500, faults->error_message);
        else
            sim_req_reply_error (req, 500, faults->error_message);
        return;
    }
    if (self->loopback && self->config->host_check
        && !sim_backend_host_allowed (sim_req_header (req, "Host"))) {
        sim_backend_count (self, SIM_STAT_FORBIDDEN, 1);
        sim_req_reply (req, 403, NULL, NULL, 0);
        return;
    }
    htp_method method = sim_req_method (req);
    if (method == htp_method_OPTIONS) {
        sim_req_reply (req, 204, NULL, NULL, 0);
        return;
    }
    if (route == SIM_ROUTE_UNKNOWN) {
        sim_req_reply (req, 404, SIM_CT_GIN_TEXT, "404 page not found", 18);
        return;
    }
    if (method >= htp_method_UNKNOWN || !(s_routes [route].methods & (1u << method))) {
        sim_req_reply (req, 405, SIM_CT_GIN_TEXT, "405 method not allowed", 22);
        return;
    }
    switch (route) {
        case SIM_ROUTE_ROOT:
            sim_req_reply (req, 200, SIM_CT_TEXT, "Ollama is running", 17);
            break;
        case SIM_ROUTE_HEALTH:
            sim_req_reply (req, 200, SIM_CT_JSON_V1, "{\"status\":\"ok\"}", 15);
            break;
        case SIM_ROUTE_BLOBS:
            s_blobs (self, req);
            break;
        case SIM_ROUTE_GENERATE: case SIM_ROUTE_CHAT: case SIM_ROUTE_EMBED:
        case SIM_ROUTE_EMBEDDINGS: case SIM_ROUTE_V1_CHAT: case SIM_ROUTE_V1_COMPLETIONS:
        case SIM_ROUTE_V1_EMBEDDINGS:
            sim_generate_handle (self, req, route);
            break;
        case SIM_ROUTE_PULL: case SIM_ROUTE_PUSH:
            sim_transfer_handle (self, req, route);
            break;
        default:
            sim_manage_handle (self, req, route);
            break;
    }
}

//  Drops the connection; never from inside evhtp's request callback, which
//  still uses the connection after the handler returns
static void
s_abort (sim_req_t *req, void *arg)
{
    (void) arg;
    sim_req_abort (req);
}

static void
s_on_request (evhtp_request_t *request, void *arg)
{
    sim_backend_t *self = (sim_backend_t *) arg;
    sim_req_t *req = sim_req_new (request, self->base);
    sim_route_t route = s_route (self, sim_req_path (req));
    self->stats [SIM_STAT_REQUESTS]++;
    self->routes [route]++;
    s_record (self, req, route);
    const sim_faults_t *faults = &self->config->faults;
    if (!self->listening) {
        //  Refusing or flapped down: a kept-alive connection dies as well,
        //  as it would when the server process goes away
        sim_backend_count (self, SIM_STAT_FAULTED, 1);
        sim_req_timer (req, 0, s_abort, NULL);
    }
    else if (faults->hang) {
        //  Accept and never answer; the exchange ends when the client leaves
        sim_backend_count (self, SIM_STAT_FAULTED, 1);
        sim_req_watch (req);
    }
    else if (faults->slow_first_byte_ms > 0) {
        sim_req_watch (req);
        sim_req_timer (req, (int64_t) faults->slow_first_byte_ms * SIM_NS_PER_MS, s_dispatch,
                       self);
    }
    else
        s_dispatch (req, self);
}

//  Serves HTTPS with the configured certificate and key
static int
s_tls (sim_backend_t *self)
{
    evhtp_ssl_cfg_t tls = {
        .pemfile = self->config->tls_cert,
        .privfile = self->config->tls_key,
        .ssl_opts = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1,
    };
    if (evhtp_ssl_init (self->htp, &tls) != 0) {
        fprintf (stderr, "ollama-sim: %s: cannot serve TLS with %s and %s\n", self->config->name,
                 self->config->tls_cert, self->config->tls_key);
        return -1;
    }
    return 0;
}

sim_backend_t *
sim_backend_new (struct event_base *base, sim_backend_config_t *config, sim_fleet_t *fleet)
{
    sim_backend_t *self = calloc (1, sizeof *self);
    assert (self);
    self->config = config;
    self->fleet = fleet;
    self->base = base;
    self->port = config->port;
    self->holder = -1;
    self->loopback = s_is_loopback (config->host);
    self->htp = evhtp_new (base, NULL);
    assert (self->htp);
    //  Go's net package (so Ollama) turns Nagle's algorithm off: a stream's small
    //  writes leave at once instead of waiting for the client's delayed ACK
    evhtp_enable_flag (self->htp, EVHTP_FLAG_ENABLE_NODELAY | EVHTP_FLAG_ENABLE_REUSEPORT);
    evhtp_set_gencb (self->htp, s_on_request, self);
    evhtp_set_max_body_size (self->htp, MAX_BODY_BYTES);
    self->conns = of_conns_new (self->htp, 0, NULL, NULL);
    self->slots = sim_slots_new (config->parallel, config->max_queue);
    self->cache = sim_cache_new (config->parallel);
    self->models = sim_models_new (config, base, self->cache);
    self->flap_timer = event_new (base, -1, EV_PERSIST, s_on_flap, self);
    if ((*config->tls_cert && s_tls (self) != 0) || s_listen (self, true)) {
        sim_backend_destroy (&self);
        return NULL;
    }
    sim_backend_update (self);
    return self;
}

void
sim_backend_destroy (sim_backend_t **self_p)
{
    assert (self_p);
    sim_backend_t *self = *self_p;
    if (!self)
        return;
    if (self->flap_timer)
        event_free (self->flap_timer);
    if (self->listening)
        evhtp_unbind_socket (self->htp);
    if (self->holder >= 0)
        close (self->holder);
    //  Open connections go first: their paused requests give slots back
    of_conns_destroy (&self->conns);
    evhtp_free (self->htp);
    sim_slots_destroy (&self->slots);
    sim_models_destroy (&self->models);
    sim_cache_destroy (&self->cache);
    for (int route = 0; route < SIM_ROUTE_COUNT; route++)
        sim_record_destroy (&self->records [route]);
    free (self);
    *self_p = NULL;
}

int
sim_backend_port (sim_backend_t *self)
{
    return self->port;
}

sim_backend_config_t *
sim_backend_config (sim_backend_t *self)
{
    return self->config;
}

sim_models_t *
sim_backend_models (sim_backend_t *self)
{
    return self->models;
}

sim_slots_t *
sim_backend_slots (sim_backend_t *self)
{
    return self->slots;
}

sim_cache_t *
sim_backend_cache (sim_backend_t *self)
{
    return self->cache;
}

sim_fleet_t *
sim_backend_fleet (sim_backend_t *self)
{
    return self->fleet;
}

struct event_base *
sim_backend_base (sim_backend_t *self)
{
    return self->base;
}

void
sim_backend_count (sim_backend_t *self, sim_stat_t stat, uint64_t amount)
{
    self->stats [stat] += amount;
}

void
sim_backend_count_pull (sim_backend_t *self, int delta)
{
    self->pulls += delta;
    if (self->pulls > self->peak_pulls)
        self->peak_pulls = self->pulls;
}

bool
sim_backend_dropping (sim_backend_t *self)
{
    return self->dropping;
}

unsigned
sim_backend_next_id (sim_backend_t *self)
{
    //  Ollama's ids are small random integers below 999
    return self->next_id++ % 999;
}

json_t *
sim_backend_stats (sim_backend_t *self)
{
    static const char *names [SIM_STAT_COUNT] = {
        "requests", "completed", "cancelled", "busy", "forbidden", "faulted", "tokens"
    };
    json_t *stats = json_object ();
    for (int stat = 0; stat < SIM_STAT_COUNT; stat++)
        json_object_set_new (stats, names [stat], json_integer ((json_int_t) self->stats [stat]));
    json_t *routes = json_object ();
    for (int route = 0; route < SIM_ROUTE_COUNT; route++)
        if (self->routes [route])
            json_object_set_new (routes, s_routes [route].path,
                                 json_integer ((json_int_t) self->routes [route]));
    json_object_set_new (stats, "routes", routes);
    json_object_set_new (stats, "active", json_integer (sim_slots_active (self->slots)));
    json_object_set_new (stats, "peak_active", json_integer (sim_slots_peak_active (self->slots)));
    json_object_set_new (stats, "queued", json_integer (sim_slots_queued (self->slots)));
    json_object_set_new (stats, "peak_queued", json_integer (sim_slots_peak_queued (self->slots)));
    json_object_set_new (stats, "pulls", json_integer (self->pulls));
    json_object_set_new (stats, "peak_pulls", json_integer (self->peak_pulls));
    json_object_set_new (stats, "listening", json_boolean (self->listening));
    json_object_set_new (stats, "connections", json_integer ((json_int_t) of_conns_size (self->conns)));
    sim_model_stats_t total;
    json_object_set_new (stats, "models", sim_models_stats (self->models, &total));
    json_object_set_new (stats, "loads", json_integer ((json_int_t) total.loads));
    json_object_set_new (stats, "evictions", json_integer ((json_int_t) total.evictions));
    json_object_set_new (stats, "prompt_tokens", json_integer ((json_int_t) total.prompt_tokens));
    json_object_set_new (stats, "cached_tokens", json_integer ((json_int_t) total.cached_tokens));
    json_object_set_new (stats, "last_request", sim_backend_last (self, NULL));
    return stats;
}

void
sim_backend_reset (sim_backend_t *self)
{
    memset (self->stats, 0, sizeof self->stats);
    memset (self->routes, 0, sizeof self->routes);
    self->fail_count = 0;
    self->peak_pulls = self->pulls;
    sim_slots_reset_peaks (self->slots);
    sim_models_reset_stats (self->models);
    for (int route = 0; route < SIM_ROUTE_COUNT; route++)
        if (self->records [route])
            sim_record_clear (self->records [route]);
}

void
sim_backend_flush (sim_backend_t *self)
{
    sim_models_flush (self->models);
    sim_cache_clear (self->cache);
}

json_t *
sim_backend_last (sim_backend_t *self, const char *path)
{
    sim_route_t route = path? s_route (self, path): self->last_route;
    if (path && route == SIM_ROUTE_UNKNOWN && strcmp (path, s_routes [route].path) != 0)
        return NULL;
    return self->records [route]? sim_record_json (self->records [route]): json_null ();
}

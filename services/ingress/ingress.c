/*  =========================================================================
    ingress - the HTTP service actor: one libevent loop that serves HTTP
    (libevhtp), follows the config (of_clone), holds the link to the
    scheduler and the connections to the backends, and follows every
    service's PUB once (ingress_watch) for the model routes (ingress_models)
    and the admin API (ingress_admin)

    The actor thread runs the event loop; its pipe and the bus sockets are
    events on the same base, so nothing ever blocks the loop. Each request is
    an ingress_call.
    =========================================================================
*/

#include "ingress.h"
#include "ingress_call.h"
#include "ingress_tls.h"
#include "ingress_wire.h"
#include "of_service.h"
#include "of_conns.h"
#include "of_loop.h"
#include <evhtp.h>
#include <netdb.h>
#include <sys/resource.h>
#include <openssl/crypto.h>

#define S_LISTEN_BACKLOG 1024
//  Descriptors kept besides client connections: backends, the bus, logs
#define S_RESERVED_FILES 256
#define S_CONNECTIONS_MAX 1000000      //  Ingress.MaxConnections's own bound
//  evhtp's own body limit: a reset, not a 413 (docs/notes/libevhtp.md), so it sits just
//  above the largest MaxRequestBodySize a frontend may set, which ingress_call
//  answers with a proper 413
#define S_HARD_BODY_LIMIT ((uint64_t) 2147483647 + 1)
//  The operator's routes take no body to speak of
#define S_OPS_BODY_LIMIT  65536
//  Scrapers and probes: a few connections each
#define S_OPS_CONNECTIONS 64

typedef struct {
    of_settings_t *settings;
    evhtp_t *htp;
    int port;                           //  the port bound (Webserver.Port may be 0)
    int claim;                          //  this deployment's claim on it (of_claim), or -1
    evhtp_t *ops;                       //  the Metrics.Port listener, or NULL
    of_conns_t *ops_conns;              //  its connections, freed at the end
    int ops_port;                       //  the port it bound
    of_evzmq_t *pipe_watch;
    of_conns_t *conns;                  //  every open client connection, bounded
    ingress_wire_t *wire;               //  strict HTTP and client timeouts on them
    ingress_tls_t *tls;                 //  HTTPS (Webserver.Ssl.Enable), or NULL
    ingress_watch_t *watch;             //  every service's PUB, followed once
    ingress_requester_t *configd;       //  requests to configd's ROUTER
    ingress_ctx_t ctx;                  //  what the calls share; its handles are owned here
} s_ingress_t;

static void
s_on_request (evhtp_request_t *request, void *arg)
{
    s_ingress_t *self = (s_ingress_t *) arg;
    ingress_wire_serving (self->wire, request);
    ingress_call_handle (&self->ctx, request);
}

static evhtp_res
s_on_accept (evhtp_connection_t *connection, void *arg)
{
    ingress_wire_attach (((s_ingress_t *) arg)->wire, connection);
    return EVHTP_RES_OK;
}

//  Each client connection is a descriptor: the soft limit is raised to the
//  hard one; Ingress.MaxConnections 0 (the default) is what that leaves, and
//  a limit below a MaxConnections set by hand is said at start (past it,
//  accept fails and new clients wait instead of being served)
static void
s_raise_file_limit (of_settings_t *settings)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0)
        limit.rlim_cur = limit.rlim_max = 1024;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
        getrlimit (RLIMIT_NOFILE, &limit);
    }
    if (settings->max_connections == 0) {
        rlim_t room = limit.rlim_cur == RLIM_INFINITY ? S_CONNECTIONS_MAX
                      : limit.rlim_cur > S_RESERVED_FILES + 16 ? limit.rlim_cur - S_RESERVED_FILES
                                                               : 16;
        settings->max_connections = (int) (room < S_CONNECTIONS_MAX ? room : S_CONNECTIONS_MAX);
        of_log_info ("accepting up to %d client connections (Ingress.MaxConnections 0: the "
                     "open-files limit less %d)", settings->max_connections, S_RESERVED_FILES);
        return;
    }
    if (limit.rlim_cur != RLIM_INFINITY
        && limit.rlim_cur < (rlim_t) settings->max_connections + S_RESERVED_FILES)
        of_log_warning ("the open-files limit (%llu) is below Ingress.MaxConnections (%d) and "
                        "the %d descriptors the ingress keeps for itself: raise it "
                        "(LimitNOFILE=, ulimit -n) or lower Ingress.MaxConnections",
                        (unsigned long long) limit.rlim_cur, settings->max_connections,
                        S_RESERVED_FILES);
}

static bool
s_configd_alive (void *arg)
{
    return of_clone_alive ((of_clone_t *) arg);
}

static void
s_on_config_change (void *arg, of_kind_t kind, const char *identifier, json_t *object)
{
    s_ingress_t *self = (s_ingress_t *) arg;
    ingress_ops_config (self->ctx.ops, kind, identifier, object);
    if (kind == OF_KIND_COUNT)
        of_log_info ("config snapshot applied");
    else
        of_log_debug ("config: %s '%s' %s", of_kind_name (kind), identifier,
                      object ? "changed" : "deleted");
}

//  Binds htp to Webserver.Hostname:port ("*" is every address); with reuse
//  (SO_REUSEPORT) several ingress replicas share the port. The port bound
//  (port may be 0) goes to *bound_p.
static int
s_listen (s_ingress_t *self, evhtp_t *htp, int port, bool reuse, int *bound_p, char *error,
          size_t size)
{
    const char *host = self->settings->http_hostname;
    char address [INET6_ADDRSTRLEN + 8] = "ipv4:0.0.0.0";
    if (!streq (host, "*") && !streq (host, "0.0.0.0")) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found = NULL;
        int rc = getaddrinfo (host, NULL, &hints, &found);
        if (rc != 0) {
            snprintf (error, size, "Webserver.Hostname '%s': %s", host, gai_strerror (rc));
            return -1;
        }
        char numeric [INET6_ADDRSTRLEN] = "";
        getnameinfo (found->ai_addr, found->ai_addrlen, numeric, sizeof numeric, NULL, 0,
                     NI_NUMERICHOST);
        snprintf (address, sizeof address, "%s:%s", found->ai_family == AF_INET6 ? "ipv6" : "ipv4",
                  numeric);
        freeaddrinfo (found);
    }
    evhtp_enable_flag (htp, EVHTP_FLAG_ENABLE_NODELAY
                                | (reuse ? EVHTP_FLAG_ENABLE_REUSEPORT : 0));
    if (evhtp_bind_socket (htp, address, (uint16_t) port, S_LISTEN_BACKLOG) != 0) {
        snprintf (error, size, "cannot listen on %s port %d: %s", host, port, strerror (errno));
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t length = sizeof bound;
    getsockname (evconnlistener_get_fd (htp->server), (struct sockaddr *) &bound, &length);
    *bound_p = ntohs (bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &bound)->sin6_port
                                                  : ((struct sockaddr_in *) &bound)->sin_port);
    return 0;
}

//  Webserver.Port: shared (SO_REUSEPORT) with the ingresses of this
//  Ingress.Deployment, never with another's (of_claim); with no deployment,
//  this ingress's alone
static int
s_listen_main (s_ingress_t *self, char *error, size_t size)
{
    const char *deployment = self->settings->deployment;
    int port = self->settings->http_port;
    bool shared = *deployment && port != 0;
    char rival [OF_CLAIM_NAME_MAX + 1];
    if (shared && of_claim_rival (deployment, port, rival, sizeof rival)) {
        snprintf (error, size, "port %d is shared by the ingresses of deployment '%s', and "
                  "this one is '%s' (Ingress.Deployment): give one of them another "
                  "Webserver.Port", port, rival, deployment);
        return -1;
    }
    if (shared && (self->claim = of_claim_take (deployment, port, error, size)) < 0)
        return -1;
    if (s_listen (self, self->htp, port, shared, &self->port, error, size) != 0) {
        size_t used = strlen (error);
        if (strstr (error, strerror (EADDRINUSE)) && used < size)
            snprintf (error + used, size - used, shared
                      ? " (by a program that does not share it)"
                      : " (ingresses meant to share a port need one Ingress.Deployment)");
        return -1;
    }
    //  Two deployments that bound at the same moment: each sees the other now
    if (shared && of_claim_rival (deployment, port, rival, sizeof rival)) {
        snprintf (error, size, "port %d was taken at the same moment by deployment '%s', and "
                  "this one is '%s' (Ingress.Deployment): neither shares it", port, rival,
                  deployment);
        return -1;
    }
    return 0;
}

static void
s_on_ops_request (evhtp_request_t *request, void *arg)
{
    ingress_ops_serve (((s_ingress_t *) arg)->ctx.ops, request);
}

//  Metrics.Port: the operator's routes on a port of this replica's own, so a
//  scraper reaches each of several replicas that share Webserver.Port
static int
s_listen_ops (s_ingress_t *self, char *error, size_t size)
{
    if (!self->settings->metrics_port)
        return 0;
    self->ops = evhtp_new (self->ctx.base, NULL);
    if (!self->ops) {
        snprintf (error, size, "cannot create the Metrics.Port listener");
        return -1;
    }
    evhtp_set_gencb (self->ops, s_on_ops_request, self);
    evhtp_set_max_body_size (self->ops, S_OPS_BODY_LIMIT);
    self->ops_conns = of_conns_new (self->ops, S_OPS_CONNECTIONS, NULL, NULL);
    return s_listen (self, self->ops, self->settings->metrics_port, false, &self->ops_port, error,
                     size);
}

static void
s_destroy (s_ingress_t *self)
{
    if (self->ops) {
        evhtp_unbind_socket (self->ops);
        of_conns_destroy (&self->ops_conns);
        evhtp_free (self->ops);
    }
    if (self->htp) {
        evhtp_unbind_socket (self->htp);
        //  Open connections first: their requests' ends release their leases
        of_conns_destroy (&self->conns);
        evhtp_free (self->htp);
    }
    of_claim_release (&self->claim);
    ingress_wire_destroy (&self->wire);
    ingress_tls_destroy (&self->tls);
    ingress_ops_destroy (&self->ctx.ops);
    ingress_keys_destroy (&self->ctx.keys);
    ingress_models_destroy (&self->ctx.models);
    ingress_admin_destroy (&self->ctx.admin);
    ingress_requester_destroy (&self->configd);
    ingress_watch_destroy (&self->watch);
    ingress_link_destroy (&self->ctx.link);
    of_upstream_pool_destroy (&self->ctx.pool);
    of_evzmq_destroy (&self->pipe_watch);
    of_clone_destroy (&self->ctx.clone);
    of_loop_free (&self->ctx.base);
    //  OpenSSL keeps per-thread state (its error queue, random generators):
    //  free it now, not in a thread-exit hook that may run after the process ends
    OPENSSL_thread_stop ();
}

//  The loop, with epoll's changes gathered per turn: evhtp and evhttp enable
//  and disable a connection's read and write events several times for each
//  request, mostly undone in the same turn, and without the changelist each
//  one is an epoll_ctl (12 per small request, measured; 6 with it). Nothing
//  here dup()s a descriptor, the one case the changelist gets wrong.
static struct event_base *
s_base_new (void)
{
    struct event_config *config = event_config_new ();
    if (!config)
        return NULL;
    event_config_set_flag (config, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    struct event_base *base = event_base_new_with_config (config);
    event_config_free (config);
    return base;
}

void
ingress_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    s_ingress_t self = {.settings = (of_settings_t *) args, .claim = -1};
    of_settings_t *settings = self.settings;
    self.ctx.settings = settings;
    char error [256];

    self.ctx.base = s_base_new ();
    self.htp = self.ctx.base ? evhtp_new (self.ctx.base, NULL) : NULL;
    self.ctx.pool = self.ctx.base ? of_upstream_pool_new (self.ctx.base, settings) : NULL;
    if (!self.htp || !self.ctx.pool) {
        s_destroy (&self);
        of_service_failed (pipe, "cannot create the event loop, resolver or TLS context");
        return;
    }
    evhtp_set_gencb (self.htp, s_on_request, &self);
    s_raise_file_limit (settings);
    self.conns = of_conns_new (self.htp, (size_t) settings->max_connections, s_on_accept, &self);
    self.ctx.clone = of_clone_new (settings->config_publisher, settings->config_router,
                                   settings->liveness_ms);
    self.ctx.link = ingress_link_new (self.ctx.base, settings);
    self.configd = self.ctx.clone
                       ? ingress_requester_new (self.ctx.base, &ofp_config_protocol,
                                                settings->config_router, "configd",
                                                settings->liveness_ms, s_configd_alive,
                                                self.ctx.clone)
                       : NULL;
    self.watch = self.ctx.clone ? ingress_watch_new (self.ctx.base, settings, self.ctx.clone)
                                : NULL;
    if (!self.ctx.clone || !self.ctx.link || !self.configd || !self.watch) {
        s_destroy (&self);
        of_service_failed (pipe, "cannot connect to configd (%s, %s), the scheduler (%s, %s), "
                           "healthmon (%s) or modelsync (%s)", settings->config_publisher,
                           settings->config_router, settings->scheduler_publisher,
                           settings->scheduler_router, settings->health_publisher,
                           settings->models_publisher);
        return;
    }
    ingress_ops_sources_t sources = {
        .settings = settings, .base = self.ctx.base, .clone = self.ctx.clone,
        .link = self.ctx.link, .watch = self.watch, .pool = self.ctx.pool, .conns = self.conns
    };
    self.ctx.ops = ingress_ops_new (&sources, error, sizeof error);
    if (!self.ctx.ops) {
        s_destroy (&self);
        of_service_failed (pipe, "%s", error);
        return;
    }
    self.wire = ingress_wire_new (settings, self.ctx.base, self.ctx.clone, self.ctx.ops,
                                  self.conns);
    evhtp_set_max_body_size (self.htp, S_HARD_BODY_LIMIT);
    if (settings->ssl_enable
        && !(self.tls = ingress_tls_new (self.htp, settings, error, sizeof error))) {
        s_destroy (&self);
        of_service_failed (pipe, "%s", error);
        return;
    }
    if (s_listen_main (&self, error, sizeof error) != 0
        || s_listen_ops (&self, error, sizeof error) != 0) {
        s_destroy (&self);
        of_service_failed (pipe, "%s", error);
        return;
    }
    self.ctx.admin = ingress_admin_new (self.ctx.base, settings, self.ctx.clone, self.configd,
                                        self.watch, self.ctx.link, self.ctx.ops);
    self.ctx.models = self.ctx.admin ? ingress_models_new (self.ctx.base, settings,
                                                           self.ctx.clone, self.watch,
                                                           self.configd)
                                     : NULL;
    if (!self.ctx.admin || !self.ctx.models) {
        s_destroy (&self);
        of_service_failed (pipe, "cannot connect to the scheduler (%s) or modelsync (%s)",
                           settings->scheduler_router, settings->models_router);
        return;
    }
    self.ctx.keys = ingress_keys_new (self.ctx.base, self.ctx.clone);
    self.ctx.models->keys = self.ctx.keys;
    of_clone_set_handler (self.ctx.clone, s_on_config_change, &self);
    of_clone_attach_events (self.ctx.clone, self.ctx.base);
    self.pipe_watch = of_service_pipe_events (self.ctx.base, pipe);

    of_log_info ("ingress %s listening on %s://%s:%d", settings->ingress_id,
                 self.tls ? "https" : "http",
                 streq (settings->http_hostname, "*") ? "0.0.0.0" : settings->http_hostname,
                 self.port);
    if (self.ops)
        of_log_info ("ingress %s serves /metrics on http://%s:%d (Metrics.Port)",
                     settings->ingress_id,
                     streq (settings->http_hostname, "*") ? "0.0.0.0" : settings->http_hostname,
                     self.ops_port);
    of_service_ready (pipe);
    event_base_dispatch (self.ctx.base);
    s_destroy (&self);
}

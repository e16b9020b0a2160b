/*  =========================================================================
    of_settings - ollamaflow.json, the one settings file every service reads

    It reads OllamaFlow's own keys (Webserver.Hostname, Webserver.Port,
    DatabaseFilename, AdminBearerTokens, StickyHeaders, Logging), so an
    OllamaFlow user's file works unchanged, plus ours (Bus endpoints, intervals,
    limits, and the Frontends and Backends that configd seeds on first start).
    Every setting can be overridden by an environment variable; keys we do not
    use (Webserver.IO, Logging.Servers, ...) are accepted and ignored.
    =========================================================================
*/

#ifndef OF_SETTINGS_H_INCLUDED
#define OF_SETTINGS_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "of_log.h"

#define OF_SETTINGS_DEFAULT_FILE "ollamaflow.json"
#define OF_SETTINGS_ERROR_MAX    256
#define OF_DEFAULT_HTTP_PORT     43411

//  A plain record: services read the fields directly.
typedef struct {
    char *file;                     //  where the settings came from (NULL: defaults only)
    char *http_hostname;            //  Webserver.Hostname: address to listen on, "*" for all
    int http_port;                  //  Webserver.Port
    bool ssl_enable;                //  Webserver.Ssl.Enable: the ingress serves HTTPS
    char *ssl_certificate;          //  Webserver.Ssl.CertificateFile: PEM chain
    char *ssl_private_key;          //  Webserver.Ssl.PrivateKeyFile: PEM key
    char *database;                 //  DatabaseFilename
    char **admin_tokens;            //  AdminBearerTokens, NULL-terminated
    char **sticky_headers;          //  StickyHeaders, NULL-terminated
    of_log_level_t log_level;       //  Logging.MinimumSeverity or Logging.Level
    //  Bus endpoints: the owner binds, everyone else connects
    char *config_router;            //  Bus.ConfigRouter, owned by configd
    char *config_publisher;         //  Bus.ConfigPublisher, owned by configd
    char *scheduler_router;         //  Bus.SchedulerRouter, owned by the scheduler
    char *scheduler_publisher;      //  Bus.SchedulerPublisher, owned by the scheduler
    char *health_publisher;         //  Bus.HealthPublisher, owned by healthmon
    char *models_publisher;         //  Bus.ModelsPublisher, owned by modelsync
    char *models_router;            //  Bus.ModelsRouter, owned by modelsync
    bool bind_any;                  //  Bus.BindAny: owners bind tcp://*:port
    bool tap;                       //  Bus.Tap: publish copies of request/reply traffic
    int64_t heartbeat_ms;           //  Bus.HeartbeatMs: how often services say they live
    int64_t liveness_ms;            //  Bus.LivenessMs: silence after which a peer is gone
    char *deployment;               //  Ingress.Deployment: who may share Webserver.Port
    int ingress_workers;            //  Ingress.Workers: ingresses `ollamaflow up` runs (0: per core)
    char *ingress_id;               //  Ingress.Id (default: hostname-pid)
    int64_t connect_timeout_ms;     //  Ingress.ConnectTimeoutMs: connecting to a backend
    int64_t idle_timeout_ms;        //  Ingress.IdleTimeoutMs: silence between chunks
    int max_attempts;               //  Ingress.MaxAttempts: backends tried on connect failures
    int64_t queue_timeout_ms;       //  Ingress.QueueTimeoutMs: wait for a free slot
    int max_connections;            //  Ingress.MaxConnections: client connections per replica
    char **trusted_proxies;         //  Ingress.TrustedProxies: may set X-Forwarded-For
    //  Hardening: slow clients and the HTTP wire (ingress)
    int64_t header_timeout_ms;      //  Ingress.HeaderTimeoutMs: a request's headers
    int64_t body_timeout_ms;        //  Ingress.BodyTimeoutMs: silence within a request body
    int64_t keepalive_timeout_ms;   //  Ingress.KeepAliveTimeoutMs: idle between requests
    int max_headers;                //  Ingress.MaxHeaders: headers per request
    int max_header_bytes;           //  Ingress.MaxHeaderBytes: their names and values
    int max_request_line_bytes;     //  Ingress.MaxRequestLineBytes: the request line
    int64_t health_interval_ms;     //  Health.IntervalMs: probe interval
    int64_t health_timeout_ms;      //  Health.TimeoutMs: probe timeout (0: half the interval)
    int64_t models_interval_ms;     //  Models.IntervalMs: how often inventories are fetched
    int64_t models_timeout_ms;      //  Models.TimeoutMs: a list or delete request's timeout
    int pulls_per_backend;          //  Models.PullsPerBackend: pulls at once on one backend
    int max_pulls;                  //  Models.MaxPulls: pulls at once over all backends
    int64_t pull_retry_ms;          //  Models.PullRetryMs: first wait after a failed pull
    int64_t pull_idle_timeout_ms;   //  Models.PullIdleTimeoutMs: silence ending a pull
    int max_jobs;                   //  Models.MaxJobs: PULL-START jobs followed at once
    int max_sessions;               //  Scheduler.MaxSessions: sticky sessions kept
    int max_queue;                  //  Scheduler.MaxQueue: asks waiting, all frontends
    //  Observability (the ingress's /metrics and access log)
    bool metrics_enable;            //  Metrics.Enable: count traffic and serve /metrics
    bool metrics_require_token;     //  Metrics.RequireAdminToken: /metrics needs an admin token
    int access_log_sample;          //  AccessLog.SampleEvery: 0 off, 1 every request, N 1 in N
    char *access_log_file;          //  AccessLog.File: "" for standard output, else a file
    int metrics_port;               //  Metrics.Port: this replica's own port for /metrics (0: none)
    //  Client API keys (docs/api-keys.md)
    int64_t priority_step_ms;       //  Scheduler.PriorityStepMs: a priority's head start
    int metrics_key_labels_max;     //  Metrics.KeyLabelsMax: keys named in /metrics at most
    //  Upstream connections (the pool of kept-alive connections to backends)
    int upstream_idle_max;          //  Upstream.IdlePerBackendMax: idle connections kept per backend
    int64_t upstream_idle_ms;       //  Upstream.IdleTimeoutMs: an idle connection's life
    json_t *seed_frontends;         //  Frontends: array seeded by configd on first start
    json_t *seed_backends;          //  Backends: array seeded by configd on first start
} of_settings_t;

//  Loads settings: defaults, then the file (path, or $OLLAMAFLOW_CONFIG, or
//  ./ollamaflow.json if it exists), then the environment. Returns NULL and
//  writes the reason (naming the key or variable) into error when invalid.
of_settings_t *
    of_settings_load (const char *path, char *error, size_t size);

//  Destroys settings; accepts NULL.
void
    of_settings_destroy (of_settings_t **self_p);

//  Turns an endpoint this process owns into the address to bind: with BindAny,
//  tcp://host:port becomes tcp://*:port. Returns a new string.
char *
    of_settings_bind_address (of_settings_t *self, const char *endpoint);

//  Writes the default settings file for a first run, with the given fleet
//  (an array of Backend objects, taken over) served by one frontend "*", and
//  admin_token as the one AdminBearerTokens entry (NULL: none, the admin API
//  disabled). The file is created readable by its owner only (it holds the
//  token) and never replaces one that exists. Returns 0, or -1 with errno
//  set (EEXIST if the file exists).
int
    of_settings_write_default (const char *path, json_t **backends_p, const char *admin_token);

//  Prints every setting with its key, variable and default (for --help).
void
    of_settings_print_help (FILE *out);

//  Self test
void
    of_settings_test (bool verbose);

#endif

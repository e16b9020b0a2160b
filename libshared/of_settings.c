/*  =========================================================================
    of_settings - ollamaflow.json, the one settings file every service reads
    =========================================================================
*/

#include "of_settings.h"
#include "of_claim.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum {
    S_STRING,       //  char *
    S_INT,          //  int64_t or int, within min..max
    S_BOOL,         //  bool
    S_LIST,         //  char ** from a JSON array of strings, or a comma list in the environment
    S_LEVEL,        //  of_log_level_t from a name, or OllamaFlow's 0-7 severity
    S_ARRAY         //  json_t * array, kept as it is (file only)
} s_type_t;

typedef struct {
    const char *key;            //  dotted path in the file; matched case-insensitively
    const char *env;            //  environment variable, or NULL
    s_type_t type;
    size_t offset;              //  into of_settings_t
    size_t width;               //  sizeof the field, for S_INT
    const char *def;            //  default, as the environment would spell it
    int64_t min, max;
    const char *help;
} s_setting_t;

#define S_FIELD(f) offsetof (of_settings_t, f)
#define S_WIDTH(f) sizeof (((of_settings_t *) 0)->f)

static const s_setting_t s_settings [] = {
    {"Webserver.Hostname", "OLLAMAFLOW_HOSTNAME", S_STRING, S_FIELD (http_hostname), 0,
     "localhost", 0, 0, "address the ingress listens on; * for all"},
    {"Webserver.Port", "OLLAMAFLOW_PORT", S_INT, S_FIELD (http_port), S_WIDTH (http_port),
     "43411", 0, 65535, "HTTP port of the ingress (0: any free port)"},
    {"Webserver.Ssl.Enable", "OLLAMAFLOW_SSL", S_BOOL, S_FIELD (ssl_enable), 0, "false", 0, 0,
     "the ingress serves HTTPS instead of HTTP (OllamaFlow's setting)"},
    {"Webserver.Ssl.CertificateFile", "OLLAMAFLOW_SSL_CERTIFICATE", S_STRING,
     S_FIELD (ssl_certificate), 0, "", 0, 0,
     "PEM file: the ingress's certificate, then any intermediates"},
    {"Webserver.Ssl.PrivateKeyFile", "OLLAMAFLOW_SSL_PRIVATE_KEY", S_STRING,
     S_FIELD (ssl_private_key), 0, "", 0, 0, "PEM file: the certificate's private key"},
    {"DatabaseFilename", "OLLAMAFLOW_DATABASE", S_STRING, S_FIELD (database), 0,
     "./ollamaflow.db", 0, 0, "SQLite file owned by configd"},
    {"AdminBearerTokens", "OLLAMAFLOW_ADMIN_TOKENS", S_LIST, S_FIELD (admin_tokens), 0, "", 0,
     0, "bearer tokens accepted by the admin API (comma-separated in the variable)"},
    {"StickyHeaders", "OLLAMAFLOW_STICKY_HEADERS", S_LIST, S_FIELD (sticky_headers), 0,
     "x-conversation-id,x-thread-id", 0, 0, "request headers naming the client, in order"},
    {"Logging.MinimumSeverity", NULL, S_LEVEL, S_FIELD (log_level), 0, "info", 0, 0,
     "OllamaFlow's severity: 0 debug, 1 info, 2 warning, 3 and above error"},
    {"Logging.Level", "OLLAMAFLOW_LOG_LEVEL", S_LEVEL, S_FIELD (log_level), 0, "info", 0, 0,
     "debug, info, warning or error"},
    {"Bus.ConfigRouter", "OLLAMAFLOW_CONFIG_ROUTER", S_STRING, S_FIELD (config_router), 0,
     "tcp://127.0.0.1:43421", 0, 0, "configd's requests (config CRUD and snapshots)"},
    {"Bus.ConfigPublisher", "OLLAMAFLOW_CONFIG_PUBLISHER", S_STRING,
     S_FIELD (config_publisher), 0, "tcp://127.0.0.1:43422", 0, 0, "configd's updates"},
    {"Bus.SchedulerRouter", "OLLAMAFLOW_SCHEDULER_ROUTER", S_STRING,
     S_FIELD (scheduler_router), 0, "tcp://127.0.0.1:43423", 0, 0, "the scheduler's leases"},
    {"Bus.SchedulerPublisher", "OLLAMAFLOW_SCHEDULER_PUBLISHER", S_STRING,
     S_FIELD (scheduler_publisher), 0, "tcp://127.0.0.1:43424", 0, 0,
     "the scheduler's lease and queue state"},
    {"Bus.HealthPublisher", "OLLAMAFLOW_HEALTH_PUBLISHER", S_STRING,
     S_FIELD (health_publisher), 0, "tcp://127.0.0.1:43425", 0, 0, "healthmon's backend health"},
    {"Bus.ModelsPublisher", "OLLAMAFLOW_MODELS_PUBLISHER", S_STRING,
     S_FIELD (models_publisher), 0, "tcp://127.0.0.1:43426", 0, 0,
     "modelsync's model inventory and pulls"},
    {"Bus.ModelsRouter", "OLLAMAFLOW_MODELS_ROUTER", S_STRING, S_FIELD (models_router), 0,
     "tcp://127.0.0.1:43427", 0, 0, "modelsync's requests (pulls and deletes through a frontend)"},
    {"Bus.BindAny", "OLLAMAFLOW_BIND_ANY", S_BOOL, S_FIELD (bind_any), 0, "false", 0, 0,
     "owners bind their ports on all interfaces (containers)"},
    {"Bus.Tap", "OLLAMAFLOW_TAP", S_BOOL, S_FIELD (tap), 0, "false", 0, 0,
     "also publish copies of request/reply traffic for ollamaflow-tap"},
    {"Bus.HeartbeatMs", "OLLAMAFLOW_HEARTBEAT_MS", S_INT, S_FIELD (heartbeat_ms),
     S_WIDTH (heartbeat_ms), "1000", 50, 60000, "how often services send heartbeats"},
    {"Bus.LivenessMs", "OLLAMAFLOW_LIVENESS_MS", S_INT, S_FIELD (liveness_ms),
     S_WIDTH (liveness_ms), "3000", 100, 600000, "silence after which a peer counts as gone"},
    {"Ingress.Deployment", "OLLAMAFLOW_DEPLOYMENT", S_STRING, S_FIELD (deployment), 0, "", 0, 0,
     "a name the ingresses of one deployment share: those with the same name share "
     "Webserver.Port (SO_REUSEPORT); empty: the port is this ingress's alone"},
    {"Ingress.Workers", "OLLAMAFLOW_INGRESS_WORKERS", S_INT, S_FIELD (ingress_workers),
     S_WIDTH (ingress_workers), "0", 0, 256,
     "ingress processes `ollamaflow up` runs on Webserver.Port (0: one per online core)"},
    {"Ingress.Id", "OLLAMAFLOW_INGRESS_ID", S_STRING, S_FIELD (ingress_id), 0, "", 0, 0,
     "id of this ingress replica (default: hostname-pid)"},
    {"Ingress.ConnectTimeoutMs", "OLLAMAFLOW_CONNECT_TIMEOUT_MS", S_INT,
     S_FIELD (connect_timeout_ms), S_WIDTH (connect_timeout_ms), "5000", 100, 600000,
     "longest wait for a connection to a backend"},
    {"Ingress.IdleTimeoutMs", "OLLAMAFLOW_IDLE_TIMEOUT_MS", S_INT, S_FIELD (idle_timeout_ms),
     S_WIDTH (idle_timeout_ms), "300000", 1000, 86400000,
     "longest silence between two chunks of a response once it has started"},
    {"Ingress.MaxAttempts", "OLLAMAFLOW_MAX_ATTEMPTS", S_INT, S_FIELD (max_attempts),
     S_WIDTH (max_attempts), "3", 1, 64,
     "backends tried for one request when connecting fails before any byte was sent"},
    {"Ingress.QueueTimeoutMs", "OLLAMAFLOW_QUEUE_TIMEOUT_MS", S_INT, S_FIELD (queue_timeout_ms),
     S_WIDTH (queue_timeout_ms), "60000", 0, 86400000,
     "longest wait in the scheduler's queue for a free backend slot"},
    {"Ingress.MaxConnections", "OLLAMAFLOW_MAX_CONNECTIONS", S_INT, S_FIELD (max_connections),
     S_WIDTH (max_connections), "0", 0, 1000000, "client connections one replica accepts (0: "
     "as many as its open-files limit allows, less 256)"},
    {"Ingress.TrustedProxies", "OLLAMAFLOW_TRUSTED_PROXIES", S_LIST, S_FIELD (trusted_proxies), 0,
     "", 0, 0, "addresses whose X-Forwarded-For names the client (comma-separated)"},
    //  Hardening: slow clients and the HTTP wire (ingress)
    {"Ingress.HeaderTimeoutMs", "OLLAMAFLOW_HEADER_TIMEOUT_MS", S_INT,
     S_FIELD (header_timeout_ms), S_WIDTH (header_timeout_ms), "30000", 50, 3600000,
     "longest time for a request's headers, from the connection or the request's first byte"},
    {"Ingress.BodyTimeoutMs", "OLLAMAFLOW_BODY_TIMEOUT_MS", S_INT, S_FIELD (body_timeout_ms),
     S_WIDTH (body_timeout_ms), "30000", 50, 3600000,
     "longest silence while a request body arrives (the whole body: the frontend's TimeoutMs)"},
    {"Ingress.KeepAliveTimeoutMs", "OLLAMAFLOW_KEEPALIVE_TIMEOUT_MS", S_INT,
     S_FIELD (keepalive_timeout_ms), S_WIDTH (keepalive_timeout_ms), "60000", 50, 86400000,
     "longest idle time of a kept-alive client connection between requests"},
    {"Ingress.MaxHeaders", "OLLAMAFLOW_MAX_HEADERS", S_INT, S_FIELD (max_headers),
     S_WIDTH (max_headers), "100", 8, 10000, "request headers at most (431 beyond)"},
    {"Ingress.MaxHeaderBytes", "OLLAMAFLOW_MAX_HEADER_BYTES", S_INT, S_FIELD (max_header_bytes),
     S_WIDTH (max_header_bytes), "65536", 1024, 16777216,
     "bytes of request headers at most, names and values (431 beyond)"},
    {"Ingress.MaxRequestLineBytes", "OLLAMAFLOW_MAX_REQUEST_LINE_BYTES", S_INT,
     S_FIELD (max_request_line_bytes), S_WIDTH (max_request_line_bytes), "8192", 256, 8192,
     "bytes of the request line at most (414 beyond; the parser holds no more than 8192)"},
    {"Health.IntervalMs", "OLLAMAFLOW_HEALTH_INTERVAL_MS", S_INT, S_FIELD (health_interval_ms),
     S_WIDTH (health_interval_ms), "5000", 100, 3600000, "how often each backend is probed"},
    {"Health.TimeoutMs", "OLLAMAFLOW_HEALTH_TIMEOUT_MS", S_INT, S_FIELD (health_timeout_ms),
     S_WIDTH (health_timeout_ms), "0", 0, 3600000,
     "longest wait for a probe's answer (0: half the interval)"},
    {"Models.IntervalMs", "OLLAMAFLOW_MODELS_INTERVAL_MS", S_INT, S_FIELD (models_interval_ms),
     S_WIDTH (models_interval_ms), "10000", 100, 3600000,
     "how often modelsync lists each healthy backend's models"},
    {"Models.TimeoutMs", "OLLAMAFLOW_MODELS_TIMEOUT_MS", S_INT, S_FIELD (models_timeout_ms),
     S_WIDTH (models_timeout_ms), "10000", 100, 600000,
     "longest wait for a backend's model list or delete"},
    {"Models.PullsPerBackend", "OLLAMAFLOW_PULLS_PER_BACKEND", S_INT,
     S_FIELD (pulls_per_backend), S_WIDTH (pulls_per_backend), "3", 1, 64,
     "pulls running at once on one backend"},
    {"Models.MaxPulls", "OLLAMAFLOW_MAX_PULLS", S_INT, S_FIELD (max_pulls), S_WIDTH (max_pulls),
     "16", 1, 10000, "pulls running at once over all backends"},
    {"Models.PullRetryMs", "OLLAMAFLOW_PULL_RETRY_MS", S_INT, S_FIELD (pull_retry_ms),
     S_WIDTH (pull_retry_ms), "5000", 10, 3600000,
     "wait before retrying a failed required pull; doubles on each failure, up to 64 times"},
    {"Models.PullIdleTimeoutMs", "OLLAMAFLOW_PULL_IDLE_TIMEOUT_MS", S_INT,
     S_FIELD (pull_idle_timeout_ms), S_WIDTH (pull_idle_timeout_ms), "300000", 1000, 86400000,
     "longest silence of a pull's progress stream"},
    {"Models.MaxJobs", "OLLAMAFLOW_MAX_PULL_JOBS", S_INT, S_FIELD (max_jobs), S_WIDTH (max_jobs),
     "256", 1, 100000, "pull jobs (PULL-START) followed at once; more are refused Busy"},
    {"Scheduler.MaxSessions", "OLLAMAFLOW_MAX_SESSIONS", S_INT, S_FIELD (max_sessions),
     S_WIDTH (max_sessions), "100000", 1, 10000000, "sticky sessions kept at most"},
    {"Scheduler.MaxQueue", "OLLAMAFLOW_MAX_QUEUE", S_INT, S_FIELD (max_queue),
     S_WIDTH (max_queue), "10000", 0, 1000000, "asks waiting at most, over all frontends"},
    //  Observability (the ingress's /metrics and access log)
    {"Metrics.Enable", "OLLAMAFLOW_METRICS", S_BOOL, S_FIELD (metrics_enable), 0, "true", 0, 0,
     "count each request and serve GET /metrics (false: 404, nothing counted)"},
    {"Metrics.RequireAdminToken", "OLLAMAFLOW_METRICS_REQUIRE_TOKEN", S_BOOL,
     S_FIELD (metrics_require_token), 0, "false", 0, 0,
     "GET /metrics needs 'Authorization: Bearer' with one of AdminBearerTokens"},
    {"Metrics.Port", "OLLAMAFLOW_METRICS_PORT", S_INT, S_FIELD (metrics_port),
     S_WIDTH (metrics_port), "0", 0, 65535,
     "a port of this replica's own (plain HTTP) for /metrics, /livez and /readyz (0: none)"},
    {"AccessLog.SampleEvery", "OLLAMAFLOW_ACCESS_LOG", S_INT, S_FIELD (access_log_sample),
     S_WIDTH (access_log_sample), "0", 0, 1000000,
     "access log: 0 off, 1 a JSON line per request, N one request in N"},
    {"AccessLog.File", "OLLAMAFLOW_ACCESS_LOG_FILE", S_STRING, S_FIELD (access_log_file), 0, "",
     0, 0, "where access log lines go: a file (appended), or standard output when empty"},
    //  Client API keys (docs/api-keys.md)
    {"Scheduler.PriorityStepMs", "OLLAMAFLOW_PRIORITY_STEP_MS", S_INT, S_FIELD (priority_step_ms),
     S_WIDTH (priority_step_ms), "5000", 0, 3600000,
     "how far behind a High key's ask a Normal one ranks in the queue (Low: twice as far)"},
    {"Metrics.KeyLabelsMax", "OLLAMAFLOW_METRICS_KEY_LABELS_MAX", S_INT,
     S_FIELD (metrics_key_labels_max), S_WIDTH (metrics_key_labels_max), "100", 0, 10000,
     "/metrics names each client API key while there are at most this many (else their sum)"},
    //  Upstream connections (the pool of kept-alive connections to backends)
    {"Upstream.IdlePerBackendMax", "OLLAMAFLOW_UPSTREAM_IDLE_MAX", S_INT,
     S_FIELD (upstream_idle_max), S_WIDTH (upstream_idle_max), "1024", 0, 1000000,
     "idle kept-alive connections (HTTP and HTTPS) kept per backend for the next requests"},
    {"Upstream.IdleTimeoutMs", "OLLAMAFLOW_UPSTREAM_IDLE_TIMEOUT_MS", S_INT,
     S_FIELD (upstream_idle_ms), S_WIDTH (upstream_idle_ms), "30000", 100, 86400000,
     "an idle connection to a backend not used again within this time is closed"},
    {"Frontends", NULL, S_ARRAY, S_FIELD (seed_frontends), 0, NULL, 0, 0,
     "Frontend objects seeded into the database on first start"},
    {"Backends", NULL, S_ARRAY, S_FIELD (seed_backends), 0, NULL, 0, 0,
     "Backend objects seeded into the database on first start"},
};

#define S_COUNT (sizeof s_settings / sizeof s_settings [0])

static void *
s_slot (of_settings_t *self, const s_setting_t *s)
{
    return (char *) self + s->offset;
}

static void
s_strv_free (char **strv)
{
    for (char **s = strv; s && *s; s++)
        free (*s);
    free (strv);
}

//  Splits a comma-separated list, dropping blanks around items and empty items
static char **
s_strv_from_csv (const char *text)
{
    size_t cap = 1;
    for (const char *c = text; *c; c++)
        cap += *c == ',';
    char **strv = (char **) calloc (cap + 1, sizeof (char *));
    size_t n = 0;
    char *copy = strdup (text);
    char *save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen (tok);
        while (end > tok && (end [-1] == ' ' || end [-1] == '\t'))
            *--end = 0;
        if (*tok)
            strv [n++] = strdup (tok);
    }
    free (copy);
    return strv;
}

static void
s_set_int (void *slot, size_t width, int64_t value)
{
    if (width == sizeof (int))
        *(int *) slot = (int) value;
    else
        *(int64_t *) slot = value;
}

//  Applies a value written as text (defaults and environment variables)
static int
s_apply_text (of_settings_t *self, const s_setting_t *s, const char *text, const char *origin,
              char *error, size_t size)
{
    void *slot = s_slot (self, s);
    switch (s->type) {
        case S_STRING:
            free (*(char **) slot);
            *(char **) slot = strdup (text);
            return 0;
        case S_INT: {
            char *end;
            errno = 0;
            long long value = strtoll (text, &end, 10);
            if (errno || end == text || *end || value < s->min || value > s->max) {
                snprintf (error, size, "%s: must be an integer from %lld to %lld (got '%s')",
                          origin, (long long) s->min, (long long) s->max, text);
                return -1;
            }
            s_set_int (slot, s->width, value);
            return 0;
        }
        case S_BOOL:
            if (strcasecmp (text, "1") == 0 || strcasecmp (text, "true") == 0
                || strcasecmp (text, "yes") == 0)
                *(bool *) slot = true;
            else if (strcasecmp (text, "0") == 0 || strcasecmp (text, "false") == 0
                     || strcasecmp (text, "no") == 0 || *text == 0)
                *(bool *) slot = false;
            else {
                snprintf (error, size, "%s: must be true or false (got '%s')", origin, text);
                return -1;
            }
            return 0;
        case S_LIST:
            s_strv_free (*(char ***) slot);
            *(char ***) slot = s_strv_from_csv (text);
            return 0;
        case S_LEVEL:
            if (of_log_level_parse (text, (of_log_level_t *) slot) != 0) {
                snprintf (error, size, "%s: must be debug, info, warning or error (got '%s')",
                          origin, text);
                return -1;
            }
            return 0;
        case S_ARRAY:
            break;
    }
    return 0;
}

//  Applies a value read from the file
static int
s_apply_json (of_settings_t *self, const s_setting_t *s, json_t *value, char *error, size_t size)
{
    void *slot = s_slot (self, s);
    switch (s->type) {
        case S_STRING:
            if (!json_is_string (value) || json_string_length (value) == 0) {
                snprintf (error, size, "%s: must be a non-empty string", s->key);
                return -1;
            }
            return s_apply_text (self, s, json_string_value (value), s->key, error, size);
        case S_INT:
            if (!json_is_integer (value) || json_integer_value (value) < s->min
                || json_integer_value (value) > s->max) {
                snprintf (error, size, "%s: must be an integer from %lld to %lld", s->key,
                          (long long) s->min, (long long) s->max);
                return -1;
            }
            s_set_int (slot, s->width, json_integer_value (value));
            return 0;
        case S_BOOL:
            if (!json_is_boolean (value)) {
                snprintf (error, size, "%s: must be true or false", s->key);
                return -1;
            }
            *(bool *) slot = json_is_true (value);
            return 0;
        case S_LIST: {
            if (!json_is_array (value)) {
                snprintf (error, size, "%s: must be an array of strings", s->key);
                return -1;
            }
            char **strv = (char **) calloc (json_array_size (value) + 1, sizeof (char *));
            size_t index;
            json_t *item;
            json_array_foreach (value, index, item) {
                if (!json_is_string (item) || json_string_length (item) == 0) {
                    s_strv_free (strv);
                    snprintf (error, size, "%s[%zu]: must be a non-empty string", s->key, index);
                    return -1;
                }
                strv [index] = strdup (json_string_value (item));
            }
            s_strv_free (*(char ***) slot);
            *(char ***) slot = strv;
            return 0;
        }
        case S_LEVEL:
            if (json_is_integer (value)) {
                //  OllamaFlow's SyslogLogging scale: 0 debug, 1 info, 2 warn, 3+ error
                json_int_t n = json_integer_value (value);
                if (n < 0 || n > 7) {
                    snprintf (error, size, "%s: must be from 0 to 7", s->key);
                    return -1;
                }
                *(of_log_level_t *) slot = n == 0   ? OF_LOG_DEBUG
                                           : n == 1 ? OF_LOG_INFO
                                           : n == 2 ? OF_LOG_WARNING
                                                    : OF_LOG_ERROR;
                return 0;
            }
            if (!json_is_string (value)) {
                snprintf (error, size, "%s: must be a level name or 0-7", s->key);
                return -1;
            }
            return s_apply_text (self, s, json_string_value (value), s->key, error, size);
        case S_ARRAY:
            if (!json_is_array (value)) {
                snprintf (error, size, "%s: must be an array of objects", s->key);
                return -1;
            }
            json_decref (*(json_t **) slot);
            *(json_t **) slot = json_incref (value);
            return 0;
    }
    return 0;
}

//  Finds a dotted key in the file, each part matched case-insensitively
static json_t *
s_lookup (json_t *root, const char *key)
{
    char path [64];
    snprintf (path, sizeof path, "%s", key);
    json_t *node = root;
    char *save = NULL;
    for (char *part = strtok_r (path, ".", &save); part && node;
         part = strtok_r (NULL, ".", &save)) {
        if (!json_is_object (node))
            return NULL;
        json_t *found = NULL;
        const char *name;
        json_t *child;
        json_object_foreach (node, name, child)
            if (strcasecmp (name, part) == 0)
                found = child;
        node = found;
    }
    return node;
}

of_settings_t *
of_settings_load (const char *path, char *error, size_t size)
{
    of_settings_t *self = (of_settings_t *) calloc (1, sizeof (of_settings_t));
    for (size_t i = 0; i < S_COUNT; i++)
        if (s_settings [i].def
            && s_apply_text (self, &s_settings [i], s_settings [i].def, s_settings [i].key, error,
                             size)
                   != 0)
            assert (false);     //  a bad default is a programming error

    if (!path)
        path = getenv ("OLLAMAFLOW_CONFIG");
    bool explicit_path = path != NULL;
    if (!path)
        path = OF_SETTINGS_DEFAULT_FILE;

    if (explicit_path || access (path, F_OK) == 0) {
        json_error_t jerr;
        json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
            snprintf (error, size, "%s: %s (line %d)", path, jerr.text, jerr.line);
            goto failed;
        }
        if (!json_is_object (root)) {
            json_decref (root);
            snprintf (error, size, "%s: must hold a JSON object", path);
            goto failed;
        }
        self->file = strdup (path);
        for (size_t i = 0; i < S_COUNT; i++) {
            json_t *value = s_lookup (root, s_settings [i].key);
            if (value && !json_is_null (value)
                && s_apply_json (self, &s_settings [i], value, error, size) != 0) {
                json_decref (root);
                goto failed;
            }
        }
        json_decref (root);
    }

    for (size_t i = 0; i < S_COUNT; i++) {
        const char *text = s_settings [i].env ? getenv (s_settings [i].env) : NULL;
        if (text && s_apply_text (self, &s_settings [i], text, s_settings [i].env, error, size)
                        != 0)
            goto failed;
    }
    //  OllamaFlow's documented single-token variable
    const char *token = getenv ("OLLAMAFLOW_ADMIN_TOKEN");
    if (token && *token && !getenv ("OLLAMAFLOW_ADMIN_TOKENS"))
        for (size_t i = 0; i < S_COUNT; i++)
            if (s_settings [i].offset == S_FIELD (admin_tokens))
                s_apply_text (self, &s_settings [i], token, "OLLAMAFLOW_ADMIN_TOKEN", error, size);

    if (!self->ingress_id || !*self->ingress_id) {
        char host [HOST_NAME_MAX + 1] = "ingress";
        gethostname (host, sizeof host);
        host [sizeof host - 1] = 0;
        char id [HOST_NAME_MAX + 24];
        snprintf (id, sizeof id, "%s-%d", host, (int) getpid ());
        free (self->ingress_id);
        self->ingress_id = strdup (id);
    }
    if (!of_claim_name_valid (self->deployment)) {
        snprintf (error, size, "Ingress.Deployment '%.80s': at most %d of A-Z a-z 0-9 . _ -",
                  self->deployment, OF_CLAIM_NAME_MAX);
        goto failed;
    }
    if (self->liveness_ms <= self->heartbeat_ms) {
        snprintf (error, size, "Bus.LivenessMs (%lld) must be longer than Bus.HeartbeatMs (%lld)",
                  (long long) self->liveness_ms, (long long) self->heartbeat_ms);
        goto failed;
    }
    if (!self->seed_frontends)
        self->seed_frontends = json_array ();
    if (!self->seed_backends)
        self->seed_backends = json_array ();
    return self;

failed:
    of_settings_destroy (&self);
    return NULL;
}

void
of_settings_destroy (of_settings_t **self_p)
{
    assert (self_p);
    of_settings_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < S_COUNT; i++) {
        void *slot = s_slot (self, &s_settings [i]);
        if (s_settings [i].type == S_STRING) {
            free (*(char **) slot);
            *(char **) slot = NULL;
        }
        else if (s_settings [i].type == S_LIST) {
            s_strv_free (*(char ***) slot);
            *(char ***) slot = NULL;
        }
        else if (s_settings [i].type == S_ARRAY) {
            json_decref (*(json_t **) slot);
            *(json_t **) slot = NULL;
        }
    }
    free (self->file);
    free (self);
    *self_p = NULL;
}

char *
of_settings_bind_address (of_settings_t *self, const char *endpoint)
{
    assert (self && endpoint);
    const char *colon = strrchr (endpoint, ':');
    if (!self->bind_any || strncmp (endpoint, "tcp://", 6) != 0 || !colon || colon < endpoint + 6)
        return strdup (endpoint);
    char *address;
    if (asprintf (&address, "tcp://*%s", colon) < 0)
        return NULL;
    return address;
}

int
of_settings_write_default (const char *path, json_t **backends_p, const char *admin_token)
{
    assert (path && backends_p && *backends_p);
    json_t *backend_ids = json_array ();
    size_t index;
    json_t *backend;
    json_array_foreach (*backends_p, index, backend)
        json_array_append (backend_ids, json_object_get (backend, "Identifier"));
    json_t *root = json_pack (
        "{s:{s:s, s:i}, s:s, s:[], s:[s,s], s:{s:s}, s:[{s:s, s:s, s:s, s:o}], s:o}",
        "Webserver", "Hostname", "localhost", "Port", OF_DEFAULT_HTTP_PORT,
        "DatabaseFilename", "./ollamaflow.db",
        "AdminBearerTokens",
        "StickyHeaders", "x-conversation-id", "x-thread-id",
        "Logging", "Level", "info",
        "Frontends", "Identifier", "frontend1", "Name", "Default frontend", "Hostname", "*",
        "Backends", backend_ids,
        "Backends", *backends_p);
    *backends_p = NULL;
    if (!root)
        return -1;
    if (admin_token)
        json_array_append_new (json_object_get (root, "AdminBearerTokens"),
                               json_string (admin_token));
    char *text = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
    json_decref (root);
    if (!text)
        return -1;
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, S_IRUSR | S_IWUSR);
    size_t length = strlen (text);
    bool written = fd >= 0 && write (fd, text, length) == (ssize_t) length
                   && write (fd, "\n", 1) == 1;
    int saved = errno;
    free (text);
    if (fd >= 0 && close (fd) != 0 && written) {
        saved = errno;
        written = false;
    }
    if (!written && fd >= 0)
        unlink (path);          //  ours, half written
    errno = saved;
    return written ? 0 : -1;
}

void
of_settings_print_help (FILE *out)
{
    fprintf (out, "Settings (ollamaflow.json key, environment variable, default):\n");
    fprintf (out, "  %-26s %-32s %s\n", "(file)", "OLLAMAFLOW_CONFIG", "./ollamaflow.json");
    for (size_t i = 0; i < S_COUNT; i++) {
        const s_setting_t *s = &s_settings [i];
        fprintf (out, "  %-26s %-32s %s\n      %s\n", s->key, s->env ? s->env : "-",
                 s->def ? (*s->def ? s->def : "(none)") : "[]", s->help);
    }
}

//  --------------------------------------------------------------------------
//  Self test

void
of_settings_test (bool verbose)
{
    printf (" * of_settings: ");
    char error [OF_SETTINGS_ERROR_MAX];
    char path [] = "/tmp/of_settings_test_XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    close (fd);
    unsetenv ("OLLAMAFLOW_PORT");
    unsetenv ("OLLAMAFLOW_CONFIG");

    //  An OllamaFlow file works unchanged, keys in any case, unknown keys ignored
    FILE *file = fopen (path, "w");
    fprintf (file, "{\"webserver\": {\"Hostname\": \"*\", \"Port\": 8000, \"IO\": {\"x\": 1}},"
                   " \"DatabaseFilename\": \"./x.db\", \"AdminBearerTokens\": [\"a\", \"b\"],"
                   " \"Logging\": {\"Servers\": [], \"MinimumSeverity\": 2},"
                   " \"Backends\": [{\"Identifier\": \"b1\"}]}");
    fclose (file);
    of_settings_t *settings = of_settings_load (path, error, sizeof error);
    assert (settings);
    assert (strcmp (settings->http_hostname, "*") == 0);
    assert (settings->http_port == 8000);
    assert (strcmp (settings->database, "./x.db") == 0);
    assert (strcmp (settings->admin_tokens [1], "b") == 0 && !settings->admin_tokens [2]);
    assert (strcmp (settings->sticky_headers [0], "x-conversation-id") == 0);
    assert (settings->log_level == OF_LOG_WARNING);
    assert (json_array_size (settings->seed_backends) == 1);
    assert (json_array_size (settings->seed_frontends) == 0);
    assert (strcmp (settings->config_router, "tcp://127.0.0.1:43421") == 0);
    char *bind = of_settings_bind_address (settings, "tcp://configd:43421");
    assert (strcmp (bind, "tcp://configd:43421") == 0);
    free (bind);
    settings->bind_any = true;
    bind = of_settings_bind_address (settings, "tcp://configd:43421");
    assert (strcmp (bind, "tcp://*:43421") == 0);
    free (bind);
    of_settings_destroy (&settings);
    assert (settings == NULL);

    //  The environment wins over the file
    setenv ("OLLAMAFLOW_PORT", "9001", 1);
    setenv ("OLLAMAFLOW_ADMIN_TOKENS", " x , y,", 1);
    settings = of_settings_load (path, error, sizeof error);
    assert (settings && settings->http_port == 9001);
    assert (strcmp (settings->admin_tokens [0], "x") == 0);
    assert (strcmp (settings->admin_tokens [1], "y") == 0 && !settings->admin_tokens [2]);
    of_settings_destroy (&settings);
    unsetenv ("OLLAMAFLOW_ADMIN_TOKENS");

    //  Ingress.Workers: 0 (one per core) by default, 0 to 256
    settings = of_settings_load (path, error, sizeof error);
    assert (settings && settings->ingress_workers == 0);
    of_settings_destroy (&settings);
    setenv ("OLLAMAFLOW_INGRESS_WORKERS", "257", 1);
    settings = of_settings_load (path, error, sizeof error);
    assert (!settings && strstr (error, "OLLAMAFLOW_INGRESS_WORKERS"));
    setenv ("OLLAMAFLOW_INGRESS_WORKERS", "4", 1);
    settings = of_settings_load (path, error, sizeof error);
    assert (settings && settings->ingress_workers == 4);
    of_settings_destroy (&settings);
    unsetenv ("OLLAMAFLOW_INGRESS_WORKERS");

    //  Bad values are refused with the key or variable named
    setenv ("OLLAMAFLOW_PORT", "70000", 1);
    settings = of_settings_load (path, error, sizeof error);
    assert (!settings && strstr (error, "OLLAMAFLOW_PORT"));
    unsetenv ("OLLAMAFLOW_PORT");
    file = fopen (path, "w");
    fprintf (file, "{\"Webserver\": {\"Port\": \"eighty\"}}");
    fclose (file);
    settings = of_settings_load (path, error, sizeof error);
    assert (!settings && strstr (error, "Webserver.Port"));
    if (verbose)
        printf ("\n  refused: %s\n", error);
    file = fopen (path, "w");
    fprintf (file, "{\"Webserver\": ");
    fclose (file);
    settings = of_settings_load (path, error, sizeof error);
    assert (!settings && strstr (error, path));
    settings = of_settings_load ("/nonexistent/ollamaflow.json", error, sizeof error);
    assert (!settings);

    //  The default file loads back
    json_t *fleet = json_pack ("[{s:s, s:s, s:i}]", "Identifier", "local", "Hostname",
                               "127.0.0.1", "Port", 11434);
    unlink (path);
    assert (of_settings_write_default (path, &fleet, "0123abcd") == 0 && fleet == NULL);
    struct stat status;
    assert (stat (path, &status) == 0 && (status.st_mode & 0777) == (S_IRUSR | S_IWUSR));
    //  An existing file is never replaced
    fleet = json_pack ("[{s:s, s:s}]", "Identifier", "other", "Hostname", "127.0.0.2");
    errno = 0;
    assert (of_settings_write_default (path, &fleet, "other-token") == -1 && errno == EEXIST);
    assert (fleet == NULL);
    settings = of_settings_load (path, error, sizeof error);
    assert (settings);
    assert (strcmp (settings->admin_tokens [0], "0123abcd") == 0 && !settings->admin_tokens [1]);
    assert (json_array_size (settings->seed_frontends) == 1);
    json_t *frontend = json_array_get (settings->seed_frontends, 0);
    assert (strcmp (json_string_value (json_array_get (json_object_get (frontend, "Backends"), 0)),
                    "local")
            == 0);
    of_settings_destroy (&settings);
    of_settings_destroy (&settings);
    unlink (path);
    printf ("OK\n");
}

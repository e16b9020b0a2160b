/*  =========================================================================
    ollamaflowctl - the admin CLI: frontends, backends, health, models,
    sessions and status over the admin API; tail over the bus

    Options and environment, one function per command, and the mapping of
    answers to exit codes (CTL_EXIT_*, listed in --help and README.md).
    =========================================================================
*/

#include "ctl_http.h"
#include "ctl_views.h"
#include "tap_feed.h"
#include <getopt.h>

#define CTL_DEFAULT_URL     "http://127.0.0.1:43411"
#define CTL_TIMEOUT_MS      10000
#define CTL_SETS_MAX        64
#define CTL_PATH_MAX        2048
#define CTL_ERROR_MAX       512

//  Exit codes: what a script can tell apart
enum {
    CTL_EXIT_OK = 0,
    CTL_EXIT_ERROR = 1,         //  the server failed (5xx), or something unexpected
    CTL_EXIT_USAGE = 2,         //  bad command line, or a file that is not JSON
    CTL_EXIT_NOT_FOUND = 3,     //  404: no such frontend, backend, session or route
    CTL_EXIT_INVALID = 4,       //  400, 405, 413: the server refused the input as invalid
    CTL_EXIT_CONFLICT = 5,      //  409: refused as conflicting (exists, still in use)
    CTL_EXIT_DENIED = 6,        //  401, 403: refused: token missing, wrong, or admin disabled
    CTL_EXIT_UNREACHABLE = 7    //  no connection, no answer, or 503 (a service is down)
};

typedef struct {
    const char *url;
    const char *token;
    bool json;
    int timeout_ms;
    bool insecure;              //  https without checking the certificate
    const char *file;
    const char *sets [CTL_SETS_MAX];
    size_t set_count;
    const char *limit, *offset, *order_by;
    bool descending;
    const char *frontend, *backend;
    const char *config;
    long count, for_ms;
    bool all;
    char **args;                //  the positional arguments
    int arg_count;
} s_options_t;

static const char *
s_arg (s_options_t *options, int index)
{
    return index < options->arg_count ? options->args [index] : NULL;
}

//  --------------------------------------------------------------------------
//  Talking to the server

static int
s_exit_code (int status)
{
    return status == 404 ? CTL_EXIT_NOT_FOUND
           : status == 400 || status == 405 || status == 413 ? CTL_EXIT_INVALID
           : status == 409 ? CTL_EXIT_CONFLICT
           : status == 401 || status == 403 ? CTL_EXIT_DENIED
           : status == 503 ? CTL_EXIT_UNREACHABLE
                           : CTL_EXIT_ERROR;
}

//  One request; on success *reply is the answer's JSON (or NULL when empty)
//  and *total its X-Total-Count. Failures are reported here.
static int
s_call (s_options_t *options, const char *method, const char *path, json_t *body,
        json_t **reply, long *total)
{
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    ctl_response_t response;
    char error [CTL_ERROR_MAX];
    ctl_server_t server = {options->url, options->token, options->timeout_ms, options->insecure};
    int rc = ctl_http_request (&server, method, path, text, &response, error, sizeof error);
    free (text);
    if (rc != 0) {
        fprintf (stderr, "ollamaflowctl: %s\n", error);
        return CTL_EXIT_UNREACHABLE;
    }
    json_t *json = response.body ? json_loads (response.body, JSON_DECODE_ANY, NULL) : NULL;
    if (total)
        *total = response.total;
    if (response.status >= 400) {
        const char *description = json_string_value (json_object_get (json, "Description"));
        const char *name = json_string_value (json_object_get (json, "Error"));
        fprintf (stderr, "ollamaflowctl: %s (%s, HTTP %d)\n",
                 description ? description : response.body ? response.body : "no details",
                 name ? name : "error", response.status);
        if (options->json && json) {
            char *dumped = json_dumps (json, JSON_INDENT (2));
            printf ("%s\n", dumped);
            free (dumped);
        }
        json_decref (json);
        ctl_http_free (&response);
        return s_exit_code (response.status);
    }
    ctl_http_free (&response);
    *reply = json;
    return CTL_EXIT_OK;
}

static void
s_print_json (json_t *value)
{
    char *text = json_dumps (value, JSON_INDENT (2) | JSON_ENCODE_ANY);
    printf ("%s\n", text);
    free (text);
}

//  Appends name=value (percent-encoded) to a query string
static void
s_query_add (char *query, size_t size, const char *name, const char *value)
{
    if (!value)
        return;
    size_t used = strlen (query);
    used += (size_t) snprintf (query + used, size - used, "%s%s=", used ? "&" : "?", name);
    for (const unsigned char *c = (const unsigned char *) value; *c && used + 4 < size; c++)
        used += (size_t) (isalnum (*c) || strchr ("-._~", *c)
                              ? snprintf (query + used, size - used, "%c", *c)
                              : snprintf (query + used, size - used, "%%%02X", *c));
}

static void
s_paging (s_options_t *options, char *query, size_t size)
{
    s_query_add (query, size, "limit", options->limit);
    s_query_add (query, size, "offset", options->offset);
    s_query_add (query, size, "order-by", options->order_by);
    s_query_add (query, size, "order", options->descending ? "desc" : NULL);
}

//  An Identifier or client id as a path segment
static void
s_path (char *path, size_t size, const char *prefix, const char *id, const char *suffix)
{
    char encoded [CTL_PATH_MAX] = "";
    s_query_add (encoded, sizeof encoded, "x", id);
    snprintf (path, size, "%s%s%s", prefix, encoded + 3, suffix ? suffix : "");
}

//  The body of a write: --file (or stdin with -), then every --set on top
static json_t *
s_body (s_options_t *options)
{
    json_t *body = json_object ();
    if (options->file) {
        json_error_t error;
        json_decref (body);
        body = streq (options->file, "-") ? json_loadf (stdin, 0, &error)
                                          : json_load_file (options->file, 0, &error);
        if (!json_is_object (body)) {
            fprintf (stderr, "ollamaflowctl: %s: %s\n", options->file,
                     body ? "not a JSON object" : error.text);
            json_decref (body);
            return NULL;
        }
    }
    for (size_t i = 0; i < options->set_count; i++) {
        const char *equals = strchr (options->sets [i], '=');
        if (!equals || equals == options->sets [i]) {
            fprintf (stderr, "ollamaflowctl: --set %s: expected Field=value\n", options->sets [i]);
            json_decref (body);
            return NULL;
        }
        char field [256];
        snprintf (field, sizeof field, "%.*s", (int) (equals - options->sets [i]),
                  options->sets [i]);
        //  A JSON value when it reads as one (5, true, null, ["a"]), else a string
        json_t *value = json_loads (equals + 1, JSON_DECODE_ANY, NULL);
        json_object_set_new (body, field, value ? value : json_string (equals + 1));
    }
    return body;
}

//  --------------------------------------------------------------------------
//  Commands

//  "message 'detail'", on standard error
static int
s_usage_error (const char *message, const char *detail)
{
    fprintf (stderr, "ollamaflowctl: %s%s%s%s (see ollamaflowctl --help)\n", message,
             detail ? " '" : "", detail ? detail : "", detail ? "'" : "");
    return CTL_EXIT_USAGE;
}

//  Shows an answer: JSON as is, or through a view
static int
s_show (s_options_t *options, json_t *reply, void (*view) (FILE *, json_t *))
{
    if (options->json)
        s_print_json (reply);
    else if (view)
        view (stdout, reply);
    else
        ctl_print_object (stdout, reply);
    json_decref (reply);
    return CTL_EXIT_OK;
}

static int
s_list (s_options_t *options, const char *path, const char *query,
        void (*view) (FILE *, json_t *))
{
    char full [CTL_PATH_MAX];
    snprintf (full, sizeof full, "%s%s", path, query);
    json_t *reply = NULL;
    long total = -1;
    int rc = s_call (options, "GET", full, NULL, &reply, &total);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (!options->json && total > (long) json_array_size (reply))
        fprintf (stderr, "(%zu of %ld shown: see --limit and --offset)\n",
                 json_array_size (reply), total);
    return s_show (options, reply, view);
}

//  A key's secret, shown once: said so on standard error, where a script
//  reading the object on standard output does not trip over it
static void
s_secret_note (json_t *reply)
{
    if (json_is_string (json_object_get (reply, "Secret")))
        fprintf (stderr, "The key's Secret is shown this once: ollamaflow keeps only its hash.\n");
}

//  frontends|backends|keys VERB [ID]
static int
s_objects (s_options_t *options, const char *plural)
{
    bool backends = streq (plural, "backends");
    bool keys = streq (plural, "keys");
    const char *verb = s_arg (options, 1) ? s_arg (options, 1) : "list";
    const char *id = s_arg (options, 2);
    const char *kind = keys ? "key" : backends ? "backend" : "frontend";
    char path [CTL_PATH_MAX], query [CTL_PATH_MAX] = "";
    snprintf (path, sizeof path, "/v1.0/%s", plural);
    if (streq (verb, "list")) {
        s_paging (options, query, sizeof query);
        return s_list (options, path, query, keys       ? ctl_views_keys
                                             : backends ? ctl_views_backends
                                                        : ctl_views_frontends);
    }
    if ((streq (verb, "health") && backends) || (streq (verb, "usage") && keys)) {
        const char *view = backends ? "health" : "usage";
        if (id) {
            char prefix [CTL_PATH_MAX], suffix [32];
            snprintf (prefix, sizeof prefix, "/v1.0/%s/", plural);
            snprintf (suffix, sizeof suffix, "/%s", view);
            s_path (path, sizeof path, prefix, id, suffix);
        }
        else {
            snprintf (path, sizeof path, "/v1.0/%s/%s", plural, view);
            s_paging (options, query, sizeof query);
            return s_list (options, path, query, backends ? ctl_views_health : ctl_views_usage);
        }
        json_t *reply = NULL;
        int rc = s_call (options, "GET", path, NULL, &reply, NULL);
        return rc == CTL_EXIT_OK ? s_show (options, reply, NULL) : rc;
    }
    bool create = streq (verb, "create");
    if (!id && !create)
        return s_usage_error ("this command needs an Identifier:", verb);
    if (id && !create) {
        snprintf (query, sizeof query, "/v1.0/%s/", plural);
        s_path (path, sizeof path, query, id, NULL);
    }
    json_t *reply = NULL;
    int rc;
    if (streq (verb, "regenerate") && keys) {
        strcat (path, "/regenerate");
        rc = s_call (options, "POST", path, NULL, &reply, NULL);
        if (rc != CTL_EXIT_OK)
            return rc;
        if (!options->json)
            printf ("regenerated key '%s': the old secret no longer works\n", id);
        s_secret_note (reply);
        return s_show (options, reply, NULL);
    }
    if (streq (verb, "get") || (streq (verb, "models") && !backends && !keys)) {
        bool models = streq (verb, "models");
        if (models)
            strcat (path, "/models");
        rc = s_call (options, "GET", path, NULL, &reply, NULL);
        return rc == CTL_EXIT_OK ? s_show (options, reply, models ? ctl_views_models : NULL) : rc;
    }
    if (streq (verb, "exists")) {
        rc = s_call (options, "HEAD", path, NULL, &reply, NULL);
        if (options->json)
            printf ("%s\n", rc == CTL_EXIT_OK ? "true" : "false");
        else if (rc == CTL_EXIT_OK)
            printf ("%s '%s' exists\n", kind, id);
        return rc;
    }
    if (streq (verb, "delete")) {
        rc = s_call (options, "DELETE", path, NULL, &reply, NULL);
        json_decref (reply);
        if (rc == CTL_EXIT_OK && options->json)
            printf ("{\"Deleted\": \"%s\", \"Identifier\": \"%s\"}\n", kind, id);
        else if (rc == CTL_EXIT_OK)
            printf ("deleted %s '%s'\n", kind, id);
        return rc;
    }
    bool patch = streq (verb, "patch");
    if (!create && !patch && !streq (verb, "replace"))
        return s_usage_error ("unknown command", verb);
    json_t *body = s_body (options);
    if (!body)
        return CTL_EXIT_USAGE;
    if (create && id)
        json_object_set_new (body, "Identifier", json_string (id));
    rc = s_call (options, patch ? "PATCH" : "PUT", path, body, &reply, NULL);
    json_decref (body);
    if (rc != CTL_EXIT_OK)
        return rc;
    if (!options->json)
        printf ("%s %s '%s'\n", create ? "created" : patch ? "patched" : "replaced", kind,
                json_string_value (json_object_get (reply, "Identifier")));
    s_secret_note (reply);
    return s_show (options, reply, NULL);
}

//  sessions [list | get CLIENT | delete [CLIENT]]
static int
s_sessions (s_options_t *options)
{
    const char *verb = s_arg (options, 1) ? s_arg (options, 1) : "list";
    const char *client = s_arg (options, 2);
    char path [CTL_PATH_MAX] = "/v1.0/sessions", query [CTL_PATH_MAX] = "";
    if (client)
        s_path (path, sizeof path, "/v1.0/sessions/", client, NULL);
    s_query_add (query, sizeof query, "frontend", options->frontend);
    s_query_add (query, sizeof query, "backend", options->backend);
    if (streq (verb, "list") || streq (verb, "get")) {
        if (streq (verb, "get") && !client)
            return s_usage_error ("sessions get needs a client id", NULL);
        s_paging (options, query, sizeof query);
        return s_list (options, path, query, ctl_views_sessions);
    }
    if (!streq (verb, "delete"))
        return s_usage_error ("unknown sessions command", verb);
    strncat (path, query, sizeof path - strlen (path) - 1);
    json_t *reply = NULL;
    int rc = s_call (options, "DELETE", path, NULL, &reply, NULL);
    if (rc == CTL_EXIT_OK && !options->json) {
        printf ("deleted %lld sessions\n",
                (long long) json_integer_value (json_object_get (reply, "Deleted")));
        json_decref (reply);
        return rc;
    }
    return rc == CTL_EXIT_OK ? s_show (options, reply, NULL) : rc;
}

//  pulls: every backend's, from the health view
static int
s_pulls (s_options_t *options)
{
    json_t *reply = NULL;
    int rc = s_call (options, "GET", "/v1.0/backends/health", NULL, &reply, NULL);
    if (rc != CTL_EXIT_OK)
        return rc;
    json_t *pulls = json_array ();
    size_t index;
    json_t *backend;
    json_array_foreach (reply, index, backend)
        json_array_extend (pulls, json_object_get (backend, "Pulls"));
    json_decref (reply);
    return s_show (options, pulls, ctl_views_pulls);
}

//  tail: the tap, on one frontend or backend
static int
s_tail (s_options_t *options)
{
    char error [OF_SETTINGS_ERROR_MAX];
    of_settings_t *settings = of_settings_load (options->config, error, sizeof error);
    if (!settings) {
        fprintf (stderr, "ollamaflowctl: invalid settings: %s\n", error);
        return CTL_EXIT_USAGE;
    }
    tap_options_t tap = {.heartbeats = options->all, .states = options->all,
                         .subject = options->frontend ? options->frontend : options->backend,
                         .count = options->count, .timeout_ms = options->for_ms};
    int rc = tap_feed_run (settings, &tap, stdout, error, sizeof error);
    if (rc != 0)
        fprintf (stderr, "ollamaflowctl: %s\n", error);
    of_settings_destroy (&settings);
    return rc == 0 ? CTL_EXIT_OK : CTL_EXIT_UNREACHABLE;
}

static int
s_run (s_options_t *options)
{
    const char *command = s_arg (options, 0);
    if (!command)
        return s_usage_error ("a command is needed", NULL);
    if (streq (command, "frontends") || streq (command, "backends") || streq (command, "keys"))
        return s_objects (options, command);
    //  Shorthands: health [ID], models FRONTEND
    if (streq (command, "health") || streq (command, "models")) {
        bool health = streq (command, "health");
        char *args [] = {health ? "backends" : "frontends", health ? "health" : "models",
                         (char *) s_arg (options, 1)};
        options->args = args;
        options->arg_count = s_arg (options, 1) ? 3 : 2;
        return s_objects (options, args [0]);
    }
    if (streq (command, "sessions"))
        return s_sessions (options);
    if (streq (command, "pulls"))
        return s_pulls (options);
    if (streq (command, "tail"))
        return s_tail (options);
    if (streq (command, "status")) {
        json_t *reply = NULL;
        int rc = s_call (options, "GET", "/v1.0/status", NULL, &reply, NULL);
        return rc == CTL_EXIT_OK ? s_show (options, reply, ctl_views_status) : rc;
    }
    return s_usage_error ("unknown command", command);
}

//  --------------------------------------------------------------------------
//  Options

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: ollamaflowctl [options] COMMAND ...\n"
        "Manages an ollamaflow fleet through its admin API.\n\n"
        "Commands:\n"
        "  frontends|backends list              (--limit N --offset N --order-by FIELD --desc)\n"
        "  frontends|backends get ID\n"
        "  frontends|backends exists ID\n"
        "  frontends|backends create [ID]       the object from --file and/or --set\n"
        "  frontends|backends replace ID        full replace: omitted fields take defaults\n"
        "  frontends|backends patch ID          JSON merge patch: only what is given changes\n"
        "  frontends|backends delete ID\n"
        "  keys list|get|exists|create|replace|patch|delete  client API keys, as above; create\n"
        "                                       shows the new key's Secret, this once\n"
        "  keys regenerate ID                   a new Secret (shown once); the old one stops\n"
        "  keys usage [ID]                      requests, tokens, errors since the scheduler\n"
        "                                       started, and requests running\n"
        "  health [ID]                          backends' health, leases, queue, models\n"
        "  models FRONTEND                      a frontend's models and pull progress\n"
        "  pulls                                every pull running or just finished\n"
        "  sessions [list|get CLIENT|delete [CLIENT]]  (--frontend ID --backend ID)\n"
        "  status                               version, uptime, services alive\n"
        "  tail [--frontend ID | --backend ID]  bus traffic about one of them (--all, -n, --for)\n\n"
        "Options:\n"
        "  -u, --url URL        the ingress (default $OLLAMAFLOW_URL, else " CTL_DEFAULT_URL ")\n"
        "  -t, --token TOKEN    admin bearer token (default $OLLAMAFLOW_ADMIN_TOKEN)\n"
        "  -k, --insecure       https: do not check the server's certificate (the default\n"
        "                       trust store, or $SSL_CERT_FILE, checks it)\n"
        "  -j, --json           print the server's JSON instead of tables\n"
        "  -f, --file FILE      a JSON object to write (- reads standard input)\n"
        "  -s, --set FIELD=VAL  set a field (VAL is JSON if it parses: 5, true, [\"a\"]); repeatable\n"
        "      --timeout MS     longest wait for an answer (default %d)\n"
        "  -c, --config FILE    settings file, for tail's bus endpoints\n"
        "  -n, --count N        tail: stop after N messages\n"
        "      --for MS         tail: stop after MS milliseconds\n"
        "      --all            tail: also STATE and HEARTBEAT messages\n"
        "  -h, --help           this text\n\n"
        "Exit codes: 0 ok, 1 server error, 2 usage, 3 not found, 4 invalid (refused input),\n"
        "5 conflict (exists, still in use), 6 denied (token missing or wrong, admin API\n"
        "disabled), 7 unreachable (no connection, no answer, or a service down: 503).\n",
        CTL_TIMEOUT_MS);
}

int
main (int argc, char *argv [])
{
    enum { S_TIMEOUT = 256, S_FOR, S_ALL, S_LIMIT, S_OFFSET, S_ORDER_BY, S_DESC, S_FRONTEND,
           S_BACKEND };
    static const struct option long_options [] = {
        {"url", required_argument, NULL, 'u'}, {"token", required_argument, NULL, 't'},
        {"insecure", no_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'}, {"file", required_argument, NULL, 'f'},
        {"set", required_argument, NULL, 's'}, {"timeout", required_argument, NULL, S_TIMEOUT},
        {"config", required_argument, NULL, 'c'}, {"count", required_argument, NULL, 'n'},
        {"for", required_argument, NULL, S_FOR}, {"all", no_argument, NULL, S_ALL},
        {"limit", required_argument, NULL, S_LIMIT}, {"offset", required_argument, NULL, S_OFFSET},
        {"order-by", required_argument, NULL, S_ORDER_BY}, {"desc", no_argument, NULL, S_DESC},
        {"frontend", required_argument, NULL, S_FRONTEND},
        {"backend", required_argument, NULL, S_BACKEND}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    s_options_t options = {.url = getenv ("OLLAMAFLOW_URL"),
                           .token = getenv ("OLLAMAFLOW_ADMIN_TOKEN"),
                           .timeout_ms = CTL_TIMEOUT_MS};
    int option;
    while ((option = getopt_long (argc, argv, "u:t:kjf:s:c:n:h", long_options, NULL)) != -1) {
        switch (option) {
            case 'u': options.url = optarg; break;
            case 't': options.token = optarg; break;
            case 'k': options.insecure = true; break;
            case 'j': options.json = true; break;
            case 'f': options.file = optarg; break;
            case 's':
                if (options.set_count == CTL_SETS_MAX)
                    return s_usage_error ("too many --set", NULL);
                options.sets [options.set_count++] = optarg;
                break;
            case S_TIMEOUT: options.timeout_ms = atoi (optarg); break;
            case 'c': options.config = optarg; break;
            case 'n': options.count = atol (optarg); break;
            case S_FOR: options.for_ms = atol (optarg); break;
            case S_ALL: options.all = true; break;
            case S_LIMIT: options.limit = optarg; break;
            case S_OFFSET: options.offset = optarg; break;
            case S_ORDER_BY: options.order_by = optarg; break;
            case S_DESC: options.descending = true; break;
            case S_FRONTEND: options.frontend = optarg; break;
            case S_BACKEND: options.backend = optarg; break;
            case 'h': s_usage (stdout); return CTL_EXIT_OK;
            default: s_usage (stderr); return CTL_EXIT_USAGE;
        }
    }
    if (!options.url || !*options.url)
        options.url = CTL_DEFAULT_URL;
    if (options.timeout_ms <= 0)
        return s_usage_error ("--timeout must be a positive number of milliseconds", NULL);
    options.args = argv + optind;
    options.arg_count = argc - optind;
    zsys_init ();
    return s_run (&options);
}

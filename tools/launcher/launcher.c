/*  =========================================================================
    ollamaflow - the launcher: `ollamaflow up` runs the whole system in the
    foreground

    Writes a working ollamaflow.json when there is none (the local Ollama at
    127.0.0.1:11434, or a demo fleet of simulated backends when no Ollama
    answers and ollama-sim is built; a random admin token), starts the five
    services from the directory this program lives in (the ingress as
    Ingress.Workers processes on one port), says where the HTTP port is once
    every worker listens, restarts a service that dies, and on Ctrl-C or
    SIGTERM stops them all.
    =========================================================================
*/

#include "of_classes.h"
#include "launcher_fleet.h"
#include "launcher_listen.h"
#include "launcher_token.h"
#include <getopt.h>
#include <signal.h>
#include <sys/wait.h>

//  A service that dies is started again after a delay that doubles while it
//  keeps dying (1, 2, 4 ... 30 s), back to the first once it ran this long
#define LAUNCHER_RESTART_FIRST_MS 1000
#define LAUNCHER_RESTART_MAX_S    30
#define LAUNCHER_RESTART_RESET_S  10
#define LAUNCHER_RESTART_MAX_MS   (LAUNCHER_RESTART_MAX_S * 1000)
#define LAUNCHER_RESTART_RESET_MS (LAUNCHER_RESTART_RESET_S * 1000)
#define LAUNCHER_STOP_GRACE_MS    5000
#define LAUNCHER_READY_WAIT_MS    15000

//  The services; the ingress, last, runs as Ingress.Workers processes
static const char *const s_services [] = {
    "configd", "scheduler", "healthmon", "modelsync", "ingress", NULL
};

//  What a worker's environment overrides: Ingress.Id, Ingress.Deployment, Metrics.Port
#define LAUNCHER_WORKER_ENV 3

typedef struct {
    char program [PATH_MAX + 64];
    char *const *argv;
    char *env [LAUNCHER_WORKER_ENV + 1];    //  "NAME=value" set in the child, NULL-terminated
    int worker;                 //  1-based ingress worker, or 0
    pid_t pid;
    int64_t restart_at;         //  zclock_mono when to start again; 0: running or stopped
    int64_t started_at;         //  zclock_mono of the last start
    int64_t delay_ms;           //  the last restart delay; 0: none yet
} s_child_t;

static char s_bin_dir [PATH_MAX];

static void
s_find_bin_dir (void)
{
    ssize_t n = readlink ("/proc/self/exe", s_bin_dir, sizeof s_bin_dir - 1);
    if (n <= 0)
        snprintf (s_bin_dir, sizeof s_bin_dir, ".");
    else {
        s_bin_dir [n] = 0;
        char *slash = strrchr (s_bin_dir, '/');
        if (slash)
            *slash = 0;
    }
}

static pid_t
s_spawn (s_child_t *child)
{
    pid_t pid = fork ();
    if (pid == 0) {
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        for (char **variable = child->env; *variable; variable++)
            putenv (*variable);
        execv (child->program, child->argv);
        fprintf (stderr, "ollamaflow: cannot run %s: %s\n", child->program, strerror (errno));
        _exit (127);
    }
    child->pid = pid;
    child->restart_at = 0;
    child->started_at = zclock_mono ();
    return pid;
}

//  Said when a child keeps ending
#define S_STRINGIFY(x) #x
#define S_TEXT(x)      S_STRINGIFY (x)
static const char s_backoff_note [] =
    " (it keeps ending: each wait doubles, up to " S_TEXT (LAUNCHER_RESTART_MAX_S)
    " s, until it runs " S_TEXT (LAUNCHER_RESTART_RESET_S) " s)";

//  The delay before starting a child that ended now again: the first delay
//  after a run of LAUNCHER_RESTART_RESET_MS or more, else twice the last,
//  at most LAUNCHER_RESTART_MAX_MS
static int64_t
s_restart_delay (s_child_t *child, int64_t now)
{
    if (child->delay_ms == 0 || now - child->started_at >= LAUNCHER_RESTART_RESET_MS)
        child->delay_ms = LAUNCHER_RESTART_FIRST_MS;
    else
        child->delay_ms = child->delay_ms * 2 < LAUNCHER_RESTART_MAX_MS ? child->delay_ms * 2
                                                                        : LAUNCHER_RESTART_MAX_MS;
    return child->delay_ms;
}

//  The ingress workers to run: Ingress.Workers, or one per online core
static int
s_worker_count (of_settings_t *settings)
{
    if (settings->ingress_workers > 0)
        return settings->ingress_workers;
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    return cores < 1 ? 1 : cores > 256 ? 256 : (int) cores;
}

//  Sets up worker k of count: with more than one, its own Ingress.Id
//  (<Id>-w<k>) and Metrics.Port (+ k - 1), and the deployment they share.
//  With one, the ingress runs as it always did. Returns 0, or -1 with the
//  reason said.
static int
s_worker_env (s_child_t *child, of_settings_t *settings, int k, int count,
              const char *deployment)
{
    child->worker = k;
    if (count == 1)
        return 0;
    if (strlen (settings->ingress_id) + 5 > OFP_LEASE_INGRESS_MAX) {
        fprintf (stderr, "ollamaflow: Ingress.Id '%s' is too long to name %d workers "
                         "('<Id>-w<k>' is at most %d characters)\n", settings->ingress_id,
                 count, OFP_LEASE_INGRESS_MAX);
        return -1;
    }
    if (settings->metrics_port && settings->metrics_port + count - 1 > 65535) {
        fprintf (stderr, "ollamaflow: Metrics.Port %d: worker k takes Metrics.Port + k - 1, and "
                         "%d workers go beyond 65535\n", settings->metrics_port, count);
        return -1;
    }
    size_t n = 0;
    child->env [n++] = zsys_sprintf ("OLLAMAFLOW_INGRESS_ID=%s-w%d", settings->ingress_id, k);
    child->env [n++] = zsys_sprintf ("OLLAMAFLOW_DEPLOYMENT=%s", deployment);
    if (settings->metrics_port)
        child->env [n++] = zsys_sprintf ("OLLAMAFLOW_METRICS_PORT=%d",
                                         settings->metrics_port + k - 1);
    child->env [n] = NULL;
    return 0;
}

//  How many ingress workers listen on port now
static int
s_workers_listening (s_child_t *children, size_t count, int port)
{
    int listening = 0;
    for (size_t i = 0; i < count; i++)
        if (children [i].worker && launcher_listening (children [i].pid, port))
            listening++;
    return listening;
}

//  Frees what the children's environments hold, and the children
static void
s_children_release (s_child_t *children, size_t count)
{
    for (size_t i = 0; i < count; i++)
        for (char **variable = children [i].env; *variable; variable++)
            zstr_free (variable);
    free (children);
}

//  What a child is called in the log: its program, and which worker
static const char *
s_child_name (s_child_t *child, char *name, size_t size)
{
    if (child->worker && child->env [0])
        snprintf (name, size, "%s (worker %d, %s)", child->program, child->worker,
                  strchr (child->env [0], '=') + 1);
    else
        snprintf (name, size, "%s", child->program);
    return name;
}

//  How to use the admin token a first run wrote
static void
s_print_token (const char *scheme, const char *host, int port, const char *config,
               const char *token)
{
    printf ("The admin API and ollamaflowctl take the token written to %s\n"
            "(AdminBearerTokens); keep it secret:\n\n"
            "  export OLLAMAFLOW_URL=%s://%s:%d OLLAMAFLOW_ADMIN_TOKEN=%s\n"
            "  %s/ollamaflowctl status\n\n",
            config, scheme, strcmp (host, "*") == 0 ? "localhost" : host, port, token, s_bin_dir);
}

static void
s_usage (FILE *out)
{
    fprintf (out, "Usage: ollamaflow up [--config FILE]\n"
                  "       ollamaflow version\n\n"
                  "up      runs configd, scheduler, healthmon, modelsync and ingress in the\n"
                  "        foreground until Ctrl-C; writes FILE (default ./ollamaflow.json) with\n"
                  "        a working default first if it does not exist, with a random admin\n"
                  "        token for the admin API and ollamaflowctl. The ingress runs as\n"
                  "        Ingress.Workers processes on one port (default: one per core).\n");
}

int
main (int argc, char *argv [])
{
    if (argc < 2 || streq (argv [1], "help") || streq (argv [1], "--help")
        || streq (argv [1], "-h")) {
        s_usage (argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (streq (argv [1], "version") || streq (argv [1], "--version")) {
        printf ("ollamaflow %s\n", OF_VERSION);
        return 0;
    }
    if (!streq (argv [1], "up")) {
        fprintf (stderr, "ollamaflow: unknown command '%s'\n", argv [1]);
        s_usage (stderr);
        return 2;
    }
    static const struct option options [] = {
        {"config", required_argument, NULL, 'c'}, {NULL, 0, NULL, 0}
    };
    const char *config = getenv ("OLLAMAFLOW_CONFIG");
    int option;
    optind = 2;
    while ((option = getopt_long (argc, argv, "c:", options, NULL)) != -1) {
        if (option == 'c')
            config = optarg;
        else {
            s_usage (stderr);
            return 2;
        }
    }
    if (!config)
        config = OF_SETTINGS_DEFAULT_FILE;
    s_find_bin_dir ();

    //  Block the signals we wait for; children get a clean mask
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGCHLD);
    sigprocmask (SIG_BLOCK, &signals, NULL);

    launcher_fleet_t fleet = {0};
    char token [LAUNCHER_TOKEN_SIZE] = "";
    if (access (config, F_OK) != 0) {
        if (launcher_token_new (token) != 0) {
            fprintf (stderr, "ollamaflow: cannot read /dev/urandom for an admin token: %s\n",
                     strerror (errno));
            return 1;
        }
        if (launcher_fleet_write_default (config, s_bin_dir, token, &fleet) != 0)
            return 1;
    }
    else
        launcher_fleet_attach (config, s_bin_dir, &fleet);

    char error [OF_SETTINGS_ERROR_MAX];
    of_settings_t *settings = of_settings_load (config, error, sizeof error);
    if (!settings) {
        fprintf (stderr, "ollamaflow: invalid settings in %s: %s\n", config, error);
        return 1;
    }
    //  Workers share one port, so one deployment: the configured one, else one
    //  of this launcher's own, so that two stacks never share a port unawares
    int workers = s_worker_count (settings);
    char deployment [OF_CLAIM_NAME_MAX + 1];
    snprintf (deployment, sizeof deployment, "%s", settings->deployment);
    if (!*deployment)
        snprintf (deployment, sizeof deployment, "ollamaflow-up-%d", (int) getpid ());
    if (workers > 1 && settings->http_port == 0) {
        fprintf (stderr, "ollamaflow: Webserver.Port is 0 (any free port): one ingress worker, "
                         "as workers share one port\n");
        workers = 1;
    }
    //  The demo fleet, four services and at most 256 ingress workers
    s_child_t *children = (s_child_t *) calloc (1 + 4 + 256, sizeof (s_child_t));
    size_t child_count = 0;
    if (fleet.argv [0]) {
        s_child_t *child = &children [child_count++];
        snprintf (child->program, sizeof child->program, "%s", fleet.argv [0]);
        child->argv = fleet.argv;
    }
    static char *service_argv [5][4];
    for (size_t i = 0; s_services [i]; i++) {
        s_child_t *child = &children [child_count++];
        snprintf (child->program, sizeof child->program, "%s/ollamaflow-%s", s_bin_dir,
                  s_services [i]);
        service_argv [i][0] = child->program;
        service_argv [i][1] = (char *) "--config";
        service_argv [i][2] = (char *) config;
        service_argv [i][3] = NULL;
        child->argv = service_argv [i];
    }
    //  The ingress is the first worker; the others are copies of it
    s_child_t *first = &children [child_count - 1];
    for (int k = 1; k <= workers; k++) {
        s_child_t *child = k == 1 ? first : &children [child_count++];
        if (k > 1) {
            memcpy (child->program, first->program, sizeof child->program);
            child->argv = first->argv;
        }
        if (s_worker_env (child, settings, k, workers, deployment) != 0) {
            s_children_release (children, child_count);
            launcher_fleet_release (&fleet);
            of_settings_destroy (&settings);
            return 1;
        }
    }
    for (size_t i = 0; i < child_count; i++)
        s_spawn (&children [i]);
    if (workers > 1) {
        printf ("ollamaflow: %d ingress workers on port %d, Ingress.Deployment '%s'\n", workers,
                settings->http_port, deployment);
        fflush (stdout);
    }

    const char *host = settings->http_hostname;
    const char *scheme = settings->ssl_enable ? "https" : "http";
    bool announced = false;
    int64_t ready_deadline = zclock_mono () + LAUNCHER_READY_WAIT_MS;
    bool stopping = false;
    while (!stopping) {
        //  Up once every worker listens: one that does answers for all, and so
        //  would another stack that holds the port while ours are refused it
        int listening = announced ? workers
                                  : s_workers_listening (children, child_count,
                                                         settings->http_port);
        if (!announced && listening == workers) {
            printf ("\nollamaflow is up: %s://%s:%d  (Ollama and OpenAI APIs; admin API under "
                    "/v1.0/)\nsettings: %s   database: %s\nCtrl-C stops everything.\n\n",
                    scheme, strcmp (host, "*") == 0 ? "localhost" : host, settings->http_port,
                    config, settings->database);
            if (*token && settings->admin_tokens && settings->admin_tokens [0]
                && streq (settings->admin_tokens [0], token))
                s_print_token (scheme, host, settings->http_port, config, token);
            else if (*token)
                printf ("The admin token written to %s is not in use: OLLAMAFLOW_ADMIN_TOKEN "
                        "or OLLAMAFLOW_ADMIN_TOKENS in this environment replaces it.\n\n",
                        config);
            fflush (stdout);
            announced = true;
        }
        else if (!announced && zclock_mono () > ready_deadline) {
            if (workers > 1)
                fprintf (stderr, "ollamaflow: %d of %d ingress workers listen on port %d yet; "
                                 "still waiting (see the log above)\n", listening, workers,
                         settings->http_port);
            else
                fprintf (stderr, "ollamaflow: the ingress does not listen on port %d yet; still "
                                 "waiting (see the log above)\n", settings->http_port);
            ready_deadline = INT64_MAX;
        }
        struct timespec tick = {0, announced ? 500000000 : 100000000};
        siginfo_t info;
        int signal_number = sigtimedwait (&signals, &info, &tick);
        if (signal_number == SIGINT || signal_number == SIGTERM)
            stopping = true;
        //  Reap whoever ended; a service that dies is started again
        pid_t pid;
        int status;
        while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
            for (size_t i = 0; i < child_count; i++)
                if (children [i].pid == pid) {
                    children [i].pid = 0;
                    if (!stopping) {
                        int64_t now = zclock_mono ();
                        int64_t ran = now - children [i].started_at;
                        int64_t delay = s_restart_delay (&children [i], now);
                        char name [sizeof children [i].program + 200];
                        fprintf (stderr, "ollamaflow: %s ended (%s %d) after %lld.%01lld s; "
                                 "restarting it in %lld s%s\n",
                                 s_child_name (&children [i], name, sizeof name),
                                 WIFSIGNALED (status) ? "signal" : "status",
                                 WIFSIGNALED (status) ? WTERMSIG (status) : WEXITSTATUS (status),
                                 (long long) ran / 1000, (long long) ran % 1000 / 100,
                                 (long long) delay / 1000,
                                 delay > LAUNCHER_RESTART_FIRST_MS ? s_backoff_note : "");
                        children [i].restart_at = now + delay;
                    }
                }
        for (size_t i = 0; i < child_count && !stopping; i++)
            if (children [i].restart_at && zclock_mono () >= children [i].restart_at)
                s_spawn (&children [i]);
    }

    fprintf (stderr, "ollamaflow: stopping\n");
    for (size_t i = 0; i < child_count; i++)
        if (children [i].pid > 0)
            kill (children [i].pid, SIGTERM);
    int64_t deadline = zclock_mono () + LAUNCHER_STOP_GRACE_MS;
    size_t running = child_count;
    while (running > 0) {
        running = 0;
        for (size_t i = 0; i < child_count; i++) {
            if (children [i].pid > 0 && waitpid (children [i].pid, NULL, WNOHANG) == children [i].pid)
                children [i].pid = 0;
            if (children [i].pid > 0) {
                running++;
                if (zclock_mono () > deadline)
                    kill (children [i].pid, SIGKILL);
            }
        }
        if (running)
            zclock_sleep (20);
    }
    s_children_release (children, child_count);
    launcher_fleet_release (&fleet);
    of_settings_destroy (&settings);
    return 0;
}

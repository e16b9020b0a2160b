/*  =========================================================================
    ollamaflow - the launcher: `ollamaflow up` runs the whole system in the
    foreground

    Writes a working ollamaflow.json when there is none (the local Ollama at
    127.0.0.1:11434, or a demo fleet of simulated backends when no Ollama
    answers and ollama-sim is built; a random admin token), starts the five
    services from the directory this program lives in, says where the HTTP port is, restarts a
    service that dies, and on Ctrl-C or SIGTERM stops them all.
    =========================================================================
*/

#include "of_classes.h"
#include "launcher_fleet.h"
#include "launcher_token.h"
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
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

static const char *const s_services [] = {
    "configd", "scheduler", "healthmon", "modelsync", "ingress", NULL
};

typedef struct {
    char program [PATH_MAX + 64];
    char *const *argv;
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

//  True once something accepts TCP connections on host:port
static bool
s_port_open (const char *host, int port)
{
    char service [16];
    snprintf (service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found = NULL;
    if (strcmp (host, "*") == 0 || strcmp (host, "0.0.0.0") == 0)
        host = "127.0.0.1";
    if (getaddrinfo (host, service, &hints, &found) != 0)
        return false;
    bool open = false;
    for (struct addrinfo *a = found; a && !open; a = a->ai_next) {
        int fd = socket (a->ai_family, a->ai_socktype, 0);
        if (fd >= 0) {
            open = connect (fd, a->ai_addr, a->ai_addrlen) == 0;
            close (fd);
        }
    }
    freeaddrinfo (found);
    return open;
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
                  "        token for the admin API and ollamaflowctl.\n");
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

    s_child_t children [8];
    size_t child_count = 0;
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
    if (fleet.argv [0]) {
        s_child_t *child = &children [child_count++];
        snprintf (child->program, sizeof child->program, "%s", fleet.argv [0]);
        child->argv = fleet.argv;
        s_spawn (child);
    }
    static char *service_argv [8][4];
    for (size_t i = 0; s_services [i]; i++) {
        s_child_t *child = &children [child_count++];
        snprintf (child->program, sizeof child->program, "%s/ollamaflow-%s", s_bin_dir,
                  s_services [i]);
        service_argv [i][0] = child->program;
        service_argv [i][1] = (char *) "--config";
        service_argv [i][2] = (char *) config;
        service_argv [i][3] = NULL;
        child->argv = service_argv [i];
        s_spawn (child);
    }

    const char *host = settings->http_hostname;
    const char *scheme = settings->ssl_enable ? "https" : "http";
    bool announced = false;
    int64_t ready_deadline = zclock_mono () + LAUNCHER_READY_WAIT_MS;
    bool stopping = false;
    while (!stopping) {
        if (!announced && s_port_open (host, settings->http_port)) {
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
            fprintf (stderr, "ollamaflow: the ingress does not answer on port %d yet; still "
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
                        fprintf (stderr, "ollamaflow: %s ended (%s %d) after %lld.%01lld s; "
                                 "restarting it in %lld s%s\n", children [i].program,
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
    launcher_fleet_release (&fleet);
    of_settings_destroy (&settings);
    return 0;
}

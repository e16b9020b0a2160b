/*  test_launcher - `ollamaflow up` on a machine with no settings file writes
    one (with a random admin token that the admin API and ollamaflowctl
    take), starts the five services, says where the HTTP port is, restarts a
    service that dies, and stops them all on SIGTERM. A service that keeps
    dying (its bus port held by another process) is restarted after 1, 2,
    4 ... s, and after 1 s again once it has run fine for 10 s. The ingress
    runs as Ingress.Workers processes on one port (one per core by default):
    with two, both serve, each with its own Ingress.Id and Metrics.Port, a
    backend's MaxParallelRequests holds across both, one killed is restarted
    while the other serves, and SIGTERM stops them all. A second stack with
    default settings on the same port is refused it and never says it is up. */

#include "it_harness.h"
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

//  The process group of a process, or -1
static pid_t
s_group_of (pid_t pid)
{
    char path [64], stat [1024];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t n = fread (stat, 1, sizeof stat - 1, file);
    fclose (file);
    stat [n] = 0;
    //  "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
    const char *end = strrchr (stat, ')');
    int ppid, group;
    char state;
    return end && sscanf (end + 1, " %c %d %d", &state, &ppid, &group) == 3 ? (pid_t) group : -1;
}

//  The pids of running processes of the launcher's group whose command line
//  mentions text (other worktrees' tests may run their own launchers at once)
static size_t
s_processes_with (const char *text, pid_t group, pid_t *pids, size_t max)
{
    size_t found = 0;
    DIR *proc = opendir ("/proc");
    struct dirent *entry;
    while (proc && (entry = readdir (proc))) {
        pid_t pid = (pid_t) atoi (entry->d_name);
        if (pid <= 0 || pid == getpid () || s_group_of (pid) != group)
            continue;
        char path [64], cmdline [4096];
        snprintf (path, sizeof path, "/proc/%d/cmdline", (int) pid);
        FILE *file = fopen (path, "r");
        if (!file)
            continue;
        size_t n = fread (cmdline, 1, sizeof cmdline - 1, file);
        fclose (file);
        for (size_t i = 0; i < n; i++)
            if (cmdline [i] == 0)
                cmdline [i] = ' ';
        cmdline [n] = 0;
        //  Zombies have an empty command line and do not count
        if (n > 0 && strstr (cmdline, text) && strstr (cmdline, "--config ollamaflow.json")
            && found < max)
            pids [found++] = pid;
    }
    if (proc)
        closedir (proc);
    return found;
}

//  True if nothing listens on the loopback port now
static bool
s_port_free (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    bool free = bind (fd, (struct sockaddr *) &address, sizeof address) == 0;
    close (fd);
    return free;
}

//  A first port for the demo fleet's three backends (it takes N, N+1, N+2),
//  all free and clear of the ingress's port: free ports come in sequence, so
//  the next one drawn is often just beside the last
static int
s_demo_port (int taken)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int port = it_free_port ();
        if (port + 2 < 65536 && taken != port + 1 && taken != port + 2 && s_port_free (port + 1)
            && s_port_free (port + 2))
            return port;
    }
    IT_ASSERT (false, "no three free ports in a row");
    return 0;
}

//  The one admin token of the settings file the launcher wrote
static void
s_admin_token (it_env_t *env, char *token, size_t size)
{
    json_t *root = json_load_file (env->settings, 0, NULL);
    json_t *tokens = json_object_get (root, "AdminBearerTokens");
    IT_ASSERT (json_array_size (tokens) == 1, "not one admin token in the settings written");
    snprintf (token, size, "%s", json_string_value (json_array_get (tokens, 0)));
    json_decref (root);
}

//  The file holds one random admin token, readable by its owner only; the
//  launcher said how to use it; the admin API takes it and refuses others;
//  ollamaflowctl works as the launcher said
static void
s_check_admin_token (it_env_t *env, int port, const char *log)
{
    char token [128];
    s_admin_token (env, token, sizeof token);
    IT_ASSERT (strlen (token) == 64 && strspn (token, "0123456789abcdef") == 64,
               "the admin token is not 32 random bytes in hex: '%s'", token);
    IT_ASSERT (strspn (token, "0") < 64, "an all-zero token");
    struct stat status;
    IT_ASSERT (stat (env->settings, &status) == 0 && (status.st_mode & 0077) == 0,
               "the settings file with the token is readable by others (mode %o)",
               (unsigned) status.st_mode & 0777);
    char usage [256];
    snprintf (usage, sizeof usage, "export OLLAMAFLOW_URL=http://localhost:%d OLLAMAFLOW_ADMIN_TOKEN=%s",
              port, token);
    IT_ASSERT (it_file_contains (log, usage, 100), "the launcher did not say how to use the token");
    IT_ASSERT (it_file_contains (log, "/ollamaflowctl status", 100), "no ollamaflowctl example");

    char reply [4096];
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    int code;
    while ((code = it_http_bearer (port, "/v1.0/status", token, reply, sizeof reply)) != 200
           && zclock_mono () < deadline)
        zclock_sleep (100);
    IT_ASSERT (code == 200, "GET /v1.0/status with the token: %d %s", code, reply);
    code = it_http_bearer (port, "/v1.0/status", NULL, reply, sizeof reply);
    IT_ASSERT (code == 401, "GET /v1.0/status without a token: %d", code);
    char other [sizeof token];
    snprintf (other, sizeof other, "%s", token);
    other [0] = other [0] == 'a' ? 'b' : 'a';
    code = it_http_bearer (port, "/v1.0/status", other, reply, sizeof reply);
    IT_ASSERT (code == 401, "GET /v1.0/status with another token: %d", code);

    //  ollamaflowctl, as the launcher said: 0 with the token, 6 (denied) without
    char command [1024];
    snprintf (command, sizeof command,
              "OLLAMAFLOW_URL=http://localhost:%d OLLAMAFLOW_ADMIN_TOKEN=%s %s/ollamaflowctl "
              "status >/dev/null", port, token, env->bin);
    int rc = system (command);
    IT_ASSERT (WIFEXITED (rc) && WEXITSTATUS (rc) == 0, "ollamaflowctl status with the token: %d", rc);
    snprintf (command, sizeof command,
              "OLLAMAFLOW_URL=http://localhost:%d OLLAMAFLOW_ADMIN_TOKEN= %s/ollamaflowctl "
              "status >/dev/null 2>&1", port, env->bin);
    rc = system (command);
    IT_ASSERT (WIFEXITED (rc) && WEXITSTATUS (rc) == 6, "ollamaflowctl status without a token: %d",
               rc);
}

//  Runs `ollamaflow up` in env's directory, its output in log, with the
//  private endpoints and port (extra: more "NAME=value", NULL-terminated, or NULL)
static pid_t
s_launch (it_env_t *env, int port, int demo_port, const char *log, const char *const *extra)
{
    char launcher [600];
    snprintf (launcher, sizeof launcher, "%s/ollamaflow", env->bin);
    fflush (NULL);
    pid_t pid = fork ();
    if (pid == 0) {
        setpgid (0, 0);         //  the launcher and its services: one group to kill on failure
        IT_ASSERT (chdir (env->dir) == 0, "chdir");
        FILE *out = freopen (log, "w", stdout);
        IT_ASSERT (out && dup2 (fileno (stdout), STDERR_FILENO) >= 0, "redirect");
        //  Private endpoints and port; the settings file itself is the launcher's to write
        char variables [9][400];
        snprintf (variables [0], sizeof variables [0], "OLLAMAFLOW_PORT=%d", port);
        snprintf (variables [1], sizeof variables [1], "OLLAMAFLOW_CONFIG_ROUTER=%s", env->config_router);
        snprintf (variables [2], sizeof variables [2], "OLLAMAFLOW_CONFIG_PUBLISHER=%s", env->config_publisher);
        snprintf (variables [3], sizeof variables [3], "OLLAMAFLOW_SCHEDULER_ROUTER=%s", env->scheduler_router);
        snprintf (variables [4], sizeof variables [4], "OLLAMAFLOW_SCHEDULER_PUBLISHER=%s", env->scheduler_publisher);
        snprintf (variables [5], sizeof variables [5], "OLLAMAFLOW_HEALTH_PUBLISHER=%s", env->health_publisher);
        snprintf (variables [6], sizeof variables [6], "OLLAMAFLOW_MODELS_PUBLISHER=%s", env->models_publisher);
        snprintf (variables [7], sizeof variables [7], "OLLAMAFLOW_MODELS_ROUTER=ipc://%s/models-router", env->dir);
        snprintf (variables [8], sizeof variables [8], "OLLAMAFLOW_DEMO_PORT=%d", demo_port);
        for (int i = 0; i < 9; i++)
            putenv (variables [i]);
        for (size_t i = 0; extra && extra [i]; i++)
            putenv ((char *) extra [i]);
        unsetenv ("OLLAMAFLOW_CONFIG");
        execl (launcher, "ollamaflow", "up", "--config", "ollamaflow.json", (char *) NULL);
        _exit (127);
    }
    setpgid (pid, pid);
    it_track (pid);
    return pid;
}

//  Under the sanitizers, no service under the launcher reported an error or
//  a leak into its log (the launcher's own exit status says nothing of theirs)
static void
s_check_clean (const char *log)
{
    IT_ASSERT (!it_file_contains (log, "Sanitizer:", 0) && !it_file_contains (log, "runtime error:", 0),
               "a sanitizer report in %s", log);
}

//  How many times the file holds text
static size_t
s_count (const char *path, const char *text)
{
    size_t count = 0;
    FILE *file = fopen (path, "r");
    char line [4096];
    while (file && fgets (line, sizeof line, file))
        if (strstr (line, text))
            count++;
    if (file)
        fclose (file);
    return count;
}

//  Waits for the count-th line of the log that holds text; returns when it
//  was seen (zclock_mono), within 20 ms
static int64_t
s_wait_line (const char *log, const char *text, size_t count, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (s_count (log, text) < count) {
        IT_ASSERT (zclock_mono () < deadline, "no line %zu with '%s' in the launcher's log",
                   count, text);
        zclock_sleep (20);
    }
    return zclock_mono ();
}

//  The restart back-off: healthmon cannot bind its bus port (held here),
//  dies at once, and is started again after 1, 2 and 4 s, each line saying
//  so; the port freed, it runs, and after 10 s of running a death waits 1 s
static void
s_check_backoff (it_env_t *env, int port, int demo_port)
{
    char log [400];
    snprintf (log, sizeof log, "%s/backoff.log", env->dir);
    //  Close-on-exec: the launcher and its services must not hold it too
    int held = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t size = sizeof address;
    IT_ASSERT (held >= 0 && bind (held, (struct sockaddr *) &address, sizeof address) == 0
               && listen (held, 1) == 0
               && getsockname (held, (struct sockaddr *) &address, &size) == 0, "hold a port");
    static char publisher [128];
    snprintf (publisher, sizeof publisher, "OLLAMAFLOW_HEALTH_PUBLISHER=tcp://127.0.0.1:%d",
              ntohs (address.sin_port));
    const char *extra [] = {publisher, NULL};
    pid_t pid = s_launch (env, port, demo_port, log, extra);
    const char *ended = "ollamaflow-healthmon ended (status ";
    //  The real cause, from healthmon's own log line
    char cause [128];
    snprintf (cause, sizeof cause, "cannot bind tcp://127.0.0.1:%d: Address already in use",
              ntohs (address.sin_port));
    IT_ASSERT (it_file_contains (log, cause, IT_TIMEOUT_MS), "healthmon did not say '%s'", cause);
    int64_t seen [3];
    const char *waits [3] = {"restarting it in 1 s", "restarting it in 2 s (it keeps ending",
                             "restarting it in 4 s (it keeps ending"};
    for (size_t death = 0; death < 3; death++) {
        seen [death] = s_wait_line (log, ended, death + 1, IT_TIMEOUT_MS);
        IT_ASSERT (it_file_line_contains (log, ended, waits [death], 100), "no line '%s'",
                   waits [death]);
    }
    //  Each start comes no sooner than the wait said (the log is polled
    //  every 20 ms: that much slack)
    IT_ASSERT (seen [1] - seen [0] >= 1000 - 40, "restarted after %lld ms, not 1 s",
               (long long) (seen [1] - seen [0]));
    IT_ASSERT (seen [2] - seen [1] >= 2000 - 40, "restarted after %lld ms, not 2 s",
               (long long) (seen [2] - seen [1]));
    //  The port free again, the next start (after 4 s) runs; killed after
    //  10 s of running, it waits 1 s again
    close (held);
    char healthmon [600];
    snprintf (healthmon, sizeof healthmon, "%s/ollamaflow-healthmon", env->bin);
    pid_t victims [2] = {0};
    int64_t deadline = zclock_mono () + 4000 + IT_TIMEOUT_MS;
    while (s_processes_with (healthmon, pid, victims, 2) != 1) {
        IT_ASSERT (zclock_mono () < deadline, "healthmon was not started again");
        zclock_sleep (50);
    }
    int64_t started = zclock_mono ();
    zclock_sleep (10000 + 500);
    IT_ASSERT (s_count (log, ended) == 3, "healthmon kept ending with its port free");
    IT_ASSERT (s_processes_with (healthmon, pid, victims, 2) == 1, "healthmon is gone");
    kill (victims [0], SIGKILL);
    s_wait_line (log, "ollamaflow-healthmon ended (signal 9)", 1, IT_TIMEOUT_MS);
    IT_ASSERT (it_file_line_contains (log, "ollamaflow-healthmon ended (signal 9)",
                                      "restarting it in 1 s", 100),
               "no reset to 1 s after %lld ms of running", (long long) (zclock_mono () - started));
    int status = it_stop (pid, SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "launcher exit status %d", status);
}

//  Waits for a generation through the demo fleet (its backends known healthy
//  and their models listed); its reply in reply
static void
s_wait_generation (int port, char *reply, size_t size)
{
    int64_t serve_deadline = zclock_mono () + 3 * IT_TIMEOUT_MS;
    bool generated = false;
    while (!generated && zclock_mono () < serve_deadline) {
        generated = it_http_post (port, "/api/generate",
                                  "{\"model\":\"llama3.2:3b\",\"prompt\":\"hi\",\"stream\":false,"
                                  "\"options\":{\"num_predict\":2}}", reply, size) == 200;
        if (!generated)
            zclock_sleep (200);
    }
    IT_ASSERT (generated, "no generation through the demo fleet: %s", reply);
}

//  The Ingress.Id of the ingress that answered GET /v1.0/status, or "" (the
//  status's "Ingress")
static void
s_answering_id (int port, const char *token, char *id, size_t size)
{
    char reply [8192];
    *id = 0;
    if (it_http_bearer (port, "/v1.0/status", token, reply, sizeof reply) != 200)
        return;
    const char *body = strstr (reply, "\r\n\r\n");
    json_t *status = body ? json_loads (body + 4, 0, NULL) : NULL;
    const char *ingress = json_string_value (json_object_get (status, "Ingress"));
    snprintf (id, size, "%s", ingress ? ingress : "");
    json_decref (status);
}

//  Asks the status until both ids answered (the kernel spreads connections
//  over the workers by their addresses: hundreds of them in the time
//  allowed, never all to one); fails if any other id answers or a request
//  is not served
static void
s_both_answer (int port, const char *token, const char ids [2][160])
{
    bool seen [2] = {false, false};
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    while (!(seen [0] && seen [1])) {
        IT_ASSERT (zclock_mono () < deadline, "not both workers answered (w1 %d, w2 %d)",
                   seen [0], seen [1]);
        char id [160];
        s_answering_id (port, token, id, sizeof id);
        IT_ASSERT (streq (id, ids [0]) || streq (id, ids [1]), "answered by '%s', not %s or %s",
                   id, ids [0], ids [1]);
        seen [streq (id, ids [1])] = true;
    }
}

//  A sim backend's stats figure (GET /backends/NAME on its control port)
static int64_t
s_sim_stat (int control, const char *backend, const char *figure)
{
    char path [128], reply [16384];
    snprintf (path, sizeof path, "/backends/%s", backend);
    IT_ASSERT (it_http_get (control, path, reply, sizeof reply) == 200, "sim %s: %s", path, reply);
    json_t *root = json_loads (strstr (reply, "\r\n\r\n") + 4, 0, NULL);
    json_t *value = json_object_get (json_object_get (root, "stats"), figure);
    IT_ASSERT (json_is_integer (value), "sim %s has no stats.%s", backend, figure);
    int64_t figure_value = json_integer_value (value);
    json_decref (root);
    return figure_value;
}

//  Requests through the port at once, each from a process of its own;
//  returns how many each worker answered (by the X-Request-Id it gave)
static void
s_concurrent_generations (int port, size_t count, const char ids [2][160], size_t answered [2])
{
    pid_t clients [64];
    IT_ASSERT (count <= 64, "too many clients");
    fflush (NULL);
    for (size_t i = 0; i < count; i++)
        if ((clients [i] = fork ()) == 0) {
            char reply [16384];
            int code;
            //  Until modelsync has listed sim-slow, the scheduler may grant it an
            //  ask for a model it lacks (proto/lease.md), and it answers 404: ask again
            for (int attempt = 0; attempt < 50; attempt++) {
                code = it_http_post (port, "/api/generate",
                                     "{\"model\":\"llama3.2:3b\",\"prompt\":\"hi\",\"stream\":false,"
                                     "\"options\":{\"num_predict\":24}}", reply, sizeof reply);
                if (code != 404 || !strstr (reply, "X-OllamaFlow-Backend: sim-slow"))
                    break;
                zclock_sleep (100);
            }
            //  Exit 1 or 2: which worker; 3: another answer
            char header [200];
            for (int k = 0; k < 2; k++) {
                snprintf (header, sizeof header, "X-Request-Id: %s-", ids [k]);
                if (code == 200 && strstr (reply, header))
                    _exit (k + 1);
            }
            fprintf (stderr, "generation %zu: %d %.600s\n", i, code, reply);
            _exit (3);
        }
    answered [0] = answered [1] = 0;
    for (size_t i = 0; i < count; i++) {
        int status;
        IT_ASSERT (waitpid (clients [i], &status, 0) == clients [i], "waitpid");
        IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) >= 1 && WEXITSTATUS (status) <= 2,
                   "a generation through the shared port failed (%d)", status);
        answered [WEXITSTATUS (status) - 1]++;
    }
}

//  Two consecutive free ports, clear of the ingress's and the demo fleet's
static int
s_two_ports (int taken, int demo_port)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int port = it_free_port ();
        bool clear = true;
        for (int p = port; p <= port + 1; p++)
            clear = clear && p != taken && (p < demo_port || p > demo_port + 2);
        if (port + 1 < 65536 && clear && s_port_free (port + 1))
            return port;
    }
    IT_ASSERT (false, "no two free ports in a row");
    return 0;
}

//  A second stack with default settings (its own directory and bus) on the
//  port the first one's workers hold: its ingress is refused the port with
//  the reason, the first goes on serving, and the second never says it is up
static void
s_check_second_stack (int port, const char *first_deployment, const char *token,
                      const char ids [2][160])
{
    it_env_t other;
    it_env_init (&other, "launcher-b", NULL);
    char log [400];
    snprintf (log, sizeof log, "%s/second.log", other.dir);
    pid_t pid = s_launch (&other, port, s_demo_port (port), log, NULL);
    char refusal [400];
    if (sysconf (_SC_NPROCESSORS_ONLN) > 1)
        snprintf (refusal, sizeof refusal, "port %d is shared by the ingresses of deployment "
                  "'%s', and this one is 'ollamaflow-up-%d'", port, first_deployment, (int) pid);
    else
        snprintf (refusal, sizeof refusal, "Address already in use (ingresses meant to share a "
                  "port need one Ingress.Deployment)");
    //  Said at its first start and again when restarted a second later
    s_wait_line (log, refusal, 2, IT_TIMEOUT_MS);
    IT_ASSERT (s_count (log, "ollamaflow is up") == 0, "the refused stack said it is up");
    s_both_answer (port, token, ids);
    int status = it_stop (pid, SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "second launcher: %d", status);
    it_env_cleanup (&other);
}

//  Ingress.Workers 2 on the settings of the first run (its demo fleet and token)
static void
s_check_workers (it_env_t *env, int port, int demo_port)
{
    char log [400];
    snprintf (log, sizeof log, "%s/workers.log", env->dir);
    int metrics = s_two_ports (port, demo_port);
    char metrics_port [64];
    snprintf (metrics_port, sizeof metrics_port, "OLLAMAFLOW_METRICS_PORT=%d", metrics);
    const char *extra [] = {"OLLAMAFLOW_INGRESS_WORKERS=2", metrics_port, NULL};
    pid_t pid = s_launch (env, port, demo_port, log, extra);
    char banner [128];
    snprintf (banner, sizeof banner, "ollamaflow is up: http://localhost:%d", port);
    IT_ASSERT (it_file_contains (log, banner, IT_TIMEOUT_MS), "no banner with the port");
    //  No deployment configured: one of this launcher's own
    char deployment [64], said [200];
    snprintf (deployment, sizeof deployment, "ollamaflow-up-%d", (int) pid);
    snprintf (said, sizeof said, "2 ingress workers on port %d, Ingress.Deployment '%s'", port,
              deployment);
    IT_ASSERT (it_file_contains (log, said, 100), "the launcher did not say '%s'", said);

    //  Two ingress processes, each listening on the one port by the time the banner came
    char ingress [600];
    snprintf (ingress, sizeof ingress, "%s/ollamaflow-ingress", env->bin);
    pid_t workers [4];
    IT_ASSERT (s_processes_with (ingress, pid, workers, 4) == 2, "not two ingress workers");

    //  Worker k is <Ingress.Id>-w<k>; unset, the Id is hostname-<launcher pid>
    char host [256] = "";
    gethostname (host, sizeof host);
    host [sizeof host - 1] = 0;
    char ids [2][160];
    for (int k = 0; k < 2; k++)
        snprintf (ids [k], sizeof ids [k], "%s-%d-w%d", host, (int) pid, k + 1);
    char token [128];
    s_admin_token (env, token, sizeof token);
    s_both_answer (port, token, ids);

    //  Each worker's /metrics on its own Metrics.Port: Metrics.Port + k - 1
    for (int k = 0; k < 2; k++) {
        char reply [65536], label [200];
        IT_ASSERT (it_http_get (metrics + k, "/metrics", reply, sizeof reply) == 200,
                   "no /metrics on port %d", metrics + k);
        snprintf (label, sizeof label, "ollamaflow_ingress_info{ingress=\"%s\"", ids [k]);
        IT_ASSERT (strstr (reply, label), "port %d is not worker %d's metrics", metrics + k,
                   k + 1);
    }

    //  MaxParallelRequests holds across both workers: the demo backends (4, 2
    //  and 1 slots) let the simulator run 8 each, and generations at once
    //  through the port never see more than a backend's cap at once
    char control_text [8];
    IT_ASSERT (it_file_value (log, "\"control_port\":", 6, control_text, IT_TIMEOUT_MS) == 0,
               "the demo fleet did not say its control port");
    int control = atoi (control_text);
    static const struct {
        const char *name;
        int cap;
    } backends [] = {{"sim-fast", 4}, {"sim-medium", 2}, {"sim-slow", 1}};
    char reply [4096], path [128];
    for (size_t i = 0; i < 3; i++) {
        snprintf (path, sizeof path, "/backends/%s", backends [i].name);
        IT_ASSERT (it_http (control, "POST", "127.0.0.1", path, "{\"parallel\":8}", reply,
                            sizeof reply) == 200, "sim %s: %s", path, reply);
    }
    s_wait_generation (port, reply, sizeof reply);
    for (size_t i = 0; i < 3; i++) {
        snprintf (path, sizeof path, "/backends/%s/reset", backends [i].name);
        IT_ASSERT (it_http (control, "POST", "127.0.0.1", path, "{}", reply, sizeof reply) == 200,
                   "sim %s: %s", path, reply);
    }
    //  12 at once: 6 run, 6 wait, fewer than RateLimitRequestsThreshold (10,
    //  beyond which asks are refused 429). Again should all 12 have reached
    //  one worker (a 2^-11 chance), so that both took part in one burst
    size_t answered [2] = {0, 0};
    for (int burst = 0; burst < 5 && !(answered [0] && answered [1]); burst++)
        s_concurrent_generations (port, 12, ids, answered);
    IT_ASSERT (answered [0] > 0 && answered [1] > 0, "not both workers took generations (%zu, %zu)",
               answered [0], answered [1]);
    bool full = false;
    for (size_t i = 0; i < 3; i++) {
        int64_t peak = s_sim_stat (control, backends [i].name, "peak_active");
        IT_ASSERT (peak <= backends [i].cap, "%s ran %lld at once, over its MaxParallelRequests %d",
                   backends [i].name, (long long) peak, backends [i].cap);
        full = full || peak == backends [i].cap;
    }
    IT_ASSERT (full, "no backend was ever full: the check proves nothing");

    //  One worker killed: the other serves alone until it is back, with its Id
    kill (workers [0], SIGKILL);
    s_wait_line (log, "ollamaflow-ingress (worker ", 1, IT_TIMEOUT_MS);
    IT_ASSERT (it_file_line_contains (log, "ollamaflow-ingress (worker ", "ended (signal 9)", 100),
               "the worker's death was not reported");
    for (int i = 0; i < 10; i++) {
        char id [160];
        s_answering_id (port, token, id, sizeof id);
        IT_ASSERT (streq (id, ids [0]) || streq (id, ids [1]), "not served while one worker is "
                   "down: '%s'", id);
    }
    s_both_answer (port, token, ids);
    pid_t again [4];
    IT_ASSERT (s_processes_with (ingress, pid, again, 4) == 2, "not two ingress workers again");
    IT_ASSERT (again [0] != workers [0] && again [1] != workers [0], "the worker was not restarted");

    s_check_second_stack (port, deployment, token, ids);

    //  SIGTERM stops every worker and service
    int status = it_stop (pid, SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "launcher exit status %d", status);
    char mark [600];
    snprintf (mark, sizeof mark, "%s/ollamaflow-", env->bin);
    IT_ASSERT (s_processes_with (mark, pid, again, 4) == 0, "services outlived the launcher");
    s_check_clean (log);
}

int
main (void)
{
    it_env_t env;
    it_env_init (&env, "launcher", NULL);
    unlink (env.settings);      //  a first run: no settings file
    int port = it_free_port ();
    int demo_port = s_demo_port (port);
    char log [400];
    snprintf (log, sizeof log, "%s/launcher.log", env.dir);
    pid_t pid = s_launch (&env, port, demo_port, log, NULL);
    char banner [128];
    snprintf (banner, sizeof banner, "ollamaflow is up: http://localhost:%d", port);
    IT_ASSERT (it_file_contains (log, banner, IT_TIMEOUT_MS), "no banner with the port");
    IT_ASSERT (access (env.settings, R_OK) == 0, "no settings file was written");
    IT_ASSERT (it_file_contains (env.settings, "\"Frontends\"", 100), "settings without a fleet");
    char reply [4096];
    IT_ASSERT (it_http_get (port, "/", reply, sizeof reply) == 200, "GET / failed");
    s_check_admin_token (&env, port, log);

    //  No Ollama answers here and ollama-sim is built: the demo fleet serves
    IT_ASSERT (it_file_contains (env.settings, "\"DemoFleet\"", 100), "no demo fleet was written");
    s_wait_generation (port, reply, sizeof reply);
    IT_ASSERT (strstr (reply, "X-OllamaFlow-Backend: sim-"), "not from the demo fleet: %s", reply);

    //  The five services run under the launcher, with the settings it wrote,
    //  the ingress as one worker per online core
    pid_t pids [300];
    char mark [600];
    //  The services, not the launcher: "<bin>/ollamaflow-<name> --config ollamaflow.json"
    snprintf (mark, sizeof mark, "%s/ollamaflow-", env.bin);
    zclock_sleep (200);
    size_t running = s_processes_with (mark, pid, pids, 300);
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    size_t expected = 4 + (size_t) (cores < 1 ? 1 : cores > 256 ? 256 : cores);
    IT_ASSERT (running == expected, "%zu services run, not %zu (%ld cores)", running, expected,
               cores);

    //  A service that dies is started again (this build's healthmon: other checkouts on the
    //  machine may run theirs)
    char healthmon [600];
    snprintf (healthmon, sizeof healthmon, "%s/ollamaflow-healthmon", env.bin);
    pid_t victims [2];
    IT_ASSERT (s_processes_with (healthmon, pid, victims, 2) == 1, "no healthmon");
    kill (victims [0], SIGKILL);
    IT_ASSERT (it_file_line_contains (log, "ollamaflow-healthmon ended (signal 9) after",
                                      "; restarting it in 1 s", IT_TIMEOUT_MS),
               "the death was not reported");
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    pid_t again [2] = {0};
    while (zclock_mono () < deadline
           && (s_processes_with (healthmon, pid, again, 2) != 1
               || again [0] == victims [0]))
        zclock_sleep (50);
    IT_ASSERT (again [0] && again [0] != victims [0], "healthmon was not restarted");

    //  SIGTERM stops everything, and the launcher exits 0
    int status = it_stop (pid, SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "launcher exit status %d", status);
    running = s_processes_with (mark, pid, pids, 300);
    IT_ASSERT (running == 0, "%zu services outlived the launcher", running);
    char simulator [600];
    snprintf (simulator, sizeof simulator, "%s/ollama-sim --fleet", env.bin);
    IT_ASSERT (s_processes_with (simulator, pid, pids, 300) == 0, "the demo fleet outlived the launcher");
    s_check_clean (log);

    s_check_backoff (&env, port, demo_port);
    s_check_workers (&env, port, demo_port);
    it_env_cleanup (&env);
    return 0;
}

/*  test_launcher - `ollamaflow up` on a machine with no settings file writes
    one (with a random admin token that the admin API and ollamaflowctl
    take), starts the five services, says where the HTTP port is, restarts a
    service that dies, and stops them all on SIGTERM. A service that keeps
    dying (its bus port held by another process) is restarted after 1, 2,
    4 ... s, and after 1 s again once it has run fine for 10 s. */

#include "it_harness.h"
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>

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

//  The file holds one random admin token, readable by its owner only; the
//  launcher said how to use it; the admin API takes it and refuses others;
//  ollamaflowctl works as the launcher said
static void
s_check_admin_token (it_env_t *env, int port, const char *log)
{
    json_t *root = json_load_file (env->settings, 0, NULL);
    json_t *tokens = json_object_get (root, "AdminBearerTokens");
    IT_ASSERT (json_array_size (tokens) == 1, "not one admin token in the settings written");
    char token [128];
    snprintf (token, sizeof token, "%s", json_string_value (json_array_get (tokens, 0)));
    json_decref (root);
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
//  private endpoints and port (extra: one more "NAME=value", or NULL)
static pid_t
s_launch (it_env_t *env, int port, int demo_port, const char *log, const char *extra)
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
        if (extra)
            putenv ((char *) extra);
        unsetenv ("OLLAMAFLOW_CONFIG");
        execl (launcher, "ollamaflow", "up", "--config", "ollamaflow.json", (char *) NULL);
        _exit (127);
    }
    setpgid (pid, pid);
    it_track (pid);
    return pid;
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
    pid_t pid = s_launch (env, port, demo_port, log, publisher);
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
    int64_t serve_deadline = zclock_mono () + 3 * IT_TIMEOUT_MS;
    bool generated = false;
    while (!generated && zclock_mono () < serve_deadline) {
        generated = it_http_post (port, "/api/generate",
                                  "{\"model\":\"llama3.2:3b\",\"prompt\":\"hi\",\"stream\":false,"
                                  "\"options\":{\"num_predict\":2}}", reply, sizeof reply) == 200;
        if (!generated)
            zclock_sleep (200);
    }
    IT_ASSERT (generated, "no generation through the demo fleet: %s", reply);
    IT_ASSERT (strstr (reply, "X-OllamaFlow-Backend: sim-"), "not from the demo fleet: %s", reply);

    //  The five services run under the launcher, with the settings it wrote
    pid_t pids [16];
    char mark [600];
    //  The services, not the launcher: "<bin>/ollamaflow-<name> --config ollamaflow.json"
    snprintf (mark, sizeof mark, "%s/ollamaflow-", env.bin);
    zclock_sleep (200);
    size_t running = s_processes_with (mark, pid, pids, 16);
    IT_ASSERT (running == 5, "%zu services run, not 5", running);

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
    running = s_processes_with (mark, pid, pids, 16);
    IT_ASSERT (running == 0, "%zu services outlived the launcher", running);
    char simulator [600];
    snprintf (simulator, sizeof simulator, "%s/ollama-sim --fleet", env.bin);
    IT_ASSERT (s_processes_with (simulator, pid, pids, 16) == 0, "the demo fleet outlived the launcher");

    s_check_backoff (&env, port, demo_port);
    it_env_cleanup (&env);
    return 0;
}

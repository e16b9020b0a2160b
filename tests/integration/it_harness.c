/*  =========================================================================
    it_harness - what the integration tests share
    =========================================================================
*/

#include "it_harness.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define S_TRACKED_MAX 64
static pid_t s_tracked [S_TRACKED_MAX];
static size_t s_tracked_count;

//  On a failed check (abort), kill what the test started
static void
s_on_abort (int signal_number)
{
    for (size_t i = 0; i < s_tracked_count; i++)
        if (s_tracked [i] > 0) {
            kill (-s_tracked [i], SIGKILL);
            kill (s_tracked [i], SIGKILL);
        }
    signal (signal_number, SIG_DFL);
    raise (signal_number);
}

void
it_track (pid_t pid)
{
    if (s_tracked_count < S_TRACKED_MAX)
        s_tracked [s_tracked_count++] = pid;
}

void
it_env_init (it_env_t *env, const char *name, const char *extra)
{
    signal (SIGABRT, s_on_abort);
    memset (env, 0, sizeof *env);
    snprintf (env->dir, sizeof env->dir, "/tmp/of-it-%s-XXXXXX", name);
    IT_ASSERT (mkdtemp (env->dir), "mkdtemp: %s", strerror (errno));
    const char *bin = getenv ("OF_BIN_DIR");
    IT_ASSERT (bin, "OF_BIN_DIR must name the directory of the binaries");
    snprintf (env->bin, sizeof env->bin, "%s", bin);
    snprintf (env->settings, sizeof env->settings, "%s/ollamaflow.json", env->dir);
    snprintf (env->database, sizeof env->database, "%s/ollamaflow.db", env->dir);
    snprintf (env->config_router, sizeof env->config_router, "ipc://%s/config-router", env->dir);
    snprintf (env->config_publisher, sizeof env->config_publisher, "ipc://%s/config-pub", env->dir);
    snprintf (env->scheduler_router, sizeof env->scheduler_router, "ipc://%s/sched-router",
              env->dir);
    snprintf (env->scheduler_publisher, sizeof env->scheduler_publisher, "ipc://%s/sched-pub",
              env->dir);
    snprintf (env->health_publisher, sizeof env->health_publisher, "ipc://%s/health-pub",
              env->dir);
    snprintf (env->models_publisher, sizeof env->models_publisher, "ipc://%s/models-pub",
              env->dir);
    snprintf (env->models_router, sizeof env->models_router, "ipc://%s/models-router", env->dir);

    json_t *settings = json_pack (
        "{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i}, s:{s:s}}", "DatabaseFilename",
        env->database, "Bus", "ConfigRouter", env->config_router, "ConfigPublisher",
        env->config_publisher, "SchedulerRouter", env->scheduler_router, "SchedulerPublisher",
        env->scheduler_publisher, "HealthPublisher", env->health_publisher, "ModelsPublisher",
        env->models_publisher, "ModelsRouter", env->models_router, "HeartbeatMs", 100, "LivenessMs", 500, "Logging", "Level",
        "debug");
    if (extra) {
        json_error_t jerr;
        json_t *more = json_loads (extra, 0, &jerr);
        IT_ASSERT (more, "extra settings: %s", jerr.text);
        json_object_update (settings, more);
        json_decref (more);
    }
    IT_ASSERT (json_dump_file (settings, env->settings, JSON_INDENT (2)) == 0, "write settings");
    json_decref (settings);
}

void
it_env_cleanup (it_env_t *env)
{
    char command [400];
    snprintf (command, sizeof command, "rm -rf '%s'", env->dir);
    if (system (command) != 0)
        fprintf (stderr, "cannot remove %s\n", env->dir);
}

pid_t
it_start (it_env_t *env, const char *program, const char *const *environment)
{
    char path [700], log [400];
    snprintf (path, sizeof path, "%s/%s", env->bin, program);
    snprintf (log, sizeof log, "%s/%s.log", env->dir, program);
    IT_ASSERT (access (path, X_OK) == 0, "%s is not built", path);
    fflush (NULL);
    pid_t pid = fork ();
    IT_ASSERT (pid >= 0, "fork: %s", strerror (errno));
    if (pid == 0) {
        int fd = open (log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2 (fd, STDOUT_FILENO);
            dup2 (fd, STDERR_FILENO);
            close (fd);
        }
        unsetenv ("NOTIFY_SOCKET");
        for (const char *const *e = environment; e && *e; e++)
            putenv ((char *) *e);
        execl (path, program, "--config", env->settings, (char *) NULL);
        _exit (127);
    }
    it_track (pid);
    return pid;
}

int
it_stop (pid_t pid, int signal_number)
{
    kill (pid, signal_number);
    int status = 0;
    //  Bounded: a process that ignores SIGTERM is killed after the timeout
    for (int waited = 0; waited < IT_TIMEOUT_MS; waited += 10) {
        if (waitpid (pid, &status, WNOHANG) == pid) {
            //  A clean stop is part of every service's contract (and, under the
            //  sanitizers, an exit without leaks or errors)
            IT_ASSERT (signal_number != SIGTERM || (WIFEXITED (status) && WEXITSTATUS (status) == 0),
                       "pid %d stopped on SIGTERM with status %d", (int) pid, status);
            return status;
        }
        zclock_sleep (10);
    }
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    IT_ASSERT (false, "pid %d did not stop on signal %d", (int) pid, signal_number);
    return status;
}

//  Reads a whole file into a new string, or NULL
static char *
s_read_file (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    char *content = NULL;
    size_t size = 0;
    FILE *memory = open_memstream (&content, &size);
    char buffer [4096];
    size_t n;
    while ((n = fread (buffer, 1, sizeof buffer, file)) > 0)
        fwrite (buffer, 1, n, memory);
    fclose (memory);
    fclose (file);
    return content;
}

bool
it_file_line_contains (const char *path, const char *text, const char *also, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    do {
        char *content = s_read_file (path);
        bool found = false;
        char *save = NULL;
        for (char *line = content ? strtok_r (content, "\n", &save) : NULL; line && !found;
             line = strtok_r (NULL, "\n", &save))
            found = strstr (line, text) && (!also || strstr (line, also));
        free (content);
        if (found)
            return true;
        zclock_sleep (20);
    } while (zclock_mono () < deadline);
    return false;
}

bool
it_file_contains (const char *path, const char *text, int timeout_ms)
{
    return it_file_line_contains (path, text, NULL, timeout_ms);
}

int
it_file_value (const char *path, const char *prefix, size_t length, char *dest, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    do {
        char *content = s_read_file (path);
        char *found = content ? strstr (content, prefix) : NULL;
        if (found && strlen (found + strlen (prefix)) >= length) {
            memcpy (dest, found + strlen (prefix), length);
            dest [length] = 0;
            free (content);
            return 0;
        }
        free (content);
        zclock_sleep (20);
    } while (zclock_mono () < deadline);
    return -1;
}

int
it_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    IT_ASSERT (bind (fd, (struct sockaddr *) &address, sizeof address) == 0, "bind");
    getsockname (fd, (struct sockaddr *) &address, &length);
    close (fd);
    return ntohs (address.sin_port);
}

//  One request with Connection: close; returns the status, the response in reply
static int
s_http (int port, const char *request, size_t length, char *reply, size_t size)
{
    *reply = 0;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct timeval timeout = {IT_TIMEOUT_MS / 1000, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port),
                                  .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    int status = 0;
    if (connect (fd, (struct sockaddr *) &address, sizeof address) == 0
        && send (fd, request, length, 0) == (ssize_t) length) {
        size_t used = 0;
        ssize_t n;
        while (used < size - 1 && (n = recv (fd, reply + used, size - 1 - used, 0)) > 0)
            used += (size_t) n;
        reply [used] = 0;
        sscanf (reply, "HTTP/1.%*d %d", &status);
    }
    close (fd);
    return status;
}

int
it_http (int port, const char *method, const char *host, const char *path, const char *body,
         char *reply, size_t size)
{
    char *request = zsys_sprintf ("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
                                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                                  method, path, host, body ? strlen (body) : 0, body ? body : "");
    int status = s_http (port, request, strlen (request), reply, size);
    zstr_free (&request);
    return status;
}

int
it_http_get (int port, const char *path, char *reply, size_t size)
{
    char request [512];
    int length = snprintf (request, sizeof request,
                           "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", path);
    return s_http (port, request, (size_t) length, reply, size);
}

int
it_http_bearer (int port, const char *path, const char *token, char *reply, size_t size)
{
    char *request = zsys_sprintf ("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                                  "%s%s%s\r\n", path, token ? "Authorization: Bearer " : "",
                                  token ? token : "", token ? "\r\n" : "");
    int status = s_http (port, request, strlen (request), reply, size);
    zstr_free (&request);
    return status;
}

int
it_http_post (int port, const char *path, const char *body, char *reply, size_t size)
{
    return it_http (port, "POST", "localhost", path, body, reply, size);
}

zsock_t *
it_config_client (it_env_t *env)
{
    zsock_t *client = zsock_new_dealer (env->config_router);
    IT_ASSERT (client, "cannot connect to %s", env->config_router);
    zsock_set_linger (client, 0);
    return client;
}

ofp_msg_t *
it_config_request (zsock_t *client, const char *command, json_t *body, int timeout_ms)
{
    static unsigned counter = 0;
    char id [32];
    snprintf (id, sizeof id, "it-%u", ++counter);
    ofp_msg_t *request = ofp_msg_new (&ofp_config_protocol, command, id, &body);
    IT_ASSERT (ofp_msg_send (&request, client) == 0, "send %s", command);
    zpoller_t *poller = zpoller_new (client, NULL);
    int64_t deadline = zclock_mono () + timeout_ms;
    ofp_msg_t *reply = NULL;
    while (!reply && zclock_mono () < deadline) {
        if (!zpoller_wait (poller, (int) (deadline - zclock_mono ()) + 1))
            continue;
        reply = ofp_msg_recv (&ofp_config_protocol, client);
        if (reply && (ofp_msg_error (reply) || !streq (ofp_msg_id (reply), id)))
            ofp_msg_destroy (&reply);   //  a late reply to an earlier request
    }
    zpoller_destroy (&poller);
    return reply;
}

json_t *
it_config_wait (zsock_t *client, const char *command)
{
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    while (zclock_mono () < deadline) {
        ofp_msg_t *reply = it_config_request (client, command, json_object (), 200);
        if (reply) {
            json_t *body = json_incref (ofp_msg_body (reply));
            ofp_msg_destroy (&reply);
            return body;
        }
    }
    IT_ASSERT (false, "configd did not answer %s within %d ms", command, IT_TIMEOUT_MS);
    return NULL;
}

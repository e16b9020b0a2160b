/*  test_bind - a service that cannot bind a bus port says which address and
    why: with the port held by another process (another stack on the same
    machine), each of its sockets' failures names the address and "Address
    already in use", and the service exits non-zero at once. */

#include "it_harness.h"
#include <sys/wait.h>

//  A TCP port on the loopback held by a listening socket of this process
static int
s_hold_port (int *port)
{
    //  Close-on-exec: the service started must not hold it too
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    IT_ASSERT (fd >= 0, "socket: %s", strerror (errno));
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    IT_ASSERT (bind (fd, (struct sockaddr *) &address, sizeof address) == 0
               && listen (fd, 1) == 0, "bind: %s", strerror (errno));
    socklen_t size = sizeof address;
    IT_ASSERT (getsockname (fd, (struct sockaddr *) &address, &size) == 0, "getsockname");
    *port = ntohs (address.sin_port);
    return fd;
}

//  Waits up to IT_TIMEOUT_MS for pid to exit by itself; returns its status
static int
s_wait_exit (pid_t pid, const char *program)
{
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    int status;
    while (waitpid (pid, &status, WNOHANG) != pid) {
        IT_ASSERT (zclock_mono () < deadline, "%s still runs without its bus port", program);
        zclock_sleep (20);
    }
    return status;
}

int
main (void)
{
    zsys_init ();
    //  Each service and the setting of each socket it binds
    static const struct {
        const char *program;
        const char *variable;
    } cases [] = {
        {"ollamaflow-configd", "OLLAMAFLOW_CONFIG_ROUTER"},
        {"ollamaflow-configd", "OLLAMAFLOW_CONFIG_PUBLISHER"},
        {"ollamaflow-scheduler", "OLLAMAFLOW_SCHEDULER_ROUTER"},
        {"ollamaflow-scheduler", "OLLAMAFLOW_SCHEDULER_PUBLISHER"},
        {"ollamaflow-healthmon", "OLLAMAFLOW_HEALTH_PUBLISHER"},
        {"ollamaflow-modelsync", "OLLAMAFLOW_MODELS_ROUTER"},
        {"ollamaflow-modelsync", "OLLAMAFLOW_MODELS_PUBLISHER"},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        it_env_t env;
        it_env_init (&env, "bind", NULL);
        int port;
        int held = s_hold_port (&port);
        char variable [128], models_router [400];
        snprintf (variable, sizeof variable, "%s=tcp://127.0.0.1:%d", cases [index].variable, port);
        //  modelsync's router is not in it_env_t's settings: keep it private
        snprintf (models_router, sizeof models_router, "OLLAMAFLOW_MODELS_ROUTER=ipc://%s/mr",
                  env.dir);
        const char *environment [] = {models_router, variable, NULL};
        pid_t pid = it_start (&env, cases [index].program, environment);
        int status = s_wait_exit (pid, cases [index].program);
        IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) != 0,
                   "%s: exit status %d, not a failure", cases [index].program, status);
        char log [400], expected [128];
        snprintf (log, sizeof log, "%s/%s.log", env.dir, cases [index].program);
        snprintf (expected, sizeof expected, "cannot bind tcp://127.0.0.1:%d: Address already in use",
                  port);
        IT_ASSERT (it_file_contains (log, expected, 100), "%s (%s) did not say '%s'",
                   cases [index].program, cases [index].variable, expected);
        close (held);
        it_env_cleanup (&env);
    }
    printf ("it_bind: OK\n");
    return 0;
}

/*  test_notify - every service tells systemd when it is ready (READY=1) and
    when it stops (STOPPING=1), over the NOTIFY_SOCKET datagram socket that
    Type=notify units give it. */

#include "it_harness.h"
#include <sys/socket.h>
#include <sys/un.h>

static const char *const s_services [] = {
    "ollamaflow-configd", "ollamaflow-scheduler", "ollamaflow-healthmon", "ollamaflow-modelsync",
    "ollamaflow-ingress", NULL
};

//  Waits for a datagram that contains text; true if one came in time
static bool
s_expect_datagram (int fd, const char *text)
{
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    while (zclock_mono () < deadline) {
        char message [512];
        ssize_t n = recv (fd, message, sizeof message - 1, MSG_DONTWAIT);
        if (n > 0) {
            message [n] = 0;
            if (strstr (message, text))
                return true;
        }
        else
            zclock_sleep (10);
    }
    return false;
}

int
main (void)
{
    it_env_t env;
    char extra [128];
    snprintf (extra, sizeof extra, "{\"Webserver\": {\"Port\": %d}}", it_free_port ());
    it_env_init (&env, "notify", extra);
    for (int i = 0; s_services [i]; i++) {
        struct sockaddr_un address = {.sun_family = AF_UNIX};
        snprintf (address.sun_path, sizeof address.sun_path, "%s/notify-%d", env.dir, i);
        int fd = socket (AF_UNIX, SOCK_DGRAM, 0);
        IT_ASSERT (bind (fd, (struct sockaddr *) &address, sizeof address) == 0, "bind: %s",
                   strerror (errno));
        char variable [200];
        snprintf (variable, sizeof variable, "NOTIFY_SOCKET=%s", address.sun_path);
        const char *const environment [] = {variable, NULL};
        pid_t pid = it_start (&env, s_services [i], environment);
        IT_ASSERT (s_expect_datagram (fd, "READY=1"), "%s did not say READY=1", s_services [i]);
        //  One SIGTERM (as systemd sends); the datagram waits in the socket
        it_stop (pid, SIGTERM);
        IT_ASSERT (s_expect_datagram (fd, "STOPPING=1"), "%s did not say STOPPING=1",
                   s_services [i]);
        close (fd);
        printf ("%s: READY=1, then STOPPING=1\n", s_services [i]);
    }
    it_env_cleanup (&env);
    return 0;
}

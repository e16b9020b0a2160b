/*  test_services_lifecycle - the five services start in any order (configd
    last here), find each other, serve HTTP, and cope with peers that
    restart or vanish; each exits cleanly on SIGTERM. */

#include "it_harness.h"
#include <sys/wait.h>

static const char *const s_services [] = {
    "ollamaflow-ingress", "ollamaflow-scheduler", "ollamaflow-healthmon", "ollamaflow-modelsync",
    "ollamaflow-configd", NULL
};

//  The epoch of the scheduler's latest start, from its log ("" if none)
static void
s_last_epoch (const char *log, char *epoch)
{
    *epoch = 0;
    FILE *file = fopen (log, "r");
    char line [1024];
    while (file && fgets (line, sizeof line, file)) {
        char *at = strstr (line, ": epoch ");
        if (at && strlen (at + 8) >= OFP_EPOCH_LENGTH)
            snprintf (epoch, OFP_EPOCH_LENGTH + 1, "%s", at + 8);
    }
    if (file)
        fclose (file);
}

int
main (void)
{
    it_env_t env;
    int port = it_free_port ();
    char extra [512];
    snprintf (extra, sizeof extra,
              "{\"Webserver\": {\"Hostname\": \"127.0.0.1\", \"Port\": %d}, \"Ingress\": {\"Id\": "
              "\"replica-a\"}, \"Backends\": [{\"Identifier\": \"b1\"}], \"Frontends\": "
              "[{\"Identifier\": \"f1\", \"Backends\": [\"b1\"]}]}", port);
    it_env_init (&env, "lifecycle", extra);
    char tap_log [400], ingress_log [400], scheduler_log [400];
    snprintf (tap_log, sizeof tap_log, "%s/ollamaflow-tap.log", env.dir);
    snprintf (ingress_log, sizeof ingress_log, "%s/ollamaflow-ingress.log", env.dir);
    snprintf (scheduler_log, sizeof scheduler_log, "%s/ollamaflow-scheduler.log", env.dir);

    pid_t tap = it_start (&env, "ollamaflow-tap", NULL);
    pid_t pids [5];
    for (int i = 0; s_services [i]; i++) {
        pids [i] = it_start (&env, s_services [i], NULL);
        zclock_sleep (100);     //  each waits a little alone for the ones still missing
    }
    pid_t *scheduler = &pids [1], *configd = &pids [4];

    //  Everyone found configd, though it came last
    IT_ASSERT (it_file_contains (ingress_log, "config snapshot applied", IT_TIMEOUT_MS),
               "the ingress has no config");
    IT_ASSERT (it_file_line_contains (tap_log, "\"Service\":\"healthmon\"", "\"Backend\":\"b1\"",
                                      IT_TIMEOUT_MS),
               "healthmon does not watch the configured backend");
    IT_ASSERT (it_file_line_contains (tap_log, "\"Service\":\"modelsync\"", "\"Command\":\"STATE\"",
                                      IT_TIMEOUT_MS),
               "modelsync publishes no state");
    IT_ASSERT (it_file_line_contains (tap_log, "\"Service\":\"scheduler\"", "\"Ingresses\":1",
                                      IT_TIMEOUT_MS),
               "the scheduler does not know the ingress");
    char reply [4096];
    IT_ASSERT (it_http_get (port, "/", reply, sizeof reply) == 200, "GET / failed: %s", reply);
    IT_ASSERT (strstr (reply, "Ollama is running"), "GET / said: %s", reply);
    IT_ASSERT (strstr (reply, "X-OllamaFlow-Request: replica-a-"), "no request id: %s", reply);

    //  The scheduler restarts: a new epoch, and the ingress registers again
    char first [OFP_EPOCH_LENGTH + 1], epoch [OFP_EPOCH_LENGTH + 1], needle [96];
    s_last_epoch (scheduler_log, first);
    IT_ASSERT (*first, "no epoch in the scheduler log");
    it_stop (*scheduler, SIGKILL);
    *scheduler = it_start (&env, "ollamaflow-scheduler", NULL);
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    do {
        zclock_sleep (20);
        s_last_epoch (scheduler_log, epoch);
    } while (streq (epoch, first) && zclock_mono () < deadline);
    IT_ASSERT (!streq (epoch, first), "the restarted scheduler kept its epoch");
    snprintf (needle, sizeof needle, "\"Epoch\":\"%s\"", epoch);
    IT_ASSERT (it_file_line_contains (tap_log, needle, "\"Ingresses\":1", IT_TIMEOUT_MS),
               "the ingress did not register with the restarted scheduler (epoch %s)", epoch);
    snprintf (needle, sizeof needle, "registered with the scheduler, epoch %s", epoch);
    IT_ASSERT (it_file_contains (ingress_log, needle, IT_TIMEOUT_MS), "no re-registration logged");

    //  configd restarts: the services keep running and serving
    it_stop (*configd, SIGKILL);
    IT_ASSERT (it_http_get (port, "/", reply, sizeof reply) == 200, "no HTTP without configd");
    *configd = it_start (&env, "ollamaflow-configd", NULL);
    zclock_sleep (500);
    for (int i = 0; s_services [i]; i++)
        IT_ASSERT (waitpid (pids [i], NULL, WNOHANG) == 0, "%s died", s_services [i]);

    //  The ingress vanishes: the scheduler forgets it within its liveness
    int status = it_stop (pids [0], SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "ingress exit status %d", status);
    IT_ASSERT (it_file_line_contains (tap_log, "\"Ingresses\":0", "\"Service\":\"scheduler\"",
                                      IT_TIMEOUT_MS),
               "the scheduler kept a vanished ingress");
    IT_ASSERT (it_file_contains (scheduler_log, "ingress replica-a went silent", IT_TIMEOUT_MS),
               "the expiry was not logged");

    for (int i = 1; s_services [i]; i++) {
        status = it_stop (pids [i], SIGTERM);
        IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "%s exit status %d",
                   s_services [i], status);
    }
    it_stop (tap, SIGTERM);
    it_env_cleanup (&env);
    return 0;
}

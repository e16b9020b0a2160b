/*  test_tap - the tap prints a config change: the UPDATE broadcast, and, with
    the services' tap copies on, the CREATE request and its reply; secrets
    are masked. */

#include "it_harness.h"

int
main (void)
{
    it_env_t env;
    it_env_init (&env, "tap", NULL);
    const char *const tap_on [] = {"OLLAMAFLOW_TAP=1", NULL};
    pid_t configd = it_start (&env, "ollamaflow-configd", tap_on);
    pid_t tap = it_start (&env, "ollamaflow-tap", NULL);
    char log [400];
    snprintf (log, sizeof log, "%s/ollamaflow-tap.log", env.dir);
    //  The tap is connected once it prints configd's heartbeat
    IT_ASSERT (it_file_contains (log, "\"Command\":\"HEARTBEAT\"", IT_TIMEOUT_MS),
               "the tap printed no heartbeat");

    zsock_t *client = it_config_client (&env);
    ofp_msg_t *reply = it_config_request (
        client, "CREATE",
        json_pack ("{s:s, s:{s:s, s:s}}", "Kind", "backend", "Object", "Identifier", "tapped",
                   "BearerToken", "s3cr3t-token"),
        IT_TIMEOUT_MS);
    IT_ASSERT (reply && ofp_msg_is (reply, "OBJECT"), "CREATE failed");
    ofp_msg_destroy (&reply);

    IT_ASSERT (it_file_contains (log, "\"Command\":\"UPDATE\"", IT_TIMEOUT_MS), "no UPDATE line");
    IT_ASSERT (it_file_contains (log, "\"Identifier\":\"tapped\"", 100), "UPDATE without the id");
    IT_ASSERT (it_file_contains (log, "\"Command\":\"CREATE\"", 100), "no CREATE copy");
    IT_ASSERT (it_file_contains (log, "\"Direction\":\"IN\"", 100), "no direction on copies");
    IT_ASSERT (it_file_contains (log, "\"Command\":\"OBJECT\"", 100), "no reply copy");
    IT_ASSERT (!it_file_contains (log, "s3cr3t-token", 100), "the tap printed a secret");

    it_stop (tap, SIGTERM);
    it_stop (configd, SIGTERM);
    zsock_destroy (&client);
    it_env_cleanup (&env);
    return 0;
}

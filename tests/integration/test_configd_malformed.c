/*  test_configd_malformed - malformed frames sent to configd get an ERROR
    reply that says what was wrong, and configd keeps serving. */

#include "it_harness.h"
#include <sys/wait.h>

//  Sends raw frames (NULL-terminated) and expects ERROR 400 mentioning fragment
static void
s_expect_refused (zsock_t *client, const char *fragment, const char *first, ...)
{
    zmsg_t *zmsg = zmsg_new ();
    va_list args;
    va_start (args, first);
    for (const char *frame = first; frame; frame = va_arg (args, const char *))
        zmsg_addstr (zmsg, frame);
    va_end (args);
    IT_ASSERT (zmsg_send (&zmsg, client) == 0, "send");
    zpoller_t *poller = zpoller_new (client, NULL);
    IT_ASSERT (zpoller_wait (poller, IT_TIMEOUT_MS) == client, "no reply for '%s'", fragment);
    zpoller_destroy (&poller);
    ofp_msg_t *reply = ofp_msg_recv (&ofp_config_protocol, client);
    IT_ASSERT (reply && !ofp_msg_error (reply) && ofp_msg_is (reply, "ERROR"),
               "expected an ERROR reply for '%s'", fragment);
    json_t *body = ofp_msg_body (reply);
    const char *message = json_string_value (json_object_get (body, "Message"));
    printf ("refused: %s\n", message);
    IT_ASSERT (json_integer_value (json_object_get (body, "Status")) == 400, "status");
    IT_ASSERT (strstr (message, fragment), "'%s' does not mention '%s'", message, fragment);
    ofp_msg_destroy (&reply);
}

int
main (void)
{
    it_env_t env;
    it_env_init (&env, "malformed", "{\"Backends\": [{\"Identifier\": \"b1\"}]}");
    zsock_t *client = it_config_client (&env);
    pid_t configd = it_start (&env, "ollamaflow-configd", NULL);
    ofp_msg_t *reply = NULL;
    for (int tries = 0; !reply && tries < 50; tries++)
        reply = it_config_request (client, "PING", NULL, 200);
    IT_ASSERT (reply, "configd did not start");
    ofp_msg_destroy (&reply);

    s_expect_refused (client, "signature", "ofwrong/9", "PING", "1", "{}", NULL);
    s_expect_refused (client, "signature", "", NULL);
    s_expect_refused (client, "command", OFP_CONFIG_SIGNATURE, NULL);
    s_expect_refused (client, "unknown command", OFP_CONFIG_SIGNATURE, "EXPLODE", "1", "{}", NULL);
    s_expect_refused (client, "request id", OFP_CONFIG_SIGNATURE, "GET", NULL);
    s_expect_refused (client, "missing body", OFP_CONFIG_SIGNATURE, "GET", "2", NULL);
    s_expect_refused (client, "not valid JSON", OFP_CONFIG_SIGNATURE, "GET", "3", "{\"Kind\":",
                      NULL);
    s_expect_refused (client, "JSON object", OFP_CONFIG_SIGNATURE, "GET", "4", "[]", NULL);
    s_expect_refused (client, "Kind", OFP_CONFIG_SIGNATURE, "GET", "5",
                      "{\"Kind\": 3, \"Identifier\": \"b1\"}", NULL);
    s_expect_refused (client, "Identifier", OFP_CONFIG_SIGNATURE, "GET", "6",
                      "{\"Kind\": \"backend\", \"Identifier\": false}", NULL);
    s_expect_refused (client, "extra frames", OFP_CONFIG_SIGNATURE, "PING", "7", "{}", "more",
                      NULL);
    s_expect_refused (client, "not a request", OFP_CONFIG_SIGNATURE, "PONG", "8",
                      "{\"Epoch\": \"0123456789abcdef\", \"Sequence\": 1}", NULL);
    //  Well-formed, but an invalid object: the field and rule are named
    s_expect_refused (client, "Port", OFP_CONFIG_SIGNATURE, "CREATE", "9",
                      "{\"Kind\": \"backend\", \"Object\": {\"Identifier\": \"b2\", "
                      "\"Port\": \"http\"}}", NULL);
    s_expect_refused (client, "HealthCheckMethod", OFP_CONFIG_SIGNATURE, "CREATE", "10",
                      "{\"Kind\": \"backend\", \"Object\": {\"Identifier\": \"b2\", "
                      "\"HealthCheckMethod\": \"POST\"}}", NULL);
    //  Oversized: a body beyond the 16 MiB limit
    size_t big = OFP_CONFIG_MAX_BODY + 16;
    char *huge = (char *) malloc (big + 1);
    memset (huge, ' ', big);
    huge [0] = '{';
    huge [big - 1] = '}';
    huge [big] = 0;
    s_expect_refused (client, "over the limit", OFP_CONFIG_SIGNATURE, "PING", "11", huge, NULL);
    free (huge);

    //  Still serving, and nothing was written
    reply = it_config_request (client, "LIST", json_pack ("{s:s}", "Kind", "backend"),
                               IT_TIMEOUT_MS);
    IT_ASSERT (reply && ofp_msg_is (reply, "OBJECTS"), "configd stopped serving");
    IT_ASSERT (json_array_size (json_object_get (ofp_msg_body (reply), "Objects")) == 1,
               "a refused write changed the database");
    ofp_msg_destroy (&reply);
    IT_ASSERT (waitpid (configd, NULL, WNOHANG) == 0, "configd died");
    char log [400];
    snprintf (log, sizeof log, "%s/ollamaflow-configd.log", env.dir);
    IT_ASSERT (it_file_contains (log, "malformed request", 1000), "malformed requests not logged");
    it_stop (configd, SIGTERM);
    zsock_destroy (&client);
    it_env_cleanup (&env);
    return 0;
}

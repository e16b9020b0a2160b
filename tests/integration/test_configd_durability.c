/*  test_configd_durability - configd killed with SIGKILL between acknowledged
    writes and restarted loses none of them, keeps its epoch and never reuses
    a sequence number; a write in flight at the kill is all or nothing. */

#include "it_harness.h"

#define ROUNDS 5
#define WRITES_PER_ROUND 6

//  Waits until configd answers; returns the PONG body (caller owns)
static json_t *
s_wait_configd (zsock_t *client)
{
    return it_config_wait (client, "PING");
}

static int64_t
s_write (zsock_t *client, const char *command, json_t *body)
{
    ofp_msg_t *reply = it_config_request (client, command, body, IT_TIMEOUT_MS);
    IT_ASSERT (reply, "%s was not answered", command);
    IT_ASSERT (ofp_msg_is (reply, "OBJECT") || ofp_msg_is (reply, "DELETED"), "%s refused: %s",
               command, json_string_value (json_object_get (ofp_msg_body (reply), "Message")));
    int64_t sequence = json_integer_value (json_object_get (ofp_msg_body (reply), "Sequence"));
    ofp_msg_destroy (&reply);
    return sequence;
}

int
main (void)
{
    it_env_t env;
    it_env_init (&env, "durability", "{\"Backends\": [{\"Identifier\": \"seed\"}]}");
    zsock_t *client = it_config_client (&env);
    pid_t configd = it_start (&env, "ollamaflow-configd", NULL);
    json_t *pong = s_wait_configd (client);
    char epoch [32];
    snprintf (epoch, sizeof epoch, "%s", json_string_value (json_object_get (pong, "Epoch")));
    int64_t last = json_integer_value (json_object_get (pong, "Sequence"));
    IT_ASSERT (last == 1, "the seed is change 1, got %lld", (long long) last);
    json_decref (pong);

    //  What every acknowledged write says the database holds
    json_t *expected = json_object ();
    json_object_set_new (expected, "seed", json_integer (11434));

    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < WRITES_PER_ROUND; i++) {
            char id [32];
            snprintf (id, sizeof id, "b%d-%d", round, i);
            int port = 20000 + round * 100 + i;
            int64_t sequence = s_write (client, "CREATE",
                                        json_pack ("{s:s, s:{s:s, s:i}}", "Kind", "backend",
                                                   "Object", "Identifier", id, "Port", port));
            IT_ASSERT (sequence == last + 1, "sequence %lld after %lld", (long long) sequence,
                       (long long) last);
            last = sequence;
            json_object_set_new (expected, id, json_integer (port));
        }
        //  Change and remove some of the earlier ones too
        char id [32];
        snprintf (id, sizeof id, "b%d-0", round);
        last = s_write (client, "REPLACE",
                        json_pack ("{s:s, s:s, s:{s:i}}", "Kind", "backend", "Identifier", id,
                                   "Object", "Port", 30000 + round));
        json_object_set_new (expected, id, json_integer (30000 + round));
        snprintf (id, sizeof id, "b%d-1", round);
        last = s_write (client, "DELETE",
                        json_pack ("{s:s, s:s}", "Kind", "backend", "Identifier", id));
        json_object_del (expected, id);

        //  One more write in flight, then SIGKILL at once
        char flying [32];
        snprintf (flying, sizeof flying, "flying-%d", round);
        json_t *body = json_pack ("{s:s, s:{s:s}}", "Kind", "backend", "Object", "Identifier",
                                  flying);
        ofp_msg_t *request = ofp_msg_new (&ofp_config_protocol, "CREATE", "flying", &body);
        ofp_msg_send (&request, client);
        it_stop (configd, SIGKILL);

        configd = it_start (&env, "ollamaflow-configd", NULL);
        pong = s_wait_configd (client);
        IT_ASSERT (streq (json_string_value (json_object_get (pong, "Epoch")), epoch),
                   "the epoch changed across a restart");
        int64_t now = json_integer_value (json_object_get (pong, "Sequence"));
        json_decref (pong);
        ofp_msg_t *reply = it_config_request (
            client, "GET", json_pack ("{s:s, s:s}", "Kind", "backend", "Identifier", flying),
            IT_TIMEOUT_MS);
        IT_ASSERT (reply, "GET was not answered");
        bool landed = ofp_msg_is (reply, "OBJECT");
        ofp_msg_destroy (&reply);
        //  All or nothing: the in-flight write either committed with its number, or not at all
        IT_ASSERT (now == last + (landed ? 1 : 0), "sequence %lld after restart, last ack %lld, "
                   "in-flight write %s", (long long) now, (long long) last,
                   landed ? "landed" : "lost");
        if (landed) {
            json_object_set_new (expected, flying, json_integer (11434));
            last = now;
        }

        //  Every acknowledged write is there, with its value
        reply = it_config_request (client, "LIST", json_pack ("{s:s}", "Kind", "backend"),
                                   IT_TIMEOUT_MS);
        IT_ASSERT (reply && ofp_msg_is (reply, "OBJECTS"), "LIST failed");
        json_t *objects = json_object_get (ofp_msg_body (reply), "Objects");
        IT_ASSERT (json_array_size (objects) == json_object_size (expected),
                   "round %d: %zu backends stored, %zu acknowledged", round,
                   json_array_size (objects), json_object_size (expected));
        size_t index;
        json_t *object;
        json_array_foreach (objects, index, object) {
            const char *id_stored = json_string_value (json_object_get (object, "Identifier"));
            json_t *port = json_object_get (expected, id_stored);
            IT_ASSERT (port && json_equal (port, json_object_get (object, "Port")),
                       "backend %s stored with the wrong port or not acknowledged", id_stored);
        }
        ofp_msg_destroy (&reply);
        printf ("round %d: %zu backends survived SIGKILL, sequence %lld\n", round,
                json_object_size (expected), (long long) last);
    }
    //  A clean stop on SIGTERM
    int status = it_stop (configd, SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "exit status %d", status);
    json_decref (expected);
    zsock_destroy (&client);
    it_env_cleanup (&env);
    return 0;
}

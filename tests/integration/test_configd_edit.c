/*  test_configd_edit - EDIT against the real configd: two clients adding
    entries to one frontend's RequiredModels at once, requests pipelined and
    interleaved, lose none (a GET, edit, REPLACE by each would); models are
    compared as models; an EDIT that changes nothing commits and publishes
    nothing; bad names, unknown objects and store rules are refused. */

#include "it_harness.h"

#define S_PER_CLIENT 60
#define S_QUIET_MS   500

//  Sends without waiting; the reply is read later by s_collect
static void
s_send_edit (zsock_t *client, const char *id, const char *side, const char *field,
             const char *value)
{
    json_t *body = json_pack ("{s:s, s:s, s:{s:[s]}}", "Kind", "frontend", "Identifier", "main",
                              side, field, value);
    ofp_msg_t *request = ofp_msg_new (&ofp_config_protocol, "EDIT", id, &body);
    IT_ASSERT (ofp_msg_send (&request, client) == 0, "send EDIT %s", id);
}

//  Reads count replies from client; each must be OBJECT
static void
s_collect (zsock_t *client, int count)
{
    zsock_set_rcvtimeo (client, IT_TIMEOUT_MS);
    for (int i = 0; i < count; i++) {
        ofp_msg_t *reply = ofp_msg_recv (&ofp_config_protocol, client);
        IT_ASSERT (reply && !ofp_msg_error (reply), "reply %d of %d missing", i, count);
        IT_ASSERT (ofp_msg_is (reply, "OBJECT"), "EDIT %s refused: %s", ofp_msg_id (reply),
                   json_string_value (json_object_get (ofp_msg_body (reply), "Message")));
        ofp_msg_destroy (&reply);
    }
}

static json_t *
s_required (zsock_t *client)
{
    ofp_msg_t *reply = it_config_request (
        client, "GET", json_pack ("{s:s, s:s}", "Kind", "frontend", "Identifier", "main"),
        IT_TIMEOUT_MS);
    IT_ASSERT (reply && ofp_msg_is (reply, "OBJECT"), "GET main failed");
    json_t *list = json_incref (
        json_object_get (json_object_get (ofp_msg_body (reply), "Object"), "RequiredModels"));
    ofp_msg_destroy (&reply);
    return list;
}

//  One request, answered: the reply's body (caller owns) and its command
static json_t *
s_ask (zsock_t *client, json_t *body, const char *expected)
{
    ofp_msg_t *reply = it_config_request (client, "EDIT", body, IT_TIMEOUT_MS);
    IT_ASSERT (reply, "EDIT not answered");
    IT_ASSERT (ofp_msg_is (reply, expected), "EDIT answered %s, not %s: %s",
               ofp_msg_command (reply), expected,
               json_string_value (json_object_get (ofp_msg_body (reply), "Message")));
    json_t *result = json_incref (ofp_msg_body (reply));
    ofp_msg_destroy (&reply);
    return result;
}

//  An EDIT of frontend adding "nowhere" to field (none when field is NULL)
//  is refused with status, and the message names what is wrong
static void
s_refused (zsock_t *client, const char *frontend, const char *field, int status,
           const char *named)
{
    json_t *request = json_pack ("{s:s, s:s}", "Kind", "frontend", "Identifier", frontend);
    if (field)
        json_object_set_new (request, "Add", json_pack ("{s:[s]}", field, "nowhere"));
    json_t *body = s_ask (client, request, "ERROR");
    const char *message = json_string_value (json_object_get (body, "Message"));
    IT_ASSERT (json_integer_value (json_object_get (body, "Status")) == status,
               "%s of %s: %s", field ? field : "no list", frontend, message);
    IT_ASSERT (strstr (message, named), "'%s' not named in: %s", named, message);
    json_decref (body);
}

//  UPDATEs that reach the subscriber within S_QUIET_MS (HEARTBEATs go on
//  coming, so the wait is a fixed one)
static int
s_updates (zsock_t *subscriber)
{
    int count = 0;
    zpoller_t *poller = zpoller_new (subscriber, NULL);
    int64_t deadline = zclock_mono () + S_QUIET_MS;
    while (zclock_mono () < deadline) {
        if (!zpoller_wait (poller, (int) (deadline - zclock_mono ()) + 1))
            continue;
        ofp_msg_t *msg = ofp_msg_recv (&ofp_config_protocol, subscriber);
        if (msg && ofp_msg_is (msg, "UPDATE"))
            count++;
        ofp_msg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return count;
}

int
main (void)
{
    it_env_t env;
    it_env_init (&env, "configd_edit",
                 "{\"Backends\": [{\"Identifier\": \"a\"}], \"Frontends\": [{\"Identifier\": "
                 "\"main\", \"Backends\": [\"a\"], \"RequiredModels\": [\"llama3:latest\"]}]}");
    zsock_t *first = it_config_client (&env);
    zsock_t *second = it_config_client (&env);
    zsock_t *subscriber = zsock_new_sub (env.config_publisher, OFP_CONFIG_SIGNATURE);
    pid_t configd = it_start (&env, "ollamaflow-configd", NULL);
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    ofp_msg_t *pong = NULL;
    while (!pong && zclock_mono () < deadline)
        pong = it_config_request (first, "PING", NULL, 200);
    IT_ASSERT (pong, "configd did not answer");
    ofp_msg_destroy (&pong);
    //  The subscriber is connected once a HEARTBEAT comes through
    zsock_set_rcvtimeo (subscriber, IT_TIMEOUT_MS);
    ofp_msg_t *heartbeat = NULL;
    while (!heartbeat) {
        heartbeat = ofp_msg_recv (&ofp_config_protocol, subscriber);
        IT_ASSERT (heartbeat, "no HEARTBEAT from configd");
        if (!ofp_msg_is (heartbeat, "HEARTBEAT"))
            ofp_msg_destroy (&heartbeat);
    }
    ofp_msg_destroy (&heartbeat);

    //  Both clients pipeline their adds, interleaved, before reading any reply
    for (int i = 0; i < S_PER_CLIENT; i++) {
        char id [32], model [32];
        snprintf (id, sizeof id, "first-%d", i);
        snprintf (model, sizeof model, "first%d", i);
        s_send_edit (first, id, "Add", "RequiredModels", model);
        snprintf (id, sizeof id, "second-%d", i);
        snprintf (model, sizeof model, "second%d:7b", i);
        s_send_edit (second, id, "Add", "RequiredModels", model);
    }
    s_collect (first, S_PER_CLIENT);
    s_collect (second, S_PER_CLIENT);
    json_t *list = s_required (first);
    IT_ASSERT (json_array_size (list) == 1 + 2 * S_PER_CLIENT, "%zu entries, %d expected",
               json_array_size (list), 1 + 2 * S_PER_CLIENT);
    json_decref (list);
    int updates = s_updates (subscriber);
    IT_ASSERT (updates == 2 * S_PER_CLIENT, "%d UPDATEs for %d changes", updates,
               2 * S_PER_CLIENT);

    //  The same model under another name: nothing changes, nothing is published
    ofp_msg_t *ping = it_config_request (first, "PING", NULL, IT_TIMEOUT_MS);
    json_int_t sequence = json_integer_value (json_object_get (ofp_msg_body (ping), "Sequence"));
    ofp_msg_destroy (&ping);
    json_t *body = s_ask (first,
                          json_pack ("{s:s, s:s, s:{s:[s, s]}}", "Kind", "frontend", "Identifier",
                                     "main", "Add", "RequiredModels", "LLAMA3", "first0:latest"),
                          "OBJECT");
    IT_ASSERT (json_integer_value (json_object_get (body, "Sequence")) == sequence,
               "an EDIT that changed nothing moved the sequence");
    json_decref (body);
    IT_ASSERT (s_updates (subscriber) == 0, "an EDIT that changed nothing was published");

    //  Removals by model: every second client's model, from both clients at once
    for (int i = 0; i < S_PER_CLIENT; i++) {
        char id [32], model [32];
        snprintf (id, sizeof id, "remove-%d", i);
        snprintf (model, sizeof model, "SECOND%d:7b", i);
        s_send_edit (i % 2 ? first : second, id, "Remove", "RequiredModels", model);
    }
    s_collect (first, S_PER_CLIENT / 2);
    s_collect (second, S_PER_CLIENT / 2);
    list = s_required (first);
    IT_ASSERT (json_array_size (list) == 1 + S_PER_CLIENT, "%zu entries after removals",
               json_array_size (list));
    json_decref (list);

    //  Refusals: no such list, no such frontend, a rule of the store, neither side
    s_refused (first, "main", "Hostname", 400, "Hostname");
    s_refused (first, "none", "RequiredModels", 404, "none");
    s_refused (first, "main", "Backends", 409, "nowhere");
    s_refused (first, "main", NULL, 400, "Add or Remove");

    int status = it_stop (configd, SIGTERM);
    IT_ASSERT (WIFEXITED (status) && WEXITSTATUS (status) == 0, "exit status %d", status);
    zsock_destroy (&subscriber);
    zsock_destroy (&first);
    zsock_destroy (&second);
    it_env_cleanup (&env);
    printf ("it_configd_edit: OK\n");
    return 0;
}

/*  test_clone_convergence - a subscriber started before configd, one that
    lives through a configd restart (and a new database), and a fresh one all
    converge to the same config as configd holds. */

#include "it_harness.h"

typedef struct {
    const char *name;
    of_clone_t *clone;
} s_subscriber_t;

//  Drives the clones until each holds configd's current state, or times out
static void
s_converge (s_subscriber_t *subs, size_t count, zsock_t *client, const char *stage)
{
    ofp_msg_t *state = NULL;
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    while (!state && zclock_mono () < deadline)
        state = it_config_request (client, "SNAPSHOT", NULL, 200);
    IT_ASSERT (state, "%s: configd does not answer", stage);
    json_t *truth = ofp_msg_body (state);
    const char *epoch = json_string_value (json_object_get (truth, "Epoch"));
    int64_t sequence = json_integer_value (json_object_get (truth, "Sequence"));

    zpoller_t *poller = zpoller_new (NULL);
    for (size_t i = 0; i < count; i++) {
        zpoller_add (poller, of_clone_subscriber (subs [i].clone));
        zpoller_add (poller, of_clone_requester (subs [i].clone));
    }
    size_t converged = 0;
    while (converged < count && zclock_mono () < deadline) {
        zpoller_wait (poller, 20);
        converged = 0;
        for (size_t i = 0; i < count; i++) {
            of_clone_tick (subs [i].clone);
            of_clone_t *clone = subs [i].clone;
            if (of_clone_ready (clone) && streq (of_clone_epoch (clone), epoch)
                && of_clone_sequence (clone) == sequence)
                converged++;
        }
    }
    zpoller_destroy (&poller);
    static const char *const keys [OF_KIND_COUNT] = {"Frontends", "Backends", "Keys"};
    for (size_t i = 0; i < count; i++) {
        of_clone_t *clone = subs [i].clone;
        IT_ASSERT (of_clone_ready (clone) && streq (of_clone_epoch (clone), epoch)
                       && of_clone_sequence (clone) == sequence,
                   "%s: subscriber %s is at %s/%lld, configd at %s/%lld", stage, subs [i].name,
                   of_clone_epoch (clone), (long long) of_clone_sequence (clone), epoch,
                   (long long) sequence);
        for (int kind = 0; kind < OF_KIND_COUNT; kind++) {
            json_t *list = json_object_get (truth, keys [kind]);
            json_t *copy = of_clone_objects (clone, (of_kind_t) kind);
            IT_ASSERT (json_object_size (copy) == json_array_size (list),
                       "%s: subscriber %s holds %zu %s, configd %zu", stage, subs [i].name,
                       json_object_size (copy), keys [kind], json_array_size (list));
            size_t index;
            json_t *object;
            json_array_foreach (list, index, object) {
                const char *id = json_string_value (json_object_get (object, "Identifier"));
                IT_ASSERT (json_equal (object, of_clone_get (clone, (of_kind_t) kind, id)),
                           "%s: subscriber %s differs on %s", stage, subs [i].name, id);
            }
        }
    }
    printf ("%s: %zu subscribers at %s/%lld\n", stage, count, epoch, (long long) sequence);
    ofp_msg_destroy (&state);
}

static void
s_write (zsock_t *client, const char *command, json_t *body)
{
    ofp_msg_t *reply = it_config_request (client, command, body, IT_TIMEOUT_MS);
    IT_ASSERT (reply && (ofp_msg_is (reply, "OBJECT") || ofp_msg_is (reply, "DELETED")),
               "%s failed", command);
    ofp_msg_destroy (&reply);
}

int
main (void)
{
    it_env_t env;
    it_env_init (&env, "convergence", "{\"Backends\": [{\"Identifier\": \"b1\"}],"
                                      " \"Frontends\": [{\"Identifier\": \"f1\", "
                                      "\"Backends\": [\"b1\"]}]}");
    int64_t liveness = 500;

    //  Started before configd exists
    s_subscriber_t subs [3] = {{"early", NULL}, {"survivor", NULL}, {"fresh", NULL}};
    subs [0].clone = of_clone_new (env.config_publisher, env.config_router, liveness);
    zsock_t *client = it_config_client (&env);
    zclock_sleep (300);
    IT_ASSERT (!of_clone_ready (subs [0].clone), "ready without configd");

    pid_t configd = it_start (&env, "ollamaflow-configd", NULL);
    s_converge (subs, 1, client, "after start");
    s_write (client, "CREATE", json_pack ("{s:s, s:{s:s, s:i}}", "Kind", "backend", "Object",
                                          "Identifier", "b2", "Port", 8001));
    s_write (client, "REPLACE", json_pack ("{s:s, s:s, s:{s:[s,s]}}", "Kind", "frontend",
                                           "Identifier", "f1", "Object", "Backends", "b1", "b2"));
    subs [1].clone = of_clone_new (env.config_publisher, env.config_router, liveness);
    s_converge (subs, 2, client, "after writes");

    //  configd dies; the copies keep what they have
    it_stop (configd, SIGKILL);
    zclock_sleep (2 * liveness);
    for (int i = 0; i < 2; i++) {
        of_clone_tick (subs [i].clone);
        IT_ASSERT (of_clone_ready (subs [i].clone) && !of_clone_alive (subs [i].clone),
                   "a copy must stay ready while configd is gone");
        IT_ASSERT (of_clone_get (subs [i].clone, OF_KIND_BACKEND, "b2"), "lost its copy");
    }
    configd = it_start (&env, "ollamaflow-configd", NULL);
    s_write (client, "CREATE", json_pack ("{s:s, s:{s:s}}", "Kind", "backend", "Object",
                                          "Identifier", "b3"));
    s_write (client, "REPLACE", json_pack ("{s:s, s:s, s:{s:[s]}}", "Kind", "frontend",
                                           "Identifier", "f1", "Object", "Backends", "b3"));
    s_write (client, "DELETE", json_pack ("{s:s, s:s}", "Kind", "backend", "Identifier", "b2"));
    subs [2].clone = of_clone_new (env.config_publisher, env.config_router, liveness);
    s_converge (subs, 3, client, "after a restart");

    //  A new database is a new epoch: everyone starts over from the seed
    it_stop (configd, SIGKILL);
    char command [1024];
    snprintf (command, sizeof command, "rm -f %s %s-wal %s-shm", env.database, env.database,
              env.database);
    IT_ASSERT (system (command) == 0, "rm");
    configd = it_start (&env, "ollamaflow-configd", NULL);
    s_converge (subs, 3, client, "after a new database");
    IT_ASSERT (!of_clone_get (subs [0].clone, OF_KIND_BACKEND, "b3"), "kept the old epoch");

    it_stop (configd, SIGTERM);
    for (int i = 0; i < 3; i++)
        of_clone_destroy (&subs [i].clone);
    zsock_destroy (&client);
    it_env_cleanup (&env);
    return 0;
}

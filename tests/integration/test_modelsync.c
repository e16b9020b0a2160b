/*  =========================================================================
    test_modelsync - modelsync's ROUTER and PUB against a simulated fleet

    Real configd, healthmon and modelsync binaries, an ollama-sim fleet of
    two Ollama backends (o1 pulls at once, o2 slowly) and an OpenAI-format
    one. A DEALER sends PULL-START and DELETE-MODEL as the ingress will and
    a SUB follows what modelsync publishes: malformed requests are answered
    (id "-" when the id is unreadable), unknown frontends 404, a frontend
    without an Ollama backend 409, a pull names its job in every PULL, a
    second job joins a pull running, the inventory listing a pulled model
    goes out before the pull's end, an unknown model ends in an error, jobs
    are bounded (Busy), and a delete reports each backend's status.
    =========================================================================
*/

#include "it_harness.h"
#include <signal.h>
#include <sys/wait.h>

#define S_QWEN       "qwen2.5:0.5b"
#define S_SLOW       "slow:1b"
#define S_CANCEL     "cancel:1b"
#define S_PULL_SIZE  200000000      //  at 50 MB/s: 4 s on o2
#define S_MAX_JOBS   2

typedef struct {
    zsock_t *dealer;
    zsock_t *sub;
    zpoller_t *poller;
    json_t *published;          //  [{"Command", "Body"}] in the order received
    json_t *state;              //  the last STATE's body
    unsigned ids;
} s_test_t;

//  Starts the simulator on the fleet; fills the ports of o1, o2, v
static pid_t
s_start_sim (it_env_t *env, int *ports)
{
    char fleet [600], ports_file [600];
    snprintf (fleet, sizeof fleet, "%s/fleet.json", env->dir);
    snprintf (ports_file, sizeof ports_file, "%s/ports.json", env->dir);
    FILE *file = fopen (fleet, "w");
    IT_ASSERT (file, "cannot write %s", fleet);
    fprintf (file,
             "{\"host\":\"127.0.0.1\",\"registry\":[{\"name\":\"%s\",\"size\":%d},"
             "{\"name\":\"%s\",\"size\":%d},{\"name\":\"%s\",\"size\":%d}],\"backends\":["
             "{\"name\":\"o1\",\"models\":[\"llama3.2\"],\"pull_bandwidth\":0},"
             "{\"name\":\"o2\",\"models\":[\"llama3.2\"],\"pull_bandwidth\":50000000},"
             "{\"name\":\"v\",\"api\":\"openai\",\"models\":[\"qwen2.5:7b\"]}]}",
             S_QWEN, S_PULL_SIZE, S_SLOW, S_PULL_SIZE, S_CANCEL, S_PULL_SIZE);
    fclose (file);
    char program [600];
    snprintf (program, sizeof program, "%s/ollama-sim", env->bin);
    pid_t pid = fork ();
    IT_ASSERT (pid >= 0, "fork: %s", strerror (errno));
    if (pid == 0) {
        setpgid (0, 0);
        if (!freopen ("/dev/null", "w", stdout))
            _exit (126);
        execl (program, "ollama-sim", "--fleet", fleet, "--ports-file", ports_file, (char *) NULL);
        _exit (127);
    }
    it_track (pid);
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    json_t *found = NULL;
    while (!found && zclock_mono () < deadline) {
        found = json_load_file (ports_file, 0, NULL);
        if (!found)
            zclock_sleep (20);
    }
    IT_ASSERT (found, "the simulator wrote no ports");
    for (int index = 0; index < 3; index++)
        ports [index] = (int) json_integer_value (
            json_object_get (json_array_get (json_object_get (found, "backends"), index), "port"));
    json_decref (found);
    return pid;
}

//  Takes what was published, for up to timeout_ms or until a message arrives
static void
s_pump (s_test_t *test, int timeout_ms)
{
    zsock_t *which = (zsock_t *) zpoller_wait (test->poller, timeout_ms);
    if (which != test->sub)
        return;
    ofp_msg_t *msg = ofp_msg_recv (&ofp_models_protocol, test->sub);
    IT_ASSERT (msg && !ofp_msg_error (msg), "published: %s", msg ? ofp_msg_error (msg) : "none");
    json_array_append_new (test->published,
                           json_pack ("{s:s, s:O}", "Command", ofp_msg_command (msg), "Body",
                                      ofp_msg_body (msg)));
    if (ofp_msg_is (msg, "STATE")) {
        json_decref (test->state);
        test->state = json_incref (ofp_msg_body (msg));
    }
    ofp_msg_destroy (&msg);
}

//  Sends a request (body JSON text) and waits for its reply, publishing aside
static ofp_msg_t *
s_request (s_test_t *test, const char *command, const char *body)
{
    char id [16];
    snprintf (id, sizeof id, "%u", ++test->ids);
    zmsg_t *zmsg = zmsg_new ();
    zmsg_addstr (zmsg, OFP_MODELS_SIGNATURE);
    zmsg_addstr (zmsg, command);
    zmsg_addstr (zmsg, id);
    zmsg_addstr (zmsg, body);
    zmsg_send (&zmsg, test->dealer);
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    while (zclock_mono () < deadline) {
        if (zsock_events (test->dealer) & ZMQ_POLLIN) {
            ofp_msg_t *reply = ofp_msg_recv (&ofp_models_protocol, test->dealer);
            IT_ASSERT (reply && !ofp_msg_error (reply), "reply: %s",
                       reply ? ofp_msg_error (reply) : "none");
            IT_ASSERT (streq (ofp_msg_id (reply), id), "reply to %s, not %s", ofp_msg_id (reply), id);
            return reply;
        }
        s_pump (test, 20);
    }
    IT_ASSERT (false, "no reply to %s", command);
    return NULL;
}

//  Asserts a reply: its command, and for ERROR its status and error name
static ofp_msg_t *
s_expect (s_test_t *test, const char *command, const char *body, const char *reply_command,
          int status, const char *error)
{
    ofp_msg_t *reply = s_request (test, command, body);
    char *text = ofp_msg_format (reply);
    IT_ASSERT (ofp_msg_is (reply, reply_command), "%s %s: %s", command, body, text);
    if (status)
        IT_ASSERT (json_integer_value (json_object_get (ofp_msg_body (reply), "Status")) == status
                   && streq (json_string_value (json_object_get (ofp_msg_body (reply), "Error")),
                             error), "%s %s: %s", command, body, text);
    zstr_free (&text);
    return reply;
}

//  The index of the first published message with the command whose body
//  has every field of match (JSON text), from index start; -1 if none yet
static int
s_find (s_test_t *test, const char *command, const char *match, size_t start)
{
    json_t *fields = json_loads (match, 0, NULL);
    assert (fields);
    int found = -1;
    for (size_t index = start; index < json_array_size (test->published) && found < 0; index++) {
        json_t *message = json_array_get (test->published, index);
        if (!streq (json_string_value (json_object_get (message, "Command")), command))
            continue;
        json_t *body = json_object_get (message, "Body");
        bool all = true;
        const char *name;
        json_t *value;
        json_object_foreach (fields, name, value)
            all &= json_equal (json_object_get (body, name), value);
        if (all)
            found = (int) index;
    }
    json_decref (fields);
    return found;
}

//  Waits for such a message; returns its index
static int
s_await (s_test_t *test, const char *command, const char *match)
{
    int64_t deadline = zclock_mono () + 3 * IT_TIMEOUT_MS;
    int found;
    while ((found = s_find (test, command, match, 0)) < 0 && zclock_mono () < deadline)
        s_pump (test, 50);
    IT_ASSERT (found >= 0, "no %s with %s", command, match);
    return found;
}

//  True if the last STATE shows the backend's inventory fetched, listing the model
static bool
s_listed (s_test_t *test, const char *backend, const char *model)
{
    size_t index;
    json_t *inventory;
    json_array_foreach (json_object_get (test->state, "Inventories"), index, inventory) {
        if (!streq (json_string_value (json_object_get (inventory, "Backend")), backend)
            || !json_object_get (inventory, "FetchedUtc"))
            continue;
        size_t position;
        json_t *entry;
        json_array_foreach (json_object_get (inventory, "Models"), position, entry)
            if (streq (json_string_value (json_object_get (entry, "Name")), model))
                return true;
    }
    return false;
}

static const char *
s_job (ofp_msg_t *accepted)
{
    return json_string_value (json_object_get (ofp_msg_body (accepted), "Job"));
}

int
main (void)
{
    it_env_t env;
    it_env_init (&env, "modelsync", NULL);
    int ports [3];
    pid_t sim = s_start_sim (&env, ports);

    char extra [2048];
    snprintf (extra, sizeof extra,
              "{\"Health\":{\"IntervalMs\":200},\"Models\":{\"IntervalMs\":300,\"MaxJobs\":%d},"
              "\"Backends\":["
              "{\"Identifier\":\"o1\",\"Hostname\":\"127.0.0.1\",\"Port\":%d,\"HealthyThreshold\":1},"
              "{\"Identifier\":\"o2\",\"Hostname\":\"127.0.0.1\",\"Port\":%d,\"HealthyThreshold\":1},"
              "{\"Identifier\":\"v\",\"Hostname\":\"127.0.0.1\",\"Port\":%d,\"HealthyThreshold\":1,"
              "\"ApiFormat\":\"OpenAI\",\"HealthCheckUrl\":\"/health\"}],"
              "\"Frontends\":[{\"Identifier\":\"f1\",\"Backends\":[\"o1\",\"o2\",\"v\"]},"
              "{\"Identifier\":\"openai\",\"Hostname\":\"v.local\",\"Backends\":[\"v\"]}]}",
              S_MAX_JOBS, ports [0], ports [1], ports [2]);
    //  The fleet's ports are known now: into the settings
    json_t *settings = json_load_file (env.settings, 0, NULL);
    json_t *more = json_loads (extra, 0, NULL);
    IT_ASSERT (settings && more, "settings");
    json_object_update (settings, more);
    IT_ASSERT (json_dump_file (settings, env.settings, JSON_INDENT (2)) == 0, "write settings");
    json_decref (settings);
    json_decref (more);

    s_test_t test = {.published = json_array ()};
    test.sub = zsock_new_sub (env.models_publisher, OFP_MODELS_SIGNATURE);
    test.dealer = zsock_new_dealer (env.models_router);
    IT_ASSERT (test.sub && test.dealer, "cannot reach modelsync's sockets");
    test.poller = zpoller_new (test.sub, NULL);
    pid_t configd = it_start (&env, "ollamaflow-configd", NULL);
    pid_t healthmon = it_start (&env, "ollamaflow-healthmon", NULL);
    pid_t modelsync = it_start (&env, "ollamaflow-modelsync", NULL);

    //  Every inventory fetched, as each simulated backend lists it
    int64_t deadline = zclock_mono () + 3 * IT_TIMEOUT_MS;
    while (!(s_listed (&test, "o1", "llama3.2:latest") && s_listed (&test, "o2", "llama3.2:latest")
             && s_listed (&test, "v", "qwen2.5:7b"))
           && zclock_mono () < deadline)
        s_pump (&test, 50);
    IT_ASSERT (s_listed (&test, "v", "qwen2.5:7b"), "the inventories were not fetched");

    //  Malformed requests: an unreadable id is answered "-"
    zmsg_t *zmsg = zmsg_new ();
    zmsg_addstr (zmsg, OFP_MODELS_SIGNATURE);
    zmsg_addstr (zmsg, "PULL-START");
    zmsg_send (&zmsg, test.dealer);
    zpoller_t *replies = zpoller_new (test.dealer, NULL);
    IT_ASSERT (zpoller_wait (replies, IT_TIMEOUT_MS) == test.dealer, "no answer to a bad request");
    zpoller_destroy (&replies);
    ofp_msg_t *reply = ofp_msg_recv (&ofp_models_protocol, test.dealer);
    IT_ASSERT (ofp_msg_is (reply, "ERROR") && streq (ofp_msg_id (reply), "-"), "not ERROR -");
    ofp_msg_destroy (&reply);
    reply = s_expect (&test, "PULL-START", "{\"Frontend\":\"f1\"}", "ERROR", 400, "BadRequest");
    ofp_msg_destroy (&reply);
    reply = s_expect (&test, "DELETED", "{\"Frontend\":\"f1\",\"Model\":\"m\",\"Results\":[]}",
                      "ERROR", 400, "BadRequest");
    ofp_msg_destroy (&reply);
    reply = s_expect (&test, "PULL-START", "{\"Frontend\":\"nope\",\"Model\":\"m\"}", "ERROR", 404,
                      "NotFound");
    ofp_msg_destroy (&reply);
    reply = s_expect (&test, "DELETE-MODEL", "{\"Frontend\":\"openai\",\"Model\":\"m\"}", "ERROR",
                      409, "NoOllamaBackend");
    ofp_msg_destroy (&reply);

    //  A pull on both Ollama backends; the OpenAI one is skipped
    ofp_msg_t *first = s_expect (&test, "PULL-START", "{\"Frontend\":\"f1\",\"Model\":\"" S_QWEN "\"}",
                                 "ACCEPTED", 0, NULL);
    json_t *body = ofp_msg_body (first);
    IT_ASSERT (json_array_size (json_object_get (body, "Backends")) == 2
               && streq (json_string_value (json_array_get (json_object_get (body, "Skipped"), 0)), "v"),
               "backends or skipped wrong");
    //  o1 ends first: the inventory listing the model goes out before the end
    char match [512];
    snprintf (match, sizeof match, "{\"Backend\":\"o1\",\"Job\":\"%s\",\"Done\":true,"
              "\"Status\":\"success\"}", s_job (first));
    int end = s_await (&test, "PULL", match);
    int listed = -1;
    for (int index = 0; index < end && listed < 0; index++) {
        json_t *message = json_array_get (test.published, (size_t) index);
        json_t *inventory = json_object_get (message, "Body");
        if (!streq (json_string_value (json_object_get (message, "Command")), "INVENTORY")
            || !streq (json_string_value (json_object_get (inventory, "Backend")), "o1"))
            continue;
        size_t position;
        json_t *entry;
        json_array_foreach (json_object_get (inventory, "Models"), position, entry)
            if (streq (json_string_value (json_object_get (entry, "Name")), S_QWEN))
                listed = index;
    }
    IT_ASSERT (listed >= 0, "no INVENTORY of o1 with the model before its PULL Done");
    snprintf (match, sizeof match, "{\"Backend\":\"o2\",\"Job\":\"%s\",\"Done\":false}", s_job (first));
    s_await (&test, "PULL", match);
    snprintf (match, sizeof match, "{\"Backend\":\"o2\",\"Job\":\"%s\",\"Done\":true}", s_job (first));
    IT_ASSERT (s_find (&test, "PULL", match, 0) < 0, "o2's pull is over already");
    //  A second job joins the pull still running on o2; a third pulls another model
    ofp_msg_t *second = s_expect (&test, "PULL-START", "{\"Frontend\":\"f1\",\"Model\":\"" S_QWEN
                                  "\",\"Backends\":[\"o2\",\"v\",\"x\"]}", "ACCEPTED", 0, NULL);
    body = ofp_msg_body (second);
    IT_ASSERT (json_array_size (json_object_get (body, "Backends")) == 1
               && json_array_size (json_object_get (body, "Skipped")) == 2, "subset wrong");
    ofp_msg_t *third = s_expect (&test, "PULL-START", "{\"Frontend\":\"f1\",\"Model\":\"" S_SLOW
                                 "\",\"Backends\":[\"o2\"]}", "ACCEPTED", 0, NULL);
    //  Two jobs run: the next is refused
    reply = s_expect (&test, "PULL-START", "{\"Frontend\":\"f1\",\"Model\":\"other\"}", "ERROR", 503,
                      "Busy");
    ofp_msg_destroy (&reply);

    //  o2's pull ends under the newest job, and the other model's too
    snprintf (match, sizeof match, "{\"Backend\":\"o2\",\"Model\":\"" S_QWEN "\",\"Job\":\"%s\","
              "\"Done\":true,\"Status\":\"success\"}", s_job (second));
    s_await (&test, "PULL", match);
    snprintf (match, sizeof match, "{\"Backend\":\"o2\",\"Job\":\"%s\",\"Done\":true,"
              "\"Status\":\"success\"}", s_job (third));
    s_await (&test, "PULL", match);
    snprintf (match, sizeof match, "{\"Backend\":\"o2\",\"Job\":\"%s\",\"Done\":true}",
              s_job (first));
    IT_ASSERT (s_find (&test, "PULL", match, 0) < 0, "o2 ended under the job it left");
    ofp_msg_destroy (&first);
    ofp_msg_destroy (&second);
    ofp_msg_destroy (&third);

    //  A model already there is reported at once; an unknown one fails
    ofp_msg_t *again = s_expect (&test, "PULL-START", "{\"Frontend\":\"f1\",\"Model\":\"" S_QWEN "\","
                                 "\"Backends\":[\"o1\"]}", "ACCEPTED", 0, NULL);
    snprintf (match, sizeof match, "{\"Backend\":\"o1\",\"Job\":\"%s\",\"Done\":true,"
              "\"Status\":\"success\"}", s_job (again));
    s_await (&test, "PULL", match);
    ofp_msg_destroy (&again);
    ofp_msg_t *unknown = s_expect (&test, "PULL-START", "{\"Frontend\":\"f1\",\"Model\":\"nope\","
                                   "\"Backends\":[\"o1\"]}", "ACCEPTED", 0, NULL);
    snprintf (match, sizeof match, "{\"Backend\":\"o1\",\"Job\":\"%s\",\"Done\":true,"
              "\"Error\":\"pull model manifest: file does not exist\"}", s_job (unknown));
    s_await (&test, "PULL", match);
    ofp_msg_destroy (&unknown);

    //  Delete on every Ollama backend, then once more: 404 from each
    reply = s_expect (&test, "DELETE-MODEL", "{\"Frontend\":\"f1\",\"Model\":\"" S_QWEN "\"}",
                      "DELETED", 0, NULL);
    json_t *results = json_object_get (ofp_msg_body (reply), "Results");
    IT_ASSERT (json_array_size (results) == 2, "%zu results", json_array_size (results));
    for (size_t index = 0; index < 2; index++)
        IT_ASSERT (json_integer_value (json_object_get (json_array_get (results, index), "Status"))
                   == 200, "a delete failed");
    ofp_msg_destroy (&reply);
    reply = s_expect (&test, "DELETE-MODEL", "{\"Frontend\":\"f1\",\"Model\":\"" S_QWEN "\"}",
                      "DELETED", 0, NULL);
    results = json_object_get (ofp_msg_body (reply), "Results");
    json_t *result = json_array_get (results, 0);
    IT_ASSERT (json_integer_value (json_object_get (result, "Status")) == 404
               && streq (json_string_value (json_object_get (result, "Error")),
                         "model '" S_QWEN "' not found"), "second delete not 404");
    ofp_msg_destroy (&reply);
    //  The inventories follow
    deadline = zclock_mono () + IT_TIMEOUT_MS;
    while ((s_listed (&test, "o1", S_QWEN) || s_listed (&test, "o2", S_QWEN))
           && zclock_mono () < deadline)
        s_pump (&test, 50);
    IT_ASSERT (!s_listed (&test, "o1", S_QWEN) && !s_listed (&test, "o2", S_QWEN),
               "a deleted model is still listed");

    //  A delete cancels a pull of the model still running
    ofp_msg_t *cancelled = s_expect (&test, "PULL-START", "{\"Frontend\":\"f1\",\"Model\":\""
                                     S_CANCEL "\",\"Backends\":[\"o2\"]}", "ACCEPTED", 0, NULL);
    snprintf (match, sizeof match, "{\"Backend\":\"o2\",\"Job\":\"%s\",\"Done\":false,"
              "\"Total\":%d}", s_job (cancelled), S_PULL_SIZE);
    s_await (&test, "PULL", match);
    reply = s_expect (&test, "DELETE-MODEL", "{\"Frontend\":\"f1\",\"Model\":\"" S_CANCEL "\"}",
                      "DELETED", 0, NULL);
    ofp_msg_destroy (&reply);
    snprintf (match, sizeof match, "{\"Backend\":\"o2\",\"Job\":\"%s\",\"Done\":true,"
              "\"Error\":\"cancelled: the model was deleted\"}", s_job (cancelled));
    s_await (&test, "PULL", match);
    ofp_msg_destroy (&cancelled);
    zclock_sleep (500);
    s_pump (&test, 100);
    IT_ASSERT (!s_listed (&test, "o2", S_CANCEL), "a cancelled pull finished anyway");

    it_stop (modelsync, SIGTERM);
    it_stop (healthmon, SIGTERM);
    it_stop (configd, SIGTERM);
    it_stop (sim, SIGTERM);
    zpoller_destroy (&test.poller);
    zsock_destroy (&test.sub);
    zsock_destroy (&test.dealer);
    json_decref (test.published);
    json_decref (test.state);
    it_env_cleanup (&env);
    return 0;
}

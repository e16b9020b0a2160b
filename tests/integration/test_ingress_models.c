/*  =========================================================================
    test_ingress_models - the ingress's model routes against the models
    protocol, message by message

    Real configd and ingress binaries; the test itself plays healthmon's and
    modelsync's side of the bus exactly as proto/health.md and
    proto/models.md specify it (a scripted peer: PUBs and modelsync's
    ROUTER), so that every case of the protocol can be provoked on purpose:
    merged progress, an end missed among the PULLs and read from STATE, a
    joined job, failures, refusals, and modelsync falling silent. The same
    routes against the real modelsync and simulated backends are the e2e
    tests (tests/node/e2e/models.test.mjs).
    =========================================================================
*/

#include "it_harness.h"

#define S_REPLY_MAX     65536
#define S_TICK_MS       100
#define S_STEP_MS       20
#define S_EPOCH         "00000000000000e1"
#define S_DIGEST        "sha256:6a0746a1ec1aa0746a1ec1aa0746a1ec1aa0746a1ec1aa0746a1ec1a0001"

//  The bus endpoints the peer binds (modelsync's router is not in it_env_t)
typedef struct {
    it_env_t *env;
    char models_router [300];
} s_peer_args_t;

typedef struct {
    zsock_t *health;
    zsock_t *models;
    zsock_t *router;
    int64_t health_sequence;
    int64_t models_sequence;
    json_t *pulls;              //  what STATE's Pulls carry: ends kept, as modelsync keeps them
} s_peer_t;

//  Publishes on modelsync's PUB (models true) or healthmon's
static void
s_publish (s_peer_t *self, bool models, const char *command, json_t *body)
{
    json_object_set_new (body, "Epoch", json_string (S_EPOCH));
    json_object_set_new (body, "Sequence", json_integer (models ? ++self->models_sequence
                                                                : ++self->health_sequence));
    ofp_msg_t *msg = ofp_msg_new (models ? &ofp_models_protocol : &ofp_health_protocol, command,
                                  NULL, &body);
    ofp_msg_send (&msg, models ? self->models : self->health);
}

static void
s_publish_states (s_peer_t *self)
{
    json_t *backends = json_array ();
    const char *names [] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        json_array_append_new (backends,
                               json_pack ("{s:s, s:s, s:s, s:s, s:i, s:i}", "Backend", names [i],
                                          "State", "Healthy", "Since",
                                          "2026-01-01T00:00:00.000000Z", "Reason", "HTTP 200",
                                          "ConsecutiveSuccesses", 1, "ConsecutiveFailures", 0));
    s_publish (self, false, "STATE",
               json_pack ("{s:i, s:o}", "IntervalMs", 100, "Backends", backends));
    const char *inventories =
        "[{\"Backend\":\"a\",\"ApiFormat\":\"Ollama\",\"Models\":["
        "  {\"Name\":\"llama3.2:latest\",\"Model\":\"llama3.2:latest\",\"Digest\":\"d1\","
        "   \"Size\":2019393189,\"ModifiedAt\":\"2025-05-04T17:37:44.706015396-07:00\","
        "   \"Details\":{\"Family\":\"llama\",\"ParameterSize\":\"3.2B\"}},"
        "  {\"Name\":\"all-minilm:latest\",\"Model\":\"all-minilm:latest\",\"Digest\":\"d2\","
        "   \"Details\":{}}],\"Loaded\":[]},"
        " {\"Backend\":\"b\",\"ApiFormat\":\"Ollama\",\"Models\":["
        "  {\"Name\":\"llama3.2:latest\",\"Model\":\"llama3.2:latest\",\"Digest\":\"d9\","
        "   \"ModifiedAt\":\"2024-01-01T00:00:00Z\",\"Details\":{}},"
        "  {\"Name\":\"qwen2.5:0.5b\",\"Model\":\"qwen2.5:0.5b\",\"Digest\":\"d3\","
        "   \"Details\":{}}],"
        " \"Loaded\":[{\"Name\":\"qwen2.5:0.5b\",\"ExpiresAt\":\"2026-01-01T00:05:00Z\","
        "   \"SizeVram\":400}]},"
        " {\"Backend\":\"c\",\"ApiFormat\":\"Ollama\",\"Models\":["
        "  {\"Name\":\"gemma:2b\",\"Model\":\"gemma:2b\",\"Digest\":\"d4\",\"Details\":{}}],"
        " \"Loaded\":[]}]";
    s_publish (self, true, "STATE",
               json_pack ("{s:o, s:O}", "Inventories", json_loads (inventories, 0, NULL), "Pulls",
                          self->pulls));
}

//  One PULL message; with keep, also what STATE's Pulls say from now on
static void
s_pull (s_peer_t *self, const char *backend, const char *model, const char *job,
        const char *status, json_int_t completed, const char *error, bool done, bool keep)
{
    json_t *record = json_pack ("{s:s, s:s, s:s, s:s, s:b}", "Backend", backend, "Model", model,
                                "Job", job, "Status", status, "Done", done);
    if (completed >= 0)
        json_object_update_new (record, json_pack ("{s:s, s:I, s:I}", "Digest", S_DIGEST,
                                                   "Completed", completed, "Total",
                                                   (json_int_t) 100));
    if (error)
        json_object_set_new (record, "Error", json_string (error));
    if (keep)
        json_array_append_new (self->pulls, record);
    else
        s_publish (self, true, "PULL", record);
    zclock_sleep (S_STEP_MS);
}

static void
s_accept (s_peer_t *self, ofp_msg_t *request, const char *job)
{
    json_t *body = json_pack ("{s:s, s:O, s:O, s:[s, s], s:[]}", "Job", job, "Frontend",
                              json_object_get (ofp_msg_body (request), "Frontend"), "Model",
                              json_object_get (ofp_msg_body (request), "Model"), "Backends", "a",
                              "b", "Skipped");
    ofp_msg_t *reply = ofp_msg_reply (request, "ACCEPTED", &body);
    ofp_msg_send (&reply, self->router);
    zclock_sleep (S_STEP_MS);
}

//  The scripts, by model name
static void
s_on_pull_start (s_peer_t *self, ofp_msg_t *request)
{
    const char *model = json_string_value (json_object_get (ofp_msg_body (request), "Model"));
    if (streq (model, "busy")) {
        ofp_msg_t *reply = ofp_msg_reply_error (request, 503, "Busy", "too many jobs");
        ofp_msg_send (&reply, self->router);
    }
    else if (streq (model, "llama3")) {
        s_accept (self, request, "j1");
        s_pull (self, "a", model, "j1", "pulling manifest", -1, NULL, false, false);
        s_pull (self, "a", model, "j1", "pulling 6a0746a1ec1a", 30, NULL, false, false);
        s_pull (self, "b", model, "j1", "pulling 6a0746a1ec1a", 10, NULL, false, false);
        s_pull (self, "a", model, "j1", "pulling 6a0746a1ec1a", 100, NULL, false, false);
        s_pull (self, "b", model, "j1", "pulling 6a0746a1ec1a", 100, NULL, false, false);
        s_pull (self, "a", model, "j1", "verifying sha256 digest", -1, NULL, false, false);
        s_pull (self, "b", model, "j1", "verifying sha256 digest", -1, NULL, false, false);
        s_pull (self, "a", model, "j1", "writing manifest", -1, NULL, false, false);
        s_pull (self, "b", model, "j1", "writing manifest", -1, NULL, false, false);
        s_pull (self, "a", model, "j1", "success", -1, NULL, true, false);
        s_pull (self, "b", model, "j1", "success", -1, NULL, true, false);
    }
    else if (streq (model, "missed")) {
        //  b's end is lost among the PULLs: only STATE tells it
        s_accept (self, request, "j2");
        s_pull (self, "a", model, "j2", "success", -1, NULL, true, false);
        s_pull (self, "b", model, "j2", "success", -1, NULL, true, true);
    }
    else if (streq (model, "broken")) {
        s_accept (self, request, "j3");
        s_pull (self, "a", model, "j3", "pulling manifest", -1,
                "pull model manifest: file does not exist", true, false);
        s_pull (self, "b", model, "j3", "success", -1, NULL, true, false);
    }
    else if (streq (model, "early")) {
        //  The records overtake the reply (PUB and ROUTER are two connections)
        s_pull (self, "a", model, "j6", "success", -1, NULL, true, false);
        s_pull (self, "b", model, "j6", "success", -1, NULL, true, false);
        s_accept (self, request, "j6");
    }
    else if (streq (model, "joined")) {
        //  Another client's PULL-START joined ours: its Job is on the PULLs now
        s_accept (self, request, "j4");
        s_pull (self, "a", model, "j4", "pulling 6a0746a1ec1a", 50, NULL, false, false);
        s_pull (self, "a", model, "j5", "success", -1, NULL, true, false);
        s_pull (self, "b", model, "j5", "success", -1, NULL, true, false);
    }
}

static void
s_on_delete (s_peer_t *self, ofp_msg_t *request)
{
    const char *model = json_string_value (json_object_get (ofp_msg_body (request), "Model"));
    //  nowhere: no backend had it; broken: b could not be reached; else a had it
    const char *results =
        streq (model, "nowhere")
            ? "[{\"Backend\":\"a\",\"Status\":404},{\"Backend\":\"b\",\"Status\":404}]"
        : streq (model, "broken")
            ? "[{\"Backend\":\"a\",\"Status\":200},{\"Backend\":\"b\",\"Status\":0,"
              "\"Error\":\"connect: Connection refused\"}]"
            : "[{\"Backend\":\"a\",\"Status\":200},{\"Backend\":\"b\",\"Status\":404}]";
    json_t *body = json_pack ("{s:O, s:s, s:o}", "Frontend",
                              json_object_get (ofp_msg_body (request), "Frontend"), "Model", model,
                              "Results", json_loads (results, 0, NULL));
    ofp_msg_t *reply = ofp_msg_reply (request, "DELETED", &body);
    ofp_msg_send (&reply, self->router);
}

static void
s_peer_actor (zsock_t *pipe, void *args)
{
    s_peer_args_t *peer = (s_peer_args_t *) args;
    s_peer_t self = {0};
    self.health = zsock_new_pub (peer->env->health_publisher);
    self.models = zsock_new_pub (peer->env->models_publisher);
    self.router = zsock_new_router (peer->models_router);
    self.pulls = json_array ();
    IT_ASSERT (self.health && self.models && self.router, "cannot bind the peer's sockets");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, self.router, NULL);
    int64_t next = zclock_mono ();
    while (true) {
        if (zclock_mono () >= next) {
            s_publish_states (&self);
            next = zclock_mono () + S_TICK_MS;
        }
        zsock_t *which = (zsock_t *) zpoller_wait (poller, (int) (next - zclock_mono ()) + 1);
        if (which == pipe)
            break;
        if (which != self.router)
            continue;
        ofp_msg_t *request = ofp_msg_recv (&ofp_models_protocol, self.router);
        IT_ASSERT (request && !ofp_msg_error (request), "a malformed request from the ingress");
        if (ofp_msg_is (request, "PULL-START"))
            s_on_pull_start (&self, request);
        else if (ofp_msg_is (request, "DELETE-MODEL"))
            s_on_delete (&self, request);
        ofp_msg_destroy (&request);
    }
    zpoller_destroy (&poller);
    json_decref (self.pulls);
    zsock_destroy (&self.router);
    zsock_destroy (&self.models);
    zsock_destroy (&self.health);
}

//  --------------------------------------------------------------------------
//  Checks

static const char *
s_body (const char *reply)
{
    const char *body = strstr (reply, "\r\n\r\n");
    return body ? body + 4 : "";
}

//  The frontend's RequiredModels, as configd has them
static char *
s_required (zsock_t *config)
{
    ofp_msg_t *reply = it_config_request (
        config, "GET", json_pack ("{s:s, s:s}", "Kind", "frontend", "Identifier", "main"),
        IT_TIMEOUT_MS);
    IT_ASSERT (reply && ofp_msg_is (reply, "OBJECT"), "GET frontend main");
    char *text = json_dumps (json_object_get (json_object_get (ofp_msg_body (reply), "Object"),
                                              "RequiredModels"),
                             JSON_COMPACT);
    ofp_msg_destroy (&reply);
    return text;
}

static void
s_expect (int port, const char *method, const char *host, const char *path, const char *body,
          int status, const char *fragment, char *reply)
{
    int got = it_http (port, method, host, path, body, reply, S_REPLY_MAX);
    IT_ASSERT (got == status, "%s %s: %d, not %d:\n%s", method, path, got, status, reply);
    IT_ASSERT (!fragment || strstr (reply, fragment), "%s %s: no '%s' in:\n%s", method, path,
               fragment, reply);
}

int
main (void)
{
    zsys_init ();
    it_env_t env;
    it_env_init (&env, "ingress-models",
                 "{\"AdminBearerTokens\":[\"admin-token\"],\"Backends\":["
                 "{\"Identifier\":\"a\",\"Hostname\":\"127.0.0.1\",\"Port\":9},"
                 "{\"Identifier\":\"b\",\"Hostname\":\"127.0.0.1\",\"Port\":9},"
                 "{\"Identifier\":\"c\",\"Hostname\":\"127.0.0.1\",\"Port\":9}],"
                 "\"Frontends\":["
                 "{\"Identifier\":\"main\",\"Hostname\":\"*\",\"Backends\":[\"a\",\"b\"],"
                 "\"RequiredModels\":[\"all-minilm\"]},"
                 "{\"Identifier\":\"other\",\"Hostname\":\"other.local\",\"Backends\":[\"c\"]}]}");
    s_peer_args_t args = {&env, ""};
    snprintf (args.models_router, sizeof args.models_router, "ipc://%s/models-router", env.dir);
    char router_variable [340], port_variable [32];
    snprintf (router_variable, sizeof router_variable, "OLLAMAFLOW_MODELS_ROUTER=%s",
              args.models_router);
    int port = it_free_port ();
    snprintf (port_variable, sizeof port_variable, "OLLAMAFLOW_PORT=%d", port);
    const char *environment [] = {router_variable, port_variable, NULL};

    zactor_t *peer = zactor_new (s_peer_actor, &args);
    pid_t configd = it_start (&env, "ollamaflow-configd", NULL);
    pid_t ingress = it_start (&env, "ollamaflow-ingress", environment);
    zsock_t *config = it_config_client (&env);
    char *reply = (char *) malloc (S_REPLY_MAX);
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    while (it_http_get (port, "/api/tags", reply, S_REPLY_MAX) != 200
           || !strstr (reply, "llama3.2"))
        IT_ASSERT (zclock_mono () < deadline, "the ingress never listed models:\n%s", reply);

    //  Listings: the frontend's backends only, one entry per name, though a
    //  and b hold llama3.2 with different digests: a's, the newer
    s_expect (port, "GET", "localhost", "/api/tags", NULL, 200, "\"details\":{\"family\":\"llama\"",
              reply);
    IT_ASSERT (!strstr (reply, "gemma") && strstr (reply, "qwen2.5:0.5b"), "%s", reply);
    const char *first = strstr (reply, "\"name\":\"llama3.2:latest\"");
    IT_ASSERT (first && !strstr (first + 1, "\"name\":\"llama3.2:latest\""),
               "llama3.2 not listed once: %s", reply);
    IT_ASSERT (strstr (reply, "\"digest\":\"d1\"") && !strstr (reply, "\"d9\""),
               "not the newer digest: %s", reply);
    s_expect (port, "GET", "localhost", "/v1/models", NULL, 200, "\"id\":\"llama3.2:latest\"", reply);
    first = strstr (reply, "\"id\":\"llama3.2:latest\"");
    IT_ASSERT (!strstr (first + 1, "\"id\":\"llama3.2:latest\""), "listed twice: %s", reply);
    //  The drift shows where an operator looks: which backend holds which digest
    IT_ASSERT (it_http_bearer (port, "/v1.0/frontends/main/models", "admin-token", reply,
                               S_REPLY_MAX) == 200, "%s", reply);
    json_t *view = json_loads (s_body (reply), 0, NULL);
    IT_ASSERT (view, "not JSON: %s", reply);
    json_t *models = json_loads (
        "[{\"Name\":\"all-minilm:latest\",\"Backends\":[\"a\"],\"LoadedOn\":[],"
        "  \"Digests\":[{\"Digest\":\"d2\",\"Backends\":[\"a\"]}],\"DigestDrift\":false},"
        " {\"Name\":\"llama3.2:latest\",\"Backends\":[\"a\",\"b\"],\"LoadedOn\":[],"
        "  \"Digests\":[{\"Digest\":\"d1\",\"Backends\":[\"a\"]},"
        "               {\"Digest\":\"d9\",\"Backends\":[\"b\"]}],\"DigestDrift\":true},"
        " {\"Name\":\"qwen2.5:0.5b\",\"Backends\":[\"b\"],\"LoadedOn\":[\"b\"],"
        "  \"Digests\":[{\"Digest\":\"d3\",\"Backends\":[\"b\"]}],\"DigestDrift\":false}]",
        0, NULL);
    IT_ASSERT (models && json_equal (json_object_get (view, "Models"), models),
               "no digest drift shown: %s", reply);
    json_decref (models);
    json_decref (view);
    s_expect (port, "GET", "other.local", "/api/tags", NULL, 200, "gemma:2b", reply);
    IT_ASSERT (!strstr (reply, "llama3.2"), "%s", reply);
    s_expect (port, "GET", "localhost", "/api/ps", NULL, 200, "\"size_vram\":400", reply);
    s_expect (port, "GET", "localhost", "/v1/models", NULL, 200, "\"owned_by\":\"library\"", reply);
    s_expect (port, "GET", "localhost", "/v1/models/llama3.2", NULL, 200,
              "{\"id\":\"llama3.2\",\"object\":\"model\",\"created\":1746405464", reply);
    s_expect (port, "GET", "localhost", "/v1/models/gemma%3A2b", NULL, 404,
              "{\"error\":{\"message\":\"model 'gemma:2b' not found\",\"type\":\"not_found_error\"",
              reply);
    s_expect (port, "HEAD", "localhost", "/api/version", NULL, 200, "Content-Length: 20", reply);
    s_expect (port, "GET", "nobody.example", "/api/version", NULL, 200, "{\"version\":\"0.13.0\"}",
              reply);

    //  A pull: RequiredModels first, then one merged stream
    s_expect (port, "POST", "localhost", "/api/pull", "{\"name\":\"llama3\"}", 200,
              "X-OllamaFlow-Pull-Job: j1", reply);
    const char *layer = "{\"status\":\"pulling 6a0746a1ec1a\",\"digest\":\"" S_DIGEST "\","
                        "\"total\":200,\"completed\":";
    char expected [4096];
    snprintf (expected, sizeof expected,
              "{\"status\":\"pulling manifest\"}\n%s30}\n%s40}\n%s110}\n%s200}\n"
              "{\"status\":\"verifying sha256 digest\"}\n{\"status\":\"writing manifest\"}\n"
              "{\"status\":\"success\"}\n", layer, layer, layer, layer);
    char *stream = strdup (s_body (reply));
    //  Chunked: take the lines out of the chunk framing
    char joined [S_REPLY_MAX] = "";
    for (char *line = strtok (stream, "\r\n"); line; line = strtok (NULL, "\r\n"))
        if (*line == '{')
            snprintf (joined + strlen (joined), sizeof joined - strlen (joined), "%s\n", line);
    free (stream);
    IT_ASSERT (streq (joined, expected), "merged stream:\n%s", joined);
    char *required = s_required (config);
    IT_ASSERT (streq (required, "[\"all-minilm\",\"llama3\"]"), "%s", required);
    free (required);

    //  An end missed among the PULLs is read from STATE
    s_expect (port, "POST", "localhost", "/api/pull", "{\"model\":\"missed\",\"stream\":false}",
              200, "{\"status\":\"success\"}", reply);
    //  Records that overtook the ACCEPTED are not lost (nor kept in STATE here)
    s_expect (port, "POST", "localhost", "/api/pull", "{\"model\":\"early\",\"stream\":false}",
              200, "{\"status\":\"success\"}", reply);
    //  A joined job is followed; a failure names the backend and why
    s_expect (port, "POST", "localhost", "/api/pull", "{\"model\":\"joined\",\"stream\":false}",
              200, "{\"status\":\"success\"}", reply);
    s_expect (port, "POST", "localhost", "/api/pull", "{\"model\":\"broken\",\"stream\":false}",
              500, "pulling 'broken' failed on 1 of 2 backends: a (pull model manifest: file does "
                   "not exist)", reply);
    s_expect (port, "POST", "localhost", "/api/pull", "{\"model\":\"broken\"}", 200,
              "{\"error\":\"pulling 'broken' failed on 1 of 2 backends: a (", reply);
    s_expect (port, "POST", "localhost", "/api/pull", "{\"model\":\"busy\"}", 503, "too many jobs",
              reply);
    s_expect (port, "POST", "localhost", "/api/pull", "{\"stream\":true}", 400,
              "{\"error\":\"model is required\"}", reply);
    s_expect (port, "GET", "localhost", "/api/pull", NULL, 405, "not allowed", reply);

    //  Deletes: RequiredModels first; 200, 404 or 502 naming the backend
    s_expect (port, "DELETE", "localhost", "/api/delete", "{\"name\":\"llama3\"}", 200, NULL,
              reply);
    IT_ASSERT (streq (s_body (reply), ""), "%s", reply);
    required = s_required (config);
    IT_ASSERT (!strstr (required, "\"llama3\"") && strstr (required, "\"missed\""), "%s",
               required);
    free (required);
    s_expect (port, "DELETE", "localhost", "/api/delete", "{\"model\":\"nowhere\"}", 404,
              "{\"error\":\"model 'nowhere' not found\"}", reply);
    s_expect (port, "DELETE", "localhost", "/api/delete", "{\"model\":\"broken\"}", 502,
              "deleting 'broken' failed on 1 of 2 backends: b (connect: Connection refused)",
              reply);

    //  modelsync (and healthmon) fall silent: last lists kept and said stale; pulls refused at once
    zactor_destroy (&peer);
    zclock_sleep (700);
    s_expect (port, "GET", "localhost", "/api/tags", NULL, 200, "X-OllamaFlow-Stale: inventory",
              reply);
    int64_t started = zclock_mono ();
    s_expect (port, "POST", "localhost", "/api/pull", "{\"model\":\"llama3\"}", 503,
              "modelsync is not running", reply);
    IT_ASSERT (zclock_mono () - started < 1000, "the refusal took %lld ms",
               (long long) (zclock_mono () - started));

    free (reply);
    zsock_destroy (&config);
    it_stop (ingress, SIGTERM);
    it_stop (configd, SIGTERM);
    it_env_cleanup (&env);
    printf ("it_ingress_models: OK\n");
    return 0;
}

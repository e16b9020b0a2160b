/*  scheduler_test - the scheduler actor driven through its sockets (see
    sched_world.h): routing, the cap and the queue, deadlines, cancels,
    expiry of silent ingresses, a restart with RESUME, sticky sessions, config
    and health changes, malformed input, the queue per backend, the admin's
    SESSIONS and FORGET. With --binaries, routing, the cap and
    a restart by SIGKILL run against the real programs. Asserts orders and
    counts, never timings, so that a loaded machine under the sanitizers
    passes too. */

#include "sched_world.h"

//  Backends and frontends, seeded into configd. Each scenario has its own.
static const char *s_seed =
    "{\"Scheduler\": {\"MaxQueue\": 100},"
    " \"Backends\": ["
    "  {\"Identifier\": \"r1\", \"MaxParallelRequests\": 100, \"Labels\": [\"gpu\", \"eu\"]},"
    "  {\"Identifier\": \"r2\", \"MaxParallelRequests\": 100},"
    "  {\"Identifier\": \"r3\", \"MaxParallelRequests\": 100, \"Labels\": [\"gpu\"]},"
    "  {\"Identifier\": \"q1\", \"MaxParallelRequests\": 2, \"RateLimitRequestsThreshold\": 6},"
    "  {\"Identifier\": \"q2\", \"MaxParallelRequests\": 2, \"RateLimitRequestsThreshold\": 6},"
    "  {\"Identifier\": \"q3\", \"MaxParallelRequests\": 2, \"RateLimitRequestsThreshold\": 6},"
    "  {\"Identifier\": \"d1\", \"MaxParallelRequests\": 2},"
    "  {\"Identifier\": \"s1\", \"MaxParallelRequests\": 100},"
    "  {\"Identifier\": \"s2\", \"MaxParallelRequests\": 100},"
    "  {\"Identifier\": \"s3\", \"MaxParallelRequests\": 100}],"
    " \"Frontends\": ["
    "  {\"Identifier\": \"rr\", \"Backends\": [\"r1\", \"r2\", \"r3\"]},"
    "  {\"Identifier\": \"lo\", \"Backends\": [\"r1\", \"r2\", \"r3\"],"
    "   \"LoadBalancing\": \"LeastOutstanding\"},"
    "  {\"Identifier\": \"noembed\", \"Backends\": [\"r1\"], \"AllowEmbeddings\": false},"
    "  {\"Identifier\": \"off\", \"Backends\": [\"r1\"], \"Active\": false},"
    "  {\"Identifier\": \"queue\", \"Backends\": [\"q1\", \"q2\", \"q3\"]},"
    "  {\"Identifier\": \"solo\", \"Backends\": [\"d1\"]},"
    "  {\"Identifier\": \"sticky\", \"Backends\": [\"s1\", \"s2\", \"s3\"],"
    "   \"UseStickySessions\": true, \"StickySessionExpirationMs\": 10000}]}";

//  The expiry of the sticky frontend, and a margin for the cleanup timer
#define S_STICKY_MS 10000
#define S_MARGIN_MS 1000

static void
s_expect (const char *actual, const char *expected)
{
    IT_ASSERT (streq (actual, expected), "got %s, expected %s", actual, expected);
}

static void
s_healthy (sched_world_t *world, const char *const *backends)
{
    for (; *backends; backends++)
        sched_world_health (world, *backends, "Healthy");
}

//  Round robin over three, stable when one is out; labels; kinds; frontends;
//  least outstanding
static void
s_test_routing (sched_world_t *world)
{
    printf (" * routing\n");
    sched_ingress_t *a = sched_world_ingress (world, "ingress-a", true);
    const char *rr = "{\"Frontend\": \"rr\"}";
    const char *expected [] = {"r1", "r2", "r3"};
    for (int round = 0; round < 9; round++)
        s_expect (sched_world_lease (world, a, rr), expected [round % 3]);
    sched_world_release_all (world, a);
    sched_world_health (world, "r2", "Unhealthy");
    for (int round = 0; round < 6; round++)
        s_expect (sched_world_lease (world, a, rr), round % 2 ? "r3" : "r1");
    sched_world_release_all (world, a);
    sched_world_health (world, "r2", "Healthy");

    //  Labels: every one, exact and case-sensitive (no "e" for "eu")
    for (int round = 0; round < 3; round++)
        s_expect (sched_world_lease (world, a, "{\"Frontend\": \"rr\", \"Labels\": [\"gpu\", \"eu\"]}"), "r1");
    int r1 = 0, r3 = 0;
    for (int round = 0; round < 6; round++) {
        const char *backend = sched_world_lease (world, a, "{\"Frontend\": \"rr\", \"Labels\": [\"gpu\"]}");
        r1 += streq (backend, "r1");
        r3 += streq (backend, "r3");
    }
    IT_ASSERT (r1 == 3 && r3 == 3, "gpu went %d times to r1, %d to r3", r1, r3);
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"rr\", \"Labels\": [\"e\"]}"),
              "DENY 503 NoHealthyBackend");
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"rr\", \"Labels\": [\"GPU\"]}"),
              "DENY 503 NoHealthyBackend");
    sched_world_release_all (world, a);

    //  Kinds and frontends
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"noembed\", \"Kind\": \"embeddings\"}"),
              "DENY 403 KindNotAllowed");
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"noembed\"}"), "r1");
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"nope\"}"), "DENY 404 NotFound");
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"off\"}"), "DENY 404 NotFound");
    sched_world_release_all (world, a);

    //  Least outstanding: r1 holds 2, r3 holds 1, so r2 first, then r2 or r3
    for (int round = 0; round < 2; round++)
        s_expect (sched_world_lease (world, a, "{\"Frontend\": \"rr\", \"Exclude\": [\"r2\", \"r3\"]}"), "r1");
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"rr\", \"Exclude\": [\"r1\", \"r2\"]}"), "r3");
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"lo\"}"), "r2");
    const char *second = sched_world_lease (world, a, "{\"Frontend\": \"lo\"}");
    IT_ASSERT (!streq (second, "r1"), "least outstanding picked the busiest");
    sched_world_release_all (world, a);
}

//  MaxParallelRequests 2 on two backends, three ingresses, twenty asks
static void
s_test_cap (sched_world_t *world, sched_ingress_t **ingresses)
{
    printf (" * cap and queue\n");
    char copies [20][32];
    for (int index = 0; index < 20; index++)
        snprintf (copies [index], sizeof copies [index], "%s",
                  sched_world_ask (world, ingresses [index % 3], "{\"Frontend\": \"queue\"}"));
    int granted = 0, queued = 0, refused = 0;
    size_t held [2] = {0, 0};
    //  Position of each queued ask, by index
    int64_t positions [20];
    for (int index = 0; index < 20; index++) {
        sched_ingress_t *ingress = ingresses [index % 3];
        ofp_msg_t *reply = sched_world_reply (world, ingress, copies [index], "GRANT QUEUED DENY");
        json_t *body = ofp_msg_body (reply);
        positions [index] = 0;
        if (ofp_msg_is (reply, "GRANT")) {
            granted++;
            held [streq (json_string_value (json_object_get (body, "Backend")), "q2")]++;
        }
        else
        if (ofp_msg_is (reply, "QUEUED")) {
            queued++;
            positions [index] = json_integer_value (json_object_get (body, "Position"));
        }
        else {
            refused++;
            IT_ASSERT (json_integer_value (json_object_get (body, "Status")) == 429, "not 429");
            IT_ASSERT (json_integer_value (json_object_get (body, "RetryAfterMs")) >= 1000,
                       "no RetryAfterMs");
        }
        ofp_msg_destroy (&reply);
    }
    IT_ASSERT (granted == 4 && queued == 6 && refused == 10,
               "%d granted, %d queued, %d refused", granted, queued, refused);
    IT_ASSERT (held [0] == 2 && held [1] == 2, "not 2 and 2");
    sched_world_await_published (world, "STATE", "{\"Backend\":\"q1\",\"Leases\":2,");
    //  The six wait for q1 and q2, the candidates; not for q3 (unhealthy)
    sched_world_await_published (
        world, "STATE", "{\"Backend\":\"q1\",\"Leases\":2,\"MaxParallelRequests\":2,\"Queued\":6,");
    sched_world_await_published (
        world, "STATE", "{\"Backend\":\"q2\",\"Leases\":2,\"MaxParallelRequests\":2,\"Queued\":6,");
    sched_world_await_published (
        world, "STATE", "{\"Backend\":\"q3\",\"Leases\":0,\"MaxParallelRequests\":2,\"Queued\":0,");

    //  Each release lets the next queued ask in, in the order of arrival
    for (int64_t next = 1; next <= 6; next++) {
        sched_ingress_t *holder = NULL;
        for (int index = 0; index < 3 && !holder; index++)
            if (zlistx_size (ingresses [index]->held))
                holder = ingresses [index];
        sched_held_t *lease = (sched_held_t *) zlistx_first (holder->held);
        held [streq (lease->backend, "q2")]--;
        sched_world_release (world, holder, lease);
        int index = 0;
        while (positions [index] != next)
            index++;
        ofp_msg_t *grant = sched_world_reply (world, ingresses [index % 3], copies [index], "GRANT DENY");
        IT_ASSERT (ofp_msg_is (grant, "GRANT"), "queued ask %d refused", (int) next);
        const char *backend = json_string_value (json_object_get (ofp_msg_body (grant), "Backend"));
        IT_ASSERT (++held [streq (backend, "q2")] <= 2, "more than 2 leases on %s", backend);
        ofp_msg_destroy (&grant);
    }
    for (int index = 0; index < 3; index++)
        sched_world_release_all (world, ingresses [index]);
    //  What the scheduler itself published agrees
    IT_ASSERT (sched_world_most_leases (world, "q1") == 2 && sched_world_most_leases (world, "q2") == 2,
               "a STATE showed more than 2 leases");
}

//  An ask waiting in another frontend shows on its own backend only
static void
s_test_queued (sched_world_t *world, sched_ingress_t *a)
{
    printf (" * queue depth per backend\n");
    const char *solo = "{\"Frontend\": \"solo\"}";
    s_expect (sched_world_lease (world, a, solo), "d1");
    s_expect (sched_world_lease (world, a, solo), "d1");
    char waiting [SCHED_WORLD_ID_MAX];
    sched_world_queue (world, a, solo, waiting);
    sched_world_await_published (world, "STATE", "\"Backend\":\"d1\",\"Leases\":2,"
                                                 "\"MaxParallelRequests\":2,\"Queued\":1,");
    sched_world_await_published (world, "STATE", "\"Backend\":\"r2\",\"Leases\":0,"
                                                 "\"MaxParallelRequests\":100,\"Queued\":0,");
    sched_world_await_published (world, "STATE", "{\"Frontend\":\"solo\",\"Queued\":1,");
    sched_world_release (world, a, NULL);
    sched_world_expect (world, a, waiting, "GRANT");
    sched_world_await_published (world, "STATE", "\"Backend\":\"d1\",\"Leases\":2,"
                                                 "\"MaxParallelRequests\":2,\"Queued\":0,");
    sched_world_release_all (world, a);
}

//  Deadlines, CANCEL, health and config changes with asks waiting
static void
s_test_queue (sched_world_t *world, sched_ingress_t *a)
{
    printf (" * deadlines, cancel, re-evaluation\n");
    for (int round = 0; round < 4; round++)
        sched_world_lease (world, a, "{\"Frontend\": \"queue\"}");
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"queue\", \"DeadlineMs\": 0}"),
              "DENY 503 DeadlineExceeded");
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"queue\", \"DeadlineMs\": 300}"),
              "DENY 503 DeadlineExceeded");

    //  A cancelled ask is never granted; the next one is
    char cancelled [SCHED_WORLD_ID_MAX], waiting [SCHED_WORLD_ID_MAX];
    snprintf (cancelled, sizeof cancelled, "%s", sched_world_ask (world, a, "{\"Frontend\": \"queue\"}"));
    sched_world_queue (world, a, "{\"Frontend\": \"queue\"}", waiting);
    zlistx_t *inbox = a->inbox;
    zlistx_purge (inbox);
    json_t *reason = json_pack ("{s:s}", "Reason", "client gone");
    ofp_msg_t *cancel = ofp_msg_new (&ofp_lease_protocol, "CANCEL", cancelled, &reason);
    IT_ASSERT (ofp_msg_send (&cancel, a->dealer) == 0, "send CANCEL");
    sched_world_release (world, a, NULL);
    sched_world_expect (world, a, waiting, "GRANT");
    sched_world_pump (world, 200);
    IT_ASSERT (!sched_world_received (a, cancelled), "a cancelled ask was answered");

    //  q3 turns healthy while an ask waits: it is granted there at once
    char third [SCHED_WORLD_ID_MAX];
    sched_world_queue (world, a, "{\"Frontend\": \"queue\"}", third);
    sched_world_health (world, "q3", "Healthy");
    ofp_msg_t *msg = sched_world_reply (world, a, third, "GRANT");
    IT_ASSERT (streq (json_string_value (json_object_get (ofp_msg_body (msg), "Backend")), "q3"),
               "not granted on q3");
    ofp_msg_destroy (&msg);
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"queue\"}"), "q3");

    //  No candidate left for a waiting ask: refused at once, not at its deadline
    char doomed [SCHED_WORLD_ID_MAX];
    sched_world_queue (world, a, "{\"Frontend\": \"queue\", \"DeadlineMs\": 86400000}", doomed);
    sched_world_health (world, "q1", "Unhealthy");
    sched_world_health (world, "q2", "Unhealthy");
    sched_world_health (world, "q3", "Unhealthy");
    msg = sched_world_reply (world, a, doomed, "DENY");
    IT_ASSERT (streq (json_string_value (json_object_get (ofp_msg_body (msg), "Error")),
                      "NoHealthyBackend"), "not NoHealthyBackend");
    ofp_msg_destroy (&msg);
    sched_world_release_all (world, a);
    const char *back [] = {"q1", "q2", NULL};
    s_healthy (world, back);

    //  A lowered MaxParallelRequests applies to the next grants
    json_t *replace = json_pack ("{s:s, s:s, s:{s:s, s:i}}", "Kind", "backend", "Identifier", "q1",
                                 "Object", "Identifier", "q1", "MaxParallelRequests", 1);
    msg = it_config_request (sched_world_config (world), "REPLACE", replace, IT_TIMEOUT_MS);
    IT_ASSERT (msg && ofp_msg_is (msg, "OBJECT"), "REPLACE failed");
    ofp_msg_destroy (&msg);
    sched_world_await_published (world, "STATE", "{\"Backend\":\"q1\",\"Leases\":0,\"MaxParallelRequests\":1,");
    const char *only_q1 = "{\"Frontend\": \"queue\", \"Exclude\": [\"q2\", \"q3\"], \"DeadlineMs\": 0}";
    s_expect (sched_world_lease (world, a, only_q1), "q1");
    s_expect (sched_world_lease (world, a, only_q1), "DENY 503 DeadlineExceeded");
    sched_world_release_all (world, a);

    //  q1 leaves the frontend: no more leases there
    replace = json_pack ("{s:s, s:s, s:{s:s, s:[s, s]}}", "Kind", "frontend", "Identifier", "queue",
                         "Object", "Identifier", "queue", "Backends", "q2", "q3");
    msg = it_config_request (sched_world_config (world), "REPLACE", replace, IT_TIMEOUT_MS);
    IT_ASSERT (msg && ofp_msg_is (msg, "OBJECT"), "REPLACE failed");
    ofp_msg_destroy (&msg);
    int64_t deadline = zclock_mono () + IT_TIMEOUT_MS;
    const char *verdict;
    while (!streq ((verdict = sched_world_lease (world, a, only_q1)), "DENY 503 NoHealthyBackend")) {
        IT_ASSERT (zclock_mono () < deadline, "q1 still serves the frontend: %s", verdict);
        sched_world_release_all (world, a);
        sched_world_pump (world, 20);
    }
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"queue\"}"), "q2");
    sched_world_release_all (world, a);
}

//  A silent ingress's leases are freed and its asks dropped
static void
s_test_silence (sched_world_t *world)
{
    printf (" * silent ingress\n");
    sched_ingress_t *x = sched_world_ingress (world, "ingress-x", true);
    sched_ingress_t *y = sched_world_ingress (world, "ingress-y", true);
    s_expect (sched_world_lease (world, x, "{\"Frontend\": \"solo\"}"), "d1");
    s_expect (sched_world_lease (world, x, "{\"Frontend\": \"solo\"}"), "d1");
    char dropped [SCHED_WORLD_ID_MAX], waiting [SCHED_WORLD_ID_MAX];
    sched_world_queue (world, x, "{\"Frontend\": \"solo\"}", dropped);
    sched_world_queue (world, y, "{\"Frontend\": \"solo\"}", waiting);
    x->silent = true;
    sched_world_expect (world, y, waiting, "GRANT");
    IT_ASSERT (!sched_world_received (x, dropped), "the silent ingress's ask was answered");
    x->silent = false;
    IT_ASSERT (json_is_false (json_object_get (sched_world_pong (world, x), "Registered")),
               "still registered");
    s_expect (sched_world_lease (world, x, "{\"Frontend\": \"solo\"}"), "ERROR 409 NotRegistered");
    zlistx_purge (x->held);
    sched_world_release_all (world, y);
}

//  HELLO from a known ingress frees what it held; every RELEASE is published
static void
s_test_hello_again (sched_world_t *world)
{
    printf (" * HELLO again, OUTCOME\n");
    sched_ingress_t *h = sched_world_ingress (world, "ingress-h", true);
    sched_ingress_t *w = sched_world_ingress (world, "ingress-w", true);
    s_expect (sched_world_lease (world, h, "{\"Frontend\": \"solo\"}"), "d1");
    s_expect (sched_world_lease (world, h, "{\"Frontend\": \"solo\"}"), "d1");
    char waiting [SCHED_WORLD_ID_MAX];
    sched_world_queue (world, w, "{\"Frontend\": \"solo\"}", waiting);
    //  A restarted replica with the same id: its predecessor's slots are freed
    sched_world_hello (world, h);
    zlistx_purge (h->held);
    sched_world_expect (world, w, waiting, "GRANT");
    sched_world_release_all (world, w);
    sched_world_await_published (world, "OUTCOME",
                                 "\"Outcome\":\"ok\",\"DurationMs\":100,\"TtfbMs\":10,"
                                 "\"Status\":200,\"Ingress\":\"ingress-w\",\"Frontend\":\"solo\"");
}

//  RELEASE carries the response meter's figures into OUTCOME; a RELEASE
//  whose figures are malformed is refused (dropped: it frees nothing)
static void
s_test_figures (sched_world_t *world)
{
    printf (" * RELEASE figures\n");
    sched_ingress_t *f = sched_world_ingress (world, "ingress-f", true);
    s_expect (sched_world_lease (world, f, "{\"Frontend\": \"solo\"}"), "d1");
    s_expect (sched_world_lease (world, f, "{\"Frontend\": \"solo\"}"), "d1");
    sched_held_t *held = (sched_held_t *) zlistx_first (f->held);
    const char *malformed [] = {
        "{\"PromptTokens\": 10, \"CachedTokens\": 11}",
        "{\"LoadUs\": -1}",
        "{\"PrefillUs\": 86400000001}",
        "{\"DecodeUs\": \"fast\"}",
        NULL
    };
    const char *now = "{\"Frontend\": \"solo\", \"DeadlineMs\": 0}";
    for (const char **figures = malformed; *figures; figures++) {
        sched_world_release_with (world, f, held, *figures);
        //  Refused: d1 is still full
        s_expect (sched_world_lease (world, f, now), "DENY 503 DeadlineExceeded");
    }
    sched_world_release_with (world, f, held,
                    "{\"PromptTokens\": 1200, \"CompletionTokens\": 40, \"CachedTokens\": 1100,"
                    " \"LoadUs\": 2500000, \"PrefillUs\": 66667, \"DecodeUs\": 666667}");
    zlistx_delete (f->held, zlistx_find (f->held, held));
    sched_world_await_published (world, "OUTCOME",
                                 "\"PromptTokens\":1200,\"CompletionTokens\":40,"
                                 "\"CachedTokens\":1100,\"LoadUs\":2500000,"
                                 "\"PrefillUs\":66667,\"DecodeUs\":666667,"
                                 "\"Ingress\":\"ingress-f\",\"Frontend\":\"solo\"");
    s_expect (sched_world_lease (world, f, now), "d1");
    sched_world_release_all (world, f);
}

//  A new epoch: RESUME counts the leases still held, the cap holds
static void
s_test_restart (sched_world_t *world)
{
    printf (" * restart and RESUME\n");
    sched_ingress_t *r = sched_world_ingress (world, "ingress-r", true);
    s_expect (sched_world_lease (world, r, "{\"Frontend\": \"solo\"}"), "d1");
    s_expect (sched_world_lease (world, r, "{\"Frontend\": \"solo\"}"), "d1");
    char first [OFP_EPOCH_LENGTH + 1];
    snprintf (first, sizeof first, "%s", r->epoch);
    sched_world_restart (world);
    //  The first PONGs may still come from the old scheduler
    json_t *pong = sched_world_pong (world, r);
    for (int round = 0; round < 100 && streq (json_string_value (json_object_get (pong, "Epoch")), first); round++)
        pong = sched_world_pong (world, r);
    IT_ASSERT (!streq (json_string_value (json_object_get (pong, "Epoch")), first), "no new epoch");
    IT_ASSERT (json_is_false (json_object_get (pong, "Registered")), "registered in a new epoch");
    s_expect (sched_world_lease (world, r, "{\"Frontend\": \"solo\"}"), "ERROR 409 NotRegistered");
    zlistx_t *held = r->held;
    //  The 409 added nothing; the two old leases are still held
    IT_ASSERT (zlistx_size (held) == 2, "holds %zu", zlistx_size (held));
    sched_world_hello (world, r);
    const char *second = r->epoch;
    IT_ASSERT (!streq (second, first), "same epoch after a restart");

    json_t *leases = json_array ();
    for (sched_held_t *lease = (sched_held_t *) zlistx_first (held); lease;
         lease = (sched_held_t *) zlistx_next (held))
        json_array_append_new (leases, json_pack ("{s:s, s:s, s:s, s:s}", "Lease", lease->lease,
                                                  "Epoch", lease->epoch, "Backend", lease->backend,
                                                  "Frontend", lease->frontend));
    json_t *body = json_pack ("{s:s, s:s, s:O}", "Ingress", r->id, "Epoch", first, "Leases", leases);
    ofp_msg_t *msg = sched_world_reply (world, r, sched_world_send (world, r, "RESUME", body), "ERROR");
    IT_ASSERT (json_integer_value (json_object_get (ofp_msg_body (msg), "Status")) == 409, "not 409");
    ofp_msg_destroy (&msg);
    body = json_pack ("{s:s, s:s, s:O}", "Ingress", r->id, "Epoch", second, "Leases", leases);
    msg = sched_world_reply (world, r, sched_world_send (world, r, "RESUME", body), "RESUMED");
    IT_ASSERT (json_integer_value (json_object_get (ofp_msg_body (msg), "Leases")) == 2, "not 2");
    ofp_msg_destroy (&msg);
    //  Declared twice, counted once
    body = json_pack ("{s:s, s:s, s:o}", "Ingress", r->id, "Epoch", second, "Leases", leases);
    msg = sched_world_reply (world, r, sched_world_send (world, r, "RESUME", body), "RESUMED");
    IT_ASSERT (json_integer_value (json_object_get (ofp_msg_body (msg), "Leases")) == 0, "not 0");
    ofp_msg_destroy (&msg);

    //  The cap holds across the restart
    sched_world_health (world, "d1", "Healthy");
    sched_ingress_t *q = sched_world_ingress (world, "ingress-q", true);
    s_expect (sched_world_lease (world, q, "{\"Frontend\": \"solo\", \"DeadlineMs\": 0}"),
              "DENY 503 DeadlineExceeded");
    char waiting [SCHED_WORLD_ID_MAX];
    sched_world_queue (world, q, "{\"Frontend\": \"solo\"}", waiting);
    sched_world_release (world, r, NULL);
    sched_world_expect (world, q, waiting, "GRANT");
    sched_world_release_all (world, r);
    sched_world_release_all (world, q);
}

//  Sticky: same key, same backend through any ingress; moves when the
//  backend turns unhealthy; expires
static void
s_test_sticky (sched_world_t *world)
{
    printf (" * sticky sessions\n");
    sched_ingress_t *a = sched_world_ingress (world, "ingress-sa", true);
    sched_ingress_t *b = sched_world_ingress (world, "ingress-sb", true);
    const char *alice = "{\"Frontend\": \"sticky\", \"StickyKey\": \"alice\"}";
    char pinned [OFP_IDENTIFIER_MAX + 2];
    snprintf (pinned, sizeof pinned, "%s", sched_world_lease (world, a, alice));
    IT_ASSERT (!strchr (pinned, '*'), "sticky on first use");
    strcat (pinned, "*");
    sched_world_lease (world, a, "{\"Frontend\": \"sticky\", \"StickyKey\": \"bob\"}");
    for (int round = 0; round < 4; round++)
        s_expect (sched_world_lease (world, round % 2 ? a : b, alice), pinned);
    sched_world_await_published (world, "STATE", "{\"Frontend\":\"sticky\",\"Queued\":0,\"Sessions\":2}");
    sched_world_release_all (world, a);
    sched_world_release_all (world, b);

    //  Its backend turns unhealthy: alice moves, and stays on the new one
    pinned [strlen (pinned) - 1] = 0;
    sched_world_health (world, pinned, "Unhealthy");
    char moved [OFP_IDENTIFIER_MAX + 2];
    snprintf (moved, sizeof moved, "%s", sched_world_lease (world, b, alice));
    IT_ASSERT (!strchr (moved, '*') && !streq (moved, pinned), "alice did not move: %s", moved);
    sched_world_health (world, pinned, "Healthy");
    strcat (moved, "*");
    s_expect (sched_world_lease (world, a, alice), moved);
    sched_world_release_all (world, a);
    sched_world_release_all (world, b);

    //  Unused for the expiry, the sessions are cleaned up
    sched_world_pump (world, S_STICKY_MS + S_MARGIN_MS);
    sched_world_await_published (world, "STATE", "{\"Frontend\":\"sticky\",\"Queued\":0,\"Sessions\":0}");
    IT_ASSERT (!strchr (sched_world_lease (world, a, alice), '*'), "a session outlived its expiry");
    sched_world_release_all (world, a);
}

//  Sends an admin request from a DEALER that never said HELLO; returns the
//  reply's body if it is the command expected (caller destroys *reply_p)
static json_t *
s_admin (sched_world_t *world, sched_ingress_t *admin, const char *command, const char *body,
         const char *expected, ofp_msg_t **reply_p)
{
    json_t *request = json_loads (body, 0, NULL);
    assert (request);
    const char *id = sched_world_send (world, admin, command, request);
    *reply_p = sched_world_reply (world, admin, id, "SESSION-LIST FORGOTTEN ERROR");
    IT_ASSERT (ofp_msg_is (*reply_p, expected), "%s %s: %s, expected %s", command, body,
               ofp_msg_command (*reply_p), expected);
    return ofp_msg_body (*reply_p);
}

//  The count a SESSIONS or FORGET answered (Total or Sessions)
static json_int_t
s_admin_count (sched_world_t *world, sched_ingress_t *admin, const char *command,
               const char *body)
{
    ofp_msg_t *reply;
    bool list = streq (command, "SESSIONS");
    json_t *answer = s_admin (world, admin, command, body, list ? "SESSION-LIST" : "FORGOTTEN",
                              &reply);
    json_int_t count = json_integer_value (json_object_get (answer, list ? "Total" : "Sessions"));
    ofp_msg_destroy (&reply);
    return count;
}

//  SESSIONS with filters and a limit, FORGET by key, backend and frontend,
//  malformed requests; all from a DEALER without HELLO, as the admin API's
static void
s_test_sessions (sched_world_t *world)
{
    printf (" * sessions: list and forget\n");
    sched_ingress_t *a = sched_world_ingress (world, "ingress-sessions", true);
    sched_ingress_t *admin = sched_world_ingress (world, "admin-sessions", false);
    s_admin_count (world, admin, "FORGET", "{\"Frontend\": \"sticky\"}");
    IT_ASSERT (s_admin_count (world, admin, "SESSIONS", "{\"Limit\": 100}") == 0,
               "sessions left after FORGET of their frontend");

    //  Three clients, three backends (round robin)
    const char *keys [] = {"dave", "erin", "frank"};
    char pinned [3][OFP_IDENTIFIER_MAX + 2];
    for (int index = 0; index < 3; index++) {
        char fields [128];
        snprintf (fields, sizeof fields, "{\"Frontend\": \"sticky\", \"StickyKey\": \"%s\"}",
                  keys [index]);
        snprintf (pinned [index], sizeof pinned [index], "%s", sched_world_lease (world, a, fields));
    }
    IT_ASSERT (!streq (pinned [0], pinned [1]) && !streq (pinned [1], pinned [2])
               && !streq (pinned [0], pinned [2]), "round robin did not spread the clients");
    sched_world_release_all (world, a);

    //  Every session, most recently used first, with the time left
    ofp_msg_t *reply;
    json_t *answer = s_admin (world, admin, "SESSIONS", "{\"Limit\": 100}", "SESSION-LIST", &reply);
    IT_ASSERT (json_integer_value (json_object_get (answer, "Total")) == 3, "not 3 sessions");
    json_t *sessions = json_object_get (answer, "Sessions");
    IT_ASSERT (json_array_size (sessions) == 3, "not 3 listed");
    for (int index = 0; index < 3; index++) {
        json_t *session = json_array_get (sessions, 2 - index);
        const char *frontend, *backend, *key;
        json_int_t left;
        IT_ASSERT (json_unpack (session, "{s:s, s:s, s:s, s:I}", "Frontend", &frontend, "Backend",
                                &backend, "Key", &key, "ExpiresInMs", &left) == 0, "bad record");
        IT_ASSERT (streq (frontend, "sticky") && streq (key, keys [index])
                   && streq (backend, pinned [index]), "session %d is %s %s %s", index, frontend,
                   key, backend);
        IT_ASSERT (left > 0 && left <= S_STICKY_MS, "ExpiresInMs %lld", (long long) left);
    }
    IT_ASSERT (streq (json_string_value (json_object_get (answer, "Epoch")), a->epoch), "epoch");
    ofp_msg_destroy (&reply);

    //  Filters and the limit
    answer = s_admin (world, admin, "SESSIONS", "{\"Limit\": 1}", "SESSION-LIST", &reply);
    IT_ASSERT (json_integer_value (json_object_get (answer, "Total")) == 3
               && json_array_size (json_object_get (answer, "Sessions")) == 1
               && streq (json_string_value (json_object_get (
                             json_array_get (json_object_get (answer, "Sessions"), 0), "Key")),
                         "frank"), "Limit 1 is not the latest of 3");
    ofp_msg_destroy (&reply);
    char filter [160];
    snprintf (filter, sizeof filter, "{\"Backend\": \"%s\", \"Limit\": 10}", pinned [1]);
    answer = s_admin (world, admin, "SESSIONS", filter, "SESSION-LIST", &reply);
    IT_ASSERT (json_integer_value (json_object_get (answer, "Total")) == 1
               && streq (json_string_value (json_object_get (
                             json_array_get (json_object_get (answer, "Sessions"), 0), "Key")),
                         "erin"), "the Backend filter");
    ofp_msg_destroy (&reply);
    IT_ASSERT (s_admin_count (world, admin, "SESSIONS", "{\"Key\": \"dave\", \"Limit\": 10}") == 1,
               "the Key filter");
    IT_ASSERT (s_admin_count (world, admin, "SESSIONS",
                              "{\"Frontend\": \"sticky\", \"Key\": \"nobody\", \"Limit\": 10}") == 0,
               "filters combine");
    IT_ASSERT (s_admin_count (world, admin, "SESSIONS", "{\"Frontend\": \"rr\", \"Limit\": 10}") == 0,
               "the Frontend filter");

    //  Forget one client: it is decided afresh, the others keep theirs
    IT_ASSERT (s_admin_count (world, admin, "FORGET", "{\"Key\": \"dave\"}") == 1, "FORGET dave");
    IT_ASSERT (s_admin_count (world, admin, "SESSIONS", "{\"Key\": \"dave\", \"Limit\": 10}") == 0,
               "dave still listed");
    IT_ASSERT (s_admin_count (world, admin, "FORGET", "{\"Key\": \"dave\"}") == 0, "FORGET twice");
    char sticky [OFP_IDENTIFIER_MAX + 2];
    snprintf (sticky, sizeof sticky, "%s*", pinned [1]);
    s_expect (sched_world_lease (world, a, "{\"Frontend\": \"sticky\", \"StickyKey\": \"erin\"}"),
              sticky);
    IT_ASSERT (!strchr (sched_world_lease (world, a, "{\"Frontend\": \"sticky\", \"StickyKey\": \"dave\"}"),
                        '*'), "dave's forgotten session still decided");
    sched_world_release_all (world, a);

    //  Forget by backend, then by frontend
    snprintf (filter, sizeof filter, "{\"Backend\": \"%s\"}", pinned [2]);
    json_int_t on_third = s_admin_count (world, admin, "FORGET", filter);
    IT_ASSERT (on_third >= 1, "frank's backend had no session to forget");
    IT_ASSERT (s_admin_count (world, admin, "SESSIONS", "{\"Key\": \"frank\", \"Limit\": 10}") == 0,
               "frank still listed");
    IT_ASSERT (s_admin_count (world, admin, "FORGET", "{\"Frontend\": \"rr\"}") == 0, "rr had none");
    IT_ASSERT (s_admin_count (world, admin, "FORGET", "{\"Frontend\": \"sticky\"}") == 3 - on_third,
               "FORGET of the frontend");
    IT_ASSERT (s_admin_count (world, admin, "SESSIONS", "{\"Limit\": 100}") == 0, "sessions left");

    //  Malformed: ERROR 400 naming the field; the scheduler goes on answering
    const char *bad [][3] = {
        {"SESSIONS", "{}", "Limit"},
        {"SESSIONS", "{\"Limit\": 0}", "Limit"},
        {"SESSIONS", "{\"Limit\": 10001}", "Limit"},
        {"SESSIONS", "{\"Frontend\": \"no/slash\", \"Limit\": 1}", "Frontend"},
        {"SESSIONS", "{\"Key\": \"\", \"Limit\": 1}", "Key"},
        {"FORGET", "{\"Backend\": 5}", "Backend"},
        {"FORGET", "{\"Key\": [\"dave\"]}", "Key"},
    };
    for (size_t index = 0; index < sizeof bad / sizeof bad [0]; index++) {
        answer = s_admin (world, admin, bad [index][0], bad [index][1], "ERROR", &reply);
        IT_ASSERT (json_integer_value (json_object_get (answer, "Status")) == 400
                   && strstr (json_string_value (json_object_get (answer, "Message")), bad [index][2]),
                   "%s %s: %s", bad [index][0], bad [index][1],
                   json_string_value (json_object_get (answer, "Message")));
        ofp_msg_destroy (&reply);
    }
    zstr_sendx (admin->dealer, OFP_LEASE_SIGNATURE, "FORGET", "f1", "{\"Key\":", NULL);
    sched_world_expect (world, admin, "f1", "ERROR");
    zstr_sendx (admin->dealer, OFP_LEASE_SIGNATURE, "SESSIONS", NULL);
    sched_world_expect (world, admin, "-", "ERROR");
    IT_ASSERT (s_admin_count (world, admin, "SESSIONS", "{\"Limit\": 1}") == 0, "not serving");
}

//  Malformed messages get ERROR 400; the scheduler goes on serving
static void
s_test_malformed (sched_world_t *world)
{
    printf (" * malformed input\n");
    sched_ingress_t *m = sched_world_ingress (world, "ingress-m", true);
    const char *id = sched_world_ask (world, m, "{\"Frontend\": \"rr\", \"Kind\": \"chat\"}");
    ofp_msg_t *msg = sched_world_reply (world, m, id, "ERROR");
    json_t *body = ofp_msg_body (msg);
    IT_ASSERT (json_integer_value (json_object_get (body, "Status")) == 400, "not 400");
    IT_ASSERT (strstr (json_string_value (json_object_get (body, "Message")), "Kind"), "no field");
    ofp_msg_destroy (&msg);
    //  Frames of every wrong kind
    zstr_send (m->dealer, "garbage");
    zstr_sendx (m->dealer, OFP_LEASE_SIGNATURE, "LEASE", NULL);
    sched_world_expect (world, m, "-", "ERROR");
    zstr_sendx (m->dealer, OFP_LEASE_SIGNATURE, "LEASE", "7", "{\"Frontend\":", NULL);
    sched_world_expect (world, m, "7", "ERROR");
    zstr_sendx (m->dealer, OFP_LEASE_SIGNATURE, "GRANT", "8", "{}", NULL);
    sched_world_expect (world, m, "8", "ERROR");
    //  An ingress that never said HELLO, and one whose HELLO lies about its id
    sched_ingress_t *stranger = sched_world_ingress (world, "stranger", false);
    s_expect (sched_world_lease (world, stranger, "{\"Frontend\": \"rr\"}"), "ERROR 409 NotRegistered");
    body = json_pack ("{s:s, s:i, s:s}", "Ingress", "someone-else", "Pid", 1, "Version", "x");
    sched_world_expect (world, stranger, sched_world_send (world, stranger, "HELLO", body), "ERROR");
    IT_ASSERT (*sched_world_lease (world, m, "{\"Frontend\": \"rr\"}") == 'r', "not served");
    sched_world_release_all (world, m);
}

int
main (int argc, char *argv [])
{
    //  --binaries: the real programs, a restart by SIGKILL; else the actors
    bool binaries = argc > 1 && streq (argv [1], "--binaries");
    setvbuf (stdout, NULL, _IONBF, 0);
    zsys_init ();
    sched_world_t *world = sched_world_new ("scheduler", s_seed, binaries);
    const char *healthy [] = {"r1", "r2", "r3", "q1", "q2", "d1", "s1", "s2", "s3", NULL};
    s_healthy (world, healthy);
    sched_world_health (world, "q3", "Unhealthy");

    s_test_routing (world);
    sched_ingress_t *ingresses [3] = {
        sched_world_ingress (world, "ingress-1", true), sched_world_ingress (world, "ingress-2", true),
        sched_world_ingress (world, "ingress-3", true)
    };
    s_test_cap (world, ingresses);
    if (!binaries) {
        s_test_queue (world, ingresses [0]);
        s_test_silence (world);
        s_test_malformed (world);
        s_test_hello_again (world);
        s_test_figures (world);
        s_test_sticky (world);
        s_test_sessions (world);
        s_test_queued (world, ingresses [0]);
    }
    s_test_restart (world);
    sched_world_destroy (&world);
    printf ("OK\n");
    return 0;
}

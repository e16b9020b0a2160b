/*  test_healthmon - healthmon probes real HTTP servers and publishes what it
    finds: a good backend becomes Healthy, a refusing one and a hanging one
    Unhealthy with their reasons, 503 and back flip the state, the probe
    carries the token, query string, headers and method, a backend created
    through configd is probed at once, a changed one starts over as Unknown,
    a deleted one leaves STATE; healthmon stops cleanly on SIGTERM.

    The HTTP servers are libevent evhttp servers on a thread of the test. */

#include "it_harness.h"
#include "of_loop.h"
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <pthread.h>
#include <stdatomic.h>

#define S_INTERVAL_MS   400
#define S_TIMEOUT_MS    (S_INTERVAL_MS / 2)     //  Health.TimeoutMs 0: half the interval
#define S_THRESHOLD     2
#define S_SERVERS       3
#define S_STOP_CHECK_MS 20
#define S_HUNG_MAX      512                     //  unanswered requests kept
//  Generous bounds for a loaded machine: "at once" and "within one interval"
//  are checked as "well before the next few intervals"
#define S_PROMPT_MS     3000

enum { S_ANSWER_200, S_ANSWER_503, S_HANG };

//  One HTTP server: its behaviour and what it saw last
typedef struct {
    struct evhttp *http;
    int port;
    atomic_int mode;
    atomic_int requests;
    pthread_mutex_t lock;
    char method [8];
    char uri [128];
    char authorization [64];
    char custom [64];
    char host [64];
    struct evhttp_request *hung [S_HUNG_MAX];   //  never answered, freed at the end
    int hung_count;
} s_server_t;

typedef struct {
    struct event_base *base;
    struct event *stop_check;
    atomic_bool stop;
    pthread_t thread;
    s_server_t servers [S_SERVERS];
} s_servers_t;

static void
s_copy_header (struct evhttp_request *request, const char *name, char *dest, size_t size)
{
    const char *value = evhttp_find_header (evhttp_request_get_input_headers (request), name);
    snprintf (dest, size, "%s", value ? value : "");
}

static void
s_serve (struct evhttp_request *request, void *arg)
{
    s_server_t *server = (s_server_t *) arg;
    pthread_mutex_lock (&server->lock);
    snprintf (server->method, sizeof server->method, "%s",
              evhttp_request_get_command (request) == EVHTTP_REQ_HEAD ? "HEAD" : "GET");
    snprintf (server->uri, sizeof server->uri, "%s", evhttp_request_get_uri (request));
    s_copy_header (request, "Authorization", server->authorization,
                   sizeof server->authorization);
    s_copy_header (request, "X-Custom", server->custom, sizeof server->custom);
    s_copy_header (request, "Host", server->host, sizeof server->host);
    pthread_mutex_unlock (&server->lock);
    server->requests++;
    int mode = server->mode;
    if (mode == S_HANG && server->hung_count < S_HUNG_MAX) {
        server->hung [server->hung_count++] = request;
        return;
    }
    evbuffer_add_printf (evhttp_request_get_output_buffer (request), "Ollama is running");
    if (mode == S_ANSWER_200)
        evhttp_send_reply (request, 200, "OK", NULL);
    else
        evhttp_send_reply (request, 503, "Service Unavailable", NULL);
}

static void
s_on_stop_check (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_servers_t *servers = (s_servers_t *) arg;
    if (servers->stop)
        event_base_loopbreak (servers->base);
}

static void *
s_servers_run (void *arg)
{
    s_servers_t *servers = (s_servers_t *) arg;
    event_base_dispatch (servers->base);
    return NULL;
}

static void
s_servers_start (s_servers_t *servers)
{
    servers->base = event_base_new ();
    for (int index = 0; index < S_SERVERS; index++) {
        s_server_t *server = &servers->servers [index];
        pthread_mutex_init (&server->lock, NULL);
        server->http = evhttp_new (servers->base);
        evhttp_set_gencb (server->http, s_serve, server);
        struct evhttp_bound_socket *bound =
            evhttp_bind_socket_with_handle (server->http, "127.0.0.1", 0);
        IT_ASSERT (bound, "cannot bind a test server");
        struct sockaddr_in address;
        socklen_t length = sizeof address;
        getsockname (evhttp_bound_socket_get_fd (bound), (struct sockaddr *) &address, &length);
        server->port = ntohs (address.sin_port);
    }
    servers->stop_check = event_new (servers->base, -1, EV_PERSIST, s_on_stop_check, servers);
    struct timeval check = {0, S_STOP_CHECK_MS * 1000};
    event_add (servers->stop_check, &check);
    IT_ASSERT (pthread_create (&servers->thread, NULL, s_servers_run, servers) == 0, "thread");
}

static void
s_servers_stop (s_servers_t *servers)
{
    servers->stop = true;
    pthread_join (servers->thread, NULL);
    for (int index = 0; index < S_SERVERS; index++) {
        //  evhttp keeps an unanswered request whose client left for us to free;
        //  one whose connection remains goes with evhttp_free
        s_server_t *server = &servers->servers [index];
        for (int hung = 0; hung < server->hung_count; hung++)
            if (!evhttp_request_get_connection (server->hung [hung]))
                evhttp_request_free (server->hung [hung]);
        evhttp_free (servers->servers [index].http);
        pthread_mutex_destroy (&servers->servers [index].lock);
    }
    event_free (servers->stop_check);
    of_loop_free (&servers->base);
}

//  --------------------------------------------------------------------------
//  The subscriber's view, after health.md's rules

typedef struct {
    zsock_t *sub;
    zpoller_t *poller;
    json_t *map;                //  Backend -> record
    json_t *transitions;        //  every TRANSITION body, in order
    bool state_seen;            //  the last message was a STATE
    json_t *last_state;         //  its body
    int messages;
} s_view_t;

//  Receives whatever arrives within ms and applies it
static void
s_view_pump (s_view_t *view, int ms)
{
    int64_t deadline = zclock_mono () + ms;
    while (zclock_mono () < deadline) {
        if (!zpoller_wait (view->poller, (int) (deadline - zclock_mono ()) + 1))
            continue;
        ofp_msg_t *msg = ofp_msg_recv (&ofp_health_protocol, view->sub);
        IT_ASSERT (msg, "interrupted");
        IT_ASSERT (ofp_msg_error (msg) == NULL, "malformed health message: %s",
                   ofp_msg_error (msg));
        json_t *body = ofp_msg_body (msg);
        view->messages++;
        if (ofp_msg_is (msg, "STATE")) {
            json_object_clear (view->map);
            size_t index;
            json_t *record;
            json_array_foreach (json_object_get (body, "Backends"), index, record)
                json_object_set (view->map,
                                 json_string_value (json_object_get (record, "Backend")), record);
            json_decref (view->last_state);
            view->last_state = json_incref (body);
        }
        else {
            json_object_set (view->map, json_string_value (json_object_get (body, "Backend")),
                             body);
            json_array_append (view->transitions, body);
        }
        ofp_msg_destroy (&msg);
        break;                  //  after each message, so callers can check their condition
    }
}

static const char *
s_field (s_view_t *view, const char *backend, const char *field)
{
    return json_string_value (json_object_get (json_object_get (view->map, backend), field));
}

//  Waits until the backend is in the state with a reason that contains
//  fragment; returns the milliseconds waited
static int64_t
s_wait_state (s_view_t *view, const char *backend, const char *state, const char *fragment,
              int timeout_ms)
{
    int64_t start = zclock_mono ();
    while (zclock_mono () - start < timeout_ms) {
        const char *current = s_field (view, backend, "State");
        const char *reason = s_field (view, backend, "Reason");
        if (current && streq (current, state) && reason && strstr (reason, fragment))
            return zclock_mono () - start;
        s_view_pump (view, 50);
    }
    IT_ASSERT (false, "%s is not %s with a reason containing '%s' after %d ms: %s is %s (%s)",
               backend, state, fragment, timeout_ms, backend, s_field (view, backend, "State"),
               s_field (view, backend, "Reason"));
    return -1;
}

//  The last TRANSITION of a backend to a state (borrowed), or NULL
static json_t *
s_transition (s_view_t *view, const char *backend, const char *state)
{
    json_t *found = NULL;
    size_t index;
    json_t *body;
    json_array_foreach (view->transitions, index, body)
        if (streq (json_string_value (json_object_get (body, "Backend")), backend)
            && streq (json_string_value (json_object_get (body, "State")), state))
            found = body;
    return found;
}

static void
s_config (zsock_t *client, const char *command, json_t *body, const char *expect)
{
    ofp_msg_t *reply = it_config_request (client, command, body, IT_TIMEOUT_MS);
    IT_ASSERT (reply && ofp_msg_is (reply, expect), "%s failed", command);
    ofp_msg_destroy (&reply);
}

int
main (void)
{
    s_servers_t servers = {0};
    s_servers_start (&servers);
    s_server_t *good = &servers.servers [0], *hang = &servers.servers [1],
               *added = &servers.servers [2];
    hang->mode = S_HANG;
    int refused_port = it_free_port ();

    char extra [2048];
    snprintf (extra, sizeof extra,
              "{\"Health\": {\"IntervalMs\": %d}, \"Backends\": ["
              "{\"Identifier\": \"good\", \"Hostname\": \"127.0.0.1\", \"Port\": %d, "
              "\"HealthCheckUrl\": \"/health\", \"Querystring\": \"probe=1\", "
              "\"BearerToken\": \"tok-123\", \"Headers\": {\"X-Custom\": \"abc\"}, "
              "\"HealthyThreshold\": %d, \"UnhealthyThreshold\": %d},"
              "{\"Identifier\": \"hang\", \"Hostname\": \"127.0.0.1\", \"Port\": %d, "
              "\"UnhealthyThreshold\": 1},"
              "{\"Identifier\": \"refused\", \"Hostname\": \"127.0.0.1\", \"Port\": %d, "
              "\"UnhealthyThreshold\": 1},"
              "{\"Identifier\": \"tls\", \"Hostname\": \"127.0.0.1\", \"Port\": %d, "
              "\"Ssl\": true, \"UnhealthyThreshold\": 1},"
              "{\"Identifier\": \"idle\", \"Hostname\": \"127.0.0.1\", \"Port\": %d, "
              "\"Active\": false}]}",
              S_INTERVAL_MS, good->port, S_THRESHOLD, S_THRESHOLD, hang->port, refused_port,
              good->port, good->port);
    it_env_t env;
    it_env_init (&env, "healthmon", extra);

    s_view_t view = {.map = json_object (), .transitions = json_array ()};
    view.sub = zsock_new_sub (env.health_publisher, OFP_HEALTH_SIGNATURE);
    IT_ASSERT (view.sub, "cannot subscribe to %s", env.health_publisher);
    view.poller = zpoller_new (view.sub, NULL);
    pid_t configd = it_start (&env, "ollamaflow-configd", NULL);
    pid_t healthmon = it_start (&env, "ollamaflow-healthmon", NULL);

    //  The good one becomes Healthy after HealthyThreshold successes
    s_wait_state (&view, "good", "Healthy", "HTTP 200", IT_TIMEOUT_MS);
    json_t *transition = s_transition (&view, "good", "Healthy");
    IT_ASSERT (transition, "no TRANSITION to Healthy");
    IT_ASSERT (streq (json_string_value (json_object_get (transition, "Previous")), "Unknown"),
               "good was not Unknown first");
    IT_ASSERT (json_integer_value (json_object_get (transition, "ConsecutiveSuccesses"))
                   == S_THRESHOLD,
               "Healthy after %lld successes",
               (long long) json_integer_value (json_object_get (transition,
                                                                "ConsecutiveSuccesses")));
    IT_ASSERT (json_is_integer (json_object_get (transition, "LatencyMs")), "no LatencyMs");

    //  The probe carries the method, URL with query string, token and headers
    char host [64];
    snprintf (host, sizeof host, "127.0.0.1:%d", good->port);
    pthread_mutex_lock (&good->lock);
    IT_ASSERT (streq (good->method, "GET"), "method %s", good->method);
    IT_ASSERT (streq (good->uri, "/health?probe=1"), "uri %s", good->uri);
    IT_ASSERT (streq (good->authorization, "Bearer tok-123"), "auth %s", good->authorization);
    IT_ASSERT (streq (good->custom, "abc"), "X-Custom %s", good->custom);
    IT_ASSERT (streq (good->host, host), "Host %s", good->host);
    pthread_mutex_unlock (&good->lock);

    //  The refusing, hanging and TLS-to-plain ones are Unhealthy, with reasons
    s_wait_state (&view, "refused", "Unhealthy", "connect: Connection refused", IT_TIMEOUT_MS);
    char timeout_reason [64];
    snprintf (timeout_reason, sizeof timeout_reason, "timeout after %d ms", S_TIMEOUT_MS);
    s_wait_state (&view, "hang", "Unhealthy", timeout_reason, IT_TIMEOUT_MS);
    IT_ASSERT (json_is_null (json_object_get (json_object_get (view.map, "hang"), "LatencyMs"))
                   || !json_object_get (json_object_get (view.map, "hang"), "LatencyMs"),
               "a timed-out probe has a latency");
    s_wait_state (&view, "tls", "Unhealthy", "tls: ", IT_TIMEOUT_MS);
    IT_ASSERT (!json_object_get (view.map, "idle"), "an inactive backend is watched");

    //  The hanging backend does not slow the others: the good one keeps its
    //  pace (about one probe per interval; at least a third of it is asked)
    int before = good->requests;
    s_view_pump (&view, 0);
    int64_t window = 6 * S_INTERVAL_MS;
    int64_t start = zclock_mono ();
    while (zclock_mono () - start < window)
        s_view_pump (&view, 50);
    int probes = good->requests - before;
    IT_ASSERT (probes >= (int) (window / S_INTERVAL_MS) / 3, "only %d probes of good in %lld ms",
               probes, (long long) window);

    //  503: Unhealthy after UnhealthyThreshold failures; then 200: Healthy again
    good->mode = S_ANSWER_503;
    int64_t waited = s_wait_state (&view, "good", "Unhealthy", "HTTP 503", IT_TIMEOUT_MS);
    transition = s_transition (&view, "good", "Unhealthy");
    IT_ASSERT (json_integer_value (json_object_get (transition, "ConsecutiveFailures"))
                   == S_THRESHOLD,
               "Unhealthy after %lld failures",
               (long long) json_integer_value (json_object_get (transition,
                                                                "ConsecutiveFailures")));
    IT_ASSERT (waited < S_THRESHOLD * S_INTERVAL_MS + S_PROMPT_MS, "Unhealthy only after %lld ms",
               (long long) waited);
    good->mode = S_ANSWER_200;
    s_wait_state (&view, "good", "Healthy", "HTTP 200", IT_TIMEOUT_MS);
    IT_ASSERT (streq (json_string_value (json_object_get (s_transition (&view, "good", "Healthy"),
                                                         "Previous")),
                      "Unhealthy"),
               "good did not come back from Unhealthy");

    //  A backend created through configd is probed at once, with HEAD
    zsock_t *client = it_config_client (&env);
    s_config (client, "CREATE",
              json_pack ("{s:s, s:{s:s, s:s, s:i, s:s, s:s, s:i}}", "Kind", "backend",
                         "Object", "Identifier", "added", "Hostname", "127.0.0.1", "Port",
                         added->port, "HealthCheckMethod", "HEAD", "HealthCheckUrl", "/added",
                         "HealthyThreshold", 1),
              "OBJECT");
    start = zclock_mono ();
    while (!s_field (&view, "added", "LastCheckUtc") && zclock_mono () - start < IT_TIMEOUT_MS)
        s_view_pump (&view, 20);
    IT_ASSERT (s_field (&view, "added", "LastCheckUtc"), "the new backend was never probed");
    IT_ASSERT (zclock_mono () - start < S_INTERVAL_MS + S_PROMPT_MS,
               "the new backend was first probed after %lld ms",
               (long long) (zclock_mono () - start));
    s_wait_state (&view, "added", "Healthy", "HTTP 200", IT_TIMEOUT_MS);
    pthread_mutex_lock (&added->lock);
    IT_ASSERT (streq (added->method, "HEAD") && streq (added->uri, "/added"), "%s %s",
               added->method, added->uri);
    pthread_mutex_unlock (&added->lock);

    //  A changed address starts over as Unknown, and is probed at once
    s_config (client, "REPLACE",
              json_pack ("{s:s, s:s, s:{s:s, s:s, s:i, s:i}}", "Kind", "backend",
                         "Identifier", "hang", "Object", "Identifier", "hang", "Hostname",
                         "127.0.0.1", "Port", good->port, "HealthyThreshold", 1),
              "OBJECT");
    s_wait_state (&view, "hang", "Healthy", "HTTP 200", IT_TIMEOUT_MS);
    transition = s_transition (&view, "hang", "Unknown");
    IT_ASSERT (transition && streq (json_string_value (json_object_get (transition, "Previous")),
                                    "Unhealthy"),
               "the changed backend did not start over as Unknown");

    //  A deleted backend leaves STATE (and no TRANSITION announces it)
    size_t transitions = json_array_size (view.transitions);
    s_config (client, "DELETE",
              json_pack ("{s:s, s:s}", "Kind", "backend", "Identifier", "refused"), "DELETED");
    start = zclock_mono ();
    while (json_object_get (view.map, "refused") && zclock_mono () - start < IT_TIMEOUT_MS)
        s_view_pump (&view, 20);
    IT_ASSERT (!json_object_get (view.map, "refused"), "the deleted backend is still in STATE");
    for (size_t index = transitions; index < json_array_size (view.transitions); index++)
        IT_ASSERT (!streq (json_string_value (json_object_get (
                               json_array_get (view.transitions, index), "Backend")),
                           "refused"),
                   "a TRANSITION for a deleted backend");
    IT_ASSERT (json_integer_value (json_object_get (view.last_state, "IntervalMs"))
                   >= S_INTERVAL_MS,
               "STATE has no sensible IntervalMs");

    //  A clean stop (under the sanitizers: without leaks)
    it_stop (healthmon, SIGTERM);
    it_stop (configd, SIGTERM);
    zsock_destroy (&client);
    zpoller_destroy (&view.poller);
    zsock_destroy (&view.sub);
    json_decref (view.map);
    json_decref (view.transitions);
    json_decref (view.last_state);
    s_servers_stop (&servers);
    it_env_cleanup (&env);
    printf ("it_healthmon: %d health messages checked\n", view.messages);
    return 0;
}

/*  =========================================================================
    healthmon_probe_test - the self test of healthmon_probe: real probes
    against an evhttp server on the same loop
    =========================================================================
*/

#include "healthmon_probe.h"
#include "of_loop.h"
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

typedef struct {
    struct event_base *base;
    healthmon_result_t result;
    int results;
    //  What the server saw last
    char method [8];
    char uri [256];
    char authorization [64];
    char custom [64];
    char host [64];
} s_test_t;

static void
s_test_copy_header (struct evhttp_request *request, const char *name, char *dest, size_t size)
{
    const char *value = evhttp_find_header (evhttp_request_get_input_headers (request), name);
    snprintf (dest, size, "%s", value ? value : "");
}

//  /ok answers 200, /fail 503, /hang never
static void
s_test_serve (struct evhttp_request *request, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    snprintf (test->method, sizeof test->method, "%s",
              evhttp_request_get_command (request) == EVHTTP_REQ_HEAD ? "HEAD" : "GET");
    snprintf (test->uri, sizeof test->uri, "%s", evhttp_request_get_uri (request));
    s_test_copy_header (request, "Authorization", test->authorization,
                        sizeof test->authorization);
    s_test_copy_header (request, "X-Probe", test->custom, sizeof test->custom);
    s_test_copy_header (request, "Host", test->host, sizeof test->host);
    if (strncmp (test->uri, "/hang", 5) == 0)
        return;
    evbuffer_add_printf (evhttp_request_get_output_buffer (request), "Ollama is running");
    if (strncmp (test->uri, "/ok", 3) == 0)
        evhttp_send_reply (request, 200, "OK", NULL);
    else
        evhttp_send_reply (request, 503, "Unavailable", NULL);
}

static void
s_test_result (void *arg, const healthmon_result_t *result)
{
    s_test_t *test = (s_test_t *) arg;
    test->result = *result;
    test->results++;
    event_base_loopbreak (test->base);
}

//  Runs one probe of the backend described by JSON text to its end
static void
s_test_probe (s_test_t *test, struct evdns_base *dns, SSL_CTX *tls, const char *backend,
              int64_t timeout_ms, bool verbose)
{
    json_t *object = json_loads (backend, 0, NULL);
    assert (object);
    const of_backend_t *record;
    of_records_t *records = of_records_test_backend (object, &record);
    json_decref (object);
    healthmon_probe_t *probe = healthmon_probe_new (test->base, dns, tls, records, record,
                                                    s_test_result, test);
    //  The probe keeps the set it reads
    of_records_destroy (&records);
    int before = test->results;
    assert (healthmon_probe_start (probe, timeout_ms) == 0);
    assert (healthmon_probe_busy (probe));
    assert (healthmon_probe_start (probe, timeout_ms) == -1);
    assert (test->results == before);       //  never called back from start
    event_base_dispatch (test->base);
    assert (test->results == before + 1);
    assert (!healthmon_probe_busy (probe));
    if (verbose)
        printf ("  %s -> %s (%lld ms)\n", backend, test->result.reason,
                (long long) test->result.latency_ms);
    //  A second probe of a good backend reuses the connection, and still works
    if (test->result.ok) {
        assert (healthmon_probe_start (probe, timeout_ms) == 0);
        event_base_dispatch (test->base);
        assert (test->results == before + 2 && test->result.ok);
    }
    healthmon_probe_destroy (&probe);
}

//  True if the backend is probed alike with field set to value (stolen)
static bool
s_test_same (json_t *object, const char *field, json_t *value)
{
    json_t *changed = json_deep_copy (object);
    json_object_set_new (changed, field, value);
    const of_backend_t *backend, *other;
    of_records_t *records = of_records_test_backend (object, &backend);
    of_records_t *records_other = of_records_test_backend (changed, &other);
    bool same = healthmon_probe_same (backend, other);
    of_records_destroy (&records);
    of_records_destroy (&records_other);
    json_decref (changed);
    return same;
}

void
healthmon_probe_test (bool verbose)
{
    printf (" * healthmon_probe: ");
    if (verbose)
        printf ("\n");
    s_test_t test = {.base = event_base_new ()};
    struct evdns_base *dns = evdns_base_new (test.base, 0);
    //  The hosts file only: the test needs no name server
    assert (evdns_base_load_hosts (dns, NULL) == 0);
    SSL_CTX *tls = of_tls_client_new ();
    assert (tls);
    struct evhttp *server = evhttp_new (test.base);
    evhttp_set_gencb (server, s_test_serve, &test);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle (server, "127.0.0.1", 0);
    assert (bound);
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    getsockname (evhttp_bound_socket_get_fd (bound), (struct sockaddr *) &address, &length);
    int port = ntohs (address.sin_port);
    char backend [512];

    //  A good answer, with the query string, token, headers and Host
    snprintf (backend, sizeof backend,
              "{\"Hostname\": \"127.0.0.1\", \"Port\": %d, \"HealthCheckUrl\": \"/ok\", "
              "\"Querystring\": \"a=1\", \"BearerToken\": \"t0k\", \"Headers\": "
              "{\"X-Probe\": \"yes\"}}", port);
    s_test_probe (&test, dns, tls, backend, 2000, verbose);
    assert (test.result.ok && test.result.status == 200);
    assert (streq (test.result.reason, "HTTP 200") && test.result.latency_ms >= 0);
    assert (streq (test.method, "GET") && streq (test.uri, "/ok?a=1"));
    assert (streq (test.authorization, "Bearer t0k") && streq (test.custom, "yes"));
    char host [64];
    snprintf (host, sizeof host, "127.0.0.1:%d", port);
    assert (streq (test.host, host));

    //  HEAD, a query string after one in the URL, a 5xx answer
    snprintf (backend, sizeof backend,
              "{\"Hostname\": \"127.0.0.1\", \"Port\": %d, \"HealthCheckMethod\": \"HEAD\", "
              "\"HealthCheckUrl\": \"/fail?x=1\", \"Querystring\": \"b=2\"}", port);
    s_test_probe (&test, dns, tls, backend, 2000, verbose);
    assert (!test.result.ok && test.result.status == 503);
    assert (streq (test.result.reason, "HTTP 503"));
    assert (streq (test.method, "HEAD") && streq (test.uri, "/fail?x=1&b=2"));
    assert (*test.authorization == 0);

    //  A host name through evdns (the hosts file)
    snprintf (backend, sizeof backend,
              "{\"Hostname\": \"localhost\", \"Port\": %d, \"HealthCheckUrl\": \"/ok\"}", port);
    s_test_probe (&test, dns, tls, backend, 2000, verbose);
    assert (test.result.ok);
    snprintf (host, sizeof host, "localhost:%d", port);
    assert (streq (test.host, host));

    //  No answer: a timeout, no latency
    snprintf (backend, sizeof backend,
              "{\"Hostname\": \"127.0.0.1\", \"Port\": %d, \"HealthCheckUrl\": \"/hang\"}", port);
    s_test_probe (&test, dns, tls, backend, 200, verbose);
    assert (!test.result.ok && test.result.status == 0 && test.result.latency_ms == -1);
    assert (streq (test.result.reason, "timeout after 200 ms"));

    //  A closed port
    int closed = socket (AF_INET, SOCK_STREAM, 0);
    address.sin_port = 0;
    assert (bind (closed, (struct sockaddr *) &address, sizeof address) == 0);
    getsockname (closed, (struct sockaddr *) &address, &length);
    close (closed);
    snprintf (backend, sizeof backend, "{\"Hostname\": \"127.0.0.1\", \"Port\": %d}",
              ntohs (address.sin_port));
    s_test_probe (&test, dns, tls, backend, 2000, verbose);
    assert (!test.result.ok && streq (test.result.reason, "connect: Connection refused"));

    //  TLS to a plain HTTP server fails in the handshake
    snprintf (backend, sizeof backend,
              "{\"Hostname\": \"127.0.0.1\", \"Port\": %d, \"Ssl\": true, "
              "\"HealthCheckUrl\": \"/ok\"}", port);
    s_test_probe (&test, dns, tls, backend, 2000, verbose);
    assert (!test.result.ok && strncmp (test.result.reason, "tls: ", 5) == 0);

    //  A name the hosts file does not know, and no name server to ask
    s_test_probe (&test, dns, tls, "{\"Hostname\": \"nowhere.invalid\", \"Port\": 80}", 200,
                  verbose);
    assert (!test.result.ok && streq (test.result.reason,
                                      "timeout after 200 ms resolving nowhere.invalid"));

    //  Destroyed in flight: no callback, nothing leaks
    json_t *object = json_pack ("{s:s, s:i, s:s}", "Hostname", "127.0.0.1", "Port", port,
                                "HealthCheckUrl", "/hang");
    const of_backend_t *record;
    of_records_t *records = of_records_test_backend (object, &record);
    healthmon_probe_t *probe = healthmon_probe_new (test.base, dns, tls, records, record,
                                                    s_test_result, &test);
    int before = test.results;
    assert (healthmon_probe_start (probe, 5000) == 0);
    struct timeval moment = {0, 50 * 1000};
    event_base_loopexit (test.base, &moment);
    event_base_dispatch (test.base);
    healthmon_probe_destroy (&probe);
    assert (test.results == before);
    of_records_destroy (&records);

    //  What makes two backends probe alike: the same requests, method and URL
    assert (s_test_same (object, "MaxParallelRequests", json_integer (9)));
    assert (s_test_same (object, "HealthyThreshold", json_integer (5)));
    assert (!s_test_same (object, "BearerToken", json_string ("new")));
    assert (!s_test_same (object, "Port", json_integer (port + 1)));
    assert (!s_test_same (object, "HealthCheckUrl", json_string ("/ok")));
    assert (!s_test_same (object, "HealthCheckMethod", json_string ("HEAD")));

    //  A newer record probed alike: the probe reads it once the sets it was
    //  made from and moved from are gone
    json_object_set_new (object, "HealthCheckUrl", json_string ("/ok"));
    records = of_records_test_backend (object, &record);
    probe = healthmon_probe_new (test.base, dns, tls, records, record, s_test_result, &test);
    of_records_destroy (&records);
    assert (healthmon_probe_start (probe, 2000) == 0);
    event_base_dispatch (test.base);
    assert (test.result.ok && streq (test.uri, "/ok"));
    json_object_set_new (object, "Name", json_string ("renamed"));
    records = of_records_test_backend (object, &record);
    healthmon_probe_set_backend (probe, records, record);
    of_records_destroy (&records);
    assert (healthmon_probe_start (probe, 2000) == 0);
    event_base_dispatch (test.base);
    assert (test.result.ok && streq (test.uri, "/ok"));
    healthmon_probe_destroy (&probe);
    json_decref (object);

    evhttp_free (server);
    SSL_CTX_free (tls);
    evdns_base_free (dns, 0);
    of_loop_free (&test.base);
    printf ("OK\n");
}

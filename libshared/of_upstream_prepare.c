/*  =========================================================================
    of_upstream_prepare - what every request to a backend carries
    =========================================================================
*/

#include "of_classes.h"
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>

//  "[hostname]:65535"
#define S_HOST_MAX (OF_SCHEMA_HOSTNAME_MAX + sizeof "[]:65535")

//  Headers that carry a client's credentials
static const char *const s_credentials [] = {
    "Authorization", "x-api-key", "Proxy-Authorization", NULL
};

bool
of_upstream_prepare_credential (const char *name)
{
    assert (name);
    for (const char *const *c = s_credentials; *c; c++)
        if (strcasecmp (name, *c) == 0)
            return true;
    return false;
}

bool
of_upstream_prepare_own_credentials (const of_backend_t *backend)
{
    assert (backend);
    if (backend->bearer_token && *backend->bearer_token)
        return true;
    for (size_t index = 0; index < backend->header_count; index++)
        if (of_upstream_prepare_credential (backend->headers [index].name))
            return true;
    return false;
}

//  A nullable text as the builder reads it: empty is none
static const char *
s_text (const char *text)
{
    return text && *text ? text : "";
}

//  True if other has the header, with the same value
static bool
s_has_header (const of_backend_t *other, const of_header_t *header)
{
    for (size_t index = 0; index < other->header_count; index++)
        if (streq (other->headers [index].name, header->name))
            return streq (other->headers [index].value, header->value);
    return false;
}

bool
of_upstream_prepare_same (const of_backend_t *backend, const of_backend_t *other)
{
    assert (backend && other);
    if (!streq (backend->hostname, other->hostname) || backend->port != other->port
        || backend->ssl != other->ssl
        || !streq (s_text (backend->querystring), s_text (other->querystring))
        || !streq (s_text (backend->bearer_token), s_text (other->bearer_token))
        || backend->header_count != other->header_count)
        return false;
    //  Header names are unique in a record (the keys of an object)
    for (size_t index = 0; index < backend->header_count; index++)
        if (!s_has_header (other, &backend->headers [index]))
            return false;
    return true;
}

//  Every header of that name goes
static void
s_remove (struct evkeyvalq *headers, const char *name)
{
    while (evhttp_remove_header (headers, name) == 0)
        ;
}

//  The one header of that name
static void
s_set (struct evkeyvalq *headers, const char *name, const char *value)
{
    s_remove (headers, name);
    evhttp_add_header (headers, name, value);
}

char *
of_upstream_prepare (const of_backend_t *backend, const char *path,
                     const of_upstream_extra_t *extra, struct evkeyvalq *headers)
{
    assert (backend && path && headers);
    static const of_upstream_extra_t none = {0};
    if (!extra)
        extra = &none;

    //  Credentials nobody handed in never travel, whoever put them there
    for (const char *const *c = s_credentials; *c; c++)
        s_remove (headers, *c);

    //  Ollama refuses a foreign Host: the backend's own
    const char *hostname = backend->hostname;
    char host [S_HOST_MAX];
    snprintf (host, sizeof host, strchr (hostname, ':') ? "[%s]:%d" : "%s:%d", hostname,
              backend->port);
    s_set (headers, "Host", host);
    if (extra->forwarded_for)
        s_set (headers, "X-Forwarded-For", extra->forwarded_for);
    if (extra->request_id)
        s_set (headers, "X-Request-Id", extra->request_id);
    if (!of_upstream_prepare_own_credentials (backend)) {
        if (extra->authorization)
            evhttp_add_header (headers, "Authorization", extra->authorization);
        if (extra->api_key)
            evhttp_add_header (headers, "x-api-key", extra->api_key);
    }
    for (size_t index = 0; index < backend->header_count; index++)
        s_set (headers, backend->headers [index].name, backend->headers [index].value);
    //  The token is set last: it wins over a Headers.Authorization
    const char *token = backend->bearer_token;
    if (token && *token) {
        char *bearer = zsys_sprintf ("Bearer %s", token);
        s_set (headers, "Authorization", bearer);
        zstr_free (&bearer);
    }

    const char *query = extra->query && *extra->query ? extra->query : NULL;
    const char *own = backend->querystring;
    if (own && !*own)
        own = NULL;
    bool asked = strchr (path, '?') != NULL;
    return zsys_sprintf ("%s%s%s%s%s", path, query ? (asked ? "&" : "?") : "", query ? query : "",
                         own ? (asked || query ? "&" : "?") : "", own ? own : "");
}

//  --------------------------------------------------------------------------
//  Self test

static const char *
s_test_header (struct evkeyvalq *headers, const char *name)
{
    return evhttp_find_header (headers, name);
}

static size_t
s_test_count (struct evkeyvalq *headers, const char *name)
{
    size_t count = 0;
    struct evkeyval *header;
    TAILQ_FOREACH (header, headers, next)
        if (strcasecmp (header->key, name) == 0)
            count++;
    return count;
}

static void
s_test_clear (struct evkeyvalq *headers)
{
    evhttp_clear_headers (headers);
    TAILQ_INIT (headers);
}

//  Prepares for the backend the object compiles to
static char *
s_test_prepare (json_t *object, const char *path, const of_upstream_extra_t *extra,
                struct evkeyvalq *headers)
{
    const of_backend_t *backend;
    of_records_t *records = of_records_test_backend (object, &backend);
    char *uri = of_upstream_prepare (backend, path, extra, headers);
    of_records_destroy (&records);
    return uri;
}

static bool
s_test_own_credentials (json_t *object)
{
    const of_backend_t *backend;
    of_records_t *records = of_records_test_backend (object, &backend);
    bool own = of_upstream_prepare_own_credentials (backend);
    of_records_destroy (&records);
    return own;
}

//  True if the backend gets the same requests with field set to value
//  (stolen; NULL: without the field)
static bool
s_test_same (json_t *object, const char *field, json_t *value)
{
    json_t *changed = json_deep_copy (object);
    if (value)
        json_object_set_new (changed, field, value);
    else
        json_object_del (changed, field);
    const of_backend_t *backend, *other;
    of_records_t *records = of_records_test_backend (object, &backend);
    of_records_t *records_other = of_records_test_backend (changed, &other);
    bool same = of_upstream_prepare_same (backend, other);
    assert (same == of_upstream_prepare_same (other, backend));
    of_records_destroy (&records);
    of_records_destroy (&records_other);
    json_decref (changed);
    return same;
}

void
of_upstream_prepare_test (bool verbose)
{
    (void) verbose;
    printf (" * of_upstream_prepare: ");
    struct evkeyvalq headers;
    TAILQ_INIT (&headers);

    //  A backend without credentials: Host, Querystring, Headers over the caller's defaults
    json_t *backend = json_pack ("{s:s, s:i, s:s, s:{s:s}}", "Hostname", "gpu-a.internal",
                                 "Port", 11434, "Querystring", "k=v", "Headers", "Accept", "x/y");
    evhttp_add_header (&headers, "Accept", "application/json");
    evhttp_add_header (&headers, "Host", "client.example");
    char *uri = s_test_prepare (backend, "/api/tags", NULL, &headers);
    assert (streq (uri, "/api/tags?k=v"));
    assert (streq (s_test_header (&headers, "Host"), "gpu-a.internal:11434"));
    assert (s_test_count (&headers, "Host") == 1);
    assert (streq (s_test_header (&headers, "Accept"), "x/y") && s_test_count (&headers, "accept") == 1);
    assert (!s_test_header (&headers, "Authorization"));
    assert (!s_test_own_credentials (backend));
    zstr_free (&uri);

    //  The client's query, then the backend's; a path that has a query already
    of_upstream_extra_t extra = {.query = "a=1"};
    s_test_clear (&headers);
    uri = s_test_prepare (backend, "/api/chat", &extra, &headers);
    assert (streq (uri, "/api/chat?a=1&k=v"));
    zstr_free (&uri);
    s_test_clear (&headers);
    uri = s_test_prepare (backend, "/health?x=1", &extra, &headers);
    assert (streq (uri, "/health?x=1&a=1&k=v"));
    zstr_free (&uri);
    json_object_del (backend, "Querystring");
    s_test_clear (&headers);
    uri = s_test_prepare (backend, "/", NULL, &headers);
    assert (streq (uri, "/"));
    zstr_free (&uri);

    //  Extras; a client's credentials offered to a backend without its own pass
    extra = (of_upstream_extra_t) {.forwarded_for = "10.0.0.1, 10.0.0.2", .request_id = "r-1",
                                   .authorization = "Bearer client", .api_key = "ck"};
    s_test_clear (&headers);
    evhttp_add_header (&headers, "X-Forwarded-For", "forged");
    uri = s_test_prepare (backend, "/", &extra, &headers);
    assert (streq (s_test_header (&headers, "X-Forwarded-For"), "10.0.0.1, 10.0.0.2"));
    assert (s_test_count (&headers, "X-Forwarded-For") == 1);
    assert (streq (s_test_header (&headers, "X-Request-Id"), "r-1"));
    assert (streq (s_test_header (&headers, "Authorization"), "Bearer client"));
    assert (streq (s_test_header (&headers, "x-api-key"), "ck"));
    zstr_free (&uri);

    //  Credentials nobody offered are removed, whoever put them there
    s_test_clear (&headers);
    evhttp_add_header (&headers, "authorization", "Bearer copied");
    evhttp_add_header (&headers, "X-API-Key", "copied");
    evhttp_add_header (&headers, "Proxy-Authorization", "Basic eA==");
    uri = s_test_prepare (backend, "/", NULL, &headers);
    assert (!s_test_header (&headers, "Authorization") && !s_test_header (&headers, "x-api-key"));
    assert (!s_test_header (&headers, "Proxy-Authorization"));
    zstr_free (&uri);

    //  A backend's own x-api-key: the client's credentials stay behind
    json_object_set_new (json_object_get (backend, "Headers"), "X-Api-Key", json_string ("mine"));
    assert (s_test_own_credentials (backend));
    s_test_clear (&headers);
    uri = s_test_prepare (backend, "/", &extra, &headers);
    assert (!s_test_header (&headers, "Authorization"));
    assert (streq (s_test_header (&headers, "x-api-key"), "mine"));
    assert (s_test_count (&headers, "x-api-key") == 1);
    zstr_free (&uri);

    //  BearerToken wins over Headers.Authorization; a token of the schema's longest, whole
    char token [OF_SCHEMA_TOKEN_MAX + 1];
    memset (token, 't', OF_SCHEMA_TOKEN_MAX);
    token [OF_SCHEMA_TOKEN_MAX] = 0;
    json_object_set_new (backend, "BearerToken", json_string (token));
    json_object_set_new (json_object_get (backend, "Headers"), "Authorization",
                         json_string ("Bearer other"));
    s_test_clear (&headers);
    uri = s_test_prepare (backend, "/", &extra, &headers);
    const char *authorization = s_test_header (&headers, "Authorization");
    assert (authorization && strlen (authorization) == strlen ("Bearer ") + OF_SCHEMA_TOKEN_MAX);
    assert (strncmp (authorization, "Bearer tttt", 11) == 0);
    assert (s_test_count (&headers, "Authorization") == 1);
    zstr_free (&uri);

    //  An IPv6 literal gets its brackets
    json_object_set_new (backend, "Hostname", json_string ("::1"));
    s_test_clear (&headers);
    uri = s_test_prepare (backend, "/", NULL, &headers);
    assert (streq (s_test_header (&headers, "Host"), "[::1]:11434"));
    zstr_free (&uri);

    //  What makes two backends get the same requests: Headers in any order
    json_t *object = json_pack ("{s:s, s:i, s:s, s:s, s:{s:s, s:s}}", "Hostname", "h", "Port", 1,
                                "Querystring", "a=1", "BearerToken", "t", "Headers", "A", "1",
                                "B", "2");
    assert (s_test_same (object, "Headers", json_pack ("{s:s, s:s}", "B", "2", "A", "1")));
    assert (s_test_same (object, "MaxParallelRequests", json_integer (9)));
    assert (s_test_same (object, "HealthCheckUrl", json_string ("/other")));
    assert (!s_test_same (object, "Headers", json_pack ("{s:s, s:s}", "A", "1", "B", "3")));
    assert (!s_test_same (object, "Headers", json_pack ("{s:s, s:s}", "A", "1", "C", "2")));
    assert (!s_test_same (object, "Headers", json_pack ("{s:s}", "A", "1")));
    assert (!s_test_same (object, "Headers", NULL));
    assert (!s_test_same (object, "Hostname", json_string ("g")));
    assert (!s_test_same (object, "Port", json_integer (2)));
    assert (!s_test_same (object, "Ssl", json_true ()));
    assert (!s_test_same (object, "Querystring", NULL));
    assert (!s_test_same (object, "BearerToken", json_string ("u")));
    assert (!s_test_same (object, "BearerToken", NULL));
    json_decref (object);

    assert (of_upstream_prepare_credential ("AUTHORIZATION"));
    assert (!of_upstream_prepare_credential ("X-Backend-Key"));
    s_test_clear (&headers);
    json_decref (backend);
    printf ("OK\n");
}

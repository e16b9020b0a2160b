/*  =========================================================================
    of_upstream - requests to backends, over pooled connections
    =========================================================================
*/

#include "of_upstream.h"
#include "of_loop.h"
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

//  Once the request is written, evhttp's own timeout steps aside: the
//  caller's first-byte and idle timers take over (a cold model load can take minutes)
#define S_WRITTEN_TIMEOUT_S    (24 * 3600)
#define S_KEY_MAX              (OF_SCHEMA_HOSTNAME_MAX + sizeof ":65535 tls")
#define S_REASON_MAX           256

struct _of_upstream_pool_t {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *tls;
    of_settings_t *settings;
    zhashx_t *idle;             //  "host:port" or "host:port tls" -> zlistx_t of s_idle_t,
                                //  the most recently used last
    size_t idle_count;
    uint64_t connects;          //  connections made, for the metrics
    uint64_t reuses;            //  requests sent on an idle connection
    zlistx_t *doomed;           //  connections to free from the loop, next turn
    struct event *reaper;       //  frees them
};

//  A kept-alive connection waiting for the next request to its backend
typedef struct {
    of_upstream_pool_t *pool;
    struct evhttp_connection *connection;
    zlistx_t *list;             //  the backend's idle list, which holds it
    void *handle;               //  its place there
    struct event *expiry;       //  closes it after Upstream.IdleTimeoutMs
} s_idle_t;

struct _of_upstream_t {
    of_upstream_pool_t *pool;
    char key [S_KEY_MAX];
    char host [OF_SCHEMA_HOSTNAME_MAX + 1];
    int port;
    bool ssl;
    struct evhttp_connection *connection;
    struct evhttp_request *request;     //  NULL once evhttp has freed it
    of_upstream_fn_t fn;
    void *arg;
    bool written;                       //  the whole request went out
    bool headed;                        //  the response's head came
    enum evhttp_request_error error;
    bool failed;
    bool closed;                        //  evhttp closed the connection while we held it
    int64_t sent_at;                    //  zclock_mono when the request was queued
    struct evbuffer *output;            //  the connection's output, while watched
    struct evbuffer_cb_entry *output_cb;
    struct event *deferred;             //  on_fail for a request that could not be queued
    const of_backend_t *backend;        //  borrowed, until it is sent
};

//  --------------------------------------------------------------------------
//  Connections

static void s_reap (evutil_socket_t fd, short what, void *arg);

static void s_connection_free_later (of_upstream_pool_t *pool,
                                     struct evhttp_connection *connection);

//  Takes an idle connection out of its list: the caller owns the connection
static struct evhttp_connection *
s_idle_detach (s_idle_t *idle)
{
    struct evhttp_connection *connection = idle->connection;
    evhttp_connection_set_closecb (connection, NULL, NULL);
    zlistx_detach (idle->list, idle->handle);
    idle->pool->idle_count--;
    event_free (idle->expiry);
    free (idle);
    return connection;
}

//  The backend closed an idle connection, or the connection broke: never reused.
//  Runs inside the connection's own callbacks, so it is freed from the loop.
static void
s_idle_on_close (struct evhttp_connection *connection, void *arg)
{
    s_idle_t *idle = (s_idle_t *) arg;
    of_upstream_pool_t *pool = idle->pool;
    s_connection_free_later (pool, s_idle_detach (idle));
    (void) connection;
}

//  Not used again in time: closed
static void
s_idle_on_expiry (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_idle_t *idle = (s_idle_t *) arg;
    of_upstream_pool_t *pool = idle->pool;
    s_connection_free_later (pool, s_idle_detach (idle));
}

static void
s_idle_list_destroy (void **item)
{
    zlistx_t *list = (zlistx_t *) *item;
    s_idle_t *idle;
    while ((idle = (s_idle_t *) zlistx_first (list)))
        evhttp_connection_free (s_idle_detach (idle));
    zlistx_destroy (&list);
    *item = NULL;
}

of_upstream_pool_t *
of_upstream_pool_new (struct event_base *base, of_settings_t *settings)
{
    assert (base && settings);
    of_upstream_pool_t *self = (of_upstream_pool_t *) zmalloc (sizeof (of_upstream_pool_t));
    self->base = base;
    self->settings = settings;
    self->dns = evdns_base_new (base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    self->tls = of_tls_client_new ();
    self->idle = zhashx_new ();
    zhashx_set_destructor (self->idle, s_idle_list_destroy);
    self->doomed = zlistx_new ();
    self->reaper = event_new (base, -1, 0, s_reap, self);
    if (!self->dns || !self->tls || !self->reaper) {
        of_upstream_pool_destroy (&self);
        return NULL;
    }
    return self;
}

void
of_upstream_pool_destroy (of_upstream_pool_t **self_p)
{
    assert (self_p);
    of_upstream_pool_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->idle);
    //  Connections dropped in the loop's last turn, which will not run again
    s_reap (-1, 0, self);
    zlistx_destroy (&self->doomed);
    if (self->reaper)
        event_free (self->reaper);
    if (self->tls)
        SSL_CTX_free (self->tls);
    if (self->dns)
        evdns_base_free (self->dns, 0);
    free (self);
    *self_p = NULL;
}

void
of_upstream_pool_counts (of_upstream_pool_t *self, uint64_t *connects, uint64_t *reuses)
{
    assert (self);
    *connects = self->connects;
    *reuses = self->reuses;
}

size_t
of_upstream_pool_idle (of_upstream_pool_t *self)
{
    assert (self);
    return self->idle_count;
}

//  A TLS connection that checks the backend's certificate and name
static struct evhttp_connection *
s_connect_tls (of_upstream_pool_t *pool, const char *host, int port)
{
    SSL *ssl = of_tls_client_ssl (pool->tls, host);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new (
        pool->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
        BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev) {
        SSL_free (ssl);
        return NULL;
    }
    return evhttp_connection_base_bufferevent_new (pool->base, pool->dns, bev, host,
                                                   (unsigned short) port);
}

//  Takes the backend's most recently used idle connection, or makes a new
//  one. Only connections still open are in the lists (a closed one leaves at
//  once, see s_idle_on_close), so evhttp never has to reconnect one: it could
//  not for TLS, whose bufferevent cannot be connected twice.
static struct evhttp_connection *
s_connection_take (of_upstream_pool_t *pool, const char *key, const char *host, int port, bool ssl)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (pool->idle, key);
    s_idle_t *idle = list ? (s_idle_t *) zlistx_last (list) : NULL;
    if (idle) {
        pool->reuses++;
        return s_idle_detach (idle);
    }
    pool->connects++;
    if (ssl)
        return s_connect_tls (pool, host, port);
    return evhttp_connection_base_new (pool->base, pool->dns, host, (unsigned short) port);
}

//  Frees the connections dropped since the last turn of the loop
static void
s_reap (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    of_upstream_pool_t *pool = (of_upstream_pool_t *) arg;
    struct evhttp_connection *connection;
    while ((connection = (struct evhttp_connection *) zlistx_first (pool->doomed))) {
        zlistx_detach_cur (pool->doomed);
        evhttp_connection_free (connection);
    }
}

//  Frees a connection from the loop, never inside one of its own callbacks;
//  the pool frees it when it is destroyed first
static void
s_connection_free_later (of_upstream_pool_t *pool, struct evhttp_connection *connection)
{
    //  evhttp tells a connection's close callback when it frees an open one
    evhttp_connection_set_closecb (connection, NULL, NULL);
    zlistx_add_end (pool->doomed, connection);
    event_active (pool->reaper, 0, 1);
}

//  Keeps a connection that ended its request cleanly, for the next one, up
//  to Upstream.IdlePerBackendMax per backend and for Upstream.IdleTimeoutMs
static void
s_connection_give_back (of_upstream_t *self)
{
    of_upstream_pool_t *pool = self->pool;
    struct evhttp_connection *connection = self->connection;
    self->connection = NULL;
    zlistx_t *list = (zlistx_t *) zhashx_lookup (pool->idle, self->key);
    if (!list) {
        list = zlistx_new ();
        zhashx_insert (pool->idle, self->key, list);
    }
    //  A response that asked to close (Connection: close, HTTP/1.0) leaves
    //  evhttp's connection closed: it goes, as one the backend closes later does
    if (self->closed || zlistx_size (list) >= (size_t) pool->settings->upstream_idle_max) {
        s_connection_free_later (pool, connection);
        return;
    }
    //  Nagle's algorithm off for the requests to come: TLS writes a request's
    //  headers and body as records of their own, and the second would wait
    //  for the backend's delayed acknowledgement of the first (40 ms)
    evutil_socket_t fd = bufferevent_getfd (evhttp_connection_get_bufferevent (connection));
    int on = 1;
    if (fd >= 0)
        setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    s_idle_t *idle = (s_idle_t *) zmalloc (sizeof (s_idle_t));
    idle->pool = pool;
    idle->connection = connection;
    idle->list = list;
    idle->handle = zlistx_add_end (list, idle);
    idle->expiry = evtimer_new (pool->base, s_idle_on_expiry, idle);
    int64_t idle_ms = pool->settings->upstream_idle_ms;
    struct timeval timeout = {idle_ms / 1000, (idle_ms % 1000) * 1000};
    evtimer_add (idle->expiry, &timeout);
    evhttp_connection_set_closecb (connection, s_idle_on_close, idle);
    pool->idle_count++;
}

//  --------------------------------------------------------------------------
//  One request

static void
s_unwatch_output (of_upstream_t *self)
{
    if (self->output_cb) {
        evbuffer_remove_cb_entry (self->output, self->output_cb);
        self->output_cb = NULL;
    }
}

static void
s_free (of_upstream_t *self)
{
    s_unwatch_output (self);
    if (self->deferred)
        event_free (self->deferred);
    free (self);
}

//  The request has left: evhttp's connect timeout gives way to the caller's timers
static void
s_on_output (struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    of_upstream_t *self = (of_upstream_t *) arg;
    if (info->n_deleted > 0 && evbuffer_get_length (buffer) == 0 && !self->written) {
        self->written = true;
        struct timeval timeout = {S_WRITTEN_TIMEOUT_S, 0};
        evhttp_connection_set_timeout_tv (self->connection, &timeout);
        s_unwatch_output (self);
    }
}

//  evhttp closed the request's connection (the response asked for it, or it broke)
static void
s_on_close (struct evhttp_connection *connection, void *arg)
{
    (void) connection;
    ((of_upstream_t *) arg)->closed = true;
}

static int
s_on_head (struct evhttp_request *request, void *arg)
{
    of_upstream_t *self = (of_upstream_t *) arg;
    self->headed = true;
    self->written = true;
    s_unwatch_output (self);
    self->fn.on_head (self->arg, evhttp_request_get_response_code (request),
                      evhttp_request_get_input_headers (request));
    return 0;
}

static void
s_on_data (struct evhttp_request *request, void *arg)
{
    of_upstream_t *self = (of_upstream_t *) arg;
    self->fn.on_data (self->arg, evhttp_request_get_input_buffer (request));
}

static void
s_on_error (enum evhttp_request_error error, void *arg)
{
    of_upstream_t *self = (of_upstream_t *) arg;
    self->error = error;
    self->failed = true;
}

static void
s_fail (of_upstream_t *self)
{
    char reason [S_REASON_MAX];
    of_upstream_fail_t fail;
    if (self->headed) {
        fail = OF_UPSTREAM_FAIL_BROKEN;
        snprintf (reason, sizeof reason, "the backend's response broke off%s",
                  self->error == EVREQ_HTTP_INVALID_HEADER ? " (malformed framing)" : "");
    }
    else if (!self->written) {
        fail = OF_UPSTREAM_FAIL_CONNECT;
        //  evhttp 2.1 reports a refused connect as a timeout too: tell them apart by the clock
        int64_t waited = zclock_mono () - self->sent_at;
        char tls [S_REASON_MAX] = "";
        if (self->ssl && self->connection)
            of_tls_error (evhttp_connection_get_bufferevent (self->connection), tls, sizeof tls);
        if (*tls)
            snprintf (reason, sizeof reason, "%s", tls);
        else
        if (self->error == EVREQ_HTTP_TIMEOUT
            && waited >= self->pool->settings->connect_timeout_ms)
            snprintf (reason, sizeof reason, "connect: timed out after %lld ms",
                      (long long) self->pool->settings->connect_timeout_ms);
        else
            snprintf (reason, sizeof reason, "connect: connection refused or reset");
    }
    else {
        fail = OF_UPSTREAM_FAIL_NO_RESPONSE;
        snprintf (reason, sizeof reason, "%s",
                  self->error == EVREQ_HTTP_INVALID_HEADER
                  ? "the backend sent a malformed response"
                  : "the backend closed the connection without answering");
    }
    //  The connection is broken: it goes, from the loop
    s_connection_free_later (self->pool, self->connection);
    self->connection = NULL;
    of_upstream_fn_t fn = self->fn;
    void *owner = self->arg;
    s_free (self);
    fn.on_fail (owner, fail, reason);
}

static void
s_on_done (struct evhttp_request *request, void *arg)
{
    of_upstream_t *self = (of_upstream_t *) arg;
    self->request = NULL;       //  evhttp frees it after this callback
    if (!request || self->failed || evhttp_request_get_response_code (request) == 0) {
        s_fail (self);
        return;
    }
    s_connection_give_back (self);
    of_upstream_fn_t fn = self->fn;
    void *owner = self->arg;
    s_free (self);
    fn.on_done (owner);
}

of_upstream_t *
of_upstream_new (of_upstream_pool_t *pool, const of_backend_t *backend, const of_upstream_fn_t *fn,
                 void *arg)
{
    assert (pool && backend && fn && fn->on_head && fn->on_data && fn->on_done && fn->on_fail);
    of_upstream_t *self = (of_upstream_t *) zmalloc (sizeof (of_upstream_t));
    self->pool = pool;
    snprintf (self->host, sizeof self->host, "%s", backend->hostname);
    self->port = backend->port;
    self->ssl = backend->ssl;
    snprintf (self->key, sizeof self->key, "%s:%d%s", self->host, self->port,
              self->ssl ? " tls" : "");
    self->backend = backend;
    self->fn = *fn;
    self->arg = arg;
    self->request = evhttp_request_new (s_on_done, self);
    evhttp_request_set_header_cb (self->request, s_on_head);
    evhttp_request_set_chunked_cb (self->request, s_on_data);
    evhttp_request_set_error_cb (self->request, s_on_error);
    return self;
}

struct evkeyvalq *
of_upstream_headers (of_upstream_t *self)
{
    assert (self && self->request);
    return evhttp_request_get_output_headers (self->request);
}

static int
s_send (of_upstream_t *self, enum evhttp_cmd_type method, const char *uri, const char *body,
        size_t size);

static void
s_on_deferred_fail (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    of_upstream_t *self = (of_upstream_t *) arg;
    of_upstream_fn_t fn = self->fn;
    void *owner = self->arg;
    s_free (self);
    fn.on_fail (owner, OF_UPSTREAM_FAIL_CONNECT, "connect: cannot open a connection");
}

int
of_upstream_send (of_upstream_t *self, enum evhttp_cmd_type method, const char *path,
                  const of_upstream_extra_t *extra, const char *body, size_t size)
{
    assert (self && self->request && self->backend && path);
    char *uri = of_upstream_prepare (self->backend, path, extra,
                                     evhttp_request_get_output_headers (self->request));
    self->backend = NULL;
    int rc = s_send (self, method, uri, body, size);
    zstr_free (&uri);
    return rc;
}

static int
s_send (of_upstream_t *self, enum evhttp_cmd_type method, const char *uri, const char *body,
        size_t size)
{
    if (size)
        evbuffer_add (evhttp_request_get_output_buffer (self->request), body, size);
    self->sent_at = zclock_mono ();
    self->connection = s_connection_take (self->pool, self->key, self->host, self->port, self->ssl);
    if (self->connection) {
        int64_t connect_ms = self->pool->settings->connect_timeout_ms;
        struct timeval timeout = {connect_ms / 1000, (connect_ms % 1000) * 1000};
        evhttp_connection_set_timeout_tv (self->connection, &timeout);
        evhttp_connection_set_retries (self->connection, 0);
        evhttp_connection_set_closecb (self->connection, s_on_close, self);
        self->output = bufferevent_get_output (evhttp_connection_get_bufferevent (self->connection));
        self->output_cb = evbuffer_add_cb (self->output, s_on_output, self);
        if (evhttp_make_request (self->connection, self->request, method, uri) == 0)
            return 0;
        //  evhttp freed the request; the connection is no use
        self->request = NULL;
        s_unwatch_output (self);
        s_connection_free_later (self->pool, self->connection);
        self->connection = NULL;
    }
    else {
        evhttp_request_free (self->request);
        self->request = NULL;
    }
    self->deferred = evtimer_new (self->pool->base, s_on_deferred_fail, self);
    struct timeval now = {0, 0};
    evtimer_add (self->deferred, &now);
    return -1;
}

void
of_upstream_hold (of_upstream_t *self, bool hold)
{
    assert (self);
    if (!self->connection)
        return;
    struct bufferevent *bev = evhttp_connection_get_bufferevent (self->connection);
    if (hold)
        bufferevent_disable (bev, EV_READ);
    else
        bufferevent_enable (bev, EV_READ);
}

void
of_upstream_cancel (of_upstream_t **self_p)
{
    assert (self_p);
    of_upstream_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    s_unwatch_output (self);
    if (self->request && self->connection) {
        //  Runs the error callback (REQUEST_CANCEL) at once, never the done callback;
        //  the connection closes, which a backend takes as the client's going away
        evhttp_cancel_request (self->request);
        s_connection_free_later (self->pool, self->connection);
    }
    else if (self->request)
        evhttp_request_free (self->request);
    s_free (self);
}

//  --------------------------------------------------------------------------
//  Self test

typedef struct {
    int status;
    size_t bytes;
    int done;
    int failed;
    of_upstream_fail_t fail;
} s_test_t;

static void
s_test_head (void *arg, int status, struct evkeyvalq *headers)
{
    (void) headers;
    ((s_test_t *) arg)->status = status;
}

static void
s_test_data (void *arg, struct evbuffer *data)
{
    ((s_test_t *) arg)->bytes += evbuffer_get_length (data);
    evbuffer_drain (data, evbuffer_get_length (data));
}

static void
s_test_done (void *arg)
{
    ((s_test_t *) arg)->done++;
}

static void
s_test_fail (void *arg, of_upstream_fail_t fail, const char *reason)
{
    (void) reason;
    ((s_test_t *) arg)->failed++;
    ((s_test_t *) arg)->fail = fail;
}

static void
s_test_serve (struct evhttp_request *request, void *arg)
{
    if (*(bool *) arg)
        evhttp_add_header (evhttp_request_get_output_headers (request), "Connection", "close");
    struct evbuffer *body = evbuffer_new ();
    evbuffer_add_printf (body, "hello");
    evhttp_send_reply (request, 200, "OK", body);
    evbuffer_free (body);
}

//  Sends GET / to port and runs the loop until the request ended
static void
s_test_get (of_upstream_pool_t *pool, struct event_base *base, int port, s_test_t *result)
{
    static const of_upstream_fn_t fn = {s_test_head, s_test_data, s_test_done, s_test_fail};
    *result = (s_test_t) {0};
    json_t *object = json_pack ("{s:s, s:i}", "Hostname", "127.0.0.1", "Port", port);
    const of_backend_t *backend;
    of_records_t *records = of_records_test_backend (object, &backend);
    json_decref (object);
    of_upstream_t *upstream = of_upstream_new (pool, backend, &fn, result);
    of_upstream_send (upstream, EVHTTP_REQ_GET, "/", NULL, NULL, 0);
    //  The request no longer needs the record once it is sent
    of_records_destroy (&records);
    while (!result->done && !result->failed)
        event_base_loop (base, EVLOOP_ONCE);
}

//  Runs the loop for ms
static void
s_test_pause (struct event_base *base, int ms)
{
    struct timeval pause = {0, ms * 1000};
    event_base_loopexit (base, &pause);
    event_base_dispatch (base);
}

void
of_upstream_test (bool verbose)
{
    (void) verbose;
    printf (" * of_upstream: ");
    char error [OF_SETTINGS_ERROR_MAX];
    of_settings_t *settings = of_settings_load (NULL, error, sizeof error);
    struct event_base *base = event_base_new ();
    assert (settings && base);
    of_upstream_pool_t *pool = of_upstream_pool_new (base, settings);
    assert (pool && of_upstream_pool_idle (pool) == 0);

    //  A backend: the response streams back, and the connection is kept for the next
    struct evhttp *server = evhttp_new (base);
    struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle (server, "127.0.0.1", 0);
    assert (bound);
    bool closing = false;           //  the backend's answers say Connection: close
    evhttp_set_gencb (server, s_test_serve, &closing);
    struct sockaddr_in address;
    socklen_t length = sizeof address;
    getsockname (evhttp_bound_socket_get_fd (bound), (struct sockaddr *) &address, &length);
    int port = ntohs (address.sin_port);
    s_test_t result;
    s_test_get (pool, base, port, &result);
    assert (result.done == 1 && result.status == 200 && result.bytes == 5);
    assert (of_upstream_pool_idle (pool) == 1);
    //  The kept connection sends without Nagle's delay
    s_idle_t *kept = (s_idle_t *) zlistx_first ((zlistx_t *) zhashx_first (pool->idle));
    int nodelay = 0;
    socklen_t nodelay_size = sizeof nodelay;
    getsockopt (bufferevent_getfd (evhttp_connection_get_bufferevent (kept->connection)),
                IPPROTO_TCP, TCP_NODELAY, &nodelay, &nodelay_size);
    assert (nodelay == 1);
    s_test_get (pool, base, port, &result);
    assert (result.done == 1 && of_upstream_pool_idle (pool) == 1);
    uint64_t connects, reuses;
    of_upstream_pool_counts (pool, &connects, &reuses);
    assert (connects == 1 && reuses == 1);

    //  The backend closes the idle connection (its own idle timeout, for
    //  connections it accepts from now on): it leaves the pool at once, and
    //  the next request makes a new one
    struct timeval brief = {0, 100000};
    evhttp_set_timeout_tv (server, &brief);
    of_upstream_pool_destroy (&pool);
    pool = of_upstream_pool_new (base, settings);
    s_test_get (pool, base, port, &result);
    assert (result.done == 1 && of_upstream_pool_idle (pool) == 1);
    s_test_pause (base, 400);
    assert (of_upstream_pool_idle (pool) == 0);
    s_test_get (pool, base, port, &result);
    assert (result.done == 1 && of_upstream_pool_idle (pool) == 1);
    of_upstream_pool_counts (pool, &connects, &reuses);
    assert (connects == 2 && reuses == 0);

    //  An answer with Connection: close: its connection is not kept
    closing = true;
    s_test_get (pool, base, port, &result);
    assert (result.done == 1 && result.bytes == 5 && of_upstream_pool_idle (pool) == 0);
    closing = false;

    //  Not used again within Upstream.IdleTimeoutMs: closed by the pool
    struct timeval lasting = {60, 0};
    evhttp_set_timeout_tv (server, &lasting);
    of_upstream_pool_destroy (&pool);
    pool = of_upstream_pool_new (base, settings);
    int64_t idle_ms = settings->upstream_idle_ms;
    settings->upstream_idle_ms = 100;
    s_test_get (pool, base, port, &result);
    assert (result.done == 1 && of_upstream_pool_idle (pool) == 1);
    s_test_pause (base, 400);
    assert (of_upstream_pool_idle (pool) == 0);
    settings->upstream_idle_ms = idle_ms;

    //  Upstream.IdlePerBackendMax 0: every connection closes after its request
    int idle_max = settings->upstream_idle_max;
    settings->upstream_idle_max = 0;
    s_test_get (pool, base, port, &result);
    assert (result.done == 1 && of_upstream_pool_idle (pool) == 0);
    settings->upstream_idle_max = idle_max;

    //  Nothing listens any more: the request fails to connect
    evhttp_free (server);
    of_upstream_pool_destroy (&pool);
    pool = of_upstream_pool_new (base, settings);
    s_test_get (pool, base, port, &result);
    assert (result.failed == 1 && result.fail == OF_UPSTREAM_FAIL_CONNECT && !result.done);

    //  A cancelled request runs no callback
    static const of_upstream_fn_t fn = {s_test_head, s_test_data, s_test_done, s_test_fail};
    result = (s_test_t) {0};
    json_t *object = json_pack ("{s:s, s:i}", "Hostname", "127.0.0.1", "Port", port);
    const of_backend_t *backend;
    of_records_t *records = of_records_test_backend (object, &backend);
    json_decref (object);
    of_upstream_t *upstream = of_upstream_new (pool, backend, &fn, &result);
    of_upstream_send (upstream, EVHTTP_REQ_GET, "/", NULL, NULL, 0);
    of_upstream_cancel (&upstream);
    of_upstream_cancel (&upstream);
    struct timeval pause = {0, 50000};
    event_base_loopexit (base, &pause);
    event_base_dispatch (base);
    assert (!result.done && !result.failed);

    //  A request cancelled in the loop's last turn: its connection goes with the pool
    upstream = of_upstream_new (pool, backend, &fn, &result);
    of_upstream_send (upstream, EVHTTP_REQ_GET, "/", NULL, NULL, 0);
    of_upstream_cancel (&upstream);
    of_records_destroy (&records);
    of_upstream_pool_destroy (&pool);
    of_upstream_pool_destroy (&pool);
    of_loop_free (&base);
    of_settings_destroy (&settings);
    printf ("OK\n");
}

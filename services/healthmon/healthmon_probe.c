/*  =========================================================================
    healthmon_probe - one backend's HTTP probe on a libevent loop

    Why the callbacks only take notes: evhttp calls them from inside its
    own connection code, where freeing the connection is unsafe. They record
    what happened and activate the "complete" event; the connection is
    dropped and the user called from there (or from the timeout), outside
    evhttp.

    Why the probe resolves host names itself (evdns_getaddrinfo) and hands
    evhttp a numeric address: a pending evdns lookup can be cancelled when
    the probe times out or the backend goes away, and a lookup failure gets
    its own reason ("dns: ...").

    Why not of_upstream's pooled client, as the proxy and modelsync use: a
    probe's reason is what an operator reads (HEALTH, the admin API), and
    of_upstream, which lets evhttp resolve names, cannot tell a failed lookup
    from a refused connect nor give the socket's own error; nor does it retry
    once when a kept-alive connection closes as the probe is sent, or bound a
    response's headers. What the request carries is of_upstream_prepare's,
    the same as theirs.
    =========================================================================
*/

#include "healthmon_probe.h"
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

//  Bounds on what a backend's answer may cost us
#define S_MAX_HEADERS_SIZE (64 * 1024)
#define S_MAX_BODY_SIZE    (1024 * 1024)        //  read and dropped, never kept
#define S_USER_AGENT       "ollamaflow-healthmon/" OF_VERSION
#define S_STATUS_FAILURE   500                  //  from here on, a status is a failure

struct _healthmon_probe_t {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *tls;
    healthmon_probe_fn *handler;
    void *arg;
    //  What to probe: the record, and a reference to its set, which the
    //  probe keeps from one probe to the next
    of_records_t *records;
    const of_backend_t *backend;
    //  The probe in flight
    bool busy;
    int64_t started;                    //  zclock_mono
    int64_t timeout_ms;
    struct evdns_getaddrinfo_request *lookup;
    struct evhttp_connection *connection;
    struct evhttp_request *request;     //  owned by evhttp; NULL once it is done
    bool answered;                      //  a status arrived
    bool completed;                     //  the whole answer arrived
    bool failed;                        //  reason holds the failure
    bool reused;                        //  sent on a kept-alive connection
    bool retry;                         //  send once more on a new connection
    struct event *timer;
    struct event *complete;
    healthmon_result_t result;
};

static void
s_on_timeout (evutil_socket_t fd, short what, void *arg);
static void
s_on_complete (evutil_socket_t fd, short what, void *arg);

//  --------------------------------------------------------------------------
//  Constructor and destructor

healthmon_probe_t *
healthmon_probe_new (struct event_base *base, struct evdns_base *dns, SSL_CTX *tls,
                     of_records_t *records, const of_backend_t *backend,
                     healthmon_probe_fn *handler, void *arg)
{
    assert (base && dns && records && backend && handler);
    healthmon_probe_t *self = (healthmon_probe_t *) zmalloc (sizeof (healthmon_probe_t));
    self->base = base;
    self->dns = dns;
    self->tls = tls;
    self->handler = handler;
    self->arg = arg;
    healthmon_probe_set_backend (self, records, backend);
    self->timer = evtimer_new (base, s_on_timeout, self);
    self->complete = event_new (base, -1, 0, s_on_complete, self);
    return self;
}

void
healthmon_probe_set_backend (healthmon_probe_t *self, of_records_t *records,
                             const of_backend_t *backend)
{
    assert (self && records && backend);
    assert (!self->backend || healthmon_probe_same (self->backend, backend));
    //  The new set first: the old one may be the same
    records = of_records_ref (records);
    of_records_destroy (&self->records);
    self->records = records;
    self->backend = backend;
}

//  Drops the connection (and with it a request in flight: no callbacks)
static void
s_disconnect (healthmon_probe_t *self)
{
    if (self->lookup) {
        //  Runs the lookup callback at once with EVUTIL_EAI_CANCEL
        evdns_getaddrinfo_cancel (self->lookup);
        self->lookup = NULL;
    }
    if (self->connection) {
        evhttp_connection_free (self->connection);
        self->connection = NULL;
    }
    self->request = NULL;
}

void
healthmon_probe_destroy (healthmon_probe_t **self_p)
{
    assert (self_p);
    healthmon_probe_t *self = *self_p;
    if (self) {
        s_disconnect (self);
        if (self->timer)
            event_free (self->timer);
        if (self->complete)
            event_free (self->complete);
        of_records_destroy (&self->records);
        free (self);
        *self_p = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Ending a probe

//  Notes a failure (the first one counts) and ends the probe soon
static void
s_fail (healthmon_probe_t *self, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_fail (healthmon_probe_t *self, const char *format, ...)
{
    if (!self->answered && !self->failed) {
        va_list args;
        va_start (args, format);
        vsnprintf (self->result.reason, sizeof self->result.reason, format, args);
        va_end (args);
        self->failed = true;
    }
    event_active (self->complete, 0, 1);
}

//  Ends the probe: drops the connection unless it can serve the next one,
//  then tells the user
static void
s_finish (healthmon_probe_t *self)
{
    evtimer_del (self->timer);
    event_del (self->complete);
    healthmon_result_t *result = &self->result;
    result->ok = self->answered && result->status < S_STATUS_FAILURE;
    if (self->answered)
        snprintf (result->reason, sizeof result->reason, "HTTP %d", result->status);
    else
        result->latency_ms = -1;
    //  Keep a plain connection that just served a good answer; TLS
    //  connections cannot reconnect through evhttp, so they serve one probe
    if (!(result->ok && self->completed && !self->backend->ssl))
        s_disconnect (self);
    self->request = NULL;
    self->busy = false;
    self->handler (self->arg, result);
}

static void
s_send (healthmon_probe_t *self);

static void
s_on_complete (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    healthmon_probe_t *self = (healthmon_probe_t *) arg;
    if (self->retry) {
        self->retry = false;
        s_send (self);
    }
    else
        s_finish (self);
}

//  A late answer: the status, if any arrived, decides; else it is a timeout
static void
s_on_timeout (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    healthmon_probe_t *self = (healthmon_probe_t *) arg;
    if (self->lookup)
        snprintf (self->result.reason, sizeof self->result.reason,
                  "timeout after %lld ms resolving %s", (long long) self->timeout_ms,
                  self->backend->hostname);
    else if (!self->answered && !self->failed)
        snprintf (self->result.reason, sizeof self->result.reason, "timeout after %lld ms",
                  (long long) self->timeout_ms);
    s_finish (self);
}

//  --------------------------------------------------------------------------
//  evhttp callbacks: take notes only (see the top of the file)

static int
s_on_headers (struct evhttp_request *request, void *arg)
{
    healthmon_probe_t *self = (healthmon_probe_t *) arg;
    int status = evhttp_request_get_response_code (request);
    //  An informational status (1xx) is followed by the real one
    if (!self->answered && !self->failed && status >= 200) {
        self->answered = true;
        self->result.status = status;
        self->result.latency_ms = zclock_mono () - self->started;
    }
    return 0;
}

//  Body pieces are dropped as they come (evhttp drains them after this)
static void
s_on_chunk (struct evhttp_request *request, void *arg)
{
    (void) request;
    (void) arg;
}

//  The connection's TLS bufferevent, or NULL
static struct bufferevent *
s_tls_bev (healthmon_probe_t *self)
{
    return self->backend->ssl && self->connection
           ? evhttp_connection_get_bufferevent (self->connection)
           : NULL;
}

//  True once the TLS handshake has finished
static bool
s_tls_done (healthmon_probe_t *self)
{
    struct bufferevent *bev = s_tls_bev (self);
    SSL *ssl = bev ? bufferevent_openssl_get_ssl (bev) : NULL;
    return ssl && SSL_is_init_finished (ssl);
}

static bool
s_connect_error (int error)
{
    return error == ECONNREFUSED || error == EHOSTUNREACH || error == ENETUNREACH
           || error == ETIMEDOUT || error == EHOSTDOWN || error == EADDRNOTAVAIL
           || error == ENETDOWN;
}

//  evhttp failed the request; errno is what the socket said (evhttp restores it)
static void
s_on_error (enum evhttp_request_error error, void *arg)
{
    int saved = EVUTIL_SOCKET_ERROR ();
    healthmon_probe_t *self = (healthmon_probe_t *) arg;
    self->request = NULL;       //  evhttp freed it already
    char tls [OFP_HEALTH_REASON_MAX];
    of_tls_error (s_tls_bev (self), tls, sizeof tls);
    if (*tls)
        s_fail (self, "%s", tls);
    else if (s_connect_error (saved))
        s_fail (self, "connect: %s", strerror (saved));
    else if (self->reused && !self->answered && error == EVREQ_HTTP_EOF) {
        //  The backend closed the kept-alive connection as we sent: try
        //  once more on a new one (from the complete event, outside evhttp)
        self->reused = false;
        self->retry = true;
        event_active (self->complete, 0, 1);
    }
    else if (self->backend->ssl && !s_tls_done (self))
        s_fail (self, "tls: handshake failed");
    else if (error == EVREQ_HTTP_TIMEOUT)
        s_fail (self, "timeout after %lld ms", (long long) self->timeout_ms);
    else if (error == EVREQ_HTTP_INVALID_HEADER)
        s_fail (self, "bad response: invalid header");
    else if (error == EVREQ_HTTP_DATA_TOO_LONG)
        s_fail (self, "bad response: too large or malformed");
    else if (saved && saved != EAGAIN)
        s_fail (self, "connection: %s", strerror (saved));
    else
        s_fail (self, "connection closed before the response");
}

//  The request is over: answered, or failed (request NULL after s_on_error)
static void
s_on_done (struct evhttp_request *request, void *arg)
{
    healthmon_probe_t *self = (healthmon_probe_t *) arg;
    self->request = NULL;
    if (request && self->answered)
        self->completed = true;
    else if (request && evhttp_request_get_response_code (request) == 0) {
        //  evhttp's connect failure path reports nothing but an empty request,
        //  and it takes that path only for a refused connection
        char tls [OFP_HEALTH_REASON_MAX];
        of_tls_error (s_tls_bev (self), tls, sizeof tls);
        if (*tls)
            s_fail (self, "%s", tls);
        else
            s_fail (self, "connect: %s", strerror (ECONNREFUSED));
    }
    event_active (self->complete, 0, 1);
}

//  --------------------------------------------------------------------------
//  Sending

//  Creates the connection to a numeric address; 0 or -1
static int
s_connect (healthmon_probe_t *self, const char *address)
{
    struct bufferevent *bev = NULL;
    if (self->backend->ssl) {
        SSL *ssl = self->tls ? of_tls_client_ssl (self->tls, self->backend->hostname) : NULL;
        if (!ssl)
            return -1;
        bev = bufferevent_openssl_socket_new (self->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                              BEV_OPT_CLOSE_ON_FREE);
        if (!bev) {
            SSL_free (ssl);
            return -1;
        }
        bufferevent_openssl_set_allow_dirty_shutdown (bev, 1);
    }
    //  A numeric address and no evdns base: evhttp's own lookup cannot block
    self->connection = evhttp_connection_base_bufferevent_new (
        self->base, NULL, bev, address, (unsigned short) self->backend->port);
    if (!self->connection) {
        if (bev)
            bufferevent_free (bev);
        return -1;
    }
    evhttp_connection_set_retries (self->connection, 0);
    evhttp_connection_set_max_headers_size (self->connection, S_MAX_HEADERS_SIZE);
    evhttp_connection_set_max_body_size (self->connection, S_MAX_BODY_SIZE);
    //  A backstop only: the probe's own timer ends it first
    struct timeval idle = {(long) (self->timeout_ms / 1000 + 1), 0};
    evhttp_connection_set_timeout_tv (self->connection, &idle);
    return 0;
}

static void
s_send (healthmon_probe_t *self)
{
    struct evhttp_request *request = evhttp_request_new (s_on_done, self);
    if (!request) {
        s_fail (self, "cannot create the request");
        return;
    }
    evhttp_request_set_header_cb (request, s_on_headers);
    evhttp_request_set_chunked_cb (request, s_on_chunk);
    evhttp_request_set_error_cb (request, s_on_error);
    struct evkeyvalq *headers = evhttp_request_get_output_headers (request);
    evhttp_add_header (headers, "User-Agent", S_USER_AGENT);
    evhttp_add_header (headers, "Accept", "*/*");
    if (self->backend->ssl)
        evhttp_add_header (headers, "Connection", "close");
    //  Host, credentials, Headers and Querystring as every request to the backend has them
    char *uri = of_upstream_prepare (self->backend, self->backend->health_check_url, NULL,
                                     headers);
    //  A refused connect can end the request inside this call: note it first
    self->request = request;
    if (evhttp_make_request (self->connection, request,
                             streq (self->backend->health_check_method, "HEAD")
                             ? EVHTTP_REQ_HEAD : EVHTTP_REQ_GET, uri) != 0) {
        self->request = NULL;
        s_fail (self, "cannot send the request");
    }
    zstr_free (&uri);
}

//  The host name resolved (maybe at once, for a numeric address)
static void
s_on_resolved (int error, struct evutil_addrinfo *found, void *arg)
{
    healthmon_probe_t *self = (healthmon_probe_t *) arg;
    if (error == EVUTIL_EAI_CANCEL)
        return;                 //  the probe ended or went away; nothing to touch
    self->lookup = NULL;
    if (error != 0) {
        s_fail (self, "dns: %s: %s", self->backend->hostname, evutil_gai_strerror (error));
        return;
    }
    //  IPv4 first: a backend on "localhost" usually listens on 127.0.0.1 only
    struct evutil_addrinfo *chosen = found;
    for (struct evutil_addrinfo *item = found; item; item = item->ai_next)
        if (item->ai_family == AF_INET) {
            chosen = item;
            break;
        }
    char address [INET6_ADDRSTRLEN] = "";
    const void *binary =
        chosen->ai_family == AF_INET6
            ? (const void *) &((struct sockaddr_in6 *) chosen->ai_addr)->sin6_addr
            : (const void *) &((struct sockaddr_in *) chosen->ai_addr)->sin_addr;
    evutil_inet_ntop (chosen->ai_family, binary, address, sizeof address);
    evutil_freeaddrinfo (found);
    if (s_connect (self, address) != 0)
        s_fail (self, "%s", self->backend->ssl ? "tls: no client context" : "cannot connect");
    else
        s_send (self);
}

int
healthmon_probe_start (healthmon_probe_t *self, int64_t timeout_ms)
{
    assert (self);
    if (self->busy)
        return -1;
    self->busy = true;
    self->started = zclock_mono ();
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    self->answered = self->completed = self->failed = self->retry = false;
    self->reused = self->connection != NULL;
    memset (&self->result, 0, sizeof self->result);
    struct timeval delay = {(long) (self->timeout_ms / 1000),
                            (long) (self->timeout_ms % 1000) * 1000};
    evtimer_add (self->timer, &delay);
    if (self->connection)
        s_send (self);          //  the kept-alive connection
    else {
        struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                        .ai_socktype = SOCK_STREAM,
                                        .ai_protocol = IPPROTO_TCP};
        //  NULL when the answer came at once (a numeric address, the hosts file)
        struct evdns_getaddrinfo_request *lookup = evdns_getaddrinfo (
            self->dns, self->backend->hostname, NULL, &hints, s_on_resolved, self);
        self->lookup = lookup;
    }
    return 0;
}

bool
healthmon_probe_busy (healthmon_probe_t *self)
{
    assert (self);
    return self->busy;
}

bool
healthmon_probe_same (const of_backend_t *backend, const of_backend_t *other)
{
    assert (backend && other);
    return of_upstream_prepare_same (backend, other)
           && streq (backend->health_check_method, other->health_check_method)
           && streq (backend->health_check_url, other->health_check_url);
}

/*  =========================================================================
    of_conns - the open client connections of one evhtp server, bounded,
    with client timeouts
    =========================================================================
*/

#include "of_conns.h"
#include <assert.h>
#include <event2/bufferevent.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

//  How long a refused connection is read (and the reading dropped) after its
//  answer, so that its client reads the answer instead of a reset
#define S_LINGER_MS 2000
//  The sweep runs at a quarter of the shortest timeout, within these bounds
#define S_SWEEP_MIN_MS 10
#define S_SWEEP_MAX_MS 1000

typedef enum {
    S_HEAD,                     //  reading a request's headers
    S_BODY,                     //  reading its body
    S_BUSY,                     //  with its handler
    S_IDLE                      //  kept alive, between requests
} s_state_t;

typedef struct _node_t node_t;
struct _node_t {
    node_t *next, *prev;
    evhtp_connection_t *connection;
    of_conns_t *owner;
    struct evbuffer *input;     //  the connection's input (its bufferevent's)
    struct evbuffer_cb_entry *input_cb;
    s_state_t state;
    int64_t since;              //  when the state began (ms, monotonic)
    int64_t deadline;           //  when the state times out (0: never)
    int64_t body_end;           //  the whole body's bound (0: none)
    evhtp_request_t *request;   //  the request whose headers were read (compared only)
    size_t headers;             //  the request's headers so far
    size_t header_bytes;        //  and their bytes
};

//  A connection taken from evhtp: answered, then read until the client stops
typedef struct _linger_t linger_t;
struct _linger_t {
    linger_t *next, *prev;
    of_conns_t *owner;
    struct bufferevent *bev;
    struct event *timer;
    bool tls;
};

struct _of_conns_t {
    node_t *head;
    size_t size;
    size_t max;                 //  0: no limit
    size_t refused, shed, expired;
    evhtp_post_accept_cb accept;
    void *accept_arg;
    int64_t header_ms, body_ms, keepalive_ms;
    struct event *sweep;        //  NULL while there are no timeouts
    linger_t *lingering;
    of_conns_malformed_fn *malformed;
    void *malformed_arg;
};

static evhtp_res s_on_fini (evhtp_connection_t *connection, void *arg);

static int64_t
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  The node of a connection this registry follows, or NULL
static node_t *
s_node (evhtp_connection_t *connection)
{
    if (!connection || !connection->hooks
        || connection->hooks->on_connection_fini != (evhtp_hook_connection_fini_cb) s_on_fini)
        return NULL;
    return (node_t *) connection->hooks->on_connection_fini_arg;
}

static void
s_enter (node_t *node, s_state_t state, int64_t now)
{
    of_conns_t *self = node->owner;
    node->state = state;
    node->since = now;
    int64_t limit = state == S_HEAD ? self->header_ms
                    : state == S_BODY ? self->body_ms
                    : state == S_IDLE ? self->keepalive_ms : 0;
    node->deadline = limit > 0 ? now + limit : 0;
    if (state == S_BODY && node->body_end && (!node->deadline || node->body_end < node->deadline))
        node->deadline = node->body_end;
}

//  Bytes from the client: a kept-alive connection begins a request; a body
//  goes on arriving
static void
s_on_input (struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    (void) buffer;
    node_t *node = (node_t *) arg;
    if (info->n_added == 0)
        return;
    if (node->state == S_IDLE)
        s_enter (node, S_HEAD, s_now_ms ());
    else
    if (node->state == S_BODY)
        s_enter (node, S_BODY, s_now_ms ());
}

static void
s_unlink (node_t *node)
{
    of_conns_t *self = node->owner;
    if (node->input_cb)
        evbuffer_remove_cb_entry (node->input, node->input_cb);
    if (node->prev)
        node->prev->next = node->next;
    else
        self->head = node->next;
    if (node->next)
        node->next->prev = node->prev;
    self->size--;
    free (node);
}

//  --------------------------------------------------------------------------
//  Lingering close

static void
s_linger_free (linger_t *linger)
{
    of_conns_t *self = linger->owner;
    if (linger->prev)
        linger->prev->next = linger->next;
    else
        self->lingering = linger->next;
    if (linger->next)
        linger->next->prev = linger->prev;
    event_free (linger->timer);
    bufferevent_free (linger->bev);
    free (linger);
}

static void
s_linger_read (struct bufferevent *bev, void *arg)
{
    (void) arg;
    struct evbuffer *input = bufferevent_get_input (bev);
    evbuffer_drain (input, evbuffer_get_length (input));
}

//  The answer is out: no more to send (over TLS the close waits for the
//  timer, as a shutdown would cut the session's own close)
static void
s_linger_written (struct bufferevent *bev, void *arg)
{
    linger_t *linger = (linger_t *) arg;
    //  A write callback evhtp left pending may run before the answer went out
    if (evbuffer_get_length (bufferevent_get_output (bev)) > 0)
        return;
    if (!linger->tls)
        shutdown (bufferevent_getfd (bev), SHUT_WR);
}

static void
s_linger_event (struct bufferevent *bev, short what, void *arg)
{
    (void) bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        s_linger_free ((linger_t *) arg);
}

static void
s_linger_timeout (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_linger_free ((linger_t *) arg);
}

//  Takes the socket from evhtp (with what is queued on it) and answers
static void
s_take_over (of_conns_t *self, evhtp_connection_t *connection, const char *response,
             size_t size)
{
    bool tls = connection->ssl != NULL;
    struct bufferevent *bev = evhtp_connection_take_ownership (connection);
    if (!bev)
        return;
    linger_t *linger = (linger_t *) calloc (1, sizeof (linger_t));
    assert (linger);
    linger->owner = self;
    linger->bev = bev;
    linger->tls = tls;
    linger->timer = evtimer_new (bufferevent_get_base (bev), s_linger_timeout, linger);
    assert (linger->timer);
    struct timeval delay = {S_LINGER_MS / 1000, (S_LINGER_MS % 1000) * 1000};
    evtimer_add (linger->timer, &delay);
    linger->next = self->lingering;
    if (self->lingering)
        self->lingering->prev = linger;
    self->lingering = linger;
    bufferevent_setcb (bev, s_linger_read, s_linger_written, s_linger_event, linger);
    bufferevent_setwatermark (bev, EV_WRITE, 0, 0);
    evbuffer_add (bufferevent_get_output (bev), response, size);
    bufferevent_enable (bev, EV_READ | EV_WRITE);
}

void
of_conns_refuse (of_conns_t *self, evhtp_connection_t *connection, const char *response,
                 size_t size)
{
    assert (self && connection && response);
    node_t *node = s_node (connection);
    if (node)
        s_unlink (node);
    s_take_over (self, connection, response, size);
}

//  --------------------------------------------------------------------------
//  Following connections

static evhtp_res
s_on_fini (evhtp_connection_t *connection, void *arg)
{
    node_t *node = (node_t *) arg;
    of_conns_t *self = node->owner;
    s_unlink (node);
    //  evhtp frees a connection at once on a parse error, without a word: the
    //  client hears why. htparse_error_user is a hook's refusal, or evhtp's
    //  own: only EVHTP_RES_FATAL from evhtp's parser callbacks is the request's
    //  fault (a header line without a colon, a target it cannot split)
    evhtp_request_t *request = connection->request;
    htpparse_error error = connection->parser ? htparser_get_error (connection->parser)
                                              : htparse_error_none;
    bool malformed = error != htparse_error_none
                     && (error != htparse_error_user
                         || (request && request->status == EVHTP_RES_FATAL));
    if (self->malformed && malformed && request && !(request->flags & EVHTP_REQ_FLAG_FINISHED)
        && connection->bev && (connection->flags & EVHTP_CONN_FLAG_OWNER)) {
        size_t size = 0;
        char *response = self->malformed (connection, error, self->malformed_arg, &size);
        if (response)
            s_take_over (self, connection, response, size);
        free (response);
    }
    return EVHTP_RES_OK;
}

//  The oldest connection that waits on its client (headers, body, idle)
static node_t *
s_oldest_slow (of_conns_t *self)
{
    node_t *oldest = NULL;
    for (node_t *node = self->head; node; node = node->next)
        if (node->state != S_BUSY && (!oldest || node->since < oldest->since))
            oldest = node;
    return oldest;
}

static evhtp_res
s_on_accept (evhtp_connection_t *connection, void *arg)
{
    of_conns_t *self = (of_conns_t *) arg;
    if (self->max && self->size >= self->max) {
        //  An outsider may open connections without end: not beyond the limit
        node_t *oldest = s_oldest_slow (self);
        if (!oldest) {
            self->refused++;
            return EVHTP_RES_SERVUNAVAIL;
        }
        self->shed++;
        evhtp_connection_free (oldest->connection);
    }
    if (self->accept && self->accept (connection, self->accept_arg) != EVHTP_RES_OK)
        return EVHTP_RES_SERVUNAVAIL;
    node_t *node = calloc (1, sizeof *node);
    assert (node);
    node->connection = connection;
    node->owner = self;
    node->next = self->head;
    if (self->head)
        self->head->prev = node;
    self->head = node;
    self->size++;
    s_enter (node, S_HEAD, s_now_ms ());
    evhtp_connection_set_hook (connection, evhtp_hook_on_connection_fini, (evhtp_hook) s_on_fini,
                               node);
    if (self->sweep && connection->bev) {
        node->input = bufferevent_get_input (connection->bev);
        node->input_cb = evbuffer_add_cb (node->input, s_on_input, node);
    }
    return EVHTP_RES_OK;
}

//  Follows each connection's state, and closes those past their deadline
static void
s_on_sweep (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    of_conns_t *self = (of_conns_t *) arg;
    int64_t now = s_now_ms ();
    node_t *next;
    for (node_t *node = self->head; node; node = next) {
        next = node->next;
        evhtp_request_t *request = node->connection->request;
        if (node->state == S_BUSY && !request)
            s_enter (node, S_IDLE, now);
        else
        if (node->state == S_BUSY && request != node->request)
            s_enter (node, S_HEAD, now);    //  the next request (pipelined) began
        if (node->deadline && now >= node->deadline) {
            //  Only connections without a handler get here: nothing else is freed
            self->expired++;
            evhtp_connection_free (node->connection);
        }
    }
}

void
of_conns_set_timeouts (of_conns_t *self, struct event_base *base, int64_t header_ms,
                       int64_t body_ms, int64_t keepalive_ms)
{
    assert (self && base && !self->sweep && !self->head);
    self->header_ms = header_ms;
    self->body_ms = body_ms;
    self->keepalive_ms = keepalive_ms;
    int64_t shortest = 0;
    int64_t all [] = {header_ms, body_ms, keepalive_ms};
    for (size_t i = 0; i < 3; i++)
        if (all [i] > 0 && (!shortest || all [i] < shortest))
            shortest = all [i];
    if (!shortest)
        return;
    int64_t period = shortest / 4 < S_SWEEP_MIN_MS ? S_SWEEP_MIN_MS
                     : shortest / 4 > S_SWEEP_MAX_MS ? S_SWEEP_MAX_MS : shortest / 4;
    self->sweep = event_new (base, -1, EV_PERSIST, s_on_sweep, self);
    assert (self->sweep);
    struct timeval tick = {period / 1000, (period % 1000) * 1000};
    event_add (self->sweep, &tick);
}

void
of_conns_set_malformed (of_conns_t *self, of_conns_malformed_fn *malformed, void *arg)
{
    assert (self);
    self->malformed = malformed;
    self->malformed_arg = arg;
}

void
of_conns_request_begin (of_conns_t *self, evhtp_connection_t *connection)
{
    (void) self;
    node_t *node = s_node (connection);
    if (!node)
        return;
    node->headers = 0;
    node->header_bytes = 0;
    if (node->state != S_HEAD)
        s_enter (node, S_HEAD, s_now_ms ());
}

void
of_conns_header_seen (of_conns_t *self, evhtp_connection_t *connection, size_t bytes,
                      size_t *count_p, size_t *bytes_p)
{
    (void) self;
    assert (count_p && bytes_p);
    node_t *node = s_node (connection);
    if (node) {
        node->headers++;
        node->header_bytes += bytes;
    }
    *count_p = node ? node->headers : 0;
    *bytes_p = node ? node->header_bytes : 0;
}

void
of_conns_body_begin (of_conns_t *self, evhtp_connection_t *connection, int64_t total_ms)
{
    (void) self;
    node_t *node = s_node (connection);
    if (!node)
        return;
    int64_t now = s_now_ms ();
    node->request = connection->request;
    node->body_end = total_ms > 0 ? now + total_ms : 0;
    s_enter (node, S_BODY, now);
}

void
of_conns_serving (of_conns_t *self, evhtp_connection_t *connection)
{
    (void) self;
    node_t *node = s_node (connection);
    if (node) {
        node->request = connection->request;
        s_enter (node, S_BUSY, s_now_ms ());
    }
}

//  --------------------------------------------------------------------------
//  The registry

of_conns_t *
of_conns_new (evhtp_t *htp, size_t max, evhtp_post_accept_cb accept, void *arg)
{
    of_conns_t *self = calloc (1, sizeof *self);
    assert (self);
    self->max = max;
    self->accept = accept;
    self->accept_arg = arg;
    evhtp_set_post_accept_cb (htp, s_on_accept, self);
    return self;
}

void
of_conns_destroy (of_conns_t **self_p)
{
    assert (self_p);
    of_conns_t *self = *self_p;
    if (!self)
        return;
    of_conns_drop_all (self);
    while (self->lingering)
        s_linger_free (self->lingering);
    if (self->sweep)
        event_free (self->sweep);
    free (self);
    *self_p = NULL;
}

void
of_conns_drop_all (of_conns_t *self)
{
    //  Each free runs the fini hook, which unlinks the head
    while (self->head)
        evhtp_connection_free (self->head->connection);
}

size_t
of_conns_size (of_conns_t *self)
{
    return self->size;
}

size_t
of_conns_refused (of_conns_t *self)
{
    return self->refused;
}

size_t
of_conns_shed (of_conns_t *self)
{
    return self->shed;
}

size_t
of_conns_expired (of_conns_t *self)
{
    return self->expired;
}

//  --------------------------------------------------------------------------
//  Self test

#include "of_exchange.h"
#include "of_testhttp.h"
#include "of_loop.h"
#include <stdio.h>
#include <string.h>

//  Client timeouts of the test's second server
#define S_TEST_HEADER_MS    100
#define S_TEST_BODY_MS      100
#define S_TEST_KEEPALIVE_MS 150
//  Requests the test holds (paused) at once, and the headers it allows
#define S_TEST_HELD_MAX 8
#define S_TEST_HEADERS_MAX 2
#define S_TEST_REFUSAL "HTTP/1.1 431 Too Many\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
#define S_TEST_MALFORMED "HTTP/1.1 400 Bad\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"

typedef struct {
    struct event_base *base;
    of_conns_t *conns;
    of_exchange_t *held [S_TEST_HELD_MAX];
    size_t holding, finis;          //  requests held, and those of them ended
    bool refuse_accept;
    size_t headers, header_bytes;   //  the last request's, as of_conns counts them
    htpparse_error malformed;
} s_test_t;

static evhtp_res
s_test_on_path (evhtp_request_t *request, evhtp_path_t *path, void *arg)
{
    (void) path;
    s_test_t *test = (s_test_t *) arg;
    of_conns_request_begin (test->conns, evhtp_request_get_connection (request));
    return EVHTP_RES_OK;
}

static evhtp_res
s_test_on_header (evhtp_request_t *request, evhtp_header_t *header, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    evhtp_connection_t *connection = evhtp_request_get_connection (request);
    of_conns_header_seen (test->conns, connection, header->klen + header->vlen, &test->headers,
                          &test->header_bytes);
    if (test->headers <= S_TEST_HEADERS_MAX)
        return EVHTP_RES_OK;
    of_conns_refuse (test->conns, connection, S_TEST_REFUSAL, strlen (S_TEST_REFUSAL));
    return EVHTP_RES_ERROR;
}

static evhtp_res
s_test_on_headers (evhtp_request_t *request, evhtp_headers_t *headers, void *arg)
{
    (void) headers;
    s_test_t *test = (s_test_t *) arg;
    of_conns_body_begin (test->conns, evhtp_request_get_connection (request), 0);
    return EVHTP_RES_OK;
}

static evhtp_res
s_test_accept (evhtp_connection_t *connection, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    if (test->refuse_accept)
        return EVHTP_RES_SERVUNAVAIL;
    evhtp_connection_set_hook (connection, evhtp_hook_on_path, (evhtp_hook) s_test_on_path, test);
    evhtp_connection_set_hook (connection, evhtp_hook_on_header, (evhtp_hook) s_test_on_header,
                               test);
    evhtp_connection_set_hook (connection, evhtp_hook_on_headers,
                               (evhtp_hook) s_test_on_headers, test);
    return EVHTP_RES_OK;
}

static char *
s_test_malformed (evhtp_connection_t *connection, htpparse_error error, void *arg,
                  size_t *size_p)
{
    (void) connection;
    ((s_test_t *) arg)->malformed = error;
    *size_p = strlen (S_TEST_MALFORMED);
    return strdup (S_TEST_MALFORMED);
}

static void
s_test_fini (of_exchange_t *exchange, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    for (size_t index = 0; index < test->holding; index++)
        if (test->held [index] == exchange) {
            test->held [index] = NULL;
            test->finis++;
        }
}

//  /hold is held, paused (watched, as the ingress does), with its handler; anything else is answered at once
static void
s_test_request (evhtp_request_t *request, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    of_conns_serving (test->conns, evhtp_request_get_connection (request));
    of_exchange_t *exchange = of_exchange_new (request, test->base);
    of_exchange_set_fini (exchange, s_test_fini, test);
    if (strcmp (of_exchange_path (exchange), "/hold") == 0) {
        assert (test->holding < S_TEST_HELD_MAX);
        test->held [test->holding++] = exchange;
        of_exchange_watch (exchange);
    }
    else
        of_exchange_reply (exchange, 200, NULL, "now", 3);
}

static evhtp_t *
s_test_server (s_test_t *test, size_t max, int *port_p)
{
    evhtp_t *htp = of_testhttp_server (test->base, s_test_request, test, port_p);
    test->conns = of_conns_new (htp, max, s_test_accept, test);
    of_conns_set_malformed (test->conns, s_test_malformed, test);
    return htp;
}

static void
s_test_server_destroy (s_test_t *test, evhtp_t **htp_p)
{
    evhtp_unbind_socket (*htp_p);
    of_conns_destroy (&test->conns);
    assert (!test->conns);
    evhtp_free (*htp_p);
    *htp_p = NULL;
}

//  The limit, shedding, refusals, the hooks' counts, answers for evhtp
static void
s_test_limits (s_test_t *test)
{
    int port;
    evhtp_t *htp = s_test_server (test, 2, &port);
    of_testhttp_client_t slow, busy, late, extra;
    //  At the limit, the oldest connection still reading headers makes room
    of_testhttp_connect (&slow, port, 0);
    OF_TESTHTTP_UNTIL (test->base, NULL, of_conns_size (test->conns) == 1);
    of_testhttp_connect (&busy, port, 0);
    of_testhttp_send (&busy, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    OF_TESTHTTP_UNTIL (test->base, &busy, test->holding == 1);
    assert (of_conns_size (test->conns) == 2 && test->holding == 1);
    of_testhttp_connect (&late, port, 0);
    OF_TESTHTTP_UNTIL (test->base, &slow, slow.eof);
    assert (slow.eof && of_conns_shed (test->conns) == 1 && of_conns_size (test->conns) == 2);
    of_testhttp_close (&slow);
    //  When every connection is with its handler, the new one is refused
    of_testhttp_send (&late, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    OF_TESTHTTP_UNTIL (test->base, &late, test->holding == 2);
    of_testhttp_connect (&extra, port, 0);
    OF_TESTHTTP_UNTIL (test->base, &extra, extra.eof);
    assert (extra.eof && of_conns_refused (test->conns) == 1);
    assert (of_conns_shed (test->conns) == 1 && of_conns_size (test->conns) == 2);
    assert (!busy.eof && !late.eof);
    of_testhttp_close (&extra);
    //  A connection that goes leaves the registry
    of_testhttp_close (&late);
    OF_TESTHTTP_UNTIL (test->base, NULL, of_conns_size (test->conns) == 1);
    assert (of_conns_size (test->conns) == 1 && test->finis == 1);

    //  The accept callback's refusal closes the connection
    test->refuse_accept = true;
    of_testhttp_connect (&extra, port, 0);
    OF_TESTHTTP_UNTIL (test->base, &extra, extra.eof);
    assert (extra.eof && of_conns_size (test->conns) == 1 && of_conns_refused (test->conns) == 1);
    of_testhttp_close (&extra);
    test->refuse_accept = false;

    //  Header counts per request, from zero for each on a kept-alive connection
    of_testhttp_connect (&extra, port, 0);
    of_testhttp_send (&extra, "GET /a HTTP/1.1\r\nA: b\r\nCc: dd\r\n\r\n");
    OF_TESTHTTP_UNTIL (test->base, &extra, strstr (extra.text, "now"));
    assert (test->headers == 2 && test->header_bytes == 6);
    of_testhttp_send (&extra, "GET /a HTTP/1.1\r\nEee: f\r\n\r\n");
    OF_TESTHTTP_UNTIL (test->base, &extra, strstr (extra.text, "now"));
    assert (test->headers == 1 && test->header_bytes == 4 && !extra.eof);
    //  A refusal from a hook: the client reads the answer, then the end (at
    //  once, not after the lingering's bound)
    of_testhttp_send (&extra, "GET /a HTTP/1.1\r\nA: b\r\nC: d\r\nE: f\r\n\r\n");
    int64_t start = s_now_ms ();
    OF_TESTHTTP_UNTIL (test->base, &extra, extra.eof);
    assert (extra.eof && !strcmp (extra.text, S_TEST_REFUSAL));
    assert (s_now_ms () - start < S_LINGER_MS / 2);
    of_testhttp_close (&extra);
    //  A request evhtp cannot parse gets the malformed callback's answer
    of_testhttp_connect (&extra, port, 0);
    of_testhttp_send (&extra, "GET / HTTP/1.1\r\nno colon here\r\n\r\n");
    OF_TESTHTTP_UNTIL (test->base, &extra, extra.eof);
    assert (extra.eof && !strcmp (extra.text, S_TEST_MALFORMED));
    assert (test->malformed != htparse_error_none);
    of_testhttp_close (&extra);
    OF_TESTHTTP_UNTIL (test->base, NULL, of_conns_size (test->conns) == 1);
    assert (of_conns_size (test->conns) == 1);

    //  Dropping all: the held request ends (its fini), the client sees the close
    of_conns_drop_all (test->conns);
    assert (of_conns_size (test->conns) == 0 && test->finis == 2);
    OF_TESTHTTP_UNTIL (test->base, &busy, busy.eof);
    assert (busy.eof);
    of_testhttp_close (&busy);

    //  Destroy frees the connections still open, paused requests and all
    of_testhttp_connect (&busy, port, 0);
    of_testhttp_send (&busy, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    OF_TESTHTTP_UNTIL (test->base, &busy, test->holding == 3);
    assert (test->holding == 3);
    s_test_server_destroy (test, &htp);
    assert (test->finis == 3);
    of_testhttp_close (&busy);
}

//  The client timeouts; a connection with its handler has none
static void
s_test_timeouts (s_test_t *test)
{
    int port;
    evhtp_t *htp = s_test_server (test, 0, &port);
    of_conns_set_timeouts (test->conns, test->base, S_TEST_HEADER_MS, S_TEST_BODY_MS,
                           S_TEST_KEEPALIVE_MS);
    of_testhttp_client_t quiet, body, held;
    of_testhttp_connect (&quiet, port, 0);
    of_testhttp_connect (&body, port, 0);
    of_testhttp_send (&body, "POST /hold HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab");
    of_testhttp_connect (&held, port, 0);
    of_testhttp_send (&held, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n");
    int64_t start = s_now_ms ();
    //  No headers in time; a body that stops coming
    OF_TESTHTTP_UNTIL (test->base, &quiet, quiet.eof);
    assert (quiet.eof && s_now_ms () - start >= S_TEST_HEADER_MS);
    OF_TESTHTTP_UNTIL (test->base, &body, body.eof);
    assert (body.eof && of_conns_expired (test->conns) == 2);
    //  A body that keeps coming, in all for twice the body timeout but each
    //  piece well within it, is not cut
    of_testhttp_client_t trickle;
    of_testhttp_connect (&trickle, port, 0);
    of_testhttp_send (&trickle, "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 8\r\n\r\n");
    for (int piece = 0; piece < 8; piece++) {
        int64_t sent = s_now_ms ();
        OF_TESTHTTP_UNTIL (test->base, &trickle, s_now_ms () - sent >= S_TEST_BODY_MS / 4);
        of_testhttp_send (&trickle, "x");
    }
    OF_TESTHTTP_UNTIL (test->base, &trickle, strstr (trickle.text, "now"));
    assert (strstr (trickle.text, "now") && of_conns_expired (test->conns) == 2);
    of_testhttp_close (&trickle);
    //  Held well past every timeout, then answered: then idle, and closed
    OF_TESTHTTP_UNTIL (test->base, &held, s_now_ms () - start >= 3 * S_TEST_KEEPALIVE_MS);
    assert (!held.eof && of_conns_expired (test->conns) == 2 && test->holding == 3 + 1);
    of_exchange_reply (test->held [test->holding - 1], 200, NULL, "late", 4);
    int64_t answered = s_now_ms ();
    OF_TESTHTTP_UNTIL (test->base, &held, held.eof);
    assert (held.eof && strstr (held.text, "late") && of_conns_expired (test->conns) == 3);
    assert (s_now_ms () - answered >= S_TEST_KEEPALIVE_MS);
    of_testhttp_close (&quiet);
    of_testhttp_close (&body);
    of_testhttp_close (&held);
    s_test_server_destroy (test, &htp);
}

void
of_conns_test (bool verbose)
{
    (void) verbose;
    printf (" * of_conns: ");
    s_test_t test = {.base = event_base_new ()};
    assert (test.base);
    s_test_limits (&test);
    s_test_timeouts (&test);
    of_conns_t *none = NULL;
    of_conns_destroy (&none);
    of_loop_free (&test.base);
    printf ("OK\n");
}

/*  =========================================================================
    of_exchange - one HTTP exchange on libevhtp, held paused until it ends
    =========================================================================
*/

#include "of_exchange.h"
#include <assert.h>
#include <errno.h>
#include <event2/bufferevent.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

//  Room for a Content-Length value, and for a chunk-size line
#define S_LENGTH_TEXT_MAX 24
#define S_CHUNK_HEAD_MAX  24
//  Pieces of one chunk written with one system call
#define S_CHUNK_PIECES_MAX 16
//  Room for the client's numeric address: IPv6 with a scope (NI_MAXHOST is 1025)
#define S_PEER_MAX 64

struct _of_exchange_t {
    evhtp_request_t *request;
    struct event_base *base;
    struct event *watch;            //  EV_READ on the client socket
    of_exchange_fn *gone;           //  owner's callback for a vanished client
    void *gone_arg;
    of_exchange_fn *fini;           //  owner's callback when the exchange is freed
    void *fini_arg;
    bool finished;                  //  final output queued, request resumed
    bool streaming;
    bool unframed;                  //  HTTP/1.0 stream: no chunks, ended by closing
    bool tls;                       //  the connection is TLS: never write to its socket
    bool parked;                    //  its parser freed while the response streams (s_park)
    htp_method method;              //  the request's (evhtp reads it from the parser)
    char peer [S_PEER_MAX];
    struct evbuffer *output;        //  the client's output buffer, while watched
    struct evbuffer_cb_entry *output_cb;
    size_t high, low;
    bool full;
    of_exchange_full_fn *full_fn;
    void *full_arg;
};

static void
s_stop_events (of_exchange_t *self)
{
    if (self->watch) {
        event_free (self->watch);
        self->watch = NULL;
    }
    if (self->output_cb) {
        evbuffer_remove_cb_entry (self->output, self->output_cb);
        self->output_cb = NULL;
    }
}

//  The owner learns that the client is gone, once
static void
s_notify_gone (of_exchange_t *self)
{
    of_exchange_fn *gone = self->gone;
    self->gone = NULL;
    if (gone)
        gone (self, self->gone_arg);
}

//  --------------------------------------------------------------------------
//  A streaming response does not need its connection's parser, and in
//  libevhtp 1.2.18 a parser is 8 KB (its buffer for a header line): the
//  largest part of what a held stream costs. evhtp reads the parser when it
//  parses a request, when it writes a response's headers, and once the
//  response has gone out (it makes it ready for the next request on the
//  connection); in between, its write callback only checks that there is
//  one. So once the headers are out, the parser is freed and a stand-in
//  (one per process, never parsing) takes its place; a new parser replaces
//  the stand-in before the response ends. The connection freed before that
//  (the client gone, an error) gets none back.

static htparser *
s_stand_in (void)
{
    //  One per process: the ingress and the simulator serve from one thread
    static htparser *stand_in = NULL;
    if (!stand_in) {
        stand_in = htparser_new ();
        assert (stand_in);
        htparser_init (stand_in, htp_type_request);
    }
    return stand_in;
}

static void
s_park (of_exchange_t *self)
{
    evhtp_connection_t *connection = evhtp_request_get_connection (self->request);
    if (self->parked || !connection || !connection->parser)
        return;
    free (connection->parser);
    connection->parser = s_stand_in ();
    self->parked = true;
}

//  Gives the connection a parser again (none when it is being freed)
static void
s_unpark (of_exchange_t *self, bool freeing)
{
    if (!self->parked)
        return;
    self->parked = false;
    evhtp_connection_t *connection = evhtp_request_get_connection (self->request);
    htparser *parser = freeing ? NULL : htparser_new ();
    if (parser) {
        htparser_init (parser, htp_type_request);
        htparser_set_userdata (parser, connection);
    }
    //  Without one (no memory), evhtp's write callback closes the connection
    connection->parser = parser;
}

static evhtp_res
s_on_fini (evhtp_request_t *request, void *arg)
{
    (void) request;
    of_exchange_t *self = (of_exchange_t *) arg;
    //  A request is freed before its connection's parser: with the
    //  connection, or once its response went out, when it is unparked already
    s_unpark (self, true);
    s_stop_events (self);
    s_notify_gone (self);
    if (self->fini)
        self->fini (self, self->fini_arg);
    free (self);
    return EVHTP_RES_OK;
}

static void
s_on_error (evhtp_request_t *request, evhtp_error_flags flags, void *arg)
{
    (void) flags;
    of_exchange_t *self = (of_exchange_t *) arg;
    s_stop_events (self);
    s_notify_gone (self);
    if (!self->finished) {
        //  evhtp frees a paused connection only once it is resumed; this may
        //  free the exchange, so nothing may touch self afterwards
        self->finished = true;
        evhtp_request_resume (request);
    }
}

of_exchange_t *
of_exchange_new (evhtp_request_t *request, struct event_base *base)
{
    assert (request && base);
    of_exchange_t *self = (of_exchange_t *) calloc (1, sizeof (of_exchange_t));
    assert (self);
    self->request = request;
    self->base = base;
    self->method = evhtp_request_get_method (request);
    evhtp_connection_t *connection = evhtp_request_get_connection (request);
    self->tls = connection && connection->ssl;
    if (connection && connection->saddr
        && getnameinfo (connection->saddr,
                        connection->saddr->sa_family == AF_INET6 ? sizeof (struct sockaddr_in6)
                                                                 : sizeof (struct sockaddr_in),
                        self->peer, sizeof self->peer, NULL, 0, NI_NUMERICHOST) != 0)
        self->peer [0] = 0;
    evhtp_request_pause (request);
    evhtp_request_set_hook (request, evhtp_hook_on_request_fini, (evhtp_hook) s_on_fini, self);
    evhtp_request_set_hook (request, evhtp_hook_on_error,
                            (evhtp_hook) (void (*) (void)) s_on_error, self);
    return self;
}

htp_method
of_exchange_method (of_exchange_t *self)
{
    return self->method;
}

const char *
of_exchange_path (of_exchange_t *self)
{
    evhtp_uri_t *uri = self->request->uri;
    return uri && uri->path && uri->path->full ? uri->path->full : "/";
}

const char *
of_exchange_query (of_exchange_t *self)
{
    evhtp_uri_t *uri = self->request->uri;
    return uri && uri->query_raw && *uri->query_raw ? (const char *) uri->query_raw : NULL;
}

const char *
of_exchange_header (of_exchange_t *self, const char *name)
{
    return evhtp_header_find (self->request->headers_in, name);
}

evhtp_request_t *
of_exchange_request (of_exchange_t *self)
{
    return self->request;
}

const char *
of_exchange_body (of_exchange_t *self, size_t *size_p)
{
    struct evbuffer *input = self->request->buffer_in;
    *size_p = evbuffer_get_length (input);
    return *size_p ? (const char *) evbuffer_pullup (input, -1) : "";
}

const char *
of_exchange_peer (of_exchange_t *self)
{
    return self->peer;
}

void
of_exchange_set_owner (of_exchange_t *self, of_exchange_fn *gone, void *arg)
{
    self->gone = gone;
    self->gone_arg = arg;
}

void
of_exchange_set_fini (of_exchange_t *self, of_exchange_fn *fini, void *arg)
{
    self->fini = fini;
    self->fini_arg = arg;
}

static void
s_on_watch (evutil_socket_t fd, short what, void *arg)
{
    (void) what;
    of_exchange_t *self = (of_exchange_t *) arg;
    char byte;
    ssize_t rc = recv (fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (rc > 0) {
        //  Pipelined bytes of the next request: evhtp reads them after resume
        event_free (self->watch);
        self->watch = NULL;
        return;
    }
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    //  The client closed or reset: tell the owner now, then drop the connection
    s_stop_events (self);
    s_notify_gone (self);
    self->finished = true;
    evhtp_connection_free (evhtp_request_get_connection (self->request));
}

void
of_exchange_watch (of_exchange_t *self)
{
    if (self->watch || self->finished)
        return;
    evutil_socket_t fd = bufferevent_getfd (evhtp_request_get_bev (self->request));
    self->watch = event_new (self->base, fd, EV_READ | EV_PERSIST, s_on_watch, self);
    assert (self->watch);
    event_add (self->watch, NULL);
}

void
of_exchange_add_header (of_exchange_t *self, const char *name, const char *value)
{
    evhtp_headers_add_header (self->request->headers_out, evhtp_header_new (name, value, 1, 1));
}

static void
s_finish (of_exchange_t *self)
{
    s_stop_events (self);
    self->gone = NULL;
    self->finished = true;
    evhtp_request_resume (self->request);
}

void
of_exchange_reply (of_exchange_t *self, int status, const char *content_type, const char *data,
                   size_t size)
{
    assert (!self->finished && !self->streaming);
    if (content_type)
        of_exchange_add_header (self, "Content-Type", content_type);
    if (of_exchange_method (self) == htp_method_HEAD) {
        char length [S_LENGTH_TEXT_MAX];
        snprintf (length, sizeof length, "%zu", size);
        of_exchange_add_header (self, "Content-Length", length);
    }
    else if (size)
        evbuffer_add (self->request->buffer_out, data, size);
    evhtp_send_reply (self->request, (evhtp_res) status);
    s_finish (self);
}

void
of_exchange_stream_start (of_exchange_t *self, int status)
{
    assert (!self->finished && !self->streaming);
    self->streaming = true;
    if (evhtp_request_get_proto (self->request) != EVHTP_PROTO_11) {
        //  evhtp would send chunked encoding to HTTP/1.0, which knows none: the
        //  body goes out as it comes, without a length, and closing the
        //  connection ends it (the only way HTTP/1.0 has)
        //  (evhtp_request_set_keepalive (request, 0) does nothing in 1.2.18:
        //  the flag is cleared by hand, or a client that asked for keep-alive
        //  would wait for an end that never comes)
        self->unframed = true;
        self->request->flags &= ~EVHTP_REQ_FLAG_KEEPALIVE;
        of_exchange_add_header (self, "Connection", "close");
        evhtp_send_reply_start (self->request, (evhtp_res) status);
    }
    else
        evhtp_send_reply_chunk_start (self->request, (evhtp_res) status);
    s_park (self);
}

//  Writes one chunk: pieces of size bytes in all (buffer, when given, holds
//  the same bytes and is emptied); for HTTP/1.0, the bytes without framing. evhtp_send_reply_chunk is not used: it
//  flushes the bufferevent, and the write callbacks that leaves behind end a
//  keep-alive connection once the request is done. When nothing waits in the
//  output, the chunk goes to the socket at once (one system call, no loop
//  turn); what the socket does not take, and anything behind queued output,
//  goes through the bufferevent, which keeps the order and reports errors.
//  On a TLS connection everything goes through the bufferevent, which encrypts.
static void
s_write_chunk (of_exchange_t *self, struct iovec *pieces, int count, size_t size,
               struct evbuffer *buffer)
{
    char head [S_CHUNK_HEAD_MAX] = "";
    int head_size = self->unframed ? 0 : snprintf (head, sizeof head, "%zx\r\n", size);
    size_t tail_size = self->unframed ? 0 : 2;
    struct bufferevent *bev = evhtp_request_get_bev (self->request);
    struct evbuffer *output = bufferevent_get_output (bev);
    size_t sent = 0;
    //  evbuffer_peek fills at most S_CHUNK_PIECES_MAX pieces (and may say so
    //  rather than how many it needed): only pieces that hold every byte may
    //  go out at once, or the tail would be sent in place of the bytes left
    size_t covered = 0;
    for (int i = 0; i < count && i < S_CHUNK_PIECES_MAX; i++)
        covered += pieces [i].iov_len;
    if (!self->tls && evbuffer_get_length (output) == 0 && count <= S_CHUNK_PIECES_MAX
        && covered == size) {
        struct iovec all [S_CHUNK_PIECES_MAX + 2];
        all [0] = (struct iovec) {head, (size_t) head_size};
        memcpy (all + 1, pieces, (size_t) count * sizeof (struct iovec));
        all [count + 1] = (struct iovec) {(void *) "\r\n", tail_size};
        struct msghdr message = {.msg_iov = all, .msg_iovlen = (size_t) count + 2};
        ssize_t rc = sendmsg (bufferevent_getfd (bev), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
        sent = rc > 0 ? (size_t) rc : 0;
    }
    //  Queue what is left of the head, then of the body, then of the tail
    if (sent < (size_t) head_size)
        evbuffer_add (output, head + sent, (size_t) head_size - sent);
    size_t skip = sent > (size_t) head_size ? sent - (size_t) head_size : 0;
    size_t body_skip = skip < size ? skip : size;
    if (buffer) {
        evbuffer_drain (buffer, body_skip);
        evbuffer_add_buffer (output, buffer);
    }
    else
        for (int i = 0; i < count; i++) {
            size_t take = body_skip < pieces [i].iov_len ? body_skip : pieces [i].iov_len;
            body_skip -= take;
            if (take < pieces [i].iov_len)
                evbuffer_add (output, (char *) pieces [i].iov_base + take,
                              pieces [i].iov_len - take);
        }
    skip = skip > size ? skip - size : 0;
    if (skip < tail_size)
        evbuffer_add (output, &"\r\n" [skip], tail_size - skip);
}

void
of_exchange_stream_write (of_exchange_t *self, struct evbuffer *buffer)
{
    assert (self->streaming);
    size_t size = evbuffer_get_length (buffer);
    if (self->finished || size == 0)
        return;
    struct iovec pieces [S_CHUNK_PIECES_MAX];
    int count = evbuffer_peek (buffer, -1, NULL, pieces, S_CHUNK_PIECES_MAX);
    s_write_chunk (self, pieces, count, size, buffer);
}

void
of_exchange_stream_send (of_exchange_t *self, const void *data, size_t size)
{
    assert (self->streaming);
    if (self->finished || size == 0)
        return;
    struct iovec piece = {(void *) data, size};
    s_write_chunk (self, &piece, 1, size, NULL);
}

void
of_exchange_stream_end (of_exchange_t *self)
{
    assert (self->streaming);
    if (self->finished)
        return;
    s_unpark (self, false);
    if (self->unframed)
        evhtp_send_reply_end (self->request);
    else
        evhtp_send_reply_chunk_end (self->request);
    s_finish (self);
}

void
of_exchange_abort (of_exchange_t *self)
{
    s_stop_events (self);
    self->gone = NULL;
    self->finished = true;
    evhtp_connection_free (evhtp_request_get_connection (self->request));
}

bool
of_exchange_streaming (of_exchange_t *self)
{
    return self->streaming;
}

bool
of_exchange_finished (of_exchange_t *self)
{
    return self->finished;
}

static void
s_on_output (struct evbuffer *buffer, const struct evbuffer_cb_info *info, void *arg)
{
    (void) info;
    of_exchange_t *self = (of_exchange_t *) arg;
    size_t length = evbuffer_get_length (buffer);
    if (!self->full && length > self->high) {
        self->full = true;
        self->full_fn (self, true, self->full_arg);
    }
    else if (self->full && length < self->low) {
        self->full = false;
        self->full_fn (self, false, self->full_arg);
    }
}

void
of_exchange_set_watermarks (of_exchange_t *self, size_t high, size_t low,
                            of_exchange_full_fn *full, void *arg)
{
    assert (low < high && full);
    if (self->output_cb || self->finished)
        return;
    self->high = high;
    self->low = low;
    self->full_fn = full;
    self->full_arg = arg;
    self->output = bufferevent_get_output (evhtp_request_get_bev (self->request));
    self->output_cb = evbuffer_add_cb (self->output, s_on_output, self);
}

//  --------------------------------------------------------------------------
//  Self test

#include "of_conns.h"
#include "of_testhttp.h"
#include "of_loop.h"

//  The watermark test: a small receive buffer, a high mark, and a piece
//  far bigger than both and than what the sockets hold
#define S_TEST_RCVBUF 65536
#define S_TEST_HIGH   (256 * 1024)
#define S_TEST_BULK   (16 * 1024 * 1024)

typedef struct {
    struct event_base *base;
    of_exchange_t *exchange;        //  the last request's, until its fini
    int requests, gone, fini;
    int gone_at_fini;               //  gone callbacks before the last fini
    int full, drained;
} s_test_t;

static void
s_test_gone (of_exchange_t *exchange, void *arg)
{
    (void) exchange;
    ((s_test_t *) arg)->gone++;
}

static void
s_test_fini (of_exchange_t *exchange, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    test->fini++;
    test->gone_at_fini = test->gone;
    if (test->exchange == exchange)
        test->exchange = NULL;
}

static void
s_test_full (of_exchange_t *exchange, bool full, void *arg)
{
    (void) exchange;
    if (full)
        ((s_test_t *) arg)->full++;
    else
        ((s_test_t *) arg)->drained++;
}

static void
s_test_request (evhtp_request_t *request, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    test->exchange = of_exchange_new (request, test->base);
    of_exchange_set_owner (test->exchange, s_test_gone, test);
    of_exchange_set_fini (test->exchange, s_test_fini, test);
    test->requests++;
}

//  Sends a request and waits until the server has its exchange
static of_exchange_t *
s_test_ask (s_test_t *test, of_testhttp_client_t *client, const char *text)
{
    int requests = test->requests;
    of_testhttp_send (client, text);
    OF_TESTHTTP_UNTIL (test->base, client, test->requests > requests);
    assert (test->requests == requests + 1 && test->exchange);
    return test->exchange;
}

void
of_exchange_test (bool verbose)
{
    (void) verbose;
    printf (" * of_exchange: ");
    s_test_t test = {.base = event_base_new ()};
    assert (test.base);
    int port;
    evhtp_t *htp = of_testhttp_server (test.base, s_test_request, &test, &port);
    of_conns_t *conns = of_conns_new (htp, 0, NULL, NULL);
    of_testhttp_client_t client;
    of_testhttp_connect (&client, port, 0);

    //  The request as the owner reads it
    of_exchange_t *exchange = s_test_ask (&test, &client,
        "POST /api/chat?stream=false HTTP/1.1\r\nHost: a\r\nX-Test: yes\r\n"
        "Content-Length: 5\r\n\r\nhello");
    assert (of_exchange_method (exchange) == htp_method_POST);
    assert (!strcmp (of_exchange_path (exchange), "/api/chat"));
    assert (!strcmp (of_exchange_query (exchange), "stream=false"));
    assert (!strcmp (of_exchange_header (exchange, "x-test"), "yes"));
    assert (!of_exchange_header (exchange, "X-Missing"));
    size_t size;
    const char *body = of_exchange_body (exchange, &size);
    assert (size == 5 && memcmp (body, "hello", 5) == 0);
    assert (!strcmp (of_exchange_peer (exchange), "127.0.0.1"));
    assert (!of_exchange_streaming (exchange) && !of_exchange_finished (exchange));
    //  Paused: nothing goes out until the owner replies
    for (int turn = 0; turn < 10; turn++)
        of_testhttp_turn (test.base, &client);
    assert (client.total == 0 && test.fini == 0);

    //  A whole reply; the exchange ends (fini, no gone) and the connection is kept
    of_exchange_add_header (exchange, "X-Reply", "1");
    of_exchange_reply (exchange, 201, "text/plain", "made", 4);
    assert (of_exchange_finished (exchange));
    OF_TESTHTTP_UNTIL (test.base, &client, test.fini == 1 && strstr (client.text, "made"));
    assert (strncmp (client.text, "HTTP/1.1 201", 12) == 0);
    assert (strstr (client.text, "X-Reply: 1\r\n"));
    assert (strstr (client.text, "Content-Type: text/plain\r\n"));
    assert (strstr (client.text, "Content-Length: 4\r\n"));
    assert (test.fini == 1 && test.gone == 0 && !client.eof);

    //  HEAD, on the same connection: the length of the body, not the body
    exchange = s_test_ask (&test, &client, "HEAD /h HTTP/1.1\r\nHost: a\r\n\r\n");
    of_exchange_reply (exchange, 200, "text/plain", "12345", 5);
    OF_TESTHTTP_UNTIL (test.base, &client, test.fini == 2);
    for (int turn = 0; turn < 10; turn++)
        of_testhttp_turn (test.base, &client);
    assert (strstr (client.text, "Content-Length: 5\r\n"));
    char *end = strstr (client.text, "\r\n\r\n");
    assert (end && end [4] == 0 && !client.eof);

    //  A stream to HTTP/1.1: chunks, from memory and from a buffer (emptied),
    //  a last chunk, and the connection kept
    exchange = s_test_ask (&test, &client, "GET /s HTTP/1.1\r\nHost: a\r\n\r\n");
    evhtp_connection_t *connection = evhtp_request_get_connection (exchange->request);
    of_exchange_stream_start (exchange, 200);
    assert (of_exchange_streaming (exchange) && !of_exchange_finished (exchange));
    //  While it streams, the connection's parser is freed (the stand-in holds its place)
    assert (exchange->parked && connection->parser == s_stand_in ());
    assert (of_exchange_method (exchange) == htp_method_GET);
    of_exchange_stream_send (exchange, "abc", 3);
    //  Once the output is empty, chunks go straight to the socket
    OF_TESTHTTP_UNTIL (test.base, &client, strstr (client.text, "abc\r\n"));
    struct evbuffer *piece = evbuffer_new ();
    evbuffer_add (piece, "defg", 4);
    of_exchange_stream_write (exchange, piece);
    assert (evbuffer_get_length (piece) == 0);
    evbuffer_free (piece);
    of_exchange_stream_end (exchange);
    assert (of_exchange_finished (exchange));
    OF_TESTHTTP_UNTIL (test.base, &client, test.fini == 3 && strstr (client.text, "0\r\n\r\n"));
    assert (strstr (client.text, "Transfer-Encoding: chunked\r\n"));
    assert (strstr (client.text, "\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"));
    assert (test.gone == 0 && !client.eof);
    //  and a parser of its own again, which reads the next request
    assert (connection->parser && connection->parser != s_stand_in ());
    exchange = s_test_ask (&test, &client, "POST /next HTTP/1.1\r\nHost: a\r\n"
                                           "Content-Length: 2\r\n\r\nok");
    assert (!strcmp (of_exchange_path (exchange), "/next")
            && of_exchange_method (exchange) == htp_method_POST);
    of_exchange_reply (exchange, 200, NULL, "next", 4);
    OF_TESTHTTP_UNTIL (test.base, &client, strstr (client.text, "next"));
    assert (strstr (client.text, "next") && !client.eof);
    of_testhttp_close (&client);

    //  A stream to HTTP/1.0 (which asked for keep-alive): no chunks, ended by closing
    of_testhttp_connect (&client, port, 0);
    exchange = s_test_ask (&test, &client,
                           "GET /s HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n");
    of_exchange_stream_start (exchange, 200);
    of_exchange_stream_send (exchange, "abc", 3);
    of_exchange_stream_end (exchange);
    OF_TESTHTTP_UNTIL (test.base, &client, client.eof);
    assert (client.eof && strstr (client.text, "Connection: close\r\n"));
    assert (!strstr (client.text, "chunked"));
    end = strstr (client.text, "\r\n\r\n");
    assert (end && !strcmp (end + 4, "abc"));
    OF_TESTHTTP_UNTIL (test.base, NULL, test.fini == 5);
    assert (test.fini == 5 && test.gone == 0);
    of_testhttp_close (&client);

    //  Pipelined bytes are not a disconnect; the next request follows the reply
    of_testhttp_connect (&client, port, 0);
    exchange = s_test_ask (&test, &client, "GET /a HTTP/1.1\r\nHost: a\r\n\r\n");
    of_exchange_watch (exchange);
    of_testhttp_send (&client, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n");
    for (int turn = 0; turn < 10; turn++)
        of_testhttp_turn (test.base, &client);
    assert (test.gone == 0 && test.requests == 6);
    of_exchange_reply (exchange, 200, NULL, "a", 1);
    OF_TESTHTTP_UNTIL (test.base, &client, test.requests == 7);
    assert (test.requests == 7 && !strcmp (of_exchange_path (test.exchange), "/b"));

    //  The client goes away while its exchange waits, watched: gone at once,
    //  once, before the fini
    exchange = test.exchange;
    of_exchange_watch (exchange);
    of_testhttp_close (&client);
    OF_TESTHTTP_UNTIL (test.base, NULL, test.fini == 7);
    assert (test.gone == 1 && test.fini == 7 && test.gone_at_fini == 1);

    //  An abort: the client sees the stream cut (no last chunk) and no gone runs
    of_testhttp_connect (&client, port, 0);
    exchange = s_test_ask (&test, &client, "GET /s HTTP/1.1\r\nHost: a\r\n\r\n");
    of_exchange_stream_start (exchange, 200);
    of_exchange_stream_send (exchange, "abc", 3);
    OF_TESTHTTP_UNTIL (test.base, &client, strstr (client.text, "abc"));
    of_exchange_abort (exchange);
    OF_TESTHTTP_UNTIL (test.base, &client, client.eof && test.fini == 8);
    assert (client.eof && strstr (client.text, "3\r\nabc\r\n"));
    assert (!strstr (client.text, "0\r\n\r\n"));
    assert (test.fini == 8 && test.gone == 1);
    of_testhttp_close (&client);

    //  Watermarks: a client that does not read fills the output over high;
    //  once it reads, the output drains under low
    of_testhttp_connect (&client, port, S_TEST_RCVBUF);
    exchange = s_test_ask (&test, &client, "GET /s HTTP/1.1\r\nHost: a\r\n\r\n");
    of_exchange_stream_start (exchange, 200);
    of_exchange_set_watermarks (exchange, S_TEST_HIGH, S_TEST_HIGH / 4, s_test_full, &test);
    char *bulk = calloc (1, S_TEST_BULK);
    assert (bulk);
    of_exchange_stream_send (exchange, bulk, S_TEST_BULK);
    free (bulk);
    assert (test.full == 1 && test.drained == 0);
    OF_TESTHTTP_UNTIL (test.base, &client, test.drained == 1);
    assert (test.full == 1 && test.drained == 1);
    of_exchange_stream_end (exchange);
    OF_TESTHTTP_UNTIL (test.base, &client, test.fini == 9 && client.total > S_TEST_BULK + 5);
    assert (test.fini == 9 && client.total > S_TEST_BULK + 5);
    of_testhttp_close (&client);

    evhtp_unbind_socket (htp);
    of_conns_destroy (&conns);
    evhtp_free (htp);
    of_loop_free (&test.base);
    printf ("OK\n");
}

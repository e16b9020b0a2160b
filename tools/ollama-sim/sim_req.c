/*  =========================================================================
    sim_req - one HTTP exchange of a simulated backend, held paused
    =========================================================================
*/

#include "sim_req.h"
#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

//  Status text for Content-Length of HEAD replies
#define LENGTH_TEXT_MAX 24
//  Room for a chunk-size line
#define CHUNK_HEAD_MAX 24

struct _sim_req_t {
    evhtp_request_t *request;
    struct event_base *base;
    struct event *watch;            //  EV_READ on the client socket
    struct event *timer;
    sim_req_fn *timer_fn;
    void *timer_arg;
    sim_req_fn *gone;               //  owner's cancel callback
    void *gone_arg;
    json_t *body;
    bool finished;                  //  final output queued, request resumed
    bool streaming;
    bool buffered;                  //  HTTP/1.0 stream: collect, send at the end
    int stream_status;
};

static void
s_stop_events (sim_req_t *self)
{
    if (self->watch) {
        event_free (self->watch);
        self->watch = NULL;
    }
    if (self->timer)
        event_del (self->timer);
}

//  The owner learns that the client is gone, once
static void
s_notify_gone (sim_req_t *self)
{
    sim_req_fn *gone = self->gone;
    self->gone = NULL;
    if (gone)
        gone (self, self->gone_arg);
}

static evhtp_res
s_on_fini (evhtp_request_t *request, void *arg)
{
    sim_req_t *self = (sim_req_t *) arg;
    (void) request;
    s_stop_events (self);
    s_notify_gone (self);
    if (self->timer)
        event_free (self->timer);
    json_decref (self->body);
    free (self);
    return EVHTP_RES_OK;
}

static void
s_on_error (evhtp_request_t *request, evhtp_error_flags flags, void *arg)
{
    sim_req_t *self = (sim_req_t *) arg;
    (void) flags;
    s_stop_events (self);
    s_notify_gone (self);
    if (!self->finished) {
        //  evhtp frees a paused connection only once it is resumed; this may
        //  free the exchange, so nothing may touch self afterwards
        self->finished = true;
        evhtp_request_resume (request);
    }
}

sim_req_t *
sim_req_new (evhtp_request_t *request, struct event_base *base)
{
    sim_req_t *self = calloc (1, sizeof *self);
    assert (self);
    self->request = request;
    self->base = base;
    evhtp_request_pause (request);
    evhtp_request_set_hook (request, evhtp_hook_on_request_fini, (evhtp_hook) s_on_fini, self);
    evhtp_request_set_hook (request, evhtp_hook_on_error,
                            (evhtp_hook) (void (*) (void)) s_on_error, self);
    return self;
}

htp_method
sim_req_method (sim_req_t *self)
{
    return evhtp_request_get_method (self->request);
}

const char *
sim_req_path (sim_req_t *self)
{
    evhtp_uri_t *uri = self->request->uri;
    return uri && uri->path && uri->path->full? uri->path->full: "/";
}

const char *
sim_req_header (sim_req_t *self, const char *name)
{
    return evhtp_header_find (self->request->headers_in, name);
}

evhtp_request_t *
sim_req_evhtp (sim_req_t *self)
{
    return self->request;
}

const char *
sim_req_body_raw (sim_req_t *self, size_t *size_p)
{
    struct evbuffer *in = self->request->buffer_in;
    *size_p = evbuffer_get_length (in);
    return *size_p? (const char *) evbuffer_pullup (in, -1): "";
}

json_t *
sim_req_body (sim_req_t *self, char *error, size_t size)
{
    if (self->body)
        return self->body;
    size_t length;
    const char *raw = sim_req_body_raw (self, &length);
    size_t start = 0;
    while (start < length && strchr (" \t\r\n", raw [start]))
        start++;
    if (start == length) {
        snprintf (error, size, "missing request body");
        return NULL;
    }
    json_error_t jerror;
    json_t *json = json_loadb (raw, length, JSON_DISABLE_EOF_CHECK, &jerror);
    if (!json) {
        if (strchr ("{[\"-0123456789tfn", raw [start]) == NULL)
            snprintf (error, size, "invalid character '%c' looking for beginning of value",
                      raw [start]);
        else
            snprintf (error, size, "unexpected EOF");
        return NULL;
    }
    if (!json_is_object (json)) {
        snprintf (error, size, "json: cannot unmarshal %s into Go value of type api.Request",
                  json_is_array (json)? "array": json_is_string (json)? "string": "number");
        json_decref (json);
        return NULL;
    }
    self->body = json;
    return json;
}

void
sim_req_set_owner (sim_req_t *self, sim_req_fn *gone, void *arg)
{
    self->gone = gone;
    self->gone_arg = arg;
}

static void
s_on_watch (evutil_socket_t fd, short what, void *arg)
{
    sim_req_t *self = (sim_req_t *) arg;
    (void) what;
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
    //  The client closed or reset: cancel now, then drop the connection
    s_stop_events (self);
    s_notify_gone (self);
    self->finished = true;
    evhtp_connection_free (evhtp_request_get_connection (self->request));
}

void
sim_req_watch (sim_req_t *self)
{
    if (self->watch || self->finished)
        return;
    evutil_socket_t fd = bufferevent_getfd (evhtp_request_get_bev (self->request));
    self->watch = event_new (self->base, fd, EV_READ | EV_PERSIST, s_on_watch, self);
    assert (self->watch);
    event_add (self->watch, NULL);
}

static void
s_on_timer (evutil_socket_t fd, short what, void *arg)
{
    sim_req_t *self = (sim_req_t *) arg;
    (void) fd;
    (void) what;
    self->timer_fn (self, self->timer_arg);
}

void
sim_req_timer (sim_req_t *self, int64_t delay_ns, sim_req_fn *fn, void *arg)
{
    if (!self->timer) {
        self->timer = evtimer_new (self->base, s_on_timer, self);
        assert (self->timer);
    }
    self->timer_fn = fn;
    self->timer_arg = arg;
    if (delay_ns < 0)
        delay_ns = 0;
    struct timeval tv = { (time_t) (delay_ns / 1000000000LL),
                          (suseconds_t) ((delay_ns % 1000000000LL) / 1000) };
    evtimer_add (self->timer, &tv);
}

static void
s_set_header (sim_req_t *self, const char *key, const char *value, bool copy)
{
    evhtp_headers_add_header (self->request->headers_out,
                              evhtp_header_new (key, value, 0, copy? 1: 0));
}

static void
s_finish (sim_req_t *self)
{
    s_stop_events (self);
    self->gone = NULL;
    self->finished = true;
    evhtp_request_resume (self->request);
}

void
sim_req_reply (sim_req_t *self, int status, const char *content_type, const char *data,
               size_t size)
{
    assert (!self->finished && !self->streaming);
    if (content_type)
        s_set_header (self, "Content-Type", content_type, false);
    if (sim_req_method (self) == htp_method_HEAD) {
        char length [LENGTH_TEXT_MAX];
        snprintf (length, sizeof length, "%zu", size);
        s_set_header (self, "Content-Length", length, true);
    }
    else if (size)
        evbuffer_add (self->request->buffer_out, data, size);
    evhtp_send_reply (self->request, (evhtp_res) status);
    s_finish (self);
}

void
sim_req_reply_json (sim_req_t *self, int status, const char *content_type, json_t *json)
{
    char *text = json_dumps (json, JSON_COMPACT | JSON_REAL_PRECISION (9));
    assert (text);
    sim_req_reply (self, status, content_type, text, strlen (text));
    free (text);
}

void
sim_req_reply_error (sim_req_t *self, int status, const char *message)
{
    json_t *json = json_pack ("{ss}", "error", message);
    sim_req_reply_json (self, status, SIM_CT_JSON, json);
    json_decref (json);
}

void
sim_req_reply_openai_error (sim_req_t *self, int status, const char *message)
{
    const char *type = status == 400? "invalid_request_error":
                       status == 404? "not_found_error": "api_error";
    json_t *json = json_pack ("{s{sssssnsn}}", "error", "message", message, "type", type,
                              "param", "code");
    sim_req_reply_json (self, status, SIM_CT_JSON_V1, json);
    json_decref (json);
}

void
sim_req_stream_start (sim_req_t *self, int status, const char *content_type)
{
    assert (!self->finished && !self->streaming);
    self->streaming = true;
    self->stream_status = status;
    s_set_header (self, "Content-Type", content_type, false);
    if (evhtp_request_get_proto (self->request) != EVHTP_PROTO_11) {
        //  evhtp would send chunked encoding to HTTP/1.0: collect instead
        self->buffered = true;
        evhtp_request_set_keepalive (self->request, 0);
        return;
    }
    evhtp_send_reply_chunk_start (self->request, (evhtp_res) status);
}

void
sim_req_stream_write (sim_req_t *self, const char *data, size_t size)
{
    assert (self->streaming);
    if (self->finished)
        return;
    if (self->buffered) {
        evbuffer_add (self->request->buffer_out, data, size);
        return;
    }
    //  One chunk, framed as evhtp_send_reply_chunk would. When nothing waits in
    //  the output buffer, it goes to the socket at once: this saves a loop turn
    //  and two epoll_ctl calls per token, most of the cost of 10,000 streams.
    //  What the socket does not take (or any error) goes through the
    //  bufferevent as usual, which keeps the order and reports errors.
    char head [CHUNK_HEAD_MAX];
    int head_size = snprintf (head, sizeof head, "%zx\r\n", size);
    struct iovec pieces [3] = {
        { head, (size_t) head_size }, { (void *) data, size }, { (void *) "\r\n", 2 }
    };
    struct bufferevent *bev = evhtp_request_get_bev (self->request);
    struct evbuffer *output = bufferevent_get_output (bev);
    ssize_t sent = 0;
    if (evbuffer_get_length (output) == 0) {
        struct msghdr message = { .msg_iov = pieces, .msg_iovlen = 3 };
        sent = sendmsg (bufferevent_getfd (bev), &message, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0)
            sent = 0;
    }
    for (int i = 0; i < 3; i++) {
        size_t skip = (size_t) sent < pieces [i].iov_len? (size_t) sent: pieces [i].iov_len;
        sent -= (ssize_t) skip;
        if (skip < pieces [i].iov_len)
            evbuffer_add (output, (char *) pieces [i].iov_base + skip, pieces [i].iov_len - skip);
    }
}

void
sim_req_stream_end (sim_req_t *self)
{
    assert (self->streaming);
    if (self->finished)
        return;
    if (self->buffered)
        evhtp_send_reply (self->request, (evhtp_res) self->stream_status);
    else
        evhtp_send_reply_chunk_end (self->request);
    s_finish (self);
}

void
sim_req_abort (sim_req_t *self)
{
    s_stop_events (self);
    self->gone = NULL;
    self->finished = true;
    evhtp_connection_free (evhtp_request_get_connection (self->request));
}

bool
sim_req_streaming (sim_req_t *self)
{
    return self->streaming;
}

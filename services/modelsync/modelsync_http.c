/*  =========================================================================
    modelsync_http - one request from modelsync to a backend
    =========================================================================
*/

#include "modelsync_http.h"
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>

#define S_USER_AGENT "ollamaflow-modelsync/" OF_VERSION

struct _modelsync_http_t {
    of_upstream_t *upstream;       //  NULL once over
    struct event *timer;
    struct event *ended;                //  reports an end from the loop
    int64_t timeout_ms;
    bool streamed;
    modelsync_http_line_fn *on_line;
    modelsync_http_end_fn *on_end;
    void *arg;
    int status;
    bool lines;                         //  the answer is cut into lines (streamed, 2xx)
    struct evbuffer *body;              //  the buffered answer, or the partial line
    char error [MODELSYNC_HTTP_ERROR_MAX];
    bool over;
};

static void
s_arm (modelsync_http_t *self)
{
    struct timeval timeout = {(long) (self->timeout_ms / 1000),
                              (long) (self->timeout_ms % 1000) * 1000};
    evtimer_add (self->timer, &timeout);
}

//  Ends the request (the first end counts); the user hears of it from the
//  loop, where the request still running, if any, is dropped
static void
s_end (modelsync_http_t *self, int status, const char *error)
{
    if (self->over)
        return;
    self->over = true;
    self->status = status;
    if (error)
        snprintf (self->error, sizeof self->error, "%s", error);
    evtimer_del (self->timer);
    event_active (self->ended, 0, 1);
}

static void
s_on_ended (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    modelsync_http_t *self = (modelsync_http_t *) arg;
    //  Out of evhttp's callbacks: a request cut short can be dropped now
    of_upstream_cancel (&self->upstream);
    size_t size = self->lines ? 0 : evbuffer_get_length (self->body);
    const char *body = size ? (const char *) evbuffer_pullup (self->body, -1) : "";
    char *copy = strndup (body, size);
    self->on_end (self->arg, self->status, copy, size, self->status ? NULL : self->error);
    free (copy);
}

static void
s_on_timeout (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    modelsync_http_t *self = (modelsync_http_t *) arg;
    char error [MODELSYNC_HTTP_ERROR_MAX];
    snprintf (error, sizeof error, "timeout: %s %lld ms", self->lines ? "silent for" : "no answer in",
              (long long) self->timeout_ms);
    s_end (self, 0, error);
}

static void
s_on_head (void *arg, int status, struct evkeyvalq *headers)
{
    (void) headers;
    modelsync_http_t *self = (modelsync_http_t *) arg;
    self->status = status;
    self->lines = self->streamed && status >= 200 && status < 300;
}

//  Hands every complete line to the user
static void
s_split_lines (modelsync_http_t *self)
{
    struct evbuffer_ptr found;
    while ((found = evbuffer_search_eol (self->body, NULL, NULL, EVBUFFER_EOL_LF)).pos >= 0) {
        size_t size = (size_t) found.pos;
        char *line = (char *) malloc (size + 1);
        evbuffer_remove (self->body, line, size);
        evbuffer_drain (self->body, 1);
        line [size] = 0;
        if (size && line [size - 1] == '\r')
            line [--size] = 0;
        if (size)
            self->on_line (self->arg, line, size);
        free (line);
    }
}

static void
s_on_data (void *arg, struct evbuffer *data)
{
    modelsync_http_t *self = (modelsync_http_t *) arg;
    if (self->over) {
        evbuffer_drain (data, evbuffer_get_length (data));
        return;
    }
    evbuffer_add_buffer (self->body, data);
    if (self->lines) {
        s_arm (self);
        s_split_lines (self);
        if (evbuffer_get_length (self->body) > MODELSYNC_HTTP_LINE_MAX)
            s_end (self, 0, "bad response: a line over 64 KiB");
    }
    else if (evbuffer_get_length (self->body) > MODELSYNC_HTTP_BODY_MAX)
        s_end (self, 0, "bad response: over 8 MiB");
}

static void
s_on_done (void *arg)
{
    modelsync_http_t *self = (modelsync_http_t *) arg;
    self->upstream = NULL;
    if (self->lines && evbuffer_get_length (self->body)) {
        //  A last line without its end of line
        evbuffer_add (self->body, "\n", 1);
        s_split_lines (self);
    }
    s_end (self, self->status, NULL);
}

static void
s_on_fail (void *arg, of_upstream_fail_t fail, const char *reason)
{
    (void) fail;
    modelsync_http_t *self = (modelsync_http_t *) arg;
    self->upstream = NULL;
    s_end (self, 0, reason);
}

static const of_upstream_fn_t s_upstream_fn = {s_on_head, s_on_data, s_on_done, s_on_fail};

//  modelsync's defaults; the builder adds the backend's Host, token and Headers
static void
s_fill_headers (struct evkeyvalq *headers, const char *body)
{
    evhttp_add_header (headers, "User-Agent", S_USER_AGENT);
    evhttp_add_header (headers, "Accept", "application/json");
    if (body) {
        char length [24];
        snprintf (length, sizeof length, "%zu", strlen (body));
        evhttp_add_header (headers, "Content-Type", "application/json");
        evhttp_add_header (headers, "Content-Length", length);
    }
}

modelsync_http_t *
modelsync_http_new (of_upstream_pool_t *pool, struct event_base *base, const of_backend_t *backend,
                    enum evhttp_cmd_type method, const char *path, const char *body,
                    int64_t timeout_ms, modelsync_http_line_fn *on_line,
                    modelsync_http_end_fn *on_end, void *arg)
{
    assert (pool && base && backend && path && on_end);
    modelsync_http_t *self = (modelsync_http_t *) zmalloc (sizeof (modelsync_http_t));
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    self->streamed = on_line != NULL;
    self->on_line = on_line;
    self->on_end = on_end;
    self->arg = arg;
    self->body = evbuffer_new ();
    self->timer = evtimer_new (base, s_on_timeout, self);
    self->ended = event_new (base, -1, 0, s_on_ended, self);
    s_arm (self);

    self->upstream = of_upstream_new (pool, backend, &s_upstream_fn, self);
    s_fill_headers (of_upstream_headers (self->upstream), body);
    //  A request that cannot be queued fails later, through s_on_fail
    of_upstream_send (self->upstream, method, path, NULL, body, body ? strlen (body) : 0);
    return self;
}

void
modelsync_http_destroy (modelsync_http_t **self_p)
{
    assert (self_p);
    modelsync_http_t *self = *self_p;
    if (!self)
        return;
    of_upstream_cancel (&self->upstream);
    event_free (self->timer);
    event_free (self->ended);
    evbuffer_free (self->body);
    free (self);
    *self_p = NULL;
}

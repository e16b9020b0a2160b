/*  =========================================================================
    ingress - the HTTP service actor: one libevent loop that serves HTTP
    (libevhtp) and follows the config (of_clone) over ZeroMQ

    The actor thread runs the event loop; its pipe, the clone's sockets and a
    timer are events on the same base, so nothing ever blocks the loop.
    =========================================================================
*/

#include "ingress.h"
#include "of_evzmq.h"
#include "ingress_link.h"
#include "of_service.h"
#include <evhtp.h>
#include <netdb.h>

#define S_LISTEN_BACKLOG 1024
#define S_HOME_TEXT "Ollama is running"

typedef struct {
    of_settings_t *settings;
    zsock_t *pipe;
    struct event_base *base;
    evhtp_t *htp;
    int port;                           //  the port bound (Webserver.Port may be 0)
    of_clone_t *clone;
    of_evzmq_t *pipe_watch;
    ingress_link_t *link;
    uint64_t requests;
} s_ingress_t;

//  --------------------------------------------------------------------------
//  Replies

//  Sends a whole reply. Every request is paused first and resumed after its
//  output is queued: libevhtp's pipelining needs it (see the bus notes).
static void
s_reply (s_ingress_t *self, evhtp_request_t *req, int status, const char *content_type,
         const char *body)
{
    evhtp_request_pause (req);
    char id [96];
    snprintf (id, sizeof id, "%s-%llu", self->settings->ingress_id,
              (unsigned long long) ++self->requests);
    evhtp_headers_add_header (req->headers_out,
                              evhtp_header_new ("X-OllamaFlow-Request", id, 0, 1));
    if (content_type)
        evhtp_headers_add_header (req->headers_out,
                                  evhtp_header_new ("Content-Type", content_type, 0, 1));
    if (body && evhtp_request_get_method (req) != htp_method_HEAD)
        evbuffer_add (req->buffer_out, body, strlen (body));
    evhtp_send_reply (req, status);
    evhtp_request_resume (req);
}

//  An error in the dialect of the route: Ollama's {"error": "..."} or OpenAI's
//  {"error": {"message", "type", "code"}}
static void
s_reply_error (s_ingress_t *self, evhtp_request_t *req, int status, const char *message)
{
    const char *path = req->uri && req->uri->path ? req->uri->path->full : "/";
    json_t *body;
    if (strncmp (path, "/v1/", 4) == 0)
        body = json_pack ("{s:{s:s, s:s, s:n, s:n}}", "error", "message", message, "type",
                          status == 404   ? "not_found_error"
                          : status < 500 ? "invalid_request_error"
                                         : "api_error",
                          "param", "code");
    else
        body = json_pack ("{s:s}", "error", message);
    char *text = json_dumps (body, JSON_COMPACT);
    s_reply (self, req, status, "application/json; charset=utf-8", text);
    free (text);
    json_decref (body);
}

static void
s_on_request (evhtp_request_t *req, void *arg)
{
    s_ingress_t *self = (s_ingress_t *) arg;
    const char *path = req->uri && req->uri->path ? req->uri->path->full : "";
    htp_method method = evhtp_request_get_method (req);
    if (streq (path, "/") && (method == htp_method_GET || method == htp_method_HEAD))
        s_reply (self, req, EVHTP_RES_OK, "text/plain; charset=utf-8", S_HOME_TEXT);
    else {
        char message [256];
        snprintf (message, sizeof message, "unknown route %s %.160s", htparser_get_methodstr_m (method),
                  path);
        s_reply_error (self, req, EVHTP_RES_NOTFOUND, message);
    }
}

//  --------------------------------------------------------------------------
//  The bus

static void
s_on_config_change (void *arg, of_kind_t kind, const char *identifier, json_t *object)
{
    (void) arg;
    if (kind == OF_KIND_COUNT)
        of_log_info ("config snapshot applied");
    else
        of_log_debug ("config: %s '%s' %s", of_kind_name (kind), identifier,
                      object ? "changed" : "deleted");
}

//  --------------------------------------------------------------------------
//  Start and stop

//  Binds Webserver.Hostname:Port ("*" is every address); SO_REUSEPORT lets
//  several ingress replicas share the port
static int
s_bind (s_ingress_t *self, char *error, size_t size)
{
    const char *host = self->settings->http_hostname;
    char address [INET6_ADDRSTRLEN + 8] = "ipv4:0.0.0.0";
    if (!streq (host, "*") && !streq (host, "0.0.0.0")) {
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found = NULL;
        int rc = getaddrinfo (host, NULL, &hints, &found);
        if (rc != 0) {
            snprintf (error, size, "Webserver.Hostname '%s': %s", host, gai_strerror (rc));
            return -1;
        }
        char numeric [INET6_ADDRSTRLEN] = "";
        getnameinfo (found->ai_addr, found->ai_addrlen, numeric, sizeof numeric, NULL, 0,
                     NI_NUMERICHOST);
        snprintf (address, sizeof address, "%s:%s", found->ai_family == AF_INET6 ? "ipv6" : "ipv4",
                  numeric);
        freeaddrinfo (found);
    }
    evhtp_enable_flag (self->htp, EVHTP_FLAG_ENABLE_REUSEPORT | EVHTP_FLAG_ENABLE_NODELAY);
    if (evhtp_bind_socket (self->htp, address, (uint16_t) self->settings->http_port,
                           S_LISTEN_BACKLOG) != 0) {
        snprintf (error, size, "cannot listen on %s port %d: %s", host, self->settings->http_port,
                  strerror (errno));
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t length = sizeof bound;
    getsockname (evconnlistener_get_fd (self->htp->server), (struct sockaddr *) &bound, &length);
    self->port = ntohs (bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &bound)->sin6_port
                                                    : ((struct sockaddr_in *) &bound)->sin_port);
    return 0;
}

static void
s_destroy (s_ingress_t *self)
{
    ingress_link_destroy (&self->link);
    of_evzmq_destroy (&self->pipe_watch);
    of_clone_destroy (&self->clone);
    if (self->htp) {
        evhtp_unbind_socket (self->htp);
        evhtp_free (self->htp);
    }
    if (self->base)
        event_base_free (self->base);
}

void
ingress_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    s_ingress_t self = {.settings = (of_settings_t *) args, .pipe = pipe};
    of_settings_t *settings = self.settings;
    char error [256];

    self.base = event_base_new ();
    self.htp = self.base ? evhtp_new (self.base, NULL) : NULL;
    if (!self.htp) {
        s_destroy (&self);
        of_service_failed (pipe, "cannot create the event loop");
        return;
    }
    evhtp_set_gencb (self.htp, s_on_request, &self);
    if (s_bind (&self, error, sizeof error) != 0) {
        s_destroy (&self);
        of_service_failed (pipe, "%s", error);
        return;
    }
    self.clone = of_clone_new (settings->config_publisher, settings->config_router,
                               settings->liveness_ms);
    if (!self.clone) {
        s_destroy (&self);
        of_service_failed (pipe, "cannot connect to configd at %s and %s",
                           settings->config_publisher, settings->config_router);
        return;
    }
    of_clone_set_handler (self.clone, s_on_config_change, &self);
    self.pipe_watch = of_service_pipe_events (self.base, pipe);
    of_clone_attach_events (self.clone, self.base);
    self.link = ingress_link_new (self.base, settings);
    if (!self.link) {
        s_destroy (&self);
        of_service_failed (pipe, "cannot connect to the scheduler at %s",
                           settings->scheduler_router);
        return;
    }

    of_log_info ("ingress %s listening on http://%s:%d", settings->ingress_id,
                 streq (settings->http_hostname, "*") ? "0.0.0.0" : settings->http_hostname,
                 self.port);
    of_service_ready (pipe);
    event_base_dispatch (self.base);
    s_destroy (&self);
}

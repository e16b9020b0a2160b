/*  =========================================================================
    modelsync - the model service actor (proto/models.md)

    One libevent loop runs everything, as in healthmon: the actor pipe, the
    config clone, the SUB to healthmon and the ROUTER join it through
    of_evzmq; backend requests go through libshared's pooled evhttp
    client (of_upstream). Every Models.IntervalMs each healthy backend's
    models are fetched (modelsync_fleet), and at once when a backend
    appears, changes or turns healthy. An inventory that changed goes out as INVENTORY at
    once; the full STATE (inventories and pulls) every Bus.HeartbeatMs. The
    RequiredModels sync runs after every fetch and config change, and pulls
    what is missing within the limits (modelsync_pull). PULL-START and
    DELETE-MODEL come on the ROUTER (modelsync_jobs).
    =========================================================================
*/

#include "modelsync.h"
#include "modelsync_fleet.h"
#include "modelsync_jobs.h"
#include "of_loop.h"
#include <event2/event.h>
#include <openssl/crypto.h>

typedef struct {
    modelsync_ctx_t ctx;
    of_evzmq_t *pipe_watch;
    of_evzmq_t *health_watch;
    struct event *state_timer;
    struct event *poll_timer;
} s_modelsync_t;

static struct timeval
s_timeval (int64_t ms)
{
    struct timeval value = {(long) (ms / 1000), (long) (ms % 1000) * 1000};
    return value;
}

//  --------------------------------------------------------------------------
//  Publishing

void
modelsync_publish (modelsync_ctx_t *ctx, const char *command, json_t *body)
{
    json_object_set_new (body, "Epoch", json_string (ctx->epoch));
    json_object_set_new (body, "Sequence", json_integer (++ctx->sequence));
    ofp_msg_t *msg = ofp_msg_new (&ofp_models_protocol, command, NULL, &body);
    ofp_msg_send (&msg, ctx->publisher);
}

void
modelsync_reply (modelsync_ctx_t *ctx, ofp_msg_t **reply_p)
{
    ofp_tap_publish (ctx->tap, "modelsync", "OUT", *reply_p);
    ofp_msg_send (reply_p, ctx->router);
    of_evzmq_kick (ctx->router_watch);
}

static void
s_publish_state (modelsync_ctx_t *ctx)
{
    json_t *inventories = json_array ();
    for (modelsync_backend_t *backend = (modelsync_backend_t *) zhashx_first (ctx->backends);
         backend; backend = (modelsync_backend_t *) zhashx_next (ctx->backends))
        json_array_append_new (inventories, modelsync_backend_record (backend));
    json_t *pulls = modelsync_pulls_records (ctx->pulls, zclock_mono ());
    modelsync_publish (ctx, "STATE",
                       json_pack ("{s:o, s:o}", "Inventories", inventories, "Pulls", pulls));
}

static void
s_on_state_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_publish_state (&((s_modelsync_t *) arg)->ctx);
}

static void
s_on_poll_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    modelsync_fleet_fetch_all (&((s_modelsync_t *) arg)->ctx, false);
}

//  --------------------------------------------------------------------------
//  The bus

static void
s_on_config_change (void *arg, of_kind_t kind, const char *identifier, json_t *object)
{
    (void) object;
    modelsync_ctx_t *ctx = (modelsync_ctx_t *) arg;
    modelsync_fleet_reconcile (ctx);
    if (kind == OF_KIND_FRONTEND)
        modelsync_fleet_fetch_frontend (ctx, identifier);
    else if (kind == OF_KIND_COUNT)
        modelsync_fleet_fetch_all (ctx, false);
    modelsync_fleet_sync (ctx);
}

static void
s_on_health (zsock_t *socket, void *arg)
{
    modelsync_ctx_t *ctx = (modelsync_ctx_t *) arg;
    while (zsock_events (socket) & ZMQ_POLLIN) {
        ofp_msg_t *msg = ofp_msg_recv (&ofp_health_protocol, socket);
        if (!msg)
            break;
        if (!ofp_msg_error (msg))
            modelsync_fleet_health (ctx, msg);
        ofp_msg_destroy (&msg);
    }
}

static void
s_on_request (zsock_t *router, void *arg)
{
    modelsync_ctx_t *ctx = (modelsync_ctx_t *) arg;
    while (zsock_events (router) & ZMQ_POLLIN) {
        ofp_msg_t *request = ofp_msg_recv (&ofp_models_protocol, router);
        if (!request)
            break;
        modelsync_jobs_handle (ctx, &request);
    }
}

//  --------------------------------------------------------------------------
//  Start and stop

static void
s_destroy (s_modelsync_t *self)
{
    modelsync_ctx_t *ctx = &self->ctx;
    //  Requests to backends first: they hold connections of the pool
    modelsync_jobs_stop (ctx);
    modelsync_fleet_stop (ctx);
    of_evzmq_destroy (&self->pipe_watch);
    of_evzmq_destroy (&self->health_watch);
    of_evzmq_destroy (&ctx->router_watch);
    if (self->state_timer)
        event_free (self->state_timer);
    if (self->poll_timer)
        event_free (self->poll_timer);
    of_clone_destroy (&ctx->clone);
    zsock_destroy (&ctx->health);
    zsock_destroy (&ctx->router);
    zsock_destroy (&ctx->publisher);
    of_upstream_pool_destroy (&ctx->pool);
    of_loop_free (&ctx->base);
    //  OpenSSL keeps per-thread state: free it now (see healthmon)
    OPENSSL_thread_stop ();
}

static zsock_t *
s_health_subscriber (const char *endpoint)
{
    zsock_t *socket = zsock_new (ZMQ_SUB);
    if (!socket)
        return NULL;
    zsock_set_linger (socket, 0);
    zsock_set_subscribe (socket, OFP_HEALTH_SIGNATURE);
    if (zsock_connect (socket, "%s", endpoint) != 0)
        zsock_destroy (&socket);
    return socket;
}

void
modelsync_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    s_modelsync_t self = {.ctx = {.settings = (of_settings_t *) args}};
    modelsync_ctx_t *ctx = &self.ctx;
    of_settings_t *settings = ctx->settings;
    ctx->base = event_base_new ();
    ctx->pool = ctx->base ? of_upstream_pool_new (ctx->base, settings) : NULL;
    if (!ctx->pool) {
        s_destroy (&self);
        of_service_failed (pipe, "cannot create the event loop, resolver or TLS context");
        return;
    }
    char bind_error [OF_SERVICE_BIND_ERROR_MAX];
    if (of_service_bind_pair (settings, &ctx->router, settings->models_router, &ctx->publisher,
                              settings->models_publisher, bind_error, sizeof bind_error)) {
        s_destroy (&self);
        of_service_failed (pipe, "%s", bind_error);
        return;
    }
    ctx->clone = of_clone_new (settings->config_publisher, settings->config_router,
                               settings->liveness_ms);
    ctx->health = s_health_subscriber (settings->health_publisher);
    if (!ctx->clone || !ctx->health) {
        s_destroy (&self);
        of_service_failed (pipe, "cannot connect to configd at %s and %s, or healthmon at %s",
                           settings->config_publisher, settings->config_router,
                           settings->health_publisher);
        return;
    }
    if (settings->tap)
        ctx->tap = ctx->publisher;
    of_service_epoch (ctx->epoch);
    modelsync_fleet_start (ctx);
    of_clone_set_handler (ctx->clone, s_on_config_change, ctx);
    self.pipe_watch = of_service_pipe_events (ctx->base, pipe);
    ctx->router_watch = of_evzmq_new (ctx->base, ctx->router, s_on_request, ctx);
    self.health_watch = of_evzmq_new (ctx->base, ctx->health, s_on_health, ctx);
    of_clone_attach_events (ctx->clone, ctx->base);
    self.state_timer = event_new (ctx->base, -1, EV_PERSIST, s_on_state_timer, &self);
    struct timeval heartbeat = s_timeval (settings->heartbeat_ms);
    evtimer_add (self.state_timer, &heartbeat);
    self.poll_timer = event_new (ctx->base, -1, EV_PERSIST, s_on_poll_timer, &self);
    struct timeval interval = s_timeval (settings->models_interval_ms);
    evtimer_add (self.poll_timer, &interval);

    of_log_info ("epoch %s; requests on %s, models on %s; lists every %lld ms; pulls at most "
                 "%d per backend, %d in all", ctx->epoch, settings->models_router,
                 settings->models_publisher, (long long) settings->models_interval_ms,
                 settings->pulls_per_backend, settings->max_pulls);
    of_service_ready (pipe);
    s_publish_state (ctx);
    event_base_dispatch (ctx->base);
    s_destroy (&self);
}

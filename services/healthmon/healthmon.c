/*  =========================================================================
    healthmon - the health service actor (proto/health.md)

    One libevent loop runs everything: the actor pipe and the config clone's
    sockets join it through of_evzmq, each watched backend has a probe
    (healthmon_probe) and a state machine (healthmon_state), and timers drive
    the probes and the periodic STATE. Nothing here blocks: names resolve
    through evdns, connects are non-blocking, every probe ends at its timeout.

    A backend is probed at once (after a small random delay that spreads a
    fleet) when it appears or its address or probe changes, then every
    Health.IntervalMs. A state change goes out as a TRANSITION at once; the
    full STATE goes out every Bus.HeartbeatMs.
    =========================================================================
*/

#include "healthmon.h"
#include "healthmon_probe.h"
#include "healthmon_state.h"
#include "of_service.h"
#include "of_loop.h"
#include <event2/dns.h>
#include <openssl/crypto.h>

//  The first probe of a new or changed backend waits a random delay of at
//  most this long, and at most an interval divided by S_JITTER_DIVISOR
#define S_JITTER_MAX_MS  250
#define S_JITTER_DIVISOR 4

typedef struct _s_healthmon_t s_healthmon_t;

//  One watched backend
typedef struct {
    s_healthmon_t *owner;
    char *id;
    of_records_t *records;          //  a reference to the set of its record
    const of_backend_t *config;     //  its record, as last reconciled
    healthmon_state_t *state;
    healthmon_probe_t *probe;
    struct event *timer;            //  the next probe
} s_backend_t;

struct _s_healthmon_t {
    of_settings_t *settings;
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *tls;
    zsock_t *publisher;
    of_clone_t *clone;
    of_evzmq_t *pipe_watch;
    struct event *state_timer;
    zhashx_t *backends;             //  Identifier -> s_backend_t
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;
    int64_t interval_ms;
    int64_t timeout_ms;
    bool over_limit_logged;
};

static struct timeval
s_timeval (int64_t ms)
{
    struct timeval value = {(long) (ms / 1000), (long) (ms % 1000) * 1000};
    return value;
}

//  --------------------------------------------------------------------------
//  Publishing

static void
s_publish (s_healthmon_t *self, const char *command, json_t *body)
{
    json_object_set_new (body, "Epoch", json_string (self->epoch));
    json_object_set_new (body, "Sequence", json_integer (++self->sequence));
    ofp_msg_t *msg = ofp_msg_new (&ofp_health_protocol, command, NULL, &body);
    ofp_msg_send (&msg, self->publisher);
}

static void
s_publish_transition (s_healthmon_t *self, s_backend_t *backend)
{
    healthmon_health_t health = healthmon_state_health (backend->state);
    healthmon_health_t previous = healthmon_state_previous (backend->state);
    of_log_info ("backend %s: %s -> %s (%s)", backend->id, healthmon_health_name (previous),
                 healthmon_health_name (health), healthmon_state_reason (backend->state));
    json_t *body = healthmon_state_record_json (backend->state, backend->id);
    json_object_set_new (body, "Previous", json_string (healthmon_health_name (previous)));
    s_publish (self, "TRANSITION", body);
}

static void
s_publish_state (s_healthmon_t *self)
{
    json_t *records = json_array ();
    for (s_backend_t *backend = (s_backend_t *) zhashx_first (self->backends); backend;
         backend = (s_backend_t *) zhashx_next (self->backends))
        json_array_append_new (records,
                               healthmon_state_record_json (backend->state, backend->id));
    s_publish (self, "STATE",
               json_pack ("{s:I, s:o}", "IntervalMs", (json_int_t) self->interval_ms, "Backends",
                          records));
}

static void
s_on_state_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_publish_state ((s_healthmon_t *) arg);
}

//  --------------------------------------------------------------------------
//  Probing

static void
s_on_result (void *arg, const healthmon_result_t *result)
{
    s_backend_t *backend = (s_backend_t *) arg;
    char now [OFP_TIMESTAMP_LENGTH + 1];
    of_schema_timestamp (now, sizeof now);
    of_log_debug ("backend %s: %s", backend->id, result->reason);
    if (healthmon_state_record (backend->state, result->ok, result->reason, result->latency_ms,
                                now))
        s_publish_transition (backend->owner, backend);
}

//  Probes now and again every interval (fixed rate: a slow answer does not
//  shift the schedule). A probe still in flight, when the timeout is longer
//  than the interval, skips the turn.
static void
s_on_probe_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    s_backend_t *backend = (s_backend_t *) arg;
    s_healthmon_t *self = backend->owner;
    struct timeval interval = s_timeval (self->interval_ms);
    evtimer_add (backend->timer, &interval);
    if (healthmon_probe_start (backend->probe, self->timeout_ms) != 0)
        of_log_debug ("backend %s: probe still in flight, turn skipped", backend->id);
}

//  The first probe: soon, at a random moment that spreads a fleet
static void
s_probe_soon (s_backend_t *backend)
{
    int64_t spread = backend->owner->interval_ms / S_JITTER_DIVISOR;
    if (spread > S_JITTER_MAX_MS)
        spread = S_JITTER_MAX_MS;
    struct timeval delay = s_timeval (spread > 0 ? (int64_t) arc4random_uniform ((uint32_t) spread)
                                                 : 0);
    evtimer_add (backend->timer, &delay);
}

//  (Re)creates the probe from the backend's config and runs it soon
static void
s_backend_set_probe (s_backend_t *backend)
{
    s_healthmon_t *self = backend->owner;
    healthmon_probe_destroy (&backend->probe);
    backend->probe = healthmon_probe_new (self->base, self->dns, self->tls, backend->records,
                                          backend->config, s_on_result, backend);
    s_probe_soon (backend);
}

//  --------------------------------------------------------------------------
//  Watched backends

//  Takes the backend's record from records (a reference to the set)
static void
s_backend_set_config (s_backend_t *backend, of_records_t *records, const of_backend_t *config)
{
    records = of_records_ref (records);
    of_records_destroy (&backend->records);
    backend->records = records;
    backend->config = config;
}

static s_backend_t *
s_backend_new (s_healthmon_t *self, of_records_t *records, const of_backend_t *config)
{
    char now [OFP_TIMESTAMP_LENGTH + 1];
    of_schema_timestamp (now, sizeof now);
    s_backend_t *backend = (s_backend_t *) zmalloc (sizeof (s_backend_t));
    backend->owner = self;
    backend->id = strdup (config->identifier);
    s_backend_set_config (backend, records, config);
    backend->state = healthmon_state_new (config->healthy_threshold,
                                          config->unhealthy_threshold, now);
    backend->timer = evtimer_new (self->base, s_on_probe_timer, backend);
    s_backend_set_probe (backend);
    of_log_info ("backend %s: watching", backend->id);
    return backend;
}

//  A zhashx destructor
static void
s_backend_destroy (void **item_p)
{
    s_backend_t *backend = (s_backend_t *) *item_p;
    if (backend) {
        healthmon_probe_destroy (&backend->probe);
        if (backend->timer)
            event_free (backend->timer);
        healthmon_state_destroy (&backend->state);
        of_records_destroy (&backend->records);
        free (backend->id);
        free (backend);
        *item_p = NULL;
    }
}

//  A changed config: a new address or probe starts over as Unknown, with a
//  fresh probe (nothing of the old connection is reused) that runs soon
static void
s_backend_update (s_backend_t *backend, of_records_t *records, const of_backend_t *config)
{
    bool same_probe = healthmon_probe_same (backend->config, config);
    s_backend_set_config (backend, records, config);
    healthmon_state_set_thresholds (backend->state, config->healthy_threshold,
                                    config->unhealthy_threshold);
    if (same_probe) {
        healthmon_probe_set_backend (backend->probe, records, config);
        return;
    }
    of_log_info ("backend %s: address or probe changed", backend->id);
    s_backend_set_probe (backend);
    char now [OFP_TIMESTAMP_LENGTH + 1];
    of_schema_timestamp (now, sizeof now);
    if (healthmon_state_reset (backend->state, now))
        s_publish_transition (backend->owner, backend);
}

//  Brings the watched set in line with the config: every active backend,
//  nothing else
static void
s_reconcile (s_healthmon_t *self)
{
    of_records_t *records = of_clone_records (self->clone);
    zlist_t *gone = zlist_new ();
    for (s_backend_t *backend = (s_backend_t *) zhashx_first (self->backends); backend;
         backend = (s_backend_t *) zhashx_next (self->backends)) {
        const of_backend_t *config = of_records_backend (records, backend->id);
        if (!config || !config->active)
            zlist_append (gone, backend->id);
    }
    for (char *id = (char *) zlist_first (gone); id; id = (char *) zlist_next (gone)) {
        of_log_info ("backend %s: removed or inactive, no longer watched", id);
        zhashx_delete (self->backends, id);
    }
    zlist_destroy (&gone);

    for (size_t index = 0; index < of_records_backend_count (records); index++) {
        const of_backend_t *config = of_records_backend_at (records, index);
        if (!config->active)
            continue;
        s_backend_t *backend = (s_backend_t *) zhashx_lookup (self->backends, config->identifier);
        if (backend) {
            //  An unchanged object keeps its record from one set to the next
            if (backend->config != config)
                s_backend_update (backend, records, config);
        }
        else if (zhashx_size (self->backends) < OFP_HEALTH_BACKENDS_MAX)
            zhashx_insert (self->backends, config->identifier,
                           s_backend_new (self, records, config));
        else if (!self->over_limit_logged) {
            of_log_warning ("more than %d active backends: the rest are not watched",
                            OFP_HEALTH_BACKENDS_MAX);
            self->over_limit_logged = true;
        }
    }
}

//  --------------------------------------------------------------------------
//  The bus

static void
s_on_config_change (void *arg, of_kind_t kind, const char *identifier, json_t *object)
{
    (void) identifier;
    (void) object;
    if (kind == OF_KIND_BACKEND || kind == OF_KIND_COUNT)
        s_reconcile ((s_healthmon_t *) arg);
}

//  --------------------------------------------------------------------------
//  Start and stop

static void
s_destroy (s_healthmon_t *self)
{
    //  Probes first: they hold evdns lookups and connections
    zhashx_destroy (&self->backends);
    of_evzmq_destroy (&self->pipe_watch);
    if (self->state_timer)
        event_free (self->state_timer);
    of_clone_destroy (&self->clone);
    zsock_destroy (&self->publisher);
    if (self->tls)
        SSL_CTX_free (self->tls);
    if (self->dns)
        evdns_base_free (self->dns, 0);
    of_loop_free (&self->base);
    //  OpenSSL keeps per-thread state (its random generators): free it now,
    //  not in a thread-exit hook that may run after the process has ended
    OPENSSL_thread_stop ();
}

//  The resolver: the system's name servers and hosts file; without a
//  usable resolv.conf, the hosts file alone
static struct evdns_base *
s_dns_new (struct event_base *base)
{
    struct evdns_base *dns = evdns_base_new (base, EVDNS_BASE_INITIALIZE_NAMESERVERS
                                                       | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!dns) {
        dns = evdns_base_new (base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (dns)
            evdns_base_load_hosts (dns, NULL);
    }
    return dns;
}

void
healthmon_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    s_healthmon_t self = {.settings = (of_settings_t *) args};
    of_settings_t *settings = self.settings;
    self.interval_ms = settings->health_interval_ms;
    self.timeout_ms = settings->health_timeout_ms > 0 ? settings->health_timeout_ms
                                                      : settings->health_interval_ms / 2;
    self.base = event_base_new ();
    self.dns = self.base ? s_dns_new (self.base) : NULL;
    self.tls = of_tls_client_new ();
    if (!self.dns || !self.tls) {
        s_destroy (&self);
        of_service_failed (pipe, "cannot create the event loop, resolver or TLS context");
        return;
    }
    char bind_error [OF_SERVICE_BIND_ERROR_MAX];
    self.publisher = of_service_bind (settings, ZMQ_PUB, settings->health_publisher, bind_error,
                                      sizeof bind_error);
    if (!self.publisher) {
        s_destroy (&self);
        of_service_failed (pipe, "%s", bind_error);
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
    self.backends = zhashx_new ();
    zhashx_set_destructor (self.backends, s_backend_destroy);
    of_service_epoch (self.epoch);
    of_clone_set_handler (self.clone, s_on_config_change, &self);
    self.pipe_watch = of_service_pipe_events (self.base, pipe);
    of_clone_attach_events (self.clone, self.base);
    self.state_timer = event_new (self.base, -1, EV_PERSIST, s_on_state_timer, &self);
    struct timeval heartbeat = s_timeval (settings->heartbeat_ms);
    evtimer_add (self.state_timer, &heartbeat);

    of_log_info ("epoch %s; health on %s; probes every %lld ms, timeout %lld ms", self.epoch,
                 settings->health_publisher, (long long) self.interval_ms,
                 (long long) self.timeout_ms);
    of_service_ready (pipe);
    s_publish_state (&self);
    event_base_dispatch (self.base);
    s_destroy (&self);
}

/*  =========================================================================
    ingress_requester - requests from the ingress to a service's ROUTER
    =========================================================================
*/

#include "ingress_requester.h"

#define S_NAME_MAX 32

struct _ingress_request_t {
    ingress_requester_t *requester;
    char id [S_NAME_MAX + 24];
    ingress_requester_fn *callback;
    void *arg;
    of_exchange_t *exchange;            //  the client asked for (then arg is ours), or NULL
    ingress_requester_ask_fn *ask_fn;   //  the callback of a request for an exchange
    struct event *timer;
    int64_t deadline;           //  zclock_mono when the wait ends anyway
};

struct _ingress_requester_t {
    struct event_base *base;
    const ofp_protocol_t *protocol;
    char name [S_NAME_MAX];
    int64_t liveness_ms;
    ingress_requester_alive_fn *alive;
    void *alive_arg;
    zsock_t *dealer;
    of_evzmq_t *watch;
    zhashx_t *requests;         //  request id -> ingress_request_t
    uint64_t sent;
    uint64_t malformed;
};

static void
s_request_free (ingress_request_t **request_p)
{
    ingress_request_t *request = *request_p;
    if (request) {
        if (request->timer)
            event_free (request->timer);
        if (request->exchange) {
            of_exchange_set_owner (request->exchange, NULL, NULL);
            free (request->arg);
        }
        free (request);
        *request_p = NULL;
    }
}

//  Ends a request: removes it, then runs its callback once
static void
s_finish (ingress_request_t *request, ofp_msg_t *reply)
{
    zhashx_delete (request->requester->requests, request->id);
    ingress_requester_fn *callback = request->callback;
    ingress_requester_ask_fn *ask_fn = request->ask_fn;
    of_exchange_t *exchange = request->exchange;
    void *arg = request->arg;
    request->arg = NULL;                //  the callback's, until it returns
    s_request_free (&request);
    if (exchange) {
        ask_fn (exchange, reply, arg);
        free (arg);
    }
    else
        callback (arg, reply);
}

//  The client of a request for an exchange went away: no answer is wanted
static void
s_on_gone (of_exchange_t *exchange, void *arg)
{
    (void) exchange;
    ingress_request_t *request = (ingress_request_t *) arg;
    zhashx_delete (request->requester->requests, request->id);
    free (request->arg);
    request->arg = NULL;
    request->exchange = NULL;           //  going: not to be touched again
    s_request_free (&request);
}

static void
s_arm (ingress_request_t *request, int64_t ms)
{
    if (ms < 0)
        ms = 0;
    struct timeval delay = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add (request->timer, &delay);
}

//  The bound passed, or the service is gone: no answer. Otherwise wait on,
//  checking again every liveness interval.
static void
s_on_timer (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    ingress_request_t *request = (ingress_request_t *) arg;
    ingress_requester_t *self = request->requester;
    int64_t left = request->deadline - zclock_mono ();
    bool alive = !self->alive || self->alive (self->alive_arg);
    if (left <= 0 || !alive) {
        s_finish (request, NULL);
        return;
    }
    s_arm (request, left < self->liveness_ms ? left : self->liveness_ms);
}

static void
s_on_message (zsock_t *dealer, void *arg)
{
    ingress_requester_t *self = (ingress_requester_t *) arg;
    while (zsock_events (dealer) & ZMQ_POLLIN) {
        ofp_msg_t *msg = ofp_msg_recv (self->protocol, dealer);
        if (!msg)
            break;
        if (ofp_msg_error (msg) && self->malformed++ == 0)
            of_log_warning ("malformed message from %s: %s", self->name, ofp_msg_error (msg));
        //  A reply to an abandoned request finds nothing and is dropped; a
        //  malformed one ends its request unanswered
        const char *id = ofp_msg_id (msg);
        ingress_request_t *request =
            id ? (ingress_request_t *) zhashx_lookup (self->requests, id) : NULL;
        if (request)
            s_finish (request, ofp_msg_error (msg) ? NULL : msg);
        ofp_msg_destroy (&msg);
    }
}

ingress_requester_t *
ingress_requester_new (struct event_base *base, const ofp_protocol_t *protocol,
                       const char *endpoint, const char *name, int64_t liveness_ms,
                       ingress_requester_alive_fn *alive, void *alive_arg)
{
    assert (base && protocol && endpoint && name && liveness_ms > 0);
    ingress_requester_t *self = (ingress_requester_t *) zmalloc (sizeof (ingress_requester_t));
    self->base = base;
    self->protocol = protocol;
    snprintf (self->name, sizeof self->name, "%s", name);
    self->liveness_ms = liveness_ms;
    self->alive = alive;
    self->alive_arg = alive_arg;
    self->requests = zhashx_new ();
    self->dealer = zsock_new (ZMQ_DEALER);
    assert (self->dealer);
    zsock_set_linger (self->dealer, 0);
    //  Never block the loop: a send with no peer fails, and the request ends at once
    zsock_set_sndtimeo (self->dealer, 0);
    if (zsock_connect (self->dealer, "%s", endpoint) != 0) {
        ingress_requester_destroy (&self);
        return NULL;
    }
    self->watch = of_evzmq_new (base, self->dealer, s_on_message, self);
    return self;
}

void
ingress_requester_destroy (ingress_requester_t **self_p)
{
    assert (self_p);
    ingress_requester_t *self = *self_p;
    if (!self)
        return;
    of_evzmq_destroy (&self->watch);
    for (ingress_request_t *request = (ingress_request_t *) zhashx_first (self->requests); request;
         request = (ingress_request_t *) zhashx_next (self->requests))
        s_request_free (&request);
    zhashx_destroy (&self->requests);
    zsock_destroy (&self->dealer);
    free (self);
    *self_p = NULL;
}

//  Sends a request: callback's, or for an exchange, ask_fn's
static ingress_request_t *
s_send (ingress_requester_t *self, const char *command, json_t **body_p, int64_t timeout_ms,
        ingress_requester_fn *callback, of_exchange_t *exchange, ingress_requester_ask_fn *ask_fn,
        void *arg)
{
    assert (self && command && body_p && *body_p);
    ingress_request_t *request = (ingress_request_t *) zmalloc (sizeof (ingress_request_t));
    request->requester = self;
    request->exchange = exchange;
    request->ask_fn = ask_fn;
    snprintf (request->id, sizeof request->id, "%s-%llu", self->name,
              (unsigned long long) ++self->sent);
    request->callback = callback;
    request->arg = arg;
    request->deadline = zclock_mono () + timeout_ms;
    request->timer = evtimer_new (self->base, s_on_timer, request);
    zhashx_insert (self->requests, request->id, request);

    ofp_msg_t *msg = ofp_msg_new (self->protocol, command, request->id, body_p);
    bool sent = ofp_msg_send (&msg, self->dealer) == 0;
    of_evzmq_kick (self->watch);
    if (!sent)
        request->deadline = 0;      //  no peer: the timer answers at once, from the loop
    int64_t wait = timeout_ms < self->liveness_ms ? timeout_ms : self->liveness_ms;
    s_arm (request, sent ? wait : 0);
    return request;
}

ingress_request_t *
ingress_requester_send (ingress_requester_t *self, const char *command, json_t **body_p,
                        int64_t timeout_ms, ingress_requester_fn *callback, void *arg)
{
    assert (callback);
    return s_send (self, command, body_p, timeout_ms, callback, NULL, NULL, arg);
}

void
ingress_requester_ask (ingress_requester_t *self, of_exchange_t *exchange, const char *command,
                       json_t **body_p, int64_t timeout_ms, ingress_requester_ask_fn *fn,
                       void *arg)
{
    assert (exchange && fn);
    ingress_request_t *request =
        s_send (self, command, body_p, timeout_ms, NULL, exchange, fn, arg);
    of_exchange_set_owner (exchange, s_on_gone, request);
    of_exchange_watch (exchange);
}

void
ingress_requester_cancel (ingress_requester_t *self, ingress_request_t **request_p)
{
    assert (self && request_p);
    if (*request_p) {
        zhashx_delete (self->requests, (*request_p)->id);
        s_request_free (request_p);
    }
}

size_t
ingress_requester_open (ingress_requester_t *self)
{
    assert (self);
    return zhashx_size (self->requests);
}

//  --------------------------------------------------------------------------
//  Self test

typedef struct {
    struct event_base *base;
    int answers;
    int timeouts;
    char command [OFP_COMMAND_MAX + 1];
    bool alive;
} s_test_t;

static void
s_test_answer (void *arg, ofp_msg_t *reply)
{
    s_test_t *test = (s_test_t *) arg;
    if (reply) {
        test->answers++;
        snprintf (test->command, sizeof test->command, "%s", ofp_msg_command (reply));
    }
    else
        test->timeouts++;
    event_base_loopbreak (test->base);
}

static bool
s_test_alive (void *arg)
{
    return ((s_test_t *) arg)->alive;
}

//  Runs the loop until a callback breaks it (or two seconds pass)
static void
s_test_run (s_test_t *test)
{
    struct timeval limit = {2, 0};
    event_base_loopexit (test->base, &limit);
    event_base_dispatch (test->base);
}

void
ingress_requester_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_requester: ");
    s_test_t test = {event_base_new (), 0, 0, "", true};
    zsock_t *router = zsock_new_router ("inproc://ingress_requester_test");
    assert (test.base && router);
    ingress_requester_t *self =
        ingress_requester_new (test.base, &ofp_models_protocol, "inproc://ingress_requester_test",
                               "ms", 100, s_test_alive, &test);
    assert (self);

    //  A reply reaches the request with its id
    json_t *body = json_pack ("{s:s, s:s}", "Frontend", "f1", "Model", "m");
    ingress_request_t *request =
        ingress_requester_send (self, "DELETE-MODEL", &body, 1000, s_test_answer, &test);
    assert (request && !body && ingress_requester_open (self) == 1);
    ofp_msg_t *asked = ofp_msg_recv (&ofp_models_protocol, router);
    assert (asked && !ofp_msg_error (asked) && ofp_msg_is (asked, "DELETE-MODEL"));
    json_t *results = json_pack ("{s:s, s:s, s:[]}", "Frontend", "f1", "Model", "m", "Results");
    ofp_msg_t *reply = ofp_msg_reply (asked, "DELETED", &results);
    ofp_msg_send (&reply, router);
    s_test_run (&test);
    assert (test.answers == 1 && streq (test.command, "DELETED"));
    assert (ingress_requester_open (self) == 0);

    //  No answer within the bound: NULL, once; the late reply is dropped
    body = json_pack ("{s:s, s:s}", "Frontend", "f1", "Model", "m");
    ingress_requester_send (self, "DELETE-MODEL", &body, 150, s_test_answer, &test);
    s_test_run (&test);
    assert (test.timeouts == 1 && test.answers == 1);
    ofp_msg_t *late = ofp_msg_recv (&ofp_models_protocol, router);
    ofp_msg_t *late_reply = ofp_msg_reply_error (late, 503, "Busy", "late");
    ofp_msg_send (&late_reply, router);
    ofp_msg_destroy (&late);

    //  A service known gone ends the wait at the next liveness check, not the bound
    test.alive = false;
    int64_t started = zclock_mono ();
    body = json_pack ("{s:s, s:s}", "Frontend", "f1", "Model", "m");
    ingress_requester_send (self, "DELETE-MODEL", &body, 60000, s_test_answer, &test);
    s_test_run (&test);
    assert (test.timeouts == 2 && zclock_mono () - started < 1000);
    test.alive = true;
    ofp_msg_t *ignored = ofp_msg_recv (&ofp_models_protocol, router);
    ofp_msg_destroy (&ignored);

    //  A cancelled request never calls back
    body = json_pack ("{s:s, s:s}", "Frontend", "f1", "Model", "m");
    request = ingress_requester_send (self, "DELETE-MODEL", &body, 100, s_test_answer, &test);
    ingress_requester_cancel (self, &request);
    ingress_requester_cancel (self, &request);
    assert (!request && ingress_requester_open (self) == 0);
    struct timeval pause = {0, 300000};
    event_base_loopexit (test.base, &pause);
    event_base_dispatch (test.base);
    assert (test.timeouts == 2 && test.answers == 1);

    ofp_msg_destroy (&asked);
    ingress_requester_destroy (&self);
    ingress_requester_destroy (&self);
    zsock_destroy (&router);
    event_base_free (test.base);
    printf ("OK\n");
}

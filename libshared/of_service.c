/*  =========================================================================
    of_service - what every service's main does
    =========================================================================
*/

#include "of_service.h"
#include "of_log.h"
#include "of_evzmq.h"
#include "ofp_check.h"
#include <ctype.h>
#include <getopt.h>
#ifdef OF_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

static void
s_usage (FILE *out, const char *name, const char *summary)
{
    fprintf (out, "Usage: ollamaflow-%s [--config FILE]\n%s\n\n", name, summary);
    fprintf (out, "Options:\n"
                  "  -c, --config FILE  settings file (default: $OLLAMAFLOW_CONFIG, else "
                  "./ollamaflow.json)\n"
                  "  -h, --help         this text\n"
                  "  -V, --version      the version\n\n");
    of_settings_print_help (out);
}

int
of_service_main (int argc, char *argv [], const char *name, const char *summary,
                 zactor_fn *actor_fn)
{
    static const struct option options [] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}
    };
    const char *config = NULL;
    int option;
    while ((option = getopt_long (argc, argv, "c:hV", options, NULL)) != -1) {
        switch (option) {
            case 'c': config = optarg; break;
            case 'h': s_usage (stdout, name, summary); return OF_EXIT_OK;
            case 'V': printf ("ollamaflow-%s %s\n", name, OF_VERSION); return OF_EXIT_OK;
            default: s_usage (stderr, name, summary); return OF_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "ollamaflow-%s: unexpected argument '%s'\n", name, argv [optind]);
        return OF_EXIT_USAGE;
    }

    char error [OF_SETTINGS_ERROR_MAX];
    of_settings_t *settings = of_settings_load (config, error, sizeof error);
    if (!settings) {
        fprintf (stderr, "ollamaflow-%s: invalid settings: %s\n", name, error);
        return OF_EXIT_FAILURE;
    }
    of_log_init (name, settings->log_level);

    //  czmq's own handler sets zsys_interrupted on SIGINT and SIGTERM
    zsys_init ();
    zsys_set_logident (name);
    zactor_t *actor = zactor_new (actor_fn, settings);
    char *status = zstr_recv (actor);
    int code = OF_EXIT_OK;
    if (!status && zsys_interrupted) {
        //  SIGTERM before the service was ready: a stop asked for, not a failure
        of_log_info ("stopping before start-up completed");
    }
    else if (!status || strncmp (status, "READY", 5) != 0) {
        of_log_error ("cannot start: %s", status && strlen (status) > 7 ? status + 7 : "no answer");
        code = OF_EXIT_FAILURE;
    }
    else {
        of_log_info ("started (version %s, settings %s)", OF_VERSION,
                     settings->file ? settings->file : "built-in defaults");
#ifdef OF_HAVE_SYSTEMD
        sd_notify (0, "READY=1");
#endif
        //  The actor sends nothing more unless it dies; an interrupt ends the wait
        zpoller_t *poller = zpoller_new (actor, NULL);
        void *which = zpoller_wait (poller, -1);
        if (which == actor && !zsys_interrupted) {
            of_log_error ("stopped unexpectedly");
            code = OF_EXIT_FAILURE;
        }
        zpoller_destroy (&poller);
#ifdef OF_HAVE_SYSTEMD
        sd_notify (0, "STOPPING=1");
#endif
        of_log_info ("stopping");
    }
    zstr_free (&status);
    zactor_destroy (&actor);
    of_settings_destroy (&settings);
    return code;
}

void
of_service_ready (zsock_t *pipe)
{
    zstr_send (pipe, "READY");
}

void
of_service_failed (zsock_t *pipe, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *reason = zsys_vprintf (format, args);
    va_end (args);
    zstr_sendf (pipe, "FAILED %s", reason);
    zstr_free (&reason);
    //  Stay until the owner destroys the actor
    char *command = zstr_recv (pipe);
    zstr_free (&command);
}

int
of_service_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    (void) loop;
    (void) arg;
    char *command = zstr_recv (pipe);
    bool term = !command || streq (command, "$TERM");
    zstr_free (&command);
    return term ? -1 : 0;
}

static void
s_on_pipe_event (zsock_t *pipe, void *arg)
{
    struct event_base *base = (struct event_base *) arg;
    while (zsock_events (pipe) & ZMQ_POLLIN)
        if (of_service_on_pipe (NULL, pipe, NULL) != 0) {
            event_base_loopbreak (base);
            return;
        }
}

of_evzmq_t *
of_service_pipe_events (struct event_base *base, zsock_t *pipe)
{
    return of_evzmq_new (base, pipe, s_on_pipe_event, base);
}

zsock_t *
of_service_bind (of_settings_t *settings, int type, const char *endpoint, char *error,
                 size_t size)
{
    char *address = of_settings_bind_address (settings, endpoint);
    zsock_t *sock = zsock_new (type);
    //  The bind's errno: destroying the socket after it would replace it
    int cause = 0;
    if (sock && address) {
        zsock_set_linger (sock, 0);
        if (zsock_bind (sock, "%s", address) == -1)
            cause = zmq_errno ();
    }
    else
        cause = errno ? errno : ENOMEM;
    if (cause) {
        zsock_destroy (&sock);
        //  Bus.BindAny rewrites the address: name both then
        bool rewritten = address && !streq (address, endpoint);
        if (error && rewritten)
            snprintf (error, size, "cannot bind %s (for %s): %s", address, endpoint,
                      zmq_strerror (cause));
        else
        if (error)
            snprintf (error, size, "cannot bind %s: %s", endpoint, zmq_strerror (cause));
        errno = cause;
    }
    free (address);
    return sock;
}

int
of_service_bind_pair (of_settings_t *settings, zsock_t **router, const char *router_endpoint,
                      zsock_t **publisher, const char *publisher_endpoint, char *error,
                      size_t size)
{
    assert (router && publisher);
    *router = of_service_bind (settings, ZMQ_ROUTER, router_endpoint, error, size);
    if (*router)
        *publisher = of_service_bind (settings, ZMQ_PUB, publisher_endpoint, error, size);
    return *router && *publisher ? 0 : -1;
}

void
of_service_epoch (char *dest)
{
    zuuid_t *uuid = zuuid_new ();
    snprintf (dest, OFP_EPOCH_LENGTH + 1, "%.*s", OFP_EPOCH_LENGTH, zuuid_str (uuid));
    for (char *c = dest; *c; c++)
        *c = (char) tolower ((unsigned char) *c);
    zuuid_destroy (&uuid);
}

//  --------------------------------------------------------------------------
//  Self test

//  Test actors, one per way a service's start can go
static void
s_test_failing (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_signal (pipe, 0);
    of_service_failed (pipe, "no %s", "database");
}

static void
s_test_dying (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_signal (pipe, 0);
    of_service_ready (pipe);
}

//  Ready, then stopped by a SIGTERM (raise delivers it on this thread, so
//  zsys_interrupted is set before the end wakes the main)
static void
s_test_stopped (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_signal (pipe, 0);
    of_service_ready (pipe);
    raise (SIGTERM);
}

static int
s_test_main (const char *config, const char *option, zactor_fn *actor)
{
    char *argv [] = {"test", (char *) "--config", (char *) config, (char *) option, NULL};
    int argc = option ? 4 : 3;
    optind = 0;                     //  getopt starts over
    int code = of_service_main (argc, argv, "selftest", "A test.", actor);
    zsys_interrupted = 0;
    return code;
}

static void
s_test_pipe_actor (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_signal (pipe, 0);
    struct event_base *base = event_base_new ();
    of_evzmq_t *watch = of_service_pipe_events (base, pipe);
    assert (base && watch);
    event_base_dispatch (base);
    //  Only $TERM ends the loop: a command before it did not
    zstr_send (pipe, "STOPPED");
    of_evzmq_destroy (&watch);
    event_base_free (base);
}

void
of_service_test (bool verbose)
{
    (void) verbose;
    printf (" * of_service: ");
    char path [] = "/tmp/of_service_test_XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0 && write (fd, "{}", 2) == 2);
    close (fd);

    //  Arguments: usage errors, and the settings' own errors, are exit codes
    assert (s_test_main (path, "--version", NULL) == OF_EXIT_OK);
    assert (s_test_main (path, "--bogus", NULL) == OF_EXIT_USAGE);
    assert (s_test_main (path, "extra", NULL) == OF_EXIT_USAGE);
    assert (s_test_main ("/nonexistent/ollamaflow.json", NULL, NULL) == OF_EXIT_FAILURE);

    //  The actor's start: FAILED, and an end nobody asked for, are failures;
    //  a SIGTERM is a clean stop
    assert (s_test_main (path, NULL, s_test_failing) == OF_EXIT_FAILURE);
    assert (s_test_main (path, NULL, s_test_dying) == OF_EXIT_FAILURE);
    assert (s_test_main (path, NULL, s_test_stopped) == OF_EXIT_OK);

    //  The zloop pipe reader ends the loop on $TERM only
    zsock_t *pair [2] = {zsock_new_pair ("@inproc://of_service_test"),
                         zsock_new_pair (">inproc://of_service_test")};
    assert (pair [0] && pair [1]);
    zstr_send (pair [1], "OTHER");
    assert (of_service_on_pipe (NULL, pair [0], NULL) == 0);
    zstr_send (pair [1], "$TERM");
    assert (of_service_on_pipe (NULL, pair [0], NULL) == -1);
    zsock_destroy (&pair [0]);
    zsock_destroy (&pair [1]);

    //  The libevent pipe watch: a command goes by, $TERM breaks the loop
    zactor_t *actor = zactor_new (s_test_pipe_actor, NULL);
    zstr_send (actor, "OTHER");
    zclock_sleep (50);
    zsock_set_rcvtimeo (actor, 0);
    char *reply = zstr_recv (actor);
    assert (!reply);
    zsock_set_rcvtimeo (actor, 5000);
    zstr_send (actor, "$TERM");
    reply = zstr_recv (actor);
    assert (reply && streq (reply, "STOPPED"));
    zstr_free (&reply);
    zactor_destroy (&actor);

    //  Binds: a port taken is an error that names the endpoint and the cause
    char error [OF_SETTINGS_ERROR_MAX];
    of_settings_t *settings = of_settings_load (path, error, sizeof error);
    assert (settings && !settings->bind_any);
    unlink (path);
    zsock_t *first = of_service_bind (settings, ZMQ_PUB, "tcp://127.0.0.1:*", error, sizeof error);
    assert (first);
    char *taken = zsock_last_endpoint (first);
    errno = 0;
    zsock_t *second = of_service_bind (settings, ZMQ_PUB, taken, error, sizeof error);
    assert (!second && errno == EADDRINUSE);
    char expected [OF_SERVICE_BIND_ERROR_MAX];
    snprintf (expected, sizeof expected, "cannot bind %s: Address already in use", taken);
    assert (streq (error, expected));
    //  A pair: the router first; the publisher's failure leaves it NULL
    zsock_t *router = NULL, *publisher = NULL;
    assert (of_service_bind_pair (settings, &router, "tcp://127.0.0.1:*", &publisher, taken,
                                  error, sizeof error) == -1);
    assert (router && !publisher && strstr (error, taken));
    zsock_destroy (&router);
    assert (of_service_bind_pair (settings, &router, taken, &publisher, "tcp://127.0.0.1:*",
                                  error, sizeof error) == -1);
    assert (!router && !publisher);
    assert (of_service_bind_pair (settings, &router, "tcp://127.0.0.1:*", &publisher,
                                  "tcp://127.0.0.1:*", error, sizeof error) == 0);
    assert (router && publisher);
    zsock_destroy (&router);
    zsock_destroy (&publisher);
    zstr_free (&taken);
    zsock_destroy (&first);
    of_settings_destroy (&settings);

    //  Epochs: lower-case hex of the protocol's length, new each time
    char epoch [OFP_EPOCH_LENGTH + 1], other [OFP_EPOCH_LENGTH + 1];
    of_service_epoch (epoch);
    of_service_epoch (other);
    assert (strlen (epoch) == OFP_EPOCH_LENGTH && !streq (epoch, other));
    for (char *c = epoch; *c; c++)
        assert (isxdigit ((unsigned char) *c) && !isupper ((unsigned char) *c));
    printf ("OK\n");
}

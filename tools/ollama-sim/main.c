/*  =========================================================================
    ollama-sim - a fleet of simulated Ollama servers in one process

    Usage: ollama-sim [--fleet FILE | --demo | backend flags] [--control-port N]
                      [--ports-file FILE]
    Prints one JSON line with the bound ports on stdout, then serves until
    SIGINT or SIGTERM. See README.md.
    =========================================================================
*/

#include "sim_backend.h"
#include "sim_control.h"
#include "sim_cli.h"
#include "sim_fleet.h"
#include "of_loop.h"
#include <event2/event.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

//  Serving sockets for 10,000 streams needs more than the default 1024
static void
s_raise_fd_limit (void)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
}

static void
s_on_signal (evutil_socket_t signal, short what, void *arg)
{
    (void) signal;
    (void) what;
    event_base_loopbreak ((struct event_base *) arg);
}

static int
s_write_ports (const char *path, const char *text)
{
    char temporary [4096];
    snprintf (temporary, sizeof temporary, "%s.tmp", path);
    FILE *file = fopen (temporary, "w");
    if (!file)
        return -1;
    fprintf (file, "%s\n", text);
    if (fclose (file) || rename (temporary, path))
        return -1;
    return 0;
}

static int
s_serve (sim_fleet_t *fleet, const char *ports_file)
{
    //  One thread, and epoll's changelist: pausing and resuming a request in
    //  the same loop turn then costs no epoll_ctl calls
    struct event_config *settings = event_config_new ();
    //  Precise timers: the coarse monotonic clock is 4 ms, which a time scale
    //  would multiply into the simulated times
    event_config_set_flag (settings, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST
                                     | EVENT_BASE_FLAG_PRECISE_TIMER);
    struct event_base *base = event_base_new_with_config (settings);
    event_config_free (settings);
    size_t count = sim_fleet_size (fleet);
    sim_backend_t **backends = calloc (count, sizeof *backends);
    int rc = 1;
    for (size_t i = 0; i < count; i++) {
        sim_backend_config_t *config = sim_fleet_backend (fleet, i);
        backends [i] = sim_backend_new (base, config, fleet);
        if (!backends [i]) {
            fprintf (stderr, "ollama-sim: %s: cannot listen on %s:%d\n", config->name,
                     config->host, config->port);
            goto cleanup;
        }
    }
    sim_control_t *control = sim_control_new (base, sim_fleet_backend (fleet, 0)->host,
                                               sim_fleet_control_port (fleet), fleet, backends,
                                               count);
    if (!control) {
        fprintf (stderr, "ollama-sim: cannot listen on control port %d\n",
                 sim_fleet_control_port (fleet));
        goto cleanup;
    }
    json_t *list = json_array ();
    for (size_t i = 0; i < count; i++) {
        const sim_backend_config_t *config = sim_backend_config (backends [i]);
        json_array_append_new (list, json_pack ("{sssssisssb}", "name", config->name,
                               "host", config->host, "port", sim_backend_port (backends [i]),
                               "api", config->api == SIM_API_OPENAI? "openai": "ollama",
                               "tls", *config->tls_cert != 0));
    }
    json_t *ports = json_pack ("{sisiso}", "pid", (int) getpid (),
                               "control_port", sim_control_port (control), "backends", list);
    char *text = json_dumps (ports, JSON_COMPACT);
    json_decref (ports);
    printf ("%s\n", text);
    fflush (stdout);
    if (ports_file && s_write_ports (ports_file, text))
        fprintf (stderr, "ollama-sim: cannot write %s\n", ports_file);
    free (text);

    struct event *on_int = evsignal_new (base, SIGINT, s_on_signal, base);
    struct event *on_term = evsignal_new (base, SIGTERM, s_on_signal, base);
    event_add (on_int, NULL);
    event_add (on_term, NULL);
    event_base_dispatch (base);
    event_free (on_int);
    event_free (on_term);
    sim_control_destroy (&control);
    rc = 0;
cleanup:
    for (size_t i = 0; i < count; i++)
        sim_backend_destroy (&backends [i]);
    free (backends);
    of_loop_free (&base);
    return rc;
}

int
main (int argc, char *argv [])
{
    s_raise_fd_limit ();
    signal (SIGPIPE, SIG_IGN);
    char error [SIM_ERROR_MAX] = "";
    const char *ports_file = NULL;
    int control_port = -1;
    sim_fleet_t *fleet = sim_cli_parse (argc, argv, &ports_file, &control_port, error,
                                              sizeof error);
    if (!fleet) {
        if (*error)
            fprintf (stderr, "ollama-sim: %s\n", error);
        return *error? 2: 0;
    }
    if (control_port >= 0)
        sim_fleet_set_control_port (fleet, control_port);
    int rc = s_serve (fleet, ports_file);
    sim_fleet_destroy (&fleet);
    return rc;
}

/*  =========================================================================
    of_service - what every service's main does: arguments, settings, the
    actor's start, systemd readiness, signals and a clean stop

    A service is an actor (zactor_fn) that receives the settings as its
    argument. Its contract with of_service: signal the pipe at once, set up,
    then send "READY" or "FAILED <reason>" on the pipe; on $TERM, stop.
    =========================================================================
*/

#ifndef OF_SERVICE_H_INCLUDED
#define OF_SERVICE_H_INCLUDED

#include <czmq.h>
#include "of_settings.h"
#include "of_evzmq.h"

//  Exit codes shared by every service
#define OF_EXIT_OK      0
#define OF_EXIT_FAILURE 1
#define OF_EXIT_USAGE   2

//  Runs a service: parses --config, --help and --version, loads the settings,
//  starts the actor, tells systemd it is ready, waits for SIGINT or SIGTERM or
//  the actor's end, and stops it. Returns the process exit code.
int
    of_service_main (int argc, char *argv [], const char *name, const char *summary,
                     zactor_fn *actor);

//  For an actor: reports a successful start.
void
    of_service_ready (zsock_t *pipe);

//  For an actor: reports a failed start with its reason, then waits for $TERM.
void
    of_service_failed (zsock_t *pipe, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

//  A zloop reader for an actor's pipe: ends the loop on $TERM.
int
    of_service_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg);

//  For an actor that runs a libevent loop: watches its pipe on the base and
//  breaks the loop on $TERM. Destroy the result with of_evzmq_destroy.
of_evzmq_t *
    of_service_pipe_events (struct event_base *base, zsock_t *pipe);

//  Room for of_service_bind's error
#define OF_SERVICE_BIND_ERROR_MAX 768

//  Binds a new socket of the given type at an endpoint this service owns,
//  honouring Bus.BindAny. NULL if the bind failed, with errno set to the
//  bind's and, in error (size bytes; NULL: none), "cannot bind <address>:
//  <the cause>", e.g. "Address already in use" when another process holds
//  the port.
zsock_t *
    of_service_bind (of_settings_t *settings, int type, const char *endpoint, char *error,
                     size_t size);

//  Binds a service's ROUTER and PUB sockets (of_service_bind), the router
//  first; 0, or -1 with error filled for the first that failed (the other
//  left NULL).
int
    of_service_bind_pair (of_settings_t *settings, zsock_t **router, const char *router_endpoint,
                          zsock_t **publisher, const char *publisher_endpoint, char *error,
                          size_t size);

//  Writes a new random epoch: OFP_EPOCH_LENGTH lower-case hex digits and a NUL.
void
    of_service_epoch (char *dest);

//  Self test of this class
void
    of_service_test (bool verbose);

#endif

/*  =========================================================================
    sim_control - the simulator's control endpoint (JSON over HTTP)

    A separate port where tests read counters and the last request each
    backend received, switch faults and rates at run time, and reset
    counters. See README.md for the routes.
    =========================================================================
*/

#ifndef SIM_CONTROL_H_INCLUDED
#define SIM_CONTROL_H_INCLUDED

#include "sim_backend.h"

typedef struct _sim_control_t sim_control_t;

//  Binds the control port on host. backends [count] stay owned by the caller.
//  Returns NULL if the port cannot be bound.
sim_control_t *
    sim_control_new (struct event_base *base, const char *host, int port, sim_fleet_t *fleet,
                     sim_backend_t **backends, size_t count);

//  Destroys the endpoint; accepts NULL
void
    sim_control_destroy (sim_control_t **self_p);

//  The bound port
int
    sim_control_port (sim_control_t *self);

//  A backend's configuration as JSON, without its models (caller owns)
json_t *
    sim_control_config_json (const sim_backend_config_t *config);

#endif

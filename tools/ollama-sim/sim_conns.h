/*  =========================================================================
    sim_conns - the open client connections of one evhtp server

    evhtp_free leaves accepted connections alone, so at shutdown the ones a
    client still keeps alive would leak. This registry follows every
    connection from accept to its fini hook and frees the rest on destroy
    (which also runs the request fini hooks of any paused exchange).
    =========================================================================
*/

#ifndef SIM_CONNS_H_INCLUDED
#define SIM_CONNS_H_INCLUDED

#include <evhtp.h>
#include <stddef.h>

typedef struct _sim_conns_t sim_conns_t;

//  Starts following the connections that htp accepts
sim_conns_t *
    sim_conns_new (evhtp_t *htp);

//  Frees every open connection, then the registry; accepts NULL
void
    sim_conns_destroy (sim_conns_t **self_p);

//  Frees every open connection now, as a crashing server would
void
    sim_conns_drop_all (sim_conns_t *self);

//  Number of open connections
size_t
    sim_conns_size (sim_conns_t *self);

#endif

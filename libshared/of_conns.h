/*  =========================================================================
    of_conns - the open client connections of one evhtp server, bounded

    evhtp_free leaves accepted connections alone, so at shutdown the ones a
    client still keeps alive would leak. This registry follows every
    connection from accept to its fini hook and frees the rest on destroy
    (which also runs the request fini hooks of any paused exchange).
    =========================================================================
*/

#ifndef OF_CONNS_H_INCLUDED
#define OF_CONNS_H_INCLUDED

#include <evhtp.h>
#include <stddef.h>

typedef struct _of_conns_t of_conns_t;

//  Starts following the connections that htp accepts (it takes htp's
//  post-accept callback). At most max are kept open (0: no limit); a
//  connection beyond is closed at once. Each accepted connection is then
//  handed to accept (may be NULL), whose refusal closes it.
of_conns_t *
    of_conns_new (evhtp_t *htp, size_t max, evhtp_post_accept_cb accept, void *arg);

//  Frees every open connection, then the registry; accepts NULL
void
    of_conns_destroy (of_conns_t **self_p);

//  Frees every open connection now, as a crashing server would
void
    of_conns_drop_all (of_conns_t *self);

//  Number of open connections
size_t
    of_conns_size (of_conns_t *self);

//  Connections refused because the limit was reached
size_t
    of_conns_refused (of_conns_t *self);

#endif

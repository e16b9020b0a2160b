/*  =========================================================================
    of_conns - the open client connections of one evhtp server, bounded,
    with client timeouts

    evhtp_free leaves accepted connections alone, so at shutdown the ones a
    client still keeps alive would leak. This registry follows every
    connection from accept to its fini hook and frees the rest on destroy
    (which also runs the request fini hooks of any paused exchange).

    It also holds what evhtp lacks against slow clients. Each connection is
    in one of four states: reading headers (from the accept, or from the
    first byte of a request on a kept-alive connection), reading a body,
    served (the request is with its handler: no client timeout), or idle
    between requests; the first, second and last have a deadline (header
    time, silence within a body bounded by the request's whole-body time,
    keep-alive idle time), checked by one sweep timer, and a connection past
    it is closed. When the limit of connections is reached, the oldest
    connection that is reading headers, idle or reading a body is shed for
    the new one; only when there is none is the new one refused.

    And it answers for evhtp where evhtp would only close: of_conns_refuse
    takes a connection over (its socket, with any output still queued),
    writes an answer, closes its sending side and reads what the client
    still sends until it stops (or 2 s), so the client sees the answer
    rather than a reset. A connection evhtp frees for a parse error is
    answered the same way, with what the malformed callback writes.
    =========================================================================
*/

#ifndef OF_CONNS_H_INCLUDED
#define OF_CONNS_H_INCLUDED

#include <evhtp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _of_conns_t of_conns_t;

//  What to answer a connection evhtp frees for a parse error (htparser's
//  error; htparse_error_user when evhtp's own parsing of a header or target
//  failed, never for a hook's refusal): a new buffer with the whole HTTP
//  response and its size, or NULL to close it without a word.
typedef char *(of_conns_malformed_fn) (evhtp_connection_t *connection, htpparse_error error,
                                       void *arg, size_t *size_p);

//  Starts following the connections that htp accepts (it takes htp's
//  post-accept callback). At most max are kept open (0: no limit); beyond,
//  the oldest slow or idle one is shed, or the new one closed if there is
//  none. Each accepted connection is then handed to accept (may be NULL),
//  whose refusal closes it.
of_conns_t *
    of_conns_new (evhtp_t *htp, size_t max, evhtp_post_accept_cb accept, void *arg);

//  Frees every open connection, then the registry; accepts NULL
void
    of_conns_destroy (of_conns_t **self_p);

//  Client timeouts in ms (0: none): the headers of a request, the silence
//  within its body, a kept-alive connection idle between requests. Off
//  until this is called.
void
    of_conns_set_timeouts (of_conns_t *self, struct event_base *base, int64_t header_ms,
                           int64_t body_ms, int64_t keepalive_ms);

//  Sets what answers a connection freed for a parse error (NULL: none)
void
    of_conns_set_malformed (of_conns_t *self, of_conns_malformed_fn *malformed, void *arg);

//  A request begins on connection (its request line is read): its headers
//  are counted from zero
void
    of_conns_request_begin (of_conns_t *self, evhtp_connection_t *connection);

//  One header of bytes (name and value) was read: the request's header count
//  and bytes so far, with it, in *count_p and *bytes_p
void
    of_conns_header_seen (of_conns_t *self, evhtp_connection_t *connection, size_t bytes,
                          size_t *count_p, size_t *bytes_p);

//  The request's headers are complete: its body (if any) must now keep
//  arriving, and be whole within total_ms (0: only the silence is bounded)
void
    of_conns_body_begin (of_conns_t *self, evhtp_connection_t *connection, int64_t total_ms);

//  The request is complete and with its handler: no client timeout until
//  it ends and the connection is idle, or the next request begins
void
    of_conns_serving (of_conns_t *self, evhtp_connection_t *connection);

//  Takes connection from evhtp and answers it with response (size bytes, a
//  whole HTTP response that says Connection: close), after any output still
//  queued, then closes it lingering. Called from one of the connection's
//  parser hooks, which must then return an error to evhtp (which frees what
//  is left of the connection, without its socket).
void
    of_conns_refuse (of_conns_t *self, evhtp_connection_t *connection, const char *response,
                     size_t size);

//  Frees every open connection now, as a crashing server would
void
    of_conns_drop_all (of_conns_t *self);

//  Number of open connections
size_t
    of_conns_size (of_conns_t *self);

//  Connections refused because the limit was reached and none could be shed
size_t
    of_conns_refused (of_conns_t *self);

//  Connections shed for newer ones at the limit
size_t
    of_conns_shed (of_conns_t *self);

//  Connections closed past a client timeout
size_t
    of_conns_expired (of_conns_t *self);

//  Self test of this class
void
    of_conns_test (bool verbose);

#endif

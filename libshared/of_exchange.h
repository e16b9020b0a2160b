/*  =========================================================================
    of_exchange - one HTTP exchange on libevhtp, held paused until it ends

    libevhtp needs every request paused on arrival and resumed only after its
    final output is queued (keep-alive and pipelining depend on it). While an
    exchange waits (for a lease, a backend, the next chunk) it watches the
    client's socket with MSG_PEEK, because a paused connection does not read
    and would never notice a disconnect. When the client goes away, the
    owner's gone callback runs once, at once. Memory is reclaimed only in
    evhtp's request-fini hook, so a late event can never touch freed memory.

    Streams go out chunked to HTTP/1.1 clients; HTTP/1.0 clients, to whom
    evhtp would wrongly send chunked encoding, get the body as it comes,
    without a length, ended by closing the connection (as HTTP/1.0 does).
    Output-buffer watermarks tell a proxying owner when to stop and resume
    reading from its source (bounded memory per stream).
    =========================================================================
*/

#ifndef OF_EXCHANGE_H_INCLUDED
#define OF_EXCHANGE_H_INCLUDED

#include <event2/buffer.h>
#include <event2/event.h>
#include <evhtp.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct _of_exchange_t of_exchange_t;

//  The owner's callbacks: the client is gone; the output is over (true) or
//  back under (false) its high watermark.
typedef void (of_exchange_fn) (of_exchange_t *exchange, void *arg);
typedef void (of_exchange_full_fn) (of_exchange_t *exchange, bool full, void *arg);

//  Takes over an evhtp request: pauses it and hooks its end.
of_exchange_t *
    of_exchange_new (evhtp_request_t *request, struct event_base *base);

//  The request
htp_method
    of_exchange_method (of_exchange_t *self);
const char *
    of_exchange_path (of_exchange_t *self);
const char *
    of_exchange_query (of_exchange_t *self);      //  raw query string, or NULL
const char *
    of_exchange_header (of_exchange_t *self, const char *name);
evhtp_request_t *
    of_exchange_request (of_exchange_t *self);
//  The raw body (not NUL-terminated) and its length; the buffer is the exchange's
const char *
    of_exchange_body (of_exchange_t *self, size_t *size_p);
//  The client's address as text ("127.0.0.1", "::1")
const char *
    of_exchange_peer (of_exchange_t *self);

//  Sets (or clears, with NULL) the owner: gone runs once if the client goes
//  away before the exchange ends. It must release what the owner holds and
//  must not use the exchange afterwards.
void
    of_exchange_set_owner (of_exchange_t *self, of_exchange_fn *gone, void *arg);

//  Sets a function called once when evhtp frees the exchange, after any gone
//  callback: the last moment to free what the owner keeps with it.
void
    of_exchange_set_fini (of_exchange_t *self, of_exchange_fn *fini, void *arg);

//  Starts watching the client's socket for a disconnect.
void
    of_exchange_watch (of_exchange_t *self);

//  Adds a response header (both copied).
void
    of_exchange_add_header (of_exchange_t *self, const char *name, const char *value);

//  A whole reply, then resume. A HEAD request gets the headers only.
void
    of_exchange_reply (of_exchange_t *self, int status, const char *content_type, const char *data,
                       size_t size);

//  A stream: start with a status, write pieces (moved out of buffer), then end
//  (a clean end) or abort (drops the connection without the last chunk, so the
//  client sees the truncation; the gone callback does not run).
void
    of_exchange_stream_start (of_exchange_t *self, int status);
void
    of_exchange_stream_write (of_exchange_t *self, struct evbuffer *buffer);
//  The same for bytes in memory (copied).
void
    of_exchange_stream_send (of_exchange_t *self, const void *data, size_t size);
void
    of_exchange_stream_end (of_exchange_t *self);
void
    of_exchange_abort (of_exchange_t *self);

//  True once a stream started; true once the final output is queued.
bool
    of_exchange_streaming (of_exchange_t *self);
bool
    of_exchange_finished (of_exchange_t *self);

//  Calls full (true) when the client's unsent output grows over high bytes,
//  and full (false) when it drains under low.
void
    of_exchange_set_watermarks (of_exchange_t *self, size_t high, size_t low,
                                of_exchange_full_fn *full, void *arg);

//  Self test of this class
void
    of_exchange_test (bool verbose);

#endif

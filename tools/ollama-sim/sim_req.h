/*  =========================================================================
    sim_req - one HTTP exchange of a simulated backend, held paused

    Every request is paused on arrival and resumed only after its final output
    is queued (libevhtp needs this for keep-alive and pipelining). While an
    exchange waits (queued, loading, streaming, hung) it watches the client's
    socket with MSG_PEEK, because a paused evhtp connection does not read and
    would never notice a disconnect. When the client goes away, the owner's
    gone callback runs once, at once, to free its slot; then the exchange is
    freed. Memory is reclaimed only in evhtp's request-fini hook.
    =========================================================================
*/

#ifndef SIM_REQ_H_INCLUDED
#define SIM_REQ_H_INCLUDED

#include <event2/event.h>
#include <evhtp.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_CT_JSON      "application/json; charset=utf-8"
#define SIM_CT_JSON_V1   "application/json"
#define SIM_CT_NDJSON    "application/x-ndjson"
#define SIM_CT_SSE       "text/event-stream"
#define SIM_CT_TEXT      "text/plain; charset=utf-8"
#define SIM_CT_GIN_TEXT  "text/plain"
#define SIM_ERROR_TEXT_MAX 512

typedef struct _sim_req_t sim_req_t;
typedef void (sim_req_fn) (sim_req_t *req, void *arg);

//  What a response tee sees: the head (size is the status), body bytes as
//  they are written, then how it ended (a clean end, or cut off)
typedef enum { SIM_TEE_HEAD, SIM_TEE_DATA, SIM_TEE_END, SIM_TEE_ABORT } sim_tee_t;
typedef void (sim_req_tee_fn) (void *arg, uint64_t tag, sim_tee_t event, const char *data,
                               size_t size);

//  Takes over an evhtp request: pauses it and hooks its end
sim_req_t *
    sim_req_new (evhtp_request_t *request, struct event_base *base);

//  The request line and headers
htp_method
    sim_req_method (sim_req_t *self);
const char *
    sim_req_path (sim_req_t *self);
const char *
    sim_req_header (sim_req_t *self, const char *name);
evhtp_request_t *
    sim_req_evhtp (sim_req_t *self);

//  The raw body (not NUL-terminated) and its length
const char *
    sim_req_body_raw (sim_req_t *self, size_t *size_p);

//  Parses the body as a JSON object; returns it (owned by the exchange), or
//  NULL with an error in Ollama's words ("missing request body", ...)
json_t *
    sim_req_body (sim_req_t *self, char *error, size_t size);

//  Sets (or clears, with NULL) the owner: gone (req, arg) runs once if the
//  client goes away before the owner clears it. It must release what the
//  owner holds and must not use the exchange afterwards.
void
    sim_req_set_owner (sim_req_t *self, sim_req_fn *gone, void *arg);

//  Sets a tee that sees every byte of the response body as it is written,
//  with the tag given here
void
    sim_req_set_tee (sim_req_t *self, sim_req_tee_fn *tee, void *arg, uint64_t tag);

//  Starts watching the client socket for a disconnect
void
    sim_req_watch (sim_req_t *self);

//  Calls fn (req, arg) once after delay_ns; replaces a pending timer
void
    sim_req_timer (sim_req_t *self, int64_t delay_ns, sim_req_fn *fn, void *arg);

//  Final replies: send, then resume. A HEAD request gets headers only.
void
    sim_req_reply (sim_req_t *self, int status, const char *content_type, const char *data,
                   size_t size);
void
    sim_req_reply_json (sim_req_t *self, int status, const char *content_type, json_t *json);

//  Native Ollama error: {"error":message}
void
    sim_req_reply_error (sim_req_t *self, int status, const char *message);

//  OpenAI error: {"error":{"message","type","param":null,"code":null}}
void
    sim_req_reply_openai_error (sim_req_t *self, int status, const char *message);

//  Streams: start with a status and content type, write pieces, then end
//  (final) or abort (drops the connection without the last chunk: the
//  exchange is freed at once and the owner's gone callback is not called).
//  Never abort, and never start a stream that continues later, from inside
//  evhtp's request callback: evhtp still uses the connection after the
//  handler returns. Go through sim_req_timer (req, 0, ...) instead.
void
    sim_req_stream_start (sim_req_t *self, int status, const char *content_type);
void
    sim_req_stream_write (sim_req_t *self, const char *data, size_t size);
void
    sim_req_stream_end (sim_req_t *self);
void
    sim_req_abort (sim_req_t *self);

//  True once streaming has started
bool
    sim_req_streaming (sim_req_t *self);

#endif

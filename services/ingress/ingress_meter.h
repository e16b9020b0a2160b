/*  =========================================================================
    ingress_meter - what one response carried to its client

    Fed every piece of a response body as it goes to the client (after any
    translation, so it sees what the client sees): it notes when the first
    byte left, counts the bytes, and keeps the last bytes only, from which it
    reads the tokens and durations once the response ends. Ollama's final
    chunk (or whole answer) ends with load_duration, prompt_eval_count,
    prompt_eval_duration, eval_count, eval_duration (nanoseconds; and, on
    newer servers, prompt_eval_cached_count); OpenAI's ends with
    usage.prompt_tokens, completion_tokens and
    prompt_tokens_details.cached_tokens; llama.cpp's llama-server adds
    timings {cache_n, prompt_n, prompt_ms, predicted_n, predicted_ms}
    (milliseconds, with decimals). A number is read only when it ends inside
    the tail, so a response cut in the middle of one reads as unknown, never
    as a smaller number. Those members
    come last in every server's output, after the long parts (a generate's
    context, an embedding's vectors), so a fixed tail always holds them and
    the meter never parses a body or allocates: a feed is a copy of at most
    the tail's size.

    The metrics, the access log and later quotas read the meter; it lives
    inside each call (a plain record, no _new).
    =========================================================================
*/

#ifndef INGRESS_METER_H_INCLUDED
#define INGRESS_METER_H_INCLUDED

#include <event2/buffer.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INGRESS_METER_TAIL 1536

//  A plain record: read the fields directly once ingress_meter_end ran.
typedef struct {
    int64_t started_us;         //  monotonic, when the request arrived
    int64_t first_byte_us;      //  when the first body byte went out, -1 before
    int64_t ended_us;           //  when the response ended, -1 before
    uint64_t bytes;             //  body bytes to the client
    int64_t tokens_in;          //  prompt tokens, -1 when not said
    int64_t tokens_out;         //  completion tokens, -1 when not said
    int64_t tokens_cached;      //  prompt tokens served from a cache, -1 when not said
    int64_t load_us;            //  the model's load time, -1 when not said
    int64_t prefill_us;         //  evaluating the uncached prompt tokens, -1 when not said
    int64_t decode_us;          //  generating the completion tokens, -1 when not said
    size_t tail_size;
    char tail [INGRESS_METER_TAIL];     //  the last bytes sent
    struct evbuffer *capture;   //  the whole body, up to capture_max, or NULL (not asked)
    size_t capture_max;
} ingress_meter_t;

//  Monotonic microseconds (the meter's clock).
int64_t
    ingress_meter_now (void);

//  Starts metering a request that arrived now.
void
    ingress_meter_start (ingress_meter_t *self);

//  Also keeps the body's first max bytes (for the access log's
//  LogResponseBody), until ingress_meter_release.
void
    ingress_meter_capture (ingress_meter_t *self, size_t max);

//  Frees what ingress_meter_capture kept.
void
    ingress_meter_release (ingress_meter_t *self);

//  Notes size bytes of body going to the client.
void
    ingress_meter_feed (ingress_meter_t *self, const void *data, size_t size);

//  The same for the bytes of an evbuffer about to be written (not drained).
void
    ingress_meter_feed_buffer (ingress_meter_t *self, struct evbuffer *buffer);

//  The response is over: notes the time and reads the tokens and durations
//  from the tail.
void
    ingress_meter_end (ingress_meter_t *self);

//  Microseconds from arrival to the first byte, or to the end; -1 if unknown.
int64_t
    ingress_meter_ttfb_us (const ingress_meter_t *self);
int64_t
    ingress_meter_total_us (const ingress_meter_t *self);

//  Self test
void
    ingress_meter_test (bool verbose);

#endif

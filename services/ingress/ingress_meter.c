/*  =========================================================================
    ingress_meter - what one response carried to its client
    =========================================================================
*/

#include "ingress_meter.h"
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
ingress_meter_now (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

void
ingress_meter_start (ingress_meter_t *self)
{
    self->started_us = ingress_meter_now ();
    self->first_byte_us = -1;
    self->ended_us = -1;
    self->bytes = 0;
    self->tokens_in = self->tokens_out = self->tokens_cached = -1;
    self->load_us = self->prefill_us = self->decode_us = -1;
    self->tail_size = 0;
    self->capture = NULL;
    self->capture_max = 0;
}

void
ingress_meter_capture (ingress_meter_t *self, size_t max)
{
    if (!self->capture)
        self->capture = evbuffer_new ();
    self->capture_max = max;
}

void
ingress_meter_release (ingress_meter_t *self)
{
    if (self->capture)
        evbuffer_free (self->capture);
    self->capture = NULL;
}

//  Keeps what fits of a piece in the capture
static void
s_capture (ingress_meter_t *self, const void *data, size_t size)
{
    size_t kept = evbuffer_get_length (self->capture);
    if (kept < self->capture_max)
        evbuffer_add (self->capture, data,
                      size < self->capture_max - kept ? size : self->capture_max - kept);
}

//  Makes room for size more bytes at the tail's end, dropping its oldest
static char *
s_tail_room (ingress_meter_t *self, size_t size)
{
    assert (size <= INGRESS_METER_TAIL);
    if (self->tail_size + size > INGRESS_METER_TAIL) {
        size_t keep = INGRESS_METER_TAIL - size;
        memmove (self->tail, self->tail + self->tail_size - keep, keep);
        self->tail_size = keep;
    }
    char *room = self->tail + self->tail_size;
    self->tail_size += size;
    return room;
}

static void
s_note (ingress_meter_t *self, size_t size)
{
    if (size && self->first_byte_us < 0)
        self->first_byte_us = ingress_meter_now ();
    self->bytes += size;
}

void
ingress_meter_feed (ingress_meter_t *self, const void *data, size_t size)
{
    s_note (self, size);
    if (self->capture)
        s_capture (self, data, size);
    if (size > INGRESS_METER_TAIL) {
        data = (const char *) data + size - INGRESS_METER_TAIL;
        size = INGRESS_METER_TAIL;
    }
    memcpy (s_tail_room (self, size), data, size);
}

void
ingress_meter_feed_buffer (ingress_meter_t *self, struct evbuffer *buffer)
{
    size_t size = evbuffer_get_length (buffer);
    s_note (self, size);
    if (self->capture && size)
        s_capture (self, evbuffer_pullup (buffer, -1), size);
    size_t take = size > INGRESS_METER_TAIL ? INGRESS_METER_TAIL : size;
    if (!take)
        return;
    struct evbuffer_ptr from;
    evbuffer_ptr_set (buffer, &from, size - take, EVBUFFER_PTR_SET);
    evbuffer_copyout_from (buffer, &from, s_tail_room (self, take), take);
}

//  The number after the last "key" in the tail, times scale, rounded: -1 when
//  the key is absent, or its value is not a number ending inside the tail (a
//  response cut in the middle of a number, or a tail cut inside the key's
//  name), is negative or is too large
static int64_t
s_member (const ingress_meter_t *self, const char *key, double scale)
{
    size_t length = strlen (key);
    const char *found = NULL;
    const char *at = self->tail;
    const char *end = self->tail + self->tail_size;
    while (at < end) {
        const char *hit = (const char *) memmem (at, (size_t) (end - at), key, length);
        if (!hit)
            break;
        found = hit;
        at = hit + 1;
    }
    if (!found)
        return -1;
    const char *digit = found + length;
    while (digit < end && (*digit == ' ' || *digit == ':'))
        digit++;
    //  A JSON number without sign: digits, fraction, exponent; short enough
    //  for a copy (timings are doubles, Ollama's durations integers)
    const char *start = digit;
    while (digit < end && digit - start < 32
           && ((*digit >= '0' && *digit <= '9') || *digit == '.' || *digit == 'e'
               || *digit == 'E' || *digit == '+' || *digit == '-'))
        digit++;
    if (digit == start || digit == end || digit - start >= 32 || *start < '0' || *start > '9')
        return -1;
    if (*digit != ',' && *digit != '}' && *digit != ']' && *digit != ' ' && *digit != '\n'
        && *digit != '\r' && *digit != '\t')
        return -1;
    char number [32];
    memcpy (number, start, (size_t) (digit - start));
    number [digit - start] = 0;
    char *stop;
    double value = strtod (number, &stop) * scale;
    if (*stop || !(value >= 0) || value > 9e15)
        return -1;
    return (int64_t) (value + 0.5);
}

//  The first of the members named that is present (Ollama's name, then
//  OpenAI's, then llama.cpp's timings), each with its scale; NULL ends
static int64_t
s_first (const ingress_meter_t *self, const char *key, double scale, ...)
{
    va_list args;
    va_start (args, scale);
    int64_t value = -1;
    while (key && value < 0) {
        value = s_member (self, key, scale);
        key = va_arg (args, const char *);
        if (key)
            scale = va_arg (args, double);
    }
    va_end (args);
    return value;
}

void
ingress_meter_end (ingress_meter_t *self)
{
    if (self->ended_us >= 0)
        return;
    self->ended_us = ingress_meter_now ();
    self->tokens_in = s_first (self, "\"prompt_eval_count\"", 1.0, "\"prompt_tokens\"", 1.0,
                               NULL);
    self->tokens_out = s_first (self, "\"eval_count\"", 1.0, "\"completion_tokens\"", 1.0,
                                "\"predicted_n\"", 1.0, NULL);
    self->tokens_cached = s_first (self, "\"prompt_eval_cached_count\"", 1.0,
                                   "\"cached_tokens\"", 1.0, "\"cache_n\"", 1.0, NULL);
    if (self->tokens_in < 0) {
        //  llama.cpp's timings alone: prompt_n counts the tokens evaluated
        int64_t evaluated = s_member (self, "\"prompt_n\"", 1.0);
        if (evaluated >= 0)
            self->tokens_in = evaluated + (self->tokens_cached > 0 ? self->tokens_cached : 0);
    }
    //  Ollama's durations are nanoseconds, llama.cpp's milliseconds
    self->load_us = s_first (self, "\"load_duration\"", 1e-3, NULL);
    self->prefill_us = s_first (self, "\"prompt_eval_duration\"", 1e-3, "\"prompt_ms\"", 1e3,
                                NULL);
    self->decode_us = s_first (self, "\"eval_duration\"", 1e-3, "\"predicted_ms\"", 1e3, NULL);
}

int64_t
ingress_meter_ttfb_us (const ingress_meter_t *self)
{
    return self->first_byte_us < 0 ? -1 : self->first_byte_us - self->started_us;
}

int64_t
ingress_meter_total_us (const ingress_meter_t *self)
{
    return self->ended_us < 0 ? -1 : self->ended_us - self->started_us;
}

void
ingress_meter_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_meter: ");
    ingress_meter_t meter;

    //  Ollama's stream: the counts in the last line, after a long context
    ingress_meter_start (&meter);
    assert (ingress_meter_ttfb_us (&meter) == -1);
    const char *line = "{\"model\":\"m\",\"message\":{\"content\":\"say \\\"eval_count\\\": 9\"},"
                       "\"done\":false}\n";
    ingress_meter_feed (&meter, line, strlen (line));
    assert (ingress_meter_ttfb_us (&meter) >= 0);
    char last [8192];
    int size = snprintf (last, sizeof last, "{\"done\":true,\"context\":[");
    while (size < 6000)
        size += snprintf (last + size, sizeof last - (size_t) size, "12345,");
    size += snprintf (last + size, sizeof last - (size_t) size,
                      "1],\"total_duration\":912000000,\"load_duration\":250000000,"
                      "\"prompt_eval_count\":31,\"prompt_eval_duration\":13500000,"
                      "\"eval_count\": 7,\"eval_duration\":116666667,"
                      "\"prompt_eval_cached_count\":4}\n");
    struct evbuffer *buffer = evbuffer_new ();
    evbuffer_add (buffer, last, (size_t) size);
    ingress_meter_feed_buffer (&meter, buffer);
    assert (evbuffer_get_length (buffer) == (size_t) size);     //  not drained
    evbuffer_free (buffer);
    ingress_meter_end (&meter);
    assert (meter.tokens_in == 31 && meter.tokens_out == 7 && meter.tokens_cached == 4);
    //  Ollama's nanoseconds, in microseconds
    assert (meter.load_us == 250000 && meter.prefill_us == 13500 && meter.decode_us == 116667);
    assert (meter.bytes == strlen (line) + (size_t) size);
    assert (ingress_meter_total_us (&meter) >= ingress_meter_ttfb_us (&meter));

    //  OpenAI's SSE stream with usage, then [DONE], in small pieces
    ingress_meter_start (&meter);
    const char *sse = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"
                      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,"
                      "\"completion_tokens\":5,\"total_tokens\":17,"
                      "\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\ndata: [DONE]\n\n";
    for (const char *at = sse; *at; ) {
        size_t piece = strlen (at) < 3 ? strlen (at) : 3;
        ingress_meter_feed (&meter, at, piece);
        at += piece;
    }
    ingress_meter_end (&meter);
    assert (meter.tokens_in == 12 && meter.tokens_out == 5 && meter.tokens_cached == 0);
    assert (meter.load_us == -1 && meter.prefill_us == -1 && meter.decode_us == -1);

    //  llama-server's OpenAI answer (not streamed): usage, then its timings in
    //  milliseconds with decimals (an exponent too)
    ingress_meter_start (&meter);
    const char *llama = "{\"choices\":[{\"message\":{\"content\":\"ok\"}}],"
                        "\"usage\":{\"completion_tokens\":16,\"prompt_tokens\":120,"
                        "\"total_tokens\":136,\"prompt_tokens_details\":{\"cached_tokens\":100}},"
                        "\"timings\":{\"cache_n\":100,\"prompt_n\":20,\"prompt_ms\":10.2506,"
                        "\"prompt_per_token_ms\":0.5,\"predicted_n\":16,"
                        "\"predicted_ms\":2.5e2,\"predicted_per_second\":64.0}}";
    ingress_meter_feed (&meter, llama, strlen (llama));
    ingress_meter_end (&meter);
    assert (meter.tokens_in == 120 && meter.tokens_out == 16 && meter.tokens_cached == 100);
    assert (meter.load_us == -1 && meter.prefill_us == 10251 && meter.decode_us == 250000);
    //  llama-server's own /completion: timings alone
    ingress_meter_start (&meter);
    const char *native = "{\"content\":\"ok\",\"stop\":true,\"timings\":{\"cache_n\":7,"
                         "\"prompt_n\":3,\"prompt_ms\":1.5,\"predicted_n\":2,"
                         "\"predicted_ms\":40}}";
    ingress_meter_feed (&meter, native, strlen (native));
    ingress_meter_end (&meter);
    assert (meter.tokens_in == 10 && meter.tokens_out == 2 && meter.tokens_cached == 7);
    assert (meter.prefill_us == 1500 && meter.decode_us == 40000);

    //  A stream cut in the middle of its final chunk: what ended inside the
    //  tail is read, the number cut short and what never came are unknown
    ingress_meter_start (&meter);
    const char *cut = "{\"done\":true,\"load_duration\":5000,\"prompt_eval_count\":12,"
                      "\"prompt_eval_duration\":4000";
    ingress_meter_feed (&meter, cut, strlen (cut));
    ingress_meter_end (&meter);
    assert (meter.load_us == 5 && meter.tokens_in == 12);
    assert (meter.prefill_us == -1 && meter.tokens_out == -1 && meter.decode_us == -1);
    //  Not numbers: a string, a negative, a huge one
    ingress_meter_start (&meter);
    const char *odd = "{\"load_duration\":\"5\",\"eval_count\":-3,"
                      "\"eval_duration\":1e300,\"prompt_eval_count\":1.5.5}";
    ingress_meter_feed (&meter, odd, strlen (odd));
    ingress_meter_end (&meter);
    assert (meter.load_us == -1 && meter.tokens_out == -1 && meter.decode_us == -1);
    assert (meter.tokens_in == -1);

    //  No usage at all: unknown, not zero; a feed larger than the tail
    ingress_meter_start (&meter);
    char big [3 * INGRESS_METER_TAIL];
    memset (big, 'x', sizeof big);
    ingress_meter_feed (&meter, big, sizeof big);
    ingress_meter_feed (&meter, "", 0);
    ingress_meter_end (&meter);
    assert (meter.tokens_in == -1 && meter.tokens_out == -1 && meter.tokens_cached == -1);
    assert (meter.bytes == sizeof big && meter.tail_size == INGRESS_METER_TAIL);
    //  The capture keeps the first bytes only
    ingress_meter_start (&meter);
    ingress_meter_capture (&meter, 5);
    ingress_meter_feed (&meter, "abc", 3);
    ingress_meter_feed (&meter, "defg", 4);
    assert (evbuffer_get_length (meter.capture) == 5);
    assert (memcmp (evbuffer_pullup (meter.capture, -1), "abcde", 5) == 0);
    ingress_meter_release (&meter);
    assert (!meter.capture);
    //  A count cut at the tail's start reads as unknown, never as a wrong number
    ingress_meter_start (&meter);
    ingress_meter_feed (&meter, "\"eval_count\":", 13);
    ingress_meter_end (&meter);
    assert (meter.tokens_out == -1);
    printf ("OK\n");
}

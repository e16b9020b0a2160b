/*  =========================================================================
    ingress_meter - what one response carried to its client
    =========================================================================
*/

#include "ingress_meter.h"
#include <assert.h>
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

//  The integer after the last "key": in the tail, or -1
static int64_t
s_member (const ingress_meter_t *self, const char *key)
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
    int64_t value = 0;
    const char *start = digit;
    while (digit < end && *digit >= '0' && *digit <= '9' && value < INT64_MAX / 10)
        value = value * 10 + (*digit++ - '0');
    return digit > start ? value : -1;
}

//  The first of two members that is present (Ollama's name, then OpenAI's)
static int64_t
s_either (const ingress_meter_t *self, const char *ollama, const char *openai)
{
    int64_t value = s_member (self, ollama);
    return value >= 0 ? value : s_member (self, openai);
}

void
ingress_meter_end (ingress_meter_t *self)
{
    if (self->ended_us >= 0)
        return;
    self->ended_us = ingress_meter_now ();
    self->tokens_in = s_either (self, "\"prompt_eval_count\"", "\"prompt_tokens\"");
    self->tokens_out = s_either (self, "\"eval_count\"", "\"completion_tokens\"");
    self->tokens_cached = s_either (self, "\"prompt_eval_cached_count\"", "\"cached_tokens\"");
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
                      "1],\"prompt_eval_count\":31,\"eval_count\": 7,"
                      "\"prompt_eval_cached_count\":4}\n");
    struct evbuffer *buffer = evbuffer_new ();
    evbuffer_add (buffer, last, (size_t) size);
    ingress_meter_feed_buffer (&meter, buffer);
    assert (evbuffer_get_length (buffer) == (size_t) size);     //  not drained
    evbuffer_free (buffer);
    ingress_meter_end (&meter);
    assert (meter.tokens_in == 31 && meter.tokens_out == 7 && meter.tokens_cached == 4);
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

/*  bench_translate - what translating one streamed chunk costs

    Feeds a real llama-server chat chunk (one SSE event, one token, as
    llama-server sends it) to ingress_answer, one chunk per call, and
    prints the median, p99 and mean cost per chunk in microseconds. The
    target: at most 5 us at the median. It measures; it fails nothing.
    Usage: bench-translate [chunks]   (default 200000; bounded: a few seconds)
*/

#include "ingress_answer.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *s_chunk =
    "data: {\"choices\":[{\"finish_reason\":null,\"index\":0,\"delta\":{\"content\":\"\xd0\xbb\xd0"
    "\xb5\xd0\xbd\"}}],\"created\":1796291467,\"id\":\"chatcmpl-u75KSz8gUXh7JvwtmtsY0ox8Mgd3olG8\","
    "\"model\":\"tiny\",\"system_fingerprint\":\"b1-80fb11a\",\"object\":\"chat.completion.chunk\"}"
    "\n\n";

static int
s_compare (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1e6 + now.tv_nsec / 1e3;
}

int
main (int argc, char *argv [])
{
    long count = argc > 1 ? atol (argv [1]) : 200000;
    if (count < 100 || count > 10000000) {
        fprintf (stderr, "bench-translate: chunks: 100 to 10000000\n");
        return 1;
    }
    double *costs = (double *) malloc (count * sizeof (double));
    ingress_answer_t *answer = ingress_answer_new ("/api/chat", "tiny");
    struct evbuffer *out = evbuffer_new ();
    size_t size = strlen (s_chunk);
    double total = 0;
    for (long i = 0; i < count; i++) {
        double start = s_now_us ();
        ingress_answer_feed (answer, s_chunk, size, out);
        costs [i] = s_now_us () - start;
        total += costs [i];
        evbuffer_drain (out, evbuffer_get_length (out));
    }
    qsort (costs, count, sizeof (double), s_compare);
    printf ("translate one SSE chunk to an NDJSON object (%ld chunks): median %.2f us, p99 %.2f us, "
            "mean %.2f us (target: median <= 5 us)\n", count, costs [count / 2],
            costs [count * 99 / 100], total / count);
    evbuffer_free (out);
    ingress_answer_destroy (&answer);
    free (costs);
    return 0;
}

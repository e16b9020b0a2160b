/*  =========================================================================
    sim_clock - clocks, Ollama timestamps and Ollama keep-alive durations
    =========================================================================
*/

#include "sim_clock.h"
#include <assert.h>
#include <ctype.h>
#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Longest duration string we accept
#define DURATION_TEXT_MAX 64

static int64_t
s_clock_ns (clockid_t clock)
{
    struct timespec ts;
    clock_gettime (clock, &ts);
    return (int64_t) ts.tv_sec * SIM_NS_PER_SEC + ts.tv_nsec;
}

int64_t
sim_clock_wall_ns (void)
{
    return s_clock_ns (CLOCK_REALTIME);
}

int64_t
sim_clock_mono_ns (void)
{
    return s_clock_ns (CLOCK_MONOTONIC);
}

void
sim_clock_format (int64_t unix_ns, char *buf, size_t size)
{
    time_t secs = (time_t) (unix_ns / SIM_NS_PER_SEC);
    long nanos = (long) (unix_ns % SIM_NS_PER_SEC);
    //  Streams stamp every token: format the date part once per second
    static time_t cached_secs = -1;
    static char cached [SIM_CLOCK_STAMP_MAX];
    static size_t cached_length;
    if (secs != cached_secs) {
        struct tm tm;
        gmtime_r (&secs, &tm);
        cached_length = strftime (cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
        cached_secs = secs;
    }
    size_t length = cached_length < size? cached_length: 0;
    memcpy (buf, cached, length);
    buf [length] = 0;
    char frac [16] = "";
    if (nanos) {
        snprintf (frac, sizeof frac, ".%09ld", nanos);
        size_t end = strlen (frac);
        while (frac [end - 1] == '0')
            frac [--end] = 0;
    }
    if (length + strlen (frac) + 2 <= size) {
        strcpy (buf + length, frac);
        strcat (buf + length, "Z");
    }
}

//  Parses a Go duration string: a sequence of decimal numbers, each with a
//  unit (ns, us, ms, s, m, h). A lone number means seconds, as Ollama accepts.
static int
s_parse_text (const char *text, int64_t *ms_p)
{
    const char *p = text;
    bool negative = false;
    if (*p == '-' || *p == '+')
        negative = *p++ == '-';
    if (!*p)
        return -1;
    char *end;
    double plain = strtod (p, &end);
    if (end != p && *end == 0 && isdigit ((unsigned char) *p)) {
        *ms_p = negative? SIM_CLOCK_FOREVER: (int64_t) llround (plain * 1000);
        return 0;       //  a bare number: seconds
    }
    double total_ms = 0;
    while (*p) {
        if (!isdigit ((unsigned char) *p) && *p != '.')
            return -1;
        double number = strtod (p, &end);
        if (end == p)
            return -1;
        p = end;
        double unit_ms;
        if (strncmp (p, "ns", 2) == 0) { unit_ms = 1e-6; p += 2; }
        else if (strncmp (p, "us", 2) == 0) { unit_ms = 1e-3; p += 2; }
        else if (strncmp (p, "ms", 2) == 0) { unit_ms = 1; p += 2; }
        else if (*p == 's') { unit_ms = 1000; p++; }
        else if (*p == 'm') { unit_ms = 60000; p++; }
        else if (*p == 'h') { unit_ms = 3600000; p++; }
        else
            return -1;
        total_ms += number * unit_ms;
    }
    *ms_p = negative? SIM_CLOCK_FOREVER: (int64_t) llround (total_ms);
    return 0;
}

int
sim_clock_parse_duration (json_t *value, int64_t *ms_p)
{
    if (json_is_number (value)) {
        double secs = json_number_value (value);
        *ms_p = secs < 0? SIM_CLOCK_FOREVER: (int64_t) llround (secs * 1000);
        return 0;
    }
    if (!json_is_string (value) || json_string_length (value) > DURATION_TEXT_MAX)
        return -1;
    return s_parse_text (json_string_value (value), ms_p);
}

void
sim_clock_test (void)
{
    char buf [SIM_CLOCK_STAMP_MAX];
    sim_clock_format (1761499281196249000LL, buf, sizeof buf);
    assert (strcmp (buf, "2025-10-26T17:21:21.196249Z") == 0);
    sim_clock_format (1761499281000000000LL, buf, sizeof buf);
    assert (strcmp (buf, "2025-10-26T17:21:21Z") == 0);

    struct { const char *text; int64_t ms; } cases [] = {
        { "5m", 300000 }, { "1h30m", 5400000 }, { "500ms", 500 }, { "10", 10000 },
        { "-1", SIM_CLOCK_FOREVER }, { "0", 0 }, { "1.5s", 1500 }, { "-5m", SIM_CLOCK_FOREVER }
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_t *value = json_string (cases [i].text);
        int64_t ms = 42;
        assert (sim_clock_parse_duration (value, &ms) == 0);
        assert (ms == cases [i].ms);
        json_decref (value);
    }
    const char *bad [] = { "", "abc", "5x", "m", "5m3", "--1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        json_t *value = json_string (bad [i]);
        int64_t ms;
        assert (sim_clock_parse_duration (value, &ms) == -1);
        json_decref (value);
    }
    json_t *number = json_integer (30);
    int64_t ms;
    assert (sim_clock_parse_duration (number, &ms) == 0 && ms == 30000);
    json_decref (number);
    json_t *object = json_object ();
    assert (sim_clock_parse_duration (object, &ms) == -1);
    json_decref (object);
}

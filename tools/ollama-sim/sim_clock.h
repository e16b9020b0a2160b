/*  =========================================================================
    sim_clock - clocks, Ollama timestamps and Ollama keep-alive durations

    Ollama marshals times as Go RFC3339Nano in UTC with trailing zeros trimmed
    ("2025-10-26T17:21:21.196249Z") and durations as integer nanoseconds.
    keep_alive is a Go duration string ("5m", "1h30m", "500ms"), a number of
    seconds, or negative for "forever".
    =========================================================================
*/

#ifndef SIM_CLOCK_H_INCLUDED
#define SIM_CLOCK_H_INCLUDED

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

//  Room for an RFC3339Nano timestamp
#define SIM_CLOCK_STAMP_MAX 40
//  keep_alive value that means "never unload"
#define SIM_CLOCK_FOREVER (-1)
#define SIM_NS_PER_MS     1000000LL
#define SIM_NS_PER_SEC    1000000000LL

//  Wall clock, nanoseconds since the Unix epoch
int64_t
    sim_clock_wall_ns (void);

//  Monotonic clock, nanoseconds
int64_t
    sim_clock_mono_ns (void);

//  Formats a wall-clock time as RFC3339Nano UTC, trailing zeros trimmed
void
    sim_clock_format (int64_t unix_ns, char *buf, size_t size);

//  Parses a keep_alive value (duration string, seconds as a number, or
//  negative for forever) into milliseconds; SIM_CLOCK_FOREVER for forever.
//  Returns 0, or -1 if the value is malformed.
int
    sim_clock_parse_duration (json_t *value, int64_t *ms_p);

//  Self-test
void
    sim_clock_test (void);

#endif

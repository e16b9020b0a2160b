/*  =========================================================================
    of_log - the log of a service: one line per event on stderr

    Lines go to stderr, which systemd's journal or docker's log driver collect.
    Under the journal (JOURNAL_STREAM set) each line carries its syslog priority
    as a "<N>" prefix; otherwise a UTC timestamp, the level and the service.
    Only service code logs: libshared and proto return errors instead.
    =========================================================================
*/

#ifndef OF_LOG_H_INCLUDED
#define OF_LOG_H_INCLUDED

#include <stdbool.h>

typedef enum {
    OF_LOG_DEBUG,
    OF_LOG_INFO,
    OF_LOG_WARNING,
    OF_LOG_ERROR
} of_log_level_t;

//  Sets the service name shown on every line and the lowest level printed.
void
    of_log_init (const char *service, of_log_level_t level);

//  Reads a level name (debug, info, warning, error); returns 0, or -1 if unknown.
int
    of_log_level_parse (const char *name, of_log_level_t *level);

//  The name of a level.
const char *
    of_log_level_name (of_log_level_t level);

//  True if lines at this level are printed.
bool
    of_log_enabled (of_log_level_t level);

//  Prints one line at the given level.
void
    of_log (of_log_level_t level, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

#define of_log_debug(...)   of_log (OF_LOG_DEBUG, __VA_ARGS__)
#define of_log_info(...)    of_log (OF_LOG_INFO, __VA_ARGS__)
#define of_log_warning(...) of_log (OF_LOG_WARNING, __VA_ARGS__)
#define of_log_error(...)   of_log (OF_LOG_ERROR, __VA_ARGS__)

//  Self test
void
    of_log_test (bool verbose);

#endif

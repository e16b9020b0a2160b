/*  =========================================================================
    of_log - the log of a service: one line per event on stderr
    =========================================================================
*/

#include "of_log.h"
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define OF_LOG_SERVICE_MAX 32
#define OF_LOG_LINE_MAX    2048

static char s_service [OF_LOG_SERVICE_MAX] = "ollamaflow";
static of_log_level_t s_level = OF_LOG_INFO;

static const struct {
    const char *name;
    char letter;
    int syslog_priority;        //  as systemd's journal reads "<N>"
} s_levels [] = {
    [OF_LOG_DEBUG] = {"debug", 'D', 7},
    [OF_LOG_INFO] = {"info", 'I', 6},
    [OF_LOG_WARNING] = {"warning", 'W', 4},
    [OF_LOG_ERROR] = {"error", 'E', 3},
};

void
of_log_init (const char *service, of_log_level_t level)
{
    assert (service);
    snprintf (s_service, sizeof s_service, "%s", service);
    s_level = level;
}

int
of_log_level_parse (const char *name, of_log_level_t *level)
{
    assert (level);
    if (!name)
        return -1;
    for (size_t i = 0; i < sizeof s_levels / sizeof s_levels [0]; i++)
        if (strcasecmp (name, s_levels [i].name) == 0) {
            *level = (of_log_level_t) i;
            return 0;
        }
    if (strcasecmp (name, "warn") == 0) {
        *level = OF_LOG_WARNING;
        return 0;
    }
    return -1;
}

const char *
of_log_level_name (of_log_level_t level)
{
    return s_levels [level].name;
}

bool
of_log_enabled (of_log_level_t level)
{
    return level >= s_level;
}

void
of_log (of_log_level_t level, const char *format, ...)
{
    if (level < s_level)
        return;
    char text [OF_LOG_LINE_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof text, format, args);
    va_end (args);

    //  Never let outside text break the one-line-per-event rule
    for (char *c = text; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';

    if (getenv ("JOURNAL_STREAM"))
        fprintf (stderr, "<%d>%s\n", s_levels [level].syslog_priority, text);
    else {
        struct timespec now;
        clock_gettime (CLOCK_REALTIME, &now);
        struct tm tm;
        gmtime_r (&now.tv_sec, &tm);
        char stamp [32];
        strftime (stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        fprintf (stderr, "%s.%03ldZ %c %s: %s\n", stamp, now.tv_nsec / 1000000,
                 s_levels [level].letter, s_service, text);
    }
}

void
of_log_test (bool verbose)
{
    printf (" * of_log: ");
    of_log_level_t level;
    assert (of_log_level_parse ("WARNING", &level) == 0 && level == OF_LOG_WARNING);
    assert (of_log_level_parse ("warn", &level) == 0 && level == OF_LOG_WARNING);
    assert (of_log_level_parse ("debug", &level) == 0 && level == OF_LOG_DEBUG);
    assert (of_log_level_parse ("loud", &level) == -1);
    assert (of_log_level_parse (NULL, &level) == -1);
    of_log_init ("selftest", OF_LOG_ERROR);
    assert (!of_log_enabled (OF_LOG_INFO));
    assert (of_log_enabled (OF_LOG_ERROR));
    of_log_info ("not printed");
    if (verbose)
        of_log_error ("printed, with a newline\nfolded");
    of_log_init ("ollamaflow", OF_LOG_INFO);
    printf ("OK\n");
}

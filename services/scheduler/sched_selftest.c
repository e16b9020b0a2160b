/*  sched_selftest - runs the self test of one scheduler class, or of all of them
    Usage: sched_selftest [-v] [class]; each class is registered as its own CTest. */

#include "sched_broker.h"
#include "sched_fleet.h"
#include "sched_health.h"
#include "sched_pick.h"
#include "sched_queue.h"
#include "sched_sessions.h"
#include "sched_table.h"

static const struct {
    const char *name;
    void (*test) (bool verbose);
} s_tests [] = {
    {"sched_sessions", sched_sessions_test},
    {"sched_table", sched_table_test},
    {"sched_queue", sched_queue_test},
    {"sched_health", sched_health_test},
    {"sched_fleet", sched_fleet_test},
    {"sched_pick", sched_pick_test},
    {"sched_broker", sched_broker_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    const char *only = argc > 1 + verbose ? argv [1 + verbose] : NULL;
    setvbuf (stdout, NULL, _IONBF, 0);
    zsys_init ();
    zsys_set_logstream (stderr);
    int ran = 0;
    for (int i = 0; s_tests [i].name; i++)
        if (!only || streq (only, s_tests [i].name)) {
            s_tests [i].test (verbose);
            ran++;
        }
    if (ran == 0) {
        fprintf (stderr, "sched_selftest: no class named '%s'\n", only);
        return 1;
    }
    return 0;
}

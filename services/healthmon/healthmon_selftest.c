/*  healthmon_selftest - runs the self tests of healthmon's classes: all of
    them, or the one named on the command line */

#include "healthmon_state.h"
#include "healthmon_probe.h"
#include "of_selftest_main.h"

static const of_selftest_t s_tests [] = {
    {"healthmon_state", healthmon_state_test},
    {"healthmon_probe", healthmon_probe_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    return of_selftest_main (argc, argv, s_tests);
}

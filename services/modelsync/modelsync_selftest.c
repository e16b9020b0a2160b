/*  modelsync_selftest - runs the self tests of modelsync's classes: all of
    them, or the one named on the command line */

#include "modelsync_parse.h"
#include "modelsync_pull.h"
#include "of_selftest_main.h"

static const of_selftest_t s_tests [] = {
    {"modelsync_parse", modelsync_parse_test},
    {"modelsync_pull", modelsync_pull_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    return of_selftest_main (argc, argv, s_tests);
}

/*  tap_selftest - runs the self test of the tap's classes */

#include "tap_feed.h"
#include "of_selftest_main.h"

static const of_selftest_t s_tests [] = {
    {"tap_feed", tap_feed_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    return of_selftest_main (argc, argv, s_tests);
}

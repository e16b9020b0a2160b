/*  =========================================================================
    of_selftest_main - the main of every self-test driver

    A driver lists its classes' self tests; this runs all of them, or the one
    named on the command line (each is registered as its own CTest).
    Usage: <driver> [-v] [class]
    =========================================================================
*/

#ifndef OF_SELFTEST_MAIN_H_INCLUDED
#define OF_SELFTEST_MAIN_H_INCLUDED

#include <stdbool.h>

typedef struct {
    const char *name;
    void (*test) (bool verbose);
} of_selftest_t;

//  Runs the tests (a list ending with a NULL name); returns the exit code.
int
    of_selftest_main (int argc, char *argv [], const of_selftest_t *tests);

#endif

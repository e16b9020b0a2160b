/*  =========================================================================
    of_selftest_main - the main of every self-test driver
    =========================================================================
*/

#include "of_selftest_main.h"
#include <stdio.h>
#include <string.h>

int
of_selftest_main (int argc, char *argv [], const of_selftest_t *tests)
{
    bool verbose = false;
    const char *only = NULL;
    for (int index = 1; index < argc; index++)
        if (strcmp (argv [index], "-v") == 0)
            verbose = true;
        else
            only = argv [index];
    //  Unbuffered: an assert must not swallow what was printed before it
    setvbuf (stdout, NULL, _IONBF, 0);
    int ran = 0;
    for (const of_selftest_t *test = tests; test->name; test++)
        if (!only || strcmp (only, test->name) == 0) {
            test->test (verbose);
            ran++;
        }
    if (ran == 0) {
        fprintf (stderr, "%s: no self test named '%s'\n", argv [0], only ? only : "");
        return 1;
    }
    return 0;
}

/*  configd_selftest - runs the self tests of configd's classes */

#include "configd_store.h"

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    setvbuf (stdout, NULL, _IONBF, 0);
    configd_store_test (verbose);
    return 0;
}

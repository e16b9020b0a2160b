/*  of_selftest - runs the self test of one libshared class, or of all of them */

#include "of_classes.h"
#include "of_selftest_main.h"
#include "of_upstream.h"
#include "of_exchange.h"
#include "of_conns.h"

static const of_selftest_t s_tests [] = {
    OF_SELFTESTS
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    zsys_init ();
    zsys_set_logstream (stderr);
    return of_selftest_main (argc, argv, s_tests);
}

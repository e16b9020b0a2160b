/*  configd_selftest - runs the self test of one configd class, or of all of them */

#include "configd_store.h"
#include "configd_edit.h"
#include "of_selftest_main.h"

static const of_selftest_t s_tests [] = {
    {"configd_store", configd_store_test},
    {"configd_edit", configd_edit_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    setvbuf (stdout, NULL, _IONBF, 0);
    return of_selftest_main (argc, argv, s_tests);
}

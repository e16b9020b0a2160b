/*  ctl_selftest - runs the self test of one ollamaflowctl class, or of all of them */

#include "ctl_http.h"
#include "ctl_print.h"
#include "of_selftest_main.h"

static const of_selftest_t s_tests [] = {
    {"ctl_http", ctl_http_test},
    {"ctl_print", ctl_print_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    return of_selftest_main (argc, argv, s_tests);
}

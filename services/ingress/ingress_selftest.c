/*  ingress_selftest - runs the self test of one ingress class, or of all of them */

#include "ingress_match.h"
#include "ingress_route.h"

static const struct {
    const char *name;
    void (*test) (bool verbose);
} s_tests [] = {
    {"ingress_route", ingress_route_test},
    {"ingress_match", ingress_match_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    const char *only = argc > 1 + verbose ? argv [1 + verbose] : NULL;
    setvbuf (stdout, NULL, _IONBF, 0);
    int ran = 0;
    for (int i = 0; s_tests [i].name; i++)
        if (!only || streq (only, s_tests [i].name)) {
            s_tests [i].test (verbose);
            ran++;
        }
    return ran ? 0 : 1;
}

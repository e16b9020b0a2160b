/*  healthmon_selftest - runs the self tests of healthmon's classes: all of
    them, or the one named on the command line */

#include "healthmon_state.h"
#include "healthmon_probe.h"

typedef struct {
    const char *name;
    void (*test) (bool verbose);
} s_selftest_t;

static const s_selftest_t s_selftests [] = {
    {"healthmon_state", healthmon_state_test},
    {"healthmon_probe", healthmon_probe_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    bool verbose = false;
    const char *only = NULL;
    for (int index = 1; index < argc; index++)
        if (streq (argv [index], "-v"))
            verbose = true;
        else
            only = argv [index];
    setvbuf (stdout, NULL, _IONBF, 0);
    int run = 0;
    for (const s_selftest_t *selftest = s_selftests; selftest->name; selftest++)
        if (!only || streq (only, selftest->name)) {
            selftest->test (verbose);
            run++;
        }
    if (run == 0) {
        fprintf (stderr, "no self test named %s\n", only);
        return 1;
    }
    return 0;
}

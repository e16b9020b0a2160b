/*  ofp_selftest - runs the self test of one proto class, or of all of them
    Usage: ofp_selftest [-v] [class]; each class is registered as its own CTest. */

#include "ofp_classes.h"

static const struct {
    const char *name;
    void (*test) (bool verbose);
} s_tests [] = {
    OFP_SELFTESTS
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    bool verbose = argc > 1 && streq (argv [1], "-v");
    const char *only = argc > 1 + verbose ? argv [1 + verbose] : NULL;
    setvbuf (stdout, NULL, _IONBF, 0);
    zsys_init ();
    zsys_set_logstream (stderr);
    int ran = 0;
    for (int i = 0; s_tests [i].name; i++)
        if (!only || streq (only, s_tests [i].name)) {
            s_tests [i].test (verbose);
            ran++;
        }
    if (ran == 0) {
        fprintf (stderr, "ofp_selftest: no class named '%s'\n", only);
        return 1;
    }
    return 0;
}

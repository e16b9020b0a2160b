/*  =========================================================================
    sim_selftest - runs the simulator's class self-tests: sim_selftest [class]
    =========================================================================
*/

#include "sim_cache.h"
#include "sim_clock.h"
#include "sim_fleet.h"
#include "sim_models.h"
#include "sim_slots.h"
#include "sim_text.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name;
    void (*test) (void);
} test_t;

static const test_t s_tests [] = {
    { "sim_clock", sim_clock_test },
    { "sim_text", sim_text_test },
    { "sim_slots", sim_slots_test },
    { "sim_cache", sim_cache_test },
    { "sim_fleet", sim_fleet_test },
    { "sim_models", sim_models_test },
};

int
main (int argc, char *argv [])
{
    const char *only = argc > 1? argv [1]: NULL;
    int run = 0;
    for (size_t i = 0; i < sizeof s_tests / sizeof s_tests [0]; i++) {
        if (only && strcmp (only, s_tests [i].name))
            continue;
        printf (" * %s: ", s_tests [i].name);
        s_tests [i].test ();
        printf ("OK\n");
        run++;
    }
    if (run == 0) {
        fprintf (stderr, "no test named %s\n", only);
        return 1;
    }
    return 0;
}

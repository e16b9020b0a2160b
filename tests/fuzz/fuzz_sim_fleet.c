/*  fuzz_sim_fleet - ollama-sim's fleet file: the backends to run and how */

#include "sim_fleet.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = (char *) malloc (size + 1);
    assert (text);
    memcpy (text, data, size);
    text [size] = 0;
    char error [256] = "";
    sim_fleet_t *fleet = sim_fleet_new_from_text (text, error, sizeof error);
    assert (fleet || *error);
    sim_fleet_destroy (&fleet);
    free (text);
    return 0;
}

/*  =========================================================================
    sim_cli - the command line: a fleet file, the demo fleet, or one backend
    described by flags (repeated --count times on consecutive ports)
    =========================================================================
*/

#ifndef SIM_CLI_H_INCLUDED
#define SIM_CLI_H_INCLUDED

#include "sim_fleet.h"

//  Parses the command line into a fleet. Returns NULL with a reason in error,
//  or NULL with an empty error after --help. ports_file and control_port
//  (-1 when not given) receive the options that are not part of a fleet.
sim_fleet_t *
    sim_cli_parse (int argc, char *argv [], const char **ports_file_p, int *control_port_p,
                   char *error, size_t size);

//  The demo fleet's JSON text (two Ollama servers and one OpenAI-only server)
const char *
    sim_cli_demo_fleet (void);

#endif

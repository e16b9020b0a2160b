/*  =========================================================================
    launcher_fleet - the fleet a first run starts with

    With no ollamaflow.json, the launcher writes one whose fleet is the local
    Ollama (127.0.0.1:11434) when it answers, or else a demo fleet of simulated
    backends served by ollama-sim, which the launcher then runs alongside the
    services. The file records the demo fleet under "DemoFleet", so later runs
    start the simulator again.
    =========================================================================
*/

#ifndef LAUNCHER_FLEET_H_INCLUDED
#define LAUNCHER_FLEET_H_INCLUDED

#include "of_classes.h"

#define LAUNCHER_OLLAMA_HOST "127.0.0.1"
#define LAUNCHER_OLLAMA_PORT 11434

typedef struct {
    char *argv [8];             //  the simulator's command line, or argv [0] NULL
} launcher_fleet_t;

//  Writes a default settings file at path, with admin_token as its one admin
//  token; fills fleet when a simulator must run. Never replaces a file.
//  Returns 0, or -1 after printing why.
int
    launcher_fleet_write_default (const char *path, const char *bin_dir, const char *admin_token,
                                  launcher_fleet_t *fleet);

//  Reads an existing settings file's DemoFleet, if any, into fleet.
void
    launcher_fleet_attach (const char *path, const char *bin_dir, launcher_fleet_t *fleet);

//  Frees what the fleet holds.
void
    launcher_fleet_release (launcher_fleet_t *fleet);

//  True if an Ollama answers GET /api/version at host:port within a second.
bool
    launcher_ollama_answers (const char *host, int port);

#endif

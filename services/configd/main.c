/*  =========================================================================
    ollamaflow-configd - owns the frontends and backends

    Keeps them in SQLite (DatabaseFilename), seeds them on first start from the
    Frontends and Backends of ollamaflow.json, serves reads and writes on
    Bus.ConfigRouter and publishes every change on Bus.ConfigPublisher.
    =========================================================================
*/

#include "configd.h"
#include "of_service.h"

int
main (int argc, char *argv [])
{
    return of_service_main (argc, argv, "configd",
                            "Owns ollamaflow.db: serves config requests and publishes changes.",
                            configd_actor);
}

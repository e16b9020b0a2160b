/*  =========================================================================
    ollamaflow-modelsync - knows which models each backend has, and keeps the
    required ones pulled

    Publishes every backend's model inventory and pull progress on
    Bus.ModelsPublisher; takes pulls and deletes through a frontend on
    Bus.ModelsRouter.
    =========================================================================
*/

#include "modelsync.h"
#include "of_service.h"

int
main (int argc, char *argv [])
{
    return of_service_main (argc, argv, "modelsync",
                            "Tracks each backend's models and keeps required models pulled.",
                            modelsync_actor);
}

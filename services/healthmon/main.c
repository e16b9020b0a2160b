/*  =========================================================================
    ollamaflow-healthmon - watches the health of every active backend

    Publishes each backend's state (Unknown, Healthy, Unhealthy) on
    Bus.HealthPublisher, in full every heartbeat interval.
    =========================================================================
*/

#include "healthmon.h"
#include "of_service.h"

int
main (int argc, char *argv [])
{
    return of_service_main (argc, argv, "healthmon",
                            "Watches the health of every active backend.", healthmon_actor);
}

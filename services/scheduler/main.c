/*  =========================================================================
    ollamaflow-scheduler - the single place where routing decisions are made

    Hands out backend leases to every ingress replica over Bus.SchedulerRouter,
    so that MaxParallelRequests, sticky sessions and round-robin order hold
    across the whole fleet, and publishes its state on Bus.SchedulerPublisher.
    =========================================================================
*/

#include "scheduler.h"
#include "of_service.h"

int
main (int argc, char *argv [])
{
    return of_service_main (argc, argv, "scheduler",
                            "Hands out backend leases to every ingress replica.",
                            scheduler_actor);
}

/*  =========================================================================
    ingress_fleet - the fleet, as the bus tells every ingress, for Prometheus

    What this replica follows on the bus, written as metrics when /metrics
    is scraped: each backend's health and since when (healthmon), leases,
    MaxParallelRequests, queue and sessions (the scheduler's STATE), models
    on disk and loaded (modelsync's inventories), pulls with their bytes, and
    each service's liveness. Every replica follows the same publishers, so
    these series are the same on every replica: they are fleet-wide, and a
    sum over replicas would count them once per replica (docs/metrics.md).
    Nothing here runs per request.
    =========================================================================
*/

#ifndef INGRESS_FLEET_H_INCLUDED
#define INGRESS_FLEET_H_INCLUDED

#include "of_classes.h"
#include "ingress_watch.h"
#include <event2/buffer.h>

//  Appends the fleet series in the text exposition format 0.0.4: the live
//  state from watch, for the objects of the clone's config (settings give
//  Metrics.KeyLabelsMax). All borrowed.
void
    ingress_fleet_write (ingress_watch_t *watch, of_clone_t *clone, const of_settings_t *settings,
                         struct evbuffer *out);

#endif

/*  =========================================================================
    sched_view - what the scheduler's views of the monitors share

    sched_health (healthmon's word on each backend) and sched_models
    (modelsync's inventories) each follow one monitor's PUB and keep sets of
    names: the subscriber, the draining of it through the monitor's codec,
    and the comparison of two sets live here, once.
    =========================================================================
*/

#ifndef SCHED_VIEW_H_INCLUDED
#define SCHED_VIEW_H_INCLUDED

#include "of_classes.h"

//  The value stored in a set (a zhashx whose keys are the members)
#define SCHED_VIEW_MEMBER ((void *) 1)

//  Applies one received message to a view; true if it changed the view
typedef bool (sched_view_apply_fn) (void *view, ofp_msg_t *msg);

//  A SUB connected to endpoint, subscribed to signature; NULL if the connect failed.
zsock_t *
    sched_view_subscriber (const char *endpoint, const char *signature);

//  Applies every message waiting on socket, decoded by protocol, without
//  blocking. True if any changed the view.
bool
    sched_view_drain (zsock_t *socket, const ofp_protocol_t *protocol, sched_view_apply_fn *apply,
                      void *view);

//  True if two sets have the same members.
bool
    sched_view_sets_equal (zhashx_t *one, zhashx_t *two);

//  A zhashx destructor for values that are sets.
void
    sched_view_set_destroy (void **item);

//  Self test
void
    sched_view_test (bool verbose);

#endif

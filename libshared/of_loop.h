/*  =========================================================================
    of_loop - the end of a libevent loop

    A bufferevent made with BEV_OPT_DEFER_CALLBACKS (every connection evhtp
    accepts, every upstream connection of of_upstream) takes a reference on
    itself for each callback it defers, and drops it when that callback runs
    in a later turn of the loop. When the loop ends in the very turn that
    deferred one (input or an EOF came with the signal that stops the
    service), bufferevent_free leaves the reference, and event_base_free
    drops the pending callback without running it: the bufferevent, its
    buffers and its socket leak. of_loop_free runs what is pending first.
    =========================================================================
*/

#ifndef OF_LOOP_H_INCLUDED
#define OF_LOOP_H_INCLUDED

#include <event2/event.h>
#include <stdbool.h>

//  Runs the callbacks the loop still holds (without waiting), then frees the
//  base; accepts NULL. Call once everything on the base is destroyed.
void
    of_loop_free (struct event_base **base_p);

//  Self test
void
    of_loop_test (bool verbose);

#endif

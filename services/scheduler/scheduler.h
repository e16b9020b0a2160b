/*  =========================================================================
    scheduler - the lease service actor (proto/lease.md)
    =========================================================================
*/

#ifndef SCHEDULER_H_INCLUDED
#define SCHEDULER_H_INCLUDED

#include "of_classes.h"

//  The actor; args is the of_settings_t, which must outlive it.
void
    scheduler_actor (zsock_t *pipe, void *args);

#endif

/*  =========================================================================
    healthmon - the health service actor (proto/health.md)
    =========================================================================
*/

#ifndef HEALTHMON_H_INCLUDED
#define HEALTHMON_H_INCLUDED

#include "of_classes.h"

//  The actor; args is the of_settings_t, which must outlive it.
void
    healthmon_actor (zsock_t *pipe, void *args);

#endif

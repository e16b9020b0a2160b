/*  =========================================================================
    modelsync - the model service actor (proto/models.md)
    =========================================================================
*/

#ifndef MODELSYNC_H_INCLUDED
#define MODELSYNC_H_INCLUDED

#include "of_classes.h"

//  The actor; args is the of_settings_t, which must outlive it.
void
    modelsync_actor (zsock_t *pipe, void *args);

#endif

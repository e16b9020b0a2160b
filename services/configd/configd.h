/*  =========================================================================
    configd - the config service actor: owns ollamaflow.db, answers config
    requests (proto/config.md) and publishes every committed change
    =========================================================================
*/

#ifndef CONFIGD_H_INCLUDED
#define CONFIGD_H_INCLUDED

#include "of_classes.h"

//  The actor; args is the of_settings_t, which must outlive it.
void
    configd_actor (zsock_t *pipe, void *args);

#endif

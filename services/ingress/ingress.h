/*  =========================================================================
    ingress - the HTTP service actor: serves clients on Webserver.Port with
    libevhtp and follows the config, in one libevent loop
    =========================================================================
*/

#ifndef INGRESS_H_INCLUDED
#define INGRESS_H_INCLUDED

#include "of_classes.h"

//  The actor; args is the of_settings_t, which must outlive it.
void
    ingress_actor (zsock_t *pipe, void *args);

#endif

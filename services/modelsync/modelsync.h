/*  =========================================================================
    modelsync - the model service actor (proto/models.md)
    =========================================================================
*/

#ifndef MODELSYNC_H_INCLUDED
#define MODELSYNC_H_INCLUDED

#include "of_classes.h"
#include "modelsync_ctx.h"

//  The actor; args is the of_settings_t, which must outlive it.
void
    modelsync_actor (zsock_t *pipe, void *args);

//  The actor's sockets, for its parts (modelsync_fleet, modelsync_jobs)

//  Publishes a message with the epoch and the next sequence (body taken).
void
    modelsync_publish (modelsync_ctx_t *ctx, const char *command, json_t *body);

//  Sends a reply on the ROUTER (taken), with its copy to the tap.
void
    modelsync_reply (modelsync_ctx_t *ctx, ofp_msg_t **reply_p);

#endif

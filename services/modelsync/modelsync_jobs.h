/*  =========================================================================
    modelsync_jobs - the requests on modelsync's ROUTER (proto/models.md)
    =========================================================================
*/

#ifndef MODELSYNC_JOBS_H_INCLUDED
#define MODELSYNC_JOBS_H_INCLUDED

#include "modelsync_ctx.h"

//  Answers one request from the ROUTER (taken over).
void
    modelsync_jobs_handle (modelsync_ctx_t *ctx, ofp_msg_t **request_p);

//  Abandons the requests still waiting for backends (at stop).
void
    modelsync_jobs_stop (modelsync_ctx_t *ctx);

#endif

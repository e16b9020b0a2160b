/*  =========================================================================
    modelsync_fleet - the backends modelsync watches, their fetches, and
    the RequiredModels sync with its pulls
    =========================================================================
*/

#ifndef MODELSYNC_FLEET_H_INCLUDED
#define MODELSYNC_FLEET_H_INCLUDED

#include "modelsync_ctx.h"

//  Brings the watched backends in line with the config (every active
//  backend), fetching the new and changed ones at once.
void
    modelsync_fleet_reconcile (modelsync_ctx_t *ctx);

//  Fetches every healthy backend (all: also the unhealthy ones).
void
    modelsync_fleet_fetch_all (modelsync_ctx_t *ctx, bool all);

//  Fetches the healthy backends a frontend uses.
void
    modelsync_fleet_fetch_frontend (modelsync_ctx_t *ctx, const char *frontend);

//  Applies a health message (ofhealth/1 STATE or TRANSITION): a backend that
//  turns healthy is fetched at once.
void
    modelsync_fleet_health (modelsync_ctx_t *ctx, ofp_msg_t *msg);

//  The RequiredModels sync: wants every required model an Ollama backend
//  lacks, then starts what the limits allow.
void
    modelsync_fleet_sync (modelsync_ctx_t *ctx);

//  Starts the fleet's parts (pulls, timers); 0 or -1.
int
    modelsync_fleet_start (modelsync_ctx_t *ctx);

//  Drops every backend and pull (their requests first).
void
    modelsync_fleet_stop (modelsync_ctx_t *ctx);

#endif

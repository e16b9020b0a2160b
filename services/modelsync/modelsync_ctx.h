/*  =========================================================================
    modelsync_ctx - what the modelsync actor's parts share

    The actor (modelsync.c) owns the loop and the sockets; the fleet
    (modelsync_fleet.c) the watched backends, their fetches and the
    RequiredModels sync; the jobs (modelsync_jobs.c) answer the ROUTER. They
    all run on the actor's thread and share this record.
    =========================================================================
*/

#ifndef MODELSYNC_CTX_H_INCLUDED
#define MODELSYNC_CTX_H_INCLUDED

#include "of_classes.h"
#include "of_upstream.h"
#include "modelsync_backend.h"
#include "modelsync_pull.h"

typedef struct {
    of_settings_t *settings;
    struct event_base *base;
    of_upstream_pool_t *pool;               //  connections to backends
    zsock_t *router;
    of_evzmq_t *router_watch;
    zsock_t *publisher;
    zsock_t *tap;                       //  the publisher when Bus.Tap, else NULL
    zsock_t *health;                    //  SUB to healthmon
    of_clone_t *clone;
    zhashx_t *backends;                 //  Identifier -> modelsync_backend_t, active ones
    modelsync_pulls_t *pulls;
    zlistx_t *finishing;                //  pulls over, waiting for a fetch to show the model
    zlistx_t *deletes;                  //  DELETE-MODEL requests in flight
    struct event *retry_timer;          //  the next pull backoff's end
    char epoch [OFP_EPOCH_LENGTH + 1];
    int64_t sequence;
    uint64_t malformed;
    uint64_t jobs;                      //  jobs created in this epoch
    bool over_limit_logged;
} modelsync_ctx_t;

//  Publishes a message with the epoch and the next sequence (body taken).
void
    modelsync_publish (modelsync_ctx_t *ctx, const char *command, json_t *body);

//  Sends a reply on the ROUTER (taken), with its copy to the tap.
void
    modelsync_reply (modelsync_ctx_t *ctx, ofp_msg_t **reply_p);

//  The fleet: brings the watched backends in line with the config (every
//  active backend), fetching the new and changed ones at once.
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

//  The jobs: answers one request from the ROUTER (taken over).
void
    modelsync_jobs_handle (modelsync_ctx_t *ctx, ofp_msg_t **request_p);

//  Abandons the requests still waiting for backends (at stop).
void
    modelsync_jobs_stop (modelsync_ctx_t *ctx);

#endif

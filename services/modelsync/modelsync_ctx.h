/*  =========================================================================
    modelsync_ctx - what the modelsync actor's parts share

    The actor (modelsync.c) owns the loop and the sockets; the fleet
    (modelsync_fleet.c) the watched backends, their fetches and the
    RequiredModels sync; the jobs (modelsync_jobs.c) answer the ROUTER. They
    all run on the actor's thread and share this record, a plain struct read
    and written directly; each part's functions are in its own header.
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

#endif

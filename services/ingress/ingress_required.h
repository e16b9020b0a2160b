/*  =========================================================================
    ingress_required - changes to a frontend's RequiredModels, through configd

    A pull through a frontend adds the model to its RequiredModels, a delete
    removes it (OllamaFlow's side effects, models.md), before modelsync is
    asked anything. The change is one EDIT of the config protocol (config.md):
    configd adds or removes the entry in its one thread, comparing models as
    models ("llama3" is "llama3:latest"), and answers once it is committed.
    So changes from any number of replicas, at the same instant, all keep
    theirs: there is no read-modify-write here to lose one.
    =========================================================================
*/

#ifndef INGRESS_REQUIRED_H_INCLUDED
#define INGRESS_REQUIRED_H_INCLUDED

#include "ingress_requester.h"

//  Changes in flight at most; beyond, a change is refused at once
#define INGRESS_REQUIRED_MAX 256

typedef struct _ingress_required_t ingress_required_t;
typedef struct _ingress_required_job_t ingress_required_job_t;

//  The end of a change: status 0 when committed (or when nothing had to
//  change), else the HTTP status for the client and why.
typedef void (ingress_required_fn) (void *arg, int status, const char *message);

//  Writes through configd (the requester stays the caller's). timeout_ms
//  bounds each request to configd.
ingress_required_t *
    ingress_required_new (ingress_requester_t *configd, int64_t timeout_ms);

//  Destroys; accepts NULL. Changes in flight are dropped without callback.
void
    ingress_required_destroy (ingress_required_t **self_p);

//  Adds (add true) or removes model in the frontend's RequiredModels. The
//  callback runs once, later. NULL when too many changes are in flight.
ingress_required_job_t *
    ingress_required_change (ingress_required_t *self, const char *frontend, const char *model,
                             bool add, ingress_required_fn *callback, void *arg);

//  Forgets the caller: the callback will not run (a write already sent to
//  configd still completes). Sets *job_p to NULL; accepts a NULL *job_p.
void
    ingress_required_cancel (ingress_required_t *self, ingress_required_job_t **job_p);

//  Self test
void
    ingress_required_test (bool verbose);

#endif

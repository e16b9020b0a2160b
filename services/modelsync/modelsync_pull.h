/*  =========================================================================
    modelsync_pull - the pulls modelsync runs: records, limits, retries

    Bookkeeping only; the owner sends the /api/pull requests. A pull is
    wanted for a model on a backend (by the RequiredModels sync or a
    PULL-START job), waits until the limits allow it (at most N running on
    one backend, M over all: Models.PullsPerBackend, Models.MaxPulls; the
    oldest wanted starts first), runs, and ends with success or an error.
    Wanting a model already waiting or running joins that pull (a job then
    names it). A failed pull backs off before the sync may want it again:
    Models.PullRetryMs, doubled on each failure in a row, up to 64 times.

    Progress is published as PULL records (models.md): at most one every
    250 ms per pull, plus every change of Status and the end. Finished
    pulls stay in the records for 60 s, so a follower that lost a PULL
    learns the end from STATE.
    =========================================================================
*/

#ifndef MODELSYNC_PULL_H_INCLUDED
#define MODELSYNC_PULL_H_INCLUDED

#include "of_classes.h"

#define MODELSYNC_PULL_PUBLISH_MS 250       //  progress of one pull, at most this often
#define MODELSYNC_PULL_KEEP_MS    60000     //  finished pulls stay in STATE this long
#define MODELSYNC_PULL_BACKOFF_MAX 64       //  the retry wait grows to this many times the first

typedef struct _modelsync_pulls_t modelsync_pulls_t;
typedef struct _modelsync_pull_t modelsync_pull_t;

typedef struct {
    //  The pull may start: send /api/pull and report with _progress and _end
    void (*start) (void *arg, modelsync_pull_t *pull);
    //  Publish this PULL record (taken over)
    void (*publish) (void *arg, json_t **record_p);
    //  The running pull is dropped: abandon its request (may be NULL)
    void (*stop) (void *arg, modelsync_pull_t *pull);
} modelsync_pulls_fn_t;

//  Creates the table with its limits.
modelsync_pulls_t *
    modelsync_pulls_new (int per_backend, int overall, int64_t retry_ms,
                         const modelsync_pulls_fn_t *fn, void *arg);

//  Destroys the table; accepts NULL. The owner has dropped its requests.
void
    modelsync_pulls_destroy (modelsync_pulls_t **self_p);

//  Wants the model on the backend: joins the pull of that model waiting or
//  running there (job, if not NULL, then names it), else queues a new one.
//  A new pull is published at once (Status "", not Done), so subscribers
//  know it is on its way. Returns the pull, or NULL when the table is full.
//  Call _dispatch after.
modelsync_pull_t *
    modelsync_pulls_want (modelsync_pulls_t *self, const char *backend, const char *model,
                          const char *job, int64_t now);

//  True if a pull of the model (any spelling) waits, runs, or backs off
//  after a failure on the backend: the sync must not want it now.
bool
    modelsync_pulls_pending (modelsync_pulls_t *self, const char *backend, const char *model,
                             int64_t now);

//  True if a pull of the model waits or runs on the backend.
bool
    modelsync_pulls_active (modelsync_pulls_t *self, const char *backend, const char *model);

//  Starts the waiting pulls the limits allow, oldest first.
void
    modelsync_pulls_dispatch (modelsync_pulls_t *self, int64_t now);

//  One line of the pull's progress stream.
void
    modelsync_pulls_progress (modelsync_pulls_t *self, modelsync_pull_t *pull, const char *line,
                              size_t size, int64_t now);

//  The pull is over: error NULL for success (unless its stream carried an
//  error line). Publishes the end, frees its slot; call _dispatch after.
void
    modelsync_pulls_end (modelsync_pulls_t *self, modelsync_pull_t *pull, const char *error,
                         int64_t now);

//  Ends the pull of the model on the backend, if one waits or runs, with the
//  error given (a delete of the model overtook it); no backoff follows.
void
    modelsync_pulls_cancel (modelsync_pulls_t *self, const char *backend, const char *model,
                            const char *reason, int64_t now);

//  Forgets every pull of a backend (removed, inactive, no longer Ollama),
//  stopping the running ones.
void
    modelsync_pulls_drop_backend (modelsync_pulls_t *self, const char *backend);

//  Drops finished records past their time. Returns the milliseconds until
//  the next backoff ends (the sync may want again then), or -1.
int64_t
    modelsync_pulls_tick (modelsync_pulls_t *self, int64_t now);

//  The records for STATE: pulls waiting or running, and finished within
//  MODELSYNC_PULL_KEEP_MS. Caller owns.
json_t *
    modelsync_pulls_records (modelsync_pulls_t *self, int64_t now);

//  Pulls running on a backend (NULL: over all).
size_t
    modelsync_pulls_running (modelsync_pulls_t *self, const char *backend);

//  Distinct jobs named by pulls not finished.
size_t
    modelsync_pulls_jobs (modelsync_pulls_t *self);

//  A pull's backend and model (as first asked).
const char *
    modelsync_pull_backend (modelsync_pull_t *pull);
const char *
    modelsync_pull_model (modelsync_pull_t *pull);

//  The error line the pull's stream carried, or NULL.
const char *
    modelsync_pull_error (modelsync_pull_t *pull);

//  The owner's handle on a pull (its request); NULL at first.
void *
    modelsync_pull_handle (modelsync_pull_t *pull);
void
    modelsync_pull_set_handle (modelsync_pull_t *pull, void *handle);

//  Self test
void
    modelsync_pull_test (bool verbose);

#endif

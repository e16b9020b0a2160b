/*  =========================================================================
    sched_sessions - sticky sessions: (frontend, client key) to backend

    A session pins one client of one frontend to one backend for a sliding
    expiry (StickySessionExpirationMs from the last use). Sessions live only
    here, in the scheduler, so every ingress replica sees the same one. The
    table is bounded: when full, the least recently used session goes.

    Each session is on three lists, all in order of last use: the whole table
    (for eviction), its frontend's (for expiry: within one frontend every
    session has the same expiry, so the oldest comes first) and its backend's
    (to invalidate a backend's sessions without scanning the table).
    =========================================================================
*/

#ifndef SCHED_SESSIONS_H_INCLUDED
#define SCHED_SESSIONS_H_INCLUDED

#include "of_classes.h"

typedef struct _sched_sessions_t sched_sessions_t;

//  Creates an empty table of at most max sessions (max >= 1).
sched_sessions_t *
    sched_sessions_new (size_t max);

//  Destroys the table; accepts NULL.
void
    sched_sessions_destroy (sched_sessions_t **self_p);

//  The backend (borrowed) pinned for (frontend, key), or NULL. A session whose
//  expiry has passed at now is dropped and not returned. Does not extend it.
const char *
    sched_sessions_lookup (sched_sessions_t *self, const char *frontend, const char *key,
                           int64_t now);

//  Pins (frontend, key) to backend until now + expiry_ms: creates the session,
//  moves it to another backend, or extends it. Evicts the least recently used
//  session when the table is full.
void
    sched_sessions_pin (sched_sessions_t *self, const char *frontend, const char *key,
                        const char *backend, int64_t now, int64_t expiry_ms);

//  Drops the sessions of a frontend on a backend; frontend NULL: on every
//  frontend; backend NULL: on every backend. Returns how many went.
size_t
    sched_sessions_drop (sched_sessions_t *self, const char *frontend, const char *backend);

//  Drops the sessions expired at now; returns how many went. Costs what it
//  drops plus one look per frontend.
size_t
    sched_sessions_expire (sched_sessions_t *self, int64_t now);

//  Sessions in the table, on one backend, of one frontend.
size_t
    sched_sessions_size (sched_sessions_t *self);
size_t
    sched_sessions_of_backend (sched_sessions_t *self, const char *backend);
size_t
    sched_sessions_of_frontend (sched_sessions_t *self, const char *frontend);

//  The sessions alive at now that match frontend, backend and client key
//  (NULL: any), most recently used first: at most limit records {"Frontend",
//  "Backend", "Key", "ExpiresInMs"} in a new array (caller owns); *total
//  counts every match.
json_t *
    sched_sessions_list (sched_sessions_t *self, const char *frontend, const char *backend,
                         const char *key, int64_t now, size_t limit, size_t *total);

//  Drops the sessions that match frontend, backend and client key (NULL:
//  any); returns how many went.
size_t
    sched_sessions_forget (sched_sessions_t *self, const char *frontend, const char *backend,
                           const char *key);

//  Sessions evicted because the table was full, since the start.
uint64_t
    sched_sessions_evicted (sched_sessions_t *self);

//  Self test
void
    sched_sessions_test (bool verbose);

#endif

/*  =========================================================================
    ingress_access - the access log: one JSON line per request

    Off by default. AccessLog.SampleEvery 1 writes a line for every proxied
    request, N for one in N (counted, so exactly one in N, not a random
    draw), to AccessLog.File (appended) or to standard output. A line says
    when, which ingress, the request id, frontend, backend, route, kind,
    model, status, outcome (and the refusal's reason), bytes, tokens, time
    to first byte, total time and queue wait. Bodies only when the
    frontend's LogRequestBody or LogResponseBody says so (each cut at
    INGRESS_ACCESS_BODY_MAX bytes).

    Lines are written to a stdio buffer and flushed every
    INGRESS_ACCESS_FLUSH_MS (and at exit), so a busy ingress makes one write
    per interval, not one per request; `tail -f` sees a line within that time.
    =========================================================================
*/

#ifndef INGRESS_ACCESS_H_INCLUDED
#define INGRESS_ACCESS_H_INCLUDED

#include "of_classes.h"
#include "ingress_metrics.h"
#include <event2/event.h>

#define INGRESS_ACCESS_BODY_MAX  65536
#define INGRESS_ACCESS_FLUSH_MS  250

typedef struct _ingress_access_t ingress_access_t;

//  Opens the log the settings name. NULL with the reason in error when the
//  file cannot be opened; NULL with error "" when the log is off.
ingress_access_t *
    ingress_access_new (struct event_base *base, of_settings_t *settings, char *error,
                        size_t size);

//  Flushes and closes; accepts NULL.
void
    ingress_access_destroy (ingress_access_t **self_p);

//  True if the next request is to be logged (counts it for the sampling).
bool
    ingress_access_wanted (ingress_access_t *self);

//  Writes the line of a request that ended; frontend and backend are names
//  ("" when none).
void
    ingress_access_write (ingress_access_t *self, const ingress_report_t *report,
                          const char *frontend, const char *backend);

//  Self test
void
    ingress_access_test (bool verbose);

#endif

/*  =========================================================================
    ingress_metrics - this ingress's own traffic, counted for Prometheus

    Counters and histograms of the requests this process served: by
    frontend, backend, route kind and outcome; refusals with their reason;
    time to first byte, total time and queue wait; tokens and bytes (read
    from each call's ingress_meter). The ingress runs one loop per process,
    so the counters are plain integers, with no lock and no atomic. They sit
    in arrays indexed by small integers: frontends and backends are interned
    when the config names them (and at most once more, when a lease names a
    backend this copy has not seen yet), and a call resolves its frontend
    and backend to their index once; recording a call is then a few
    increments, never a string built or a byte allocated. Text is made only
    when /metrics is scraped (ingress_metrics_write).

    Label sets are bounded: frontends and backends are those of the config
    (at most INGRESS_METRICS_NAMES_MAX each; any more are counted under
    "_other"), route kinds and outcomes and reasons are fixed lists. No
    client address, model name asked for, or secret is ever a label.
    =========================================================================
*/

#ifndef INGRESS_METRICS_H_INCLUDED
#define INGRESS_METRICS_H_INCLUDED

#include "of_classes.h"
#include "ingress_meter.h"

#define INGRESS_METRICS_NAMES_MAX 1024

typedef struct _ingress_metrics_t ingress_metrics_t;

//  What is known of a call, filled in as it goes, and how it ended: what
//  the metrics and the access log read. A plain record inside each call;
//  the strings are borrowed for the call's life.
typedef struct {
    const char *id;                 //  the request id
    const char *route;              //  the route's path
    const char *kind;               //  completions, embeddings, other
    const char *model;              //  the model asked for, or NULL
    int frontend;                   //  ingress_metrics_frontend's index, -1 when none
    int backend;                    //  ingress_metrics_backend's index, -1 when none granted
    const char *outcome;            //  the lease outcome: ok, rejected, backend_error,
                                    //  connect_failure, timeout, client_gone
    char reason [64];               //  why the scheduler refused it (DENY's Error), or ""
    int status;                     //  the HTTP status the client got, 0 when none
    int64_t queue_ms;               //  time waited for the lease, -1 when none
    const char *frontend_name;      //  the frontend's Identifier
    char backend_name [OFP_IDENTIFIER_MAX + 1];     //  the granted backend, or ""
    bool logged;                    //  the access log writes this call (sampled at its start)
    json_t *request_body;           //  to log (the frontend's LogRequestBody), or NULL
    ingress_meter_t meter;          //  the response
    const char *key;                //  the client API key's Identifier, or NULL
} ingress_report_t;

//  Creates the counters (all zero).
ingress_metrics_t *
    ingress_metrics_new (void);

//  Destroys them; accepts NULL.
void
    ingress_metrics_destroy (ingress_metrics_t **self_p);

//  The stable index of a frontend or backend, interning it if new.
int
    ingress_metrics_frontend (ingress_metrics_t *self, const char *identifier);
int
    ingress_metrics_backend (ingress_metrics_t *self, const char *identifier);

//  Interns the names a config change brings (the clone's change handler:
//  identifier's object of kind is present, or deleted; after a snapshot,
//  kind OF_KIND_COUNT: every frontend and backend of records, borrowed).
void
    ingress_metrics_config (ingress_metrics_t *self, of_records_t *records, of_kind_t kind,
                            const char *identifier, bool present);

//  The name behind an index ("" for -1).
const char *
    ingress_metrics_frontend_name (ingress_metrics_t *self, int index);
const char *
    ingress_metrics_backend_name (ingress_metrics_t *self, int index);

//  Records a call that ended.
void
    ingress_metrics_record (ingress_metrics_t *self, const ingress_report_t *report);

//  Records a request refused before it became a call (its status says why;
//  wire: refused by the HTTP layer, before any route was read).
void
    ingress_metrics_refused (ingress_metrics_t *self, const char *kind, int status, bool wire);

//  The reason label of such a refusal (static text).
const char *
    ingress_metrics_reason (int status, bool wire);

//  Appends the traffic series in the text exposition format 0.0.4.
void
    ingress_metrics_write (ingress_metrics_t *self, struct evbuffer *out);

//  Appends a label value, escaped for the exposition format.
void
    ingress_metrics_escape (struct evbuffer *out, const char *value);

//  Self test
void
    ingress_metrics_test (bool verbose);

#endif

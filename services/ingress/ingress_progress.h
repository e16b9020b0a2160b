/*  =========================================================================
    ingress_progress - one Ollama pull progress stream merged from several

    A pull through a frontend runs on each of its Ollama backends; modelsync
    reports each one (PULL records, models.md). The client sees one stream in
    Ollama's NDJSON format, as if one server pulled: "pulling manifest", then
    per layer "pulling <digest12>" with completed and total summed over the
    backends (completed never goes back), then each later stage ("verifying
    sha256 digest", "writing manifest") once every backend has reached it,
    and at the end {"status":"success"} only when every backend has the
    model, else one error line naming the backends that failed and why.
    Pure: records in, lines out.
    =========================================================================
*/

#ifndef INGRESS_PROGRESS_H_INCLUDED
#define INGRESS_PROGRESS_H_INCLUDED

#include "of_classes.h"
#include <event2/buffer.h>

typedef struct _ingress_progress_t ingress_progress_t;

//  Follows the pull of model on backends (an array of Identifiers, copied).
ingress_progress_t *
    ingress_progress_new (const char *model, json_t *backends);

//  Destroys; accepts NULL.
void
    ingress_progress_destroy (ingress_progress_t **self_p);

//  The first line ({"status":"pulling manifest"}), appended to out.
void
    ingress_progress_begin (ingress_progress_t *self, struct evbuffer *out);

//  Applies one Pull record; appends the lines it makes to out (out may be
//  NULL). Records of other backends, and any after a backend's Done, are
//  ignored. True if the record was taken.
bool
    ingress_progress_apply (ingress_progress_t *self, json_t *pull, struct evbuffer *out);

//  True once every backend is Done.
bool
    ingress_progress_done (ingress_progress_t *self);

//  The backends not Done yet: a new array of Identifiers (caller owns).
json_t *
    ingress_progress_pending (ingress_progress_t *self);

//  Ends the stream: appends {"status":"success"} or {"error": ...} to out
//  (may be NULL) and writes the error text into error (when not NULL).
//  True on success. Backends not Done count as failed with reason.
bool
    ingress_progress_end (ingress_progress_t *self, const char *reason, struct evbuffer *out,
                          char *error, size_t size);

//  Self test
void
    ingress_progress_test (bool verbose);

#endif

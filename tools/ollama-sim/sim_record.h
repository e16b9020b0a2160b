/*  =========================================================================
    sim_record - the last exchange on one route: what came in, what went out

    The request is kept as raw bytes (method, path, query, headers, body) and
    the response as the exact body bytes the backend wrote, with its status
    and how it ended, so a test can compare what a proxy delivered with what
    the backend sent, byte for byte. Both bodies are kept up to a bound. JSON
    is made only when the control endpoint asks, so recording stays cheap
    under load. A response is recorded only while its request is still the
    last one: each request gets a tag, and bytes of an older tag are ignored.
    =========================================================================
*/

#ifndef SIM_RECORD_H_INCLUDED
#define SIM_RECORD_H_INCLUDED

#include "sim_req.h"
#include <jansson.h>
#include <stdint.h>

//  Longest request body and response body kept
#define SIM_RECORD_BODY_MAX (1024 * 1024)

typedef struct _sim_record_t sim_record_t;

//  Creates an empty record
sim_record_t *
    sim_record_new (void);

//  Destroys it; accepts NULL
void
    sim_record_destroy (sim_record_t **self_p);

//  Replaces the record with a new request, known from now on by tag
void
    sim_record_request (sim_record_t *self, sim_req_t *req, uint64_t tag);

//  Adds a response event of the request with tag (ignored for an older one)
void
    sim_record_response (sim_record_t *self, uint64_t tag, sim_tee_t event, const char *data,
                         size_t size);

//  The record as JSON: {"method","path","query","headers","body_size","body",
//  "response": {"status","state","size","body_base64"}}, or null when empty
json_t *
    sim_record_json (sim_record_t *self);

//  Forgets the request
void
    sim_record_clear (sim_record_t *self);

#endif

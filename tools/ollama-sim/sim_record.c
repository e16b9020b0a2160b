/*  =========================================================================
    sim_record - the last exchange on one route: what came in, what went out
    =========================================================================
*/

#include "sim_record.h"
#include <assert.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define S_HEADER_NAME_MAX 256

//  A growing byte buffer
typedef struct {
    char *data;
    size_t size, capacity;
} s_bytes_t;

struct _sim_record_t {
    uint64_t tag;
    bool recorded;
    s_bytes_t request;          //  method, path, query, header names and values
                                //  (each NUL-terminated), then the body
    size_t headers;
    size_t body_size;           //  the request body's full size
    int status;                 //  0 until the response starts
    sim_tee_t state;            //  SIM_TEE_HEAD while it streams, then END or ABORT
    s_bytes_t response;         //  its body, up to SIM_RECORD_BODY_MAX
    size_t response_size;       //  its full size
};

static void
s_add (s_bytes_t *bytes, const char *data, size_t size)
{
    if (size == 0)
        return;
    if (bytes->size + size > bytes->capacity) {
        size_t capacity = (bytes->size + size) * 2;
        char *grown = realloc (bytes->data, capacity);
        assert (grown);
        bytes->data = grown;
        bytes->capacity = capacity;
    }
    memcpy (bytes->data + bytes->size, data, size);
    bytes->size += size;
}

sim_record_t *
sim_record_new (void)
{
    sim_record_t *self = calloc (1, sizeof *self);
    assert (self);
    return self;
}

void
sim_record_destroy (sim_record_t **self_p)
{
    assert (self_p);
    sim_record_t *self = *self_p;
    if (!self)
        return;
    free (self->request.data);
    free (self->response.data);
    free (self);
    *self_p = NULL;
}

void
sim_record_request (sim_record_t *self, sim_req_t *req, uint64_t tag)
{
    evhtp_request_t *request = sim_req_evhtp (req);
    const char *method = htparser_get_methodstr_m (sim_req_method (req));
    if (!method)
        method = "UNKNOWN";
    const char *path = sim_req_path (req);
    size_t size;
    const char *body = sim_req_body_raw (req, &size);
    const char *query = request->uri && request->uri->query_raw
                      ? (const char *) request->uri->query_raw: "";
    if (size && strncmp (query, body, size) == 0)
        query = "";     //  evhtp puts form-encoded bodies there too
    self->tag = tag;
    self->request.size = 0;
    self->headers = 0;
    s_add (&self->request, method, strlen (method) + 1);
    s_add (&self->request, path, strlen (path) + 1);
    s_add (&self->request, query, strlen (query) + 1);
    evhtp_kv_t *header;
    TAILQ_FOREACH (header, request->headers_in, next) {
        s_add (&self->request, header->key, header->klen);
        s_add (&self->request, "", 1);
        s_add (&self->request, header->val, header->vlen);
        s_add (&self->request, "", 1);
        self->headers++;
    }
    self->body_size = size;
    s_add (&self->request, body, size > SIM_RECORD_BODY_MAX? SIM_RECORD_BODY_MAX: size);
    self->status = 0;
    self->state = SIM_TEE_HEAD;
    self->response.size = 0;
    self->response_size = 0;
    self->recorded = true;
}

void
sim_record_response (sim_record_t *self, uint64_t tag, sim_tee_t event, const char *data,
                     size_t size)
{
    if (!self->recorded || tag != self->tag || self->state != SIM_TEE_HEAD)
        return;
    if (event == SIM_TEE_HEAD)
        self->status = (int) size;
    else
    if (event == SIM_TEE_DATA) {
        size_t room = SIM_RECORD_BODY_MAX - self->response.size;
        s_add (&self->response, data, size < room? size: room);
        self->response_size += size;
    }
    else
        self->state = event;
}

static json_t *
s_response_json (sim_record_t *self)
{
    if (self->status == 0)
        return json_null ();
    char *text = malloc (self->response.size / 3 * 4 + 8);
    assert (text);
    EVP_EncodeBlock ((unsigned char *) text, (const unsigned char *) self->response.data,
                     (int) self->response.size);
    const char *state = self->state == SIM_TEE_END? "complete":
                        self->state == SIM_TEE_ABORT? "aborted": "streaming";
    json_t *json = json_pack ("{sisssIsbss}", "status", self->status, "state", state,
                              "size", (json_int_t) self->response_size,
                              "truncated", self->response_size > self->response.size,
                              "body_base64", text);
    free (text);
    return json;
}

json_t *
sim_record_json (sim_record_t *self)
{
    if (!self->recorded)
        return json_null ();
    const char *p = self->request.data;
    const char *method = p;
    p += strlen (p) + 1;
    const char *path = p;
    p += strlen (p) + 1;
    const char *query = p;
    p += strlen (p) + 1;
    json_t *headers = json_object ();
    for (size_t i = 0; i < self->headers; i++) {
        char key [S_HEADER_NAME_MAX];
        snprintf (key, sizeof key, "%s", p);
        for (char *c = key; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
        p += strlen (p) + 1;
        json_t *value = json_string (p);
        if (value)
            json_object_set_new (headers, key, value);
        p += strlen (p) + 1;
    }
    json_t *body = json_stringn (p, (size_t) (self->request.data + self->request.size - p));
    return json_pack ("{sssssssosIsoso}", "method", method, "path", path, "query", query,
                      "headers", headers, "body_size", (json_int_t) self->body_size,
                      "body", body? body: json_null (), "response", s_response_json (self));
}

void
sim_record_clear (sim_record_t *self)
{
    self->recorded = false;
}

/*  =========================================================================
    ingress_admit - whether a request gets in: its frontend, its key, its body
    =========================================================================
*/

#include "ingress_admit.h"
#include "ingress_match.h"
#include "ingress_reply.h"
#include "ingress_validate.h"

void
ingress_admit_headers (evhtp_request_t *request)
{
    //  Every body here is JSON, whatever the client labels it (curl -d says
    //  form-urlencoded). Left as a form, evhtp would parse the body into the
    //  query string, which would then travel on to the backend.
    evhtp_header_t *type = evhtp_headers_find_header (request->headers_in, "Content-Type");
    if (type && type->val
        && strncasecmp (type->val, "application/x-www-form-urlencoded", 33) == 0) {
        evhtp_header_rm_and_free (request->headers_in, type);
        evhtp_headers_add_header (request->headers_in,
                                  evhtp_header_new ("Content-Type", "application/json", 0, 0));
    }
}

const of_frontend_t *
ingress_admit_frontend (of_clone_t *clone, ingress_keys_t *keys, of_exchange_t *exchange,
                        const of_key_t **key)
{
    *key = NULL;
    if (!of_clone_ready (clone)) {
        ingress_reply_error (exchange, 503, "not_ready", 1000,
                             "ollamaflow has no configuration yet: configd has not answered");
        return NULL;
    }
    const char *host = of_exchange_header (exchange, "Host");
    const of_frontend_t *frontend = ingress_match_frontend (of_clone_records (clone), host);
    if (!frontend) {
        ingress_reply_error (exchange, 404, "frontend_not_found", -1,
                             "no active frontend serves host '%s'", host ? host : "");
        return NULL;
    }
    if (evhtp_request_get_proto (of_exchange_request (exchange)) == EVHTP_PROTO_10
        && frontend->block_http10) {
        ingress_reply_error (exchange, 505, "http_version_not_supported", -1,
                             "HTTP/1.0 is not accepted on frontend '%s' (BlockHttp10): use "
                             "HTTP/1.1", frontend->identifier);
        return NULL;
    }
    return ingress_keys_admit (keys, exchange, frontend, key) ? frontend : NULL;
}

json_t *
ingress_admit_body (of_exchange_t *exchange, const of_frontend_t *frontend,
                    const ingress_route_t *route)
{
    size_t size;
    const char *raw = of_exchange_body (exchange, &size);
    json_int_t limit = frontend->max_request_body_size;
    if ((json_int_t) size > limit) {
        ingress_reply_error (exchange, 413, "request_too_large", -1,
                             "request body of %zu bytes is over this frontend's limit of %lld "
                             "(MaxRequestBodySize)", size, (long long) limit);
        return NULL;
    }
    json_error_t jerr;
    json_t *body = size ? json_loadb (raw, size, 0, &jerr) : NULL;
    if (!json_is_object (body)) {
        if (size == 0)
            ingress_reply_error (exchange, 400, "invalid_request", -1, "missing request body");
        else if (!body)
            ingress_reply_error (exchange, 400, "invalid_request", -1,
                                 "invalid JSON in the request body: %s (at byte %d)", jerr.text,
                                 jerr.position);
        else
            ingress_reply_error (exchange, 400, "invalid_request", -1,
                                 "the request body must be a JSON object");
        json_decref (body);
        return NULL;
    }
    //  The one check of the fields' types, before anything reads them
    char why [256];
    if (!ingress_validate_body (ingress_route_kind (route), body, why, sizeof why)) {
        ingress_reply_error (exchange, 400, "invalid_request", -1, "%s", why);
        json_decref (body);
        return NULL;
    }
    return body;
}

/*  =========================================================================
    ingress_admin_reply - the admin API's answers, in OllamaFlow's shapes
    =========================================================================
*/

#include "ingress_admin_reply.h"
#include "ingress_reply.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_DESCRIPTION_MAX 1024

//  OllamaFlow's ApiErrorEnum names and their fixed messages
static const struct {
    int status;
    const char *error;
    const char *message;
} s_errors [] = {
    {400, "BadRequest", "We were unable to discern your request.  Please check your URL, query, "
                        "and request body."},
    {401, "AuthenticationFailed", "Your authentication material was not accepted."},
    {403, "AuthorizationFailed", "Your authentication material was accepted, but you are not "
                                 "authorized to perform this request."},
    {404, "NotFound", "The requested object was not found."},
    {405, "BadRequest", "We were unable to discern your request.  Please check your URL, query, "
                        "and request body."},
    {409, "Conflict", "Operation failed as it would create a conflict with an existing resource."},
    {413, "TooLarge", "Your request was too large."},
    {503, "ServiceUnavailable", "A dependency of this service is not available."},
    {0, "InternalError", "An internal error has been encountered."},
};

static size_t
s_error_index (int status)
{
    size_t index = 0;
    while (s_errors [index].status && s_errors [index].status != status)
        index++;
    return index;
}

const char *
ingress_admin_error_name (int status)
{
    return s_errors [s_error_index (status)].error;
}

void
ingress_admin_error (of_exchange_t *exchange, int status, const char *error, const char *format,
                     ...)
{
    char description [S_DESCRIPTION_MAX];
    va_list args;
    va_start (args, format);
    vsnprintf (description, sizeof description, format, args);
    va_end (args);
    size_t index = s_error_index (status);
    json_t *body = json_pack ("{s:s, s:s, s:i, s:s}", "Error", error ? error : s_errors [index].error,
                              "Message", s_errors [index].message, "StatusCode", status,
                              "Description", description);
    if (status == 401)
        of_exchange_add_header (exchange, "WWW-Authenticate", "Bearer realm=\"ollamaflow admin\"");
    ingress_admin_send (exchange, status, body);
}

//  OllamaFlow's serializer leaves null members out
static void
s_strip_nulls (json_t *value)
{
    if (json_is_array (value)) {
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item)
            s_strip_nulls (item);
        return;
    }
    if (!json_is_object (value))
        return;
    const char *key;
    json_t *item;
    void *tmp;
    json_object_foreach_safe (value, tmp, key, item) {
        if (json_is_null (item))
            json_object_del (value, key);
        else
            s_strip_nulls (item);
    }
}

void
ingress_admin_send (of_exchange_t *exchange, int status, json_t *body)
{
    if (!body) {
        of_exchange_reply (exchange, status, NULL, NULL, 0);
        return;
    }
    s_strip_nulls (body);
    ingress_reply_dump (exchange, status, body, JSON_INDENT (2) | JSON_ENCODE_ANY);
}

void
ingress_admin_send_page (of_exchange_t *exchange, json_t *page, size_t total)
{
    char count [24];
    snprintf (count, sizeof count, "%zu", total);
    of_exchange_add_header (exchange, "X-Total-Count", count);
    ingress_admin_send (exchange, 200, page);
}

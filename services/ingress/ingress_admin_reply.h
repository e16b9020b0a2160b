/*  =========================================================================
    ingress_admin_reply - the admin API's answers: JSON as OllamaFlow writes
    it (pretty, PascalCase, nulls left out) and errors in OllamaFlow's shape

        {"Error": "NotFound", "Message": "The requested object was not found.",
         "StatusCode": 404, "Description": "no backend with Identifier 'x'"}

    Error and Message are OllamaFlow's (a fixed text per error name), so its
    clients keep working; Description says what exactly was wrong (for a
    refused field: the field and its rule). Unlike OllamaFlow, StatusCode
    is always the HTTP status.
    =========================================================================
*/

#ifndef INGRESS_ADMIN_REPLY_H_INCLUDED
#define INGRESS_ADMIN_REPLY_H_INCLUDED

#include "of_exchange.h"
#include <jansson.h>

//  The admin API's limit on a request body
#define INGRESS_ADMIN_BODY_MAX (1024 * 1024)

//  OllamaFlow's error name for a status: BadRequest, AuthenticationFailed,
//  AuthorizationFailed, NotFound, Conflict, TooLarge, ... InternalError.
const char *
    ingress_admin_error_name (int status);

//  Answers an error; error NULL takes the name from the status.
void
    ingress_admin_error (of_exchange_t *exchange, int status, const char *error,
                         const char *format, ...) __attribute__ ((format (printf, 4, 5)));

//  Answers status with body (taken over; NULL: no body), pretty-printed,
//  null members left out.
void
    ingress_admin_send (of_exchange_t *exchange, int status, json_t *body);

//  Answers 200 with one page of a list, and X-Total-Count: total.
void
    ingress_admin_send_page (of_exchange_t *exchange, json_t *page, size_t total);

#endif

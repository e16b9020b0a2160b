/*  =========================================================================
    ingress_match - what a request says about where it should go: its
    frontend (by Host), its client identity (for sticky sessions) and the
    labels it requires (X-OllamaFlow-Label)
    =========================================================================
*/

#ifndef INGRESS_MATCH_H_INCLUDED
#define INGRESS_MATCH_H_INCLUDED

#include "of_classes.h"
#include "of_exchange.h"

#define INGRESS_LABEL_HEADER "X-OllamaFlow-Label"
//  Identities longer than this are replaced by their SHA-256 in hex
#define INGRESS_STICKY_KEY_MAX 128

//  The frontend serving a Host header: an active frontend whose Hostname
//  equals the host (without port, ignoring case), else an active "*" one.
//  Borrowed from records (of_clone_records), or NULL.
const of_frontend_t *
    ingress_match_frontend (of_records_t *records, const char *host);

//  The client's identity: the first present of the sticky headers, else the
//  client's address (the first X-Forwarded-For address when the peer is a
//  trusted proxy). Writes it into dest (at most INGRESS_STICKY_KEY_MAX + 1).
void
    ingress_match_client (of_exchange_t *exchange, char **sticky_headers, char **trusted_proxies,
                          char *dest, size_t size);

//  The labels the request requires: every X-OllamaFlow-Label header, each a
//  comma-separated list. Returns a new array of distinct strings, or NULL with
//  a reason when there are too many or one is too long.
json_t *
    ingress_match_labels (of_exchange_t *exchange, char *error, size_t size);

//  Self test
void
    ingress_match_test (bool verbose);

#endif

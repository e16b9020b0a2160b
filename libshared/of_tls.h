/*  =========================================================================
    of_tls - TLS to backends: one client context, one connection's settings,
    and what went wrong in a handshake

    Certificates are verified by default, against OpenSSL's default trust
    store, which the standard SSL_CERT_FILE and SSL_CERT_DIR variables
    replace (a private CA for the fleet: SSL_CERT_FILE=/etc/ollamaflow/ca.pem).
    A connection checks the name it was asked for: the certificate's DNS name
    (and SNI) for a hostname, its IP address for a numeric address.
    =========================================================================
*/

#ifndef OF_TLS_H_INCLUDED
#define OF_TLS_H_INCLUDED

#include <event2/bufferevent.h>
#include <openssl/ssl.h>
#include <stddef.h>

//  A client context that verifies peers, TLS 1.2 at least; NULL if OpenSSL
//  cannot make one or load the trust store. Free it with SSL_CTX_free.
SSL_CTX *
    of_tls_client_new (void);

//  A connection's SSL for host (a name or a numeric address), with SNI and
//  the name check set; NULL on failure. Owned by the caller (or by the
//  bufferevent it is given to).
SSL *
    of_tls_client_ssl (SSL_CTX *tls, const char *host);

//  What went wrong on a TLS bufferevent, in a few words: "tls: certificate
//  verify failed: <OpenSSL's reason>", or "tls: <reason>"; "" when TLS saw
//  nothing wrong (or bev is not TLS). Empties the bufferevent's error queue.
void
    of_tls_error (struct bufferevent *bev, char *dest, size_t size);

//  Self test
void
    of_tls_test (bool verbose);

#endif

/*  =========================================================================
    of_tls - TLS to backends
    =========================================================================
*/

#include "of_classes.h"
#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

SSL_CTX *
of_tls_client_new (void)
{
    SSL_CTX *tls = SSL_CTX_new (TLS_client_method ());
    if (!tls)
        return NULL;
    SSL_CTX_set_min_proto_version (tls, TLS1_2_VERSION);
    SSL_CTX_set_verify (tls, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_default_verify_paths (tls) != 1) {
        SSL_CTX_free (tls);
        return NULL;
    }
    return tls;
}

SSL *
of_tls_client_ssl (SSL_CTX *tls, const char *host)
{
    assert (tls && host);
    SSL *ssl = SSL_new (tls);
    if (!ssl)
        return NULL;
    unsigned char binary [sizeof (struct in6_addr)];
    bool literal = inet_pton (AF_INET, host, binary) == 1 || inet_pton (AF_INET6, host, binary) == 1;
    int rc = literal ? X509_VERIFY_PARAM_set1_ip_asc (SSL_get0_param (ssl), host)
                     : SSL_set_tlsext_host_name (ssl, host) == 1 && SSL_set1_host (ssl, host) == 1;
    if (rc != 1) {
        SSL_free (ssl);
        return NULL;
    }
    return ssl;
}

void
of_tls_error (struct bufferevent *bev, char *dest, size_t size)
{
    assert (dest && size);
    *dest = 0;
    SSL *ssl = bev ? bufferevent_openssl_get_ssl (bev) : NULL;
    if (!ssl)
        return;
    long verify = SSL_get_verify_result (ssl);
    unsigned long error = bufferevent_get_openssl_error (bev);
    const char *text = error ? ERR_reason_error_string (error) : NULL;
    if (verify != X509_V_OK)
        snprintf (dest, size, "tls: certificate verify failed: %s",
                  X509_verify_cert_error_string (verify));
    else if (error)
        snprintf (dest, size, "tls: %s", text ? text : "handshake failed");
    //  Leave nothing for the next connection to misread
    while (bufferevent_get_openssl_error (bev))
        ;
}

void
of_tls_test (bool verbose)
{
    (void) verbose;
    printf (" * of_tls: ");
    SSL_CTX *tls = of_tls_client_new ();
    assert (tls);
    assert (SSL_CTX_get_verify_mode (tls) == SSL_VERIFY_PEER);
    assert (SSL_CTX_get_min_proto_version (tls) == TLS1_2_VERSION);
    //  A name: SNI and the name check; an address: neither SNI nor a name
    SSL *ssl = of_tls_client_ssl (tls, "backend.example");
    assert (ssl && streq (SSL_get_servername (ssl, TLSEXT_NAMETYPE_host_name), "backend.example"));
    assert (streq (X509_VERIFY_PARAM_get0_host (SSL_get0_param (ssl), 0), "backend.example"));
    SSL_free (ssl);
    ssl = of_tls_client_ssl (tls, "127.0.0.1");
    assert (ssl && SSL_get_servername (ssl, TLSEXT_NAMETYPE_host_name) == NULL);
    char *ip = X509_VERIFY_PARAM_get1_ip_asc (SSL_get0_param (ssl));
    assert (ip && streq (ip, "127.0.0.1"));
    OPENSSL_free (ip);
    SSL_free (ssl);
    ssl = of_tls_client_ssl (tls, "::1");
    assert (ssl);
    SSL_free (ssl);
    //  Nothing to say about a bufferevent that is not TLS
    char reason [128] = "x";
    of_tls_error (NULL, reason, sizeof reason);
    assert (*reason == 0);
    SSL_CTX_free (tls);
    printf ("OK\n");
}

/*  =========================================================================
    ingress_tls - HTTPS for the ingress's own listener (Webserver.Ssl)

    OllamaFlow's Webserver.Ssl.Enable, with the certificate and key as PEM
    files (Webserver.Ssl.CertificateFile, Webserver.Ssl.PrivateKeyFile).
    TLS 1.2 at least; clients are not asked for certificates. The port then
    speaks only HTTPS.
    =========================================================================
*/

#ifndef INGRESS_TLS_H_INCLUDED
#define INGRESS_TLS_H_INCLUDED

#include "of_classes.h"
#include <evhtp.h>

typedef struct _ingress_tls_t ingress_tls_t;

//  Makes htp serve HTTPS with the settings' certificate chain and key, both
//  checked now (readable, PEM, the key matching the certificate). Returns
//  the TLS setup, which must outlive htp (destroy it after evhtp_free), or
//  NULL with the reason in error.
ingress_tls_t *
    ingress_tls_new (evhtp_t *htp, const of_settings_t *settings, char *error, size_t size);

//  Frees the TLS setup; accepts NULL.
void
    ingress_tls_destroy (ingress_tls_t **self_p);

#endif

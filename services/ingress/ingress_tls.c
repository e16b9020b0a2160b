/*  =========================================================================
    ingress_tls - HTTPS for the ingress's own listener (Webserver.Ssl)
    =========================================================================
*/

#include "ingress_tls.h"
#include <openssl/err.h>

//  How long a TLS session may be resumed, in seconds
#define S_SESSION_TIMEOUT_S 3600

struct _ingress_tls_t {
    evhtp_ssl_cfg_t config;     //  libevhtp keeps a pointer to it
};

//  OpenSSL's last reason for a failure, or what to say without one
static const char *
s_reason (const char *otherwise)
{
    unsigned long code = ERR_peek_last_error ();
    const char *reason = code ? ERR_reason_error_string (code) : NULL;
    ERR_clear_error ();
    return reason ? reason : otherwise;
}

//  Undoes a failed setup: htp must not keep a pointer to what is freed
static ingress_tls_t *
s_fail (evhtp_t *htp, ingress_tls_t **self_p)
{
    htp->ssl_cfg = NULL;
    ingress_tls_destroy (self_p);
    return NULL;
}

ingress_tls_t *
ingress_tls_new (evhtp_t *htp, const of_settings_t *settings, char *error, size_t size)
{
    assert (htp && settings && error);
    const char *certificate = settings->ssl_certificate, *key = settings->ssl_private_key;
    if (!certificate || !*certificate || !key || !*key) {
        snprintf (error, size, "Webserver.Ssl.Enable needs Webserver.Ssl.CertificateFile and "
                               "Webserver.Ssl.PrivateKeyFile (PEM files)");
        return NULL;
    }
    const char *names [] = {"CertificateFile", "PrivateKeyFile"};
    const char *paths [] = {certificate, key};
    for (int i = 0; i < 2; i++)
        if (access (paths [i], R_OK) != 0) {
            snprintf (error, size, "Webserver.Ssl.%s '%s': %s", names [i], paths [i],
                      strerror (errno));
            return NULL;
        }
    ingress_tls_t *self = (ingress_tls_t *) zmalloc (sizeof (ingress_tls_t));
    self->config.pemfile = strdup (certificate);
    self->config.privfile = strdup (key);
    self->config.ssl_ctx_timeout = S_SESSION_TIMEOUT_S;
    ERR_clear_error ();
    if (evhtp_ssl_init (htp, &self->config) != 0 || !htp->ssl_ctx) {
        snprintf (error, size, "cannot set up TLS: %s", s_reason ("libevhtp refused"));
        return s_fail (htp, &self);
    }
    //  libevhtp loads the files without checking: check them here
    SSL_CTX_set_min_proto_version (htp->ssl_ctx, TLS1_2_VERSION);
    if (!SSL_CTX_get0_certificate (htp->ssl_ctx)) {
        snprintf (error, size, "Webserver.Ssl.CertificateFile '%s': no PEM certificate (%s)",
                  certificate, s_reason ("unreadable"));
        return s_fail (htp, &self);
    }
    if (SSL_CTX_check_private_key (htp->ssl_ctx) != 1) {
        snprintf (error, size,
                  "Webserver.Ssl.PrivateKeyFile '%s': not the certificate's PEM private key (%s)",
                  key, s_reason ("unreadable"));
        return s_fail (htp, &self);
    }
    ERR_clear_error ();
    return self;
}

void
ingress_tls_destroy (ingress_tls_t **self_p)
{
    assert (self_p);
    ingress_tls_t *self = *self_p;
    if (self) {
        free (self->config.pemfile);
        free (self->config.privfile);
        free (self);
        *self_p = NULL;
    }
}

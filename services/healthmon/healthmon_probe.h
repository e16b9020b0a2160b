/*  =========================================================================
    healthmon_probe - one backend's HTTP probe on a libevent loop

    Sends the backend's HealthCheckMethod to its HealthCheckUrl (with Host,
    Querystring, BearerToken and Headers from of_upstream_prepare, as every
    request to a backend has them) with libevent's evhttp client and
    reports {ok, status, latency, reason} through a callback. Host names are
    resolved with evdns, never a blocking getaddrinfo; Ssl backends get TLS
    with certificate and host name verification. At most one probe is in
    flight; it always ends, at the latest when its timeout fires.

    A plain HTTP connection is kept alive between successful probes and
    dropped after any failure, so a failing backend is resolved and
    connected afresh on every probe. A TLS connection serves one probe.
    =========================================================================
*/

#ifndef HEALTHMON_PROBE_H_INCLUDED
#define HEALTHMON_PROBE_H_INCLUDED

#include "of_classes.h"
#include <event2/dns.h>
#include <openssl/ssl.h>

//  The outcome of one probe
typedef struct {
    bool ok;                                    //  an HTTP status below 500 in time
    int status;                                 //  the HTTP status; 0 without an answer
    int64_t latency_ms;                         //  until the status arrived; -1 without one
    char reason [OFP_HEALTH_REASON_MAX + 1];    //  "HTTP 200", "connect: ...", "timeout ..."
} healthmon_result_t;

//  Called once per probe, from the event loop (never from inside
//  healthmon_probe_start). It may start the next probe; it must not destroy
//  the probe.
typedef void (healthmon_probe_fn) (void *arg, const healthmon_result_t *result);

typedef struct _healthmon_probe_t healthmon_probe_t;

//  Creates the probe of a backend: its record, from records (the probe takes
//  a reference to the set, and reads the record at every probe). dns and
//  tls are borrowed and must outlive it; tls may be NULL, and then an Ssl
//  backend's probes fail.
healthmon_probe_t *
    healthmon_probe_new (struct event_base *base, struct evdns_base *dns, SSL_CTX *tls,
                         of_records_t *records, const of_backend_t *backend,
                         healthmon_probe_fn *handler, void *arg);

//  Destroys the probe, abandoning a probe in flight (no callback); accepts NULL.
void
    healthmon_probe_destroy (healthmon_probe_t **self_p);

//  Starts a probe that ends within timeout_ms. Returns 0, or -1 if one is
//  already in flight.
int
    healthmon_probe_start (healthmon_probe_t *self, int64_t timeout_ms);

//  True while a probe is in flight.
bool
    healthmon_probe_busy (healthmon_probe_t *self);

//  Moves the probe to a newer record of its backend, one probed alike
//  (healthmon_probe_same), from records (a reference is taken, the old set's
//  dropped): a probe in flight and a kept connection carry on.
void
    healthmon_probe_set_backend (healthmon_probe_t *self, of_records_t *records,
                                 const of_backend_t *backend);

//  True if two backends are probed alike: the same requests
//  (of_upstream_prepare_same), HealthCheckMethod and HealthCheckUrl.
bool
    healthmon_probe_same (const of_backend_t *backend, const of_backend_t *other);

//  Self test
void
    healthmon_probe_test (bool verbose);

#endif

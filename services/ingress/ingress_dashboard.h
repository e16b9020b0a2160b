/*  =========================================================================
    ingress_dashboard - the web dashboard's files, served at /dashboard/

    The dashboard (dashboard/index.html, dashboard.js, dashboard.css) is
    plain HTML, CSS and JavaScript with no build step and nothing from a
    CDN. The build embeds the files in the ingress (dashboard/embed.cmake),
    so they are installed with the binary and a container needs nothing
    else. The page signs in with an admin token, which it keeps in the tab's
    session storage, and polls the admin API and /metrics of the ingress
    that served it. Every answer carries a Content-Security-Policy that
    allows scripts, styles and requests from this origin only: no inline
    script, no eval, no frame.
    =========================================================================
*/

#ifndef INGRESS_DASHBOARD_H_INCLUDED
#define INGRESS_DASHBOARD_H_INCLUDED

#include "of_classes.h"
#include "of_exchange.h"

#define INGRESS_DASHBOARD_CSP \
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " \
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

//  One embedded file (a plain record, generated at build time)
typedef struct {
    const char *name;           //  "index.html"; NULL ends the table
    const char *type;           //  its Content-Type
    const unsigned char *data;
    size_t size;
} ingress_dashboard_file_t;

//  Every file, ending with a record whose name is NULL.
extern const ingress_dashboard_file_t ingress_dashboard_files [];

//  True if path is the dashboard's (/dashboard, /dashboard/...).
bool
    ingress_dashboard_path (const char *path);

//  Answers a request for the dashboard: /dashboard redirects to
//  /dashboard/, which is index.html; a file by its name; 404 otherwise.
void
    ingress_dashboard_handle (of_exchange_t *exchange);

//  Self test
void
    ingress_dashboard_test (bool verbose);

#endif

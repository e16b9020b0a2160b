/*  =========================================================================
    ingress_dashboard - the web dashboard's files, served at /dashboard/
    =========================================================================
*/

#include "ingress_dashboard.h"

#define S_PREFIX "/dashboard"

bool
ingress_dashboard_path (const char *path)
{
    size_t length = strlen (S_PREFIX);
    return path && strncmp (path, S_PREFIX, length) == 0
           && (path [length] == 0 || path [length] == '/');
}

//  The file a path names, or NULL
static const ingress_dashboard_file_t *
s_file (const char *path)
{
    const char *name = path + strlen (S_PREFIX "/");
    if (!*name)
        name = "index.html";
    for (const ingress_dashboard_file_t *file = ingress_dashboard_files; file->name; file++)
        if (streq (file->name, name))
            return file;
    return NULL;
}

static void
s_text (of_exchange_t *exchange, int status, const char *text)
{
    of_exchange_reply (exchange, status, "text/plain; charset=utf-8", text, strlen (text));
}

void
ingress_dashboard_handle (of_exchange_t *exchange)
{
    const char *path = of_exchange_path (exchange);
    htp_method method = of_exchange_method (exchange);
    of_exchange_add_header (exchange, "Content-Security-Policy", INGRESS_DASHBOARD_CSP);
    of_exchange_add_header (exchange, "X-Content-Type-Options", "nosniff");
    of_exchange_add_header (exchange, "Referrer-Policy", "no-referrer");
    if (method != htp_method_GET && method != htp_method_HEAD) {
        of_exchange_add_header (exchange, "Allow", "GET, HEAD");
        s_text (exchange, 405, "method not allowed: use GET or HEAD\n");
        return;
    }
    if (streq (path, S_PREFIX)) {
        of_exchange_add_header (exchange, "Location", S_PREFIX "/");
        s_text (exchange, 308, "the dashboard is at /dashboard/\n");
        return;
    }
    const ingress_dashboard_file_t *file = s_file (path);
    if (!file) {
        s_text (exchange, 404, "no such dashboard file\n");
        return;
    }
    //  Checked on every load: a new build's files are picked up at once
    of_exchange_add_header (exchange, "Cache-Control", "no-cache");
    of_exchange_reply (exchange, 200, file->type, (const char *) file->data, file->size);
}

void
ingress_dashboard_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_dashboard: ");
    assert (ingress_dashboard_path ("/dashboard") && ingress_dashboard_path ("/dashboard/"));
    assert (ingress_dashboard_path ("/dashboard/dashboard.js"));
    assert (!ingress_dashboard_path ("/dashboards") && !ingress_dashboard_path ("/api/chat"));
    assert (!ingress_dashboard_path (NULL));
    const ingress_dashboard_file_t *index = s_file ("/dashboard/");
    assert (index && streq (index->name, "index.html") && index->size > 0);
    assert (strstr (index->type, "text/html"));
    assert (s_file ("/dashboard/dashboard.js") && s_file ("/dashboard/dashboard.css"));
    assert (!s_file ("/dashboard/../ingress.c") && !s_file ("/dashboard/nothing"));
    //  The page loads its script as a file: the policy forbids inline script
    assert (memmem (index->data, index->size, "<script src=\"dashboard.js\"", 26));
    assert (!memmem (index->data, index->size, "<script>", 8));
    assert (!strstr (INGRESS_DASHBOARD_CSP, "unsafe"));
    printf ("OK\n");
}

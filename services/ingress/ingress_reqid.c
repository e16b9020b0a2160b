/*  =========================================================================
    ingress_reqid - every request's id
    =========================================================================
*/

#include "ingress_reqid.h"

bool
ingress_reqid_valid (const char *text)
{
    if (!text || !*text)
        return false;
    size_t length = 0;
    for (const char *c = text; *c; c++, length++) {
        bool allowed = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
                       || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == ':'
                       || *c == '-';
        if (!allowed || length >= INGRESS_REQID_CLIENT_MAX)
            return false;
    }
    return true;
}

void
ingress_reqid_make (of_exchange_t *exchange, const char *ingress, uint64_t counter, char *id,
                    size_t size)
{
    assert (size > INGRESS_REQID_MAX);
    const char *asked = exchange ? of_exchange_header (exchange, "X-Request-Id") : NULL;
    if (ingress_reqid_valid (asked))
        snprintf (id, size, "%s", asked);
    else
        snprintf (id, INGRESS_REQID_MAX + 1, "%s-%llu", ingress, (unsigned long long) counter);
}

void
ingress_reqid_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_reqid: ");
    assert (ingress_reqid_valid ("a"));
    assert (ingress_reqid_valid ("3f2a-9c.x_y:Z"));
    assert (!ingress_reqid_valid (""));
    assert (!ingress_reqid_valid (NULL));
    assert (!ingress_reqid_valid ("has space"));
    assert (!ingress_reqid_valid ("a/b"));
    assert (!ingress_reqid_valid ("line\r\nX-Injected: 1"));
    assert (!ingress_reqid_valid ("caf\xc3\xa9"));
    char text [INGRESS_REQID_CLIENT_MAX + 2];
    memset (text, 'x', sizeof text - 1);
    text [INGRESS_REQID_CLIENT_MAX] = 0;
    assert (ingress_reqid_valid (text));
    text [INGRESS_REQID_CLIENT_MAX] = 'x';
    text [INGRESS_REQID_CLIENT_MAX + 1] = 0;
    assert (!ingress_reqid_valid (text));

    char id [INGRESS_REQID_MAX + 1];
    ingress_reqid_make (NULL, "host-1", 42, id, sizeof id);
    assert (streq (id, "host-1-42"));
    //  The longest Ingress.Id still leaves room for the counter
    char ingress [OFP_LEASE_INGRESS_MAX + 1];
    memset (ingress, 'i', sizeof ingress - 1);
    ingress [OFP_LEASE_INGRESS_MAX] = 0;
    ingress_reqid_make (NULL, ingress, UINT64_MAX, id, sizeof id);
    assert (strlen (id) == OFP_LEASE_INGRESS_MAX + 21);
    printf ("OK\n");
}

/*  =========================================================================
    ingress_match - frontend, client identity and labels of a request
    =========================================================================
*/

#include "ingress_match.h"
#include <openssl/sha.h>

//  The host part of a Host header: "Example.com:8080" -> "Example.com",
//  "[::1]:80" -> "::1"
static void
s_host_only (const char *host, char *dest, size_t size)
{
    const char *end;
    if (*host == '[') {
        host++;
        end = strchr (host, ']');
    }
    else
        end = strchr (host, ':');
    size_t length = end ? (size_t) (end - host) : strlen (host);
    snprintf (dest, size, "%.*s", (int) length, host);
}

const of_frontend_t *
ingress_match_frontend (of_records_t *records, const char *host)
{
    assert (records);
    char name [OF_SCHEMA_HOSTNAME_MAX + 1] = "";
    if (host)
        s_host_only (host, name, sizeof name);
    const of_frontend_t *wildcard = NULL;
    for (size_t index = 0; index < of_records_frontend_count (records); index++) {
        const of_frontend_t *frontend = of_records_frontend_at (records, index);
        if (!frontend->active)
            continue;
        if (streq (frontend->hostname, "*")) {
            //  Several "*": the same one every time, whatever the config's order
            if (!wildcard || strcmp (frontend->identifier, wildcard->identifier) < 0)
                wildcard = frontend;
        }
        else if (*name && strcasecmp (frontend->hostname, name) == 0)
            return frontend;
    }
    return wildcard;
}

static bool
s_listed (char **list, const char *value)
{
    for (char **item = list; item && *item; item++)
        if (streq (*item, value))
            return true;
    return false;
}

void
ingress_match_client (of_exchange_t *exchange, char **sticky_headers, char **trusted_proxies,
                      char *dest, size_t size)
{
    const char *identity = NULL;
    for (char **name = sticky_headers; name && *name && !identity; name++) {
        const char *value = of_exchange_header (exchange, *name);
        if (value && *value)
            identity = value;
    }
    char forwarded [OFP_LEASE_HOSTNAME_MAX + 1] = "";
    if (!identity) {
        identity = of_exchange_peer (exchange);
        const char *chain = of_exchange_header (exchange, "X-Forwarded-For");
        if (chain && s_listed (trusted_proxies, identity)) {
            //  The first address is the client, as the trusted proxy saw it
            size_t length = strcspn (chain, ",");
            snprintf (forwarded, sizeof forwarded, "%.*s", (int) length, chain);
            char *start = forwarded;
            while (*start == ' ')
                start++;
            char *end = start + strlen (start);
            while (end > start && end [-1] == ' ')
                *--end = 0;
            if (*start)
                identity = start;
        }
    }
    if (strlen (identity) <= INGRESS_STICKY_KEY_MAX)
        snprintf (dest, size, "%s", identity);
    else {
        unsigned char digest [SHA256_DIGEST_LENGTH];
        SHA256 ((const unsigned char *) identity, strlen (identity), digest);
        for (size_t i = 0; i < SHA256_DIGEST_LENGTH && 2 * i + 2 < size; i++)
            snprintf (dest + 2 * i, 3, "%02x", digest [i]);
    }
}

json_t *
ingress_match_labels (of_exchange_t *exchange, char *error, size_t size)
{
    json_t *labels = json_array ();
    evhtp_kv_t *header;
    TAILQ_FOREACH (header, of_exchange_request (exchange)->headers_in, next) {
        if (strcasecmp (header->key, INGRESS_LABEL_HEADER) != 0 || !header->val)
            continue;
        char *copy = strdup (header->val);
        char *save = NULL;
        for (char *label = strtok_r (copy, ",", &save); label; label = strtok_r (NULL, ",", &save)) {
            while (*label == ' ' || *label == '\t')
                label++;
            char *end = label + strlen (label);
            while (end > label && (end [-1] == ' ' || end [-1] == '\t'))
                *--end = 0;
            if (!*label)
                continue;
            if (strlen (label) > OFP_LEASE_LABEL_MAX
                || json_array_size (labels) >= OFP_LEASE_LABELS_MAX) {
                snprintf (error, size, "%s: at most %d labels of at most %d characters",
                          INGRESS_LABEL_HEADER, OFP_LEASE_LABELS_MAX, OFP_LEASE_LABEL_MAX);
                free (copy);
                json_decref (labels);
                return NULL;
            }
            bool seen = false;
            size_t index;
            json_t *item;
            json_array_foreach (labels, index, item)
                seen = seen || streq (json_string_value (item), label);
            if (!seen)
                json_array_append_new (labels, json_string (label));
        }
        free (copy);
    }
    return labels;
}

void
ingress_match_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_match: ");
    json_t *frontends = json_pack (
        "{s:{s:s, s:s, s:b}, s:{s:s, s:s, s:b}, s:{s:s, s:s, s:b}, s:{s:s, s:s, s:b}}",
        "any", "Identifier", "any", "Hostname", "*", "Active", true,
        "zzz", "Identifier", "zzz", "Hostname", "*", "Active", true,
        "api", "Identifier", "api", "Hostname", "api.example.com", "Active", true,
        "off", "Identifier", "off", "Hostname", "off.example.com", "Active", false);
    of_records_t *records = of_records_new (frontends, NULL, NULL, NULL);
    const of_frontend_t *match = ingress_match_frontend (records, "API.example.com:43411");
    assert (match && streq (match->identifier, "api"));
    match = ingress_match_frontend (records, "other.example.com");
    assert (match && streq (match->identifier, "any"));
    //  An inactive frontend does not match; "*" takes its traffic
    match = ingress_match_frontend (records, "off.example.com");
    assert (match && streq (match->identifier, "any"));
    match = ingress_match_frontend (records, NULL);
    assert (match && streq (match->identifier, "any"));
    of_records_destroy (&records);
    json_object_del (frontends, "any");
    json_object_del (frontends, "zzz");
    records = of_records_new (frontends, NULL, NULL, NULL);
    assert (ingress_match_frontend (records, "nowhere") == NULL);
    match = ingress_match_frontend (records, "[::1]:80");
    assert (match == NULL);
    of_records_destroy (&records);
    json_decref (frontends);
    char host [64];
    s_host_only ("[::1]:8080", host, sizeof host);
    assert (streq (host, "::1"));
    printf ("OK\n");
}

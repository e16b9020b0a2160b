/*  =========================================================================
    of_claim - which deployment shares a listening port
    =========================================================================
*/

#include "of_claim.h"
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define S_PREFIX "ollamaflow-port/"

bool
of_claim_name_valid (const char *name)
{
    size_t length = name ? strlen (name) : 0;
    if (length > OF_CLAIM_NAME_MAX)
        return false;
    for (size_t i = 0; i < length; i++) {
        char c = name [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int
of_claim_take (const char *deployment, int port, char *error, size_t size)
{
    assert (deployment && *deployment && of_claim_name_valid (deployment));
    int fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf (error, size, "cannot make the port claim: %s", strerror (errno));
        return -1;
    }
    //  Abstract: sun_path starts with a zero byte, and the name's length is
    //  given, not terminated
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    int length = snprintf (address.sun_path + 1, sizeof address.sun_path - 1, S_PREFIX "%d/%s/%d",
                           port, deployment, (int) getpid ());
    assert (length > 0 && (size_t) length < sizeof address.sun_path - 1);
    socklen_t address_size = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1
                                          + (size_t) length);
    if (bind (fd, (struct sockaddr *) &address, address_size) != 0) {
        snprintf (error, size, "cannot take the claim on port %d: %s", port, strerror (errno));
        close (fd);
        return -1;
    }
    return fd;
}

void
of_claim_release (int *fd_p)
{
    assert (fd_p);
    if (*fd_p >= 0)
        close (*fd_p);
    *fd_p = -1;
}

bool
of_claim_rival (const char *deployment, int port, char *rival, size_t size)
{
    assert (deployment && rival && size > 0);
    *rival = 0;
    FILE *file = fopen ("/proc/net/unix", "r");
    if (!file)
        return false;           //  nothing to read: nothing known to share with
    char prefix [64];
    int prefix_length = snprintf (prefix, sizeof prefix, "@" S_PREFIX "%d/", port);
    char line [512];
    bool found = false;
    //  Each line ends with the path; an abstract one starts with '@'
    while (!found && fgets (line, sizeof line, file)) {
        char *path = strstr (line, " @" S_PREFIX);
        if (!path || strncmp (path + 1, prefix, (size_t) prefix_length) != 0)
            continue;
        char *name = path + 1 + prefix_length;
        char *end = strchr (name, '/');
        if (!end)
            continue;
        size_t length = (size_t) (end - name);
        if (length == strlen (deployment) && strncmp (name, deployment, length) == 0)
            continue;           //  ours
        snprintf (rival, size, "%.*s", (int) length, name);
        found = true;
    }
    fclose (file);
    return found;
}

//  --------------------------------------------------------------------------
//  Self test

void
of_claim_test (bool verbose)
{
    if (verbose)
        printf (" * of_claim: ");
    assert (of_claim_name_valid (""));
    assert (of_claim_name_valid ("ollamaflow-prod_2.a"));
    assert (!of_claim_name_valid ("a/b"));
    assert (!of_claim_name_valid ("a b"));
    char long_name [OF_CLAIM_NAME_MAX + 2];
    memset (long_name, 'x', sizeof long_name - 1);
    long_name [sizeof long_name - 1] = 0;
    assert (!of_claim_name_valid (long_name));
    long_name [OF_CLAIM_NAME_MAX] = 0;
    assert (of_claim_name_valid (long_name));

    //  Ports no socket can have, this process's own, so that tests running
    //  side by side do not see each other's claims
    int port = 100000 + (int) getpid ();
    char error [256], rival [OF_CLAIM_NAME_MAX + 1];
    assert (!of_claim_rival ("a", port, rival, sizeof rival));
    int a = of_claim_take ("a", port, error, sizeof error);
    assert (a >= 0);
    //  The same deployment shares; another sees the claim; another port is free
    assert (!of_claim_rival ("a", port, rival, sizeof rival));
    assert (of_claim_rival ("b", port, rival, sizeof rival) && strcmp (rival, "a") == 0);
    assert (!of_claim_rival ("b", port + 1, rival, sizeof rival));
    //  "a" is not a prefix of "ab": ab sees a, a sees ab
    int ab = of_claim_take ("ab", port, error, sizeof error);
    assert (ab >= 0);
    assert (of_claim_rival ("ab", port, rival, sizeof rival) && strcmp (rival, "a") == 0);
    assert (of_claim_rival ("a", port, rival, sizeof rival) && strcmp (rival, "ab") == 0);
    of_claim_release (&ab);
    assert (ab == -1);
    //  A second claim of one process on one port is refused (the name is its
    //  own); gone with the descriptor
    assert (of_claim_take ("a", port, error, sizeof error) == -1);
    assert (strstr (error, "Address already in use"));
    of_claim_release (&a);
    assert (!of_claim_rival ("b", port, rival, sizeof rival));
    of_claim_release (&a);
    if (verbose)
        printf ("OK\n");
}

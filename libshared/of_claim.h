/*  =========================================================================
    of_claim - which deployment shares a listening port

    SO_REUSEPORT lets every socket of one user bind the same port, and the
    kernel then spreads connections over them: right for the ingress
    workers of one deployment, wrong for two unrelated stacks on one machine,
    which would silently serve each other's clients. So an ingress of
    Ingress.Deployment D that listens on port P holds a claim: an abstract
    unix socket named "ollamaflow-port/P/D/PID" (no file, gone with the
    process). Before it binds P it reads the claims held in its network
    namespace (/proc/net/unix); a claim on P under another name means the
    port is that deployment's, and it refuses to share. It looks again once
    it has bound, so two deployments that started at the same moment both
    see the other and both refuse: sharing is never silent. An ingress
    with no deployment binds without SO_REUSEPORT: the port is its alone,
    and anyone else finds it in use.
    =========================================================================
*/

#ifndef OF_CLAIM_H_INCLUDED
#define OF_CLAIM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Longest deployment name
#define OF_CLAIM_NAME_MAX 64

//  True if name is a deployment name: "" (none) or 1 to OF_CLAIM_NAME_MAX
//  of A-Z a-z 0-9 . _ -
bool
    of_claim_name_valid (const char *name);

//  Takes this process's claim on port for deployment: a descriptor to keep
//  open while the port is bound (of_claim_release), or -1 with the reason.
int
    of_claim_take (const char *deployment, int port, char *error, size_t size);

//  Closes a claim; accepts -1.
void
    of_claim_release (int *fd_p);

//  True if a deployment other than this one claims port, its name then in
//  rival (cut to size).
bool
    of_claim_rival (const char *deployment, int port, char *rival, size_t size);

//  Self test
void
    of_claim_test (bool verbose);

#endif

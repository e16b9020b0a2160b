/*  =========================================================================
    launcher_token - the admin token a first run writes into ollamaflow.json

    With no AdminBearerTokens the admin API answers 403 to everything, so a
    quick start could not use ollamaflowctl. The launcher draws a token from
    /dev/urandom when it writes the default settings file, and tells the
    operator how to use it.
    =========================================================================
*/

#ifndef LAUNCHER_TOKEN_H_INCLUDED
#define LAUNCHER_TOKEN_H_INCLUDED

#include <stddef.h>

//  Random bytes in a token, and its length in hex
#define LAUNCHER_TOKEN_BYTES 32
#define LAUNCHER_TOKEN_SIZE  (2 * LAUNCHER_TOKEN_BYTES + 1)

//  Fills dest (LAUNCHER_TOKEN_SIZE bytes) with LAUNCHER_TOKEN_BYTES random
//  bytes from /dev/urandom in lowercase hex. Returns 0, or -1 with errno set.
int
    launcher_token_new (char *dest);

#endif

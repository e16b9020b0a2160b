/*  =========================================================================
    launcher_token - the admin token a first run writes into ollamaflow.json
    =========================================================================
*/

#include "launcher_token.h"
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int
launcher_token_new (char *dest)
{
    static const char digits [] = "0123456789abcdef";
    unsigned char random [LAUNCHER_TOKEN_BYTES];
    int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t filled = 0;
    ssize_t n = 1;
    while (filled < sizeof random && (n > 0 || errno == EINTR))
        if ((n = read (fd, random + filled, sizeof random - filled)) > 0)
            filled += (size_t) n;
    int saved = n < 0 ? errno : EIO;
    close (fd);
    if (filled < sizeof random) {
        errno = saved;
        return -1;
    }
    for (size_t i = 0; i < sizeof random; i++) {
        dest [2 * i] = digits [random [i] >> 4];
        dest [2 * i + 1] = digits [random [i] & 0x0f];
    }
    dest [2 * LAUNCHER_TOKEN_BYTES] = 0;
    return 0;
}

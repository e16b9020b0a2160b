/*  =========================================================================
    launcher_listen - whether one process listens on a TCP port

    The launcher says "ollamaflow is up" once every ingress worker listens.
    Connecting to the port cannot tell: one worker that listens answers for
    all, and so does another program (another stack) that holds the port
    while ours are refused it. So it looks at what each worker holds: the
    listening sockets on the port (/proc/PID/net/tcp and tcp6, state LISTEN)
    whose inode is one of the worker's descriptors (/proc/PID/fd).
    =========================================================================
*/

#ifndef LAUNCHER_LISTEN_H_INCLUDED
#define LAUNCHER_LISTEN_H_INCLUDED

#include <stdbool.h>
#include <sys/types.h>

//  True if process pid (one of ours: same user) holds a TCP socket that
//  listens on port, IPv4 or IPv6, on any address.
bool
    launcher_listening (pid_t pid, int port);

#endif

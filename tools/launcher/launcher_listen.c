/*  =========================================================================
    launcher_listen - whether one process listens on a TCP port
    =========================================================================
*/

#include "launcher_listen.h"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  Listening sockets that one process can hold on a port: a few per address
#define S_INODES_MAX 64
//  The kernel's TCP_LISTEN in /proc/net/tcp's "st" column
#define S_TCP_LISTEN 0x0A

//  Adds to inodes the sockets listening on port in one /proc/PID/net/tcp
//  file: "sl local_address:port rem_address:port st ... uid timeout inode"
static size_t
s_listening_inodes (const char *path, int port, unsigned long *inodes, size_t count)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return count;
    char line [512];
    if (!fgets (line, sizeof line, file)) {     //  the header
        fclose (file);
        return count;
    }
    while (count < S_INODES_MAX && fgets (line, sizeof line, file)) {
        char local [64], remote [64];
        unsigned state, uid, timeout;
        unsigned long inode;
        //  sl: local rem st tx:rx tr:when retrnsmt uid timeout inode
        if (sscanf (line, " %*s %63s %63s %x %*s %*s %*s %u %u %lu", local, remote, &state,
                    &uid, &timeout, &inode) != 6)
            continue;
        const char *colon = strrchr (local, ':');
        if (state == S_TCP_LISTEN && colon && strtol (colon + 1, NULL, 16) == port && inode)
            inodes [count++] = inode;
    }
    fclose (file);
    return count;
}

bool
launcher_listening (pid_t pid, int port)
{
    if (pid <= 0 || port <= 0)
        return false;
    unsigned long inodes [S_INODES_MAX];
    size_t count = 0;
    char path [64];
    //  The process's own network namespace, whatever the launcher's is
    snprintf (path, sizeof path, "/proc/%d/net/tcp", (int) pid);
    count = s_listening_inodes (path, port, inodes, count);
    snprintf (path, sizeof path, "/proc/%d/net/tcp6", (int) pid);
    count = s_listening_inodes (path, port, inodes, count);
    if (count == 0)
        return false;

    snprintf (path, sizeof path, "/proc/%d/fd", (int) pid);
    DIR *fds = opendir (path);
    if (!fds)
        return false;
    bool found = false;
    struct dirent *entry;
    while (!found && (entry = readdir (fds))) {
        char link [128], target [64];
        snprintf (link, sizeof link, "%s/%s", path, entry->d_name);
        ssize_t n = readlink (link, target, sizeof target - 1);
        unsigned long inode;
        if (n <= 0)
            continue;
        target [n] = 0;
        if (sscanf (target, "socket:[%lu]", &inode) == 1)
            for (size_t i = 0; i < count && !found; i++)
                found = inodes [i] == inode;
    }
    closedir (fds);
    return found;
}

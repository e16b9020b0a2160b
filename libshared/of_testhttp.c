/*  =========================================================================
    of_testhttp - a loopback evhtp server and a raw client, for self tests
    =========================================================================
*/

#include "of_testhttp.h"
#include <assert.h>
#include <errno.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

//  One turn of the loop
#define S_TURN_US 5000
#define S_BACKLOG 16

evhtp_t *
of_testhttp_server (struct event_base *base, evhtp_callback_cb cb, void *arg, int *port_p)
{
    evhtp_t *htp = evhtp_new (base, NULL);
    assert (htp);
    evhtp_set_gencb (htp, cb, arg);
    int rc = evhtp_bind_socket (htp, "ipv4:127.0.0.1", 0, S_BACKLOG);
    assert (rc == 0);
    struct sockaddr_in bound;
    socklen_t length = sizeof bound;
    rc = getsockname (evconnlistener_get_fd (htp->server), (struct sockaddr *) &bound, &length);
    assert (rc == 0);
    *port_p = ntohs (bound.sin_port);
    return htp;
}

void
of_testhttp_connect (of_testhttp_client_t *client, int port, int rcvbuf)
{
    memset (client, 0, sizeof *client);
    client->fd = socket (AF_INET, SOCK_STREAM, 0);
    assert (client->fd >= 0);
    if (rcvbuf)
        setsockopt (client->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    //  The kernel completes a loopback connect before the server accepts it
    int rc = connect (client->fd, (struct sockaddr *) &address, sizeof address);
    assert (rc == 0);
    fcntl (client->fd, F_SETFL, fcntl (client->fd, F_GETFL) | O_NONBLOCK);
}

void
of_testhttp_send (of_testhttp_client_t *client, const char *text)
{
    client->size = 0;
    client->text [0] = 0;
    size_t size = strlen (text);
    ssize_t rc = send (client->fd, text, size, MSG_NOSIGNAL);
    assert (rc == (ssize_t) size);
}

void
of_testhttp_turn (struct event_base *base, of_testhttp_client_t *client)
{
    struct timeval turn = {0, S_TURN_US};
    event_base_loopexit (base, &turn);
    event_base_dispatch (base);
    if (!client || client->fd < 0)
        return;
    char buffer [OF_TESTHTTP_TEXT_MAX];
    ssize_t rc;
    while ((rc = recv (client->fd, buffer, sizeof buffer, 0)) > 0) {
        size_t room = OF_TESTHTTP_TEXT_MAX - client->size;
        size_t take = (size_t) rc < room ? (size_t) rc : room;
        memcpy (client->text + client->size, buffer, take);
        client->size += take;
        client->text [client->size] = 0;
        client->total += (size_t) rc;
    }
    if (rc == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        client->eof = true;
}

void
of_testhttp_close (of_testhttp_client_t *client)
{
    if (client->fd >= 0)
        close (client->fd);
    client->fd = -1;
}

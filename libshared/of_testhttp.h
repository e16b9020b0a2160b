/*  =========================================================================
    of_testhttp - a loopback evhtp server and a raw client, for the self
    tests of libshared's HTTP serving classes (of_exchange, of_conns)

    The server and the client share one libevent loop on one thread: the
    client's socket is non-blocking, and each turn of the loop reads what
    has come to it, so a test can say exactly what the client sends and
    check, byte for byte, what the server answered and when it closed.
    =========================================================================
*/

#ifndef OF_TESTHTTP_H_INCLUDED
#define OF_TESTHTTP_H_INCLUDED

#include <evhtp.h>
#include <stdbool.h>
#include <stddef.h>

//  What the client kept of the answers (the first OF_TESTHTTP_TEXT_MAX
//  bytes, NUL-terminated), how many bytes came in all, and whether the
//  server closed; a plain record, read directly
#define OF_TESTHTTP_TEXT_MAX 16384
typedef struct {
    int fd;
    char text [OF_TESTHTTP_TEXT_MAX + 1];
    size_t size;                    //  bytes in text
    size_t total;                   //  bytes received
    bool eof;                       //  the server closed (or reset)
} of_testhttp_client_t;

//  Turns of the loop that a wait may take before the test gives up
#define OF_TESTHTTP_TURNS 500

//  Runs turns of the loop until cond holds (or OF_TESTHTTP_TURNS went by)
#define OF_TESTHTTP_UNTIL(base, client, cond) \
    for (int until_turn = 0; !(cond) && until_turn < OF_TESTHTTP_TURNS; until_turn++) \
        of_testhttp_turn ((base), (client))

//  A new evhtp server on 127.0.0.1, a port of the system's choosing (in
//  *port_p), handing every request to cb
evhtp_t *
    of_testhttp_server (struct event_base *base, evhtp_callback_cb cb, void *arg, int *port_p);

//  Connects a new client to port; a receive buffer of rcvbuf bytes (0: the
//  system's)
void
    of_testhttp_connect (of_testhttp_client_t *client, int port, int rcvbuf);

//  Sends text (the whole of it) and forgets what was received so far
void
    of_testhttp_send (of_testhttp_client_t *client, const char *text);

//  One turn of the loop (a few ms), then reads what came (client may be NULL)
void
    of_testhttp_turn (struct event_base *base, of_testhttp_client_t *client);

//  Closes the client (again: nothing)
void
    of_testhttp_close (of_testhttp_client_t *client);

#endif

/*  =========================================================================
    bl_response - bench-load's HTTP/1.1 response parser

    Incremental: fed the bytes of one connection as they arrive, it reads
    the status line and headers, then a body framed by Content-Length,
    chunked encoding, or the connection's close, and hands every body byte
    to a callback as soon as it is seen (the load generator time-stamps
    them). It stops at the end of a response; what follows stays unread.
    =========================================================================
*/

#ifndef BL_RESPONSE_H_INCLUDED
#define BL_RESPONSE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BL_HEAD_MAX         16384       //  longest response head accepted

typedef enum {
    BL_RESPONSE_HEAD,           //  reading the status line and headers
    BL_RESPONSE_LENGTH,         //  Content-Length body
    BL_RESPONSE_CHUNK_SIZE,
    BL_RESPONSE_CHUNK_DATA,
    BL_RESPONSE_CHUNK_CRLF,
    BL_RESPONSE_TRAILER,
    BL_RESPONSE_CLOSE           //  body until the connection closes
} bl_response_state_t;

typedef struct {
    bl_response_state_t state;
    int status;                 //  0 until the status line is read
    bool keep_alive;            //  the connection may carry another request
    int64_t left;               //  body or chunk bytes left
} bl_response_t;

//  Body bytes of the response, in order
typedef void (bl_response_body_fn) (void *arg, const char *data, size_t size);

//  Starts reading a new response
void
    bl_response_reset (bl_response_t *self);

//  Parses what it can of data. Returns the bytes consumed (the rest waits
//  for more input), or -1 if the response is malformed. *complete is set
//  when the response ended within data; nothing after it is consumed.
long
    bl_response_feed (bl_response_t *self, const char *data, size_t size, bool *complete,
                      bl_response_body_fn *body, void *arg);

//  True if the response ends when the connection closes (and it has begun)
bool
    bl_response_ends_at_close (bl_response_t *self);

#endif

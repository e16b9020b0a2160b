/*  =========================================================================
    bl_response - bench-load's HTTP/1.1 response parser
    =========================================================================
*/

#include "bl_response.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
bl_response_reset (bl_response_t *self)
{
    *self = (bl_response_t) {.state = BL_RESPONSE_HEAD};
}

bool
bl_response_ends_at_close (bl_response_t *self)
{
    return self->state == BL_RESPONSE_CLOSE;
}

static bool
s_header_is (const char *line, size_t len, const char *name, const char **value)
{
    size_t n = strlen (name);
    if (len <= n || strncasecmp (line, name, n) != 0 || line [n] != ':')
        return false;
    const char *v = line + n + 1;
    while (v < line + len && (*v == ' ' || *v == '\t'))
        v++;
    *value = v;
    return true;
}

//  Parses the head at data; returns bytes consumed, 0 if incomplete, -1 if bad
static long
s_parse_head (bl_response_t *self, const char *data, size_t size)
{
    const char *end = memmem (data, size, "\r\n\r\n", 4);
    if (!end)
        return size > BL_HEAD_MAX? -1: 0;
    int minor = 1;
    if (sscanf (data, "HTTP/1.%d %d", &minor, &self->status) != 2)
        return -1;
    self->keep_alive = minor >= 1;
    bool chunked = false;
    long long length = -1;
    const char *line = (const char *) memchr (data, '\n', (size_t) (end - data)) + 1;
    while (line < end + 2) {
        const char *eol = memmem (line, (size_t) (end + 2 - line), "\r\n", 2);
        size_t len = (size_t) (eol - line);
        const char *value;
        if (s_header_is (line, len, "content-length", &value))
            length = atoll (value);
        else if (s_header_is (line, len, "transfer-encoding", &value))
            chunked = strncasecmp (value, "chunked", 7) == 0;
        else if (s_header_is (line, len, "connection", &value)) {
            if (strncasecmp (value, "close", 5) == 0)
                self->keep_alive = false;
            else if (strncasecmp (value, "keep-alive", 10) == 0)
                self->keep_alive = true;
        }
        line = eol + 2;
    }
    if (chunked)
        self->state = BL_RESPONSE_CHUNK_SIZE;
    else if (length >= 0) {
        self->state = BL_RESPONSE_LENGTH;
        self->left = length;
    }
    else {
        self->state = BL_RESPONSE_CLOSE;
        self->keep_alive = false;
    }
    return (long) (end + 4 - data);
}

//  Hands on up to self->left body bytes of the size at hand; returns how many
static size_t
s_take (bl_response_t *self, const char *at, size_t size, bl_response_body_fn *body, void *arg)
{
    size_t take = size < (size_t) self->left? size: (size_t) self->left;
    if (take)
        body (arg, at, take);
    self->left -= (int64_t) take;
    return take;
}

long
bl_response_feed (bl_response_t *self, const char *data, size_t size, bool *complete,
                  bl_response_body_fn *body, void *arg)
{
    size_t pos = 0;
    *complete = false;
    while (!*complete && pos < size) {
        const char *at = data + pos;
        size_t avail = size - pos;
        switch (self->state) {
            case BL_RESPONSE_HEAD: {
                long used = s_parse_head (self, at, avail);
                if (used < 0)
                    return -1;
                if (used == 0)
                    return (long) pos;
                pos += (size_t) used;
                if (self->state == BL_RESPONSE_LENGTH && self->left == 0)
                    *complete = true;
                break;
            }
            case BL_RESPONSE_LENGTH:
                pos += s_take (self, at, avail, body, arg);
                if (self->left == 0)
                    *complete = true;
                break;
            case BL_RESPONSE_CLOSE:
                body (arg, at, avail);
                pos += avail;
                break;
            case BL_RESPONSE_CHUNK_SIZE: {
                const char *eol = memmem (at, avail, "\r\n", 2);
                if (!eol)
                    return (long) pos;
                self->left = strtoll (at, NULL, 16);
                if (self->left < 0)
                    return -1;
                pos += (size_t) (eol + 2 - at);
                self->state = self->left? BL_RESPONSE_CHUNK_DATA: BL_RESPONSE_TRAILER;
                break;
            }
            case BL_RESPONSE_CHUNK_DATA:
                pos += s_take (self, at, avail, body, arg);
                if (self->left == 0)
                    self->state = BL_RESPONSE_CHUNK_CRLF;
                break;
            case BL_RESPONSE_CHUNK_CRLF:
                if (avail < 2)
                    return (long) pos;
                pos += 2;
                self->state = BL_RESPONSE_CHUNK_SIZE;
                break;
            case BL_RESPONSE_TRAILER: {
                const char *eol = memmem (at, avail, "\r\n", 2);
                if (!eol)
                    return (long) pos;
                pos += (size_t) (eol + 2 - at);
                if (eol == at)
                    *complete = true;
                break;
            }
        }
    }
    return (long) pos;
}

/*  =========================================================================
    ctl_http - the small HTTP/1.1 client of ollamaflowctl
    =========================================================================
*/

#include "ctl_http.h"
#include "of_classes.h"
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <openssl/err.h>

#define S_HOST_MAX   256
#define S_PREFIX_MAX 256
#define S_HEAD_MAX   (64 * 1024)

typedef struct {
    bool tls;                   //  https
    char host [S_HOST_MAX];
    char port [8];
    char prefix [S_PREFIX_MAX];
} s_url_t;

//  One connection: a socket, and its TLS when https
typedef struct {
    int fd;
    SSL_CTX *tls;
    SSL *ssl;
} s_conn_t;

//  Reads "http[s]://host[:port][/prefix]"; [v6] hosts keep no brackets
static int
s_parse_url (const char *url, s_url_t *parts, char *error, size_t size)
{
    parts->tls = strncasecmp (url, "https://", 8) == 0;
    if (!parts->tls && strncasecmp (url, "http://", 7) != 0) {
        snprintf (error, size, "the URL '%s' must start with http:// or https://", url);
        return -1;
    }
    const char *host = url + (parts->tls ? 8 : 7);
    const char *end = host [0] == '[' ? strchr (host, ']') : host + strcspn (host, ":/");
    if (!end || end == host) {
        snprintf (error, size, "no host in the URL '%s'", url);
        return -1;
    }
    const char *start = host [0] == '[' ? host + 1 : host;
    snprintf (parts->host, sizeof parts->host, "%.*s", (int) (end - start), start);
    if (*end == ']')
        end++;
    snprintf (parts->port, sizeof parts->port, parts->tls ? "443" : "80");
    if (*end == ':') {
        size_t digits = strspn (end + 1, "0123456789");
        if (digits == 0 || digits > 5) {
            snprintf (error, size, "bad port in the URL '%s'", url);
            return -1;
        }
        snprintf (parts->port, sizeof parts->port, "%.*s", (int) digits, end + 1);
        end += 1 + digits;
    }
    if (*end && *end != '/') {
        snprintf (error, size, "cannot read the URL '%s'", url);
        return -1;
    }
    //  A prefix ("/ollamaflow" behind a proxy) without its trailing slash
    size_t length = strlen (end);
    while (length && end [length - 1] == '/')
        length--;
    snprintf (parts->prefix, sizeof parts->prefix, "%.*s", (int) length, end);
    return 0;
}

static long
s_now_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

//  Waits until fd is ready for events, at most until deadline; 0 or -1
static int
s_wait (int fd, short events, long deadline)
{
    long left = deadline - s_now_ms ();
    if (left <= 0)
        return -1;
    struct pollfd item = {fd, events, 0};
    int rc = poll (&item, 1, (int) left);
    return rc > 0 ? 0 : -1;
}

static int
s_connect (const s_url_t *url, long deadline, char *error, size_t size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found = NULL;
    int rc = getaddrinfo (url->host, url->port, &hints, &found);
    if (rc != 0) {
        snprintf (error, size, "cannot resolve %s: %s", url->host, gai_strerror (rc));
        return -1;
    }
    int fd = -1;
    int last = 0;
    for (struct addrinfo *address = found; address && fd < 0; address = address->ai_next) {
        fd = socket (address->ai_family, address->ai_socktype | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        if (connect (fd, address->ai_addr, address->ai_addrlen) != 0 && errno != EINPROGRESS) {
            last = errno;
            close (fd);
            fd = -1;
            continue;
        }
        int failure = 0;
        socklen_t length = sizeof failure;
        if (s_wait (fd, POLLOUT, deadline) != 0
            || getsockopt (fd, SOL_SOCKET, SO_ERROR, &failure, &length) != 0 || failure) {
            last = failure ? failure : ETIMEDOUT;
            close (fd);
            fd = -1;
        }
    }
    freeaddrinfo (found);
    if (fd < 0)
        snprintf (error, size, "cannot connect to %s port %s: %s", url->host, url->port,
                  strerror (last));
    return fd;
}

//  Waits for what TLS asked for (SSL_ERROR_WANT_*) or what a socket call
//  would block on; -1 for any other failure or at the deadline
static int
s_retry (s_conn_t *conn, int rc, short plain_events, long deadline)
{
    if (!conn->ssl)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? s_wait (conn->fd, plain_events, deadline)
                                                         : -1;
    int reason = SSL_get_error (conn->ssl, rc);
    return reason == SSL_ERROR_WANT_READ    ? s_wait (conn->fd, POLLIN, deadline)
           : reason == SSL_ERROR_WANT_WRITE ? s_wait (conn->fd, POLLOUT, deadline)
                                            : -1;
}

//  TLS over the connected socket: the handshake, the certificate and the name
//  checked unless insecure
static int
s_handshake (s_conn_t *conn, const s_url_t *url, bool insecure, long deadline, char *error,
             size_t size)
{
    conn->tls = of_tls_client_new ();
    if (conn->tls && insecure)
        SSL_CTX_set_verify (conn->tls, SSL_VERIFY_NONE, NULL);
    //  Servers often close without a close_notify after Connection: close;
    //  the response has been read whole by then
    if (conn->tls)
        SSL_CTX_set_options (conn->tls, SSL_OP_IGNORE_UNEXPECTED_EOF);
    conn->ssl = conn->tls ? of_tls_client_ssl (conn->tls, url->host) : NULL;
    if (!conn->ssl || SSL_set_fd (conn->ssl, conn->fd) != 1) {
        snprintf (error, size, "cannot set up TLS (OpenSSL's trust store: SSL_CERT_FILE?)");
        return -1;
    }
    ERR_clear_error ();
    int rc;
    while ((rc = SSL_connect (conn->ssl)) != 1)
        if (s_retry (conn, rc, 0, deadline) != 0) {
            long verify = SSL_get_verify_result (conn->ssl);
            unsigned long code = ERR_peek_last_error ();
            const char *reason = code ? ERR_reason_error_string (code) : NULL;
            if (verify != X509_V_OK)
                snprintf (error, size, "%s:%s: TLS: certificate verify failed: %s (trust its CA "
                          "with SSL_CERT_FILE, or --insecure)", url->host, url->port,
                          X509_verify_cert_error_string (verify));
            else
                snprintf (error, size, "%s:%s: TLS handshake failed: %s", url->host, url->port,
                          reason ? reason : "no answer in time, or not TLS");
            ERR_clear_error ();
            return -1;
        }
    return 0;
}

static void
s_close (s_conn_t *conn)
{
    if (conn->ssl)
        SSL_free (conn->ssl);
    if (conn->tls)
        SSL_CTX_free (conn->tls);
    if (conn->fd >= 0)
        close (conn->fd);
    *conn = (s_conn_t) {.fd = -1};
}

static int
s_send_all (s_conn_t *conn, const char *data, size_t size, long deadline)
{
    while (size) {
        ssize_t sent = conn->ssl ? SSL_write (conn->ssl, data, (int) size)
                                 : send (conn->fd, data, size, MSG_NOSIGNAL);
        if (sent <= 0) {
            if (s_retry (conn, (int) sent, POLLOUT, deadline) != 0)
                return -1;
            continue;
        }
        data += sent;
        size -= (size_t) sent;
    }
    return 0;
}

//  Reads until the server closes; the bytes in *data (caller frees)
static int
s_receive_all (s_conn_t *conn, long deadline, char **data, size_t *length)
{
    size_t capacity = 4096;
    *data = (char *) malloc (capacity);
    *length = 0;
    while (true) {
        if (*length + 1 >= capacity) {
            if (capacity >= CTL_HTTP_BODY_MAX + S_HEAD_MAX)
                return -1;
            capacity *= 2;
            *data = (char *) realloc (*data, capacity);
        }
        size_t room = capacity - *length - 1;
        ssize_t got = conn->ssl ? SSL_read (conn->ssl, *data + *length, (int) room)
                                : recv (conn->fd, *data + *length, room, 0);
        if (got > 0) {
            *length += (size_t) got;
            continue;
        }
        //  The end: the server closed (with a close_notify or without one: see
        //  s_handshake)
        if (conn->ssl ? SSL_get_error (conn->ssl, (int) got) == SSL_ERROR_ZERO_RETURN : got == 0)
            break;
        if (s_retry (conn, (int) got, POLLIN, deadline) != 0)
            return -1;
    }
    (*data) [*length] = 0;
    return 0;
}

//  Decodes a chunked body in place; its new length, or -1
static long
s_unchunk (char *body, size_t length)
{
    size_t in = 0, out = 0;
    while (in < length) {
        char *end;
        unsigned long chunk = strtoul (body + in, &end, 16);
        char *line = strstr (body + in, "\r\n");
        if (!line || end == body + in)
            return -1;
        in = (size_t) (line - body) + 2;
        if (chunk == 0)
            break;
        if (in + chunk > length)
            return -1;
        memmove (body + out, body + in, chunk);
        out += chunk;
        in += chunk + 2;
    }
    body [out] = 0;
    return (long) out;
}

//  Reads the response; a HEAD's has no body whatever its Content-Length says
static int
s_parse (char *data, size_t length, bool head, ctl_response_t *response)
{
    char *head_end = strstr (data, "\r\n\r\n");
    if (!head_end || sscanf (data, "HTTP/1.%*d %d", &response->status) != 1)
        return -1;
    *head_end = 0;
    bool chunked = false;
    long declared = -1;         //  Content-Length
    for (char *line = strstr (data, "\r\n"); line && line < head_end; line = strstr (line, "\r\n")) {
        line += 2;
        if (strncasecmp (line, "X-Total-Count:", 14) == 0)
            response->total = strtol (line + 14, NULL, 10);
        else if (strncasecmp (line, "Content-Length:", 15) == 0)
            declared = strtol (line + 15, NULL, 10);
        else if (strncasecmp (line, "Transfer-Encoding:", 18) == 0 && strstr (line, "chunked"))
            chunked = true;
    }
    char *body = head_end + 4;
    long size = (long) (length - (size_t) (body - data));
    if (chunked)
        size = s_unchunk (body, (size_t) size);
    else if (!head && declared >= 0 && size < declared)
        return -1;              //  cut short
    if (size < 0)
        return -1;
    if (size > 0) {
        response->body = (char *) malloc ((size_t) size + 1);
        memcpy (response->body, body, (size_t) size);
        response->body [size] = 0;
        response->size = (size_t) size;
    }
    return 0;
}

int
ctl_http_request (const ctl_server_t *server, const char *method, const char *path,
                  const char *body, ctl_response_t *response, char *error, size_t size)
{
    assert (server && server->url && method && path && response);
    *response = (ctl_response_t) {.total = -1};
    s_url_t parts;
    if (s_parse_url (server->url, &parts, error, size) != 0)
        return -1;
    long deadline = s_now_ms () + server->timeout_ms;
    s_conn_t conn = {.fd = s_connect (&parts, deadline, error, size)};
    if (conn.fd < 0)
        return -1;
    if (parts.tls && s_handshake (&conn, &parts, server->insecure, deadline, error, size) != 0) {
        s_close (&conn);
        return -1;
    }
    const char *token = server->token;
    bool v6 = strchr (parts.host, ':') != NULL;
    size_t body_size = body ? strlen (body) : 0;
    char auth [1024] = "";
    if (token)
        snprintf (auth, sizeof auth, "Authorization: Bearer %s\r\n", token);
    char *request = NULL;
    int request_size = asprintf (&request,
                                 "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n%sUser-Agent: "
                                 "ollamaflowctl/%s\r\nAccept: application/json\r\n%s"
                                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                                 method, parts.prefix, path, v6 ? "[" : "", parts.host,
                                 v6 ? "]" : "", parts.port, auth, OF_VERSION,
                                 body ? "Content-Type: application/json\r\n" : "", body_size);
    char *data = NULL;
    size_t length = 0;
    int rc = request_size > 0 && s_send_all (&conn, request, (size_t) request_size, deadline) == 0
                     && s_send_all (&conn, body ? body : "", body_size, deadline) == 0
                 ? s_receive_all (&conn, deadline, &data, &length)
                 : -1;
    s_close (&conn);
    free (request);
    if (rc != 0)
        snprintf (error, size, "%s:%s did not answer within %d ms", parts.host, parts.port,
                  server->timeout_ms);
    else if (s_parse (data, length, streq (method, "HEAD"), response) != 0) {
        snprintf (error, size, "%s:%s answered something that is not HTTP, or cut it short", parts.host,
                  parts.port);
        rc = -1;
    }
    free (data);
    return rc;
}

void
ctl_http_free (ctl_response_t *response)
{
    free (response->body);
    response->body = NULL;
}

//  --------------------------------------------------------------------------
//  Self test

void
ctl_http_test (bool verbose)
{
    (void) verbose;
    printf (" * ctl_http: ");
    s_url_t url;
    char error [256];
    assert (s_parse_url ("http://127.0.0.1:43411", &url, error, sizeof error) == 0);
    assert (!strcmp (url.host, "127.0.0.1") && !strcmp (url.port, "43411") && !url.prefix [0]);
    assert (s_parse_url ("http://[::1]:8/of/", &url, error, sizeof error) == 0);
    assert (!strcmp (url.host, "::1") && !strcmp (url.port, "8") && !strcmp (url.prefix, "/of"));
    assert (s_parse_url ("http://example.com", &url, error, sizeof error) == 0);
    assert (!strcmp (url.port, "80"));
    assert (!url.tls);
    assert (s_parse_url ("https://x", &url, error, sizeof error) == 0);
    assert (url.tls && !strcmp (url.host, "x") && !strcmp (url.port, "443"));
    assert (s_parse_url ("HTTPS://[::1]:8443/p", &url, error, sizeof error) == 0);
    assert (url.tls && !strcmp (url.port, "8443") && !strcmp (url.prefix, "/p"));
    assert (s_parse_url ("ftp://x", &url, error, sizeof error) == -1);
    assert (s_parse_url ("http://x:abc", &url, error, sizeof error) == -1);
    assert (s_parse_url ("http://", &url, error, sizeof error) == -1);

    char head [] = "HTTP/1.1 200 OK\r\nX-Total-Count: 7\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    ctl_response_t response = {.total = -1};
    assert (s_parse (head, strlen (head), false, &response) == 0);
    assert (response.status == 200 && response.total == 7 && !strcmp (response.body, "abcde"));
    ctl_http_free (&response);
    char plain [] = "HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}";
    response = (ctl_response_t) {.total = -1};
    assert (s_parse (plain, strlen (plain), false, &response) == 0);
    assert (response.status == 404 && response.total == -1 && !strcmp (response.body, "{}"));
    ctl_http_free (&response);
    char short_body [] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}";
    assert (s_parse (short_body, strlen (short_body), false, &response) == -1);
    char head_reply [] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    assert (s_parse (head_reply, strlen (head_reply), true, &response) == 0);
    assert (response.status == 200);
    ctl_http_free (&response);
    char junk [] = "SSH-2.0-OpenSSH\r\n";
    assert (s_parse (junk, strlen (junk), false, &response) == -1);
    //  Nobody listens on port 1
    ctl_server_t nobody = {"http://127.0.0.1:1", NULL, 2000, false};
    assert (ctl_http_request (&nobody, "GET", "/", NULL, &response, error, sizeof error) == -1);
    assert (strstr (error, "cannot connect"));
    nobody.url = "https://127.0.0.1:1";
    assert (ctl_http_request (&nobody, "GET", "/", NULL, &response, error, sizeof error) == -1);
    assert (strstr (error, "cannot connect"));
    printf ("OK\n");
}

/*  =========================================================================
    bench-load - the benchmark's HTTP/1.1 load generator

    One libevent loop, raw non-blocking sockets and a small response parser
    (bl_response: status line, Content-Length, chunked or close-delimited
    body; distributions in bl_samples), so that it holds 10,000
    streams on one core and time-stamps every NDJSON line as it arrives.
    wrk measures throughput at saturation; this program does what wrk cannot:

    closed loop   --connections N: N connections each send their next request
                  when the last one ends, for --duration seconds
    open loop     --rate R [--poisson]: arrivals at R per second, fixed or
                  exponential spacing, on a pool of at most --max-connections;
                  latency counts from the scheduled arrival (no coordinated
                  omission)
    hold          --once with --connections N: N streams started over
                  --ramp-ms, held open; once all sent their first line (or at
                  --duration), the RSS of --rss-pids is read after --settle-ms

    sessions      --sessions FILE: conversations (bl_sessions); each turn is
                  sent its think time after the previous answer, with the
                  history; --time-scale divides the file's times

    Bodies: --body JSON, or --bodies FILE (one per line, used in turn);
    --path (default /api/generate) and --header 'Name: value' (repeated;
    a gateway's routing headers) shape their requests;
    --conversation-ids gives each request its own X-Conversation-Id.
    --slo-ms MS counts the good requests: 2xx with a first byte within MS.
    Prints one JSON object: counts, statuses, and the distributions of
    latency (request to last byte), ttfb (to the first body byte), gap
    (between two consecutive body lines of one response; the blank lines
    that end SSE events are none) and delay (from a
    line's "created_at" stamp to its arrival), in milliseconds.
    Every run is bounded: --duration, then at most --drain seconds.
    =========================================================================
*/

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <getopt.h>

#include "bl_response.h"
#include "bl_samples.h"
#include "bl_sessions.h"

#define BL_READ_CHUNK       65536
#define BL_BODIES_MAX       4096        //  bodies in a --bodies file
#define BL_BODY_MAX         65536       //  longest body
#define BL_TICK_MS          100         //  timeout scan
#define BL_PIDS_MAX         32

typedef enum {
    BL_IDLE,            //  connected, nothing in flight (pool)
    BL_CONNECTING,
    BL_WRITING,
    BL_READING          //  the response (conn->response)
} bl_state_t;

typedef struct bl_conn_s bl_conn_t;
struct bl_conn_s {
    int fd;
    int index;
    bl_state_t state;
    struct event *ev;
    bool want_write;
    char *out;                  //  request bytes, not owned (unless own_out)
    char *own_out;              //  a request built for this send, owned
    size_t out_len, out_sent;
    bl_session_t *session;      //  sessions: the conversation of the request in flight
    char *line;                 //  sessions: the body line being received
    size_t line_len, line_cap;
    char *in;                   //  unparsed input
    size_t in_len, in_cap;
    int64_t t_start;            //  scheduled or sent time of the request in flight
    int64_t t_first;            //  first body byte, 0 = none yet
    int64_t t_line;             //  last body line, 0 = none yet
    bl_response_t response;     //  the response in flight
    bool keep_alive;            //  the connection can take another request
    bool in_flight;
    bool held_ready;            //  hold mode: this stream sent its first line
    bl_conn_t *next_idle;
};

static struct {
    //  options
    const char *host;
    int port;
    const char *path;
    const char *host_header;
    char *headers;              //  --header lines, each ending in CRLF ("" when none)
    int connections;
    double rate;
    bool poisson;
    int max_connections;
    double duration;
    double drain;
    bool once;
    int ramp_ms;
    int settle_ms;
    double timeout;
    unsigned seed;
    double scale;
    double slo_ms;
    bool conversation_ids;
    long next_conversation;
    bl_sessions_t *sessions;
    size_t sessions_left;
    long sessions_failed, turns_unsent;
    pid_t pids [BL_PIDS_MAX];
    int pid_count;
    //  requests, one per body (and the bodies, for per-request headers)
    char **bodies;
    char **requests;
    size_t *request_lens;
    int request_count;
    int next_request;
    //  state
    struct event_base *base;
    struct sockaddr_in addr;
    bl_conn_t **conns;
    int conn_count;
    int open_conns;
    bl_conn_t *idle;
    int64_t t0, t_end_issue, t_next_arrival;
    int64_t *pending;           //  open loop: arrivals waiting for a connection (ring)
    size_t pending_head, pending_len, pending_cap;
    bool issuing;
    int in_flight;
    int ready;
    int64_t t_ready;
    //  results
    long sent, completed, completed_in_window, errors, timeouts, connect_errors, good;
    long status_counts [6];
    bl_samples_t latency, ttfb, gap, delay;
    int64_t wall_now;           //  CLOCK_REALTIME at the read being parsed
    long rss_kb [BL_PIDS_MAX];
    long rss_sum_kb;
    bool rss_read;
    struct event *arrival_ev, *tick_ev, *stop_ev;
} self;

static int64_t
s_clock (clockid_t clock)
{
    struct timespec ts;
    clock_gettime (clock, &ts);
    return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
s_now (void)
{
    return s_clock (CLOCK_MONOTONIC);
}

//  The wall time of a line's "created_at" (RFC 3339 UTC, up to nanoseconds,
//  as Ollama and ollama-sim write it); 0 when the line has none
static int64_t
s_created_at (const char *line, size_t len)
{
    static const char key [] = "\"created_at\":\"";
    const char *at = memmem (line, len, key, sizeof key - 1);
    if (!at)
        return 0;
    at += sizeof key - 1;
    size_t left = len - (size_t) (at - line);
    struct tm tm = {0};
    if (left < 20 || sscanf (at, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t ns = (int64_t) timegm (&tm) * 1000000000;
    if (at [19] == '.') {
        int64_t scale = 100000000;
        for (size_t i = 20; i < left && at [i] >= '0' && at [i] <= '9'; i++, scale /= 10)
            ns += (at [i] - '0') * scale;
    }
    return ns;
}

static void s_conn_close (bl_conn_t *conn);
static void s_issue (bl_conn_t *conn, int64_t t_start);
static void s_conn_event (evutil_socket_t fd, short what, void *arg);
static void s_stop (void);

static void
s_conn_watch (bl_conn_t *conn, bool write)
{
    if (conn->ev && conn->want_write == write)
        return;
    if (conn->ev) {
        event_del (conn->ev);
        event_free (conn->ev);
    }
    conn->want_write = write;
    conn->ev = event_new (self.base, conn->fd, (write? EV_WRITE: EV_READ) | EV_PERSIST,
                          s_conn_event, conn);
    event_add (conn->ev, NULL);
}

//  Opens a connection; NULL when the socket cannot be made
static bl_conn_t *
s_conn_open (void)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        self.connect_errors++;
        return NULL;
    }
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect (fd, (struct sockaddr *) &self.addr, sizeof self.addr) < 0
    &&  errno != EINPROGRESS) {
        close (fd);
        self.connect_errors++;
        return NULL;
    }
    bl_conn_t *conn = calloc (1, sizeof *conn);
    conn->fd = fd;
    conn->state = BL_CONNECTING;
    conn->index = self.conn_count;
    self.conns = realloc (self.conns, (self.conn_count + 1) * sizeof *self.conns);
    self.conns [self.conn_count++] = conn;
    self.open_conns++;
    s_conn_watch (conn, true);
    return conn;
}

static void
s_conn_close (bl_conn_t *conn)
{
    if (conn->fd < 0)
        return;
    if (conn->ev) {
        event_del (conn->ev);
        event_free (conn->ev);
        conn->ev = NULL;
    }
    close (conn->fd);
    conn->fd = -1;
    self.open_conns--;
    free (conn->line);
    conn->line = NULL;
    conn->line_len = conn->line_cap = 0;
    free (conn->in);
    conn->in = NULL;
    conn->in_len = conn->in_cap = 0;
}

//  The request in flight on conn failed (reset, timeout, bad response)
static void s_session_end (bl_session_t *session, bool failed);

static void
s_fail (bl_conn_t *conn, bool timeout)
{
    if (conn->in_flight) {
        conn->in_flight = false;
        self.in_flight--;
        if (timeout)
            self.timeouts++;
        else
            self.errors++;
        if (conn->session) {
            bl_session_t *session = conn->session;
            conn->session = NULL;
            s_session_end (session, true);
        }
    }
    s_conn_close (conn);
}

static void s_conn_free (bl_conn_t *conn);

//  The connection broke: the request in flight failed; the closed and the
//  open loop carry on with a new connection
static void
s_broken (bl_conn_t *conn, bool timeout)
{
    s_fail (conn, timeout);
    if (!self.once)
        s_conn_free (conn);
}

static char *s_request (const char *body, long conversation);

static void
s_next_body (bl_conn_t *conn)
{
    free (conn->own_out);
    conn->own_out = NULL;
    if (conn->session) {
        conn->own_out = bl_session_request (conn->session, self.path, self.host_header,
                                            &conn->out_len);
        conn->out = conn->own_out;
        return;
    }
    if (self.conversation_ids) {
        conn->own_out = s_request (self.bodies [self.next_request], ++self.next_conversation);
        conn->out = conn->own_out;
        conn->out_len = strlen (conn->out);
    }
    else {
        conn->out = self.requests [self.next_request];
        conn->out_len = self.request_lens [self.next_request];
    }
    self.next_request = (self.next_request + 1) % self.request_count;
}

//  Sends what is left of the request; false when the connection broke
static bool
s_write (bl_conn_t *conn)
{
    while (conn->out_sent < conn->out_len) {
        ssize_t n = send (conn->fd, conn->out + conn->out_sent, conn->out_len - conn->out_sent,
                          MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                s_conn_watch (conn, true);
                return true;
            }
            return false;
        }
        conn->out_sent += (size_t) n;
    }
    conn->state = BL_READING;
    s_conn_watch (conn, false);
    return true;
}

static void
s_issue (bl_conn_t *conn, int64_t t_start)
{
    s_next_body (conn);
    conn->out_sent = 0;
    conn->t_start = t_start;
    conn->t_first = 0;
    conn->t_line = 0;
    bl_response_reset (&conn->response);
    conn->in_flight = true;
    self.in_flight++;
    self.sent++;
    if (conn->state == BL_CONNECTING)
        return;                 //  sent once connected
    conn->state = BL_WRITING;
    if (!s_write (conn))
        s_broken (conn, false);
}

//  A connection is free: the next pending arrival, the next closed-loop
//  request, or back to the pool
static void
s_conn_free (bl_conn_t *conn)
{
    if (conn->fd < 0 || !conn->keep_alive) {
        s_conn_close (conn);
        conn = NULL;
    }
    if (self.sessions) {
        if (conn) {
            conn->state = BL_IDLE;
            conn->next_idle = self.idle;
            self.idle = conn;
        }
        return;
    }
    if (self.rate > 0) {
        if (self.pending_len) {
            if (!conn)
                conn = s_conn_open ();
            if (!conn)
                return;
            int64_t t = self.pending [self.pending_head];
            self.pending_head = (self.pending_head + 1) % self.pending_cap;
            self.pending_len--;
            s_issue (conn, t);
        }
        else
        if (conn) {
            conn->state = BL_IDLE;
            conn->next_idle = self.idle;
            self.idle = conn;
        }
        return;
    }
    if (self.issuing && !self.once) {
        if (!conn)
            conn = s_conn_open ();
        if (conn)
            s_issue (conn, s_now ());
    }
    else
    if (conn)
        s_conn_close (conn);
}

static void
s_complete (bl_conn_t *conn, int64_t now)
{
    conn->in_flight = false;
    self.in_flight--;
    self.completed++;
    if (now <= self.t_end_issue)
        self.completed_in_window++;
    conn->keep_alive = conn->response.keep_alive;
    int bucket = conn->response.status / 100;
    self.status_counts [bucket >= 1 && bucket <= 5? bucket: 0]++;
    bl_samples_add (&self.latency, now - conn->t_start);
    if (conn->t_first)
        bl_samples_add (&self.ttfb, conn->t_first - conn->t_start);
    if (bucket == 2 && conn->t_first && self.slo_ms > 0
    &&  conn->t_first - conn->t_start <= (int64_t) (self.slo_ms * 1e6))
        self.good++;
    bl_session_t *session = conn->session;
    conn->session = NULL;
    conn->state = BL_IDLE;
    s_conn_free (conn);
    if (session)
        s_session_end (session, bucket != 2);
    if (!self.issuing && self.in_flight == 0)
        s_stop ();
}

//  Body bytes arrived: the first byte and each line end are time-stamped
static void
s_body_bytes (bl_conn_t *conn, const char *data, size_t len, int64_t now)
{
    if (len == 0)
        return;
    if (!conn->t_first) {
        conn->t_first = now;
        if (self.once && !conn->held_ready) {
            conn->held_ready = true;
            self.ready++;
        }
    }
    if (conn->session) {
        //  The answer's lines, which may be split over reads
        for (size_t i = 0; i < len; i++) {
            if (data [i] == '\n') {
                bl_session_line (conn->session, conn->line, conn->line_len);
                conn->line_len = 0;
                continue;
            }
            if (conn->line_len == conn->line_cap) {
                conn->line_cap = conn->line_cap? conn->line_cap * 2: 4096;
                conn->line = realloc (conn->line, conn->line_cap);
            }
            conn->line [conn->line_len++] = data [i];
        }
    }
    const char *line = data;
    for (const char *p = memchr (data, '\n', len); p;
         p = memchr (p + 1, '\n', len - (size_t) (p + 1 - data))) {
        //  SSE ends every event with a blank line: it is no chunk of its own
        if (p == line) {
            line = p + 1;
            if ((size_t) (p + 1 - data) >= len)
                break;
            continue;
        }
        if (conn->t_line)
            bl_samples_add (&self.gap, now - conn->t_line);
        conn->t_line = now;
        //  How long the line took from its writer to here (lines split over
        //  two reads are skipped)
        int64_t created = s_created_at (line, (size_t) (p - line));
        if (created)
            bl_samples_add (&self.delay, self.wall_now - created);
        line = p + 1;
        if ((size_t) (p + 1 - data) >= len)
            break;
    }
}

//  Body bytes of the response in flight, read at now
typedef struct {
    bl_conn_t *conn;
    int64_t now;
} bl_read_t;

static void
s_on_body (void *arg, const char *data, size_t len)
{
    bl_read_t *read = (bl_read_t *) arg;
    s_body_bytes (read->conn, data, len, read->now);
}

//  Runs the parser over the input; false when the connection must go
static bool
s_parse (bl_conn_t *conn, int64_t now)
{
    if (conn->state != BL_READING)
        return false;           //  bytes when nothing was asked
    bool complete;
    bl_read_t read = {conn, now};
    long used = bl_response_feed (&conn->response, conn->in, conn->in_len, &complete,
                                  s_on_body, &read);
    if (used < 0)
        return false;
    memmove (conn->in, conn->in + used, conn->in_len - (size_t) used);
    conn->in_len -= (size_t) used;
    if (complete)
        s_complete (conn, now);
    return true;
}

static void
s_conn_event (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    bl_conn_t *conn = (bl_conn_t *) arg;
    if (what & EV_WRITE) {
        if (conn->state == BL_CONNECTING) {
            int err = 0;
            socklen_t len = sizeof err;
            getsockopt (conn->fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err) {
                self.connect_errors++;
                s_broken (conn, false);
                return;
            }
            if (!conn->in_flight) {
                conn->state = BL_IDLE;
                conn->keep_alive = true;
                s_conn_free (conn);
                return;
            }
            conn->state = BL_WRITING;
        }
        if (!s_write (conn))
            s_broken (conn, false);
        return;
    }
    int64_t now = s_now ();
    self.wall_now = s_clock (CLOCK_REALTIME);
    if (conn->in_cap - conn->in_len < BL_READ_CHUNK) {
        conn->in_cap = conn->in_len + BL_READ_CHUNK;
        conn->in = realloc (conn->in, conn->in_cap);
    }
    ssize_t n = recv (conn->fd, conn->in + conn->in_len, conn->in_cap - conn->in_len, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        if (n == 0 && conn->state == BL_READING && bl_response_ends_at_close (&conn->response)
            && conn->in_flight)
            s_complete (conn, now);
        else
        if (conn->in_flight)
            s_broken (conn, false);
        else
            s_conn_close (conn);
        return;
    }
    conn->in_len += (size_t) n;
    if (!s_parse (conn, now))
        s_broken (conn, false);
    //  A small read buffer left behind by a long idle pool is fine
}

static void
s_read_rss (void)
{
    self.rss_sum_kb = 0;
    for (int i = 0; i < self.pid_count; i++) {
        char path [64], line [256];
        snprintf (path, sizeof path, "/proc/%d/status", (int) self.pids [i]);
        FILE *f = fopen (path, "r");
        self.rss_kb [i] = -1;
        if (!f)
            continue;
        while (fgets (line, sizeof line, f))
            if (strncmp (line, "VmRSS:", 6) == 0)
                self.rss_kb [i] = atol (line + 6);
        fclose (f);
        if (self.rss_kb [i] > 0)
            self.rss_sum_kb += self.rss_kb [i];
    }
    self.rss_read = true;
}

static void
s_stop (void)
{
    event_base_loopbreak (self.base);
}

static void
s_on_stop (evutil_socket_t fd, short what, void *arg)
{
    (void) fd, (void) what, (void) arg;
    s_stop ();
}

//  Hold mode: the settle time after the last stream came up has passed
static void
s_on_settled (evutil_socket_t fd, short what, void *arg)
{
    (void) fd, (void) what, (void) arg;
    s_read_rss ();
    s_stop ();
}

static void
s_on_tick (evutil_socket_t fd, short what, void *arg)
{
    (void) fd, (void) what, (void) arg;
    int64_t now = s_now ();
    if (self.timeout > 0)
        for (int i = 0; i < self.conn_count; i++) {
            bl_conn_t *conn = self.conns [i];
            if (conn->fd >= 0 && conn->in_flight
            &&  now - conn->t_start > (int64_t) (self.timeout * 1e9)) {
                s_broken (conn, true);
            }
        }
    if (self.once && !self.t_ready && self.ready >= self.connections) {
        self.t_ready = now;
        struct timeval tv = {self.settle_ms / 1000, (self.settle_ms % 1000) * 1000};
        event_base_once (self.base, -1, EV_TIMEOUT, s_on_settled, NULL, &tv);
    }
    if (self.issuing && now >= self.t_end_issue) {
        self.issuing = false;
        if (self.once && !self.rss_read)
            s_read_rss ();      //  not every stream came up: measure what there is
        if (self.in_flight == 0 || self.once) {
            s_stop ();
            return;
        }
        struct timeval tv = {(time_t) self.drain, (long) ((self.drain - (time_t) self.drain) * 1e6)};
        self.stop_ev = evtimer_new (self.base, s_on_stop, NULL);
        evtimer_add (self.stop_ev, &tv);
    }
}

//  Open loop: every arrival that is due takes an idle connection, a new one,
//  or waits for one
static void
s_on_arrival (evutil_socket_t fd, short what, void *arg)
{
    (void) fd, (void) what, (void) arg;
    int64_t now = s_now ();
    while (self.issuing && self.t_next_arrival <= now && self.t_next_arrival < self.t_end_issue) {
        int64_t t = self.t_next_arrival;
        double spacing = 1.0 / self.rate;
        if (self.poisson)
            spacing = -log (1.0 - (double) rand_r (&self.seed) / ((double) RAND_MAX + 1.0)) / self.rate;
        self.t_next_arrival += (int64_t) (spacing * 1e9);
        //  the pool may hold connections that the server closed since
        while (self.idle && self.idle->fd < 0)
            self.idle = self.idle->next_idle;
        bl_conn_t *conn = self.idle;
        if (conn) {
            self.idle = conn->next_idle;
            s_issue (conn, t);
        }
        else
        if (self.open_conns < self.max_connections && (conn = s_conn_open ()))
            s_issue (conn, t);
        else {
            if (self.pending_len == self.pending_cap) {
                size_t cap = self.pending_cap? self.pending_cap * 2: 1024;
                int64_t *ring = malloc (cap * sizeof *ring);
                for (size_t i = 0; i < self.pending_len; i++)
                    ring [i] = self.pending [(self.pending_head + i) % self.pending_cap];
                free (self.pending);
                self.pending = ring;
                self.pending_head = 0;
                self.pending_cap = cap;
            }
            self.pending [(self.pending_head + self.pending_len) % self.pending_cap] = t;
            self.pending_len++;
        }
    }
    if (self.t_next_arrival >= self.t_end_issue)
        return;
    int64_t wait = self.t_next_arrival - s_now ();
    if (wait < 0)
        wait = 0;
    struct timeval tv = {(time_t) (wait / 1000000000), (long) (wait % 1000000000 / 1000)};
    evtimer_add (self.arrival_ev, &tv);
}

//  Sessions: sends the session's next turn, due now, on an idle or a new connection
static void
s_session_send (evutil_socket_t fd, short what, void *arg)
{
    (void) fd, (void) what;
    bl_session_t *session = (bl_session_t *) arg;
    while (self.idle && self.idle->fd < 0)
        self.idle = self.idle->next_idle;
    bl_conn_t *conn = self.idle;
    if (conn)
        self.idle = conn->next_idle;
    else
        conn = s_conn_open ();
    if (!conn) {
        s_session_end (session, true);
        return;
    }
    conn->session = session;
    s_issue (conn, s_now ());
}

//  A turn of the session ended (failed: the session ends with it)
static void
s_session_end (bl_session_t *session, bool failed)
{
    int64_t think_ns = 0;
    if (!failed && bl_session_turn_done (session, &think_ns) && self.issuing) {
        struct timeval tv = {(time_t) (think_ns / 1000000000), (long) (think_ns % 1000000000 / 1000)};
        event_base_once (self.base, -1, EV_TIMEOUT, s_session_send, session, &tv);
        return;
    }
    if (failed) {
        self.sessions_failed++;
        self.turns_unsent += bl_session_turns_left (session) - 1;
    }
    else
        self.turns_unsent += bl_session_turns_left (session);
    if (--self.sessions_left == 0)
        s_stop ();
}

//  Hold and closed loop: connection i opens at its share of the ramp
static void
s_on_start (evutil_socket_t fd, short what, void *arg)
{
    (void) fd, (void) what, (void) arg;
    if (!self.issuing)
        return;
    bl_conn_t *conn = s_conn_open ();
    if (conn)
        s_issue (conn, s_now ());
    else
    if (self.once)
        self.errors++;
}

//  The request of a body; conversation > 0 adds X-Conversation-Id: r<conversation>
static char *
s_request (const char *body, long conversation)
{
    size_t len = strlen (body);
    size_t cap = len + 512 + strlen (self.path) + strlen (self.host_header) + strlen (self.headers);
    char *request = malloc (cap);
    char extra [64] = "";
    if (conversation > 0)
        snprintf (extra, sizeof extra, "X-Conversation-Id: r%ld\r\n", conversation);
    snprintf (request, cap,
              "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
              "Content-Length: %zu\r\nUser-Agent: bench-load\r\n%s%s\r\n%s",
              self.path, self.host_header, len, self.headers, extra, body);
    return request;
}

static void
s_add_request (const char *body)
{
    self.requests = realloc (self.requests, (self.request_count + 1) * sizeof *self.requests);
    self.request_lens = realloc (self.request_lens,
                                 (self.request_count + 1) * sizeof *self.request_lens);
    self.bodies = realloc (self.bodies, (self.request_count + 1) * sizeof *self.bodies);
    self.bodies [self.request_count] = strdup (body);
    self.requests [self.request_count] = s_request (body, 0);
    self.request_lens [self.request_count] = strlen (self.requests [self.request_count]);
    self.request_count++;
}

static int
s_load_bodies (const char *file)
{
    FILE *f = fopen (file, "r");
    if (!f)
        return -1;
    char *line = malloc (BL_BODY_MAX);
    while (self.request_count < BL_BODIES_MAX && fgets (line, BL_BODY_MAX, f)) {
        line [strcspn (line, "\r\n")] = 0;
        if (*line)
            s_add_request (line);
    }
    free (line);
    fclose (f);
    return self.request_count? 0: -1;
}

//  Adds a --header "Name: value" to every request; false if it is not one header line
static bool
s_add_header (const char *header)
{
    const char *colon = strchr (header, ':');
    if (!colon || colon == header || strpbrk (header, "\r\n"))
        return false;
    size_t have = strlen (self.headers), add = strlen (header);
    self.headers = realloc (self.headers, have + add + 3);
    memcpy (self.headers + have, header, add);
    memcpy (self.headers + have + add, "\r\n", 3);
    return true;
}

static void
s_usage (void)
{
    fprintf (stderr,
        "usage: bench-load --port N [--host 127.0.0.1] [--path /api/generate] [--host-header H]\n"
        "         [--header 'Name: value' ...  (every --body/--bodies request)]\n"
        "         (--body JSON | --bodies FILE) [--duration S] [--drain S] [--timeout S]\n"
        "         [--connections N [--ramp-ms MS] [--once --settle-ms MS --rss-pids P,P]]\n"
        "         [--rate R [--poisson] [--max-connections N] [--seed N]]\n"
        "         [--sessions FILE [--time-scale X]] [--conversation-ids] [--slo-ms MS]\n");
}

int
main (int argc, char *argv [])
{
    self.host = "127.0.0.1";
    self.path = "/api/generate";
    self.headers = strdup ("");
    self.connections = 1;
    self.max_connections = 10000;
    self.duration = 5;
    self.drain = 10;
    self.settle_ms = 1000;
    self.seed = 1;
    self.scale = 1;
    const char *body = NULL, *bodies = NULL, *pids = NULL, *sessions = NULL;
    static const struct option options [] = {
        {"host", 1, NULL, 'h'}, {"port", 1, NULL, 'p'}, {"path", 1, NULL, 'P'},
        {"host-header", 1, NULL, 'H'}, {"body", 1, NULL, 'b'}, {"bodies", 1, NULL, 'B'},
        {"connections", 1, NULL, 'c'}, {"rate", 1, NULL, 'r'}, {"poisson", 0, NULL, 'e'},
        {"max-connections", 1, NULL, 'm'}, {"duration", 1, NULL, 'd'}, {"drain", 1, NULL, 'D'},
        {"once", 0, NULL, 'o'}, {"ramp-ms", 1, NULL, 'R'}, {"settle-ms", 1, NULL, 's'},
        {"rss-pids", 1, NULL, 'x'}, {"timeout", 1, NULL, 't'}, {"seed", 1, NULL, 'S'},
        {"sessions", 1, NULL, 'C'}, {"time-scale", 1, NULL, 'T'}, {"slo-ms", 1, NULL, 'L'},
        {"conversation-ids", 0, NULL, 'I'}, {"header", 1, NULL, 'A'},
        {NULL, 0, NULL, 0}
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
            case 'h': self.host = optarg; break;
            case 'p': self.port = atoi (optarg); break;
            case 'P': self.path = optarg; break;
            case 'H': self.host_header = optarg; break;
            case 'b': body = optarg; break;
            case 'B': bodies = optarg; break;
            case 'c': self.connections = atoi (optarg); break;
            case 'r': self.rate = atof (optarg); break;
            case 'e': self.poisson = true; break;
            case 'm': self.max_connections = atoi (optarg); break;
            case 'd': self.duration = atof (optarg); break;
            case 'D': self.drain = atof (optarg); break;
            case 'o': self.once = true; break;
            case 'R': self.ramp_ms = atoi (optarg); break;
            case 's': self.settle_ms = atoi (optarg); break;
            case 'x': pids = optarg; break;
            case 't': self.timeout = atof (optarg); break;
            case 'S': self.seed = (unsigned) atoi (optarg); break;
            case 'C': sessions = optarg; break;
            case 'T': self.scale = atof (optarg); break;
            case 'L': self.slo_ms = atof (optarg); break;
            case 'I': self.conversation_ids = true; break;
            case 'A':
                if (!s_add_header (optarg)) {
                    fprintf (stderr, "bench-load: --header wants 'Name: value', not '%s'\n", optarg);
                    return 2;
                }
                break;
            default: s_usage (); return 2;
        }
    }
    if (self.port <= 0 || (!body && !bodies && !sessions) || self.connections < 1
        || self.duration <= 0 || !(self.scale > 0)) {
        s_usage ();
        return 2;
    }
    for (const char *p = pids; p && *p && self.pid_count < BL_PIDS_MAX; ) {
        self.pids [self.pid_count++] = (pid_t) atoi (p);
        p = strchr (p, ',');
        if (p)
            p++;
    }
    char host_header [300];
    if (!self.host_header) {
        snprintf (host_header, sizeof host_header, "%s:%d", self.host, self.port);
        self.host_header = host_header;
    }
    if (sessions) {
        char error [256];
        self.sessions = bl_sessions_load (sessions, self.scale, error, sizeof error);
        if (!self.sessions) {
            fprintf (stderr, "bench-load: %s\n", error);
            return 2;
        }
        self.sessions_left = bl_sessions_size (self.sessions);
    }
    else
    if (body)
        s_add_request (body);
    else
    if (s_load_bodies (bodies)) {
        fprintf (stderr, "bench-load: cannot read bodies from %s\n", bodies);
        return 2;
    }
    self.addr.sin_family = AF_INET;
    self.addr.sin_port = htons ((uint16_t) self.port);
    if (inet_pton (AF_INET, self.host, &self.addr.sin_addr) != 1) {
        fprintf (stderr, "bench-load: --host must be an IPv4 address\n");
        return 2;
    }
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit (RLIMIT_NOFILE, &limit);
    }
    struct event_config *cfg = event_config_new ();
    event_config_set_flag (cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    self.base = event_base_new_with_config (cfg);
    event_config_free (cfg);

    self.t0 = s_now ();
    self.t_end_issue = self.t0 + (int64_t) (self.duration * 1e9);
    self.issuing = true;
    self.tick_ev = event_new (self.base, -1, EV_PERSIST, s_on_tick, NULL);
    struct timeval tick = {0, BL_TICK_MS * 1000};
    event_add (self.tick_ev, &tick);
    if (self.sessions)
        for (size_t i = 0; i < bl_sessions_size (self.sessions); i++) {
            bl_session_t *session = bl_sessions_get (self.sessions, i);
            int64_t at = bl_session_start_ns (session);
            struct timeval tv = {(time_t) (at / 1000000000), (long) (at % 1000000000 / 1000)};
            event_base_once (self.base, -1, EV_TIMEOUT, s_session_send, session, &tv);
        }
    else
    if (self.rate > 0) {
        self.t_next_arrival = self.t0;
        self.arrival_ev = evtimer_new (self.base, s_on_arrival, NULL);
        struct timeval zero = {0, 0};
        evtimer_add (self.arrival_ev, &zero);
    }
    else
        for (int i = 0; i < self.connections; i++) {
            int64_t at_us = self.connections > 1
                          ? (int64_t) self.ramp_ms * 1000 * i / self.connections: 0;
            struct timeval tv = {(time_t) (at_us / 1000000), (long) (at_us % 1000000)};
            event_base_once (self.base, -1, EV_TIMEOUT, s_on_start, NULL, &tv);
        }
    event_base_dispatch (self.base);
    int64_t t_stop = s_now ();

    double window = self.duration;
    printf ("{\"sent\":%ld,\"completed\":%ld,\"completed_in_window\":%ld,\"errors\":%ld,"
            "\"timeouts\":%ld,\"connect_errors\":%ld,\"in_flight_at_stop\":%d,"
            "\"status\":{\"2xx\":%ld,\"3xx\":%ld,\"4xx\":%ld,\"5xx\":%ld,\"other\":%ld},"
            "\"window_s\":%.3f,\"elapsed_s\":%.3f,\"rps\":%.2f,\"connections_opened\":%d,"
            "\"good\":%ld,\"sessions\":%zu,\"sessions_unfinished\":%zu,\"sessions_failed\":%ld,"
            "\"turns_unsent\":%ld,",
            self.sent, self.completed, self.completed_in_window, self.errors, self.timeouts,
            self.connect_errors, self.in_flight, self.status_counts [2], self.status_counts [3],
            self.status_counts [4], self.status_counts [5],
            self.status_counts [0] + self.status_counts [1], window, (t_stop - self.t0) / 1e9,
            self.completed_in_window / window, self.conn_count, self.good,
            self.sessions? bl_sessions_size (self.sessions): 0, self.sessions_left,
            self.sessions_failed, self.turns_unsent);
    if (self.once) {
        printf ("\"ready\":%d,\"ready_s\":%.3f,\"rss_sum_kb\":%ld,\"rss_kb\":[", self.ready,
                self.t_ready? (self.t_ready - self.t0) / 1e9: -1.0, self.rss_sum_kb);
        for (int i = 0; i < self.pid_count; i++)
            printf ("%s%ld", i? ",": "", self.rss_kb [i]);
        printf ("],");
    }
    bl_samples_print ("latency_ms", &self.latency, true);
    bl_samples_print ("ttfb_ms", &self.ttfb, true);
    bl_samples_print ("gap_ms", &self.gap, true);
    bl_samples_print ("delay_ms", &self.delay, false);
    printf ("}\n");
    fflush (stdout);
    //  Connections are closed by the exit; a clean teardown of 10,000 sockets
    //  would only delay it
    return 0;
}

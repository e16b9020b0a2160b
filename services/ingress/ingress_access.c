/*  =========================================================================
    ingress_access - the access log: one JSON line per request
    =========================================================================
*/

#include "ingress_access.h"
#include <stdarg.h>
#include <sys/time.h>

#define S_BUFFER_SIZE (64 * 1024)
//  A line without bodies: every field is bounded (ids 160, model 256 escaped)
#define S_LINE_MAX    8192

struct _ingress_access_t {
    FILE *file;
    bool owned;                 //  a file we opened (not stdout)
    int every;                  //  AccessLog.SampleEvery
    uint64_t seen;              //  requests counted for the sampling
    const char *ingress;        //  Ingress.Id (borrowed from the settings)
    bool dirty;                 //  lines written since the last flush
    struct event *flusher;
    char *buffer;               //  the stdio buffer
    time_t second;              //  the second second_text says
    char second_text [24];      //  "yyyy-MM-ddTHH:mm:ss"
};

static void
s_on_flush (evutil_socket_t fd, short what, void *arg)
{
    (void) fd;
    (void) what;
    ingress_access_t *self = (ingress_access_t *) arg;
    if (self->dirty)
        fflush (self->file);
    self->dirty = false;
}

ingress_access_t *
ingress_access_new (struct event_base *base, of_settings_t *settings, char *error, size_t size)
{
    *error = 0;
    if (settings->access_log_sample <= 0)
        return NULL;
    ingress_access_t *self = (ingress_access_t *) zmalloc (sizeof (ingress_access_t));
    self->every = settings->access_log_sample;
    self->ingress = settings->ingress_id;
    const char *path = settings->access_log_file;
    if (path && *path) {
        self->file = fopen (path, "a");
        if (!self->file) {
            snprintf (error, size, "AccessLog.File '%s': %s", path, strerror (errno));
            free (self);
            return NULL;
        }
        self->owned = true;
    }
    else
        self->file = stdout;
    self->buffer = (char *) malloc (S_BUFFER_SIZE);
    setvbuf (self->file, self->buffer, _IOFBF, S_BUFFER_SIZE);
    if (base) {
        self->flusher = event_new (base, -1, EV_PERSIST, s_on_flush, self);
        struct timeval interval = {0, INGRESS_ACCESS_FLUSH_MS * 1000};
        event_add (self->flusher, &interval);
    }
    return self;
}

void
ingress_access_destroy (ingress_access_t **self_p)
{
    assert (self_p);
    ingress_access_t *self = *self_p;
    if (!self)
        return;
    if (self->flusher)
        event_free (self->flusher);
    fflush (self->file);
    if (self->owned)
        fclose (self->file);
    else
        setvbuf (self->file, NULL, _IOLBF, 0);
    free (self->buffer);
    free (self);
    *self_p = NULL;
}

bool
ingress_access_wanted (ingress_access_t *self)
{
    return self && self->seen++ % (uint64_t) self->every == 0;
}

//  A line being written: a buffer on the stack, appended to without a lock
//  or a call per character; one fwrite at the end
typedef struct {
    char *text;
    size_t size, used;
} s_line_t;

static void
s_add (s_line_t *line, const char *data, size_t size)
{
    if (line->used + size < line->size) {
        memcpy (line->text + line->used, data, size);
        line->used += size;
    }
    else
        line->used = line->size;        //  full: the caller drops what does not fit
}

static void
s_add_text (s_line_t *line, const char *text)
{
    s_add (line, text, strlen (text));
}

static void
s_add_printf (s_line_t *line, const char *format, ...)
{
    if (line->used >= line->size)
        return;
    va_list args;
    va_start (args, format);
    int size = vsnprintf (line->text + line->used, line->size - line->used, format, args);
    va_end (args);
    line->used = size < 0 || (size_t) size >= line->size - line->used ? line->size
                                                                      : line->used + (size_t) size;
}

//  A JSON string: quotes, backslashes and control characters escaped (the
//  text is valid UTF-8: it came out of a JSON parser or an Identifier)
static void
s_string (s_line_t *line, const char *text)
{
    s_add (line, "\"", 1);
    const char *run = text;
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        if (*c == '"' || *c == '\\' || *c < 0x20) {
            s_add (line, run, (size_t) ((const char *) c - run));
            if (*c == '"' || *c == '\\') {
                char escaped [2] = {'\\', (char) *c};
                s_add (line, escaped, 2);
            }
            else
                s_add_printf (line, "\\u%04x", *c);
            run = (const char *) c + 1;
        }
    s_add_text (line, run);
    s_add (line, "\"", 1);
}

//  The length of text without a UTF-8 sequence the capture cut short
static size_t
s_utf8_whole (const char *text, size_t length)
{
    const unsigned char *bytes = (const unsigned char *) text;
    size_t start = length;
    while (start > 0 && length - start < 3 && (bytes [start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0 || !(bytes [start - 1] & 0x80))
        return length;
    unsigned char lead = bytes [start - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    return length - (start - 1) < need ? start - 1 : length;
}

//  ,"name":
static void
s_name (s_line_t *line, const char *name)
{
    s_add (line, ",\"", 2);
    s_add_text (line, name);
    s_add (line, "\":", 2);
}

//  A number's digits, at least width of them
static void
s_digits (s_line_t *line, uint64_t value, int width)
{
    char digits [24];
    int at = sizeof digits;
    do {
        digits [--at] = (char) ('0' + value % 10);
        value /= 10;
    } while ((value || (int) sizeof digits - at < width) && at > 0);
    s_add (line, digits + at, sizeof digits - (size_t) at);
}

static void
s_member (s_line_t *line, const char *name, const char *text)
{
    s_name (line, name);
    if (text && *text)
        s_string (line, text);
    else
        s_add_text (line, "null");
}

static void
s_number (s_line_t *line, const char *name, int64_t value)
{
    s_name (line, name);
    if (value >= 0)
        s_digits (line, (uint64_t) value, 1);
    else
        s_add_text (line, "null");
}

//  Milliseconds with 3 decimals, from microseconds
static void
s_ms (s_line_t *line, const char *name, int64_t us)
{
    s_name (line, name);
    if (us >= 0) {
        s_digits (line, (uint64_t) (us / 1000), 1);
        s_add (line, ".", 1);
        s_digits (line, (uint64_t) (us % 1000), 3);
    }
    else
        s_add_text (line, "null");
}

//  "Time":"yyyy-MM-ddTHH:mm:ss.ffffffZ", the seconds formatted once a second
static void
s_time (ingress_access_t *self, s_line_t *line)
{
    struct timeval now;
    gettimeofday (&now, NULL);
    if (now.tv_sec != self->second) {
        struct tm utc;
        gmtime_r (&now.tv_sec, &utc);
        strftime (self->second_text, sizeof self->second_text, "%Y-%m-%dT%H:%M:%S", &utc);
        self->second = now.tv_sec;
    }
    s_add_text (line, "{\"Time\":\"");
    s_add_text (line, self->second_text);
    s_add (line, ".", 1);
    s_digits (line, (uint64_t) now.tv_usec, 6);
    s_add (line, "Z\"", 2);
}

void
ingress_access_write (ingress_access_t *self, const ingress_report_t *report,
                      const char *frontend, const char *backend)
{
    assert (self && report);
    char fixed [S_LINE_MAX];
    bool bodies = report->request_body || report->meter.capture;
    //  Bodies may be long: their lines get a buffer of their own
    size_t size = bodies ? S_LINE_MAX + 8 * INGRESS_ACCESS_BODY_MAX : S_LINE_MAX;
    s_line_t line = {bodies ? (char *) malloc (size) : fixed, size, 0};
    s_time (self, &line);
    s_member (&line, "Ingress", self->ingress);
    s_member (&line, "RequestId", report->id);
    s_member (&line, "Frontend", frontend);
    s_member (&line, "Backend", backend);
    s_member (&line, "Route", report->route);
    s_member (&line, "Kind", report->kind);
    s_member (&line, "Model", report->model);
    s_member (&line, "Key", report->key);
    s_number (&line, "Status", report->status > 0 ? report->status : -1);
    s_member (&line, "Outcome", report->outcome);
    s_member (&line, "Reason", report->reason);
    const ingress_meter_t *meter = &report->meter;
    s_number (&line, "Bytes", (int64_t) meter->bytes);
    s_number (&line, "PromptTokens", meter->tokens_in);
    s_number (&line, "CompletionTokens", meter->tokens_out);
    s_number (&line, "CachedTokens", meter->tokens_cached);
    s_ms (&line, "LoadMs", meter->load_us);
    s_ms (&line, "PrefillMs", meter->prefill_us);
    s_ms (&line, "DecodeMs", meter->decode_us);
    s_ms (&line, "TtfbMs", ingress_meter_ttfb_us (meter));
    s_ms (&line, "TotalMs", ingress_meter_total_us (meter));
    s_number (&line, "QueueMs", report->queue_ms);
    if (report->request_body) {
        char *text = json_dumps (report->request_body, JSON_COMPACT);
        if (text && strlen (text) > INGRESS_ACCESS_BODY_MAX)
            text [s_utf8_whole (text, INGRESS_ACCESS_BODY_MAX)] = 0;
        s_member (&line, "RequestBody", text);
        free (text);
    }
    if (meter->capture) {
        size_t length = evbuffer_get_length (meter->capture);
        evbuffer_add (meter->capture, "", 1);
        char *text = (char *) evbuffer_pullup (meter->capture, -1);
        text [s_utf8_whole (text, length)] = 0;
        s_member (&line, "ResponseBody", text);
    }
    s_add (&line, "}\n", 2);
    //  A line that did not fit is not written half (it cannot happen without bodies: every
    //  other field is bounded)
    if (line.used < line.size) {
        fwrite (line.text, 1, line.used, self->file);
        self->dirty = true;
    }
    if (bodies)
        free (line.text);
}

void
ingress_access_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_access: ");
    char path [] = "/tmp/ingress_access_test_XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    close (fd);
    of_settings_t settings = {.access_log_sample = 2, .access_log_file = path,
                              .ingress_id = "replica-t"};
    char error [256];
    ingress_access_t *self = ingress_access_new (NULL, &settings, error, sizeof error);
    assert (self);
    ingress_report_t report = {"r-1", "/api/chat", "completions", "m\"1\n", 0, 0, "ok", "", 200,
                               3, "main", "gpu1", true, NULL, {0}, NULL};
    ingress_meter_start (&report.meter);
    ingress_meter_capture (&report.meter, 4);
    ingress_meter_feed (&report.meter, "{\"eval_count\":5}", 16);
    ingress_meter_end (&report.meter);
    report.request_body = json_pack ("{s:s}", "model", "m");
    //  One in two: the first and third are wanted
    assert (ingress_access_wanted (self) && !ingress_access_wanted (self));
    assert (ingress_access_wanted (self));
    ingress_access_write (self, &report, "main", "gpu1");
    ingress_meter_release (&report.meter);
    json_decref (report.request_body);
    ingress_access_destroy (&self);

    json_error_t jerr;
    json_t *line = json_load_file (path, 0, &jerr);
    assert (line);
    assert (streq (json_string_value (json_object_get (line, "Model")), "m\"1\n"));
    assert (streq (json_string_value (json_object_get (line, "Ingress")), "replica-t"));
    assert (json_integer_value (json_object_get (line, "CompletionTokens")) == 5);
    assert (json_is_null (json_object_get (line, "PromptTokens")));
    assert (json_is_null (json_object_get (line, "Reason")));
    assert (json_integer_value (json_object_get (line, "QueueMs")) == 3);
    assert (of_schema_time_parse (json_string_value (json_object_get (line, "Time"))) > 0);
    assert (strlen (json_string_value (json_object_get (line, "Time"))) == 27);
    assert (streq (json_string_value (json_object_get (line, "RequestBody")), "{\"model\":\"m\"}"));
    assert (streq (json_string_value (json_object_get (line, "ResponseBody")), "{\"ev"));
    json_decref (line);
    unlink (path);

    assert (s_utf8_whole ("ab\xc3\xa9", 4) == 4 && s_utf8_whole ("ab\xc3", 3) == 2);
    assert (s_utf8_whole ("\xe2\x82", 2) == 0 && s_utf8_whole ("abc", 3) == 3);

    //  Off, and a file that cannot be opened
    settings.access_log_sample = 0;
    assert (!ingress_access_new (NULL, &settings, error, sizeof error) && !*error);
    settings.access_log_sample = 1;
    settings.access_log_file = "/nonexistent-dir/access.log";
    assert (!ingress_access_new (NULL, &settings, error, sizeof error));
    assert (strstr (error, "AccessLog.File '/nonexistent-dir/access.log'"));
    printf ("OK\n");
}

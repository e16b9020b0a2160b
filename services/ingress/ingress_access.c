/*  =========================================================================
    ingress_access - the access log: one JSON line per request
    =========================================================================
*/

#include "ingress_access.h"

#define S_BUFFER_SIZE (64 * 1024)

struct _ingress_access_t {
    FILE *file;
    bool owned;                 //  a file we opened (not stdout)
    int every;                  //  AccessLog.SampleEvery
    uint64_t seen;              //  requests counted for the sampling
    const char *ingress;        //  Ingress.Id (borrowed from the settings)
    bool dirty;                 //  lines written since the last flush
    struct event *flusher;
    char *buffer;               //  the stdio buffer
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

//  A JSON string: quotes, backslashes and control characters escaped (the
//  text is valid UTF-8: it came out of a JSON parser or an Identifier)
static void
s_string (FILE *file, const char *text)
{
    fputc ('"', file);
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        if (*c == '"' || *c == '\\')
            fprintf (file, "\\%c", *c);
        else if (*c < 0x20)
            fprintf (file, "\\u%04x", *c);
        else
            fputc (*c, file);
    fputc ('"', file);
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

static void
s_member (FILE *file, const char *name, const char *text)
{
    fprintf (file, ",\"%s\":", name);
    if (text && *text)
        s_string (file, text);
    else
        fputs ("null", file);
}

static void
s_number (FILE *file, const char *name, int64_t value)
{
    if (value >= 0)
        fprintf (file, ",\"%s\":%lld", name, (long long) value);
    else
        fprintf (file, ",\"%s\":null", name);
}

//  Milliseconds with 3 decimals, from microseconds
static void
s_ms (FILE *file, const char *name, int64_t us)
{
    if (us >= 0)
        fprintf (file, ",\"%s\":%lld.%03lld", name, (long long) (us / 1000),
                 (long long) (us % 1000));
    else
        fprintf (file, ",\"%s\":null", name);
}

void
ingress_access_write (ingress_access_t *self, const ingress_report_t *report,
                      const char *frontend, const char *backend)
{
    assert (self && report);
    FILE *file = self->file;
    char time [32];
    of_schema_timestamp (time, sizeof time);
    fprintf (file, "{\"Time\":\"%s\"", time);
    s_member (file, "Ingress", self->ingress);
    s_member (file, "RequestId", report->id);
    s_member (file, "Frontend", frontend);
    s_member (file, "Backend", backend);
    s_member (file, "Route", report->route);
    s_member (file, "Kind", report->kind);
    s_member (file, "Model", report->model);
    s_member (file, "Key", report->key);
    s_number (file, "Status", report->status > 0 ? report->status : -1);
    s_member (file, "Outcome", report->outcome);
    s_member (file, "Reason", report->reason);
    const ingress_meter_t *meter = &report->meter;
    s_number (file, "Bytes", (int64_t) meter->bytes);
    s_number (file, "PromptTokens", meter->tokens_in);
    s_number (file, "CompletionTokens", meter->tokens_out);
    s_number (file, "CachedTokens", meter->tokens_cached);
    s_ms (file, "TtfbMs", ingress_meter_ttfb_us (meter));
    s_ms (file, "TotalMs", ingress_meter_total_us (meter));
    s_number (file, "QueueMs", report->queue_ms);
    if (report->request_body) {
        char *text = json_dumps (report->request_body, JSON_COMPACT);
        if (text && strlen (text) > INGRESS_ACCESS_BODY_MAX)
            text [INGRESS_ACCESS_BODY_MAX] = 0;
        s_member (file, "RequestBody", text);
        free (text);
    }
    if (meter->capture) {
        size_t length = evbuffer_get_length (meter->capture);
        evbuffer_add (meter->capture, "", 1);
        char *text = (char *) evbuffer_pullup (meter->capture, -1);
        text [s_utf8_whole (text, length)] = 0;
        s_member (file, "ResponseBody", text);
    }
    fputs ("}\n", file);
    self->dirty = true;
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

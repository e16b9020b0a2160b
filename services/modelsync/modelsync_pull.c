/*  =========================================================================
    modelsync_pull - the pulls modelsync runs: records, limits, retries
    =========================================================================
*/

#include "modelsync_pull.h"
#include "modelsync_parse.h"

#define S_KEY_MAX (OFP_IDENTIFIER_MAX + OFP_MODELS_KEY_MAX + 2)

typedef enum {
    S_WAITING,
    S_RUNNING,
    S_DONE
} s_state_t;

struct _modelsync_pull_t {
    char key [S_KEY_MAX];               //  "backend\nmodel key"
    char *backend;
    char *model;
    char *job;                          //  NULL: no job names it
    s_state_t state;
    json_t *progress;                   //  Status, Digest, Completed, Total
    char *error;                        //  the end's error; or an error line seen
    int failures;                       //  in a row
    int64_t retry_at;                   //  a failed pull: the sync may want it from then
    int64_t finished_at;
    int64_t published_at;
    void *handle;
    void *cursor;                       //  its place in the FIFO
};

struct _modelsync_pulls_t {
    int per_backend;
    int overall;
    int64_t retry_ms;
    modelsync_pulls_fn_t fn;
    void *arg;
    zlistx_t *order;                    //  every pull, oldest wanted first
    zhashx_t *pulls;                    //  key -> pull (owns)
    zhashx_t *running;                  //  backend -> count (as a pointer-sized integer)
    size_t running_all;
};

static void
s_pull_destroy (void **item)
{
    modelsync_pull_t *pull = (modelsync_pull_t *) *item;
    if (pull) {
        free (pull->backend);
        free (pull->model);
        free (pull->job);
        free (pull->error);
        json_decref (pull->progress);
        free (pull);
        *item = NULL;
    }
}

static void
s_key (char *dest, const char *backend, const char *model)
{
    char model_key [OFP_MODELS_KEY_MAX];
    ofp_models_key (model_key, model);
    snprintf (dest, S_KEY_MAX, "%s\n%s", backend, model_key);
}

modelsync_pulls_t *
modelsync_pulls_new (int per_backend, int overall, int64_t retry_ms,
                     const modelsync_pulls_fn_t *fn, void *arg)
{
    assert (per_backend > 0 && overall > 0 && fn && fn->start && fn->publish);
    modelsync_pulls_t *self = (modelsync_pulls_t *) zmalloc (sizeof (modelsync_pulls_t));
    self->per_backend = per_backend;
    self->overall = overall;
    self->retry_ms = retry_ms;
    self->fn = *fn;
    self->arg = arg;
    self->order = zlistx_new ();
    self->pulls = zhashx_new ();
    zhashx_set_destructor (self->pulls, s_pull_destroy);
    self->running = zhashx_new ();
    return self;
}

void
modelsync_pulls_destroy (modelsync_pulls_t **self_p)
{
    assert (self_p);
    modelsync_pulls_t *self = *self_p;
    if (!self)
        return;
    zlistx_destroy (&self->order);
    zhashx_destroy (&self->pulls);
    zhashx_destroy (&self->running);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Records and publishing

static json_t *
s_record (modelsync_pull_t *pull)
{
    json_t *record = json_pack ("{s:s, s:s, s:b}", "Backend", pull->backend, "Model",
                                pull->model, "Done", pull->state == S_DONE);
    json_object_update (record, pull->progress);
    if (!json_object_get (record, "Status"))
        json_object_set_new (record, "Status", json_string (""));
    if (pull->job)
        json_object_set_new (record, "Job", json_string (pull->job));
    if (pull->state == S_DONE && pull->error)
        json_object_set_new (record, "Error", json_string (pull->error));
    return record;
}

static void
s_publish (modelsync_pulls_t *self, modelsync_pull_t *pull, int64_t now)
{
    pull->published_at = now;
    json_t *record = s_record (pull);
    self->fn.publish (self->arg, &record);
    json_decref (record);
}

//  --------------------------------------------------------------------------
//  Limits

static size_t
s_running (modelsync_pulls_t *self, const char *backend)
{
    return (size_t) (uintptr_t) zhashx_lookup (self->running, backend);
}

static void
s_count (modelsync_pulls_t *self, const char *backend, int delta)
{
    size_t count = s_running (self, backend) + (size_t) (ssize_t) delta;
    if (count)
        zhashx_update (self->running, backend, (void *) (uintptr_t) count);
    else
        zhashx_delete (self->running, backend);
    self->running_all += (size_t) (ssize_t) delta;
}

void
modelsync_pulls_dispatch (modelsync_pulls_t *self, int64_t now)
{
    assert (self);
    (void) now;
    for (modelsync_pull_t *pull = (modelsync_pull_t *) zlistx_first (self->order);
         pull && self->running_all < (size_t) self->overall;
         pull = (modelsync_pull_t *) zlistx_next (self->order)) {
        if (pull->state != S_WAITING || s_running (self, pull->backend) >= (size_t) self->per_backend)
            continue;
        pull->state = S_RUNNING;
        s_count (self, pull->backend, 1);
        self->fn.start (self->arg, pull);
    }
}

//  --------------------------------------------------------------------------
//  Wanting, progress and ends

modelsync_pull_t *
modelsync_pulls_want (modelsync_pulls_t *self, const char *backend, const char *model,
                      const char *job, int64_t now)
{
    assert (self && backend && model);
    char key [S_KEY_MAX];
    s_key (key, backend, model);
    modelsync_pull_t *pull = (modelsync_pull_t *) zhashx_lookup (self->pulls, key);
    if (pull && pull->state != S_DONE) {
        //  Joined: the newest job follows it from now on
        if (job) {
            free (pull->job);
            pull->job = strdup (job);
            s_publish (self, pull, now);
        }
        return pull;
    }
    if (!pull) {
        if (zhashx_size (self->pulls) >= OFP_MODELS_RECORDS_MAX)
            return NULL;
        pull = (modelsync_pull_t *) zmalloc (sizeof (modelsync_pull_t));
        snprintf (pull->key, sizeof pull->key, "%s", key);
        pull->backend = strdup (backend);
        pull->model = strdup (model);
        zhashx_insert (self->pulls, key, pull);
    }
    else
        //  Wanted again after its end: to the back of the line
        zlistx_delete (self->order, pull->cursor);
    pull->cursor = zlistx_add_end (self->order, pull);
    free (pull->job);
    pull->job = job ? strdup (job) : NULL;
    free (pull->error);
    pull->error = NULL;
    json_decref (pull->progress);
    pull->progress = json_object ();
    pull->state = S_WAITING;
    s_publish (self, pull, now);
    return pull;
}

bool
modelsync_pulls_pending (modelsync_pulls_t *self, const char *backend, const char *model,
                         int64_t now)
{
    assert (self && backend && model);
    char key [S_KEY_MAX];
    s_key (key, backend, model);
    modelsync_pull_t *pull = (modelsync_pull_t *) zhashx_lookup (self->pulls, key);
    return pull && (pull->state != S_DONE || (pull->error && now < pull->retry_at));
}

bool
modelsync_pulls_active (modelsync_pulls_t *self, const char *backend, const char *model)
{
    assert (self && backend && model);
    char key [S_KEY_MAX];
    s_key (key, backend, model);
    modelsync_pull_t *pull = (modelsync_pull_t *) zhashx_lookup (self->pulls, key);
    return pull && pull->state != S_DONE;
}

void
modelsync_pulls_progress (modelsync_pulls_t *self, modelsync_pull_t *pull, const char *line,
                          size_t size, int64_t now)
{
    assert (self && pull && line);
    if (pull->state != S_RUNNING)
        return;
    json_t *before = json_incref (json_object_get (pull->progress, "Status"));
    char error [MODELSYNC_PARSE_ERROR_MAX];
    modelsync_line_t verdict = modelsync_parse_progress (line, size, pull->progress, error,
                                                         sizeof error);
    if (verdict == MODELSYNC_LINE_ERROR && !pull->error)
        pull->error = strdup (error);
    else if (verdict == MODELSYNC_LINE_PROGRESS) {
        bool changed = !json_equal (before, json_object_get (pull->progress, "Status"));
        if (changed || now - pull->published_at >= MODELSYNC_PULL_PUBLISH_MS)
            s_publish (self, pull, now);
    }
    json_decref (before);
}

void
modelsync_pulls_end (modelsync_pulls_t *self, modelsync_pull_t *pull, const char *error,
                     int64_t now)
{
    assert (self && pull);
    if (pull->state != S_RUNNING)
        return;
    s_count (self, pull->backend, -1);
    pull->state = S_DONE;
    pull->finished_at = now;
    pull->handle = NULL;
    if (error && !pull->error)
        pull->error = zsys_sprintf ("%.*s", OFP_MODELS_ERROR_MAX, error);
    if (pull->error) {
        pull->failures++;
        int64_t wait = self->retry_ms;
        for (int step = 1; step < pull->failures && wait < self->retry_ms * MODELSYNC_PULL_BACKOFF_MAX;
             step++)
            wait *= 2;
        if (wait > self->retry_ms * MODELSYNC_PULL_BACKOFF_MAX)
            wait = self->retry_ms * MODELSYNC_PULL_BACKOFF_MAX;
        pull->retry_at = now + wait;
    }
    else {
        pull->failures = 0;
        pull->retry_at = now;
        json_object_set_new (pull->progress, "Status", json_string ("success"));
        json_object_del (pull->progress, "Digest");
        json_object_del (pull->progress, "Completed");
        json_object_del (pull->progress, "Total");
    }
    s_publish (self, pull, now);
}

void
modelsync_pulls_cancel (modelsync_pulls_t *self, const char *backend, const char *model,
                        const char *reason, int64_t now)
{
    assert (self && backend && model && reason);
    char key [S_KEY_MAX];
    s_key (key, backend, model);
    modelsync_pull_t *pull = (modelsync_pull_t *) zhashx_lookup (self->pulls, key);
    if (!pull || pull->state == S_DONE)
        return;
    if (pull->state == S_RUNNING) {
        s_count (self, pull->backend, -1);
        if (self->fn.stop)
            self->fn.stop (self->arg, pull);
    }
    pull->state = S_DONE;
    pull->handle = NULL;
    pull->finished_at = now;
    pull->retry_at = now;
    free (pull->error);
    pull->error = zsys_sprintf ("%.*s", OFP_MODELS_ERROR_MAX, reason);
    s_publish (self, pull, now);
}

void
modelsync_pulls_drop_backend (modelsync_pulls_t *self, const char *backend)
{
    assert (self && backend);
    modelsync_pull_t *pull = (modelsync_pull_t *) zlistx_first (self->order);
    while (pull) {
        modelsync_pull_t *next = (modelsync_pull_t *) zlistx_next (self->order);
        if (streq (pull->backend, backend)) {
            if (pull->state == S_RUNNING) {
                s_count (self, pull->backend, -1);
                if (self->fn.stop)
                    self->fn.stop (self->arg, pull);
            }
            zlistx_delete (self->order, pull->cursor);
            zhashx_delete (self->pulls, pull->key);
        }
        pull = next;
    }
}

int64_t
modelsync_pulls_tick (modelsync_pulls_t *self, int64_t now)
{
    assert (self);
    int64_t next = -1;
    modelsync_pull_t *pull = (modelsync_pull_t *) zlistx_first (self->order);
    while (pull) {
        modelsync_pull_t *next_pull = (modelsync_pull_t *) zlistx_next (self->order);
        if (pull->state == S_DONE) {
            int64_t until = pull->retry_at - now;
            if (pull->error && until > 0 && (next < 0 || until < next))
                next = until;
            //  A failed pull is kept a while past its backoff, so that its
            //  count of failures holds when the sync wants it again
            if (now - pull->finished_at >= MODELSYNC_PULL_KEEP_MS
                && now >= pull->retry_at + MODELSYNC_PULL_KEEP_MS) {
                zlistx_delete (self->order, pull->cursor);
                zhashx_delete (self->pulls, pull->key);
            }
        }
        pull = next_pull;
    }
    return next;
}

json_t *
modelsync_pulls_records (modelsync_pulls_t *self, int64_t now)
{
    assert (self);
    json_t *records = json_array ();
    for (modelsync_pull_t *pull = (modelsync_pull_t *) zlistx_first (self->order); pull;
         pull = (modelsync_pull_t *) zlistx_next (self->order))
        if (pull->state != S_DONE || now - pull->finished_at < MODELSYNC_PULL_KEEP_MS)
            json_array_append_new (records, s_record (pull));
    return records;
}

size_t
modelsync_pulls_running (modelsync_pulls_t *self, const char *backend)
{
    assert (self);
    return backend ? s_running (self, backend) : self->running_all;
}

size_t
modelsync_pulls_jobs (modelsync_pulls_t *self)
{
    assert (self);
    zhashx_t *jobs = zhashx_new ();
    for (modelsync_pull_t *pull = (modelsync_pull_t *) zlistx_first (self->order); pull;
         pull = (modelsync_pull_t *) zlistx_next (self->order))
        if (pull->state != S_DONE && pull->job)
            zhashx_update (jobs, pull->job, (void *) 1);
    size_t count = zhashx_size (jobs);
    zhashx_destroy (&jobs);
    return count;
}

const char *
modelsync_pull_backend (modelsync_pull_t *pull)
{
    assert (pull);
    return pull->backend;
}

const char *
modelsync_pull_model (modelsync_pull_t *pull)
{
    assert (pull);
    return pull->model;
}

const char *
modelsync_pull_error (modelsync_pull_t *pull)
{
    assert (pull);
    return pull->error;
}

void *
modelsync_pull_handle (modelsync_pull_t *pull)
{
    assert (pull);
    return pull->handle;
}

void
modelsync_pull_set_handle (modelsync_pull_t *pull, void *handle)
{
    assert (pull);
    pull->handle = handle;
}

//  --------------------------------------------------------------------------
//  Self test

typedef struct {
    zlistx_t *started;          //  pulls started, in order
    json_t *published;          //  records published, in order
} s_test_t;

static void
s_test_start (void *arg, modelsync_pull_t *pull)
{
    zlistx_add_end (((s_test_t *) arg)->started, pull);
}

static void
s_test_publish (void *arg, json_t **record_p)
{
    json_array_append (((s_test_t *) arg)->published, *record_p);
}

//  The last record published, as "backend model job status done error"
static const char *
s_test_last (s_test_t *test)
{
    static char text [512];
    json_t *record = json_array_get (test->published, json_array_size (test->published) - 1);
    const char *job = json_string_value (json_object_get (record, "Job"));
    const char *error = json_string_value (json_object_get (record, "Error"));
    snprintf (text, sizeof text, "%s %s %s %s %s %s",
              json_string_value (json_object_get (record, "Backend")),
              json_string_value (json_object_get (record, "Model")), job ? job : "-",
              json_string_value (json_object_get (record, "Status")),
              json_is_true (json_object_get (record, "Done")) ? "done" : "running",
              error ? error : "-");
    return text;
}

static modelsync_pull_t *
s_test_started (s_test_t *test, size_t index)
{
    void *item = zlistx_first (test->started);
    while (item && index--)
        item = zlistx_next (test->started);
    return (modelsync_pull_t *) item;
}

void
modelsync_pull_test (bool verbose)
{
    printf (" * modelsync_pull: ");
    if (verbose)
        printf ("\n");
    s_test_t test = {zlistx_new (), json_array ()};
    const modelsync_pulls_fn_t fn = {s_test_start, s_test_publish, NULL};
    modelsync_pulls_t *pulls = modelsync_pulls_new (2, 3, 1000, &fn, &test);
    int64_t now = 10000;

    //  Five models on b1, two on b2: two start on b1, one on b2 (three overall)
    const char *models [] = {"m1", "m2", "m3", "m4", "m5"};
    for (size_t index = 0; index < 5; index++)
        assert (modelsync_pulls_want (pulls, "b1", models [index], NULL, now));
    assert (modelsync_pulls_want (pulls, "b2", "m1", NULL, now));
    assert (modelsync_pulls_want (pulls, "b2", "m2", NULL, now));
    modelsync_pulls_dispatch (pulls, now);
    assert (zlistx_size (test.started) == 3);
    assert (modelsync_pulls_running (pulls, "b1") == 2);
    assert (modelsync_pulls_running (pulls, "b2") == 1);
    assert (modelsync_pulls_running (pulls, NULL) == 3);
    assert (streq (modelsync_pull_model (s_test_started (&test, 2)), "m1"));
    assert (streq (modelsync_pull_backend (s_test_started (&test, 2)), "b2"));
    //  Dispatching again starts nothing more
    modelsync_pulls_dispatch (pulls, now);
    assert (zlistx_size (test.started) == 3);

    //  "m1" and "M1:latest" are the same model: joined, and a job now names it
    modelsync_pull_t *m1 = s_test_started (&test, 0);
    assert (modelsync_pulls_want (pulls, "b1", "M1:latest", "j1", now) == m1);
    assert (streq (s_test_last (&test), "b1 m1 j1  running -"));
    assert (modelsync_pulls_jobs (pulls) == 1);
    assert (modelsync_pulls_pending (pulls, "b1", "m1:latest", now));
    assert (!modelsync_pulls_pending (pulls, "b3", "m1", now));

    //  Progress: every status change, else one per 250 ms
    size_t published = json_array_size (test.published);
    const char *manifest = "{\"status\":\"pulling manifest\"}";
    const char *layer = "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":10,"
                        "\"completed\":5}";
    modelsync_pulls_progress (pulls, m1, manifest, strlen (manifest), now);
    modelsync_pulls_progress (pulls, m1, layer, strlen (layer), now + 10);
    modelsync_pulls_progress (pulls, m1, layer, strlen (layer), now + 70);
    modelsync_pulls_progress (pulls, m1, layer, strlen (layer), now + 130);
    assert (json_array_size (test.published) == published + 2);
    modelsync_pulls_progress (pulls, m1, layer, strlen (layer), now + 300);
    assert (json_array_size (test.published) == published + 3);
    modelsync_pulls_progress (pulls, m1, "{oops", 5, now + 600);
    assert (json_array_size (test.published) == published + 3);

    //  Success frees a slot on b1: the next waiting on b1 starts
    modelsync_pulls_end (pulls, m1, NULL, now + 700);
    assert (streq (s_test_last (&test), "b1 m1 j1 success done -"));
    assert (!modelsync_pulls_pending (pulls, "b1", "m1", now + 700));
    modelsync_pulls_dispatch (pulls, now + 700);
    assert (zlistx_size (test.started) == 4);
    assert (streq (modelsync_pull_model (s_test_started (&test, 3)), "m3"));
    assert (modelsync_pulls_running (pulls, "b1") == 2);

    //  A failure (an error line, then the end) backs off: 1 s, then 2 s
    modelsync_pull_t *m2 = s_test_started (&test, 1);
    const char *failure = "{\"error\":\"max retries exceeded: unexpected EOF\"}";
    modelsync_pulls_progress (pulls, m2, failure, strlen (failure), now + 800);
    modelsync_pulls_end (pulls, m2, NULL, now + 800);
    assert (streq (s_test_last (&test), "b1 m2 -  done max retries exceeded: unexpected EOF"));
    assert (modelsync_pulls_pending (pulls, "b1", "m2", now + 1700));
    assert (!modelsync_pulls_pending (pulls, "b1", "m2", now + 1800));
    assert (modelsync_pulls_tick (pulls, now + 1000) == 800);
    assert (modelsync_pulls_want (pulls, "b1", "m2", NULL, now + 1800) == m2);
    modelsync_pulls_dispatch (pulls, now + 1800);
    //  It went to the back of the line: m4 starts first
    assert (streq (modelsync_pull_model (s_test_started (&test, 4)), "m4"));
    modelsync_pulls_end (pulls, s_test_started (&test, 4), "connect: refused", now + 1900);
    modelsync_pulls_dispatch (pulls, now + 1900);
    assert (streq (modelsync_pull_model (s_test_started (&test, 5)), "m5"));
    modelsync_pulls_end (pulls, s_test_started (&test, 5), NULL, now + 2000);
    //  Three run over all: b2's waiting pull, older than m2's retry, starts first
    modelsync_pulls_dispatch (pulls, now + 2000);
    assert (streq (modelsync_pull_backend (s_test_started (&test, 6)), "b2"));
    assert (zlistx_size (test.started) == 7);
    modelsync_pulls_end (pulls, s_test_started (&test, 2), NULL, now + 2000);
    modelsync_pulls_dispatch (pulls, now + 2000);
    assert (s_test_started (&test, 7) == m2);
    modelsync_pulls_end (pulls, m2, "HTTP 500", now + 2000);
    assert (modelsync_pulls_pending (pulls, "b1", "m2", now + 3900));
    assert (!modelsync_pulls_pending (pulls, "b1", "m2", now + 4000));

    //  A delete overtakes pulls: the running one frees its slot, no backoff follows
    assert (modelsync_pulls_want (pulls, "b3", "x", "j9", now + 2000));
    assert (streq (s_test_last (&test), "b3 x j9  running -"));
    modelsync_pulls_dispatch (pulls, now + 2000);
    assert (modelsync_pulls_running (pulls, "b3") == 1);
    modelsync_pulls_cancel (pulls, "b3", "x:latest", "deleted", now + 2000);
    assert (modelsync_pulls_running (pulls, "b3") == 0);
    assert (streq (s_test_last (&test), "b3 x j9  done deleted"));
    assert (!modelsync_pulls_pending (pulls, "b3", "x", now + 2000));
    modelsync_pulls_cancel (pulls, "b1", "m3", "deleted", now + 2000);
    assert (modelsync_pulls_running (pulls, "b1") == 0);
    assert (modelsync_pulls_want (pulls, "b1", "m3", NULL, now + 2000));
    modelsync_pulls_dispatch (pulls, now + 2000);
    assert (modelsync_pulls_running (pulls, "b1") == 1);

    //  STATE keeps finished pulls for 60 s; dropping a backend frees its slots
    json_t *records = modelsync_pulls_records (pulls, now + 2000);
    assert (json_array_size (records) == 8);
    json_decref (records);
    records = modelsync_pulls_records (pulls, now + 2000 + MODELSYNC_PULL_KEEP_MS);
    assert (json_array_size (records) == 2);        //  m3 on b1, m2 on b2: running
    json_decref (records);
    modelsync_pulls_drop_backend (pulls, "b2");
    assert (modelsync_pulls_running (pulls, "b2") == 0);
    assert (modelsync_pulls_running (pulls, NULL) == 1);
    modelsync_pulls_tick (pulls, now + 10 * MODELSYNC_PULL_KEEP_MS);
    records = modelsync_pulls_records (pulls, now + 10 * MODELSYNC_PULL_KEEP_MS);
    assert (json_array_size (records) == 1);
    json_decref (records);

    //  Every published record is one the codec accepts
    size_t index;
    json_t *record;
    json_array_foreach (test.published, index, record) {
        json_t *body = json_deep_copy (record);
        json_object_set_new (body, "Epoch", json_string ("0123456789abcdef"));
        json_object_set_new (body, "Sequence", json_integer ((json_int_t) index + 1));
        char *text = json_dumps (body, JSON_COMPACT);
        ofp_msg_expect (&ofp_models_protocol, OFP_MODELS_SIGNATURE, "PULL", NULL, text, NULL,
                        verbose);
        free (text);
        json_decref (body);
    }
    modelsync_pulls_destroy (&pulls);
    zlistx_destroy (&test.started);
    json_decref (test.published);
    printf ("OK\n");
}

/*  =========================================================================
    ingress_progress - one Ollama pull progress stream merged from several
    =========================================================================
*/

#include "ingress_progress.h"

#define S_STATUS_MANIFEST "pulling manifest"
#define S_STATUS_SUCCESS  "success"
#define S_ERROR_MAX       2048

//  The stages of an Ollama pull, in order
typedef enum {
    S_RANK_MANIFEST,
    S_RANK_LAYERS,
    S_RANK_VERIFYING,
    S_RANK_WRITING,
    S_RANK_REMOVING,
    S_RANK_DONE
} s_rank_t;

typedef struct {
    char id [OFP_IDENTIFIER_MAX + 1];
    bool done;
    char *error;                //  the reason the pull failed, once done
    s_rank_t rank;
    char status [OFP_MODELS_STATUS_MAX + 1];
    json_t *layers;             //  digest -> [completed, total] as this backend reported
} s_backend_t;

struct _ingress_progress_t {
    char *model;
    s_backend_t *backends;
    size_t count;
    s_rank_t rank;              //  the stage last told to the client
    json_t *emitted;            //  digest -> [completed, total] last told to the client
};

static s_rank_t
s_rank (const char *status)
{
    if (streq (status, S_STATUS_MANIFEST))
        return S_RANK_MANIFEST;
    if (strncmp (status, "verifying", 9) == 0)
        return S_RANK_VERIFYING;
    if (strncmp (status, "writing", 7) == 0)
        return S_RANK_WRITING;
    if (strncmp (status, "removing", 8) == 0)
        return S_RANK_REMOVING;
    if (streq (status, S_STATUS_SUCCESS))
        return S_RANK_DONE;
    return S_RANK_LAYERS;
}

static void
s_line (struct evbuffer *out, json_t *line)
{
    if (out) {
        char *text = json_dumps (line, JSON_COMPACT);
        evbuffer_add_printf (out, "%s\n", text);
        free (text);
    }
    json_decref (line);
}

ingress_progress_t *
ingress_progress_new (const char *model, json_t *backends)
{
    assert (model && json_is_array (backends));
    ingress_progress_t *self = (ingress_progress_t *) zmalloc (sizeof (ingress_progress_t));
    self->model = strdup (model);
    self->count = json_array_size (backends);
    self->backends = (s_backend_t *) calloc (self->count ? self->count : 1, sizeof (s_backend_t));
    for (size_t i = 0; i < self->count; i++) {
        snprintf (self->backends [i].id, sizeof self->backends [i].id, "%s",
                  json_string_value (json_array_get (backends, i)));
        self->backends [i].layers = json_object ();
    }
    self->emitted = json_object ();
    return self;
}

void
ingress_progress_destroy (ingress_progress_t **self_p)
{
    assert (self_p);
    ingress_progress_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->count; i++) {
        free (self->backends [i].error);
        json_decref (self->backends [i].layers);
    }
    free (self->backends);
    json_decref (self->emitted);
    free (self->model);
    free (self);
    *self_p = NULL;
}

void
ingress_progress_begin (ingress_progress_t *self, struct evbuffer *out)
{
    assert (self);
    s_line (out, json_pack ("{s:s}", "status", S_STATUS_MANIFEST));
}

static s_backend_t *
s_backend (ingress_progress_t *self, const char *id)
{
    for (size_t i = 0; id && i < self->count; i++)
        if (streq (self->backends [i].id, id))
            return &self->backends [i];
    return NULL;
}

//  The merged line of one layer: completed summed over the backends that
//  reported it; total summed likewise, counting the layer's largest total for
//  every backend still pulling that has not reported it yet (it will pull it
//  too), so that the total holds still while backends join
static void
s_layer_line (ingress_progress_t *self, const char *digest, const char *status,
              struct evbuffer *out)
{
    json_int_t completed = 0, total = 0, largest = 0;
    size_t missing = 0;
    for (size_t i = 0; i < self->count; i++) {
        s_backend_t *backend = &self->backends [i];
        json_t *layer = json_object_get (backend->layers, digest);
        if (layer) {
            json_int_t layer_total = json_integer_value (json_array_get (layer, 1));
            //  Past the download (progress is reported at most every 250 ms,
            //  so the last report may be short of the total): all of it
            bool past = backend->done ? !backend->error : backend->rank > S_RANK_LAYERS;
            completed += past ? layer_total : json_integer_value (json_array_get (layer, 0));
            total += layer_total;
            if (layer_total > largest)
                largest = layer_total;
        }
        else if (!backend->done)
            missing++;
    }
    total += largest * (json_int_t) missing;
    json_t *last = json_object_get (self->emitted, digest);
    json_int_t last_completed = json_integer_value (json_array_get (last, 0));
    if (completed < last_completed)
        completed = last_completed;     //  a backend that restarted its download
    if (total < completed)
        total = completed;
    if (last && completed == last_completed
        && total == json_integer_value (json_array_get (last, 1)))
        return;
    json_object_set_new (self->emitted, digest, json_pack ("[I, I]", completed, total));
    s_line (out, json_pack ("{s:s, s:s, s:I, s:I}", "status", status, "digest", digest, "total",
                            total, "completed", completed));
}

//  A later stage is told once every backend has reached it
static void
s_stage_line (ingress_progress_t *self, struct evbuffer *out)
{
    s_rank_t lowest = S_RANK_DONE;
    const char *status = NULL;
    for (size_t i = 0; i < self->count; i++) {
        s_backend_t *backend = &self->backends [i];
        s_rank_t rank = backend->done ? S_RANK_DONE : backend->rank;
        if (!status || rank < lowest) {
            lowest = rank;
            status = backend->status;
        }
    }
    if (lowest > self->rank && lowest >= S_RANK_VERIFYING && lowest < S_RANK_DONE) {
        self->rank = lowest;
        s_line (out, json_pack ("{s:s}", "status", status));
    }
}

bool
ingress_progress_apply (ingress_progress_t *self, json_t *pull, struct evbuffer *out)
{
    assert (self && pull);
    s_backend_t *backend = s_backend (self, json_string_value (json_object_get (pull, "Backend")));
    if (!backend || backend->done)
        return false;
    const char *status = json_string_value (json_object_get (pull, "Status"));
    snprintf (backend->status, sizeof backend->status, "%s", status ? status : "");
    backend->rank = s_rank (backend->status);
    const char *digest = json_string_value (json_object_get (pull, "Digest"));
    json_t *total = json_object_get (pull, "Total");
    if (digest && *digest && json_is_integer (total)) {
        json_int_t completed = json_integer_value (json_object_get (pull, "Completed"));
        json_object_set_new (backend->layers, digest,
                             json_pack ("[I, I]", completed, json_integer_value (total)));
    }
    if (json_is_true (json_object_get (pull, "Done"))) {
        backend->done = true;
        const char *error = json_string_value (json_object_get (pull, "Error"));
        if (error || !streq (backend->status, S_STATUS_SUCCESS))
            backend->error = strdup (error ? error : backend->status);
    }
    if (digest && *digest && json_is_integer (total) && backend->rank == S_RANK_LAYERS)
        s_layer_line (self, digest, backend->status, out);
    s_stage_line (self, out);
    return true;
}

bool
ingress_progress_done (ingress_progress_t *self)
{
    assert (self);
    for (size_t i = 0; i < self->count; i++)
        if (!self->backends [i].done)
            return false;
    return true;
}

json_t *
ingress_progress_pending (ingress_progress_t *self)
{
    assert (self);
    json_t *pending = json_array ();
    for (size_t i = 0; i < self->count; i++)
        if (!self->backends [i].done)
            json_array_append_new (pending, json_string (self->backends [i].id));
    return pending;
}

bool
ingress_progress_end (ingress_progress_t *self, const char *reason, struct evbuffer *out,
                      char *error, size_t size)
{
    assert (self);
    char failed [S_ERROR_MAX] = "";
    size_t used = 0, failures = 0, succeeded = 0;
    for (size_t i = 0; i < self->count; i++) {
        s_backend_t *backend = &self->backends [i];
        const char *why = backend->done ? backend->error : reason;
        if (!why) {
            succeeded++;
            continue;
        }
        int written = snprintf (failed + used, sizeof failed - used, "%s%s (%s)",
                                failures ? ", " : "", backend->id, why);
        if (written > 0)
            used = used + (size_t) written < sizeof failed ? used + (size_t) written
                                                            : sizeof failed - 1;
        failures++;
    }
    if (failures == 0) {
        s_line (out, json_pack ("{s:s}", "status", S_STATUS_SUCCESS));
        if (error)
            snprintf (error, size, "%s", "");
        return true;
    }
    char message [S_ERROR_MAX + 256];
    snprintf (message, sizeof message, "pulling '%s' failed on %zu of %zu backends: %s",
              self->model, failures, failures + succeeded, failed);
    s_line (out, json_pack ("{s:s}", "error", message));
    if (error)
        snprintf (error, size, "%s", message);
    return false;
}

//  --------------------------------------------------------------------------
//  Self test

static void
s_test_apply (ingress_progress_t *self, const char *record, struct evbuffer *out)
{
    json_t *pull = json_loads (record, 0, NULL);
    assert (pull);
    ingress_progress_apply (self, pull, out);
    json_decref (pull);
}

//  The next line of out, parsed (NULL when none)
static json_t *
s_test_line (struct evbuffer *out)
{
    char *text = evbuffer_readln (out, NULL, EVBUFFER_EOL_LF);
    json_t *line = text ? json_loads (text, 0, NULL) : NULL;
    free (text);
    return line;
}

static json_int_t
s_test_field (json_t *line, const char *name)
{
    return json_integer_value (json_object_get (line, name));
}

void
ingress_progress_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_progress: ");
    struct evbuffer *out = evbuffer_new ();
    json_t *backends = json_pack ("[s, s, s]", "a", "b", "c");
    ingress_progress_t *self = ingress_progress_new ("llama3", backends);
    ingress_progress_begin (self, out);
    json_t *line = s_test_line (out);
    assert (streq (json_string_value (json_object_get (line, "status")), "pulling manifest"));
    json_decref (line);

    //  c already has it; a and b pull one layer of 100 bytes
    s_test_apply (self, "{\"Backend\":\"c\",\"Status\":\"success\",\"Done\":true}", out);
    assert (!s_test_line (out));
    s_test_apply (self, "{\"Backend\":\"a\",\"Status\":\"pulling d1\",\"Digest\":\"sha256:d1\","
                        "\"Completed\":10,\"Total\":100,\"Done\":false}", out);
    line = s_test_line (out);
    //  b has not reported the layer yet, but will pull it: the total counts it
    assert (s_test_field (line, "completed") == 10 && s_test_field (line, "total") == 200);
    assert (streq (json_string_value (json_object_get (line, "digest")), "sha256:d1"));
    json_decref (line);
    s_test_apply (self, "{\"Backend\":\"b\",\"Status\":\"pulling d1\",\"Digest\":\"sha256:d1\","
                        "\"Completed\":30,\"Total\":100,\"Done\":false}", out);
    line = s_test_line (out);
    assert (s_test_field (line, "completed") == 40 && s_test_field (line, "total") == 200);
    json_decref (line);
    //  b restarts its download: completed does not go back
    s_test_apply (self, "{\"Backend\":\"b\",\"Status\":\"pulling d1\",\"Digest\":\"sha256:d1\","
                        "\"Completed\":0,\"Total\":100,\"Done\":false}", out);
    assert (!s_test_line (out));
    //  Stages: told once every backend reached them
    s_test_apply (self, "{\"Backend\":\"a\",\"Status\":\"verifying sha256 digest\",\"Done\":false}",
                  out);
    assert (!s_test_line (out));
    s_test_apply (self, "{\"Backend\":\"b\",\"Status\":\"pulling d1\",\"Digest\":\"sha256:d1\","
                        "\"Completed\":100,\"Total\":100,\"Done\":false}", out);
    line = s_test_line (out);
    assert (s_test_field (line, "completed") == 200 && s_test_field (line, "total") == 200);
    json_decref (line);
    s_test_apply (self, "{\"Backend\":\"b\",\"Status\":\"writing manifest\",\"Done\":false}", out);
    line = s_test_line (out);
    assert (streq (json_string_value (json_object_get (line, "status")),
                   "verifying sha256 digest"));
    json_decref (line);
    assert (!ingress_progress_done (self));
    json_t *pending = ingress_progress_pending (self);
    assert (json_array_size (pending) == 2);
    assert (streq (json_string_value (json_array_get (pending, 0)), "a"));
    assert (streq (json_string_value (json_array_get (pending, 1)), "b"));
    json_decref (pending);
    s_test_apply (self, "{\"Backend\":\"a\",\"Status\":\"success\",\"Done\":true}", out);
    line = s_test_line (out);
    assert (streq (json_string_value (json_object_get (line, "status")), "writing manifest"));
    json_decref (line);
    //  Another backend's record, or one after Done, is not taken
    json_t *other = json_pack ("{s:s, s:s, s:b}", "Backend", "z", "Status", "success", "Done", 1);
    assert (!ingress_progress_apply (self, other, out));
    json_object_set_new (other, "Backend", json_string ("a"));
    assert (!ingress_progress_apply (self, other, out));
    json_decref (other);
    s_test_apply (self, "{\"Backend\":\"b\",\"Status\":\"success\",\"Done\":true}", out);
    assert (ingress_progress_done (self));
    char error [512];
    assert (ingress_progress_end (self, NULL, out, error, sizeof error) && !*error);
    line = s_test_line (out);
    assert (streq (json_string_value (json_object_get (line, "status")), "success"));
    json_decref (line);
    ingress_progress_destroy (&self);

    //  Failures: named with their reasons; a backend never done gets the given reason
    self = ingress_progress_new ("nope", backends);
    s_test_apply (self, "{\"Backend\":\"a\",\"Status\":\"pulling manifest\",\"Done\":true,"
                        "\"Error\":\"pull model manifest: file does not exist\"}", out);
    s_test_apply (self, "{\"Backend\":\"b\",\"Status\":\"success\",\"Done\":true}", out);
    assert (!ingress_progress_done (self));
    assert (!ingress_progress_end (self, "modelsync stopped reporting", out, error, sizeof error));
    assert (strstr (error, "failed on 2 of 3 backends"));
    assert (strstr (error, "a (pull model manifest: file does not exist)"));
    assert (strstr (error, "c (modelsync stopped reporting)") && !strstr (error, "b ("));
    line = s_test_line (out);
    assert (streq (json_string_value (json_object_get (line, "error")), error));
    json_decref (line);
    ingress_progress_destroy (&self);
    ingress_progress_destroy (&self);

    json_decref (backends);
    evbuffer_free (out);
    printf ("OK\n");
}

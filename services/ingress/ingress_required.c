/*  =========================================================================
    ingress_required - changes to a frontend's RequiredModels, through configd
    =========================================================================
*/

#include "ingress_required.h"
#include "ingress_listing.h"

#define S_MESSAGE_MAX 512

struct _ingress_required_job_t {
    char frontend [OFP_IDENTIFIER_MAX + 1];
    char *model;
    bool add;
    ingress_required_fn *callback;      //  NULL once the caller cancelled
    void *arg;
};

struct _ingress_required_t {
    ingress_requester_t *configd;
    int64_t timeout_ms;
    zlistx_t *queue;                    //  jobs; the first is in progress when request is set
    ingress_request_t *request;         //  the GET or REPLACE in flight
};

static void s_next (ingress_required_t *self);

static void
s_job_free (ingress_required_job_t **job_p)
{
    ingress_required_job_t *job = *job_p;
    if (job) {
        free (job->model);
        free (job);
        *job_p = NULL;
    }
}

//  Ends the first job, then starts the next
static void
s_finish (ingress_required_t *self, int status, const char *message)
{
    ingress_required_job_t *job = (ingress_required_job_t *) zlistx_detach (self->queue, NULL);
    self->request = NULL;
    if (job->callback)
        job->callback (job->arg, status, message);
    s_job_free (&job);
    s_next (self);
}

//  configd said no, or did not answer
static void
s_fail (ingress_required_t *self, ofp_msg_t *reply)
{
    char message [S_MESSAGE_MAX];
    int status = 503;
    if (!reply)
        snprintf (message, sizeof message,
                  "ollamaflow's configd did not answer; the frontend's RequiredModels could "
                  "not be changed");
    else {
        json_t *body = ofp_msg_body (reply);
        status = (int) json_integer_value (json_object_get (body, "Status"));
        snprintf (message, sizeof message, "configd refused the change of RequiredModels: %s",
                  json_string_value (json_object_get (body, "Message")));
    }
    of_log_warning ("%s", message);
    s_finish (self, status, message);
}

static void
s_on_replaced (void *arg, ofp_msg_t *reply)
{
    ingress_required_t *self = (ingress_required_t *) arg;
    if (!reply || !ofp_msg_is (reply, "OBJECT")) {
        s_fail (self, reply);
        return;
    }
    ingress_required_job_t *job = (ingress_required_job_t *) zlistx_first (self->queue);
    of_log_info ("frontend %s: %s '%s' %s RequiredModels", job->frontend,
                 job->add ? "added" : "removed", job->model, job->add ? "to" : "from");
    s_finish (self, 0, NULL);
}

static void
s_on_object (void *arg, ofp_msg_t *reply)
{
    ingress_required_t *self = (ingress_required_t *) arg;
    if (!reply || !ofp_msg_is (reply, "OBJECT")) {
        s_fail (self, reply);
        return;
    }
    ingress_required_job_t *job = (ingress_required_job_t *) zlistx_first (self->queue);
    json_t *object = json_deep_copy (json_object_get (ofp_msg_body (reply), "Object"));
    json_t *list = json_object_get (object, "RequiredModels");
    if (!json_is_array (list)) {
        list = json_array ();
        json_object_set_new (object, "RequiredModels", list);
    }
    if (!ingress_required_edit (list, job->model, job->add)) {
        json_decref (object);
        s_finish (self, 0, NULL);
        return;
    }
    json_t *body = json_pack ("{s:s, s:s, s:o}", "Kind", "frontend", "Identifier", job->frontend,
                              "Object", object);
    self->request = ingress_requester_send (self->configd, "REPLACE", &body, self->timeout_ms,
                                            s_on_replaced, self);
}

//  Starts the first job if none is in progress
static void
s_next (ingress_required_t *self)
{
    ingress_required_job_t *job = (ingress_required_job_t *) zlistx_first (self->queue);
    if (!job || self->request)
        return;
    json_t *body = json_pack ("{s:s, s:s}", "Kind", "frontend", "Identifier", job->frontend);
    self->request = ingress_requester_send (self->configd, "GET", &body, self->timeout_ms,
                                            s_on_object, self);
}

ingress_required_t *
ingress_required_new (ingress_requester_t *configd, int64_t timeout_ms)
{
    assert (configd && timeout_ms > 0);
    ingress_required_t *self = (ingress_required_t *) zmalloc (sizeof (ingress_required_t));
    self->configd = configd;
    self->timeout_ms = timeout_ms;
    self->queue = zlistx_new ();
    return self;
}

void
ingress_required_destroy (ingress_required_t **self_p)
{
    assert (self_p);
    ingress_required_t *self = *self_p;
    if (!self)
        return;
    ingress_requester_cancel (self->configd, &self->request);
    ingress_required_job_t *job;
    while ((job = (ingress_required_job_t *) zlistx_detach (self->queue, NULL)))
        s_job_free (&job);
    zlistx_destroy (&self->queue);
    free (self);
    *self_p = NULL;
}

ingress_required_job_t *
ingress_required_change (ingress_required_t *self, const char *frontend, const char *model,
                         bool add, ingress_required_fn *callback, void *arg)
{
    assert (self && frontend && model && callback);
    if (zlistx_size (self->queue) >= INGRESS_REQUIRED_QUEUE_MAX)
        return NULL;
    ingress_required_job_t *job =
        (ingress_required_job_t *) zmalloc (sizeof (ingress_required_job_t));
    snprintf (job->frontend, sizeof job->frontend, "%s", frontend);
    job->model = strdup (model);
    job->add = add;
    job->callback = callback;
    job->arg = arg;
    zlistx_add_end (self->queue, job);
    s_next (self);
    return job;
}

void
ingress_required_cancel (ingress_required_t *self, ingress_required_job_t **job_p)
{
    assert (self && job_p);
    ingress_required_job_t *job = *job_p;
    if (!job)
        return;
    if (job == zlistx_first (self->queue) && self->request)
        job->callback = NULL;           //  in progress: it completes, unheard
    else {
        void *handle = zlistx_find (self->queue, job);
        if (handle)
            zlistx_delete (self->queue, handle);
        s_job_free (&job);
    }
    *job_p = NULL;
}

bool
ingress_required_edit (json_t *list, const char *model, bool add)
{
    assert (json_is_array (list) && model);
    bool changed = false;
    for (size_t index = json_array_size (list); index > 0; index--)
        if (ingress_listing_same_model (json_string_value (json_array_get (list, index - 1)),
                                        model)) {
            if (add)
                return false;
            json_array_remove (list, index - 1);
            changed = true;
        }
    if (add) {
        json_array_append_new (list, json_string (model));
        changed = true;
    }
    return changed;
}

//  --------------------------------------------------------------------------
//  Self test

void
ingress_required_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_required: ");
    json_t *list = json_pack ("[s, s]", "llama3:latest", "all-minilm");
    assert (!ingress_required_edit (list, "LLAMA3", true));
    assert (ingress_required_edit (list, "qwen2.5:7b", true) && json_array_size (list) == 3);
    assert (streq (json_string_value (json_array_get (list, 2)), "qwen2.5:7b"));
    json_array_append_new (list, json_string ("llama3"));
    assert (ingress_required_edit (list, "llama3", false) && json_array_size (list) == 2);
    assert (!ingress_required_edit (list, "llama3", false));
    assert (!ingress_required_edit (list, "qwen2.5", false));
    json_decref (list);
    printf ("OK\n");
}

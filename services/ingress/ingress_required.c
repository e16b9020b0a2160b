/*  =========================================================================
    ingress_required - changes to a frontend's RequiredModels, through configd
    =========================================================================
*/

#include "ingress_required.h"

#define S_MESSAGE_MAX 512

struct _ingress_required_job_t {
    ingress_required_t *owner;
    char frontend [OFP_IDENTIFIER_MAX + 1];
    char *model;
    bool add;
    ingress_required_fn *callback;
    void *arg;
    ingress_request_t *request;         //  the EDIT in flight
};

struct _ingress_required_t {
    ingress_requester_t *configd;
    int64_t timeout_ms;
    zlistx_t *jobs;                     //  the changes in flight
};

static void
s_job_free (ingress_required_job_t **job_p)
{
    ingress_required_job_t *job = *job_p;
    if (job) {
        ingress_required_t *self = job->owner;
        void *handle = zlistx_find (self->jobs, job);
        if (handle)
            zlistx_detach (self->jobs, handle);
        ingress_requester_cancel (self->configd, &job->request);
        free (job->model);
        free (job);
        *job_p = NULL;
    }
}

static void
s_on_edited (void *arg, ofp_msg_t *reply)
{
    ingress_required_job_t *job = (ingress_required_job_t *) arg;
    job->request = NULL;
    char message [S_MESSAGE_MAX] = "";
    int status = 0;
    if (!reply) {
        status = 503;
        snprintf (message, sizeof message,
                  "ollamaflow's configd did not answer; the frontend's RequiredModels could "
                  "not be changed");
    }
    else if (!ofp_msg_is (reply, "OBJECT")) {
        json_t *body = ofp_msg_body (reply);
        status = (int) json_integer_value (json_object_get (body, "Status"));
        snprintf (message, sizeof message, "configd refused the change of RequiredModels: %s",
                  json_string_value (json_object_get (body, "Message")));
    }
    if (status)
        of_log_warning ("frontend %s: %s", job->frontend, message);
    else
        of_log_info ("frontend %s: '%s' %s RequiredModels", job->frontend, job->model,
                     job->add ? "in" : "out of");
    ingress_required_fn *callback = job->callback;
    void *callback_arg = job->arg;
    s_job_free (&job);
    callback (callback_arg, status, status ? message : NULL);
}

ingress_required_t *
ingress_required_new (ingress_requester_t *configd, int64_t timeout_ms)
{
    assert (configd && timeout_ms > 0);
    ingress_required_t *self = (ingress_required_t *) zmalloc (sizeof (ingress_required_t));
    self->configd = configd;
    self->timeout_ms = timeout_ms;
    self->jobs = zlistx_new ();
    return self;
}

void
ingress_required_destroy (ingress_required_t **self_p)
{
    assert (self_p);
    ingress_required_t *self = *self_p;
    if (!self)
        return;
    ingress_required_job_t *job;
    while ((job = (ingress_required_job_t *) zlistx_first (self->jobs)))
        s_job_free (&job);
    zlistx_destroy (&self->jobs);
    free (self);
    *self_p = NULL;
}

ingress_required_job_t *
ingress_required_change (ingress_required_t *self, const char *frontend, const char *model,
                         bool add, ingress_required_fn *callback, void *arg)
{
    assert (self && frontend && model && callback);
    if (zlistx_size (self->jobs) >= INGRESS_REQUIRED_MAX)
        return NULL;
    ingress_required_job_t *job =
        (ingress_required_job_t *) zmalloc (sizeof (ingress_required_job_t));
    job->owner = self;
    snprintf (job->frontend, sizeof job->frontend, "%s", frontend);
    job->model = strdup (model);
    job->add = add;
    job->callback = callback;
    job->arg = arg;
    zlistx_add_end (self->jobs, job);
    json_t *body = json_pack ("{s:s, s:s, s:{s:[s]}}", "Kind", "frontend", "Identifier", frontend,
                              add ? "Add" : "Remove", "RequiredModels", model);
    job->request = ingress_requester_send (self->configd, "EDIT", &body, self->timeout_ms,
                                           s_on_edited, job);
    return job;
}

void
ingress_required_cancel (ingress_required_t *self, ingress_required_job_t **job_p)
{
    assert (self && job_p);
    s_job_free (job_p);
}

//  --------------------------------------------------------------------------
//  Self test: the EDIT sent, and its answer, through a real DEALER and a
//  ROUTER standing in for configd

static void
s_test_done (void *arg, int status, const char *message)
{
    (void) message;
    *(int *) arg = status;
}

void
ingress_required_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_required: ");
    struct event_base *base = event_base_new ();
    zsock_t *router = zsock_new_router ("inproc://ingress_required_test");
    assert (router);
    ingress_requester_t *configd = ingress_requester_new (
        base, &ofp_config_protocol, "inproc://ingress_required_test", "configd", 1000, NULL, NULL);
    assert (configd);
    ingress_required_t *self = ingress_required_new (configd, 5000);
    int status = -1;
    ingress_required_job_t *job = ingress_required_change (self, "main", "llama3", true,
                                                           s_test_done, &status);
    assert (job);
    ofp_msg_t *request = ofp_msg_recv (&ofp_config_protocol, router);
    assert (request && !ofp_msg_error (request) && ofp_msg_is (request, "EDIT"));
    json_t *body = ofp_msg_body (request);
    assert (streq (json_string_value (json_object_get (body, "Identifier")), "main"));
    json_t *added = json_object_get (json_object_get (body, "Add"), "RequiredModels");
    assert (streq (json_string_value (json_array_get (added, 0)), "llama3"));
    assert (!json_object_get (body, "Remove"));
    json_t *reply_body = json_pack ("{s:s, s:{s:s}, s:i}", "Kind", "frontend", "Object", "Identifier",
                            "main", "Sequence", 7);
    ofp_msg_t *reply = ofp_msg_reply (request, "OBJECT", &reply_body);
    ofp_msg_send (&reply, router);
    ofp_msg_destroy (&request);
    while (status == -1)
        event_base_loop (base, EVLOOP_ONCE);
    assert (status == 0);

    //  A refusal carries configd's status; a cancelled change is never heard of
    status = -1;
    job = ingress_required_change (self, "main", "llama3", false, s_test_done, &status);
    request = ofp_msg_recv (&ofp_config_protocol, router);
    assert (request && json_object_get (ofp_msg_body (request), "Remove"));
    reply = ofp_msg_reply_error (request, 404, "NotFound", "no frontend with Identifier 'main'");
    ofp_msg_send (&reply, router);
    ofp_msg_destroy (&request);
    while (status == -1)
        event_base_loop (base, EVLOOP_ONCE);
    assert (status == 404);
    status = -1;
    job = ingress_required_change (self, "main", "x", true, s_test_done, &status);
    ingress_required_cancel (self, &job);
    assert (!job);
    request = ofp_msg_recv (&ofp_config_protocol, router);
    assert (request);
    ofp_msg_destroy (&request);
    //  Left in flight: dropped by destroy without its callback
    job = ingress_required_change (self, "main", "y", true, s_test_done, &status);
    assert (job);
    ingress_required_destroy (&self);
    ingress_required_destroy (&self);
    assert (status == -1);
    ingress_requester_destroy (&configd);
    zsock_destroy (&router);
    event_base_free (base);
    printf ("OK\n");
}

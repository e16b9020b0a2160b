/*  =========================================================================
    configd - the config service: owns ollamaflow.db, answers config requests
    on its ROUTER and publishes every committed change on its PUB

    The actor's loop only dispatches: requests to s_handle_request, the
    heartbeat timer to s_publish_heartbeat. See proto/config.md.
    =========================================================================
*/

#include "configd.h"
#include "configd_store.h"
#include "configd_edit.h"
#include "of_service.h"

//  Malformed requests logged in full before the log goes quiet
#define S_MALFORMED_LOGGED 10

typedef struct {
    of_settings_t *settings;
    zsock_t *pipe;
    zsock_t *router;            //  requests from every client
    zsock_t *publisher;         //  UPDATE, HEARTBEAT, and tap copies
    zsock_t *tap;               //  = publisher when Bus.Tap, else NULL
    configd_store_t *store;
    int64_t started;            //  zclock_mono at start
    uint64_t malformed;         //  requests refused as malformed
} s_configd_t;

static void
s_publish_update (s_configd_t *self, of_kind_t kind, const char *identifier, json_t *object,
                  int64_t sequence)
{
    json_t *body = json_pack ("{s:s, s:I, s:s, s:s, s:O}", "Epoch",
                              configd_store_epoch (self->store), "Sequence",
                              (json_int_t) sequence, "Kind", of_kind_name (kind), "Identifier",
                              identifier, "Object", object ? object : json_null ());
    ofp_msg_t *update = ofp_msg_new (&ofp_config_protocol, "UPDATE", NULL, &body);
    ofp_msg_send (&update, self->publisher);
}

static void
s_publish_heartbeat (s_configd_t *self)
{
    json_t *body = json_pack ("{s:s, s:I, s:s, s:i, s:I}", "Epoch",
                              configd_store_epoch (self->store), "Sequence",
                              (json_int_t) configd_store_sequence (self->store), "Service",
                              "configd", "Pid", (int) getpid (), "UptimeMs",
                              (json_int_t) (zclock_mono () - self->started));
    ofp_msg_t *heartbeat = ofp_msg_new (&ofp_config_protocol, "HEARTBEAT", NULL, &body);
    ofp_msg_send (&heartbeat, self->publisher);
}

static int
s_on_heartbeat_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    s_publish_heartbeat ((s_configd_t *) arg);
    return 0;
}

static void
s_reply (s_configd_t *self, ofp_msg_t **reply_p)
{
    ofp_tap_publish (self->tap, "configd", "OUT", *reply_p);
    ofp_msg_send (reply_p, self->router);
}

static void
s_reply_error (s_configd_t *self, ofp_msg_t *request, int status, const char *error,
               const char *message)
{
    ofp_msg_t *reply = ofp_msg_reply_error (request, status, error, message);
    s_reply (self, &reply);
}

//  Answers a write with OBJECT or DELETED and publishes the change, or ERROR
static void
s_finish_write (s_configd_t *self, ofp_msg_t *request, configd_result_t result, of_kind_t kind,
                const char *identifier, json_t *stored, int64_t sequence)
{
    if (result.status != 0) {
        of_log_info ("%s %s '%s' refused: %d %s", ofp_msg_command (request), of_kind_name (kind),
                     identifier ? identifier : "", result.status, result.message);
        s_reply_error (self, request, result.status, result.error, result.message);
        return;
    }
    const char *id = stored ? json_string_value (json_object_get (stored, "Identifier"))
                            : identifier;
    of_log_info ("%s %s '%s' committed as change %lld", ofp_msg_command (request),
                 of_kind_name (kind), id, (long long) sequence);
    s_publish_update (self, kind, id, stored, sequence);
    json_t *body;
    ofp_msg_t *reply;
    if (stored) {
        body = json_pack ("{s:s, s:O, s:I}", "Kind", of_kind_name (kind), "Object", stored,
                          "Sequence", (json_int_t) sequence);
        reply = ofp_msg_reply (request, "OBJECT", &body);
    }
    else {
        body = json_pack ("{s:s, s:s, s:I}", "Kind", of_kind_name (kind), "Identifier", id,
                          "Sequence", (json_int_t) sequence);
        reply = ofp_msg_reply (request, "DELETED", &body);
    }
    s_reply (self, &reply);
}

//  An EDIT that changes nothing commits nothing: the object as it is
static void
s_reply_unchanged (s_configd_t *self, ofp_msg_t *request, of_kind_t kind, json_t *current)
{
    json_t *body = json_pack ("{s:s, s:O, s:I}", "Kind", of_kind_name (kind), "Object", current,
                              "Sequence", (json_int_t) configd_store_sequence (self->store));
    ofp_msg_t *reply = ofp_msg_reply (request, "OBJECT", &body);
    s_reply (self, &reply);
}

//  CREATE, REPLACE, PATCH and EDIT: the input is made here, in configd's one
//  thread, from what is stored now, so a PATCH or an EDIT cannot lose a
//  concurrent change
static void
s_handle_put (s_configd_t *self, ofp_msg_t *request, of_kind_t kind, const char *identifier)
{
    json_t *body = ofp_msg_body (request);
    bool create = ofp_msg_is (request, "CREATE");
    bool edit = ofp_msg_is (request, "EDIT");
    json_t *current = create ? NULL : configd_store_get (self->store, kind, identifier);
    json_t *input = NULL;
    if (ofp_msg_is (request, "PATCH") || edit) {
        char message [CONFIGD_MESSAGE_MAX] = "";
        bool changed = true;
        if (current && edit)
            input = configd_edit_lists (kind, current, json_object_get (body, "Add"),
                                        json_object_get (body, "Remove"), &changed, message,
                                        sizeof message);
        else if (current)
            input = configd_edit_patch (current, json_object_get (body, "Patch"), message,
                                        sizeof message);
        else
            snprintf (message, sizeof message, "no %s with Identifier '%s'", of_kind_name (kind),
                      identifier);
        if (!input) {
            configd_result_t refused = {current ? 400 : 404, current ? "BadRequest" : "NotFound",
                                        ""};
            snprintf (refused.message, sizeof refused.message, "%s", message);
            s_finish_write (self, request, refused, kind, identifier, NULL, 0);
            json_decref (current);
            return;
        }
        if (!changed) {
            s_reply_unchanged (self, request, kind, current);
            json_decref (input);
            json_decref (current);
            return;
        }
    }
    else
        input = json_deep_copy (json_object_get (body, "Object"));
    configd_edit_keep_secrets (kind, input, current);
    json_t *stored = NULL;
    int64_t change = 0;
    configd_result_t result = configd_store_put (self->store, kind, create ? NULL : identifier,
                                                 input, create, &stored, &change);
    s_finish_write (self, request, result, kind, identifier, stored, change);
    json_decref (stored);
    json_decref (input);
    json_decref (current);
}

static void
s_handle_request (s_configd_t *self, ofp_msg_t *request)
{
    ofp_tap_publish (self->tap, "configd", "IN", request);
    if (ofp_msg_error (request)) {
        self->malformed++;
        if (self->malformed <= S_MALFORMED_LOGGED || self->malformed % 1000 == 0)
            of_log_warning ("malformed request #%llu refused: %s",
                            (unsigned long long) self->malformed, ofp_msg_error (request));
        s_reply_error (self, request, 400, "BadRequest", ofp_msg_error (request));
        return;
    }
    json_t *body = ofp_msg_body (request);
    of_kind_t kind = OF_KIND_FRONTEND;
    of_kind_parse (json_string_value (json_object_get (body, "Kind")), &kind);
    const char *identifier = json_string_value (json_object_get (body, "Identifier"));
    const char *store_epoch = configd_store_epoch (self->store);
    json_int_t sequence = (json_int_t) configd_store_sequence (self->store);
    json_t *reply_body = NULL;
    const char *reply_command = NULL;

    if (ofp_msg_is (request, "SNAPSHOT")) {
        reply_body = json_pack ("{s:s, s:I, s:o, s:o, s:o}", "Epoch", store_epoch, "Sequence",
                                sequence, "Frontends",
                                configd_store_list (self->store, OF_KIND_FRONTEND), "Backends",
                                configd_store_list (self->store, OF_KIND_BACKEND), "Keys",
                                configd_store_list (self->store, OF_KIND_KEY));
        reply_command = "STATE";
    }
    else if (ofp_msg_is (request, "PING")) {
        reply_body = json_pack ("{s:s, s:I}", "Epoch", store_epoch, "Sequence", sequence);
        reply_command = "PONG";
    }
    else if (ofp_msg_is (request, "GET")) {
        json_t *object = configd_store_get (self->store, kind, identifier);
        if (!object) {
            char message [CONFIGD_MESSAGE_MAX];
            snprintf (message, sizeof message, "no %s with Identifier '%s'", of_kind_name (kind),
                      identifier);
            s_reply_error (self, request, 404, "NotFound", message);
            return;
        }
        reply_body = json_pack ("{s:s, s:o, s:I}", "Kind", of_kind_name (kind), "Object", object,
                                "Sequence", sequence);
        reply_command = "OBJECT";
    }
    else if (ofp_msg_is (request, "LIST")) {
        reply_body = json_pack ("{s:s, s:o, s:I}", "Kind", of_kind_name (kind), "Objects",
                                configd_store_list (self->store, kind), "Sequence", sequence);
        reply_command = "OBJECTS";
    }
    else if (ofp_msg_is (request, "CREATE") || ofp_msg_is (request, "REPLACE")
             || ofp_msg_is (request, "PATCH") || ofp_msg_is (request, "EDIT")) {
        s_handle_put (self, request, kind, identifier);
        return;
    }
    else if (ofp_msg_is (request, "DELETE")) {
        int64_t change = 0;
        configd_result_t result = configd_store_delete (self->store, kind, identifier, &change);
        s_finish_write (self, request, result, kind, identifier, NULL, change);
        return;
    }
    else {
        char message [CONFIGD_MESSAGE_MAX];
        snprintf (message, sizeof message, "%s is a reply or an update, not a request",
                  ofp_msg_command (request));
        s_reply_error (self, request, 400, "BadRequest", message);
        return;
    }
    ofp_msg_t *reply = ofp_msg_reply (request, reply_command, &reply_body);
    s_reply (self, &reply);
}

static int
s_on_request (zloop_t *loop, zsock_t *router, void *arg)
{
    (void) loop;
    ofp_msg_t *request = ofp_msg_recv (&ofp_config_protocol, router);
    if (request) {
        s_handle_request ((s_configd_t *) arg, request);
        ofp_msg_destroy (&request);
    }
    return 0;
}

//  Checks every seed object before writing any, so a bad file changes nothing
static int
s_check_seed (of_settings_t *settings, char *error, size_t size)
{
    //  Keys are never seeded: their secrets are made by the admin API
    json_t *lists [OF_KIND_COUNT] = {settings->seed_frontends, settings->seed_backends, NULL};
    const char *keys [OF_KIND_COUNT] = {"Frontends", "Backends", "Keys"};
    for (int kind = 0; kind < OF_KIND_COUNT; kind++) {
        size_t index;
        json_t *item;
        json_array_foreach (lists [kind], index, item) {
            char reason [OF_SCHEMA_ERROR_MAX];
            json_t *object = of_schema_normalize ((of_kind_t) kind, item, reason, sizeof reason);
            if (!object) {
                snprintf (error, size, "%s[%zu]: %s", keys [kind], index, reason);
                return -1;
            }
            json_decref (object);
        }
    }
    return 0;
}

//  Writes the Frontends and Backends of ollamaflow.json into a new database
static int
s_seed (s_configd_t *self, char *error, size_t size)
{
    if (s_check_seed (self->settings, error, size) != 0)
        return -1;
    //  Backends first: frontends refer to them
    json_t *lists [2] = {self->settings->seed_backends, self->settings->seed_frontends};
    of_kind_t kinds [2] = {OF_KIND_BACKEND, OF_KIND_FRONTEND};
    for (int i = 0; i < 2; i++) {
        size_t index;
        json_t *item;
        json_array_foreach (lists [i], index, item) {
            json_t *stored = NULL;
            int64_t sequence = 0;
            configd_result_t result = configd_store_put (self->store, kinds [i], NULL, item, true,
                                                         &stored, &sequence);
            if (result.status != 0) {
                snprintf (error, size, "%s[%zu]: %s", i == 0 ? "Backends" : "Frontends", index,
                          result.message);
                return -1;
            }
            of_log_info ("seeded %s '%s' from the settings file", of_kind_name (kinds [i]),
                         json_string_value (json_object_get (stored, "Identifier")));
            json_decref (stored);
        }
    }
    return 0;
}

static void
s_remove_database (const char *path)
{
    char file [PATH_MAX];
    unlink (path);
    snprintf (file, sizeof file, "%s-wal", path);
    unlink (file);
    snprintf (file, sizeof file, "%s-shm", path);
    unlink (file);
}

void
configd_actor (zsock_t *pipe, void *args)
{
    zsock_signal (pipe, 0);
    s_configd_t self = {.settings = (of_settings_t *) args, .pipe = pipe};
    of_settings_t *settings = self.settings;
    char error [CONFIGD_MESSAGE_MAX];

    self.store = configd_store_new (settings->database, error, sizeof error);
    if (!self.store) {
        of_service_failed (pipe, "database %s", error);
        return;
    }
    if (configd_store_is_new (self.store) && s_seed (&self, error, sizeof error) != 0) {
        //  Leave no half-seeded database: the next start seeds again
        configd_store_destroy (&self.store);
        s_remove_database (settings->database);
        of_service_failed (pipe, "cannot seed the database from %s: %s",
                           settings->file ? settings->file : "the settings", error);
        return;
    }
    char bind_error [OF_SERVICE_BIND_ERROR_MAX];
    if (of_service_bind_pair (settings, &self.router, settings->config_router, &self.publisher,
                              settings->config_publisher, bind_error, sizeof bind_error)) {
        of_service_failed (pipe, "%s", bind_error);
        zsock_destroy (&self.router);
        zsock_destroy (&self.publisher);
        configd_store_destroy (&self.store);
        return;
    }
    if (settings->tap)
        self.tap = self.publisher;
    self.started = zclock_mono ();
    of_log_info ("database %s, epoch %s, at change %lld; requests on %s, updates on %s",
                 settings->database, configd_store_epoch (self.store),
                 (long long) configd_store_sequence (self.store), settings->config_router,
                 settings->config_publisher);
    s_publish_heartbeat (&self);
    of_service_ready (pipe);

    zloop_t *loop = zloop_new ();
    zloop_set_nonstop (loop, true);
    zloop_reader (loop, pipe, of_service_on_pipe, NULL);
    zloop_reader (loop, self.router, s_on_request, &self);
    zloop_timer (loop, (size_t) settings->heartbeat_ms, 0, s_on_heartbeat_timer, &self);
    zloop_start (loop);
    zloop_destroy (&loop);
    zsock_destroy (&self.router);
    zsock_destroy (&self.publisher);
    configd_store_destroy (&self.store);
}

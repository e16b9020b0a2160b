/*  =========================================================================
    ingress_admin - the admin API under /v1.0/

    Dispatch (s_dispatch) reads the path as segments: a collection
    (frontends, backends, sessions, status), an Identifier or client id, a
    view (health, models). Frontends and backends are read and written
    through configd, sessions through the scheduler; the answers come back
    in s_on_config and s_on_sessions. Live views are ingress_admin_live's.
    =========================================================================
*/

#include "ingress_admin.h"
#include "ingress_admin_auth.h"
#include "ingress_admin_list.h"
#include "ingress_admin_live.h"
#include "ingress_admin_reply.h"
#include "ingress_keys.h"
#include "ingress_requester.h"
#include "ingress_watch.h"
#include <openssl/crypto.h>

#define S_SEGMENTS_MAX 4
#define S_SEGMENT_MAX  (OFP_LEASE_STICKY_MAX + 1)

struct _ingress_admin_t {
    of_settings_t *settings;        //  borrowed
    ingress_requester_t *config;    //  configd's ROUTER (the ingress's, borrowed)
    ingress_requester_t *scheduler; //  the scheduler's ROUTER (sessions)
    ingress_admin_live_t live;      //  what the live views read
};

//  What a config request was for, to shape its answer
typedef enum { S_LIST, S_GET, S_EXISTS, S_CREATE, S_REPLACE, S_PATCH, S_DELETE } s_action_t;

typedef struct {
    of_kind_t kind;
    s_action_t action;
    char secret [INGRESS_KEYS_SECRET_LENGTH + 1];   //  a key's new secret, shown once
} s_config_ask_t;

typedef struct {
    bool one;                       //  /v1.0/sessions/{client}: 404 when there are none
    bool forget;
} s_sessions_ask_t;

static const char *const s_session_params [] = {"frontend", "backend", "key",
                                                INGRESS_ADMIN_PAGING, NULL};

ingress_admin_t *
ingress_admin_new (struct event_base *base, of_settings_t *settings, of_clone_t *clone,
                   ingress_requester_t *configd, ingress_watch_t *watch, ingress_link_t *link,
                   ingress_ops_t *ops)
{
    assert (base && settings && clone && configd && watch && link && ops);
    ingress_admin_t *self = (ingress_admin_t *) zmalloc (sizeof (ingress_admin_t));
    self->settings = settings;
    self->config = configd;
    self->live = (ingress_admin_live_t) {
        .settings = settings, .clone = clone, .watch = watch, .link = link, .ops = ops,
        .started = zclock_mono ()
    };
    of_schema_timestamp (self->live.started_utc, sizeof self->live.started_utc);
    //  Sessions are asked without a liveness check: only the timeout ends them
    self->scheduler = ingress_requester_new (base, &ofp_lease_protocol,
                                             settings->scheduler_router, "admin",
                                             settings->liveness_ms, NULL, NULL);
    if (!self->scheduler)
        ingress_admin_destroy (&self);
    return self;
}

void
ingress_admin_destroy (ingress_admin_t **self_p)
{
    assert (self_p);
    ingress_admin_t *self = *self_p;
    if (!self)
        return;
    ingress_requester_destroy (&self->scheduler);
    free (self);
    *self_p = NULL;
}

bool
ingress_admin_path (const char *path)
{
    return path && strncmp (path, INGRESS_ADMIN_PREFIX, strlen (INGRESS_ADMIN_PREFIX)) == 0;
}

//  --------------------------------------------------------------------------
//  Frontends and backends, through configd

//  configd answered ERROR, or did not answer
static void
s_config_failed (of_exchange_t *exchange, ofp_msg_t *reply, const char *service)
{
    if (!reply) {
        ingress_admin_error (exchange, 503, NULL,
                             "%s did not answer: it fell silent, or took over %d ms", service,
                             INGRESS_ADMIN_TIMEOUT_MS);
        return;
    }
    json_t *body = ofp_msg_body (reply);
    ingress_admin_error (exchange, (int) json_integer_value (json_object_get (body, "Status")),
                         json_string_value (json_object_get (body, "Error")), "%s",
                         json_string_value (json_object_get (body, "Message")));
}

static void
s_send_list (of_exchange_t *exchange, of_kind_t kind, json_t *objects)
{
    json_t *shown = json_array ();
    size_t index;
    json_t *object;
    json_array_foreach (objects, index, object)
        json_array_append_new (shown, of_schema_redact (kind, object));
    char error [OF_SCHEMA_ERROR_MAX];
    size_t total = 0;
    json_t *page = ingress_admin_paged (shown, of_exchange_query (exchange), ingress_admin_list_params, error,
                                        sizeof error, &total);
    if (page)
        ingress_admin_send_page (exchange, page, total);
    else
        ingress_admin_error (exchange, 400, NULL, "%s", error);
    json_decref (shown);
}

static void
s_on_config (of_exchange_t *exchange, ofp_msg_t *reply, void *arg)
{
    s_config_ask_t *ask = (s_config_ask_t *) arg;
    bool error = !reply || ofp_msg_is (reply, "ERROR");
    if (ask->action == S_EXISTS) {
        int status = error ? reply && ofp_msg_is (reply, "ERROR") ? 404 : 503 : 200;
        of_exchange_reply (exchange, status, "application/json", status == 200 ? "true" : "false",
                           status == 200 ? 4 : 5);
    }
    else if (error)
        s_config_failed (exchange, reply, "configd");
    else if (ask->action == S_LIST)
        s_send_list (exchange, ask->kind, json_object_get (ofp_msg_body (reply), "Objects"));
    else if (ask->action == S_DELETE)
        ingress_admin_send (exchange, 204, NULL);
    else {
        json_t *shown = of_schema_redact (ask->kind,
                                          json_object_get (ofp_msg_body (reply), "Object"));
        //  A key's secret exists only here: never stored, never on the bus
        if (*ask->secret)
            json_object_set_new (shown, "Secret", json_string (ask->secret));
        ingress_admin_send (exchange, ask->action == S_CREATE ? 201 : 200, shown);
    }
    OPENSSL_cleanse (ask->secret, sizeof ask->secret);
}

//  A key's SecretHash is the server's: a client may only write the mask
//  back (REPLACE, PATCH), which keeps it. False once the client is answered.
static bool
s_key_input (of_exchange_t *exchange, of_kind_t kind, json_t *object, bool replace)
{
    if (kind != OF_KIND_KEY)
        return true;
    const char *name;
    json_t *value;
    json_object_foreach (object, name, value)
        if (strcasecmp (name, "SecretHash") == 0) {
            if (json_is_string (value)
                && streq (json_string_value (value), OF_SCHEMA_SECRET_MASK))
                return true;
            ingress_admin_error (exchange, 400, NULL, "SecretHash: set by the server (POST "
                                 "/v1.0/keys/{id}/regenerate makes a new secret)");
            return false;
        }
    //  A full replace without it keeps the secret too
    if (replace)
        json_object_set_new (object, "SecretHash", json_string (OF_SCHEMA_SECRET_MASK));
    return true;
}

//  A new secret for ask, its hash in object; false once the client is answered
static bool
s_key_secret (of_exchange_t *exchange, s_config_ask_t *ask, json_t *object)
{
    char hash [OF_SCHEMA_KEY_HASH_LENGTH + 1];
    if (ingress_keys_secret (ask->secret, hash) != 0) {
        ingress_admin_error (exchange, 500, NULL, "no randomness for a new secret");
        return false;
    }
    json_object_set_new (object, "SecretHash", json_string (hash));
    return true;
}

//  The request body as a JSON object, or NULL once the client was answered
static json_t *
s_body_object (of_exchange_t *exchange)
{
    size_t size;
    const char *raw = of_exchange_body (exchange, &size);
    if (size > INGRESS_ADMIN_BODY_MAX) {
        ingress_admin_error (exchange, 413, NULL, "the body is %zu bytes; the admin API takes "
                             "at most %d", size, INGRESS_ADMIN_BODY_MAX);
        return NULL;
    }
    json_error_t jerr;
    json_t *body = size ? json_loadb (raw, size, 0, &jerr) : NULL;
    if (!json_is_object (body)) {
        if (!size)
            ingress_admin_error (exchange, 400, NULL, "a JSON object is required in the body");
        else if (!body)
            ingress_admin_error (exchange, 400, NULL, "invalid JSON in the body: %s (at byte %d)",
                                 jerr.text, jerr.position);
        else
            ingress_admin_error (exchange, 400, NULL, "the body must be a JSON object");
        json_decref (body);
        return NULL;
    }
    return body;
}

//  Asks configd; secret (a key's new one, whose hash is in the body) or NULL
static void
s_config_ask_secret (ingress_admin_t *self, of_exchange_t *exchange, const char *command,
                     json_t *body, of_kind_t kind, s_action_t action, json_t *secret_of)
{
    s_config_ask_t *ask = (s_config_ask_t *) zmalloc (sizeof (s_config_ask_t));
    ask->kind = kind;
    ask->action = action;
    if (secret_of && !s_key_secret (exchange, ask, secret_of)) {
        free (ask);
        json_decref (body);
        return;
    }
    json_object_set_new (body, "Kind", json_string (of_kind_name (kind)));
    ingress_requester_ask (self->config, exchange, command, &body, INGRESS_ADMIN_TIMEOUT_MS,
                           s_on_config, ask);
}

static void
s_config_ask (ingress_admin_t *self, of_exchange_t *exchange, const char *command, json_t *body,
              of_kind_t kind, s_action_t action)
{
    s_config_ask_secret (self, exchange, command, body, kind, action, NULL);
}

//  GET, HEAD and PUT on /v1.0/frontends or /v1.0/backends
static void
s_collection (ingress_admin_t *self, of_exchange_t *exchange, of_kind_t kind)
{
    htp_method method = of_exchange_method (exchange);
    if (method == htp_method_PUT) {
        json_t *object = s_body_object (exchange);
        if (object && !s_key_input (exchange, kind, object, false)) {
            json_decref (object);
            return;
        }
        if (object)
            s_config_ask_secret (self, exchange, "CREATE", json_pack ("{s:o}", "Object", object),
                                 kind, S_CREATE, kind == OF_KIND_KEY ? object : NULL);
        return;
    }
    char error [OF_SCHEMA_ERROR_MAX];
    json_t *query = ingress_admin_query (of_exchange_query (exchange), ingress_admin_list_params, error,
                                         sizeof error);
    if (!query) {
        ingress_admin_error (exchange, 400, NULL, "%s", error);
        return;
    }
    json_decref (query);
    s_config_ask (self, exchange, "LIST", json_object (), kind, S_LIST);
}

//  GET, HEAD, PUT, PATCH and DELETE on /v1.0/frontends/{id} or /v1.0/backends/{id}
static void
s_object (ingress_admin_t *self, of_exchange_t *exchange, of_kind_t kind, const char *id)
{
    htp_method method = of_exchange_method (exchange);
    if (!of_identifier_valid (id)) {
        if (method == htp_method_HEAD)
            of_exchange_reply (exchange, 404, "application/json", "false", 5);
        else
            ingress_admin_error (exchange, method == htp_method_PUT ? 400 : 404, NULL,
                                 "Identifier: '%.64s' is not 1-64 letters, digits, '.', '_' or "
                                 "'-'", id);
        return;
    }
    json_t *request = json_pack ("{s:s}", "Identifier", id);
    if (method == htp_method_GET)
        s_config_ask (self, exchange, "GET", request, kind, S_GET);
    else if (method == htp_method_HEAD)
        s_config_ask (self, exchange, "GET", request, kind, S_EXISTS);
    else if (method == htp_method_DELETE)
        s_config_ask (self, exchange, "DELETE", request, kind, S_DELETE);
    else {
        json_t *object = s_body_object (exchange);
        const char *named = json_string_value (json_object_get (object, "Identifier"));
        if (object && method == htp_method_PUT && named && !streq (named, id)) {
            ingress_admin_error (exchange, 400, NULL, "Identifier: '%.64s' in the body differs "
                                 "from '%s' in the URL", named, id);
            json_decref (object);
            object = NULL;
        }
        if (object && !s_key_input (exchange, kind, object, method == htp_method_PUT)) {
            json_decref (object);
            object = NULL;
        }
        if (!object) {
            json_decref (request);
            return;
        }
        bool patch = method == htp_method_PATCH;
        json_object_set_new (request, patch ? "Patch" : "Object", object);
        s_config_ask (self, exchange, patch ? "PATCH" : "REPLACE", request, kind,
                      patch ? S_PATCH : S_REPLACE);
    }
}

//  POST /v1.0/keys/{id}/regenerate: a new secret; the old one stops working
//  as soon as each replica has the change (milliseconds)
static void
s_regenerate (ingress_admin_t *self, of_exchange_t *exchange, const char *id)
{
    if (!of_identifier_valid (id)) {
        ingress_admin_error (exchange, 404, NULL, "Identifier: '%.64s' is not 1-64 letters, "
                             "digits, '.', '_' or '-'", id);
        return;
    }
    json_t *patch = json_object ();
    s_config_ask_secret (self, exchange, "PATCH",
                         json_pack ("{s:s, s:O}", "Identifier", id, "Patch", patch), OF_KIND_KEY,
                         S_PATCH, patch);
    json_decref (patch);
}

//  --------------------------------------------------------------------------
//  Sessions, through the scheduler

static void
s_on_sessions (of_exchange_t *exchange, ofp_msg_t *reply, void *arg)
{
    s_sessions_ask_t *ask = (s_sessions_ask_t *) arg;
    if (!reply || ofp_msg_is (reply, "ERROR")) {
        s_config_failed (exchange, reply, "the scheduler");
        return;
    }
    json_t *body = ofp_msg_body (reply);
    if (ask->forget) {
        json_int_t count = json_integer_value (json_object_get (body, "Sessions"));
        if (ask->one && count == 0)
            ingress_admin_error (exchange, 404, NULL, "no sticky session of this client");
        else
            ingress_admin_send (exchange, 200, json_pack ("{s:I}", "Deleted", count));
        return;
    }
    //  OllamaFlow's names: the client is ClientId; the expiry an absolute time too
    json_t *sessions = json_array ();
    size_t index;
    json_t *record;
    json_array_foreach (json_object_get (body, "Sessions"), index, record) {
        json_int_t left = json_integer_value (json_object_get (record, "ExpiresInMs"));
        char expires [OFP_TIMESTAMP_LENGTH + 1];
        of_schema_time (zclock_time () + left, expires, sizeof expires);
        json_array_append_new (sessions, json_pack (
            "{s:O, s:O, s:O, s:I, s:s}", "ClientId", json_object_get (record, "Key"), "Frontend",
            json_object_get (record, "Frontend"), "Backend", json_object_get (record, "Backend"),
            "ExpiresInMs", left, "ExpiresUtc", expires));
    }
    if (ask->one && json_array_size (sessions) == 0) {
        json_decref (sessions);
        ingress_admin_error (exchange, 404, NULL, "no sticky session of this client");
        return;
    }
    char error [OF_SCHEMA_ERROR_MAX];
    size_t total = 0;
    json_t *page = ingress_admin_paged (sessions, of_exchange_query (exchange), s_session_params,
                                        error, sizeof error, &total);
    json_decref (sessions);
    if (page)
        ingress_admin_send_page (exchange, page,
                                 (size_t) json_integer_value (json_object_get (body, "Total")));
    else
        ingress_admin_error (exchange, 400, NULL, "%s", error);
}

static void
s_sessions (ingress_admin_t *self, of_exchange_t *exchange, const char *client)
{
    char error [OF_SCHEMA_ERROR_MAX];
    json_t *query = ingress_admin_query (of_exchange_query (exchange), s_session_params, error,
                                         sizeof error);
    if (!query) {
        ingress_admin_error (exchange, 400, NULL, "%s", error);
        return;
    }
    json_t *request = json_object ();
    const char *filters [][2] = {{"frontend", "Frontend"}, {"backend", "Backend"}, {"key", "Key"}};
    for (size_t i = 0; i < sizeof filters / sizeof filters [0]; i++) {
        const char *value = json_string_value (json_object_get (query, filters [i][0]));
        if (value)
            json_object_set_new (request, filters [i][1], json_string (value));
    }
    if (client)
        json_object_set_new (request, "Key", json_string (client));
    json_decref (query);
    //  The scheduler checks the filters (lease.md): say which one is wrong first
    if (ofp_lease_check_forget (request, error, sizeof error) != 0) {
        json_decref (request);
        ingress_admin_error (exchange, 400, NULL, "%s", error);
        return;
    }
    s_sessions_ask_t *ask = (s_sessions_ask_t *) zmalloc (sizeof (s_sessions_ask_t));
    ask->one = client != NULL;
    ask->forget = of_exchange_method (exchange) == htp_method_DELETE;
    if (!ask->forget)
        json_object_set_new (request, "Limit", json_integer (OFP_LEASE_SESSIONS_MAX));
    ingress_requester_ask (self->scheduler, exchange, ask->forget ? "FORGET" : "SESSIONS",
                           &request, INGRESS_ADMIN_TIMEOUT_MS, s_on_sessions, ask);
}

//  --------------------------------------------------------------------------
//  Dispatch

//  Splits the path after /v1.0/ into decoded segments; -1 if malformed
static int
s_split (const char *path, char segments [S_SEGMENTS_MAX][S_SEGMENT_MAX], size_t *count)
{
    const char *cursor = path + strlen (INGRESS_ADMIN_PREFIX);
    *count = 0;
    while (true) {
        size_t length = strcspn (cursor, "/");
        if (*count == S_SEGMENTS_MAX || length == 0
            || ingress_admin_decode (cursor, length, segments [*count], S_SEGMENT_MAX) != 0)
            return -1;
        (*count)++;
        if (!cursor [length])
            return 0;
        cursor += length + 1;
    }
}

//  405 with the methods the route allows
static bool
s_allowed (of_exchange_t *exchange, const char *allow)
{
    const char *method = htparser_get_methodstr_m (of_exchange_method (exchange));
    char padded [64];
    snprintf (padded, sizeof padded, ", %s, ", allow);
    char needle [24];
    snprintf (needle, sizeof needle, ", %s, ", method);
    if (strstr (padded, needle))
        return true;
    of_exchange_add_header (exchange, "Allow", allow);
    ingress_admin_error (exchange, 405, NULL, "method %s is not allowed here; use %s", method,
                         allow);
    return false;
}

static void
s_dispatch (ingress_admin_t *self, of_exchange_t *exchange)
{
    char segments [S_SEGMENTS_MAX][S_SEGMENT_MAX];
    size_t count;
    const char *path = of_exchange_path (exchange);
    if (s_split (path, segments, &count) != 0) {
        ingress_admin_error (exchange, 404, NULL, "unknown admin route %.200s", path);
        return;
    }
    of_kind_t kind = OF_KIND_COUNT;
    bool config = of_kind_parse (segments [0], &kind) == 0
                  && streq (segments [0], of_kind_plural (kind));
    if (config && count == 1) {
        if (s_allowed (exchange, "GET, HEAD, PUT"))
            s_collection (self, exchange, kind);
    }
    else
    if (kind == OF_KIND_BACKEND && config && count == 2 && streq (segments [1], "health")
        && of_exchange_method (exchange) == htp_method_GET)
        ingress_admin_live_health (&self->live, exchange, NULL);
    else
    if (kind == OF_KIND_KEY && config && count == 2 && streq (segments [1], "usage")
        && of_exchange_method (exchange) == htp_method_GET)
        ingress_admin_live_usage (&self->live, exchange, NULL);
    else
    if (kind == OF_KIND_KEY && config && count == 3 && streq (segments [2], "usage")) {
        if (s_allowed (exchange, "GET, HEAD"))
            ingress_admin_live_usage (&self->live, exchange, segments [1]);
    }
    else
    if (config && count == 2) {
        if (s_allowed (exchange, "GET, HEAD, PUT, PATCH, DELETE"))
            s_object (self, exchange, kind, segments [1]);
    }
    else
    if (config && count == 3 && kind != OF_KIND_KEY
        && streq (segments [2], kind == OF_KIND_BACKEND ? "health" : "models")) {
        if (s_allowed (exchange, "GET, HEAD")) {
            if (kind == OF_KIND_BACKEND)
                ingress_admin_live_health (&self->live, exchange, segments [1]);
            else
                ingress_admin_live_models (&self->live, exchange, segments [1]);
        }
    }
    else
    if (kind == OF_KIND_KEY && config && count == 3 && streq (segments [2], "regenerate")) {
        if (s_allowed (exchange, "POST"))
            s_regenerate (self, exchange, segments [1]);
    }
    else
    if (streq (segments [0], "sessions") && count <= 2) {
        if (s_allowed (exchange, "GET, HEAD, DELETE"))
            s_sessions (self, exchange, count == 2 ? segments [1] : NULL);
    }
    else
    if (streq (segments [0], "status") && count == 1) {
        if (s_allowed (exchange, "GET, HEAD"))
            ingress_admin_live_status (&self->live, exchange);
    }
    else
        ingress_admin_error (exchange, 404, NULL, "unknown admin route %.200s", path);
}

void
ingress_admin_handle (ingress_admin_t *self, of_exchange_t *exchange)
{
    assert (self && exchange);
    switch (ingress_admin_auth (self->settings->admin_tokens,
                                of_exchange_header (exchange, "Authorization"))) {
        case INGRESS_AUTH_DISABLED:
            ingress_admin_error (exchange, 403, NULL, "the admin API is disabled: no "
                                 "AdminBearerTokens are configured (set them in the settings "
                                 "file or OLLAMAFLOW_ADMIN_TOKENS)");
            return;
        case INGRESS_AUTH_REFUSED:
            ingress_admin_error (exchange, 401, NULL, "send 'Authorization: Bearer <token>' with "
                                 "one of the AdminBearerTokens");
            return;
        case INGRESS_AUTH_OK:
            break;
    }
    s_dispatch (self, exchange);
}

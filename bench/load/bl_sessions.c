/*  =========================================================================
    bl_sessions - the conversations of bench-load's session mode
    =========================================================================
*/

#include "bl_sessions.h"
#include <assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_LINE_MAX      (4 * 1024 * 1024)   //  longest line of the sessions file
#define S_ANSWER_GROWTH 1024

struct _bl_session_t {
    char id [64];
    int64_t start_ns;
    char *model;
    json_t *turns;              //  [{user, tokens, think}], owned
    json_t *history;            //  the messages so far, owned
    size_t turn;                //  the turn being sent or answered
    char *answer;               //  content received for the turn in flight
    size_t answer_len, answer_cap;
    double scale;
};

struct _bl_sessions_t {
    bl_session_t *sessions;
    size_t size;
};

static int
s_parse (bl_session_t *session, json_t *object, double scale, char *error, size_t size)
{
    const char *id = json_string_value (json_object_get (object, "id"));
    const char *model = json_string_value (json_object_get (object, "model"));
    const char *system = json_string_value (json_object_get (object, "system"));
    json_t *at = json_object_get (object, "at"), *turns = json_object_get (object, "turns");
    if (!id || !model || !json_is_number (at) || !json_is_array (turns)
        || json_array_size (turns) == 0) {
        snprintf (error, size, "a session needs id, model, at and turns");
        return -1;
    }
    size_t index;
    json_t *turn;
    json_array_foreach (turns, index, turn)
        if (!json_is_string (json_object_get (turn, "user"))
            || !json_is_integer (json_object_get (turn, "tokens"))) {
            snprintf (error, size, "session %s: turn %zu needs user and tokens", id, index);
            return -1;
        }
    snprintf (session->id, sizeof session->id, "%s", id);
    session->model = strdup (model);
    session->start_ns = (int64_t) (json_number_value (at) / scale * 1e9);
    session->turns = json_incref (turns);
    session->history = json_array ();
    if (system && *system)
        json_array_append_new (session->history, json_pack ("{ssss}", "role", "system",
                                                            "content", system));
    session->scale = scale;
    return 0;
}

bl_sessions_t *
bl_sessions_load (const char *file, double scale, char *error, size_t size)
{
    FILE *f = fopen (file, "r");
    if (!f) {
        snprintf (error, size, "cannot read %s", file);
        return NULL;
    }
    bl_sessions_t *self = calloc (1, sizeof *self);
    assert (self);
    char *line = malloc (S_LINE_MAX);
    assert (line);
    int rc = 0;
    while (rc == 0 && fgets (line, S_LINE_MAX, f)) {
        if (line [strspn (line, " \t\r\n")] == 0)
            continue;
        json_error_t jerror;
        json_t *object = json_loads (line, 0, &jerror);
        if (!object) {
            snprintf (error, size, "%s: session %zu: %s", file, self->size + 1, jerror.text);
            rc = -1;
            break;
        }
        self->sessions = realloc (self->sessions, (self->size + 1) * sizeof *self->sessions);
        assert (self->sessions);
        bl_session_t *session = &self->sessions [self->size];
        memset (session, 0, sizeof *session);
        rc = s_parse (session, object, scale, error, size);
        json_decref (object);
        self->size++;
    }
    free (line);
    fclose (f);
    if (rc == 0 && self->size == 0) {
        snprintf (error, size, "%s: no sessions", file);
        rc = -1;
    }
    if (rc)
        bl_sessions_destroy (&self);
    return self;
}

void
bl_sessions_destroy (bl_sessions_t **self_p)
{
    assert (self_p);
    bl_sessions_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->size; i++) {
        bl_session_t *session = &self->sessions [i];
        free (session->model);
        free (session->answer);
        json_decref (session->turns);
        json_decref (session->history);
    }
    free (self->sessions);
    free (self);
    *self_p = NULL;
}

size_t
bl_sessions_size (bl_sessions_t *self)
{
    return self->size;
}

bl_session_t *
bl_sessions_get (bl_sessions_t *self, size_t index)
{
    return index < self->size? &self->sessions [index]: NULL;
}

int64_t
bl_session_start_ns (bl_session_t *self)
{
    return self->start_ns;
}

char *
bl_session_request (bl_session_t *self, const char *path, const char *host, size_t *length)
{
    json_t *turn = json_array_get (self->turns, self->turn);
    json_array_append_new (self->history, json_pack ("{ssso}", "role", "user", "content",
                                                     json_incref (json_object_get (turn, "user"))));
    json_t *body = json_pack ("{sssOsbs{sO}}", "model", self->model, "messages", self->history,
                              "stream", true, "options", "num_predict",
                              json_object_get (turn, "tokens"));
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    size_t body_len = strlen (text);
    size_t cap = body_len + 512 + strlen (path) + strlen (host);
    char *request = malloc (cap);
    assert (request);
    int head = snprintf (request, cap,
                         "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nUser-Agent: bench-load\r\n"
                         "X-Conversation-Id: %s\r\n\r\n", path, host, body_len, self->id);
    memcpy (request + head, text, body_len);
    *length = (size_t) head + body_len;
    free (text);
    self->answer_len = 0;
    return request;
}

void
bl_session_line (bl_session_t *self, const char *line, size_t length)
{
    json_t *object = json_loadb (line, length, 0, NULL);
    const char *content = json_string_value (json_object_get (json_object_get (object,
                                                                "message"), "content"));
    size_t add = content? strlen (content): 0;
    if (self->answer_len + add + 1 > self->answer_cap) {
        self->answer_cap = self->answer_len + add + 1 + S_ANSWER_GROWTH;
        self->answer = realloc (self->answer, self->answer_cap);
        assert (self->answer);
    }
    if (add)
        memcpy (self->answer + self->answer_len, content, add);
    self->answer_len += add;
    self->answer [self->answer_len] = 0;
    json_decref (object);
}

bool
bl_session_turn_done (bl_session_t *self, int64_t *think_ns)
{
    json_t *content = json_stringn (self->answer? self->answer: "", self->answer_len);
    json_array_append_new (self->history, json_pack ("{ssso}", "role", "assistant", "content",
                                                     content? content: json_string ("")));
    json_t *turn = json_array_get (self->turns, self->turn);
    double think = json_number_value (json_object_get (turn, "think"));
    *think_ns = (int64_t) (think / self->scale * 1e9);
    self->turn++;
    return self->turn < json_array_size (self->turns);
}

int
bl_session_turns_left (bl_session_t *self)
{
    return (int) (json_array_size (self->turns) - self->turn);
}

/*  =========================================================================
    bl_sessions - the conversations of bench-load's session mode

    A session is a conversation: a system prompt and turns of user messages,
    each with its answer length and the think time after it. Its first turn
    starts at a given time; each next turn is sent its think time after the
    previous answer ended, with the whole history: the system prompt, every
    user message, and every answer as it was received (so that a server
    that kept the history in a slot's prompt cache pays only for the new
    message). Every request carries X-Conversation-Id, the session's id.
    The file has one JSON object a line:
      {"id":"s1","at":12.5,"model":"llama3.2","system":"...",
       "turns":[{"user":"...","tokens":64,"think":4.2}, ...]}
    with times in seconds, divided by the time scale.
    =========================================================================
*/

#ifndef BL_SESSIONS_H_INCLUDED
#define BL_SESSIONS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _bl_sessions_t bl_sessions_t;
typedef struct _bl_session_t bl_session_t;

//  Reads a sessions file; times are divided by scale. NULL with a reason.
bl_sessions_t *
    bl_sessions_load (const char *file, double scale, char *error, size_t size);

//  Destroys the sessions; accepts NULL
void
    bl_sessions_destroy (bl_sessions_t **self_p);

//  Number of sessions, and one of them
size_t
    bl_sessions_size (bl_sessions_t *self);
bl_session_t *
    bl_sessions_get (bl_sessions_t *self, size_t index);

//  When the session's first turn is due, in ns from the start
int64_t
    bl_session_start_ns (bl_session_t *self);

//  The HTTP request of the session's next turn (caller frees); *length its size
char *
    bl_session_request (bl_session_t *self, const char *path, const char *host, size_t *length);

//  One line of the answer's NDJSON stream: its message content is kept
void
    bl_session_line (bl_session_t *self, const char *line, size_t length);

//  The turn's answer ended: it joins the history. Returns true with the
//  think time before the next turn (ns), false when the session is over.
bool
    bl_session_turn_done (bl_session_t *self, int64_t *think_ns);

//  Turns not sent because the session ended early (a failed turn)
int
    bl_session_turns_left (bl_session_t *self);

#endif

/*  =========================================================================
    modelsync_parse - what backends answer, turned into models.md records

    Reads the bodies of /api/tags, /api/ps and /v1/models and the lines of
    an /api/pull progress stream. Everything a backend sends is outside
    input: the JSON is parsed with a size already bounded by the caller,
    entries without a usable name are skipped, optional fields of the wrong
    type or over their limit are left out, and a body that is not what the
    route returns is an error with a reason, never a crash.
    =========================================================================
*/

#ifndef MODELSYNC_PARSE_H_INCLUDED
#define MODELSYNC_PARSE_H_INCLUDED

#include "of_classes.h"

//  Room for a reason
#define MODELSYNC_PARSE_ERROR_MAX 256

//  What one progress line said
typedef enum {
    MODELSYNC_LINE_PROGRESS,    //  a status line: the record was updated
    MODELSYNC_LINE_ERROR,       //  {"error": ...}: error holds Ollama's text
    MODELSYNC_LINE_BAD          //  not a progress line: error holds why
} modelsync_line_t;

//  Parses an /api/tags body into an array of Model records; NULL with the
//  reason in error when the body is not a model list. Caller owns.
json_t *
    modelsync_parse_tags (const char *body, size_t size, char *error, size_t error_size);

//  Parses an /api/ps body into an array of Loaded records; NULL with the
//  reason in error. Caller owns.
json_t *
    modelsync_parse_ps (const char *body, size_t size, char *error, size_t error_size);

//  Parses a /v1/models body into an array of Model records; NULL with the
//  reason in error. Caller owns.
json_t *
    modelsync_parse_openai (const char *body, size_t size, char *error, size_t error_size);

//  Applies one line of a pull's progress stream to the Pull record (Status,
//  Digest, Completed, Total). Returns what the line was.
modelsync_line_t
    modelsync_parse_progress (const char *line, size_t size, json_t *pull, char *error,
                              size_t error_size);

//  Self test
void
    modelsync_parse_test (bool verbose);

#endif

/*  =========================================================================
    configd_store - ollamaflow.db: frontends, backends and keys in SQLite

    The only code that touches the database. WAL mode, synchronous FULL,
    prepared statements only, and each write one transaction that also
    advances the persisted sequence number, so a write is durable when it
    returns and a restarted configd goes on from the last number. Tables and
    columns come from of_schema; columns missing from an older file are added.
    =========================================================================
*/

#ifndef CONFIGD_STORE_H_INCLUDED
#define CONFIGD_STORE_H_INCLUDED

#include "of_classes.h"

#define CONFIGD_MESSAGE_MAX 512

typedef struct _configd_store_t configd_store_t;

//  The outcome of a write: status 0 when committed, else the HTTP status and
//  OllamaFlow error name that the client gets, with a message naming the cause.
typedef struct {
    int status;
    const char *error;
    char message [CONFIGD_MESSAGE_MAX];
} configd_result_t;

//  Opens (creating if needed) the database at path. NULL with a reason if it
//  cannot be opened or is not ours.
configd_store_t *
    configd_store_new (const char *path, char *error, size_t size);

//  Closes the database; accepts NULL.
void
    configd_store_destroy (configd_store_t **self_p);

//  True if this open created the database (then configd seeds it).
bool
    configd_store_is_new (configd_store_t *self);

//  The database epoch: 16 hex digits, made with the file.
const char *
    configd_store_epoch (configd_store_t *self);

//  The sequence number of the last committed change (0 before any).
int64_t
    configd_store_sequence (configd_store_t *self);

//  One object, normalized, or NULL if absent. Caller owns.
json_t *
    configd_store_get (configd_store_t *self, of_kind_t kind, const char *identifier);

//  Every object of a kind, ordered by Identifier. Caller owns.
json_t *
    configd_store_list (configd_store_t *self, of_kind_t kind);

//  Creates (create true) or fully replaces an object from outside input.
//  Validates it, checks the references (a frontend's Backends must exist),
//  sets the timestamps, commits, and returns the stored object in *stored
//  (caller owns) with the change's sequence number in *sequence.
configd_result_t
    configd_store_put (configd_store_t *self, of_kind_t kind, const char *identifier,
                       json_t *input, bool create, json_t **stored, int64_t *sequence);

//  Deletes an object; a backend that frontends use is refused (409).
configd_result_t
    configd_store_delete (configd_store_t *self, of_kind_t kind, const char *identifier,
                          int64_t *sequence);

//  Self test
void
    configd_store_test (bool verbose);

#endif

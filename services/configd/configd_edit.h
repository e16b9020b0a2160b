/*  =========================================================================
    configd_edit - what configd does to a write before storing it: the JSON
    merge patch of PATCH, the list edits of EDIT, and secrets kept when the
    admin API's mask comes back

    The admin API never shows a secret (BearerToken, header values): it shows
    OF_SCHEMA_SECRET_MASK. An operator who reads an object, edits it and
    writes it back sends that mask; storing it would silently replace the
    real token. So a mask written back means "keep what is stored".

    All run inside configd's one thread, between reading the stored object
    and committing the new one, which is what makes a PATCH or an EDIT
    atomic: two clients patching different fields of one object, or adding
    different entries to one list, both see their change.
    =========================================================================
*/

#ifndef CONFIGD_EDIT_H_INCLUDED
#define CONFIGD_EDIT_H_INCLUDED

#include "of_classes.h"

//  The input of a PATCH: the stored object with the merge patch applied.
//  NULL with a reason when the patch tries to change the Identifier. Caller owns.
json_t *
    configd_edit_patch (json_t *stored, json_t *patch, char *error, size_t size);

//  The input of an EDIT: the stored object with the values of remove taken
//  out of, then those of add put into, the string-list fields they name
//  ({"RequiredModels": ["llama3"]}). Entries of RequiredModels are compared
//  as models (ofp_models_key: "llama3" is "llama3:latest"), others exactly;
//  a value already there is not added twice. Sets *changed. NULL with a
//  reason when a name is not a string-list field of kind. Caller owns.
json_t *
    configd_edit_lists (of_kind_t kind, json_t *stored, json_t *add, json_t *remove,
                        bool *changed, char *error, size_t size);

//  Puts the stored secrets back where input carries the mask: a masked
//  BearerToken, a masked header value (dropped if stored has no such header).
void
    configd_edit_keep_secrets (of_kind_t kind, json_t *input, json_t *stored);

//  Self test
void
    configd_edit_test (bool verbose);

#endif

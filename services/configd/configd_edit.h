/*  =========================================================================
    configd_edit - what configd does to a write before storing it: the JSON
    merge patch of PATCH, and secrets kept when the admin API's mask comes back

    The admin API never shows a secret (BearerToken, header values): it shows
    OF_SCHEMA_SECRET_MASK. An operator who reads an object, edits it and
    writes it back sends that mask; storing it would silently replace the
    real token. So a mask written back means "keep what is stored".

    Both run inside configd's one thread, between reading the stored object
    and committing the new one, which is what makes a PATCH atomic: two
    clients patching different fields of one object both see their change.
    =========================================================================
*/

#ifndef CONFIGD_EDIT_H_INCLUDED
#define CONFIGD_EDIT_H_INCLUDED

#include "of_classes.h"

//  The input of a PATCH: the stored object with the merge patch applied.
//  NULL with a reason when the patch tries to change the Identifier. Caller owns.
json_t *
    configd_edit_patch (json_t *stored, json_t *patch, char *error, size_t size);

//  Puts the stored secrets back where input carries the mask: a masked
//  BearerToken, a masked header value (dropped if stored has no such header).
void
    configd_edit_keep_secrets (of_kind_t kind, json_t *input, json_t *stored);

//  Self test
void
    configd_edit_test (bool verbose);

#endif

/*  =========================================================================
    sched_settle - a new epoch takes back the leases still running before it
    grants any
    =========================================================================
*/

#include "sched_settle.h"

struct _sched_settle_t {
    int64_t ends;               //  the window's end
    zhashx_t *pending;          //  ingress id -> itself: expected, not declared yet
    zhashx_t *declared;         //  ingress id -> itself: its last RESUME came
    bool whole;                 //  wait for the whole window (a truncated peer list)
};

sched_settle_t *
sched_settle_new (int64_t started, int64_t window_ms)
{
    sched_settle_t *self = (sched_settle_t *) zmalloc (sizeof (sched_settle_t));
    self->ends = started + window_ms;
    self->pending = zhashx_new ();
    self->declared = zhashx_new ();
    return self;
}

void
sched_settle_destroy (sched_settle_t **self_p)
{
    assert (self_p);
    sched_settle_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->pending);
    zhashx_destroy (&self->declared);
    free (self);
    *self_p = NULL;
}

//  Expects an ingress unless it has declared already (or the table is full:
//  then the window is waited out, which is safe)
static void
s_expect (sched_settle_t *self, const char *ingress)
{
    if (zhashx_lookup (self->declared, ingress) || zhashx_lookup (self->pending, ingress))
        return;
    if (zhashx_size (self->pending) >= SCHED_SETTLE_EXPECTED_MAX) {
        self->whole = true;
        return;
    }
    zhashx_insert (self->pending, ingress, (void *) "");
}

void
sched_settle_hello (sched_settle_t *self, const char *ingress, json_t *peers, bool truncated,
                    int64_t now)
{
    assert (self && ingress);
    if (now >= self->ends)
        return;                 //  past the window, nothing is waited for
    //  A HELLO starts from nothing: its own declarations are to come again.
    //  One that names no peers comes from an ingress new to every epoch (or
    //  from an older one, which sends no Last): nothing to wait for from it
    zhashx_delete (self->declared, ingress);
    if (!peers && !truncated)
        return;
    s_expect (self, ingress);
    size_t index;
    json_t *peer;
    json_array_foreach (peers, index, peer)
        if (json_is_string (peer))
            s_expect (self, json_string_value (peer));
    if (truncated)
        self->whole = true;
}

void
sched_settle_resumed (sched_settle_t *self, const char *ingress, bool last)
{
    assert (self && ingress);
    if (!last)
        return;
    //  Declared whether it was expected or not: a HELLO that names it later
    //  (a peer that heard of it in the epoch before) must not wait for it
    zhashx_delete (self->pending, ingress);
    if (zhashx_size (self->declared) < SCHED_SETTLE_EXPECTED_MAX)
        zhashx_insert (self->declared, ingress, (void *) "");
}

void
sched_settle_forget (sched_settle_t *self, const char *ingress)
{
    assert (self && ingress);
    zhashx_delete (self->pending, ingress);
}

bool
sched_settle_holding (sched_settle_t *self, int64_t now)
{
    assert (self);
    if (now >= self->ends)
        return false;
    return self->whole || zhashx_size (self->pending) > 0;
}

int64_t
sched_settle_ends (sched_settle_t *self)
{
    assert (self);
    return self->ends;
}

size_t
sched_settle_pending (sched_settle_t *self)
{
    assert (self);
    return zhashx_size (self->pending);
}

//  --------------------------------------------------------------------------
//  Self test

void
sched_settle_test (bool verbose)
{
    if (verbose)
        printf (" * sched_settle: ");

    //  A first start: nobody is named, nothing is waited for
    sched_settle_t *settle = sched_settle_new (1000, 3000);
    assert (!sched_settle_holding (settle, 1000));
    //  An ingress that says HELLO with no peers is new: nothing waits for it
    sched_settle_hello (settle, "a", NULL, false, 1100);
    assert (!sched_settle_holding (settle, 1100));
    //  One that names peers (itself alone) is waited for until its last RESUME
    json_t *alone = json_pack ("[s]", "a");
    sched_settle_hello (settle, "a", alone, false, 1100);
    json_decref (alone);
    assert (sched_settle_holding (settle, 1100));
    sched_settle_resumed (settle, "a", false);      //  more batches to come
    assert (sched_settle_holding (settle, 1100));
    sched_settle_resumed (settle, "a", true);
    assert (!sched_settle_holding (settle, 1100));
    sched_settle_destroy (&settle);

    //  After a restart: the first HELLO names b, which holds leases
    settle = sched_settle_new (1000, 3000);
    json_t *peers = json_pack ("[s, s]", "a", "b");
    sched_settle_hello (settle, "a", peers, false, 1050);
    sched_settle_resumed (settle, "a", true);
    assert (sched_settle_holding (settle, 1060));
    assert (sched_settle_pending (settle) == 1);
    //  b says HELLO: waited for until it has declared its leases
    sched_settle_hello (settle, "b", NULL, false, 1200);
    assert (sched_settle_holding (settle, 1200));
    sched_settle_resumed (settle, "b", true);
    assert (!sched_settle_holding (settle, 1200));
    //  A HELLO again (a restarted a) waits for its declarations again
    sched_settle_hello (settle, "a", peers, false, 1300);
    assert (sched_settle_holding (settle, 1300));
    sched_settle_resumed (settle, "a", true);
    assert (!sched_settle_holding (settle, 1300));
    //  Past the window nothing is waited for, whoever says HELLO
    sched_settle_hello (settle, "c", peers, false, 4000);
    assert (!sched_settle_holding (settle, 4000));
    assert (sched_settle_ends (settle) == 4000);
    sched_settle_destroy (&settle);

    //  A peer that never comes: the window ends the wait; a forgotten one too
    settle = sched_settle_new (0, 3000);
    sched_settle_hello (settle, "a", peers, false, 10);
    sched_settle_resumed (settle, "a", true);
    assert (sched_settle_holding (settle, 2999));
    assert (!sched_settle_holding (settle, 3000));
    sched_settle_forget (settle, "b");
    assert (!sched_settle_holding (settle, 10));
    sched_settle_destroy (&settle);

    //  b declares before anyone names it (its own HELLO had no peers); a's
    //  HELLO naming it later does not wait for it
    settle = sched_settle_new (0, 3000);
    sched_settle_hello (settle, "b", NULL, false, 10);
    sched_settle_resumed (settle, "b", true);
    sched_settle_hello (settle, "a", peers, false, 20);
    assert (sched_settle_pending (settle) == 1);       //  a itself
    sched_settle_resumed (settle, "a", true);
    assert (!sched_settle_holding (settle, 30));
    sched_settle_destroy (&settle);

    //  A truncated list: the whole window
    settle = sched_settle_new (0, 3000);
    sched_settle_hello (settle, "a", peers, true, 10);
    sched_settle_resumed (settle, "a", true);
    sched_settle_hello (settle, "b", NULL, false, 20);
    sched_settle_resumed (settle, "b", true);
    assert (sched_settle_holding (settle, 2000));
    assert (!sched_settle_holding (settle, 3000));
    json_decref (peers);
    //  Strange peers (not strings) are skipped, not trusted
    peers = json_pack ("[i, n]", 5);
    sched_settle_hello (settle, "c", peers, false, 3500);
    json_decref (peers);
    sched_settle_destroy (&settle);

    if (verbose)
        printf ("OK\n");
}

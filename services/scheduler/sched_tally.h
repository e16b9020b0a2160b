/*  =========================================================================
    sched_tally - counts per name in a zhashx (leases per backend, asks per
    frontend...): the value is the count itself, and a name whose count
    falls to zero leaves the table, so it never holds more names than counts.
    =========================================================================
*/

#ifndef SCHED_TALLY_H_INCLUDED
#define SCHED_TALLY_H_INCLUDED

#include <czmq.h>

//  Adds delta to the count of name; a count never goes below zero.
static inline void
sched_tally_add (zhashx_t *tally, const char *name, int delta)
{
    uintptr_t count = (uintptr_t) zhashx_lookup (tally, name);
    assert (delta >= 0 || count >= (uintptr_t) -delta);
    count += (uintptr_t) (intptr_t) delta;
    if (count == 0)
        zhashx_delete (tally, name);
    else
        zhashx_update (tally, name, (void *) count);
}

//  The count of name (0 when absent or name is NULL).
static inline size_t
sched_tally_get (zhashx_t *tally, const char *name)
{
    return name ? (size_t) (uintptr_t) zhashx_lookup (tally, name) : 0;
}

#endif

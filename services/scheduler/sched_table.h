/*  =========================================================================
    sched_table - the ingresses registered and the leases each one holds

    The lease count per backend is what MaxParallelRequests is checked
    against. A lease is named by (Epoch, Lease) and belongs to the ingress that
    was granted it (or that resumed it); freeing an ingress frees its leases.
    The table knows nothing of the config: a lease on a backend the config
    does not know still counts, so that its RELEASE is recognised.
    =========================================================================
*/

#ifndef SCHED_TABLE_H_INCLUDED
#define SCHED_TABLE_H_INCLUDED

#include "of_classes.h"

//  Most ingresses registered at once, and most leases held at once (a RESUME
//  adds what an ingress declares: the bound keeps that from growing for ever)
#define SCHED_TABLE_INGRESSES_MAX 10000
#define SCHED_TABLE_LEASES_MAX    1000000

typedef struct _sched_table_t sched_table_t;

//  One lease (read-only for callers)
typedef struct {
    char *epoch;                //  the epoch that granted it
    char *lease;
    char *ingress;              //  the holder
    char *backend;
    char *frontend;
    char *sticky_key;           //  or NULL
    char *key;                  //  the client API key, or NULL (sched_table_set_key)
    char *model;                //  the model's key (ofp_models_key), or NULL (sched_table_set_model)
    bool cold;                  //  its grant found the model not resident (sched_cost)
    int64_t prompt_bytes;       //  its prompt's size as the LEASE said it, 0 when not
} sched_lease_t;

//  Creates an empty table.
sched_table_t *
    sched_table_new (void);

//  Destroys the table; accepts NULL.
void
    sched_table_destroy (sched_table_t **self_p);

//  Registers an ingress, seen at now. A known ingress starts again from
//  nothing: its leases are freed. Returns how many leases were freed, or -1
//  if the ingress is new and the table already holds its maximum.
int
    sched_table_register (sched_table_t *self, const char *ingress, int64_t now);

//  Notes that an ingress was heard at now; returns true if it is registered.
bool
    sched_table_seen (sched_table_t *self, const char *ingress, int64_t now);

//  True if the ingress is registered.
bool
    sched_table_registered (sched_table_t *self, const char *ingress);

//  Forgets the ingresses silent since before now - liveness_ms and frees their
//  leases. Returns their ids (caller destroys the list), or NULL if none.
zlistx_t *
    sched_table_expire (sched_table_t *self, int64_t now, int64_t liveness_ms);

//  Adds a lease held by a registered ingress. Strings are copied; sticky_key
//  may be NULL. Returns 0, or -1 if (epoch, lease) is already held, the
//  ingress is not registered, or the table is full.
int
    sched_table_add (sched_table_t *self, const char *epoch, const char *lease,
                     const char *ingress, const char *backend, const char *frontend,
                     const char *sticky_key);

//  Says which client API key a lease serves (once, after sched_table_add), so
//  that the key's leases are counted.
void
    sched_table_set_key (sched_table_t *self, sched_lease_t *lease, const char *key);

//  Says which model a lease serves (its key, once, after sched_table_add) and
//  whether its grant found the model resident, and its prompt's size, so
//  that the backend's leases are counted per model.
void
    sched_table_set_model (sched_table_t *self, sched_lease_t *lease, const char *model,
                           bool cold, int64_t prompt_bytes);

//  Leases of a model running on a backend, and how many models have leases
//  running on it.
size_t
    sched_table_model_leases (sched_table_t *self, const char *backend, const char *model);
size_t
    sched_table_models_running (sched_table_t *self, const char *backend);

//  Leases held for a client API key.
size_t
    sched_table_key_leases (sched_table_t *self, const char *key);

//  The lease named (epoch, lease), or NULL. Borrowed.
sched_lease_t *
    sched_table_lookup (sched_table_t *self, const char *epoch, const char *lease);

//  Frees a lease (from sched_table_lookup).
void
    sched_table_remove (sched_table_t *self, sched_lease_t *lease);

//  Leases held on a backend, by an ingress, in all.
size_t
    sched_table_leases (sched_table_t *self, const char *backend);
size_t
    sched_table_ingress_leases (sched_table_t *self, const char *ingress);
size_t
    sched_table_size (sched_table_t *self);

//  Ingresses registered.
size_t
    sched_table_ingresses (sched_table_t *self);

//  The ids of the ingresses registered, as a new JSON array, if there are at
//  most max of them; else NULL.
json_t *
    sched_table_ingress_ids (sched_table_t *self, size_t max);

//  Self test
void
    sched_table_test (bool verbose);

#endif

/*  =========================================================================
    sim_conns - the open client connections of one evhtp server
    =========================================================================
*/

#include "sim_conns.h"
#include <assert.h>
#include <stdlib.h>

typedef struct _node_t node_t;
struct _node_t {
    node_t *next, *prev;
    evhtp_connection_t *connection;
    sim_conns_t *owner;
};

struct _sim_conns_t {
    node_t *head;
    size_t size;
};

static evhtp_res
s_on_fini (evhtp_connection_t *connection, void *arg)
{
    node_t *node = (node_t *) arg;
    sim_conns_t *self = node->owner;
    (void) connection;
    if (node->prev)
        node->prev->next = node->next;
    else
        self->head = node->next;
    if (node->next)
        node->next->prev = node->prev;
    self->size--;
    free (node);
    return EVHTP_RES_OK;
}

static evhtp_res
s_on_accept (evhtp_connection_t *connection, void *arg)
{
    sim_conns_t *self = (sim_conns_t *) arg;
    node_t *node = calloc (1, sizeof *node);
    assert (node);
    node->connection = connection;
    node->owner = self;
    node->next = self->head;
    if (self->head)
        self->head->prev = node;
    self->head = node;
    self->size++;
    evhtp_connection_set_hook (connection, evhtp_hook_on_connection_fini, (evhtp_hook) s_on_fini,
                               node);
    return EVHTP_RES_OK;
}

sim_conns_t *
sim_conns_new (evhtp_t *htp)
{
    sim_conns_t *self = calloc (1, sizeof *self);
    assert (self);
    evhtp_set_post_accept_cb (htp, s_on_accept, self);
    return self;
}

void
sim_conns_destroy (sim_conns_t **self_p)
{
    assert (self_p);
    sim_conns_t *self = *self_p;
    if (!self)
        return;
    sim_conns_drop_all (self);
    free (self);
    *self_p = NULL;
}

void
sim_conns_drop_all (sim_conns_t *self)
{
    //  Each free runs the fini hook, which unlinks the head
    while (self->head)
        evhtp_connection_free (self->head->connection);
}

size_t
sim_conns_size (sim_conns_t *self)
{
    return self->size;
}

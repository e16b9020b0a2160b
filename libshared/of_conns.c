/*  =========================================================================
    of_conns - the open client connections of one evhtp server
    =========================================================================
*/

#include "of_conns.h"
#include <assert.h>
#include <stdlib.h>

typedef struct _node_t node_t;
struct _node_t {
    node_t *next, *prev;
    evhtp_connection_t *connection;
    of_conns_t *owner;
};

struct _of_conns_t {
    node_t *head;
    size_t size;
    size_t max;                 //  0: no limit
    size_t refused;
    evhtp_post_accept_cb accept;
    void *accept_arg;
};

static evhtp_res
s_on_fini (evhtp_connection_t *connection, void *arg)
{
    node_t *node = (node_t *) arg;
    of_conns_t *self = node->owner;
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
    of_conns_t *self = (of_conns_t *) arg;
    if (self->max && self->size >= self->max) {
        //  An outsider may open connections without end: not beyond the limit
        self->refused++;
        return EVHTP_RES_SERVUNAVAIL;
    }
    if (self->accept && self->accept (connection, self->accept_arg) != EVHTP_RES_OK)
        return EVHTP_RES_SERVUNAVAIL;
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

of_conns_t *
of_conns_new (evhtp_t *htp, size_t max, evhtp_post_accept_cb accept, void *arg)
{
    of_conns_t *self = calloc (1, sizeof *self);
    assert (self);
    self->max = max;
    self->accept = accept;
    self->accept_arg = arg;
    evhtp_set_post_accept_cb (htp, s_on_accept, self);
    return self;
}

void
of_conns_destroy (of_conns_t **self_p)
{
    assert (self_p);
    of_conns_t *self = *self_p;
    if (!self)
        return;
    of_conns_drop_all (self);
    free (self);
    *self_p = NULL;
}

void
of_conns_drop_all (of_conns_t *self)
{
    //  Each free runs the fini hook, which unlinks the head
    while (self->head)
        evhtp_connection_free (self->head->connection);
}

size_t
of_conns_size (of_conns_t *self)
{
    return self->size;
}

size_t
of_conns_refused (of_conns_t *self)
{
    return self->refused;
}

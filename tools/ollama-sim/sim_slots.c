/*  =========================================================================
    sim_slots - parallel slots and the bounded wait queue of one backend
    =========================================================================
*/

#include "sim_slots.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct _sim_slots_t {
    int parallel, max_queue;
    int active, queued;
    int peak_active, peak_queued;
    sim_waiter_t *head, *tail;
};

sim_slots_t *
sim_slots_new (int parallel, int max_queue)
{
    sim_slots_t *self = calloc (1, sizeof *self);
    assert (self);
    self->parallel = parallel;
    self->max_queue = max_queue;
    return self;
}

void
sim_slots_destroy (sim_slots_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

static void
s_unlink (sim_slots_t *self, sim_waiter_t *waiter)
{
    if (waiter->prev)
        waiter->prev->next = waiter->next;
    else
        self->head = waiter->next;
    if (waiter->next)
        waiter->next->prev = waiter->prev;
    else
        self->tail = waiter->prev;
    waiter->next = waiter->prev = NULL;
    waiter->queued = false;
    self->queued--;
}

static void
s_grant_waiting (sim_slots_t *self)
{
    while (self->head && self->active < self->parallel) {
        sim_waiter_t *waiter = self->head;
        s_unlink (self, waiter);
        self->active++;
        if (self->active > self->peak_active)
            self->peak_active = self->active;
        waiter->grant (waiter->arg);
    }
}

void
sim_slots_resize (sim_slots_t *self, int parallel, int max_queue)
{
    self->parallel = parallel;
    self->max_queue = max_queue;
    s_grant_waiting (self);
}

sim_slot_result_t
sim_slots_acquire (sim_slots_t *self, sim_waiter_t *waiter, sim_grant_fn *grant, void *arg)
{
    assert (!waiter->queued);
    if (self->active < self->parallel && self->head == NULL) {
        self->active++;
        if (self->active > self->peak_active)
            self->peak_active = self->active;
        return SIM_SLOT_GRANTED;
    }
    if (self->queued >= self->max_queue)
        return SIM_SLOT_BUSY;
    waiter->grant = grant;
    waiter->arg = arg;
    waiter->queued = true;
    waiter->next = NULL;
    waiter->prev = self->tail;
    if (self->tail)
        self->tail->next = waiter;
    else
        self->head = waiter;
    self->tail = waiter;
    self->queued++;
    if (self->queued > self->peak_queued)
        self->peak_queued = self->queued;
    return SIM_SLOT_QUEUED;
}

void
sim_slots_cancel (sim_slots_t *self, sim_waiter_t *waiter)
{
    if (waiter->queued)
        s_unlink (self, waiter);
}

void
sim_slots_release (sim_slots_t *self)
{
    assert (self->active > 0);
    self->active--;
    s_grant_waiting (self);
}

int
sim_slots_active (sim_slots_t *self)
{
    return self->active;
}

int
sim_slots_queued (sim_slots_t *self)
{
    return self->queued;
}

int
sim_slots_peak_active (sim_slots_t *self)
{
    return self->peak_active;
}

int
sim_slots_peak_queued (sim_slots_t *self)
{
    return self->peak_queued;
}

void
sim_slots_reset_peaks (sim_slots_t *self)
{
    self->peak_active = self->active;
    self->peak_queued = self->queued;
}

static int s_granted [8];

static void
s_test_grant (void *arg)
{
    s_granted [(intptr_t) arg]++;
}

void
sim_slots_test (void)
{
    sim_slots_t *slots = sim_slots_new (2, 3);
    sim_waiter_t waiters [6];
    memset (waiters, 0, sizeof waiters);
    sim_slot_result_t expect [6] = { SIM_SLOT_GRANTED, SIM_SLOT_GRANTED, SIM_SLOT_QUEUED,
                                     SIM_SLOT_QUEUED, SIM_SLOT_QUEUED, SIM_SLOT_BUSY };
    for (intptr_t i = 0; i < 6; i++)
        assert (sim_slots_acquire (slots, &waiters [i], s_test_grant, (void *) i) == expect [i]);
    assert (sim_slots_active (slots) == 2 && sim_slots_queued (slots) == 3);
    //  The middle waiter gives up; releasing grants the oldest one left
    sim_slots_cancel (slots, &waiters [3]);
    assert (sim_slots_queued (slots) == 2);
    sim_slots_release (slots);
    assert (s_granted [2] == 1 && s_granted [3] == 0 && s_granted [4] == 0);
    sim_slots_release (slots);
    assert (s_granted [4] == 1);
    assert (sim_slots_active (slots) == 2 && sim_slots_queued (slots) == 0);
    assert (sim_slots_peak_active (slots) == 2 && sim_slots_peak_queued (slots) == 3);
    //  Growing grants at once
    sim_slots_release (slots);
    sim_slots_release (slots);
    sim_slots_reset_peaks (slots);
    assert (sim_slots_peak_active (slots) == 0);
    sim_slots_resize (slots, 1, 0);
    assert (sim_slots_acquire (slots, &waiters [0], s_test_grant, NULL) == SIM_SLOT_GRANTED);
    assert (sim_slots_acquire (slots, &waiters [1], s_test_grant, NULL) == SIM_SLOT_BUSY);
    sim_slots_destroy (&slots);
    sim_slots_destroy (&slots);
    assert (slots == NULL);
}

/*  =========================================================================
    sim_slots - parallel slots and the bounded wait queue of one backend

    Like OLLAMA_NUM_PARALLEL and OLLAMA_MAX_QUEUE: at most `parallel` requests
    run at once; up to `max_queue` more wait in FIFO order; beyond that the
    caller must answer 503. A waiter is an intrusive link that the caller
    embeds in its own request state, so queueing never allocates. Grants are
    called back synchronously from sim_slots_release; callers that must not
    re-enter defer the release themselves.
    =========================================================================
*/

#ifndef SIM_SLOTS_H_INCLUDED
#define SIM_SLOTS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _sim_waiter_t sim_waiter_t;
typedef void (sim_grant_fn) (void *arg);

//  One queued request; embed it in the request state (zero it first)
struct _sim_waiter_t {
    sim_waiter_t *next, *prev;
    sim_grant_fn *grant;
    void *arg;
    bool queued;
};

typedef struct _sim_slots_t sim_slots_t;

typedef enum { SIM_SLOT_GRANTED, SIM_SLOT_QUEUED, SIM_SLOT_BUSY } sim_slot_result_t;

//  Creates the slots
sim_slots_t *
    sim_slots_new (int parallel, int max_queue);

//  Destroys the slots; accepts NULL. Waiters still queued are forgotten.
void
    sim_slots_destroy (sim_slots_t **self_p);

//  Changes the limits at run time; grants waiters if there is room now
void
    sim_slots_resize (sim_slots_t *self, int parallel, int max_queue);

//  Asks for a slot: GRANTED (the caller holds one now, grant is not called),
//  QUEUED (grant (arg) is called later), or BUSY (queue full: answer 503)
sim_slot_result_t
    sim_slots_acquire (sim_slots_t *self, sim_waiter_t *waiter, sim_grant_fn *grant, void *arg);

//  Removes a waiter that gave up; does nothing if it is not queued
void
    sim_slots_cancel (sim_slots_t *self, sim_waiter_t *waiter);

//  Gives a slot back and grants the next waiter, if any
void
    sim_slots_release (sim_slots_t *self);

//  Counters: running now, waiting now, and the peaks since the last reset
int
    sim_slots_active (sim_slots_t *self);
int
    sim_slots_queued (sim_slots_t *self);
int
    sim_slots_peak_active (sim_slots_t *self);
int
    sim_slots_peak_queued (sim_slots_t *self);

//  Resets the peaks to the current values
void
    sim_slots_reset_peaks (sim_slots_t *self);

//  Self-test
void
    sim_slots_test (void);

#endif

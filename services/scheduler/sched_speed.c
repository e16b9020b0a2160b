/*  =========================================================================
    sched_speed - how fast each backend answers, learned from its releases
    =========================================================================
*/

#include "sched_speed.h"

//  How many mean deviations of the first byte time the estimate adds, and
//  the weight of a new one in their average (1/4, as TCP's RTT variance)
#define S_TAIL_DEVIATIONS 2
#define S_DEVIATION_WEIGHT 4

typedef struct {
    double ttfb_ms;             //  moving average of the first byte times
    double deviation_ms;        //  moving average of |sample - average|
    double duration_ms;         //  moving average of the durations
    uint64_t ttfb_samples;
    uint64_t samples;
    uint64_t misses;            //  leases that ended with nothing to learn
    int64_t noted_at;           //  the last sample
} s_backend_t;

struct _sched_speed_t {
    zhashx_t *backends;         //  backend id -> s_backend_t
};

static void
s_backend_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

sched_speed_t *
sched_speed_new (void)
{
    sched_speed_t *self = (sched_speed_t *) zmalloc (sizeof (sched_speed_t));
    self->backends = zhashx_new ();
    zhashx_set_destructor (self->backends, s_backend_destroy);
    return self;
}

void
sched_speed_destroy (sched_speed_t **self_p)
{
    assert (self_p);
    sched_speed_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->backends);
    free (self);
    *self_p = NULL;
}

//  Moves an average a new sample's weight towards it; the first sample is
//  the average
static double
s_average (double average, double sample, uint64_t samples)
{
    return samples == 0 ? sample : average + (sample - average) / SCHED_SPEED_WEIGHT;
}

//  The backend's record, created if new; NULL when the bound is reached
static s_backend_t *
s_record (sched_speed_t *self, const char *backend)
{
    s_backend_t *record = (s_backend_t *) zhashx_lookup (self->backends, backend);
    if (!record && zhashx_size (self->backends) < SCHED_SPEED_BACKENDS_MAX) {
        record = (s_backend_t *) zmalloc (sizeof (s_backend_t));
        zhashx_insert (self->backends, backend, record);
    }
    return record;
}

void
sched_speed_note (sched_speed_t *self, const char *backend, int64_t ttfb_ms, int64_t duration_ms,
                  int64_t now)
{
    assert (self && backend);
    s_backend_t *record = s_record (self, backend);
    if (!record)
        return;
    if (duration_ms < 0)
        duration_ms = 0;
    if (ttfb_ms >= 0) {
        double error = (double) ttfb_ms - record->ttfb_ms;
        if (record->ttfb_samples)
            record->deviation_ms += ((error < 0 ? -error : error) - record->deviation_ms)
                                  / S_DEVIATION_WEIGHT;
        record->ttfb_ms = s_average (record->ttfb_ms, (double) ttfb_ms, record->ttfb_samples);
        record->ttfb_samples++;
    }
    record->duration_ms = s_average (record->duration_ms, (double) duration_ms, record->samples);
    record->samples++;
    record->noted_at = now;
}

void
sched_speed_note_miss (sched_speed_t *self, const char *backend)
{
    assert (self && backend);
    s_backend_t *record = s_record (self, backend);
    if (record)
        record->misses++;
}

bool
sched_speed_unexplored (sched_speed_t *self, const char *backend)
{
    assert (self && backend);
    s_backend_t *record = (s_backend_t *) zhashx_lookup (self->backends, backend);
    return !record || (record->samples == 0 && record->misses < SCHED_SPEED_EXPLORE_MISSES);
}

//  How much of what was learned still counts after age ms: halves every
//  half life, linear within one (no libm needed, monotonic, 1 at age 0)
static double
s_fade (int64_t age)
{
    if (age <= 0)
        return 1;
    int64_t halvings = age / SCHED_SPEED_HALF_LIFE_MS;
    if (halvings >= 64)
        return 0;
    double fade = 1;
    for (int64_t step = 0; step < halvings; step++)
        fade /= 2;
    double within = (double) (age % SCHED_SPEED_HALF_LIFE_MS) / SCHED_SPEED_HALF_LIFE_MS;
    return fade * (1 - within / 2);
}

int64_t
sched_speed_first_token (sched_speed_t *self, const char *backend, int64_t now)
{
    assert (self && backend);
    s_backend_t *record = (s_backend_t *) zhashx_lookup (self->backends, backend);
    if (!record || record->ttfb_samples == 0)
        return 0;
    double expected = record->ttfb_ms + S_TAIL_DEVIATIONS * record->deviation_ms;
    return (int64_t) (expected * s_fade (now - record->noted_at) + 0.5);
}

int64_t
sched_speed_duration (sched_speed_t *self, const char *backend, int64_t now)
{
    assert (self && backend);
    s_backend_t *record = (s_backend_t *) zhashx_lookup (self->backends, backend);
    if (!record || record->samples == 0)
        return -1;
    return (int64_t) (record->duration_ms * s_fade (now - record->noted_at) + 0.5);
}

uint64_t
sched_speed_samples (sched_speed_t *self, const char *backend)
{
    assert (self && backend);
    s_backend_t *record = (s_backend_t *) zhashx_lookup (self->backends, backend);
    return record ? record->samples : 0;
}

//  --------------------------------------------------------------------------
//  Self test

void
sched_speed_test (bool verbose)
{
    printf (" * sched_speed: ");
    if (verbose)
        printf ("\n");
    sched_speed_t *speed = sched_speed_new ();
    int64_t now = 1000;

    //  Nothing learned: neutral
    assert (sched_speed_first_token (speed, "b1", now) == 0);
    assert (sched_speed_duration (speed, "b1", now) == -1);
    assert (sched_speed_samples (speed, "b1") == 0);
    assert (sched_speed_unexplored (speed, "b1"));

    //  The first sample is the average; steady samples keep it, no deviation
    sched_speed_note (speed, "b1", 100, 1000, now);
    assert (sched_speed_first_token (speed, "b1", now) == 100);
    assert (sched_speed_duration (speed, "b1", now) == 1000);
    for (int round = 0; round < 10; round++)
        sched_speed_note (speed, "b1", 100, 1000, now);
    assert (sched_speed_first_token (speed, "b1", now) == 100);
    assert (sched_speed_samples (speed, "b1") == 11);

    //  A sample moves the average by 1/8 of the difference and adds deviation
    sched_speed_note (speed, "b1", 180, 1800, now);
    assert (sched_speed_duration (speed, "b1", now) == 1100);
    //  average 110, deviation 80/4 = 20: 110 + 2 x 20
    assert (sched_speed_first_token (speed, "b1", now) == 150);

    //  A lease without a first byte counts for the duration only
    sched_speed_note (speed, "b2", -1, 400, now);
    assert (sched_speed_first_token (speed, "b2", now) == 0);
    assert (sched_speed_duration (speed, "b2", now) == 400);
    sched_speed_note (speed, "b2", 50, -5, now);
    assert (sched_speed_first_token (speed, "b2", now) == 50);
    assert (sched_speed_duration (speed, "b2", now) == 350);

    //  A backend that got 8x faster is ranked at half its old estimate within
    //  twenty releases (the average moves at once, the deviation it causes
    //  takes longer to fade)
    sched_speed_t *change = sched_speed_new ();
    for (int round = 0; round < 20; round++)
        sched_speed_note (change, "slow", 800, 4000, now);
    int rounds = 0;
    while (sched_speed_first_token (change, "slow", now) > 400) {
        sched_speed_note (change, "slow", 100, 1000, now);
        rounds++;
    }
    assert (rounds > 1 && rounds <= 20);
    sched_speed_destroy (&change);

    //  What was learned fades with the time since the last sample
    assert (sched_speed_first_token (speed, "b1", now + SCHED_SPEED_HALF_LIFE_MS) == 75);
    assert (sched_speed_duration (speed, "b1", now + 2 * SCHED_SPEED_HALF_LIFE_MS) == 275);
    assert (sched_speed_first_token (speed, "b1", now + SCHED_SPEED_HALF_LIFE_MS / 2) == 113);
    assert (sched_speed_first_token (speed, "b1", now + 100 * SCHED_SPEED_HALF_LIFE_MS) == 0);
    //  ...and is fresh again with the next sample
    sched_speed_note (speed, "b1", 110, 1100, now + 100 * SCHED_SPEED_HALF_LIFE_MS);
    assert (sched_speed_first_token (speed, "b1", now + 100 * SCHED_SPEED_HALF_LIFE_MS) >= 110);

    //  Unexplored until a release is learned from, or until it failed
    //  SCHED_SPEED_EXPLORE_MISSES leases without one
    assert (!sched_speed_unexplored (speed, "b1"));
    for (int miss = 0; miss < SCHED_SPEED_EXPLORE_MISSES; miss++) {
        assert (sched_speed_unexplored (speed, "b9"));
        sched_speed_note_miss (speed, "b9");
    }
    assert (!sched_speed_unexplored (speed, "b9"));
    assert (sched_speed_first_token (speed, "b9", now) == 0);
    sched_speed_note_miss (speed, "b1");
    assert (!sched_speed_unexplored (speed, "b1"));

    sched_speed_destroy (&speed);
    sched_speed_destroy (&speed);
    printf ("OK\n");
}

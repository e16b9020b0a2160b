/*  =========================================================================
    bl_samples - bench-load's distributions
    =========================================================================
*/

#include "bl_samples.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void
bl_samples_add (bl_samples_t *self, int64_t value)
{
    if (self->n == self->cap) {
        size_t cap = self->cap? self->cap * 2: 4096;
        int64_t *v = realloc (self->v, cap * sizeof *v);
        if (!v)
            return;
        self->v = v;
        self->cap = cap;
    }
    self->v [self->n++] = value;
}

static int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y? -1: x > y;
}

void
bl_samples_print (const char *name, bl_samples_t *self, bool comma)
{
    printf ("\"%s\":{\"n\":%zu", name, self->n);
    if (self->n) {
        qsort (self->v, self->n, sizeof *self->v, s_cmp);
        double sum = 0;
        for (size_t i = 0; i < self->n; i++)
            sum += self->v [i];
        const double pct [] = {50, 90, 99, 99.9};
        const char *names [] = {"p50", "p90", "p99", "p999"};
        for (int i = 0; i < 4; i++) {
            //  nearest rank
            size_t rank = (size_t) ceil (pct [i] / 100.0 * self->n);
            if (rank < 1)
                rank = 1;
            printf (",\"%s\":%.4f", names [i], self->v [rank - 1] / 1e6);
        }
        printf (",\"min\":%.4f,\"max\":%.4f,\"mean\":%.4f", self->v [0] / 1e6,
                self->v [self->n - 1] / 1e6, sum / self->n / 1e6);
    }
    printf ("}%s", comma? ",": "");
}

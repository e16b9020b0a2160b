/*  =========================================================================
    bl_samples - bench-load's distributions: durations collected, then
    printed as JSON with their percentiles
    =========================================================================
*/

#ifndef BL_SAMPLES_H_INCLUDED
#define BL_SAMPLES_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t *v;                 //  nanoseconds
    size_t n, cap;
} bl_samples_t;

//  Adds one duration (dropped if memory runs out)
void
    bl_samples_add (bl_samples_t *self, int64_t value);

//  Prints "name":{"n", "p50", "p90", "p99", "p999", "min", "max", "mean"}
//  in milliseconds (only n when empty), then a comma if asked; sorts them
void
    bl_samples_print (const char *name, bl_samples_t *self, bool comma);

#endif

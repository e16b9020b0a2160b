/*  =========================================================================
    ctl_print - ollamaflowctl's human-readable output: tables of rows and
    "Field  value" listings of one object

    Values print as an operator reads them: strings bare, lists joined with
    ", ", objects as compact JSON, absent or null as "-". Cells are cut at a
    width limit so a long list does not wreck the table.
    =========================================================================
*/

#ifndef CTL_PRINT_H_INCLUDED
#define CTL_PRINT_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#define CTL_CELL_MAX 256

//  Computes a cell from a row, for columns that are not one field
typedef void (ctl_cell_fn) (json_t *row, char *dest, size_t size);

typedef struct {
    const char *title;          //  NULL ends a list of columns
    const char *field;          //  the row's field shown, when cell is NULL
    ctl_cell_fn *cell;
} ctl_column_t;

//  Writes a value as text into dest.
void
    ctl_print_value (json_t *value, char *dest, size_t size);

//  Prints rows (an array of objects) as a table with a header line.
void
    ctl_print_table (FILE *out, json_t *rows, const ctl_column_t *columns);

//  Prints every field of an object, one per line.
void
    ctl_print_object (FILE *out, json_t *object);

//  Self test
void
    ctl_print_test (bool verbose);

#endif

/*  =========================================================================
    ctl_print - tables and listings for people
    =========================================================================
*/

#include "ctl_print.h"
#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define S_CELL_SHOWN 48         //  widest cell in a table

void
ctl_print_value (json_t *value, char *dest, size_t size)
{
    if (!value || json_is_null (value))
        snprintf (dest, size, "-");
    else if (json_is_string (value))
        snprintf (dest, size, "%s", json_string_value (value));
    else if (json_is_array (value)) {
        size_t used = 0, index;
        json_t *item;
        dest [0] = 0;
        json_array_foreach (value, index, item) {
            char text [CTL_CELL_MAX];
            ctl_print_value (item, text, sizeof text);
            int wrote = snprintf (dest + used, size - used, "%s%s", index ? ", " : "", text);
            if (wrote < 0 || (size_t) wrote >= size - used)
                break;
            used += (size_t) wrote;
        }
        if (json_array_size (value) == 0)
            snprintf (dest, size, "-");
    }
    else {
        char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
        snprintf (dest, size, "%s", text ? text : "?");
        free (text);
    }
}

static void
s_cell (json_t *row, const ctl_column_t *column, char *dest, size_t size)
{
    if (column->cell)
        column->cell (row, dest, size);
    else
        ctl_print_value (json_object_get (row, column->field), dest, size);
    if (strlen (dest) > S_CELL_SHOWN)
        strcpy (dest + S_CELL_SHOWN - 3, "...");
}

//  One cell, padded to its column's width; the last of a line ends it
static void
s_put (FILE *out, const char *text, size_t width, bool last)
{
    if (last)
        fprintf (out, "%s\n", text);
    else
        fprintf (out, "%-*s  ", (int) width, text);
}

void
ctl_print_table (FILE *out, json_t *rows, const ctl_column_t *columns)
{
    size_t count = 0;
    while (columns [count].title)
        count++;
    size_t *widths = (size_t *) calloc (count, sizeof (size_t));
    for (size_t c = 0; c < count; c++)
        widths [c] = strlen (columns [c].title);
    size_t index;
    json_t *row;
    char cell [CTL_CELL_MAX];
    json_array_foreach (rows, index, row)
        for (size_t c = 0; c < count; c++) {
            s_cell (row, &columns [c], cell, sizeof cell);
            if (strlen (cell) > widths [c])
                widths [c] = strlen (cell);
        }
    for (size_t c = 0; c < count; c++)
        s_put (out, columns [c].title, widths [c], c + 1 == count);
    json_array_foreach (rows, index, row)
        for (size_t c = 0; c < count; c++) {
            s_cell (row, &columns [c], cell, sizeof cell);
            s_put (out, cell, widths [c], c + 1 == count);
        }
    free (widths);
}

void
ctl_print_object (FILE *out, json_t *object)
{
    size_t width = 0;
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value)
        if (strlen (key) > width)
            width = strlen (key);
    json_object_foreach (object, key, value) {
        char text [CTL_CELL_MAX * 4];
        ctl_print_value (value, text, sizeof text);
        fprintf (out, "%-*s  %s\n", (int) width, key, text);
    }
}

//  --------------------------------------------------------------------------
//  Self test

void
ctl_print_test (bool verbose)
{
    (void) verbose;
    printf (" * ctl_print: ");
    char text [CTL_CELL_MAX];
    json_t *value = json_loads ("[\"a\",2,true,null,{\"x\":1}]", 0, NULL);
    ctl_print_value (value, text, sizeof text);
    assert (!strcmp (text, "a, 2, true, -, {\"x\":1}"));
    json_decref (value);
    ctl_print_value (NULL, text, sizeof text);
    assert (!strcmp (text, "-"));
    value = json_array ();
    ctl_print_value (value, text, sizeof text);
    assert (!strcmp (text, "-"));
    json_decref (value);

    json_t *rows = json_loads ("[{\"Identifier\":\"a\",\"Port\":11434},{\"Identifier\":\"bb\"}]",
                               0, NULL);
    static const ctl_column_t columns [] = {{"ID", "Identifier", NULL}, {"PORT", "Port", NULL},
                                            {NULL, NULL, NULL}};
    char *printed = NULL;
    size_t length = 0;
    FILE *out = open_memstream (&printed, &length);
    ctl_print_table (out, rows, columns);
    fclose (out);
    assert (!strcmp (printed, "ID  PORT\na   11434\nbb  -\n"));
    free (printed);
    json_decref (rows);
    printf ("OK\n");
}

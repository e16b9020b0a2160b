/*  =========================================================================
    ingress_admin_list - query strings, paging and ordering of lists
    =========================================================================
*/

#include "ingress_admin_list.h"
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_PARAM_MAX 512
#define S_FIELD_MAX 64

const char *const ingress_admin_list_params [] = {INGRESS_ADMIN_PAGING, NULL};

static int
s_hex (char c)
{
    return isdigit ((unsigned char) c) ? c - '0'
           : isxdigit ((unsigned char) c) ? (tolower ((unsigned char) c) - 'a' + 10)
                                          : -1;
}

int
ingress_admin_decode (const char *text, size_t length, char *dest, size_t size)
{
    size_t out = 0;
    for (size_t i = 0; i < length; i++) {
        char c = text [i];
        if (c == '%') {
            if (i + 2 >= length)
                return -1;
            int high = s_hex (text [i + 1]), low = s_hex (text [i + 2]);
            if (high < 0 || low < 0)
                return -1;
            c = (char) (high * 16 + low);
            i += 2;
        }
        else if (c == '+')
            c = ' ';
        if (c == 0 || out + 1 >= size)
            return -1;
        dest [out++] = c;
    }
    dest [out] = 0;
    return 0;
}

json_t *
ingress_admin_query (const char *raw, const char *const *allowed, char *error, size_t size)
{
    json_t *query = json_object ();
    const char *cursor = raw ? raw : "";
    while (*cursor) {
        size_t length = strcspn (cursor, "&");
        const char *equals = memchr (cursor, '=', length);
        size_t name_length = equals ? (size_t) (equals - cursor) : length;
        char name [S_PARAM_MAX], value [S_PARAM_MAX] = "";
        if (length && (ingress_admin_decode (cursor, name_length, name, sizeof name) != 0
                       || (equals && ingress_admin_decode (equals + 1, length - name_length - 1,
                                                           value, sizeof value) != 0))) {
            snprintf (error, size, "query: malformed or too long parameter '%.*s'",
                      (int) (length < 64 ? length : 64), cursor);
            json_decref (query);
            return NULL;
        }
        if (length) {
            const char *const *known = allowed;
            while (*known && strcasecmp (*known, name) != 0)
                known++;
            if (!*known) {
                snprintf (error, size, "%s: unknown query parameter", name);
                json_decref (query);
                return NULL;
            }
            if (json_object_get (query, *known)) {
                snprintf (error, size, "%s: given twice", *known);
                json_decref (query);
                return NULL;
            }
            json_object_set_new (query, *known, json_string (value));
        }
        cursor += length + (cursor [length] == '&');
    }
    return query;
}

//  A query integer within min..max, else default; -1 when malformed
static int
s_number (json_t *query, const char *name, long min, long max, long *value, char *error,
          size_t size)
{
    const char *text = json_string_value (json_object_get (query, name));
    if (!text)
        return 0;
    char *end;
    long number = strtol (text, &end, 10);
    if (!*text || *end || number < min || number > max) {
        snprintf (error, size, "%s: must be an integer from %ld to %ld", name, min, max);
        return -1;
    }
    *value = number;
    return 0;
}

typedef struct {
    json_t *item;
    json_t *key;                //  the value ordered by, or NULL
    size_t index;               //  position in the list, for a stable order
    bool descending;
} s_entry_t;

static int
s_rank (json_t *value)
{
    return !value || json_is_null (value) ? 0 : json_is_boolean (value) ? 1
           : json_is_number (value) ? 2 : json_is_string (value) ? 3 : 4;
}

static int
s_compare_values (json_t *a, json_t *b)
{
    int ra = s_rank (a), rb = s_rank (b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    if (ra == 1)
        return (int) json_is_true (a) - (int) json_is_true (b);
    if (ra == 2) {
        double x = json_number_value (a), y = json_number_value (b);
        return x < y ? -1 : x > y;
    }
    if (ra == 3)
        return strcmp (json_string_value (a), json_string_value (b));
    return 0;
}

static int
s_compare (const void *left, const void *right)
{
    const s_entry_t *a = (const s_entry_t *) left, *b = (const s_entry_t *) right;
    int order = s_compare_values (a->key, b->key);
    if (a->descending)
        order = -order;
    if (order == 0)
        order = a->index < b->index ? -1 : a->index > b->index;
    return order;
}

//  The field of the objects that name means (case ignored), or NULL
static const char *
s_field (json_t *list, const char *name)
{
    size_t index;
    json_t *item;
    json_array_foreach (list, index, item) {
        const char *key;
        json_t *value;
        json_object_foreach (item, key, value)
            if (strcasecmp (key, name) == 0)
                return key;
    }
    return NULL;
}

json_t *
ingress_admin_page (json_t *list, json_t *query, char *error, size_t size, size_t *total)
{
    assert (json_is_array (list) && total);
    long offset = 0, limit = INGRESS_ADMIN_LIMIT_MAX;
    if (s_number (query, "offset", 0, 1000000000, &offset, error, size) != 0
        || s_number (query, "limit", 1, INGRESS_ADMIN_LIMIT_MAX, &limit, error, size) != 0)
        return NULL;
    if (!json_object_get (query, "limit"))
        limit = (long) json_array_size (list);
    const char *order = json_string_value (json_object_get (query, "order"));
    if (order && strcasecmp (order, "asc") != 0 && strcasecmp (order, "desc") != 0) {
        snprintf (error, size, "order: must be asc or desc");
        return NULL;
    }
    const char *by = json_string_value (json_object_get (query, "order-by"));
    const char *field = s_field (list, by ? by : "Identifier");
    if (by && !field && json_array_size (list)) {
        snprintf (error, size, "order-by: '%.64s' is not a field of these objects", by);
        return NULL;
    }
    size_t count = json_array_size (list);
    s_entry_t *entries = (s_entry_t *) calloc (count ? count : 1, sizeof (s_entry_t));
    assert (entries);
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get (list, i);
        entries [i] = (s_entry_t) {.item = item,
                                   .key = field ? json_object_get (item, field) : NULL,
                                   .index = i,
                                   .descending = order && strcasecmp (order, "desc") == 0};
    }
    qsort (entries, count, sizeof (s_entry_t), s_compare);
    json_t *page = json_array ();
    for (size_t i = (size_t) offset; i < count && json_array_size (page) < (size_t) limit; i++)
        json_array_append (page, entries [i].item);
    free (entries);
    *total = count;
    return page;
}

json_t *
ingress_admin_paged (json_t *list, const char *raw, const char *const *allowed, char *error,
                     size_t size, size_t *total)
{
    json_t *query = ingress_admin_query (raw, allowed, error, size);
    json_t *page = query ? ingress_admin_page (list, query, error, size, total) : NULL;
    json_decref (query);
    return page;
}

//  --------------------------------------------------------------------------
//  Self test

static const char *
s_ids (json_t *page)
{
    static char ids [64];
    ids [0] = 0;
    size_t index;
    json_t *item;
    json_array_foreach (page, index, item)
        strcat (ids, json_string_value (json_object_get (item, "Identifier")));
    return ids;
}

static json_t *
s_page (json_t *list, const char *raw, size_t *total, char *error)
{
    static const char *const allowed [] = {INGRESS_ADMIN_PAGING, NULL};
    return ingress_admin_paged (list, raw, allowed, error, 256, total);
}

void
ingress_admin_list_test (bool verbose)
{
    (void) verbose;
    printf (" * ingress_admin_list: ");
    char text [32], error [256];
    assert (ingress_admin_decode ("a%3Ab+c", 7, text, sizeof text) == 0 && !strcmp (text, "a:b c"));
    assert (ingress_admin_decode ("%3", 2, text, sizeof text) == -1);
    assert (ingress_admin_decode ("%", 1, text, sizeof text) == -1);
    assert (ingress_admin_decode ("%zz", 3, text, sizeof text) == -1);
    assert (ingress_admin_decode ("%00", 3, text, sizeof text) == -1);
    assert (ingress_admin_decode ("abcd", 4, text, 4) == -1);

    static const char *const allowed [] = {"frontend", INGRESS_ADMIN_PAGING, NULL};
    json_t *query = ingress_admin_query ("Frontend=f%201&limit=2&&", allowed, error, sizeof error);
    assert (query && !strcmp (json_string_value (json_object_get (query, "frontend")), "f 1"));
    json_decref (query);
    assert (!ingress_admin_query ("speed=1", allowed, error, sizeof error));
    assert (strstr (error, "speed: unknown"));
    assert (!ingress_admin_query ("limit=1&limit=2", allowed, error, sizeof error));
    assert (strstr (error, "limit: given twice"));
    query = ingress_admin_query (NULL, allowed, error, sizeof error);
    assert (query && json_object_size (query) == 0);
    json_decref (query);

    json_t *list = json_loads ("[{\"Identifier\":\"c\",\"Port\":2},{\"Identifier\":\"a\","
                               "\"Port\":10},{\"Identifier\":\"b\",\"Port\":2,\"Name\":\"x\"}]",
                               0, NULL);
    size_t total;
    json_t *page = s_page (list, NULL, &total, error);
    assert (total == 3 && !strcmp (s_ids (page), "abc"));
    json_decref (page);
    page = s_page (list, "order=desc&offset=1&limit=1", &total, error);
    assert (total == 3 && !strcmp (s_ids (page), "b"));
    json_decref (page);
    //  Numbers as numbers; ties keep the list's order; absent sorts first
    page = s_page (list, "order-by=port", &total, error);
    assert (!strcmp (s_ids (page), "cba"));
    json_decref (page);
    page = s_page (list, "order-by=Name", &total, error);
    assert (!strcmp (s_ids (page), "cab"));
    json_decref (page);
    page = s_page (list, "offset=5", &total, error);
    assert (total == 3 && json_array_size (page) == 0);
    json_decref (page);
    assert (!s_page (list, "limit=0", &total, error) && strstr (error, "limit: must be"));
    assert (!s_page (list, "offset=x", &total, error) && strstr (error, "offset: must be"));
    assert (!s_page (list, "order=up", &total, error) && strstr (error, "order: must be"));
    assert (!s_page (list, "order-by=Speed", &total, error) && strstr (error, "order-by"));
    json_decref (list);
    printf ("OK\n");
}

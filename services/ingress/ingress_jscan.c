/*  =========================================================================
    ingress_jscan - the members of a JSON object, found without a tree
    =========================================================================
*/

#include "ingress_jscan.h"
#include <assert.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *
ingress_jscan_ws (const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

const char *
ingress_jscan_string (const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else
        if (*p == '"')
            return p + 1;
        else
        if ((unsigned char) *p < 0x20)
            return NULL;
    }
    return NULL;
}

static const char *
s_value (const char *p, const char *end, int depth)
{
    p = ingress_jscan_ws (p, end);
    if (p >= end || depth > INGRESS_JSCAN_DEPTH_MAX)
        return NULL;
    if (*p == '"')
        return ingress_jscan_string (p, end);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        bool object = *p == '{';
        p = ingress_jscan_ws (p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        while (p && p < end) {
            if (object) {
                p = ingress_jscan_ws (p, end);
                if (p >= end || *p != '"' || !(p = ingress_jscan_string (p, end)))
                    return NULL;
                p = ingress_jscan_ws (p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p++;
            }
            p = s_value (p, end, depth + 1);
            if (!p)
                return NULL;
            p = ingress_jscan_ws (p, end);
            if (p < end && *p == ',')
                p++;
            else
                return p < end && *p == close ? p + 1 : NULL;
        }
        return NULL;
    }
    const char *start = p;
    while (p < end && (isalnum ((unsigned char) *p) || *p == '-' || *p == '+' || *p == '.'))
        p++;
    return p > start ? p : NULL;
}

const char *
ingress_jscan_value (const char *p, const char *end)
{
    return s_value (p, end, 0);
}

bool
ingress_jscan_key_is (const char *key, const char *after, const char *name)
{
    size_t size = strlen (name);
    return (size_t) (after - key) == size + 2 && memcmp (key + 1, name, size) == 0;
}

bool
ingress_jscan_object (const char *p, const char *end, ingress_jscan_member_fn *member, void *arg)
{
    p = ingress_jscan_ws (p, end);
    if (p >= end || *p != '{')
        return false;
    p = ingress_jscan_ws (p + 1, end);
    if (p < end && *p == '}')
        return ingress_jscan_ws (p + 1, end) == end;
    while (p < end) {
        const char *key = p;
        if (*p != '"' || !(p = ingress_jscan_string (p, end)))
            return false;
        const char *after = p;
        p = ingress_jscan_ws (p, end);
        if (p >= end || *p != ':')
            return false;
        p = member (key, after, ingress_jscan_ws (p + 1, end), end, arg);
        if (!p)
            return false;
        p = ingress_jscan_ws (p, end);
        if (p < end && *p == ',')
            p = ingress_jscan_ws (p + 1, end);
        else
            return p < end && *p == '}' && ingress_jscan_ws (p + 1, end) == end;
    }
    return false;
}

const char *
ingress_jscan_nested (const char *p, const char *end, ingress_jscan_member_fn *member, void *arg)
{
    const char *after = ingress_jscan_value (p, end);
    return after && ingress_jscan_object (p, after, member, arg) ? after : NULL;
}

const char *
ingress_jscan_literal (const char *value, const char *end, const char **literal, size_t *size)
{
    if (value < end && *value == '"') {
        const char *after = ingress_jscan_string (value, end);
        if (after) {
            *literal = value;
            *size = (size_t) (after - value);
        }
        return after;
    }
    if (end - value >= 4 && memcmp (value, "null", 4) == 0)
        return value + 4;
    return NULL;
}

//  --------------------------------------------------------------------------
//  Self test

typedef struct {
    const char *name;           //  the key whose literal is wanted
    const char *literal;
    size_t size;
    int members;
} s_test_t;

static const char *
s_test_member (const char *key, const char *after, const char *value, const char *end, void *arg)
{
    s_test_t *test = (s_test_t *) arg;
    test->members++;
    if (ingress_jscan_key_is (key, after, test->name))
        return ingress_jscan_literal (value, end, &test->literal, &test->size);
    return ingress_jscan_value (value, end);
}

static bool
s_test_walk (const char *text, const char *name, s_test_t *test)
{
    *test = (s_test_t) {name, NULL, 0, 0};
    return ingress_jscan_object (text, text + strlen (text), s_test_member, test);
}

static const char *
s_test_skip (const char *text)
{
    return ingress_jscan_value (text, text + strlen (text));
}

void
ingress_jscan_test (bool verbose)
{
    if (verbose)
        printf (" * ingress_jscan: ");
    s_test_t test;

    //  The literal of one member, escapes and all, among values skipped
    const char *chunk = " {\"id\":\"a}\\\"\",\"n\":[1,{\"x\":null},-2.5e3,true],"
                        "\"content\" : \"q\\\"}\\\\ \\u00e9\",\"o\":{}} \n";
    assert (s_test_walk (chunk, "content", &test));
    assert (test.members == 4 && test.size == 15);
    assert (memcmp (test.literal, "\"q\\\"}\\\\ \\u00e9\"", test.size) == 0);
    assert (s_test_walk ("{}", "content", &test) && test.members == 0);
    assert (s_test_walk ("{\"content\":null}", "content", &test) && !test.literal);

    //  What the scan does not follow stops it, never misreads it
    assert (!s_test_walk ("{\"content\":5}", "content", &test));
    assert (!s_test_walk ("{\"content\":\"cut", "content", &test));
    assert (!s_test_walk ("{\"a\":1,}", "content", &test));
    assert (!s_test_walk ("{\"a\":1} trailing", "content", &test));
    assert (!s_test_walk ("{\"a\":\"raw\nline\"}", "content", &test));
    assert (!s_test_walk ("[1]", "content", &test));
    assert (!s_test_walk ("{} {}", "content", &test));

    //  Skipping values: nested, bounded in depth
    const char *nested = "[[{\"a\":[]}],\"]\"] rest";
    assert (s_test_skip (nested) == nested + 16);
    char deep [2 * INGRESS_JSCAN_DEPTH_MAX + 8];
    size_t depth = INGRESS_JSCAN_DEPTH_MAX + 2;
    memset (deep, '[', depth);
    memset (deep + depth, ']', depth);
    deep [2 * depth] = 0;
    assert (!s_test_skip (deep));
    deep [2 * depth - 1] = 0;
    assert (s_test_skip (deep + 1) == deep + 2 * depth - 1);  //  the deepest allowed
    assert (!s_test_skip ("[[[]]"));    //  unbalanced
    assert (!s_test_skip (""));
    assert (!s_test_skip ("{\"a\" 1}"));

    //  An object inside a range: its end
    const char *outer = "{\"o\":{\"content\":\"x\"},\"p\":1}";
    test = (s_test_t) {"content", NULL, 0, 0};
    const char *after = ingress_jscan_nested (outer + 5, outer + strlen (outer), s_test_member,
                                              &test);
    assert (after == outer + 20 && test.size == 3);

    if (verbose)
        printf ("OK\n");
}

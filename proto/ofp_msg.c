/*  =========================================================================
    ofp_msg - one message on the ollamaflow bus, and the codec that checks it
    =========================================================================
*/

#include "ofp_msg.h"
#include <ctype.h>
#include <stdarg.h>

//  Bodies up to this size are encoded on the stack
#define S_ENCODE_BUFFER 2048

struct _ofp_msg_t {
    const ofp_protocol_t *protocol;
    zframe_t *routing_id;       //  set on ROUTER sockets
    char command [OFP_COMMAND_MAX + 1];
    char *id;                   //  NULL for commands without one
    json_t *body;               //  always an object
    char *error;                //  NULL when well-formed
};

static const ofp_command_t *
s_command_find (const ofp_protocol_t *protocol, const char *name)
{
    for (const ofp_command_t *c = protocol->commands; c->name; c++)
        if (streq (c->name, name))
            return c;
    return NULL;
}

static ofp_msg_t *
s_msg_alloc (const ofp_protocol_t *protocol)
{
    ofp_msg_t *self = (ofp_msg_t *) zmalloc (sizeof (ofp_msg_t));
    self->protocol = protocol;
    return self;                //  the body comes from the caller or the wire

}

ofp_msg_t *
ofp_msg_new (const ofp_protocol_t *protocol, const char *command, const char *id, json_t **body_p)
{
    assert (protocol);
    assert (command);
    const ofp_command_t *spec = s_command_find (protocol, command);
    assert (spec);
    assert (!spec->has_id || (id && *id && strlen (id) <= OFP_ID_MAX));

    ofp_msg_t *self = s_msg_alloc (protocol);
    snprintf (self->command, sizeof self->command, "%s", command);
    if (spec->has_id)
        self->id = strdup (id);
    if (body_p && *body_p) {
        assert (json_is_object (*body_p));
        self->body = *body_p;
        *body_p = NULL;
    }
    else
        self->body = json_object ();
    return self;
}

void
ofp_msg_destroy (ofp_msg_t **self_p)
{
    assert (self_p);
    ofp_msg_t *self = *self_p;
    if (self) {
        zframe_destroy (&self->routing_id);
        free (self->id);
        json_decref (self->body);
        free (self->error);
        free (self);
        *self_p = NULL;
    }
}

//  Marks the message malformed; keeps the first reason only
static void
s_fail (ofp_msg_t *self, const char *format, ...)
{
    if (self->error)
        return;
    va_list args;
    va_start (args, format);
    char text [OFP_ERROR_MAX];
    vsnprintf (text, sizeof text, format, args);
    va_end (args);
    self->error = strdup (text);
}

//  True if the frame holds printable ASCII only, 1..max bytes
static bool
s_frame_is_token (zframe_t *frame, size_t max)
{
    size_t size = zframe_size (frame);
    if (size == 0 || size > max)
        return false;
    const byte *data = zframe_data (frame);
    for (size_t i = 0; i < size; i++)
        if (data [i] < 0x21 || data [i] > 0x7e)
            return false;
    return true;
}

//  Copies a frame that passed s_frame_is_token into a string
static void
s_frame_copy (zframe_t *frame, char *dest)
{
    memcpy (dest, zframe_data (frame), zframe_size (frame));
    dest [zframe_size (frame)] = 0;
}

ofp_msg_t *
ofp_msg_decode (const ofp_protocol_t *protocol, zmsg_t **zmsg_p, bool routed)
{
    assert (protocol);
    assert (zmsg_p && *zmsg_p);
    zmsg_t *zmsg = *zmsg_p;
    ofp_msg_t *self = s_msg_alloc (protocol);

    if (routed)
        self->routing_id = zmsg_pop (zmsg);
    if (routed && !self->routing_id) {
        s_fail (self, "empty message");
        goto done;
    }

    zframe_t *frame = zmsg_pop (zmsg);
    size_t sig_len = strlen (protocol->signature);
    if (!frame || zframe_size (frame) != sig_len
        || memcmp (zframe_data (frame), protocol->signature, sig_len) != 0) {
        char seen [40] = "";
        if (frame && s_frame_is_token (frame, sizeof seen - 1))
            s_frame_copy (frame, seen);
        s_fail (self, "wrong or missing signature '%s' (expected %s)", seen,
                protocol->signature);
        zframe_destroy (&frame);
        goto done;
    }
    zframe_destroy (&frame);

    frame = zmsg_pop (zmsg);
    if (!frame || !s_frame_is_token (frame, OFP_COMMAND_MAX)) {
        s_fail (self, "missing or malformed command frame");
        zframe_destroy (&frame);
        goto done;
    }
    s_frame_copy (frame, self->command);
    zframe_destroy (&frame);
    const ofp_command_t *spec = s_command_find (protocol, self->command);
    if (!spec) {
        s_fail (self, "unknown command '%s' for %s", self->command, protocol->signature);
        goto done;
    }

    if (spec->has_id) {
        frame = zmsg_pop (zmsg);
        if (!frame || !s_frame_is_token (frame, OFP_ID_MAX)) {
            s_fail (self, "%s: missing or malformed request id (1-%d printable bytes)",
                    self->command, OFP_ID_MAX);
            zframe_destroy (&frame);
            goto done;
        }
        self->id = (char *) malloc (zframe_size (frame) + 1);
        s_frame_copy (frame, self->id);
        zframe_destroy (&frame);
    }

    frame = zmsg_pop (zmsg);
    if (!frame) {
        s_fail (self, "%s: missing body frame", self->command);
        goto done;
    }
    if (zframe_size (frame) > protocol->max_body) {
        s_fail (self, "%s: body of %zu bytes is over the limit of %zu", self->command,
                zframe_size (frame), protocol->max_body);
        zframe_destroy (&frame);
        goto done;
    }
    json_error_t jerr;
    json_t *body = json_loadb ((const char *) zframe_data (frame), zframe_size (frame),
                               JSON_REJECT_DUPLICATES, &jerr);
    zframe_destroy (&frame);
    if (!body) {
        s_fail (self, "%s: body is not valid JSON: %s", self->command, jerr.text);
        goto done;
    }
    if (!json_is_object (body)) {
        json_decref (body);
        s_fail (self, "%s: body must be a JSON object", self->command);
        goto done;
    }
    self->body = body;

    if (zmsg_size (zmsg) > 0) {
        s_fail (self, "%s: %zu unexpected extra frames", self->command, zmsg_size (zmsg));
        goto done;
    }
    char reason [OFP_ERROR_MAX] = "";
    if (spec->validate && spec->validate (self->body, reason, sizeof reason) != 0)
        s_fail (self, "%s: %s", self->command, *reason ? reason : "invalid body");

done:
    if (!self->body)
        self->body = json_object ();
    zmsg_destroy (zmsg_p);
    return self;
}

ofp_msg_t *
ofp_msg_recv (const ofp_protocol_t *protocol, zsock_t *input)
{
    assert (input);
    zmsg_t *zmsg = zmsg_recv (input);
    if (!zmsg)
        return NULL;
    return ofp_msg_decode (protocol, &zmsg, zsock_type (input) == ZMQ_ROUTER);
}

//  --------------------------------------------------------------------------
//  A flat body's text, without jansson's dump: the bus's bodies are mostly
//  one object of strings, integers and booleans (LEASE adds arrays of
//  strings), and json_dumpb pays for each a loop check (a "%p" snprintf and
//  a hash entry per container) and an snprintf per integer. The bytes are
//  exactly json_dumpb's with JSON_COMPACT (the self test compares them).

typedef struct {
    char *data;
    size_t size;
    size_t used;                //  may pass size: then the text did not fit
} s_text_t;

static void
s_text_put (s_text_t *text, const char *bytes, size_t length)
{
    if (text->used + length <= text->size)
        memcpy (text->data + text->used, bytes, length);
    text->used += length;
}

static void
s_text_string (s_text_t *text, const char *string, size_t length)
{
    static const char hex [] = "0123456789ABCDEF";
    s_text_put (text, "\"", 1);
    size_t start = 0;
    for (size_t index = 0; index < length; index++) {
        unsigned char c = (unsigned char) string [index];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        s_text_put (text, string + start, index - start);
        start = index + 1;
        char escape [6] = {'\\', 0};
        size_t size = 2;
        switch (c) {
            case '"':  escape [1] = '"'; break;
            case '\\': escape [1] = '\\'; break;
            case '\b': escape [1] = 'b'; break;
            case '\f': escape [1] = 'f'; break;
            case '\n': escape [1] = 'n'; break;
            case '\r': escape [1] = 'r'; break;
            case '\t': escape [1] = 't'; break;
            default:
                memcpy (escape + 1, "u00", 3);
                escape [4] = hex [c >> 4];
                escape [5] = hex [c & 15];
                size = 6;
        }
        s_text_put (text, escape, size);
    }
    s_text_put (text, string + start, length - start);
    s_text_put (text, "\"", 1);
}

//  Returns false for what only jansson writes (reals, nested objects)
static bool
s_text_value (s_text_t *text, json_t *value, bool nested)
{
    switch (json_typeof (value)) {
        case JSON_STRING:
            s_text_string (text, json_string_value (value), json_string_length (value));
            return true;
        case JSON_INTEGER: {
            char digits [24];
            size_t at = sizeof digits;
            json_int_t number = json_integer_value (value);
            unsigned long long magnitude = number < 0 ? 0ULL - (unsigned long long) number
                                                      : (unsigned long long) number;
            do
                digits [--at] = (char) ('0' + magnitude % 10);
            while (magnitude /= 10);
            if (number < 0)
                digits [--at] = '-';
            s_text_put (text, digits + at, sizeof digits - at);
            return true;
        }
        case JSON_TRUE:
            s_text_put (text, "true", 4);
            return true;
        case JSON_FALSE:
            s_text_put (text, "false", 5);
            return true;
        case JSON_NULL:
            s_text_put (text, "null", 4);
            return true;
        case JSON_ARRAY: {
            if (nested)
                return false;
            s_text_put (text, "[", 1);
            for (size_t index = 0; index < json_array_size (value); index++) {
                if (index)
                    s_text_put (text, ",", 1);
                if (!s_text_value (text, json_array_get (value, index), true))
                    return false;
            }
            s_text_put (text, "]", 1);
            return true;
        }
        default:
            return false;
    }
}

//  The length of body's text, written into buffer if it fits (as
//  json_dumpb); 0 if the body is not flat
static size_t
s_encode_flat (json_t *body, char *buffer, size_t size)
{
    s_text_t text = {buffer, size, 0};
    s_text_put (&text, "{", 1);
    const char *key;
    json_t *value;
    bool first = true;
    json_object_foreach (body, key, value) {
        if (!first)
            s_text_put (&text, ",", 1);
        first = false;
        s_text_string (&text, key, strlen (key));
        s_text_put (&text, ":", 1);
        if (!s_text_value (&text, value, false))
            return 0;
    }
    s_text_put (&text, "}", 1);
    return text.used;
}

zmsg_t *
ofp_msg_encode (ofp_msg_t *self)
{
    assert (self);
    zmsg_t *zmsg = zmsg_new ();
    if (self->routing_id)
        zmsg_append (zmsg, &(zframe_t *) {zframe_dup (self->routing_id)});
    zmsg_addstr (zmsg, self->protocol->signature);
    zmsg_addstr (zmsg, self->command);
    if (self->id)
        zmsg_addstr (zmsg, self->id);
    //  Bus bodies are small: most fit the stack buffer, which saves a heap
    //  copy; a larger one is dumped again into one of its size
    char buffer [S_ENCODE_BUFFER];
    bool flat = true;
    size_t size = s_encode_flat (self->body, buffer, sizeof buffer);
    if (size == 0) {
        flat = false;
        size = json_dumpb (self->body, buffer, sizeof buffer, JSON_COMPACT);
    }
    assert (size > 0);
    if (size <= sizeof buffer)
        zmsg_addmem (zmsg, buffer, size);
    else {
        char *text = (char *) malloc (size);
        assert (text);
        size_t again = flat ? s_encode_flat (self->body, text, size)
                            : json_dumpb (self->body, text, size, JSON_COMPACT);
        assert (again == size);
        zmsg_addmem (zmsg, text, size);
        free (text);
    }
    return zmsg;
}

int
ofp_msg_send (ofp_msg_t **self_p, zsock_t *output)
{
    assert (self_p && *self_p);
    assert (output);
    zmsg_t *zmsg = ofp_msg_encode (*self_p);
    ofp_msg_destroy (self_p);
    int rc = zmsg_send (&zmsg, output);
    zmsg_destroy (&zmsg);       //  zmsg_send keeps the message when it fails
    return rc;
}

ofp_msg_t *
ofp_msg_reply (ofp_msg_t *self, const char *command, json_t **body_p)
{
    assert (self);
    ofp_msg_t *reply = ofp_msg_new (self->protocol, command, self->id ? self->id : "-", body_p);
    if (self->routing_id)
        reply->routing_id = zframe_dup (self->routing_id);
    return reply;
}

ofp_msg_t *
ofp_msg_reply_error (ofp_msg_t *self, int status, const char *error, const char *message)
{
    json_t *body = json_pack ("{s:i, s:s, s:s}", "Status", status, "Error", error,
                              "Message", message);
    return ofp_msg_reply (self, "ERROR", &body);
}

const char *
ofp_msg_error (ofp_msg_t *self)
{
    assert (self);
    return self->error;
}

const char *
ofp_msg_command (ofp_msg_t *self)
{
    assert (self);
    return self->command;
}

bool
ofp_msg_is (ofp_msg_t *self, const char *name)
{
    assert (self);
    return streq (self->command, name);
}

const char *
ofp_msg_id (ofp_msg_t *self)
{
    assert (self);
    return self->id;
}

json_t *
ofp_msg_body (ofp_msg_t *self)
{
    assert (self);
    return self->body;
}

zframe_t *
ofp_msg_routing_id (ofp_msg_t *self)
{
    assert (self);
    return self->routing_id;
}

void
ofp_msg_set_routing_id (ofp_msg_t *self, zframe_t *routing_id)
{
    assert (self);
    zframe_destroy (&self->routing_id);
    if (routing_id)
        self->routing_id = zframe_dup (routing_id);
}

const ofp_protocol_t *
ofp_msg_protocol (ofp_msg_t *self)
{
    assert (self);
    return self->protocol;
}

char *
ofp_msg_format (ofp_msg_t *self)
{
    assert (self);
    json_t *line = json_pack ("{s:s, s:s, s:O}", "Signature", self->protocol->signature,
                              "Command", self->command, "Body", self->body);
    if (self->id)
        json_object_set_new (line, "Id", json_string (self->id));
    if (self->error)
        json_object_set_new (line, "Error", json_string (self->error));
    char *text = json_dumps (line, JSON_COMPACT);
    json_decref (line);
    return text;
}

void
ofp_msg_expect (const ofp_protocol_t *protocol, const char *signature, const char *command,
                const char *id, const char *body, const char *fragment, bool verbose)
{
    zmsg_t *zmsg = zmsg_new ();
    const char *frames [] = {signature, command, id, body};
    for (size_t i = 0; i < sizeof frames / sizeof frames [0]; i++)
        if (frames [i])
            zmsg_addstr (zmsg, frames [i]);
    ofp_msg_t *msg = ofp_msg_decode (protocol, &zmsg, false);
    const char *error = ofp_msg_error (msg);
    if (verbose)
        printf ("  %s %.60s -> %s\n", command ? command : "(none)", body ? body : "(none)",
                error ? error : "ok");
    if (fragment)
        assert (error && strstr (error, fragment));
    else
        assert (error == NULL);
    ofp_msg_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  Self test

static int
s_test_validate (json_t *body, char *error, size_t size)
{
    json_error_t jerr;
    int n;
    if (json_unpack_ex (body, &jerr, 0, "{s:i}", "N", &n) != 0) {
        snprintf (error, size, "%s", jerr.text);
        return -1;
    }
    return 0;
}

static const ofp_command_t s_test_commands [] = {
    {"ASK", true, s_test_validate},
    {"TELL", false, NULL},
    {"ERROR", true, NULL},
    {NULL, false, NULL}
};

static const ofp_protocol_t s_test_protocol = {"oftest/1", 64, s_test_commands};

//  Decodes frames given as strings (NULL-terminated list) on a DEALER-side socket
static ofp_msg_t *
s_decode_strings (const char *first, ...)
{
    zmsg_t *zmsg = zmsg_new ();
    va_list args;
    va_start (args, first);
    for (const char *frame = first; frame; frame = va_arg (args, const char *))
        zmsg_addstr (zmsg, frame);
    va_end (args);
    return ofp_msg_decode (&s_test_protocol, &zmsg, false);
}

static void
s_expect_error (ofp_msg_t **msg_p, const char *fragment, bool verbose)
{
    const char *error = ofp_msg_error (*msg_p);
    if (verbose)
        printf ("  malformed: %s\n", error ? error : "(none)");
    assert (error);
    assert (strstr (error, fragment));
    ofp_msg_destroy (msg_p);
}

void
ofp_msg_test (bool verbose)
{
    printf (" * ofp_msg: ");
    if (verbose)
        printf ("\n");

    //  A round trip over DEALER -> ROUTER -> DEALER
    zsock_t *router = zsock_new_router ("inproc://ofp_msg_test");
    zsock_t *dealer = zsock_new_dealer ("inproc://ofp_msg_test");
    assert (router && dealer);

    json_t *body = json_pack ("{s:i}", "N", 7);
    ofp_msg_t *msg = ofp_msg_new (&s_test_protocol, "ASK", "r1", &body);
    assert (body == NULL);
    assert (ofp_msg_send (&msg, dealer) == 0);
    assert (msg == NULL);

    msg = ofp_msg_recv (&s_test_protocol, router);
    assert (msg);
    assert (ofp_msg_error (msg) == NULL);
    assert (ofp_msg_is (msg, "ASK"));
    assert (streq (ofp_msg_id (msg), "r1"));
    assert (json_integer_value (json_object_get (ofp_msg_body (msg), "N")) == 7);
    assert (ofp_msg_routing_id (msg));
    char *line = ofp_msg_format (msg);
    assert (strstr (line, "\"Command\":\"ASK\""));
    free (line);

    ofp_msg_t *reply = ofp_msg_reply_error (msg, 404, "NotFound", "no such thing");
    ofp_msg_destroy (&msg);
    assert (ofp_msg_send (&reply, router) == 0);
    reply = ofp_msg_recv (&s_test_protocol, dealer);
    assert (reply && !ofp_msg_error (reply));
    assert (ofp_msg_is (reply, "ERROR"));
    assert (streq (ofp_msg_id (reply), "r1"));
    assert (json_integer_value (json_object_get (ofp_msg_body (reply), "Status")) == 404);
    ofp_msg_destroy (&reply);

    //  A command without an id, and an empty body
    msg = ofp_msg_new (&s_test_protocol, "TELL", NULL, NULL);
    assert (ofp_msg_send (&msg, dealer) == 0);
    msg = ofp_msg_recv (&s_test_protocol, router);
    assert (msg && !ofp_msg_error (msg) && ofp_msg_id (msg) == NULL);
    ofp_msg_destroy (&msg);

    //  Malformed frames: each is marked, none crashes
    msg = s_decode_strings ("ofwrong/1", "TELL", "{}", NULL);
    s_expect_error (&msg, "signature", verbose);
    msg = s_decode_strings ("oftest/1", NULL);
    s_expect_error (&msg, "command", verbose);
    msg = s_decode_strings ("oftest/1", "BOGUS", "{}", NULL);
    s_expect_error (&msg, "unknown command", verbose);
    msg = s_decode_strings ("oftest/1", "ASK", NULL);
    s_expect_error (&msg, "request id", verbose);
    msg = s_decode_strings ("oftest/1", "ASK", "has space", "{}", NULL);
    s_expect_error (&msg, "request id", verbose);
    msg = s_decode_strings ("oftest/1", "ASK", "r2", NULL);
    s_expect_error (&msg, "missing body", verbose);
    msg = s_decode_strings ("oftest/1", "ASK", "r2", "{\"N\":", NULL);
    s_expect_error (&msg, "not valid JSON", verbose);
    msg = s_decode_strings ("oftest/1", "ASK", "r2", "[1,2]", NULL);
    s_expect_error (&msg, "JSON object", verbose);
    msg = s_decode_strings ("oftest/1", "ASK", "r2", "{\"N\":1,\"N\":2}", NULL);
    s_expect_error (&msg, "not valid JSON", verbose);
    msg = s_decode_strings ("oftest/1", "ASK", "r2", "{\"N\":\"seven\"}", NULL);
    s_expect_error (&msg, "ASK:", verbose);
    msg = s_decode_strings ("oftest/1", "ASK", "r2", "{\"N\":1}", "extra", NULL);
    s_expect_error (&msg, "extra frames", verbose);
    char big [128];
    memset (big, ' ', sizeof big - 1);
    big [0] = '{';
    big [sizeof big - 2] = '}';
    big [sizeof big - 1] = 0;
    msg = s_decode_strings ("oftest/1", "TELL", big, NULL);
    s_expect_error (&msg, "over the limit", verbose);

    //  A malformed request on a ROUTER still yields the routing id, to answer with
    zmsg_t *raw = zmsg_new ();
    zmsg_addstr (raw, "oftest/1");
    zmsg_addstr (raw, "ASK");
    zmsg_addstr (raw, "r3");
    zmsg_addstr (raw, "not json");
    assert (zmsg_send (&raw, dealer) == 0);
    msg = ofp_msg_recv (&s_test_protocol, router);
    assert (msg && ofp_msg_error (msg) && ofp_msg_routing_id (msg));
    assert (streq (ofp_msg_id (msg), "r3"));
    ofp_msg_destroy (&msg);

    //  The flat encoder writes exactly what jansson writes, and leaves the
    //  rest to it
    const char *samples [] = {
        "{}",
        "{\"Lease\":\"17\",\"Port\":11434,\"Ssl\":false,\"Sticky\":true,\"Q\":null}",
        "{\"N\":-9223372036854775808,\"M\":9223372036854775807,\"Z\":0,\"L\":-12}",
        "{\"Labels\":[\"eu\",\"gpu\"],\"Exclude\":[],\"Mixed\":[1,true,null,\"x\"]}",
        "{\"Esc\\\"ape\":\"q\\\" b\\\\ \\/ \\b\\f\\n\\r\\t \\u0001\\u001f \\u0000 caf\u00e9 \u2028 \\u007f\"}",
        "{\"Nested\":{\"a\":1}}",
        "{\"Deep\":[[1]]}",
        "{\"Real\":1.5}",
        NULL
    };
    for (const char **sample = samples; *sample; sample++) {
        json_error_t jerr;
        json_t *sampled = json_loads (*sample, JSON_ALLOW_NUL, &jerr);
        assert (sampled);
        char expected [256], seen [256];
        size_t size = json_dumpb (sampled, expected, sizeof expected, JSON_COMPACT);
        size_t flat = s_encode_flat (sampled, seen, sizeof seen);
        if (verbose)
            printf ("  flat %s -> %.*s\n", *sample, (int) flat, seen);
        bool nested = strstr (*sample, "Nested") || strstr (*sample, "Deep")
                      || strstr (*sample, "Real");
        assert (nested ? flat == 0 : (flat == size && memcmp (expected, seen, size) == 0));
        //  Too small a buffer: the length still comes back, as json_dumpb's
        if (!nested)
            assert (s_encode_flat (sampled, seen, 3) == size);
        ofp_msg_t *encoded = ofp_msg_new (&s_test_protocol, "TELL", NULL, &sampled);
        zmsg_t *zmsg = ofp_msg_encode (encoded);
        zframe_t *last = zmsg_last (zmsg);
        assert (zframe_size (last) == size && memcmp (zframe_data (last), expected, size) == 0);
        zmsg_destroy (&zmsg);
        ofp_msg_destroy (&encoded);
    }
    //  A body over the stack buffer
    json_t *wide = json_object ();
    for (int index = 0; index < 300; index++) {
        char key [16];
        snprintf (key, sizeof key, "K%d", index);
        json_object_set_new (wide, key, json_string ("0123456789"));
    }
    char *expected = json_dumps (wide, JSON_COMPACT);
    ofp_msg_t *large = ofp_msg_new (&s_test_protocol, "TELL", NULL, &wide);
    zmsg_t *zmsg = ofp_msg_encode (large);
    assert (zframe_size (zmsg_last (zmsg)) == strlen (expected) && strlen (expected) > S_ENCODE_BUFFER);
    assert (memcmp (zframe_data (zmsg_last (zmsg)), expected, strlen (expected)) == 0);
    free (expected);
    zmsg_destroy (&zmsg);
    ofp_msg_destroy (&large);

    zsock_destroy (&dealer);
    zsock_destroy (&router);
    printf ("OK\n");
}

/*  =========================================================================
    tap_feed - the tap: every message on the bus as one JSON line
    =========================================================================
*/

#include "tap_feed.h"

static bool
s_listed (const char *const *list, size_t count, const char *value)
{
    if (count == 0)
        return true;
    for (size_t i = 0; i < count; i++)
        if (strcasecmp (list [i], value) == 0)
            return true;
    return false;
}

//  Members whose string value is a secret wherever they appear: a backend's
//  token, a key's hash, and (should a message ever carry them) a key's secret
//  or a client's credentials
static bool
s_secret_member (const char *key)
{
    static const char *const names [] = {
        "BearerToken", "SecretHash", "Secret", "Authorization", "x-api-key", NULL
    };
    for (const char *const *name = names; *name; name++)
        if (strcasecmp (key, *name) == 0)
            return true;
    return false;
}

void
tap_feed_mask (json_t *value)
{
    if (json_is_array (value)) {
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item)
            tap_feed_mask (item);
        return;
    }
    if (!json_is_object (value))
        return;
    const char *key;
    json_t *item;
    json_object_foreach (value, key, item) {
        //  A client API key's SecretHash too: no secret, but nothing to show either
        if (s_secret_member (key) && json_is_string (item))
            json_object_set_new (value, key, json_string (TAP_MASK));
        else if (strcasecmp (key, "Headers") == 0 && json_is_object (item)) {
            const char *name;
            json_t *header;
            json_object_foreach (item, name, header)
                json_object_set_new (item, name, json_string (TAP_MASK));
        }
        else
            tap_feed_mask (item);
    }
}

bool
tap_feed_mentions (json_t *body, const char *id)
{
    if (json_is_array (body)) {
        size_t index;
        json_t *item;
        json_array_foreach (body, index, item)
            if (tap_feed_mentions (item, id))
                return true;
        return false;
    }
    if (!json_is_object (body))
        return false;
    const char *key;
    json_t *item;
    json_object_foreach (body, key, item) {
        bool names = strcasecmp (key, "Frontend") == 0 || strcasecmp (key, "Backend") == 0
                     || strcasecmp (key, "Identifier") == 0;
        if (names && json_is_string (item) && streq (json_string_value (item), id))
            return true;
        if (strcasecmp (key, "Backends") == 0 && json_is_array (item)) {
            size_t index;
            json_t *member;
            json_array_foreach (item, index, member)
                if (json_is_string (member) && streq (json_string_value (member), id))
                    return true;
        }
        if (tap_feed_mentions (item, id))
            return true;
    }
    return false;
}

static char *
s_pop_string (zmsg_t *zmsg)
{
    char *text = zmsg_popstr (zmsg);
    return text ? text : strdup ("");
}

//  Prints one message; returns true if it was printed (passed the filters)
static bool
s_print (const char *service, zmsg_t *zmsg, const tap_options_t *options, FILE *out)
{
    char *protocol = s_pop_string (zmsg);
    char *direction = NULL;
    char *source = strdup (service);
    if (streq (protocol, OFP_TAP_SIGNATURE)) {
        free (source);
        source = s_pop_string (zmsg);
        direction = s_pop_string (zmsg);
        free (protocol);
        protocol = s_pop_string (zmsg);
    }
    char *command = s_pop_string (zmsg);
    //  Three frames were signature, command, body; four carry a request id
    char *id = zmsg_size (zmsg) >= 2 ? s_pop_string (zmsg) : NULL;
    zframe_t *body_frame = zmsg_pop (zmsg);
    json_t *body = body_frame ? json_loadb ((const char *) zframe_data (body_frame),
                                            zframe_size (body_frame), 0, NULL)
                              : NULL;
    bool wanted = s_listed (options->services, options->service_count, source)
                  && s_listed (options->commands, options->command_count, command)
                  && (options->heartbeats || !streq (command, "HEARTBEAT"))
                  && (options->states || !streq (command, "STATE"))
                  && (!options->subject || tap_feed_mentions (body, options->subject));
    if (wanted) {
        char stamp [32];
        of_schema_timestamp (stamp, sizeof stamp);
        json_t *line = json_pack ("{s:s, s:s, s:s, s:s}", "Time", stamp, "Service", source,
                                  "Protocol", protocol, "Command", command);
        if (id)
            json_object_set_new (line, "Id", json_string (id));
        if (direction)
            json_object_set_new (line, "Direction", json_string (direction));
        if (body) {
            if (!options->show_secrets)
                tap_feed_mask (body);
            json_object_set (line, "Body", body);
        }
        else {
            //  Malformed traffic is exactly what one wants to see
            char *raw = body_frame ? zframe_strdup (body_frame) : strdup ("");
            json_object_set_new (line, "Raw", json_stringn_nocheck (raw, strlen (raw)));
            json_object_set_new (line, "Malformed", json_true ());
            free (raw);
        }
        char *text = json_dumps (line, JSON_COMPACT | JSON_ENSURE_ASCII);
        fprintf (out, "%s\n", text);
        fflush (out);
        free (text);
        json_decref (line);
    }
    json_decref (body);
    zframe_destroy (&body_frame);
    free (protocol);
    free (direction);
    free (source);
    free (command);
    free (id);
    return wanted;
}

int
tap_feed_run (of_settings_t *settings, const tap_options_t *options, FILE *out, char *error,
              size_t size)
{
    struct {
        const char *service;
        const char *endpoint;
        zsock_t *sock;
    } feeds [] = {
        {"configd", settings->config_publisher, NULL},
        {"scheduler", settings->scheduler_publisher, NULL},
        {"healthmon", settings->health_publisher, NULL},
        {"modelsync", settings->models_publisher, NULL},
    };
    size_t feed_count = sizeof feeds / sizeof feeds [0];
    zpoller_t *poller = zpoller_new (NULL);
    int rc = 0;
    for (size_t i = 0; i < feed_count && rc == 0; i++) {
        feeds [i].sock = zsock_new_sub (feeds [i].endpoint, "");
        if (feeds [i].sock)
            zpoller_add (poller, feeds [i].sock);
        else {
            snprintf (error, size, "cannot connect to %s", feeds [i].endpoint);
            rc = -1;
        }
    }
    int64_t deadline = options->timeout_ms ? zclock_mono () + options->timeout_ms : INT64_MAX;
    long printed = 0;
    while (rc == 0 && !zsys_interrupted && (options->count == 0 || printed < options->count)) {
        int64_t wait = deadline - zclock_mono ();
        if (wait <= 0)
            break;
        zsock_t *which = (zsock_t *) zpoller_wait (poller, (int) (wait < 1000 ? wait : 1000));
        for (size_t i = 0; which && i < feed_count; i++)
            if (which == feeds [i].sock) {
                zmsg_t *zmsg = zmsg_recv (which);
                if (zmsg && s_print (feeds [i].service, zmsg, options, out))
                    printed++;
                zmsg_destroy (&zmsg);
            }
    }
    zpoller_destroy (&poller);
    for (size_t i = 0; i < feed_count; i++)
        zsock_destroy (&feeds [i].sock);
    return rc;
}

//  --------------------------------------------------------------------------
//  Self test

void
tap_feed_test (bool verbose)
{
    (void) verbose;
    printf (" * tap_feed: ");
    json_t *update = json_loads ("{\"Kind\":\"frontend\",\"Identifier\":\"f1\",\"Object\":"
                                 "{\"Identifier\":\"f1\",\"Backends\":[\"b1\",\"b2\"]}}", 0, NULL);
    assert (tap_feed_mentions (update, "f1") && tap_feed_mentions (update, "b2"));
    assert (!tap_feed_mentions (update, "b3") && !tap_feed_mentions (update, "frontend"));
    json_t *state = json_loads ("{\"Backends\":[{\"Backend\":\"b9\",\"Leases\":1}]}", 0, NULL);
    assert (tap_feed_mentions (state, "b9") && !tap_feed_mentions (state, "b1"));
    assert (!tap_feed_mentions (NULL, "b1"));
    json_t *secret = json_loads ("{\"Object\":{\"BearerToken\":\"t\",\"Headers\":{\"X\":\"v\"},"
                                 "\"SecretHash\":\"h\"},\"Client\":{\"authorization\":\"a\","
                                 "\"X-Api-Key\":\"k\",\"Secret\":\"s\"}}", 0, NULL);
    tap_feed_mask (secret);
    json_t *object = json_object_get (secret, "Object");
    assert (streq (json_string_value (json_object_get (object, "SecretHash")), TAP_MASK));
    assert (streq (json_string_value (json_object_get (object, "BearerToken")), TAP_MASK));
    assert (streq (json_string_value (json_object_get (json_object_get (object, "Headers"), "X")),
                   TAP_MASK));
    json_t *client = json_object_get (secret, "Client");
    assert (streq (json_string_value (json_object_get (client, "authorization")), TAP_MASK));
    assert (streq (json_string_value (json_object_get (client, "X-Api-Key")), TAP_MASK));
    assert (streq (json_string_value (json_object_get (client, "Secret")), TAP_MASK));
    json_decref (update);
    json_decref (state);
    json_decref (secret);
    printf ("OK\n");
}

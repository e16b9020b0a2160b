/*  =========================================================================
    ollamaflow-tap - prints all bus traffic, one JSON line per message

    Subscribes to every service's PUB socket (configd, scheduler, healthmon,
    modelsync) and prints each message as {"Time", "Service", "Protocol",
    "Command", "Id", "Direction", "Body"}. Services started with Bus.Tap also
    publish copies of their request/reply traffic (proto/tap.md), so config
    writes and leases show up too, with their direction. Secrets in bodies
    (BearerToken, header values) are masked unless --show-secrets is given.
    =========================================================================
*/

#include "of_classes.h"
#include <getopt.h>

#define TAP_FILTERS_MAX 16
#define TAP_MASK "********"

typedef struct {
    const char *services [TAP_FILTERS_MAX];
    size_t service_count;
    const char *commands [TAP_FILTERS_MAX];
    size_t command_count;
    bool heartbeats;
    bool show_secrets;
    long count;                 //  lines to print before exiting; 0: no limit
    long timeout_ms;            //  0: no limit
} tap_options_t;

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

//  Masks secrets wherever they appear in a body
static void
s_mask_secrets (json_t *value)
{
    if (json_is_array (value)) {
        size_t index;
        json_t *item;
        json_array_foreach (value, index, item)
            s_mask_secrets (item);
        return;
    }
    if (!json_is_object (value))
        return;
    const char *key;
    json_t *item;
    json_object_foreach (value, key, item) {
        if (strcasecmp (key, "BearerToken") == 0 && json_is_string (item))
            json_object_set_new (value, key, json_string (TAP_MASK));
        else if (strcasecmp (key, "Headers") == 0 && json_is_object (item)) {
            const char *name;
            json_t *header;
            json_object_foreach (item, name, header)
                json_object_set_new (item, name, json_string (TAP_MASK));
        }
        else
            s_mask_secrets (item);
    }
}

static char *
s_pop_string (zmsg_t *zmsg)
{
    char *text = zmsg_popstr (zmsg);
    return text ? text : strdup ("");
}

//  Prints one message; returns true if it was printed (passed the filters)
static bool
s_print (const char *service, zmsg_t *zmsg, const tap_options_t *options)
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

    bool wanted = s_listed (options->services, options->service_count, source)
                  && s_listed (options->commands, options->command_count, command)
                  && (options->heartbeats || !streq (command, "HEARTBEAT"));
    if (wanted) {
        char stamp [32];
        of_schema_timestamp (stamp, sizeof stamp);
        json_t *line = json_pack ("{s:s, s:s, s:s, s:s}", "Time", stamp, "Service", source,
                                  "Protocol", protocol, "Command", command);
        if (id)
            json_object_set_new (line, "Id", json_string (id));
        if (direction)
            json_object_set_new (line, "Direction", json_string (direction));
        json_t *body = body_frame ? json_loadb ((const char *) zframe_data (body_frame),
                                                zframe_size (body_frame), 0, NULL)
                                  : NULL;
        if (body) {
            if (!options->show_secrets)
                s_mask_secrets (body);
            json_object_set_new (line, "Body", body);
        }
        else {
            //  Malformed traffic is exactly what one wants to see
            char *raw = body_frame ? zframe_strdup (body_frame) : strdup ("");
            json_object_set_new (line, "Raw", json_stringn_nocheck (raw, strlen (raw)));
            json_object_set_new (line, "Malformed", json_true ());
            free (raw);
        }
        char *text = json_dumps (line, JSON_COMPACT | JSON_ENSURE_ASCII);
        printf ("%s\n", text);
        fflush (stdout);
        free (text);
        json_decref (line);
    }
    zframe_destroy (&body_frame);
    free (protocol);
    free (direction);
    free (source);
    free (command);
    free (id);
    return wanted;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
             "Usage: ollamaflow-tap [options]\n"
             "Prints every message on the ollamaflow bus as one JSON line.\n\n"
             "  -c, --config FILE      settings file (endpoints), as for the services\n"
             "  -s, --service NAME     only this service (configd, scheduler, healthmon, "
             "modelsync); repeatable\n"
             "  -m, --command CMD      only this command (UPDATE, LEASE, ...); repeatable\n"
             "  -q, --no-heartbeats    leave out HEARTBEAT messages\n"
             "  -n, --count N          exit after N lines\n"
             "  -t, --timeout MS       exit after MS milliseconds\n"
             "      --show-secrets     do not mask BearerToken and header values\n"
             "  -h, --help             this text\n\n"
             "Run the services with OLLAMAFLOW_TAP=1 to see requests and replies too.\n\n");
    of_settings_print_help (out);
}

int
main (int argc, char *argv [])
{
    static const struct option long_options [] = {
        {"config", required_argument, NULL, 'c'}, {"service", required_argument, NULL, 's'},
        {"command", required_argument, NULL, 'm'}, {"no-heartbeats", no_argument, NULL, 'q'},
        {"count", required_argument, NULL, 'n'}, {"timeout", required_argument, NULL, 't'},
        {"show-secrets", no_argument, NULL, 'S'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}
    };
    tap_options_t options = {.heartbeats = true};
    const char *config = NULL;
    int option;
    while ((option = getopt_long (argc, argv, "c:s:m:qn:t:h", long_options, NULL)) != -1) {
        switch (option) {
            case 'c': config = optarg; break;
            case 's':
                if (options.service_count < TAP_FILTERS_MAX)
                    options.services [options.service_count++] = optarg;
                break;
            case 'm':
                if (options.command_count < TAP_FILTERS_MAX)
                    options.commands [options.command_count++] = optarg;
                break;
            case 'q': options.heartbeats = false; break;
            case 'n': options.count = atol (optarg); break;
            case 't': options.timeout_ms = atol (optarg); break;
            case 'S': options.show_secrets = true; break;
            case 'h': s_usage (stdout); return 0;
            default: s_usage (stderr); return 2;
        }
    }
    char error [OF_SETTINGS_ERROR_MAX];
    of_settings_t *settings = of_settings_load (config, error, sizeof error);
    if (!settings) {
        fprintf (stderr, "ollamaflow-tap: invalid settings: %s\n", error);
        return 1;
    }
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
    for (size_t i = 0; i < feed_count; i++) {
        feeds [i].sock = zsock_new_sub (feeds [i].endpoint, "");
        if (!feeds [i].sock) {
            fprintf (stderr, "ollamaflow-tap: cannot connect to %s\n", feeds [i].endpoint);
            return 1;
        }
        zpoller_add (poller, feeds [i].sock);
    }
    int64_t deadline = options.timeout_ms ? zclock_mono () + options.timeout_ms : INT64_MAX;
    long printed = 0;
    while (!zsys_interrupted && (options.count == 0 || printed < options.count)) {
        int64_t wait = deadline - zclock_mono ();
        if (wait <= 0)
            break;
        zsock_t *which = (zsock_t *) zpoller_wait (poller, (int) (wait < 1000 ? wait : 1000));
        for (size_t i = 0; which && i < feed_count; i++)
            if (which == feeds [i].sock) {
                zmsg_t *zmsg = zmsg_recv (which);
                if (zmsg && s_print (feeds [i].service, zmsg, &options))
                    printed++;
                zmsg_destroy (&zmsg);
            }
    }
    zpoller_destroy (&poller);
    for (size_t i = 0; i < feed_count; i++)
        zsock_destroy (&feeds [i].sock);
    of_settings_destroy (&settings);
    return 0;
}

/*  =========================================================================
    ollamaflow-tap - prints all bus traffic, one JSON line per message

    The options of tap_feed from the command line; tap_feed does the rest.
    =========================================================================
*/

#include "tap_feed.h"
#include <getopt.h>

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
    tap_options_t options = {.heartbeats = true, .states = true};
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
    int rc = tap_feed_run (settings, &options, stdout, error, sizeof error);
    if (rc != 0)
        fprintf (stderr, "ollamaflow-tap: %s\n", error);
    of_settings_destroy (&settings);
    return rc == 0 ? 0 : 1;
}

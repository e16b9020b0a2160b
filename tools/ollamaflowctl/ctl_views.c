/*  =========================================================================
    ctl_views - how ollamaflowctl shows each answer to a person
    =========================================================================
*/

#include "ctl_views.h"
#include <string.h>

static void
s_address (json_t *row, char *dest, size_t size)
{
    snprintf (dest, size, "%s:%lld", json_string_value (json_object_get (row, "Hostname")),
              (long long) json_integer_value (json_object_get (row, "Port")));
}

static void
s_since (json_t *row, char *dest, size_t size)
{
    json_t *since = json_object_get (row, "HealthySinceUtc");
    ctl_print_value (since ? since : json_object_get (row, "UnhealthySinceUtc"), dest, size);
}

static void
s_state (json_t *row, char *dest, size_t size)
{
    snprintf (dest, size, "%s%s", json_string_value (json_object_get (row, "State")),
              json_is_true (json_object_get (row, "HealthStale")) ? " (stale)" : "");
}

//  A duration in milliseconds as "1h2m3s"
static void
s_expires (json_t *row, char *dest, size_t size)
{
    long long ms = json_integer_value (json_object_get (row, "ExpiresInMs"));
    long long seconds = ms / 1000;
    if (seconds >= 3600)
        snprintf (dest, size, "%lldh%lldm%llds", seconds / 3600, seconds / 60 % 60, seconds % 60);
    else if (seconds >= 60)
        snprintf (dest, size, "%lldm%llds", seconds / 60, seconds % 60);
    else
        snprintf (dest, size, "%llds", seconds);
}

static void
s_progress (json_t *row, char *dest, size_t size)
{
    json_t *total = json_object_get (row, "Total");
    long long completed = json_integer_value (json_object_get (row, "Completed"));
    if (json_integer_value (total) > 0)
        snprintf (dest, size, "%lld%%", completed * 100 / json_integer_value (total));
    else
        snprintf (dest, size, "-");
}

void
ctl_views_frontends (FILE *out, json_t *rows)
{
    static const ctl_column_t columns [] = {
        {"IDENTIFIER", "Identifier", NULL}, {"NAME", "Name", NULL},
        {"HOSTNAME", "Hostname", NULL}, {"BALANCING", "LoadBalancing", NULL},
        {"BACKENDS", "Backends", NULL}, {"STICKY", "UseStickySessions", NULL},
        {"ACTIVE", "Active", NULL}, {NULL, NULL, NULL}
    };
    ctl_print_table (out, rows, columns);
}

void
ctl_views_backends (FILE *out, json_t *rows)
{
    static const ctl_column_t columns [] = {
        {"IDENTIFIER", "Identifier", NULL}, {"NAME", "Name", NULL}, {"ADDRESS", NULL, s_address},
        {"FORMAT", "ApiFormat", NULL}, {"PARALLEL", "MaxParallelRequests", NULL},
        {"LABELS", "Labels", NULL}, {"ACTIVE", "Active", NULL}, {NULL, NULL, NULL}
    };
    ctl_print_table (out, rows, columns);
}

void
ctl_views_keys (FILE *out, json_t *rows)
{
    static const ctl_column_t columns [] = {
        {"IDENTIFIER", "Identifier", NULL}, {"NAME", "Name", NULL}, {"OWNER", "Owner", NULL},
        {"FRONTENDS", "Frontends", NULL}, {"PRIORITY", "Priority", NULL},
        {"EXPIRES", "ExpiresUtc", NULL}, {"ACTIVE", "Active", NULL}, {NULL, NULL, NULL}
    };
    ctl_print_table (out, rows, columns);
}

void
ctl_views_usage (FILE *out, json_t *rows)
{
    static const ctl_column_t columns [] = {
        {"IDENTIFIER", "Identifier", NULL}, {"REQUESTS", "Requests", NULL},
        {"PROMPT", "PromptTokens", NULL}, {"COMPLETION", "CompletionTokens", NULL},
        {"ERRORS", "Errors", NULL}, {"RUNNING", "Running", NULL}, {NULL, NULL, NULL}
    };
    ctl_print_table (out, rows, columns);
}

void
ctl_views_health (FILE *out, json_t *rows)
{
    static const ctl_column_t columns [] = {
        {"BACKEND", "Identifier", NULL}, {"STATE", NULL, s_state}, {"SINCE", NULL, s_since},
        {"ACTIVE", "ActiveRequests", NULL}, {"QUEUE", "QueueDepth", NULL},
        {"SESSIONS", "Sessions", NULL}, {"MODELS", "Models", NULL},
        {"LOADED", "LoadedModels", NULL}, {"LAST CHECK", "Reason", NULL}, {NULL, NULL, NULL}
    };
    ctl_print_table (out, rows, columns);
}

void
ctl_views_sessions (FILE *out, json_t *rows)
{
    static const ctl_column_t columns [] = {
        {"CLIENT", "ClientId", NULL}, {"FRONTEND", "Frontend", NULL},
        {"BACKEND", "Backend", NULL}, {"EXPIRES IN", NULL, s_expires}, {NULL, NULL, NULL}
    };
    ctl_print_table (out, rows, columns);
}

void
ctl_views_pulls (FILE *out, json_t *pulls)
{
    if (json_array_size (pulls) == 0) {
        fprintf (out, "no pulls running or finished in the last minute\n");
        return;
    }
    static const ctl_column_t columns [] = {
        {"BACKEND", "Backend", NULL}, {"MODEL", "Model", NULL}, {"STATUS", "Status", NULL},
        {"PROGRESS", NULL, s_progress}, {"DONE", "Done", NULL}, {"ERROR", "Error", NULL},
        {NULL, NULL, NULL}
    };
    ctl_print_table (out, pulls, columns);
}

void
ctl_views_models (FILE *out, json_t *models)
{
    char required [CTL_CELL_MAX];
    ctl_print_value (json_object_get (models, "RequiredModels"), required, sizeof required);
    fprintf (out, "frontend %s, required models: %s%s\n\n",
             json_string_value (json_object_get (models, "Frontend")), required,
             json_is_true (json_object_get (models, "ModelsStale"))
                 ? " (modelsync is silent: the lists may be stale)" : "");
    static const ctl_column_t model_columns [] = {
        {"MODEL", "Name", NULL}, {"BACKENDS", "Backends", NULL}, {"LOADED ON", "LoadedOn", NULL},
        {NULL, NULL, NULL}
    };
    if (json_array_size (json_object_get (models, "Models")))
        ctl_print_table (out, json_object_get (models, "Models"), model_columns);
    else
        fprintf (out, "no model known on its backends yet\n");
    //  A name whose backends hold different digests: which holds which
    size_t index, at;
    json_t *model, *digest;
    json_array_foreach (json_object_get (models, "Models"), index, model) {
        if (!json_is_true (json_object_get (model, "DigestDrift")))
            continue;
        fprintf (out, "\n%s: the backends hold different digests\n",
                 json_string_value (json_object_get (model, "Name")));
        json_array_foreach (json_object_get (model, "Digests"), at, digest) {
            char backends [CTL_CELL_MAX];
            ctl_print_value (json_object_get (digest, "Backends"), backends, sizeof backends);
            fprintf (out, "  %s on %s\n", json_string_value (json_object_get (digest, "Digest")),
                     backends);
        }
    }
    static const ctl_column_t backend_columns [] = {
        {"BACKEND", "Backend", NULL}, {"STATE", "State", NULL}, {"FORMAT", "ApiFormat", NULL},
        {"KNOWN", "ModelsKnown", NULL}, {"FETCHED", "FetchedUtc", NULL},
        {"ERROR", "Error", NULL}, {NULL, NULL, NULL}
    };
    fprintf (out, "\n");
    ctl_print_table (out, json_object_get (models, "Backends"), backend_columns);
    fprintf (out, "\n");
    ctl_views_pulls (out, json_object_get (models, "Pulls"));
}

void
ctl_views_status (FILE *out, json_t *status)
{
    const char *key;
    json_t *value;
    json_object_foreach (status, key, value) {
        if (json_is_array (value))
            continue;
        char text [CTL_CELL_MAX * 2];
        ctl_print_value (value, text, sizeof text);
        fprintf (out, "%-10s  %s\n", key, text);
    }
    static const ctl_column_t columns [] = {
        {"SERVICE", "Service", NULL}, {"ALIVE", "Alive", NULL}, {"EPOCH", "Epoch", NULL},
        {"LAST HEARTBEAT", "LastHeartbeatUtc", NULL}, {"SILENT MS", "SilentMs", NULL},
        {NULL, NULL, NULL}
    };
    fprintf (out, "\n");
    ctl_print_table (out, json_object_get (status, "Services"), columns);
}

/*  =========================================================================
    launcher_fleet - the fleet a first run starts with
    =========================================================================
*/

#include "launcher_fleet.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define S_PROBE_TIMEOUT_MS 1000
#define S_DEMO_FLEET_FILE  "ollamaflow-demo-fleet.json"
#define S_DEMO_FIRST_PORT  11501

//  The demo fleet: three simulated Ollama servers with different speeds and models
static const struct {
    const char *id;
    int offset;                 //  from the first demo port
    int slots;
    int decode_rate;
    const char *models [3];
} s_demo [] = {
    {"sim-fast", 0, 4, 120, {"llama3.2:3b", "all-minilm:latest", NULL}},
    {"sim-medium", 1, 2, 60, {"llama3.2:3b", "qwen2.5:7b", NULL}},
    {"sim-slow", 2, 1, 25, {"qwen2.5:7b", "all-minilm:latest", NULL}},
};
#define S_DEMO_COUNT (sizeof s_demo / sizeof s_demo [0])

//  The demo fleet's first port: OLLAMAFLOW_DEMO_PORT, else S_DEMO_FIRST_PORT
static int
s_demo_port (size_t index)
{
    const char *text = getenv ("OLLAMAFLOW_DEMO_PORT");
    int first = text ? atoi (text) : 0;
    if (first <= 0 || first > 65533)
        first = S_DEMO_FIRST_PORT;
    return first + s_demo [index].offset;
}

bool
launcher_ollama_answers (const char *host, int port)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct timeval timeout = {0, S_PROBE_TIMEOUT_MS * 1000};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons ((uint16_t) port)};
    inet_pton (AF_INET, host, &address.sin_addr);
    bool answers = false;
    if (connect (fd, (struct sockaddr *) &address, sizeof address) == 0) {
        char request [128];
        int length = snprintf (request, sizeof request,
                               "GET /api/version HTTP/1.0\r\nHost: %s\r\n\r\n", host);
        char reply [512] = "";
        if (send (fd, request, (size_t) length, 0) == length
            && recv (fd, reply, sizeof reply - 1, 0) > 0)
            answers = strncmp (reply, "HTTP/1.", 7) == 0 && strstr (reply, " 200 ")
                      && strstr (reply, "\"version\"");
    }
    close (fd);
    return answers;
}

//  Writes the simulator's fleet file beside the settings; returns its path
static char *
s_write_demo_fleet (const char *settings_path)
{
    char *dir = strdup (settings_path);
    char *slash = strrchr (dir, '/');
    char *path = slash ? (*slash = 0, zsys_sprintf ("%s/%s", dir, S_DEMO_FLEET_FILE))
                       : strdup (S_DEMO_FLEET_FILE);
    free (dir);
    json_t *backends = json_array ();
    for (size_t i = 0; i < S_DEMO_COUNT; i++) {
        json_t *models = json_array ();
        for (int m = 0; s_demo [i].models [m]; m++)
            json_array_append_new (models, json_string (s_demo [i].models [m]));
        json_array_append_new (backends,
                               json_pack ("{s:s, s:i, s:i, s:i, s:o}", "name", s_demo [i].id,
                                          "port", s_demo_port (i), "parallel", s_demo [i].slots,
                                          "decode_rate", s_demo [i].decode_rate, "models",
                                          models));
    }
    //  ollama-sim's fleet file (tools/ollama-sim/README.md)
    json_t *fleet = json_pack ("{s:s, s:o}", "host", "127.0.0.1", "backends", backends);
    int rc = json_dump_file (fleet, path, JSON_INDENT (2));
    json_decref (fleet);
    if (rc != 0) {
        free (path);
        return NULL;
    }
    return path;
}

static void
s_fleet_command (launcher_fleet_t *fleet, const char *simulator, const char *fleet_file)
{
    fleet->argv [0] = strdup (simulator);
    fleet->argv [1] = strdup ("--fleet");
    fleet->argv [2] = strdup (fleet_file);
    fleet->argv [3] = NULL;
}

int
launcher_fleet_write_default (const char *path, const char *bin_dir, const char *admin_token,
                              launcher_fleet_t *fleet)
{
    json_t *backends = json_array ();
    char simulator [PATH_MAX];
    snprintf (simulator, sizeof simulator, "%s/ollama-sim", bin_dir);
    char *fleet_file = NULL;
    if (launcher_ollama_answers (LAUNCHER_OLLAMA_HOST, LAUNCHER_OLLAMA_PORT)) {
        printf ("ollamaflow: an Ollama answers at %s:%d; writing %s with it as the fleet\n",
                LAUNCHER_OLLAMA_HOST, LAUNCHER_OLLAMA_PORT, path);
        json_array_append_new (backends, json_pack ("{s:s, s:s, s:s, s:i}", "Identifier",
                                                    "local-ollama", "Name", "Local Ollama",
                                                    "Hostname", LAUNCHER_OLLAMA_HOST, "Port",
                                                    LAUNCHER_OLLAMA_PORT));
    }
    else if (access (simulator, X_OK) == 0 && (fleet_file = s_write_demo_fleet (path))) {
        printf ("ollamaflow: no Ollama answers at %s:%d; writing %s with a demo fleet of %zu "
                "simulated backends (ollama-sim, %s)\n", LAUNCHER_OLLAMA_HOST,
                LAUNCHER_OLLAMA_PORT, path, S_DEMO_COUNT, fleet_file);
        for (size_t i = 0; i < S_DEMO_COUNT; i++)
            json_array_append_new (backends,
                                   json_pack ("{s:s, s:s, s:i, s:i}", "Identifier", s_demo [i].id,
                                              "Hostname", "127.0.0.1", "Port", s_demo_port (i),
                                              "MaxParallelRequests", s_demo [i].slots));
    }
    else {
        printf ("ollamaflow: no Ollama answers at %s:%d yet; writing %s with it as the fleet "
                "anyway (it is used as soon as it answers)\n", LAUNCHER_OLLAMA_HOST,
                LAUNCHER_OLLAMA_PORT, path);
        json_array_append_new (backends, json_pack ("{s:s, s:s, s:s, s:i}", "Identifier",
                                                    "local-ollama", "Name", "Local Ollama",
                                                    "Hostname", LAUNCHER_OLLAMA_HOST, "Port",
                                                    LAUNCHER_OLLAMA_PORT));
    }
    if (of_settings_write_default (path, &backends, admin_token) != 0) {
        fprintf (stderr, "ollamaflow: cannot write %s: %s\n", path, strerror (errno));
        free (fleet_file);
        return -1;
    }
    if (fleet_file) {
        //  Remember the demo fleet for later runs
        json_t *root = json_load_file (path, 0, NULL);
        json_object_set_new (root, "DemoFleet", json_string (fleet_file));
        json_dump_file (root, path, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
        json_decref (root);
        s_fleet_command (fleet, simulator, fleet_file);
        free (fleet_file);
    }
    return 0;
}

void
launcher_fleet_attach (const char *path, const char *bin_dir, launcher_fleet_t *fleet)
{
    json_t *root = json_load_file (path, 0, NULL);
    const char *fleet_file = json_string_value (json_object_get (root, "DemoFleet"));
    char simulator [PATH_MAX];
    snprintf (simulator, sizeof simulator, "%s/ollama-sim", bin_dir);
    if (fleet_file && access (fleet_file, R_OK) == 0 && access (simulator, X_OK) == 0)
        s_fleet_command (fleet, simulator, fleet_file);
    json_decref (root);
}

void
launcher_fleet_release (launcher_fleet_t *fleet)
{
    for (int i = 0; fleet->argv [i]; i++) {
        free (fleet->argv [i]);
        fleet->argv [i] = NULL;
    }
}

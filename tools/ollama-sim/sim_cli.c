/*  =========================================================================
    sim_cli - the command line: a fleet file, the demo fleet, or one backend
    =========================================================================
*/

#include "sim_cli.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_LIST_MAX 4096

static const char *s_usage =
    "usage: ollama-sim [options]\n"
    "  --fleet FILE          run the fleet described in FILE (JSON, see README.md)\n"
    "  --demo                run the built-in demo fleet (3 backends; on --port N, N+1, N+2)\n"
    "  --control-port N      control endpoint port (default: any free port)\n"
    "  --ports-file FILE     also write the bound ports (JSON) to FILE\n"
    "one backend (or --count N identical ones) from flags:\n"
    "  --host ADDR --port N --count N --api ollama|openai --version V\n"
    "  --models a,b:tag,...  --parallel N --max-queue N\n"
    "  --prefill-rate TPS --decode-rate TPS (0 = instant) --load-ms MS --keep-alive DUR\n"
    "  --pull-bandwidth BPS --embedding-dim N --default-tokens N --seed N --no-host-check\n"
    "  --max-loaded-models N (0 = no limit)  --load-rate BPS  --unload-ms MS\n"
    "  --cache-ram-tokens N  --cache-restore-rate TPS\n"
    "  --time-scale X (every rate times X, every duration over X; overrides the fleet's)\n";

static const char *s_demo =
    "{\"registry\":[{\"name\":\"qwen2.5:0.5b\",\"size\":397821319,\"family\":\"qwen2\","
    "\"parameter_size\":\"494.03M\",\"quantization\":\"Q4_K_M\"},"
    "{\"name\":\"nomic-embed-text\",\"size\":274302450,\"family\":\"nomic-bert\","
    "\"parameter_size\":\"137M\",\"quantization\":\"F16\",\"embedding\":true,"
    "\"embedding_length\":768}],"
    "\"defaults\":{\"decode_rate\":40,\"prefill_rate\":800,\"load_ms\":1500,"
    "\"pull_bandwidth\":50000000},"
    "\"backends\":["
    "{\"name\":\"gpu-a\",\"parallel\":4,\"max_queue\":16,\"models\":["
    "{\"name\":\"llama3.2\",\"loaded\":true},"
    "{\"name\":\"all-minilm\",\"size\":45960996,\"family\":\"bert\",\"parameter_size\":\"23M\","
    "\"quantization\":\"F16\",\"embedding\":true}]},"
    "{\"name\":\"gpu-b\",\"parallel\":2,\"max_queue\":8,\"decode_rate\":25,\"models\":["
    "{\"name\":\"llama3.2\"},{\"name\":\"mistral:7b\",\"size\":4113301824,"
    "\"family\":\"llama\",\"parameter_size\":\"7.2B\"}]},"
    "{\"name\":\"vllm\",\"api\":\"openai\",\"parallel\":8,\"decode_rate\":60,\"models\":["
    "{\"name\":\"qwen2.5:7b\",\"size\":4683087332,\"family\":\"qwen2\","
    "\"parameter_size\":\"7.6B\",\"loaded\":true}]}]}";

const char *
sim_cli_demo_fleet (void)
{
    return s_demo;
}

//  "a,b:tag" into a models array of names
static json_t *
s_models (const char *list)
{
    json_t *models = json_array ();
    char copy [MODEL_LIST_MAX];
    snprintf (copy, sizeof copy, "%s", list);
    char *save = NULL;
    for (char *name = strtok_r (copy, ",", &save); name; name = strtok_r (NULL, ",", &save))
        json_array_append_new (models, json_pack ("{ss}", "name", name));
    return models;
}

//  A number flag: integer when it looks like one
static json_t *
s_number (const char *text)
{
    char *end;
    long long integer = strtoll (text, &end, 10);
    if (*end == 0)
        return json_integer (integer);
    double real = strtod (text, &end);
    return *end == 0? json_real (real): json_string (text);
}

sim_fleet_t *
sim_cli_parse (int argc, char *argv [], const char **ports_file_p, int *control_port_p,
               char *error, size_t size)
{
    static const struct option options [] = {
        { "fleet", required_argument, 0, 'f' }, { "demo", no_argument, 0, 'D' },
        { "control-port", required_argument, 0, 'C' }, { "ports-file", required_argument, 0, 'P' },
        { "count", required_argument, 0, 'n' }, { "models", required_argument, 0, 'm' },
        { "no-host-check", no_argument, 0, 'H' }, { "help", no_argument, 0, 'h' },
        { "host", required_argument, 0, 1 }, { "port", required_argument, 0, 1 },
        { "api", required_argument, 0, 1 }, { "version", required_argument, 0, 1 },
        { "parallel", required_argument, 0, 1 }, { "max-queue", required_argument, 0, 1 },
        { "prefill-rate", required_argument, 0, 1 }, { "decode-rate", required_argument, 0, 1 },
        { "load-ms", required_argument, 0, 1 }, { "keep-alive", required_argument, 0, 1 },
        { "pull-bandwidth", required_argument, 0, 1 },
        { "embedding-dim", required_argument, 0, 1 },
        { "default-tokens", required_argument, 0, 1 }, { "seed", required_argument, 0, 1 },
        { "max-loaded-models", required_argument, 0, 1 },
        { "load-rate", required_argument, 0, 1 }, { "unload-ms", required_argument, 0, 1 },
        { "cache-ram-tokens", required_argument, 0, 1 },
        { "cache-restore-rate", required_argument, 0, 1 },
        { "time-scale", required_argument, 0, 'T' },
        { 0, 0, 0, 0 }
    };
    const char *fleet_file = NULL;
    bool demo = false;
    int count = 1;
    double scale = 0;
    json_t *backend = json_pack ("{s[{ss}{sssbss}]}", "models", "name", "llama3.2", "name",
                                 "all-minilm", "embedding", true, "family", "bert");
    *control_port_p = -1;
    *ports_file_p = NULL;
    error [0] = 0;
    optind = 1;
    int index = 0, opt;
    while ((opt = getopt_long (argc, argv, "", options, &index)) != -1) {
        if (opt == 'f')
            fleet_file = optarg;
        else if (opt == 'D')
            demo = true;
        else if (opt == 'C')
            *control_port_p = atoi (optarg);
        else if (opt == 'P')
            *ports_file_p = optarg;
        else if (opt == 'n')
            count = atoi (optarg);
        else if (opt == 'm')
            json_object_set_new (backend, "models", s_models (optarg));
        else if (opt == 'H')
            json_object_set_new (backend, "host_check", json_false ());
        else if (opt == 'T') {
            char *end;
            scale = strtod (optarg, &end);
            if (*end || !(scale > 0) || scale > SIM_TIME_SCALE_MAX) {
                snprintf (error, size, "--time-scale must be a number above 0, at most %g",
                          SIM_TIME_SCALE_MAX);
                json_decref (backend);
                return NULL;
            }
        }
        else if (opt == 1) {
            //  "--decode-rate" becomes the fleet key "decode_rate"
            char key [64];
            snprintf (key, sizeof key, "%s", options [index].name);
            for (char *p = key; *p; p++)
                if (*p == '-')
                    *p = '_';
            bool text = strcmp (key, "host") == 0 || strcmp (key, "api") == 0
                     || strcmp (key, "version") == 0 || strcmp (key, "keep_alive") == 0;
            json_object_set_new (backend, key, text? json_string (optarg): s_number (optarg));
        }
        else {
            if (opt == 'h')
                fputs (s_usage, stdout);
            else
                snprintf (error, size, "bad arguments; try --help");
            json_decref (backend);
            return NULL;
        }
    }
    sim_fleet_t *fleet;
    if (fleet_file)
        fleet = sim_fleet_new_from_file (fleet_file, error, size);
    else if (demo) {
        fleet = sim_fleet_new_from_text (s_demo, error, size);
        //  --port N puts the demo fleet on N, N+1, ...
        json_int_t port = json_integer_value (json_object_get (backend, "port"));
        for (size_t i = 0; fleet && port > 0 && i < sim_fleet_size (fleet); i++)
            sim_fleet_backend (fleet, i)->port = (int) port + (int) i;
    }
    else
        fleet = sim_fleet_new_simple (backend, count, error, size);
    json_decref (backend);
    //  --time-scale overrides the fleet's
    for (size_t i = 0; fleet && scale > 0 && i < sim_fleet_size (fleet); i++)
        sim_fleet_backend (fleet, i)->time_scale = scale;
    return fleet;
}

/*  =========================================================================
    sim_fleet - the fleet file: which simulated backends to run, and how

    A fleet is a list of backend configurations plus a registry of models that
    backends can pull. The same parser applies run-time changes sent to the
    control endpoint (sim_fleet_apply_backend), so every knob has one name.
    Malformed input never crashes: the parser returns NULL / -1 and writes a
    reason. Unknown keys are errors, so a typo does not silently do nothing.
    The format is documented in README.md.
    =========================================================================
*/

#ifndef SIM_FLEET_H_INCLUDED
#define SIM_FLEET_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_NAME_MAX         128    //  model or backend name, in bytes
#define SIM_SHORT_MAX        32     //  family, parameter size, quantization, version
#define SIM_DIGEST_HEX       64     //  sha256 in hex
#define SIM_HOST_MAX         64
#define SIM_MESSAGE_MAX      256
#define SIM_FLEET_MAX        256    //  backends in one fleet
#define SIM_MODELS_MAX       256    //  models per backend or registry
#define SIM_ERROR_MAX        256
#define SIM_PATH_MAX         512    //  a certificate or key file

#define SIM_DEFAULT_HOST         "127.0.0.1"
#define SIM_DEFAULT_VERSION      "0.13.0"
#define SIM_DEFAULT_PARALLEL     1
#define SIM_DEFAULT_MAX_QUEUE    512
#define SIM_DEFAULT_PREFILL_RATE 2000.0     //  tokens per second
#define SIM_DEFAULT_DECODE_RATE  100.0      //  tokens per second
#define SIM_DEFAULT_LOAD_MS      100
#define SIM_DEFAULT_KEEP_ALIVE   300000     //  5m, in ms
#define SIM_DEFAULT_PULL_RATE    500e6      //  bytes per second
#define SIM_DEFAULT_EMBED_DIM    384
#define SIM_DEFAULT_TOKENS       32         //  generation length without num_predict
#define SIM_DEFAULT_MAX_LOADED   3          //  OLLAMA_MAX_LOADED_MODELS on CPU
#define SIM_LOADED_MAX           1000
#define SIM_DEFAULT_MODEL_SIZE   2019393189ULL
#define SIM_DEFAULT_CONTEXT      4096
#define SIM_RATE_MAX             1e12
#define SIM_PARALLEL_MAX         100000
#define SIM_QUEUE_MAX            1000000
#define SIM_TOKENS_MAX           1000000
#define SIM_EMBED_DIM_MAX        16384
#define SIM_TIME_MAX_MS          86400000   //  a day: longest load, flap or delay
#define SIM_DEFAULT_RESTORE_RATE 50000.0    //  tokens per second restored from the RAM cache
#define SIM_TIME_SCALE_MAX       1000.0
#define SIM_CACHE_RAM_MAX        100000000  //  tokens in a RAM prompt cache
#define SIM_RUNNER_STOPPED       "model runner has unexpectedly stopped, this may be due to " \
                                 "resource limitations or an internal error, check ollama server logs for details"

typedef enum { SIM_API_OLLAMA, SIM_API_OPENAI } sim_api_t;

//  One model as stored on a backend or offered by the registry
typedef struct {
    char name [SIM_NAME_MAX];               //  normalised: "llama3.2:latest"
    uint64_t size;                          //  bytes
    char digest [SIM_DIGEST_HEX + 1];       //  hex, without "sha256:"
    char family [SIM_SHORT_MAX];
    char parameter_size [SIM_SHORT_MAX];
    char quantization [SIM_SHORT_MAX];
    bool embedding;                         //  embedding-only (no chat / generate)
    int context_length;
    int embedding_length;                   //  0: the backend's embedding_dim
    bool loaded;                            //  loaded at start
    int load_ms;                            //  -1: from the size and the backend's load rate
} sim_model_spec_t;

//  Faults, switchable at run time; all off by default
typedef struct {
    bool refuse;                //  close the listening socket: connections are refused
    bool hang;                  //  accept requests and never answer
    int slow_first_byte_ms;     //  delay before anything is answered
    bool http_500;              //  answer every request with 500
    int http_500_every;         //  0 off; else every Nth request gets 500
    int drop_after_tokens;      //  -1 off; else drop the connection mid-stream
    int error_after_tokens;     //  -1 off; else an error line mid-stream
    int stall_after_tokens;     //  -1 off; else fall silent mid-stream, connection kept open
    char error_message [SIM_MESSAGE_MAX];
    int flap_ms;                //  0 off; else refuse / accept in turns of flap_ms
    bool pull_fail;             //  pulls fail half-way
    bool bad_listings;          //  /api/tags, /api/ps, /v1/models answer 200 with broken JSON
} sim_faults_t;

//  One simulated backend
typedef struct {
    char name [SIM_NAME_MAX];
    char host [SIM_HOST_MAX];
    int port;                   //  0: any free port
    sim_api_t api;
    char version [SIM_SHORT_MAX];
    int parallel;               //  OLLAMA_NUM_PARALLEL
    int max_queue;              //  OLLAMA_MAX_QUEUE
    double prefill_rate;        //  prompt tokens per second, 0 = instant
    double decode_rate;         //  generated tokens per second, 0 = instant
    int load_ms;                //  cold model load time (unless load_rate or the model says)
    double load_rate;           //  bytes per second a model loads at; 0: load_ms
    int unload_ms;              //  what evicting a model costs before the next load
    int cache_ram_tokens;       //  bound of the host-RAM prompt cache; 0: none
    double cache_restore_rate;  //  tokens per second restored from it
    double time_scale;          //  multiplies every rate, divides every duration
    int64_t keep_alive_ms;      //  SIM_CLOCK_FOREVER for never
    double pull_bandwidth;      //  bytes per second, 0 = instant
    int embedding_dim;
    int default_tokens;
    int max_loaded_models;      //  OLLAMA_MAX_LOADED_MODELS; 0 = no limit
    bool host_check;            //  Ollama's Host-header check on loopback binds
    bool stamp_chunks;          //  OpenAI stream chunks carry "created_at" too (the bench's delay)
    char tls_cert [SIM_PATH_MAX];   //  PEM certificate (chain): serve HTTPS; "" for HTTP
    char tls_key [SIM_PATH_MAX];    //  its PEM private key
    uint64_t seed;
    sim_faults_t faults;
    sim_model_spec_t *models;   //  owned by the fleet
    size_t model_count;
} sim_backend_config_t;

typedef struct _sim_fleet_t sim_fleet_t;

//  Parses a fleet from JSON text. Returns NULL and writes a reason on error.
sim_fleet_t *
    sim_fleet_new_from_text (const char *text, char *error, size_t size);

//  Parses a fleet file
sim_fleet_t *
    sim_fleet_new_from_file (const char *path, char *error, size_t size);

//  Creates a fleet of count identical backends from a backend JSON object
//  (the command-line flags build one); ports follow each other from port.
sim_fleet_t *
    sim_fleet_new_simple (json_t *backend, int count, char *error, size_t size);

//  Destroys the fleet; accepts NULL
void
    sim_fleet_destroy (sim_fleet_t **self_p);

//  Number of backends, and one backend's configuration (owned by the fleet)
size_t
    sim_fleet_size (sim_fleet_t *self);
sim_backend_config_t *
    sim_fleet_backend (sim_fleet_t *self, size_t index);

//  Control port (0: any free port) and the address it binds
int
    sim_fleet_control_port (sim_fleet_t *self);
void
    sim_fleet_set_control_port (sim_fleet_t *self, int port);

//  Finds a model that backends can pull: the registry, then every backend's
//  models. Returns NULL if unknown. name must be normalised.
const sim_model_spec_t *
    sim_fleet_registry_find (sim_fleet_t *self, const char *name);

//  Applies a JSON object of backend keys to a configuration (fleet file keys;
//  "models" is refused at run time when allow_models is false). Returns 0,
//  or -1 with a reason, leaving the configuration unchanged.
int
    sim_fleet_apply_backend (sim_backend_config_t *config, json_t *object, bool allow_models,
                             char *error, size_t size);

//  Parses one model object into spec, filling defaults. Returns 0 or -1.
int
    sim_fleet_parse_model (json_t *object, sim_model_spec_t *spec, char *error, size_t size);

//  Normalises a model name: lower case, ":latest" added when there is no tag.
//  Returns 0, or -1 if the name is empty or too long.
int
    sim_fleet_normalise (const char *name, char *buf, size_t size);

//  Fills a configuration with the defaults
void
    sim_fleet_defaults (sim_backend_config_t *config);

//  A duration of the configuration (ms) in real nanoseconds under its time
//  scale; and a rate (per second) in real time (0 stays 0: instant)
int64_t
    sim_fleet_scaled_ns (const sim_backend_config_t *config, double ms);
double
    sim_fleet_scaled_rate (const sim_backend_config_t *config, double rate);

//  Self-test
void
    sim_fleet_test (void);

#endif

/*  =========================================================================
    it_harness - what the integration tests share: a private directory with
    its own settings file and ipc:// endpoints, real service processes started
    and killed, and a config client that talks to configd

    Every test gets fresh endpoints under its own directory, so tests never
    collide with each other or with a running ollamaflow.
    =========================================================================
*/

#ifndef IT_HARNESS_H_INCLUDED
#define IT_HARNESS_H_INCLUDED

#include "of_classes.h"
#include <signal.h>
#include <sys/types.h>

//  Default bound for any wait in a test
#define IT_TIMEOUT_MS 10000

typedef struct {
    char dir [256];             //  private directory, removed at the end
    char settings [300];        //  its ollamaflow.json
    char database [300];
    char bin [512];             //  directory of the binaries under test
    char config_router [300];
    char config_publisher [300];
    char scheduler_router [300];
    char scheduler_publisher [300];
    char health_publisher [300];
    char models_publisher [300];
    char models_router [300];
} it_env_t;

//  Prepares a private directory and writes its settings file; extra is JSON
//  text merged into the settings (e.g. seed Frontends and Backends), or NULL.
//  The binaries are looked for in $OF_BIN_DIR.
void
    it_env_init (it_env_t *env, const char *name, const char *extra);

//  Removes the private directory.
void
    it_env_cleanup (it_env_t *env);

//  Starts build/bin/<program> with --config <settings> and any extra
//  environment ("NAME=value" strings, NULL-terminated list). Output goes to
//  <dir>/<program>.log. Returns the pid.
pid_t
    it_start (it_env_t *env, const char *program, const char *const *environment);

//  Has a process (and its process group, if it leads one) killed should the
//  test fail, so that a failed test leaves nothing running. it_start tracks
//  what it starts.
void
    it_track (pid_t pid);

//  Sends a signal and waits for the process to end; returns its wait status.
//  After SIGTERM, anything but a clean exit 0 fails the test.
int
    it_stop (pid_t pid, int signal_number);

//  True if the file contains the text (e.g. a log line), waiting up to timeout_ms.
bool
    it_file_contains (const char *path, const char *text, int timeout_ms);

//  True if one line of the file contains both texts, waiting up to timeout_ms.
bool
    it_file_line_contains (const char *path, const char *text, const char *also, int timeout_ms);

//  Copies the length characters that follow the first occurrence of prefix in
//  the file into dest (NUL-terminated); waits up to timeout_ms. 0 or -1.
int
    it_file_value (const char *path, const char *prefix, size_t length, char *dest,
                   int timeout_ms);

//  A TCP port on 127.0.0.1 that was free a moment ago.
int
    it_free_port (void);

//  Sends GET path to 127.0.0.1:port; returns the status (0 if no answer) and
//  copies the whole response (headers and body) into reply.
int
    it_http_get (int port, const char *path, char *reply, size_t size);

//  Sends GET path with Authorization: Bearer token (NULL: none); like it_http_get.
int
    it_http_bearer (int port, const char *path, const char *token, char *reply, size_t size);

//  Sends POST path with a JSON body to 127.0.0.1:port; like it_http_get.
int
    it_http_post (int port, const char *path, const char *body, char *reply, size_t size);

//  Sends method path with Host: host and a JSON body (NULL for none); like it_http_get.
int
    it_http (int port, const char *method, const char *host, const char *path, const char *body,
             char *reply, size_t size);

//  A DEALER connected to configd's router.
zsock_t *
    it_config_client (it_env_t *env);

//  Sends a config request and waits for its reply (matching id) up to
//  timeout_ms. body is taken over. Returns the reply, or NULL on timeout.
ofp_msg_t *
    it_config_request (zsock_t *client, const char *command, json_t *body, int timeout_ms);

//  Sends command (body {}) until configd answers, up to IT_TIMEOUT_MS; returns
//  the reply's body (caller owns) or fails the test.
json_t *
    it_config_wait (zsock_t *client, const char *command);

//  Fails the test with a message: prints file:line and aborts.
#define IT_ASSERT(cond, ...) \
    do { \
        if (!(cond)) { \
            fprintf (stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf (stderr, __VA_ARGS__); \
            fprintf (stderr, "\n"); \
            abort (); \
        } \
    } while (0)

#endif

/*  =========================================================================
    tap_feed - the tap: every message on the bus as one JSON line

    Subscribes to every service's PUB socket (configd, scheduler, healthmon,
    modelsync) and prints each message as {"Time", "Service", "Protocol",
    "Command", "Id", "Direction", "Body"}. Services started with Bus.Tap also
    publish copies of their request/reply traffic (proto/tap.md), so config
    writes and leases show up too, with their direction. Secrets in bodies
    (BearerToken, header values) are masked unless asked otherwise.

    ollamaflow-tap prints everything that passes its filters;
    `ollamaflowctl tail` prints what concerns one frontend or backend.
    =========================================================================
*/

#ifndef TAP_FEED_H_INCLUDED
#define TAP_FEED_H_INCLUDED

#include "of_classes.h"
#include <stdio.h>

#define TAP_FILTERS_MAX 16
#define TAP_MASK "********"

typedef struct {
    const char *services [TAP_FILTERS_MAX];     //  only these services (none: all)
    size_t service_count;
    const char *commands [TAP_FILTERS_MAX];     //  only these commands (none: all)
    size_t command_count;
    bool heartbeats;            //  HEARTBEAT messages too
    bool states;                //  the periodic STATE messages too
    bool show_secrets;
    const char *subject;        //  only messages about this Identifier, or NULL
    long count;                 //  lines to print before returning; 0: no limit
    long timeout_ms;            //  return after this long; 0: no limit
} tap_options_t;

//  Prints the bus traffic of the services named in settings to out until
//  interrupted, or count lines or timeout_ms. 0, or -1 with a reason.
int
    tap_feed_run (of_settings_t *settings, const tap_options_t *options, FILE *out, char *error,
                  size_t size);

//  True if body concerns the frontend or backend id: some object in it has a
//  Frontend, Backend or Identifier field equal to id, or a Backends list
//  naming it.
bool
    tap_feed_mentions (json_t *body, const char *id);

//  Masks BearerToken and header values wherever they appear in value.
void
    tap_feed_mask (json_t *value);

//  Self test
void
    tap_feed_test (bool verbose);

#endif

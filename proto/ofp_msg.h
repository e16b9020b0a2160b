/*  =========================================================================
    ofp_msg - one message on the ollamaflow bus, and the codec that checks it

    Every protocol (config, lease, health, models) uses the same frames:

        [routing id]   only on a ROUTER socket, added and removed by ZeroMQ
        signature      "ofconfig/1", "oflease/1", ... : protocol name and version
        command        capitals: "LEASE", "GRANT", "SNAPSHOT", ...
        request id     only for commands that carry one (requests and replies)
        body           a JSON object, validated per command

    A protocol is a table of its commands (ofp_protocol_t). ofp_msg_recv checks a
    received message against that table and never lets a malformed one through
    unmarked: ofp_msg_error () tells what was wrong, so a service can answer
    ERROR and go on. The codec neither logs nor asserts on received data.
    =========================================================================
*/

#ifndef OFP_MSG_H_INCLUDED
#define OFP_MSG_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>

//  Longest request id, in bytes
#define OFP_ID_MAX 64
//  Longest command name, in bytes
#define OFP_COMMAND_MAX 32
//  Room for an error text
#define OFP_ERROR_MAX 256

//  Checks one command's body; on failure writes a reason into error and returns -1
typedef int (ofp_validate_fn) (json_t *body, char *error, size_t size);

typedef struct {
    const char *name;          //  "LEASE"
    bool has_id;               //  carries a request id frame
    ofp_validate_fn *validate; //  NULL accepts any JSON object
} ofp_command_t;

typedef struct {
    const char *signature;          //  "oflease/1"
    size_t max_body;                //  longest body accepted, in bytes
    const ofp_command_t *commands;  //  ends with an entry whose name is NULL
} ofp_protocol_t;

typedef struct _ofp_msg_t ofp_msg_t;

//  Creates a message to send. id is copied (NULL when the command carries none);
//  body is taken over (NULL means an empty object). Asserts that the command
//  exists in the protocol: a programming error, not outside input.
ofp_msg_t *
    ofp_msg_new (const ofp_protocol_t *protocol, const char *command, const char *id,
                 json_t **body_p);

//  Destroys a message; accepts NULL.
void
    ofp_msg_destroy (ofp_msg_t **self_p);

//  Receives one message from the socket and checks it. Returns NULL only when
//  interrupted; otherwise a message, malformed or not: see ofp_msg_error.
ofp_msg_t *
    ofp_msg_recv (const ofp_protocol_t *protocol, zsock_t *input);

//  Checks a multipart message as received on a socket of the given kind
//  (routed: the first frame is a routing id). Takes the zmsg over.
ofp_msg_t *
    ofp_msg_decode (const ofp_protocol_t *protocol, zmsg_t **zmsg_p, bool routed);

//  Sends the message and destroys it, whether or not the send succeeded.
//  Returns 0, or -1 if ZeroMQ refused it (no peer, interrupted).
int
    ofp_msg_send (ofp_msg_t **self_p, zsock_t *output);

//  Encodes the message as frames (with the routing id if it has one). Caller owns.
zmsg_t *
    ofp_msg_encode (ofp_msg_t *self);

//  Creates the reply to a received request: same protocol, routing id and request id.
ofp_msg_t *
    ofp_msg_reply (ofp_msg_t *self, const char *command, json_t **body_p);

//  Creates an ERROR reply {"Status": status, "Error": error, "Message": message}.
ofp_msg_t *
    ofp_msg_reply_error (ofp_msg_t *self, int status, const char *error, const char *message);

//  NULL if the message is well-formed; otherwise why it is not.
const char *
    ofp_msg_error (ofp_msg_t *self);

//  The command, or "" when it could not be read.
const char *
    ofp_msg_command (ofp_msg_t *self);

//  True if the command is name.
bool
    ofp_msg_is (ofp_msg_t *self, const char *name);

//  The request id, or NULL.
const char *
    ofp_msg_id (ofp_msg_t *self);

//  The body (borrowed; an empty object when malformed).
json_t *
    ofp_msg_body (ofp_msg_t *self);

//  The routing id of a message received on a ROUTER, or NULL. Borrowed.
zframe_t *
    ofp_msg_routing_id (ofp_msg_t *self);

//  Sets the routing id (copied) for sending on a ROUTER.
void
    ofp_msg_set_routing_id (ofp_msg_t *self, zframe_t *routing_id);

//  The protocol the message belongs to.
const ofp_protocol_t *
    ofp_msg_protocol (ofp_msg_t *self);

//  Prints the message as one JSON line {"Signature","Command","Id","Body"} into
//  a new string (caller frees); for logs and the tap.
char *
    ofp_msg_format (ofp_msg_t *self);

//  For the codecs' self tests: decodes the given frames as received on a
//  DEALER or SUB (a NULL frame is left out) and asserts the verdict: fragment
//  NULL means well-formed, else the error must contain it.
void
    ofp_msg_expect (const ofp_protocol_t *protocol, const char *signature, const char *command,
                    const char *id, const char *body, const char *fragment, bool verbose);

//  Self test
void
    ofp_msg_test (bool verbose);

#endif

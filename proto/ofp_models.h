/*  =========================================================================
    ofp_models - codec of the models protocol (ofmodels/1), see models.md

    The command table and body checks for modelsync's PUB traffic (backend
    inventories, pull progress, full state) and its ROUTER requests (start a
    pull or delete a model through a frontend).
    Use with ofp_msg: ofp_msg_recv (&ofp_models_protocol, socket).
    =========================================================================
*/

#ifndef OFP_MODELS_H_INCLUDED
#define OFP_MODELS_H_INCLUDED

#include "ofp_msg.h"

#define OFP_MODELS_SIGNATURE     "ofmodels/1"
#define OFP_MODELS_MAX_BODY      (16 * 1024 * 1024)
#define OFP_MODELS_NAME_MAX      256         //  model names, with their tag
#define OFP_MODELS_DIGEST_MAX    128
#define OFP_MODELS_TIME_MAX      64          //  times as a backend wrote them
#define OFP_MODELS_DETAIL_MAX    128         //  each string of Details
#define OFP_MODELS_FAMILIES_MAX  32
#define OFP_MODELS_STATUS_MAX    256         //  Ollama's pull status line
#define OFP_MODELS_ERROR_MAX     512
#define OFP_MODELS_MODELS_MAX    4096        //  models on one backend
#define OFP_MODELS_LOADED_MAX    256         //  models loaded on one backend
#define OFP_MODELS_RECORDS_MAX   10000       //  inventories or pulls in one STATE
#define OFP_MODELS_BACKENDS_MAX  1024        //  backends in one request or reply

//  Room for a model key: a name, ":latest", and the NUL
#define OFP_MODELS_KEY_MAX       (OFP_MODELS_NAME_MAX + sizeof (OFP_MODELS_DEFAULT_TAG))
#define OFP_MODELS_DEFAULT_TAG   ":latest"   //  the tag of a model named without one

extern const ofp_protocol_t ofp_models_protocol;

//  Writes the key under which a model name is compared (OFP_MODELS_KEY_MAX
//  bytes): lower case, with ":latest" added when the name has no tag after
//  its last '/' ("llama3" and "Llama3:latest" are the same model; in
//  "registry:5000/x/qwen" the ':' is a port, not a tag).
void
    ofp_models_key (char *dest, const char *name);

//  Self test
void
    ofp_models_test (bool verbose);

#endif

/*  =========================================================================
    ofp_lease - codec of the lease protocol (oflease/1), see lease.md

    The command table and body checks for the scheduler's ROUTER (ingress
    asks, grants, releases, heartbeats) and PUB (state, outcomes) traffic.
    Use with ofp_msg: ofp_msg_recv (&ofp_lease_protocol, socket).
    =========================================================================
*/

#ifndef OFP_LEASE_H_INCLUDED
#define OFP_LEASE_H_INCLUDED

#include "ofp_msg.h"

#define OFP_LEASE_SIGNATURE     "oflease/1"
#define OFP_LEASE_MAX_BODY      (4 * 1024 * 1024)
//  Limits on what an ingress can send
#define OFP_LEASE_INGRESS_MAX   128         //  Ingress id: hostname-pid by default
#define OFP_LEASE_MODEL_MAX     256
#define OFP_LEASE_LABELS_MAX    64
#define OFP_LEASE_LABEL_MAX     256
#define OFP_LEASE_EXCLUDE_MAX   64
#define OFP_LEASE_STICKY_MAX    256
#define OFP_LEASE_ROUTE_MAX     256
#define OFP_LEASE_REQUEST_ID_MAX 160        //  the HTTP request's id: Ingress id, "-", a counter
#define OFP_LEASE_REASON_MAX    256
#define OFP_LEASE_DEADLINE_MAX  86400000    //  24 h
#define OFP_LEASE_RESUME_MAX    10000       //  leases in one RESUME
#define OFP_LEASE_COUNT_MAX     1000000     //  leases, asks, queue positions
#define OFP_LEASE_RECORDS_MAX   10000       //  records in each STATE list
#define OFP_LEASE_PEERS_MAX     256         //  ingress ids in a PONG's or a HELLO's Peers
#define OFP_LEASE_HOSTNAME_MAX  253
#define OFP_LEASE_MESSAGE_MAX   1024
#define OFP_LEASE_RETRY_MAX     3600000
#define OFP_LEASE_PREFIX_MAX    64          //  hashes in a LEASE's Prefix
#define OFP_LEASE_PREFIX_END_MAX 1073741824 //  PrefixEnds: bytes of prompt
#define OFP_LEASE_MICROS_MAX    86400000000LL   //  a RELEASE's durations in µs: 24 h

extern const ofp_protocol_t ofp_lease_protocol;

//  True if path is one of Ollama's routes that the ingress translates for
//  OpenAI-format backends (lease.md, Route): an ask for it may go to a
//  backend of either format. The one list, for the ingress and the scheduler.
bool
    ofp_lease_translated_path (const char *path);

//  Self test
void
    ofp_lease_test (bool verbose);

#endif

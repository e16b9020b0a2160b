/*  =========================================================================
    ofp_health - codec of the health protocol (ofhealth/1), see health.md

    The command table and body checks for healthmon's PUB traffic: state
    transitions of backends and the periodic full state.
    Use with ofp_msg: ofp_msg_recv (&ofp_health_protocol, socket).
    =========================================================================
*/

#ifndef OFP_HEALTH_H_INCLUDED
#define OFP_HEALTH_H_INCLUDED

#include "ofp_msg.h"

#define OFP_HEALTH_SIGNATURE    "ofhealth/1"
#define OFP_HEALTH_MAX_BODY     (4 * 1024 * 1024)
#define OFP_HEALTH_REASON_MAX   512
#define OFP_HEALTH_COUNT_MAX    1000000     //  consecutive successes or failures
#define OFP_HEALTH_BACKENDS_MAX 10000       //  records in one STATE
#define OFP_HEALTH_INTERVAL_MIN 100
#define OFP_HEALTH_INTERVAL_MAX 3600000

extern const ofp_protocol_t ofp_health_protocol;

//  Self test
void
    ofp_health_test (bool verbose);

#endif

/*  =========================================================================
    ofp_config - codec of the config protocol (ofconfig/1), see config.md

    The command table and body checks for configd's ROUTER and PUB traffic.
    Use with ofp_msg: ofp_msg_recv (&ofp_config_protocol, socket).
    =========================================================================
*/

#ifndef OFP_CONFIG_H_INCLUDED
#define OFP_CONFIG_H_INCLUDED

#include "ofp_msg.h"
#include "ofp_check.h"

#define OFP_CONFIG_SIGNATURE "ofconfig/1"
#define OFP_CONFIG_MAX_BODY  (16 * 1024 * 1024)
//  EDIT: values per list and bytes per value
#define OFP_CONFIG_EDIT_VALUES_MAX 1024
#define OFP_CONFIG_EDIT_VALUE_MAX  256

extern const ofp_protocol_t ofp_config_protocol;

//  Self test
void
    ofp_config_test (bool verbose);

#endif

/*  =========================================================================
    ofp_tap - copies of request/reply traffic for the tap (oftap/1), see tap.md
    =========================================================================
*/

#ifndef OFP_TAP_H_INCLUDED
#define OFP_TAP_H_INCLUDED

#include "ofp_msg.h"

#define OFP_TAP_SIGNATURE "oftap/1"

//  Publishes a copy of msg on publisher, from service, direction "IN" or "OUT".
//  Does nothing when publisher is NULL (tap copies off).
void
    ofp_tap_publish (zsock_t *publisher, const char *service, const char *direction,
                     ofp_msg_t *msg);

//  Self test
void
    ofp_tap_test (bool verbose);

#endif

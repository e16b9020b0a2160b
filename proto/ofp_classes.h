/*  ofp_classes - every protocol codec, for code that uses the bus */

#ifndef OFP_CLASSES_H_INCLUDED
#define OFP_CLASSES_H_INCLUDED

#include "ofp_msg.h"
#include "ofp_check.h"
#include "ofp_config.h"
#include "ofp_lease.h"
#include "ofp_lease_sessions.h"
#include "ofp_health.h"
#include "ofp_models.h"
#include "ofp_tap.h"

//  Self tests in the order they should run, used by ofp_selftest
#define OFP_SELFTESTS \
    {"ofp_msg", ofp_msg_test}, \
    {"ofp_config", ofp_config_test}, \
    {"ofp_lease", ofp_lease_test}, \
    {"ofp_lease_sessions", ofp_lease_sessions_test}, \
    {"ofp_health", ofp_health_test}, \
    {"ofp_models", ofp_models_test}, \
    {"ofp_tap", ofp_tap_test},

#endif

/*  of_classes - every libshared class, for services and tools */

#ifndef OF_CLASSES_H_INCLUDED
#define OF_CLASSES_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include "ofp_classes.h"
#include "of_log.h"
#include "of_claim.h"
#include "of_settings.h"
#include "of_schema.h"
#include "of_records.h"
#include "of_service.h"
#include "of_clone.h"
#include "of_evzmq.h"
#include "of_loop.h"
#include "of_merge.h"
#include "of_tls.h"
#include "of_upstream_prepare.h"

//  Self tests in the order they should run, used by of_selftest
#define OF_SELFTESTS \
    {"of_log", of_log_test}, \
    {"of_claim", of_claim_test}, \
    {"of_settings", of_settings_test}, \
    {"of_schema", of_schema_test}, \
    {"of_records", of_records_test}, \
    {"of_service", of_service_test}, \
    {"of_clone", of_clone_test}, \
    {"of_evzmq", of_evzmq_test}, \
    {"of_loop", of_loop_test}, \
    {"of_merge", of_merge_test}, \
    {"of_tls", of_tls_test}, \
    {"of_upstream_prepare", of_upstream_prepare_test}, \
    {"of_upstream", of_upstream_test}, \
    {"of_exchange", of_exchange_test}, \
    {"of_conns", of_conns_test},

#endif

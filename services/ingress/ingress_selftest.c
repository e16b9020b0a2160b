/*  ingress_selftest - runs the self test of one ingress class, or of all of them */

#include "ingress_access.h"
#include "ingress_admin_auth.h"
#include "ingress_admin_list.h"
#include "ingress_admin_live.h"
#include "ingress_answer.h"
#include "ingress_dashboard.h"
#include "ingress_feed.h"
#include "ingress_jscan.h"
#include "ingress_keys.h"
#include "ingress_listing.h"
#include "ingress_match.h"
#include "ingress_meter.h"
#include "ingress_prefix.h"
#include "ingress_metrics.h"
#include "ingress_models.h"
#include "ingress_progress.h"
#include "ingress_reqid.h"
#include "ingress_requester.h"
#include "ingress_required.h"
#include "ingress_route.h"
#include "ingress_translate.h"
#include "ingress_validate.h"
#include "ingress_wire.h"
#include "of_selftest_main.h"

static const of_selftest_t s_tests [] = {
    {"ingress_route", ingress_route_test},
    {"ingress_match", ingress_match_test},
    {"ingress_requester", ingress_requester_test},
    {"ingress_feed", ingress_feed_test},
    {"ingress_listing", ingress_listing_test},
    {"ingress_required", ingress_required_test},
    {"ingress_progress", ingress_progress_test},
    {"ingress_models", ingress_models_test},
    {"ingress_admin_auth", ingress_admin_auth_test},
    {"ingress_admin_list", ingress_admin_list_test},
    {"ingress_admin_live", ingress_admin_live_test},
    {"ingress_jscan", ingress_jscan_test},
    {"ingress_translate", ingress_translate_test},
    {"ingress_answer", ingress_answer_test},
    {"ingress_reqid", ingress_reqid_test},
    {"ingress_meter", ingress_meter_test},
    {"ingress_prefix", ingress_prefix_test},
    {"ingress_metrics", ingress_metrics_test},
    {"ingress_access", ingress_access_test},
    {"ingress_validate", ingress_validate_test},
    {"ingress_keys", ingress_keys_test},
    {"ingress_dashboard", ingress_dashboard_test},
    {"ingress_wire", ingress_wire_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    return of_selftest_main (argc, argv, s_tests);
}

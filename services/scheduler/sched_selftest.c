/*  sched_selftest - runs the self test of one scheduler class, or of all of them
    Usage: sched_selftest [-v] [class]; each class is registered as its own CTest. */

#include "sched_broker.h"
#include "sched_fleet.h"
#include "sched_health.h"
#include "sched_models.h"
#include "sched_view.h"
#include "sched_keys.h"
#include "sched_pick.h"
#include "sched_predict.h"
#include "sched_queue.h"
#include "sched_sessions.h"
#include "sched_speed.h"
#include "sched_cost.h"
#include "sched_prefix.h"
#include "sched_settle.h"
#include "sched_table.h"
#include "of_selftest_main.h"

static const of_selftest_t s_tests [] = {
    {"sched_sessions", sched_sessions_test},
    {"sched_table", sched_table_test},
    {"sched_queue", sched_queue_test},
    {"sched_view", sched_view_test},
    {"sched_health", sched_health_test},
    {"sched_models", sched_models_test},
    {"sched_fleet", sched_fleet_test},
    {"sched_speed", sched_speed_test},
    {"sched_cost", sched_cost_test},
    {"sched_prefix", sched_prefix_test},
    {"sched_pick", sched_pick_test},
    {"sched_predict", sched_predict_test},
    {"sched_broker", sched_broker_test},
    {"sched_keys", sched_keys_test},
    {"sched_settle", sched_settle_test},
    {NULL, NULL}
};

int
main (int argc, char *argv [])
{
    return of_selftest_main (argc, argv, s_tests);
}

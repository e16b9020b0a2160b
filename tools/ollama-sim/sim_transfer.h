/*  =========================================================================
    sim_transfer - /api/pull and /api/push with progress streams

    A pull looks the model up in the fleet's registry (and the models of
    every backend), then streams Ollama's status lines: "pulling manifest",
    "pulling <digest12>" with total/completed every progress interval at the
    backend's pull_bandwidth, "verifying sha256 digest", "writing manifest",
    "success". The model exists on the backend afterwards. Unknown models end
    with Ollama's error line (HTTP 200 when streaming, 500 when not). The
    pull_fail fault breaks a pull half-way. A client that leaves cancels it.
    =========================================================================
*/

#ifndef SIM_TRANSFER_H_INCLUDED
#define SIM_TRANSFER_H_INCLUDED

#include "sim_backend.h"

//  Runs one pull or push
void
    sim_transfer_handle (sim_backend_t *backend, sim_req_t *req, sim_route_t route);

#endif

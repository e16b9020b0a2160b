/*  =========================================================================
    sim_generate - generation and embedding requests, paced like a real server

    /api/generate, /api/chat, /api/embed, /api/embeddings and the OpenAI
    /v1/chat/completions, /v1/completions and /v1/embeddings. A request takes
    one of the backend's parallel slots (or waits in its queue, or gets 503),
    loads its model if cold, spends prompt_tokens / prefill_rate on the
    prompt, then emits one token every 1 / decode_rate seconds from a timer
    on the event loop. The length is num_predict / max_tokens, else the
    backend's default. A client that leaves frees its slot at once.
    =========================================================================
*/

#ifndef SIM_GENERATE_H_INCLUDED
#define SIM_GENERATE_H_INCLUDED

#include "sim_backend.h"

//  Runs one generation or embedding request to its end
void
    sim_generate_handle (sim_backend_t *backend, sim_req_t *req, sim_route_t route);

#endif

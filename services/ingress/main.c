/*  =========================================================================
    ollamaflow-ingress - the HTTP server clients talk to

    Serves the Ollama and OpenAI APIs on Webserver.Port (default 43411) and
    follows the config from configd. Any number of replicas may share the port
    (SO_REUSEPORT); each has its own Ingress.Id.
    =========================================================================
*/

#include "ingress.h"
#include "of_service.h"

int
main (int argc, char *argv [])
{
    return of_service_main (argc, argv, "ingress",
                            "Serves clients over HTTP and streams to the backends.",
                            ingress_actor);
}

/* router_server: `hermetic router`, the router served alone as an OpenAI-compatible proxy
 * (a LiteLLM proxy replacement for in-cluster clients such as HolmesGPT or the OpenAI SDKs). */
#ifndef HERMETIC_ROUTER_SERVER_H
#define HERMETIC_ROUTER_SERVER_H

struct config;

/* Returns the exit code: 0 after a signal-driven shutdown, 1 when it cannot start. */
int router_server_run(const struct config *cfg);

#endif

/* sampling: MCP servers asking the model (sampling/createMessage), answered through the router
 * in the server's lane and budgets (docs/mcp.md, "Sampling"). The gateway hands
 * sampling_cbs to mcp_set_sampling; the pure parts are here for tests/test_sampling.c.
 */
#ifndef HERMETIC_SAMPLING_H
#define HERMETIC_SAMPLING_H

#include "mcp/mcp.h"

#include <stddef.h>

struct config;
struct config_mcp_server;
struct router;
struct sampling;

/* *router is read when a request comes (the router may be made after the MCP client); NULL
 * then: the server gets an error. cfg and router borrowed. */
struct sampling *sampling_create(const struct config *cfg, struct router **router,
				 struct mcp_sampling_cbs *out);
/* After the MCP client stopped sampling (mcp_set_sampling NULL: the calls in flight are
 * cancelled) and after the router is gone (a call it held never answers). Accepts NULL. */
void sampling_destroy(struct sampling *sm);

/* The chat completions body for server srv's sampling/createMessage params: systemPrompt and
 * messages (text, and images as data URLs), max_tokens cut to sampling.max_tokens_cap,
 * temperature, stop; the model is the first modelPreferences hint in sampling.allowed_models,
 * else sampling.model, else cfg->model (its name in *model, malloc'd). Returns 0 and *body
 * (malloc'd), or -EINVAL with what the server sent wrong in err. */
int sampling_body(const struct config *cfg, const struct config_mcp_server *srv,
		  const char *params_json, char **body, char **model, char *err, size_t err_len);
/* The CreateMessageResult for a chat completions answer (body) of model group model: the
 * first choice's text, stopReason endTurn (stop), maxTokens (length) or the finish_reason as
 * given. Returns 0 and *out (malloc'd), or -EINVAL with why in err. */
int sampling_result(const char *body, size_t len, const char *model, char **out, char *err,
		    size_t err_len);
/* The lane that lists server in its mcp_servers (the first), or NULL. */
const char *sampling_lane(const struct config *cfg, const char *server);

#endif

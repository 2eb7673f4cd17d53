/* cli_mcp_oauth: signing in to MCP servers with `auth: oauth` from the command line:
 * `hermetic mcp login`, `hermetic mcp logout`, and the stored tokens handed to the one-shot
 * commands' client (refreshed first when they are about to expire; a client_credentials or
 * jwt-bearer server signs in by itself). */
#ifndef HERMETIC_CLI_MCP_OAUTH_H
#define HERMETIC_CLI_MCP_OAUTH_H

#include <stdbool.h>

struct config;
struct loop;
struct mcp;

/* How long `mcp login` waits for the browser to come back. */
#define CLI_MCP_LOGIN_TIMEOUT_S 300

/* `hermetic mcp login SERVER`: exit code 0 when signed in, 1 otherwise (why on stderr). */
int cli_mcp_login(const struct config *cfg, const char *server);
/* `hermetic mcp logout SERVER`: exit code. */
int cli_mcp_logout(const struct config *cfg, const char *server);
/* Gives m the stored access token of every `auth: oauth` server of cfg (refreshing one due
 * within a minute, signing in a client_credentials one), running loop as needed. Before
 * mcp_start. What fails is left for the server's own error (401: "not signed in"). */
void cli_mcp_oauth_prepare(const struct config *cfg, struct loop *loop, struct mcp *m);
/* Step-up (the spec's scope challenge handling): a request refused with 403
 * insufficient_scope whose challenge names a scope the stored sign-in lacks signs in again as
 * `mcp login` does, asking for that scope too. 0 when signed in anew; -1 when this is no step-up
 * (another error, no scope named, every scope named already granted) or it failed (said on
 * stderr). The caller bounds how often (CLI_MCP_MAX_STEP_UPS). */
int cli_mcp_step_up(const struct config *cfg, const char *server, const char *challenge);
#define CLI_MCP_MAX_STEP_UPS 2

/* "signed in", "signed in, expired" or "not signed in" for an `auth: oauth` server, NULL for
 * others. */
const char *cli_mcp_sign_in_state(const struct config *cfg, const char *server);

#endif

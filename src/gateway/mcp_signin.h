/* mcp_signin: the gateway's side of MCP servers that sign in (auth: oauth). At start it hands
 * the MCP client the tokens `hermetic mcp login` stored; it refreshes each a minute before it
 * expires (the refresh token grant, on the loop), and signs a client_credentials or jwt-bearer
 * server in by itself when it has no token. The new token is stored (state.db, through
 * store_write) and used from the next request on. A sign-in that needs a person is not started
 * here: such a server's 401 says to run `hermetic mcp login NAME`.
 */
#ifndef HERMETIC_MCP_SIGNIN_H
#define HERMETIC_MCP_SIGNIN_H

struct config;
struct loop;
struct mcp;
struct mcp_signin;
struct store;

/* Borrows everything (all outlive it). Before mcp_start. NULL when no server signs in. */
struct mcp_signin *mcp_signin_create(const struct config *cfg, struct loop *loop, struct store *st,
				     struct mcp *m);
/* Cancels timers and flows in flight; accepts NULL. */
void mcp_signin_destroy(struct mcp_signin *s);

#endif

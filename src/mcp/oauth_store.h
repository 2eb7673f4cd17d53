/* oauth_store: the tokens of MCP servers that sign in (auth: oauth), one row per server in
 * state.db's mcp_oauth table, with what refreshing them needs (the client and the token
 * endpoint). Rows are written by `hermetic mcp login` and by refreshes, read by every user of
 * the server, deleted by `hermetic mcp logout`. Every token read or written is registered with
 * the log's secrets (log_add_secret), so no log line, audit record or error shows it.
 */
#ifndef HERMETIC_OAUTH_STORE_H
#define HERMETIC_OAUTH_STORE_H

#include <stdbool.h>
#include <stdint.h>

struct store;

#define OAUTH_STORE_SCHEMA_SQL                                                                     \
	"CREATE TABLE mcp_oauth (server TEXT PRIMARY KEY NOT NULL, url TEXT NOT NULL,"             \
	" client_id TEXT, client_secret TEXT, token_endpoint TEXT, resource TEXT,"                 \
	" access_token TEXT NOT NULL, refresh_token TEXT, scope TEXT,"                             \
	" expires_at_ms INTEGER NOT NULL DEFAULT 0, updated_ms INTEGER NOT NULL) STRICT;"
/* DPoP (oauth: dpop: true): the token's type, and the server's own key, kept with its tokens. */
#define OAUTH_STORE_DPOP_SQL                                                                       \
	"ALTER TABLE mcp_oauth ADD COLUMN token_type TEXT;"                                        \
	"ALTER TABLE mcp_oauth ADD COLUMN dpop_key TEXT;"

/* One server's sign-in; strings malloc'd, NULL when absent. */
struct oauth_tokens {
	char *url; /* the server's URL when it signed in: another URL is another sign-in */
	char *client_id, *client_secret;
	char *token_endpoint;
	char *resource;
	char *access_token, *refresh_token;
	char *scope;
	int64_t expires_at_ms; /* wall clock; 0 = not said */
	char *token_type;      /* "DPoP" for a DPoP-bound token; NULL or "Bearer" else */
	char *dpop_key; /* the server's DPoP key (P-256 PEM), made once, a secret; NULL = none */
};

/* The row of server: 0, -ENOENT (none), or -EIO. */
int oauth_store_get(struct store *st, const char *server, struct oauth_tokens *out);
/* Replaces the row of server (at now_ms): 0 or -EIO. */
int oauth_store_put(struct store *st, const char *server, const struct oauth_tokens *t,
		    int64_t now_ms);
/* Forgets server: 0 (also when there was nothing) or -EIO. */
int oauth_store_del(struct store *st, const char *server);
/* Registers the tokens, the client secret and the DPoP key with the log's secrets. */
void oauth_tokens_hide(const struct oauth_tokens *t);
/* Whether the access token is DPoP-bound (sent as `Authorization: DPoP`). */
bool oauth_tokens_dpop(const struct oauth_tokens *t);
/* *to = a copy of every field of *from (to is overwritten, not freed). */
void oauth_tokens_copy(struct oauth_tokens *to, const struct oauth_tokens *from);
/* Frees the strings; accepts NULL. */
void oauth_tokens_finish(struct oauth_tokens *t);

#endif

/* oauth_store: MCP servers' OAuth tokens in state.db (see oauth_store.h). Plain statements on
 * the caller's connection: the CLI owns its store; a daemon's writes of a refresh are one small
 * row. */
#include "mcp/oauth_store.h"
#include "core/log.h"
#include "core/store.h"
#include "core/util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static char *col(sqlite3_stmt *q, int i)
{
	const unsigned char *s = sqlite3_column_text(q, i);

	return s ? xstrdup((const char *)s) : NULL;
}

int oauth_store_get(struct store *st, const char *server, struct oauth_tokens *out)
{
	sqlite3_stmt *q = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(
		    store_db(st),
		    "SELECT url, client_id, client_secret, token_endpoint, resource,"
		    " access_token, refresh_token, scope, expires_at_ms, token_type, dpop_key"
		    " FROM mcp_oauth"
		    " WHERE server = ?",
		    -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, server, -1, SQLITE_STATIC);
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		out->url = col(q, 0);
		out->client_id = col(q, 1);
		out->client_secret = col(q, 2);
		out->token_endpoint = col(q, 3);
		out->resource = col(q, 4);
		out->access_token = col(q, 5);
		out->refresh_token = col(q, 6);
		out->scope = col(q, 7);
		out->expires_at_ms = sqlite3_column_int64(q, 8);
		out->token_type = col(q, 9);
		out->dpop_key = col(q, 10);
		oauth_tokens_hide(out);
		rc = 0;
	} else {
		rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
	}
	sqlite3_finalize(q);
	return rc;
}

int oauth_store_put(struct store *st, const char *server, const struct oauth_tokens *t,
		    int64_t now_ms)
{
	sqlite3_stmt *q = NULL;
	const char *v[] = {
		server,	     t->url,	      t->client_id,	t->client_secret, t->token_endpoint,
		t->resource, t->access_token, t->refresh_token, t->scope,	  t->token_type,
		t->dpop_key};
	int rc, i;

	oauth_tokens_hide(t);
	if (sqlite3_prepare_v2(
		    store_db(st),
		    "INSERT OR REPLACE INTO mcp_oauth (server, url, client_id,"
		    " client_secret, token_endpoint, resource, access_token,"
		    " refresh_token, scope, token_type, dpop_key, expires_at_ms, updated_ms)"
		    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		    -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	for (i = 0; i < (int)(sizeof(v) / sizeof(v[0])); i++)
		sqlite3_bind_text(q, i + 1, v[i], -1, SQLITE_STATIC);
	sqlite3_bind_int64(q, 12, t->expires_at_ms);
	sqlite3_bind_int64(q, 13, now_ms);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(q);
	return rc;
}

int oauth_store_del(struct store *st, const char *server)
{
	sqlite3_stmt *q = NULL;
	int rc;

	if (sqlite3_prepare_v2(store_db(st), "DELETE FROM mcp_oauth WHERE server = ?", -1, &q,
			       NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_text(q, 1, server, -1, SQLITE_STATIC);
	rc = sqlite3_step(q) == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(q);
	return rc;
}

/* A log line holds one line of a PEM key at most: each line of it but the BEGIN/END markers is
 * a secret of its own (as config's private_key). */
static void hide_pem(const char *pem)
{
	const char *p = pem;

	while (*p) {
		size_t l = strcspn(p, "\r\n");

		if (l >= 16 && strncmp(p, "-----", 5) != 0) {
			char *line = xstrndup(p, l);

			log_add_secret(line);
			free(line);
		}
		p += l;
		while (*p == '\r' || *p == '\n')
			p++;
	}
}

void oauth_tokens_hide(const struct oauth_tokens *t)
{
	if (t->access_token && *t->access_token)
		log_add_secret(t->access_token);
	if (t->refresh_token && *t->refresh_token)
		log_add_secret(t->refresh_token);
	if (t->client_secret && *t->client_secret)
		log_add_secret(t->client_secret);
	if (t->dpop_key)
		hide_pem(t->dpop_key);
}

bool oauth_tokens_dpop(const struct oauth_tokens *t)
{
	return t->dpop_key && t->token_type && strcasecmp(t->token_type, "DPoP") == 0;
}

void oauth_tokens_copy(struct oauth_tokens *to, const struct oauth_tokens *from)
{
	to->url = xstrdup(from->url);
	to->client_id = xstrdup(from->client_id);
	to->client_secret = xstrdup(from->client_secret);
	to->token_endpoint = xstrdup(from->token_endpoint);
	to->resource = xstrdup(from->resource);
	to->access_token = xstrdup(from->access_token);
	to->refresh_token = xstrdup(from->refresh_token);
	to->scope = xstrdup(from->scope);
	to->expires_at_ms = from->expires_at_ms;
	to->token_type = xstrdup(from->token_type);
	to->dpop_key = xstrdup(from->dpop_key);
}

void oauth_tokens_finish(struct oauth_tokens *t)
{
	if (!t)
		return;
	free(t->url);
	free(t->client_id);
	free(t->client_secret);
	free(t->token_endpoint);
	free(t->resource);
	free(t->access_token);
	free(t->refresh_token);
	free(t->scope);
	free(t->token_type);
	free(t->dpop_key);
	memset(t, 0, sizeof(*t));
}

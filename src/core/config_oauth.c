/* config_oauth: the checks of an MCP server's sign-in (mcp_servers.NAME.auth and .oauth).
 * Each value is checked where it is read (the CIMD URL, a scope); what needs several keys (a
 * grant that needs a secret, an oauth: block without auth: oauth) once the entry is read, from
 * cfg_mcp_check. The flow itself is mcp/oauth.c's. */
#include "core/config_int.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>

#include <string.h>

/* A Client ID Metadata Document's URL is its client_id: https with a path (the CIMD draft). */
int cfg_check_cimd_url(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN + 32];
	const char *host = v + 8, *slash;
	size_t i;

	for (i = 0; v[i]; i++)
		if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
			break;
	slash = strncmp(v, "https://", 8) == 0 && !v[i] ? strchr(host, '/') : NULL;
	if (slash && slash > host && slash[1])
		return 0;
	cfg_err(c, n,
		"expected an https:// URL with a path (a Client ID Metadata Document), got %s",
		cfg_got(n, tmp));
	return -EINVAL;
}

/* A scope token (RFC 6749 3.3): printable ASCII but space, '"' and '\\'. */
int cfg_check_oauth_scope(struct ctx *c, const struct node *n, const char *v)
{
	char tmp[SHOW_LEN + 32];
	size_t i;

	for (i = 0; v[i]; i++)
		if (v[i] <= 0x20 || v[i] >= 0x7f || v[i] == '"' || v[i] == '\\')
			break;
	if (i && !v[i])
		return 0;
	cfg_err(c, n, "expected a scope (printable ASCII, no spaces or quotes), got %s",
		cfg_got(n, tmp));
	return -EINVAL;
}

/* What a client authentication method needs. */
static void check_client_auth(struct ctx *c, const struct node *om,
			      const struct config_mcp_oauth *o)
{
	switch (o->client_auth) {
	case CONFIG_OAUTH_CLIENT_AUTH_BASIC:
	case CONFIG_OAUTH_CLIENT_AUTH_POST:
		if (!o->client_secret || !o->client_id)
			cfg_key_err(c, om, "token_endpoint_auth_method", true,
				    "%s needs client_id and client_secret",
				    o->client_auth == CONFIG_OAUTH_CLIENT_AUTH_BASIC
					    ? "client_secret_basic"
					    : "client_secret_post");
		break;
	case CONFIG_OAUTH_CLIENT_AUTH_PRIVATE_KEY_JWT:
		if (!o->private_key || !o->client_id)
			cfg_key_err(c, om, "token_endpoint_auth_method", true,
				    "private_key_jwt needs client_id and private_key");
		break;
	case CONFIG_OAUTH_CLIENT_AUTH_NONE:
		if (o->client_secret || o->private_key)
			cfg_key_err(
				c, om, "token_endpoint_auth_method", true,
				"none sends no credential: remove client_secret and private_key, "
				"or pick another method");
		break;
	case CONFIG_OAUTH_CLIENT_AUTH_AUTO:
		break;
	}
}

/* A PEM key spans lines, and a log line holds one at most: each line of it that is not a
 * BEGIN/END marker is registered as a secret of its own. */
static void note_pem_secret(struct ctx *c, const struct node *at, const char *pem)
{
	const char *p = pem;

	while (*p) {
		size_t l = strcspn(p, "\r\n");

		if (l >= 16 && strncmp(p, "-----", 5) != 0) {
			char *line = xstrndup(p, l);

			cfg_note_secret(c, at, line);
			free(line);
		}
		p += l;
		while (*p == '\r' || *p == '\n')
			p++;
	}
}

void cfg_mcp_auth_check(struct ctx *c, const struct node *map, struct config_mcp_server *s)
{
	const struct node *om = cfg_map_get(map, "oauth");
	const struct config_mcp_oauth *o = &s->oauth;
	size_t len;

	if (s->auth != CONFIG_MCP_AUTH_OAUTH) {
		if (om)
			cfg_key_err(c, map, "oauth", true,
				    "oauth: applies only with 'auth: oauth'; add it or remove this "
				    "block");
		return;
	}
	/* A stdio server takes its credentials from its environment (the MCP authorization spec
	 * is for HTTP): Hermes' entry still loads, the key does nothing, and the warning says so.
	 */
	if (!s->url) {
		cfg_key_err(c, map, "auth", false,
			    "ignored: auth: oauth applies only to servers with a url; a command "
			    "server takes its credentials from env");
		s->auth = CONFIG_MCP_AUTH_NONE;
		return;
	}
	if (!om)
		return;
	if (o->private_key)
		note_pem_secret(c, cfg_map_get(om, "private_key"), o->private_key);
	len = cfg_path_key(c, "oauth");
	if ((o->client_secret || o->private_key) && !o->client_id)
		cfg_key_err(c, om, o->client_secret ? "client_secret" : "private_key", true,
			    "needs client_id: a secret belongs to a pre-registered client");
	check_client_auth(c, om, o);
	if (o->grant == CONFIG_OAUTH_GRANT_CLIENT_CREDENTIALS && !o->client_secret &&
	    !o->private_key)
		cfg_key_err(c, om, "grant", true,
			    "client_credentials needs client_id with client_secret or private_key");
	if (o->grant == CONFIG_OAUTH_GRANT_JWT_BEARER && !o->assertion &&
	    !(o->idp_token_endpoint && o->id_token && o->client_id))
		cfg_key_err(c, om, "grant", true,
			    "the jwt-bearer grant needs assertion (normally `os.environ/NAME`), or "
			    "idp_token_endpoint, id_token and client_id (cross-app access)");
	if ((o->idp_token_endpoint || o->id_token) && o->grant != CONFIG_OAUTH_GRANT_JWT_BEARER)
		cfg_key_err(c, om, o->id_token ? "id_token" : "idp_token_endpoint", true,
			    "applies only to grant: urn:ietf:params:oauth:grant-type:jwt-bearer");
	if (o->grant != CONFIG_OAUTH_GRANT_JWT_BEARER && o->assertion)
		cfg_key_err(c, om, "assertion", true,
			    "applies only to grant: urn:ietf:params:oauth:grant-type:jwt-bearer");
	cfg_path_pop(c, len);
}

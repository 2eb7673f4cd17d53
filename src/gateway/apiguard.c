/* apiguard: Host, Origin and Content-Type checks of the gateway's API routes, and a chat's
 * session source (an API client's, or the owner's CLI's; see apiguard.h).
 *
 * The decisions are pure functions over header values, unit-tested; apiguard_check reads the
 * headers and answers a refusal in OpenAI's error shape. The Host check holds with and without
 * api.key: a key stops a page that does not know it, the Host check stops a rebinding page
 * whatever the config. Rejected: a CORS answer (the API has no browser clients to serve) and
 * checking in httpd.c (the router's OpenAI routes have clients of their own to keep).
 */
#include "gateway/apiguard.h"
#include "core/config.h"
#include "core/netaddr.h"
#include "net/httpd.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool wildcard(const char *h)
{
	return h[0] == '\0' || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0;
}

bool apiguard_host_ok(const struct config_api *api, const char *host)
{
	char h[NETADDR_HOST_MAX + 1];
	size_t i;

	if (!host || !netaddr_host_part(host, h, sizeof(h)))
		return false;
	if (netaddr_host_loopback(h))
		return true;
	if (api->listen.host && !wildcard(api->listen.host) && strcasecmp(h, api->listen.host) == 0)
		return true;
	for (i = 0; i < api->n_allowed_hosts; i++)
		if (strcmp(api->allowed_hosts[i], "*") == 0 ||
		    strcasecmp(api->allowed_hosts[i], h) == 0)
			return true;
	return false;
}

bool apiguard_origin_ok(const char *origin, const char *host)
{
	const char *rest;

	if (!origin)
		return true;
	if (!host)
		return false;
	if (strncasecmp(origin, "http://", 7) == 0)
		rest = origin + 7;
	else if (strncasecmp(origin, "https://", 8) == 0)
		rest = origin + 8;
	else
		return false; /* "null" (a sandboxed frame, a file:// page) or another scheme */
	return strcasecmp(rest, host) == 0;
}

bool apiguard_json_type(const char *content_type)
{
	static const char want[] = "application/json";
	const char *p = content_type;

	if (!p)
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, want, sizeof(want) - 1) != 0)
		return false;
	p += sizeof(want) - 1;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\0' || *p == ';';
}

bool apiguard_check(const struct config_api *api, struct httpd_req *req)
{
	const char *host = httpd_header(req, "Host"), *origin = httpd_header(req, "Origin");
	char msg[384];

	if (!apiguard_host_ok(api, host)) {
		snprintf(msg, sizeof(msg),
			 "Host '%.64s' does not name this server: use the address of api.listen, "
			 "localhost, or a name listed in api.allowed_hosts",
			 host ? host : "");
		httpd_reply_error(req, 403, "permission_error", msg);
		return false;
	}
	if (!apiguard_origin_ok(origin, host)) {
		snprintf(msg, sizeof(msg),
			 "cross-origin request refused (Origin '%.64s'): the API serves no web "
			 "pages",
			 origin);
		httpd_reply_error(req, 403, "permission_error", msg);
		return false;
	}
	if (httpd_method(req) == HTTPD_POST &&
	    !apiguard_json_type(httpd_header(req, "Content-Type"))) {
		httpd_reply_error(req, 415, "invalid_request_error",
				  "the body must be JSON: send Content-Type: application/json");
		return false;
	}
	return true;
}

bool apiguard_owner_cli(const char *client, const char *key)
{
	return key && *key && client && strcmp(client, "cli") == 0;
}

bool apiguard_session_source(const char *name, size_t max, bool owner_cli, unsigned long long n,
			     char *out, size_t len)
{
	const char *prefix = owner_cli ? "cli:" : "api:";

	if (!name || !*name || strlen(name) > max) {
		snprintf(out, len, "%s~%llu", prefix, n);
		return false;
	}
	snprintf(out, len, "%s%s", prefix, name);
	for (char *p = out + 4; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-@", *p))
			*p = '_';
	return true;
}

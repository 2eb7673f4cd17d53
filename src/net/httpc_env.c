/* httpc_env: what the environment says about where httpc's connections go: the trust anchors
 * for TLS (CURL_CA_BUNDLE, SSL_CERT_FILE, SSL_CERT_DIR) and the proxy variables, each read
 * once and handed to every easy handle, and whether the plain http:// path must leave a
 * request to curl because a proxy is set. It opens no connection and parses no URL: the
 * request (httpc.c) calls it while it sets up an easy handle, the plain path's choice
 * (httpc_head.c) asks httpc_http_proxied(). */
#include "net/httpc_int.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Trust anchors: the CA bundle compiled into curl (/etc/ssl/certs/ca-certificates.crt) unless
 * the environment names others, as the curl tool and OpenSSL read it: CURL_CA_BUNDLE, else
 * SSL_CERT_FILE, for a bundle file; SSL_CERT_DIR for a hashed directory. A cluster with its own
 * CA (an in-cluster model server, a corporate proxy) sets one of them. Read once: the
 * environment does not change while we run, and Landlock allows reading these paths. */
void httpc_set_trust(CURL *easy)
{
	static bool read;
	static const char *file, *dir;

	if (!read) {
		file = getenv("CURL_CA_BUNDLE");
		if (!file || !*file)
			file = getenv("SSL_CERT_FILE");
		dir = getenv("SSL_CERT_DIR");
		read = true;
	}
	if (file && *file)
		curl_easy_setopt(easy, CURLOPT_CAINFO, file);
	if (dir && *dir)
		curl_easy_setopt(easy, CURLOPT_CAPATH, dir);
}

/* The proxy variables, read once the way curl reads them on every transfer (five getenv
 * calls, each a scan of the whole environment: 8k instructions a request): no_proxy, else
 * NO_PROXY; for http only the lower-case http_proxy (curl ignores HTTP_PROXY, which a CGI
 * client could set through a Proxy: header), for https https_proxy, else HTTPS_PROXY; then
 * all_proxy, else ALL_PROXY. An empty variable counts as unset, as in curl_getenv. Handed to
 * curl as CURLOPT_PROXY and CURLOPT_NOPROXY, which it then applies with the same rules (the
 * host in no_proxy: no proxy; "" : none), without looking itself. */
static struct {
	bool read;
	char *no_proxy, *http_proxy, *https_proxy; /* NULL = none */
	bool upper_http_proxy; /* HTTP_PROXY is set: curl ignores it, the plain path leaves it to
				  curl */
} env;

static const char *env_or(const char *a, const char *b)
{
	const char *v = a ? getenv(a) : NULL;

	if (v && *v)
		return v;
	v = b ? getenv(b) : NULL;
	return v && *v ? v : NULL;
}

static char *env_dup_or(const char *a, const char *b, const char *fallback)
{
	const char *v = env_or(a, b);

	v = v ? v : fallback;
	return v ? xstrdup(v) : NULL;
}

void httpc_env_changed(void)
{
	free(env.no_proxy);
	free(env.http_proxy);
	free(env.https_proxy);
	memset(&env, 0, sizeof(env));
}

static void load_env(void)
{
	const char *all;

	if (env.read)
		return;
	all = env_or("all_proxy", "ALL_PROXY");
	env.no_proxy = env_dup_or("no_proxy", "NO_PROXY", NULL);
	env.http_proxy = env_dup_or("http_proxy", NULL, all);
	env.https_proxy = env_dup_or("https_proxy", "HTTPS_PROXY", all);
	env.upper_http_proxy = env_or("HTTP_PROXY", NULL) != NULL;
	env.read = true;
}

void httpc_set_proxy(CURL *easy, const char *url)
{
	const char *proxy;

	load_env();
	proxy = strncmp(url, "https:", 6) == 0 ? env.https_proxy : env.http_proxy;
	curl_easy_setopt(easy, CURLOPT_PROXY, proxy ? proxy : "");
	curl_easy_setopt(easy, CURLOPT_NOPROXY, env.no_proxy ? env.no_proxy : "");
}

bool httpc_http_proxied(void)
{
	load_env();
	return env.http_proxy || env.upper_http_proxy;
}

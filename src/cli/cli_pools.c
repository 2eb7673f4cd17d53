/* cli_pools: `hermetic pools`. One GET on a private loop (10 s, 1 MiB at most) to the router
 * named by the config (router.listen, the master key), else to its gateway (api.listen,
 * api.key), then the answer of router_pools_json() as a table. A wildcard listen address
 * (0.0.0.0, ::) is asked on loopback. Rejected: reading state.db (the pools live in the
 * running process's memory only).
 */
#include "cli/cli_pools.h"
#include "core/config.h"
#include "core/json.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/httpc.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANSWER_CAP (1024 * 1024)
#define TIMEOUT_MS 10000

static const char *const classes[] = {"interactive", "api", "hook", "scheduled", "background"};

struct ask {
	struct loop *loop;
	long status;
	enum httpc_result res;
	char *body, *error;
};

static void on_done(struct httpc_req *req, void *arg)
{
	struct ask *a = arg;
	size_t len;
	const char *body = httpc_body(req, &len);

	a->res = httpc_result(req);
	a->status = httpc_status(req);
	a->body = xstrndup(body, len);
	a->error = xstrdup(httpc_error(req));
	loop_stop(a->loop);
}

/* GET http://<listen><path> with the bearer key (NULL = none) into a. 0, or -1. */
static int get(const struct config_listen *l, const char *path, const char *key, struct ask *a)
{
	const char *host = l->host;
	char *url, *auth = NULL;
	const char *headers[2] = {NULL, NULL};
	struct httpc_opts o = {0};
	int rc;

	if (strcmp(host, "0.0.0.0") == 0 || !*host)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "::1";
	url = strchr(host, ':') ? xasprintf("http://[%s]:%d%s", host, l->port, path)
				: xasprintf("http://%s:%d%s", host, l->port, path);
	if (key) {
		auth = xasprintf("Authorization: Bearer %s", key);
		headers[0] = auth;
	}
	o.url = url;
	o.headers = headers;
	o.timeout_ms = TIMEOUT_MS;
	o.max_response_bytes = ANSWER_CAP;
	memset(a, 0, sizeof(*a));
	a->loop = loop_create();
	rc = a->loop ? httpc_start(a->loop, &o, on_done, a, NULL) : -1;
	if (rc == 0)
		loop_run(a->loop);
	loop_destroy(a->loop);
	free(url);
	free(auth);
	return rc < 0 ? -1 : 0;
}

static void ask_finish(struct ask *a)
{
	free(a->body);
	free(a->error);
}

static double num(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* "-" for 0 (no limit, nothing learned), else the number. */
static const char *or_dash(double v, char *buf, size_t len)
{
	if (v <= 0)
		return "-";
	snprintf(buf, len, "%.0f", v);
	return buf;
}

static void print_pool(const cJSON *p)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
	const cJSON *q = cJSON_GetObjectItemCaseSensitive(p, "queue");
	const cJSON *w = cJSON_GetObjectItemCaseSensitive(p, "waits");
	char a[32], b[32], c[32] = "-";
	bool any = false;

	if (num(p, "learned_tokens_left") >= 0 &&
	    cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(p, "learned_tokens_left")))
		snprintf(c, sizeof(c), "%.0f", num(p, "learned_tokens_left"));
	printf("%-24s %8s %6s %8.0f %8.0f %9.0f %8s %7.1f\n",
	       cJSON_IsString(name) ? name->valuestring : "?", or_dash(num(p, "tpm"), a, sizeof(a)),
	       or_dash(num(p, "rpm"), b, sizeof(b)), num(p, "used_tokens"),
	       num(p, "reserved_tokens"), num(p, "in_flight"), c, num(p, "blocked_s"));
	printf("  queue:");
	for (size_t i = 0; i < ARRAY_LEN(classes); i++)
		printf(" %s %.0f", classes[i], num(q, classes[i]));
	printf("\n  waits:");
	for (size_t i = 0; i < ARRAY_LEN(classes); i++) {
		const cJSON *one = cJSON_GetObjectItemCaseSensitive(w, classes[i]);

		if (num(one, "count") <= 0)
			continue;
		printf(" %s %.0f (total %.1f s, max %.1f s, deferred %.0f);", classes[i],
		       num(one, "count"), num(one, "total_s"), num(one, "max_s"),
		       num(one, "deferred"));
		any = true;
	}
	printf("%s\n", any ? "" : " none yet");
}

static int print_answer(const char *who, const struct config_listen *l, const struct ask *a)
{
	cJSON *root = json_parse(a->body, strlen(a->body), 0, NULL), *pools, *p;

	pools = cJSON_GetObjectItemCaseSensitive(root, "pools");
	if (!cJSON_IsArray(pools)) {
		fprintf(stderr, "hermetic: the %s on %s answered something other than pools\n", who,
			l->addr);
		cJSON_Delete(root);
		return 1;
	}
	printf("%s on %s\n", who, l->addr);
	if (cJSON_GetArraySize(pools) == 0)
		printf("no rate pools: set rate_pools (or a deployment's tpm/rpm); "
		       "docs/pools.md\n");
	else
		printf("%-24s %8s %6s %8s %8s %9s %8s %7s\n", "POOL", "TPM", "RPM", "USED",
		       "RESERVED", "IN_FLIGHT", "LEFT", "BLOCKED");
	cJSON_ArrayForEach(p, pools) print_pool(p);
	cJSON_Delete(root);
	return 0;
}

int cli_pools(const struct config *cfg)
{
	struct ask a;
	int rc;

	if (get(&cfg->router.listen, "/pools", cfg->general_settings.master_key, &a) == 0 &&
	    a.res == HTTPC_OK && a.status != 404) {
		rc = a.status == 200 ? print_answer("router", &cfg->router.listen, &a) : 1;
		if (a.status != 200)
			fprintf(stderr, "hermetic: the router on %s answered HTTP %ld to /pools\n",
				cfg->router.listen.addr, a.status);
		ask_finish(&a);
		return rc;
	}
	ask_finish(&a);
	if (get(&cfg->api.listen, "/v1/pools", cfg->api.key, &a) < 0 || a.res != HTTPC_OK) {
		fprintf(stderr,
			"hermetic: neither a router on %s nor a gateway on %s answered (%s); is "
			"one running with this config?\n",
			cfg->router.listen.addr, cfg->api.listen.addr, a.error ? a.error : "-");
		ask_finish(&a);
		return 1;
	}
	rc = a.status == 200 ? print_answer("gateway", &cfg->api.listen, &a) : 1;
	if (a.status != 200)
		fprintf(stderr, "hermetic: the gateway on %s answered HTTP %ld to /v1/pools\n",
			cfg->api.listen.addr, a.status);
	ask_finish(&a);
	return rc;
}

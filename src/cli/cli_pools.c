/* cli_pools: `hermetic pools`. One GET on a private loop (10 s, 1 MiB at most) to the router
 * named by the config (router.listen), else to its gateway (api.listen, api.key), then the
 * answer of router_pools_json() as a table. A wildcard listen address (0.0.0.0, ::) is asked
 * on loopback. The router is asked as its owner, with a credential of the config it runs
 * with: the master key, else (keys: without a master key, where the router lets every
 * declarative key read /pools) the first of keys:; whoever reads the config holds those
 * already, and a caller without one still gets 401. Rejected: reading state.db (the pools
 * live in the running process's memory only); a token file the router writes in its home (a
 * second secret to guard, and useless to an owner on another machine with the same config).
 */
#include "cli/cli_pools.h"
#include "cli/cli_ask.h"
#include "core/config.h"
#include "core/json.h"
#include "core/loop.h"
#include "core/util.h"
#include "net/httpc.h"
#include "router/pool.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANSWER_CAP (1024 * 1024)
#define TIMEOUT_MS 10000

/* GET http://<listen><path> with the bearer key (NULL = none) into a. 0, or -1. */
static int get(const struct config_listen *l, const char *path, const char *key, struct cli_ask *a)
{
	const struct cli_ask_opts o = {
		.key = key, .timeout_ms = TIMEOUT_MS, .max_response_bytes = ANSWER_CAP};

	return cli_ask(l, path, &o, a);
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
	for (int i = 0; i < POOL_CLASSES; i++)
		printf(" %s %.0f", pool_class_name(i), num(q, pool_class_name(i)));
	printf("\n  waits:");
	for (int i = 0; i < POOL_CLASSES; i++) {
		const cJSON *one = cJSON_GetObjectItemCaseSensitive(w, pool_class_name(i));

		if (num(one, "count") <= 0)
			continue;
		printf(" %s %.0f (total %.1f s, max %.1f s, deferred %.0f);", pool_class_name(i),
		       num(one, "count"), num(one, "total_s"), num(one, "max_s"),
		       num(one, "deferred"));
		any = true;
	}
	printf("%s\n", any ? "" : " none yet");
	if (num(p, "tpm") > 0) {
		printf("  interactive: %.0f tokens in the last 60 s, peak %.0f in the last hour; "
		       "reserve %.0f\n",
		       num(p, "interactive_tokens"), num(p, "interactive_peak_tokens"),
		       num(p, "reserve_tokens"));
		if (num(p, "interactive_peak_tokens") > num(p, "reserve_tokens"))
			printf("  note: the chat's peak is above the interactive reserve: after a "
			       "burst of other work its turns may wait; raise "
			       "priorities.interactive_reserve_pct (docs/pools.md, \"Sizing the "
			       "reserve\")\n");
	}
}

static int print_answer(const char *who, const struct config_listen *l, const struct cli_ask *a)
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

/* The router's owner credential in cfg: the master key, else the first declarative key, else
 * NULL (an open router on loopback). */
static const char *router_owner_key(const struct config *cfg)
{
	if (cfg->general_settings.master_key)
		return cfg->general_settings.master_key;
	return cfg->n_keys ? cfg->keys[0].key : NULL;
}

int cli_pools(const struct config *cfg)
{
	struct cli_ask a;
	int rc;

	if (get(&cfg->router.listen, "/pools", router_owner_key(cfg), &a) == 0 &&
	    a.res == HTTPC_OK && a.status != 404) {
		rc = a.status == 200 ? print_answer("router", &cfg->router.listen, &a) : 1;
		if (a.status != 200)
			fprintf(stderr,
				"hermetic: the router on %s answered HTTP %ld to /pools%s\n",
				cfg->router.listen.addr, a.status,
				a.status == 401 || a.status == 403
					? " (is it running with this config? its master key, or "
					  "its "
					  "first keys: entry without one, is what is sent)"
					: "");
		cli_ask_finish(&a);
		return rc;
	}
	cli_ask_finish(&a);
	if (get(&cfg->api.listen, "/v1/pools", cfg->api.key, &a) < 0 || a.res != HTTPC_OK) {
		fprintf(stderr,
			"hermetic: neither a router on %s nor a gateway on %s answered (%s); is "
			"one running with this config?\n",
			cfg->router.listen.addr, cfg->api.listen.addr, a.error ? a.error : "-");
		cli_ask_finish(&a);
		return 1;
	}
	rc = a.status == 200 ? print_answer("gateway", &cfg->api.listen, &a) : 1;
	if (a.status != 200)
		fprintf(stderr, "hermetic: the gateway on %s answered HTTP %ld to /v1/pools\n",
			cfg->api.listen.addr, a.status);
	cli_ask_finish(&a);
	return rc;
}

/* balance: the providers' own account endpoints. OpenRouter's GET /key answers
 * {"data": {"limit": 10.0 | null, "limit_remaining": 7.5 | null, "limit_reset": "monthly" |
 * null, "usage": 2.5, "usage_daily": 0.1, ...}} (USD floats); DeepSeek's GET /user/balance
 * answers {"is_available": true, "balance_infos": [{"currency": "USD", "total_balance":
 * "110.00", ...}]} with the amounts as strings. Both take the API key as a Bearer token.
 *
 * The URL is the deployment's api_base with the path appended: OpenRouter's api_base already
 * ends in /api/v1; DeepSeek's (https://api.deepseek.com/v1 by default) loses a trailing /v1,
 * because /user/balance sits at the root.
 */
#include "router/balance.h"
#include "core/config.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "core/util.h"
#include "net/httpc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FETCH_TIMEOUT_MS 15000
#define ANSWER_MAX	 (64 * 1024)
#define ERROR_EXCERPT	 200

const char *balance_provider_name(enum balance_provider p)
{
	return p == BALANCE_OPENROUTER ? "openrouter" : "deepseek";
}

static bool same_account(const struct balance_account *a, enum balance_provider p,
			 const struct config_litellm_params *lp)
{
	return a->provider == p && strcmp(a->api_base, lp->api_base) == 0 &&
	       strcmp(a->api_key, lp->api_key) == 0;
}

size_t balance_accounts(const struct config *cfg, struct balance_account *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_models && n < max; i++) {
		const struct config_model *m = &cfg->models[i];
		const struct config_litellm_params *lp = &m->litellm_params;
		enum balance_provider p;
		size_t j;

		if (strcmp(m->provider, "openrouter") == 0)
			p = BALANCE_OPENROUTER;
		else if (strcmp(m->provider, "deepseek") == 0)
			p = BALANCE_DEEPSEEK;
		else
			continue;
		if (!lp->api_key || !*lp->api_key)
			continue;
		for (j = 0; j < n && !same_account(&out[j], p, lp); j++)
			;
		if (j < n)
			continue;
		out[n++] = (struct balance_account){p, lp->api_base, lp->api_key, m->model_name};
	}
	return n;
}

static bool number_or_null(const cJSON *v, double *out, bool *present)
{
	*present = cJSON_IsNumber(v) && isfinite(v->valuedouble);
	if (*present)
		*out = v->valuedouble;
	return *present || !v || cJSON_IsNull(v);
}

int balance_parse_openrouter(const char *body, size_t len, struct balance *out)
{
	cJSON *root = json_exact_parse(body, len);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "data");
	const cJSON *reset = cJSON_GetObjectItemCaseSensitive(d, "limit_reset");
	bool has_usage = false, has_daily = false;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	out->cny = -1;
	out->usage_daily_usd = -1;
	out->available = true;
	if (!cJSON_IsObject(d))
		goto out;
	if (!number_or_null(cJSON_GetObjectItemCaseSensitive(d, "limit"), &out->limit_usd,
			    &out->has_limit) ||
	    !number_or_null(cJSON_GetObjectItemCaseSensitive(d, "limit_remaining"),
			    &out->remaining_usd, &out->has_remaining) ||
	    !number_or_null(cJSON_GetObjectItemCaseSensitive(d, "usage"), &out->usage_usd,
			    &has_usage) ||
	    !number_or_null(cJSON_GetObjectItemCaseSensitive(d, "usage_daily"),
			    &out->usage_daily_usd, &has_daily))
		goto out;
	if (!has_daily)
		out->usage_daily_usd = -1;
	/* A key without a limit has nothing "remaining" to watch. */
	out->has_remaining = out->has_remaining && out->has_limit;
	if (cJSON_IsString(reset))
		snprintf(out->limit_reset, sizeof(out->limit_reset), "%s", reset->valuestring);
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

static bool parse_amount(const cJSON *v, double *out)
{
	char *end;

	if (cJSON_IsNumber(v)) {
		*out = v->valuedouble;
		return isfinite(*out);
	}
	if (!cJSON_IsString(v) || !*v->valuestring)
		return false;
	*out = strtod(v->valuestring, &end);
	return *end == '\0' && isfinite(*out);
}

int balance_parse_deepseek(const char *body, size_t len, struct balance *out)
{
	cJSON *root = json_exact_parse(body, len);
	const cJSON *avail = cJSON_GetObjectItemCaseSensitive(root, "is_available");
	const cJSON *infos = cJSON_GetObjectItemCaseSensitive(root, "balance_infos"), *info;
	int rc = -EINVAL;

	memset(out, 0, sizeof(*out));
	out->cny = -1;
	out->usage_daily_usd = -1;
	if (!cJSON_IsBool(avail) || !cJSON_IsArray(infos))
		goto out;
	out->available = cJSON_IsTrue(avail);
	cJSON_ArrayForEach(info, infos)
	{
		const cJSON *cur = cJSON_GetObjectItemCaseSensitive(info, "currency");
		double v;

		if (!cJSON_IsString(cur) ||
		    !parse_amount(cJSON_GetObjectItemCaseSensitive(info, "total_balance"), &v))
			goto out;
		if (strcmp(cur->valuestring, "USD") == 0) {
			out->remaining_usd = v;
			out->has_remaining = true;
		} else if (strcmp(cur->valuestring, "CNY") == 0) {
			out->cny = v;
		}
	}
	rc = 0;
out:
	cJSON_Delete(root);
	return rc;
}

struct fetch {
	enum balance_provider provider;
	balance_done_cb done;
	void *arg;
};

/* The provider's error text ({"error": {"message": ...}} for both), redacted, then cut. */
static char *error_text(struct httpc_req *req)
{
	size_t len;
	const char *body = httpc_body(req, &len);
	cJSON *root = json_exact_parse(body, len);
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON *m = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "message") : e;
	char *clean = log_redact(cJSON_IsString(m) ? m->valuestring : "no error message");
	char *s = xasprintf("HTTP %ld: %.*s", httpc_status(req), ERROR_EXCERPT, clean);

	free(clean);
	cJSON_Delete(root);
	return s;
}

static void on_done(struct httpc_req *req, void *arg)
{
	struct fetch *f = arg;
	struct balance b;
	size_t len;
	const char *body = httpc_body(req, &len);
	char *err = NULL;
	int rc;

	if (httpc_result(req) != HTTPC_OK) {
		err = xstrdup(httpc_error(req));
	} else if (httpc_status(req) != 200) {
		err = error_text(req);
	} else {
		rc = f->provider == BALANCE_OPENROUTER ? balance_parse_openrouter(body, len, &b)
						       : balance_parse_deepseek(body, len, &b);
		if (rc < 0)
			err = xasprintf("the answer is not %s's documented JSON",
					balance_provider_name(f->provider));
	}
	f->done(!err, err ? NULL : &b, err, f->arg);
	free(err);
	free(f);
}

int balance_fetch(struct loop *l, const struct balance_account *a, balance_done_cb done, void *arg)
{
	struct fetch *f;
	size_t base_len = strlen(a->api_base);
	const char *headers[2] = {NULL, NULL};
	struct httpc_opts o = {0};
	char *url, *auth;
	int rc;

	if (!a->api_key || !*a->api_key)
		return -EINVAL;
	while (base_len && a->api_base[base_len - 1] == '/')
		base_len--;
	if (a->provider == BALANCE_DEEPSEEK && base_len >= 3 &&
	    strncmp(a->api_base + base_len - 3, "/v1", 3) == 0)
		base_len -= 3;
	url = xasprintf("%.*s%s", (int)base_len, a->api_base,
			a->provider == BALANCE_OPENROUTER ? "/key" : "/user/balance");
	auth = xasprintf("Authorization: Bearer %s", a->api_key);
	headers[0] = auth;
	o.url = url;
	o.headers = headers;
	o.timeout_ms = FETCH_TIMEOUT_MS;
	o.connect_timeout_ms = FETCH_TIMEOUT_MS / 2;
	o.max_response_bytes = ANSWER_MAX;
	f = xcalloc(1, sizeof(*f));
	f->provider = a->provider;
	f->done = done;
	f->arg = arg;
	rc = httpc_start(l, &o, on_done, f, NULL);
	if (rc < 0)
		free(f);
	free(auth);
	free(url);
	return rc < 0 ? -EINVAL : 0;
}

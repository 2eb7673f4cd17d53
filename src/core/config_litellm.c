/* config_litellm: a deployment's litellm_params, the option table of LiteLLM's model_list[]
 * entries' call settings, and its one type of its own: T_JSON, a request parameter kept as
 * JSON text (`temperature: 0.2`, `extra_body: {chat_template_kwargs: {...}}`) that the router
 * merges into each request (router_params.c). Split from config_table.c, which was at its size.
 * Every T_JSON key of a deployment goes into one JSON object, `request_params`, in file order;
 * a plain YAML scalar that reads as a JSON number, null or a boolean (YAML 1.1's, as PyYAML
 * reads them for LiteLLM: True, yes, Off...) is that, anything else a string
 * (`os.environ/NAME` resolved, as LiteLLM resolves its litellm_params).
 * Rejected: a string per parameter (numbers and mappings would need re-parsing per call), and
 * a cJSON tree in the config (a cJSON does not cross a module boundary).
 */
#include "core/config.h"
#include "core/config_int.h"
#include "core/util.h"

#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FLD(s, f) .off = offsetof(struct s, f)
#define CNT(s, f) .n_off = offsetof(struct s, f)
#define OPTS(v)	  .opts = v, .n_opts = ARRAY_LEN(v)
#define PARAM	  "sent with every call to this deployment; the request's own value wins"

/* ------------------------------------------------------------------------------------------
 * T_JSON
 */

#define NUM_MAX 64 /* a longer plain scalar is kept as a string */

/* Appends s[0..len) to b without YAML 1.1's digit separators ('_'). */
static void put_digits(struct buf *b, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != '_')
			buf_append(b, s + i, 1);
}

static size_t span(const char *s, const char *set)
{
	return strspn(s, set);
}

/* An int in base 2, 8 or 16 (YAML 1.1's 0b, 0 and 0x forms) as a decimal JSON number. */
static bool put_based(struct buf *b, bool neg, const char *s, int base)
{
	unsigned long long v = 0;
	bool any = false;

	for (; *s; s++) {
		int d;

		if (*s == '_')
			continue;
		d = *s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10;
		if (v > (ULLONG_MAX - (unsigned)d) / (unsigned)base)
			return false; /* past 64 bits: kept as the string it was written as */
		v = v * (unsigned)base + (unsigned)d;
		any = true;
	}
	if (!any)
		return false;
	buf_printf(b, "%s%llu", neg && v ? "-" : "", v);
	return true;
}

/* A plain scalar PyYAML (YAML 1.1, what LiteLLM's config is read with) resolves to an int or a
 * float, appended to out as the JSON number LiteLLM would send; false (out untouched) for
 * anything else, which is then a string: `1e5` and `1.0e5` (no dot, or an exponent without its
 * sign), `09`, `-.5`, `.inf` and `.nan` among them (PyYAML's implicit resolvers, resolver.py).
 * Sexagesimal `1:30` (= 90) is an int too. */
static bool yaml11_number(const char *s, struct buf *out)
{
	size_t len = strlen(s), n, i;
	bool neg = false;
	const char *p = s;
	struct buf b;
	bool ok = false;

	if (!len || len > NUM_MAX)
		return false;
	buf_init(&b, 0);
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (p[0] == '0' && p[1] == 'b' && p[2 + span(p + 2, "01_")] == '\0') {
		ok = put_based(&b, neg, p + 2, 2);
	} else if (p[0] == '0' && p[1] == 'x' &&
		   p[2 + span(p + 2, "0123456789abcdefABCDEF_")] == '\0') {
		ok = put_based(&b, neg, p + 2, 16);
	} else if (*p >= '1' && *p <= '9' && strchr(p, ':') && !strchr(p, '.')) {
		/* [1-9][0-9_]*(:[0-5]?[0-9])+ */
		long long v = 0;

		n = span(p, "0123456789_");
		for (i = 0; i < n; i++)
			if (p[i] != '_' && v < 1000000000000LL)
				v = v * 10 + (p[i] - '0');
		p += n;
		ok = *p == ':';
		while (ok && *p == ':') {
			n = span(++p, "0123456789");
			ok = (n == 1 || (n == 2 && p[0] <= '5')) && v < 1000000000000LL;
			v = v * 60 + (n == 2 ? (p[0] - '0') * 10 + p[1] - '0' : p[0] - '0');
			p += n;
		}
		ok = ok && *p == '\0';
		if (ok)
			buf_printf(&b, "%s%lld", neg && v ? "-" : "", v);
	} else if (*p >= '0' && *p <= '9') {
		n = span(p, "0123456789_");
		if (p[n] == '\0') {
			if (p[0] == '0' && n > 1)
				/* 0[0-7_]+: octal; `09` matches nothing and stays a string */
				ok = p[span(p, "01234567_")] == '\0' &&
				     put_based(&b, neg, p + 1, 8);
			else {
				ok = true;
				if (neg)
					buf_puts(&b, "-");
				put_digits(&b, p, n);
			}
		} else if (p[n] == '.') {
			/* [0-9][0-9_]*\.[0-9_]*([eE][-+][0-9]+)? */
			const char *frac = p + n + 1, *e;
			size_t nf = span(frac, "0123456789_"), lead = span(p, "0_");

			e = frac + nf;
			ok = *e == '\0' ||
			     ((*e == 'e' || *e == 'E') && (e[1] == '+' || e[1] == '-') &&
			      e[2 + span(e + 2, "0123456789")] == '\0' && e[2] != '\0');
			if (ok) {
				if (neg)
					buf_puts(&b, "-");
				if (lead >= n)
					buf_puts(&b, "0");
				else
					put_digits(&b, p + lead, n - lead);
				buf_puts(&b, ".");
				if (span(frac, "_") == nf) /* no digit after the dot */
					buf_puts(&b, "0");
				put_digits(&b, frac, nf);
				buf_puts(&b, e);
			}
		}
	} else if (*p == '.' && !neg && p == s && p[1] >= '0' && p[1] <= '9') {
		/* \.[0-9_]+([eE][-+][0-9]+)?: no sign in PyYAML's pattern */
		const char *e = p + 1 + span(p + 1, "0123456789_");

		ok = *e == '\0' || ((*e == 'e' || *e == 'E') && (e[1] == '+' || e[1] == '-') &&
				    e[2 + span(e + 2, "0123456789")] == '\0' && e[2] != '\0');
		if (ok) {
			buf_puts(&b, "0.");
			put_digits(&b, p + 1, (size_t)(e - p - 1));
			buf_puts(&b, e);
		}
	}
	if (ok)
		buf_append(out, b.data, b.len);
	buf_finish(&b);
	return ok;
}

/* PyYAML's (YAML 1.1) booleans, as LiteLLM reads them: 1 true, 0 false, -1 neither. */
static int yaml11_bool(const char *s)
{
	static const char *const words[] = {"true", "True", "TRUE", "yes",   "Yes",   "YES",
					    "on",   "On",   "ON",   "false", "False", "FALSE",
					    "no",   "No",   "NO",   "off",   "Off",   "OFF"};

	for (size_t i = 0; i < ARRAY_LEN(words); i++)
		if (strcmp(s, words[i]) == 0)
			return i < 9;
	return -1;
}

static void scalar_json(struct ctx *c, const struct node *n, struct buf *out)
{
	const char *s = n->text, *v;

	if (n->plain && (cfg_is_null(n) || yaml11_bool(s) >= 0)) {
		buf_puts(out, cfg_is_null(n) ? "null" : yaml11_bool(s) == 1 ? "true" : "false");
		return;
	}
	if (n->plain && yaml11_number(s, out))
		return;
	if (strncmp(s, "os.environ/", 11) == 0) {
		v = cfg_getenv(c, s + 11);
		if (!v) {
			buf_puts(out, "null");
			return;
		}
		s = v;
	}
	buf_json_str(out, s, strlen(s));
}

static void node_json(struct ctx *c, const struct node *n, struct buf *out, int depth)
{
	size_t i;

	if (depth > 32) {
		buf_puts(out, "null");
		return;
	}
	if (n->type == N_SCALAR) {
		scalar_json(c, n, out);
		return;
	}
	buf_puts(out, n->type == N_MAP ? "{" : "[");
	for (i = 0; i < n->n_kids; i++) {
		if (i)
			buf_puts(out, n->type == N_MAP && i % 2 ? ":" : ",");
		if (n->type == N_MAP && i % 2 == 0)
			buf_json_str(out, n->kids[i]->text, strlen(n->kids[i]->text));
		else
			node_json(c, n->kids[i], out, depth + 1);
	}
	buf_puts(out, n->type == N_MAP ? "}" : "]");
}

/* Appends "key": value to the JSON object at the field (made on the first key). */
int cfg_set_json(struct ctx *c, const struct opt *o, const struct node *n, void *obj)
{
	char **field = AT(obj, o->off, char *);
	struct buf b;
	size_t len;
	char tmp[SHOW_LEN + 32];

	if (o->key[0] == 'e' && strcmp(o->key, "extra_body") == 0 && n->type != N_MAP) {
		cfg_err(c, n, "expected a mapping, got %s", cfg_got(n, tmp));
		return -1;
	}
	if (cfg_over_budget(c, n, n->n_kids))
		return -1;
	buf_init(&b, 0);
	if (*field) {
		len = strlen(*field);
		buf_append(&b, *field, len - 1); /* without its '}' */
		buf_puts(&b, ",");
	} else {
		buf_puts(&b, "{");
	}
	buf_json_str(&b, o->key, strlen(o->key));
	buf_puts(&b, ":");
	node_json(c, n, &b, 0);
	buf_puts(&b, "}");
	free(*field);
	*field = xstrdup(buf_str(&b));
	buf_finish(&b);
	return 0;
}

void cfg_clear_json(const struct opt *o, void *obj)
{
	char **field = AT(obj, o->off, char *);

	free(*field);
	*field = NULL;
}

/* ------------------------------------------------------------------------------------------
 * The tables
 */

static const struct choice cache_location_choices[] = {
	{"message", 0, NULL},
	{NULL, 0, NULL},
};

static const struct choice cache_role_choices[] = {
	{"system", CONFIG_CACHE_SYSTEM, NULL},
	{"user", CONFIG_CACHE_USER, NULL},
	{"assistant", CONFIG_CACHE_ASSISTANT, NULL},
	{"tool", CONFIG_CACHE_TOOL, NULL},
	{NULL, 0, NULL},
};

static const struct opt cache_point_opts[] = {
	{"location", T_ENUM, FLD(config_cache_point, location), .def = "message",
	 .choices = cache_location_choices, .text = "where the breakpoint goes: a message"},
	{"role", T_ENUM, FLD(config_cache_point, role), .choices = cache_role_choices,
	 .text = "the last message of this role (when no index is given)"},
	{"index", T_INT, FLD(config_cache_point, index), .def = "0", .min = -1000000,
	 .max = 1000000, .text = "messages[index]; negative counts from the end (-1: the last)"},
};

static const struct table cache_point_table = {
	"cache_control_injection_points",
	"model_list[].litellm_params.cache_control_injection_points[]",
	OPTS(cache_point_opts),
	.size = sizeof(struct config_cache_point),
	.litellm = true,
	.check = cfg_cache_point_check,
	.text = "A prompt-cache breakpoint (`cache_control`) put on every request's message."};

static const struct opt litellm_params_opts[] = {
	{"model", T_STR, FLD(config_litellm_params, model), .flags = F_REQUIRED | F_INACTIVE_ENV,
	 .text = "`<provider>/<id>` (docs/router.md lists the providers) or a bare OpenAI id"},
	{"api_base", T_STR, FLD(config_litellm_params, api_base), .flags = F_INACTIVE_ENV,
	 .text = "the provider's base URL; default: the provider's variable (GROQ_API_BASE...), "
		 "else its public URL; not an http(s) URL = the deployment loads inactive"},
	{"api_key", T_STR, FLD(config_litellm_params, api_key), .flags = F_SECRET | F_SOFT_ENV,
	 .text = "the provider's key, normally `os.environ/NAME`; default: the provider's "
		 "variable (GROQ_API_KEY...)"},
	{"rpm", T_INT, FLD(config_litellm_params, rpm), .def = "0", .min = 0, .max = 1000000000,
	 .flags = F_CLAMP,
	 .text = "requests per minute this deployment takes (not picked when full); 0 = no limit"},
	{"tpm", T_INT, FLD(config_litellm_params, tpm), .def = "0", .min = 0, .max = MAX_I64,
	 .text = "tokens per minute (not picked when full); 0 = no limit"},
	{"rpm_limit", T_INT, FLD(config_litellm_params, rpm), .min = 0, .max = 1000000000,
	 .flags = F_CLAMP, .text = "same as rpm"},
	{"tpm_limit", T_INT, FLD(config_litellm_params, tpm), .min = 0, .max = MAX_I64,
	 .text = "same as tpm"},
	{"max_parallel_requests", T_INT, FLD(config_litellm_params, max_parallel_requests),
	 .def = "0", .min = 0, .max = 100000, .flags = F_CLAMP,
	 .text = "calls in flight to this deployment at once (not picked when full); 0 = "
		 "router_settings.default_max_parallel_requests"},
	{"weight", T_NUM, FLD(config_litellm_params, weight_given), .def = "0", .min = 0,
	 .max = 1000000,
	 .text = "share of simple-shuffle picks, any number (0.7 and 0.3 split 7:3); when any "
		 "deployment of the group has one, one without has none (LiteLLM's); 0 = not set"},
	{"timeout", T_INT, FLD(config_litellm_params, timeout_s), .def = "0", .min = 0,
	 .max = 86400, .text = "seconds for the whole call; 0 = router_settings.timeout",
	 .flags = F_CLAMP},
	{"stream_timeout", T_INT, FLD(config_litellm_params, stream_timeout_s), .def = "0",
	 .min = 0, .max = 86400, .text = "seconds to the first streamed chunk; 0 = timeout",
	 .flags = F_CLAMP},
	/* OpenAI's request parameters: sent with every call to the deployment, the request's
	 * own value winning key by key (LiteLLM's Router._acompletion) */
	{"temperature", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"top_p", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"top_k", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"seed", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"stop", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"n", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"frequency_penalty", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"presence_penalty", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"logit_bias", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"response_format", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"max_completion_tokens", T_JSON, FLD(config_litellm_params, request_params),
	 .text = PARAM},
	{"reasoning_effort", T_JSON, FLD(config_litellm_params, request_params),
	 .text = PARAM " (translated per dialect: gemini's thinkingBudget...)"},
	{"thinking", T_JSON, FLD(config_litellm_params, request_params),
	 .text = PARAM " (Anthropic's; translated per dialect)"},
	{"modalities", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"parallel_tool_calls", T_JSON, FLD(config_litellm_params, request_params), .text = PARAM},
	{"extra_body", T_JSON, FLD(config_litellm_params, request_params),
	 .text = "a mapping whose keys go to the top level of every request body (the request's "
		 "own extra_body, or its own value of a key, wins)"},
	{"max_tokens", T_INT, FLD(config_litellm_params, max_tokens), .def = "0", .min = 0,
	 .max = 10000000,
	 .text = "max_tokens sent when the request has none (under guardrails.max_tokens); 0 = "
		 "not sent"},
	{"num_retries", T_INT, FLD(config_litellm_params, num_retries), .def = "-1", .min = 0,
	 .max = 10, .text = "retries of this deployment; default router_settings.num_retries",
	 .flags = F_CLAMP},
	{"order", T_INT, FLD(config_litellm_params, order), .min = -1000000000, .max = 1000000000,
	 .text = "priority within the group, as LiteLLM's: only the deployments with the lowest "
		 "order that are not cooling down are picked; when the call fails at that order "
		 "(after its retries), the next order is tried, then the fallbacks; unset = none"},
	{"input_cost_per_token", T_NUM, FLD(config_litellm_params, input_cost_per_token),
	 .def = "-1", .min = 0, .max = 1, .text = "USD; LiteLLM's spelling, model_info wins"},
	{"output_cost_per_token", T_NUM, FLD(config_litellm_params, output_cost_per_token),
	 .def = "-1", .min = 0, .max = 1, .text = "USD; LiteLLM's spelling, model_info wins"},
	{"cache_read_input_token_cost", T_NUM,
	 FLD(config_litellm_params, cache_read_input_token_cost), .def = "-1", .min = 0, .max = 1,
	 .text = "USD; LiteLLM's spelling, model_info wins"},
	{"cache_creation_input_token_cost", T_NUM,
	 FLD(config_litellm_params, cache_creation_input_token_cost), .def = "-1", .min = 0,
	 .max = 1, .text = "USD; LiteLLM's spelling, model_info wins"},
	{"cache_control_injection_points", T_LIST, FLD(config_litellm_params, cache_points),
	 CNT(config_litellm_params, n_cache_points), .cap = 4, .table = &cache_point_table,
	 .text = "messages marked as prompt-cache breakpoints (at most 4, Anthropic's limit)"},
	{"extra_headers", T_PAIRS, FLD(config_litellm_params, extra_headers),
	 CNT(config_litellm_params, n_extra_headers), .cap = 32, .check = cfg_check_header_name,
	 .flags = F_SECRET | F_ONELINE | F_SOFT_ENV,
	 .text = "headers added to every upstream request (secret)"},
	{"api_version", T_STR, FLD(config_litellm_params, api_version), .flags = F_ONELINE,
	 .text = "azure: the api-version query; default AZURE_API_VERSION, else 2024-10-21"},
	{"custom_llm_provider", T_STR, FLD(config_litellm_params, custom_llm_provider),
	 .flags = F_ONELINE,
	 .text = "the provider when model has no prefix (then model is sent as written)"},
	{"aws_region_name", T_STR, FLD(config_litellm_params, aws_region_name),
	 .flags = F_ONELINE | F_INACTIVE_ENV,
	 .text = "bedrock: the region; default AWS_REGION, else AWS_DEFAULT_REGION"},
	{"aws_access_key_id", T_STR, FLD(config_litellm_params, aws_access_key_id),
	 .flags = F_SECRET | F_SOFT_ENV, .text = "bedrock: default AWS_ACCESS_KEY_ID"},
	{"aws_secret_access_key", T_STR, FLD(config_litellm_params, aws_secret_access_key),
	 .flags = F_SECRET | F_SOFT_ENV, .text = "bedrock: default AWS_SECRET_ACCESS_KEY"},
	{"aws_session_token", T_STR, FLD(config_litellm_params, aws_session_token),
	 .flags = F_SECRET | F_SOFT_ENV,
	 .text = "bedrock: default AWS_SESSION_TOKEN (temporary credentials)"},
	{"vertex_project", T_STR, FLD(config_litellm_params, vertex_project),
	 .flags = F_ONELINE | F_INACTIVE_ENV,
	 .text = "vertex_ai: the project; default VERTEXAI_PROJECT, else the service account's"},
	{"vertex_location", T_STR, FLD(config_litellm_params, vertex_location),
	 .flags = F_ONELINE | F_INACTIVE_ENV,
	 .text = "vertex_ai: the region (or global); default VERTEXAI_LOCATION, else us-central1"},
	{"vertex_credentials", T_STR, FLD(config_litellm_params, vertex_credentials),
	 .flags = F_SECRET | F_SOFT_ENV,
	 .text = "vertex_ai: a credentials file (service account key, gcloud login), or its "
		 "JSON text; default GOOGLE_APPLICATION_CREDENTIALS, gcloud's login, the metadata "
		 "server"},
	/* LiteLLM's main.py takes vertex_ai_* where vertex_* is not given */
	{"vertex_ai_project", T_STR, FLD(config_litellm_params, vertex_project),
	 .flags = F_ONELINE | F_INACTIVE_ENV, .text = "same as vertex_project"},
	{"vertex_ai_location", T_STR, FLD(config_litellm_params, vertex_location),
	 .flags = F_ONELINE | F_INACTIVE_ENV, .text = "same as vertex_location"},
	{"vertex_ai_credentials", T_STR, FLD(config_litellm_params, vertex_credentials),
	 .flags = F_SECRET | F_SOFT_ENV, .text = "same as vertex_credentials"},
};

/* An order of 0 is an order: unset is told apart by the key's presence, as LiteLLM's None.
 * A weight is any positive number in LiteLLM (simple_shuffle normalises them by their sum):
 * the router's whole shares are thousandths of it, at least 1 when one was given. */
static void litellm_params_check(struct ctx *c, const struct node *map, void *obj)
{
	struct config_litellm_params *p = obj;
	const struct node *v = cfg_map_get(map, "order");

	(void)c;
	if (!v || cfg_is_null(v))
		p->order = CONFIG_ORDER_UNSET;
	p->weight = (int64_t)llround(p->weight_given * 1000.0);
	if (p->weight_given > 0 && p->weight == 0)
		p->weight = 1;
}

const struct table cfg_litellm_params_table = {
	"litellm_params",
	"model_list[].litellm_params",
	OPTS(litellm_params_opts),
	.litellm = true,
	.check = litellm_params_check,
	.text = "How to call one deployment. `default_litellm_params` beside it in the entry is "
		"merged under it (its own keys win), as in LiteLLM."};

/* router_settings.default_litellm_params: the Router's (_update_kwargs_with_default_litellm_params
 * puts each into the request when it lacks it, so they win over a deployment's own). */
#define DEFAULT "sent with every call that has none of its own; over the deployment's"
static const struct opt default_params_opts[] = {
	{"temperature", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"top_p", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"top_k", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"seed", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"stop", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"n", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"frequency_penalty", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"presence_penalty", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"logit_bias", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"response_format", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"max_completion_tokens", T_JSON, FLD(config_default_params, request_params),
	 .text = DEFAULT},
	{"reasoning_effort", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"thinking", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"modalities", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"parallel_tool_calls", T_JSON, FLD(config_default_params, request_params),
	 .text = DEFAULT},
	{"extra_body", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
	{"max_tokens", T_JSON, FLD(config_default_params, request_params), .text = DEFAULT},
};

const struct table cfg_default_params_table = {
	"default_litellm_params", "router_settings.default_litellm_params",
	OPTS(default_params_opts), .litellm = true,
	.text = "LiteLLM's Router defaults: request parameters every call gets unless it has them "
		"(they win over a deployment's own litellm_params, as in LiteLLM)."};

/* router_cost: what an attempt may cost and what it did. Before it goes: its estimate
 * reserved in every capped budget, waiting (polling, within the call's timeout) while calls
 * in flight hold the rest of one. After its HTTP request ends (router_settle): the price from
 * the provider's usage, model_info's prices or an estimate marked as such; the ledger row,
 * the breaker's cost, the tpm window and the spend metric when the provider received the
 * request; and one line of the audit trail for every attempt. When to retry or fall back is
 * router.c's; the ledger and budget totals are router/spend.c's.
 */
#include "router/router_int.h"
#include "core/json.h"
#include "router/lane.h"
#include "router/router.h"
#include "router/breaker.h"
#include "router/policy.h"
#include "core/audit.h"
#include "core/config.h"
#include "net/httpc.h"
#include "core/log.h"
#include "core/metrics.h"
#include "router/spend.h"
#include "core/util.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUDGET_WAIT_MS 50 /* polling for calls in flight to settle */

/* Output tokens the attempt may be billed for: the request's limit (after the clamp), else the
 * model's max_output_tokens, else a default; never more than the model can produce; each of
 * the n choices a chat or completion asks for (OpenAI: 1..128) may take that much. */
int64_t router_output_bound(const struct router_call *c)
{
	return router_output_bound_of(c, c->dep);
}

int64_t router_output_bound_of(const struct router_call *c, const struct deployment *d)
{
	const char *const *keys = router_spec_of(c)->limits;
	enum { N_LIMITS = ARRAY_LEN(router_spec_of(c)->limits) };
	const char *names[N_LIMITS + 1];
	cJSON *found[N_LIMITS + 1];
	const cJSON *choices;
	double n = 0;
	size_t i;

	for (i = 0; i < N_LIMITS; i++)
		names[i] = keys[i];
	names[N_LIMITS] = "n";
	json_members(c->req, names, N_LIMITS + 1, found);
	for (i = 0; i < N_LIMITS && keys[i]; i++) {
		cJSON *v = found[i];

		if (cJSON_IsNumber(v) && v->valuedouble > n)
			n = v->valuedouble;
	}
	choices = found[N_LIMITS];
	return policy_output_bound(n, d->m->model_info.max_output_tokens,
				   SPEND_DEFAULT_OUTPUT_TOKENS) *
	       ((c->route == PROVIDER_CHAT || c->route == PROVIDER_COMPLETIONS) &&
				cJSON_IsNumber(choices) && choices->valuedouble >= 2 &&
				choices->valuedouble <= 128
			? (int64_t)choices->valuedouble
			: 1);
}

/* The deployment's recent mean cost when it has no prices, else -1. */
static double mean_if_unpriced(const struct router_call *c)
{
	const struct config_model_info *mi = &c->dep->m->model_info;
	double mean = -1;

	if (mi->input_cost_per_token > 0 || mi->output_cost_per_token > 0 || !c->r->spend ||
	    spend_deployment_mean(c->r->spend, mi->id, router_now_ms(), &mean) < 0)
		return -1;
	return mean;
}

/* Reserves what the attempt (c->req as it goes upstream, body_len bytes) may cost in every
 * capped budget, so calls in flight count. When they hold the rest of a budget, the attempt
 * waits for them to settle (polling; a settle is at most one call's time away) as long as the
 * call's timeout allows, then decides on what they really cost. Returns 0, or < 0 after
 * arranging the wait or ending the call. */
static int64_t left_ms(const struct router_call *c)
{
	return c->r->cfg->router_settings.timeout_s * 1000 - (now_mono_us() - c->t_start) / 1000;
}

static void wait_for_budget(struct router_call *c)
{
	c->budget_wait = true;
	c->backoff_us += BUDGET_WAIT_MS * 1000;
	router_arm(c, T_BACKOFF, BUDGET_WAIT_MS);
}

/* A waiting call polls with the cheap check and builds its request only once it may go. */
bool router_still_waiting(struct router_call *c)
{
	if (!c->budget_wait)
		return false;
	c->budget_wait = false;
	if (left_ms(c) <= BUDGET_WAIT_MS || spend_check(c->r->spend, c->key_hash, c->who.key,
							router_now_ms(), NULL, 0, NULL) != -EBUSY)
		return false;
	wait_for_budget(c);
	return true;
}

/* A transcription priced per second: the answer's duration, else the caller's, else the
 * upload at 16 kbit/s (2,000 bytes a second: low for speech codecs, so the bound is high). */
static bool per_second(const struct router_call *c)
{
	return c->route == PROVIDER_TRANSCRIPTIONS &&
	       c->dep->m->model_info.input_cost_per_second > 0;
}

static double audio_seconds(const struct router_call *c, bool *estimated)
{
	*estimated = false;
	if (c->audio_s > 0)
		return c->audio_s;
	if (c->audio_hint_s > 0)
		return c->audio_hint_s;
	*estimated = true;
	return (double)c->body_len / 2000.0;
}

/* "2026-11-26T00:00:00+01:00": wall ms as local time with its offset. */
static void local_rfc3339(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char z[8];

	if (!localtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm) ||
	    !strftime(z, sizeof(z), "%z", &tm) || strlen(z) != 5) {
		rfc3339_utc(ms, false, out);
		return;
	}
	snprintf(out + strlen(out), len - strlen(out), "%.3s:%s", z, z + 3);
}

void router_fail_budget(struct router_call *c, const char *msg)
{
	const struct config *cfg = c->r->cfg;
	cJSON *root = router_error_json(E_BUDGET, 400, msg), *b;
	struct spend_refusal f;
	char text[768], when[48];

	if (spend_last_refusal(c->r->spend, &f) == 0) {
		b = cJSON_AddObjectToObject(cJSON_GetObjectItemCaseSensitive(root, "error"),
					    "budget");
		cJSON_AddStringToObject(b, "which",
					f.kind == SPEND_CAP_DAY	     ? "daily"
					: f.kind == SPEND_CAP_MONTH  ? "monthly"
					: f.kind == SPEND_CAP_ROUTER ? "max_budget"
								     : "key");
		if (f.kind == SPEND_CAP_KEY)
			cJSON_AddStringToObject(b, "key", f.key_name);
		cJSON_AddStringToObject(b, "config_key", f.config_key);
		cJSON_AddNumberToObject(b, "spent_usd", f.spent_usd);
		cJSON_AddNumberToObject(b, "max_usd", f.max_usd);
		if (f.resets_ms >= 0) {
			local_rfc3339(f.resets_ms, when, sizeof(when));
			cJSON_AddStringToObject(b, "resets_at", when);
		} else {
			cJSON_AddNullToObject(b, "resets_at");
		}
		cJSON_AddStringToObject(b, "timezone", cfg->timezone);
		spend_refusal_text(&f, cfg->timezone, router_now_ms(), text, sizeof(text));
		cJSON_AddStringToObject(b, "text", text);
	}
	router_fail_json(c, E_BUDGET, 400, root);
}

bool router_images(const struct router_call *c)
{
	return c->route == PROVIDER_IMAGES || c->route == PROVIDER_IMAGE_EDITS;
}

/* The images a /v1/images/generations or /v1/images/edits request asks for: its "n" (1..10),
 * else 1. The request is parsed again when the attempt's tree is gone (a retry re-parses the
 * kept text); an edit's form is parsed once and kept. */
static int64_t images_asked(const struct router_call *c)
{
	cJSON *req = c->req, *n;
	int64_t v = 1;

	if (router_spec_of(c)->multipart) {
		const struct multipart_part *p = multipart_find(&c->form, "n");
		char digits[4] = "";

		if (p && !p->filename && p->data_len < sizeof(digits))
			memcpy(digits, p->data, p->data_len);
		v = strtol(digits, NULL, 10);
		return v >= 1 && v <= 10 ? v : 1;
	}
	if (!req)
		req = router_parse_scratch(c->body, c->body_len);
	n = cJSON_GetObjectItemCaseSensitive(req, "n");
	if (cJSON_IsNumber(n) && n->valuedouble >= 1 && n->valuedouble <= 10)
		v = (int64_t)n->valuedouble;
	if (req != c->req)
		router_drop_scratch(req);
	return v;
}

int router_reserve(struct router_call *c, size_t body_len)
{
	const struct config_model_info *mi = &c->dep->m->model_info;
	const char *which = NULL;
	char msg[512];
	int rc;

	bool unused;

	if (router_images(c) && mi->output_cost_per_image > 0)
		c->est_usd = (double)images_asked(c) * mi->output_cost_per_image;
	else if (c->route == PROVIDER_RERANK && mi->input_cost_per_query > 0)
		c->est_usd = mi->input_cost_per_query;
	else if (c->route == PROVIDER_SPEECH && mi->input_cost_per_character > 0)
		c->est_usd = (double)c->input_chars * mi->input_cost_per_character;
	else if (per_second(c))
		c->est_usd = audio_seconds(c, &unused) * mi->input_cost_per_second;
	else
		c->est_usd = spend_estimate_usd(
			body_len, router_spec_of(c)->text_out ? router_output_bound(c) : 0,
			mi->input_cost_per_token, mi->output_cost_per_token, mean_if_unpriced(c));
	if (!c->r->spend)
		return 0;
	rc = spend_reserve(c->r->spend, c->key_hash, c->who.key, router_now_ms(), c->est_usd,
			   &c->hold, msg, sizeof(msg), &which);
	if (rc == 0)
		return 0;
	c->dep = NULL;
	if (rc == -EBUSY && left_ms(c) > BUDGET_WAIT_MS) {
		wait_for_budget(c);
		return rc;
	}
	log_warn("budget %s reached: refusing a call to %s", which, c->group->name);
	router_fail_budget(c, msg);
	return rc;
}

void router_release(struct router_call *c)
{
	if (c->r->spend)
		spend_release(c->r->spend, &c->hold);
}

/* Tokens of an attempt whose usage did not arrive, from what was sent and seen. */
void router_estimate_tokens(struct router_call *c)
{
	if (c->got_usage)
		return;
	policy_estimate_tokens(c->sent_bytes, c->output_chars, &c->prompt_tokens,
			       &c->completion_tokens);
}

/* The cost of the attempt that just ended: the provider's usage.cost, else its token counts at
 * model_info prices, else (no usage arrived) an estimate marked as such. */
static void price_attempt(struct router_call *c, struct httpc_req *req)
{
	const struct config_model_info *mi = &c->dep->m->model_info;
	const char *mv[] = {c->dep->m->litellm_params.model, NULL};
	size_t seen;
	double est;

	c->estimated = !c->got_usage;
	if (c->have_cost) {
		c->cost_source = "upstream";
		return;
	}
	if (router_images(c) && mi->output_cost_per_image > 0) {
		/* LiteLLM's per-image price: what came back, else what was asked for */
		if (!c->got_usage)
			router_estimate_tokens(c);
		c->cost_usd = (double)(c->images_counted ? c->images : images_asked(c)) *
			      mi->output_cost_per_image;
		c->cost_source = "model_info";
		c->estimated = !c->images_counted;
		return;
	}
	if (c->route == PROVIDER_RERANK && mi->input_cost_per_query > 0) {
		/* LiteLLM's per-query price, per search unit when the answer bills some */
		if (!c->got_usage)
			router_estimate_tokens(c);
		c->cost_usd = (double)(c->search_units > 0 ? c->search_units : 1) *
			      mi->input_cost_per_query;
		c->cost_source = "model_info";
		c->estimated = false;
		return;
	}
	if (c->route == PROVIDER_SPEECH && mi->input_cost_per_character > 0) {
		router_estimate_tokens(c);
		c->cost_usd = (double)c->input_chars * mi->input_cost_per_character;
		c->cost_source = "model_info";
		c->estimated = false;
		return;
	}
	if (per_second(c)) {
		bool guessed;

		if (!c->got_usage)
			router_estimate_tokens(c);
		c->cost_usd = audio_seconds(c, &guessed) * mi->input_cost_per_second;
		c->cost_source = guessed ? "estimate" : "model_info";
		c->estimated = guessed;
		return;
	}
	if (c->got_usage) {
		int64_t plain = c->prompt_tokens - c->cached_tokens - c->cache_write_tokens;

		c->cost_usd = (double)plain * mi->input_cost_per_token +
			      (double)c->cached_tokens * mi->cache_read_input_token_cost +
			      (double)c->cache_write_tokens * mi->cache_creation_input_token_cost +
			      (double)c->completion_tokens * mi->output_cost_per_token;
		c->cost_source = c->cost_usd > 0 ? "model_info" : "none";
		if (c->cost_usd <= 0)
			metric_inc(c->r->m.cost_unknown, mv, 1);
		return;
	}
	c->cost_source = "estimate";
	if (!c->client_stream && !c->output_chars && router_spec_of(c)->text_out) {
		httpc_body(req, &seen);
		/* Over the cap, the piece that did not fit was not kept, but it came. */
		if (httpc_result(req) == HTTPC_TOO_BIG)
			seen = (size_t)c->r->cfg->router.max_response_bytes;
		c->output_chars = seen;
	}
	router_estimate_tokens(c);
	est = spend_estimate_usd(c->sent_bytes, c->completion_tokens, mi->input_cost_per_token,
				 mi->output_cost_per_token, mean_if_unpriced(c));
	/* A non-streamed answer shows nothing before it is whole: cut short (timeout, cancel,
	 * size cap), the provider may have generated all of it, so the reserved bound stands. */
	if (!c->client_stream && httpc_result(req) != HTTPC_OK && c->est_usd > est)
		est = c->est_usd;
	c->cost_usd = est > 0 ? est : 0;
	if (est < 0)
		metric_inc(c->r->m.cost_unknown, mv, 1);
}

/* One line of the audit trail per attempt that was started, billed or not: the retries and
 * fallbacks of a call are its lines with the same call number. */
static void audit_attempt(struct router_call *c)
{
	struct audit_line l;
	long status = c->settled_status;
	bool billed = c->settled_billed;

	audit_begin(&l, "attempt");
	if (!l.on)
		return;
	audit_str(&l, "source", c->source);
	if (c->who.session_id)
		audit_int(&l, "session", c->who.session_id);
	audit_str(&l, "purpose", c->purpose);
	audit_str(&l, "key_alias", c->key_alias);
	audit_str(&l, "lane", lane_name(c->r->cfg->lanes, c->r->cfg->n_lanes, c->lane));
	audit_int(&l, "call", c->id);
	audit_word(&l, "route", provider_route_path(c->route));
	audit_str(&l, "model_group", c->group->name);
	audit_str(&l, "deployment", c->dep->m->model_info.id);
	audit_int(&l, "attempt", c->attempt_no);
	audit_int(&l, "fallback", c->attempt_fallback);
	audit_int(&l, "status", status);
	audit_word(&l, "outcome", c->settled_outcome);
	if (status != 200 && c->err_msg)
		audit_str(&l, "error", c->err_msg);
	audit_bool(&l, "billed", billed);
	if (billed) {
		audit_int(&l, "input_tokens", c->prompt_tokens);
		audit_int(&l, "cached_tokens", c->cached_tokens);
		audit_int(&l, "cache_write_tokens", c->cache_write_tokens);
		audit_int(&l, "output_tokens", c->completion_tokens);
		audit_num(&l, "cost_usd", c->cost_usd);
		audit_word(&l, "cost_source", c->cost_source);
	}
	audit_int(&l, "ms", c->settled_ms);
	audit_end(&l);
}

/* The billed attempt's row and the budgets, breaker and windows it feeds. */
static void bill(struct router_call *c)
{
	struct router *r = c->r;
	const struct config_model *m = c->dep->m;
	const char *kv[] = {
		m->litellm_params.model, c->key_hash, router_alias_or_none(c), NULL, NULL, NULL};

	if (r->breaker)
		breaker_add_cost(r->breaker, now_mono_ms(), c->cost_usd);
	policy_window_add(&c->dep->win, now_mono_ms() / 1000, 0,
			  c->prompt_tokens + c->completion_tokens);
	if (r->spend) {
		struct spend_entry e = {.ts_ms = router_now_ms(),
					.model_group = c->group->name,
					.deployment = m->model_info.id,
					.key_hash = c->key_hash,
					.input_tokens = c->prompt_tokens,
					.cached_tokens = c->cached_tokens,
					.cache_write_tokens = c->cache_write_tokens,
					.output_tokens = c->completion_tokens,
					.cost_usd = c->cost_usd,
					.cost_source = c->cost_source,
					.estimated = c->estimated,
					.lane = lane_name(r->cfg->lanes, r->cfg->n_lanes, c->lane)};

		spend_record(r->spend, &e);
	}
	metric_inc(r->m.spend, kv, c->cost_usd);
}

/* Every attempt the provider received is billed by it, whatever became of the call: one
 * ledger row each (retries, fallbacks, cut, cancelled, timed-out and oversized answers too),
 * fed to the budgets, the breaker, the spend metric and the deployment's tpm window. An HTTP
 * error status is the provider's refusal, which it does not bill, and a request that never
 * went out whole costs nothing: those only give their reservation back. */
void router_record(struct router_call *c)
{
	c->record_pending = false;
	router_release(c);
	if (c->settled_billed)
		bill(c);
	/* After the row: while the ledger's batch is open, the line waits to be written with it. */
	audit_attempt(c);
}

/* What the attempt cost and how it ended, read while its request is alive; recorded at once,
 * or after on_done when the call is finishing for a reply_first caller (record_pending). */
void router_settle(struct router_call *c, struct httpc_req *req)
{
	long status = httpc_status(req);

	if (!c->attempt_open)
		return;
	c->attempt_open = false;
	c->settled_status = status;
	c->settled_billed = status == 200 || (status == 0 && httpc_request_sent(req));
	c->settled_outcome = c->cancelled			  ? "cancelled"
			     : status == 200 && !c->stream_failed ? "ok"
			     : status != 0			  ? "http_error"
					   : httpc_result_name(httpc_result(req));
	c->settled_ms = (now_mono_us() - c->t_attempt) / 1000;
	if (c->settled_billed)
		price_attempt(c, req); /* before on_done: the reply carries the cost */
	if (c->who.reply_first && c->timer_kind == T_FINISH) {
		c->record_pending = true;
		return;
	}
	router_record(c);
}

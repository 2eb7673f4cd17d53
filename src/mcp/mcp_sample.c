/* mcp_sample: sampling requests from servers (sampling/createMessage) in flight. A request is
 * taken only from a server whose config enables sampling; its shape is checked here (messages
 * a non-empty array, maxTokens a positive integer: anything the owner would have to guess is
 * the server's error, -32602), it counts against sampling.max_rpm (a minute's window per
 * server; over it: an error naming the key), and it has sampling.timeout to be answered, then
 * the server gets an error and the owner is told to stop (withdrawn). The owner (the gateway)
 * runs the model through the router; nothing here knows of models.
 */
#include "mcp/mcp_ask.h"
#include "mcp/transport.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mcp_sample {
	struct mcp_sample *next;
	struct mcp_samples *ss;
	struct mcp_server *s;
	char *id_json;
	struct mcp_reply_to to;
	struct event *timer;
};

struct rate {
	int64_t minute; /* now_mono_ms() / 60000 of the window */
	int64_t n;
};

struct mcp_samples {
	struct loop *loop;
	struct mcp_sampling_cbs cbs;
	struct mcp_sample *list;
	struct rate *rates; /* by the server's index */
	size_t n_rates;
};

struct mcp_samples *mcp_samples_create(struct loop *loop, const struct mcp_sampling_cbs *cbs)
{
	struct mcp_samples *ss = xcalloc(1, sizeof(*ss));

	ss->loop = loop;
	ss->cbs = *cbs;
	return ss;
}

static void end(struct mcp_sample *q)
{
	for (struct mcp_sample **p = &q->ss->list; *p; p = &(*p)->next)
		if (*p == q) {
			*p = q->next;
			break;
		}
	event_free(q->timer);
	free(q->id_json);
	free(q);
}

static void withdraw(struct mcp_sample *q)
{
	if (q->ss->cbs.withdrawn)
		q->ss->cbs.withdrawn(q, q->ss->cbs.arg);
	end(q);
}

void mcp_sample_answer(struct mcp_sample *q, const char *result_json, const char *error)
{
	if (result_json) {
		mcp_server_answer(q->s, &q->to, q->id_json, result_json, 0, NULL);
	} else {
		log_warn("mcp %s: its sampling request failed: %s", mcp_server_name(q->s), error);
		mcp_server_answer(q->s, &q->to, q->id_json, NULL, -32603, error);
	}
	end(q);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mcp_sample *q = arg;
	char why[160];

	snprintf(why, sizeof(why),
		 "the model did not answer within %lld s (mcp_servers.%s.sampling.timeout)",
		 (long long)mcp_server_config(q->s)->sampling_timeout_s, mcp_server_name(q->s));
	mcp_server_answer(q->s, &q->to, q->id_json, NULL, -32603, why);
	withdraw(q);
}

/* The request's shape, the part the owner must not have to guess. */
static int check_params(const char *params_json, char *err, size_t err_len)
{
	cJSON *p =
		params_json ? json_parse(params_json, strlen(params_json), JSON_EXACT, NULL) : NULL;
	const cJSON *messages = cJSON_GetObjectItemCaseSensitive(p, "messages");
	const cJSON *max = cJSON_GetObjectItemCaseSensitive(p, "maxTokens");
	int rc = 0;

	if (!cJSON_IsArray(messages) || !cJSON_GetArraySize(messages)) {
		snprintf(err, err_len, "sampling/createMessage needs messages, a non-empty array");
		rc = -EINVAL;
	} else if (!cJSON_IsNumber(max) || !(max->valuedouble >= 1) ||
		   max->valuedouble > 9007199254740992.0 || /* 2^53: the cast below is defined */
		   max->valuedouble != (double)(int64_t)max->valuedouble) {
		snprintf(err, err_len,
			 "sampling/createMessage needs maxTokens, a positive integer "
			 "(at most 2^53)");
		rc = -EINVAL;
	}
	cJSON_Delete(p);
	return rc;
}

/* Counts one request of s; false when s is over its sampling.max_rpm this minute. */
static bool within_rate(struct mcp_samples *ss, const struct mcp_server *s)
{
	size_t i = mcp_server_index(s);
	int64_t minute = now_mono_ms() / 60000;
	struct rate *r;

	if (i >= ss->n_rates) {
		ss->rates = xrealloc(ss->rates, (i + 1) * sizeof(*ss->rates));
		memset(ss->rates + ss->n_rates, 0, (i + 1 - ss->n_rates) * sizeof(*ss->rates));
		ss->n_rates = i + 1;
	}
	r = &ss->rates[i];
	if (r->minute != minute)
		*r = (struct rate){minute, 0};
	return ++r->n <= mcp_server_config(s)->sampling_max_rpm;
}

void mcp_samples_request(struct mcp_samples *ss, struct mcp_server *s,
			 const struct mcp_reply_to *to, const char *id_json,
			 const char *params_json)
{
	const struct config_mcp_server *cfg = mcp_server_config(s);
	struct timeval tv = {(time_t)cfg->sampling_timeout_s, 0};
	struct mcp_call *calls[MCP_SAMPLE_CALLS_MAX];
	struct mcp_sample *q;
	char err[200];
	size_t n_calls;

	if (check_params(params_json, err, sizeof(err)) < 0) {
		mcp_server_answer(s, to, id_json, NULL, -32602, err);
		return;
	}
	if (!within_rate(ss, s)) {
		snprintf(err, sizeof(err),
			 "more than %lld sampling requests this minute (mcp_servers.%s.sampling."
			 "max_rpm)",
			 (long long)cfg->sampling_max_rpm, cfg->name);
		log_warn("mcp %s: %s", cfg->name, err);
		mcp_server_answer(s, to, id_json, NULL, -32603, err);
		return;
	}
	q = xcalloc(1, sizeof(*q));
	q->ss = ss;
	q->s = s;
	q->id_json = xstrdup(id_json);
	if (to)
		q->to = *to;
	q->timer = evtimer_new(loop_base(ss->loop), on_timeout, q);
	q->next = ss->list;
	ss->list = q;
	evtimer_add(q->timer, &tv);
	log_info("mcp %s asks the model", cfg->name);
	n_calls = mcp_server_calls(s, calls, ARRAY_LEN(calls));
	ss->cbs.sample(q, cfg->name, params_json, calls, n_calls, ss->cbs.arg);
}

void mcp_samples_server_gone(struct mcp_samples *ss, struct mcp_server *s)
{
	struct mcp_sample *q, *next;

	for (q = ss ? ss->list : NULL; q; q = next) {
		next = q->next;
		if (q->s == s)
			withdraw(q);
	}
}

void mcp_samples_withdraw_input(struct mcp_samples *ss, void *arg)
{
	struct mcp_sample *q, *next;

	for (q = ss ? ss->list : NULL; q; q = next) {
		next = q->next;
		if (q->to.fn && q->to.arg == arg)
			withdraw(q);
	}
}

void mcp_samples_destroy(struct mcp_samples *ss)
{
	if (!ss)
		return;
	while (ss->list) {
		mcp_server_answer(ss->list->s, &ss->list->to, ss->list->id_json, NULL, -32603,
				  "hermetic is shutting down");
		withdraw(ss->list);
	}
	free(ss->rates);
	free(ss);
}

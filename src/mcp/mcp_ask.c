/* mcp_ask: requests from servers and their questions in flight. ping and roots/list (the
 * configured roots, mcp_roots.c) are answered at once;
 * a method the client does not offer gets -32601. An elicitation/create is read and checked
 * (mcp_elicit.c), then handed to the owner of the client (struct mcp_elicit_cbs: the CLI's
 * terminal, the gateway's chat) with a timer; the first of the owner's answer, the timer, the
 * server going away or shutdown ends it, and only that one answers the server. While a server
 * has a question out, the time limits of its tool calls stand still: a human taking two
 * minutes to answer is not a hung server.
 *
 * A form outside the spec's restricted schema is answered with a JSON-RPC error (-32602)
 * saying which property and why, not declined: the server's author learns what to fix.
 */
#include "mcp/mcp_ask.h"
#include "mcp/mcp_roots.h"
#include "mcp/transport.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define ASK_TIMEOUT_MS_DEFAULT 600000

struct mcp_question {
	struct mcp_question *next;
	struct mcp_asks *a;
	struct mcp_server *s;
	char *id_json;
	struct mcp_reply_to to;
	struct mcp_elicit_form form;
	struct event *timer;
};

struct mcp_asks {
	struct loop *loop;
	bool elicit; /* cbs set: questions are asked */
	struct mcp_elicit_cbs cbs;
	struct mcp_question *questions;
	struct mcp_samples *samples; /* NULL: sampling offered to nobody */
};

static void cancel_all(struct mcp_asks *a, const char *why);

struct mcp_asks *mcp_asks_create(struct loop *loop)
{
	struct mcp_asks *a = xcalloc(1, sizeof(*a));

	a->loop = loop;
	return a;
}

void mcp_asks_set_elicit(struct mcp_asks *a, const struct mcp_elicit_cbs *cbs)
{
	cancel_all(a, "the client stopped asking");
	a->elicit = cbs != NULL;
	a->cbs = cbs ? *cbs : (struct mcp_elicit_cbs){0};
	if (a->cbs.timeout_ms <= 0)
		a->cbs.timeout_ms = ASK_TIMEOUT_MS_DEFAULT;
}

void mcp_asks_set_sampling(struct mcp_asks *a, const struct mcp_sampling_cbs *cbs)
{
	mcp_samples_destroy(a->samples);
	a->samples = cbs ? mcp_samples_create(a->loop, cbs) : NULL;
}

void mcp_asks_capabilities(const struct mcp_asks *a, const struct mcp_server *s, cJSON *caps)
{
	if (a && a->elicit)
		cJSON_AddRawToObject(caps, "elicitation", "{\"form\":{},\"url\":{}}");
	if (a && a->samples && mcp_server_config(s)->sampling_enabled)
		cJSON_AddObjectToObject(caps, "sampling");
	mcp_roots_capabilities(mcp_server_config(s), caps);
}

static bool server_asks(const struct mcp_asks *a, const struct mcp_server *s)
{
	for (const struct mcp_question *q = a->questions; q; q = q->next)
		if (q->s == s)
			return true;
	return false;
}

/* Unlinks and frees q; the server's calls run on when it has no other question out. */
static void end(struct mcp_question *q, bool resume)
{
	struct mcp_asks *a = q->a;

	for (struct mcp_question **p = &a->questions; *p; p = &(*p)->next)
		if (*p == q) {
			*p = q->next;
			break;
		}
	if (resume && !server_asks(a, q->s))
		mcp_server_hold_calls(q->s, false);
	event_free(q->timer);
	mcp_elicit_form_finish(&q->form);
	free(q->id_json);
	free(q);
}

static void reply(struct mcp_question *q, enum mcp_elicit_action action, const char *content)
{
	char *result = mcp_elicit_result(action, content);

	log_info("mcp %s: the question was answered %s", mcp_server_name(q->s),
		 mcp_elicit_action_name(action));
	mcp_server_answer(q->s, &q->to, q->id_json, result, 0, NULL);
	free(result);
}

static void withdraw(struct mcp_question *q, const char *why)
{
	if (q->a->cbs.withdrawn)
		q->a->cbs.withdrawn(q, why, q->a->cbs.arg);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct mcp_question *q = arg;
	char why[64];

	snprintf(why, sizeof(why), "no answer in %lld s", (long long)(q->a->cbs.timeout_ms / 1000));
	reply(q, MCP_ELICIT_CANCEL, NULL);
	withdraw(q, why);
	end(q, true);
}

static void elicit(struct mcp_asks *a, struct mcp_server *s, const struct mcp_reply_to *to,
		   struct mcp_call *call, const char *id_json, const char *params_json)
{
	const char *protocol = mcp_server_protocol(s);
	/* url mode came with 2025-11-25; older sessions only know forms. */
	bool url_mode = protocol && strcmp(protocol, "2025-11-25") >= 0;
	struct mcp_question *q;
	struct timeval tv;
	struct mcp_call *held;
	char err[256];

	q = xcalloc(1, sizeof(*q));
	if (mcp_elicit_parse(params_json ? params_json : "null",
			     params_json ? strlen(params_json) : 4, url_mode, &q->form, err,
			     sizeof(err)) < 0) {
		log_warn("mcp %s: refused a question: %s", mcp_server_name(s), err);
		mcp_server_answer(s, to, id_json, NULL, -32602, err);
		free(q);
		return;
	}
	if (to)
		q->to = *to;
	q->a = a;
	q->s = s;
	q->id_json = xstrdup(id_json);
	q->timer = evtimer_new(loop_base(a->loop), on_timeout, q);
	q->next = a->questions;
	a->questions = q;
	tv.tv_sec = a->cbs.timeout_ms / 1000;
	tv.tv_usec = (a->cbs.timeout_ms % 1000) * 1000;
	evtimer_add(q->timer, &tv);
	held = mcp_server_hold_calls(s, true);
	if (!call)
		call = held;
	log_info("mcp %s asks (%s, %zu fields)", mcp_server_name(s), q->form.url ? "url" : "form",
		 q->form.n_fields);
	/* May answer at once (and so free q): nothing of q is used after. */
	a->cbs.ask(q, &q->form, mcp_server_name(s), call, a->cbs.arg);
}

static void answer_roots(struct mcp_server *s, const struct mcp_reply_to *to, const char *id_json)
{
	char *result = mcp_roots_result(mcp_server_config(s));

	mcp_server_answer(s, to, id_json, result, 0, NULL);
	free(result);
}

void mcp_asks_request(struct mcp_asks *a, struct mcp_server *s, const char *id_json,
		      const char *method, const char *params_json)
{
	if (strcmp(method, "ping") == 0)
		mcp_server_answer(s, NULL, id_json, "{}", 0, NULL);
	else if (strcmp(method, "elicitation/create") == 0 && a && a->elicit)
		elicit(a, s, NULL, NULL, id_json, params_json);
	else if (strcmp(method, "sampling/createMessage") == 0 && a && a->samples &&
		 mcp_server_config(s)->sampling_enabled)
		mcp_samples_request(a->samples, s, NULL, id_json, params_json);
	else if (strcmp(method, "roots/list") == 0 && mcp_server_config(s)->n_roots)
		answer_roots(s, NULL, id_json);
	else
		mcp_server_answer(s, NULL, id_json, NULL, -32601, "Method not found");
}

void mcp_asks_input(struct mcp_asks *a, struct mcp_server *s, struct mcp_call *call,
		    const struct mcp_reply_to *to, const char *key_json, const char *method,
		    const char *params_json)
{
	if (strcmp(method, "elicitation/create") == 0 && a && a->elicit)
		elicit(a, s, to, call, key_json, params_json);
	else if (strcmp(method, "sampling/createMessage") == 0 && a && a->samples &&
		 mcp_server_config(s)->sampling_enabled)
		mcp_samples_request(a->samples, s, to, key_json, params_json);
	else if (strcmp(method, "roots/list") == 0 && mcp_server_config(s)->n_roots)
		answer_roots(s, to, key_json);
	else
		mcp_server_answer(s, to, key_json, NULL, -32601, "Method not found");
}

void mcp_asks_withdraw_input(struct mcp_asks *a, void *arg)
{
	struct mcp_question *q, *next;

	if (!a)
		return;
	mcp_samples_withdraw_input(a->samples, arg);
	for (q = a->questions; q; q = next) {
		next = q->next;
		if (!q->to.fn || q->to.arg != arg)
			continue;
		withdraw(q, "the request was cancelled");
		end(q, true);
	}
}

int mcp_question_answer(struct mcp_question *q, enum mcp_elicit_action action,
			const char *content_json, char *err, size_t err_len)
{
	char *content = NULL;
	int rc;

	if (action == MCP_ELICIT_ACCEPT && !q->form.url) {
		rc = mcp_elicit_content(&q->form, content_json, &content, err, err_len);
		if (rc < 0)
			return rc;
	}
	reply(q, action, content);
	free(content);
	end(q, true);
	return 0;
}

void mcp_asks_server_gone(struct mcp_asks *a, struct mcp_server *s)
{
	struct mcp_question *q, *next;

	if (!a)
		return;
	mcp_samples_server_gone(a->samples, s);
	for (q = a->questions; q; q = next) {
		next = q->next;
		if (q->s != s)
			continue;
		withdraw(q, "the server went away");
		end(q, false);
	}
}

static void cancel_all(struct mcp_asks *a, const char *why)
{
	while (a->questions) {
		struct mcp_question *q = a->questions;

		reply(q, MCP_ELICIT_CANCEL, NULL);
		withdraw(q, why);
		end(q, false);
	}
}

void mcp_asks_destroy(struct mcp_asks *a)
{
	if (!a)
		return;
	cancel_all(a, "hermetic is shutting down");
	mcp_samples_destroy(a->samples);
	free(a);
}

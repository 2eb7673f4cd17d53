/* agent_compress: the context budget, applied to a turn.
 *
 * Context economy, in the order applied before each model call when the estimated request
 * (bytes / 4) is over 85% of the budget (min of model_info.max_input_tokens and
 * agent.context_tokens):
 *   1. free: tool results outside the recent tail shortened to one line (in memory only);
 *   2. one call to auxiliary.compression summarising the middle (the first message and the
 *      recent tail kept, tool-call/result groups never split), persisted with
 *      sessions_compact. At most once per turn; a failure backs off for the session;
 *   3. last resort without any call: the oldest middle groups are left out of the request.
 * Hermes Agent re-ran compression until it fit (up to 9 calls per event in the seed
 * deployments); here a turn pays for at most one. The choices are agent/context.c's
 * (context_*); this file applies them to the turn's messages and makes the compression
 * call; when to make it is the turn's owner's (agent.c: agent_compress_wanted, then
 * agent_compress_call, or agent_trim_context), and the call's end goes back to it as TE_STEP.
 * The turn's own model calls are agent_model.c's.
 */
#include "agent/agent_int.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sessions.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COMPRESS_MAX_TOKENS 800		 /* length of the summary */
#define COMPRESS_INPUT_MAX  (256 * 1024) /* excerpt sent to the compression model */

static const char compress_prompt[] =
	"You compress chat history for an AI assistant. Summarise the excerpt in a few short "
	"lines: what the user asked, facts and numbers learned, decisions, tool results that "
	"still matter, open tasks. No preamble.";

/* The window of the group that serves the turn's calls: in a lane, the lane's (a local model's
 * window may be far smaller than the cloud group the session chose). */
int64_t agent_budget_tokens(const struct agent_turn *t)
{
	return context_budget_tokens(t->a->env.cfg, agent_lane_group(t, t->model));
}

static bool over_budget(const struct agent_turn *t, size_t tools_bytes)
{
	return context_over_budget(context_request_bytes(strlen(t->system), t->msgs, t->n_msgs) +
					   tools_bytes,
				   agent_budget_tokens(t));
}

/* Pass 1: old tool results become their first line. */
static void shorten_tool_results(struct agent_turn *t)
{
	for (size_t i = 0; i < t->n_msgs; i++) {
		struct context_msg *m = &t->msgs[i];
		cJSON *j, *content, *id;
		char *line;

		if (!context_shortens(t->msgs, i, t->n_msgs))
			continue;
		j = json_parse_str(m->json, NULL);
		content = cJSON_GetObjectItemCaseSensitive(j, "content");
		id = cJSON_GetObjectItemCaseSensitive(j, "tool_call_id");
		if (cJSON_IsString(content) && cJSON_IsString(id)) {
			line = context_shortened(content->valuestring);
			free(m->json);
			m->json = agent_json_message("tool", line, id->valuestring);
			m->len = strlen(m->json);
			free(line);
		}
		cJSON_Delete(j);
	}
}

/* The middle to summarise or leave out (context_middle). */
static bool pick_middle(const struct agent_turn *t, size_t *from, size_t *to)
{
	return context_middle(t->msgs, t->n_msgs, agent_budget_tokens(t), from, to);
}

static void render_excerpt(const struct agent_turn *t, size_t from, size_t to, struct buf *out)
{
	for (size_t i = from; i < to; i++) {
		cJSON *j = json_parse_str(t->msgs[i].json, NULL), *c, *calls, *call;
		const char *role = t->msgs[i].role == 'u'   ? "user"
				   : t->msgs[i].role == 'a' ? "assistant"
				   : t->msgs[i].role == 't' ? "tool result"
							    : "note";
		size_t max = t->msgs[i].role == 't' ? 600 : 3000;

		c = cJSON_GetObjectItemCaseSensitive(j, "content");
		if (cJSON_IsString(c) && *c->valuestring)
			buf_printf(out, "%s: %.*s\n", role,
				   (int)utf8_cut(c->valuestring, strnlen(c->valuestring, max)),
				   c->valuestring);
		calls = cJSON_GetObjectItemCaseSensitive(j, "tool_calls");
		cJSON_ArrayForEach(call, calls)
		{
			cJSON *f = cJSON_GetObjectItemCaseSensitive(call, "function");
			cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
			cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");

			buf_printf(out, "assistant called %s %.*s\n",
				   cJSON_IsString(name) ? name->valuestring : "?",
				   cJSON_IsString(args) ? (int)strnlen(args->valuestring, 300) : 0,
				   cJSON_IsString(args) ? args->valuestring : "");
		}
		cJSON_Delete(j);
	}
}

/* Pass 3: leave the oldest middle groups out of the request (memory only). */
void agent_trim_context(struct agent_turn *t, size_t tools_bytes)
{
	size_t dropped = 0;

	while (over_budget(t, tools_bytes)) {
		size_t from, end;

		if (!context_next_drop(t->msgs, t->n_msgs, agent_budget_tokens(t), &from, &end))
			break;
		for (size_t i = from; i < end; i++)
			free(t->msgs[i].json);
		memmove(&t->msgs[from], &t->msgs[end], (t->n_msgs - end) * sizeof(*t->msgs));
		t->n_msgs -= end - from;
		dropped += end - from;
	}
	if (dropped)
		log_warn("agent: session %lld: %zu old messages left out to fit the context budget",
			 (long long)t->session_id, dropped);
}

static void on_compressed(struct router_call *rc, const struct router_result *r, void *arg);

static const struct router_cbs compress_cbs = {.on_done = on_compressed};

bool agent_compress_wanted(struct agent_turn *t, size_t tools_bytes)
{
	size_t from, to;

	if (!over_budget(t, tools_bytes))
		return false;
	shorten_tool_results(t);
	if (!over_budget(t, tools_bytes))
		return false;
	return context_compress_allowed(
		t->compress_tried, context_in_backoff(&t->a->backoff, t->session_id, now_mono_ms()),
		pick_middle(t, &from, &to));
}

int agent_compress_call(struct agent_turn *t)
{
	const struct config *cfg = t->a->env.cfg;
	size_t from = 0, to = 0;
	struct buf excerpt, body;
	int rc;

	pick_middle(t, &from, &to);
	t->compress_tried = true;
	buf_init(&excerpt, COMPRESS_INPUT_MAX);
	render_excerpt(t, from, to, &excerpt);
	buf_init(&body, 0);
	buf_puts(&body, "{\"model\":");
	buf_json_str(&body, cfg->auxiliary.compression, strlen(cfg->auxiliary.compression));
	buf_printf(&body, ",\"max_tokens\":%d,\"messages\":[{\"role\":\"system\",\"content\":",
		   COMPRESS_MAX_TOKENS);
	buf_json_str(&body, compress_prompt, strlen(compress_prompt));
	buf_puts(&body, "},{\"role\":\"user\",\"content\":");
	buf_json_str(&body, excerpt.data ? excerpt.data : "", excerpt.len);
	buf_puts(&body, "}]}");
	buf_finish(&excerpt);
	rc = agent_send(t, "compression", body.data, body.len, &t->hold, &compress_cbs, t, &t->rc);
	buf_finish(&body);
	return rc;
}

static void apply_summary(struct agent_turn *t, const char *summary)
{
	size_t from, to;
	char *text, *json;
	int64_t *ids;
	size_t n_ids = 0;

	if (!pick_middle(t, &from, &to))
		return;
	text = xasprintf("[Summary of the earlier conversation]\n%s", summary);
	json = agent_json_message("user", text, NULL);
	ids = xcalloc(to - from, sizeof(*ids));
	for (size_t i = from; i < to; i++)
		if (t->msgs[i].id > 0)
			ids[n_ids++] = t->msgs[i].id;
	if (sessions_compact(t->a->env.store, t->session_id, ids, n_ids, json, summary) < 0)
		log_warn("agent: session %lld: summary not stored; it holds for this turn only",
			 (long long)t->session_id);
	free(ids);
	free(text);
	for (size_t i = from; i < to; i++)
		free(t->msgs[i].json);
	t->msgs[from] = (struct context_msg){0, json, strlen(json), 'u', false};
	memmove(&t->msgs[from + 1], &t->msgs[to], (t->n_msgs - to) * sizeof(*t->msgs));
	t->n_msgs -= to - from - 1;
}

static void on_compressed(struct router_call *rc, const struct router_result *r, void *arg)
{
	struct agent_turn *t = arg;
	char *summary = NULL;

	t->rc = NULL;
	agent_watch_after(t, &t->hold, r);
	t->compressions++;
	t->cost_usd += r->cost_usd;
	t->prompt_tokens += r->prompt_tokens;
	t->completion_tokens += r->completion_tokens;
	if (r->status == 200)
		summary = agent_answer_text(t, r->body, r->body_len);
	if (summary && *summary) {
		apply_summary(t, summary);
		log_info("agent: session %lld: compressed the middle of the history (one call)",
			 (long long)t->session_id);
	} else if (!t->cancelled && !t->time_up) {
		log_warn(
			"agent: session %lld: compression failed (HTTP %d); not retried for %d min",
			(long long)t->session_id, r->status, CONTEXT_COMPRESS_BACKOFF_MS / 60000);
		context_backoff_set(&t->a->backoff, t->session_id, now_mono_ms());
	}
	free(summary);
	t->owner->on_event(t, TE_STEP, NULL);
}

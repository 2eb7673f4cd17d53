/* agent_session: the turn's session in the store.
 *
 * A turn holds the session's messages in memory as the OpenAI message JSON texts they are
 * stored as, so building a request is concatenation, not re-serialisation. Each message is
 * written to the store as soon as it exists (through store_write: while another process
 * locks the database it waits in memory), so a crash or a cancel loses at most the call
 * in flight; on load, tool calls left without results (a crash mid-tool) get a synthetic
 * "interrupted" result so the history stays valid for the API. A turn whose user message is
 * already stored (its origin: kill -9 mid-turn) continues from the stored messages.
 *
 * Trust (docs/security.md, "Trust"): a turn is tainted when its source is a cron job or a hook,
 * when its caller says the user text holds someone else's words (agent_turn_opts.untrusted), or
 * once a tool whose results are untrusted text (tools_taints: web_fetch, session_search,
 * prometheus_query, MCP) answered in its session; the mark is kept in the store (kv
 * "session.<id>.tainted") so the next turn of that session, whose history holds the text, is
 * tainted too (and so is a turn whose mark cannot be read). Calls carry the mark to tools_call,
 * which holds back memory and skill writes and keeps web_fetch to web.allow_hosts.
 *
 * Also here: the turn's usage, the session's title, agent_reset and agent_set_model. Not
 * here: what the history becomes in a request (agent_model.c) or when it is shortened
 * (agent_compress.c). Rejected: a title model call per session (the first line of the first
 * message names it for free).
 */
#include "agent/agent_int.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sessions.h"
#include "core/store.h"
#include "router/lane.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TITLE_MAX 60

static void push_msg(struct agent_turn *t, int64_t id, char role, char *json)
{
	if (t->n_msgs == t->alloc_msgs) {
		t->alloc_msgs = t->alloc_msgs ? t->alloc_msgs * 2 : 16;
		t->msgs = xrealloc(t->msgs, t->alloc_msgs * sizeof(*t->msgs));
	}
	t->msgs[t->n_msgs++] = (struct context_msg){id, json, strlen(json), role, false};
}

static char role_char(const char *role)
{
	if (strcmp(role, "user") == 0)
		return 'u';
	if (strcmp(role, "assistant") == 0)
		return 'a';
	if (strcmp(role, "tool") == 0)
		return 't';
	return 's';
}

/* A message on its way to the store; it waits in memory (store_write) while another process
 * holds the database's lock, so a busy database loses no message. */
struct msg_write {
	int64_t session_id, id;
	const char *role; /* a string literal */
	char *json, *text, *origin;
};

static int write_msg(struct store *s, void *arg)
{
	struct msg_write *w = arg;

	return sessions_append_origin(s, w->session_id, w->role, w->json, w->text, w->origin,
				      &w->id);
}

static void msg_write_free(struct msg_write *w, int rc)
{
	if (rc < 0)
		log_error("agent: a %s message of session %lld was not stored", w->role,
			  (long long)w->session_id);
	free(w->json);
	free(w->text);
	free(w->origin);
	free(w);
}

static void on_msg_written(void *arg, int rc)
{
	msg_write_free(arg, rc);
}

/* Stores a message (with its origin, may be NULL) and keeps it in memory. text is what
 * session_search indexes. The id is 0 while the message waits for the database. */
int agent_add_msg_from(struct agent_turn *t, const char *role, char *json, const char *text,
		       const char *origin)
{
	struct msg_write *w = xcalloc(1, sizeof(*w));
	int64_t id = 0;
	int rc;

	w->session_id = t->session_id;
	w->role = role;
	w->json = xstrdup(json);
	w->text = text ? xstrdup(text) : NULL;
	w->origin = origin ? xstrdup(origin) : NULL;
	rc = store_write(t->a->env.store, write_msg, w, on_msg_written);
	if (rc != -EINPROGRESS) {
		id = w->id;
		msg_write_free(w, rc);
	}
	push_msg(t, id, role_char(role), json);
	return rc == -EINPROGRESS ? 0 : rc;
}

struct usage_write {
	int64_t session_id, prompt_tokens, completion_tokens;
	double cost_usd;
};

static int write_usage(struct store *s, void *arg)
{
	struct usage_write *w = arg;

	return sessions_add_usage(s, w->session_id, w->prompt_tokens, w->completion_tokens,
				  w->cost_usd, true);
}

static void on_usage_written(void *arg, int rc)
{
	free(arg);
}

/* The turn's usage, added to the session's totals (waits in memory as a message does). */
void agent_store_usage(const struct agent_turn *t)
{
	struct usage_write *w = xmalloc(sizeof(*w));

	*w = (struct usage_write){t->session_id, t->prompt_tokens, t->completion_tokens,
				  t->cost_usd};
	if (store_write(t->a->env.store, write_usage, w, on_usage_written) != -EINPROGRESS)
		free(w);
}

static void answered_key(int64_t session_id, char *key, size_t len)
{
	snprintf(key, len, "session.%lld.answered", (long long)session_id);
}

void agent_store_answered(const struct agent_turn *t)
{
	char key[48], *v;
	int rc;

	if (!t->answered || !t->session_id)
		return;
	answered_key(t->session_id, key, sizeof(key));
	v = xasprintf("%s %s", t->answered, t->model);
	rc = store_kv_put(t->a->env.store, key, v);
	free(v);
	if (rc < 0 && rc != -EINPROGRESS)
		log_warn("agent: session %lld: which model answered was not stored",
			 (long long)t->session_id);
}

int agent_answered_by(struct agent *a, const char *source, char *answered, size_t answered_len,
		      char *asked, size_t asked_len)
{
	struct session_info si;
	char key[48], *v = NULL, *sp;
	int rc = sessions_current(a->env.store, source,
				  a->env.cfg->agent.session_idle_minutes * 60000, &si);

	if (rc < 0)
		return rc;
	answered_key(si.id, key, sizeof(key));
	session_info_finish(&si);
	rc = store_kv_get(a->env.store, key, &v);
	if (rc < 0)
		return rc;
	sp = strchr(v, ' ');
	if (sp)
		*sp = '\0';
	snprintf(answered, answered_len, "%s", v);
	snprintf(asked, asked_len, "%s", sp ? sp + 1 : v);
	free(v);
	return 0;
}

int agent_add_msg(struct agent_turn *t, const char *role, char *json, const char *text)
{
	return agent_add_msg_from(t, role, json, text, NULL);
}

char *agent_json_message(const char *role, const char *content, const char *tool_call_id)
{
	struct buf b;

	buf_init(&b, 0);
	buf_printf(&b, "{\"role\":\"%s\",", role);
	if (tool_call_id) {
		buf_puts(&b, "\"tool_call_id\":");
		buf_json_str(&b, tool_call_id, strlen(tool_call_id));
		buf_puts(&b, ",");
	}
	buf_puts(&b, "\"content\":");
	buf_json_str(&b, content, strlen(content));
	buf_puts(&b, "}");
	return buf_steal(&b);
}

struct load {
	struct agent_turn *t;
	cJSON *pending; /* ids of tool calls not answered yet */
};

static void answer_missing(struct load *l)
{
	cJSON *id;

	cJSON_ArrayForEach(id, l->pending)
	{
		push_msg(l->t, 0, 't',
			 agent_json_message("tool", "(no result: the turn was interrupted)",
					    id->valuestring));
	}
	cJSON_Delete(l->pending);
	l->pending = NULL;
}

static void on_loaded(int64_t id, const char *role, const char *json, void *arg)
{
	struct load *l = arg;
	char r = role_char(role);
	cJSON *j;

	if (r != 't' && l->pending)
		answer_missing(l);
	j = json_parse_str(json, NULL);
	if (!j) {
		log_warn("agent: session %lld: message %lld is not JSON; skipped",
			 (long long)l->t->session_id, (long long)id);
		return;
	}
	if (r == 'a') {
		cJSON *calls = cJSON_GetObjectItemCaseSensitive(j, "tool_calls"), *c;

		cJSON_ArrayForEach(c, calls)
		{
			cJSON *cid = cJSON_GetObjectItemCaseSensitive(c, "id");

			if (!l->pending)
				l->pending = cJSON_CreateArray();
			if (cJSON_IsString(cid))
				cJSON_AddItemToArray(l->pending,
						     cJSON_CreateString(cid->valuestring));
		}
	} else if (r == 't' && l->pending) {
		cJSON *cid = cJSON_GetObjectItemCaseSensitive(j, "tool_call_id"), *p;
		int i = 0;

		cJSON_ArrayForEach(p, l->pending)
		{
			if (cJSON_IsString(cid) && strcmp(p->valuestring, cid->valuestring) == 0) {
				cJSON_DeleteItemFromArray(l->pending, i);
				break;
			}
			i++;
		}
	}
	cJSON_Delete(j);
	push_msg(l->t, id, r, xstrdup(json));
}

static int load_history(struct agent_turn *t)
{
	struct load l = {t, NULL};
	int rc = sessions_messages(t->a->env.store, t->session_id, on_loaded, &l);

	if (l.pending)
		answer_missing(&l);
	return rc;
}

void agent_taint_key(const struct agent_turn *t, char *key, size_t len)
{
	snprintf(key, len, "session.%lld.tainted", (long long)t->session_id);
}

/* From now on, and in later turns of the session: its history holds untrusted text. */
void agent_taint(struct agent_turn *t, const char *by)
{
	char key[48];
	int rc;

	if (t->tainted)
		return;
	t->tainted = true;
	agent_taint_key(t, key, sizeof(key));
	rc = store_kv_put(t->a->env.store, key, by);
	if (rc < 0 && rc != -EINPROGRESS)
		log_warn("agent: session %lld: the untrusted mark was not stored",
			 (long long)t->session_id);
}

static char *title_of(const char *text)
{
	size_t n = strcspn(text, "\n");
	struct buf title;

	buf_init(&title, 0);
	utf8_clip(&title, text, n, TITLE_MAX, false);
	return buf_steal(&title);
}

/* The source's current session with its history into t (session_id, model, system, msgs):
 * 0, -ENOENT when there is none (an idle one is ended), or the store's error. */
int agent_load_current(struct agent_turn *t, const char *model, bool no_idle)
{
	struct agent *a = t->a;
	struct session_info si;
	int64_t idle_ms = no_idle ? 0 : a->env.cfg->agent.session_idle_minutes * 60000;
	int rc = sessions_current(a->env.store, t->source, idle_ms, &si);

	if (rc < 0)
		return rc;
	t->session_id = si.id;
	t->started_ms = si.created_ms;
	t->last_ms = si.updated_ms;
	t->system = si.system_prompt ? xstrdup(si.system_prompt) : agent_system_prompt(a);
	t->model = xstrdup(model ? model : si.model ? si.model : a->env.cfg->model);
	session_info_finish(&si);
	return load_history(t);
}

/* The source's session, continued or new; t->session_id, model and system set. */
int agent_open_session(struct agent_turn *t, const struct agent_turn_opts *o, const char *user_text)
{
	struct agent *a = t->a;
	int rc = o->fresh ? -ENOENT : agent_load_current(t, o->model, o->no_idle);

	if (rc != -ENOENT)
		return rc;
	t->system = agent_system_prompt_for(a, t->source, user_text);
	t->model = xstrdup(o->model ? o->model : a->env.cfg->model);
	t->started_ms = t->last_ms = now_wall_ms();
	rc = sessions_create(a->env.store, t->source, t->model, t->system, &t->session_id);
	if (rc == 0) {
		char *title = title_of(user_text);
		struct session_info si;

		/* The stored start, so that later turns print the very same minute. */
		if (sessions_get(a->env.store, t->session_id, &si) == 0) {
			t->started_ms = t->last_ms = si.created_ms;
			session_info_finish(&si);
		}

		sessions_set_title(a->env.store, t->session_id, title);
		free(title);
	}
	return rc;
}

/* The stored answer's calls whose ids are in ids (a JSON array of strings) become the turn's
 * calls, without storing the answer again; the turn's owner runs them. A call of a tool that
 * is not read-only (nor the turn's own tool, whose work is journaled) is answered "not run
 * again" instead: it may have taken effect before the crash. */
static void resume_calls(struct agent_turn *t, const cJSON *calls, const cJSON *ids)
{
	const cJSON *c, *id;
	size_t n_ids = (size_t)cJSON_GetArraySize(ids);

	t->calls = xcalloc(n_ids + 1, sizeof(*t->calls));
	cJSON_ArrayForEach(c, calls)
	{
		const cJSON *cid = cJSON_GetObjectItemCaseSensitive(c, "id");
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		const cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
		bool wanted = false;
		struct call *k;

		cJSON_ArrayForEach(id, ids) wanted =
			wanted ||
			(cJSON_IsString(cid) && strcmp(cid->valuestring, id->valuestring) == 0);
		if (!wanted || t->n_calls >= n_ids)
			continue;
		k = &t->calls[t->n_calls++];
		k->t = t;
		k->id = xstrdup(cid->valuestring);
		k->name = xstrdup(cJSON_IsString(name) ? name->valuestring : "");
		k->args = xstrdup(cJSON_IsString(args) ? args->valuestring : "{}");
		if (*k->name && (tools_read_only(t->a->env.tools, k->name) ||
				 (t->tool && strcmp(k->name, t->tool->name) == 0)))
			continue;
		/* It may have taken effect before the crash: not repeated behind the owner's back.
		 */
		k->done = k->started = k->is_error = true;
		k->result =
			xstrdup("not run again: the work was interrupted while this call ran, "
				"so whether it took effect is unknown; check before repeating it");
	}
}

/* A continued turn whose last stored answer's tool calls have no stored results (a crash
 * while they ran): the synthetic "interrupted" results give way to the calls themselves
 * (resume_calls), so that the stored answer is acted on instead of paid for again. */
static void take_unanswered(struct agent_turn *t, size_t at)
{
	size_t end = t->n_msgs, k;
	cJSON *a, *ids;

	while (end > at + 1 && t->msgs[end - 1].role == 't' && t->msgs[end - 1].id == 0)
		end--;
	if (end == t->n_msgs)
		return; /* every call of the last answer has its result */
	k = end;
	while (k > at + 1 && t->msgs[k - 1].role == 't')
		k--;
	if (k <= at + 1 || t->msgs[k - 1].role != 'a' || !t->msgs[k - 1].id)
		return;
	a = json_parse_str(t->msgs[k - 1].json, NULL);
	ids = cJSON_CreateArray();
	for (size_t i = end; i < t->n_msgs; i++) {
		cJSON *m = json_parse_str(t->msgs[i].json, NULL);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");

		if (cJSON_IsString(id))
			cJSON_AddItemToArray(ids, cJSON_CreateString(id->valuestring));
		cJSON_Delete(m);
		free(t->msgs[i].json);
	}
	t->n_msgs = end;
	resume_calls(t, cJSON_GetObjectItemCaseSensitive(a, "tool_calls"), ids);
	log_info("agent: %s: %zu tool calls of the stored answer had no result; taken up without "
		 "a new model call",
		 t->source, t->n_calls);
	cJSON_Delete(ids);
	cJSON_Delete(a);
}

/* True when the session already holds the user message of origin: a turn for it was cut
 * short (kill -9 mid-turn) and continues from the stored messages. When they end with a
 * final answer after it, that answer is kept in t->stored_answer. */
bool agent_continues(struct agent_turn *t, const char *origin)
{
	int64_t id;
	size_t at = t->n_msgs;
	const struct context_msg *last;
	cJSON *j, *content;

	if (sessions_find_origin(t->a->env.store, t->session_id, origin, &id) < 0)
		return false;
	log_info("agent: %s: continuing the interrupted turn of %s (its message is stored)",
		 t->source, origin);
	for (size_t i = 0; i < t->n_msgs; i++)
		if (t->msgs[i].id == id)
			at = i;
	if (at < t->n_msgs)
		t->msgs[at].parts = true;
	if (t->rerun_calls && at < t->n_msgs)
		take_unanswered(t, at);
	last = t->n_msgs ? &t->msgs[t->n_msgs - 1] : NULL;
	if (at >= t->n_msgs || !last || last == &t->msgs[at] || last->role != 'a' || !last->id)
		return true;
	j = json_parse_str(last->json, NULL);
	content = cJSON_GetObjectItemCaseSensitive(j, "content");
	if (!cJSON_GetObjectItemCaseSensitive(j, "tool_calls") && cJSON_IsString(content) &&
	    *content->valuestring)
		t->stored_answer = xstrdup(content->valuestring);
	cJSON_Delete(j);
	return true;
}

int agent_reset(struct agent *a, const char *source)
{
	return sessions_end(a->env.store, source);
}

int agent_set_model(struct agent *a, const char *source, const char *model)
{
	const struct config *cfg = a->env.cfg;
	const char *lane = NULL;
	struct session_info si;
	int rc;

	if (!router_has_model(a->env.router, model))
		return -ENOENT;
	/* A lane's turns are served by its groups; choosing another would only look chosen. */
	rc = agent_lane_of(a, source, &lane, NULL, 0);
	if (rc == -ENOENT)
		return -EPERM; /* a lane gone from the config allows no group */
	if (rc < 0)
		return rc;
	if (!lane_allows(cfg->lanes, cfg->n_lanes, lane_find(cfg->lanes, cfg->n_lanes, lane),
			 model))
		return -EPERM;
	rc = sessions_current(a->env.store, source, a->env.cfg->agent.session_idle_minutes * 60000,
			      &si);
	if (rc == -ENOENT) {
		char *sys = agent_system_prompt(a);
		int64_t id;

		rc = sessions_create(a->env.store, source, model, sys, &id);
		free(sys);
		return rc;
	}
	if (rc < 0)
		return rc;
	rc = sessions_set_model(a->env.store, si.id, model);
	session_info_finish(&si);
	return rc;
}

/* agent: the turn state machine (see agent.h for the shape).
 *
 * A turn holds the session's messages in memory as the OpenAI message JSON texts they are
 * stored as, so building a request is concatenation, not re-serialisation. Each message is
 * written to the store as soon as it exists (through store_write: while another process
 * locks the database it waits in memory), so a crash or a cancel loses at most the call
 * in flight; on load, tool calls left without results (a crash mid-tool) get a synthetic
 * "interrupted" result so the history stays valid for the API.
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
 * (context_*); this file applies them to the turn.
 *
 * Trust (docs/security.md, "Trust"): a turn is tainted when its source is a cron job or a hook,
 * when its caller says the user text holds someone else's words (agent_turn_opts.untrusted), or
 * once a tool whose results are untrusted text (tools_taints: web_fetch, session_search,
 * prometheus_query, MCP) answered in its session; the mark is kept in the store (kv
 * "session.<id>.tainted") so the next turn of that session, whose history holds the text, is
 * tainted too (and so is a turn whose mark cannot be read). Calls carry the mark to tools_call,
 * which holds back memory and skill writes and keeps web_fetch to web.allow_hosts.
 *
 * Streaming (agent_cbs.on_text set): every model call of the turn, the limit's summary call
 * too, asks for "stream": true with the usage chunk. The router hands the in-process caller
 * OpenAI chat.completion.chunk events whatever the provider's dialect; they are read as they
 * arrive (delta.content appended, delta.tool_calls merged by index, finish_reason, usage),
 * on_text gets the call's whole text after each event that added some, and at [DONE] the
 * pieces become the same completion object a non-streamed call returns, so storage, tools,
 * limits and costs take one path. What is assembled is capped by router.max_response_bytes;
 * a stream that breaks after its first chunk (an error event, no [DONE]) cannot be retried
 * by the router and fails the turn, storing nothing of the broken answer. The compression
 * call is never streamed: nobody watches it.
 *
 * Side calls (tools_ctx.llm): a tool that needs a model (the memory tool condensing a full
 * file) gets one router call per key per turn, counted in the turn's cost like compression;
 * its lines for the human (tools_ctx.notice) are appended to the answer on_done gets, once
 * each, and not stored, so the model never reads them back.
 *
 * Rejected: a title model call per session (the first line of the first message names it
 * for free), and throttling on_text here (a chat edits a message at its own pace; a CLI
 * prints every piece).
 */
#include "agent/agent.h"
#include "agent/context.h"
#include "core/json.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "router/router.h"
#include "router/providers/prompt_cache.h"
#include "core/sessions.h"
#include "core/fileio.h"
#include "core/safeio.h"
#include "core/store.h"
#include "tools/tools.h"
#include "core/util.h"
#include "net/sse.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPRESS_MAX_TOKENS 800		 /* length of the summary */
#define COMPRESS_INPUT_MAX  (256 * 1024) /* excerpt sent to the compression model */
#define TITLE_MAX	    60
#define MAX_TOOL_CALLS	    32 /* per model answer; more are answered with an error */
/* A streamed answer: one event at most the router's own SSE event cap, and at most this many
 * distinct tool calls (past MAX_TOOL_CALLS they are answered with an error, as unstreamed
 * ones are; far past it the answer is not one to act on). */
#define STREAM_EVENT_CAP (1024 * 1024)
#define STREAM_MAX_CALLS (4 * MAX_TOOL_CALLS)
#define LAST_SLOTS	 64 /* sources whose last model call's usage is remembered */

static const char default_persona[] =
	"You are hermetic, the user's personal assistant, running on their own small server. "
	"Be brief and concrete; answer in the user's language. Use tools when they help and "
	"say when you are unsure. Keep durable facts about the user with the memory tool.";

static const char skills_head[] = "\n\n## Skills (skill_view NAME for details)\n";

static const char compress_prompt[] =
	"You compress chat history for an AI assistant. Summarise the excerpt in a few short "
	"lines: what the user asked, facts and numbers learned, decisions, tool results that "
	"still matter, open tasks. No preamble.";

struct call {
	struct agent_turn *t;
	char *id, *name, *args;
	char *result;
	bool is_error, started, done;
	struct tools_call *tc;
};

enum state { T_START, T_COMPRESS, T_MODEL, T_TOOLS, T_SUMMARY, T_END };

/* One tool call of a streamed answer, merged from its fragments. */
struct stream_call {
	int64_t index;
	struct buf id, name, args;
};

/* The streamed answer of the current model call, as it arrives. */
struct stream {
	bool on; /* the current model call asked for a stream */
	struct sse_parser sse;
	struct buf content;
	struct stream_call *calls; /* sorted by index */
	size_t n_calls;
	size_t bytes; /* content and tool-call text, against router.max_response_bytes */
	char *finish_reason;
	bool have_usage;
	int64_t prompt_tokens, completion_tokens, cached_tokens;
	bool done;   /* [DONE] seen */
	char *error; /* why the answer is not whole (the turn's failure text), or NULL */
};

struct agent_turn {
	struct agent *a;
	struct agent_turn *next;
	struct agent_cbs cbs;
	void *arg;
	char *source, *model, *system, *extra_system;
	int64_t session_id;
	struct context_msg *msgs;
	size_t n_msgs, alloc_msgs;
	struct call *calls;
	size_t n_calls, next_call, running;
	struct router_call *rc;
	enum state state;
	enum agent_stop limit; /* AGENT_DONE while no limit was hit */
	struct event *timer;   /* turn_timeout_s */
	struct event *defer;   /* runs step() from the loop */
	int model_calls, n_tool_calls, compressions;
	int64_t prompt_tokens, completion_tokens, last_bytes;
	int64_t last_prompt_tokens, cached_tokens; /* of the last model call */
	double cost_usd;
	struct stream stream;
	double max_cost_usd; /* this turn's cap: agent.max_turn_cost_usd or the caller's lower one
			      */
	bool compress_tried, cancelled, time_up;
	/* The turn's clock stops while a tool call waits for the human (an approval, ask_user):
	 * deadline_ms moves on by each wait; a timer firing during one waits for its end. */
	int asking;
	int64_t asking_since_ms, deadline_ms;
	int64_t started_ms, last_ms; /* the session's start and its last message (wall clock) */
	bool timeout_held;
	bool tainted, web_any; /* trust: see the top of this file */
	char *fail_text;
	char *stored_answer;	  /* a continued turn whose answer was already stored */
	struct agent_part *parts; /* copies; they go with the message marked parts */
	size_t n_parts;
	/* The tool list of the turn's first call, sent unchanged by its later calls: an MCP server
	 * that connects or changes its tools mid-turn would otherwise change the request's
	 * prefix, and the provider's cache would miss on all that follows it. */
	char *tools_json;
	const struct tools_scope *scope; /* NULL = every tool */
	/* The audit trail's turn line: its start, the skills it read ("a,b"), the user's text
	 * when audit.include_text. */
	int64_t audit_t0_ms;
	struct buf audit_skills;
	char *audit_in;
	/* Tools' side calls and lines for the human (see "side calls" below). */
	struct buf side_keys; /* "\nkey\n..." of the side calls made */
	struct buf notices;   /* lines, shown after the answer */
	/* The caller's tool of this turn (agent_turn_opts.tool), or NULL; its call in flight
	 * is answered from local_ev (a tool's answer never comes from inside start_call). */
	const struct agent_tool *tool;
	struct event *local_ev;
	struct call *local_call;
	struct buf local_out;
	bool local_error;
};

/* The usage of a source's last model call, for agent_context_split. */
struct last_call {
	char *source; /* NULL = free slot */
	int64_t session_id, prompt_tokens, cached_tokens;
};

struct agent {
	struct agent_env env;
	struct agent_turn *turns;
	struct context_backoff backoff;
	struct last_call last[LAST_SLOTS];
	size_t next_last; /* the slot a new source takes (the oldest) */
};

static void step(struct agent_turn *t);
static void finish(struct agent_turn *t, enum agent_stop stop, const char *text);

const char *agent_stop_name(enum agent_stop s)
{
	static const char *const names[] = {"done",	    "max_iterations", "max_turn_cost",
					    "turn_timeout", "cancelled",      "failed"};

	return (size_t)s < ARRAY_LEN(names) ? names[s] : "?";
}

/* ---- messages ---------------------------------------------------------------------- */

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
static int add_msg_from(struct agent_turn *t, const char *role, char *json, const char *text,
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

static int add_msg(struct agent_turn *t, const char *role, char *json, const char *text)
{
	return add_msg_from(t, role, json, text, NULL);
}

static char *json_message(const char *role, const char *content, const char *tool_call_id)
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
			 json_message("tool", "(no result: the turn was interrupted)",
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

/* ---- the system prompt ------------------------------------------------------------- */

static void read_persona(const struct config *cfg, struct buf *out)
{
	FILE *f;
	char chunk[4096];
	size_t n;

	if (!cfg->agent.persona_file) {
		buf_puts(out, default_persona);
		return;
	}
	f = fopen(cfg->agent.persona_file, "re");
	if (!f) {
		log_warn("agent: persona %s unreadable (%m); using the built-in one",
			 cfg->agent.persona_file);
		buf_puts(out, default_persona);
		return;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(out, chunk, n) < 0)
			break;
	fclose(f);
}

/* The job a cron run's source ("cron:<job>") names, for its skills; NULL for other sources. */
static const struct config_cron_job *cron_job_of(const struct config *cfg, const char *source)
{
	size_t i;

	for (i = 0; source && strncmp(source, "cron:", 5) == 0 && i < cfg->n_cron_jobs; i++)
		if (strcmp(cfg->cron_jobs[i].name, source + 5) == 0)
			return &cfg->cron_jobs[i];
	return NULL;
}

/* The system prompt of a session of source that starts with text (both may be NULL): the
 * skills index names the skills that match text, and a cron job's own. */
static char *system_prompt(const struct agent *a, const char *source, const char *text)
{
	const struct config *cfg = a->env.cfg;
	const struct config_cron_job *job = cron_job_of(cfg, source);
	struct buf b, part;

	buf_init(&b, 64 * 1024);
	read_persona(cfg, &b);
	buf_init(&part, 0);
	if (cfg->toolsets & CONFIG_TOOLSET_SKILLS) {
		tools_skills_index(cfg, text, job ? (const char *const *)job->skills : NULL,
				   job ? job->n_skills : 0, &part);
		if (part.len)
			buf_printf(&b, "%s%s", skills_head, buf_str(&part));
	}
	buf_reset(&part);
	if (cfg->toolsets & CONFIG_TOOLSET_MEMORY) {
		tools_memory_snapshot(cfg, &part);
		if (part.len)
			buf_printf(&b, "\n\n%s", buf_str(&part));
	}
	buf_finish(&part);
	return buf_steal(&b);
}

char *agent_system_prompt(const struct agent *a)
{
	return system_prompt(a, NULL, NULL);
}

/* The time, for the model, without breaking the provider's prompt cache: the system prompt
 * says when the conversation started (the same bytes in every call of the session), and a
 * user message that comes TIME_NOTE_AFTER_MS or more after the previous message of the session
 * starts with the time it was written, stored with it (so it never changes either). */
#define TIME_NOTE_AFTER_MS (15 * 60 * 1000)

static void format_local(int64_t ms, char *out, size_t len)
{
	time_t when = (time_t)(ms / 1000);
	struct tm tm;

	localtime_r(&when, &tm);
	strftime(out, len, "%a %Y-%m-%d %H:%M %Z", &tm);
}

static void append_now(const struct agent_turn *t, struct buf *b)
{
	char line[80];

	const char *tz = t->a->env.cfg->timezone;

	format_local(t->started_ms ? t->started_ms : now_wall_ms(), line, sizeof(line));
	/* The zone's name once: "UTC (UTC)" says nothing twice. */
	buf_printf(b,
		   "\n\nThis conversation started %s%s%s%s; later messages start with their time "
		   "when it has moved on.",
		   line, strstr(line, tz) ? "" : " (", strstr(line, tz) ? "" : tz,
		   strstr(line, tz) ? "" : ")");
}

/* ---- budget and compression ---------------------------------------------------------- */

static int64_t budget_tokens(const struct agent_turn *t)
{
	return context_budget_tokens(t->a->env.cfg, t->model);
}

static bool over_budget(const struct agent_turn *t, size_t tools_bytes)
{
	return context_over_budget(context_request_bytes(strlen(t->system), t->msgs, t->n_msgs) +
					   tools_bytes,
				   budget_tokens(t));
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
			m->json = json_message("tool", line, id->valuestring);
			m->len = strlen(m->json);
			free(line);
		}
		cJSON_Delete(j);
	}
}

/* The middle to summarise or leave out (context_middle). */
static bool pick_middle(const struct agent_turn *t, size_t *from, size_t *to)
{
	return context_middle(t->msgs, t->n_msgs, budget_tokens(t), from, to);
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
static void trim_to_fit(struct agent_turn *t, size_t tools_bytes)
{
	size_t dropped = 0;

	while (over_budget(t, tools_bytes)) {
		size_t from, end;

		if (!context_next_drop(t->msgs, t->n_msgs, budget_tokens(t), &from, &end))
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

/* The agent's caller for one of t's calls: budgets see "internal", the audit trail the
 * turn's source and session. */
static struct router_caller caller_of(const struct agent_turn *t, const char *purpose)
{
	return (struct router_caller){.key_hash = "internal",
				      .key_alias = "agent",
				      .source = t->source,
				      .session_id = t->session_id,
				      .purpose = purpose};
}

static const struct router_cbs compress_cbs = {.on_done = on_compressed};

/* Returns true when a compression call was started (step continues from its callback). */
static bool compress_start(struct agent_turn *t)
{
	const struct config *cfg = t->a->env.cfg;
	size_t from, to;
	struct buf excerpt, body;
	struct router_caller who;
	bool has_middle;
	int rc;

	has_middle = pick_middle(t, &from, &to);
	if (!context_compress_allowed(
		    t->compress_tried,
		    context_in_backoff(&t->a->backoff, t->session_id, now_mono_ms()), has_middle))
		return false;
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
	t->state = T_COMPRESS;
	who = caller_of(t, "compression");
	rc = router_chat(t->a->env.router, body.data, body.len, &who, &compress_cbs, t, &t->rc);
	buf_finish(&body);
	return rc == 0;
}

static char *answer_content(const char *body, size_t len);

static void apply_summary(struct agent_turn *t, const char *summary)
{
	size_t from, to;
	char *text, *json;
	int64_t *ids;
	size_t n_ids = 0;

	if (!pick_middle(t, &from, &to))
		return;
	text = xasprintf("[Summary of the earlier conversation]\n%s", summary);
	json = json_message("user", text, NULL);
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
	t->compressions++;
	t->cost_usd += r->cost_usd;
	t->prompt_tokens += r->prompt_tokens;
	t->completion_tokens += r->completion_tokens;
	if (r->status == 200)
		summary = answer_content(r->body, r->body_len);
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
	t->state = T_START;
	step(t);
}

/* ---- side calls and notices of tools ------------------------------------------------- */

/* A tool's model call (tools_llm: the memory tool condensing a full file) goes through the
 * router as compression does, so the ledger, the budgets and this turn's cost count it; one
 * per key per turn, none once the turn is stopping or at its cost cap. */
struct side_call {
	struct agent_turn *t;
	struct router_call *rc;
	tools_llm_cb cb;
	void *arg;
};

static void on_side_done(struct router_call *rc, const struct router_result *r, void *arg)
{
	struct side_call *s = arg;
	struct agent_turn *t = s->t;
	tools_llm_cb cb = s->cb;
	void *cb_arg = s->arg;
	char *text = r->status == 200 ? answer_content(r->body, r->body_len) : NULL;

	(void)rc;
	t->cost_usd += r->cost_usd;
	t->prompt_tokens += r->prompt_tokens;
	t->completion_tokens += r->completion_tokens;
	free(s);
	cb(r->status, text, cb_arg); /* may end the turn: nothing of it is touched after */
	free(text);
}

static const struct router_cbs side_cbs = {.on_done = on_side_done};

static int side_chat(void *arg, const char *key, const char *model, const char *system,
		     const char *user, int max_tokens, tools_llm_cb cb, void *cb_arg, void **call)
{
	struct agent_turn *t = arg;
	struct router_caller who;
	struct side_call *s;
	struct buf body;
	char *needle;
	bool used;
	int rc;

	if (t->cancelled || t->time_up || (t->max_cost_usd > 0 && t->cost_usd >= t->max_cost_usd))
		return -ECANCELED;
	needle = xasprintf("\n%s\n", key);
	used = strstr(buf_str(&t->side_keys), needle) != NULL;
	free(needle);
	if (used)
		return -EALREADY;
	buf_printf(&t->side_keys, "%s%s\n", t->side_keys.len ? "" : "\n", key);
	buf_init(&body, 0);
	buf_puts(&body, "{\"model\":");
	buf_json_str(&body, model, strlen(model));
	buf_printf(&body, ",\"max_tokens\":%d,\"messages\":[{\"role\":\"system\",\"content\":",
		   max_tokens);
	buf_json_str(&body, system, strlen(system));
	buf_puts(&body, "},{\"role\":\"user\",\"content\":");
	buf_json_str(&body, user, strlen(user));
	buf_puts(&body, "}]}");
	s = xcalloc(1, sizeof(*s));
	*s = (struct side_call){t, NULL, cb, cb_arg};
	who = caller_of(t, key);
	rc = router_chat(t->a->env.router, body.data, body.len, &who, &side_cbs, s, &s->rc);
	buf_finish(&body);
	if (rc < 0) {
		free(s);
		return rc;
	}
	*call = s;
	return 0;
}

static void side_cancel(void *arg, void *call)
{
	struct side_call *s = call;

	(void)arg;
	router_cancel(s->rc);
}

static const struct tools_llm side_llm = {side_chat, side_cancel};

/* A tool's line for the human: shown once, after the turn's answer. */
static void on_notice(const char *text, void *arg)
{
	struct agent_turn *t = arg;

	if (strstr(buf_str(&t->notices), text))
		return;
	buf_printf(&t->notices, "%s%s", t->notices.len ? "\n" : "", text);
}

/* ---- model calls ------------------------------------------------------------------- */

static void on_model(struct router_call *rc, const struct router_result *r, void *arg);
static const struct router_cbs model_cbs = {.on_done = on_model};

/* ---- streamed answers ------------------------------------------------------------- */

static void stream_finish(struct stream *s)
{
	if (s->on)
		sse_finish(&s->sse);
	buf_finish(&s->content);
	for (size_t i = 0; i < s->n_calls; i++) {
		buf_finish(&s->calls[i].id);
		buf_finish(&s->calls[i].name);
		buf_finish(&s->calls[i].args);
	}
	free(s->calls);
	free(s->finish_reason);
	free(s->error);
	memset(s, 0, sizeof(*s));
}

static void stream_fail(struct stream *s, char *why)
{
	if (!s->error)
		s->error = why;
	else
		free(why);
}

/* Counts n more bytes of answer; false (and the call stopped) past the cap. */
static bool stream_room(struct agent_turn *t, size_t n)
{
	long long cap = (long long)t->a->env.cfg->router.max_response_bytes;

	t->stream.bytes += n;
	if ((long long)t->stream.bytes <= cap)
		return true;
	stream_fail(&t->stream,
		    xasprintf("The model's answer is over router.max_response_bytes (%lld bytes); "
			      "it was stopped there.",
			      cap));
	/* Deferred by the router (httpc_cancel), so safe from inside its data callback. */
	if (t->rc)
		router_cancel(t->rc);
	return false;
}

/* The call of a tool_calls fragment: by index, kept sorted; a fragment without an index
 * starts a call when it has an id, else continues the last one. NULL at the cap. */
static struct stream_call *stream_call_of(struct agent_turn *t, const cJSON *frag)
{
	struct stream *s = &t->stream;
	const cJSON *index = cJSON_GetObjectItemCaseSensitive(frag, "index");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(frag, "id");
	int64_t at;
	size_t i;

	if (cJSON_IsNumber(index))
		at = clamp_i64(index->valuedouble, 0, INT64_C(1) << 40);
	else if (s->n_calls && !(cJSON_IsString(id) && *id->valuestring))
		return &s->calls[s->n_calls - 1];
	else
		at = s->n_calls ? s->calls[s->n_calls - 1].index + 1 : 0;
	for (i = 0; i < s->n_calls && s->calls[i].index < at; i++)
		;
	if (i < s->n_calls && s->calls[i].index == at)
		return &s->calls[i];
	if (s->n_calls == STREAM_MAX_CALLS) {
		stream_fail(s, xasprintf("The model's answer has more than %d tool calls; it was "
					 "not acted on.",
					 STREAM_MAX_CALLS));
		if (t->rc)
			router_cancel(t->rc);
		return NULL;
	}
	s->calls = xrealloc(s->calls, (s->n_calls + 1) * sizeof(*s->calls));
	memmove(&s->calls[i + 1], &s->calls[i], (s->n_calls - i) * sizeof(*s->calls));
	s->n_calls++;
	s->calls[i] = (struct stream_call){.index = at};
	return &s->calls[i];
}

/* Appends a string fragment to b, counted against the cap. */
static bool stream_add(struct agent_turn *t, struct buf *b, const cJSON *v)
{
	size_t n;

	if (!cJSON_IsString(v))
		return true;
	n = strlen(v->valuestring);
	if (!stream_room(t, n))
		return false;
	buf_append(b, v->valuestring, n);
	return true;
}

static bool stream_tool_calls(struct agent_turn *t, const cJSON *calls)
{
	const cJSON *frag;

	cJSON_ArrayForEach(frag, calls)
	{
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(frag, "function");
		struct stream_call *c = stream_call_of(t, frag);

		if (!c || !stream_add(t, &c->id, cJSON_GetObjectItemCaseSensitive(frag, "id")) ||
		    !stream_add(t, &c->name, cJSON_GetObjectItemCaseSensitive(f, "name")) ||
		    !stream_add(t, &c->args, cJSON_GetObjectItemCaseSensitive(f, "arguments")))
			return false;
	}
	return true;
}

static void stream_usage(struct stream *s, const cJSON *usage)
{
	const cJSON *pt = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens");
	const cJSON *ct = cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens");
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
	const cJSON *cached = cJSON_GetObjectItemCaseSensitive(details, "cached_tokens");

	s->have_usage = true;
	if (cJSON_IsNumber(pt))
		s->prompt_tokens = clamp_i64(pt->valuedouble, 0, INT64_C(1) << 50);
	if (cJSON_IsNumber(ct))
		s->completion_tokens = clamp_i64(ct->valuedouble, 0, INT64_C(1) << 50);
	if (cJSON_IsNumber(cached))
		s->cached_tokens = clamp_i64(cached->valuedouble, 0, INT64_C(1) << 50);
}

/* Reads one chunk; returns whether it added text. An error stops the parser (sticky). */
static int stream_chunk(struct agent_turn *t, const cJSON *root, bool *added)
{
	struct stream *s = &t->stream;
	const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
	const cJSON *err = cJSON_GetObjectItemCaseSensitive(root, "error");
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
	const cJSON *choice = cJSON_GetArrayItem(choices, 0);
	const cJSON *delta = cJSON_GetObjectItemCaseSensitive(choice, "delta");
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(delta, "content");
	const cJSON *fr = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
	size_t before = s->content.len;

	if (err && !cJSON_IsArray(choices)) {
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(err, "message");

		stream_fail(s, xasprintf("The model's answer broke off mid-stream: %s",
					 cJSON_IsString(m) ? m->valuestring : "an error event"));
		return -1;
	}
	if (cJSON_IsObject(usage))
		stream_usage(s, usage);
	if (cJSON_IsString(fr)) {
		free(s->finish_reason);
		s->finish_reason = xstrdup(fr->valuestring);
	}
	if (!stream_add(t, &s->content, content) ||
	    !stream_tool_calls(t, cJSON_GetObjectItemCaseSensitive(delta, "tool_calls")))
		return -1;
	*added = s->content.len > before;
	return 0;
}

/* One SSE event of the stream (the sse_parser callback). */
static int stream_event(const struct sse_event *ev, void *arg)
{
	struct agent_turn *t = arg;
	struct stream *s = &t->stream;
	bool added = false;
	cJSON *root;
	int rc;

	if (strcmp(ev->data, "[DONE]") == 0) {
		s->done = true;
		return 0;
	}
	root = json_parse(ev->data, ev->data_len, 0, NULL);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		stream_fail(s, xstrdup("The model's answer broke off mid-stream: a chunk that is "
				       "not JSON."));
		return -1;
	}
	rc = stream_chunk(t, root, &added);
	cJSON_Delete(root);
	if (rc == 0 && added && !t->cancelled)
		t->cbs.on_text(buf_str(&s->content), s->content.len, t->arg);
	return rc;
}

static void on_stream_start(struct router_call *rc, const struct router_result *r, void *arg)
{
}

static void on_stream_data(struct router_call *rc, const char *data, size_t len, void *arg)
{
	struct agent_turn *t = arg;
	int rc_feed;

	if (!t->stream.on || t->stream.error || t->stream.done || t->cancelled)
		return;
	rc_feed = sse_feed(&t->stream.sse, data, len);
	if (rc_feed == -E2BIG)
		stream_fail(
			&t->stream,
			xasprintf("The model's answer broke off: a streamed event over %d bytes.",
				  STREAM_EVENT_CAP));
}

static const struct router_cbs stream_cbs = {
	.on_stream_start = on_stream_start, .on_stream_data = on_stream_data, .on_done = on_model};

/* The completion a non-streamed call would have returned, from the streamed pieces: the
 * message (content null when there is none, as in a tool-call answer), finish_reason, usage. */
static char *stream_completion(const struct stream *s)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
		     "{\"role\":\"assistant\",\"content\":");
	if (s->content.len)
		buf_json_str(&b, s->content.data, s->content.len);
	else
		buf_puts(&b, "null");
	if (s->n_calls) {
		buf_puts(&b, ",\"tool_calls\":[");
		for (size_t i = 0; i < s->n_calls; i++) {
			const struct stream_call *c = &s->calls[i];

			buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
			buf_json_str(&b, buf_str(&c->id), c->id.len);
			buf_puts(&b, ",\"type\":\"function\",\"function\":{\"name\":");
			buf_json_str(&b, buf_str(&c->name), c->name.len);
			buf_puts(&b, ",\"arguments\":");
			buf_json_str(&b, buf_str(&c->args), c->args.len);
			buf_puts(&b, "}}");
		}
		buf_puts(&b, "]");
	}
	buf_puts(&b, "},\"finish_reason\":");
	if (s->finish_reason)
		buf_json_str(&b, s->finish_reason, strlen(s->finish_reason));
	else
		buf_puts(&b, "null");
	buf_puts(&b, "}]");
	if (s->have_usage)
		buf_printf(&b,
			   ",\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,"
			   "\"prompt_tokens_details\":{\"cached_tokens\":%lld}}",
			   (long long)s->prompt_tokens, (long long)s->completion_tokens,
			   (long long)s->cached_tokens);
	buf_puts(&b, "}");
	return buf_steal(&b);
}

/* Appends the file at home/rel as base64. 0, or a negative errno with nothing appended. */
static int append_file_base64(int home_fd, const char *rel, struct buf *b)
{
	int rc, fd = safeio_open_at(home_fd, rel, O_RDONLY, 0);

	if (fd < 0)
		return fd;
	rc = fileio_base64_fd(fd, b);
	close(fd);
	return rc;
}

static void append_part(struct agent_turn *t, int home_fd, const struct agent_part *p,
			struct buf *b)
{
	size_t start = b->len;
	int rc = -EBADF;

	switch (p->kind) {
	case AGENT_PART_IMAGE:
		buf_printf(b, ",{\"type\":\"image_url\",\"image_url\":{\"url\":\"data:%s;base64,",
			   p->type);
		break;
	case AGENT_PART_AUDIO:
		buf_puts(b, ",{\"type\":\"input_audio\",\"input_audio\":{\"data\":\"");
		break;
	case AGENT_PART_PDF:
		buf_puts(b, ",{\"type\":\"file\",\"file\":{\"filename\":");
		buf_json_str(b, p->filename, strlen(p->filename));
		buf_puts(b, ",\"file_data\":\"data:application/pdf;base64,");
		break;
	}
	if (home_fd >= 0)
		rc = append_file_base64(home_fd, p->path, b);
	if (rc < 0) {
		char note[300];

		b->len = start;
		snprintf(note, sizeof(note), "[the attached file %s could not be read: %s]",
			 p->path, safeio_strerror(rc));
		buf_puts(b, ",{\"type\":\"text\",\"text\":");
		buf_json_str(b, note, strlen(note));
		buf_puts(b, "}");
		log_warn("agent: %s: %s", t->source, note);
		return;
	}
	if (p->kind == AGENT_PART_AUDIO)
		buf_printf(b, "\",\"format\":\"%s\"}}", p->type);
	else
		buf_puts(b, "\"}}");
}

/* The turn's user message with its files: content becomes [text, parts...]. */
static void user_with_parts(struct agent_turn *t, const struct context_msg *m, struct buf *b)
{
	cJSON *j = json_parse(m->json, m->len, 0, NULL);
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(j, "content");
	int home_fd = safeio_open_home(t->a->env.cfg->home);

	buf_puts(b, "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":");
	if (cJSON_IsString(content))
		buf_json_str(b, content->valuestring, strlen(content->valuestring));
	else
		buf_puts(b, "\"\"");
	buf_puts(b, "}");
	for (size_t i = 0; i < t->n_parts; i++)
		append_part(t, home_fd, &t->parts[i], b);
	buf_puts(b, "]}");
	if (home_fd >= 0)
		close(home_fd);
	cJSON_Delete(j);
}

/* Prompt-cache marks for providers that cache only what is marked (Anthropic; Gemini through
 * OpenRouter: router_wants_cache_marks). Three of Anthropic's four: the system prompt (with
 * the tools before it, the same all session), the turn's user message (a prefix that holds
 * through the turn's tool rounds) and the request's last message (what the next call reads
 * back). Anthropic looks for a cached prefix up to 20 blocks before each mark, so the marks
 * moving on with the conversation still find the last call's. The router takes the marks
 * out for a deployment that does not use them. */
static void put_marked(struct buf *b, const char *json, size_t len)
{
	cJSON *j = json_parse(json, len, 0, NULL);
	char *text;

	if (!j || !prompt_cache_mark(j) || !(text = cJSON_PrintUnformatted(j))) {
		buf_append(b, json, len);
		cJSON_Delete(j);
		return;
	}
	buf_puts(b, text);
	free(text);
	cJSON_Delete(j);
}

/* The index of the newest stored user message, or SIZE_MAX. */
static size_t newest_user(const struct agent_turn *t)
{
	for (size_t i = t->n_msgs; i-- > 0;)
		if (t->msgs[i].role == 'u')
			return i;
	return SIZE_MAX;
}

static void build_request(struct agent_turn *t, const char *tools_json, bool summary,
			  const char *note, bool stream, struct buf *b)
{
	bool marks = router_wants_cache_marks(t->a->env.router, t->model);
	size_t user = marks ? newest_user(t) : SIZE_MAX;
	struct buf sys;

	buf_init(&sys, 0);
	buf_puts(&sys, t->system);
	if (t->extra_system)
		buf_printf(&sys, "\n\n%s", t->extra_system);
	append_now(t, &sys);
	buf_puts(b, "{\"model\":");
	buf_json_str(b, t->model, strlen(t->model));
	/* The tools before the messages, as providers put them in the prompt: the request's
	 * bytes then share their longest prefix with the session's previous call. */
	if (tools_json && strcmp(tools_json, "[]") != 0) {
		buf_printf(b, ",\"tools\":%s", tools_json);
		if (summary)
			buf_puts(b, ",\"tool_choice\":\"none\"");
	}
	buf_puts(b, ",\"messages\":[{\"role\":\"system\",\"content\":");
	if (marks)
		buf_puts(b, "[{\"type\":\"text\",\"text\":");
	buf_json_str(b, sys.data, sys.len);
	if (marks)
		buf_puts(b, ",\"cache_control\":{\"type\":\"ephemeral\"}}]");
	buf_puts(b, "}");
	buf_finish(&sys);
	for (size_t i = 0; i < t->n_msgs; i++) {
		bool mark = marks && (i == user || (i + 1 == t->n_msgs && !note));

		buf_puts(b, ",");
		if (t->msgs[i].parts && t->n_parts) {
			if (!mark) {
				user_with_parts(t, &t->msgs[i], b);
				continue;
			}
			struct buf parts;

			buf_init(&parts, 0);
			user_with_parts(t, &t->msgs[i], &parts);
			put_marked(b, parts.data, parts.len);
			buf_finish(&parts);
		} else if (mark) {
			put_marked(b, t->msgs[i].json, t->msgs[i].len);
		} else {
			buf_append(b, t->msgs[i].json, t->msgs[i].len);
		}
	}
	if (note) {
		buf_puts(b, ",{\"role\":\"user\",\"content\":");
		if (marks)
			buf_puts(b, "[{\"type\":\"text\",\"text\":");
		buf_json_str(b, note, strlen(note));
		if (marks)
			buf_puts(b, ",\"cache_control\":{\"type\":\"ephemeral\"}}]");
		buf_puts(b, "}");
	}
	buf_puts(b, "]");
	if (stream)
		buf_puts(b, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
	buf_puts(b, "}");
}

static const char *limit_text(const struct agent_turn *t, char *out, size_t len)
{
	const struct config *cfg = t->a->env.cfg;

	switch (t->limit) {
	case AGENT_STOP_ITERATIONS:
		snprintf(out, len, "the limit of %lld model calls per turn (agent.max_iterations)",
			 (long long)cfg->agent.max_iterations);
		break;
	case AGENT_STOP_COST:
		if (t->max_cost_usd != cfg->agent.max_turn_cost_usd ||
		    cfg->agent.max_turn_cost_usd <= 0)
			snprintf(out, len, "the cost limit of $%.4f for this run", t->max_cost_usd);
		else
			snprintf(out, len,
				 "the cost limit of $%.4f per turn (agent.max_turn_cost_usd)",
				 cfg->agent.max_turn_cost_usd);
		break;
	case AGENT_STOP_TIME:
		snprintf(out, len, "the time limit of %lld s per turn (agent.turn_timeout_s)",
			 (long long)cfg->agent.turn_timeout_s);
		break;
	default:
		snprintf(out, len, "a limit");
	}
	return out;
}

static void model_call(struct agent_turn *t, const char *tools_json)
{
	bool summary = t->limit != AGENT_DONE;
	char why[160], note[400];
	struct router_caller who;
	struct buf body;
	int rc;

	if (summary)
		snprintf(note, sizeof(note),
			 "[hermetic] This turn has reached %s. Do not call tools. Tell the user "
			 "briefly what you did, what you found, and what is still open.",
			 limit_text(t, why, sizeof(why)));
	stream_finish(&t->stream);
	if (t->cbs.on_text) {
		t->stream.on = true;
		sse_init(&t->stream.sse, STREAM_EVENT_CAP, stream_event, t);
		buf_init(&t->stream.content, 0);
	}
	buf_init(&body, 0);
	build_request(t, tools_json, summary, summary ? note : NULL, t->stream.on, &body);
	t->last_bytes = (int64_t)body.len;
	t->state = summary ? T_SUMMARY : T_MODEL;
	t->model_calls++;
	who = caller_of(t, summary ? "limit_summary" : "turn");
	rc = router_chat(t->a->env.router, body.data, body.len, &who,
			 t->stream.on ? &stream_cbs : &model_cbs, t, &t->rc);
	buf_finish(&body);
	if (rc < 0)
		finish(t, AGENT_FAILED, "internal error: the router refused the request");
}

static enum agent_stop limit_hit(const struct agent_turn *t)
{
	const struct config *cfg = t->a->env.cfg;

	if (t->time_up)
		return AGENT_STOP_TIME;
	if (t->model_calls >= cfg->agent.max_iterations)
		return AGENT_STOP_ITERATIONS;
	if (t->max_cost_usd > 0 && t->cost_usd >= t->max_cost_usd)
		return AGENT_STOP_COST;
	return AGENT_DONE;
}

/* Decides what happens next: compression, a model call, or the limit's summary call. */
/* The turn's own tool joins the array the tools layer rendered ("[...]"). */
static void add_turn_tool(struct agent_turn *t, struct buf *tools_json)
{
	char *rendered = buf_steal(tools_json);
	size_t len = strlen(rendered);

	while (len && rendered[len - 1] != ']')
		len--;
	buf_init(tools_json, 0);
	buf_append(tools_json, rendered, len ? len - 1 : 0);
	if (!len)
		buf_puts(tools_json, "[");
	buf_printf(tools_json, "%s%s]", len > 2 ? "," : "", t->tool->schema_json);
	free(rendered);
}

static void step(struct agent_turn *t)
{
	size_t tools_len;

	if (t->cancelled) {
		finish(t, AGENT_CANCELLED, "");
		return;
	}
	if (t->fail_text) {
		finish(t, AGENT_FAILED, t->fail_text);
		return;
	}
	if (t->stored_answer) {
		finish(t, AGENT_DONE, t->stored_answer);
		return;
	}
	if ((t->model_calls > 0 || t->time_up) && t->limit == AGENT_DONE)
		t->limit = limit_hit(t);
	if (!t->tools_json) {
		struct buf tools_json;

		buf_init(&tools_json, 0);
		if (t->scope)
			tools_schemas_json_scoped(t->a->env.tools, t->scope, &tools_json);
		else
			tools_schemas_json(t->a->env.tools, &tools_json);
		if (t->tool)
			add_turn_tool(t, &tools_json);
		t->tools_json = buf_steal(&tools_json);
	}
	tools_len = strlen(t->tools_json);
	if (over_budget(t, tools_len)) {
		shorten_tool_results(t);
		if (over_budget(t, tools_len) && t->state != T_COMPRESS && compress_start(t))
			return;
		trim_to_fit(t, tools_len);
	}
	model_call(t, t->tools_json);
}

static void on_defer(evutil_socket_t fd, short what, void *arg)
{
	step(arg);
}

/* choices[0].message of a parsed completion, or NULL. */
static cJSON *first_message(const cJSON *completion)
{
	return cJSON_GetObjectItemCaseSensitive(
		cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(completion, "choices"), 0),
		"message");
}

/* The assistant's text of a completion body, or NULL. */
static char *answer_content(const char *body, size_t len)
{
	cJSON *j = json_parse(body, len, 0, NULL);
	cJSON *msg = first_message(j);
	cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
	char *s = cJSON_IsString(content) ? xstrdup(content->valuestring) : NULL;

	cJSON_Delete(j);
	return s;
}

/* "the model call failed: MESSAGE (HTTP 429)" from an OpenAI error body. */
static char *error_text(const struct router_result *r)
{
	cJSON *j = json_parse(r->body ? r->body : "", r->body_len, 0, NULL);
	cJSON *m = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "error"),
						    "message");
	char *s = xasprintf("The model call failed (HTTP %d): %s", r->status,
			    cJSON_IsString(m) ? m->valuestring : "no details");

	cJSON_Delete(j);
	return s;
}

/* ---- tool calls -------------------------------------------------------------------- */

static void run_calls(struct agent_turn *t);

static void taint_key(const struct agent_turn *t, char *key, size_t len)
{
	snprintf(key, len, "session.%lld.tainted", (long long)t->session_id);
}

/* From now on, and in later turns of the session: its history holds untrusted text. */
static void taint(struct agent_turn *t, const char *by)
{
	char key[48];
	int rc;

	if (t->tainted)
		return;
	t->tainted = true;
	taint_key(t, key, sizeof(key));
	rc = store_kv_put(t->a->env.store, key, by);
	if (rc < 0 && rc != -EINPROGRESS)
		log_warn("agent: session %lld: the untrusted mark was not stored",
			 (long long)t->session_id);
}

static void on_tool(bool is_error, const char *text, size_t len, void *arg)
{
	struct call *c = arg;
	struct agent_turn *t = c->t;

	c->tc = NULL;
	if (tools_taints(t->a->env.tools, c->name))
		taint(t, c->name);
	c->done = true;
	c->is_error = is_error;
	c->result = xstrndup(text, len);
	t->running--;
	if (t->cbs.on_tool_result)
		t->cbs.on_tool_result(c->name, is_error, text, len, t->arg);
	run_calls(t);
}

static void on_asking(bool on, void *arg)
{
	struct agent_turn *t = arg;
	int64_t now = now_mono_ms(), left;
	struct timeval tv;

	if (on) {
		if (t->asking++ == 0)
			t->asking_since_ms = now;
		return;
	}
	if (t->asking <= 0 || --t->asking > 0)
		return;
	t->deadline_ms += now - t->asking_since_ms;
	left = t->deadline_ms > now ? t->deadline_ms - now : 0;
	tv = (struct timeval){(time_t)(left / 1000), (suseconds_t)(left % 1000) * 1000};
	if (t->timeout_held || evtimer_pending(t->timer, NULL)) {
		t->timeout_held = false;
		evtimer_del(t->timer);
		evtimer_add(t->timer, &tv);
	}
}

/* A skill the turn reads, for its audit line (capped: the buf drops what does not fit). */
static void note_skill(struct agent_turn *t, const char *args)
{
	cJSON *j = json_parse_str(args ? args : "", NULL);
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "name");

	if (cJSON_IsString(n) && strlen(n->valuestring) < 128)
		buf_printf(&t->audit_skills, "%s%s", t->audit_skills.len ? "," : "",
			   n->valuestring);
	cJSON_Delete(j);
}

/* The turn's line of the audit trail. */
static void audit_turn(const struct agent_turn *t, enum agent_stop stop, const char *answer)
{
	struct audit_line l;

	audit_begin(&l, "turn");
	if (!l.on)
		return;
	audit_str(&l, "source", t->source);
	audit_int(&l, "session", t->session_id);
	audit_str(&l, "model_group", t->model);
	if (t->audit_skills.len)
		audit_str(&l, "skills", buf_str(&t->audit_skills));
	audit_str(&l, "outcome", agent_stop_name(stop));
	audit_int(&l, "model_calls", t->model_calls);
	audit_int(&l, "tool_calls", (int64_t)t->n_tool_calls);
	audit_int(&l, "compressions", t->compressions);
	audit_int(&l, "input_tokens", t->prompt_tokens);
	audit_int(&l, "cached_tokens", t->cached_tokens);
	audit_int(&l, "output_tokens", t->completion_tokens);
	audit_num(&l, "cost_usd", t->cost_usd);
	audit_int(&l, "ms", now_mono_ms() - t->audit_t0_ms);
	audit_text(&l, "text", t->audit_in);
	audit_text(&l, "answer", answer);
	audit_end(&l);
}

static void on_local(evutil_socket_t fd, short what, void *arg)
{
	struct agent_turn *t = arg;
	struct call *c = t->local_call;

	t->local_call = NULL;
	on_tool(t->local_error, buf_str(&t->local_out), t->local_out.len, c);
}

/* The turn's own tool: answered now, handed on from the loop. */
static void call_local(struct agent_turn *t, struct call *c)
{
	struct timeval now = {0, 0};

	buf_finish(&t->local_out);
	buf_init(&t->local_out, 0);
	t->local_error = t->tool->call(c->args, &t->local_out, t->tool->arg);
	t->local_call = c;
	if (!t->local_ev)
		t->local_ev = evtimer_new(loop_base(t->a->env.loop), on_local, t);
	evtimer_add(t->local_ev, &now);
}

static void start_call(struct agent_turn *t, struct call *c)
{
	char sid[24];
	struct tools_ctx ctx = {sid,	   t->source, t->tainted, t->web_any, on_asking, t,
				&side_llm, t,	      on_notice,  t,	      t->scope};

	snprintf(sid, sizeof(sid), "%lld", (long long)t->session_id);
	c->started = true;
	t->running++;
	t->n_tool_calls++;
	if (audit_is_open() && strcmp(c->name, "skill_view") == 0)
		note_skill(t, c->args);
	if (t->cbs.on_tool_call)
		t->cbs.on_tool_call(c->name, c->args, t->arg);
	if (t->tool && strcmp(c->name, t->tool->name) == 0) {
		call_local(t, c);
		return;
	}
	tools_call(t->a->env.tools, c->name, c->args, &ctx, on_tool, c, &c->tc);
}

static void free_calls(struct agent_turn *t)
{
	for (size_t i = 0; i < t->n_calls; i++) {
		free(t->calls[i].id);
		free(t->calls[i].name);
		free(t->calls[i].args);
		free(t->calls[i].result);
	}
	free(t->calls);
	t->calls = NULL;
	t->n_calls = t->next_call = 0;
}

/* All results in: stored in call order, then the next step. */
static void calls_done(struct agent_turn *t)
{
	for (size_t i = 0; i < t->n_calls; i++) {
		struct call *c = &t->calls[i];
		const char *text = c->result ? c->result : "not run: the turn was stopped";
		char *body = c->is_error ? xasprintf("Error: %s", text) : xstrdup(text);

		add_msg(t, "tool", json_message("tool", body, c->id), NULL);
		free(body);
	}
	free_calls(t);
	t->state = T_START;
	step(t);
}

/* Consecutive read-only calls run together; any other call runs alone, in order. */
static void run_calls(struct agent_turn *t)
{
	while (t->next_call < t->n_calls && !t->cancelled && !t->time_up) {
		struct call *c = &t->calls[t->next_call];
		bool ro = tools_read_only(t->a->env.tools, c->name);

		if (c->done) { /* answered already (over MAX_TOOL_CALLS) */
			t->next_call++;
			continue;
		}
		if (!ro && t->running > 0)
			return;
		t->next_call++;
		start_call(t, c);
		if (!ro)
			return;
	}
	if (t->running == 0)
		calls_done(t);
}

/* Copies the assistant message (content, tool_calls) out of the parsed answer. */
static void take_calls(struct agent_turn *t, const cJSON *calls, const char *content)
{
	cJSON *stored = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(stored, "tool_calls");
	cJSON *c;
	char *json;
	size_t n = 0;

	cJSON_AddStringToObject(stored, "role", "assistant");
	if (content)
		cJSON_AddStringToObject(stored, "content", content);
	else
		cJSON_AddNullToObject(stored, "content");
	t->n_calls = (size_t)cJSON_GetArraySize(calls);
	t->calls = xcalloc(t->n_calls ? t->n_calls : 1, sizeof(*t->calls));
	cJSON_ArrayForEach(c, calls)
	{
		cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "function");
		cJSON *id = cJSON_GetObjectItemCaseSensitive(c, "id");
		cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
		cJSON *args = cJSON_GetObjectItemCaseSensitive(f, "arguments");
		struct call *k = &t->calls[n];
		cJSON *out = cJSON_CreateObject(), *fo;

		k->t = t;
		k->id = cJSON_IsString(id) && *id->valuestring
				? xstrdup(id->valuestring)
				: xasprintf("call_%d_%zu", t->model_calls, n);
		k->name = xstrdup(cJSON_IsString(name) ? name->valuestring : "");
		k->args = cJSON_IsString(args) ? xstrdup(args->valuestring)
			  : args	       ? cJSON_PrintUnformatted(args)
					       : xstrdup("{}");
		cJSON_AddStringToObject(out, "id", k->id);
		cJSON_AddStringToObject(out, "type", "function");
		fo = cJSON_AddObjectToObject(out, "function");
		cJSON_AddStringToObject(fo, "name", k->name);
		cJSON_AddStringToObject(fo, "arguments", k->args);
		cJSON_AddItemToArray(arr, out);
		if (n >= MAX_TOOL_CALLS) {
			k->done = k->started = true;
			k->is_error = true;
			k->result = xasprintf("not run: at most %d tool calls per answer",
					      MAX_TOOL_CALLS);
		}
		n++;
	}
	json = cJSON_PrintUnformatted(stored);
	cJSON_Delete(stored);
	add_msg(t, "assistant", json, content);
}

/* usage.prompt_tokens_details.cached_tokens of a completion, 0 when absent. */
static int64_t cached_of(const cJSON *completion)
{
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(completion, "usage");
	const cJSON *details = cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details");
	const cJSON *cached = cJSON_GetObjectItemCaseSensitive(details, "cached_tokens");

	return cJSON_IsNumber(cached) ? clamp_i64(cached->valuedouble, 0, INT64_C(1) << 50) : 0;
}

/* A whole completion (the router's answer, or one assembled from a stream): its tool calls
 * run, or its text ends the turn. */
static void got_answer(struct agent_turn *t, const char *body, size_t len)
{
	cJSON *j = json_parse(body, len, 0, NULL);
	cJSON *msg = first_message(j);
	cJSON *content = cJSON_GetObjectItemCaseSensitive(msg, "content");
	cJSON *calls = cJSON_GetObjectItemCaseSensitive(msg, "tool_calls");
	const char *text = cJSON_IsString(content) ? content->valuestring : NULL;

	t->cached_tokens = cached_of(j);
	if (!msg) {
		finish(t, AGENT_FAILED, "The model's answer could not be read (no message).");
	} else if (t->state == T_MODEL && cJSON_GetArraySize(calls) > 0) {
		take_calls(t, calls, text);
		t->state = T_TOOLS;
		run_calls(t);
	} else {
		finish(t, t->state == T_SUMMARY ? t->limit : AGENT_DONE, text ? text : "");
	}
	cJSON_Delete(j);
}

/* A streamed call that ended with status 200: whole ([DONE], no error), or why not. */
static bool stream_whole(const struct stream *s, const struct router_result *r)
{
	return !r->streamed || (s->done && !s->error);
}

static void on_model(struct router_call *rc, const struct router_result *r, void *arg)
{
	struct agent_turn *t = arg;
	struct stream *s = &t->stream;
	char *err;

	t->rc = NULL;
	t->cost_usd += r->cost_usd;
	t->prompt_tokens += r->prompt_tokens;
	t->completion_tokens += r->completion_tokens;
	t->last_prompt_tokens = r->prompt_tokens;
	t->cached_tokens = 0;
	if (t->cancelled) {
		finish(t, AGENT_CANCELLED, "");
		return;
	}
	if (r->status == 200 && s->on && r->streamed && stream_whole(s, r)) {
		char *body = stream_completion(s);

		got_answer(t, body, strlen(body));
		free(body);
		return;
	}
	if (r->status == 200 && stream_whole(s, r)) {
		got_answer(t, r->body, r->body_len);
		return;
	}
	if (t->time_up && t->state == T_MODEL) {
		step(t); /* the timer cancelled the call: now the summary */
		return;
	}
	if (s->error)
		err = xstrdup(s->error);
	else if (r->status == 200)
		err = xstrdup("The model's answer broke off mid-stream (its end never came).");
	else
		err = error_text(r);
	finish(t, t->state == T_SUMMARY ? t->limit : AGENT_FAILED, err);
	free(err);
}

/* ---- turn life --------------------------------------------------------------------- */

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct agent_turn *t = arg;

	if (t->asking > 0) {
		t->timeout_held = true;
		return;
	}
	t->time_up = true;
	if (t->rc && (t->state == T_MODEL || t->state == T_COMPRESS)) {
		router_cancel(t->rc);
		return;
	}
	for (size_t i = 0; i < t->n_calls; i++)
		if (t->calls[i].tc)
			tools_cancel(t->calls[i].tc);
}

static void unlink_turn(struct agent_turn *t)
{
	for (struct agent_turn **p = &t->a->turns; *p; p = &(*p)->next) {
		if (*p == t) {
			*p = t->next;
			return;
		}
	}
}

static void turn_free(struct agent_turn *t)
{
	for (size_t i = 0; i < t->n_msgs; i++)
		free(t->msgs[i].json);
	free(t->msgs);
	free_calls(t);
	if (t->timer)
		event_free(t->timer);
	if (t->defer)
		event_free(t->defer);
	if (t->local_ev)
		event_free(t->local_ev);
	buf_finish(&t->local_out);
	free(t->source);
	free(t->model);
	free(t->system);
	free(t->extra_system);
	free(t->fail_text);
	free(t->stored_answer);
	free(t->tools_json);
	buf_finish(&t->audit_skills);
	free(t->audit_in);
	stream_finish(&t->stream);
	for (size_t i = 0; i < t->n_parts; i++) {
		free((char *)t->parts[i].path);
		free((char *)t->parts[i].type);
		free((char *)t->parts[i].filename);
	}
	free(t->parts);
	buf_finish(&t->side_keys);
	buf_finish(&t->notices);
	free(t);
}

/* Keeps the usage of the source's last model call for agent_context_split. */
static void remember_last(struct agent *a, const struct agent_turn *t)
{
	struct last_call *l = NULL;

	if (t->last_prompt_tokens <= 0)
		return;
	for (size_t i = 0; i < LAST_SLOTS && !l; i++)
		if (a->last[i].source && strcmp(a->last[i].source, t->source) == 0)
			l = &a->last[i];
	if (!l) {
		l = &a->last[a->next_last];
		a->next_last = (a->next_last + 1) % LAST_SLOTS;
		free(l->source);
		l->source = xstrdup(t->source);
	}
	l->session_id = t->session_id;
	l->prompt_tokens = t->last_prompt_tokens;
	l->cached_tokens = t->cached_tokens;
}

static void finish(struct agent_turn *t, enum agent_stop stop, const char *text)
{
	struct agent_result r = {0};
	char why[160];
	char *answer;

	if (stop >= AGENT_STOP_ITERATIONS && stop <= AGENT_STOP_TIME)
		answer = xasprintf("%s\n\n(Stopped: this turn reached %s.)",
				   text && *text ? text : "I could not finish.",
				   limit_text(t, why, sizeof(why)));
	else
		answer = xstrdup(text ? text : "");
	if (stop != AGENT_FAILED && stop != AGENT_CANCELLED && *answer && !t->stored_answer)
		add_msg(t, "assistant", json_message("assistant", answer, NULL), answer);
	if (t->notices.len) { /* for the human, not the session's history */
		char *shown =
			xasprintf("%s%s%s", answer, *answer ? "\n\n" : "", buf_str(&t->notices));

		free(answer);
		answer = shown;
	}
	{
		struct usage_write *w = xmalloc(sizeof(*w));

		*w = (struct usage_write){t->session_id, t->prompt_tokens, t->completion_tokens,
					  t->cost_usd};
		if (store_write(t->a->env.store, write_usage, w, on_usage_written) != -EINPROGRESS)
			free(w);
	}
	t->state = T_END;
	unlink_turn(t);
	remember_last(t->a, t);
	r.stop = stop;
	r.text = answer;
	r.session_id = t->session_id;
	r.model = t->model;
	r.model_calls = t->model_calls;
	r.tool_calls = t->n_tool_calls;
	r.compressions = t->compressions;
	r.prompt_tokens = t->prompt_tokens;
	r.completion_tokens = t->completion_tokens;
	r.last_prompt_bytes = t->last_bytes;
	r.last_prompt_tokens = t->last_prompt_tokens;
	r.cached_tokens = t->cached_tokens;
	r.cost_usd = t->cost_usd;
	audit_turn(t, stop, answer);
	t->cbs.on_done(&r, t->arg);
	free(answer);
	turn_free(t);
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
static int load_current(struct agent_turn *t, const char *model, bool no_idle)
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
static int open_session(struct agent_turn *t, const struct agent_turn_opts *o,
			const char *user_text)
{
	struct agent *a = t->a;
	int rc = o->fresh ? -ENOENT : load_current(t, o->model, o->no_idle);

	if (rc != -ENOENT)
		return rc;
	t->system = system_prompt(a, t->source, user_text);
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

/* True when the session already holds the user message of origin: a turn for it was cut
 * short (kill -9 mid-turn) and continues from the stored messages. When they end with a
 * final answer after it, that answer is kept in t->stored_answer. */
static bool continues(struct agent_turn *t, const char *origin)
{
	int64_t id;
	size_t at = t->n_msgs;
	const struct context_msg *last = t->n_msgs ? &t->msgs[t->n_msgs - 1] : NULL;
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

struct agent_turn *agent_find(struct agent *a, const char *source)
{
	for (struct agent_turn *t = a->turns; t; t = t->next)
		if (strcmp(t->source, source) == 0)
			return t;
	return NULL;
}

int agent_turn(struct agent *a, const struct agent_turn_opts *o, const char *user_text,
	       const struct agent_cbs *cbs, void *arg, struct agent_turn **out)
{
	struct agent_turn *t;
	struct timeval tv = {(time_t)a->env.cfg->agent.turn_timeout_s, 0};
	int rc;

	if (agent_find(a, o->source))
		return -EBUSY;
	t = xcalloc(1, sizeof(*t));
	t->a = a;
	t->cbs = *cbs;
	t->arg = arg;
	t->source = xstrdup(o->source);
	t->audit_t0_ms = now_mono_ms();
	buf_init(&t->audit_skills, 1024);
	if (audit_is_open() && a->env.cfg->audit.include_text)
		t->audit_in = xstrdup(user_text);
	t->extra_system = xstrdup(o->extra_system);
	t->tool = o->tool;
	buf_init(&t->local_out, 0);
	/* A caller's cap (a reminder's) only lowers the global one, unless it is its own (an
	 * alert investigation's). */
	t->max_cost_usd = a->env.cfg->agent.max_turn_cost_usd;
	if (o->max_cost_usd > 0 &&
	    (o->own_cap || t->max_cost_usd <= 0 || o->max_cost_usd < t->max_cost_usd))
		t->max_cost_usd = o->max_cost_usd;
	t->scope = o->scope;
	rc = open_session(t, o, user_text);
	if (rc < 0) {
		turn_free(t);
		/* Another process holds the database's lock: the caller may try again shortly. */
		return rc == -EBUSY ? -EAGAIN : -EIO;
	}
	tools_source_trust(a->env.cfg, t->source, &t->tainted, &t->web_any);
	if (!t->tainted) {
		char key[48], *by = NULL;

		taint_key(t, key, sizeof(key));
		t->tainted = store_kv_get(a->env.store, key, &by) != -ENOENT;
		free(by);
	}
	if (o->untrusted)
		taint(t, o->untrusted);
	if (!router_has_model(a->env.router, t->model))
		t->fail_text = xasprintf("There is no model \"%s\" in model_list.", t->model);
	else if (!o->origin || !continues(t, o->origin)) {
		int64_t now = now_wall_ms();
		char when[80], *noted = NULL;

		if (t->last_ms && now - t->last_ms >= TIME_NOTE_AFTER_MS) {
			format_local(now, when, sizeof(when));
			noted = xasprintf("[%s]\n%s", when, user_text);
		}
		add_msg_from(t, "user", json_message("user", noted ? noted : user_text, NULL),
			     user_text, o->origin);
		free(noted);
		t->msgs[t->n_msgs - 1].parts = true;
	}
	if (o->n_parts) {
		t->parts = xcalloc(o->n_parts, sizeof(*t->parts));
		t->n_parts = o->n_parts;
		for (size_t i = 0; i < o->n_parts; i++)
			t->parts[i] = (struct agent_part){
				o->parts[i].kind,
				xstrdup(o->parts[i].path),
				xstrdup(o->parts[i].type ? o->parts[i].type : ""),
				xstrdup(o->parts[i].filename ? o->parts[i].filename : "file.pdf"),
			};
	}
	t->timer = evtimer_new(loop_base(a->env.loop), on_timeout, t);
	t->defer = evtimer_new(loop_base(a->env.loop), on_defer, t);
	evtimer_add(t->timer, &tv);
	t->deadline_ms = now_mono_ms() + (int64_t)tv.tv_sec * 1000;
	t->next = a->turns;
	a->turns = t;
	if (out)
		*out = t;
	tv.tv_sec = 0;
	evtimer_add(t->defer, &tv);
	return 0;
}

void agent_cancel(struct agent_turn *t)
{
	if (t->cancelled || t->state == T_END)
		return;
	t->cancelled = true;
	if (t->rc) {
		router_cancel(t->rc);
		return;
	}
	for (size_t i = 0; i < t->n_calls; i++)
		if (t->calls[i].tc)
			tools_cancel(t->calls[i].tc);
	/* Not waiting on anything (about to start): step() sees the flag. */
}

int agent_reset(struct agent *a, const char *source)
{
	return sessions_end(a->env.store, source);
}

int agent_set_model(struct agent *a, const char *source, const char *model)
{
	struct session_info si;
	int rc;

	if (!router_has_model(a->env.router, model))
		return -ENOENT;
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

/* ---- the context split ------------------------------------------------------------- */

/* Bytes of s[0..len) inside a JSON string literal (without its quotes), as build_request
 * writes it. */
static size_t json_len(const char *s, size_t len)
{
	struct buf b;
	size_t n;

	buf_init(&b, 0);
	buf_json_str(&b, s, len);
	n = b.len - 2;
	buf_finish(&b);
	return n;
}

/* Where the sections agent_system_prompt wrote begin in a stored system prompt: the skills
 * index after its heading's blank line, the memory snapshot at its first "## Memory (" or
 * "## User (" heading after that; len when absent. */
static void system_sections(const char *sys, size_t *skills_at, size_t *memory_at)
{
	static const char *const memory_heads[] = {"\n\n## Memory (", "\n\n## User ("};
	const char *p = strstr(sys, skills_head);
	size_t len = strlen(sys);

	*skills_at = p ? (size_t)(p - sys) : len;
	*memory_at = len;
	for (size_t i = 0; i < ARRAY_LEN(memory_heads); i++) {
		p = strstr(sys + (*skills_at < len ? *skills_at : 0), memory_heads[i]);
		if (p && (size_t)(p - sys) < *memory_at)
			*memory_at = (size_t)(p - sys);
	}
	if (*skills_at > *memory_at)
		*skills_at = *memory_at;
}

static void part_set(struct agent_context_part *p, size_t bytes)
{
	p->bytes = bytes;
	p->tokens = context_est_tokens(bytes);
}

/* The parts of the request t would send now (no note, not streamed). */
static void split_request(struct agent_turn *t, struct agent_context_split *out)
{
	size_t skills_at, memory_at, sys_len = strlen(t->system), history = 0, now;
	struct buf tools_json, body, line;

	buf_init(&tools_json, 0);
	if (t->scope)
		tools_schemas_json_scoped(t->a->env.tools, t->scope, &tools_json);
	else
		tools_schemas_json(t->a->env.tools, &tools_json);
	buf_init(&body, 0);
	build_request(t, buf_str(&tools_json), false, NULL, false, &body);
	buf_init(&line, 0);
	if (t->extra_system)
		buf_printf(&line, "\n\n%s", t->extra_system);
	append_now(t, &line);
	now = json_len(line.data, line.len);
	system_sections(t->system, &skills_at, &memory_at);
	part_set(&out->persona, json_len(t->system, skills_at) + now);
	part_set(&out->skills, json_len(t->system + skills_at, memory_at - skills_at));
	part_set(&out->memory, json_len(t->system + memory_at, sys_len - memory_at));
	part_set(&out->tools, strcmp(buf_str(&tools_json), "[]") != 0 ? tools_json.len : 0);
	for (size_t i = 0; i < t->n_msgs; i++)
		history += t->msgs[i].len;
	part_set(&out->history, history);
	out->n_messages = t->n_msgs;
	part_set(&out->total, body.len);
	part_set(&out->framing, body.len - out->persona.bytes - out->skills.bytes -
					out->memory.bytes - out->tools.bytes - history);
	buf_finish(&line);
	buf_finish(&body);
	buf_finish(&tools_json);
}

int agent_context_split(struct agent *a, const char *source, struct agent_context_split *out)
{
	struct agent_turn *t = xcalloc(1, sizeof(*t));
	const char *model = a->env.cfg->model ? a->env.cfg->model : "";
	int rc;

	memset(out, 0, sizeof(*out));
	t->a = a;
	t->source = xstrdup(source);
	rc = load_current(t, NULL, false);
	if (rc == -ENOENT) {
		t->system = agent_system_prompt(a);
		t->model = xstrdup(model);
		rc = 0;
	}
	if (rc == 0) {
		if (!t->model)
			t->model = xstrdup(model);
		split_request(t, out);
		out->session_id = t->session_id;
		out->budget_tokens = budget_tokens(t);
		for (size_t i = 0; i < LAST_SLOTS; i++) {
			const struct last_call *l = &a->last[i];

			if (l->source && t->session_id && l->session_id == t->session_id &&
			    strcmp(l->source, source) == 0) {
				out->have_last = true;
				out->last_prompt_tokens = l->prompt_tokens;
				out->last_cached_tokens = l->cached_tokens;
			}
		}
	}
	turn_free(t);
	return rc;
}

struct agent *agent_create(const struct agent_env *env)
{
	struct agent *a = xcalloc(1, sizeof(*a));

	a->env = *env;
	return a;
}

void agent_destroy(struct agent *a)
{
	if (!a)
		return;
	for (struct agent_turn *t = a->turns; t; t = t->next)
		agent_cancel(t);
	/* Cancellations complete from the loop (router and tool callbacks): deliver them, so
	 * every on_done fires and no callback is left pointing at a freed turn. */
	for (int i = 0; a->turns && i < 10000; i++)
		event_base_loop(loop_base(a->env.loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	if (a->turns) {
		log_error("agent: turns still running at shutdown; leaking them");
		return;
	}
	for (size_t i = 0; i < LAST_SLOTS; i++)
		free(a->last[i].source);
	free(a);
}

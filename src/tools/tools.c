/* tools: the registry the agent calls: a call from its name and arguments to its one
 * answer. What is offered, and the lookups by name, are tools_offer.c's.
 *
 * Every call ends in exactly one callback from the loop, whatever happens: arguments that
 * are not JSON, an unknown name (answered with the closest names), a tool error, a timeout
 * (the job is cancelled and the model told so) or a cancel. The model reads those as tool
 * results and can correct itself; none of them fails the turn. Results are cut at
 * agent.tool_result_max_bytes on a UTF-8 boundary with a note saying how much was cut.
 *
 * Trust (docs/security.md, "Trust"): the caller says whether the turn is tainted. A tainted call of
 * a tool that writes what later system prompts show (memory, skills) is not run: the call is stored
 * as a proposal (tool_proposals.c), the notify callback tells the human, and the model reads that
 * the change awaits approval. web_fetch learns to stay inside web.allow_hosts. Which results taint
 * is the caller's business (tools_taints answers).
 */
#include "tools/tools.h"
#include "tools/tools_int.h"
#include "core/json.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/json_exact.h"
#include "core/log.h"
#include "core/loop.h"
#include "mcp/mcp.h"
#include "mcp/mcp_render.h"
#include "tools/review.h"
#include "tools/tool.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <fnmatch.h>
#include <sys/random.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DID_YOU_MEAN_MAX 3
#define ALWAYS_MAX	 256  /* "Always in this chat" answers kept (source, tool) */
#define ASK_TEXT_MAX	 1000 /* bytes of an ask_user question */
#define ASK_CHOICES_MAX	 8
#define ASK_CHOICE_MAX	 64 /* bytes of one choice (a button) */

/* tools.c's steps for tools_draft.c and tools_elicit.c (t->owner), filled at the end. */
static const struct tools_owner owner;

struct tools *tools_create(const struct tools_env *env)
{
	struct tools *t = xcalloc(1, sizeof(*t));

	t->owner = &owner;
	t->env = *env;
	tools_offer_builtins(t);
	return t;
}

void tools_set_scheduler(struct tools *t, const struct tools_scheduler *s, void *arg)
{
	t->scheduler = s;
	t->scheduler_arg = arg;
	tools_offer_builtins(t);
}

void tools_add_asker(struct tools *t, const struct tools_asker *a, void *arg)
{
	if (t->n_askers >= ASKERS_MAX) { /* a wiring mistake, not a runtime condition */
		log_error("tools: more than %d askers", ASKERS_MAX);
		abort();
	}
	t->askers[t->n_askers].a = a;
	t->askers[t->n_askers++].arg = arg;
	tools_offer_builtins(t);
}

void tools_remove_asker(struct tools *t, const struct tools_asker *a, void *arg)
{
	for (size_t i = 0; i < t->n_askers; i++)
		if (t->askers[i].a == a && t->askers[i].arg == arg) {
			memmove(&t->askers[i], &t->askers[i + 1],
				(t->n_askers - i - 1) * sizeof(t->askers[0]));
			t->n_askers--;
			tools_offer_builtins(t);
			return;
		}
}

static void call_free(struct tools_call *c);

void tools_destroy(struct tools *t)
{
	if (!t)
		return;
	for (struct tools_call **p = &t->asking; *p;) {
		struct tools_call *c = *p;

		if (!c->card || !c->card->held) {
			p = &c->next_asking;
			continue;
		}
		*p = c->next_asking;
		c->cb(true, "", 0, c->arg); /* frees the hold's record, sends nothing */
		call_free(c);
	}
	for (size_t i = 0; i < t->n_always; i++)
		free(t->always[i]);
	free(t->always);
	free(t->schemas);
	free(t);
}

void tools_set_outlet(struct tools *t, tools_outlet_cb cb, void *arg)
{
	t->outlet = cb;
	t->outlet_arg = arg;
}

void tools_set_notify(struct tools *t, tools_notify_cb cb, void *arg)
{
	t->notify = cb;
	t->notify_arg = arg;
}

/* "unknown tool "x"; did you mean "y"? Tools: a, b, ..." */
static void unknown_tool(const struct tools *t, const char *name, struct buf *out)
{
	const char *best = NULL;
	size_t best_d = DID_YOU_MEAN_MAX + 1;
	size_t n_mcp = tools_mcp_on(t) ? mcp_n_tools(t->env.mcp) : 0;

	if (tools_mcp_on(t) && mcp_why_unavailable(t->env.mcp, name, out))
		return; /* a server that is down or not signed in: say that, not "unknown" */
	buf_printf(out, "unknown tool \"%.100s\"", name);
	for (size_t i = 0; i < t->n_offered + n_mcp; i++) {
		struct mcp_tool_info ti;
		const char *cand;
		size_t d;

		if (i < t->n_offered) {
			cand = t->offered[i]->name;
		} else {
			mcp_tool_info(t->env.mcp, i - t->n_offered, &ti);
			cand = ti.name;
		}
		d = edit_distance(name, cand, DID_YOU_MEAN_MAX);
		if (d < best_d) {
			best_d = d;
			best = cand;
		}
	}
	if (best)
		buf_printf(out, "; did you mean \"%s\"?", best);
	else
		buf_puts(out, ".");
	buf_puts(out, " Call only the tools listed in this request.");
}

/* Redacts our secrets (what a tool read, a file, a page, a server's answer, may quote
 * one), then cuts to tool_result_max_bytes: in that order, so a secret cut in half at the
 * cap is not left unrecognised. */
static void clean_result(struct tools_call *c)
{
	size_t max = (size_t)c->t->env.cfg->agent.tool_result_max_bytes, len, keep;
	bool full = c->out.cap && c->out.len >= c->out.cap;
	char *clean = log_redact(buf_str(&c->out)), note[96];

	buf_reset(&c->out);
	c->out.cap = 0;
	buf_puts(&c->out, clean);
	free(clean);
	len = c->out.len;
	if (len <= max)
		return;
	keep = utf8_cut(c->out.data, max);
	snprintf(note, sizeof(note), "\n[cut: %zu of %zu%s bytes shown]", keep, len,
		 full ? "+" : "");
	c->out.len = keep;
	c->out.data[keep] = '\0';
	buf_puts(&c->out, note);
}

static void call_free(struct tools_call *c)
{
	tools_elicit_call_gone(c);
	if (c->ev)
		event_free(c->ev);
	buf_finish(&c->out);
	free(c->name);
	for (size_t i = 0; i < c->n_choices; i++)
		free(c->choices[i]);
	free(c->choices);
	free(c->outcome);
	free(c->q_text);
	cJSON_Delete(c->args);
	free(c->sid);
	free(c->source);
	free(c->a_source);
	free(c->answer_by);
	free(c->answer_text);
	review_card_finish(c->card);
	free(c->card);
	free(c);
}

/* The question is over: out of the list, the asker told, the turn's clock running again. */
static void end_question(struct tools_call *c)
{
	struct tools *t = c->t;

	if (!c->asking)
		return;
	c->asking = false;
	for (struct tools_call **p = &t->asking; *p; p = &(*p)->next_asking)
		if (*p == c) {
			*p = c->next_asking;
			break;
		}
	log_info("tools: question %016llx (%s): %s", (unsigned long long)c->q_id, c->name,
		 c->outcome ? c->outcome : "closed");
	for (size_t i = 0; i < t->n_askers; i++)
		if (t->askers[i].a->closed)
			t->askers[i].a->closed(c->q_id, c->outcome ? c->outcome : "Closed",
					       t->askers[i].arg);
	if (c->asking_cb)
		c->asking_cb(false, c->asking_arg);
}

/* The call's line of the audit trail: no arguments or result, only their shape. */
static void audit_call(const struct tools_call *c)
{
	struct audit_line l;

	audit_begin(&l, "tool");
	if (!l.on)
		return;
	audit_str(&l, "source", c->a_source);
	if (*c->a_sid)
		audit_int(&l, "session", strtoll(c->a_sid, NULL, 10));
	audit_str(&l, "lane", c->a_lane);
	audit_str(&l, "tool", c->name);
	audit_str(&l, "args_sha256", c->a_hash);
	audit_str(&l, "outcome",
		  c->cancelled	 ? "cancelled"
		  : c->timed_out ? "timeout"
		  : c->is_error	 ? "error"
				 : "ok");
	if (c->approval_asked)
		audit_str(&l, "approval", c->outcome ? c->outcome : "closed");
	audit_int(&l, "result_bytes", (int64_t)c->out.len);
	audit_int(&l, "ms", now_mono_ms() - c->t0_ms);
	audit_end(&l);
}

static void deliver(struct tools_call *c)
{
	end_question(c);
	clean_result(c);
	audit_call(c);
	c->cb(c->is_error, buf_str(&c->out), c->out.len, c->arg);
	call_free(c);
}

/* Result known now: deliver from the loop, not from inside tools_call. */
static void finish_later(struct tools_call *c, bool is_error)
{
	struct timeval zero = {0, 0};

	c->is_error = is_error;
	c->finished = true;
	event_del(c->ev);
	event_add(c->ev, &zero);
}

static void set_result(struct tools_call *c, bool is_error, const char *text, size_t len)
{
	buf_reset(&c->out);
	if (c->cancelled) {
		if (c->asking && !c->outcome)
			c->outcome = xstrdup("Cancelled");
		buf_puts(&c->out, "cancelled");
		is_error = true;
	} else if (c->timed_out) {
		buf_printf(&c->out,
			   "%s timed out after %lld s; try a smaller request or another way",
			   c->name, (long long)c->t->env.cfg->agent.tool_timeout_s);
		is_error = true;
	} else {
		buf_append(&c->out, text, len);
	}
	c->is_error = is_error;
}

static void on_answer(struct tools_call *c);

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct tools_call *c = arg;

	if (c->finished) {
		deliver(c);
		return;
	}
	if (c->asking) {
		on_answer(c);
		return;
	}
	/* The timeout: cancel; the job's callback then delivers the timeout text. */
	c->timed_out = true;
	if (c->job)
		c->def->cancel(c->job);
	else if (c->mc)
		mcp_call_cancel(c->mc);
}

static void on_job(bool is_error, const char *text, size_t len, void *arg)
{
	struct tools_call *c = arg;

	c->job = NULL;
	set_result(c, is_error, text, len);
	event_del(c->ev);
	deliver(c);
}

static void on_mcp(const struct mcp_result *r, void *arg);

const char *tools_mcp_call_lane(const struct mcp_call *call)
{
	const struct tools_call *c = mcp_call_arg_if(call, on_mcp);

	return c ? c->a_lane : NULL;
}

static void on_mcp(const struct mcp_result *r, void *arg)
{
	struct tools_call *c = arg;

	c->mc = NULL;
	set_result(c, r->is_error, r->text, strlen(r->text));
	event_del(c->ev);
	deliver(c);
}

static void arm_timeout(struct tools_call *c)
{
	struct timeval tv = {(time_t)c->t->env.cfg->agent.tool_timeout_s, 0};

	event_add(c->ev, &tv);
}

/* A write from a tainted turn: stored for the human instead of made. */
static void propose(struct tools_call *c, const struct tool_def *d, const cJSON *args,
		    const struct tools_ctx *ctx)
{
	const char *source = ctx->source && *ctx->source ? ctx->source : "an untrusted turn";
	struct buf note;
	char id[8];

	if (tool_proposal_store(c->t->env.cfg, d->name, args, source, ctx->lane, id, &c->out) < 0) {
		finish_later(c, true);
		return;
	}
	buf_init(&note, 0);
	buf_printf(&note, "**Approval needed** for a change from %s (proposal %s):\n\n", source,
		   id);
	tool_proposal_describe(d->name, args, &note);
	buf_printf(&note,
		   "\n\nThe turn had read untrusted content (a web page, an MCP result, other "
		   "sessions, a hook payload or a scheduled job's input). Reply /approve %s or "
		   "/reject %s (or run: hermetic proposals approve %s).",
		   id, id, id);
	if (c->t->notify)
		c->t->notify(source, id, buf_str(&note), c->t->notify_arg);
	else
		log_warn("%s", buf_str(&note));
	buf_finish(&note);
	buf_printf(&c->out,
		   "Not applied yet: this turn has read untrusted content (web pages, MCP "
		   "results, other sessions, a hook payload or a scheduled job), so changes to "
		   "memory and skills wait for the human's approval. Stored as proposal %s for "
		   "the human to approve or reject; do not repeat the call.",
		   id);
	finish_later(c, false);
}

static void run_builtin(struct tools_call *c, const struct tool_def *d, const cJSON *args,
			const struct tools_ctx *ctx)
{
	struct tool_req req = {&c->t->env,
			       ctx->session_id ? ctx->session_id : "",
			       args,
			       ctx->tainted && !ctx->web_any,
			       ctx->source ? ctx->source : "",
			       c->t->outlet,
			       c->t->outlet_arg,
			       c->t->scheduler,
			       c->t->scheduler_arg,
			       ctx->llm,
			       ctx->llm_arg,
			       ctx->notice,
			       ctx->notice_arg,
			       ctx->lane,
			       ctx->review};
	int rc;

	c->def = d;
	if (ctx->tainted && d->writes && d->writes(args)) {
		propose(c, d, args, ctx);
		return;
	}
	if (!d->start) {
		rc = d->run(&req, &c->out);
		finish_later(c, rc < 0);
		return;
	}
	rc = d->start(&req, on_job, c, &c->out, &c->job);
	if (rc < 0) {
		c->job = NULL;
		finish_later(c, true);
		return;
	}
	arm_timeout(c);
}

static void run_mcp(struct tools_call *c, const cJSON *args)
{
	char *text = json_exact_print(args);
	int rc = mcp_call(c->t->env.mcp, c->name, text, on_mcp, c, &c->mc);

	cJSON_free(text);
	if (rc == 0) {
		arm_timeout(c);
		return;
	}
	c->mc = NULL;
	if (rc != -ENOTCONN || !mcp_why_unavailable(c->t->env.mcp, c->name, &c->out))
		buf_printf(&c->out, "%s could not be called (%s)", c->name, strerror(-rc));
	finish_later(c, true);
}

/* Parses the model's argument text; "" and "null" mean {}. */
static cJSON *parse_args(const char *text, struct buf *err)
{
	struct json_error jerr;
	cJSON *j;

	if (!text || !*text || strcmp(text, "null") == 0)
		return cJSON_CreateObject();
	/* Numbers kept as written, for the MCP server (an id above 2^53 must not arrive
	 * rounded). */
	j = json_parse(text, strlen(text), JSON_EXACT, &jerr);
	if (!j && jerr.duplicate) {
		buf_printf(err,
			   "the arguments repeat a name (%s); send one JSON object with each "
			   "name once",
			   jerr.msg);
		return NULL;
	}
	if (!j) {
		buf_printf(err,
			   "the arguments are not valid JSON (error near byte %zu: \"%.40s\"); "
			   "send one JSON object matching the tool's parameters",
			   jerr.offset, text + jerr.offset);
		return NULL;
	}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		buf_puts(err, "the arguments must be a JSON object, e.g. {\"name\": \"value\"}");
		return NULL;
	}
	return j;
}

/* ---- questions: approvals and ask_user --------------------------------------------------- */

static bool always_has(const struct tools *t, const char *source, const char *name)
{
	size_t sl = strlen(source);

	for (size_t i = 0; i < t->n_always; i++)
		if (strncmp(t->always[i], source, sl) == 0 && t->always[i][sl] == '\t' &&
		    strcmp(t->always[i] + sl + 1, name) == 0)
			return true;
	return false;
}

static void always_add(struct tools *t, const char *source, const char *name)
{
	if (always_has(t, source, name))
		return;
	if (t->n_always >= ALWAYS_MAX) { /* the oldest goes: it will simply be asked again */
		free(t->always[0]);
		memmove(t->always, t->always + 1, (t->n_always - 1) * sizeof(*t->always));
		t->n_always--;
	}
	t->always = xrealloc(t->always, (t->n_always + 1) * sizeof(*t->always));
	t->always[t->n_always++] = xasprintf("%s\t%s", source, name);
}

/* Whether a call of name (builtin d, else the MCP tool mi) with args from source waits for a
 * yes. The
 * terminal's `chat` ("cli"), the agent API's callers ("api:<user>", who hold the API key) and
 * internal calls ("") are the owner's own: never asked. */
static bool needs_approval(const struct tools *t, const struct tool_def *d,
			   const struct mcp_tool_info *mi, const char *name, const cJSON *args,
			   const struct tools_ctx *ctx)
{
	const struct config_approvals *a = &t->env.cfg->approvals;
	const char *source = ctx->source;
	const char *action;

	if (!source || !*source || strcmp(source, "cli") == 0 || strncmp(source, "api:", 4) == 0 ||
	    always_has(t, source, name))
		return false;
	for (size_t i = 0; i < a->n_tools; i++)
		if (fnmatch(a->tools[i], name, 0) == 0)
			return true;
	if (d == &tool_def_skill_manage)
		return a->builtin & CONFIG_APPROVE_SKILL_MANAGE;
	if (d == &tool_def_send_file)
		return a->builtin & CONFIG_APPROVE_SEND_FILE;
	if (d == &tool_def_schedule) {
		action = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(args, "action"));
		/* Only a chat may create jobs (the tool refuses the rest itself). */
		return (a->builtin & CONFIG_APPROVE_SCHEDULE) &&
		       strncmp(source, "telegram:", 9) == 0 &&
		       (!action || strcmp(action, "create") == 0);
	}
	if (d)
		return false;
	if (a->mcp == CONFIG_APPROVE_MCP_NOT_READ_ONLY)
		return !mi->read_only;
	if (a->mcp == CONFIG_APPROVE_MCP_DESTRUCTIVE)
		return mi->destructive;
	return false;
}

/* The call as the human reads it: the tool, then "key: value" per argument (strings as they
 * are, the rest as JSON), secrets redacted. Never cut here: the asker sends what is too long
 * for a message as a document. */
static char *approval_text(const char *name, const cJSON *args)
{
	const cJSON *a;
	struct buf b;
	char *out;

	buf_init(&b, 0);
	buf_puts(&b, name);
	cJSON_ArrayForEach(a, args)
	{
		buf_printf(&b, "\n%s: ", a->string ? a->string : "?");
		if (cJSON_IsString(a)) {
			buf_puts(&b, a->valuestring);
		} else {
			char *j = json_exact_print(a);

			buf_puts(&b, j ? j : "?");
			cJSON_free(j);
		}
	}
	out = log_redact(buf_str(&b));
	buf_finish(&b);
	return out;
}

static uint64_t question_id(void)
{
	uint64_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != (ssize_t)sizeof(id))
			id = ((uint64_t)now_mono_ms() << 20) ^ (uint64_t)(uintptr_t)&id;
	return id;
}

static void keep_ctx(struct tools_call *c, const struct tools_ctx *ctx)
{
	c->sid = xstrdup(ctx->session_id ? ctx->session_id : "");
	c->source = xstrdup(ctx->source ? ctx->source : "");
	c->tainted = ctx->tainted;
	c->web_any = ctx->web_any;
	c->asking_cb = ctx->asking;
	c->asking_arg = ctx->asking_arg;
	c->llm = ctx->llm;
	c->llm_arg = ctx->llm_arg;
	c->notice = ctx->notice;
	c->notice_arg = ctx->notice_arg;
}

/* Puts the question to the asker: 0 and the call waits (ev is the question's timeout), or a
 * negative errno with the reason in c->out. */
static int put_question(struct tools_call *c, enum tools_q_kind kind, const char *text,
			const char *const *choices, size_t n_choices)
{
	struct tools *t = c->t;
	struct tools_question q = {question_id(),
				   kind,
				   c->source,
				   text,
				   choices,
				   n_choices,
				   t->env.cfg->approvals.timeout_s,
				   c->sid,
				   now_wall_ms(),
				   c->card,
				   kind == TOOLS_Q_ELICIT && tools_elicit_typed(c)};
	struct timeval tv;
	int rc = -ENOENT;

	if (c->card) /* a draft card waits until it expires, across its edits */
		q.timeout_s = clamp_i64((double)(c->card->expires_ms - now_mono_ms() + 999) / 1000,
					1, INT64_MAX / 1000);
	tv = (struct timeval){(time_t)q.timeout_s, 0};

	/* Every asker is told; the question is out when one of them shows it. */
	for (size_t i = 0; i < t->n_askers; i++)
		if (t->askers[i].a->ask(&q, t->askers[i].arg) == 0)
			rc = 0;
	if (rc < 0) {
		buf_printf(&c->out,
			   "%s needs the user's answer, and no chat can ask them (%s has no chat: "
			   "set telegram.admin_chat or the job's deliver chat); it was not run",
			   c->name, *c->source ? c->source : "this turn");
		return rc;
	}
	c->q_id = q.id;
	c->q_kind = kind;
	c->q_text = xstrdup(text);
	c->q_asked_ms = q.asked_ms;
	c->q_timeout_s = q.timeout_s;
	c->approval_asked = kind == TOOLS_Q_APPROVAL || kind == TOOLS_Q_DRAFT;
	c->answer = -1;
	if (!c->asking) { /* a card asked again after an edit is in the list already */
		c->asking = true;
		c->next_asking = t->asking;
		t->asking = c;
	}
	log_info("tools: question %016llx (%s) for %s", (unsigned long long)q.id, c->name,
		 c->source);
	event_add(c->ev, &tv);
	if (c->asking_cb && !(c->card && c->card->version > 1))
		c->asking_cb(true, c->asking_arg);
	return 0;
}

static const char *const approval_choices[] = {"Approve", "Always in this chat", "Deny"};

static void ask_approval(struct tools_call *c, const struct tool_def *d, cJSON *args,
			 const struct tools_ctx *ctx)
{
	char *text = approval_text(c->name, args);

	keep_ctx(c, ctx);
	c->run_def = d;
	c->args = args;
	if (put_question(c, TOOLS_Q_APPROVAL, text, approval_choices, ARRAY_LEN(approval_choices)) <
	    0)
		finish_later(c, true);
	free(text);
}

static void ask_user(struct tools_call *c, const cJSON *args, const struct tools_ctx *ctx)
{
	const char *q = tool_arg_str(args, "question", true, &c->out);
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(args, "choices"), *e;
	size_t n = (size_t)cJSON_GetArraySize(list);

	keep_ctx(c, ctx);
	if (c->out.len)
		goto bad;
	if (!*q || strlen(q) > ASK_TEXT_MAX) {
		buf_printf(&c->out, "question must be 1 to %d bytes", ASK_TEXT_MAX);
		goto bad;
	}
	if (!cJSON_IsArray(list) || n < 2 || n > ASK_CHOICES_MAX) {
		buf_printf(&c->out, "choices must be a list of 2 to %d short strings",
			   ASK_CHOICES_MAX);
		goto bad;
	}
	c->choices = xcalloc(n, sizeof(*c->choices));
	cJSON_ArrayForEach(e, list)
	{
		if (!cJSON_IsString(e) || !*e->valuestring ||
		    strlen(e->valuestring) > ASK_CHOICE_MAX) {
			buf_printf(&c->out, "each choice must be a string of 1 to %d bytes",
				   ASK_CHOICE_MAX);
			goto bad;
		}
		c->choices[c->n_choices++] = xstrdup(e->valuestring);
	}
	if (!*c->source || strcmp(c->source, "cli") == 0) {
		buf_puts(&c->out, "ask_user works in chats; here, ask in your answer instead");
		goto bad;
	}
	if (put_question(c, TOOLS_Q_ASK, q, (const char *const *)c->choices, c->n_choices) == 0)
		return;
bad:
	finish_later(c, true);
}

/* From the loop: the human answered (c->answer) or the question timed out (-1). */
static void on_answer(struct tools_call *c)
{
	const struct config *cfg = c->t->env.cfg;
	long k = c->answer;

	if (c->q_kind == TOOLS_Q_DRAFT || c->q_kind == TOOLS_Q_ELICIT) {
		(c->q_kind == TOOLS_Q_DRAFT ? tools_draft_answer : tools_elicit_answer)(c);
		return;
	}
	if (c->q_kind == TOOLS_Q_ASK) {
		if (k < 0) {
			c->outcome = xasprintf("No answer in %lld s",
					       (long long)cfg->approvals.timeout_s);
			buf_printf(&c->out,
				   "The user did not answer within %lld s; go on without it or ask "
				   "in your reply.",
				   (long long)cfg->approvals.timeout_s);
		} else {
			c->outcome = xasprintf("Answered: %s", c->choices[k]);
			buf_printf(&c->out, "The user chose: %s", c->choices[k]);
		}
		deliver(c);
		return;
	}
	if (k == TOOLS_APPROVE || k == TOOLS_APPROVE_ALWAYS) {
		struct tools_ctx ctx = {c->sid, c->source, c->tainted, c->web_any, NULL,
					NULL,	c->llm,	   c->llm_arg, c->notice,  c->notice_arg,
					NULL,	c->a_lane, NULL,       NULL};

		if (k == TOOLS_APPROVE_ALWAYS)
			always_add(c->t, c->source, c->name);
		c->outcome = xstrdup(k == TOOLS_APPROVE ? "Approved"
							: "Approved, and always in this chat");
		end_question(c);
		if (c->run_def)
			run_builtin(c, c->run_def, c->args, &ctx);
		else
			run_mcp(c, c->args);
		return;
	}
	if (k < 0)
		c->outcome = xasprintf("No answer in %lld s: denied",
				       (long long)cfg->approvals.timeout_s);
	else
		c->outcome = xstrdup("Denied");
	buf_printf(&c->out,
		   "The user %s this call of %s; it was not run. Do not try to get the same done "
		   "another way: ask the user what they want.",
		   k < 0 ? "did not approve (no answer in time)" : "denied", c->name);
	c->is_error = true;
	deliver(c);
}

int tools_answer(struct tools *t, uint64_t id, size_t choice)
{
	return tools_answer_as(t, id, choice, NULL, NULL);
}

int tools_answer_as(struct tools *t, uint64_t id, size_t choice, const char *who, const char *text)
{
	struct timeval zero = {0, 0};

	for (struct tools_call *c = t->asking; c; c = c->next_asking) {
		if (c->q_id != id || c->finished || c->answer >= 0 || (c->card && c->card->editing))
			continue;
		if (choice >= (c->q_kind == TOOLS_Q_ASK || c->q_kind == TOOLS_Q_ELICIT
				       ? c->n_choices
			       : c->q_kind == TOOLS_Q_DRAFT ? 3
							    : ARRAY_LEN(approval_choices)))
			return -EINVAL;
		free(c->answer_by);
		free(c->answer_text);
		c->answer_by = who ? xstrdup(who) : NULL;
		c->answer_text =
			text ? xstrndup(text, utf8_cut(text, strnlen(text, REVIEW_DRAFT_MAX)))
			     : NULL;
		c->answer = (long)choice;
		event_del(c->ev);
		event_add(c->ev, &zero);
		return 0;
	}
	return -ENOENT;
}

void tools_questions_each(struct tools *t, void (*cb)(const struct tools_question *q, void *arg),
			  void *arg)
{
	for (struct tools_call *c = t->asking; c; c = c->next_asking) {
		struct tools_question q = {c->q_id,
					   c->q_kind,
					   c->source,
					   c->q_text,
					   c->choices ? (const char *const *)c->choices
						      : approval_choices,
					   c->choices ? c->n_choices : ARRAY_LEN(approval_choices),
					   c->t->env.cfg->approvals.timeout_s,
					   c->sid,
					   c->q_asked_ms,
					   NULL,
					   c->q_kind == TOOLS_Q_ELICIT && tools_elicit_typed(c)};

		if (c->card)
			tools_draft_question(c, &q);
		if (!c->finished && c->answer < 0 && !(c->card && c->card->editing))
			cb(&q, arg);
	}
}

/* mcp_tool_schema: each named tool's name, whole description and parameters. */
static void load_schemas(struct tools *t, const cJSON *args, struct buf *out)
{
	const cJSON *names = cJSON_GetObjectItemCaseSensitive(args, "names"), *n;
	struct mcp_tool_info ti;
	size_t count = 0;

	if (!cJSON_IsArray(names) || cJSON_GetArraySize(names) == 0) {
		buf_puts(out, "names must be a list of tool names from " MCP_CALL "'s catalog");
		return;
	}
	cJSON_ArrayForEach(n, names)
	{
		if (count++ == SCHEMA_NAMES_MAX) {
			buf_printf(out, "(only %d tools per call)\n", SCHEMA_NAMES_MAX);
			break;
		}
		if (!cJSON_IsString(n) || !tools_find_catalog(t, n->valuestring, &ti)) {
			buf_puts(out, "{\"name\":");
			tools_json_string(out, cJSON_IsString(n) ? n->valuestring : "?", 256);
			buf_puts(out, ",\"error\":\"no such tool in the catalog\"}\n");
			continue;
		}
		buf_puts(out, "{\"name\":");
		tools_json_string(out, ti.name, 256);
		buf_puts(out, ",\"description\":");
		tools_json_string(out, ti.description, MCP_RENDER_DESC_MAX);
		buf_printf(out, ",\"parameters\":%s}\n",
			   *ti.schema_json ? ti.schema_json
					   : "{\"type\":\"object\",\"properties\":{}}");
	}
}

/* mcp_call {name, arguments}: the call becomes the named MCP tool's, with its arguments
 * (an object, or a JSON text of one, which models send now and then). Returns them (args is
 * consumed), or NULL with c->out saying why. */
static cJSON *through_catalog(struct tools_call *c, cJSON *args, struct mcp_tool_info *mi)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(args, "name");
	cJSON *inner = cJSON_DetachItemFromObjectCaseSensitive(args, "arguments");

	if (!cJSON_IsString(name) || !tools_find_catalog(c->t, name->valuestring, mi)) {
		if (cJSON_IsString(name))
			unknown_tool(c->t, name->valuestring, &c->out);
		else
			buf_puts(&c->out, MCP_CALL " needs the name of a tool from its catalog");
		cJSON_Delete(inner);
		cJSON_Delete(args);
		return NULL;
	}
	free(c->name);
	c->name = xstrdup(mi->name); /* the full name, whichever form the model used */
	cJSON_Delete(args);
	if (cJSON_IsString(inner)) {
		cJSON *parsed = json_parse_str(inner->valuestring, NULL);

		cJSON_Delete(inner);
		inner = parsed;
	}
	if (!inner || cJSON_IsNull(inner)) {
		cJSON_Delete(inner);
		return cJSON_CreateObject();
	}
	if (!cJSON_IsObject(inner)) {
		buf_printf(&c->out, "the arguments of %s must be an object", c->name);
		cJSON_Delete(inner);
		return NULL;
	}
	return inner;
}

static struct tools_call *call_new(struct tools *t, const char *name, tools_call_cb cb, void *arg)
{
	struct tools_call *c = xcalloc(1, sizeof(*c));

	c->t = t;
	c->cb = cb;
	c->arg = arg;
	c->name = xstrdup(name ? name : "");
	c->ev = evtimer_new(loop_base(t->env.loop), on_event, c);
	buf_init(&c->out, (size_t)t->env.cfg->agent.tool_result_max_bytes * 4);
	return c;
}

int tools_call(struct tools *t, const char *name, const char *args_json,
	       const struct tools_ctx *ctx, tools_call_cb cb, void *arg, struct tools_call **out)
{
	static const struct tools_ctx trusted = {.session_id = "", .source = ""};
	struct tools_call *c = call_new(t, name, cb, arg);
	const struct tool_def *d;
	struct mcp_tool_info mi = {0}; /* the MCP tool's, when name is no builtin */
	cJSON *args;

	c->a_lane = ctx ? ctx->lane : NULL;
	if (audit_is_open()) {
		char hex[65];
		const char *a = args_json ? args_json : "";

		c->a_source = xstrdup(ctx && ctx->source && *ctx->source ? ctx->source : NULL);
		snprintf(c->a_sid, sizeof(c->a_sid), "%s",
			 ctx && ctx->session_id ? ctx->session_id : "");
		sha256_hex(a, strlen(a), hex);
		memcpy(c->a_hash, hex, 16);
		c->t0_ms = now_mono_ms();
	}
	if (out)
		*out = c;
	d = tools_find_builtin(t, c->name);
	if (ctx && ctx->scope && !tools_in_scope(t, ctx->scope, c->name)) {
		buf_printf(&c->out,
			   "tool \"%.100s\" is not available in this run (read-only tools only)",
			   c->name);
		finish_later(c, true);
		return 0;
	}
	if (!d && strcmp(c->name, MCP_SCHEMA) == 0 && tools_catalog_mode(t)) {
		args = parse_args(args_json, &c->out);
		if (args)
			load_schemas(t, args, &c->out);
		finish_later(c, !args);
		cJSON_Delete(args);
		return 0;
	}
	if (!d && strcmp(c->name, MCP_CALL) == 0 && tools_catalog_mode(t)) {
		args = parse_args(args_json, &c->out);
		if (!args || !(args = through_catalog(c, args, &mi))) {
			finish_later(c, true);
			return 0;
		}
	} else if (!d && !tools_find_mcp(t, c->name, &mi)) {
		unknown_tool(t, c->name, &c->out);
		finish_later(c, true);
		return 0;
	} else {
		args = parse_args(args_json, &c->out);
		if (!args) {
			finish_later(c, true);
			return 0;
		}
	}
	if (!ctx)
		ctx = &trusted;
	if (d == &tool_def_ask_user) {
		ask_user(c, args, ctx);
	} else if (tools_draft_wanted(t, d, &mi, ctx)) {
		tools_draft_start(c, d, args, ctx);
		return 0; /* args are the call's now */
	} else if (!(ctx->tainted && d && d->writes && d->writes(args)) && /* a proposal */
		   needs_approval(t, d, &mi, c->name, args, ctx)) {
		ask_approval(c, d, args, ctx);
		return 0; /* args are the call's now */
	} else if (d) {
		run_builtin(c, d, args, ctx);
	} else {
		keep_ctx(c, ctx); /* the server may ask the turn's chat (tools_elicit.c) */
		run_mcp(c, args);
	}
	cJSON_Delete(args);
	return 0;
}

void tools_cancel(struct tools_call *c)
{
	c->cancelled = true;
	if (c->finished) {
		set_result(c, true, "", 0);
		return;
	}
	if (tools_draft_cancel(c))
		return;
	if (c->asking) { /* the question closes when the cancel is delivered */
		set_result(c, true, "", 0);
		finish_later(c, true);
		return;
	}
	if (c->job)
		c->def->cancel(c->job);
	else if (c->mc)
		mcp_call_cancel(c->mc);
}

void tools_edit_version(const void *data, size_t len, char out[TOOLS_VERSION_LEN + 1])
{
	char hex[65];

	sha256_hex(data, len, hex);
	memcpy(out, hex, TOOLS_VERSION_LEN);
	out[TOOLS_VERSION_LEN] = '\0';
}

/* What tools_draft.c and tools_elicit.c may call of this file (tools_int.h). */
static const struct tools_owner owner = {
	.call_new = call_new,
	.keep_ctx = keep_ctx,
	.question_id = question_id,
	.put_question = put_question,
	.end_question = end_question,
	.arm_timeout = arm_timeout,
	.run_builtin = run_builtin,
	.run_mcp = run_mcp,
	.on_mcp = on_mcp,
	.finish_later = finish_later,
	.deliver = deliver,
};

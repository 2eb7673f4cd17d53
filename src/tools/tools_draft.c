/* tools_draft: review before anything leaves (docs/security.md). An outbound call (web_fetch,
 * send_file, send_voice, an MCP tool that is not read-only) of a turn whose lane has
 * review_outbound, or that loaded a skill whose workflow asks for review, becomes a draft card
 * instead of the plain approval: the draft step (one side call of the turn, so in its lane)
 * marks the inferred sentences and the never_invent items without a source, then the card is
 * asked with Approve, Edit and Reject. Approve runs the call once with the approved draft;
 * Edit takes the owner's next message in the chat (or the cockpit's text) as the draft and
 * asks again; Reject and expiry (the lane's review_expire_min) run nothing. Every decision is
 * an audit line (review.c).
 *
 * The card is a question of the tools layer (tools.c's asking list), so Telegram and the
 * cockpit show and answer it as they answer approvals, and a question is decided once: the
 * second Approve finds nothing. A card lives with its call: a restart ends the turn, and with
 * it the card, so nothing can be sent from it later.
 */
#include "tools/tools_int.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "core/loop.h"
#include "mcp/mcp.h"
#include "tools/review.h"
#include "tools/tool.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_MAX_TOKENS 1200

static const char *const draft_choices[] = {"Approve", "Edit", "Reject"};

void tools_review_add_never_invent(struct tools_review *r, char *const *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(r->never_invent);
		bool have = false;

		for (const char *p = r->never_invent; *p && !have;) {
			size_t l = strcspn(p, "\n");

			have = l == strlen(items[i]) && strncmp(p, items[i], l) == 0;
			p += l + (p[l] == '\n');
		}
		if (!have && len + strlen(items[i]) + 2 < sizeof(r->never_invent))
			snprintf(r->never_invent + len, sizeof(r->never_invent) - len, "%s%s",
				 len ? "\n" : "", items[i]);
	}
}

/* Outbound: what reaches beyond hermetic and its own chat. */
static bool outbound(const struct tool_def *d, const struct mcp_tool_info *mi)
{
	if (d)
		return strcmp(d->name, "web_fetch") == 0 || strcmp(d->name, "send_file") == 0 ||
		       strcmp(d->name, "send_voice") == 0;
	return !mi->read_only;
}

bool tools_draft_wanted(const struct tools *t, const struct tool_def *d,
			const struct mcp_tool_info *mi, const struct tools_ctx *ctx)
{
	const struct config_lane *lane = review_lane(t->env.cfg, ctx->lane);
	const char *src = ctx->source ? ctx->source : "";
	/* A skill's review asks where approvals ask: not the owner's own terminal or API. */
	bool skill = ctx->review && ctx->review->skill[0] && *src && strcmp(src, "cli") != 0 &&
		     strncmp(src, "api:", 4) != 0;

	return review_wanted(lane, skill, outbound(d, mi) ? REVIEW_OUTBOUND : REVIEW_NOT_OUTBOUND);
}

/* The card asked (again): its plain text is the question's; without an asker the call ends
 * unrun with the reason. */
static void ask_card(struct tools_call *c)
{
	struct buf text;
	int rc;

	buf_init(&text, 0);
	review_plain(c->card, &text);
	free(c->q_text);
	c->q_text = NULL;
	rc = c->t->owner->put_question(c, TOOLS_Q_DRAFT, buf_str(&text), draft_choices,
				       ARRAY_LEN(draft_choices));
	buf_finish(&text);
	if (rc == 0 && c->card->version == 1)
		c->card->id = c->q_id;
	if (rc < 0) {
		review_audit(c->card, c->source, c->sid, "unasked", NULL, NULL);
		c->t->owner->finish_later(c, true);
	}
}

static void on_step(int status, const char *text, void *arg)
{
	struct tools_call *c = arg;

	c->llm_call = NULL;
	if (c->cancelled) {
		buf_reset(&c->out);
		c->t->owner->finish_later(c, true);
		return;
	}
	if (status != 200 || review_parse_marks(c->card, text) < 0)
		c->card->step_note = xasprintf("the draft step found nothing to mark: %s",
					       status == 200 ? "its answer was not the JSON asked"
							     : "the model call failed");
	ask_card(c);
}

/* The draft: the value of the draft argument, else the whole call as JSON. */
static char *draft_of(const cJSON *args, const char *field)
{
	const cJSON *v = field ? cJSON_GetObjectItemCaseSensitive(args, field) : NULL;
	char *j, *out;

	if (cJSON_IsString(v))
		return xstrdup(v->valuestring);
	j = cJSON_PrintUnformatted(args);
	out = xstrdup(j ? j : "{}");
	cJSON_free(j);
	return out;
}

static char *destination_of(const struct tools_call *c, const struct tool_def *d)
{
	if (d && strcmp(d->name, "web_fetch") == 0)
		return xstrdup("web_fetch: a request to the URL below");
	if (d)
		return xasprintf("%s: to the chat of %s", d->name,
				 *c->source ? c->source : "this turn");
	return xasprintf("%s (an MCP tool that is not read-only)", c->name);
}

void tools_draft_start(struct tools_call *c, const struct tool_def *d, cJSON *args,
		       const struct tools_ctx *ctx)
{
	struct review_card *k = xcalloc(1, sizeof(*k));
	char *sys, *user, *json = cJSON_PrintUnformatted(args);
	char key[48];
	int rc = -ENOTSUP;

	c->t->owner->keep_ctx(c, ctx);
	c->run_def = d;
	c->args = args;
	c->card = k;
	c->lane_cfg = review_lane(c->t->env.cfg, ctx->lane);
	k->version = 1;
	k->field = review_draft_field(c->name, json ? json : "");
	cJSON_free(json);
	k->draft = draft_of(args, k->field);
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(args, k->field ? k->field : ""))) {
		free(k->field);
		k->field = NULL;
	}
	k->destination = destination_of(c, d);
	k->sources = xstrdup(ctx->sources ? ctx->sources : "");
	k->lane = c->lane_cfg ? xstrdup(c->lane_cfg->name) : NULL;
	k->skill = ctx->review && ctx->review->skill[0] ? xstrdup(ctx->review->skill) : NULL;
	k->never_invent = xstrdup(ctx->review ? ctx->review->never_invent : "");
	k->expires_ms = now_mono_ms() + (c->lane_cfg ? c->lane_cfg->review_expire_min * 60000
						     : (int64_t)REVIEW_EXPIRE_DEF_S * 1000);
	if (c->llm) {
		review_prompt(k, &sys, &user);
		snprintf(key, sizeof(key), "review:%016llx",
			 (unsigned long long)c->t->owner->question_id());
		rc = c->llm->chat(c->llm_arg, key, "", sys, user, STEP_MAX_TOKENS, on_step, c,
				  &c->llm_call);
		free(sys);
		free(user);
	}
	if (rc == 0)
		return;
	k->step_note = xstrdup("the draft step could not run: nothing is marked");
	ask_card(c);
}

/* The card's question closes in every asker with outcome (the call waits on). */
static void close_card(struct tools_call *c, const char *outcome)
{
	struct tools *t = c->t;

	for (size_t i = 0; i < t->n_askers; i++)
		if (t->askers[i].a->closed)
			t->askers[i].a->closed(c->q_id, outcome, t->askers[i].arg);
}

/* The owner's new draft: the card's next version, asked again. */
static void take_edit(struct tools_call *c, const char *text, const char *who)
{
	struct review_card *k = c->card;

	if (!k->editing)
		close_card(c, "Edited: the new draft is in the next card");

	if (!k->field) {
		/* the draft is the whole call: an edit must be a call too, or it could not be
		 * what runs; one that is not a JSON object leaves the draft as it was */
		cJSON *call = json_parse(text, strlen(text), 0, NULL);
		bool ok = strlen(text) <= REVIEW_DRAFT_MAX && cJSON_IsObject(call);

		cJSON_Delete(call);
		free(k->step_note);
		k->step_note = ok ? NULL
				  : xstrdup("the edit was not a JSON object, and this action's "
					    "draft is its whole call: the draft is unchanged");
		if (!ok)
			text = k->draft;
	}
	if (text != k->draft) {
		free(k->draft);
		k->draft = xstrndup(text, utf8_cut(text, strnlen(text, REVIEW_DRAFT_MAX)));
	}
	k->version++;
	k->editing = false;
	review_keep_present(k);
	review_audit(k, c->source, c->sid, "edited", who, NULL);
	ask_card(c);
}

/* A held answer's record: the caller's callback and where the answer goes. */
struct hold {
	tools_hold_cb cb;
	void *arg;
	char *to;
};

/* The held call ended: approved (is_error false: the card's draft goes), or not. */
static void on_held(bool is_error, const char *text, size_t len, void *arg)
{
	struct hold *h = arg;

	(void)is_error;
	(void)text;
	(void)len;
	free(h->to);
	free(h);
}

/* The approved answer goes where it was held from, once. */
static void release(struct tools_call *c)
{
	struct hold *h = c->arg;

	c->outcome = c->answer_by ? xasprintf("Approved by %s: sent", c->answer_by)
				  : xstrdup("Approved: sent");
	review_audit(c->card, c->source, c->sid, "approved", c->answer_by, c->card->draft);
	h->cb(h->to, c->card->draft, h->arg);
	buf_puts(&c->out, "sent");
	c->is_error = false;
	c->t->owner->deliver(c);
}

int tools_draft_hold(struct tools *t, const struct tools_hold *hd, tools_hold_cb cb, void *arg)
{
	struct hold *h = xcalloc(1, sizeof(*h));
	struct tools_call *c = t->owner->call_new(t, "deliver", on_held, h);
	struct review_card *k = xcalloc(1, sizeof(*k));
	int rc;

	*h = (struct hold){cb, arg, xstrdup(hd->to)};
	c->sid = xstrdup(hd->session_id ? hd->session_id : "");
	c->source = xstrdup(hd->source);
	c->a_source = xstrdup(hd->source);
	c->lane_cfg = review_lane(t->env.cfg, hd->lane);
	c->a_lane = c->lane_cfg ? c->lane_cfg->name : NULL;
	c->card = k;
	k->held = true;
	k->version = 1;
	k->destination = xasprintf("the answer of %s, delivered to %s (outside the lane)",
				   hd->source, hd->to);
	k->draft = xstrndup(hd->text, utf8_cut(hd->text, strnlen(hd->text, REVIEW_DRAFT_MAX)));
	k->sources = xasprintf("the run of %s", hd->source);
	k->lane = c->lane_cfg ? xstrdup(c->lane_cfg->name) : NULL;
	k->never_invent = xstrdup("");
	k->step_note = xstrdup("a job's answer: no draft step (its turn has ended)");
	k->expires_ms = now_mono_ms() + (c->lane_cfg ? c->lane_cfg->review_expire_min * 60000
						     : (int64_t)REVIEW_EXPIRE_DEF_S * 1000);
	ask_card(c);
	if (c->asking)
		return 0;
	/* Nobody to ask: ask_card left the call to end from the loop; it ends here instead. */
	rc = -ENOENT;
	event_del(c->ev);
	c->finished = false;
	c->t->owner->deliver(c);
	return rc;
}

/* The approved draft goes into the call's arguments; the call runs once. */
static void approve(struct tools_call *c)
{
	struct review_card *k = c->card;

	if (k->held) {
		event_del(c->ev);
		release(c);
		return;
	}
	struct tools_ctx ctx = {c->sid, c->source, c->tainted, c->web_any, NULL,
				NULL,	c->llm,	   c->llm_arg, c->notice,  c->notice_arg,
				NULL,	c->a_lane, NULL,       NULL};

	if (k->field) {
		cJSON_ReplaceItemInObjectCaseSensitive(c->args, k->field,
						       cJSON_CreateString(k->draft));
	} else if (k->version > 1) { /* an edited whole call (take_edit checked it) */
		cJSON *call = json_parse(k->draft, strlen(k->draft), 0, NULL);

		if (cJSON_IsObject(call)) {
			cJSON_Delete(c->args);
			c->args = call;
		} else {
			cJSON_Delete(call);
		}
	}
	c->outcome = c->answer_by ? xasprintf("Approved by %s", c->answer_by) : xstrdup("Approved");
	review_audit(k, c->source, c->sid, "approved", c->answer_by, k->draft);
	event_del(c->ev);
	c->t->owner->end_question(c);
	if (c->run_def)
		c->t->owner->run_builtin(c, c->run_def, c->args, &ctx);
	else
		c->t->owner->run_mcp(c, c->args);
}

/* Edit pressed without a text: the card's message closes and its chat's next message is the
 * draft (tools_draft_edit); the card keeps its expiry. */
static void await_edit(struct tools_call *c)
{
	int64_t left = c->card->expires_ms - now_mono_ms();
	struct timeval tv = {(time_t)(left > 0 ? left / 1000 : 0),
			     (suseconds_t)(left > 0 ? left % 1000 : 0) * 1000};

	c->card->editing = true;
	c->answer = -1;
	close_card(c, "Edit: your next message in this chat becomes the draft");
	event_add(c->ev, &tv);
}

void tools_draft_answer(struct tools_call *c)
{
	struct review_card *k = c->card;
	long a = c->answer;

	if (a == TOOLS_DRAFT_APPROVE) {
		approve(c);
		return;
	}
	if (a == TOOLS_DRAFT_EDIT && c->answer_text) {
		c->answer = -1;
		take_edit(c, c->answer_text, c->answer_by);
		return;
	}
	if (a == TOOLS_DRAFT_EDIT) {
		await_edit(c);
		return;
	}
	if (a < 0)
		c->outcome = xasprintf("Expired after %lld min: nothing was sent",
				       (long long)((c->lane_cfg ? c->lane_cfg->review_expire_min
								: REVIEW_EXPIRE_DEF_S / 60)));
	else
		c->outcome = c->answer_by
				     ? xasprintf("Rejected by %s: nothing was sent", c->answer_by)
				     : xstrdup("Rejected: nothing was sent");
	review_audit(k, c->source, c->sid, a < 0 ? "expired" : "rejected", c->answer_by, NULL);
	buf_reset(&c->out);
	buf_printf(&c->out,
		   "The owner %s the draft of this call of %s; nothing was sent. Do not try to get "
		   "the same done another way: ask the owner what they want.",
		   a < 0 ? "did not review (it expired)" : "rejected", c->name);
	c->is_error = true;
	c->t->owner->deliver(c);
}

int tools_draft_edit(struct tools *t, uint64_t id, const char *text, const char *who)
{
	for (struct tools_call *c = t->asking; c; c = c->next_asking) {
		if (c->q_id != id || !c->card || !c->card->editing || c->finished)
			continue;
		event_del(c->ev);
		take_edit(c, text, who);
		return 0;
	}
	return -ENOENT;
}

void tools_draft_question(const struct tools_call *c, struct tools_question *q)
{
	q->choices = draft_choices;
	q->n_choices = ARRAY_LEN(draft_choices);
	q->timeout_s = c->q_timeout_s;
	q->card = c->card;
}

bool tools_draft_cancel(struct tools_call *c)
{
	if (!c->llm_call)
		return false;
	c->llm->cancel(c->llm_arg, c->llm_call);
	return true;
}

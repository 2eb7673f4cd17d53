/* tools_elicit: an MCP server's question (elicitation) during a turn's tool call, asked
 * through the same askers as approvals and ask_user (the Telegram chat of the turn, the
 * cockpit).
 *
 * The question belongs to the tool call it came with (mcp_call_arg_if finds it); a call that
 * is no turn's (the API's /v1/tools/call), or a turn with no chat, is declined. The form is
 * asked one step at a time, each step a TOOLS_Q_ELICIT question of the call: a boolean as
 * Yes/No buttons, a choice of a few as one button each, anything else (text, numbers, long
 * lists, multi-select) as a typed reply (tools_answer_text) checked by mcp_elicit_value and
 * asked again with why when it does not fit; a field with a default offers it as a button,
 * an optional one Skip, every step Decline. A link (url mode) is one step: Done or Decline.
 * In a lane with review_outbound the whole answer is shown before it goes (Send or Decline).
 * No answer within approvals.timeout_s answers the server cancel. While the question is out,
 * the call's own time limit (agent.tool_timeout_s) stands still and so does the turn's clock.
 */
#include "tools/tools_int.h"
#include "core/config.h"
#include "core/json.h"
#include "core/log.h"
#include "tools/review.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STEP_BUTTONS_MAX  8 /* Telegram shows at most 8 rows of a question */
#define ENUM_BUTTONS_MAX  5 /* more choices are typed, by number or name */
#define BUTTON_TEXT_MAX	  40
#define SHOWN_VALUE_MAX	  200
#define MESSAGE_SHOWN_MAX 1500 /* of the server's message: a step stays one chat message */
#define ELICIT_BACKSTOP_S 3600 /* the MCP client's own limit; each step has approvals.timeout_s */

enum act {
	ACT_VALUE,
	ACT_YES,
	ACT_NO,
	ACT_DEFAULT,
	ACT_SKIP,
	ACT_DECLINE,
	ACT_DONE,
	ACT_SEND,
	ACT_ACCEPT
};

struct tools_elicit {
	struct mcp_question *q; /* NULL once the MCP client withdrew it */
	const struct mcp_elicit_form *form;
	char *server;
	size_t field;	/* the field asked; n_fields: the review step */
	bool review;	/* the turn's lane reviews what goes out */
	bool typed;	/* the step takes a typed reply */
	cJSON *content; /* the answers so far */
	char *error;	/* why the last reply was not taken, shown when asked again */
	enum act acts[STEP_BUTTONS_MAX];
	size_t options[STEP_BUTTONS_MAX];
};

static void add_button(struct tools_call *c, const char *text, enum act act, size_t option)
{
	struct tools_elicit *e = c->elicit;
	size_t n = utf8_cut(text, strnlen(text, BUTTON_TEXT_MAX));

	e->acts[c->n_choices] = act;
	e->options[c->n_choices] = option;
	c->choices[c->n_choices++] = xstrndup(text, n);
}

static void drop_buttons(struct tools_call *c)
{
	for (size_t i = 0; i < c->n_choices; i++)
		free(c->choices[i]);
	free(c->choices);
	c->choices = NULL;
	c->n_choices = 0;
}

static void list_options(const struct mcp_elicit_field *f, struct buf *b)
{
	for (size_t k = 0; k < f->n_options; k++)
		buf_printf(b, "\n%zu. %s", k + 1,
			   f->option_names[k] ? f->option_names[k] : f->options[k]);
}

/* What to reply for a typed field, and its bounds. */
static void typed_hint(const struct mcp_elicit_field *f, struct buf *b)
{
	switch (f->type) {
	case MCP_ELICIT_NUMBER:
	case MCP_ELICIT_INTEGER:
		buf_printf(b, "Reply with %s",
			   f->type == MCP_ELICIT_INTEGER ? "a whole number" : "a number");
		if (f->has_min && f->has_max)
			buf_printf(b, " from %g to %g", f->min, f->max);
		else if (f->has_min || f->has_max)
			buf_printf(b, " %s %g", f->has_min ? "of at least" : "of at most",
				   f->has_min ? f->min : f->max);
		buf_puts(b, ".");
		break;
	case MCP_ELICIT_ENUM:
		buf_puts(b, "Reply with the number or the name of one:");
		list_options(f, b);
		break;
	case MCP_ELICIT_MULTI:
		buf_puts(b,
			 "Reply with the numbers or names of your choices, separated by commas:");
		list_options(f, b);
		break;
	default:
		buf_printf(b, "Reply with %s", f->format ? f->format : "text");
		if (f->has_max)
			buf_printf(b, " (at most %g characters)", f->max);
		buf_puts(b, ".");
	}
}

/* The step for field e->field: its text in b, its buttons on c. */
static void field_step(struct tools_call *c, struct buf *b)
{
	struct tools_elicit *e = c->elicit;
	const struct mcp_elicit_field *f = &e->form->fields[e->field];
	char shown[BUTTON_TEXT_MAX + 16];

	buf_printf(b, "🔌 MCP server %s asks (%zu of %zu):\n%.*s\n\n%s", e->server, e->field + 1,
		   e->form->n_fields,
		   (int)utf8_cut(e->form->message, strnlen(e->form->message, MESSAGE_SHOWN_MAX)),
		   e->form->message, f->title ? f->title : f->name);
	if (f->description)
		buf_printf(b, ": %s", f->description);
	if (e->error)
		buf_printf(b, "\n(not taken: %s)", e->error);
	e->typed = true;
	if (f->type == MCP_ELICIT_BOOLEAN) {
		e->typed = false;
		add_button(c, "Yes", ACT_YES, 0);
		add_button(c, "No", ACT_NO, 0);
	} else if (f->type == MCP_ELICIT_ENUM && f->n_options <= ENUM_BUTTONS_MAX) {
		e->typed = false;
		for (size_t k = 0; k < f->n_options; k++)
			add_button(c, f->option_names[k] ? f->option_names[k] : f->options[k],
				   ACT_VALUE, k);
	} else {
		buf_puts(b, "\n");
		typed_hint(f, b);
	}
	if (f->default_json) {
		snprintf(shown, sizeof(shown), "Default: %s", f->default_json);
		add_button(c, shown, ACT_DEFAULT, 0);
	} else if (!f->required) {
		add_button(c, "Skip", ACT_SKIP, 0);
	}
}

static void review_step(struct tools_call *c, struct buf *b)
{
	struct tools_elicit *e = c->elicit;
	const cJSON *v;

	buf_printf(b, "🔌 Send this answer to MCP server %s? (lane %s reviews what goes out)\n%s\n",
		   e->server, c->a_lane, e->form->message);
	cJSON_ArrayForEach(v, e->content)
	{
		char *text = cJSON_PrintUnformatted(v);

		buf_printf(b, "\n%s: %.*s", v->string, (int)utf8_cut(text, strnlen(text, 600)),
			   text);
		free(text);
	}
	if (!e->content->child)
		buf_puts(b, "\n(nothing filled in: the form's defaults)");
	e->typed = false;
	add_button(c, "Send", ACT_SEND, 0);
}

static void finish(struct tools_call *c, enum mcp_elicit_action action, char *outcome);

/* Asks the step e is at; a step nobody can be asked declines the whole question. */
static void ask_step(struct tools_call *c)
{
	struct tools_elicit *e = c->elicit;
	struct buf b;

	drop_buttons(c);
	c->choices = xcalloc(STEP_BUTTONS_MAX, sizeof(char *));
	buf_init(&b, 0);
	if (e->form->url) {
		buf_printf(
			&b,
			"🔌 MCP server %s asks you to open a link:\n%s\n\n%s\n\nPress Done when you "
			"have finished there.",
			e->server, e->form->message, e->form->url);
		e->typed = false;
		add_button(c, "Done", ACT_DONE, 0);
	} else if (e->field < e->form->n_fields) {
		field_step(c, &b);
	} else if (!e->review) { /* a form without fields: a yes or no */
		buf_printf(&b, "🔌 MCP server %s asks:\n%s", e->server, e->form->message);
		e->typed = false;
		add_button(c, "Accept", ACT_ACCEPT, 0);
	} else {
		review_step(c, &b);
	}
	add_button(c, "Decline", ACT_DECLINE, 0);
	if (c->t->owner->put_question(c, TOOLS_Q_ELICIT, buf_str(&b),
				      (const char *const *)c->choices, c->n_choices) < 0) {
		buf_reset(&c->out); /* the reason was for the model; this call goes on */
		finish(c, MCP_ELICIT_DECLINE, NULL);
	}
	buf_finish(&b);
}

static void elicit_free(struct tools_call *c)
{
	struct tools_elicit *e = c->elicit;

	c->elicit = NULL;
	drop_buttons(c);
	cJSON_Delete(e->content);
	free(e->server);
	free(e->error);
	free(e);
}

/* The question ends: the server answered (unless withdrawn), the step closed with outcome,
 * the call's own time limit running again. */
static void finish(struct tools_call *c, enum mcp_elicit_action action, char *outcome)
{
	struct tools_elicit *e = c->elicit;
	char err[256], *content = NULL;

	if (e->q && action == MCP_ELICIT_ACCEPT && !e->form->url)
		content = cJSON_PrintUnformatted(e->content);
	if (e->q && mcp_question_answer(e->q, action, content, err, sizeof(err)) < 0) {
		log_warn("tools: the answer to %s's question does not fit its form (%s); declined",
			 e->server, err);
		mcp_question_answer(e->q, MCP_ELICIT_DECLINE, NULL, err, sizeof(err));
	}
	free(content);
	free(c->outcome);
	c->outcome = outcome;
	c->t->owner->end_question(c);
	free(c->outcome);
	c->outcome = NULL;
	elicit_free(c);
	c->t->owner->arm_timeout(c);
}

/* The step's answer as a value for the field, or NULL (skip); false: not taken (why in
 * e->error). */
static bool step_value(struct tools_call *c, enum act act, cJSON **value)
{
	struct tools_elicit *e = c->elicit;
	const struct mcp_elicit_field *f = &e->form->fields[e->field];
	char err[256], *json = NULL;

	*value = NULL;
	free(e->error);
	e->error = NULL;
	switch (act) {
	case ACT_YES:
	case ACT_NO:
		*value = cJSON_CreateBool(act == ACT_YES);
		return true;
	case ACT_DEFAULT:
		*value = json_parse_str(f->default_json, NULL);
		return true;
	case ACT_SKIP:
		return true;
	default:
		break;
	}
	if (mcp_elicit_value(f, c->answer_text ? c->answer_text : "", &json, err, sizeof(err)) <
	    0) {
		e->error = xstrdup(err);
		return false;
	}
	*value = json_parse_str(json, NULL);
	free(json);
	return true;
}

void tools_elicit_answer(struct tools_call *c)
{
	struct tools_elicit *e = c->elicit;
	long k = c->answer;
	enum act act = k >= 0 && (size_t)k < c->n_choices ? e->acts[k] : ACT_VALUE;
	const struct mcp_elicit_field *f;
	cJSON *value;
	char *shown;

	if (k < 0) {
		finish(c, MCP_ELICIT_CANCEL,
		       xasprintf("No answer in %lld s: cancelled", (long long)c->q_timeout_s));
		return;
	}
	if (act == ACT_DECLINE || act == ACT_DONE || act == ACT_SEND || act == ACT_ACCEPT) {
		finish(c, act == ACT_DECLINE ? MCP_ELICIT_DECLINE : MCP_ELICIT_ACCEPT,
		       xstrdup(act == ACT_DECLINE  ? "Declined"
			       : act == ACT_DONE   ? "Done"
			       : act == ACT_ACCEPT ? "Accepted"
						   : "Sent"));
		return;
	}
	f = &e->form->fields[e->field];
	if (act == ACT_VALUE && (size_t)k < c->n_choices) { /* a choice's button */
		free(c->answer_text);
		c->answer_text = xstrdup(f->options[e->options[k]]);
	}
	if (!step_value(c, act, &value)) {
		c->outcome = xasprintf("Not taken: %s", e->error);
	} else {
		shown = value ? cJSON_PrintUnformatted(value) : xstrdup("(left out)");
		c->outcome = xasprintf("Answered: %.*s", SHOWN_VALUE_MAX, shown);
		free(shown);
		if (value)
			cJSON_AddItemToObject(e->content, f->name, value);
		e->field++;
	}
	c->t->owner->end_question(c);
	free(c->outcome);
	c->outcome = NULL;
	if (e->field < e->form->n_fields || e->review)
		ask_step(c);
	else
		finish(c, MCP_ELICIT_ACCEPT, NULL);
}

bool tools_elicit_typed(const struct tools_call *c)
{
	return c->elicit && c->elicit->typed;
}

int tools_answer_text(struct tools *t, uint64_t id, const char *who, const char *text)
{
	struct timeval zero = {0, 0};

	for (struct tools_call *c = t->asking; c; c = c->next_asking) {
		if (c->q_id != id || c->q_kind != TOOLS_Q_ELICIT || !tools_elicit_typed(c) ||
		    c->answer >= 0)
			continue;
		free(c->answer_by);
		free(c->answer_text);
		c->answer_by = who ? xstrdup(who) : NULL;
		c->answer_text = xstrndup(text, utf8_cut(text, strnlen(text, MCP_ELICIT_TEXT_MAX)));
		c->answer = (long)c->n_choices; /* past the buttons: the typed text */
		event_del(c->ev);
		event_add(c->ev, &zero);
		return 0;
	}
	return -ENOENT;
}

void tools_elicit_call_gone(struct tools_call *c)
{
	char err[64];

	if (!c->elicit)
		return;
	if (c->elicit->q)
		mcp_question_answer(c->elicit->q, MCP_ELICIT_CANCEL, NULL, err, sizeof(err));
	elicit_free(c);
}

static void on_ask(struct mcp_question *q, const struct mcp_elicit_form *form, const char *server,
		   struct mcp_call *call, void *arg)
{
	struct tools *t = *(struct tools **)arg;
	struct tools_call *c = t ? mcp_call_arg_if(call, t->owner->on_mcp) : NULL;
	const struct config_lane *lane;
	struct tools_elicit *e;
	char err[64];

	if (!c || c->elicit || c->asking || !c->source || !*c->source) {
		log_info("tools: %s asks, and no turn's chat can answer: declined", server);
		mcp_question_answer(q, MCP_ELICIT_DECLINE, NULL, err, sizeof(err));
		return;
	}
	e = xcalloc(1, sizeof(*e));
	e->q = q;
	e->form = form;
	e->server = xstrdup(server);
	e->content = cJSON_CreateObject();
	lane = c->a_lane ? review_lane(t->env.cfg, c->a_lane) : NULL;
	e->review = lane && lane->review_outbound && !form->url;
	c->elicit = e;
	event_del(c->ev); /* the call's time limit stands still; each step has its own */
	ask_step(c);
}

static void on_withdrawn(struct mcp_question *q, const char *why, void *arg)
{
	struct tools *t = *(struct tools **)arg;

	for (struct tools_call *c = t ? t->asking : NULL; c; c = c->next_asking)
		if (c->elicit && c->elicit->q == q) {
			c->elicit->q = NULL;
			finish(c, MCP_ELICIT_CANCEL, xasprintf("Withdrawn: %s", why));
			return;
		}
}

void tools_elicit_cbs(struct tools **slot, struct mcp_elicit_cbs *out)
{
	*out = (struct mcp_elicit_cbs){.ask = on_ask,
				       .withdrawn = on_withdrawn,
				       .timeout_ms = ELICIT_BACKSTOP_S * 1000,
				       .arg = slot};
}

/* cli_elicit: a one-shot call's answers to its server's questions (see cli_elicit.h).
 *
 * Prompts go to stderr, so stdout keeps only the tool's result. stdin is read on the loop
 * (an event on fd 0), never with a blocking read: the server's connection stays served while
 * the user thinks. A regular file cannot be polled; it is read at once, as it never blocks.
 * One question at a time: a second one while the first is being answered is declined.
 */
#include "cli/cli_elicit.h"
#include "core/json.h"
#include "core/loop.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LINE_MAX_BYTES (MCP_ELICIT_TEXT_MAX + 64)

struct cli_elicit {
	struct loop *loop;
	enum cli_elicit_mode mode;
	bool no_terminal; /* declines because stdin is no terminal (no --elicit) */
	struct event *input;
	bool eof;
	struct buf line;
	/* the question being answered */
	struct mcp_question *q;
	const struct mcp_elicit_form *form;
	size_t field;
	cJSON *content;
};

int cli_elicit_mode_parse(const char *s)
{
	static const char *const names[] = {"ask", "defaults", "decline"};

	for (size_t i = 0; i < ARRAY_LEN(names); i++)
		if (strcmp(s, names[i]) == 0)
			return CLI_ELICIT_ASK + (int)i;
	return -1;
}

static void stop_reading(struct cli_elicit *e)
{
	if (e->input)
		event_del(e->input);
}

static void finish(struct cli_elicit *e, enum mcp_elicit_action action)
{
	char err[256], *content = NULL;

	stop_reading(e);
	if (action == MCP_ELICIT_ACCEPT && e->content)
		content = cJSON_PrintUnformatted(e->content);
	if (mcp_question_answer(e->q, action, content, err, sizeof(err)) < 0) {
		fprintf(stderr, "hermetic: the answer does not fit the form (%s): declined\n", err);
		mcp_question_answer(e->q, MCP_ELICIT_DECLINE, NULL, err, sizeof(err));
	}
	free(content);
	cJSON_Delete(e->content);
	e->content = NULL;
	e->q = NULL;
	e->form = NULL;
}

static void prompt(struct cli_elicit *e)
{
	const struct mcp_elicit_field *f;

	if (e->form->url) {
		fprintf(stderr, "Open %s\nthen press Enter (or type /decline): ", e->form->url);
		return;
	}
	if (!e->form->n_fields) { /* nothing to fill in: a yes or no */
		fputs("  Enter accepts (/decline or /cancel to refuse): ", stderr);
		fflush(stderr);
		return;
	}
	f = &e->form->fields[e->field];
	fprintf(stderr, "  %s", f->title ? f->title : f->name);
	if (f->description)
		fprintf(stderr, " (%s)", f->description);
	if (f->type == MCP_ELICIT_ENUM || f->type == MCP_ELICIT_MULTI) {
		fputc('\n', stderr);
		for (size_t k = 0; k < f->n_options; k++)
			fprintf(stderr, "    %zu. %s\n", k + 1,
				f->option_names[k] ? f->option_names[k] : f->options[k]);
		fputs(f->type == MCP_ELICIT_ENUM ? "  choice" : "  choices, separated by commas",
		      stderr);
	} else if (f->type == MCP_ELICIT_BOOLEAN) {
		fputs(" [y/n]", stderr);
	} else {
		fprintf(stderr, " [%s]", mcp_elicit_type_name(f->type));
	}
	if (f->default_json)
		fprintf(stderr, " (Enter: %s)", f->default_json);
	else if (!f->required)
		fputs(" (Enter: leave out)", stderr);
	fputs(": ", stderr);
	fflush(stderr);
}

/* One line for the field asked; moves on, re-asks or ends the question. */
static void take_line(struct cli_elicit *e, const char *text)
{
	const struct mcp_elicit_field *f;
	char err[256], *json;

	if (strcmp(text, "/decline") == 0 || strcmp(text, "/cancel") == 0) {
		finish(e, text[1] == 'd' ? MCP_ELICIT_DECLINE : MCP_ELICIT_CANCEL);
		return;
	}
	if (e->form->url || !e->form->n_fields) {
		finish(e, MCP_ELICIT_ACCEPT);
		return;
	}
	f = &e->form->fields[e->field];
	if (!*text) {
		if (f->required && !f->default_json) {
			fprintf(stderr, "  %s is required\n", f->name);
			prompt(e);
			return;
		}
	} else if (mcp_elicit_value(f, text, &json, err, sizeof(err)) < 0) {
		fprintf(stderr, "  %s\n", err);
		prompt(e);
		return;
	} else {
		cJSON_AddItemToObject(e->content, f->name, json_parse_str(json, NULL));
		free(json);
	}
	if (++e->field < e->form->n_fields)
		prompt(e);
	else
		finish(e, MCP_ELICIT_ACCEPT);
}

/* Every whole line read so far goes to the question, while it waits. */
static void drain_lines(struct cli_elicit *e)
{
	char *nl;

	while (e->q && (nl = memchr(e->line.data, '\n', e->line.len))) {
		size_t len = (size_t)(nl - e->line.data);
		char *text = xstrndup(e->line.data, len > 0 && nl[-1] == '\r' ? len - 1 : len);

		buf_consume(&e->line, len + 1);
		take_line(e, text);
		free(text);
	}
}

/* Reads what stdin has and hands on whole lines. false at end of input (or a line too long). */
static bool read_some(struct cli_elicit *e)
{
	char chunk[1024];
	ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0)
		return false;
	if (buf_append(&e->line, chunk, (size_t)n) < 0) {
		fprintf(stderr, "hermetic: an answer longer than %d bytes: cancelled\n",
			LINE_MAX_BYTES);
		return false;
	}
	drain_lines(e);
	return true;
}

static void on_input(evutil_socket_t fd, short what, void *arg)
{
	struct cli_elicit *e = arg;

	if (!read_some(e) && e->q) {
		e->eof = true;
		fputs("\n", stderr);
		finish(e, MCP_ELICIT_CANCEL);
	}
}

static void ask_terminal(struct cli_elicit *e)
{
	fprintf(stderr, "%s\n", e->form->message);
	if (!e->form->url && e->form->n_fields)
		fputs("  (Enter takes the default; /decline or /cancel to refuse)\n", stderr);
	prompt(e);
	/* Lines already read (answers typed ahead, or piped) count first. */
	if (e->line.len) {
		drain_lines(e);
		if (!e->q)
			return;
	}
	if (e->eof) {
		finish(e, MCP_ELICIT_CANCEL);
		return;
	}
	if (!e->input)
		e->input = event_new(loop_base(e->loop), STDIN_FILENO, EV_READ | EV_PERSIST,
				     on_input, e);
	if (event_add(e->input, NULL) == 0)
		return;
	/* Not pollable (a regular file): reading it never blocks. */
	while (e->q && read_some(e))
		;
	if (e->q) {
		e->eof = true;
		finish(e, MCP_ELICIT_CANCEL);
	}
}

static void on_ask(struct mcp_question *q, const struct mcp_elicit_form *form, const char *server,
		   struct mcp_call *call, void *arg)
{
	struct cli_elicit *e = arg;
	char err[256];

	if (e->q) {
		fprintf(stderr, "hermetic: %s asks a second question at once: declined\n", server);
		mcp_question_answer(q, MCP_ELICIT_DECLINE, NULL, err, sizeof(err));
		return;
	}
	e->q = q;
	e->form = form;
	e->field = 0;
	e->content = cJSON_CreateObject();
	fprintf(stderr, "MCP server %s asks: ", server);
	switch (e->mode) {
	case CLI_ELICIT_ASK:
		ask_terminal(e);
		return;
	case CLI_ELICIT_DEFAULTS:
		if (form->url) {
			fprintf(stderr,
				"%s\n  (a link: %s; declined, as --elicit defaults opens "
				"nothing)\n",
				form->message, form->url);
			finish(e, MCP_ELICIT_DECLINE);
			return;
		}
		fprintf(stderr, "%s\n  (answered with the form's defaults)\n", form->message);
		finish(e, MCP_ELICIT_ACCEPT);
		return;
	default:
		fprintf(stderr, "%s\n  (declined: %s)\n", form->message,
			e->no_terminal ? "stdin is not a terminal; see --elicit"
				       : "--elicit decline");
		finish(e, MCP_ELICIT_DECLINE);
	}
}

static void on_withdrawn(struct mcp_question *q, const char *why, void *arg)
{
	struct cli_elicit *e = arg;

	if (e->q != q)
		return;
	fprintf(stderr, "\nhermetic: the question ended: %s\n", why);
	stop_reading(e);
	cJSON_Delete(e->content);
	e->content = NULL;
	e->q = NULL;
	e->form = NULL;
}

struct cli_elicit *cli_elicit_create(struct loop *loop, enum cli_elicit_mode mode,
				     struct mcp_elicit_cbs *cbs)
{
	struct cli_elicit *e = xcalloc(1, sizeof(*e));

	e->loop = loop;
	e->mode = mode;
	if (mode == CLI_ELICIT_AUTO) {
		e->no_terminal = !isatty(STDIN_FILENO);
		e->mode = e->no_terminal ? CLI_ELICIT_DECLINE : CLI_ELICIT_ASK;
	}
	buf_init(&e->line, LINE_MAX_BYTES);
	memset(cbs, 0, sizeof(*cbs));
	cbs->ask = on_ask;
	cbs->withdrawn = on_withdrawn;
	cbs->arg = e;
	return e;
}

void cli_elicit_destroy(struct cli_elicit *e)
{
	if (!e)
		return;
	if (e->input)
		event_free(e->input);
	cJSON_Delete(e->content);
	buf_finish(&e->line);
	free(e);
}

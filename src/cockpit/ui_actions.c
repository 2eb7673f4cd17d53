/* ui_actions: the cockpit's buttons, the same calls as Telegram's, on the loop: the questions
 * of every source (approvals and ask_user, listed and answered), a cron job run now, a
 * reminder paused, resumed or deleted. The owner's edits of files are ui_edit.c's.
 */
#include "cockpit/ui_int.h"
#include "core/log.h"
#include "core/util.h"
#include "gateway/cron.h"
#include "gateway/reminders.h"
#include "net/httpd.h"
#include "tools/review.h"
#include "tools/tools.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- actions: the same calls as Telegram's buttons (on the loop) ------------------------- */

static void add_list(cJSON *o, const char *key, char *const *l, size_t n)
{
	cJSON *arr = cJSON_AddArrayToObject(o, key);

	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(l[i]));
}

/* A draft card's parts; html: the draft escaped, its marked sentences in <mark>. */
static void add_card(cJSON *o, const struct review_card *k)
{
	cJSON *c = cJSON_AddObjectToObject(o, "card");
	char id[17];
	struct buf html;

	snprintf(id, sizeof(id), "%016llx", (unsigned long long)k->id);
	cJSON_AddStringToObject(c, "card_id", id);
	cJSON_AddNumberToObject(c, "version", k->version);
	cJSON_AddStringToObject(c, "destination", k->destination);
	if (k->field)
		cJSON_AddStringToObject(c, "field", k->field);
	cJSON_AddStringToObject(c, "draft", k->draft);
	buf_init(&html, 0);
	review_highlight(k, REVIEW_HTML_MARK, &html);
	cJSON_AddStringToObject(c, "draft_html", buf_str(&html));
	buf_finish(&html);
	cJSON_AddStringToObject(c, "sources", k->sources ? k->sources : "");
	if (k->lane)
		cJSON_AddStringToObject(c, "lane", k->lane);
	if (k->skill)
		cJSON_AddStringToObject(c, "skill", k->skill);
	add_list(c, "inferred", k->inferred, k->n_inferred);
	add_list(c, "unsourced", k->unsourced, k->n_unsourced);
	if (k->step_note)
		cJSON_AddStringToObject(c, "note", k->step_note);
}

cJSON *ui_question_json(const struct tools_question *q)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	char id[17];

	snprintf(id, sizeof(id), "%016llx", (unsigned long long)q->id);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "kind",
				q->kind == TOOLS_Q_APPROVAL ? "approval"
				: q->kind == TOOLS_Q_DRAFT  ? "draft"
				: q->kind == TOOLS_Q_ELICIT ? "elicit"
							    : "ask");
	cJSON_AddBoolToObject(o, "typed", q->typed); /* a typed reply answers (an MCP server's) */
	if (q->kind == TOOLS_Q_DRAFT && q->card)
		add_card(o, q->card);
	cJSON_AddStringToObject(o, "source", q->source);
	cJSON_AddStringToObject(o, "session_id", q->session_id ? q->session_id : "");
	cJSON_AddStringToObject(o, "text", q->text);
	arr = cJSON_AddArrayToObject(o, "choices");
	for (size_t i = 0; i < q->n_choices; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(q->choices[i]));
	cJSON_AddNumberToObject(o, "asked_ms", (double)q->asked_ms);
	cJSON_AddNumberToObject(o, "expires_ms", (double)(q->asked_ms + q->timeout_s * 1000));
	return o;
}

static void add_question(const struct tools_question *q, void *arg)
{
	cJSON_AddItemToArray(arg, ui_question_json(q));
}

static void on_approvals(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	cJSON *root, *arr;

	if (!ui_gate(u, req))
		return;
	root = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(root, "questions");

	if (u->env.tools)
		tools_questions_each(u->env.tools, add_question, arr);
	ui_reply_json(req, 200, root);
}

/* The question's id as the page has it: 16 hex digits. */
static bool parse_question_id(const char *s, uint64_t *id)
{
	uint64_t v = 0;

	if (!s || strlen(s) != 16)
		return false;
	for (const char *p = s; *p; p++) {
		int d = hex_digit(*p);

		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return v != 0;
}

/* As a press of the question's button in Telegram: tools_answer, which takes the first answer
 * only (Telegram's later press, or ours after its, finds nothing). A draft card's Edit may
 * carry the new draft as "text" (without it the card's chat's next message is the draft). A
 * "text" without "choice" is the typed reply to a question that takes one (tools_answer_text),
 * as the chat's next message is in Telegram. */
static void on_approval_answer(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	cJSON *root;
	uint64_t id;
	int64_t choice = -1;
	bool typed;
	char who[80], *text = NULL;
	const char *t;
	int rc;

	if (!ui_gate(u, req))
		return;
	root = ui_body_object(req, "expected {\"id\": \"<16 hex digits>\", \"choice\": <index>}");
	if (!root)
		return;
	typed = !cJSON_GetObjectItemCaseSensitive(root, "choice") && *ui_str_item(root, "text");
	if (!parse_question_id(ui_str_item(root, "id"), &id) ||
	    (!typed && !ui_int_item(root, "choice", 0, 15, &choice))) {
		cJSON_Delete(root);
		ui_reply_error(req, 400,
			       "expected {\"id\": \"<16 hex digits>\", \"choice\": <index>}");
		return;
	}
	t = ui_str_item(root, "text");
	if (*t)
		text = xstrdup(t);
	cJSON_Delete(root);
	snprintf(who, sizeof(who), "cockpit %s", httpd_peer(req));
	if (!u->env.tools)
		rc = -ENOENT;
	else if (typed)
		rc = tools_answer_text(u->env.tools, id, who, text);
	else
		rc = tools_answer_as(u->env.tools, id, (size_t)choice, who, text);
	free(text);
	if (rc == -EINVAL) {
		ui_reply_error(req, 400, "no such choice for this question");
		return;
	}
	if (rc < 0) {
		ui_reply_error(req, 409,
			       "this question was already answered, timed out, or is unknown");
		return;
	}
	log_info("ui: question %016llx answered from the cockpit (choice %lld, %s)",
		 (unsigned long long)id, (long long)choice, httpd_peer(req));
	ui_reply_json_text(req, 200, "{\"answered\":true}", 17);
}

/* As cron's timer would run the job (cron_run_now); refused while a run of it is going. */
static void on_job_run(struct httpd_req *req, void *arg)
{
	struct ui *u = arg;
	cJSON *root;
	char *name;
	int rc;

	if (!ui_gate(u, req))
		return;
	root = ui_body_object(req, "expected {\"name\": \"<cron job>\"}");
	if (!root)
		return;
	name = xstrdup(ui_str_item(root, "name"));
	cJSON_Delete(root);
	rc = cron_run_now(u->env.cron, name);
	if (rc == 0) {
		log_info("ui: cron %s started from the cockpit (%s)", name, httpd_peer(req));
		ui_reply_json_text(req, 200, "{\"started\":true}", 16);
	} else if (rc == -ENOENT) {
		ui_reply_error(req, 404, "no enabled cron job of that name");
	} else if (rc == -EBUSY) {
		ui_reply_error(req, 409, "a run of this job is still going");
	} else if (rc == -EAGAIN) {
		httpd_add_header(req, "Retry-After", "2");
		ui_reply_error(req, 503, "state.db is locked by another process; try again");
	} else {
		ui_reply_error(req, 500, "the run could not start (see the log)");
	}
	free(name);
}

/* Pause, resume or delete a reminder: the functions Telegram's /jobs buttons call, with the
 * job's chat (source) as they pass it. */
static void reminder_action(struct httpd_req *req, struct ui *u, bool del)
{
	cJSON *root;
	const cJSON *paused;
	int64_t id;
	char *source;
	struct buf out;
	int rc;

	if (!ui_gate(u, req))
		return;
	root = ui_body_object(req, "expected {\"id\": N, \"source\": \"...\"}");
	if (!root)
		return;
	paused = cJSON_GetObjectItemCaseSensitive(root, "paused");
	if (!ui_int_item(root, "id", 1, INT64_MAX / 2, &id) || !*ui_str_item(root, "source") ||
	    (!del && !cJSON_IsBool(paused))) {
		cJSON_Delete(root);
		ui_reply_error(
			req, 400,
			del ? "expected {\"id\": N, \"source\": \"...\"}"
			    : "expected {\"id\": N, \"source\": \"...\", \"paused\": true|false}");
		return;
	}
	if (!u->env.reminders) {
		cJSON_Delete(root);
		ui_reply_error(req, 404, "reminders are off (reminders.enabled)");
		return;
	}
	source = xstrdup(ui_str_item(root, "source"));
	buf_init(&out, 0);
	rc = del ? reminders_delete(u->env.reminders, source, id, &out)
		 : reminders_pause(u->env.reminders, source, id, cJSON_IsTrue(paused), &out);
	cJSON_Delete(root);
	if (rc == 0) {
		cJSON *o = cJSON_CreateObject();

		log_info("ui: reminder %lld of %s %s from the cockpit", (long long)id, source,
			 del ? "deleted" : "changed");
		cJSON_AddStringToObject(o, "text", buf_str(&out));
		ui_reply_json(req, 200, o);
	} else {
		ui_reply_error(req, rc == -ENOENT ? 404 : 500, buf_str(&out));
	}
	buf_finish(&out);
	free(source);
}

static void on_reminder_pause(struct httpd_req *req, void *arg)
{
	reminder_action(req, arg, false);
}

static void on_reminder_delete(struct httpd_req *req, void *arg)
{
	reminder_action(req, arg, true);
}

void ui_actions_routes(struct ui *u, struct httpd *h)
{
	httpd_route(h, HTTPD_GET, "/v1/ui/approvals", on_approvals, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/approvals/answer", on_approval_answer, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/jobs/run", on_job_run, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/reminders/pause", on_reminder_pause, u);
	httpd_route(h, HTTPD_POST | HTTPD_JSON, "/v1/ui/reminders/delete", on_reminder_delete, u);
}

/* tg_questions: buttons (the whole is described in telegram.c). Owns the questions of the
 * tools layer shown in a chat (approvals and ask_user: sent with an inline keyboard, edited
 * when closed, kept in memory only) and every callback query: answers to those, /jobs'
 * Pause/Resume/Delete, memory proposals, and "a:" presses handed to the owner set by
 * telegram_set_buttons. It does not send itself: messages go through tg_outbox.c.
 */
#include "telegram/telegram_int.h"
#include "agent/task_store.h"
#include "gateway/reminders.h"
#include "net/daemon.h"
#include "core/metrics.h"
#include "core/store.h"
#include "telegram/tg_format.h"
#include "telegram/tg_store.h"
#include "core/safeio.h"
#include "router/router.h"
#include "tools/review.h"
#include "tools/tools.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- questions: approvals and ask_user with buttons ---------------------------------- */

#define QUESTION_TEXT_MAX 3500 /* longer: the whole text goes as a document */

static struct question *question_find(struct telegram *t, uint64_t id, bool unlink)
{
	for (struct question **p = &t->questions; *p; p = &(*p)->next)
		if ((*p)->id == id) {
			struct question *q = *p;

			if (unlink)
				*p = q->next;
			return q;
		}
	return NULL;
}

void tg_question_free(struct question *q)
{
	free(q->text);
	free(q->outcome);
	free(q);
}

/* The chat a question of source goes to: the chat itself, a task's origin chat (its row in
 * the journal), a cron job's or hook's deliver chat, else telegram.admin_chat. 0 = none. */
static int64_t question_chat(const struct telegram *t, const char *source, int64_t *thread)
{
	const struct config *cfg = t->cfg;
	int64_t chat = 0;

	*thread = 0;
	if (tg_parse_source(source, &chat, thread) == 0)
		return chat;
	if (strncmp(source, "task:", 5) == 0) {
		struct task_row r;

		if (task_store_get(t->d->store, strtoll(source + 5, NULL, 10), &r) == 0) {
			chat = r.chat_id;
			*thread = r.thread_id;
			task_row_finish(&r);
		}
	}
	for (size_t i = 0; i < cfg->n_cron_jobs && strncmp(source, "cron:", 5) == 0; i++)
		if (strcmp(cfg->cron_jobs[i].name, source + 5) == 0)
			chat = cfg->cron_jobs[i].deliver.telegram_chat_id;
	for (size_t i = 0; i < cfg->n_hooks && strncmp(source, "hook:", 5) == 0; i++)
		if (strcmp(cfg->hooks[i].name, source + 5) == 0)
			chat = cfg->hooks[i].deliver.telegram_chat_id;
	return chat ? chat : cfg->telegram.admin_chat;
}

struct question_write {
	struct telegram *t;
	int64_t chat_id;
	struct tg_out_opts o;
	char *text, *markup, *tag, *file; /* file: a long question's document, else NULL */
	bool html;			  /* text is Telegram HTML (a draft card) */
};

static int write_question(struct store *s, void *arg)
{
	struct question_write *w = arg;
	struct tg_part part = {w->text, strlen(w->text), strlen(w->text)};

	if (w->file)
		return tg_outbox_add_file(s, w->chat_id, "sendDocument", w->file, w->text, &w->o);
	return tg_outbox_add(s, w->chat_id, &part, 1, w->html, &w->o);
}

static void question_write_free(void *arg, int rc)
{
	struct question_write *w = arg;

	if (rc < 0)
		log_error("telegram: chat %lld: a question was not queued (%s)",
			  (long long)w->chat_id, store_error(w->t->d->store));
	else if (!w->t->closing)
		tg_kick_sender(w->t, 0);
	free(w->text);
	free(w->markup);
	free(w->tag);
	free(w->file);
	free(w);
}

/* Queues text for the chat with markup and tag: a new message, the document file with text
 * as its caption, or (edit_id not 0) an edit of message edit_id: of its caption when file is
 * not NULL (a document's), else of its text. */
static int queue_question_as(struct telegram *t, int64_t chat_id, int64_t thread, int64_t edit_id,
			     const char *text, const char *markup, const char *tag,
			     const char *file, bool html)
{
	struct question_write *w = xcalloc(1, sizeof(*w));
	int rc;

	w->html = html;
	w->t = t;
	w->chat_id = chat_id;
	w->text = xstrdup(text);
	w->markup = markup ? xstrdup(markup) : NULL;
	w->tag = tag ? xstrdup(tag) : NULL;
	w->file = file && !edit_id ? xstrdup(file) : NULL;
	w->o = (struct tg_out_opts){.thread_id = thread,
				    .edit_id = edit_id,
				    .markup = w->markup,
				    .tag = w->tag,
				    .caption = edit_id && file};
	rc = store_write(t->d->store, write_question, w, question_write_free);
	if (rc == -EINPROGRESS)
		return 0;
	question_write_free(w, rc);
	return rc;
}

static int queue_question(struct telegram *t, int64_t chat_id, int64_t thread, int64_t edit_id,
			  const char *text, const char *markup, const char *tag, const char *file)
{
	return queue_question_as(t, chat_id, thread, edit_id, text, markup, tag, file, false);
}

/* The inline keyboard: one row per choice, "q:<id>:<index>" (at most 21 bytes of Telegram's
 * 64); approvals get Bot API 9.4 styles (clients without them show plain buttons). */
static char *question_markup(const struct tools_question *q)
{
	static const char *const styles[] = {"success", "primary", "danger"};
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "{\"inline_keyboard\":[");
	for (size_t i = 0; i < q->n_choices && i < 8; i++) {
		buf_printf(&b, "%s[{\"text\":", i ? "," : "");
		buf_json_str(&b, q->choices[i], strlen(q->choices[i]));
		buf_printf(&b, ",\"callback_data\":\"q:%016llx:%zu\"", (unsigned long long)q->id,
			   i);
		if ((q->kind == TOOLS_Q_APPROVAL || q->kind == TOOLS_Q_DRAFT) && i < 3)
			buf_printf(&b, ",\"style\":\"%s\"", styles[i]);
		buf_puts(&b, "}]");
	}
	buf_puts(&b, "]}");
	return buf_steal(&b);
}

/* A long question goes whole into home/approvals/<id>.txt, sent as a document with the
 * buttons: never cut. Returns the file (relative to home) or NULL. */
static char *question_file(struct telegram *t, const struct tools_question *q)
{
	char *rel = xasprintf("approvals/%016llx.txt", (unsigned long long)q->id);
	int home = safeio_open_home(t->cfg->home), rc = -1;

	if (home >= 0) {
		rc = safeio_mkdirs_at(home, "approvals", 0700);
		if (rc == 0)
			rc = safeio_write_atomic_at(home, rel, q->text, strlen(q->text), 0600);
		close(home);
	}
	if (rc < 0) {
		log_error("telegram: the question's text could not be written to %s", rel);
		free(rel);
		return NULL;
	}
	return rel;
}

static void html_escaped(struct buf *b, const char *s)
{
	for (; *s; s++)
		if (*s == '<')
			buf_puts(b, "&lt;");
		else if (*s == '>')
			buf_puts(b, "&gt;");
		else if (*s == '&')
			buf_puts(b, "&amp;");
		else
			buf_append(b, s, 1);
}

static void html_list(struct buf *b, const char *title, char *const *l, size_t n)
{
	if (!n)
		return;
	buf_printf(b, "\n\n<b>%s</b>", title);
	for (size_t i = 0; i < n; i++) {
		buf_puts(b, "\n• ");
		html_escaped(b, l[i]);
	}
}

/* A draft card (review before anything leaves) in Telegram's HTML: the marked sentences
 * bold and underlined in the draft. */
static char *draft_card_html(const struct tools_question *q)
{
	const struct review_card *k = q->card;
	struct buf b;

	buf_init(&b, 0);
	buf_printf(&b,
		   "📝 <b>Draft for review</b> (%s; nothing leaves without Approve; expires "
		   "in %lld min)\n\n<b>To:</b> ",
		   q->source, (long long)(q->timeout_s + 59) / 60);
	html_escaped(&b, k->destination);
	if (k->lane) {
		buf_puts(&b, "\n<b>Lane:</b> ");
		html_escaped(&b, k->lane);
	}
	if (k->skill) {
		buf_puts(&b, "\n<b>Skill:</b> ");
		html_escaped(&b, k->skill);
	}
	buf_printf(&b, "\n\n<b>Draft</b>%s%s%s (version %d):\n<blockquote>", k->field ? " (" : "",
		   k->field ? k->field : "", k->field ? ")" : "", k->version);
	review_highlight(k, REVIEW_HTML_TELEGRAM, &b);
	buf_puts(&b, "</blockquote>\n<b>Sources:</b>\n");
	html_escaped(&b, k->sources && *k->sources ? k->sources : "(none)");
	html_list(&b, "Inferred or unverified (marked above):", k->inferred, k->n_inferred);
	html_list(&b, "never_invent without a source:", k->unsourced, k->n_unsourced);
	if (k->step_note) {
		buf_puts(&b, "\n\n<i>");
		html_escaped(&b, k->step_note);
		buf_puts(&b, "</i>");
	}
	buf_puts(&b, "\n\nApprove sends exactly this draft, once. Edit: your next message here "
		     "becomes the draft. Reject sends nothing.");
	return buf_steal(&b);
}

static int ask_in_chat(const struct tools_question *q, void *arg)
{
	struct telegram *t = arg;
	struct question *k;
	int64_t thread, chat = question_chat(t, q->source, &thread);
	char tag[24], *markup, *file = NULL, *text;
	int rc;

	/* A card of a lane is shown in the lane, never in a chat outside it (a job's deliver
	 * chat): the lane's first chat, else telegram.admin_chat. */
	if (q->kind == TOOLS_Q_DRAFT && q->card && q->card->lane)
		chat = review_card_chat(review_lane(t->cfg, q->card->lane), chat, thread,
					t->cfg->telegram.admin_chat, &thread);

	if (!chat || t->closing)
		return -ENOENT;
	if (q->kind == TOOLS_Q_DRAFT && q->card)
		text = draft_card_html(q);
	else if (q->kind == TOOLS_Q_APPROVAL)
		text = xasprintf("🔐 May I run this? (%s; no answer in %lld s = no)\n\n%s",
				 q->source, (long long)q->timeout_s, q->text);
	else
		text = xasprintf("❓ %s", q->text);
	if (strlen(text) > QUESTION_TEXT_MAX) {
		file = question_file(t, q);
		free(text);
		if (!file)
			return -EIO;
		text = xasprintf("%s The whole %s is in the file (%zu bytes). No answer in %lld s "
				 "= no.",
				 q->kind == TOOLS_Q_DRAFT ? "📝 Draft for review."
							  : "🔐 May I run this?",
				 q->kind == TOOLS_Q_DRAFT ? "card" : "call", strlen(q->text),
				 (long long)q->timeout_s);
	}
	snprintf(tag, sizeof(tag), "q:%016llx", (unsigned long long)q->id);
	markup = question_markup(q);
	rc = queue_question_as(t, chat, thread, 0, text, markup, tag, file,
			       q->kind == TOOLS_Q_DRAFT && q->card && !file);
	free(markup);
	if (rc < 0) {
		free(file);
		free(text);
		return rc;
	}
	if (q->kind == TOOLS_Q_DRAFT && !file) { /* closed as plain text: the card's plain form */
		free(text);
		text = xasprintf("📝 Draft for review (%s)\n\n%s", q->source, q->text);
	}
	k = xcalloc(1, sizeof(*k));
	*k = (struct question){t->questions, q->id, chat, thread, 0, text, NULL, file != NULL};
	free(file);
	t->questions = k;
	if (q->kind == TOOLS_Q_ELICIT && q->typed)
		tg_elicit_wait(t, q->id, chat, thread);
	return 0;
}

/* Edits message_id of chat to its text (cut to stay under Telegram's 4096 with the
 * addition) followed by "→ outcome", without buttons; caption: the message is a document's. */
static void edit_with_outcome(struct telegram *t, int64_t chat_id, int64_t message_id,
			      const char *text, const char *outcome, bool caption)
{
	char *edited =
		xasprintf("%.*s\n\n→ %s", (int)utf8_cut(text, strnlen(text, 3600)), text, outcome);

	queue_question(t, chat_id, 0, message_id, edited, NULL, NULL, caption ? "caption" : NULL);
	free(edited);
}

/* The question's message loses its buttons and says how it ended. */
static void close_message(struct telegram *t, struct question *q, const char *outcome)
{
	edit_with_outcome(t, q->chat_id, q->message_id, q->text, outcome, q->file);
}

/* ---- draft cards waiting for their edit ------------------------------------------------- */

static void wait_drop(struct telegram *t, uint64_t id)
{
	for (struct draft_wait **p = &t->waits; *p;)
		if ((*p)->id == id) {
			struct draft_wait *w = *p;

			*p = w->next;
			free(w);
		} else {
			p = &(*p)->next;
		}
}

void tg_elicit_wait(struct telegram *t, uint64_t id, int64_t chat_id, int64_t thread)
{
	struct draft_wait *w = xcalloc(1, sizeof(*w));

	*w = (struct draft_wait){t->waits, id, chat_id, thread};
	t->waits = w;
}

uint64_t tg_draft_wait_take(struct telegram *t, int64_t chat_id, int64_t thread)
{
	for (struct draft_wait *w = t->waits; w; w = w->next)
		if (w->chat_id == chat_id && w->thread == thread) {
			uint64_t id = w->id;

			wait_drop(t, id);
			return id;
		}
	return 0;
}

void tg_draft_waits_free(struct telegram *t)
{
	while (t->waits) {
		struct draft_wait *w = t->waits;

		t->waits = w->next;
		free(w);
	}
}

/* Whether question id was shown here and has been answered or closed since the start. */
static bool question_ended_here(struct telegram *t, uint64_t id)
{
	for (size_t i = 0; i < ARRAY_LEN(t->closed_ids); i++)
		if (t->closed_ids[i] == id)
			return true;
	return false;
}

static void question_closed(uint64_t id, const char *outcome, void *arg)
{
	struct telegram *t = arg;
	struct question *q = question_find(t, id, false);

	wait_drop(t, id); /* a card that ends while it waits for its edit */
	if (!q)
		return;
	t->closed_ids[t->closed_next++ % ARRAY_LEN(t->closed_ids)] = id;
	if (strncmp(outcome, "Edit:", 5) == 0) {
		struct draft_wait *w = xcalloc(1, sizeof(*w));

		*w = (struct draft_wait){t->waits, id, q->chat_id, q->thread};
		t->waits = w;
	}
	if (!q->message_id) {
		free(q->outcome);
		q->outcome = xstrdup(outcome); /* edited once its message id is known */
		return;
	}
	question_find(t, id, true);
	close_message(t, q, outcome);
	tg_question_free(q);
}

const struct tools_asker telegram_asker = {ask_in_chat, question_closed};

void tg_tagged_sent(struct telegram *t, const char *tag, int64_t chat_id, int64_t message_id)
{
	unsigned long long id;
	struct question *q;

	if (t->buttons && strncmp(tag, t->buttons->prefix, strlen(t->buttons->prefix)) == 0) {
		t->buttons->sent(tag, chat_id, message_id, t->buttons_arg);
		return;
	}
	if (sscanf(tag, "q:%16llx", &id) != 1 || !(q = question_find(t, id, false)))
		return;
	q->message_id = message_id;
	if (q->outcome) {
		question_find(t, id, true);
		close_message(t, q, q->outcome);
		tg_question_free(q);
	}
}

/* A press on /jobs' buttons ("j:p:<id>" pause, "j:r:<id>" resume, "j:d:<id>" delete): done
 * for the chat (and topic) of the message, answered with what happened, and the list under
 * the buttons is shown anew. */
static void on_jobs_press(struct telegram *t, const char *query_id, const char *data,
			  int64_t chat_id, int64_t thread, int64_t message_id)
{
	char source[64], op = 0, *markup = NULL;
	long long id = 0;
	struct buf out, list;
	int n = 0;

	if (sscanf(data, "j:%c:%lld%n", &op, &id, &n) != 2 || data[n] || !strchr("prd", op) ||
	    !t->reminders) {
		tg_answer_callback(t, query_id, "I do not know this button.");
		return;
	}
	tg_source_of(chat_id, thread, source, sizeof(source));
	buf_init(&out, 0);
	if (op == 'd')
		reminders_delete(t->reminders, source, id, &out);
	else
		reminders_pause(t->reminders, source, id, op == 'p', &out);
	tg_answer_callback(t, query_id, buf_str(&out));
	buf_finish(&out);
	buf_init(&list, 0);
	tg_jobs_text(t, source, &list, &markup);
	telegram_send(t, &(struct telegram_msg){.chat_id = chat_id,
						.edit_id = message_id,
						.markdown = buf_str(&list),
						.markup = markup});
	free(markup);
	buf_finish(&list);
}

/* A press on a proposal's Approve ("p:a:<id>") or Reject ("p:r:<id>"): decided as /approve
 * and /reject decide it, answered with the outcome, and the notice loses its buttons. */
static void on_proposal_press(struct telegram *t, const char *query_id, const char *data,
			      int64_t chat_id, int64_t message_id, const char *text)
{
	struct buf out;
	const char *nl;
	int rc;

	if ((strncmp(data, "p:a:", 4) != 0 && strncmp(data, "p:r:", 4) != 0) || !data[4]) {
		tg_answer_callback(t, query_id, "I do not know this button.");
		return;
	}
	buf_init(&out, 0);
	rc = tools_proposal_decide(t->cfg, data + 4, data[2] == 'a', &out);
	nl = strchr(buf_str(&out), '\n'); /* the first line says what happened */
	if (nl) {
		out.len = (size_t)(nl - out.data);
		out.data[out.len] = '\0';
	}
	tg_answer_callback(t, query_id, buf_str(&out));
	if (chat_id && message_id)
		edit_with_outcome(t, chat_id, message_id, text,
				  rc == -ENOENT ? "Already decided (or unknown)." : buf_str(&out),
				  false);
	buf_finish(&out);
}

/* A press on a button of t->buttons, handed over with who pressed it. */
static void press_of(const cJSON *cq, const char *query_id, const char *data, int64_t chat_id,
		     int64_t message_id, struct telegram *t)
{
	const cJSON *from = cJSON_GetObjectItemCaseSensitive(cq, "from");
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(from, "id");
	const cJSON *uname = cJSON_GetObjectItemCaseSensitive(from, "username");
	const cJSON *first = cJSON_GetObjectItemCaseSensitive(from, "first_name");
	char who[96];
	struct buf name;

	/* A name is cut between characters: it goes into a message Telegram refuses otherwise. */
	buf_init(&name, 0);
	if (cJSON_IsString(uname) && *uname->valuestring) {
		buf_puts(&name, "@");
		utf8_clip(&name, uname->valuestring, strlen(uname->valuestring), 64, false);
	} else if (cJSON_IsString(first) && *first->valuestring) {
		utf8_clip(&name, first->valuestring, strlen(first->valuestring), 64, false);
	} else {
		buf_printf(&name, "user %lld", (long long)uid->valuedouble);
	}
	snprintf(who, sizeof(who), "%s", buf_str(&name));
	buf_finish(&name);
	t->buttons->press(&(struct telegram_press){query_id, data, chat_id, message_id,
						   (int64_t)uid->valuedouble, who},
			  t->buttons_arg);
}

/* Who pressed, for the audit: "@name" or "telegram user ID". */
static const char *presser(const cJSON *cq, char *out, size_t len)
{
	const cJSON *from = cJSON_GetObjectItemCaseSensitive(cq, "from");
	const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(from, "username"));
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(from, "id");

	if (u && *u)
		snprintf(out, len, "@%.40s", u);
	else
		snprintf(out, len, "telegram user %lld",
			 cJSON_IsNumber(id) ? (long long)id->valuedouble : 0LL);
	return out;
}

/* A button press: checked like a message (allowed users, allowed chats), always answered so
 * the client stops spinning. */
void tg_on_callback(struct telegram *t, const cJSON *cq)
{
	const cJSON *qid = cJSON_GetObjectItemCaseSensitive(cq, "id");
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(cq, "from"), "id");
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(cq, "data");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cq, "message");
	const cJSON *chat = cJSON_GetObjectItemCaseSensitive(msg, "chat");
	const cJSON *cid = cJSON_GetObjectItemCaseSensitive(chat, "id");
	const cJSON *mid = cJSON_GetObjectItemCaseSensitive(msg, "message_id");
	const cJSON *mtext = cJSON_GetObjectItemCaseSensitive(msg, "text");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(chat, "type");
	int64_t chat_id = cJSON_IsNumber(cid) ? (int64_t)cid->valuedouble : 0;
	bool private = cJSON_IsString(type) && strcmp(type->valuestring, "private") == 0;
	unsigned long long id;
	size_t choice;
	char who[64];
	int n = 0, rc;

	if (!cJSON_IsString(qid))
		return;
	if (!cJSON_IsNumber(uid) || !tg_allowed(t->cfg, (int64_t)uid->valuedouble) ||
	    (!private && !tg_group_allowed(t->cfg, chat_id))) {
		metric_inc(t->m_updates, (const char *const[]){"refused"}, 1);
		log_warn("telegram: a button press by user %lld refused (not in "
			 "telegram.allowed_users or not an allowed chat)",
			 cJSON_IsNumber(uid) ? (long long)uid->valuedouble : 0LL);
		tg_answer_callback(t, qid->valuestring, "This is a private assistant.");
		return;
	}
	metric_inc(t->m_updates, (const char *const[]){"handled"}, 1);
	if (cJSON_IsString(data) && t->buttons &&
	    strncmp(data->valuestring, t->buttons->prefix, strlen(t->buttons->prefix)) == 0) {
		press_of(cq, qid->valuestring, data->valuestring, chat_id,
			 cJSON_IsNumber(mid) ? (int64_t)mid->valuedouble : 0, t);
		return;
	}
	if (cJSON_IsString(data) && strncmp(data->valuestring, "j:", 2) == 0 && chat_id &&
	    cJSON_IsNumber(mid)) {
		const cJSON *th = cJSON_GetObjectItemCaseSensitive(msg, "message_thread_id");

		on_jobs_press(t, qid->valuestring, data->valuestring, chat_id,
			      cJSON_IsNumber(th) ? (int64_t)th->valuedouble : 0,
			      (int64_t)mid->valuedouble);
		return;
	}
	if (cJSON_IsString(data) && strncmp(data->valuestring, "t:", 2) == 0 && chat_id) {
		const cJSON *th = cJSON_GetObjectItemCaseSensitive(msg, "message_thread_id");

		tg_tasks_press(t, qid->valuestring, data->valuestring, chat_id,
			       cJSON_IsNumber(th) ? (int64_t)th->valuedouble : 0);
		return;
	}
	if (cJSON_IsString(data) && strncmp(data->valuestring, "p:", 2) == 0) {
		on_proposal_press(t, qid->valuestring, data->valuestring, chat_id,
				  cJSON_IsNumber(mid) ? (int64_t)mid->valuedouble : 0,
				  cJSON_IsString(mtext) ? mtext->valuestring : "");
		return;
	}
	if (!cJSON_IsString(data) ||
	    sscanf(data->valuestring, "q:%16llx:%zu%n", &id, &choice, &n) != 2 ||
	    data->valuestring[n]) {
		tg_answer_callback(t, qid->valuestring, "I do not know this button.");
		return;
	}
	rc = t->tools ? tools_answer_as(t->tools, id, choice, presser(cq, who, sizeof(who)), NULL)
		      : -ENOENT;
	if (rc == -EINVAL) {
		tg_answer_callback(t, qid->valuestring, "I do not know this button.");
		return;
	}
	if (rc < 0) {
		/* Answered already (a double tap: the first press still runs, or its close edit
		 * is queued) or closed since the start: the message says, or will say, how it
		 * ended; an edit from the text this press carries would overwrite that. */
		if (question_find(t, id, false) || question_ended_here(t, id)) {
			tg_answer_callback(t, qid->valuestring,
					   "This question is closed: its message says how.");
			return;
		}
		/* Asked before a restart: the old buttons go. */
		tg_answer_callback(t, qid->valuestring, "This question has expired. Ask me again.");
		if (chat_id && cJSON_IsNumber(mid) && cJSON_IsString(mtext)) {
			edit_with_outcome(t, chat_id, (int64_t)mid->valuedouble, mtext->valuestring,
					  "Expired: ask again.", false);
		}
		return;
	}
	tg_answer_callback(t, qid->valuestring, NULL);
}

void telegram_set_buttons(struct telegram *t, const struct telegram_buttons *b, void *arg)
{
	if (!t)
		return;
	t->buttons = b;
	t->buttons_arg = arg;
}

void telegram_answer_press(struct telegram *t, const char *query_id, const char *text)
{
	tg_answer_callback(t, query_id, text);
}

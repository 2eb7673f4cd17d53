/* tg_tasks: background tasks from a Telegram chat (agent/tasks.h). /bg TEXT queues a task
 * for the chat and is acknowledged at once; /tasks lists the chat's tasks (state, elapsed,
 * spend, what each is doing) with Stop and Steer buttons for those not finished. Steer asks
 * for guidance: the owner's next message in that chat is not a turn but goes to the task,
 * which reads it at its next step. All three act at intake, inside the transaction that
 * stores the update and its offset, so a running turn does not hold them up, and a /bg is
 * queued exactly once with its update. The task's result comes back through the outbox
 * (gateway.c's tasks_sink).
 */
#include "telegram/telegram_int.h"
#include "agent/task_store.h"
#include "agent/tasks.h"
#include "net/daemon.h"
#include "core/log.h"
#include "core/store.h"
#include "telegram/tg_store.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TASK_BUTTONS_MAX 10

/* "/name" or "/name@bot" at the start of text, followed by the end or a space: the rest. */
static const char *command(const char *text, const char *name)
{
	size_t n = strlen(name);

	if (text[0] != '/' || strncmp(text + 1, name, n) != 0)
		return NULL;
	text += 1 + n;
	if (*text == '@')
		text += strcspn(text, " \n");
	if (*text && *text != ' ' && *text != '\n')
		return NULL;
	while (*text == ' ' || *text == '\n')
		text++;
	return text;
}

/* Into the outbox inside the intake's transaction (the poller kicks the sender after it). */
static void reply(struct telegram *t, int64_t chat_id, int64_t thread, const char *markdown,
		  const char *markup)
{
	if (tg_outbox_markdown_to(t, chat_id, markdown,
				  &(struct tg_out_opts){.thread_id = thread, .markup = markup}) < 0)
		log_warn("telegram: the answer to chat %lld was not stored: %s", (long long)chat_id,
			 store_error(t->d->store));
}

/* The chat's tasks and the buttons of those not finished (NULL when none). */
static void list(struct telegram *t, const char *source, struct buf *out, char **markup)
{
	int64_t ids[TASK_BUTTONS_MAX];
	size_t n = 0;
	struct buf b;

	*markup = NULL;
	if (tasks_list_text(t->d->store, source, now_wall_ms(), out, ids, TASK_BUTTONS_MAX, &n) <
	    0) {
		buf_puts(out, "The tasks could not be read now (the database is busy); try again.");
		return;
	}
	if (n == 0)
		return;
	buf_init(&b, 0);
	buf_puts(&b, "{\"inline_keyboard\":[");
	for (size_t i = 0; i < n; i++)
		buf_printf(&b,
			   "%s[{\"text\":\"⏹ Stop #%lld\",\"callback_data\":\"t:s:%lld\","
			   "\"style\":\"danger\"},{\"text\":\"🧭 Steer #%lld\","
			   "\"callback_data\":\"t:g:%lld\"}]",
			   i ? "," : "", (long long)ids[i], (long long)ids[i], (long long)ids[i],
			   (long long)ids[i]);
	buf_puts(&b, "]}");
	*markup = buf_steal(&b);
}

static void bg(struct telegram *t, int64_t chat_id, int64_t thread, const char *source,
	       const char *prompt, const char *untrusted)
{
	struct tasks_new nw = {source, chat_id, thread, prompt, untrusted};
	int64_t id = 0;
	char *text;
	int rc;

	if (!*prompt) {
		reply(t, chat_id, thread, "Usage: /bg TEXT starts a background task.", NULL);
		return;
	}
	rc = tasks_add(t->tasks, &nw, &id);
	if (rc == -EINVAL)
		text = xasprintf("That task is too long (at most %d bytes).", TASK_PROMPT_MAX);
	else if (rc == -EPERM)
		text = xstrdup("This chat's session is in a lane the config no longer has: no "
			       "task can start from it. /new starts a new session.");
	else if (rc < 0)
		text = xstrdup("The task could not be stored now; try again.");
	else
		text = xasprintf("Task %lld started in the background: I will send its result "
				 "here. /tasks shows how it goes.",
				 (long long)id);
	reply(t, chat_id, thread, text, NULL);
	free(text);
}

bool tg_tasks_intake(struct telegram *t, int64_t chat_id, int64_t thread, const char *text,
		     const char *untrusted)
{
	struct chat *c;
	char source[64], *msg, *markup;
	const char *arg;
	struct buf out;
	int rc;

	if (!t->tasks)
		return false;
	tg_source_of(chat_id, thread, source, sizeof(source));
	if ((arg = command(text, "bg"))) {
		bg(t, chat_id, thread, source, arg, untrusted);
		return true;
	}
	if (command(text, "tasks")) {
		buf_init(&out, 0);
		list(t, source, &out, &markup);
		reply(t, chat_id, thread, buf_str(&out), markup);
		free(markup);
		buf_finish(&out);
		return true;
	}
	c = tg_chat_get(t, chat_id);
	if (!c->steer_task || text[0] == '/')
		return false;
	rc = tasks_steer(t->tasks, c->steer_task, source, text);
	msg = rc == 0 ? xasprintf("Task %lld reads that at its next step.",
				  (long long)c->steer_task)
	      : rc == -EALREADY
		      ? xasprintf("Task %lld has ended; nothing was sent to it.",
				  (long long)c->steer_task)
		      : xasprintf("Task %lld could not take that now.", (long long)c->steer_task);
	log_info("telegram: chat %lld steers task %lld", (long long)chat_id,
		 (long long)c->steer_task);
	c->steer_task = 0;
	reply(t, chat_id, thread, msg, NULL);
	free(msg);
	return true;
}

void tg_tasks_press(struct telegram *t, const char *query_id, const char *data, int64_t chat_id,
		    int64_t thread)
{
	char op = 0, source[64], *text;
	long long id = 0;
	int n = 0, rc;

	if (!t->tasks || sscanf(data, "t:%c:%lld%n", &op, &id, &n) != 2 || data[n] ||
	    !strchr("sg", op)) {
		tg_answer_callback(t, query_id, "I do not know this button.");
		return;
	}
	tg_source_of(chat_id, thread, source, sizeof(source));
	if (op == 's') {
		rc = tasks_stop(t->tasks, id, source);
		text = rc == 0		 ? xasprintf("Task %lld stops before its next call.", id)
		       : rc == -EALREADY ? xasprintf("Task %lld had already ended.", id)
					 : xasprintf("There is no task %lld in this chat.", id);
		tg_answer_callback(t, query_id, text);
		free(text);
		return;
	}
	rc = tasks_owned(t->tasks, id, source);
	if (rc < 0) {
		tg_answer_callback(t, query_id,
				   rc == -EALREADY ? "That task has ended." : "No such task here.");
		return;
	}
	tg_chat_get(t, chat_id)->steer_task = id;
	tg_answer_callback(t, query_id, NULL);
	text = xasprintf("What should task %lld know? Your next message here goes to it.", id);
	telegram_send(
		t, &(struct telegram_msg){.chat_id = chat_id, .thread = thread, .markdown = text});
	free(text);
}

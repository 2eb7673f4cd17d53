/* telegram: the bot (see telegram.h for the guarantees). Three loops on the event loop:
 *
 *   poller  deleteWebhook -> setMyCommands -> getUpdates (long poll) -> store -> getUpdates ...
 *           errors (409, 429, 5xx, network) back off 1 s .. 60 s and retry forever; a change
 *           of error kind is logged once, recovery too; /readyz follows the last success.
 *   chats   per chat: take the oldest inbox row, run it (command, agent turn, or "not
 *           supported"), write the reply parts to the outbox and mark the row done in one
 *           transaction (kept in memory and retried while another process locks state.db:
 *           the row is never run again for it), next row. A row whose turn needs a new
 *           session while state.db is locked stays queued and is taken again after a second.
 *   sender  one sendMessage at a time: the oldest outbox row whose chat may send again
 *           (1 message/s per chat, or later after a 429), deleted once Telegram took it.
 *
 * Only telegram.allowed_users are served, in private chats and in the groups named by
 * telegram.allowed_chats. Anyone else's message never reaches the model; a stranger in a
 * private chat is logged once and answered with one short refusal per day, within a global
 * rate (telegram.refuse_unknown). Strangers leave no inbox rows and no struct chat: a bounded
 * table in state.db (tg_strangers, tg_store.h) remembers the last ones across restarts, and
 * chats are freed as soon as they have nothing to do.
 *
 * The one gap left: a crash after Telegram accepted a message but before its outbox row is
 * deleted (one SQLite statement later), or a connection cut after acceptance, sends that part
 * again. Telegram has no idempotency key for sendMessage, so at-least-once is the best a
 * client can do; the row's `sending` mark says which parts may show twice.
 *
 * A row's turn that the process did not survive continues from the stored messages (the
 * turn's origin is the update id); its attempts are counted, and after POISON_ATTEMPTS it is
 * answered "could not be processed" instead of crashing every start.
 *
 * The SQL of tg_inbox, tg_outbox and tg_strangers lives in tg_store.c. The bot's C is split by
 * concept, sharing telegram_int.h (the struct and the functions the files call in each other):
 *   telegram.c      this: chats and their rows (turns, media, voice replies, the reply
 *                   stored with the done mark), creation, start and destroy;
 *   tg_api.c        Bot API calls, answers to presses, the per-chat rate budget;
 *   tg_chats.c      which chats may be served, and the state of those being served;
 *   tg_poll.c       the poller and what each update goes through before it is stored;
 *   tg_outbox.c     replies into outbox parts, the sender;
 *   tg_live.c       the live message of a running turn, and reactions;
 *   tg_commands.c   the slash commands and their table (a command's reply is returned);
 *   tg_questions.c  approvals and ask_user with buttons, and every button press.
 * The helpers never call this file's functions by name: what they must hand back (a live
 * update's final text, a chat's next row, a tagged part's message id) goes through struct
 * tg_cbs, handed over in t->cbs, so the files do not call each other in a circle (make lint).
 *
 * Rejected: webhooks (they need an inbound public endpoint on a home cluster) and sending
 * straight from the turn's callback (a crash or a Telegram outage between the answer and the
 * send would lose the reply; the outbox makes it durable).
 */
#include "telegram/telegram_int.h"
#include "agent/agent.h"
#include "core/json.h"
#include "net/daemon.h"
#include "net/httpc.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/sessions.h"
#include "core/store.h"
#include "telegram/tg_media.h"
#include "telegram/tg_store.h"
#include "router/router.h"
#include "tools/tools.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- chats and the inbox ------------------------------------------------------------- */

/* A reply to store with its inbox row's done mark (kept in memory while the database is
 * locked by another process: the answer is never lost, its turn never run again). */
struct row_reply {
	struct telegram *t;
	int64_t chat_id, update_id;
	int64_t thread, edit_id; /* the row's topic; the live message the reply replaces */
	char *reply;		 /* NULL = none */
	char *voice;  /* NULL, or a voice reply's file (relative to home) sent after it */
	char *markup; /* NULL, or the reply's inline keyboard */
};

static void echo_key(int64_t update_id, char *out, size_t len)
{
	snprintf(out, len, ECHO_KEY "%lld", (long long)update_id);
}

static int write_row(struct store *s, void *arg)
{
	struct row_reply *w = arg;
	struct tg_out_opts o = {.thread_id = w->thread, .edit_id = w->edit_id, .markup = w->markup};
	struct tg_out_opts file = {.thread_id = w->thread};
	char key[48];
	int rc = store_begin(s);

	if (rc == 0 && w->reply)
		rc = tg_outbox_markdown_to(w->t, w->chat_id, w->reply, &o);
	if (rc == 0 && w->voice)
		rc = tg_outbox_add_file(s, w->chat_id, "sendVoice", w->voice, NULL, &file);
	if (rc == 0)
		rc = tg_inbox_mark_done(s, w->update_id);
	echo_key(w->update_id, key, sizeof(key));
	if (rc == 0 && store_kv_del(s, key) < 0)
		rc = store_fail(s, "forget the transcript mark");
	tg_live_key(w->update_id, key, sizeof(key));
	if (rc == 0 && store_kv_del(s, key) < 0)
		rc = store_fail(s, "forget the live message");
	return store_end(s, rc);
}

static void row_reply_free(struct row_reply *w, int rc)
{
	if (rc < 0)
		log_error("telegram: chat %lld: reply not stored (%s); the message stays queued",
			  (long long)w->chat_id, store_error(w->t->d->store));
	free(w->reply);
	free(w->voice);
	free(w->markup);
	free(w);
}

/* The reply stored after a wait: the chat goes on. */
static void on_row_stored(void *arg, int rc)
{
	struct row_reply *w = arg;
	struct telegram *t = w->t;
	struct chat *c;

	if (!t->closing) {
		c = tg_chat_get(t, w->chat_id);
		if (c->busy_update == w->update_id)
			c->busy_update = 0;
		tg_kick_sender(t, 0);
		tg_chat_next(c);
	}
	row_reply_free(w, rc);
}

/* Reply for an inbox row and mark it done, in one transaction. While the database is locked
 * the chat stays busy with this row (nothing else runs in it) until the reply is stored. */
static void finish_row_voice(struct chat *c, const char *reply, const char *voice)
{
	struct telegram *t = c->t;
	struct row_reply *w = xcalloc(1, sizeof(*w));
	int rc;

	w->t = t;
	w->chat_id = c->id;
	w->update_id = c->busy_update;
	w->thread = c->thread;
	/* Draft previews vanish by themselves: the final is a message of its own then. */
	w->edit_id = reply && !c->live.draft_id ? c->live.message_id : 0;
	tg_live_clear(&c->live);
	w->reply = reply ? xstrdup(reply) : NULL;
	w->voice = voice ? xstrdup(voice) : NULL;
	w->markup = c->markup;
	c->markup = NULL;
	c->voice_in = false;
	rc = store_write(t->d->store, write_row, w, on_row_stored);
	if (rc == -EINPROGRESS) {
		log_warn("telegram: chat %lld: the reply waits for the database (%s)",
			 (long long)c->id, store_error(t->d->store));
		return;
	}
	row_reply_free(w, rc);
	c->busy_update = 0;
	tg_kick_sender(t, 0);
}

void tg_finish_row(struct chat *c, const char *reply)
{
	finish_row_voice(c, reply, NULL);
}

/* "typing..." while nothing else shows the turn at work, within the chat's budget. */
static void on_typing(evutil_socket_t fd, short what, void *arg)
{
	struct chat *c = arg;
	int64_t now = now_mono_ms();
	char params[128];

	if (c->live.message_id || c->live.draft_id || !tg_budget_ok(c, now))
		return;
	tg_budget_take(c, now);
	if (c->thread)
		snprintf(params, sizeof(params),
			 "{\"chat_id\":%lld,\"message_thread_id\":%lld,\"action\":\"typing\"}",
			 (long long)c->id, (long long)c->thread);
	else
		snprintf(params, sizeof(params), "{\"chat_id\":%lld,\"action\":\"typing\"}",
			 (long long)c->id);
	tg_api(c->t, "sendChatAction", params, API_TIMEOUT_MS, tg_ignore_answer, NULL);
}

static void on_text(const char *so_far, size_t len, void *arg)
{
	struct chat *c = arg;

	/* Only the head is ever shown: a copy of at most LIVE_MAX + 1 bytes per event keeps a
	 * long answer's cost linear (live_compose cuts and marks it). */
	free(c->live.answer);
	c->live.answer = xstrndup(so_far, len > LIVE_MAX + 1 ? LIVE_MAX + 1 : len);
	free(c->live.progress);
	c->live.progress = NULL;
	tg_live_kick(c);
}

/* "running kubernetes pods_list ...": an MCP tool (mcp_<prefix>_<tool>) shows its server and
 * its own name apart. */
static void on_tool_call(const char *name, const char *args, void *arg)
{
	struct chat *c = arg;
	const struct config *cfg = c->t->cfg;
	char *what = NULL;

	for (size_t i = 0; i < cfg->n_mcp_servers && strncmp(name, "mcp_", 4) == 0; i++) {
		const char *prefix = cfg->mcp_servers[i].prefix;
		size_t n = strlen(prefix);

		if (strncmp(name + 4, prefix, n) == 0 && name[4 + n] == '_') {
			what = xasprintf("⚙ running %s %s …", cfg->mcp_servers[i].name,
					 name + 5 + n);
			break;
		}
	}
	if (!what)
		what = xasprintf("⚙ running %s …", name);
	if (c->t->cfg->telegram.progress == CONFIG_PROGRESS_OFF) {
		free(what);
		return;
	}
	if (cfg->n_lanes) {
		char source[64], *with;
		const char *lane;

		tg_source_of(c->id, c->thread, source, sizeof(source));
		lane = tg_lane_of(c->t, source);
		if (lane) {
			with = xasprintf("%s · lane %s", what, lane);
			free(what);
			what = with;
		}
	}
	free(c->live.progress);
	c->live.progress = what;
	tg_live_kick(c);
}

/* A voice note answered in voice too (telegram.voice_replies: mirror): the text reply and
 * the voice file go to the outbox together once the speech is made; a failed speech leaves
 * the text alone, with a note in the log. */
struct spoken {
	struct telegram *t;
	int64_t chat_id, update_id;
	char *text;
};

static void on_spoken(const char *rel, const char *error, void *arg)
{
	struct spoken *sp = arg;
	struct telegram *t = sp->t;
	struct chat *c = tg_chat_find(t, sp->chat_id);

	if (error)
		log_warn("telegram: chat %lld: no voice reply: %s", (long long)sp->chat_id, error);
	if (c) {
		c->speaking = false;
		c->speak_rc = NULL;
	}
	if (c && !t->closing && c->busy_update == sp->update_id) {
		finish_row_voice(c, sp->text, rel);
		tg_chat_next(c);
	} else if (c && t->closing) {
		/* Stays queued: the next start answers from the stored turn. */
		tg_inbox_uncount_attempt(t->d->store, sp->update_id);
		c->busy_update = 0;
	}
	free(sp->text);
	free(sp);
}

static bool speak_reply(struct chat *c, const char *text)
{
	struct telegram *t = c->t;
	struct spoken *sp;
	char source[64];
	struct tg_media_env env;

	if (t->cfg->telegram.voice_replies != CONFIG_VOICE_MIRROR || !t->cfg->auxiliary.speech ||
	    !t->router)
		return false;
	tg_source_of(c->id, c->thread, source, sizeof(source));
	env = (struct tg_media_env){t->cfg, t->d->loop, t->router, tg_lane_of(t, source)};
	sp = xcalloc(1, sizeof(*sp));
	*sp = (struct spoken){t, c->id, c->busy_update, xstrdup(text)};
	if (tg_media_speak(&env, c->busy_update, text, on_spoken, sp, &c->speak_rc) < 0) {
		free(sp->text);
		free(sp);
		return false;
	}
	c->speaking = true;
	return true;
}

/* The row's reply, once no live update is in flight (its message id must be known: the
 * final text is an edit of it). */
static void finish_turn_row(struct chat *c, const char *text)
{
	if (c->live.ev && !c->live.n_react)
		evtimer_del(c->live.ev);
	if (c->live.in_flight) {
		free(c->live.final);
		c->live.final = xstrdup(text);
		return;
	}
	tg_finish_row(c, text);
	tg_chat_next(c);
}

/* tg_live.c's way back (struct tg_cbs): its in-flight update was answered and the final text
 * waits. */
static void live_finish(struct chat *c)
{
	char *text = c->live.final;

	c->live.final = NULL;
	tg_finish_row(c, text);
	free(text);
	tg_chat_next(c);
}

static void on_turn_done(const struct agent_result *r, void *arg)
{
	struct chat *c = arg;
	char *text;

	c->turn = NULL;
	event_del(c->typing);
	free(c->live.progress);
	c->live.progress = NULL;
	if (c->t->closing) {
		/* Stays queued and runs again at the next start; a clean stop is no crash. */
		tg_inbox_uncount_attempt(c->t->d->store, c->busy_update);
		c->busy_update = 0;
		return;
	}
	tg_react(c, c->msg_id,
		 r->stop == AGENT_FAILED      ? "👎"
		 : r->stop == AGENT_CANCELLED ? "🤔"
					      : "👍");
	if (r->stop == AGENT_CANCELLED)
		text = xstrdup("Stopped.");
	else if (r->stop == AGENT_FAILED && r->deferred)
		text = xstrdup(r->text); /* "Busy: ... try again in about N s." */
	else if (r->stop == AGENT_FAILED)
		text = xasprintf("Sorry, that failed: %s", r->text);
	else
		text = xstrdup(r->text);
	if (c->voice_in && r->stop == AGENT_DONE && *text && speak_reply(c, text)) {
		free(text);
		return; /* finished when the voice is made */
	}
	finish_turn_row(c, text);
	free(text);
}

/* The turn's model call waits for room in a rate pool (docs/pools.md): the progress line says
 * so, and about how long. */
static void on_wait(int64_t wait_ms, void *arg)
{
	struct chat *c = arg;

	if (c->t->cfg->telegram.progress == CONFIG_PROGRESS_OFF)
		return;
	free(c->live.progress);
	c->live.progress = wait_ms > 0 ? xasprintf("⏳ waiting for model capacity (about %lld s) …",
						   (long long)((wait_ms + 999) / 1000))
				       : xstrdup("⏳ waiting for model capacity …");
	tg_live_kick(c);
}

static const struct agent_cbs turn_cbs = {
	.on_tool_call = on_tool_call, .on_done = on_turn_done, .on_wait = on_wait};
static const struct agent_cbs turn_cbs_streamed = {.on_tool_call = on_tool_call,
						   .on_done = on_turn_done,
						   .on_text = on_text,
						   .on_wait = on_wait};

static void on_retry_row(evutil_socket_t fd, short what, void *arg)
{
	struct chat *c = arg;

	if (c->t->closing)
		return;
	c->busy_update = 0;
	tg_chat_next(c);
}

/* The row's turn needs a new session and another process locks state.db: the row stays
 * queued (not done, no attempt counted) and the chat busy with it, and it is taken again
 * after LOCKED_RETRY_MS, so it runs, in order, once the lock is gone. */
static void retry_row(struct chat *c)
{
	struct timeval tv = {LOCKED_RETRY_MS / 1000, (LOCKED_RETRY_MS % 1000) * 1000};

	if (!c->waiting)
		log_warn("telegram: chat %lld: update %lld waits: state.db is locked by another"
			 " process, so its session cannot be created; trying again every %d ms",
			 (long long)c->id, (long long)c->busy_update, LOCKED_RETRY_MS);
	c->waiting = true;
	if (!c->retry)
		c->retry = evtimer_new(loop_base(c->t->d->loop), on_retry_row, c);
	evtimer_add(c->retry, &tv);
}

static void start_turn_parts(struct chat *c, const char *text, const struct agent_part *parts,
			     size_t n_parts)
{
	struct telegram *t = c->t;
	char source[64], origin[48];
	struct timeval every = {TYPING_EVERY_S, 0};
	int rc;

	char key[48], *shown = NULL;

	tg_source_of(c->id, c->thread, source, sizeof(source));
	/* A turn the process did not survive continues from its stored messages, and in the
	 * message it was showing itself in. */
	snprintf(origin, sizeof(origin), "telegram:%lld", (long long)c->busy_update);
	tg_live_key(c->busy_update, key, sizeof(key));
	if (store_kv_get(t->d->store, key, &shown) == 0 &&
	    parse_i64(shown, 1, INT64_MAX, &c->live.message_id) < 0)
		c->live.message_id = 0;
	free(shown);
	rc = agent_turn(
		t->agent,
		&(struct agent_turn_opts){.source = source,
					  .origin = origin,
					  .parts = parts,
					  .n_parts = n_parts,
					  .untrusted = c->untrusted},
		text, t->cfg->telegram.stream == CONFIG_STREAM_OFF ? &turn_cbs : &turn_cbs_streamed,
		c, &c->turn);
	if (rc == -EAGAIN) {
		retry_row(c);
		return;
	}
	if (c->waiting)
		log_info("telegram: chat %lld: state.db is free again; update %lld runs",
			 (long long)c->id, (long long)c->busy_update);
	c->waiting = false;
	if (rc < 0) {
		tg_finish_row(c, "Sorry, I could not start on that (see the log).");
		tg_chat_next(c);
		return;
	}
	if (!c->typing)
		c->typing = event_new(loop_base(t->d->loop), -1, EV_PERSIST, on_typing, c);
	tg_react(c, c->msg_id, "👀");
	on_typing(-1, 0, c);
	event_add(c->typing, &every);
}

static void start_turn(struct chat *c, const char *text)
{
	start_turn_parts(c, text, NULL, 0);
}

/* ---- media --------------------------------------------------------------------------- */

struct echo_write {
	struct telegram *t;
	int64_t chat_id, update_id;
	char *markdown;
};

static int write_echo(struct store *s, void *arg)
{
	struct echo_write *e = arg;
	char key[48];
	int rc = store_begin(s);

	echo_key(e->update_id, key, sizeof(key));
	if (rc == 0)
		rc = tg_outbox_markdown(e->t, e->chat_id, e->markdown);
	if (rc == 0 && store_kv_set(s, key, "1") < 0)
		rc = store_fail(s, "mark the transcript shown");
	return store_end(s, rc);
}

static void echo_free(void *arg, int rc)
{
	struct echo_write *e = arg;

	if (rc < 0)
		log_warn("telegram: chat %lld: the transcript was not shown (%s)",
			 (long long)e->chat_id, store_error(e->t->d->store));
	else if (!e->t->closing)
		tg_kick_sender(e->t, 0);
	free(e->markdown);
	free(e);
}

/* The transcript goes out before the answer, once: a mark in kv (dropped with the row's done
 * mark) says it was queued, so a restart does not show it again. */
static void show_echo(struct chat *c, const char *markdown)
{
	struct telegram *t = c->t;
	struct echo_write *e;
	char key[48], *seen = NULL;
	int rc;

	echo_key(c->busy_update, key, sizeof(key));
	if (store_kv_get(t->d->store, key, &seen) == 0) {
		free(seen);
		return;
	}
	e = xcalloc(1, sizeof(*e));
	*e = (struct echo_write){t, c->id, c->busy_update, xstrdup(markdown)};
	rc = store_write(t->d->store, write_echo, e, echo_free);
	if (rc != -EINPROGRESS)
		echo_free(e, rc);
}

static void on_media_ready(const struct tg_media_ready *r, void *arg)
{
	struct chat *c = arg;

	c->media = NULL;
	if (r->cancelled || c->t->closing) {
		/* Stays queued; what was downloaded or transcribed is kept for the next start. */
		tg_inbox_uncount_attempt(c->t->d->store, c->busy_update);
		c->busy_update = 0;
		return;
	}
	if (r->error) {
		tg_finish_row(c, r->error);
		tg_chat_next(c);
		return;
	}
	if (r->echo)
		show_echo(c, r->echo);
	if (r->untrusted && !c->untrusted)
		c->untrusted = xstrdup(r->untrusted);
	c->voice_in = r->voice;
	start_turn_parts(c, r->turn_text, r->parts, r->n_parts);
}

static void start_media(struct chat *c, const struct tg_inbox_row *row)
{
	struct telegram *t = c->t;
	struct session_info si = {0};
	char source[64];
	struct tg_media_env env;

	tg_source_of(c->id, c->thread, source, sizeof(source));
	env = (struct tg_media_env){t->cfg, t->d->loop, t->router, tg_lane_of(t, source)};

	tg_media_start(&env, row->update_id, row->media, row->text, tg_current_model(t, c, &si),
		       on_media_ready, c, &c->media);
	session_info_finish(&si);
	on_typing(-1, 0, c);
}

/* Takes the chat's oldest queued row, if the chat is idle. */
void tg_chat_next(struct chat *c)
{
	struct telegram *t = c->t;
	struct tg_inbox_row row = {0};
	int64_t attempts;

	if (c->busy_update || c->turn || c->media || c->speaking)
		return;
	if (tg_inbox_next(t->d->store, c->id, &row) < 0)
		return;
	c->busy_update = row.update_id;
	c->thread = row.thread_id;
	c->msg_id = row.message_id;
	free(c->untrusted);
	c->untrusted = *row.untrusted ? xstrdup(row.untrusted) : NULL;
	attempts = row.attempts;
	/* Counted before it runs: a start the process did not survive stays counted. A row
	 * taken again by this process (its reply could not be stored) is no new attempt. */
	if (c->started == c->busy_update)
		attempts = 0;
	else if (attempts >= POISON_ATTEMPTS ||
		 tg_inbox_count_attempt(t->d->store, c->busy_update) == 0)
		/* Not when the count could not be written (a lock): the next take counts it. */
		c->started = c->busy_update;
	if (attempts >= POISON_ATTEMPTS) {
		log_error("telegram: chat %lld: update %lld stopped the gateway %lld times; "
			  "answering that it could not be processed",
			  (long long)c->id, (long long)c->busy_update, (long long)attempts);
		tg_finish_row(c, POISON_TEXT);
	} else if (strcmp(row.kind, "text") != 0 && *row.media) {
		start_media(c, &row);
	} else if (strcmp(row.kind, "text") != 0) {
		char *no =
			xasprintf("I can't take %s messages. Send text, a voice note, a photo or a "
				  "document.",
				  row.kind);

		tg_finish_row(c, no);
		free(no);
	} else {
		char *answer = tg_command_run(c, row.text);

		if (answer)
			tg_finish_row(c, answer);
		else
			start_turn(c, row.text);
		free(answer);
	}
	tg_inbox_row_finish(&row);
	if (!c->busy_update && !c->turn && !c->media)
		tg_chat_next(c);
}

/* ---- life ---------------------------------------------------------------------------- */

void telegram_set_breaker(struct telegram *t, struct breaker *b)
{
	if (t)
		t->breaker = b;
}

static void register_metrics(struct telegram *t)
{
	struct metrics *m = t->d->metrics;

	t->m_last_poll = metrics_add(m, METRIC_GAUGE,
				     "hermetic_telegram_last_poll_success_timestamp_seconds",
				     "Unix time of the last successful getUpdates", NULL);
	t->m_poll_errors =
		metrics_add(m, METRIC_COUNTER, "hermetic_telegram_poll_errors_total",
			    "Failed Bot API polls by kind", (const char *const[]){"kind", NULL});
	t->m_updates = metrics_add(m, METRIC_COUNTER, "hermetic_telegram_updates_total",
				   "Updates received by result (handled, refused, skipped)",
				   (const char *const[]){"result", NULL});
	t->m_sent = metrics_add(m, METRIC_COUNTER, "hermetic_telegram_messages_sent_total",
				"sendMessage attempts by result",
				(const char *const[]){"result", NULL});
}

static void on_prune(evutil_socket_t fd, short what, void *arg)
{
	struct telegram *t = arg;
	struct timeval every = {PRUNE_EVERY_S, 0};

	tg_media_prune(t->cfg, now_wall_ms());
	/* Strangers quiet for a day leave no trace; a locked database waits for the next hour. */
	if (!store_writes_waiting(t->d->store))
		tg_strangers_prune(t->d->store, now_wall_ms());
	evtimer_add(t->prune_ev, &every);
}

/* The helpers' ways back into this file (struct tg_cbs). */
static const struct tg_cbs cbs = {
	.live_finish = live_finish,
	.chat_next = tg_chat_next,
	.tagged_sent = tg_tagged_sent,
};

struct telegram *telegram_create(struct daemon *d, struct agent *agent, struct mcp *mcp,
				 struct spend *spend, struct router *router)
{
	struct telegram *t;
	char *value = NULL;

	if (!d->cfg->telegram.enabled)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->d = d;
	t->cbs = &cbs;
	t->cfg = d->cfg;
	t->agent = agent;
	t->mcp = mcp;
	t->spend = spend;
	t->router = router;
	t->last_ok_ms = now_mono_ms();
	if (store_kv_get(d->store, OFFSET_KEY, &value) == 0)
		parse_i64(value, 0, INT64_MAX, &t->offset);
	free(value);
	t->poll_ev = evtimer_new(loop_base(d->loop), tg_on_poll_event, t);
	t->send_ev = evtimer_new(loop_base(d->loop), tg_on_send_event, t);
	t->prune_ev = evtimer_new(loop_base(d->loop), on_prune, t);
	register_metrics(t);
	if (d->cfg->telegram.n_allowed_users == 0)
		log_warn("telegram: telegram.allowed_users is empty: the bot answers nobody");
	return t;
}

/* Queued rows from before a restart, and a word on parts that may show twice. */
static void warn_resent(int64_t id, int64_t chat_id, void *arg)
{
	log_warn("telegram: chat %lld: outbox part %lld was being sent when the gateway stopped; "
		 "sending it again (it may arrive twice)",
		 (long long)chat_id, (long long)id);
}

static void resume(struct telegram *t)
{
	tg_outbox_each_sending(t->d->store, warn_resent, NULL);
	tg_kick_chats(t);
	tg_kick_sender(t, 0);
}

void telegram_start(struct telegram *t)
{
	if (!t)
		return;
	resume(t);
	tg_schedule_poll(t, 0);
	on_prune(-1, 0, t);
}

static void on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
}

/* A sendMessage in flight at a stop is let finish (for a bounded time): cancelled, it might
 * have been taken by Telegram already and would be sent again at the next start. */
static void drain_send(struct telegram *t)
{
	struct event_base *base = loop_base(t->d->loop);
	struct timeval tv = {DRAIN_SEND_MS / 1000, DRAIN_SEND_MS % 1000 * 1000};
	int64_t until = now_mono_ms() + DRAIN_SEND_MS;
	struct event *deadline;

	if (!t->sending)
		return;
	deadline = evtimer_new(base, on_drain_deadline, NULL);
	evtimer_add(deadline, &tv);
	while (t->sending && now_mono_ms() < until)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(deadline);
}

void telegram_set_reminders(struct telegram *t, struct reminders *r)
{
	t->reminders = r;
}

void telegram_set_tasks(struct telegram *t, struct tasks *ts)
{
	if (t)
		t->tasks = ts;
}

void telegram_set_tools(struct telegram *t, struct tools *tools)
{
	t->tools = tools;
	tools_add_asker(tools, &telegram_asker, t);
}

void telegram_destroy(struct telegram *t)
{
	bool busy = true;

	if (!t)
		return;
	t->closing = true;
	if (t->sync)
		t->sync->t = NULL;
	/* Questions still out end without us: their buttons answer "expired" after a restart. */
	if (t->tools)
		tools_remove_asker(t->tools, &telegram_asker, t);
	while (t->questions) {
		struct question *q = t->questions;

		t->questions = q->next;
		tg_question_free(q);
	}
	tg_draft_waits_free(t);
	for (struct chat *c = t->chats; c; c = c->next) {
		if (c->turn)
			agent_cancel(c->turn);
		if (c->media)
			tg_media_cancel(c->media);
		if (c->speak_rc)
			router_cancel(c->speak_rc);
	}
	for (struct api_call *c = t->calls; c; c = c->next)
		if (c->cb != tg_on_sent)
			httpc_cancel(c->req);
	drain_send(t);
	for (struct api_call *c = t->calls; c; c = c->next)
		httpc_cancel(c->req);
	/* Cancellations answer from the loop: deliver them before anything is freed. A turn's
	 * row stays queued (done = 0) and runs again at the next start. */
	for (int i = 0; i < 10000 && busy; i++) {
		busy = t->calls != NULL;
		for (struct chat *c = t->chats; c; c = c->next)
			busy = busy || c->turn || c->media || c->speaking;
		if (busy)
			event_base_loop(loop_base(t->d->loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	/* Replies and deliveries still waiting for a locked database: one last try, before the
	 * chats their callbacks look up are freed. */
	store_flush(t->d->store);
	while (t->chats) {
		struct chat *c = t->chats;

		t->chats = c->next;
		tg_chat_free(c);
	}
	event_free(t->poll_ev);
	event_free(t->send_ev);
	event_free(t->prune_ev);
	free(t);
}

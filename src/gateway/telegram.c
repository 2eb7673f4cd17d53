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
 * The SQL of tg_inbox and tg_outbox lives in tg_store.c; this file keeps the Bot API protocol
 * and the state machines above, and decides what runs in which transaction (store_write).
 *
 * Rejected: webhooks (they need an inbound public endpoint on a home cluster) and sending
 * straight from the turn's callback (a crash or a Telegram outage between the answer and the
 * send would lose the reply; the outbox makes it durable).
 */
#include "gateway/telegram.h"
#include "gateway/reminders.h"
#include "agent/agent.h"
#include "router/breaker.h"
#include "core/json.h"
#include "core/config.h"
#include "net/daemon.h"
#include "net/html_text.h"
#include "net/httpc.h"
#include "sandbox/landlock.h"
#include "core/log.h"
#include "core/loop.h"
#include "mcp/mcp.h"
#include "core/metrics.h"
#include "sandbox/rootguard.h"
#include "sandbox/sandbox.h"
#include "core/sessions.h"
#include "router/spend.h"
#include "core/store.h"
#include "gateway/tg_format.h"
#include "gateway/tg_media.h"
#include "gateway/tg_store.h"
#include "core/safeio.h"
#include "router/router.h"
#include "tools/tools.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define API_TIMEOUT_MS	  30000
#define POLL_SLACK_S	  15 /* HTTP timeout of getUpdates above its long-poll timeout */
#define BACKOFF_MIN_MS	  1000
#define BACKOFF_MAX_MS	  60000
#define SEND_GAP_MS	  1100 /* per chat: 1 s plus room for network jitter */
#define DRAIN_SEND_MS	  3000 /* a stop waits this long for a sendMessage in flight */
#define TYPING_EVERY_S	  4
#define MAX_PARTS	  64   /* a reply longer than this many messages is cut */
#define GROUP_GAP_MS	  3100 /* 20 messages a minute in a group, plus jitter */
#define LIVE_MAX	  3800 /* bytes of an intermediate text (under 4096 UTF-16 units) */
#define LIVE_KEY	  "telegram.live." /* + update id: the message the turn shows in */
#define REACT_MAX	  4		   /* reactions waiting for the chat's budget */
#define QUOTE_MAX	  1000		   /* bytes of a replied-to message brought into a turn */
#define TG_TEXT_MAX	  4096		   /* UTF-16 units per message */
#define RESPONSE_MAX	  (4 * 1024 * 1024)
#define OFFSET_KEY	  "telegram.offset"
#define ECHO_KEY	  "telegram.echoed." /* + update id: the transcript was shown */
#define PRUNE_EVERY_S	  3600
#define UPLOAD_MAX	  (50LL * 1024 * 1024) /* Bot API upload cap (photos: 10 MB) */
#define PHOTO_MAX	  (10LL * 1024 * 1024)
#define UPLOAD_TIMEOUT_MS 300000
/* Strangers together get at most this many refusals a minute (each one a day: tg_strangers). */
#define REFUSALS_PER_MINUTE 10
/* Starts of one inbox row the process did not survive before it is given up. */
#define POISON_ATTEMPTS 2
/* A row whose turn needs a new session while another process locks state.db stays queued and
 * is taken again after this long. */
#define LOCKED_RETRY_MS 1000
#define POISON_TEXT                                                                                \
	"Sorry, this message could not be processed: working on it stopped me twice. "             \
	"Please rephrase it."

/* A turn shown while it runs: one message of the bot's (or a draft) with the answer so far,
 * or which tool runs. Intermediate texts are plain; the final text goes through the outbox
 * as an edit of this message (telegram.stream, telegram.progress). */
struct live {
	int64_t message_id; /* the bot's message, 0 = none yet */
	int64_t draft_id;   /* sendMessageDraft's id (stream: draft) */
	char *answer;	    /* the current model call's text so far, NULL = none */
	char *progress;	    /* "running X ...", NULL = none */
	char *shown;	    /* what Telegram shows now */
	char *sending;	    /* the text of the call in flight */
	int64_t sent_for;   /* the row (update id) the call in flight shows */
	bool in_flight;
	int64_t last_ms;  /* when the last update was sent (edit_every_ms apart) */
	struct event *ev; /* the next update */
	char *final;	  /* the turn ended while an update was in flight */
	/* Reactions to set, oldest first (a newer one for the same message replaces it). */
	struct {
		int64_t message_id;
		const char *emoji;
	} react[REACT_MAX];
	int n_react;
	bool react_flight;
	int64_t react_sent_to; /* the reaction in flight, put back after a 429 */
	const char *react_sent;
};

struct chat {
	struct telegram *t;
	struct chat *next;
	int64_t id;
	int64_t busy_update; /* inbox row being handled, 0 = idle */
	int64_t started;     /* last row this process started (a retake is no new attempt) */
	struct agent_turn *turn;
	struct tg_media *media; /* the row's file being fetched or prepared */
	bool voice_in;		/* the row was a voice note (voice_replies: mirror) */
	bool speaking;		/* its voice reply is being made */
	struct router_call *speak_rc;
	struct event *typing;
	struct event *retry; /* takes the row again: its turn found state.db locked */
	bool waiting;	     /* the row waits for the lock (logged once) */
	/* The per-chat rate budget: no send, edit, typing or reaction before this (monotonic). */
	int64_t next_send_ms;
	int64_t thread;	  /* the busy row's topic, 0 = none */
	int64_t msg_id;	  /* the busy row's message (reactions) */
	struct live live; /* the busy row's turn as Telegram shows it while it runs */
	char *markup;	  /* a command's reply keyboard (set by the handler, sent with it) */
	char *untrusted;  /* the busy row's tg_inbox_row.untrusted, NULL = trusted */
};

struct answer {
	bool ok;		 /* transport ok and "ok": true */
	long status;		 /* HTTP status, 0 = no response */
	long error_code;	 /* Telegram's error_code */
	const char *description; /* Telegram's, or the transport error */
	long retry_after_s;
	const cJSON *result;
};

typedef void (*api_cb)(struct telegram *t, const struct answer *a, void *arg);

struct question;

struct api_call {
	struct telegram *t;
	api_cb cb;
	void *arg;
	struct httpc_req *req;
	struct api_call *next;
};

struct telegram {
	struct daemon *d;
	const struct config *cfg;
	struct agent *agent;
	struct mcp *mcp;
	struct spend *spend;
	struct router *router;
	struct event *prune_ev;
	struct breaker *breaker; /* NULL: /status and /resume say there is none */
	struct chat *chats;
	struct api_call *calls; /* in flight, for destroy */
	struct event *poll_ev, *send_ev;
	struct poll_sync *sync; /* stored updates being synced to disk before the next poll */
	int64_t offset;		/* last stored update_id */
	int64_t last_ok_ms;	/* last successful getUpdates (monotonic), or start */
	bool polled;		/* a getUpdates succeeded since the start */
	int64_t backoff_ms;
	const char *err_kind; /* current error state, NULL = healthy */
	bool started_polling;
	bool closing; /* telegram_destroy: answers only unwind, nothing new starts */
	bool sending;
	bool updates_unstored;	     /* the last batch could not be stored (logged once) */
	bool no_drafts;		     /* sendMessageDraft is unknown here: edits instead */
	struct tools *tools;	     /* approvals and ask_user answer here (telegram_set_tools) */
	struct reminders *reminders; /* /jobs (telegram_set_reminders), NULL = off */
	const struct telegram_buttons *buttons; /* "a:" presses and tags, NULL = none */
	void *buttons_arg;
	struct question *questions; /* asked, not closed */
	int64_t send_backoff_ms;
	int64_t refusals_minute; /* minute of the count below (strangers: tg_strangers) */
	int refusals_in_minute;
	struct metric *m_last_poll, *m_poll_errors, *m_updates, *m_sent;
};

/* ---- Bot API calls ------------------------------------------------------------------- */

static void forget_call(struct telegram *t, struct api_call *c)
{
	for (struct api_call **p = &t->calls; *p; p = &(*p)->next)
		if (*p == c) {
			*p = c->next;
			return;
		}
}

static void on_api_done(struct httpc_req *req, void *arg)
{
	struct api_call *c = arg;
	struct telegram *t = c->t;
	struct answer a = {0};
	size_t len;
	const char *body = httpc_body(req, &len);
	cJSON *j = NULL;

	forget_call(t, c);
	a.status = httpc_status(req);
	if (httpc_result(req) != HTTPC_OK) {
		a.description = httpc_error(req);
	} else {
		j = json_parse(body, len, 0, NULL);
		cJSON *ok = cJSON_GetObjectItemCaseSensitive(j, "ok");
		cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "error_code");
		cJSON *desc = cJSON_GetObjectItemCaseSensitive(j, "description");
		cJSON *ra = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(j, "parameters"), "retry_after");

		a.ok = cJSON_IsTrue(ok);
		a.error_code = cJSON_IsNumber(code) ? (long)clamp_i64(code->valuedouble, 0, 999)
						    : a.status;
		a.description = cJSON_IsString(desc) ? desc->valuestring
				: j		     ? "no description"
						     : "the answer is not JSON";
		a.retry_after_s =
			cJSON_IsNumber(ra) ? (long)clamp_i64(ra->valuedouble, 0, 86400) : 0;
		a.result = cJSON_GetObjectItemCaseSensitive(j, "result");
	}
	c->cb(t, &a, c->arg);
	cJSON_Delete(j);
	free(c);
}

/* POSTs o's body (and upload) to method with o's headers; cb fires exactly once from the
 * loop. */
static void api_post(struct telegram *t, const char *method, struct httpc_opts *o, api_cb cb,
		     void *arg)
{
	struct api_call *c = xcalloc(1, sizeof(*c));
	char *url =
		xasprintf("%s/bot%s/%s", t->cfg->telegram.api_base, t->cfg->telegram.token, method);

	o->method = "POST";
	o->url = url;
	o->max_response_bytes = RESPONSE_MAX;

	c->t = t;
	c->cb = cb;
	c->arg = arg;
	if (httpc_start(t->d->loop, o, on_api_done, c, &c->req) < 0) {
		struct answer a = {.description = "the request could not start"};

		/* Rare (allocation); answer from here rather than lose the callback. */
		free(url);
		free(c);
		cb(t, &a, arg);
		return;
	}
	c->next = t->calls;
	t->calls = c;
	free(url);
}

/* POSTs params (a JSON object text) to method. cb fires exactly once from the loop. */
static void api(struct telegram *t, const char *method, const char *params, long timeout_ms,
		api_cb cb, void *arg)
{
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	struct httpc_opts o = {
		.headers = headers,
		.body = params,
		.body_len = strlen(params),
		.timeout_ms = timeout_ms,
	};

	api_post(t, method, &o, cb, arg);
}

static void ignore_answer(struct telegram *t, const struct answer *a, void *arg)
{
	if (!a->ok)
		log_debug("telegram: %s", a->description ? a->description : "failed");
}

/* ---- chats and the inbox ------------------------------------------------------------- */

static struct chat *chat_find(struct telegram *t, int64_t id)
{
	for (struct chat *c = t->chats; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

static struct chat *chat_get(struct telegram *t, int64_t id)
{
	struct chat *c = chat_find(t, id);

	if (c)
		return c;
	c = xcalloc(1, sizeof(*c));
	c->t = t;
	c->id = id;
	c->next = t->chats;
	t->chats = c;
	return c;
}

static void live_clear(struct live *l)
{
	free(l->answer);
	free(l->progress);
	free(l->shown);
	free(l->final);
	l->answer = l->progress = l->shown = l->final = NULL;
	l->message_id = l->draft_id = 0;
}

static void chat_free(struct chat *c)
{
	if (c->typing)
		event_free(c->typing);
	if (c->retry)
		event_free(c->retry);
	if (c->live.ev)
		event_free(c->live.ev);
	live_clear(&c->live);
	free(c->live.sending);
	free(c->markup);
	free(c->untrusted);
	free(c);
}

/* Frees the chats with nothing to do (no turn, no row, no send gap pending): chats exist
 * only while they work, so their number follows the work, not everyone who ever wrote.
 * Called only from the top of an event callback, never with a chat on the stack. */
static void reap_chats(struct telegram *t)
{
	int64_t now = now_mono_ms();

	for (struct chat **p = &t->chats; *p;) {
		struct chat *c = *p;

		if (c->turn || c->media || c->speaking || c->busy_update || c->next_send_ms > now ||
		    c->live.in_flight || c->live.n_react || c->live.react_flight) {
			p = &c->next;
			continue;
		}
		*p = c->next;
		chat_free(c);
	}
}

/* The session of a chat, or of one topic in it: "telegram:<chat>" or "telegram:<chat>:<thread>". */
static void source_of(int64_t chat_id, int64_t thread, char *out, size_t len)
{
	if (thread)
		snprintf(out, len, "telegram:%lld:%lld", (long long)chat_id, (long long)thread);
	else
		snprintf(out, len, "telegram:%lld", (long long)chat_id);
}

/* ---- the per-chat rate budget -------------------------------------------------------- */

/* Sends, edits, typing and reactions of one chat draw on one budget: Telegram allows about one
 * message a second in a chat and 20 a minute in a group, and counts edits and actions too. */
static int64_t chat_gap_ms(const struct chat *c)
{
	return c->id < 0 ? GROUP_GAP_MS : SEND_GAP_MS;
}

static bool budget_ok(const struct chat *c, int64_t now)
{
	return c->next_send_ms <= now;
}

static void budget_take(struct chat *c, int64_t now)
{
	c->next_send_ms = now + chat_gap_ms(c);
}

/* A 429's retry_after holds the whole chat: sends, edits, typing and reactions. */
static void budget_hold(struct chat *c, int64_t now, long retry_after_s)
{
	int64_t until = now + (retry_after_s > 0 ? retry_after_s : 1) * 1000;

	if (until > c->next_send_ms)
		c->next_send_ms = until;
}

static void kick_sender(struct telegram *t, long delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	if (t->sending)
		return;
	event_del(t->send_ev);
	event_add(t->send_ev, &tv);
}

/* Appends the reply parts for markdown to the outbox (inside the caller's transaction); o
 * (may be NULL) says where they go, which message the first edits, the last one's buttons. */
static int outbox_add_to(struct telegram *t, int64_t chat_id, const char *markdown,
			 const struct tg_out_opts *o)
{
	struct buf html;
	struct tg_part *parts = NULL;
	size_t n;
	bool is_html = true;
	int rc;

	buf_init(&html, 1024 * 1024);
	if (tg_format_html(markdown, strlen(markdown), &html) < 0) {
		buf_reset(&html);
		tg_format_plain(markdown, strlen(markdown), &html);
		is_html = false;
	}
	n = is_html ? tg_split(buf_str(&html), html.len, TG_TEXT_MAX, &parts)
		    : tg_split_plain(buf_str(&html), html.len, TG_TEXT_MAX, &parts);
	if (n == 0) {
		/* An empty answer still gets a visible reply: silence is what users fear. */
		tg_parts_free(parts, n);
		n = tg_split_plain("(no answer)", 11, TG_TEXT_MAX, &parts);
		is_html = false;
	}
	rc = tg_outbox_add(t->d->store, chat_id, parts, n < MAX_PARTS ? n : MAX_PARTS, is_html, o);
	if (rc == 0 && n > MAX_PARTS)
		log_warn("telegram: a reply of %zu messages was cut to %d", n, MAX_PARTS);
	tg_parts_free(parts, n);
	buf_finish(&html);
	return rc;
}

static int outbox_add(struct telegram *t, int64_t chat_id, const char *markdown)
{
	return outbox_add_to(t, chat_id, markdown, NULL);
}

static void chat_next(struct chat *c);

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

static void live_key(int64_t update_id, char *out, size_t len)
{
	snprintf(out, len, LIVE_KEY "%lld", (long long)update_id);
}

static int write_row(struct store *s, void *arg)
{
	struct row_reply *w = arg;
	struct tg_out_opts o = {.thread_id = w->thread, .edit_id = w->edit_id, .markup = w->markup};
	struct tg_out_opts file = {.thread_id = w->thread};
	char key[48];
	int rc = store_begin(s);

	if (rc == 0 && w->reply)
		rc = outbox_add_to(w->t, w->chat_id, w->reply, &o);
	if (rc == 0 && w->voice)
		rc = tg_outbox_add_file(s, w->chat_id, "sendVoice", w->voice, NULL, &file);
	if (rc == 0)
		rc = tg_inbox_mark_done(s, w->update_id);
	echo_key(w->update_id, key, sizeof(key));
	if (rc == 0 && store_kv_del(s, key) < 0)
		rc = store_fail(s, "forget the transcript mark");
	live_key(w->update_id, key, sizeof(key));
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
		c = chat_get(t, w->chat_id);
		if (c->busy_update == w->update_id)
			c->busy_update = 0;
		kick_sender(t, 0);
		chat_next(c);
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
	live_clear(&c->live);
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
	kick_sender(t, 0);
}

static void finish_row(struct chat *c, const char *reply)
{
	finish_row_voice(c, reply, NULL);
}

/* "typing..." while nothing else shows the turn at work, within the chat's budget. */
static void on_typing(evutil_socket_t fd, short what, void *arg)
{
	struct chat *c = arg;
	int64_t now = now_mono_ms();
	char params[128];

	if (c->live.message_id || c->live.draft_id || !budget_ok(c, now))
		return;
	budget_take(c, now);
	if (c->thread)
		snprintf(params, sizeof(params),
			 "{\"chat_id\":%lld,\"message_thread_id\":%lld,\"action\":\"typing\"}",
			 (long long)c->id, (long long)c->thread);
	else
		snprintf(params, sizeof(params), "{\"chat_id\":%lld,\"action\":\"typing\"}",
			 (long long)c->id);
	api(c->t, "sendChatAction", params, API_TIMEOUT_MS, ignore_answer, NULL);
}

/* ---- the live message ---------------------------------------------------------------- */

static void live_kick(struct chat *c);
static void live_finish(struct chat *c);

/* What the live message should say now: the answer so far (cut to LIVE_MAX bytes on a
 * character boundary), then which tool runs. Plain text: Markdown is rendered only in the
 * final edit, where it is whole. */
static void live_compose(const struct live *l, struct buf *out)
{
	if (l->answer && *l->answer) {
		size_t n = strlen(l->answer);

		if (n > LIVE_MAX) {
			n = LIVE_MAX;
			while (n > 0 && ((unsigned char)l->answer[n] & 0xC0) == 0x80)
				n--;
		}
		buf_append(out, l->answer, n);
		if (n < strlen(l->answer))
			buf_puts(out, " …");
	}
	if (l->progress) {
		if (out->len)
			buf_puts(out, "\n\n");
		buf_puts(out, l->progress);
	}
}

static void on_live_sent(struct telegram *t, const struct answer *a, void *arg)
{
	struct chat *c = arg;
	struct live *l = &c->live;
	int64_t now = now_mono_ms();
	const cJSON *mid = cJSON_GetObjectItemCaseSensitive(a->result, "message_id");

	l->in_flight = false;
	if (t->closing || l->sent_for != c->busy_update) {
		/* Stopping, or the row was finished meanwhile (a voice reply does not wait for
		 * the call): its message id belongs to no turn now. */
		free(l->sending);
		l->sending = NULL;
		if (!t->closing && l->n_react)
			live_kick(c);
		return;
	}
	if (a->ok) {
		free(l->shown);
		l->shown = l->sending;
		l->sending = NULL;
		if (!l->message_id && !l->draft_id && cJSON_IsNumber(mid)) {
			char key[48], value[24];

			l->message_id = (int64_t)mid->valuedouble;
			/* A turn the process does not survive goes on in this message. */
			live_key(c->busy_update, key, sizeof(key));
			snprintf(value, sizeof(value), "%lld", (long long)l->message_id);
			if (store_kv_put(t->d->store, key, value) < 0)
				log_debug("telegram: chat %lld: live message id not stored",
					  (long long)c->id);
		}
	} else if (a->error_code == 429) {
		budget_hold(c, now, a->retry_after_s);
	} else if (a->description && strstr(a->description, "message is not modified")) {
		free(l->shown);
		l->shown = l->sending;
		l->sending = NULL;
	} else if (l->draft_id &&
		   (a->error_code == 404 || (a->description && strstr(a->description, "method")))) {
		log_warn("telegram: sendMessageDraft is not available (%s); streaming by editing "
			 "a message instead",
			 a->description ? a->description : "?");
		t->no_drafts = true;
		l->draft_id = 0;
	} else if (a->description && (strstr(a->description, "message to edit not found") ||
				      strstr(a->description, "message can't be edited"))) {
		l->message_id = 0; /* deleted by the user: a new one */
	} else {
		log_debug("telegram: chat %lld: live update failed: %s", (long long)c->id,
			  a->description ? a->description : "?");
	}
	free(l->sending);
	l->sending = NULL;
	if (l->final)
		live_finish(c);
	else
		live_kick(c);
}

static void react(struct chat *c, int64_t message_id, const char *emoji);

static void on_reacted(struct telegram *t, const struct answer *a, void *arg)
{
	struct chat *c = arg;

	c->live.react_flight = false;
	if (t->closing)
		return;
	if (a->error_code == 429) {
		/* Flood control: the reaction waits for retry_after like everything else. */
		bool newer = false;

		budget_hold(c, now_mono_ms(), a->retry_after_s);
		for (int i = 0; i < c->live.n_react; i++)
			newer = newer || c->live.react[i].message_id == c->live.react_sent_to;
		if (!newer) /* a newer reaction for the message replaces this one */
			react(c, c->live.react_sent_to, c->live.react_sent);
		live_kick(c);
		return;
	}
	if (!a->ok)
		log_debug("telegram: chat %lld: reaction not set: %s", (long long)c->id,
			  a->description ? a->description : "?");
	live_kick(c);
}

/* telegram.reactions: the oldest waiting reaction, one setMessageReaction. */
static void send_reaction(struct chat *c, int64_t now)
{
	struct live *l = &c->live;
	char params[192];

	snprintf(params, sizeof(params),
		 "{\"chat_id\":%lld,\"message_id\":%lld,\"reaction\":[{\"type\":\"emoji\","
		 "\"emoji\":\"%s\"}]}",
		 (long long)c->id, (long long)l->react[0].message_id, l->react[0].emoji);
	l->react_sent_to = l->react[0].message_id;
	l->react_sent = l->react[0].emoji;
	memmove(&l->react[0], &l->react[1], (size_t)(l->n_react - 1) * sizeof(l->react[0]));
	l->n_react--;
	l->react_flight = true;
	budget_take(c, now);
	api(c->t, "setMessageReaction", params, API_TIMEOUT_MS, on_reacted, c);
}

/* Reactions wait for the chat's budget; one not sent yet is replaced by a newer one for the
 * same message (Telegram would replace it anyway), and when REACT_MAX wait the oldest goes. */
static void react(struct chat *c, int64_t message_id, const char *emoji)
{
	struct live *l = &c->live;
	int i;

	if (!c->t->cfg->telegram.reactions || message_id <= 0)
		return;
	for (i = 0; i < l->n_react && l->react[i].message_id != message_id; i++)
		;
	if (i == l->n_react) {
		if (l->n_react == REACT_MAX) {
			memmove(&l->react[0], &l->react[1],
				(size_t)(REACT_MAX - 1) * sizeof(l->react[0]));
			l->n_react--;
		}
		i = l->n_react++;
	}
	l->react[i].message_id = message_id;
	l->react[i].emoji = emoji;
	live_kick(c);
}

static void on_live_event(evutil_socket_t fd, short what, void *arg)
{
	struct chat *c = arg;
	struct telegram *t = c->t;
	struct live *l = &c->live;
	int64_t now = now_mono_ms();
	struct buf p, text;

	if (t->closing || l->in_flight || l->react_flight || l->final)
		return;
	if (l->n_react && budget_ok(c, now)) {
		send_reaction(c, now);
		return;
	}
	if (!budget_ok(c, now) || now - l->last_ms < t->cfg->telegram.edit_every_ms) {
		live_kick(c);
		return;
	}
	buf_init(&text, 0);
	live_compose(l, &text);
	if (text.len == 0 || (l->shown && strcmp(l->shown, buf_str(&text)) == 0)) {
		buf_finish(&text);
		return;
	}
	buf_init(&p, 0);
	buf_printf(&p, "{\"chat_id\":%lld", (long long)c->id);
	if (c->thread)
		buf_printf(&p, ",\"message_thread_id\":%lld", (long long)c->thread);
	if (t->cfg->telegram.stream == CONFIG_STREAM_DRAFT && c->id > 0 && !t->no_drafts &&
	    !l->message_id) {
		if (!l->draft_id)
			l->draft_id = c->busy_update > 0 ? c->busy_update : 1;
		buf_printf(&p, ",\"draft_id\":%lld,\"text\":", (long long)l->draft_id);
	} else if (l->message_id) {
		buf_printf(&p, ",\"message_id\":%lld,\"text\":", (long long)l->message_id);
	} else {
		buf_puts(&p, ",\"text\":");
	}
	buf_json_str(&p, text.data, text.len);
	buf_puts(&p, ",\"disable_web_page_preview\":true}");
	l->in_flight = true;
	l->sent_for = c->busy_update;
	l->last_ms = now;
	budget_take(c, now);
	free(l->sending);
	l->sending = buf_steal(&text);
	api(t,
	    l->draft_id	    ? "sendMessageDraft"
	    : l->message_id ? "editMessageText"
			    : "sendMessage",
	    buf_str(&p), API_TIMEOUT_MS, on_live_sent, c);
	buf_finish(&p);
}

/* The next update, when the budget and edit_every_ms allow. */
static void live_kick(struct chat *c)
{
	struct telegram *t = c->t;
	struct live *l = &c->live;
	int64_t now = now_mono_ms(), at = now, wait;
	struct timeval tv;

	if (t->closing || l->in_flight || l->react_flight)
		return;
	if (c->next_send_ms > at)
		at = c->next_send_ms;
	if (!l->n_react && l->last_ms + t->cfg->telegram.edit_every_ms > at)
		at = l->last_ms + t->cfg->telegram.edit_every_ms;
	wait = at - now;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000 * 1000);
	if (!l->ev)
		l->ev = evtimer_new(loop_base(t->d->loop), on_live_event, c);
	if (!evtimer_pending(l->ev, NULL))
		evtimer_add(l->ev, &tv);
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
	live_kick(c);
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
	free(c->live.progress);
	c->live.progress = what;
	live_kick(c);
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
	struct chat *c = chat_find(t, sp->chat_id);

	if (error)
		log_warn("telegram: chat %lld: no voice reply: %s", (long long)sp->chat_id, error);
	if (c) {
		c->speaking = false;
		c->speak_rc = NULL;
	}
	if (c && !t->closing && c->busy_update == sp->update_id) {
		finish_row_voice(c, sp->text, rel);
		chat_next(c);
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
	struct tg_media_env env = {t->cfg, t->d->loop, t->router};

	if (t->cfg->telegram.voice_replies != CONFIG_VOICE_MIRROR || !t->cfg->auxiliary.speech ||
	    !t->router)
		return false;
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
	finish_row(c, text);
	chat_next(c);
}

static void live_finish(struct chat *c)
{
	char *text = c->live.final;

	c->live.final = NULL;
	finish_row(c, text);
	free(text);
	chat_next(c);
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
	react(c, c->msg_id,
	      r->stop == AGENT_FAILED	   ? "👎"
	      : r->stop == AGENT_CANCELLED ? "🤔"
					   : "👍");
	if (r->stop == AGENT_CANCELLED)
		text = xstrdup("Stopped.");
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

static const struct agent_cbs turn_cbs = {.on_tool_call = on_tool_call, .on_done = on_turn_done};
static const struct agent_cbs turn_cbs_streamed = {
	.on_tool_call = on_tool_call, .on_done = on_turn_done, .on_text = on_text};

static void on_retry_row(evutil_socket_t fd, short what, void *arg)
{
	struct chat *c = arg;

	if (c->t->closing)
		return;
	c->busy_update = 0;
	chat_next(c);
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

	source_of(c->id, c->thread, source, sizeof(source));
	/* A turn the process did not survive continues from its stored messages, and in the
	 * message it was showing itself in. */
	snprintf(origin, sizeof(origin), "telegram:%lld", (long long)c->busy_update);
	live_key(c->busy_update, key, sizeof(key));
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
		finish_row(c, "Sorry, I could not start on that (see the log).");
		chat_next(c);
		return;
	}
	if (!c->typing)
		c->typing = event_new(loop_base(t->d->loop), -1, EV_PERSIST, on_typing, c);
	react(c, c->msg_id, "👀");
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
		rc = outbox_add(e->t, e->chat_id, e->markdown);
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
		kick_sender(e->t, 0);
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
		finish_row(c, r->error);
		chat_next(c);
		return;
	}
	if (r->echo)
		show_echo(c, r->echo);
	if (r->untrusted && !c->untrusted)
		c->untrusted = xstrdup(r->untrusted);
	c->voice_in = r->voice;
	start_turn_parts(c, r->turn_text, r->parts, r->n_parts);
}

static const char *current_model(struct telegram *t, struct chat *c, struct session_info *si);

static void start_media(struct chat *c, const struct tg_inbox_row *row)
{
	struct telegram *t = c->t;
	struct tg_media_env env = {t->cfg, t->d->loop, t->router};
	struct session_info si = {0};

	tg_media_start(&env, row->update_id, row->media, row->text, current_model(t, c, &si),
		       on_media_ready, c, &c->media);
	session_info_finish(&si);
	on_typing(-1, 0, c);
}

/* ---- commands ------------------------------------------------------------------------ */

/* "Today: 3 calls, 9000 tokens in (80% from the prompt cache), 120 out, $0.0012." */
static void usage_line(struct buf *out, const char *when, const struct spend_usage *u)
{
	buf_printf(out, "%s: %lld calls, %lld tokens in", when, (long long)u->calls,
		   (long long)u->input_tokens);
	if (u->cached_tokens > 0 && u->input_tokens > 0)
		buf_printf(out, " (%lld%% from the prompt cache)",
			   (long long)(u->cached_tokens * 100 / u->input_tokens));
	buf_printf(out, ", %lld out, $%.4f.\n", (long long)u->output_tokens, u->cost_usd);
}

static void usage_text(struct telegram *t, struct chat *c, struct buf *out)
{
	struct spend_usage today = {0}, month = {0};
	const struct config_budget *b = &t->cfg->budget;

	if (t->spend && spend_usage(t->d->store, now_wall_ms(), &today, &month) == 0) {
		usage_line(out, "Today", &today);
		usage_line(out, "This month", &month);
		if (b->daily_usd > 0)
			buf_printf(out, "Daily budget: $%.2f, $%.4f left.\n", b->daily_usd,
				   b->daily_usd > today.cost_usd ? b->daily_usd - today.cost_usd
								 : 0);
		if (b->monthly_usd > 0)
			buf_printf(out, "Monthly budget: $%.2f, $%.4f left.\n", b->monthly_usd,
				   b->monthly_usd > month.cost_usd ? b->monthly_usd - month.cost_usd
								   : 0);
	} else {
		buf_puts(out, "No spend figures available.\n");
	}
}

static const char *current_model(struct telegram *t, struct chat *c, struct session_info *si)
{
	char source[64];

	source_of(c->id, c->thread, source, sizeof(source));
	if (sessions_current(t->d->store, source, 0, si) == 0 && si->model)
		return si->model;
	return t->cfg->model;
}

static void model_text(struct telegram *t, struct chat *c, const char *arg, struct buf *out)
{
	struct session_info si = {0};
	char source[64];

	source_of(c->id, c->thread, source, sizeof(source));
	if (arg && *arg) {
		if (agent_set_model(t->agent, source, arg) == 0)
			buf_printf(out, "Model: %s.", arg);
		else
			buf_printf(out, "There is no model \"%s\".", arg);
	} else {
		buf_printf(out, "Model: %s.", current_model(t, c, &si));
	}
	buf_puts(out, " Configured:");
	for (size_t i = 0; i < t->cfg->n_model_groups; i++)
		buf_printf(out, " %s", t->cfg->model_groups[i]);
	session_info_finish(&si);
}

static void breaker_text(struct telegram *t, struct buf *out)
{
	struct breaker_state bs;
	char until[64];

	if (!t->breaker)
		return;
	breaker_state(t->breaker, now_mono_ms(), &bs);
	if (!bs.enabled) {
		buf_puts(out, "Bleed breaker: off (guardrails.bleed).\n");
	} else if (!bs.open) {
		buf_printf(out,
			   "Bleed breaker: closed, %lld calls in the window, tripped %llu times.\n",
			   (long long)bs.calls_in_window, (unsigned long long)bs.trips);
	} else if (bs.until_ms) {
		breaker_format_time(bs.until_ms, until, sizeof(until));
		buf_printf(out, "Bleed breaker: OPEN (%s) until %s; /resume closes it.\n", bs.why,
			   until);
	} else {
		buf_printf(out, "Bleed breaker: OPEN (%s) until /resume.\n", bs.why);
	}
}

static void status_text(struct telegram *t, struct chat *c, struct buf *out)
{
	struct session_info si = {0};
	int64_t up_s = (now_wall_ms() - t->d->start_wall_ms) / 1000;
	size_t n = t->mcp ? mcp_n_servers(t->mcp) : 0;

	if (rootguard_is_root())
		buf_puts(out,
			 "WARNING: running as root (HERMETIC_ALLOW_ROOT=1); run hermetic as an "
			 "unprivileged user.\n");
	buf_printf(out, "Up %lldd %02lldh %02lldm. Model: %s.\n", (long long)(up_s / 86400),
		   (long long)(up_s / 3600 % 24), (long long)(up_s / 60 % 60),
		   current_model(t, c, &si));
	session_info_finish(&si);
	for (size_t i = 0; i < n; i++) {
		struct mcp_server_info mi;

		mcp_server_info(t->mcp, i, &mi);
		buf_printf(out, "MCP %s: %s, %zu tools.\n", mi.name, mi.state, mi.n_tools);
	}
	if (n == 0)
		buf_puts(out, "No MCP servers.\n");
	buf_printf(out, "%s.\n", landlock_state());
	buf_printf(out, "Seccomp: %s.\n", sandbox_status());
	breaker_text(t, out);
}

/* Only allowed users' messages reach a chat's inbox, so whoever sends this may resume. */
static void resume_text(struct telegram *t, int64_t chat_id, struct buf *out)
{
	if (!t->breaker) {
		buf_puts(out, "There is no bleed breaker here.");
		return;
	}
	if (breaker_resume(t->breaker, now_mono_ms())) {
		log_warn("telegram: chat %lld closed the bleed breaker with /resume",
			 (long long)chat_id);
		buf_puts(out, "Bleed breaker closed: model calls flow again.");
	} else {
		buf_puts(out, "The bleed breaker is not open: model calls flow.");
	}
}

static void help_cmd(struct chat *c, const char *name, const char *arg, struct buf *out);

static void context_line(struct buf *out, const char *what, const struct agent_context_part *p,
			 int64_t total)
{
	buf_printf(out, "\n%s: %lld tokens (%lld%%, %zu bytes)", what, (long long)p->tokens,
		   total > 0 ? (long long)(p->tokens * 100 / total) : 0LL, p->bytes);
}

/* How the next request's tokens split, and what the provider's prompt cache served of the
 * last one: where the money of a long chat goes. */
static void context_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	struct agent_context_split sp = {0};
	char source[64];
	int64_t total;

	source_of(c->id, c->thread, source, sizeof(source));
	if (agent_context_split(c->t->agent, source, &sp) < 0) {
		buf_puts(out,
			 "The context could not be read now (the database is busy); try again.");
		return;
	}
	total = sp.total.tokens;
	buf_printf(out, "The next request: about %lld tokens of the model's %lld (%s).",
		   (long long)total, (long long)sp.budget_tokens,
		   sp.session_id ? "this conversation" : "a new conversation");
	context_line(out, "persona", &sp.persona, total);
	context_line(out, "memory", &sp.memory, total);
	context_line(out, "skills index", &sp.skills, total);
	context_line(out, "tool schemas", &sp.tools, total);
	buf_printf(out, "\nhistory, %zu messages: %lld tokens (%lld%%, %zu bytes)", sp.n_messages,
		   (long long)sp.history.tokens,
		   total > 0 ? (long long)(sp.history.tokens * 100 / total) : 0LL,
		   sp.history.bytes);
	context_line(out, "JSON framing", &sp.framing, total);
	buf_printf(out, "\ntotal: %zu bytes", sp.total.bytes);
	if (sp.have_last)
		buf_printf(out,
			   "\nThe last request: %lld prompt tokens, %lld of them (%lld%%) from the "
			   "provider's prompt cache.",
			   (long long)sp.last_prompt_tokens, (long long)sp.last_cached_tokens,
			   sp.last_prompt_tokens > 0 ? (long long)(sp.last_cached_tokens * 100 /
								   sp.last_prompt_tokens)
						     : 0LL);
	else
		buf_puts(out,
			 "\nNo request of this conversation since the start: no cache figures.");
}

static void new_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	char source[64];

	source_of(c->id, c->thread, source, sizeof(source));
	buf_puts(out, agent_reset(c->t->agent, source) == 0 ? "New conversation started."
							    : "Could not reset (see the log).");
}

/* A /stop while a turn runs never gets here (on_message stops the turn). */
static void stop_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	buf_puts(out, "Nothing is running.");
}

static void usage_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	usage_text(c->t, c, out);
}

static void model_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	model_text(c->t, c, arg, out);
}

static void status_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	status_text(c->t, c, out);
}

static void resume_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	resume_text(c->t, c->id, out);
}

/* ---- /jobs: the chat's reminders with Pause / Resume / Delete buttons ----------------- */

#define JOBS_BUTTONS_MAX 20 /* rows of buttons (reminders.max_per_chat is 20 by default) */

/* The list (Markdown) of source's jobs and the config's cron jobs, and its keyboard (NULL
 * when no job of the chat can be changed). */
static void jobs_text(struct telegram *t, const char *source, struct buf *out, char **markup)
{
	struct reminders_job *jobs = NULL;
	size_t n = 0;
	struct buf b;

	*markup = NULL;
	if (!t->reminders) {
		buf_puts(out, "Reminders are off here (reminders.enabled: false).");
		return;
	}
	if (reminders_list_text(t->reminders, source, true, out) < 0 ||
	    reminders_list(t->reminders, source, &jobs, &n) < 0 || n == 0) {
		free(jobs);
		return;
	}
	buf_init(&b, 0);
	buf_puts(&b, "{\"inline_keyboard\":[");
	for (size_t i = 0; i < n && i < JOBS_BUTTONS_MAX; i++) {
		bool paused = strcmp(jobs[i].status, "paused") == 0;
		char *title = utf8_clip_dup(jobs[i].title, 40, true), *label;

		label = xasprintf("%s %lld. %s", paused ? "▶ Resume" : "⏸ Pause",
				  (long long)jobs[i].id, title);
		buf_printf(&b, "%s[{\"text\":", i ? "," : "");
		buf_json_str(&b, label, strlen(label));
		free(label);
		free(title);
		buf_printf(&b,
			   ",\"callback_data\":\"j:%c:%lld\"},{\"text\":\"🗑 Delete\","
			   "\"callback_data\":\"j:d:%lld\",\"style\":\"danger\"}]",
			   paused ? 'r' : 'p', (long long)jobs[i].id, (long long)jobs[i].id);
	}
	buf_puts(&b, "]}");
	*markup = buf_steal(&b);
	free(jobs);
}

static void jobs_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	char source[64];

	source_of(c->id, c->thread, source, sizeof(source));
	free(c->markup);
	jobs_text(c->t, source, out, &c->markup);
}

/* Allowed users only: only their messages reach a chat's inbox. */
static void decide_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	tools_proposal_decide(c->t->cfg, arg, name[0] == 'a', out);
}

enum { IN_HELP = 1 << 0, IN_MENU = 1 << 1 };

/* The one list of chat commands: it generates /help, the setMyCommands menu and the dispatch.
 * description starts lower case (/help prints it so; the menu capitalizes it). An entry in
 * /help without a description shares the next entry's line ("/approve ID, /reject ID - ...");
 * an entry in neither list is an alias. */
static const struct tg_command {
	const char *name;
	const char *args; /* shown after the name in /help, or NULL */
	const char *description;
	unsigned where;
	void (*handler)(struct chat *c, const char *name, const char *arg, struct buf *out);
} commands[] = {
	{"new", NULL, "start a new conversation", IN_HELP | IN_MENU, new_cmd},
	{"stop", NULL, "stop what I am doing", IN_HELP | IN_MENU, stop_cmd},
	{"usage", NULL, "tokens and cost today and this month", IN_HELP | IN_MENU, usage_cmd},
	{"model", NULL, "show or switch the model", IN_HELP | IN_MENU, model_cmd},
	{"status", NULL, "uptime, model, tool servers, breaker", IN_HELP | IN_MENU, status_cmd},
	{"context", NULL, "what the next request holds, and the prompt cache", IN_HELP | IN_MENU,
	 context_cmd},
	{"resume", NULL, "close the bleed breaker so model calls flow again", IN_HELP | IN_MENU,
	 resume_cmd},
	{"jobs", NULL, "reminders and scheduled jobs, to pause or delete", IN_HELP | IN_MENU,
	 jobs_cmd},
	{"help", NULL, "what I can do", IN_MENU, help_cmd},
	{"approve", "ID", NULL, IN_HELP, decide_cmd},
	{"reject", "ID", "decide a held memory change", IN_HELP, decide_cmd},
	{"start", NULL, NULL, 0, help_cmd},
	{"reset", NULL, NULL, 0, new_cmd},
};

static void help_cmd(struct chat *c, const char *name, const char *arg, struct buf *out)
{
	bool joined = false;

	buf_puts(out, "I am your hermetic assistant. Write to me in plain words.");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct tg_command *k = &commands[i];

		if (!(k->where & IN_HELP))
			continue;
		buf_printf(out, "%s/%s", joined ? ", " : "\n", k->name);
		if (k->args)
			buf_printf(out, " %s", k->args);
		joined = !k->description;
		if (k->description)
			buf_printf(out, " - %s", k->description);
	}
}

/* The setMyCommands menu: [{"command":..., "description":...}, ...], malloc'd. */
static char *menu_json(void)
{
	struct buf b;
	bool first = true;

	buf_init(&b, 0);
	buf_puts(&b, "[");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		const struct tg_command *k = &commands[i];

		if (!(k->where & IN_MENU))
			continue;
		buf_printf(&b, "%s{\"command\":\"%s\",\"description\":\"%c%s\"}", first ? "" : ",",
			   k->name, toupper((unsigned char)k->description[0]), k->description + 1);
		first = false;
	}
	buf_puts(&b, "]");
	return buf_steal(&b);
}

/* Handles /command; returns false when it is not one of ours (the text goes to the model). */
static bool command(struct chat *c, const char *text)
{
	char name[33] = "";
	const char *arg;
	size_t n = 0;
	struct buf out;

	if (text[0] != '/')
		return false;
	for (const char *p = text + 1; *p && *p != ' ' && *p != '@' && *p != '\n' && n < 32; p++)
		name[n++] = *p;
	name[n] = '\0';
	arg = strchr(text, ' ');
	arg = arg ? arg + 1 : NULL;
	buf_init(&out, 0);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0) {
			commands[i].handler(c, name, arg, &out);
			break;
		}
	if (out.len == 0) {
		buf_finish(&out);
		return false;
	}
	finish_row(c, buf_str(&out));
	buf_finish(&out);
	return true;
}

/* Takes the chat's oldest queued row, if the chat is idle. */
static void chat_next(struct chat *c)
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
		finish_row(c, POISON_TEXT);
	} else if (strcmp(row.kind, "text") != 0 && *row.media) {
		start_media(c, &row);
	} else if (strcmp(row.kind, "text") != 0) {
		char *no =
			xasprintf("I can't take %s messages. Send text, a voice note, a photo or a "
				  "document.",
				  row.kind);

		finish_row(c, no);
		free(no);
	} else if (!command(c, row.text))
		start_turn(c, row.text);
	tg_inbox_row_finish(&row);
	if (!c->busy_update && !c->turn && !c->media)
		chat_next(c);
}

/* ---- receiving updates --------------------------------------------------------------- */

static bool group_allowed(const struct config *cfg, int64_t chat_id)
{
	for (size_t i = 0; i < cfg->telegram.n_allowed_chats; i++)
		if (cfg->telegram.allowed_chats[i] == chat_id)
			return true;
	return false;
}

static bool allowed(const struct config *cfg, int64_t user_id)
{
	for (size_t i = 0; i < cfg->telegram.n_allowed_users; i++)
		if (cfg->telegram.allowed_users[i] == user_id)
			return true;
	return false;
}

/* The bot's own user id: a token is "<bot id>:<secret>". 0 when it does not say. */
static int64_t bot_id(const struct config *cfg)
{
	const char *p = cfg->telegram.token;
	int64_t id = 0;

	for (; p && *p >= '0' && *p <= '9'; p++) {
		if (id > (INT64_MAX - 9) / 10)
			return 0;
		id = id * 10 + (*p - '0');
	}
	return p && *p == ':' ? id : 0;
}

/* An allowed user or the bot itself. */
static bool ours(const struct config *cfg, const cJSON *user)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(user, "id");
	int64_t uid;

	if (!cJSON_IsNumber(id))
		return false;
	uid = clamp_i64(id->valuedouble, INT64_MIN, INT64_MAX);
	return allowed(cfg, uid) || (uid != 0 && uid == bot_id(cfg));
}

/* Whether an allowed user or the bot wrote msg's words: sent by one of them, and not a
 * forward of someone else's message (forward_origin; forward_date before Bot API 7.0). The
 * rest is third-party text, which taints the turn reading it (docs/security.md, "Trust"). */
static bool written_by_us(const struct config *cfg, const cJSON *msg)
{
	const cJSON *origin = cJSON_GetObjectItemCaseSensitive(msg, "forward_origin");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(origin, "type");

	if (!ours(cfg, cJSON_GetObjectItemCaseSensitive(msg, "from")))
		return false;
	if (origin)
		return cJSON_IsString(type) && strcmp(type->valuestring, "user") == 0 &&
		       ours(cfg, cJSON_GetObjectItemCaseSensitive(origin, "sender_user"));
	return !cJSON_GetObjectItemCaseSensitive(msg, "forward_date");
}

/* Someone not in allowed_users wrote in a private chat (inside store_updates' transaction):
 * logged when new, answered with one refusal a day, within a global rate; no inbox row, no
 * struct chat, one bounded tg_strangers row, so a restart does not forget the refusal. */
static void refuse(struct telegram *t, int64_t chat_id, int64_t user_id)
{
	int64_t now = now_wall_ms(), minute = now / 60000;
	bool known, refused_lately;

	metric_inc(t->m_updates, (const char *const[]){"refused"}, 1);
	/* Without the row a refusal could repeat: silence then, as for a rate reached. */
	if (tg_stranger_seen(t->d->store, user_id, chat_id, now, &known, &refused_lately) < 0) {
		log_warn("telegram: message from user %lld ignored, not recorded (%s)",
			 (long long)user_id, store_error(t->d->store));
		return;
	}
	if (!known)
		log_warn("telegram: message from user %lld (not in telegram.allowed_users) ignored",
			 (long long)user_id);
	if (!t->cfg->telegram.refuse_unknown || refused_lately)
		return;
	if (t->refusals_minute != minute) {
		t->refusals_minute = minute;
		t->refusals_in_minute = 0;
	}
	if (t->refusals_in_minute >= REFUSALS_PER_MINUTE)
		return;
	t->refusals_in_minute++;
	if (tg_stranger_refused(t->d->store, user_id, now) == 0)
		outbox_add(t, chat_id, "This is a private assistant. Sorry.");
}

/* /stop acts at once, not after the turn it should stop. */
static bool stop_now(struct telegram *t, int64_t chat_id, const char *text)
{
	struct chat *c;

	if (strncmp(text, "/stop", 5) != 0 || (text[5] && text[5] != '@' && text[5] != ' '))
		return false;
	c = chat_get(t, chat_id);
	if (!c->turn)
		return false; /* queued like any command: answers "Nothing is running." */
	agent_cancel(c->turn);
	return true;
}

/* The topic a message belongs to (Bot API 9.3 topics in private chats, forum topics in
 * groups): its own session, and replies go back into it. 0 = none. */
static int64_t topic_of(const cJSON *msg)
{
	const cJSON *thread = cJSON_GetObjectItemCaseSensitive(msg, "message_thread_id");
	const cJSON *is_topic = cJSON_GetObjectItemCaseSensitive(msg, "is_topic_message");

	if (!cJSON_IsNumber(thread) || !cJSON_IsTrue(is_topic))
		return 0;
	return clamp_i64(thread->valuedouble, 0, INT64_MAX);
}

/* A reply to an earlier message brings what it quotes into the turn: the part the user
 * selected (quote), else the replied-to message's text or caption, cut to QUOTE_MAX bytes.
 * NULL when the message replies to nothing with text. malloc'd. */
static char *with_quote(const cJSON *msg, const char *text)
{
	const cJSON *to = cJSON_GetObjectItemCaseSensitive(msg, "reply_to_message");
	const cJSON *quote = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(msg, "quote"), "text");
	const cJSON *q = cJSON_IsString(quote) ? quote
			 : cJSON_IsString(cJSON_GetObjectItemCaseSensitive(to, "text"))
				 ? cJSON_GetObjectItemCaseSensitive(to, "text")
				 : cJSON_GetObjectItemCaseSensitive(to, "caption");
	char *cut, *out;

	/* In a topic every message "replies" to the topic's first message: not a quote. */
	if (!to || !cJSON_IsString(q) || !*q->valuestring ||
	    (topic_of(msg) && !cJSON_IsString(quote) &&
	     cJSON_GetObjectItemCaseSensitive(to, "forum_topic_created")))
		return NULL;
	cut = utf8_clip_dup(q->valuestring, QUOTE_MAX, true);
	out = xasprintf("[Replying to: \"%s\"]\n%s", cut, text);
	free(cut);
	return out;
}

static void inbox_add(struct telegram *t, struct tg_inbox_insert *ins, int64_t update_id,
		      const cJSON *msg)
{
	const cJSON *chat = cJSON_GetObjectItemCaseSensitive(msg, "chat");
	const cJSON *from = cJSON_GetObjectItemCaseSensitive(msg, "from");
	const cJSON *cid = cJSON_GetObjectItemCaseSensitive(chat, "id");
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(from, "id");
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(msg, "text");
	const cJSON *caption = cJSON_GetObjectItemCaseSensitive(msg, "caption");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(chat, "type");
	const cJSON *mid = cJSON_GetObjectItemCaseSensitive(msg, "message_id");
	int64_t chat_id, user_id;
	bool private;
	const char *kind = "other", *body, *untrusted = NULL;
	char *media, *quoted;

	if (!cJSON_IsNumber(cid) || !cJSON_IsNumber(uid)) {
		metric_inc(t->m_updates, (const char *const[]){"skipped"}, 1);
		return;
	}
	chat_id = clamp_i64(cid->valuedouble, INT64_MIN, INT64_MAX);
	user_id = clamp_i64(uid->valuedouble, INT64_MIN, INT64_MAX);
	private = cJSON_IsString(type) && strcmp(type->valuestring, "private") == 0;
	/* Answers draw on private memory and notes: a group sees them only when named. */
	if (!private && !group_allowed(t->cfg, chat_id)) {
		metric_inc(t->m_updates, (const char *const[]){"refused"}, 1);
		if (allowed(t->cfg, user_id))
			log_warn("telegram: message from user %lld in chat %lld ignored (a %s chat "
				 "not in telegram.allowed_chats)",
				 (long long)user_id, (long long)chat_id,
				 cJSON_IsString(type) ? type->valuestring : "non-private");
		return;
	}
	if (!allowed(t->cfg, user_id)) {
		if (private)
			refuse(t, chat_id, user_id);
		else
			metric_inc(t->m_updates, (const char *const[]){"refused"}, 1);
		return;
	}
	if (cJSON_IsString(text) && stop_now(t, chat_id, text->valuestring)) {
		metric_inc(t->m_updates, (const char *const[]){"handled"}, 1);
		return;
	}
	media = tg_media_pick(msg, t->cfg, &kind);
	body = cJSON_IsString(text)	 ? text->valuestring
	       : cJSON_IsString(caption) ? caption->valuestring
					 : "";
	quoted = with_quote(msg, body);
	/* The sender is allowed: a forward is the one way its own words are someone else's. */
	if (!written_by_us(t->cfg, msg))
		untrusted = "a forwarded message";
	else if (quoted &&
		 !written_by_us(t->cfg, cJSON_GetObjectItemCaseSensitive(msg, "reply_to_message")))
		untrusted = "a reply quoting someone else's message";
	tg_inbox_insert(ins, update_id, chat_id, user_id, quoted ? quoted : body, kind, media,
			topic_of(msg), cJSON_IsNumber(mid) ? (int64_t)mid->valuedouble : 0,
			untrusted);
	free(quoted);
	free(media);
	metric_inc(t->m_updates, (const char *const[]){"handled"}, 1);
	chat_get(t, chat_id);
}

/* Stores the batch and the new offset in one transaction; returns the chats to kick. */
static int store_updates(struct telegram *t, const cJSON *updates)
{
	const cJSON *u;
	struct tg_inbox_insert *ins;
	int64_t max = t->offset;
	char value[24];
	int rc = 0;

	if (cJSON_GetArraySize(updates) == 0)
		return 0; /* an empty long poll: nothing to write */
	rc = store_begin(t->d->store);
	if (rc < 0)
		return rc;
	rc = tg_inbox_insert_start(t->d->store, &ins);
	if (rc < 0)
		return store_end(t->d->store, rc);
	cJSON_ArrayForEach(u, updates)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(u, "update_id");
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(u, "message");
		int64_t uid;

		if (!cJSON_IsNumber(id))
			continue;
		uid = clamp_i64(id->valuedouble, INT64_MIN, INT64_MAX);
		if (uid <= t->offset)
			continue; /* handled before a restart */
		if (uid > max)
			max = uid;
		if (msg)
			inbox_add(t, ins, uid, msg);
		else if (!cJSON_GetObjectItemCaseSensitive(u, "callback_query"))
			metric_inc(t->m_updates, (const char *const[]){"skipped"}, 1);
	}
	tg_inbox_insert_finish(ins);
	snprintf(value, sizeof(value), "%lld", (long long)max);
	if (store_kv_set(t->d->store, OFFSET_KEY, value) < 0)
		rc = store_fail(t->d->store, "store the update offset");
	rc = store_end(t->d->store, rc);
	if (rc == 0)
		t->offset = max;
	return rc;
}

/* ---- questions: approvals and ask_user with buttons ---------------------------------- */

static int parse_source(const char *source, int64_t *chat_id, int64_t *thread);

/* A question of the tools layer shown in a chat: its message gets the buttons; when the tools
 * layer closes it (answered, timed out, cancelled) the message is edited to say so and loses
 * its buttons. Pending questions live in memory only, as in the tools layer: after a restart
 * a press on an old button is answered "expired, ask again" (never approved by a restart). */
struct question {
	struct question *next;
	uint64_t id;
	int64_t chat_id, thread, message_id; /* message_id 0 = not sent yet */
	char *text;			     /* the message as sent (plain) */
	char *outcome;			     /* closed before its message was sent */
	bool file;			     /* sent as a document: text is its caption */
};

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

static void question_free(struct question *q)
{
	free(q->text);
	free(q->outcome);
	free(q);
}

/* The chat a question of source goes to: the chat itself, a cron job's or hook's deliver
 * chat, else telegram.admin_chat. 0 = none. */
static int64_t question_chat(const struct telegram *t, const char *source, int64_t *thread)
{
	const struct config *cfg = t->cfg;
	int64_t chat = 0;

	*thread = 0;
	if (parse_source(source, &chat, thread) == 0)
		return chat;
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
};

static int write_question(struct store *s, void *arg)
{
	struct question_write *w = arg;
	struct tg_part part = {w->text, strlen(w->text), strlen(w->text)};

	if (w->file)
		return tg_outbox_add_file(s, w->chat_id, "sendDocument", w->file, w->text, &w->o);
	return tg_outbox_add(s, w->chat_id, &part, 1, false, &w->o);
}

static void question_write_free(void *arg, int rc)
{
	struct question_write *w = arg;

	if (rc < 0)
		log_error("telegram: chat %lld: a question was not queued (%s)",
			  (long long)w->chat_id, store_error(w->t->d->store));
	else if (!w->t->closing)
		kick_sender(w->t, 0);
	free(w->text);
	free(w->markup);
	free(w->tag);
	free(w->file);
	free(w);
}

/* Queues text for the chat with markup and tag: a new message, the document file with text
 * as its caption, or (edit_id not 0) an edit of message edit_id: of its caption when file is
 * not NULL (a document's), else of its text. */
static int queue_question(struct telegram *t, int64_t chat_id, int64_t thread, int64_t edit_id,
			  const char *text, const char *markup, const char *tag, const char *file)
{
	struct question_write *w = xcalloc(1, sizeof(*w));
	int rc;

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
		if (q->kind == TOOLS_Q_APPROVAL && i < 3)
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

static int ask_in_chat(const struct tools_question *q, void *arg)
{
	struct telegram *t = arg;
	struct question *k;
	int64_t thread, chat = question_chat(t, q->source, &thread);
	char tag[24], *markup, *file = NULL, *text;
	int rc;

	if (!chat || t->closing)
		return -ENOENT;
	if (q->kind == TOOLS_Q_APPROVAL)
		text = xasprintf("🔐 May I run this? (%s; no answer in %lld s = no)\n\n%s",
				 q->source, (long long)q->timeout_s, q->text);
	else
		text = xasprintf("❓ %s", q->text);
	if (strlen(text) > QUESTION_TEXT_MAX) {
		file = question_file(t, q);
		free(text);
		if (!file)
			return -EIO;
		text = xasprintf("🔐 May I run this? The whole call is in the file (%zu bytes). No "
				 "answer in %lld s = no.",
				 strlen(q->text), (long long)q->timeout_s);
	}
	snprintf(tag, sizeof(tag), "q:%016llx", (unsigned long long)q->id);
	markup = question_markup(q);
	rc = queue_question(t, chat, thread, 0, text, markup, tag, file);
	free(markup);
	if (rc < 0) {
		free(file);
		free(text);
		return rc;
	}
	k = xcalloc(1, sizeof(*k));
	*k = (struct question){t->questions, q->id, chat, thread, 0, text, NULL, file != NULL};
	free(file);
	t->questions = k;
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

static void question_closed(uint64_t id, const char *outcome, void *arg)
{
	struct telegram *t = arg;
	struct question *q = question_find(t, id, false);

	if (!q)
		return;
	if (!q->message_id) {
		free(q->outcome);
		q->outcome = xstrdup(outcome); /* edited once its message id is known */
		return;
	}
	question_find(t, id, true);
	close_message(t, q, outcome);
	question_free(q);
}

static const struct tools_asker telegram_asker = {ask_in_chat, question_closed};

static void tagged_sent(struct telegram *t, const char *tag, int64_t chat_id, int64_t message_id)
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
		question_free(q);
	}
}

#define CALLBACK_TEXT_MAX 190 /* bytes: Telegram shows at most 200 characters of an answer */

static void answer_callback(struct telegram *t, const char *query_id, const char *text)
{
	struct buf p;

	buf_init(&p, 0);
	buf_puts(&p, "{\"callback_query_id\":");
	buf_json_str(&p, query_id, strlen(query_id));
	if (text) {
		buf_puts(&p, ",\"text\":");
		buf_json_str(&p, text, utf8_cut(text, strnlen(text, CALLBACK_TEXT_MAX)));
	}
	buf_puts(&p, "}");
	api(t, "answerCallbackQuery", buf_str(&p), API_TIMEOUT_MS, ignore_answer, NULL);
	buf_finish(&p);
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
		answer_callback(t, query_id, "I do not know this button.");
		return;
	}
	source_of(chat_id, thread, source, sizeof(source));
	buf_init(&out, 0);
	if (op == 'd')
		reminders_delete(t->reminders, source, id, &out);
	else
		reminders_pause(t->reminders, source, id, op == 'p', &out);
	answer_callback(t, query_id, buf_str(&out));
	buf_finish(&out);
	buf_init(&list, 0);
	jobs_text(t, source, &list, &markup);
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
		answer_callback(t, query_id, "I do not know this button.");
		return;
	}
	buf_init(&out, 0);
	rc = tools_proposal_decide(t->cfg, data + 4, data[2] == 'a', &out);
	nl = strchr(buf_str(&out), '\n'); /* the first line says what happened */
	if (nl) {
		out.len = (size_t)(nl - out.data);
		out.data[out.len] = '\0';
	}
	answer_callback(t, query_id, buf_str(&out));
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

/* A button press: checked like a message (allowed users, allowed chats), always answered so
 * the client stops spinning. */
static void on_callback(struct telegram *t, const cJSON *cq)
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
	int n = 0;

	if (!cJSON_IsString(qid))
		return;
	if (!cJSON_IsNumber(uid) || !allowed(t->cfg, (int64_t)uid->valuedouble) ||
	    (!private && !group_allowed(t->cfg, chat_id))) {
		metric_inc(t->m_updates, (const char *const[]){"refused"}, 1);
		log_warn("telegram: a button press by user %lld refused (not in "
			 "telegram.allowed_users or not an allowed chat)",
			 cJSON_IsNumber(uid) ? (long long)uid->valuedouble : 0LL);
		answer_callback(t, qid->valuestring, "This is a private assistant.");
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
	if (cJSON_IsString(data) && strncmp(data->valuestring, "p:", 2) == 0) {
		on_proposal_press(t, qid->valuestring, data->valuestring, chat_id,
				  cJSON_IsNumber(mid) ? (int64_t)mid->valuedouble : 0,
				  cJSON_IsString(mtext) ? mtext->valuestring : "");
		return;
	}
	if (!cJSON_IsString(data) ||
	    sscanf(data->valuestring, "q:%16llx:%zu%n", &id, &choice, &n) != 2 ||
	    data->valuestring[n]) {
		answer_callback(t, qid->valuestring, "I do not know this button.");
		return;
	}
	if (!t->tools || tools_answer(t->tools, id, choice) < 0) {
		answer_callback(t, qid->valuestring, "This question has expired. Ask me again.");
		if (chat_id && cJSON_IsNumber(mid) && cJSON_IsString(mtext)) {
			edit_with_outcome(t, chat_id, (int64_t)mid->valuedouble, mtext->valuestring,
					  "Expired: ask again.", false);
		}
		return;
	}
	answer_callback(t, qid->valuestring, NULL);
}

/* ---- the poller ---------------------------------------------------------------------- */

static void schedule_poll(struct telegram *t, int64_t delay_ms)
{
	struct timeval tv = {(time_t)(delay_ms / 1000), (suseconds_t)(delay_ms % 1000 * 1000)};

	event_del(t->poll_ev);
	event_add(t->poll_ev, &tv);
}

static const char *error_kind(const struct answer *a)
{
	if (a->status == 0)
		return "network";
	if (a->error_code == 409)
		return "conflict";
	if (a->error_code == 429)
		return "rate_limited";
	if (a->error_code == 401 || a->error_code == 404)
		return "unauthorized";
	if (a->status >= 500)
		return "server";
	return "other";
}

/* Logs a failure once per change of kind; backs off; retries forever. */
static void poll_failed(struct telegram *t, const char *what, const struct answer *a)
{
	const char *kind = error_kind(a);
	int64_t wait;

	metric_inc(t->m_poll_errors, (const char *const[]){kind}, 1);
	if (t->err_kind != kind)
		log_warn("telegram: %s failed (%s: %s); retrying with backoff until it works", what,
			 kind, a->description ? a->description : "?");
	t->err_kind = kind;
	t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (t->backoff_ms > BACKOFF_MAX_MS)
		t->backoff_ms = BACKOFF_MAX_MS;
	wait = t->backoff_ms;
	if (a->retry_after_s * 1000 > wait)
		wait = a->retry_after_s * 1000;
	schedule_poll(t, wait);
}

static void pending_chat(int64_t chat_id, void *arg)
{
	chat_get(arg, chat_id);
}

/* Starts the chats with queued rows: one query, whatever the number of chats. */
static void kick_chats(struct telegram *t)
{
	reap_chats(t);
	if (tg_inbox_each_pending_chat(t->d->store, pending_chat, t) < 0)
		return;
	for (struct chat *c = t->chats; c; c = c->next)
		chat_next(c);
}

/* The next getUpdates confirms the offset, and Telegram then forgets the updates: it waits
 * until the commit that stored them is on disk (store_sync, off the loop), so a power loss
 * right after cannot lose a message the bot was given. */
struct poll_sync {
	struct telegram *t; /* NULL once the telegram is destroyed */
};

static void on_updates_synced(int rc, void *arg)
{
	struct poll_sync *w = arg;
	struct telegram *t = w->t;

	free(w);
	if (!t)
		return;
	t->sync = NULL;
	if (rc < 0)
		log_warn("telegram: syncing the stored updates to disk failed (%s); a power loss "
			 "now "
			 "could lose them",
			 strerror(-rc));
	if (!t->closing)
		schedule_poll(t, 0);
}

static int poll_after_sync(struct telegram *t)
{
	struct poll_sync *w = xcalloc(1, sizeof(*w));
	int rc;

	w->t = t;
	rc = store_sync(t->d->store, on_updates_synced, w);
	if (rc < 0) {
		free(w);
		return rc;
	}
	t->sync = w;
	return 0;
}

static void on_updates(struct telegram *t, const struct answer *a, void *arg)
{
	int64_t before = t->offset;
	const cJSON *u;

	if (t->closing)
		return;
	if (!a->ok || !cJSON_IsArray(a->result)) {
		poll_failed(t, "getUpdates", a);
		return;
	}
	if (t->err_kind)
		log_info("telegram: polling works again");
	t->err_kind = NULL;
	t->backoff_ms = 0;
	t->last_ok_ms = now_mono_ms();
	t->polled = true;
	metric_set(t->m_last_poll, NULL, (double)now_wall_ms() / 1000.0);
	if (store_updates(t, a->result) < 0) {
		if (!t->updates_unstored)
			log_error("telegram: updates not stored (%s); asking again every second",
				  store_error(t->d->store));
		t->updates_unstored = true;
		schedule_poll(t, BACKOFF_MIN_MS);
		return;
	}
	if (t->updates_unstored)
		log_info("telegram: updates are stored again");
	t->updates_unstored = false;
	/* Button presses act at once, not through the inbox: a turn waiting for an approval
	 * keeps its chat busy. A press whose update a crash hands over again finds its question
	 * answered already ("expired"), which is harmless. */
	cJSON_ArrayForEach(u, a->result)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(u, "update_id");
		const cJSON *cq = cJSON_GetObjectItemCaseSensitive(u, "callback_query");

		if (cq && cJSON_IsNumber(id) && (int64_t)id->valuedouble > before)
			on_callback(t, cq);
	}
	kick_chats(t);
	kick_sender(t, 0);
	if (t->offset > before && poll_after_sync(t) == 0)
		return;
	schedule_poll(t, 0);
}

static void poll_now(struct telegram *t)
{
	char params[160];

	snprintf(params, sizeof(params),
		 "{\"offset\":%lld,\"timeout\":%lld,\"allowed_updates\":[\"message\","
		 "\"callback_query\"]}",
		 (long long)(t->offset + 1), (long long)t->cfg->telegram.poll_timeout_s);
	api(t, "getUpdates", params, (t->cfg->telegram.poll_timeout_s + POLL_SLACK_S) * 1000,
	    on_updates, NULL);
}

static void on_webhook_deleted(struct telegram *t, const struct answer *a, void *arg)
{
	char *params, *menu;

	if (t->closing)
		return;
	if (!a->ok) {
		poll_failed(t, "deleteWebhook", a);
		return;
	}
	t->started_polling = true;
	menu = menu_json();
	params = xasprintf("{\"commands\":%s}", menu);
	free(menu);
	api(t, "setMyCommands", params, API_TIMEOUT_MS, ignore_answer, NULL);
	free(params);
	poll_now(t);
}

static void on_poll_event(evutil_socket_t fd, short what, void *arg)
{
	struct telegram *t = arg;

	if (t->closing)
		return;
	if (!t->started_polling)
		api(t, "deleteWebhook", "{\"drop_pending_updates\":false}", API_TIMEOUT_MS,
		    on_webhook_deleted, NULL);
	else
		poll_now(t);
}

/* ---- the sender ---------------------------------------------------------------------- */

struct sending {
	int64_t row;
	int64_t chat_id;
	bool html;
	char *text;
	char *file, *method; /* a file row: "" = text */
	int64_t thread, edit_id;
	char *markup, *tag; /* "" = none */
	int64_t reply_to;   /* 0 = none */
};

static void sending_free(struct sending *s)
{
	free(s->text);
	free(s->file);
	free(s->method);
	free(s->markup);
	free(s->tag);
	free(s);
}

struct row_done {
	struct telegram *t;
	int64_t row, chat_id;
	int (*op)(struct store *s, int64_t id); /* tg_outbox_delete or tg_outbox_unmark_sending */
	bool sent; /* Telegram took the part: a failed delete may repeat it */
};

static int row_done_exec(struct store *s, void *arg)
{
	struct row_done *d = arg;

	return d->op(s, d->row);
}

static void row_done_failed(const struct row_done *d)
{
	if (d->sent)
		log_warn("telegram: chat %lld: outbox part %lld was sent but not deleted (%s); it "
			 "may arrive twice",
			 (long long)d->chat_id, (long long)d->row, store_error(d->t->d->store));
	else
		log_error("telegram: chat %lld: outbox part %lld could not be updated (%s)",
			  (long long)d->chat_id, (long long)d->row, store_error(d->t->d->store));
}

static void on_row_done(void *arg, int rc)
{
	struct row_done *d = arg;

	if (rc < 0)
		row_done_failed(d);
	if (!d->t->closing)
		kick_sender(d->t, 0);
	free(d);
}

/* Runs op on a sent, refused or retried outbox row. While the
 * database is locked the write waits in memory and the sender pauses (on_send_event), so the
 * row is not sent again meanwhile. */
static void send_row_done(struct telegram *t, struct sending *s,
			  int (*op)(struct store *s, int64_t id), bool sent)
{
	struct row_done *d = xcalloc(1, sizeof(*d));
	int rc;

	*d = (struct row_done){t, s->row, s->chat_id, op, sent};
	rc = store_write(t->d->store, row_done_exec, d, on_row_done);
	if (rc != -EINPROGRESS) {
		if (rc < 0)
			row_done_failed(d);
		free(d);
	}
}

static void tagged_sent(struct telegram *t, const char *tag, int64_t chat_id, int64_t message_id);

static void on_sent(struct telegram *t, const struct answer *a, void *arg)
{
	struct sending *s = arg;
	struct chat *c = chat_get(t, s->chat_id);
	int64_t now = now_mono_ms();
	long next = 0;

	t->sending = false;
	budget_take(c, now);
	if (t->closing && !a->ok) {
		sending_free(s);
		return;
	}
	if (!a->ok && s->edit_id && a->description &&
	    strstr(a->description, "message is not modified")) {
		/* The final edit was made before a restart (or the live text was the final one):
		 * done, and no second final. */
		metric_inc(t->m_sent, (const char *const[]){"ok"}, 1);
		send_row_done(t, s, tg_outbox_delete, true);
		c->next_send_ms = now;
	} else if (!a->ok && s->edit_id && a->description &&
		   (strstr(a->description, "message to edit not found") ||
		    strstr(a->description, "message can't be edited"))) {
		/* The user deleted the live message (or it is too old to edit): a new one. */
		tg_outbox_make_send(t->d->store, s->row);
		c->next_send_ms = now;
	} else if (a->ok) {
		const cJSON *mid = cJSON_GetObjectItemCaseSensitive(a->result, "message_id");

		if (*s->tag && cJSON_IsNumber(mid))
			tagged_sent(t, s->tag, s->chat_id, (int64_t)mid->valuedouble);
		/* First thing after Telegram took it: the duplicate window closes here. */
		send_row_done(t, s, tg_outbox_delete, true);
		metric_inc(t->m_sent, (const char *const[]){"ok"}, 1);
		t->send_backoff_ms = 0;
	} else if (a->error_code == 429) {
		metric_inc(t->m_sent, (const char *const[]){"rate_limited"}, 1);
		send_row_done(t, s, tg_outbox_unmark_sending, false);
		budget_hold(c, now, a->retry_after_s);
	} else if (a->error_code == 400 && s->html && a->description &&
		   strstr(a->description, "can't parse entities")) {
		struct buf plain;

		/* Never drop a reply: the same part as plain text. */
		metric_inc(t->m_sent, (const char *const[]){"plain_fallback"}, 1);
		buf_init(&plain, 0);
		html_text_reduce(s->text, strlen(s->text), &plain);
		tg_outbox_make_plain(t->d->store, s->row, plain.len ? buf_str(&plain) : "(empty)");
		buf_finish(&plain);
		c->next_send_ms = now;
	} else if (a->status >= 400 && a->status < 500 && a->error_code != 401 &&
		   a->error_code != 404) {
		metric_inc(t->m_sent, (const char *const[]){"dropped"}, 1);
		log_error("telegram: a message to chat %lld was refused for good: %s",
			  (long long)s->chat_id, a->description ? a->description : "?");
		send_row_done(t, s, tg_outbox_delete, false);
	} else {
		metric_inc(t->m_sent, (const char *const[]){"retry"}, 1);
		t->send_backoff_ms = t->send_backoff_ms ? t->send_backoff_ms * 2 : BACKOFF_MIN_MS;
		if (t->send_backoff_ms > BACKOFF_MAX_MS)
			t->send_backoff_ms = BACKOFF_MAX_MS;
		log_warn("telegram: sendMessage failed (%s); retrying in %lld ms",
			 a->description ? a->description : "?", (long long)t->send_backoff_ms);
		next = (long)t->send_backoff_ms;
		if (a->status > 0 && a->status < 500) /* refused: not shown */
			send_row_done(t, s, tg_outbox_unmark_sending, false);
		if (a->status == 0)
			log_warn(
				"telegram: chat %lld: the part may arrive twice (Telegram may have "
				"taken it before the connection failed)",
				(long long)s->chat_id);
	}
	sending_free(s);
	if (!t->closing)
		kick_sender(t, next);
}

struct send_wait {
	struct telegram *t;
	int64_t now, wait; /* wait: ms until the earliest chat may send, -1 = none waits */
};

/* A chat that sent within SEND_GAP_MS (or was told to wait) is skipped; notes its wait. */
static bool may_send(int64_t chat_id, void *arg)
{
	struct send_wait *w = arg;
	struct chat *c = chat_find(w->t, chat_id);

	if (c && c->next_send_ms > w->now) {
		if (w->wait < 0 || c->next_send_ms - w->now < w->wait)
			w->wait = c->next_send_ms - w->now;
		return false;
	}
	return true;
}

/* A file row: multipart/form-data with the file streamed from home (never whole in memory).
 * A file that is gone or too big is reported to the chat instead. */
static void send_file_row(struct telegram *t, struct sending *s)
{
	const char *field = strcmp(s->method, "sendVoice") == 0	  ? "voice"
			    : strcmp(s->method, "sendPhoto") == 0 ? "photo"
								  : "document";
	long long cap = strcmp(field, "photo") == 0 ? PHOTO_MAX : UPLOAD_MAX;
	const char *base = strrchr(s->file, '/') ? strrchr(s->file, '/') + 1 : s->file;
	char boundary[48], ctype[96], *tail;
	int home_fd = safeio_open_home(t->cfg->home), fd = -1;
	struct stat st;
	struct buf head;
	struct httpc_opts o = {0};
	const char *headers[] = {ctype, NULL};

	if (home_fd >= 0) {
		fd = safeio_open_at(home_fd, s->file, O_RDONLY, 0);
		close(home_fd);
	}
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    st.st_size > cap) {
		char *why =
			xasprintf("I could not send %s: %s.", s->file,
				  fd < 0	     ? safeio_strerror(fd)
				  : st.st_size > cap ? "it is larger than Telegram takes from bots"
						     : "it is not a regular file with content");

		log_warn("telegram: chat %lld: %s", (long long)s->chat_id, why);
		if (fd >= 0)
			close(fd);
		tg_outbox_delete(t->d->store, s->row);
		outbox_add(t, s->chat_id, why);
		free(why);
		sending_free(s);
		kick_sender(t, 0);
		return;
	}
	snprintf(boundary, sizeof(boundary), "hermetic-out-%lld", (long long)s->row);
	snprintf(ctype, sizeof(ctype), "Content-Type: multipart/form-data; boundary=%s", boundary);
	buf_init(&head, 0);
	buf_printf(&head,
		   "--%s\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n%lld\r\n",
		   boundary, (long long)s->chat_id);
	if (*s->text)
		buf_printf(&head,
			   "--%s\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n%s\r\n",
			   boundary, s->text);
	if (s->thread)
		buf_printf(&head,
			   "--%s\r\nContent-Disposition: form-data; name=\"message_thread_id\""
			   "\r\n\r\n%lld\r\n",
			   boundary, (long long)s->thread);
	if (*s->markup)
		buf_printf(&head,
			   "--%s\r\nContent-Disposition: form-data; name=\"reply_markup\"\r\n\r\n%s"
			   "\r\n",
			   boundary, s->markup);
	buf_printf(&head,
		   "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
		   "Content-Type: %s\r\n\r\n",
		   boundary, field, base,
		   strcmp(field, "voice") == 0	 ? "audio/ogg"
		   : strcmp(field, "photo") == 0 ? "image/jpeg"
						 : "application/octet-stream");
	tail = xasprintf("\r\n--%s--\r\n", boundary);
	o.headers = headers;
	o.body = head.data;
	o.body_len = head.len;
	o.upload_fd = fd;
	o.upload_len = (size_t)st.st_size;
	o.body_tail = tail;
	o.timeout_ms = UPLOAD_TIMEOUT_MS;
	t->sending = true;
	api_post(t, s->method, &o, on_sent, s);
	free(tail);
	buf_finish(&head);
}

/* Sends the oldest outbox row of a chat that may send now; else waits for the earliest. */
static void on_send_event(evutil_socket_t fd, short what, void *arg)
{
	struct telegram *t = arg;
	struct send_wait w = {t, now_mono_ms(), -1};
	struct tg_outbox_row row = {0};
	struct sending *s;
	int rc;

	if (t->sending || t->closing)
		return;
	/* Writes wait for a locked database (maybe the delete of a sent row, which must land
	 * before the next send): look again shortly. */
	if (store_writes_waiting(t->d->store)) {
		kick_sender(t, 250);
		return;
	}
	reap_chats(t);
	rc = tg_outbox_next(t->d->store, may_send, &w, &row);
	if (rc == -EIO)
		return;
	if (rc < 0) {
		if (w.wait >= 0)
			kick_sender(t, (long)w.wait);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->row = row.id;
	s->chat_id = row.chat_id;
	s->text = row.text; /* taken */
	s->html = row.html;
	s->file = row.file;
	s->method = row.method;
	s->thread = row.thread_id;
	s->edit_id = row.edit_id;
	s->markup = row.markup;
	s->tag = row.tag;
	s->reply_to = row.reply_to;
	/* Marked before the call: after a crash, only rows marked so can show twice. A row that
	 * cannot be marked (the database is locked) is not sent yet. */
	if (tg_outbox_mark_sending(t->d->store, s->row) < 0) {
		sending_free(s);
		kick_sender(t, 250);
		return;
	}
	if (*s->file) {
		send_file_row(t, s);
		return;
	}
	{
		struct buf p;
		bool caption;

		buf_init(&p, 0);
		buf_printf(&p, "{\"chat_id\":%lld", (long long)s->chat_id);
		if (s->edit_id)
			buf_printf(&p, ",\"message_id\":%lld", (long long)s->edit_id);
		else if (s->thread)
			buf_printf(&p, ",\"message_thread_id\":%lld", (long long)s->thread);
		if (s->reply_to && !s->edit_id)
			buf_printf(&p,
				   ",\"reply_parameters\":{\"message_id\":%lld,"
				   "\"allow_sending_without_reply\":true}",
				   (long long)s->reply_to);
		if (*s->markup)
			buf_printf(&p, ",\"reply_markup\":%s", s->markup);
		caption = s->edit_id && strcmp(s->method, "editMessageCaption") == 0;
		buf_puts(&p, caption ? ",\"caption\":" : ",\"text\":");
		buf_json_str(&p, s->text, strlen(s->text));
		buf_printf(&p, "%s%s}", s->html ? ",\"parse_mode\":\"HTML\"" : "",
			   caption ? "" : ",\"disable_web_page_preview\":true");
		t->sending = true;
		api(t,
		    caption	 ? "editMessageCaption"
		    : s->edit_id ? "editMessageText"
				 : "sendMessage",
		    buf_str(&p), API_TIMEOUT_MS, on_sent, s);
		buf_finish(&p);
	}
}

/* ---- life ---------------------------------------------------------------------------- */

void telegram_set_breaker(struct telegram *t, struct breaker *b)
{
	if (t)
		t->breaker = b;
}

struct delivery {
	struct telegram *t;
	int64_t chat_id, thread;
	int64_t edit_id; /* 0, or the message the delivery replaces */
	char *markdown;
	char *markup; /* NULL, or the last part's buttons */
	char *tag;    /* NULL, or the last part's tag */
	int64_t reply_to;
};

static int write_delivery(struct store *s, void *arg)
{
	struct delivery *d = arg;
	int rc = store_begin(s);

	struct tg_out_opts o = {.thread_id = d->thread,
				.edit_id = d->edit_id,
				.markup = d->markup,
				.tag = d->tag,
				.reply_to = d->reply_to};

	if (rc == 0)
		rc = outbox_add_to(d->t, d->chat_id, d->markdown, &o);
	return store_end(s, rc);
}

static void delivery_free(struct delivery *d, int rc)
{
	if (rc < 0)
		log_error("telegram: delivery to chat %lld not stored: %s", (long long)d->chat_id,
			  store_error(d->t->d->store));
	if (!d->t->closing)
		kick_sender(d->t, 0);
	free(d->markdown);
	free(d->markup);
	free(d->tag);
	free(d);
}

static void on_delivery_stored(void *arg, int rc)
{
	delivery_free(arg, rc);
}

void telegram_deliver(struct telegram *t, int64_t chat_id, const char *markdown)
{
	telegram_deliver_thread(t, chat_id, 0, markdown);
}

void telegram_deliver_thread(struct telegram *t, int64_t chat_id, int64_t thread,
			     const char *markdown)
{
	telegram_send(t, &(struct telegram_msg){
				 .chat_id = chat_id, .thread = thread, .markdown = markdown});
}

void telegram_send(struct telegram *t, const struct telegram_msg *m)
{
	struct delivery *d = xcalloc(1, sizeof(*d));
	int rc;

	*d = (struct delivery){t,
			       m->chat_id,
			       m->thread,
			       m->edit_id,
			       xstrdup(m->markdown),
			       m->markup ? xstrdup(m->markup) : NULL,
			       m->tag ? xstrdup(m->tag) : NULL,
			       m->reply_to};
	rc = store_write(t->d->store, write_delivery, d, on_delivery_stored);
	if (rc != -EINPROGRESS)
		delivery_free(d, rc);
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
	answer_callback(t, query_id, text);
}

void telegram_propose(struct telegram *t, int64_t chat_id, const char *id, const char *markdown)
{
	char markup[256];

	snprintf(markup, sizeof(markup),
		 "{\"inline_keyboard\":[[{\"text\":\"Approve\",\"callback_data\":\"p:a:%.8s\","
		 "\"style\":\"success\"},{\"text\":\"Reject\",\"callback_data\":\"p:r:%.8s\","
		 "\"style\":\"danger\"}]]}",
		 id, id);
	telegram_send(t, &(struct telegram_msg){
				 .chat_id = chat_id, .markdown = markdown, .markup = markup});
}

struct file_out {
	struct telegram *t;
	int64_t chat_id, thread;
	char *method, *rel, *caption;
};

static int write_file_out(struct store *s, void *arg)
{
	struct file_out *f = arg;

	struct tg_out_opts o = {.thread_id = f->thread};

	return tg_outbox_add_file(s, f->chat_id, f->method, f->rel, f->caption, &o);
}

static void file_out_free(void *arg, int rc)
{
	struct file_out *f = arg;

	if (rc < 0)
		log_error("telegram: chat %lld: %s not queued: %s", (long long)f->chat_id, f->rel,
			  store_error(f->t->d->store));
	else if (!f->t->closing)
		kick_sender(f->t, 0);
	free(f->method);
	free(f->rel);
	free(f->caption);
	free(f);
}

static int queue_file(struct telegram *t, int64_t chat_id, int64_t thread, const char *method,
		      const char *rel, const char *caption)
{
	struct file_out *f = xcalloc(1, sizeof(*f));
	int rc;

	*f = (struct file_out){t, chat_id, thread, xstrdup(method), xstrdup(rel), xstrdup(caption)};
	rc = store_write(t->d->store, write_file_out, f, file_out_free);
	if (rc == -EINPROGRESS)
		return 0;
	file_out_free(f, rc);
	return rc;
}

/* send_voice (telegram.voice_replies: when_asked): the speech is made, then queued as a
 * voice message. A restart in between loses it (the tool already answered "queued"). */
struct voice_out {
	struct telegram *t;
	int64_t chat_id, thread;
};

static void on_voice_made(const char *rel, const char *error, void *arg)
{
	struct voice_out *v = arg;

	if (error)
		log_warn("telegram: chat %lld: send_voice: %s", (long long)v->chat_id, error);
	else if (!v->t->closing)
		queue_file(v->t, v->chat_id, v->thread, "sendVoice", rel, NULL);
	free(v);
}

static int64_t voice_seq;

/* "telegram:<chat>" or "telegram:<chat>:<thread>" (source_of). 0 or -EINVAL. */
static int parse_source(const char *source, int64_t *chat_id, int64_t *thread)
{
	char num[24];
	const char *colon;
	size_t n;

	*thread = 0;
	if (strncmp(source, "telegram:", 9) != 0)
		return -EINVAL;
	source += 9;
	colon = strchr(source, ':');
	n = colon ? (size_t)(colon - source) : strlen(source);
	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, source, n);
	num[n] = '\0';
	if (parse_i64(num, INT64_MIN + 1, INT64_MAX, chat_id) < 0)
		return -EINVAL;
	if (colon && parse_i64(colon + 1, 1, INT64_MAX, thread) < 0)
		return -EINVAL;
	return 0;
}

int telegram_outlet(const char *source, const char *method, const char *rel, const char *caption,
		    char *err, size_t err_len, void *arg)
{
	struct telegram *t = arg;
	int64_t chat_id, thread;
	int rc;

	if (!t || parse_source(source, &chat_id, &thread) < 0) {
		snprintf(err, err_len, "this turn is not a Telegram chat (%s)",
			 *source ? source : "no source");
		return -ENOTSUP;
	}
	if (strcmp(method, "speak") == 0) {
		struct tg_media_env env = {t->cfg, t->d->loop, t->router};
		struct voice_out *v = xcalloc(1, sizeof(*v));

		*v = (struct voice_out){t, chat_id, thread};
		/* Its own file name: the negative sequence never meets an update id. */
		rc = tg_media_speak(&env, -(++voice_seq) - now_wall_ms() * 1000, caption,
				    on_voice_made, v, NULL);
		if (rc < 0) {
			free(v);
			snprintf(err, err_len, "no speech model (auxiliary.speech)");
		}
		return rc;
	}
	rc = queue_file(t, chat_id, thread, method, rel, caption);
	if (rc < 0)
		snprintf(err, err_len, "the outbox could not store it");
	return rc;
}

bool telegram_ready(const struct telegram *t, char *why, size_t len)
{
	int64_t limit = 2 * t->cfg->telegram.poll_timeout_s * 1000;
	int64_t age = now_mono_ms() - t->last_ok_ms;

	if (limit < 10000)
		limit = 10000;
	if (age <= limit)
		return true;
	snprintf(why, len, "telegram: no successful poll for %lld s (%s)\n",
		 (long long)(age / 1000), t->err_kind ? t->err_kind : "waiting");
	return false;
}

int64_t telegram_poll_age_ms(const struct telegram *t)
{
	return now_mono_ms() - t->last_ok_ms;
}

bool telegram_polled(const struct telegram *t)
{
	return t->polled;
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

struct telegram *telegram_create(struct daemon *d, struct agent *agent, struct mcp *mcp,
				 struct spend *spend, struct router *router)
{
	struct telegram *t;
	char *value = NULL;

	if (!d->cfg->telegram.enabled)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->d = d;
	t->cfg = d->cfg;
	t->agent = agent;
	t->mcp = mcp;
	t->spend = spend;
	t->router = router;
	t->last_ok_ms = now_mono_ms();
	if (store_kv_get(d->store, OFFSET_KEY, &value) == 0)
		parse_i64(value, 0, INT64_MAX, &t->offset);
	free(value);
	t->poll_ev = evtimer_new(loop_base(d->loop), on_poll_event, t);
	t->send_ev = evtimer_new(loop_base(d->loop), on_send_event, t);
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
	kick_chats(t);
	kick_sender(t, 0);
}

void telegram_start(struct telegram *t)
{
	if (!t)
		return;
	resume(t);
	schedule_poll(t, 0);
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
		question_free(q);
	}
	for (struct chat *c = t->chats; c; c = c->next) {
		if (c->turn)
			agent_cancel(c->turn);
		if (c->media)
			tg_media_cancel(c->media);
		if (c->speak_rc)
			router_cancel(c->speak_rc);
	}
	for (struct api_call *c = t->calls; c; c = c->next)
		if (c->cb != on_sent)
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
		chat_free(c);
	}
	event_free(t->poll_ev);
	event_free(t->send_ev);
	event_free(t->prune_ev);
	free(t);
}

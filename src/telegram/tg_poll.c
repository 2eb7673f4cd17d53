/* tg_poll: the bot's intake (the whole is described in telegram.c). Owns the poller
 * (deleteWebhook -> setMyCommands -> getUpdates, its backoff, /readyz's view of it) and what
 * each update goes through before it is stored: who may write (allowed users and chats, the bot
 * itself), strangers (logged once, one refusal a day: tg_strangers), /stop at once, topics,
 * quotes and their trust, and the one transaction that stores a batch with its offset.
 * It does not run rows (telegram.c), send (tg_outbox.c) or handle presses (tg_questions.c).
 */
#include "telegram/telegram_int.h"
#include "tools/tools.h"
#include "agent/agent.h"
#include "net/daemon.h"
#include "core/metrics.h"
#include "core/store.h"
#include "telegram/tg_media.h"
#include "telegram/tg_store.h"
#include "telegram/tg_token.h"
#include "router/router.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- receiving updates --------------------------------------------------------------- */

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
	return tg_allowed(cfg, uid) || (uid != 0 && uid == bot_id(cfg));
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
		tg_outbox_markdown(t, chat_id, "This is a private assistant. Sorry.");
}

/* /stop acts at once, not after the turn it should stop. */
static bool stop_now(struct telegram *t, int64_t chat_id, const char *text)
{
	struct chat *c;

	if (strncmp(text, "/stop", 5) != 0 || (text[5] && text[5] != '@' && text[5] != ' '))
		return false;
	c = tg_chat_get(t, chat_id);
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

/* The owner's message in a chat whose draft card waits for its edit (Edit pressed) is the new
 * draft, not a message for the agent: kept, and handed to the card once the batch is stored
 * (taking it asks the card again, which writes to the store). */
static bool draft_edit(struct telegram *t, int64_t chat_id, int64_t thread, int64_t user_id,
		       const cJSON *msg)
{
	const char *text = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(msg, "text"));
	const char *uname = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(msg, "from"), "username"));
	struct draft_edit *e, **p;
	uint64_t id;

	/* A command (/stop, /new) stays a command: the card goes on waiting for its draft. */
	if (!t->tools || !text || *text == '/' || !(id = tg_draft_wait_take(t, chat_id, thread)))
		return false;
	e = xcalloc(1, sizeof(*e));
	e->id = id;
	if (uname)
		snprintf(e->who, sizeof(e->who), "@%.40s", uname);
	else
		snprintf(e->who, sizeof(e->who), "telegram user %lld", (long long)user_id);
	e->text = xstrdup(text);
	for (p = &t->edits; *p; p = &(*p)->next)
		;
	*p = e;
	return true;
}

/* The batch is stored (ok) or not: its draft edits are taken, or dropped (polled again). */
static void take_edits(struct telegram *t, bool ok)
{
	while (t->edits) {
		struct draft_edit *e = t->edits;

		t->edits = e->next;
		/* The wait was a card's edit, or an MCP server's question (tg_elicit_wait). */
		if (ok && tools_draft_edit(t->tools, e->id, e->text, e->who) < 0 &&
		    tools_answer_text(t->tools, e->id, e->who, e->text) < 0)
			log_warn("telegram: question %016llx closed before its reply arrived",
				 (unsigned long long)e->id);
		free(e->text);
		free(e);
	}
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
	if (!private && !tg_group_allowed(t->cfg, chat_id)) {
		metric_inc(t->m_updates, (const char *const[]){"refused"}, 1);
		if (tg_allowed(t->cfg, user_id))
			log_warn("telegram: message from user %lld in chat %lld ignored (a %s chat "
				 "not in telegram.allowed_chats)",
				 (long long)user_id, (long long)chat_id,
				 cJSON_IsString(type) ? type->valuestring : "non-private");
		return;
	}
	if (!tg_allowed(t->cfg, user_id)) {
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
	if (cJSON_IsString(text) && tg_signin_paste(t, chat_id, text->valuestring)) {
		metric_inc(t->m_updates, (const char *const[]){"handled"}, 1);
		return;
	}
	if (cJSON_IsString(text) && draft_edit(t, chat_id, topic_of(msg), user_id, msg)) {
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
	if (!media && cJSON_IsString(text) &&
	    tg_tasks_intake(t, chat_id, topic_of(msg), body, untrusted)) {
		free(quoted);
		metric_inc(t->m_updates, (const char *const[]){"handled"}, 1);
		return;
	}
	tg_inbox_insert(ins, update_id, chat_id, user_id, quoted ? quoted : body, kind, media,
			topic_of(msg), cJSON_IsNumber(mid) ? (int64_t)mid->valuedouble : 0,
			untrusted);
	free(quoted);
	free(media);
	metric_inc(t->m_updates, (const char *const[]){"handled"}, 1);
	tg_chat_get(t, chat_id);
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
	take_edits(t, rc == 0);
	tg_signin_take(t, rc == 0);
	return rc;
}

/* ---- the poller ---------------------------------------------------------------------- */

void tg_schedule_poll(struct telegram *t, int64_t delay_ms)
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

/* A wrong token stays wrong until someone changes it and restarts: the poller asks again in
 * slow steps (1, 2, 4 ... 30 min) and says the line once per step, not once a second. */
static int64_t token_refused(struct telegram *t, const struct answer *a)
{
	char line[512];

	t->token_backoff_ms = t->token_backoff_ms ? t->token_backoff_ms * 2 : TOKEN_BACKOFF_MIN_MS;
	if (t->token_backoff_ms > TOKEN_BACKOFF_MAX_MS)
		t->token_backoff_ms = TOKEN_BACKOFF_MAX_MS;
	tg_token_refused_text(a->error_code, line, sizeof(line));
	log_error("%s; asking Telegram again in %lld min", line,
		  (long long)(t->token_backoff_ms / 60000));
	t->token_error = a->error_code;
	return t->token_backoff_ms;
}

/* Logs a failure once per change of kind (a wrong token once per step); backs off; retries
 * forever. */
static void poll_failed(struct telegram *t, const char *what, const struct answer *a)
{
	const char *kind = error_kind(a);
	int64_t wait;

	metric_inc(t->m_poll_errors, (const char *const[]){kind}, 1);
	if (a->status != 0 && tg_token_refused(a->error_code, a->description)) {
		t->err_kind = kind;
		tg_schedule_poll(t, token_refused(t, a));
		return;
	}
	t->token_error = 0;
	t->token_backoff_ms = 0;
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
	tg_schedule_poll(t, wait);
}

static void pending_chat(int64_t chat_id, void *arg)
{
	tg_chat_get(arg, chat_id);
}

/* Starts the chats with queued rows: one query, whatever the number of chats. */
void tg_kick_chats(struct telegram *t)
{
	tg_reap_chats(t);
	if (tg_inbox_each_pending_chat(t->d->store, pending_chat, t) < 0)
		return;
	for (struct chat *c = t->chats; c; c = c->next)
		t->cbs->chat_next(c);
}

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
		tg_schedule_poll(t, 0);
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
	t->token_error = 0;
	t->token_backoff_ms = 0;
	t->last_ok_ms = now_mono_ms();
	t->polled = true;
	metric_set(t->m_last_poll, NULL, (double)now_wall_ms() / 1000.0);
	if (store_updates(t, a->result) < 0) {
		if (!t->updates_unstored)
			log_error("telegram: updates not stored (%s); asking again every second",
				  store_error(t->d->store));
		t->updates_unstored = true;
		tg_schedule_poll(t, BACKOFF_MIN_MS);
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
			tg_on_callback(t, cq);
	}
	tg_kick_chats(t);
	tg_kick_sender(t, 0);
	if (t->offset > before && poll_after_sync(t) == 0)
		return;
	tg_schedule_poll(t, 0);
}

static void poll_now(struct telegram *t)
{
	char params[160];

	snprintf(params, sizeof(params),
		 "{\"offset\":%lld,\"timeout\":%lld,\"allowed_updates\":[\"message\","
		 "\"callback_query\"]}",
		 (long long)(t->offset + 1), (long long)t->cfg->telegram.poll_timeout_s);
	tg_api(t, "getUpdates", params, (t->cfg->telegram.poll_timeout_s + POLL_SLACK_S) * 1000,
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
	t->token_error = 0;
	t->token_backoff_ms = 0;
	t->started_polling = true;
	menu = tg_menu_json();
	params = xasprintf("{\"commands\":%s}", menu);
	free(menu);
	tg_api(t, "setMyCommands", params, API_TIMEOUT_MS, tg_ignore_answer, NULL);
	free(params);
	poll_now(t);
}

void tg_on_poll_event(evutil_socket_t fd, short what, void *arg)
{
	struct telegram *t = arg;

	if (t->closing)
		return;
	if (!t->started_polling)
		tg_api(t, "deleteWebhook", "{\"drop_pending_updates\":false}", API_TIMEOUT_MS,
		       on_webhook_deleted, NULL);
	else
		poll_now(t);
}

bool telegram_ready(const struct telegram *t, char *why, size_t len)
{
	int64_t limit = 2 * t->cfg->telegram.poll_timeout_s * 1000;
	int64_t age = now_mono_ms() - t->last_ok_ms;

	if (limit < 10000)
		limit = 10000;
	if (t->token_error) {
		char line[512];

		tg_token_refused_text(t->token_error, line, sizeof(line));
		snprintf(why, len, "%s\n", line);
		return false;
	}
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

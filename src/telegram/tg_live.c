/* tg_live: a running turn as its chat sees it (the whole is described in telegram.c). Owns the
 * live message (a draft, or a message of the bot's edited with the answer so far and the
 * tool that runs: telegram.stream, telegram.progress) and reactions to the user's message,
 * all within the chat's rate budget. The final answer is not sent here: it goes through the
 * outbox as an edit of the live message (telegram.c, tg_finish_row).
 */
#include "telegram/telegram_int.h"
#include "net/daemon.h"
#include "core/loop.h"
#include "core/store.h"
#include "router/router.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the live message ---------------------------------------------------------------- */

void tg_live_clear(struct live *l)
{
	free(l->answer);
	free(l->progress);
	free(l->shown);
	free(l->final);
	l->answer = l->progress = l->shown = l->final = NULL;
	l->message_id = l->draft_id = 0;
}

void tg_live_key(int64_t update_id, char *out, size_t len)
{
	snprintf(out, len, LIVE_KEY "%lld", (long long)update_id);
}

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
			tg_live_kick(c);
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
			tg_live_key(c->busy_update, key, sizeof(key));
			snprintf(value, sizeof(value), "%lld", (long long)l->message_id);
			if (store_kv_put(t->d->store, key, value) < 0)
				log_debug("telegram: chat %lld: live message id not stored",
					  (long long)c->id);
		}
	} else if (a->error_code == 429) {
		tg_budget_hold(c, now, a->retry_after_s);
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
		c->t->cbs->live_finish(c);
	else
		tg_live_kick(c);
}

static void on_reacted(struct telegram *t, const struct answer *a, void *arg)
{
	struct chat *c = arg;

	c->live.react_flight = false;
	if (t->closing)
		return;
	if (a->error_code == 429) {
		/* Flood control: the reaction waits for retry_after like everything else. */
		bool newer = false;

		tg_budget_hold(c, now_mono_ms(), a->retry_after_s);
		for (int i = 0; i < c->live.n_react; i++)
			newer = newer || c->live.react[i].message_id == c->live.react_sent_to;
		if (!newer) /* a newer reaction for the message replaces this one */
			tg_react(c, c->live.react_sent_to, c->live.react_sent);
		tg_live_kick(c);
		return;
	}
	if (!a->ok)
		log_debug("telegram: chat %lld: reaction not set: %s", (long long)c->id,
			  a->description ? a->description : "?");
	tg_live_kick(c);
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
	tg_budget_take(c, now);
	tg_api(c->t, "setMessageReaction", params, API_TIMEOUT_MS, on_reacted, c);
}

/* Reactions wait for the chat's budget; one not sent yet is replaced by a newer one for the
 * same message (Telegram would replace it anyway), and when REACT_MAX wait the oldest goes. */
void tg_react(struct chat *c, int64_t message_id, const char *emoji)
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
	tg_live_kick(c);
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
	if (l->n_react && tg_budget_ok(c, now)) {
		send_reaction(c, now);
		return;
	}
	if (!tg_budget_ok(c, now) || now - l->last_ms < t->cfg->telegram.edit_every_ms) {
		tg_live_kick(c);
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
	tg_budget_take(c, now);
	free(l->sending);
	l->sending = buf_steal(&text);
	tg_api(t,
	       l->draft_id     ? "sendMessageDraft"
	       : l->message_id ? "editMessageText"
			       : "sendMessage",
	       buf_str(&p), API_TIMEOUT_MS, on_live_sent, c);
	buf_finish(&p);
}

/* The next update, when the budget and edit_every_ms allow. */
void tg_live_kick(struct chat *c)
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

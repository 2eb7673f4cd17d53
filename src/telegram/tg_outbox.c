/* tg_outbox: the bot's sending side (the whole is described in telegram.c). Owns turning
 * Markdown into outbox parts (HTML with a plain fallback, split under
 * 4096 UTF-16 units, at most MAX_PARTS), the sender (one sendMessage, edit or file at a time,
 * 429 and retries, the row deleted once Telegram took it) and the public ways into the
 * outbox (telegram_deliver, telegram_send, telegram_propose, telegram_outlet). The per-chat
 * rate budget it draws on is tg_api.c's.
 * It does not decide what a reply says (telegram.c, tg_commands.c); the SQL is tg_store.c's.
 */
#include "telegram/telegram_int.h"
#include "net/daemon.h"
#include "net/html_text.h"
#include "net/httpc.h"
#include "core/metrics.h"
#include "core/store.h"
#include "telegram/tg_format.h"
#include "telegram/tg_media.h"
#include "telegram/tg_store.h"
#include "core/safeio.h"
#include "router/router.h"
#include "core/log.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- sending -------------------------------------------------------------------------- */

void tg_kick_sender(struct telegram *t, long delay_ms)
{
	struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};

	if (t->sending)
		return;
	event_del(t->send_ev);
	event_add(t->send_ev, &tv);
}

/* Appends the reply parts for markdown to the outbox (inside the caller's transaction); o
 * (may be NULL) says where they go, which message the first edits, the last one's buttons. */
int tg_outbox_markdown_to(struct telegram *t, int64_t chat_id, const char *markdown,
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

int tg_outbox_markdown(struct telegram *t, int64_t chat_id, const char *markdown)
{
	return tg_outbox_markdown_to(t, chat_id, markdown, NULL);
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
		tg_kick_sender(d->t, 0);
	free(d);
}

/* Runs op on a sent, refused or retried outbox row. While the
 * database is locked the write waits in memory and the sender pauses (tg_on_send_event), so the
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

void tg_on_sent(struct telegram *t, const struct answer *a, void *arg)
{
	struct sending *s = arg;
	struct chat *c = tg_chat_get(t, s->chat_id);
	int64_t now = now_mono_ms();
	long next = 0;

	t->sending = false;
	tg_budget_take(c, now);
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
			t->cbs->tagged_sent(t, s->tag, s->chat_id, (int64_t)mid->valuedouble);
		/* First thing after Telegram took it: the duplicate window closes here. */
		send_row_done(t, s, tg_outbox_delete, true);
		metric_inc(t->m_sent, (const char *const[]){"ok"}, 1);
		t->send_backoff_ms = 0;
	} else if (a->error_code == 429) {
		metric_inc(t->m_sent, (const char *const[]){"rate_limited"}, 1);
		send_row_done(t, s, tg_outbox_unmark_sending, false);
		tg_budget_hold(c, now, a->retry_after_s);
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
		tg_kick_sender(t, next);
}

struct send_wait {
	struct telegram *t;
	int64_t now, wait; /* wait: ms until the earliest chat may send, -1 = none waits */
};

/* A chat that sent within SEND_GAP_MS (or was told to wait) is skipped; notes its wait. */
static bool may_send(int64_t chat_id, void *arg)
{
	struct send_wait *w = arg;
	struct chat *c = tg_chat_find(w->t, chat_id);

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
		tg_outbox_markdown(t, s->chat_id, why);
		free(why);
		sending_free(s);
		tg_kick_sender(t, 0);
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
	tg_api_post(t, s->method, &o, tg_on_sent, s);
	free(tail);
	buf_finish(&head);
}

/* Sends the oldest outbox row of a chat that may send now; else waits for the earliest. */
void tg_on_send_event(evutil_socket_t fd, short what, void *arg)
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
		tg_kick_sender(t, 250);
		return;
	}
	tg_reap_chats(t);
	rc = tg_outbox_next(t->d->store, may_send, &w, &row);
	if (rc == -EIO)
		return;
	if (rc < 0) {
		if (w.wait >= 0)
			tg_kick_sender(t, (long)w.wait);
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
		tg_kick_sender(t, 250);
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
		tg_api(t,
		       caption	    ? "editMessageCaption"
		       : s->edit_id ? "editMessageText"
				    : "sendMessage",
		       buf_str(&p), API_TIMEOUT_MS, tg_on_sent, s);
		buf_finish(&p);
	}
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
		rc = tg_outbox_markdown_to(d->t, d->chat_id, d->markdown, &o);
	return store_end(s, rc);
}

static void delivery_free(struct delivery *d, int rc)
{
	if (rc < 0)
		log_error("telegram: delivery to chat %lld not stored: %s", (long long)d->chat_id,
			  store_error(d->t->d->store));
	if (!d->t->closing)
		tg_kick_sender(d->t, 0);
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
		tg_kick_sender(f->t, 0);
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

int telegram_outlet(const char *source, const char *method, const char *rel, const char *caption,
		    char *err, size_t err_len, void *arg)
{
	struct telegram *t = arg;
	int64_t chat_id, thread;
	int rc;

	if (!t || tg_parse_source(source, &chat_id, &thread) < 0) {
		snprintf(err, err_len, "this turn is not a Telegram chat (%s)",
			 *source ? source : "no source");
		return -ENOTSUP;
	}
	if (strcmp(method, "speak") == 0) {
		struct tg_media_env env = {t->cfg, t->d->loop, t->router, tg_lane_of(t, source)};
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

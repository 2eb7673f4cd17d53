/* notify: an alert through one channel. Each channel is one httpc request: ntfy gets the text
 * as the POST body with Title, Priority and Tags headers (docs.ntfy.sh/publish); a webhook gets
 * a small JSON object; e-mail goes through httpc's SMTP submission as a plain-text RFC 5322
 * message. The answer is read only for its status (2xx = taken) and, on failure, a short
 * redacted excerpt for the error.
 *
 * Title and text are redacted, then made valid UTF-8 and capped by utf8_clip (an ellipsis
 * where cut): a strict JSON receiver refuses invalid UTF-8, and ntfy keeps a body that is not
 * UTF-8, or longer than its 4096-byte message limit, as an attachment instead of a message.
 *
 * Rejected: ntfy's JSON publishing to the server root (the topic URL is what users copy from
 * the app, and the plain POST is ntfy's first documented form); MIME multipart mail (nothing
 * to attach); retrying here (the alerts module decides what is worth sending again).
 */
#include "net/notify.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"
#include "net/httpc.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX    (16 * 1024)
#define ERROR_EXCERPT 160
#define TITLE_MAX     250
#define TEXT_MAX      (32 * 1024)
#define NTFY_TEXT_MAX 4096 /* ntfy's message-size-limit: a longer body becomes an attachment */

struct notify_req {
	struct httpc_req *http;
	notify_done_cb done;
	void *arg;
	bool mail;
};

/* s redacted (before it is cut: half a secret is not recognised), as valid UTF-8 of at most
 * max bytes. malloc'd. */
static char *clean(const char *s, size_t max)
{
	char *redacted = log_redact(s ? s : ""), *out = utf8_clip_dup(redacted, max, true);

	free(redacted);
	return out;
}

char *notify_webhook_body(const struct notify_msg *m)
{
	cJSON *root = cJSON_CreateObject();
	char when[RFC3339_LEN], *title = clean(m->title, TITLE_MAX),
				*text = clean(m->text, TEXT_MAX);
	char *s;

	rfc3339_utc(m->ts_wall_ms, false, when);
	cJSON_AddStringToObject(root, "source", "hermetic");
	cJSON_AddStringToObject(root, "status", m->resolved ? "resolved" : "firing");
	cJSON_AddStringToObject(root, "key", m->key);
	cJSON_AddStringToObject(root, "title", title);
	cJSON_AddStringToObject(root, "text", text);
	cJSON_AddStringToObject(root, "time", when);
	if (m->host)
		cJSON_AddStringToObject(root, "host", m->host);
	s = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	free(title);
	free(text);
	return s;
}

char *notify_ntfy_body(const struct notify_msg *m)
{
	return clean(m->text, NTFY_TEXT_MAX);
}

/* Copies s with line ends made CRLF and other control bytes but tab dropped. */
static void put_crlf(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			buf_puts(out, "\r\n");
		else if ((unsigned char)*s >= 0x20 || *s == '\t')
			buf_append(out, s, 1);
	}
}

/* A header value on one line: control bytes (CR, LF) become spaces. */
static void put_line(struct buf *out, const char *s)
{
	for (; *s; s++)
		buf_append(out, (unsigned char)*s < 0x20 ? " " : s, 1);
}

char *notify_email_message(const struct config_alert_channel *ch, const struct notify_msg *m)
{
	static unsigned long serial;
	time_t t = (time_t)(m->ts_wall_ms / 1000);
	char date[64], *title = clean(m->title, TITLE_MAX), *text = clean(m->text, TEXT_MAX);
	struct tm tm;
	struct buf out;
	size_t i;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	buf_init(&out, 0);
	buf_printf(&out, "Date: %s\r\nFrom: <", date);
	put_line(&out, ch->from);
	buf_puts(&out, ">\r\nTo: ");
	for (i = 0; i < ch->n_to; i++) {
		buf_puts(&out, i ? ", <" : "<");
		put_line(&out, ch->to[i]);
		buf_puts(&out, ">");
	}
	buf_printf(&out, "\r\nMessage-ID: <%lld.%ld.%lu@hermetic>\r\nSubject: [hermetic] %s",
		   (long long)m->ts_wall_ms, (long)getpid(), ++serial,
		   m->resolved ? "RESOLVED: " : "");
	put_line(&out, title);
	buf_puts(&out, "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
		       "Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n");
	put_crlf(&out, text);
	buf_printf(&out, "\r\n\r\n-- \r\nhermetic alert %s%s%s\r\n", m->key,
		   m->host ? " from " : "", m->host ? m->host : "");
	free(title);
	free(text);
	return buf_steal(&out);
}

/* "HTTP 401: <the start of the answer>", redacted before it is cut. */
static char *http_error(struct httpc_req *req)
{
	size_t len;
	char *excerpt = clean(httpc_body(req, &len), ERROR_EXCERPT), *s;

	for (char *p = excerpt; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	s = xasprintf("HTTP %ld: %s", httpc_status(req), excerpt);
	free(excerpt);
	return s;
}

static void on_http_done(struct httpc_req *req, void *arg)
{
	struct notify_req *r = arg;
	long status = httpc_status(req);
	char *err = NULL;
	bool ok = false;

	if (httpc_result(req) != HTTPC_OK)
		err = xstrdup(httpc_error(req));
	else if (r->mail || (status >= 200 && status < 300))
		ok = true;
	else
		err = http_error(req);
	r->done(ok, err, r->arg);
	free(err);
	free(r);
}

static const char *const ntfy_tags[2] = {"warning", "white_check_mark"};

static int start(struct loop *l, const struct config_alert_channel *ch, const struct notify_msg *m,
		 struct notify_req *r)
{
	struct httpc_opts o = {0};
	struct httpc_mail mail = {0};
	const char *headers[6] = {NULL};
	char *auth = NULL, *title = NULL, *prio = NULL, *tags = NULL, *body = NULL;
	size_t h = 0;
	int rc;

	o.url = ch->url;
	o.timeout_ms = ch->timeout_s * 1000;
	o.connect_timeout_ms = o.timeout_ms < 10000 ? o.timeout_ms : 10000;
	o.max_response_bytes = ANSWER_MAX;
	if (ch->token) {
		auth = xasprintf("Authorization: Bearer %s", ch->token);
		headers[h++] = auth;
	}
	if (ch->type == CONFIG_ALERT_EMAIL) {
		mail.from = ch->from;
		mail.rcpt = (const char *const *)ch->to;
		mail.username = ch->username;
		mail.password = ch->password;
		mail.plain = ch->plain_loopback;
		o.mail = &mail;
		body = notify_email_message(ch, m);
		r->mail = true;
	} else if (ch->type == CONFIG_ALERT_NTFY) {
		struct buf t;
		char *line = clean(m->title, TITLE_MAX);

		buf_init(&t, 0);
		buf_puts(&t, "Title: ");
		if (m->resolved)
			buf_puts(&t, "RESOLVED: ");
		put_line(&t, line);
		free(line);
		title = buf_steal(&t);
		prio = xasprintf("Priority: %lld", m->resolved ? 3LL : (long long)ch->priority);
		tags = xasprintf("Tags: %s", ntfy_tags[m->resolved]);
		headers[h++] = title;
		headers[h++] = prio;
		headers[h++] = tags;
		headers[h++] = "Content-Type: text/plain; charset=utf-8";
		body = notify_ntfy_body(m);
	} else {
		headers[h++] = "Content-Type: application/json";
		body = notify_webhook_body(m);
	}
	o.headers = headers;
	o.body = body;
	o.body_len = strlen(body);
	rc = httpc_start(l, &o, on_http_done, r, &r->http);
	free(auth);
	free(title);
	free(prio);
	free(tags);
	free(body);
	return rc < 0 ? -EINVAL : 0;
}

int notify_send(struct loop *l, const struct config_alert_channel *ch, const struct notify_msg *m,
		notify_done_cb done, void *arg, struct notify_req **out)
{
	struct notify_req *r = xcalloc(1, sizeof(*r));

	r->done = done;
	r->arg = arg;
	if (start(l, ch, m, r) < 0) {
		free(r);
		return -EINVAL;
	}
	if (out)
		*out = r;
	return 0;
}

void notify_cancel(struct notify_req *r)
{
	httpc_cancel(r->http);
}

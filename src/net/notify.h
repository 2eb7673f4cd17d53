/* notify: one alert message through one alerts.channels[] entry, asynchronously on the loop:
 * e-mail (SMTP through httpc's mail submission), ntfy (an HTTP POST of the text to the topic
 * URL) or a generic JSON webhook.
 *
 * Async contract (httpc's): if notify_send returns an error, done never fires; otherwise it
 * fires exactly once, from the loop, on success, failure, timeout or cancel. Every send is
 * bounded in time (the channel's timeout_s) and in the answer it reads (16 KiB). Title and
 * text pass through log_redact before they leave, so a registered secret never goes out in an
 * alert; error strings handed to done are redacted too.
 */
#ifndef HERMETIC_NOTIFY_H
#define HERMETIC_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_alert_channel;
struct loop;
struct notify_req;

struct notify_msg {
	const char *key;   /* stable id of the alert ("breaker", "cron:backup") */
	const char *title; /* one line */
	const char *text;  /* the body, plain text */
	bool resolved;	   /* the condition cleared */
	int64_t ts_wall_ms;
	const char *host; /* where it comes from (the node name); may be NULL */
};

/* ok: the channel took the message. error: why not (redacted), borrowed for the call. */
typedef void (*notify_done_cb)(bool ok, const char *error, void *arg);

/* Sends m (copied) through ch (borrowed; must outlive the request). Returns 0, or -EINVAL when
 * the request cannot start (a bad URL): done does not fire then. out, if not NULL, gets the
 * request for notify_cancel until done fires. */
int notify_send(struct loop *l, const struct config_alert_channel *ch, const struct notify_msg *m,
		notify_done_cb done, void *arg, struct notify_req **out);
/* done fires later with ok false ("cancelled"). Not after done has fired. */
void notify_cancel(struct notify_req *r);

/* The pieces, for tests: the RFC 5322 message of an e-mail channel (CRLF line ends, lines
 * starting with '.' left to curl's dot-stuffing), the JSON body of a webhook and the body of
 * an ntfy POST. Each is valid UTF-8 whatever title and text hold (utf8_clip: invalid bytes
 * become U+FFFD; the title is cut to 250 bytes, the text to 32 KiB, for ntfy to 4096). */
char *notify_email_message(const struct config_alert_channel *ch, const struct notify_msg *m);
char *notify_webhook_body(const struct notify_msg *m);
char *notify_ntfy_body(const struct notify_msg *m);

#endif

/* telegram: the private Telegram bot of `hermetic gateway`, over the Bot API's long polling.
 *
 * Updates are made durable before anything else happens: each allowed message goes into an
 * inbox table in the same transaction that advances the stored offset, so a crash or restart
 * loses none and getUpdates never hands one over twice. Each chat works through its inbox in
 * order, one agent turn at a time (a message that arrives during a turn waits; /stop cancels
 * the turn at once). Answers are rendered to Telegram's HTML (md4c), split at 4096 UTF-16
 * units, and written to an outbox table in the same transaction that marks the inbox row
 * done; a sender drains the outbox at most one message per second per chat, honours 429
 * retry_after, falls back to plain text on 400 "can't parse entities", and retries network
 * and server errors forever. Cron and hook deliveries go through the same outbox.
 *
 * Delivery is at least once: sendMessage has no idempotency key, so a part Telegram took
 * shows twice when the gateway dies before its outbox row is deleted (the statement right
 * after the answer), or when the connection breaks after Telegram took it (retried). A row
 * is marked `sending` before its call; only marked rows can show twice, and their resend
 * after a restart is logged. A clean stop waits (bounded) for the send in flight.
 *
 * A turn cut short by a crash continues from its stored messages (agent origin); a row whose
 * start the process did not survive twice is answered "this message could not be processed".
 * Only private chats are served, and groups named in telegram.allowed_chats.
 */
#ifndef HERMETIC_TELEGRAM_H
#define HERMETIC_TELEGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent;
struct breaker;
struct config;
struct daemon;
struct mcp;
struct spend;
struct router;
struct telegram;
struct tools;
struct reminders;

/* d (borrowed) gives the config, loop, store, metrics and start time. agent, mcp and spend
 * are borrowed (spend may be NULL: /usage then shows session numbers only). Returns NULL when
 * Telegram is not configured (no token). */
struct telegram *telegram_create(struct daemon *d, struct agent *agent, struct mcp *mcp,
				 struct spend *spend, struct router *router);
/* tools_outlet_cb for send_file: queues rel for the chat of a "telegram:<chat>" source. */
int telegram_outlet(const char *source, const char *method, const char *rel, const char *caption,
		    char *err, size_t err_len, void *arg);
/* Clears a webhook, registers the commands, resumes queued work and starts polling. */
void telegram_start(struct telegram *t);
/* Cancels running turns and in-flight requests (their rows stay queued for the next start)
 * and frees; a sendMessage in flight is given up to 3 s to finish first (cut, it would be
 * sent again at the next start). Accepts NULL. */
/* Approvals and ask_user are asked in chats and answered by their buttons (tools borrowed;
 * must outlive t). */
void telegram_set_tools(struct telegram *t, struct tools *tools);
/* Delivers a proposal's notice (Markdown) to chat_id with Approve and Reject buttons for
 * proposal id (the same as /approve ID and /reject ID). */
void telegram_propose(struct telegram *t, int64_t chat_id, const char *id, const char *markdown);
/* /jobs lists and changes the chat's reminders in r (borrowed; NULL = off). */
void telegram_set_reminders(struct telegram *t, struct reminders *r);
struct tasks;
/* /bg and /tasks start, list, stop and steer background tasks in ts (borrowed; NULL = off). */
void telegram_set_tasks(struct telegram *t, struct tasks *ts);
struct mcp_signin;
/* MCP sign-ins that need a person go to the owner (the first of telegram.allowed_users) as a
 * "Sign in to NAME" button; the address the browser ended on, pasted into a chat, completes
 * one (tg_signin.c). s borrowed, must outlive t; accepts NULL t or s. */
void telegram_set_signin(struct telegram *t, struct mcp_signin *s);
void telegram_destroy(struct telegram *t);

/* False when Telegram refused the token (why: tg_token_refused_text's line, at once), or when
 * no poll has succeeded for longer than twice telegram.poll_timeout_s, and at least 10 s (a
 * shorter limit flaps with a 1-4 s poll timeout and one slow round trip; the README says the
 * same); why says so. */
bool telegram_ready(const struct telegram *t, char *why, size_t len);
/* Milliseconds since the last successful getUpdates (or since start, before the first). */
int64_t telegram_poll_age_ms(const struct telegram *t);
/* Whether a getUpdates has succeeded since the start (the age above counts from the start
 * until one has). */
bool telegram_polled(const struct telegram *t);

/* The bleed breaker /status shows and /resume closes (borrowed, may be NULL). Accepts a
 * NULL t. */
void telegram_set_breaker(struct telegram *t, struct breaker *b);

/* Queues Markdown text for chat_id (cron and hook results); never dropped. */
void telegram_deliver(struct telegram *t, int64_t chat_id, const char *markdown);
/* The same into a topic of the chat (thread 0 = none): a reminder set in a topic fires there. */
void telegram_deliver_thread(struct telegram *t, int64_t chat_id, int64_t thread,
			     const char *markdown);

/* A message with more than telegram_deliver says (alert investigations, proposals, the jobs
 * list): markdown to chat_id (into topic thread, 0 = none), replying to reply_to (0 = none) or
 * editing edit_id (0 = none), with markup (inline keyboard JSON) and tag on its last part
 * (NULL = none). Queued durably like telegram_deliver; the strings are copied. */
struct telegram_msg {
	int64_t chat_id, thread, reply_to, edit_id;
	const char *markdown, *markup, *tag;
};
void telegram_send(struct telegram *t, const struct telegram_msg *m);

/* A press on a button of telegram_set_buttons, by an allowed user in an allowed chat (the
 * others are refused before this). Borrowed during the call. */
struct telegram_press {
	const char *query_id; /* answer it once with telegram_answer_press */
	const char *data;     /* callback_data, prefix included */
	int64_t chat_id, message_id;
	int64_t user_id;
	const char *who; /* "@name", else the first name, else "user <id>" */
};

/* Buttons whose callback_data starts with prefix go to press; the message id Telegram gives
 * a part tagged with a tag starting with prefix goes to sent. Both from the loop. */
struct telegram_buttons {
	const char *prefix; /* "a:" */
	void (*press)(const struct telegram_press *p, void *arg);
	void (*sent)(const char *tag, int64_t chat_id, int64_t message_id, void *arg);
};
/* b and arg borrowed for t's life. Accepts a NULL t. */
void telegram_set_buttons(struct telegram *t, const struct telegram_buttons *b, void *arg);
/* Answers a press (text NULL = none; cut to what Telegram shows). */
void telegram_answer_press(struct telegram *t, const char *query_id, const char *text);

#endif

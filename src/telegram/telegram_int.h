/* telegram_int: private to the Telegram bot's files (telegram.c, tg_poll.c, tg_outbox.c,
 * tg_live.c, tg_commands.c, tg_questions.c); nothing else includes it. It holds the bot's
 * state (struct telegram, struct chat, the live message), its limits, and the functions one
 * of its files calls in another, listed by the file that defines them (their contracts are
 * at the definitions). Everything else stays static in its file.
 */
#ifndef HERMETIC_TELEGRAM_INT_H
#define HERMETIC_TELEGRAM_INT_H

#include "telegram/telegram.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <event2/util.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agent_turn;
struct buf;
struct chat;
struct event;
struct httpc_opts;
struct httpc_req;
struct router_call;
struct session_info;
struct tools_asker;
struct tg_media;
struct tg_out_opts;

#define API_TIMEOUT_MS	     30000
#define POLL_SLACK_S	     15 /* HTTP timeout of getUpdates above its long-poll timeout */
#define BACKOFF_MIN_MS	     1000
#define BACKOFF_MAX_MS	     60000
#define TOKEN_BACKOFF_MIN_MS (60 * 1000)
#define TOKEN_BACKOFF_MAX_MS (30 * 60 * 1000)
#define SEND_GAP_MS	     1100 /* per chat: 1 s plus room for network jitter */
#define DRAIN_SEND_MS	     3000 /* a stop waits this long for a sendMessage in flight */
#define TYPING_EVERY_S	     4
#define MAX_PARTS	     64	  /* a reply longer than this many messages is cut */
#define GROUP_GAP_MS	     3100 /* 20 messages a minute in a group, plus jitter */
#define LIVE_MAX	     3800 /* bytes of an intermediate text (under 4096 UTF-16 units) */
#define LIVE_KEY	     "telegram.live." /* + update id: the message the turn shows in */
#define REACT_MAX	     4		      /* reactions waiting for the chat's budget */
#define QUOTE_MAX	     1000 /* bytes of a replied-to message brought into a turn */
#define TG_TEXT_MAX	     4096 /* UTF-16 units per message */
#define RESPONSE_MAX	     (4 * 1024 * 1024)
#define OFFSET_KEY	     "telegram.offset"
#define ECHO_KEY	     "telegram.echoed." /* + update id: the transcript was shown */
#define PRUNE_EVERY_S	     3600
#define UPLOAD_MAX	     (50LL * 1024 * 1024) /* Bot API upload cap (photos: 10 MB) */
#define PHOTO_MAX	     (10LL * 1024 * 1024)
#define UPLOAD_TIMEOUT_MS    300000
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
	int64_t thread;	    /* the busy row's topic, 0 = none */
	int64_t msg_id;	    /* the busy row's message (reactions) */
	struct live live;   /* the busy row's turn as Telegram shows it while it runs */
	char *markup;	    /* a command's reply keyboard (set by the handler, sent with it) */
	char *untrusted;    /* the busy row's tg_inbox_row.untrusted, NULL = trusted */
	int64_t steer_task; /* Steer was pressed: the next message goes to this task (tg_tasks) */
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

/* What the helpers (tg_live.c, tg_poll.c, tg_outbox.c) call back in the bot's owner,
 * telegram.c, which hands it over in t->cbs: they never call its functions by name. */
struct tg_cbs {
	/* The live update in flight was answered and the turn's final text waits in
	 * c->live.final: finish the row with it and take the chat's next row. */
	void (*live_finish)(struct chat *c);
	/* Takes the chat's oldest queued row, if the chat is idle (tg_chat_next). */
	void (*chat_next)(struct chat *c);
	/* The outbox part tagged tag was sent as message_id (tg_tagged_sent). */
	void (*tagged_sent)(struct telegram *t, const char *tag, int64_t chat_id,
			    int64_t message_id);
};

struct telegram {
	struct daemon *d;
	const struct tg_cbs *cbs; /* telegram.c's, for its helpers */
	const struct config *cfg;
	struct agent *agent;
	struct mcp *mcp;
	struct spend *spend;
	struct router *router;
	struct event *prune_ev;
	struct breaker *breaker;     /* NULL: /status and /resume say there is none */
	struct mcp_signin *signin;   /* MCP sign-ins sent to the owner (tg_signin.c); NULL = none */
	struct signin_paste *pastes; /* taken at intake, handled once the batch is stored */
	struct chat *chats;
	struct api_call *calls; /* in flight, for destroy */
	struct event *poll_ev, *send_ev;
	struct poll_sync *sync; /* stored updates being synced to disk before the next poll */
	int64_t offset;		/* last stored update_id */
	int64_t last_ok_ms;	/* last successful getUpdates (monotonic), or start */
	bool polled;		/* a getUpdates succeeded since the start */
	int64_t backoff_ms;
	const char *err_kind; /* current error state, NULL = healthy */
	long token_error;     /* Telegram refused the token with this code (401, 404), 0 = not */
	int64_t token_backoff_ms;
	bool started_polling;
	bool closing; /* telegram_destroy: answers only unwind, nothing new starts */
	bool sending;
	bool updates_unstored;	     /* the last batch could not be stored (logged once) */
	bool no_drafts;		     /* sendMessageDraft is unknown here: edits instead */
	struct tools *tools;	     /* approvals and ask_user answer here (telegram_set_tools) */
	struct reminders *reminders; /* /jobs (telegram_set_reminders), NULL = off */
	struct tasks *tasks;	     /* /bg, /tasks (telegram_set_tasks), NULL = off */
	const struct telegram_buttons *buttons; /* "a:" presses and tags, NULL = none */
	void *buttons_arg;
	struct question *questions; /* asked, not closed */
	/* ids of questions closed since start, a ring: a late or double press on one is told so
	 * and leaves the message alone (its close edit, maybe still queued, says how it ended) */
	uint64_t closed_ids[32];
	unsigned closed_next;
	struct draft_edit *edits; /* a batch's messages that edit a draft card (tg_poll.c) */
	struct draft_wait *waits; /* draft cards whose Edit was pressed, by chat */
	int64_t send_backoff_ms;
	int64_t refusals_minute; /* minute of the count below (strangers: tg_strangers) */
	int refusals_in_minute;
	struct metric *m_last_poll, *m_poll_errors, *m_updates, *m_sent;
};

/* The next getUpdates confirms the offset, and Telegram then forgets the updates: it waits
 * until the commit that stored them is on disk (store_sync, off the loop), so a power loss
 * right after cannot lose a message the bot was given. */
struct poll_sync {
	struct telegram *t; /* NULL once the telegram is destroyed */
};

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

/* A message that becomes a draft card's new draft, taken after its batch is stored. */
struct draft_edit {
	struct draft_edit *next;
	uint64_t id; /* the card's question */
	char who[48];
	char *text;
};

/* A draft card closed by Edit: the next message in its chat (and topic) is its new draft. */
struct draft_wait {
	struct draft_wait *next;
	uint64_t id;
	int64_t chat_id, thread;
};

/* The card waiting for an edit in chat and thread, unlinked; or 0. */
uint64_t tg_draft_wait_take(struct telegram *t, int64_t chat_id, int64_t thread);
/* An MCP server's question (TOOLS_Q_ELICIT) that takes a typed reply: the chat's next
 * message is its answer (tools_answer_text), as a card's edit is (the same waits). */
void tg_elicit_wait(struct telegram *t, uint64_t id, int64_t chat_id, int64_t thread);
/* Frees every wait (at destroy). */
void tg_draft_waits_free(struct telegram *t);

/* ---- tg_signin.c ---- */
/* At intake, inside the batch's transaction: an allowed user's message that is the address a
 * sign-in's browser ended on is kept for tg_signin_take (true); false when it is no such
 * address (a message for the agent). */
bool tg_signin_paste(struct telegram *t, int64_t chat_id, const char *text);
/* The batch is stored (ok): the pasted addresses complete their sign-ins (or are refused, said
 * in the chat); or not (it is polled again): they are dropped. */
void tg_signin_take(struct telegram *t, bool ok);

/* The tools layer asks its questions in chats through this (tg_questions.c). */
extern const struct tools_asker telegram_asker;

/* ---- tg_api.c: the bottom of the folder, it calls no other file of it ---- */

/* POSTs o's body (and upload) to method; cb fires exactly once, from the loop. */
void tg_api_post(struct telegram *t, const char *method, struct httpc_opts *o, api_cb cb,
		 void *arg);
/* POSTs params (a JSON object's text) to method; cb fires exactly once, from the loop. */
void tg_api(struct telegram *t, const char *method, const char *params, long timeout_ms, api_cb cb,
	    void *arg);
/* An api_cb for calls whose answer does not matter (a failure is logged at debug). */
void tg_ignore_answer(struct telegram *t, const struct answer *a, void *arg);
/* The chat may send, edit, type or react at now (monotonic ms). */
bool tg_budget_ok(const struct chat *c, int64_t now);
/* Spends the chat's budget for one call at now. */
void tg_budget_take(struct chat *c, int64_t now);
/* A 429's retry_after_s holds the whole chat. */
void tg_budget_hold(struct chat *c, int64_t now, long retry_after_s);

/* Answers a callback query (text may be NULL; cut to what Telegram shows). */
void tg_answer_callback(struct telegram *t, const char *query_id, const char *text);

/* ---- tg_chats.c: below everything but tg_api.c and tg_live_clear ---- */

/* A chat named by telegram.allowed_chats. */
bool tg_group_allowed(const struct config *cfg, int64_t chat_id);
/* A user named by telegram.allowed_users. */
bool tg_allowed(const struct config *cfg, int64_t user_id);
/* The chat's state, or NULL when it has none now. */
struct chat *tg_chat_find(struct telegram *t, int64_t id);
/* The chat's state, created when it has none (freed by tg_reap_chats when idle). */
struct chat *tg_chat_get(struct telegram *t, int64_t id);
/* Frees the chats with nothing to do; only from the top of an event callback. */
void tg_reap_chats(struct telegram *t);
/* Frees one chat taken off t->chats (telegram_destroy). */
void tg_chat_free(struct chat *c);

/* ---- tg_source.c ---- */

/* The session source of a chat or one topic in it: "telegram:<chat>[:<thread>]". */
void tg_source_of(int64_t chat_id, int64_t thread, char *out, size_t len);
/* Parses "telegram:<chat>[:<thread>]" (tg_source_of); 0 or -EINVAL. */
int tg_parse_source(const char *source, int64_t *chat_id, int64_t *thread);

/* ---- telegram.c, the owner: its helpers call back into it only through t->cbs (struct
 * tg_cbs; make lint's no-circle rule) ---- */

/* Stores reply (may be NULL) with the busy row's done mark, in one transaction (kept in memory
 * while state.db is locked: the chat stays busy until it is stored). */
void tg_finish_row(struct chat *c, const char *reply);
/* Takes the chat's oldest queued row, if the chat is idle. */
void tg_chat_next(struct chat *c);

/* ---- tg_poll.c ---- */

/* The next getUpdates in delay_ms. */
void tg_schedule_poll(struct telegram *t, int64_t delay_ms);
/* Starts the chats with queued rows (one query). */
void tg_kick_chats(struct telegram *t);
/* The poll timer's callback (arg: the telegram). */
void tg_on_poll_event(evutil_socket_t fd, short what, void *arg);

/* ---- tg_live.c ---- */

/* Frees the live message's texts and forgets its message. */
void tg_live_clear(struct live *l);
/* The kv key remembering the live message of the row update_id. */
void tg_live_key(int64_t update_id, char *out, size_t len);
/* Sets emoji on the user's message message_id when the chat's budget allows. */
void tg_react(struct chat *c, int64_t message_id, const char *emoji);
/* Schedules the live message's next update, within the budget and edit_every_ms. */
void tg_live_kick(struct chat *c);

/* ---- tg_commands.c ---- */

/* The lane of source's session for calls made outside a turn (media, speech): the config's
 * name, NULL = none, or a name no config has when it cannot be read (the router refuses it). */
const char *tg_lane_of(struct telegram *t, const char *source);
/* The model the chat's session uses (si: its session info, or NULL). */
const char *tg_current_model(struct telegram *t, struct chat *c, struct session_info *si);
/* The /jobs list of source (Markdown) into out, and *markup its keyboard (NULL = none). */
void tg_jobs_text(struct telegram *t, const char *source, struct buf *out, char **markup);
/* The setMyCommands menu as JSON, malloc'd. */
char *tg_menu_json(void);
/* Runs text when it is one of the commands and returns its reply (malloc'd), which the caller
 * stores with the row's done mark (tg_finish_row); NULL = not one (the text goes to the model). */
char *tg_command_run(struct chat *c, const char *text);

/* ---- tg_questions.c ---- */

/* Frees a question taken off t->questions. */
void tg_question_free(struct question *q);
/* The outbox part tagged tag was sent as message_id (a question or an "a:" button owner
 * learns its message). */
void tg_tagged_sent(struct telegram *t, const char *tag, int64_t chat_id, int64_t message_id);
/* Handles a callback_query update: checked like a message, always answered. */
void tg_on_callback(struct telegram *t, const cJSON *cq);

/* ---- tg_outbox.c ---- */

/* Runs the sender in delay_ms unless a send is in flight. */
void tg_kick_sender(struct telegram *t, long delay_ms);
/* Appends markdown's reply parts for chat_id to the outbox, inside the caller's transaction; o
 * (may be NULL) says where they go. 0 or store_fail's code. */
int tg_outbox_markdown_to(struct telegram *t, int64_t chat_id, const char *markdown,
			  const struct tg_out_opts *o);
/* tg_outbox_markdown_to without options. */
int tg_outbox_markdown(struct telegram *t, int64_t chat_id, const char *markdown);
/* The api_cb of a send (arg: its struct sending). */
void tg_on_sent(struct telegram *t, const struct answer *a, void *arg);
/* The sender's timer callback (arg: the telegram). */
void tg_on_send_event(evutil_socket_t fd, short what, void *arg);
/* ---- tg_tasks.c ---- */

/* At intake, inside the batch's transaction: /bg TEXT, /tasks, and the message that answers
 * a Steer press act at once (a running turn does not hold them up). True when text was one
 * of them and is answered. */
bool tg_tasks_intake(struct telegram *t, int64_t chat_id, int64_t thread, const char *text,
		     const char *untrusted);
/* A press on /tasks' buttons ("t:s:<id>" Stop, "t:g:<id>" Steer). */
void tg_tasks_press(struct telegram *t, const char *query_id, const char *data, int64_t chat_id,
		    int64_t thread);

#endif

/* agent_int: what the files of the agent module share: the turn's and the agent's state and
 * the functions the turn's owner calls in its helpers. Private to src/agent/agent*.c; everyone
 * else sees agent.h. Which file owns what (README.md draws who calls whom):
 *
 *   agent.c           the owner: the turn's states and transitions, start, limits, timeout,
 *                     finish, cancel; the only file that writes t->state
 *   agent_model.c     one model call: the request, the send, reading the answer; the split
 *   agent_stream.c    a streamed answer, assembled into the completion a plain call returns
 *   agent_tools.c     the answer's tool calls: dispatch, results; side calls and notices
 *   agent_compress.c  the context budget applied: shortening, one compression call, trimming
 *   agent_session.c   the session in the store: messages, loading, continuing, trust marks
 *   agent_prompt.c    the system prompt: persona, skills index, memory, the time line
 *   agent_lane.c      the turn's lane; agent_redact.c, agent_replay.c: how a call leaves
 *
 * The helpers never call agent.c: an asynchronous piece of work one of them started for the
 * turn (a model call, the compression call, the answer's tool calls) ends by handing its
 * outcome to t->owner (struct turn_cbs), as the router's callers get theirs through
 * router_cbs.
 */
#ifndef HERMETIC_AGENT_INT_H
#define HERMETIC_AGENT_INT_H

#include "agent/agent.h"
#include "agent/context.h"
#include "core/util.h"
#include "net/sse.h"
#include "router/router.h"
#include "tools/tools.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event;

#define MAX_TOOL_CALLS 32 /* per model answer; more are answered with an error */
#define LAST_SLOTS     64 /* sources whose last model call's usage is remembered */

/* The time, for the model, without breaking the provider's prompt cache: the system prompt
 * says when the conversation started (the same bytes in every call of the session), and a
 * user message that comes TIME_NOTE_AFTER_MS or more after the previous message of the session
 * starts with the time it was written, stored with it (so it never changes either). */
#define TIME_NOTE_AFTER_MS (15 * 60 * 1000)

struct call {
	struct agent_turn *t;
	char *id, *name, *args;
	char *result;
	bool is_error, started, done;
	struct tools_call *tc;
};

/* Where the turn is; written by agent.c only (the helpers read it). */
enum state { T_START, T_COMPRESS, T_MODEL, T_TOOLS, T_SUMMARY, T_END };

/* How a helper's work for the turn ended (struct turn_cbs). */
enum turn_event {
	TE_STEP,      /* go on: the compression call ended, the tools' results are stored */
	TE_CALLS,     /* the model answered with tool calls, now in t->calls */
	TE_ANSWER,    /* the model answered with text (the event's text) */
	TE_TIMED_OUT, /* the turn's timer cancelled the model call: the limit's summary next */
	TE_FAILED,    /* the model call failed (text: why); a summary call's limit stands */
	TE_UNREAD,    /* the model's answer could not be read (text: why) */
	TE_CANCELLED, /* the turn was cancelled while the call was in flight */
};

/* The owner's callbacks the helpers get through t->owner: their only way back into agent.c.
 * on_event fires once per piece of work; the owner may free t inside it, so the helper does
 * not touch t after the call. */
struct turn_cbs {
	void (*on_event)(struct agent_turn *t, enum turn_event ev, const char *text);
};

/* One tool call of a streamed answer, merged from its fragments. */
struct stream_call {
	int64_t index;
	struct buf id, name, args;
};

/* The streamed answer of the current model call, as it arrives. */
struct stream {
	bool on; /* the current model call asked for a stream */
	struct sse_parser sse;
	struct buf content;
	struct stream_call *calls; /* sorted by index */
	size_t n_calls;
	size_t bytes; /* content and tool-call text, against router.max_response_bytes */
	char *finish_reason;
	bool have_usage;
	int64_t prompt_tokens, completion_tokens, cached_tokens;
	bool done;   /* [DONE] seen, or cut */
	bool cut;    /* the text passed agent.answer_max_bytes: the rest was not read */
	char *error; /* why the answer is not whole (the turn's failure text), or NULL */
};

struct agent_turn {
	struct agent *a;
	const struct turn_cbs *owner; /* agent.c's */
	struct agent_turn *next;
	struct agent_cbs cbs;
	void *arg;
	char *source, *model, *system, *extra_system;
	/* The group that answered the turn's last model call (router_result.model_group: a
	 * fallback's or the lane's, not always model), or NULL before an answer. */
	char *answered;
	int64_t session_id;
	struct context_msg *msgs;
	size_t n_msgs, alloc_msgs;
	struct call *calls;
	size_t n_calls, next_call, running;
	struct router_call *rc;
	enum state state;
	enum agent_stop limit; /* AGENT_DONE while no limit was hit */
	struct event *timer;   /* turn_timeout_s */
	struct event *defer;   /* starts the turn from the loop */
	int model_calls, n_tool_calls, compressions;
	int64_t prompt_tokens, completion_tokens, last_bytes;
	int64_t last_prompt_tokens, cached_tokens; /* of the last model call */
	double cost_usd;
	struct stream stream;
	double max_cost_usd; /* this turn's cap: agent.max_turn_cost_usd or the caller's lower one
			      */
	bool compress_tried, cancelled, time_up;
	/* The turn's clock stops while a tool call waits for the human (an approval, ask_user):
	 * deadline_ms moves on by each wait; a timer firing during one waits for its end. */
	int asking;
	int64_t asking_since_ms, deadline_ms;
	int64_t started_ms, last_ms; /* the session's start and its last message (wall clock) */
	bool timeout_held;
	bool tainted, web_any; /* trust: see agent_session.c */
	/* The turn's lane (agent_lane.c): an index in cfg->lanes or LANE_NONE, and why; lost =
	 * the session's stored lane cannot be read or is gone from the config (nothing is
	 * reachable then). */
	int lane;
	bool lane_lost;
	struct redact_map *redact; /* the session's placeholders, once a call was redacted */
	char lane_why[96];
	struct tools_review review; /* a skill of the turn asks for review (tools.h) */
	char *fail_text;
	bool deferred; /* its model call found no room in a rate pool (agent_result) */
	long retry_after_s;
	char *stored_answer;	  /* a continued turn whose answer was already stored */
	struct agent_part *parts; /* copies; they go with the message marked parts */
	size_t n_parts;
	/* The tool list of the turn's first call, sent unchanged by its later calls: an MCP server
	 * that connects or changes its tools mid-turn would otherwise change the request's
	 * prefix, and the provider's cache would miss on all that follows it. */
	char *tools_json;
	const struct tools_scope *scope; /* NULL = every tool */
	/* The audit trail's turn line: its start, the skills it read ("a,b"), the user's text
	 * when audit.include_text. */
	int64_t audit_t0_ms;
	struct buf audit_skills;
	struct buf read; /* the tools it called, one per line: a draft card's sources */
	char *audit_in;
	/* Tools' side calls and lines for the human (see agent_tools.c). */
	struct buf side_keys; /* "\nkey\n..." of the side calls made */
	struct buf notices;   /* lines, shown after the answer */
	/* The caller's tool of this turn (agent_turn_opts.tool), or NULL; its call in flight
	 * is answered from local_ev (a tool's answer never comes from inside start_call). */
	const struct agent_tool *tool;
	struct event *local_ev;
	struct call *local_call;
	struct buf local_out;
	bool local_error;
	struct call *async_call; /* the own tool's call that answers later (agent_tool.start) */
	const char *purpose;	 /* agent_turn_opts.purpose, borrowed */
	const struct agent_watch *watch;
	struct agent_hold hold;		   /* what its model or compression call in flight holds */
	bool rerun_calls;		   /* agent_turn_opts.rerun_calls */
	const struct agent_replay *replay; /* agent_turn_opts.replay, borrowed */
};

/* The usage of a source's last model call, for agent_context_split. */
struct last_call {
	char *source; /* NULL = free slot */
	int64_t session_id, prompt_tokens, cached_tokens;
};

struct agent {
	struct agent_env env;
	struct agent_turn *turns;
	struct context_backoff backoff;
	struct last_call last[LAST_SLOTS];
	size_t next_last; /* the slot a new source takes (the oldest) */
};

/* ---- agent_model.c ---- */

/* Sends the turn's next model call with t->state T_MODEL, or T_SUMMARY (the limit's summary
 * call: note is what the model is told, no tools). Its answer comes as one event: TE_CALLS,
 * TE_ANSWER, TE_TIMED_OUT, TE_FAILED, TE_UNREAD or TE_CANCELLED. 0, or agent_send's error (no
 * event then). */
int agent_model_call(struct agent_turn *t, const char *tools_json, const char *note);

/* The parts of the request t would send now (no note, not streamed); budget_tokens is the
 * caller's. */
void agent_model_split(struct agent_turn *t, struct agent_context_split *out);

/* ---- agent_stream.c ---- */

/* Readies t->stream for the model call about to be sent. */
void agent_stream_begin(struct agent_turn *t);

void agent_stream_finish(struct stream *s);

/* The router_cbs of a streamed model call (on_done is agent_model.c's). */
void agent_stream_on_start(struct router_call *rc, const struct router_result *r, void *arg);
void agent_stream_on_data(struct router_call *rc, const char *data, size_t len, void *arg);

/* The completion a non-streamed call would have returned, from the streamed pieces. */
char *agent_stream_completion(const struct stream *s);

/* A streamed call that ended with status 200: whole ([DONE], no error), or why not. */
bool agent_stream_whole(const struct stream *s, const struct router_result *r);

/* ---- agent_tools.c ---- */

/* Copies the assistant message (content, tool_calls) out of the parsed answer into t->calls
 * and stores it. */
void agent_take_calls(struct agent_turn *t, const cJSON *calls, const char *content);
/* Starts the calls that may run now; when all are answered, stores them and reports TE_STEP. */
void agent_run_calls(struct agent_turn *t);

void agent_free_calls(struct agent_turn *t);

/* Asks the turn's own asynchronous tool call in flight, if any, to end soon. */
void agent_cancel_local(struct agent_turn *t);

/* ---- agent_compress.c ---- */

int64_t agent_budget_tokens(const struct agent_turn *t);

/* The request over the budget: old tool results shortened; true when it is still over it and
 * a compression call may be tried (once per turn, not in the session's backoff). */
bool agent_compress_wanted(struct agent_turn *t, size_t tools_bytes);

/* Sends the compression call (t->state T_COMPRESS); it ends with TE_STEP, the middle of the
 * history summarised or the session put in backoff. 0, or agent_send's error (no event). */
int agent_compress_call(struct agent_turn *t);

/* The oldest groups of messages left out until the request fits the budget. */
void agent_trim_context(struct agent_turn *t, size_t tools_bytes);

/* ---- agent_session.c ---- */

/* Stores a message (with its origin, may be NULL) and keeps it in memory (takes json). text
 * is what session_search indexes. */
int agent_add_msg_from(struct agent_turn *t, const char *role, char *json, const char *text,
		       const char *origin);
int agent_add_msg(struct agent_turn *t, const char *role, char *json, const char *text);

/* {"role":role,["tool_call_id":id,]"content":content}, allocated. */
char *agent_json_message(const char *role, const char *content, const char *tool_call_id);

/* Stores the turn's usage with the session's totals. */
void agent_store_usage(const struct agent_turn *t);
/* Which group answered the turn (t->answered) and which it asked for, kept with the session
 * for /usage and the cockpit (agent_answered_by). Nothing when no model answered. */
void agent_store_answered(const struct agent_turn *t);

/* The source's current session with its history into t: 0, -ENOENT when there is none, or
 * the store's error. */
int agent_load_current(struct agent_turn *t, const char *model, bool no_idle);

/* The source's session, continued or new; t->session_id, model and system set. */
int agent_open_session(struct agent_turn *t, const struct agent_turn_opts *o,
		       const char *user_text);

/* True when the session already holds the user message of origin (an interrupted turn): its
 * stored answer is t->stored_answer, or its unanswered tool calls are t->calls (a call that
 * is not read-only, nor the turn's own tool, answered "not run again"). */
bool agent_continues(struct agent_turn *t, const char *origin);

/* The kv key of the session's untrusted mark. */
void agent_taint_key(const struct agent_turn *t, char *key, size_t len);

/* Marks the turn, and later turns of its session, untrusted (by: what brought the text). */
void agent_taint(struct agent_turn *t, const char *by);

#define SOURCES_MAX 2000 /* bytes of agent_turn.read */

/* ---- agent_lane.c ---- */
/* The turn's lane from its session's mark, its chat and floor (agent_turn_opts.lane, may be
 * NULL), after agent_open_session. */
void agent_lane_start(struct agent_turn *t, const char *floor);
/* The turn read a skill / an MCP server's result: its lane may rise (stored at once). */
void agent_lane_skill(struct agent_turn *t, const char *skill);
void agent_lane_mcp(struct agent_turn *t, const char *server);
/* The lane name t's model calls carry (router_caller.lane), or NULL. */
const char *agent_lane_name(const struct agent_turn *t);
/* A request body of t (its turn's call or an auxiliary one) served by t's lane: "model" and
 * "fallbacks" set to the lane's groups (lane_route: the chosen group when the lane has it,
 * else the lane's first, the others as its only fallbacks). malloc'd, or NULL to send body as
 * it is (no lane, a lost one, a body that is not a JSON object with a model). */
char *agent_lane_route(const struct agent_turn *t, const char *body, size_t len);
/* The group that serves a call of t that chose `chosen` (lane_route's first): chosen itself in
 * no lane, a lost one, or when the lane lists it. Borrowed from chosen or the config. */
const char *agent_lane_group(const struct agent_turn *t, const char *chosen);
/* ---- agent_redact.c ---- */
/* router_chat for one of t's calls (caller: the agent, for purpose), its messages redacted when
 * t's lane asks for it. Every model call of a turn leaves through here: with a watcher, it
 * reserves into *hold first (-ENOSPC: a limit refused it, -ECANCELED: stopped; why says
 * which) and the caller's on_done hands the hold back with agent_watch_after. router_chat's
 * contract; -EINVAL (cb never fires) when a body for a redacting lane is not JSON. */
int agent_send(struct agent_turn *t, const char *purpose, const char *body, size_t len,
	       struct agent_hold *hold, const struct router_cbs *cbs, void *arg,
	       struct router_call **out);
/* A call agent_send let leave has ended (r: its result, NULL: it never left): its cost to
 * the watcher, its hold released. */
void agent_watch_after(struct agent_turn *t, struct agent_hold *hold,
		       const struct router_result *r);
/* ---- agent_replay.c ---- */
/* agent_send's call when t has a replay (agent_turn_opts.replay): served from the recording
 * (never the router), or sent through the router with its answer recorded. router_chat's
 * contract. */
int agent_replay_send(struct agent_turn *t, const char *purpose, const char *body, size_t len,
		      const struct router_caller *who, const struct router_cbs *cbs, void *arg,
		      struct router_call **out);
/* The answer's message (content, tool call arguments) with t's placeholders restored. */
void agent_restore_message(struct agent_turn *t, cJSON *msg);
/* The assistant's text of a completion body with t's placeholders restored, or NULL. */
char *agent_answer_text(struct agent_turn *t, const char *body, size_t len);
/* ---- agent_prompt.c ---- */

/* The system prompt of a session of source that starts with text (both may be NULL). */
char *agent_system_prompt_for(const struct agent *a, const char *source, const char *text);
/* Replaces the memory snapshot at the end of *system (a session's stored prompt, which holds
 * the shared files only) by what a turn in lane sees: the shared files and those of its lane
 * and the lanes below it. Nothing for lane NULL (no lane, or one no config has). */
void agent_prompt_lane_memory(const struct config *cfg, const char *lane, char **system);

/* ms (wall clock) as local time for the model: "Wed 2026-11-25 10:12 UTC". */
void agent_format_local(int64_t ms, char *out, size_t len);

/* The line saying when the conversation started, appended to the system prompt. */
void agent_append_now(const struct agent_turn *t, struct buf *b);

/* Where the skills index and the memory snapshot begin in a stored system prompt. */
void agent_system_sections(const char *sys, size_t *skills_at, size_t *memory_at);

#endif

/* agent: the tool-calling turn. A turn takes a user message for a source ("cli",
 * "telegram:<chat>", "cron:<job>" ...), continues that source's session (or starts one),
 * and runs the state machine
 *
 *   compress if needed -> model call (router, in process) -> tool calls? run them
 *   (consecutive read-only ones in parallel, results in call order) -> model call ... -> answer
 *
 * on the loop, persisting every message as it goes. Limits: agent.max_iterations model
 * calls, agent.max_turn_cost_usd, agent.turn_timeout_s. A limit ends the tool loop with one
 * last model call without tools that summarises where things stand, and the answer says
 * which limit stopped it.
 *
 * Async contract: agent_turn returns 0 and on_done fires exactly once, later, from the loop
 * (also when the turn fails before any model call, and on cancel). A negative return means
 * nothing fires: -EBUSY when the source already has a turn running, -EAGAIN when the turn
 * needs a new session and another process holds the lock of state.db (nothing was stored:
 * try again shortly), -EIO (store).
 */
#ifndef HERMETIC_AGENT_H
#define HERMETIC_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct loop;
struct router;
struct store;
struct tools;
struct tools_scope;
struct agent;
struct agent_turn;

struct agent_env {
	const struct config *cfg;
	struct loop *loop;
	struct router *router;
	struct tools *tools;
	struct store *store;
};

/* A file that goes with the turn's user message as an OpenAI content part. It is read from
 * home at each model call of the turn and never stored in the session: the stored message is
 * the text (which names the file), so later turns do not send it again. */
enum agent_part_kind {
	AGENT_PART_IMAGE, /* image_url with a data: URL */
	AGENT_PART_AUDIO, /* input_audio */
	AGENT_PART_PDF,	  /* file with a data: URL */
};

struct agent_part {
	enum agent_part_kind kind;
	const char *path;     /* relative to home */
	const char *type;     /* image: its MIME type; audio: input_audio's format ("ogg") */
	const char *filename; /* PDF: the name shown to the model */
};

/* A tool offered to one turn only (a health check's `report`), answered by its owner: the
 * turn appends schema_json to its tools array and, when the model calls name, calls call()
 * with the model's argument text instead of the tools layer. call appends what the model
 * reads to out and returns true when that is an error; the turn hands the result on from the
 * loop, as it does a tool's. Borrowed (with arg) until on_done. */
struct agent_tool_call; /* one call of a turn's own tool that answers later */

struct agent_tool {
	const char *name;
	const char *schema_json; /* one OpenAI tools entry: {"type":"function",...} */
	bool (*call)(const char *args_json, struct buf *out, void *arg);
	void *arg;
	/* Instead of call (which is then NULL): a tool whose answer takes time (`delegate`).
	 * start begins it; its owner answers with agent_tool_done(c, ...) exactly once, later,
	 * from the loop (never from inside start). cancel (may be NULL): the turn was stopped or
	 * ran out of time; the answer must still come, once. */
	void (*start)(const char *args_json, struct agent_tool_call *c, void *arg);
	void (*cancel)(struct agent_tool_call *c, void *arg);
};

/* Answers a call of a turn's own asynchronous tool (see struct agent_tool): text is what the
 * model reads (copied). Once per call, from the loop. */
void agent_tool_done(struct agent_tool_call *c, bool is_error, const char *text);

/* What one model call holds of a watcher's budget while it is in flight: the watcher's to
 * fill in before_call, handed back to after_call. */
struct agent_hold {
	double usd;
	int64_t tokens;
};

/* What watches one turn's calls (a task's node, agent/tasks.c). Borrowed until on_done. */
struct agent_watch {
	/* Before every model call of the turn (its own calls, the limit's summary, compression,
	 * tools' side calls): 0 lets it leave holding *hold; -ENOSPC (a limit) or -ECANCELED
	 * (stopped) refuses it, and the turn ends with AGENT_STOP_BUDGET (why: the limit in
	 * words, for the log). */
	int (*before_call)(void *arg, struct agent_hold *hold, char *why, size_t len);
	/* After every call before_call let leave, exactly once, also when it failed or was
	 * cancelled: what it cost; hold is released. */
	void (*after_call)(void *arg, const struct agent_hold *hold, double cost_usd,
			   int64_t tokens);
	/* Before a model call: NULL, or malloc'd guidance from the owner, added to the session
	 * as a user message so that this call reads it. */
	char *(*steer)(void *arg);
	void *arg;
};

/* One model answer of a recording (skill test --record / --replay). */
struct agent_answer {
	const char *purpose; /* "turn", "limit_summary", "compression", a tool's side call */
	const char *body;    /* the completion JSON (len bytes) */
	size_t len;
	double cost_usd;
	int64_t prompt_tokens, completion_tokens;
};

/* A turn's model calls recorded or served from a recording instead of the router (`hermetic
 * skill test --record|--replay`). Borrowed until on_done. */
struct agent_replay {
	/* Non-NULL: replay. The recorded answer to the turn's next model call (of purpose): 0
	 * with *out filled (borrowed until the next call of next), or < 0 with why when the
	 * recording has none or its next answer was to another purpose (the call then fails as
	 * an HTTP 500 would). The answer arrives from the loop, never from inside the call. */
	int (*next)(void *arg, const char *purpose, struct agent_answer *out, char *why,
		    size_t len);
	/* Non-NULL: record. Each answer the router gave with status 200, in call order. */
	void (*answered)(void *arg, const struct agent_answer *a);
	void *arg;
};

struct agent_turn_opts {
	const char *source; /* session key */
	const char *model;  /* NULL = the session's model, else cfg->model */
	bool fresh;	    /* start a new session with no history (cron, hooks) */
	/* Continue the source's open session however long it was idle (an investigation's Dig
	 * deeper, pressed hours later); otherwise agent.session_idle_minutes ends it. */
	bool no_idle;
	const char *extra_system; /* appended to the system prompt (e.g. a cron job's skills) */
	/* NULL, or what the message answers to outside the session (e.g. "telegram:<update>").
	 * It is stored with the user message; when the session already holds a message with
	 * this origin (a turn for it was cut short by a crash), the turn continues from the
	 * stored messages instead of adding the user text again, and an answer already stored
	 * after it is returned without a model call. */
	const char *origin;
	/* With origin: when the continued turn's last stored answer has tool calls without
	 * stored results (a crash while they ran), they are run from the stored answer instead
	 * of a new model call deciding again; a call of a tool that is not read-only is answered
	 * "not run again" (a task's turns: its own `delegate` is journaled). */
	bool rerun_calls;
	const struct agent_part *parts; /* copied */
	size_t n_parts;
	/* > 0: this turn's cost cap when below agent.max_turn_cost_usd (a reminder's cap);
	 * 0 = the global one. Reaching it stops the turn like the global cap (AGENT_STOP_COST). */
	double max_cost_usd;
	/* With max_cost_usd > 0: it is this turn's cap even above agent.max_turn_cost_usd (an
	 * alert investigation's own cap, alerts.investigate.max_cost_usd). */
	bool own_cap;
	/* NULL, or the only tools the turn is offered and may call (borrowed: must outlive the
	 * turn). */
	const struct tools_scope *scope;
	/* NULL, or a tool offered to this turn only (see struct agent_tool). */
	const struct agent_tool *tool;
	/* NULL, or why the user text holds someone else's words (a forwarded message, a quoted
	 * stranger, a received document): the turn starts tainted and so does the rest of its
	 * session, as after a tainting tool (docs/security.md, "Trust"). Borrowed. */
	const char *untrusted;
	/* NULL = "turn": what the router's audit and rate pools see the calls as ("task",
	 * "subagent"). Borrowed. */
	const char *purpose;
	/* NULL, or the watcher of this turn's calls (a task tree's budget, steering). */
	const struct agent_watch *watch;
	/* NULL, or the lane the turn starts in at least (docs/security.md, "Lanes"): a task's
	 * lane, taken from its chat's session when it was started, or a subagent's parent's.
	 * The turn may rise from it, never below it; a name the config no longer has fails
	 * closed (no model group is allowed). Borrowed. */
	const char *lane;
	/* NULL, or where the turn's model calls are recorded or replayed from (skill tests). */
	const struct agent_replay *replay;
};

enum agent_stop {
	AGENT_DONE,	       /* the model answered */
	AGENT_STOP_ITERATIONS, /* agent.max_iterations reached; the answer is a summary */
	AGENT_STOP_COST,       /* agent.max_turn_cost_usd reached */
	AGENT_STOP_TIME,       /* agent.turn_timeout_s reached */
	AGENT_CANCELLED,       /* agent_cancel; text may be empty */
	AGENT_FAILED,	   /* the model could not be reached, or the store failed: text says why */
	AGENT_STOP_BUDGET, /* the watcher refused the next call (a task tree's budget) */
};

struct agent_result {
	enum agent_stop stop;
	/* The answer (borrowed during on_done). Lines the turn's tools had for the human (a
	 * memory file condensed, a memory write that did not fit) follow it after a blank
	 * line, once each; they are not part of the session's stored answer. */
	const char *text;
	int64_t session_id;
	/* The group that answered the turn's last model call (after a fallback or the lane's
	 * reroute: the one that did, e.g. free2), else the one asked for; model_asked: the
	 * session's or the caller's group. */
	const char *model, *model_asked;
	int model_calls;
	int tool_calls;
	int compressions; /* auxiliary compression calls made in this turn (0 or 1) */
	int64_t prompt_tokens, completion_tokens;
	int64_t last_prompt_bytes;  /* size of the last request's body sent to the router */
	int64_t last_prompt_tokens; /* prompt tokens of the last model call (the provider's
				     * usage, else the router's estimate); 0 = no model call */
	/* Of those, the tokens the provider served from its prompt cache
	 * (usage.prompt_tokens_details.cached_tokens); 0 when it did not say. */
	int64_t cached_tokens;
	double cost_usd;
	/* AGENT_FAILED because a rate pool had no room for a model call within its class's
	 * max_wait_s (docs/pools.md): nothing is wrong but load; try again after retry_after_s. */
	bool deferred;
	long retry_after_s;
};

struct agent_cbs {
	/* Optional: a tool call is about to run / has a result (transcripts, progress). */
	void (*on_tool_call)(const char *name, const char *args, void *arg);
	void (*on_tool_result)(const char *name, bool is_error, const char *text, size_t len,
			       void *arg);
	void (*on_done)(const struct agent_result *r, void *arg);
	/* Optional (last, so positional initialisers of the fields above stay valid): the
	 * model's answer as it is generated. When set, every model call of the turn
	 * (the limit's summary call too, not the compression call) is streamed, and after each
	 * streamed event that added text this gets the whole text of the CURRENT model call so
	 * far (so_far[len] is a NUL; borrowed during the call): cumulative, growing, and starting
	 * again from "" when the model is called again after tool results. Called from the loop,
	 * never from inside agent_turn(); not throttled (the consumer throttles). It may call
	 * agent_cancel(). Tools, storage, limits and costs are the same as without it; a stream
	 * cut mid-way ends the turn AGENT_FAILED, and what was shown so far is not stored. */
	void (*on_text)(const char *so_far, size_t len, void *arg);
	/* Optional: a model call of the turn waits for room in a rate pool, about wait_ms
	 * (docs/pools.md), for a progress line. Called from the loop; it must not cancel. */
	void (*on_wait)(int64_t wait_ms, void *arg);
};

struct agent *agent_create(const struct agent_env *env);
/* Cancels running turns (their on_done fire from the loop first if the loop runs) and frees.
 * Accepts NULL. */
void agent_destroy(struct agent *a);

int agent_turn(struct agent *a, const struct agent_turn_opts *o, const char *user_text,
	       const struct agent_cbs *cbs, void *arg, struct agent_turn **out);
/* Aborts in-flight model and tool calls; what was said so far stays in the session; on_done
 * fires later with AGENT_CANCELLED. Not after on_done. */
void agent_cancel(struct agent_turn *t);
/* True when the turn has read untrusted text (docs/security.md, "Trust"). */
bool agent_turn_tainted(const struct agent_turn *t);
/* The turn's lane now (the config's name), or NULL for none; a lane lost from the config
 * gives a name no config has, so what inherits it fails closed too. */
const char *agent_turn_lane(const struct agent_turn *t);
/* The running turn of source, or NULL (for /stop). */
struct agent_turn *agent_find(struct agent *a, const char *source);

/* The lane of source's current session (docs/security.md, "Lanes"): *name (the config's,
 * NULL = none) and why ("chat -100123", "skill client-notes", "asked (/lane)"). 0, or the
 * store's negative errno (-ENOENT: the session's lane is gone from the config; why says it). */
int agent_lane_of(struct agent *a, const char *source, const char **name, char *why,
		  size_t why_len);
/* Raises the lane of source's session (/lane NAME), creating the session if there is none.
 * -ENOENT: no such lane; -EPERM: the session is already in a more sensitive lane (lanes only
 * rise; /new starts low); else the store's errno. */
int agent_raise_lane(struct agent *a, const char *source, const char *name);
/* Ends the source's session: the next turn starts a new one (/new, /reset). */
int agent_reset(struct agent *a, const char *source);
/* Sets the model of the source's session (/model). -ENOENT: not a model_list group;
 * -EPERM: the session is in a lane that does not list it (agent_lane_of names the lane;
 * its turns are served by the lane's groups) or in one gone from the config. */
int agent_set_model(struct agent *a, const char *source, const char *model);
/* Which group answered the last turn of source's current session and which it asked for
 * (they differ after a fallback or a lane's reroute), into answered/asked. 0; -ENOENT when
 * the session has no answered turn; or the store's negative errno. */
int agent_answered_by(struct agent *a, const char *source, char *answered, size_t answered_len,
		      char *asked, size_t asked_len);

/* One part of a request: its bytes in the request body (JSON-escaped where it is a string)
 * and its estimated tokens (bytes / 4, as the context budget counts them). */
struct agent_context_part {
	size_t bytes;
	int64_t tokens;
};

/* How the next request of a source would split (agent_context_split). The parts add up to
 * total: the body the agent would send the router now for the stored history (without a new
 * user message, the files that come with one, and the "stream" fields a streamed turn adds;
 * before the context budget's passes, which may shorten it). */
struct agent_context_split {
	int64_t session_id;    /* the current session, 0 = none (the split of a new session's) */
	int64_t budget_tokens; /* the model's context budget (context_budget_tokens) */
	struct agent_context_part persona; /* the persona, the current-time line and the
					    * system prompt's own separators */
	struct agent_context_part memory;  /* the memory snapshot section of the system prompt */
	struct agent_context_part skills;  /* the skills index section of the system prompt */
	struct agent_context_part tools;   /* the tool schemas ("tools" array) */
	struct agent_context_part history; /* the session's stored messages */
	struct agent_context_part framing; /* the JSON around them: model, keys, commas */
	struct agent_context_part total;
	size_t n_messages; /* stored messages in history */
	/* The last model call of this session in this process (kept in memory per source):
	 * its prompt tokens and the part of them served from the provider's prompt cache. */
	bool have_last;
	int64_t last_prompt_tokens, last_cached_tokens;
};

/* Fills out for source's current session (or the new session a turn would start: no
 * history; an idle session is ended, as a turn would end it). The session's model decides the
 * budget. Reads the store, the persona, the skills
 * and the memory files; synchronous, no model call. Returns 0, or a negative errno from the
 * store (-EBUSY: another process holds the database's lock). */
int agent_context_split(struct agent *a, const char *source, struct agent_context_split *out);

/* The system prompt a new session would get now (persona, skills index as for a session with
 * no first message, memory). */
char *agent_system_prompt(const struct agent *a);

const char *agent_stop_name(enum agent_stop s);

/* The review state a turn of source starts with (tools.h, struct tools_review): a cron run
 * whose job pins a skill whose workflow asks for review starts reviewing, as if it had read
 * the skill with skill_view; every other source starts with none. Reads the skills on disk. */
struct tools_review;
void agent_pinned_review(const struct config *cfg, const char *source, struct tools_review *review);

#endif

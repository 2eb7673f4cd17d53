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

struct config;
struct loop;
struct router;
struct store;
struct tools;
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

struct agent_turn_opts {
	const char *source;	  /* session key */
	const char *model;	  /* NULL = the session's model, else cfg->model */
	bool fresh;		  /* start a new session with no history (cron, hooks) */
	const char *extra_system; /* appended to the system prompt (e.g. a cron job's skills) */
	/* NULL, or what the message answers to outside the session (e.g. "telegram:<update>").
	 * It is stored with the user message; when the session already holds a message with
	 * this origin (a turn for it was cut short by a crash), the turn continues from the
	 * stored messages instead of adding the user text again, and an answer already stored
	 * after it is returned without a model call. */
	const char *origin;
	const struct agent_part *parts; /* copied */
	size_t n_parts;
	/* > 0: this turn's cost cap when below agent.max_turn_cost_usd (a reminder's cap);
	 * 0 = the global one. Reaching it stops the turn like the global cap (AGENT_STOP_COST). */
	double max_cost_usd;
};

enum agent_stop {
	AGENT_DONE,	       /* the model answered */
	AGENT_STOP_ITERATIONS, /* agent.max_iterations reached; the answer is a summary */
	AGENT_STOP_COST,       /* agent.max_turn_cost_usd reached */
	AGENT_STOP_TIME,       /* agent.turn_timeout_s reached */
	AGENT_CANCELLED,       /* agent_cancel; text may be empty */
	AGENT_FAILED, /* the model could not be reached, or the store failed: text says why */
};

struct agent_result {
	enum agent_stop stop;
	const char *text; /* the answer (borrowed during on_done) */
	int64_t session_id;
	const char *model;
	int model_calls;
	int tool_calls;
	int compressions; /* auxiliary compression calls made in this turn (0 or 1) */
	int64_t prompt_tokens, completion_tokens;
	int64_t last_prompt_bytes; /* size of the last request's body sent to the router */
	double cost_usd;
};

struct agent_cbs {
	/* Optional: a tool call is about to run / has a result (transcripts, progress). */
	void (*on_tool_call)(const char *name, const char *args, void *arg);
	void (*on_tool_result)(const char *name, bool is_error, const char *text, size_t len,
			       void *arg);
	void (*on_done)(const struct agent_result *r, void *arg);
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
/* The running turn of source, or NULL (for /stop). */
struct agent_turn *agent_find(struct agent *a, const char *source);

/* Ends the source's session: the next turn starts a new one (/new, /reset). */
int agent_reset(struct agent *a, const char *source);
/* Sets the model of the source's session (/model). -ENOENT: not a model_list group. */
int agent_set_model(struct agent *a, const char *source, const char *model);

/* The system prompt a new session would get now (persona, skills index, memory). */
char *agent_system_prompt(const struct agent *a);

const char *agent_stop_name(enum agent_stop s);

#endif

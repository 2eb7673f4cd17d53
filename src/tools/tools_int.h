/* tools_int: what tools.c and its helpers (tools_offer.c, tools_draft.c, tools_elicit.c) share
 * (not for other layers): the registry and a call's state, the owner's steps the helpers reach
 * through t->owner (struct tools_owner), and the helpers' entry points tools.c calls. Fields are
 * private to the tools layer.
 */
#ifndef HERMETIC_TOOLS_INT_H
#define HERMETIC_TOOLS_INT_H

#include "tools/tools.h"
#include "core/util.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

struct config_lane;
struct mcp_tool_info;
struct tool_def;

#define TOOLS_BUILTINS_MAX 24 /* builtin tools (tools.c's table) */
#define ASKERS_MAX	   2  /* the Telegram gateway and the web cockpit */

struct mcp_result;
struct tools_call;

/* The owner's steps of a call (tools.c) that its helpers, tools_draft.c and tools_elicit.c,
 * reach through t->owner: their only way back into tools.c, which calls them directly. */
struct tools_owner {
	/* A call of name with its event and output buffer, nothing started. */
	struct tools_call *(*call_new)(struct tools *t, const char *name, tools_call_cb cb,
				       void *arg);
	/* Copies what a call that waits needs of ctx. */
	void (*keep_ctx)(struct tools_call *c, const struct tools_ctx *ctx);
	/* A question's id: random, never 0. */
	uint64_t (*question_id)(void);
	/* Asks every asker: 0 and the call waits (its ev the question's timeout, timeout_s), or
	 * a negative errno with the reason in c->out. */
	int (*put_question)(struct tools_call *c, enum tools_q_kind kind, const char *text,
			    const char *const *choices, size_t n_choices);
	/* Ends the question: the askers told. */
	void (*end_question)(struct tools_call *c);
	/* The call's time limit (agent.tool_timeout_s) from now. */
	void (*arm_timeout)(struct tools_call *c);
	void (*run_builtin)(struct tools_call *c, const struct tool_def *d, const cJSON *args,
			    const struct tools_ctx *ctx);
	void (*run_mcp)(struct tools_call *c, const cJSON *args);
	/* The MCP call's callback (mcp_call_arg_if finds the call of an MCP question by it). */
	void (*on_mcp)(const struct mcp_result *r, void *arg);
	/* Result in c->out known now: delivered from the loop, not from inside the caller. */
	void (*finish_later)(struct tools_call *c, bool is_error);
	/* Ends the question (askers told), the result cleaned and audited, cb fired, c freed. */
	void (*deliver)(struct tools_call *c);
};

struct tools {
	const struct tools_owner *owner; /* tools.c's steps, for its helpers */
	struct tools_env env;
	tools_notify_cb notify;
	void *notify_arg;
	tools_outlet_cb outlet;
	void *outlet_arg;
	const struct tools_scheduler *scheduler;
	void *scheduler_arg;
	const struct tool_def *offered[TOOLS_BUILTINS_MAX];
	size_t n_offered;
	char *schemas;		/* builtin entries, comma-separated, no brackets */
	uint64_t left_out_hash; /* of the MCP tool names last left out by agent.max_tools */
	struct {
		const struct tools_asker *a;
		void *arg;
	} askers[ASKERS_MAX];
	size_t n_askers;
	struct tools_call *asking; /* calls with a question out, linked by next_asking */
	char **always;		   /* "<source>\t<tool>": approved for good (until a restart) */
	size_t n_always;
};

struct tools_call {
	struct tools *t;
	tools_call_cb cb;
	void *arg;
	char *name;
	struct event *ev; /* the timeout, then the deferred delivery */
	const struct tool_def *def;
	struct tool_job *job;
	struct mcp_call *mc;
	struct buf out;
	bool is_error;
	bool finished; /* out holds the result; ev delivers it */
	bool timed_out;
	bool cancelled;
	/* A question out (approval or ask_user): ev is its timeout, then its answer. */
	bool asking;
	enum tools_q_kind q_kind;
	uint64_t q_id;
	long answer;   /* the chosen index, -1 = none yet */
	char *outcome; /* how the question ended, for the asker's closed() */
	char *q_text;  /* the question as asked, for tools_questions_each */
	int64_t q_asked_ms;
	struct tools_call *next_asking;
	char **choices; /* ask_user's */
	size_t n_choices;
	cJSON *args;			/* an approval's call, run once approved */
	const struct tool_def *run_def; /* NULL: an MCP tool */
	char *sid, *source;
	bool tainted, web_any;
	/* the audit trail's: the calling turn's source and session, the arguments' hash, the
	 * start, and whether an approval was asked */
	char *a_source, a_sid[24], a_hash[17];
	const char *a_lane; /* the turn's lane (the config's name), NULL = none */
	int64_t t0_ms;
	bool approval_asked;
	void (*asking_cb)(bool on, void *arg);
	void *asking_arg;
	const struct tools_llm *llm;
	void *llm_arg;
	void (*notice)(const char *text, void *arg);
	void *notice_arg;
	/* a draft card (review.h, tools_draft.c): the card, the lane's settings, the draft
	 * step's model call while it runs */
	struct review_card *card;
	const struct config_lane *lane_cfg;
	void *llm_call;
	int64_t q_timeout_s;	       /* of the question out */
	char *answer_by, *answer_text; /* who answered, a card's edit given with the answer */
	struct tools_elicit *elicit;   /* an MCP server's question being asked (tools_elicit.c) */
};

/* tools_elicit.c: an MCP server's question asked through the askers. */
/* From the loop: the step's answer (c->answer, c->answer_text) or its timeout (-1). */
void tools_elicit_answer(struct tools_call *c);
/* c ends: a question still asked is answered cancel. */
void tools_elicit_call_gone(struct tools_call *c);
/* True when the step asked now takes a typed reply. */
bool tools_elicit_typed(const struct tools_call *c);

/* tools_draft.c: draft cards (review before anything leaves). */
/* True when the call of d (NULL: the MCP tool mi) from ctx becomes a draft card. */
bool tools_draft_wanted(const struct tools *t, const struct tool_def *d,
			const struct mcp_tool_info *mi, const struct tools_ctx *ctx);
/* Makes the card (args are the call's from now on), runs the draft step, then asks. */
void tools_draft_start(struct tools_call *c, const struct tool_def *d, cJSON *args,
		       const struct tools_ctx *ctx);
/* From the loop: the owner answered the card (c->answer) or it expired (-1). */
void tools_draft_answer(struct tools_call *c);
/* The card's question as tools_questions_each lists it. */
void tools_draft_question(const struct tools_call *c, struct tools_question *q);
/* Cancels the draft step if it runs; true when it did (its callback delivers). */
bool tools_draft_cancel(struct tools_call *c);

/* ---- tools_offer.c: what is offered, lookups by name ---- */

#define MCP_CALL	 "mcp_call"
#define MCP_SCHEMA	 "mcp_tool_schema"
#define SCHEMA_NAMES_MAX 16 /* tools one mcp_tool_schema call may name */

/* ask_user: run by tools.c itself (it waits on the asker like an approval). */
extern const struct tool_def tool_def_ask_user;

/* The builtin tools env allows, and their schemas (again after tools_set_scheduler). */
void tools_offer_builtins(struct tools *t);
/* MCP tools are on: a client, and the mcp toolset. */
bool tools_mcp_on(const struct tools *t);
/* The model gets the MCP catalog (mcp_call, mcp_tool_schema) instead of the MCP tools. */
bool tools_catalog_mode(const struct tools *t);
/* The offered builtin tool of that name, or NULL. */
const struct tool_def *tools_find_builtin(const struct tools *t, const char *name);
/* The connected MCP tool of that full name, into *out (may be NULL). */
bool tools_find_mcp(const struct tools *t, const char *name, struct mcp_tool_info *out);
/* A tool named in mcp_call's catalog: its full name or the catalog's short one (unless two
 * tools share it), into *out. */
bool tools_find_catalog(const struct tools *t, const char *name, struct mcp_tool_info *out);
/* s (NULL: "") as a JSON string, cut at max bytes on a UTF-8 boundary. */
void tools_json_string(struct buf *b, const char *s, size_t max);

#endif

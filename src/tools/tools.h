/* tools: what the agent may call. The builtin tools (src/tools/tool_*.c) and every MCP tool
 * behind one interface: the OpenAI `tools` array for a request, and a call by name with the
 * model's argument text.
 *
 * Async contract for tools_call: it returns 0 and cb fires exactly once, later, from the
 * loop (also for unknown tools, invalid arguments, timeouts and cancel: those are tool
 * errors the model reads, not failures of the turn). A negative return is a programming
 * error; cb then never fires.
 */
#ifndef HERMETIC_TOOLS_H
#define HERMETIC_TOOLS_H

#include "mcp/mcp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct loop;
struct mcp;
struct store;
struct tools;
struct tools_call;
struct tools_scheduler;

/* What the tools reach. Borrowed; must outlive the tools. */
struct tools_env {
	const struct config *cfg;
	struct loop *loop;
	struct store *store; /* NULL: session_search is not offered */
	struct mcp *mcp;     /* NULL: no MCP tools */
};

typedef void (*tools_call_cb)(bool is_error, const char *text, size_t len, void *arg);

/* A model call a tool makes for a side job (condensing a full memory file), lent by the
 * calling turn: it goes through the turn's router, so the spend ledger, the budgets and the
 * turn's cost count it, as they count compression. */
typedef void (*tools_llm_cb)(int status, const char *text, void *arg);

struct tools_llm {
	/* One unstreamed chat call of model group model: a system and a user message, at most
	 * max_tokens. key names the side job ("memory:MEMORY.md"): a turn makes at most one call
	 * per key (a second is -EALREADY), and none once it is stopping or at its cost cap
	 * (-ECANCELED). Returns 0 and cb fires exactly once, later, from the loop, with the HTTP
	 * status (499 when cancelled, 429 when a budget refused it) and on 200 the answer's text
	 * (else NULL; borrowed during cb); *call is the handle for cancel until then. A negative
	 * errno: cb never fires. */
	int (*chat)(void *arg, const char *key, const char *model, const char *system,
		    const char *user, int max_tokens, tools_llm_cb cb, void *cb_arg, void **call);
	/* cb still fires once, later. Not after cb. */
	void (*cancel)(void *arg, void *call);
};

/* A turn's tools when not all of them (an alert investigation's): the builtins named (when
 * offered) and the read-only tools (readOnlyHint) of the MCP servers named, listed directly
 * (never through the catalog). Borrowed by whoever holds it. */
struct tools_scope {
	const char *const *builtins;
	size_t n_builtins;
	const char *const *mcp_servers;
	size_t n_mcp_servers;
};

/* The MCP server a call of tool name (with args) reads from: mcp_<server>_<tool>, or mcp_call
 * naming such a tool; a copy, or NULL for a builtin or an unknown tool (lanes). */
char *tools_mcp_server(struct tools *t, const char *name, const char *args);

/* Who is calling, for the trust rules (docs/security.md, "Trust"). Borrowed during tools_call. */
/* A turn's skill review (SKILL.md `workflow: review:`, issue 43): skill_view of a skill whose
 * workflow asks for review names it here, and from then on an outbound action of the turn
 * (send_file, send_voice, an MCP tool that is not read-only) needs the owner's approval, as
 * if approvals: named it, from any source approvals asks for. Owned by the turn. */
struct tools_review {
	char skill[68]; /* "" = no skill of the turn asks for review */
	/* the never_invent items of the skills the turn loaded, one per line ("" = none): listed
	 * on a draft card (review.h) */
	char never_invent[1024];
};

/* Adds a skill's never_invent items to r (each once, as many as fit). */
void tools_review_add_never_invent(struct tools_review *r, char *const *items, size_t n);

struct tools_ctx {
	const char *session_id; /* "" when none */
	const char *source;	/* "telegram:42", "cron:daily", "cli", ...; "" when none */
	/* The turn read untrusted text (or runs for a cron job or hook): memory and skill
	 * writes become proposals for the human, web_fetch reaches web.allow_hosts only. */
	bool tainted;
	bool web_any; /* the job's web_fetch: any: web_fetch as in a chat, even when tainted */
	/* NULL, or told when the call starts (on) and stops (off) waiting for the human's
	 * answer (an approval or ask_user): the agent's turn clock stops meanwhile. */
	void (*asking)(bool on, void *arg);
	void *asking_arg;
	/* NULL, or side calls for the turn's tools (llm and llm_arg borrowed until the call's cb
	 * fired). Without one the memory tool refuses a write that does not fit, as before. */
	const struct tools_llm *llm;
	void *llm_arg;
	/* NULL, or shows the human one short line with the turn's reply (text copied; a line
	 * told twice is shown once): what a tool did that they should know of. Called from the
	 * loop before the call's cb. */
	void (*notice)(const char *text, void *arg);
	void *notice_arg;
	/* NULL, or the only tools this call may be (tools_in_scope): another is a tool error. */
	const struct tools_scope *scope;
	const char *lane; /* the turn's lane, for the audit line (the config's name), or NULL */
	/* NULL, or the turn's review state (borrowed, written by skill_view; see above). */
	struct tools_review *review;
	/* NULL, or what the turn read, one per line (its lane's reason, skills, tools): shown
	 * on a draft card. Copied. */
	const char *sources;
};

/* Told that proposal id awaits the human (text: what to approve and how, Markdown) for a
 * call from source. Without one, tools_call logs the text as a warning. */
typedef void (*tools_notify_cb)(const char *source, const char *id, const char *text, void *arg);

/* Sends a file under home (rel) to the chat of source with method (sendPhoto, sendDocument)
 * and caption (may be NULL): queued durably, sent later. 0, or a negative errno with the
 * reason in err (a source that is no chat: -ENOTSUP). */
typedef int (*tools_outlet_cb)(const char *source, const char *method, const char *rel,
			       const char *caption, char *err, size_t err_len, void *arg);

/* Questions for the human: approvals (docs/gateway.md, "Approvals") and ask_user. */
/* TOOLS_Q_ELICIT: one step of an MCP server's question (tools_elicit.c): a field of its form,
 * a link, or the answer shown before it goes (review_outbound). */
enum tools_q_kind { TOOLS_Q_APPROVAL, TOOLS_Q_ASK, TOOLS_Q_DRAFT, TOOLS_Q_ELICIT };

/* Approval choices, in this order. */
enum { TOOLS_APPROVE, TOOLS_APPROVE_ALWAYS, TOOLS_DENY };
/* A draft card's choices (review before anything leaves, docs/security.md), in this order. */
enum { TOOLS_DRAFT_APPROVE, TOOLS_DRAFT_EDIT, TOOLS_DRAFT_REJECT };

struct review_card;

struct tools_question {
	uint64_t id; /* random, never 0: a button of an old question matches nothing */
	enum tools_q_kind kind;
	const char *source; /* the asking turn's ("telegram:42", "cron:nightly") */
	/* approval: the tool's name, then one "key: value" line per argument (redacted, never
	 * cut); ask_user: the question */
	const char *text;
	const char *const *choices; /* the buttons' texts */
	size_t n_choices;
	int64_t timeout_s;	/* then the answer is no (approvals.timeout_s) */
	const char *session_id; /* the asking turn's session ("" when none) */
	int64_t asked_ms;	/* when it was asked, wall clock */
	/* TOOLS_Q_DRAFT: the card (tools/review.h; borrowed during ask), text is its plain
	 * form; else NULL */
	const struct review_card *card;
	/* TOOLS_Q_ELICIT: a typed reply answers too (tools_answer_text), not only the buttons */
	bool typed;
};

/* Who shows questions to the human (the Telegram gateway). ask: 0 when the question will be
 * shown (its answer comes through tools_answer), or a negative errno when no chat can be
 * asked (-ENOENT). closed: the question ended with outcome ("Approved", "Denied", "No answer
 * in 300 s: denied", "Cancelled", "Answered: X"); its buttons should go. Both are called from
 * the loop, never from inside a call the asker made into the tools. */
struct tools_asker {
	int (*ask)(const struct tools_question *q, void *arg);
	void (*closed)(uint64_t id, const char *outcome, void *arg);
};

struct tools *tools_create(const struct tools_env *env);
/* Cancels nothing: callers cancel their calls first; a held answer's card still out is
 * dropped (tools_draft_hold). Accepts NULL. */
void tools_destroy(struct tools *t);

/* Appends the OpenAI `tools` array ("[{"type":"function",...},...]", "[]" when none) of the
 * tools offered now (builtin per cfg->toolsets, then connected MCP servers' tools). */
/* At most agent.max_tools entries: the builtin tools, then MCP tools in server order until the
 * cap; the log names those left out (once per change). */
void tools_schemas_json(struct tools *t, struct buf *out);
/* The same for a scoped turn: only the tools of scope (at most agent.max_tools). */
void tools_schemas_json_scoped(struct tools *t, const struct tools_scope *scope, struct buf *out);
/* True when name is one of scope's tools now. */
bool tools_in_scope(struct tools *t, const struct tools_scope *scope, const char *name);
/* What tools_schemas_json sends now (capped). */
size_t tools_n_offered(struct tools *t);
/* Builtin tools the config can offer (toolsets; before per-tool checks): for doctor's count. */
size_t tools_n_builtin_max(const struct config *cfg);
/* True for a builtin marked read-only (MCP tools: false; their readOnlyHint only spares them
 * an approval, see approvals.mcp). */
bool tools_read_only(struct tools *t, const char *name);
/* True when a result of name is untrusted text that taints the turn reading it: web_fetch,
 * session_search, prometheus_query and every MCP tool (pages, hook payloads, alert
 * annotations, label values, pod logs and issue texts may carry instructions). */
bool tools_taints(struct tools *t, const char *name);
/* The lane (the config's name) of the turn whose tool call call is, NULL when it is no turn's
 * or the turn has none: what an MCP server sends while that call runs may carry its text. */
const char *tools_mcp_call_lane(const struct mcp_call *call);
/* The trust a turn of source starts with: cron ("cron:<job>"), hook ("hook:<name>"),
 * reminder ("reminder:<id>") and alert investigation ("alert:<group>") runs are tainted, and
 * *web_any is a cron job's or hook's `web_fetch: any`; every other source starts clean. */
void tools_source_trust(const struct config *cfg, const char *source, bool *tainted, bool *web_any);
void tools_set_notify(struct tools *t, tools_notify_cb cb, void *arg);
/* Where send_file delivers; without one send_file answers that no chat can take files. */
void tools_set_outlet(struct tools *t, tools_outlet_cb cb, void *arg);

/* schedule: the tool asks the gateway's reminders (gateway/reminders.h) to keep a job for
 * the calling chat. The tools layer only parses the model's words; the scheduler owns the
 * jobs, their limits and the chat they belong to. */
struct tools_schedule_req {
	int64_t at_ms;	     /* one-shot: when, wall clock ms; 0 for a recurring job */
	const char *cron;    /* recurring: 5-field cron in cfg->timezone; NULL for a one-shot */
	const char *prompt;  /* what the agent is asked when it fires */
	const char *title;   /* short name for lists; NULL = taken from prompt */
	double max_cost_usd; /* cap of one run; 0 = reminders.max_cost_usd */
};

/* Each call is synchronous (bounded local SQL), appends what the model reads to out, and
 * returns 0 or a negative errno with the reason in out. source is the calling turn's
 * ("telegram:42"): a job is only ever seen or changed by the chat that made it (another
 * chat's id is -ENOENT). */
struct tools_scheduler {
	int (*create)(void *arg, const char *source, const struct tools_schedule_req *req,
		      struct buf *out);
	int (*list)(void *arg, const char *source, struct buf *out);
	int (*cancel)(void *arg, const char *source, int64_t id, struct buf *out);
};

/* Offers `schedule` (with reminders.enabled and the time toolset) over s (borrowed, with
 * arg, for the tools' life). Call before the first turn: the builtin schemas are rendered
 * again. */
void tools_set_scheduler(struct tools *t, const struct tools_scheduler *s, void *arg);

/* Adds one who asks (a and arg borrowed until removed; at most two: the Telegram gateway and
 * the web cockpit); offers ask_user from then on. Every asker is asked each question and told
 * when it closes (ids it did not take included); the question is out when one took it.
 * Without one, a call that needs approval is denied with a reason, as nobody can say yes. */
void tools_add_asker(struct tools *t, const struct tools_asker *a, void *arg);
/* Removes the asker added with a and arg (nothing when there is none). */
void tools_remove_asker(struct tools *t, const struct tools_asker *a, void *arg);
/* The human chose choice (index into the question's choices) for question id. Returns 0
 * (the call goes on later, from the loop), -ENOENT (no such question waits: answered, timed
 * out, or asked before a restart) or -EINVAL (no such choice). A question is decided once:
 * every later answer, from any asker, is -ENOENT. */
int tools_answer(struct tools *t, uint64_t id, size_t choice);
/* tools_answer with who answered (a name for the audit, NULL: unknown) and, for a draft card's
 * Edit, the new draft (NULL: the next message of the card's chat becomes it, through
 * tools_draft_edit). A card's Approve runs the approved draft once: a second Approve, from any
 * asker, is -ENOENT. */
int tools_answer_as(struct tools *t, uint64_t id, size_t choice, const char *who, const char *text);
/* The owner's text for the draft card whose question id was answered Edit (without a text;
 * the asker closed it with an outcome starting "Edit:"): it becomes the draft (cut to
 * REVIEW_DRAFT_MAX bytes) and the card is asked again under a new id. Returns 0, or -ENOENT
 * (no card waits for that edit: it expired or was cancelled). */
int tools_draft_edit(struct tools *t, uint64_t id, const char *text, const char *who);
/* A job's answer held for review (docs/security.md, "Review before anything leaves"): the
 * answer of a turn in a review_outbound lane whose delivery chat is outside the lane. */
struct tools_hold {
	const char *source;	/* the job's ("cron:x", "hook:y") */
	const char *session_id; /* "" when none */
	const char *lane;	/* the turn's lane (the config's name) */
	const char *to;		/* where it would go ("telegram:123"), handed back to cb */
	const char *text;	/* the answer */
};
/* Told the approved text (after any edits) and where it goes; never for a reject or expiry. */
typedef void (*tools_hold_cb)(const char *to, const char *text, void *arg);
/* Asks a draft card for h (no draft step: the turn has ended). 0: cb fires at most once, from
 * the loop, when the owner approves; a card still out at tools_destroy is dropped, nothing
 * sent. A negative errno: nobody can be asked (cb never fires). Strings copied. */
int tools_draft_hold(struct tools *t, const struct tools_hold *h, tools_hold_cb cb, void *arg);
/* The human's typed reply to question id (a TOOLS_Q_ELICIT with typed; who as in
 * tools_answer_as). Returns 0 (the question goes on later, from the loop: a reply that does not
 * fit the field is asked again with why), or -ENOENT (no such question takes text). */
int tools_answer_text(struct tools *t, uint64_t id, const char *who, const char *text);
/* Callbacks for mcp_set_elicit: an MCP server's question during a tool call of a turn becomes
 * questions to the askers, one per field (tools_elicit.c). *slot is read when a question comes
 * (the tools may be made after the MCP client): NULL, or a call that is no turn's, declines. */
void tools_elicit_cbs(struct tools **slot, struct mcp_elicit_cbs *out);
/* Calls cb for each question that waits for its answer now, newest first (q and its strings
 * borrowed during the call). cb must not call into the tools. */
void tools_questions_each(struct tools *t, void (*cb)(const struct tools_question *q, void *arg),
			  void *arg);

/* Calls name with args_json (the model's text, may be invalid) for ctx (NULL: a trusted call
 * with no session). Results are cut to agent.tool_result_max_bytes; a call running longer
 * than agent.tool_timeout_s is cancelled and answered with a timeout error. A write to
 * memory or skills from a tainted ctx is not made: it is stored as a proposal, the notify
 * callback is told, and the result says so. */
int tools_call(struct tools *t, const char *name, const char *args_json,
	       const struct tools_ctx *ctx, tools_call_cb cb, void *arg, struct tools_call **out);
/* A call that needs approval (approvals:, from a source that is not the terminal's `chat`)
 * first asks the asker and runs only after Approve; Deny, no answer within
 * approvals.timeout_s, or no chat to ask answer the model with an error and do not run it.
 * The approval's wait is not part of agent.tool_timeout_s. */
/* cb fires later with an error ("cancelled"). Not after cb fired. */
void tools_cancel(struct tools_call *c);

/* For the system prompt. */
/* "name: description" lines of the skills (home/skills, then skills.external_dirs) for a
 * session that starts with text (NULL: none): the pinned ones (a cron job's, whatever their
 * size), then those that match text best, then the rest by name, while they fit in
 * skills.index_tokens; a note of how many were left out ends a cut index. A skill that fails
 * to parse is skipped with a warning in the log. Appends nothing when no skill fits. */
void tools_skills_index(const struct config *cfg, const char *text, const char *const *pinned,
			size_t n_pinned, struct buf *out);
/* The SKILL.md of the skill called name (a new string), or NULL. */
char *tools_skill_file(const struct config *cfg, const char *name);
/* For `config check` and `doctor`: one line "PATH: problem" per skill that is invalid (no or
 * bad front matter, a name that is not its folder's) or shadowed by another of its name.
 * Returns the number of lines; *n_skills gets the number of usable skills. */
size_t tools_skills_check(const struct config *cfg, struct buf *out, size_t *n_skills);
/* The bounded memory files as a turn in lane (NULL: none) sees them: the shared ones, then
 * those of the lanes tool_memory_lanes names ("" when all are empty). */
void tools_memory_snapshot(const struct config *cfg, const char *lane, struct buf *out);

/* The owner's edits (the web cockpit, docs/cockpit.md): the human writes through the same
 * readers, checks and writers as the memory and skill_manage tools. The human is the one
 * the agent's proposals and approvals ask, so these are not proposed or asked: the edit is
 * the approval. Each names the version of the text the human was shown: a file written since
 * is not overwritten (-ESTALE). Blocking (they fsync): call them off the loop; they may run
 * on a thread while the loop runs the tools (a lock serialises each file's read and write). */

#define TOOLS_VERSION_LEN 32
/* The version of a file's bytes: the first TOOLS_VERSION_LEN hex digits of their SHA-256. */
void tools_edit_version(const void *data, size_t len, char out[TOOLS_VERSION_LEN + 1]);

struct tools_memory_info {
	char version[TOOLS_VERSION_LEN + 1]; /* of the bytes on disk ("" when missing) */
	size_t chars;			     /* as the bound counts them */
	size_t max_chars;		     /* memory.max_chars or memory.user_max_chars */
	size_t entries;
};

/* MEMORY.md (user: USER.md) as the memory tool reads it (below home, never through a
 * symlink, at most 256 KiB): its bytes appended to text ("" when missing) and info filled.
 * Returns 0 or a negative errno with the reason appended to err. */
int tools_memory_get(const struct config *cfg, bool user, struct buf *text,
		     struct tools_memory_info *info, struct buf *err);
/* Replaces the file with text, parsed as the file is (entries between "§" lines, trimmed,
 * empty and repeated ones dropped), when the file's version is still version: the bound
 * refused as the tool refuses it (-E2BIG, the tool's message), the old file kept in
 * memories/.history (memory.history_keep), the new one written atomically. Returns 0 with
 * the tool's answer in out and info of the new file, -ESTALE (changed since), -E2BIG, or
 * another negative errno (nothing changed; out says why). */
int tools_memory_put(const struct config *cfg, bool user, const char *text, const char *version,
		     struct tools_memory_info *info, struct buf *out);

enum tools_skill_edit {
	TOOLS_SKILL_CREATE,  /* as skill_manage create: text is the whole SKILL.md */
	TOOLS_SKILL_REPLACE, /* the whole SKILL.md of an agent-owned skill replaced by text */
	TOOLS_SKILL_DELETE,  /* as skill_manage delete */
	TOOLS_SKILL_REVERT,  /* REPLACE with text an earlier version (`hermetic skill revert`) */
};
/* skill_manage's checks and writes for the owner (each write a version in the skill's history,
 * skills/skill_hist.h, made by "cockpit" or "revert"): the name rule, SKILL.md's size and front
 * matter (its name equal to name), only home/skills written, never through a symlink.
 * version (REPLACE, DELETE; NULL for CREATE) must be the SKILL.md's now. Returns 0 with the
 * tool's answer in out and the new version in new_version ("" after a delete), or -EINVAL
 * (refused by the validator: its message in out), -ESTALE, -EEXIST (create: the name is
 * taken), -ENOENT, -EPERM (read-only: external, shadowed or a symlink), or another negative
 * errno. */
int tools_skill_edit(const struct config *cfg, enum tools_skill_edit what, const char *name,
		     const char *text, const char *version, char new_version[TOOLS_VERSION_LEN + 1],
		     struct buf *out);

/* Proposals: the writes of tainted turns, kept as home/proposals/<id>.json until the human
 * decides (`hermetic proposals`, Telegram /approve and /reject). */
/* Appends one paragraph per pending proposal, oldest first ("No proposals wait for
 * approval." when none). Returns 0 or a negative errno (text in out). */
int tools_proposals_list(const struct config *cfg, struct buf *out);
/* Applies (approve) or drops the proposal whose id is the first word of arg (as typed after
 * /approve; NULL allowed) and removes it; out says what happened (the tool's answer when
 * applied). Returns 0, -ENOENT (no such proposal), -EINVAL (not an id), or the tool's error
 * (the proposal is removed then too: the text says why it did not apply). */
int tools_proposal_decide(const struct config *cfg, const char *arg, bool approve, struct buf *out);

#endif

/* tool: the interface every builtin tool implements (the plug-in family of src/tools/,
 * like curl's lib/vtls/). tools.c holds the table of definitions, offers the ones the
 * config enables, parses the model's arguments and calls run() or start().
 *
 * Inside this family a parsed `const cJSON *` argument object is passed to the plug-ins
 * (borrowed for the duration of run/start); it never leaves src/tools*.
 *
 * A tool's text is what the model reads: short, plain, and when something is wrong it says
 * what and how to do better ("old_text was not found in MEMORY.md; call memory with
 * action=read first"). tools.c cuts results to agent.tool_result_max_bytes afterwards;
 * tools still cap what they read themselves (files, HTTP bodies) so nothing unbounded is
 * ever held.
 */
#ifndef HERMETIC_TOOLS_TOOL_H
#define HERMETIC_TOOLS_TOOL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "tools/tools.h"
#include "core/util.h"

struct tool_job;

/* One call. Everything is borrowed for the duration of run()/start(). */
struct tool_req {
	const struct tools_env *env;
	const char *session_id; /* the calling session ("" when none) */
	const cJSON *args;	/* always a JSON object (tools.c checks) */
	/* web_fetch: only hosts in web.allow_hosts (a tainted turn without web_fetch: any). */
	bool web_listed_only;
	const char *source;	/* the calling turn's source ("" when none) */
	tools_outlet_cb outlet; /* send_file's delivery, NULL = none */
	void *outlet_arg;
	const struct tools_scheduler *scheduler; /* schedule's jobs (tools_set_scheduler) */
	void *scheduler_arg;
	/* The turn's side calls and notices (tools_ctx); NULL when there are none. Unlike the
	 * rest they stay valid until the call's cb fired. */
	const struct tools_llm *llm;
	void *llm_arg;
	void (*notice)(const char *text, void *arg);
	void *notice_arg;
	const char *lane;	     /* the calling turn's lane (the config's name), NULL = none */
	struct tools_review *review; /* the turn's (tools_ctx), NULL when none */
};

/* Asynchronous tools report here exactly once, from the loop (never inside start()). */
typedef void (*tool_job_cb)(bool is_error, const char *text, size_t len, void *arg);

struct tool_def {
	const char *name;
	unsigned toolset; /* CONFIG_TOOLSET_* bit that enables it */
	bool read_only;	  /* no side effects: may run in parallel with other read-only calls */
	bool taints;	  /* its results are untrusted text (tools_taints) */
	/* NULL, or true when the call changes what later system prompts show (memory,
	 * skills): from a tainted turn such a call becomes a proposal (tools_call). */
	bool (*writes)(const cJSON *args);
	const char *description; /* one or two terse sentences: every byte is paid per call */
	const char *params_json; /* JSON Schema of the arguments, compact */
	/* NULL = offered whenever its toolset is on; else also this must say yes. */
	bool (*offered)(const struct tools_env *env);
	bool needs_scheduler; /* offered only once tools_set_scheduler gave one */
	/* Synchronous tools (SQLite, home's own files): append the result to out and return 0, or
	 * append an error text and return < 0. out has a cap; running into it is fine (the
	 * text is cut). Must not block for long: bounded local I/O only. */
	int (*run)(const struct tool_req *req, struct buf *out);
	/* Asynchronous tools (network; notes dir reads, which may hang, on a thread; memory,
	 * which may ask a model to condense a full file): return 0
	 * and call cb exactly once later, or return < 0 with an error text in err (then cb never
	 * fires). */
	int (*start)(const struct tool_req *req, tool_job_cb cb, void *arg, struct buf *err,
		     struct tool_job **job);
	/* Aborts a started job; cb still fires once, later, with an error. */
	void (*cancel)(struct tool_job *job);
	/* A tool with both: tools_call uses start(); run() is for calls without a loop or a
	 * turn (a proposal applied by `hermetic proposals approve`, the unit tests). */
};

/* Argument helpers: return the member or NULL/def when absent; a present member of the wrong
 * type appends "NAME must be a string" (etc.) to err and returns NULL / sets *bad. */
const char *tool_arg_str(const cJSON *args, const char *name, bool required, struct buf *err);
long long tool_arg_int(const cJSON *args, const char *name, long long def, long long min,
		       long long max, bool *bad, struct buf *err);

/* Stores the call (def->name, args) of a turn in lane (NULL: none) as a proposal for the
 * human; its id (6 hex digits) goes to id. Approving it runs the call in that lane. 0, or a
 * negative errno with the reason appended to err. In tool_proposals.c. */
int tool_proposal_store(const struct config *cfg, const char *tool, const cJSON *args,
			const char *source, const char *lane, char id[8], struct buf *err);
/* What the proposal changes, for the human: "memory add (user): ..." (Markdown). */
void tool_proposal_describe(const char *tool, const cJSON *args, struct buf *out);

/* A condensed memory file as the model wrote it (answer), checked: entries separated by a
 * line holding only "§" (one wrapping ``` fence is tolerated), at least one, none longer
 * than the file's bound, and all of them at most max_chars characters when joined as the
 * file stores them. Appends the entries, joined so, to out and returns their characters; or
 * returns -1 with why (a short reason) filled. In tool_memory.c. */
long tool_memory_condensed(const char *answer, size_t max_chars, struct buf *out, char *why,
			   size_t why_len);
/* The lanes whose memory files a turn in lane sees besides the shared ones, least sensitive
 * first and lane itself last (out holds CONFIG_MAX_LANES; names borrowed from cfg): lane and
 * every lane listed after it, whose name can be a folder. 0 for NULL (no lane), SIZE_MAX for
 * a lane the config does not have. Pure. In tool_memory.c. */
size_t tool_memory_lanes(const struct config *cfg, const char *lane, const char **out);

/* The builtin tools, defined in src/tools/tool_*.c. */
extern const struct tool_def tool_def_memory;
extern const struct tool_def tool_def_send_file;
extern const struct tool_def tool_def_send_voice;
extern const struct tool_def tool_def_session_search;
extern const struct tool_def tool_def_skills_list;
extern const struct tool_def tool_def_skill_view;
extern const struct tool_def tool_def_skill_manage;
extern const struct tool_def tool_def_read_file;
extern const struct tool_def tool_def_search_files;
extern const struct tool_def tool_def_web_fetch;
extern const struct tool_def tool_def_prometheus_query;
extern const struct tool_def tool_def_time;
extern const struct tool_def tool_def_schedule;

/* schedule's `when` ("in 20 minutes", "tomorrow 07:00", "2026-12-01 09:30", "at 18:00")
 * read in the process time zone relative to now_ms. Returns 0 with *at_ms (wall clock ms),
 * or -EINVAL with err saying what was not understood, or -ERANGE for a time in the past or
 * more than a year ahead. In tool_schedule.c. */
int tool_schedule_parse_when(const char *when, int64_t now_ms, int64_t *at_ms, char *err,
			     size_t err_len);

#endif

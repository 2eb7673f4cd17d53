/* jobs: what cron and hooks need from the gateway: run a fresh agent turn, and deliver its
 * answer. cron.c and hooks.c are written against this so they can be built and tested alone
 * (with a fake sink); gateway.c implements it over the agent and Telegram.
 */
#ifndef HERMETIC_JOBS_H
#define HERMETIC_JOBS_H

#include <stdbool.h>
#include <stdint.h>

struct agent_tool;
struct config_deliver;
struct tools_scope;

/* One agent turn of a job. Strings are borrowed for the call of run(). */
struct job_opts {
	const char *source; /* "cron:<job>", "hook:<name>", "alert:<id>" */
	const char *model;  /* NULL = the config's model */
	const char *prompt;
	const char *extra_system; /* skills for the run, or NULL */
	double max_cost_usd;	  /* 0 = agent.max_turn_cost_usd */
	bool own_cap;		  /* max_cost_usd may be above agent.max_turn_cost_usd */
	bool resume; /* continue source's session (however long idle) instead of a fresh one */
	const struct tools_scope *scope; /* NULL = every tool; borrowed until done */
	/* NULL, or a tool offered to this turn only (a health check's `report`, agent/agent.h);
	 * borrowed until done */
	const struct agent_tool *tool;
};

struct job_result {
	bool ok;	  /* false: the turn failed or was cancelled; text says why */
	const char *text; /* the answer (borrowed during the callback) */
	int64_t session_id;
	double cost_usd;
	/* not ok because a rate pool had no room for its model call in time (load, not a
	 * fault): run it again after retry_after_s rather than report a failure */
	bool deferred;
	long retry_after_s;
};

typedef void (*job_done_cb)(const struct job_result *r, void *arg);

struct job_sink {
	/* Runs one agent turn as o says: in a new session of o->source unless o->resume.
	 * Returns 0 and calls done exactly once, later, from the loop; or a negative value
	 * (-EBUSY: that source has a turn running) and never calls done. */
	int (*run)(void *ctx, const struct job_opts *o, job_done_cb done, void *arg);
	/* Hands text to a delivery target ("telegram:<chat>"); the sink queues and retries it
	 * and never drops it. Does nothing when to->target is NULL. */
	void (*deliver)(void *ctx, const struct config_deliver *to, const char *text);
	void *ctx;
	/* NULL, or told how a cron run ended for the alerts (source "cron:<job>"): ok false when
	 * the turn failed or a health check's verdict is fail; text says why (borrowed). */
	void (*outcome)(void *ctx, const char *source, bool ok, const char *text);
};

#endif

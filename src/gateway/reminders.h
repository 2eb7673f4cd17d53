/* reminders: the jobs the agent schedules for a chat (the `schedule` tool): one-shot
 * reminders ("in 20 minutes") and recurring jobs (a cron line in the process time zone). They
 * live in state.db's `reminders` table, apart from the human-owned `cron:` of the config,
 * which the agent cannot touch. A due job runs one fresh agent turn ("reminder:<id>", capped
 * at the job's max_cost_usd) through a reminders_sink; its answer is stored first, as the
 * job's pending delivery, and then handed to the chat that made the job. A delivery that
 * fails is retried on a backoff and at start without running the model again; a run that
 * fails says so in the chat. One-shot jobs are done once delivered.
 *
 * Missed while down: a one-shot job due in the past runs at start (the model is told it is
 * late); a recurring one runs once when its time is within REMINDERS_GRACE_MS, else it skips
 * to its next time. A one-shot run cut short by a stop runs again at the next start.
 */
#ifndef HERMETIC_REMINDERS_H
#define HERMETIC_REMINDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/jobs.h"

struct buf;
struct config;
struct loop;
struct store;
struct tools_schedule_req;
struct tools_scheduler;
struct reminders;

#define REMINDERS_PROMPT_MAX  2000	     /* bytes of a job's prompt */
#define REMINDERS_TITLE_MAX   80	     /* bytes of a job's title */
#define REMINDERS_RESULT_MAX  2000	     /* bytes of the last result kept for continuity */
#define REMINDERS_PENDING_MAX (32 * 1024)    /* bytes of an undelivered answer */
#define REMINDERS_GRACE_MS    (15 * 60000LL) /* a recurring run missed by more is skipped */

/* The table (migration "reminders"). next_ms: the next run (NULL: none planned: running,
 * done, or waiting for its delivery). pending: the answer not yet handed to the chat. */
#define REMINDERS_SCHEMA_SQL                                                                       \
	"CREATE TABLE reminders (id INTEGER PRIMARY KEY, source TEXT NOT NULL,"                    \
	" chat_id INTEGER NOT NULL, thread_id INTEGER NOT NULL DEFAULT 0,"                         \
	" kind TEXT NOT NULL CHECK (kind IN ('once', 'cron')), at_ms INTEGER, cron TEXT,"          \
	" prompt TEXT NOT NULL, title TEXT NOT NULL, max_cost_usd REAL NOT NULL,"                  \
	" status TEXT NOT NULL CHECK (status IN ('active', 'paused', 'done')),"                    \
	" created_ms INTEGER NOT NULL, next_ms INTEGER, last_run_ms INTEGER, last_status TEXT,"    \
	" last_result TEXT, pending TEXT, pending_attempts INTEGER NOT NULL DEFAULT 0,"            \
	" pending_next_ms INTEGER) STRICT;"                                                        \
	"CREATE INDEX reminders_chat ON reminders (chat_id, status);"                              \
	"CREATE INDEX reminders_due ON reminders (status, next_ms);"

/* What reminders need from the gateway. */
struct reminders_sink {
	/* As job_sink.run (fresh session of source, done exactly once later, or a negative
	 * value and never done; -EAGAIN: state.db is locked, try again), with the run's cost
	 * cap (agent_turn_opts.max_cost_usd). */
	int (*run)(void *ctx, const char *source, const char *prompt, const char *extra_system,
		   double max_cost_usd, job_done_cb done, void *arg);
	/* Hands markdown to the chat (thread_id 0: none). 0 once it is durably queued (then it
	 * is never asked again), else a negative value: it is asked again later. */
	int (*deliver)(void *ctx, int64_t chat_id, int64_t thread_id, const char *markdown);
	void *ctx;
};

/* A job of a chat, for lists and buttons. */
struct reminders_job {
	int64_t id;
	char source[64]; /* the chat's ("telegram:42"), cut */
	char title[REMINDERS_TITLE_MAX + 1];
	bool recurring;
	char when[160];	      /* "once at Tue 2026-05-05 07:00 CEST" or "cron `0 7 * * 1-5`" */
	int64_t next_ms;      /* the next run, -1 when none is planned */
	char status[8];	      /* "active" or "paused" */
	bool undelivered;     /* its last answer waits to be delivered */
	int64_t last_run_ms;  /* -1 when it never ran */
	char last_status[16]; /* of the last run ("ok", "failed", "running", ...; "" none) */
};

/* Borrows cfg, loop, store and sink for its whole life. Nothing runs before start. */
struct reminders *reminders_create(const struct config *cfg, struct loop *loop, struct store *store,
				   const struct reminders_sink *sink);
/* Stops the timer; a run in flight is forgotten (its done only frees its memory; a one-shot
 * job runs again at the next start). Accepts NULL. */
void reminders_destroy(struct reminders *r);
/* Replaces the wall clock (tests): fn(arg) is now in ms. */
void reminders_set_clock(struct reminders *r, int64_t (*fn)(void *arg), void *arg);

/* Delivers every pending answer, runs what was missed (see above), arms the timer. */
void reminders_start(struct reminders *r);
void reminders_start_at(struct reminders *r, int64_t now_ms);
/* What the timer does at now_ms: retries the deliveries that are due, starts the jobs that
 * are due, re-arms. */
void reminders_tick_at(struct reminders *r, int64_t now_ms);

/* A new job for the chat of source ("telegram:<chat>" or "telegram:<chat>:<thread>", kept
 * as given). Checks the prompt and title lengths, the cron line, reminders.min_interval_s,
 * reminders.max_per_chat and the cost cap. Returns 0 with *id (may be NULL) and a sentence
 * for the model in out (the id, the exact local time of the next run, the cap), or -EINVAL,
 * -ERANGE, -ENOSPC (the chat has max_per_chat jobs), -EIO, with the reason in out. */
int reminders_add(struct reminders *r, const char *source, const struct tools_schedule_req *req,
		  int64_t *id, struct buf *out);
/* The jobs of source that are not done, oldest first: a malloc'd array in *out (free()),
 * count in *n. 0 or -EIO. */
int reminders_list(struct reminders *r, const char *source, struct reminders_job **out, size_t *n);
/* Every chat's jobs that are not done, oldest first, read over s (any connection to state.db,
 * e.g. the cockpit's read-only one on its thread; no struct reminders needed). As
 * reminders_list otherwise. */
int reminders_list_all(struct store *s, struct reminders_job **out, size_t *n);
/* The same as text (Markdown, one line each); with_config_cron adds the config's cron jobs,
 * marked read-only. 0 or -EIO. */
int reminders_list_text(struct reminders *r, const char *source, bool with_config_cron,
			struct buf *out);
/* Pauses or resumes job id of source (a resumed recurring job plans its next run from now).
 * 0, -ENOENT (no such job in that chat, or done), -EIO; out says what happened. */
int reminders_pause(struct reminders *r, const char *source, int64_t id, bool paused,
		    struct buf *out);
/* Deletes job id of source (an undelivered answer with it). 0, -ENOENT, -EIO; out says. */
int reminders_delete(struct reminders *r, const char *source, int64_t id, struct buf *out);

/* The tools_scheduler over reminders (arg: the struct reminders). */
const struct tools_scheduler *reminders_scheduler(void);

#endif

/* cron: runs the config's enabled cron jobs at their times, each as a fresh agent turn
 * through a job_sink, and delivers the answer to the job's `deliver` target.
 *
 * A job with `report: on_failure` is a health check: its turn is offered a `report` tool
 * (status ok|warn|fail, summary, details) and its verdict, not its answer, decides what is
 * delivered: ok nothing, warn and fail a short message; a run that ends without a verdict
 * counts as fail ("no verdict"). The last CRON_VERDICTS_KEPT verdicts per job are kept in
 * state.db (table cron_verdicts), shown by /jobs and `hermetic config check`, and the last
 * one is the gauge hermetic_cron_health_status.
 *
 * Times are local (the process TZ, which main sets from cfg->timezone). A job still running
 * when its next time comes is skipped and counted. A run missed while the process was down
 * runs once at start when its time is within the job's misfire_grace_s. Last run time, status
 * and cost are kept in the store (kv "cron.<name>.last_run") and exported as metrics.
 */
#ifndef HERMETIC_CRON_H
#define HERMETIC_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct config;
struct config_cron_job;
struct cronexpr;
struct job_sink;
struct loop;
struct metrics;
struct store;

#define CRON_SKILL_MAX_BYTES (16 * 1024)
#define CRON_VERDICTS_KEPT   10
#define CRON_SUMMARY_MAX     300  /* bytes of a verdict's summary kept (cut at a character) */
#define CRON_DETAILS_MAX     2000 /* bytes of its details */

/* The table of verdicts (a migration of gateway/schema.c). */
#define CRON_VERDICTS_SQL                                                                          \
	"CREATE TABLE cron_verdicts (id INTEGER PRIMARY KEY, job TEXT NOT NULL,"                   \
	" time_ms INTEGER NOT NULL, status TEXT NOT NULL, summary TEXT NOT NULL,"                  \
	" details TEXT NOT NULL DEFAULT '', session_id INTEGER NOT NULL DEFAULT 0) STRICT;"        \
	"CREATE INDEX cron_verdicts_by_job ON cron_verdicts (job, id);"

enum cron_status { CRON_OK, CRON_WARN, CRON_FAIL };

struct cron_verdict {
	int64_t time_ms; /* the run's start, wall clock */
	enum cron_status status;
	char summary[CRON_SUMMARY_MAX + 1];
};

/* "ok", "warn", "fail". */
const char *cron_status_name(enum cron_status s);
/* Parses the `report` tool's arguments (the model's text). Returns 0 with *status and the
 * summary and details (new strings, cut to CRON_SUMMARY_MAX / CRON_DETAILS_MAX bytes; details
 * "" when absent), or -EINVAL with what is wrong in err (for the model to read). */
int cron_verdict_parse(const char *args_json, enum cron_status *status, char **summary,
		       char **details, char *err, size_t err_len);
/* Up to max verdicts of job, newest first, into out; *n gets how many. 0, or -EIO (also when
 * the table is missing: an older state.db). */
int cron_verdicts_list(struct store *s, const char *job, struct cron_verdict *out, size_t max,
		       size_t *n);
/* One line for lists (/jobs, config check): "health: fail at 18:00: summary; last 10: ✓⚠✗"
 * for a health check with verdicts, "health: no verdict yet" without; nothing for a plain job. */
void cron_verdicts_text(struct store *s, const struct config_cron_job *j, struct buf *out);

struct cron;

/* Borrows cfg, loop, store, sink (and metrics, which may be NULL) for its whole life; they
 * must outlive cron_destroy(). Registers the hermetic_cron_* metric families. Nothing runs
 * until cron_start(). */
struct cron *cron_create(const struct config *cfg, struct loop *loop, struct store *store,
			 struct metrics *metrics, const struct job_sink *sink);
/* Runs the misfired jobs (see above) and arms the timer. */
void cron_start(struct cron *c);
/* cron_start() at a chosen wall clock time (tests). */
void cron_start_at(struct cron *c, int64_t now_wall_ms);
/* Stops the timer. A run still in flight is forgotten: its done callback (which the sink
 * still calls, e.g. when it cancels the turn) only frees its own memory, and its answer is not
 * delivered or recorded. Accepts NULL. */
void cron_destroy(struct cron *c);

/* What the timer does, with the wall clock time as an argument so tests can drive time:
 * starts every job whose next run is at or before now_wall_ms (or counts it as skipped when
 * its previous run is still going), then computes each such job's next run strictly after
 * now_wall_ms, and re-arms the timer. A clock jump backwards only delays runs; a jump forward
 * runs each due job once. */
void cron_tick(struct cron *c, int64_t now_wall_ms);
/* The next run of job j in the process time zone, in wall-clock milliseconds, or -1 when the
 * job is disabled or never runs. Tests read it to pick times. */
int64_t cron_job_next_ms(const struct cron *c, const char *name);
/* Whether the enabled job name has a run in flight (false for an unknown or disabled job or
 * a NULL c). */
bool cron_job_running(const struct cron *c, const char *name);
/* Starts a run of the enabled job name now, as its time would (same turn, skills, health
 * check tool, last-run record and metrics; its schedule is unchanged). Returns 0 once
 * started, -ENOENT (no such enabled job), -EBUSY (a run is going), -EAGAIN (state.db locked
 * by another process) or -EIO (the turn could not start; logged). */
int cron_run_now(struct cron *c, const char *name);

/* The first time expr matches strictly after now_wall_ms (seconds ignored), in the process
 * time zone. A time in a DST gap runs at the corresponding instant after the jump; in the
 * repeated hour of a fall-back a job runs once. Returns 0 with *next_ms set, or -ENOENT. */
int cron_next_after(const struct cronexpr *expr, int64_t now_wall_ms, int64_t *next_ms);
/* cron_next_after() for a configured job (disabled jobs too). */
int cron_next_run(const struct config_cron_job *j, int64_t now_wall_ms, int64_t *next_ms);

#endif

/* cron: runs the config's enabled cron jobs at their times, each as a fresh agent turn
 * through a job_sink, and delivers the answer to the job's `deliver` target.
 *
 * Times are local (the process TZ, which main sets from cfg->timezone). A job still running
 * when its next time comes is skipped and counted. A run missed while the process was down
 * runs once at start when its time is within the job's misfire_grace_s. Last run time, status
 * and cost are kept in the store (kv "cron.<name>.last_run") and exported as metrics.
 */
#ifndef HERMETIC_CRON_H
#define HERMETIC_CRON_H

#include <stdint.h>

struct config;
struct config_cron_job;
struct cronexpr;
struct job_sink;
struct loop;
struct metrics;
struct store;

#define CRON_SKILL_MAX_BYTES (16 * 1024)

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

/* The first time expr matches strictly after now_wall_ms (seconds ignored), in the process
 * time zone. A time in a DST gap runs at the corresponding instant after the jump; in the
 * repeated hour of a fall-back a job runs once. Returns 0 with *next_ms set, or -ENOENT. */
int cron_next_after(const struct cronexpr *expr, int64_t now_wall_ms, int64_t *next_ms);
/* cron_next_after() for a configured job (disabled jobs too). */
int cron_next_run(const struct config_cron_job *j, int64_t now_wall_ms, int64_t *next_ms);

#endif

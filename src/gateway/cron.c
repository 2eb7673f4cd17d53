/* cron: one libevent timer armed for the nearest next run of all enabled jobs. Each fire
 * reads the wall clock and asks cronexpr for the next local minute after it, converted with
 * mktime() in the process time zone; so DST changes and clock jumps cannot make a job fire
 * twice or never: a due job runs once and its next time is computed strictly after "now".
 * The timer is never armed for more than a minute, so a wall clock step is noticed soon.
 * While another process locks state.db a run cannot create its session: it is tried again
 * every LOCKED_RETRY_MS instead of being skipped, and last-run records wait in store_write's
 * queue (a lost one would make the run repeat as a misfire at the next start).
 *
 * Rejected: one timer per job (more events for no gain); computing the next time from the
 * previous scheduled time (a clock jump forward would replay every missed minute); a
 * catch-up of every missed run at start (only the latest one within misfire_grace_s runs).
 * In the repeated hour of a fall-back a fixed-time job runs once; a "*\/15" job does not run
 * a second time in the repeated hour (Vixie cron's choice for fixed times, applied to all).
 */
#include "gateway/cron.h"
#include "core/config.h"
#include "core/fileio.h"
#include "gateway/jobs.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/store.h"
#include "core/util.h"
#include "tools/tools.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ARM_MS    60000
#define MISFIRE_STEPS 100000
#define SKILLS_MAX    (64 * 1024)
/* A run whose session cannot be created while another process locks state.db tries again
 * after this long (its next scheduled run, if sooner, replaces the retry). */
#define LOCKED_RETRY_MS 2000

struct cron_run;

struct cron_job {
	const struct config_cron_job *cfg;
	int64_t next_ms; /* -1 = never */
	int64_t last_ms; /* last start time, -1 = never ran */
	struct cron_run *running;
	bool waiting; /* its last start found state.db locked (logged once) */
};

struct cron {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	const struct job_sink *sink;
	struct event *timer;
	struct cron_job *jobs;
	size_t n_jobs;
	struct metric *m_last, *m_runs, *m_skipped;
};

/* One run in flight. c NULL = cron was destroyed; the callback only frees it. */
struct cron_run {
	struct cron *c;
	struct cron_job *job;
	int64_t started_ms;
};

int cron_next_after(const struct cronexpr *expr, int64_t now_wall_ms, int64_t *next_ms)
{
	time_t now = (time_t)(now_wall_ms / 1000), t;
	struct tm after, next, conv;
	int i;

	if (!localtime_r(&now, &after))
		return -ENOENT;
	/* A time inside a DST gap converts to an instant after the jump; one that converts to
	 * "now" or earlier (fall-back ambiguity) is stepped past. */
	for (i = 0; i < 8; i++) {
		if (cronexpr_next(expr, &after, &next) < 0)
			return -ENOENT;
		conv = next;
		conv.tm_isdst = -1;
		t = mktime(&conv);
		if (t != (time_t)-1 && (int64_t)t * 1000 > now_wall_ms) {
			*next_ms = (int64_t)t * 1000;
			return 0;
		}
		after = next;
	}
	return -ENOENT;
}

int cron_next_run(const struct config_cron_job *j, int64_t now_wall_ms, int64_t *next_ms)
{
	return cron_next_after(&j->expr, now_wall_ms, next_ms);
}

static char *kv_key(const struct cron_job *job)
{
	return xasprintf("cron.%s.last_run", job->cfg->name);
}

static void load_last(struct cron *c, struct cron_job *job)
{
	char *key = kv_key(job), *value = NULL;
	cJSON *root, *t;

	job->last_ms = -1;
	if (store_kv_get(c->store, key, &value) == 0) {
		root = cJSON_Parse(value);
		t = cJSON_GetObjectItemCaseSensitive(root, "time_ms");
		if (cJSON_IsNumber(t))
			job->last_ms = (int64_t)t->valuedouble;
		cJSON_Delete(root);
	}
	free(value);
	free(key);
	if (job->last_ms >= 0 && c->m_last)
		metric_set(c->m_last, (const char *[]){job->cfg->name},
			   (double)job->last_ms / 1000);
}

static void save_last(struct cron *c, struct cron_job *job, int64_t time_ms, const char *status,
		      double cost_usd)
{
	char *key = kv_key(job);
	char *value = xasprintf("{\"time_ms\":%lld,\"status\":\"%s\",\"cost_usd\":%.6f}",
				(long long)time_ms, status, cost_usd);
	int rc;

	/* Through store_write: a last run lost to a lock would repeat as a misfire at start. */
	rc = store_kv_put(c->store, key, value);
	if (rc < 0 && rc != -EINPROGRESS)
		log_warn("cron %s: could not save the last run time", job->cfg->name);
	free(value);
	free(key);
}

/* The job's skill called name, found as skill_view finds it (home/skills, then
 * skills.external_dirs, at the top or in a category folder). */
static int read_skill(const struct config *cfg, const char *name, struct buf *out)
{
	char *path = tools_skill_file(cfg, name);
	int rc = path ? fileio_read_head(path, CRON_SKILL_MAX_BYTES, out, NULL) : -ENOENT;

	free(path);
	return rc;
}

/* The text of the job's skills for the run's system prompt, or NULL when it has none. */
static char *skills_text(const struct config *cfg, const struct config_cron_job *j)
{
	struct buf b, one;
	size_t i;

	buf_init(&b, SKILLS_MAX);
	for (i = 0; i < j->n_skills; i++) {
		buf_init(&one, 0);
		if (read_skill(cfg, j->skills[i], &one) < 0)
			log_warn("cron %s: skill '%s' not found; running without it", j->name,
				 j->skills[i]);
		else if (buf_printf(&b, "%s## Skill: %s\n%s\n", b.len ? "\n" : "", j->skills[i],
				    buf_str(&one)) < 0)
			log_warn("cron %s: skill '%s' left out: the skills pass %d KiB", j->name,
				 j->skills[i], SKILLS_MAX / 1024);
		buf_finish(&one);
	}
	if (!b.len) {
		buf_finish(&b);
		return NULL;
	}
	return buf_steal(&b);
}

static void on_run_done(const struct job_result *r, void *arg)
{
	struct cron_run *run = arg;
	struct cron *c = run->c;
	struct cron_job *job = run->job;
	const char *status = r->ok ? "ok" : "failed";
	char *text;

	if (!c) {
		free(run);
		return;
	}
	job->running = NULL;
	save_last(c, job, run->started_ms, status, r->cost_usd);
	if (c->m_runs)
		metric_inc(c->m_runs, (const char *[]){job->cfg->name, status}, 1);
	if (r->ok) {
		log_info("cron %s: done", job->cfg->name);
		c->sink->deliver(c->sink->ctx, &job->cfg->deliver, r->text ? r->text : "");
	} else {
		log_warn("cron %s: failed: %s", job->cfg->name,
			 r->text ? r->text : "unknown error");
		text = xasprintf("cron job %s failed: %s", job->cfg->name,
				 r->text ? r->text : "unknown error");
		c->sink->deliver(c->sink->ctx, &job->cfg->deliver, text);
		free(text);
	}
	free(run);
}

/* Starts a run of job. Returns -EAGAIN when it should be tried again shortly (the database
 * is locked by another process), else 0 (started or skipped, logged). */
static int start_job(struct cron *c, struct cron_job *job, int64_t now_ms)
{
	const struct config_cron_job *j = job->cfg;
	struct cron_run *run;
	char *source, *extra;
	int rc;

	if (job->running) {
		log_warn("cron %s: skipped: the previous run is still going", j->name);
		if (c->m_skipped)
			metric_inc(c->m_skipped, (const char *[]){j->name}, 1);
		return 0;
	}
	run = xcalloc(1, sizeof(*run));
	run->c = c;
	run->job = job;
	run->started_ms = now_ms;
	source = xasprintf("cron:%s", j->name);
	extra = skills_text(c->cfg, j);
	rc = c->sink->run(c->sink->ctx, source, j->model, j->prompt, extra, on_run_done, run);
	free(extra);
	free(source);
	if (rc == -EAGAIN) {
		free(run);
		if (!job->waiting)
			log_warn("cron %s: waits: state.db is locked by another process, so its"
				 " session cannot be created; retrying every %d s",
				 j->name, LOCKED_RETRY_MS / 1000);
		job->waiting = true;
		return rc;
	}
	job->waiting = false;
	if (rc < 0) {
		free(run);
		log_warn("cron %s: skipped: the turn could not start (%s)", j->name,
			 rc == -EBUSY ? "a turn of this job is running" : strerror(-rc));
		if (c->m_skipped)
			metric_inc(c->m_skipped, (const char *[]){j->name}, 1);
		return 0;
	}
	log_info("cron %s: started", j->name);
	job->running = run;
	job->last_ms = now_ms;
	/* Recorded now so a crash mid-run does not count as a missed run at the next start. */
	save_last(c, job, now_ms, "running", 0);
	if (c->m_last)
		metric_set(c->m_last, (const char *[]){j->name}, (double)now_ms / 1000);
	return 0;
}

static void arm(struct cron *c, int64_t now_ms)
{
	int64_t nearest = -1, delay_ms;
	struct timeval tv;
	size_t i;

	for (i = 0; i < c->n_jobs; i++)
		if (c->jobs[i].next_ms >= 0 && (nearest < 0 || c->jobs[i].next_ms < nearest))
			nearest = c->jobs[i].next_ms;
	if (nearest < 0)
		return;
	delay_ms = nearest - now_ms;
	if (delay_ms < 0)
		delay_ms = 0;
	if (delay_ms > MAX_ARM_MS)
		delay_ms = MAX_ARM_MS;
	tv.tv_sec = (time_t)(delay_ms / 1000);
	tv.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* The next run after now; after start_rc -EAGAIN, a retry soon unless a run is due first. */
static void compute_next(struct cron_job *job, int64_t now_ms, int start_rc)
{
	if (cron_next_run(job->cfg, now_ms, &job->next_ms) < 0)
		job->next_ms = -1;
	if (start_rc == -EAGAIN && (job->next_ms < 0 || now_ms + LOCKED_RETRY_MS < job->next_ms))
		job->next_ms = now_ms + LOCKED_RETRY_MS;
}

void cron_tick(struct cron *c, int64_t now_wall_ms)
{
	struct cron_job *job;
	size_t i;

	for (i = 0; i < c->n_jobs; i++) {
		job = &c->jobs[i];
		if (job->next_ms < 0 || job->next_ms > now_wall_ms)
			continue;
		compute_next(job, now_wall_ms, start_job(c, job, now_wall_ms));
	}
	arm(c, now_wall_ms);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	cron_tick(arg, now_wall_ms());
}

/* Whether a scheduled time in (last run, now] lies within the grace period. */
static bool misfired(const struct cron_job *job, int64_t now_ms)
{
	int64_t grace_ms = job->cfg->misfire_grace_s * 1000, t, after;
	int i;

	if (job->last_ms < 0)
		return false;
	after = now_ms - grace_ms - 60000;
	if (after < job->last_ms)
		after = job->last_ms;
	for (i = 0; i < MISFIRE_STEPS; i++) {
		if (cron_next_run(job->cfg, after, &t) < 0 || t > now_ms)
			return false;
		if (t > job->last_ms && t >= now_ms - grace_ms)
			return true;
		after = t;
	}
	return false;
}

struct cron *cron_create(const struct config *cfg, struct loop *loop, struct store *store,
			 struct metrics *metrics, const struct job_sink *sink)
{
	struct cron *c = xcalloc(1, sizeof(*c));
	size_t i;

	c->cfg = cfg;
	c->loop = loop;
	c->store = store;
	c->sink = sink;
	c->timer = evtimer_new(loop_base(loop), on_timer, c);
	if (metrics) {
		c->m_last = metrics_add(
			metrics, METRIC_GAUGE, "hermetic_cron_last_run_timestamp_seconds",
			"Start time of the last run of a cron job", (const char *[]){"job", NULL});
		c->m_runs = metrics_add(metrics, METRIC_COUNTER, "hermetic_cron_runs_total",
					"Finished cron job runs by status",
					(const char *[]){"job", "status", NULL});
		c->m_skipped = metrics_add(
			metrics, METRIC_COUNTER, "hermetic_cron_skipped_total",
			"Cron job runs skipped because the previous run was still going",
			(const char *[]){"job", NULL});
	}
	c->jobs = xcalloc(cfg->n_cron_jobs ? cfg->n_cron_jobs : 1, sizeof(*c->jobs));
	for (i = 0; i < cfg->n_cron_jobs; i++) {
		if (!cfg->cron_jobs[i].enabled)
			continue;
		c->jobs[c->n_jobs].cfg = &cfg->cron_jobs[i];
		c->jobs[c->n_jobs].next_ms = -1;
		load_last(c, &c->jobs[c->n_jobs]);
		c->n_jobs++;
	}
	return c;
}

void cron_start(struct cron *c)
{
	cron_start_at(c, now_wall_ms());
}

void cron_start_at(struct cron *c, int64_t now)
{
	size_t i;

	int rc;

	for (i = 0; i < c->n_jobs; i++) {
		rc = 0;
		if (misfired(&c->jobs[i], now)) {
			log_info("cron %s: running a run missed while hermetic was down",
				 c->jobs[i].cfg->name);
			rc = start_job(c, &c->jobs[i], now);
		}
		compute_next(&c->jobs[i], now, rc);
	}
	arm(c, now);
}

int64_t cron_job_next_ms(const struct cron *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->n_jobs; i++)
		if (strcmp(c->jobs[i].cfg->name, name) == 0)
			return c->jobs[i].next_ms;
	return -1;
}

void cron_destroy(struct cron *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_jobs; i++)
		if (c->jobs[i].running)
			c->jobs[i].running->c = NULL;
	if (c->timer)
		event_free(c->timer);
	free(c->jobs);
	free(c);
}

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
 *
 * Health checks (report: on_failure): the run's turn gets a `report` tool of its own
 * (agent_tool, answered here, so no other turn ever sees it); the last call's verdict wins.
 * The verdict is stored through store_write with the rows past CRON_VERDICTS_KEPT deleted in
 * the same transaction. Rejected: reading the verdict out of the answer's text (a model that
 * writes "all ok, but..." is not a verdict), and a verdict in the kv table (ten rows a job
 * read as a list want a table).
 */
#include "gateway/cron.h"
#include "agent/agent.h"
#include "core/json.h"
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
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ARM_MS    60000
#define MISFIRE_STEPS 100000
#define SKILLS_MAX    (64 * 1024)
/* A run whose session cannot be created while another process locks state.db tries again
 * after this long (its next scheduled run, if sooner, replaces the retry). */
#define LOCKED_RETRY_MS 2000
/* A run whose model call a rate pool deferred (no room within max_wait_s) runs again after
 * this long times the deferrals in a row (at most DEFER_MAX_MS; sooner if its next scheduled
 * run is); the DEFER_GIVE_UP-th deferral in a row (after about 10 minutes of retries) fails
 * the run instead, reported once to the alerts, and the job waits for its next scheduled
 * run. */
#define DEFER_RETRY_MS 60000
#define DEFER_MAX_MS   (10 * 60000)
#define DEFER_GIVE_UP  5

struct cron_run;

struct cron_job {
	const struct config_cron_job *cfg;
	int64_t next_ms; /* -1 = never */
	int64_t last_ms; /* last start time, -1 = never ran */
	struct cron_run *running;
	bool waiting;  /* its last start found state.db locked (logged once) */
	int deferrals; /* runs in a row a rate pool had no room for (docs/pools.md) */
};

struct cron {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	const struct job_sink *sink;
	struct event *timer;
	struct cron_job *jobs;
	size_t n_jobs;
	struct metric *m_last, *m_runs, *m_skipped, *m_health;
};

/* One run in flight. c NULL = cron was destroyed; the callback only frees it. */
struct cron_run {
	struct cron *c;
	struct cron_job *job;
	int64_t started_ms;
	/* A health check's: its report tool and the verdict of the last good call. */
	struct agent_tool tool;
	bool have_verdict;
	enum cron_status status;
	char *summary, *details;
};

#define REPORT_SCHEMA                                                                              \
	"{\"type\":\"function\",\"function\":{\"name\":\"report\",\"description\":\"End this "     \
	"health check with its verdict: ok when everything checked is healthy, warn when "         \
	"something needs a look soon, fail when something is broken or could not be checked. "     \
	"Call it once, when the checks are done. Only warn and fail reach the human.\","           \
	"\"parameters\":{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\","     \
	"\"enum\":[\"ok\",\"warn\",\"fail\"]},\"summary\":{\"type\":\"string\",\"description\":"   \
	"\"one line: what was found\"},\"details\":{\"type\":\"string\",\"description\":"          \
	"\"optional: the evidence (values, names, errors) a human needs to act\"}},"               \
	"\"required\":[\"status\",\"summary\"]}}}"

#define REPORT_NOTE                                                                                \
	"## Health check\nThis run is a scheduled health check. When your checks are done, call "  \
	"the `report` tool once with the verdict (ok, warn or fail) and a one-line summary. A "    \
	"run that ends without calling `report` counts as failed."

static const char *const status_names[] = {"ok", "warn", "fail"};

const char *cron_status_name(enum cron_status s)
{
	return (size_t)s < ARRAY_LEN(status_names) ? status_names[s] : "fail";
}

static int status_parse(const char *name, enum cron_status *out)
{
	for (size_t i = 0; i < ARRAY_LEN(status_names); i++)
		if (strcmp(name, status_names[i]) == 0) {
			*out = (enum cron_status)i;
			return 0;
		}
	return -EINVAL;
}

/* A copy of s cut to max bytes at a character boundary, line breaks of a one-liner blanked. */
static char *cut_copy(const char *s, size_t max, bool one_line)
{
	size_t len = strlen(s);
	char *out;

	if (len > max)
		len = utf8_cut(s, max);
	out = xstrndup(s, len);
	for (char *p = out; one_line && *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return out;
}

int cron_verdict_parse(const char *args_json, enum cron_status *status, char **summary,
		       char **details, char *err, size_t err_len)
{
	cJSON *root = json_parse_str(args_json ? args_json : "", NULL);
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "status");
	const cJSON *sum = cJSON_GetObjectItemCaseSensitive(root, "summary");
	const cJSON *det = cJSON_GetObjectItemCaseSensitive(root, "details");
	int rc = -EINVAL;

	if (!cJSON_IsObject(root))
		snprintf(err, err_len, "the arguments are not a JSON object");
	else if (!cJSON_IsString(st) || status_parse(st->valuestring, status) < 0)
		snprintf(err, err_len, "status must be \"ok\", \"warn\" or \"fail\"");
	else if (!cJSON_IsString(sum) || !*sum->valuestring)
		snprintf(err, err_len, "summary must be a non-empty string");
	else if (det && !cJSON_IsString(det) && !cJSON_IsNull(det))
		snprintf(err, err_len, "details must be a string");
	else
		rc = 0;
	if (rc == 0) {
		*summary = cut_copy(sum->valuestring, CRON_SUMMARY_MAX, true);
		*details = cut_copy(cJSON_IsString(det) ? det->valuestring : "", CRON_DETAILS_MAX,
				    false);
	}
	cJSON_Delete(root);
	return rc;
}

/* The report tool's call (agent_tool.call). */
static bool report_call(const char *args_json, struct buf *out, void *arg)
{
	struct cron_run *run = arg;
	enum cron_status st;
	char *summary, *details, err[128];

	if (cron_verdict_parse(args_json, &st, &summary, &details, err, sizeof(err)) < 0) {
		buf_printf(out, "The verdict was not recorded: %s. Call report again.", err);
		return true;
	}
	free(run->summary);
	free(run->details);
	run->summary = summary;
	run->details = details;
	run->status = st;
	run->have_verdict = true;
	buf_printf(out,
		   "Verdict recorded: %s. Finish with a one-line answer; do not call report "
		   "again.",
		   cron_status_name(st));
	return false;
}

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
		root = json_parse_str(value, NULL);
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

/* ---- verdicts ------------------------------------------------------------------------ */

/* A verdict on its way to the store; it waits in memory (store_write) while another process
 * holds the database's lock. */
struct verdict_write {
	char *job, *summary, *details;
	int64_t time_ms, session_id;
	enum cron_status status;
};

static int write_verdict(struct store *s, void *arg)
{
	struct verdict_write *w = arg;
	sqlite3_stmt *ins = NULL, *del = NULL;
	int rc = store_begin(s);

	if (rc == 0 &&
	    (sqlite3_prepare_v2(store_db(s),
				"INSERT INTO cron_verdicts (job, time_ms, status, summary, details,"
				" session_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
				-1, &ins, NULL) != SQLITE_OK ||
	     sqlite3_prepare_v2(store_db(s),
				"DELETE FROM cron_verdicts WHERE job = ?1 AND id NOT IN (SELECT id"
				" FROM cron_verdicts WHERE job = ?1 ORDER BY id DESC LIMIT ?2)",
				-1, &del, NULL) != SQLITE_OK))
		rc = store_fail(s, "cron verdicts");
	if (rc == 0) {
		sqlite3_bind_text(ins, 1, w->job, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 2, w->time_ms);
		sqlite3_bind_text(ins, 3, cron_status_name(w->status), -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, w->summary, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 5, w->details, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 6, w->session_id);
		if (sqlite3_step(ins) != SQLITE_DONE)
			rc = store_fail(s, "store a cron verdict");
	}
	if (rc == 0) {
		sqlite3_bind_text(del, 1, w->job, -1, SQLITE_STATIC);
		sqlite3_bind_int(del, 2, CRON_VERDICTS_KEPT);
		if (sqlite3_step(del) != SQLITE_DONE)
			rc = store_fail(s, "drop old cron verdicts");
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(del);
	return store_end(s, rc);
}

static void verdict_write_free(struct verdict_write *w, int rc)
{
	if (rc < 0)
		log_warn("cron %s: the verdict was not stored", w->job);
	free(w->job);
	free(w->summary);
	free(w->details);
	free(w);
}

static void on_verdict_written(void *arg, int rc)
{
	verdict_write_free(arg, rc);
}

static void save_verdict(struct cron *c, const struct cron_run *run, enum cron_status st,
			 const char *summary, const char *details, int64_t session_id)
{
	struct verdict_write *w = xcalloc(1, sizeof(*w));
	int rc;

	*w = (struct verdict_write){xstrdup(run->job->cfg->name),
				    xstrdup(summary),
				    xstrdup(details),
				    run->started_ms,
				    session_id,
				    st};
	rc = store_write(c->store, write_verdict, w, on_verdict_written);
	if (rc != -EINPROGRESS) {
		if (rc < 0)
			log_warn("cron %s: %s", run->job->cfg->name, store_error(c->store));
		verdict_write_free(w, rc);
	}
}

int cron_verdicts_list(struct store *s, const char *job, struct cron_verdict *out, size_t max,
		       size_t *n)
{
	sqlite3_stmt *st;
	const char *status, *summary;
	int rc;

	*n = 0;
	if (sqlite3_prepare_v2(store_db(s),
			       "SELECT time_ms, status, summary FROM cron_verdicts WHERE job = ?1"
			       " ORDER BY id DESC LIMIT ?2",
			       -1, &st, NULL) != SQLITE_OK) {
		store_fail(s, "read cron verdicts");
		return -EIO;
	}
	sqlite3_bind_text(st, 1, job, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)max);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
		struct cron_verdict *v = &out[(*n)++];

		status = (const char *)sqlite3_column_text(st, 1);
		summary = (const char *)sqlite3_column_text(st, 2);
		v->time_ms = sqlite3_column_int64(st, 0);
		if (!status || status_parse(status, &v->status) < 0)
			v->status = CRON_FAIL;
		snprintf(v->summary, sizeof(v->summary), "%s", summary ? summary : "");
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -EIO;
}

void cron_verdicts_text(struct store *s, const struct config_cron_job *j, struct buf *out)
{
	static const char *const marks[] = {"✓", "⚠", "✗"};
	struct cron_verdict v[CRON_VERDICTS_KEPT];
	char when[32];
	struct tm tm;
	time_t t;
	size_t n;

	if (j->report != CONFIG_CRON_REPORT_ON_FAILURE)
		return;
	if (!s || cron_verdicts_list(s, j->name, v, ARRAY_LEN(v), &n) < 0) {
		buf_puts(out, "health: verdicts could not be read\n");
		return;
	}
	if (!n) {
		buf_puts(out, "health: no verdict yet\n");
		return;
	}
	t = (time_t)(v[0].time_ms / 1000);
	if (!localtime_r(&t, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm))
		snprintf(when, sizeof(when), "@%lld", (long long)t);
	buf_printf(out,
		   "health: %s at %s: %s; last %zu, oldest first: ", cron_status_name(v[0].status),
		   when, v[0].summary, n);
	for (size_t i = n; i-- > 0;)
		buf_puts(out, marks[v[i].status]);
	buf_puts(out, "\n");
}

static void set_health(struct cron *c, const struct cron_job *job, enum cron_status st)
{
	if (c->m_health)
		metric_set(c->m_health, (const char *[]){job->cfg->name}, (double)st);
}

/* A health check's run ended: its verdict (fail "no verdict" without one) is stored, counted
 * and delivered unless it is ok. */
static void health_done(struct cron *c, struct cron_run *run, const struct job_result *r)
{
	const char *name = run->job->cfg->name;
	enum cron_status st = run->have_verdict ? run->status : CRON_FAIL;
	char *summary, *text;

	if (run->have_verdict) {
		summary = xstrdup(run->summary);
	} else if (r->ok) {
		summary = xstrdup("no verdict: the run ended without calling report");
	} else {
		char *why =
			utf8_clip_dup(r->text && *r->text ? r->text : "unknown error", 200, true);

		summary = xasprintf("no verdict: the run failed: %s", why);
		free(why);
	}
	save_verdict(c, run, st, summary, run->have_verdict ? run->details : "", r->session_id);
	set_health(c, run->job, st);
	if (st == CRON_OK) {
		log_info("cron %s: health ok: %s", name, summary);
	} else {
		log_warn("cron %s: health %s: %s", name, cron_status_name(st), summary);
		text = xasprintf("Health check %s: %s\n%s%s%s", name,
				 st == CRON_WARN ? "WARN" : "FAIL", summary,
				 run->have_verdict && *run->details ? "\n\n" : "",
				 run->have_verdict ? run->details : "");
		c->sink->deliver(c->sink->ctx, &run->job->cfg->deliver, text);
		free(text);
	}
	if (c->sink->outcome) {
		char *source = xasprintf("cron:%s", name);

		c->sink->outcome(c->sink->ctx, source, st != CRON_FAIL, summary);
		free(source);
	}
	free(summary);
}

static void run_free(struct cron_run *run)
{
	free(run->summary);
	free(run->details);
	free(run);
}

static void arm(struct cron *c, int64_t now_ms);

/* The run's model call found no room in a rate pool: it is run again later, never dropped.
 * started_ms: when the run started (now is never taken as earlier). */
static void defer_run(struct cron *c, struct cron_job *job, const struct job_result *r,
		      int64_t started_ms)
{
	int64_t now = now_wall_ms(), delay = DEFER_RETRY_MS * (int64_t)(job->deferrals + 1);

	if (now < started_ms)
		now = started_ms;
	job->deferrals++;
	if (r->retry_after_s * 1000 > delay)
		delay = r->retry_after_s * 1000;
	if (delay > DEFER_MAX_MS)
		delay = DEFER_MAX_MS;
	if (job->next_ms < 0 || now + delay < job->next_ms)
		job->next_ms = now + delay;
	log_warn("cron %s: deferred (%d in a row): no room in the rate pool; runs again in %lld s",
		 job->cfg->name, job->deferrals, (long long)((job->next_ms - now) / 1000));
	arm(c, now);
}

static void on_run_done(const struct job_result *r, void *arg)
{
	struct cron_run *run = arg;
	struct cron *c = run->c;
	struct cron_job *job = run->job;
	const char *status = r->ok ? "ok" : "failed";
	char *text, *source, *gave_up = NULL;
	struct job_result failed;

	if (!c) {
		run_free(run);
		return;
	}
	job->running = NULL;
	/* Deferred again and again: the pool has had no room for it for long; a failure to
	 * report (once), not a retry for ever. */
	if (!r->ok && r->deferred && job->deferrals + 1 >= DEFER_GIVE_UP) {
		gave_up = xasprintf("deferred %d times in a row: the rate pool had no room for its "
				    "model call (see `hermetic pools`); it runs again at its next "
				    "scheduled time. Last: %s",
				    job->deferrals + 1, r->text ? r->text : "no room");
		failed = *r;
		failed.deferred = false;
		failed.text = gave_up;
		r = &failed;
	}
	if (!r->ok && r->deferred)
		status = "deferred";
	save_last(c, job, run->started_ms, status, r->cost_usd);
	if (c->m_runs)
		metric_inc(c->m_runs, (const char *[]){job->cfg->name, status}, 1);
	if (!r->ok && r->deferred) {
		defer_run(c, job, r, run->started_ms);
		run_free(run);
		return;
	}
	job->deferrals = 0;
	if (job->cfg->report == CONFIG_CRON_REPORT_ON_FAILURE) {
		health_done(c, run, r);
		run_free(run);
		free(gave_up);
		return;
	}
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
	if (c->sink->outcome) {
		source = xasprintf("cron:%s", job->cfg->name);
		c->sink->outcome(c->sink->ctx, source, r->ok, r->text);
		free(source);
	}
	run_free(run);
	free(gave_up);
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
	if (j->report == CONFIG_CRON_REPORT_ON_FAILURE) {
		char *with_note =
			xasprintf("%s%s" REPORT_NOTE, extra ? extra : "", extra ? "\n\n" : "");

		free(extra);
		extra = with_note;
		run->tool = (struct agent_tool){.name = "report",
						.schema_json = REPORT_SCHEMA,
						.call = report_call,
						.arg = run};
	}
	rc = c->sink->run(c->sink->ctx,
			  &(struct job_opts){.source = source,
					     .model = j->model,
					     .prompt = j->prompt,
					     .extra_system = extra,
					     .tool = run->tool.name ? &run->tool : NULL},
			  on_run_done, run);
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

/* The gauge of a health check starts at its last stored verdict. */
static void load_health(struct cron *c, const struct cron_job *job)
{
	struct cron_verdict v;
	size_t n = 0;

	if (job->cfg->report == CONFIG_CRON_REPORT_ON_FAILURE && c->store &&
	    cron_verdicts_list(c->store, job->cfg->name, &v, 1, &n) == 0 && n == 1)
		set_health(c, job, v.status);
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
		c->m_health = metrics_add(
			metrics, METRIC_GAUGE, "hermetic_cron_health_status",
			"Last verdict of a health check (report: on_failure): 0 ok, 1 warn, 2 fail",
			(const char *[]){"job", NULL});
	}
	c->jobs = xcalloc(cfg->n_cron_jobs ? cfg->n_cron_jobs : 1, sizeof(*c->jobs));
	for (i = 0; i < cfg->n_cron_jobs; i++) {
		if (!cfg->cron_jobs[i].enabled)
			continue;
		c->jobs[c->n_jobs].cfg = &cfg->cron_jobs[i];
		c->jobs[c->n_jobs].next_ms = -1;
		load_last(c, &c->jobs[c->n_jobs]);
		load_health(c, &c->jobs[c->n_jobs]);
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

static struct cron_job *find_job(const struct cron *c, const char *name)
{
	for (size_t i = 0; i < c->n_jobs; i++)
		if (strcmp(c->jobs[i].cfg->name, name) == 0)
			return &c->jobs[i];
	return NULL;
}

bool cron_job_running(const struct cron *c, const char *name)
{
	const struct cron_job *job = c ? find_job(c, name) : NULL;

	return job && job->running;
}

int cron_run_now(struct cron *c, const char *name)
{
	struct cron_job *job = c ? find_job(c, name) : NULL;
	int rc;

	if (!job)
		return -ENOENT;
	if (job->running)
		return -EBUSY;
	log_info("cron %s: run now, asked by hand", name);
	rc = start_job(c, job, now_wall_ms());
	if (rc < 0)
		return rc;
	return job->running ? 0 : -EIO;
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

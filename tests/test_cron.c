/* cron: times in a DST zone (America/New_York around both changes), @hourly/@daily, a due job
 * runs once however often the timer fires, skip-if-running counted, misfire within and
 * outside the grace, a job that never ran has no misfire run, last run persisted across
 * destroy/create, skills in the run's system text, failure text delivered, destroy with a
 * run in flight; health checks (report: on_failure): the report tool offered to their runs
 * only, ok delivers nothing, warn/fail and no verdict are delivered, the last 10 verdicts
 * kept, the health gauge, bad report arguments. Time is driven with
 * cron_tick()/cron_start_at(); the loop never runs. */
#include "fake_sink.h"

#include "gateway/cron.h"
#include "agent/agent.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/store.h"
#include "gateway/schema.h"

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

struct fx {
	char home[32];
	struct config *cfg;
	struct loop *loop;
	struct store *store;
	struct metrics *metrics;
	struct fake_sink fake;
	struct cron *cron;
};

static int64_t utc(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};

	return (int64_t)timegm(&tm) * 1000;
}

static struct fx *fx_create(const char *yaml)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	char err[256], *path;

	log_set_stderr(0);
	setenv("TZ", "America/New_York", 1);
	tzset();
	snprintf(f->home, sizeof(f->home), "/tmp/hm-cron-XXXXXX");
	assert_non_null(mkdtemp(f->home));
	f->cfg = fake_config(f->home, yaml);
	f->loop = loop_create();
	path = xasprintf("%s/state.db", f->home);
	assert_int_equal(store_open(path, &f->store, err, sizeof(err)), 0);
	free(path);
	f->metrics = metrics_create();
	fake_init(&f->fake);
	f->cron = cron_create(f->cfg, f->loop, f->store, f->metrics, &f->fake.sink);
	return f;
}

/* A new cron (and metrics) over the same store, as after a restart. */
static void fx_restart(struct fx *f)
{
	cron_destroy(f->cron);
	metrics_destroy(f->metrics);
	f->metrics = metrics_create();
	f->cron = cron_create(f->cfg, f->loop, f->store, f->metrics, &f->fake.sink);
}

static void fx_destroy(struct fx *f)
{
	cron_destroy(f->cron);
	metrics_destroy(f->metrics);
	store_close(f->store);
	loop_destroy(f->loop);
	config_destroy(f->cfg);
	fake_finish(&f->fake);
	assert_int_equal(fileio_remove_tree(f->home), 0);
	free(f);
}

static double metric_value(struct fx *f, const char *name, const char *const *labels)
{
	struct buf b;
	char *line, *p;
	double v = -1;
	size_t i;

	buf_init(&b, 0);
	metrics_render(f->metrics, &b);
	line = xasprintf("%s{", name);
	for (i = 0; labels[i]; i += 2)
		p = line,
		line = xasprintf("%s%s%s=\"%s\"", p, i ? "," : "", labels[i], labels[i + 1]),
		free(p);
	p = line, line = xasprintf("%s} ", p), free(p);
	p = strstr(buf_str(&b), line);
	if (p)
		v = strtod(p + strlen(line), NULL);
	free(line);
	buf_finish(&b);
	return v;
}

static void daily_job_follows_the_spring_forward(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: brief, schedule: '0 7 * * *', prompt: p,"
				 " deliver: 'telegram:42'}\n");

	cron_start_at(f->cron, utc(2026, 3, 6, 17, 0));				   /* 12:00 EST */
	assert_true(cron_job_next_ms(f->cron, "brief") == utc(2026, 3, 7, 12, 0)); /* 07:00 EST */
	cron_tick(f->cron, utc(2026, 3, 7, 12, 0));
	assert_int_equal(f->fake.n_runs, 1);
	assert_string_equal(f->fake.runs[0].source, "cron:brief");
	assert_string_equal(f->fake.runs[0].prompt, "p");
	assert_null(f->fake.runs[0].extra);
	/* After the change 07:00 is EDT, an hour earlier in UTC. */
	assert_true(cron_job_next_ms(f->cron, "brief") == utc(2026, 3, 8, 11, 0));
	/* The timer firing again at the same time (or the clock stepping back) runs nothing. */
	cron_tick(f->cron, utc(2026, 3, 7, 12, 0) + 500);
	cron_tick(f->cron, utc(2026, 3, 7, 11, 0));
	assert_int_equal(f->fake.n_runs, 1);
	fake_complete(&f->fake, 0, true, "good morning", 0.01);
	assert_int_equal(f->fake.n_delivered, 1);
	assert_string_equal(f->fake.delivered[0], "good morning");
	assert_string_equal(f->fake.delivered_to[0], "telegram:42");
	fx_destroy(f);
}

static void a_deferred_run_runs_again_backing_off_without_an_alert(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: brief, schedule: '0 7 * * *', prompt: p,"
				 " deliver: 'telegram:42'}\n");
	int64_t t = utc(2030, 6, 3, 11, 0); /* 07:00 EDT, after the real clock: the run's own */
	int64_t next;

	cron_start_at(f->cron, t - 60000);
	cron_tick(f->cron, t);
	assert_int_equal(f->fake.n_runs, 1);
	fake_defer(&f->fake, 0, 5);
	/* not dropped, not reported as a failure: again a minute later, not tomorrow */
	assert_int_equal(f->fake.n_delivered, 0);
	assert_int_equal(f->fake.n_failures, 0);
	next = cron_job_next_ms(f->cron, "brief");
	assert_true(next == t + 60000);
	cron_tick(f->cron, next);
	assert_int_equal(f->fake.n_runs, 2);
	fake_defer(&f->fake, 1, 5);
	assert_true(cron_job_next_ms(f->cron, "brief") == next + 2 * 60000); /* backs off */
	assert_int_equal(f->fake.n_failures, 0);
	next = cron_job_next_ms(f->cron, "brief");
	cron_tick(f->cron, next);
	fake_defer(&f->fake, 2, 900); /* a long retry-after is capped at 10 minutes */
	assert_true(cron_job_next_ms(f->cron, "brief") == next + 10 * 60000);
	/* deferrals are not failures: nothing goes to the alerts while it is retried */
	assert_int_equal(f->fake.n_failures, 0);
	assert_int_equal(f->fake.n_delivered, 0);
	next = cron_job_next_ms(f->cron, "brief");
	cron_tick(f->cron, next);
	fake_complete(&f->fake, 3, true, "good morning", 0);
	assert_int_equal(f->fake.n_delivered, 1);
	/* done: back to its schedule, tomorrow at 07:00 */
	assert_true(cron_job_next_ms(f->cron, "brief") == t + 86400000);
	fx_destroy(f);
}

/* A run the pool defers again and again is not retried for ever: the fifth deferral in a
 * row fails it, with one alert that says why, and the job goes back to its schedule. */
static void a_run_deferred_five_times_in_a_row_fails_once_and_waits_for_its_schedule(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: brief, schedule: '0 7 * * *', prompt: p,"
				 " deliver: 'telegram:42'}\n");
	int64_t t = utc(2030, 6, 3, 11, 0);
	int64_t next;

	cron_start_at(f->cron, t - 60000);
	cron_tick(f->cron, t);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(f->fake.n_runs, i + 1);
		fake_defer(&f->fake, i, 5);
		assert_int_equal(f->fake.n_failures, 0);
		next = cron_job_next_ms(f->cron, "brief");
		assert_true(next < t + 86400000); /* a retry, before tomorrow's run */
		cron_tick(f->cron, next);
	}
	assert_int_equal(f->fake.n_runs, 5);
	fake_defer(&f->fake, 4, 5);
	assert_int_equal(f->fake.n_failures, 1);
	assert_non_null(strstr(f->fake.last_failure, "deferred 5 times in a row"));
	assert_non_null(strstr(f->fake.last_failure, "hermetic pools"));
	assert_int_equal(f->fake.n_delivered, 1);
	assert_non_null(strstr(f->fake.delivered[0], "cron job brief failed: deferred 5 times"));
	assert_true(cron_job_next_ms(f->cron, "brief") == t + 86400000);
	/* tomorrow's run starts afresh: one deferral is a retry again, not a failure */
	cron_tick(f->cron, t + 86400000);
	fake_defer(&f->fake, 5, 5);
	assert_int_equal(f->fake.n_failures, 1);
	assert_true(cron_job_next_ms(f->cron, "brief") == t + 86400000 + 60000);
	fx_destroy(f);
}

static void time_in_the_dst_gap_runs_once_after_the_jump(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: gap, schedule: '30 2 * * *', prompt: p}\n");
	int64_t next;

	cron_start_at(f->cron, utc(2026, 3, 8, 5, 0)); /* 00:00 EST on the day of the change */
	next = cron_job_next_ms(f->cron, "gap");
	/* 02:30 does not exist that day: it runs right after the jump, that day. */
	assert_true(next >= utc(2026, 3, 8, 7, 0) && next <= utc(2026, 3, 8, 7, 30));
	cron_tick(f->cron, next);
	assert_int_equal(f->fake.n_runs, 1);
	assert_true(cron_job_next_ms(f->cron, "gap") == utc(2026, 3, 9, 6, 30)); /* 02:30 EDT */
	fake_complete(&f->fake, 0, true, "x", 0);
	fx_destroy(f);
}

static void repeated_hour_of_the_fall_back_runs_once(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: twice, schedule: '30 1 * * *', prompt: p}\n");
	int64_t next;

	cron_start_at(f->cron, utc(2026, 11, 1, 4, 0)); /* 00:00 EDT */
	next = cron_job_next_ms(f->cron, "twice");
	assert_true(next == utc(2026, 11, 1, 5, 30) || next == utc(2026, 11, 1, 6, 30));
	cron_tick(f->cron, utc(2026, 11, 1, 5, 30)); /* 01:30 EDT */
	cron_tick(f->cron, utc(2026, 11, 1, 6, 30)); /* 01:30 EST */
	assert_int_equal(f->fake.n_runs, 1);
	assert_true(cron_job_next_ms(f->cron, "twice") == utc(2026, 11, 2, 6, 30));
	fake_complete(&f->fake, 0, true, "x", 0);
	fx_destroy(f);
}

static void hourly_and_daily_macros(void **state)
{
	struct fx *f =
		fx_create("cron:\n  - {name: h, schedule: '@hourly', prompt: p}\n"
			  "  - {name: d, schedule: '@daily', prompt: p}\n"
			  "  - {name: off, schedule: '@hourly', prompt: p, enabled: false}\n");
	int64_t next;

	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15)); /* 08:15 EDT */
	assert_true(cron_job_next_ms(f->cron, "h") == utc(2026, 6, 1, 13, 0));
	assert_true(cron_job_next_ms(f->cron, "d") == utc(2026, 6, 2, 4, 0)); /* midnight EDT */
	assert_true(cron_job_next_ms(f->cron, "off") == -1);
	assert_int_equal(cron_next_run(&f->cfg->cron_jobs[0], utc(2026, 6, 1, 12, 59), &next), 0);
	assert_true(next == utc(2026, 6, 1, 13, 0));
	cron_tick(f->cron, utc(2026, 6, 1, 13, 0));
	assert_int_equal(f->fake.n_runs, 1);
	assert_string_equal(f->fake.runs[0].source, "cron:h");
	fake_complete(&f->fake, 0, true, "x", 0);
	fx_destroy(f);
}

static void job_still_running_is_skipped_and_counted(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: slow, schedule: '@hourly', prompt: p}\n");

	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15));
	cron_tick(f->cron, utc(2026, 6, 1, 13, 0));
	cron_tick(f->cron, utc(2026, 6, 1, 14, 0));
	assert_int_equal(f->fake.n_runs, 1);
	assert_true(metric_value(f, "hermetic_cron_skipped_total",
				 (const char *[]){"job", "slow", NULL}) == 1);
	fake_complete(&f->fake, 0, false, "boom", 0);
	assert_int_equal(f->fake.n_delivered, 1);
	assert_string_equal(f->fake.delivered[0], "cron job slow failed: boom");
	assert_true(metric_value(f, "hermetic_cron_runs_total",
				 (const char *[]){"job", "slow", "status", "failed", NULL}) == 1);
	cron_tick(f->cron, utc(2026, 6, 1, 15, 0));
	assert_int_equal(f->fake.n_runs, 2);
	fake_complete(&f->fake, 1, true, "x", 0);
	fx_destroy(f);
}

static void sink_busy_counts_as_skipped(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: b, schedule: '@hourly', prompt: p}\n");

	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15));
	f->fake.busy = true;
	cron_tick(f->cron, utc(2026, 6, 1, 13, 0));
	assert_int_equal(f->fake.n_runs, 0);
	assert_true(metric_value(f, "hermetic_cron_skipped_total",
				 (const char *[]){"job", "b", NULL}) == 1);
	fx_destroy(f);
}

static void locked_store_retries_the_run_soon(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: l, schedule: '@hourly', prompt: p}\n");

	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15));
	f->fake.locked = true;
	cron_tick(f->cron, utc(2026, 6, 1, 13, 0));
	assert_int_equal(f->fake.n_runs, 0);
	/* Not skipped: it tries again in 2 s, and again while the lock lasts. */
	assert_true(metric_value(f, "hermetic_cron_skipped_total",
				 (const char *[]){"job", "l", NULL}) <= 0);
	assert_true(cron_job_next_ms(f->cron, "l") == utc(2026, 6, 1, 13, 0) + 2000);
	cron_tick(f->cron, utc(2026, 6, 1, 13, 0) + 2000);
	assert_true(cron_job_next_ms(f->cron, "l") == utc(2026, 6, 1, 13, 0) + 4000);
	f->fake.locked = false;
	cron_tick(f->cron, utc(2026, 6, 1, 13, 0) + 4000);
	assert_int_equal(f->fake.n_runs, 1);
	assert_true(cron_job_next_ms(f->cron, "l") == utc(2026, 6, 1, 14, 0));
	fake_complete(&f->fake, 0, true, "x", 0);
	fx_destroy(f);
}

static void locked_retry_never_passes_the_next_scheduled_run(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: m, schedule: '* * * * *', prompt: p}\n");

	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15));
	f->fake.locked = true;
	cron_tick(f->cron, utc(2026, 6, 1, 12, 16) + 59000);
	assert_true(cron_job_next_ms(f->cron, "m") == utc(2026, 6, 1, 12, 17));
	fx_destroy(f);
}

static void last_run_is_persisted_across_restarts(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: p, schedule: '0 7 * * *', prompt: p}\n");
	char *value = NULL;

	cron_start_at(f->cron, utc(2026, 6, 1, 10, 0));
	cron_tick(f->cron, utc(2026, 6, 1, 11, 0)); /* 07:00 EDT */
	fake_complete(&f->fake, 0, true, "x", 0.25);
	assert_int_equal(store_kv_get(f->store, "cron.p.last_run", &value), 0);
	assert_non_null(strstr(value, "\"status\":\"ok\""));
	assert_non_null(strstr(value, "\"cost_usd\":0.25"));
	free(value);
	fx_restart(f);
	assert_true(metric_value(f, "hermetic_cron_last_run_timestamp_seconds",
				 (const char *[]){"job", "p", NULL}) ==
		    (double)(utc(2026, 6, 1, 11, 0) / 1000));
	fx_destroy(f);
}

static void misfire_within_grace_runs_once_at_start(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: m, schedule: '0 7 * * *', prompt: p}\n");

	cron_start_at(f->cron, utc(2026, 6, 1, 10, 0));
	cron_tick(f->cron, utc(2026, 6, 1, 11, 0));
	fake_complete(&f->fake, 0, true, "x", 0);
	/* Down over the next 07:00; back at 07:05 (grace 600 s). */
	fx_restart(f);
	cron_start_at(f->cron, utc(2026, 6, 2, 11, 5));
	assert_int_equal(f->fake.n_runs, 2);
	assert_true(cron_job_next_ms(f->cron, "m") == utc(2026, 6, 3, 11, 0));
	fake_complete(&f->fake, 1, true, "x", 0);
	/* A second restart right after does not run it again. */
	fx_restart(f);
	cron_start_at(f->cron, utc(2026, 6, 2, 11, 6));
	assert_int_equal(f->fake.n_runs, 2);
	fx_destroy(f);
}

static void misfire_outside_grace_or_never_ran_does_not_run(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: m, schedule: '0 7 * * *', prompt: p}\n"
				 "  - {name: n, schedule: '0 7 * * *', prompt: p}\n");

	/* n never ran: no misfire run even within the grace. */
	cron_start_at(f->cron, utc(2026, 6, 1, 11, 5));
	assert_int_equal(f->fake.n_runs, 0);
	cron_tick(f->cron, utc(2026, 6, 2, 11, 0));
	assert_int_equal(f->fake.n_runs, 2);
	fake_complete(&f->fake, 0, true, "x", 0);
	fake_complete(&f->fake, 1, true, "x", 0);
	fx_restart(f);
	cron_start_at(f->cron, utc(2026, 6, 3, 11, 15)); /* 15 min late > 10 min grace */
	assert_int_equal(f->fake.n_runs, 2);
	fx_destroy(f);
}

static void skills_are_passed_and_missing_ones_skipped(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: s, schedule: '@hourly', prompt: p,"
				 " skills: [brief, nope]}\n");
	char *dir = xasprintf("%s/skills/brief", f->home), *path;

	assert_int_equal(fileio_mkdirs(dir, 0700), 0);
	path = xasprintf("%s/SKILL.md", dir);
	assert_int_equal(fileio_write_atomic(path, "Be brief.", 9, 0600), 0);
	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15));
	cron_tick(f->cron, utc(2026, 6, 1, 13, 0));
	assert_int_equal(f->fake.n_runs, 1);
	assert_non_null(f->fake.runs[0].extra);
	assert_non_null(strstr(f->fake.runs[0].extra, "Be brief."));
	assert_null(strstr(f->fake.runs[0].extra, "nope"));
	fake_complete(&f->fake, 0, true, "x", 0);
	free(path);
	free(dir);
	fx_destroy(f);
}

static void destroy_with_a_run_in_flight_is_safe(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: d, schedule: '@hourly', prompt: p}\n");

	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15));
	cron_tick(f->cron, utc(2026, 6, 1, 13, 0));
	cron_destroy(f->cron);
	f->cron = NULL;
	fake_complete(&f->fake, 0, true, "late", 0); /* frees the run only */
	assert_int_equal(f->fake.n_delivered, 0);
	cron_destroy(NULL);
	fx_destroy(f);
}

/* Runs job i's next hourly run (the n-th of the test) and answers its report tool with args
 * (NULL: never called), then ends the turn ok. */
static void health_run(struct fx *f, int n, const char *args)
{
	struct fake_run *r;
	struct buf out;

	cron_tick(f->cron, utc(2026, 6, 1, 13, 0) + (int64_t)n * 3600000);
	assert_int_equal(f->fake.n_runs, (size_t)n + 1);
	r = &f->fake.runs[n];
	assert_non_null(r->tool);
	assert_string_equal(r->tool->name, "report");
	assert_non_null(strstr(r->extra, "call the `report` tool"));
	if (args) {
		buf_init(&out, 0);
		assert_false(r->tool->call(args, &out, r->tool->arg));
		assert_non_null(strstr(buf_str(&out), "Verdict recorded"));
		buf_finish(&out);
	}
	fake_complete(&f->fake, (size_t)n, true, "checked", 0);
	store_flush(f->store);
}

static void health_check_delivers_only_what_is_not_ok(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: hc, schedule: '@hourly', prompt: p,"
				 " deliver: 'telegram:42', report: on_failure}\n"
				 "  - {name: plain, schedule: '0 0 1 1 *', prompt: p}\n");
	const char *hc[] = {"job", "hc", NULL};
	struct cron_verdict v[CRON_VERDICTS_KEPT];
	struct buf out;
	size_t n;

	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15));
	health_run(f, 0, "{\"status\": \"ok\", \"summary\": \"all pods ready\"}");
	assert_int_equal(f->fake.n_delivered, 0);
	assert_true(metric_value(f, "hermetic_cron_health_status", hc) == 0);
	health_run(f, 1,
		   "{\"status\": \"fail\", \"summary\": \"disk\\n95%\","
		   " \"details\": \"/var at 95%\"}");
	assert_int_equal(f->fake.n_delivered, 1);
	assert_string_equal(f->fake.delivered[0], "Health check hc: FAIL\ndisk 95%\n\n/var at 95%");
	assert_true(metric_value(f, "hermetic_cron_health_status", hc) == 2);
	health_run(f, 2, NULL);
	assert_int_equal(f->fake.n_delivered, 2);
	assert_string_equal(f->fake.delivered[1], "Health check hc: FAIL\nno verdict: the run ended"
						  " without calling report");
	health_run(f, 3, "{\"status\": \"warn\", \"summary\": \"slow\"}");
	assert_string_equal(f->fake.delivered[2], "Health check hc: WARN\nslow");
	assert_true(metric_value(f, "hermetic_cron_health_status", hc) == 1);
	assert_int_equal(cron_verdicts_list(f->store, "hc", v, CRON_VERDICTS_KEPT, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(v[0].status, CRON_WARN);
	assert_string_equal(v[1].summary, "no verdict: the run ended without calling report");
	buf_init(&out, 0);
	cron_verdicts_text(f->store, &f->cfg->cron_jobs[0], &out);
	assert_non_null(strstr(buf_str(&out), "health: warn at 2026-06-01 "));
	assert_non_null(strstr(buf_str(&out), "last 4, oldest first: ✓✗✗⚠"));
	buf_finish(&out);
	/* The gauge starts from the stored verdict after a restart. */
	fx_restart(f);
	assert_true(metric_value(f, "hermetic_cron_health_status", hc) == 1);
	fx_destroy(f);
}

static void health_check_keeps_the_last_ten(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: hc, schedule: '@hourly', prompt: p,"
				 " report: on_failure}\n");
	struct cron_verdict v[CRON_VERDICTS_KEPT + 2];
	char args[96];
	size_t n;

	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15));
	for (int i = 0; i < 12; i++) {
		snprintf(args, sizeof(args), "{\"status\": \"ok\", \"summary\": \"run %d\"}", i);
		health_run(f, i, args);
	}
	assert_int_equal(cron_verdicts_list(f->store, "hc", v, ARRAY_LEN(v), &n), 0);
	assert_int_equal(n, CRON_VERDICTS_KEPT);
	assert_string_equal(v[0].summary, "run 11");
	assert_string_equal(v[9].summary, "run 2");
	fx_destroy(f);
}

static void report_arguments_are_checked(void **state)
{
	enum cron_status st;
	char *sum = NULL, *det = NULL, err[128], long_sum[CRON_SUMMARY_MAX + 40], *args;

	(void)state;
	assert_int_equal(cron_verdict_parse("{\"status\": \"bad\", \"summary\": \"x\"}", &st, &sum,
					    &det, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "status must be"));
	assert_int_equal(
		cron_verdict_parse("{\"status\": \"ok\"}", &st, &sum, &det, err, sizeof(err)),
		-EINVAL);
	assert_int_equal(cron_verdict_parse("not json", &st, &sum, &det, err, sizeof(err)),
			 -EINVAL);
	memset(long_sum, 'a', sizeof(long_sum) - 1);
	long_sum[sizeof(long_sum) - 1] = '\0';
	args = xasprintf("{\"status\": \"warn\", \"summary\": \"%s\", \"details\": null}",
			 long_sum);
	assert_int_equal(cron_verdict_parse(args, &st, &sum, &det, err, sizeof(err)), 0);
	assert_int_equal(st, CRON_WARN);
	assert_int_equal(strlen(sum), CRON_SUMMARY_MAX);
	assert_string_equal(det, "");
	free(sum);
	free(det);
	free(args);
}

static void plain_job_gets_no_report_tool(void **state)
{
	struct fx *f = fx_create("cron:\n  - {name: p, schedule: '@hourly', prompt: p}\n");

	cron_start_at(f->cron, utc(2026, 6, 1, 12, 15));
	cron_tick(f->cron, utc(2026, 6, 1, 13, 0));
	assert_null(f->fake.runs[0].tool);
	fake_complete(&f->fake, 0, true, "x", 0);
	fx_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(daily_job_follows_the_spring_forward),
		cmocka_unit_test(time_in_the_dst_gap_runs_once_after_the_jump),
		cmocka_unit_test(a_deferred_run_runs_again_backing_off_without_an_alert),
		cmocka_unit_test(
			a_run_deferred_five_times_in_a_row_fails_once_and_waits_for_its_schedule),
		cmocka_unit_test(repeated_hour_of_the_fall_back_runs_once),
		cmocka_unit_test(hourly_and_daily_macros),
		cmocka_unit_test(job_still_running_is_skipped_and_counted),
		cmocka_unit_test(sink_busy_counts_as_skipped),
		cmocka_unit_test(locked_store_retries_the_run_soon),
		cmocka_unit_test(locked_retry_never_passes_the_next_scheduled_run),
		cmocka_unit_test(last_run_is_persisted_across_restarts),
		cmocka_unit_test(misfire_within_grace_runs_once_at_start),
		cmocka_unit_test(misfire_outside_grace_or_never_ran_does_not_run),
		cmocka_unit_test(skills_are_passed_and_missing_ones_skipped),
		cmocka_unit_test(destroy_with_a_run_in_flight_is_safe),
		cmocka_unit_test(health_check_delivers_only_what_is_not_ok),
		cmocka_unit_test(health_check_keeps_the_last_ten),
		cmocka_unit_test(report_arguments_are_checked),
		cmocka_unit_test(plain_job_gets_no_report_tool),
	};

	schema_register();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

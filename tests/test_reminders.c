/* reminders: a one-shot "in 20 minutes" fires at its time into its chat and thread and is
 * done; a recurring job fires at each cron time and its second run sees the first result
 * (continuity); max_per_chat, min_interval, lengths and the cap are enforced; a failed
 * delivery is retried without a second run; a pending delivery survives a restart and is
 * delivered at start without a run; a one-shot due while down fires at start (late), a
 * recurring one far past its time skips; pause stops a job, delete removes it, another chat's
 * id is -ENOENT; a failing run delivers a failure text; the run carries the job's cap.
 * Time is driven with reminders_tick_at()/reminders_start_at() and a fake clock; the loop
 * never runs. */
#include "test.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/reminders.h"
#include "gateway/schema.h"
#include "tools/tools.h"

#define MAX 16

struct fake_run {
	char *source, *prompt, *extra;
	double cap;
	job_done_cb done;
	void *arg;
	bool fired;
};

struct fx {
	char home[32];
	struct config *cfg;
	struct loop *loop;
	struct store *store;
	struct reminders_sink sink;
	struct reminders *r;
	int64_t now;
	struct fake_run runs[MAX];
	size_t n_runs;
	char *sent[MAX];
	int64_t sent_chat[MAX], sent_thread[MAX];
	size_t n_sent;
	bool deliver_fails;
};

static int fake_run(void *ctx, const char *source, const char *prompt, const char *extra,
		    double cap, job_done_cb done, void *arg)
{
	struct fx *f = ctx;
	struct fake_run *u;

	assert_true(f->n_runs < MAX);
	u = &f->runs[f->n_runs++];
	*u = (struct fake_run){
		xstrdup(source), xstrdup(prompt), xstrdup(extra), cap, done, arg, false};
	return 0;
}

static int fake_deliver(void *ctx, int64_t chat, int64_t thread, const char *markdown)
{
	struct fx *f = ctx;

	if (f->deliver_fails)
		return -EIO;
	assert_true(f->n_sent < MAX);
	f->sent_chat[f->n_sent] = chat;
	f->sent_thread[f->n_sent] = thread;
	f->sent[f->n_sent++] = xstrdup(markdown);
	return 0;
}

static int64_t clock_of(void *arg)
{
	return ((struct fx *)arg)->now;
}

static int64_t local(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_isdst = -1};

	return (int64_t)mktime(&tm) * 1000;
}

static void fx_open(struct fx *f)
{
	f->r = reminders_create(f->cfg, f->loop, f->store, &f->sink);
	reminders_set_clock(f->r, clock_of, f);
}

static struct fx *fx_create(const char *yaml)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct config_diag *diag = config_diag_create();
	char err[256], *path, *text;

	log_set_stderr(0);
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	snprintf(f->home, sizeof(f->home), "/tmp/hm-rem-XXXXXX");
	assert_non_null(mkdtemp(f->home));
	text = xasprintf("home: %s\ntimezone: Europe/Berlin\n%s", f->home, yaml ? yaml : "");
	if (config_parse("t.yaml", text, strlen(text), &f->cfg, diag) != 0)
		config_diag_print(diag, stderr);
	assert_non_null(f->cfg);
	free(text);
	config_diag_destroy(diag);
	f->loop = loop_create();
	schema_register();
	path = xasprintf("%s/state.db", f->home);
	assert_int_equal(store_open(path, &f->store, err, sizeof(err)), 0);
	free(path);
	f->sink = (struct reminders_sink){fake_run, fake_deliver, f};
	f->now = local(2026, 3, 10, 10, 15) + 30000;
	fx_open(f);
	return f;
}

/* As after a restart: a new reminders over the same database. */
static void fx_restart(struct fx *f)
{
	reminders_destroy(f->r);
	fx_open(f);
}

static void fx_destroy(struct fx *f)
{
	struct job_result stopped = {.ok = false, .text = "stopped"};

	reminders_destroy(f->r);
	/* As the job runner does when it stops: each run still going ends, once, after the
	 * reminders that started it are gone. */
	for (size_t i = 0; i < f->n_runs; i++)
		if (!f->runs[i].fired) {
			f->runs[i].fired = true;
			f->runs[i].done(&stopped, f->runs[i].arg);
		}
	store_close(f->store);
	loop_destroy(f->loop);
	config_destroy(f->cfg);
	for (size_t i = 0; i < f->n_runs; i++) {
		free(f->runs[i].source);
		free(f->runs[i].prompt);
		free(f->runs[i].extra);
	}
	for (size_t i = 0; i < f->n_sent; i++)
		free(f->sent[i]);
	assert_int_equal(fileio_remove_tree(f->home), 0);
	free(f);
}

static void complete(struct fx *f, size_t i, bool ok, const char *text)
{
	struct job_result res = {.ok = ok, .text = text, .session_id = 1, .cost_usd = 0.01};

	assert_true(i < f->n_runs);
	assert_false(f->runs[i].fired);
	f->runs[i].fired = true;
	f->runs[i].done(&res, f->runs[i].arg);
}

static int64_t add(struct fx *f, const char *source, int64_t at_ms, const char *cron,
		   const char *prompt, struct buf *out)
{
	struct tools_schedule_req req = {.at_ms = at_ms, .cron = cron, .prompt = prompt};
	int64_t id = -1;
	int rc;

	buf_reset(out);
	rc = reminders_add(f->r, source, &req, &id, out);
	return rc < 0 ? rc : id;
}

static void tick(struct fx *f, int64_t at)
{
	f->now = at;
	reminders_tick_at(f->r, at);
}

static void test_one_shot_fires_at_its_time_into_its_thread_and_is_done(void **state)
{
	struct fx *f = fx_create(NULL);
	int64_t at = local(2026, 3, 10, 10, 35), id;
	struct reminders_job *jobs;
	struct buf out;
	size_t n;

	buf_init(&out, 0);
	reminders_start_at(f->r, f->now);
	id = add(f, "telegram:42:7", at, NULL, "Remind me to call mum", &out);
	assert_true(id > 0);
	assert_non_null(strstr(buf_str(&out), "once, at Tue 2026-03-10 10:35 CET (Europe/Berlin)"));
	assert_non_null(strstr(buf_str(&out), "at most $0.0500"));
	tick(f, at - 1000);
	assert_int_equal(f->n_runs, 0);
	tick(f, at);
	assert_int_equal(f->n_runs, 1);
	assert_string_equal(f->runs[0].prompt, "Remind me to call mum");
	assert_true(f->runs[0].cap == 0.05);
	assert_non_null(strstr(f->runs[0].extra, "It was set for Tue 2026-03-10 10:35 CET"));
	assert_null(strstr(f->runs[0].extra, "late"));
	char want_source[32];
	snprintf(want_source, sizeof(want_source), "reminder:%lld", (long long)id);
	assert_string_equal(f->runs[0].source, want_source);
	/* Ticks while it runs do not start it again. */
	tick(f, at + 1000);
	assert_int_equal(f->n_runs, 1);
	complete(f, 0, true, "Time to call mum!");
	assert_int_equal(f->n_sent, 1);
	assert_string_equal(f->sent[0], "Time to call mum!");
	assert_int_equal(f->sent_chat[0], 42);
	assert_int_equal(f->sent_thread[0], 7);
	/* Done: not listed, never again. */
	assert_int_equal(reminders_list(f->r, "telegram:42:7", &jobs, &n), 0);
	assert_int_equal(n, 0);
	free(jobs);
	tick(f, at + 86400000);
	fx_restart(f);
	reminders_start_at(f->r, at + 2 * 86400000);
	assert_int_equal(f->n_runs, 1);
	assert_int_equal(f->n_sent, 1);
	buf_finish(&out);
	fx_destroy(f);
}

static void test_recurring_runs_at_each_time_and_sees_its_previous_result(void **state)
{
	struct fx *f = fx_create(NULL);
	int64_t first = local(2026, 3, 11, 7, 0), second = local(2026, 3, 12, 7, 0), id;
	struct buf out;

	buf_init(&out, 0);
	reminders_start_at(f->r, f->now);
	id = add(f, "telegram:42", 0, "0 7 * * *", "Weather briefing", &out);
	assert_true(id > 0);
	assert_non_null(strstr(buf_str(&out), "next run Wed 2026-03-11 07:00 CET"));
	tick(f, first);
	assert_int_equal(f->n_runs, 1);
	assert_null(strstr(f->runs[0].extra, "previous run"));
	complete(f, 0, true, "Sunny, 12 degrees.");
	tick(f, first + 3600000);
	assert_int_equal(f->n_runs, 1);
	tick(f, second);
	assert_int_equal(f->n_runs, 2);
	assert_non_null(strstr(f->runs[1].extra, "It recurs (cron `0 7 * * *`, Europe/Berlin)"));
	assert_non_null(strstr(f->runs[1].extra, "The previous run (Wed 2026-03-11 07:00 CET) "
						 "answered:\nSunny, 12 degrees."));
	complete(f, 1, true, "Rain.");
	assert_int_equal(f->n_sent, 2);
	buf_finish(&out);
	fx_destroy(f);
}

static void test_continuity_off_hides_the_previous_result(void **state)
{
	struct fx *f = fx_create("reminders:\n  continuity: false\n");
	struct buf out;

	buf_init(&out, 0);
	assert_true(add(f, "telegram:42", 0, "0 7 * * *", "Weather", &out) > 0);
	tick(f, local(2026, 3, 11, 7, 0));
	complete(f, 0, true, "Sunny.");
	tick(f, local(2026, 3, 12, 7, 0));
	assert_int_equal(f->n_runs, 2);
	assert_null(strstr(f->runs[1].extra, "Sunny."));
	buf_finish(&out);
	fx_destroy(f);
}

static void test_limits_per_chat_interval_lengths_and_cap(void **state)
{
	struct fx *f = fx_create("reminders:\n  max_per_chat: 2\n  max_cost_usd: 0.1\n");
	struct tools_schedule_req req = {.cron = "0 7 * * *", .prompt = "x", .max_cost_usd = 0.5};
	char long_prompt[REMINDERS_PROMPT_MAX + 2];
	int64_t at = f->now + 3600000;
	struct buf out;

	buf_init(&out, 0);
	assert_int_equal(add(f, "telegram:42", 0, "*/1 * * * *", "x", &out), -EINVAL);
	assert_non_null(strstr(buf_str(&out), "runs every 1 minutes"));
	assert_non_null(strstr(buf_str(&out), "reminders.min_interval_s"));
	assert_int_equal(add(f, "telegram:42", 0, "0,2 7 * * *", "x", &out), -EINVAL);
	assert_true(add(f, "telegram:42", 0, "*/5 * * * *", "x", &out) > 0);
	assert_int_equal(add(f, "telegram:42", 0, "0 7 31 2 *", "x", &out), -EINVAL);
	assert_int_equal(add(f, "telegram:42", 0, "0 7 * *", "x", &out), -EINVAL);
	assert_non_null(strstr(buf_str(&out), "cron \"0 7 * *\""));
	memset(long_prompt, 'a', sizeof(long_prompt) - 1);
	long_prompt[sizeof(long_prompt) - 1] = '\0';
	assert_int_equal(add(f, "telegram:42", at, NULL, long_prompt, &out), -EINVAL);
	assert_non_null(strstr(buf_str(&out), "prompt has 2001 bytes; at most 2000"));
	assert_int_equal(add(f, "telegram:42", at, NULL, "", &out), -EINVAL);
	assert_int_equal(add(f, "cron:daily", at, NULL, "x", &out), -EINVAL);
	assert_int_equal(add(f, "telegram:42", f->now - 3600000, NULL, "x", &out), -ERANGE);
	buf_reset(&out);
	assert_int_equal(reminders_add(f->r, "telegram:42", &req, NULL, &out), -ERANGE);
	assert_non_null(strstr(buf_str(&out), "above the highest allowed, $0.1000"));
	assert_true(add(f, "telegram:42", at, NULL, "y", &out) > 0);
	assert_int_equal(add(f, "telegram:42", at, NULL, "z", &out), -ENOSPC);
	assert_non_null(strstr(buf_str(&out), "reminders.max_per_chat"));
	/* A topic thread is the same chat; another chat has its own room. */
	assert_int_equal(add(f, "telegram:42:9", at, NULL, "z", &out), -ENOSPC);
	assert_true(add(f, "telegram:43", at, NULL, "z", &out) > 0);
	buf_finish(&out);
	fx_destroy(f);
}

static void test_failed_delivery_is_retried_without_a_second_run(void **state)
{
	struct fx *f = fx_create(NULL);
	int64_t at = f->now + 60000;
	struct buf out;

	buf_init(&out, 0);
	assert_true(add(f, "telegram:42", at, NULL, "Stretch", &out) > 0);
	tick(f, at);
	f->deliver_fails = true;
	complete(f, 0, true, "Stretch now.");
	assert_int_equal(f->n_sent, 0);
	tick(f, at + 10000); /* before the backoff */
	tick(f, at + 40000); /* after it, still failing */
	f->deliver_fails = false;
	tick(f, at + 50000); /* the second backoff is longer */
	assert_int_equal(f->n_sent, 0);
	tick(f, at + 120000);
	assert_int_equal(f->n_sent, 1);
	assert_string_equal(f->sent[0], "Stretch now.");
	assert_int_equal(f->n_runs, 1);
	tick(f, at + 3600000);
	assert_int_equal(f->n_sent, 1);
	buf_finish(&out);
	fx_destroy(f);
}

static void test_pending_delivery_survives_a_restart_and_goes_out_at_start(void **state)
{
	struct fx *f = fx_create(NULL);
	int64_t at = f->now + 60000;
	struct buf out;

	buf_init(&out, 0);
	assert_true(add(f, "telegram:42", at, NULL, "Water the plants", &out) > 0);
	tick(f, at);
	f->deliver_fails = true;
	complete(f, 0, true, "Water the plants now.");
	fx_restart(f);
	f->deliver_fails = false;
	reminders_start_at(f->r, at + 5000);
	assert_int_equal(f->n_sent, 1);
	assert_string_equal(f->sent[0], "Water the plants now.");
	assert_int_equal(f->n_runs, 1);
	buf_finish(&out);
	fx_destroy(f);
}

static void test_missed_while_down(void **state)
{
	struct fx *f = fx_create(NULL);
	int64_t at = f->now + 60000, daily;
	struct buf out;

	buf_init(&out, 0);
	assert_true(add(f, "telegram:42", at, NULL, "Call the bank", &out) > 0);
	assert_true(add(f, "telegram:42", 0, "0 11 * * *", "Daily", &out) > 0);
	daily = local(2026, 3, 10, 11, 0);
	/* Down for three hours: the one-shot runs late and says so; the daily job is 2 h past
	 * its time, beyond the grace: it waits for tomorrow. */
	fx_restart(f);
	f->now = at + 3 * 3600000;
	reminders_start_at(f->r, f->now);
	assert_int_equal(f->n_runs, 1);
	assert_string_equal(f->runs[0].prompt, "Call the bank");
	assert_non_null(strstr(f->runs[0].extra, "It fires late, at Tue 2026-03-10 13:16 CET"));
	complete(f, 0, true, "Call the bank (late).");
	tick(f, daily + 86400000 - 1000);
	assert_int_equal(f->n_runs, 1);
	/* Within the grace (10 minutes late at start) the daily job runs once. */
	fx_restart(f);
	f->now = daily + 86400000 + 600000;
	reminders_start_at(f->r, f->now);
	assert_int_equal(f->n_runs, 2);
	assert_string_equal(f->runs[1].prompt, "Daily");
	tick(f, f->now + 60000);
	assert_int_equal(f->n_runs, 2);
	buf_finish(&out);
	fx_destroy(f);
}

static void test_interrupted_one_shot_runs_again_at_start(void **state)
{
	struct fx *f = fx_create(NULL);
	int64_t at = f->now + 60000;
	struct buf out;

	buf_init(&out, 0);
	assert_true(add(f, "telegram:42", at, NULL, "Pick up the kids", &out) > 0);
	tick(f, at);
	assert_int_equal(f->n_runs, 1);
	fx_restart(f); /* the run is forgotten, as in a stop mid-run */
	complete(f, 0, true, "lost");
	assert_int_equal(f->n_sent, 0);
	reminders_start_at(f->r, at + 30000);
	assert_int_equal(f->n_runs, 2);
	complete(f, 1, true, "Pick up the kids!");
	assert_int_equal(f->n_sent, 1);
	buf_finish(&out);
	fx_destroy(f);
}

static void test_pause_delete_and_other_chats(void **state)
{
	struct fx *f = fx_create("cron:\n  - name: backup\n    schedule: \"0 3 * * *\"\n"
				 "    prompt: back up\n");
	int64_t first = local(2026, 3, 11, 7, 0), id, once;
	struct reminders_job *jobs;
	struct buf out;
	size_t n;

	buf_init(&out, 0);
	id = add(f, "telegram:42", 0, "0 7 * * *", "Briefing", &out);
	once = add(f, "telegram:42", f->now + 3 * 86400000LL, NULL, "Tea", &out);
	assert_true(id > 0 && once > 0);
	buf_reset(&out);
	assert_int_equal(reminders_pause(f->r, "telegram:43", id, true, &out), -ENOENT);
	assert_string_equal(buf_str(&out), "There is no job 1 in this chat.");
	assert_int_equal(reminders_delete(f->r, "telegram:43", id, &out), -ENOENT);
	assert_int_equal(reminders_delete(f->r, "telegram:42:5", id, &out), -ENOENT);
	buf_reset(&out);
	assert_int_equal(reminders_pause(f->r, "telegram:42", id, true, &out), 0);
	assert_string_equal(buf_str(&out), "Job 1 \"Briefing\" is paused.");
	tick(f, first);
	assert_int_equal(f->n_runs, 0);
	assert_int_equal(reminders_list(f->r, "telegram:42", &jobs, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(jobs[0].id, id);
	assert_true(jobs[0].recurring);
	assert_string_equal(jobs[0].status, "paused");
	assert_string_equal(jobs[0].when, "cron `0 7 * * *`");
	assert_string_equal(jobs[1].title, "Tea");
	assert_false(jobs[1].recurring);
	free(jobs);
	buf_reset(&out);
	assert_int_equal(reminders_list_text(f->r, "telegram:42", true, &out), 0);
	assert_non_null(strstr(buf_str(&out), "1. \"Briefing\": cron `0 7 * * *` (paused)\n"));
	assert_non_null(strstr(buf_str(&out), "read-only"));
	assert_non_null(strstr(buf_str(&out), "- backup: cron `0 3 * * *`"));
	/* Resumed a day later: the next run is from now, not the ones it slept through. */
	buf_reset(&out);
	f->now = first + 3600000;
	assert_int_equal(reminders_pause(f->r, "telegram:42", id, false, &out), 0);
	tick(f, f->now);
	assert_int_equal(f->n_runs, 0);
	tick(f, first + 86400000);
	assert_int_equal(f->n_runs, 1);
	buf_reset(&out);
	assert_int_equal(reminders_delete(f->r, "telegram:42", once, &out), 0);
	assert_string_equal(buf_str(&out), "Deleted job 2 \"Tea\".");
	assert_int_equal(reminders_delete(f->r, "telegram:42", once, &out), -ENOENT);
	assert_int_equal(reminders_list(f->r, "telegram:42", &jobs, &n), 0);
	assert_int_equal(n, 1);
	free(jobs);
	buf_finish(&out);
	fx_destroy(f);
}

static void test_a_failing_run_says_so_in_the_chat(void **state)
{
	struct fx *f = fx_create(NULL);
	int64_t at = f->now + 60000;
	struct tools_schedule_req req = {.at_ms = at, .prompt = "x", .title = "Check the oven"};
	struct buf out;

	buf_init(&out, 0);
	assert_int_equal(reminders_add(f->r, "telegram:42", &req, NULL, &out), 0);
	tick(f, at);
	complete(f, 0, false, "the model could not be reached");
	assert_int_equal(f->n_sent, 1);
	assert_string_equal(f->sent[0],
			    "The reminder 'Check the oven' failed: the model could not be reached");
	buf_finish(&out);
	fx_destroy(f);
}

static void test_the_scheduler_table_reaches_the_store(void **state)
{
	struct fx *f = fx_create(NULL);
	const struct tools_scheduler *s = reminders_scheduler();
	struct tools_schedule_req req = {.at_ms = f->now + 60000, .prompt = "Stand up"};
	struct buf out;

	buf_init(&out, 0);
	assert_int_equal(s->create(f->r, "telegram:42", &req, &out), 0);
	buf_reset(&out);
	assert_int_equal(s->list(f->r, "telegram:42", &out), 0);
	assert_non_null(strstr(buf_str(&out), "1. \"Stand up\": once at"));
	buf_reset(&out);
	assert_int_equal(s->cancel(f->r, "telegram:7", 1, &out), -ENOENT);
	assert_int_equal(s->cancel(f->r, "telegram:42", 1, &out), 0);
	buf_finish(&out);
	fx_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_shot_fires_at_its_time_into_its_thread_and_is_done),
		cmocka_unit_test(test_recurring_runs_at_each_time_and_sees_its_previous_result),
		cmocka_unit_test(test_continuity_off_hides_the_previous_result),
		cmocka_unit_test(test_limits_per_chat_interval_lengths_and_cap),
		cmocka_unit_test(test_failed_delivery_is_retried_without_a_second_run),
		cmocka_unit_test(test_pending_delivery_survives_a_restart_and_goes_out_at_start),
		cmocka_unit_test(test_missed_while_down),
		cmocka_unit_test(test_interrupted_one_shot_runs_again_at_start),
		cmocka_unit_test(test_pause_delete_and_other_chats),
		cmocka_unit_test(test_a_failing_run_says_so_in_the_chat),
		cmocka_unit_test(test_the_scheduler_table_reaches_the_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

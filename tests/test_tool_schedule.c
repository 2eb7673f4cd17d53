/* tool_schedule: the `when` table (relative amounts, "tomorrow HH:MM", "at HH:MM" rolling to
 * tomorrow once passed, ISO date-times in the local zone, and refusals that name what was
 * not understood, past times and times more than a year ahead), and the tool's rules: only a
 * chat's turn may schedule (a cron, hook or reminder run may not), and `when` or `cron` but
 * not both reach the scheduler. */
#include "tool_fixture.h"

#include <time.h>

/* 2026-03-10 10:15:30 in Europe/Berlin (CET, UTC+1). */
static int64_t now_ms(void)
{
	struct tm tm = {.tm_year = 126,
			.tm_mon = 2,
			.tm_mday = 10,
			.tm_hour = 10,
			.tm_min = 15,
			.tm_sec = 30,
			.tm_isdst = -1};

	return (int64_t)mktime(&tm) * 1000;
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

static void berlin(void)
{
	setenv("TZ", "Europe/Berlin", 1);
	tzset();
}

static void test_when_accepts_the_documented_forms(void **state)
{
	const struct {
		const char *when;
		int64_t want;
	} cases[] = {
		{"in 20 minutes", local(2026, 3, 10, 10, 35) + 30000},
		{"In 20 Minutes", local(2026, 3, 10, 10, 35) + 30000},
		{"in 20m", local(2026, 3, 10, 10, 35) + 30000},
		{"in 1 minute", local(2026, 3, 10, 10, 16) + 30000},
		{"in 2 hours", local(2026, 3, 10, 12, 15) + 30000},
		{"in an hour", local(2026, 3, 10, 11, 15) + 30000},
		{"in 1 hour 30 minutes", local(2026, 3, 10, 11, 45) + 30000},
		{"in 1 hour and 30 minutes", local(2026, 3, 10, 11, 45) + 30000},
		{"in 3 days", local(2026, 3, 13, 10, 15) + 30000},
		{"in 2 weeks", local(2026, 3, 24, 10, 15) + 30000},
		{"tomorrow 07:00", local(2026, 3, 11, 7, 0)},
		{"tomorrow at 7:00", local(2026, 3, 11, 7, 0)},
		{"today 18:30", local(2026, 3, 10, 18, 30)},
		{"at 18:00", local(2026, 3, 10, 18, 0)},
		{"18:00", local(2026, 3, 10, 18, 0)},
		{"at 09:00", local(2026, 3, 11, 9, 0)}, /* passed today: tomorrow's */
		{"2026-12-01 09:30", local(2026, 12, 1, 9, 30)},
		{"2026-12-01T09:30", local(2026, 12, 1, 9, 30)},
		{"2026-12-01 at 09:30:00", local(2026, 12, 1, 9, 30)},
		/* Across the spring-forward of 2026-03-29: still 07:00 local, 23 hours later. */
		{"2026-03-29 07:00", local(2026, 3, 29, 7, 0)},
	};
	char err[200];
	int64_t at;

	berlin();
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		at = 0;
		err[0] = '\0';
		if (tool_schedule_parse_when(cases[i].when, now_ms(), &at, err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", cases[i].when, err);
		if (at != cases[i].want)
			fail_msg("\"%s\": got %lld, want %lld", cases[i].when, (long long)at,
				 (long long)cases[i].want);
	}
}

/* "in 1 minute" said late in a minute must not come due a second later, as it did when the
 * time was cut to the minute: the whole delay always passes first. */
static void test_a_relative_time_is_never_earlier_than_asked(void **state)
{
	const char *whens[] = {"in 1 minute", "in 20 minutes", "in 2 hours"};
	const int64_t delays[] = {60000, 1200000, 7200000};
	int64_t now, at;
	char err[200];

	berlin();
	now = now_ms() + 29400; /* 10:15:59.400 */
	for (size_t i = 0; i < ARRAY_LEN(whens); i++) {
		if (tool_schedule_parse_when(whens[i], now, &at, err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", whens[i], err);
		if (at - now < delays[i] || at - now >= delays[i] + 1000 || at % 1000)
			fail_msg("\"%s\" at 10:15:59.400: due %lld ms later, want %lld ms rounded "
				 "up to the second",
				 whens[i], (long long)(at - now), (long long)delays[i]);
	}
}

static void test_when_refusals_name_what_was_wrong(void **state)
{
	const struct {
		const char *when;
		int rc;
		const char *says;
	} cases[] = {
		{"next friday", -EINVAL, "\"next friday\" was not understood"},
		{"", -EINVAL, "empty"},
		{"in", -EINVAL, "needs an amount"},
		{"in 5 parsecs", -EINVAL, "unknown unit \"parsecs\""},
		{"in 5", -EINVAL, "needs a unit"},
		{"in lots of minutes", -EINVAL, "\"lots\" is not a number"},
		{"at 25:00", -EINVAL, "not understood"},
		{"tomorrow 7", -EINVAL, "not understood"},
		{"2026-02-30 10:00", -EINVAL, "not a day of the calendar"},
		{"2026-12-01", -EINVAL, "a date needs a time"},
		{"2026-12-01 9h", -EINVAL, "\"9h\" is not a time"},
		{"today 08:00", -ERANGE, "in the past"},
		{"2025-01-01 10:00", -ERANGE, "in the past"},
		{"in 0 minutes", -ERANGE, "after now"},
		{"in 400 days", -ERANGE, "more than a year ahead"},
		{"2028-01-01 10:00", -ERANGE, "more than a year ahead"},
		{"in 1 2 3 4 5 6 7 8 9 minutes", -EINVAL, "too long"},
	};
	char err[200];
	int64_t at;

	berlin();
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		err[0] = '\0';
		if (tool_schedule_parse_when(cases[i].when, now_ms(), &at, err, sizeof(err)) !=
			    cases[i].rc ||
		    !strstr(err, cases[i].says))
			fail_msg("\"%s\": got \"%s\", want %d and \"%s\"", cases[i].when, err,
				 cases[i].rc, cases[i].says);
	}
}

struct fake_sched {
	int creates;
	struct tools_schedule_req last; /* its strings point into the copies below */
	char source[64], prompt[64], cron[64];
};

static int fake_create(void *arg, const char *source, const struct tools_schedule_req *req,
		       struct buf *out)
{
	struct fake_sched *s = arg;

	s->creates++;
	s->last = *req;
	snprintf(s->source, sizeof(s->source), "%s", source);
	snprintf(s->prompt, sizeof(s->prompt), "%s", req->prompt);
	snprintf(s->cron, sizeof(s->cron), "%s", req->cron ? req->cron : "");
	s->last.prompt = s->prompt;
	s->last.cron = req->cron ? s->cron : NULL;
	return buf_puts(out, "ok"), 0;
}

static int fake_list(void *arg, const char *source, struct buf *out)
{
	return buf_puts(out, "none"), 0;
}

static int fake_cancel(void *arg, const char *source, int64_t id, struct buf *out)
{
	return buf_printf(out, "deleted %lld", (long long)id), 0;
}

static const struct tools_scheduler fake = {fake_create, fake_list, fake_cancel};

static int run_as(struct fixture *f, struct fake_sched *s, const char *source, const char *json)
{
	cJSON *args = cJSON_Parse(json);
	struct tool_req req = {.env = &f->env,
			       .session_id = "",
			       .args = args,
			       .source = source,
			       .scheduler = &fake,
			       .scheduler_arg = s};
	int rc;

	buf_reset(&f->out);
	rc = tool_def_schedule.run(&req, &f->out);
	cJSON_Delete(args);
	return rc;
}

static void test_only_a_chat_may_schedule(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct fake_sched s = {0};
	const char *args = "{\"when\": \"in 20 minutes\", \"prompt\": \"call mum\"}";

	berlin();
	assert_int_equal(run_as(f, &s, "telegram:42", args), 0);
	assert_int_equal(s.creates, 1);
	assert_string_equal(s.source, "telegram:42");
	assert_null(s.last.cron);
	assert_true(s.last.at_ms > now_wall_ms());
	assert_string_equal(s.last.prompt, "call mum");
	/* A job's own run could make jobs that make jobs. */
	assert_int_equal(run_as(f, &s, "reminder:3", args), -EPERM);
	assert_non_null(strstr(buf_str(&f->out), "reminders cannot schedule"));
	assert_int_equal(run_as(f, &s, "cron:daily", args), -EPERM);
	assert_int_equal(run_as(f, &s, "hook:gh", args), -EPERM);
	assert_int_equal(run_as(f, &s, "cli", args), -EPERM);
	assert_int_equal(s.creates, 1);
	fixture_destroy(f);
}

static void test_create_needs_when_or_cron_and_a_sane_cap(void **state)
{
	struct fixture *f = fixture_create(NULL);
	struct fake_sched s = {0};

	berlin();
	assert_int_equal(run_as(f, &s, "telegram:42", "{\"prompt\": \"x\"}"), -EINVAL);
	assert_non_null(strstr(buf_str(&f->out), "either `when`"));
	assert_int_equal(
		run_as(f, &s, "telegram:42",
		       "{\"prompt\": \"x\", \"when\": \"in 1 hour\", \"cron\": \"@daily\"}"),
		-EINVAL);
	assert_int_equal(run_as(f, &s, "telegram:42", "{\"when\": \"in 1 hour\"}"), -EINVAL);
	assert_int_equal(run_as(f, &s, "telegram:42", "{\"prompt\": \"x\", \"when\": \"soonish\"}"),
			 -EINVAL);
	assert_non_null(strstr(buf_str(&f->out), "\"soonish\" was not understood"));
	assert_int_equal(run_as(f, &s, "telegram:42",
				"{\"prompt\": \"x\", \"cron\": \"0 7 * * 1-5\", "
				"\"max_cost_usd\": -1}"),
			 -EINVAL);
	assert_non_null(strstr(buf_str(&f->out), "max_cost_usd must be a number above 0"));
	assert_int_equal(s.creates, 0);
	assert_int_equal(run_as(f, &s, "telegram:42",
				"{\"prompt\": \"x\", \"cron\": \"0 7 * * 1-5\", "
				"\"max_cost_usd\": 0.02, \"title\": \"Morning\"}"),
			 0);
	assert_string_equal(s.last.cron, "0 7 * * 1-5");
	assert_true(s.last.max_cost_usd == 0.02);
	assert_int_equal(run_as(f, &s, "telegram:42", "{\"action\": \"delete\", \"id\": 7}"), 0);
	assert_string_equal(buf_str(&f->out), "deleted 7");
	assert_int_equal(run_as(f, &s, "telegram:42", "{\"action\": \"delete\"}"), -EINVAL);
	assert_int_equal(run_as(f, &s, "telegram:42", "{\"action\": \"explode\"}"), -EINVAL);
	fixture_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_when_accepts_the_documented_forms),
		cmocka_unit_test(test_a_relative_time_is_never_earlier_than_asked),
		cmocka_unit_test(test_when_refusals_name_what_was_wrong),
		cmocka_unit_test(test_only_a_chat_may_schedule),
		cmocka_unit_test(test_create_needs_when_or_cron_and_a_sane_cap),
	};

	/* Before the tables, whose expected times are computed where they are declared. */
	berlin();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tests of cronexpr: every field form and macro parses to the right bits, every mistake is
 * refused with its reason, and next() walks minute, day, month and year ends, the Vixie
 * day-of-month/day-of-week rule and leap days correctly.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/cronexpr.h"

static struct cronexpr parse_ok(const char *expr)
{
	struct cronexpr c;
	char err[128];

	if (cronexpr_parse(expr, &c, err, sizeof(err)) != 0) {
		print_error("'%s': %s\n", expr, err);
		fail();
	}
	return c;
}

static void expect_parse_error(const char *expr, const char *why)
{
	struct cronexpr c;
	char err[160];

	assert_int_equal(cronexpr_parse(expr, &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, why);
}

static uint64_t bits(int lo, int hi, int step)
{
	uint64_t b = 0;
	int v;

	for (v = lo; v <= hi; v += step)
		b |= (uint64_t)1 << v;
	return b;
}

static struct tm at(int year, int mon, int day, int hour, int min)
{
	struct tm t;

	memset(&t, 0, sizeof(t));
	t.tm_year = year - 1900;
	t.tm_mon = mon - 1;
	t.tm_mday = day;
	t.tm_hour = hour;
	t.tm_min = min;
	return t;
}

/* next(expr, after) lands on the given minute. */
static void expect_next(const char *expr, struct tm after, int year, int mon, int day, int hour,
			int min)
{
	struct cronexpr c = parse_ok(expr);
	struct tm next;

	assert_int_equal(cronexpr_next(&c, &after, &next), 0);
	if (next.tm_year != year - 1900 || next.tm_mon != mon - 1 || next.tm_mday != day ||
	    next.tm_hour != hour || next.tm_min != min) {
		print_error(
			"'%s': expected %04d-%02d-%02d %02d:%02d, got %04d-%02d-%02d %02d:%02d\n",
			expr, year, mon, day, hour, min, next.tm_year + 1900, next.tm_mon + 1,
			next.tm_mday, next.tm_hour, next.tm_min);
		fail();
	}
	assert_int_equal(next.tm_sec, 0);
	assert_int_equal(next.tm_isdst, -1);
	assert_true(cronexpr_match(&c, &next));
}

static void test_steps_ranges_and_names_parse_to_bits(void **state)
{
	struct cronexpr c = parse_ok("*/15 9-17 * * mon-fri");

	(void)state;
	assert_int_equal(c.minutes, bits(0, 59, 15));
	assert_int_equal(c.hours, bits(9, 17, 1));
	assert_int_equal(c.days, bits(1, 31, 1));
	assert_int_equal(c.months, bits(1, 12, 1));
	assert_int_equal(c.weekdays, bits(1, 5, 1));
	assert_true(c.dom_star);
	assert_false(c.dow_star);
	c = parse_ok("0,30 1-10/3 5/10 JAN,Jul *");
	assert_int_equal(c.minutes, bits(0, 0, 1) | bits(30, 30, 1));
	assert_int_equal(c.hours, bits(1, 10, 3));
	assert_int_equal(c.days, bits(5, 31, 10));
	assert_int_equal(c.months, bits(1, 1, 1) | bits(7, 7, 1));
	assert_false(c.dom_star);
	assert_true(c.dow_star);
	c = parse_ok("\t0  0 * * *  ");
	assert_int_equal(c.minutes, 1);
}

static void test_sunday_is_both_zero_and_seven(void **state)
{
	struct cronexpr c = parse_ok("0 0 * * 7");

	(void)state;
	assert_int_equal(c.weekdays, 1);
	c = parse_ok("0 0 * * 5-7");
	assert_int_equal(c.weekdays, bits(5, 6, 1) | 1);
	c = parse_ok("0 0 * * sun,SAT");
	assert_int_equal(c.weekdays, bits(0, 0, 1) | bits(6, 6, 1));
}

static void test_macros_expand(void **state)
{
	static const struct {
		const char *macro, *expr;
	} cases[] = {
		{"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
		{"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
		{"@annually", "0 0 1 1 *"},
	};
	struct cronexpr a, b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a = parse_ok(cases[i].macro);
		b = parse_ok(cases[i].expr);
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

static void test_mistakes_are_refused_with_a_reason(void **state)
{
	(void)state;
	expect_parse_error("",
			   "expected 5 fields (minute hour day-of-month month day-of-week), got 0");
	expect_parse_error("* * * *",
			   "expected 5 fields (minute hour day-of-month month day-of-week), got 4");
	expect_parse_error("0 * * * * *", "expected 5 fields (minute hour day-of-month month "
					  "day-of-week), got more than 5");
	expect_parse_error("60 * * * *", "minute: 60 is out of range 0-59");
	expect_parse_error("* 24 * * *", "hour: 24 is out of range 0-23");
	expect_parse_error("* * 0 * *", "day-of-month: 0 is out of range 1-31");
	expect_parse_error("* * * 13 *", "month: 13 is out of range 1-12");
	expect_parse_error("* * * * 8", "day-of-week: 8 is out of range 0-7");
	expect_parse_error("5-1 * * * *", "minute: range 5-1 is backwards");
	expect_parse_error("*/0 * * * *", "minute: step 0 is out of range 1-59");
	expect_parse_error("*/ * * * *", "minute: a step must be a number after '/'");
	expect_parse_error("* * * foo *", "month: unknown name 'foo'");
	expect_parse_error("* * * * monday", "day-of-week: unknown name 'monday'");
	expect_parse_error("x * * * *", "minute: expected a number");
	expect_parse_error("1,,2 * * * *", "minute: empty list item");
	expect_parse_error("1-2-3 * * * *", "minute: unexpected '-'");
	expect_parse_error("99999 * * * *", "minute: number too long");
	expect_parse_error("0 0 31 4 *", "day-of-month and month never coincide");
	expect_parse_error("0 0 30,31 2 *", "day-of-month and month never coincide");
	expect_parse_error("@reboot", "unknown macro '@reboot' (known: @hourly @daily @midnight "
				      "@weekly @monthly @yearly @annually)");
}

static void test_possible_dates_are_accepted(void **state)
{
	(void)state;
	parse_ok("0 0 29 2 *");	  /* leap days exist */
	parse_ok("0 0 31 4 mon"); /* with a weekday, Mondays in April match */
	parse_ok("0 0 31 4,5 *"); /* May 31 exists */
}

static void test_error_text_is_truncated_safely(void **state)
{
	struct cronexpr c;
	char err[8];

	(void)state;
	assert_int_equal(cronexpr_parse("61 * * * *", &c, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "minute:");
	assert_int_equal(cronexpr_parse("61 * * * *", &c, NULL, 0), -EINVAL);
}

static void test_next_is_strictly_after(void **state)
{
	struct tm t = at(2024, 3, 10, 7, 0);

	(void)state;
	expect_next("0 7 * * *", at(2024, 3, 10, 6, 59), 2024, 3, 10, 7, 0);
	expect_next("0 7 * * *", t, 2024, 3, 11, 7, 0);
	t.tm_sec = 30;
	expect_next("0 7 * * *", t, 2024, 3, 11, 7, 0);
	expect_next("* * * * *", at(2024, 3, 10, 7, 0), 2024, 3, 10, 7, 1);
}

static void test_next_crosses_month_and_year_ends(void **state)
{
	(void)state;
	expect_next("0 0 1 * *", at(2024, 1, 31, 12, 0), 2024, 2, 1, 0, 0);
	expect_next("30 12 31 * *", at(2024, 4, 1, 0, 0), 2024, 5, 31, 12, 30);
	expect_next("59 23 31 12 *", at(2024, 12, 31, 23, 59), 2025, 12, 31, 23, 59);
	expect_next("*/15 * * * *", at(2024, 12, 31, 23, 50), 2025, 1, 1, 0, 0);
	expect_next("@yearly", at(2024, 6, 15, 8, 0), 2025, 1, 1, 0, 0);
	expect_next("0 9 * jan mon", at(2024, 12, 31, 10, 0), 2025, 1, 6, 9, 0);
}

static void test_either_day_field_matches_when_both_are_restricted(void **state)
{
	(void)state;
	/* "the 13th or any Friday": 2024-09-01 is a Sunday */
	expect_next("0 0 13 * 5", at(2024, 9, 1, 0, 0), 2024, 9, 6, 0, 0);
	expect_next("0 0 13 * 5", at(2024, 9, 6, 0, 0), 2024, 9, 13, 0, 0);
	expect_next("0 0 13 * 5", at(2024, 9, 13, 0, 0), 2024, 9, 20, 0, 0);
	/* one field starting with '*' means both must match: odd days that are Mondays */
	expect_next("0 0 */2 * 1", at(2024, 9, 1, 0, 0), 2024, 9, 9, 0, 0);
	/* only day-of-month restricted */
	expect_next("0 0 13 * *", at(2024, 9, 1, 0, 0), 2024, 9, 13, 0, 0);
	/* only day-of-week restricted */
	expect_next("0 0 * * fri", at(2024, 9, 7, 0, 0), 2024, 9, 13, 0, 0);
}

static void test_feb_29_waits_for_a_leap_year(void **state)
{
	struct cronexpr c = parse_ok("0 0 29 2 *");
	struct tm after = at(2024, 2, 28, 12, 0), next;

	(void)state;
	assert_int_equal(cronexpr_next(&c, &after, &next), 0);
	assert_int_equal(next.tm_year, 2024 - 1900);
	assert_int_equal(next.tm_wday, 4); /* Thursday */
	assert_int_equal(next.tm_yday, 59);
	expect_next("0 0 29 2 *", at(2024, 3, 1, 0, 0), 2028, 2, 29, 0, 0);
	expect_next("0 0 29 2 *", at(2096, 3, 1, 0, 0), 2104, 2, 29, 0, 0); /* 2100 is not leap */
	expect_next("0 0 * * *", at(2023, 2, 28, 0, 0), 2023, 3, 1, 0, 0);
	expect_next("0 0 * 2 *", at(2023, 2, 28, 0, 0), 2024, 2, 1, 0, 0);
}

static void test_next_reports_no_match_and_bad_input(void **state)
{
	struct cronexpr never = {.minutes = 1, .hours = 1, .days = 2, .months = 0};
	struct tm after = at(2024, 1, 1, 0, 0), next;

	(void)state;
	assert_int_equal(cronexpr_next(&never, &after, &next), -ENOENT);
	never = parse_ok("* * * * *");
	after.tm_mon = 12;
	assert_int_equal(cronexpr_next(&never, &after, &next), -EINVAL);
	after = at(2023, 2, 29, 0, 0);
	assert_int_equal(cronexpr_next(&never, &after, &next), -EINVAL);
	assert_false(cronexpr_match(&never, &after));
}

static void test_match_checks_every_field(void **state)
{
	struct cronexpr c = parse_ok("30 7 * * mon-fri");
	struct tm t = at(2024, 9, 2, 7, 30); /* Monday */

	(void)state;
	assert_true(cronexpr_match(&c, &t));
	t.tm_min = 31;
	assert_false(cronexpr_match(&c, &t));
	t = at(2024, 9, 1, 7, 30); /* Sunday */
	assert_false(cronexpr_match(&c, &t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_steps_ranges_and_names_parse_to_bits),
		cmocka_unit_test(test_sunday_is_both_zero_and_seven),
		cmocka_unit_test(test_macros_expand),
		cmocka_unit_test(test_mistakes_are_refused_with_a_reason),
		cmocka_unit_test(test_possible_dates_are_accepted),
		cmocka_unit_test(test_error_text_is_truncated_safely),
		cmocka_unit_test(test_next_is_strictly_after),
		cmocka_unit_test(test_next_crosses_month_and_year_ends),
		cmocka_unit_test(test_either_day_field_matches_when_both_are_restricted),
		cmocka_unit_test(test_feb_29_waits_for_a_leap_year),
		cmocka_unit_test(test_next_reports_no_match_and_bad_input),
		cmocka_unit_test(test_match_checks_every_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* breaker: the bleed detector admits exactly max_calls calls within window_s and refuses the
 * next one (opening once, one callback, refusals counted, a message that says why and how to
 * close it); calls spread wider than the window never trip it; it closes after cooldown_s or
 * on resume and then forgets the window; cooldown_s 0 waits for resume; the cost limit trips
 * on the window's spend and not on spend that left the window; limits of 0 are off.
 */
#include "test.h"
#include "router/breaker.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1700000000000LL /* some time on the breaker's monotonic clock, ms */

static int n_trips;
static char last_why[160];
static int64_t last_until;

static void on_trip(const char *why, int64_t until_ms, void *arg)
{
	(void)arg;
	n_trips++;
	snprintf(last_why, sizeof(last_why), "%s", why);
	last_until = until_ms;
}

static struct breaker *make(int64_t max_calls, int64_t window_s, double max_cost,
			    int64_t cooldown_s)
{
	struct config_bleed c = {max_calls, window_s, max_cost, cooldown_s};
	struct breaker *b = breaker_create(&c);

	n_trips = 0;
	last_why[0] = '\0';
	last_until = -1;
	breaker_on_trip(b, on_trip, NULL);
	return b;
}

static void test_trips_on_the_call_after_max_calls(void **state)
{
	struct breaker *b = make(5, 60, 0, 300);
	struct breaker_state st;
	char msg[512] = "";
	int i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(breaker_admit(b, T0 + i * 1000, msg, sizeof(msg)), 0);
	assert_int_equal(n_trips, 0);
	assert_int_equal(breaker_admit(b, T0 + 5000, msg, sizeof(msg)), -EBUSY);
	assert_int_equal(n_trips, 1);
	assert_string_equal(last_why, "more than 5 model calls within 60 s");
	assert_int_equal(last_until, T0 + 5000 + 300000);
	assert_non_null(strstr(msg, "bleed breaker is open"));
	assert_non_null(strstr(msg, "more than 5 model calls within 60 s"));
	assert_non_null(strstr(msg, "/resume"));
	assert_non_null(strstr(msg, "refused until 20")); /* a date */
	/* Later calls are refused without a second trip, and counted. */
	for (i = 0; i < 10; i++)
		assert_int_equal(breaker_admit(b, T0 + 6000 + i, msg, sizeof(msg)), -EBUSY);
	assert_int_equal(n_trips, 1);
	breaker_state(b, T0 + 7000, &st);
	assert_true(st.enabled);
	assert_true(st.open);
	assert_int_equal(st.trips, 1);
	assert_int_equal(st.refused, 11);
	assert_int_equal(st.until_ms, T0 + 305000);
	assert_string_equal(st.why, "more than 5 model calls within 60 s");
	breaker_destroy(b);
}

static void test_calls_spread_over_the_window_never_trip(void **state)
{
	struct breaker *b = make(3, 10, 0, 300);
	struct breaker_state st;
	int i;

	(void)state;
	/* One call every 3.4 s: at most 3 fall within any 10 s. */
	for (i = 0; i < 1000; i++)
		assert_int_equal(breaker_admit(b, T0 + i * 3400, NULL, 0), 0);
	breaker_state(b, T0 + 999 * 3400, &st);
	assert_false(st.open);
	assert_int_equal(st.trips, 0);
	assert_int_equal(st.calls_in_window, 3);
	/* The sliding edge: three calls, then a fourth just inside the window of the first. */
	breaker_destroy(b);
	b = make(3, 10, 0, 300);
	assert_int_equal(breaker_admit(b, T0, NULL, 0), 0);
	assert_int_equal(breaker_admit(b, T0 + 1, NULL, 0), 0);
	assert_int_equal(breaker_admit(b, T0 + 2, NULL, 0), 0);
	assert_int_equal(breaker_admit(b, T0 + 10000, NULL, 0), 0); /* first one left */
	assert_int_equal(breaker_admit(b, T0 + 10000, NULL, 0), -EBUSY);
	assert_int_equal(n_trips, 1);
	breaker_destroy(b);
}

static void test_cooldown_closes_and_forgets_the_window(void **state)
{
	struct breaker *b = make(2, 600, 0, 30);
	struct breaker_state st;

	(void)state;
	assert_int_equal(breaker_admit(b, T0, NULL, 0), 0);
	assert_int_equal(breaker_admit(b, T0, NULL, 0), 0);
	assert_int_equal(breaker_admit(b, T0 + 1000, NULL, 0), -EBUSY);
	breaker_state(b, T0 + 30999, &st);
	assert_true(st.open);
	breaker_state(b, T0 + 31000, &st);
	assert_false(st.open);
	assert_string_equal(st.why, "");
	assert_int_equal(st.calls_in_window, 0);
	/* Still inside the 600 s window, yet a fresh budget of max_calls. */
	assert_int_equal(breaker_admit(b, T0 + 31000, NULL, 0), 0);
	assert_int_equal(breaker_admit(b, T0 + 31001, NULL, 0), 0);
	assert_int_equal(breaker_admit(b, T0 + 31002, NULL, 0), -EBUSY);
	assert_int_equal(n_trips, 2);
	breaker_state(b, T0 + 31002, &st);
	assert_int_equal(st.trips, 2);
	breaker_destroy(b);
}

static void test_resume_closes(void **state)
{
	struct breaker *b = make(1, 60, 0, 3600);
	struct breaker_state st;

	(void)state;
	assert_false(breaker_resume(b, T0));
	assert_int_equal(breaker_admit(b, T0, NULL, 0), 0);
	assert_int_equal(breaker_admit(b, T0 + 1, NULL, 0), -EBUSY);
	assert_true(breaker_resume(b, T0 + 2));
	breaker_state(b, T0 + 2, &st);
	assert_false(st.open);
	assert_int_equal(breaker_admit(b, T0 + 3, NULL, 0), 0);
	assert_false(breaker_resume(b, T0 + 4));
	breaker_destroy(b);
}

static void test_cooldown_zero_waits_for_resume(void **state)
{
	struct breaker *b = make(1, 60, 0, 0);
	char msg[512];
	struct breaker_state st;

	(void)state;
	assert_int_equal(breaker_admit(b, T0, msg, sizeof(msg)), 0);
	assert_int_equal(breaker_admit(b, T0 + 1, msg, sizeof(msg)), -EBUSY);
	assert_int_equal(last_until, 0);
	assert_non_null(strstr(msg, "until an allowed Telegram user sends /resume"));
	assert_int_equal(breaker_admit(b, T0 + 86400000LL * 30, msg, sizeof(msg)), -EBUSY);
	breaker_state(b, T0 + 86400000LL * 30, &st);
	assert_true(st.open);
	assert_int_equal(st.until_ms, 0);
	assert_true(breaker_resume(b, T0 + 86400000LL * 30));
	breaker_destroy(b);
}

static void test_cost_limit(void **state)
{
	struct breaker *b = make(0, 640, 1.0, 60);
	struct breaker_state st;
	char msg[512];

	(void)state;
	/* Spend that left the window does not count. */
	breaker_add_cost(b, T0, 0.9);
	breaker_add_cost(b, T0 + 700000, 0.9);
	assert_int_equal(n_trips, 0);
	breaker_state(b, T0 + 700000, &st);
	assert_true(st.cost_in_window_usd > 0.89 && st.cost_in_window_usd < 0.91);
	assert_int_equal(breaker_admit(b, T0 + 700000, msg, sizeof(msg)), 0);
	/* Over the limit within the window: open, and the next call is refused. */
	breaker_add_cost(b, T0 + 710000, 0.2);
	assert_int_equal(n_trips, 1);
	assert_non_null(strstr(last_why, "$1.1000 spent within 640 s (limit $1.0000)"));
	assert_int_equal(breaker_admit(b, T0 + 710001, msg, sizeof(msg)), -EBUSY);
	assert_non_null(strstr(msg, "spent within 640 s"));
	/* More spend while open (calls already in flight) does not trip again. */
	breaker_add_cost(b, T0 + 710002, 5.0);
	assert_int_equal(n_trips, 1);
	breaker_destroy(b);
}

/* A window shorter than COST_BUCKETS seconds (buckets are at least 1 s) still counts only the
 * spend of window_s, not of COST_BUCKETS seconds. */
static void test_cost_limit_short_window(void **state)
{
	struct breaker *b = make(0, 10, 1.0, 60);
	struct breaker_state st;

	(void)state;
	breaker_add_cost(b, T0, 0.9);
	breaker_add_cost(b, T0 + 30000, 0.9);
	assert_int_equal(n_trips, 0);
	breaker_state(b, T0 + 30000, &st);
	assert_true(st.cost_in_window_usd > 0.89 && st.cost_in_window_usd < 0.91);
	/* Within the 10 s it still trips. */
	breaker_add_cost(b, T0 + 35000, 0.2);
	assert_int_equal(n_trips, 1);
	breaker_destroy(b);
}

/* The first cost after the cooldown ended belongs to the new window: closing (which forgets
 * the old window) must not wipe it. */
static void test_cost_after_the_cooldown_counts(void **state)
{
	struct breaker *b = make(0, 600, 1.0, 60);
	struct breaker_state st;

	(void)state;
	breaker_add_cost(b, T0, 1.5);
	assert_int_equal(n_trips, 1);
	breaker_add_cost(b, T0 + 61000, 0.9);
	breaker_state(b, T0 + 61000, &st);
	assert_false(st.open);
	assert_true(st.cost_in_window_usd > 0.89 && st.cost_in_window_usd < 0.91);
	breaker_add_cost(b, T0 + 62000, 0.2);
	assert_int_equal(n_trips, 2);
	breaker_destroy(b);
}

static void test_zero_limits_are_off(void **state)
{
	struct breaker *b = make(0, 1, 0, 60);
	struct breaker_state st;

	(void)state;
	for (int i = 0; i < 100000; i++)
		assert_int_equal(breaker_admit(b, T0, NULL, 0), 0);
	breaker_add_cost(b, T0, 1e6);
	breaker_state(b, T0, &st);
	assert_false(st.enabled);
	assert_false(st.open);
	assert_int_equal(st.trips, 0);
	assert_int_equal(st.refused, 0);
	breaker_destroy(b);
	breaker_destroy(NULL);
}

/* The breaker runs on the monotonic clock (a wall-clock step must neither open it nor keep it
 * open), but people read its deadline as a date: a deadline 5 minutes ahead on the monotonic
 * clock reads as the wall-clock time 5 minutes from now, not as a date near 1970. */
static void test_deadline_reads_as_wall_clock_date(void **state)
{
	char got[64], want[2][64];
	int64_t wall0 = now_wall_ms();

	(void)state;
	breaker_format_time(now_mono_ms() + 300000, got, sizeof(got));
	for (int i = 0; i < 2; i++) {
		time_t t = (time_t)((wall0 + 300000) / 1000 + i);
		struct tm tm;

		assert_non_null(localtime_r(&t, &tm));
		assert_true(strftime(want[i], sizeof(want[i]), "%Y-%m-%d %H:%M:%S %Z", &tm) > 0);
	}
	if (strcmp(got, want[0]) != 0)
		assert_string_equal(got, want[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trips_on_the_call_after_max_calls),
		cmocka_unit_test(test_calls_spread_over_the_window_never_trip),
		cmocka_unit_test(test_cooldown_closes_and_forgets_the_window),
		cmocka_unit_test(test_resume_closes),
		cmocka_unit_test(test_cooldown_zero_waits_for_resume),
		cmocka_unit_test(test_cost_limit),
		cmocka_unit_test(test_cost_limit_short_window),
		cmocka_unit_test(test_cost_after_the_cooldown_counts),
		cmocka_unit_test(test_zero_limits_are_off),
		cmocka_unit_test(test_deadline_reads_as_wall_clock_date),
	};

	log_set_stderr(0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

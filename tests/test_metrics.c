/* metrics: the text format Prometheus parses (HELP/TYPE, escaping, None for missing labels,
 * cumulative histogram buckets with +Inf, _sum and _count) and the bounds on label values
 * and series per family. promtool checks the real gateway
 * output in the e2e suite; here the exact lines are asserted. */
#include "test.h"
#include "core/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void counter_renders_with_labels_and_none(void **state)
{
	static const char *const labels[] = {"requested_model", "status_code", NULL};
	struct metrics *m = metrics_create();
	struct metric *c =
		metrics_add(m, METRIC_COUNTER, "litellm_proxy_total_requests_metric_total",
			    "Total requests", labels);
	const char *v1[] = {"free", "200", NULL};
	const char *v2[] = {"we\"ird\\", NULL, NULL};
	struct buf out;

	metric_inc(c, v1, 1);
	metric_inc(c, v1, 2);
	metric_inc(c, v2, 1);
	buf_init(&out, 0);
	metrics_render(m, &out);
	assert_non_null(strstr(buf_str(&out),
			       "# TYPE litellm_proxy_total_requests_metric_total counter\n"));
	assert_non_null(strstr(buf_str(&out),
			       "litellm_proxy_total_requests_metric_total{requested_model=\"free\","
			       "status_code=\"200\"} 3\n"));
	assert_non_null(strstr(buf_str(&out), "{requested_model=\"we\\\"ird\\\\\","
					      "status_code=\"None\"} 1\n"));
	assert_true(metric_get(c, v1) == 3);
	buf_finish(&out);
	metrics_destroy(m);
}

/* Lookups compare a hash of the values first: values that differ only in where one ends and
 * the next begins, or in one byte of a long value, stay separate series; metric_inc_each
 * counts as separate metric_inc calls do. */
static void series_differing_by_a_boundary_or_a_byte_stay_apart(void **state)
{
	static const char *const labels[] = {"a", "b", NULL};
	struct metrics *m = metrics_create();
	struct metric *c = metrics_add(m, METRIC_COUNTER, "c_total", "c", labels);
	struct metric *d = metrics_add(m, METRIC_COUNTER, "d_total", "d", labels);
	struct metric *const both[] = {c, d};
	const double by[] = {2, 5};
	char long1[65], long2[65];
	const char *v1[] = {"ab", "c"}, *v2[] = {"a", "bc"}, *v3[] = {"abcdefgh", "12345678"},
		   *v4[] = {"abcdefg", "h12345678"}, *l1[] = {long1, "x"}, *l2[] = {long2, "x"};
	int i;

	memset(long1, 'f', 64);
	long1[64] = '\0';
	memcpy(long2, long1, sizeof(long2));
	long2[40] = 'e';
	for (i = 0; i < 3; i++) {
		metric_inc(c, v1, 1);
		metric_inc(c, v3, 10);
		metric_inc(c, l1, 100);
	}
	metric_inc(c, v2, 1);
	metric_inc(c, v4, 1);
	metric_inc(c, l2, 1);
	assert_true(metric_get(c, v1) == 3);
	assert_true(metric_get(c, v2) == 1);
	assert_true(metric_get(c, v3) == 30);
	assert_true(metric_get(c, v4) == 1);
	assert_true(metric_get(c, l1) == 300);
	assert_true(metric_get(c, l2) == 1);
	metric_inc_each(both, by, 2, v2);
	metric_inc_each(both, by, 2, v2);
	assert_true(metric_get(c, v2) == 5);
	assert_true(metric_get(d, v2) == 10);
	assert_true(metric_get(d, v1) == 0);
	metrics_destroy(m);
}

static void histogram_buckets_are_cumulative(void **state)
{
	static const double bounds[] = {0.1, 1.0};
	struct metrics *m = metrics_create();
	struct metric *h = metrics_add_histogram(m, "lat_seconds", "latency", NULL, bounds, 2);
	struct buf out;

	metric_observe(h, NULL, 0.05);
	metric_observe(h, NULL, 0.5);
	metric_observe(h, NULL, 5);
	buf_init(&out, 0);
	metrics_render(m, &out);
	assert_non_null(strstr(buf_str(&out), "lat_seconds_bucket{le=\"0.1\"} 1\n"));
	assert_non_null(strstr(buf_str(&out), "lat_seconds_bucket{le=\"1\"} 2\n"));
	assert_non_null(strstr(buf_str(&out), "lat_seconds_bucket{le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(buf_str(&out), "lat_seconds_sum 5.55"));
	assert_non_null(strstr(buf_str(&out), "lat_seconds_count 3\n"));
	buf_finish(&out);
	metrics_destroy(m);
}

static int collected;

static void on_collect(struct metrics *m, void *arg)
{
	metric_set(arg, NULL, ++collected);
}

static void collectors_run_before_each_render(void **state)
{
	struct metrics *m = metrics_create();
	struct metric *g = metrics_add(m, METRIC_GAUGE, "g", "gauge", NULL);
	struct buf out;

	metrics_on_collect(m, on_collect, g);
	buf_init(&out, 0);
	metrics_render(m, &out);
	buf_reset(&out);
	metrics_render(m, &out);
	assert_non_null(strstr(buf_str(&out), "\ng 2\n"));
	buf_finish(&out);
	metrics_destroy(m);
}

static void label_values_are_cut_to_the_cap(void **state)
{
	static const char *const labels[] = {"requested_model", NULL};
	struct metrics *m = metrics_create();
	struct metric *c = metrics_add(m, METRIC_COUNTER, "c_total", "c", labels);
	char big[4096], want[METRICS_MAX_LABEL_BYTES + 64];
	const char *v[] = {big, NULL};
	struct buf out;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	metric_inc(c, v, 1);
	/* A different value with the same first 128 bytes is the same series. */
	big[1000] = 'y';
	metric_inc(c, v, 1);
	buf_init(&out, 0);
	metrics_render(m, &out);
	snprintf(want, sizeof(want), "c_total{requested_model=\"%.*s\"} 2\n",
		 METRICS_MAX_LABEL_BYTES, big);
	assert_non_null(strstr(buf_str(&out), want));
	assert_true(out.len < 512);
	buf_finish(&out);
	metrics_destroy(m);
}

static void a_cut_never_splits_a_utf8_sequence(void **state)
{
	static const char *const labels[] = {"l", NULL};
	struct metrics *m = metrics_create();
	struct metric *c = metrics_add(m, METRIC_GAUGE, "g", "g", labels);
	char v0[METRICS_MAX_LABEL_BYTES + 8];
	const char *v[] = {v0, NULL};
	struct buf out;
	const char *p;

	/* 127 ASCII bytes then a 3-byte character straddling the cap. */
	memset(v0, 'a', METRICS_MAX_LABEL_BYTES - 1);
	memcpy(v0 + METRICS_MAX_LABEL_BYTES - 1, "\xe2\x82\xac", 4);
	metric_set(c, v, 1);
	buf_init(&out, 0);
	metrics_render(m, &out);
	p = strstr(buf_str(&out), "g{l=\"");
	assert_non_null(p);
	assert_int_equal(strchr(p + 5, '"') - (p + 5), METRICS_MAX_LABEL_BYTES - 1);
	buf_finish(&out);
	metrics_destroy(m);
}

static void series_past_the_cap_count_in_one_overflow_series(void **state)
{
	static const char *const labels[] = {"requested_model", "status_code", NULL};
	static const double bounds[] = {0.1, 1.0};
	struct metrics *m = metrics_create();
	struct metric *c = metrics_add(m, METRIC_COUNTER, "c_total", "c", labels);
	struct metric *h = metrics_add_histogram(m, "h", "h", labels, bounds, 2);
	const char *over[] = {METRICS_OVERFLOW, METRICS_OVERFLOW, NULL};
	char name[32];
	const char *v[] = {name, "400", NULL};
	struct buf out;
	size_t i, lines = 0;
	const char *p;

	for (i = 0; i < METRICS_MAX_SERIES + 500; i++) {
		snprintf(name, sizeof(name), "m%zu", i);
		metric_inc(c, v, 1);
		metric_observe(h, v, 0.5);
	}
	/* Existing series keep counting after the cap. */
	snprintf(name, sizeof(name), "m0");
	metric_inc(c, v, 1);
	assert_true(metric_get(c, v) == 2);
	assert_true(metric_get(c, over) == 500);
	assert_true(metric_get(h, over) == 500);
	buf_init(&out, 0);
	metrics_render(m, &out);
	for (p = buf_str(&out); (p = strstr(p, "c_total{")) != NULL; p++)
		lines++;
	assert_int_equal(lines, METRICS_MAX_SERIES + 1);
	assert_non_null(strstr(buf_str(&out), "c_total{requested_model=\"__overflow__\","
					      "status_code=\"__overflow__\"} 500\n"));
	assert_non_null(strstr(buf_str(&out), "h_bucket{requested_model=\"__overflow__\","
					      "status_code=\"__overflow__\",le=\"1\"} 500\n"));
	buf_finish(&out);
	metrics_destroy(m);
}

/* A family remembers the series it found last and compares the asked values with it first:
 * new bytes at the same address, a shorter or longer value, a NULL for "None" and a value cut
 * at the cap all get the series a full lookup gives. */
static void the_remembered_series_is_the_lookups_answer(void **state)
{
	static const char *const labels[] = {"a", "b", NULL};
	struct metrics *m = metrics_create();
	struct metric *c = metrics_add(m, METRIC_COUNTER, "c_total", "c", labels);
	char a[METRICS_MAX_LABEL_BYTES + 40];
	const char *v[] = {a, NULL}, *none[] = {a, "None"};

	snprintf(a, sizeof(a), "model-one");
	metric_inc(c, v, 1);
	metric_inc(c, v, 1);
	snprintf(a, sizeof(a), "model-onf"); /* same address and length, last byte differs */
	metric_inc(c, v, 10);
	snprintf(a, sizeof(a), "model-on");
	metric_inc(c, v, 100);
	snprintf(a, sizeof(a), "model-one-more");
	metric_inc(c, v, 1000);
	snprintf(a, sizeof(a), "model-one");
	metric_inc(c, none, 1); /* "None" is what NULL stands for */
	assert_true(metric_get(c, v) == 3);
	snprintf(a, sizeof(a), "model-onf");
	assert_true(metric_get(c, v) == 10);
	snprintf(a, sizeof(a), "model-on");
	assert_true(metric_get(c, v) == 100);
	snprintf(a, sizeof(a), "model-one-more");
	assert_true(metric_get(c, v) == 1000);
	/* Past the cap the value is cut: the remembered series holds the cut bytes, and a value
	 * that only starts with them is the same series, as the full lookup makes it. */
	memset(a, 'x', sizeof(a) - 1);
	a[sizeof(a) - 1] = '\0';
	metric_inc(c, v, 1);
	metric_inc(c, v, 1);
	a[METRICS_MAX_LABEL_BYTES + 5] = 'y';
	metric_inc(c, v, 1);
	a[METRICS_MAX_LABEL_BYTES] = '\0';
	metric_inc(c, v, 1);
	assert_true(metric_get(c, v) == 4);
	metrics_destroy(m);
}

/* metric_inc_each compares the values once, with the first family's series, and takes
 * another family's remembered series when it was found with that one: the counts are those
 * of separate metric_inc calls, whatever other calls asked the families for in between. */
static void inc_each_counts_as_separate_incs_do(void **state)
{
	static const char *const labels[] = {"a", "b", NULL};
	struct metrics *m = metrics_create();
	struct metric *c = metrics_add(m, METRIC_COUNTER, "c_total", "c", labels);
	struct metric *d = metrics_add(m, METRIC_COUNTER, "d_total", "d", labels);
	struct metric *e = metrics_add(m, METRIC_COUNTER, "e_total", "e", labels);
	struct metric *const fs[] = {c, d, e};
	const double by[] = {1, 10, 100};
	const char *v1[] = {"x", "1"}, *v2[] = {"y", "2"}, *v3[] = {"z", "3"};

	metric_inc_each(fs, by, 3, v1);
	metric_inc_each(fs, by, 3, v2);
	metric_inc_each(fs, by, 3, v1);
	metric_inc(d, v3, 1); /* d now remembers another series */
	metric_inc_each(fs, by, 3, v1);
	metric_inc_each(fs, by, 3, v2);
	metric_inc(e, v1, 1000);
	metric_inc_each(fs, by, 3, v2);
	assert_true(metric_get(c, v1) == 3);
	assert_true(metric_get(d, v1) == 30);
	assert_true(metric_get(e, v1) == 1300);
	assert_true(metric_get(c, v2) == 3);
	assert_true(metric_get(d, v2) == 30);
	assert_true(metric_get(e, v2) == 300);
	assert_true(metric_get(d, v3) == 1);
	assert_true(metric_get(c, v3) == 0);
	metrics_destroy(m);
}

/* One family at its cap and the other not: metric_inc_each counts the new values in the
 * full family's overflow series every time, and the values it has in their own series. */
static void inc_each_keeps_the_overflow_of_a_full_family(void **state)
{
	static const char *const labels[] = {"a", NULL};
	struct metrics *m = metrics_create();
	struct metric *c = metrics_add(m, METRIC_COUNTER, "c_total", "c", labels);
	struct metric *d = metrics_add(m, METRIC_COUNTER, "d_total", "d", labels);
	struct metric *const cd[] = {c, d}, *const dc[] = {d, c};
	const double by[] = {1, 1};
	const char *over[] = {METRICS_OVERFLOW}, *late[] = {"late"}, *early[] = {"m0"};
	char name[32];
	const char *v[] = {name};

	for (size_t i = 0; i < METRICS_MAX_SERIES; i++) {
		snprintf(name, sizeof(name), "m%zu", i);
		metric_inc(d, v, 1);
	}
	for (int i = 0; i < 3; i++) {
		metric_inc_each(cd, by, 2, late);
		metric_inc_each(dc, by, 2, late);
	}
	metric_inc_each(cd, by, 2, early);
	metric_inc_each(dc, by, 2, early);
	assert_true(metric_get(c, late) == 6);
	assert_true(metric_get(d, late) == 0);
	assert_true(metric_get(d, over) == 6);
	assert_true(metric_get(c, early) == 2);
	assert_true(metric_get(d, early) == 3);
	metrics_destroy(m);
}

/* Buckets are counted where an observation falls and added up on render: a value on a bound
 * is in that bound's bucket, one above every bound and NaN only in +Inf. */
static void histogram_bounds_are_inclusive_and_nan_is_only_in_inf(void **state)
{
	static const double bounds[] = {0.1, 1.0, 10.0};
	struct metrics *m = metrics_create();
	struct metric *h = metrics_add_histogram(m, "h", "h", NULL, bounds, 3);
	struct buf out;

	metric_observe(h, NULL, 0.1);
	metric_observe(h, NULL, 1.0);
	metric_observe(h, NULL, 20);
	metric_observe(h, NULL, -1);
	metric_observe(h, NULL, NAN);
	buf_init(&out, 0);
	metrics_render(m, &out);
	assert_non_null(strstr(buf_str(&out), "h_bucket{le=\"0.1\"} 2\n"
					      "h_bucket{le=\"1\"} 3\n"
					      "h_bucket{le=\"10\"} 3\n"
					      "h_bucket{le=\"+Inf\"} 5\n"
					      "h_sum NaN\n"
					      "h_count 5\n"));
	buf_finish(&out);
	metrics_destroy(m);
}

/* Families with fewer labels take the first values: metric_inc_each measures again when the
 * count changes, and a family's remembered series is taken only when it was found with the
 * values measured for its own count. */
static void inc_each_over_families_with_different_label_counts(void **state)
{
	static const char *const one[] = {"a", NULL}, *const two[] = {"a", "b", NULL};
	struct metrics *m = metrics_create();
	struct metric *c = metrics_add(m, METRIC_COUNTER, "c_total", "c", one);
	struct metric *d = metrics_add(m, METRIC_COUNTER, "d_total", "d", two);
	struct metric *e = metrics_add(m, METRIC_COUNTER, "e_total", "e", one);
	struct metric *const fs[] = {c, d, e}, *const ds[] = {d, c, e};
	const double by[] = {1, 10, 100};
	const char *v1[] = {"x", "1"}, *v2[] = {"x", "2"}, *x[] = {"x"};

	metric_inc_each(fs, by, 3, v1);
	metric_inc_each(fs, by, 3, v2);
	metric_inc_each(ds, by, 3, v1);
	metric_inc_each(ds, by, 3, v2);
	metric_inc_each(fs, by, 3, v1);
	assert_true(metric_get(c, x) == 1 + 1 + 10 + 10 + 1);
	assert_true(metric_get(e, x) == 500);
	assert_true(metric_get(d, v1) == 10 + 1 + 10);
	assert_true(metric_get(d, v2) == 10 + 1);
	metrics_destroy(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counter_renders_with_labels_and_none),
		cmocka_unit_test(series_differing_by_a_boundary_or_a_byte_stay_apart),
		cmocka_unit_test(histogram_buckets_are_cumulative),
		cmocka_unit_test(collectors_run_before_each_render),
		cmocka_unit_test(label_values_are_cut_to_the_cap),
		cmocka_unit_test(a_cut_never_splits_a_utf8_sequence),
		cmocka_unit_test(series_past_the_cap_count_in_one_overflow_series),
		cmocka_unit_test(the_remembered_series_is_the_lookups_answer),
		cmocka_unit_test(inc_each_counts_as_separate_incs_do),
		cmocka_unit_test(inc_each_keeps_the_overflow_of_a_full_family),
		cmocka_unit_test(inc_each_over_families_with_different_label_counts),
		cmocka_unit_test(histogram_bounds_are_inclusive_and_nan_is_only_in_inf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

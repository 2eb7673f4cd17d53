/* metrics: the text format Prometheus parses (HELP/TYPE, escaping, None for missing labels,
 * cumulative histogram buckets with +Inf, _sum and _count). promtool checks the real gateway
 * output in the e2e suite; here the exact lines are asserted. */
#include "test.h"
#include "metrics.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(counter_renders_with_labels_and_none),
		cmocka_unit_test(histogram_buckets_are_cumulative),
		cmocka_unit_test(collectors_run_before_each_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Tests of prom: time arguments (RFC 3339 with zones and fractions, unix seconds, now-1h),
 * durations, the default step, URL encoding, and the rendering of every answer shape:
 * vector, matrix (short and long series, NaN), scalar, string, empty results, label escaping
 * and cutting, the series cap, warnings, Prometheus errors and non-JSON answers; sparklines;
 * the listings (series, label values, alerts, rules) and their URLs; a matrix as numbers.
 */
#include "test.h"
#include "net/prom.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void times_parse_in_every_form(void **state)
{
	const double now = 1714564800; /* 2024-05-01T12:00:00Z */
	double t = 0;

	assert_int_equal(prom_parse_time("2024-05-01T12:00:00Z", now, &t), 0);
	assert_true(t == now);
	assert_int_equal(prom_parse_time("2024-05-01t14:00:00+02:00", now, &t), 0);
	assert_true(t == now);
	assert_int_equal(prom_parse_time("2024-05-01T06:30:00.25-05:30", now, &t), 0);
	assert_true(t == now + 0.25);
	assert_int_equal(prom_parse_time("2024-05-01 12:00:00", now, &t), 0);
	assert_true(t == now);
	assert_int_equal(prom_parse_time("2024-05-01", now, &t), 0);
	assert_true(t == now - 12 * 3600);
	assert_int_equal(prom_parse_time("1714564800", 0, &t), 0);
	assert_true(t == now);
	assert_int_equal(prom_parse_time("1714564800.5", 0, &t), 0);
	assert_true(t == now + 0.5);
	assert_int_equal(prom_parse_time("now", now, &t), 0);
	assert_true(t == now);
	assert_int_equal(prom_parse_time("now-1h", now, &t), 0);
	assert_true(t == now - 3600);
	assert_int_equal(prom_parse_time("-1h30m", now, &t), 0);
	assert_true(t == now - 5400);
	assert_int_equal(prom_parse_time("now+5m", now, &t), 0);
	assert_true(t == now + 300);
}

static void bad_times_are_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"yesterday",
		"now-",
		"now-1x",
		"nowish",
		"2024-13-01T00:00:00Z",
		"2024-02-30T00:00:00Z",
		"2024-05-01T25:00:00Z",
		"2024-05-01T12:00Z",
		"2024-5-1",
		"2024-05-01T12:00:00+2",
		"2024-05-01T12:00:00Zjunk",
		"1e400",
	};
	double t = 42;
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad); i++)
		if (prom_parse_time(bad[i], 1000, &t) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
	assert_true(t == 42);
}

static void durations_and_the_default_step(void **state)
{
	double d = 0;

	assert_int_equal(prom_parse_duration("30s", &d), 0);
	assert_true(d == 30);
	assert_int_equal(prom_parse_duration("1h30m", &d), 0);
	assert_true(d == 5400);
	assert_int_equal(prom_parse_duration("500ms", &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(prom_parse_duration("1w1d", &d), 0);
	assert_true(d == 8 * 86400);
	assert_int_equal(prom_parse_duration("15", &d), 0);
	assert_true(d == 15);
	assert_int_equal(prom_parse_duration("0.5", &d), 0);
	assert_true(d == 0.5);
	assert_int_equal(prom_parse_duration("0", &d), -EINVAL);
	assert_int_equal(prom_parse_duration("0s", &d), -EINVAL);
	assert_int_equal(prom_parse_duration("-5", &d), -EINVAL);
	assert_int_equal(prom_parse_duration("5", &d), 0);
	assert_int_equal(prom_parse_duration("h", &d), -EINVAL);
	assert_int_equal(prom_parse_duration("5 m", &d), -EINVAL);
	assert_int_equal(prom_parse_duration("", &d), -EINVAL);
	assert_true(prom_default_step(0, 3600) == 60);
	assert_true(prom_default_step(0, 3601) == 61);
	assert_true(prom_default_step(0, 10) == 1);
	assert_true(prom_default_step(0, 86400 * 7) == 10080);
}

static void query_urls_are_encoded(void **state)
{
	struct buf b;

	buf_init(&b, 4096);
	prom_query_url(&b, "http://prom:9090/", "sum(rate(x{a=\"b c\"}[5m])) by (job) & +", false,
		       0, 0, 0);
	assert_string_equal(buf_str(&b), "http://prom:9090/api/v1/"
					 "query?query=sum%28rate%28x%7Ba%3D%22b%20c%22%7D%5B5m%5D%"
					 "29%29%20by%20%28job%29%20%26%20%2B");
	buf_reset(&b);
	prom_query_url(&b, "http://h/prefix", "up", true, 1.5, 3601, 60);
	assert_string_equal(buf_str(&b), "http://h/prefix/api/v1/query_range?query=up&start=1.500&"
					 "end=3601.000&step=60.000");
	buf_finish(&b);
}

static char *render(const char *json, long status, size_t max_series, int *rc)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	*rc = prom_render(json, strlen(json), status, max_series, &b);
	return buf_steal(&b);
}

static void expect(const char *json, long status, int want_rc, const char *want)
{
	int rc;
	char *got = render(json, status, PROM_MAX_SERIES, &rc);

	if (rc != want_rc || strcmp(got, want) != 0)
		fail_msg("rc %d, got:\n%s\nwant:\n%s", rc, got, want);
	free(got);
}

static void vectors_are_one_line_per_series(void **state)
{
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
	       "{\"metric\":{\"__name__\":\"up\",\"instance\":\"a:9090\",\"job\":\"prom\"},"
	       "\"value\":[1714564800,\"1\"]},"
	       "{\"metric\":{\"job\":\"x\"},\"value\":[1714564800,\"0.5\"]},"
	       "{\"metric\":{},\"value\":[1714564800,\"NaN\"]}]}}",
	       200, 0,
	       "vector: 3 series at 2024-05-01T12:00:00Z\n"
	       "up{instance=\"a:9090\",job=\"prom\"} 1\n{job=\"x\"} 0.5\n{} NaN");
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[]}}", 200,
	       0, "vector: no series (the query matched nothing)");
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
	       "{\"metric\":{\"__name__\":\"h\"},\"histogram\":[1714564800.5,{\"count\":\"3\","
	       "\"sum\":\"1.5\",\"buckets\":[]}]}]}}",
	       200, 0, "vector: 1 series\nh histogram count=3 sum=1.5");
}

static void shared_labels_are_written_once(void **state)
{
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
	       "{\"metric\":{\"__name__\":\"cpu\",\"instance\":\"a\",\"job\":\"p\",\"mode\":"
	       "\"idle\"},"
	       "\"value\":[0,\"1\"]},"
	       "{\"metric\":{\"__name__\":\"cpu\",\"job\":\"p\",\"mode\":\"user\",\"instance\":"
	       "\"a\"},"
	       "\"value\":[0,\"2\"]},"
	       "{\"metric\":{\"job\":\"p\",\"instance\":\"a\"},\"value\":[0,\"3\"]}]}}",
	       200, 0,
	       "vector: 3 series at 1970-01-01T00:00:00Z; every series below has "
	       "{instance=\"a\",job=\"p\"}\ncpu{mode=\"idle\"} 1\ncpu{mode=\"user\"} 2\n{} 3");
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
	       "{\"metric\":{\"job\":\"p\",\"i\":\"1\"},\"values\":[[0,\"1\"]]},"
	       "{\"metric\":{\"job\":\"p\",\"i\":\"2\"},\"values\":[[0,\"2\"]]}]}}",
	       200, 0,
	       "matrix: 2 series, 1970-01-01T00:00:00Z to 1970-01-01T00:00:00Z; every series "
	       "below has {job=\"p\"}\n{i=\"1\"} points=1 min=1 max=1 last=1 ▁ [00:00:00=1]\n"
	       "{i=\"2\"} points=1 min=2 max=2 last=2 ▁ [00:00:00=2]");
}

static void labels_are_escaped_and_cut(void **state)
{
	char json[1024], want[1024];

	snprintf(json, sizeof(json),
		 "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":["
		 "{\"metric\":{\"a\":\"q\\\"b\\\\c\\nd\",\"long\":\"%0250d\"},"
		 "\"value\":[0,\"1\"]}]}}",
		 0);
	snprintf(want, sizeof(want),
		 "vector: 1 series at "
		 "1970-01-01T00:00:00Z\n{a=\"q\\\"b\\\\c\\nd\",long=\"%0200d...\"} "
		 "1",
		 0);
	expect(json, 200, 0, want);
}

static void matrices_summarise_each_series(void **state)
{
	struct buf j;
	int i, rc;
	char *got;

	/* A short series lists its points, a long one only its summary. */
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
	       "{\"metric\":{\"__name__\":\"up\"},\"values\":[[1714564800,\"1\"],"
	       "[1714564860,\"NaN\"],[1714564920.5,\"0\"]]}]}}",
	       200, 0,
	       "matrix: 1 series, 2024-05-01T12:00:00Z to 2024-05-01T12:02:00.500Z\n"
	       "up points=3 min=0 max=1 last=0 █ ▁ [12:00:00=1 12:01:00=NaN 12:02:00.500=0]");
	buf_init(&j, 1 << 20);
	buf_puts(&j, "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
		     "{\"metric\":{\"job\":\"a\"},\"values\":[");
	for (i = 0; i < 61; i++)
		buf_printf(&j, "%s[%d,\"%d\"]", i ? "," : "", 1714564800 + 60 * i, (i * 7) % 13);
	buf_puts(&j, "]}]}}");
	got = render(buf_str(&j), 200, PROM_MAX_SERIES, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(got, "matrix: 1 series, 2024-05-01T12:00:00Z to 2024-05-01T13:00:00Z\n"
				 "{job=\"a\"} points=61 min=0 max=12 last=4 "
				 "▁▅▆▆▃▇▇█▅▅▂▆▆▇▃▇█▅▅▆▆▃▇▇█▅▅▂▆▆▇▃▇█▅▅▆▂▆▇");
	free(got);
	buf_finish(&j);
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":[]}}", 200,
	       0, "matrix: no series (the query matched nothing in the range)");
}

static void series_over_the_cap_are_counted(void **state)
{
	struct buf j;
	int i, rc;
	char *got;

	buf_init(&j, 1 << 20);
	buf_puts(&j, "{\"status\":\"success\",\"data\":{\"resultType\":\"vector\",\"result\":[");
	for (i = 0; i < 120; i++)
		buf_printf(&j, "%s{\"metric\":{\"i\":\"%d\"},\"value\":[0,\"%d\"]}", i ? "," : "",
			   i, i);
	buf_puts(&j, "]}}");
	got = render(buf_str(&j), 200, PROM_MAX_SERIES, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(got, "vector: 120 series at "));
	assert_non_null(strstr(got, "\n{i=\"49\"} 49\n... 70 more series"));
	assert_null(strstr(got, "{i=\"50\"}"));
	free(got);
	buf_finish(&j);
}

static void scalars_strings_and_warnings(void **state)
{
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":"
	       "[1714564800,\"2\"]}}",
	       200, 0, "scalar: 2 at 2024-05-01T12:00:00Z");
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"string\",\"result\":"
	       "[1714564800,\"hi \\\"x\\\"\"]},\"warnings\":[\"w1\"],\"infos\":[\"i1\"]}",
	       200, 0, "string: \"hi \\\"x\\\"\" at 2024-05-01T12:00:00Z\nwarning: w1\ninfo: i1");
}

static void prometheus_errors_are_readable(void **state)
{
	expect("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"1:4: parse error: "
	       "unexpected end of input\"}",
	       400, -EINVAL,
	       "Prometheus rejected the query (bad_data): 1:4: parse error: unexpected end of "
	       "input");
	expect("{\"status\":\"error\",\"errorType\":\"timeout\",\"error\":\"query timed out\"}",
	       503, -EINVAL, "Prometheus failed (timeout, HTTP 503): query timed out");
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"table\",\"result\":[]}}", 200,
	       -EINVAL, "Prometheus sent an answer without a known resultType ('table')");
	expect("{\"status\":\"success\",\"data\":{\"resultType\":\"scalar\",\"result\":5}}", 200,
	       -EINVAL, "Prometheus sent a scalar result of an unexpected shape");
}

static void answers_that_are_not_json(void **state)
{
	expect("<html><title>502 Bad Gateway</title><body><h1>Bad Gateway</h1></body></html>", 502,
	       -EINVAL, "Prometheus answered HTTP 502: 502 Bad Gateway\n\nBad Gateway");
	expect("404 page not found\n", 404, -EINVAL,
	       "Prometheus answered HTTP 404: 404 page not found (is prometheus.url the base URL "
	       "of Prometheus?)");
	expect("", 503, -EINVAL, "Prometheus answered HTTP 503 with an empty body");
	expect("[1,2]", 200, -EINVAL,
	       "Prometheus answered with something that is not its API's JSON: [1,2]");
}

static char *spark(const double *v, size_t n, size_t width)
{
	struct buf b;

	buf_init(&b, 4096);
	prom_sparkline(v, n, width, &b);
	return buf_steal(&b);
}

static void sparklines_scale_between_min_and_max(void **state)
{
	static const double ramp[] = {0, 1, 2, 3, 4, 5, 6, 7};
	static const double flat[] = {5, 5, 5};
	static const double gaps[] = {1, NAN, 3, INFINITY};
	double many[1000];
	char *got;
	int i;

	got = spark(ramp, 8, 40);
	assert_string_equal(got, "▁▂▃▄▅▆▇█");
	free(got);
	got = spark(flat, 3, 40);
	assert_string_equal(got, "▁▁▁");
	free(got);
	/* NaN and +Inf are gaps, and do not stretch the scale. */
	got = spark(gaps, 4, 40);
	assert_string_equal(got, "▁ █ ");
	free(got);
	/* Many points: width buckets, each its largest value, so a lone spike stays visible. */
	for (i = 0; i < 1000; i++)
		many[i] = i == 500 ? 100 : 1;
	got = spark(many, 1000, 10);
	assert_string_equal(got, "▁▁▁▁▁█▁▁▁▁");
	free(got);
	got = spark(ramp, 0, 40);
	assert_string_equal(got, "");
	free(got);
}

static char *render_kind(enum prom_kind kind, const char *json, size_t max, int *rc)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	*rc = prom_render_kind(kind, json, strlen(json), 200, max, &b);
	return buf_steal(&b);
}

static void expect_kind(enum prom_kind kind, const char *json, const char *want)
{
	int rc;
	char *got = render_kind(kind, json, PROM_MAX_SERIES, &rc);

	if (rc != 0 || strcmp(got, want) != 0)
		fail_msg("rc %d, got:\n%s\nwant:\n%s", rc, got, want);
	free(got);
}

static void listings_render_compactly(void **state)
{
	expect_kind(PROM_KIND_SERIES,
		    "{\"status\":\"success\",\"data\":[{\"__name__\":\"up\",\"job\":\"node\"},"
		    "{\"__name__\":\"up\",\"job\":\"prom\"}]}",
		    "series: 2\nup{job=\"node\"}\nup{job=\"prom\"}");
	expect_kind(PROM_KIND_SERIES, "{\"status\":\"success\",\"data\":[]}",
		    "series: none match (in the range)");
	expect_kind(PROM_KIND_LABEL_VALUES,
		    "{\"status\":\"success\",\"data\":[\"node\",\"prom\\\"x\"]}",
		    "label values: 2\nnode\nprom\\\"x");
	expect_kind(PROM_KIND_ALERTS,
		    "{\"status\":\"success\",\"data\":{\"alerts\":[{\"labels\":{\"alertname\":"
		    "\"Down\",\"job\":\"node\"},\"annotations\":{\"summary\":\"node is down\"},"
		    "\"state\":\"firing\",\"activeAt\":\"2024-05-01T12:00:00.123Z\",\"value\":"
		    "\"0e+00\"},{\"labels\":{\"alertname\":\"Slow\"},\"annotations\":{},"
		    "\"state\":\"pending\",\"activeAt\":\"2024-05-01T12:05:00Z\"}]}}",
		    "alerts: 2 (1 firing, 1 pending)\n"
		    "firing Down{job=\"node\"} since 2024-05-01T12:00:00Z value=0e+00: node is "
		    "down\npending Slow since 2024-05-01T12:05:00Z");
	expect_kind(PROM_KIND_ALERTS, "{\"status\":\"success\",\"data\":{\"alerts\":[]}}",
		    "alerts: none firing or pending");
	expect_kind(PROM_KIND_RULES,
		    "{\"status\":\"success\",\"data\":{\"groups\":[{\"name\":\"g\",\"file\":"
		    "\"/etc/r.yml\",\"rules\":[{\"type\":\"alerting\",\"name\":\"Down\",\"query\":"
		    "\"up == 0\",\"state\":\"firing\",\"health\":\"ok\",\"alerts\":[{}]},"
		    "{\"type\":\"recording\",\"name\":\"job:up:sum\",\"query\":\"sum by (job) "
		    "(up)\",\"health\":\"err\",\"lastError\":\"boom\"}]}]}}",
		    "rules: 1 groups, 2 rules\ngroup g (/etc/r.yml)\n"
		    "  alert Down state=firing active=1 health=ok: up == 0\n"
		    "  record job:up:sum health=err error=\"boom\": sum by (job) (up)");
}

static void listings_are_capped_and_errors_read(void **state)
{
	struct buf j;
	char *got;
	int i, rc;

	buf_init(&j, 1 << 20);
	buf_puts(&j, "{\"status\":\"success\",\"data\":{\"alerts\":[");
	for (i = 0; i < 30; i++)
		buf_printf(&j, "%s{\"labels\":{\"alertname\":\"A%d\"},\"state\":\"firing\"}",
			   i ? "," : "", i);
	buf_puts(&j, "]}}");
	got = render_kind(PROM_KIND_ALERTS, buf_str(&j), 10, &rc);
	assert_int_equal(rc, 0);
	assert_non_null(strstr(got, "\nfiring A9"));
	assert_null(strstr(got, "A10"));
	assert_non_null(strstr(got, "\n... 20 more alerts"));
	free(got);
	buf_finish(&j);
	got = render_kind(PROM_KIND_RULES,
			  "{\"status\":\"error\",\"errorType\":\"unavailable\",\"error\":"
			  "\"rule manager not ready\"}",
			  10, &rc);
	assert_int_equal(rc, -EINVAL);
	assert_string_equal(got,
			    "Prometheus failed (unavailable, HTTP 200): rule manager not ready");
	free(got);
	got = render_kind(PROM_KIND_SERIES, "{\"status\":\"success\",\"data\":{}}", 10, &rc);
	assert_int_equal(rc, -EINVAL);
	free(got);
}

static void listing_urls_are_encoded(void **state)
{
	struct buf b;

	buf_init(&b, 0);
	prom_api_url(&b, "http://p:9090/", PROM_KIND_SERIES, "up{job=\"a b\"}", true, 10, 20);
	assert_string_equal(buf_str(&b),
			    "http://p:9090/api/v1/series?match%5B%5D=up%7Bjob%3D%22a%20"
			    "b%22%7D&start=10.000&end=20.000");
	buf_reset(&b);
	prom_api_url(&b, "http://p:9090", PROM_KIND_LABEL_VALUES, "job", false, 0, 0);
	assert_string_equal(buf_str(&b), "http://p:9090/api/v1/label/job/values");
	buf_reset(&b);
	prom_api_url(&b, "http://p:9090", PROM_KIND_LABEL_VALUES, "job", true, 10, 20);
	assert_string_equal(buf_str(&b),
			    "http://p:9090/api/v1/label/job/values?start=10.000&end=20.000");
	buf_reset(&b);
	prom_api_url(&b, "http://p:9090", PROM_KIND_ALERTS, NULL, false, 0, 0);
	assert_string_equal(buf_str(&b), "http://p:9090/api/v1/alerts");
	buf_reset(&b);
	prom_api_url(&b, "http://p:9090", PROM_KIND_RULES, NULL, false, 0, 0);
	assert_string_equal(buf_str(&b), "http://p:9090/api/v1/rules");
	buf_finish(&b);
}

static void matrices_parse_into_numbers(void **state)
{
	static const char json[] =
		"{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\",\"result\":["
		"{\"metric\":{\"__name__\":\"up\",\"job\":\"a\"},\"values\":[[10,\"1\"],"
		"[20,\"NaN\"],[30,\"2.5\"]]},{\"metric\":{\"job\":\"b\"},\"values\":[[10,\"0\"]]},"
		"{\"metric\":{\"job\":\"c\"},\"values\":[]}]}}";
	struct prom_matrix m;

	assert_int_equal(prom_matrix_parse(json, strlen(json), 2, 2, &m), 0);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.total, 3);
	assert_string_equal(m.lines[0].label, "up{job=\"a\"}");
	assert_int_equal(m.lines[0].n, 2);
	assert_true(m.lines[0].t_s[1] == 20 && isnan(m.lines[0].v[1]));
	assert_string_equal(m.lines[1].label, "{job=\"b\"}");
	assert_true(m.lines[1].v[0] == 0);
	prom_matrix_finish(&m);
	assert_int_equal(prom_matrix_parse("{\"data\":{\"resultType\":\"vector\",\"result\":[]}}",
					   44, 2, 2, &m),
			 -EINVAL);
	prom_matrix_finish(&m);
	prom_matrix_finish(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(times_parse_in_every_form),
		cmocka_unit_test(bad_times_are_refused),
		cmocka_unit_test(durations_and_the_default_step),
		cmocka_unit_test(query_urls_are_encoded),
		cmocka_unit_test(vectors_are_one_line_per_series),
		cmocka_unit_test(shared_labels_are_written_once),
		cmocka_unit_test(labels_are_escaped_and_cut),
		cmocka_unit_test(matrices_summarise_each_series),
		cmocka_unit_test(series_over_the_cap_are_counted),
		cmocka_unit_test(scalars_strings_and_warnings),
		cmocka_unit_test(prometheus_errors_are_readable),
		cmocka_unit_test(answers_that_are_not_json),
		cmocka_unit_test(sparklines_scale_between_min_and_max),
		cmocka_unit_test(listings_render_compactly),
		cmocka_unit_test(listings_are_capped_and_errors_read),
		cmocka_unit_test(listing_urls_are_encoded),
		cmocka_unit_test(matrices_parse_into_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

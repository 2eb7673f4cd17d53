/* prometheus_query end to end: against a real Prometheus (Debian's /usr/bin/prometheus,
 * started on a loopback port scraping itself; those tests are skipped when it is not
 * installed) for vector, matrix, scalar, string, PromQL errors and the series cap; against a
 * fake on loopback for the request URL (encoding, default step), HTTP errors that are not
 * the API's JSON, the 1 MiB cap, the timeout, an unreachable server and cancel; a PNG chart
 * drawn and written on a worker while the loop keeps turning (fsync slowed down by
 * HERMETIC_TEST_SLOW_FSYNC_MS), and a cancel while it is drawn answered at once, once; and
 * argument errors before any request.
 */
#include "async_tool_fixture.h"
#include "core/fileio.h"
#include "core/offload.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROMETHEUS "/usr/bin/prometheus"

static const char *home = "/tmp"; /* the config's; a chart test's own directory */

/* The real Prometheus, shared by all tests (started once: it takes a few seconds). */
static struct {
	pid_t pid;
	int port;
	char dir[64];
	bool up; /* ready and has scraped itself */
} real;

/* ---- the real Prometheus ---- */

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &len);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	buf_append(arg, p, size * n);
	return size * n;
}

/* Blocking GET for the test's own polling (never in the code under test). */
static bool get_contains(const char *url, const char *want)
{
	CURL *c = curl_easy_init();
	struct buf b;
	bool ok;

	buf_init(&b, 1 << 20);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	ok = curl_easy_perform(c) == CURLE_OK && strstr(buf_str(&b), want);
	curl_easy_cleanup(c);
	buf_finish(&b);
	return ok;
}

static void write_prom_config(const char *path)
{
	FILE *f = fopen(path, "w");

	fprintf(f,
		"global:\n  scrape_interval: 1s\n"
		"scrape_configs:\n  - job_name: prometheus\n    static_configs:\n"
		"      - targets: ['127.0.0.1:%d']\n",
		real.port);
	fclose(f);
}

static void exec_prometheus(void)
{
	char *cfg = xasprintf("--config.file=%s/prom.yml", real.dir);
	char *data = xasprintf("--storage.tsdb.path=%s/data", real.dir);
	char *listen = xasprintf("--web.listen-address=127.0.0.1:%d", real.port);
	char *log = xasprintf("%s/log", real.dir);
	int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	dup2(fd, 1);
	dup2(fd, 2);
	execl(PROMETHEUS, PROMETHEUS, cfg, data, listen, "--log.level=warn", (char *)NULL);
	_exit(127);
}

static int start_real(void **state)
{
	char *url;
	int i;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (access(PROMETHEUS, X_OK) != 0)
		return 0;
	snprintf(real.dir, sizeof(real.dir), "/tmp/hermetic-prom-XXXXXX");
	if (!mkdtemp(real.dir))
		return 0;
	real.port = free_port();
	url = xasprintf("%s/prom.yml", real.dir);
	write_prom_config(url);
	free(url);
	real.pid = fork();
	if (real.pid == 0)
		exec_prometheus();
	/* Ready, and the first scrape stored: `up` has a sample. */
	url = xasprintf("http://127.0.0.1:%d/api/v1/query?query=up", real.port);
	for (i = 0; i < 200 && !real.up; i++) {
		real.up = get_contains(url, "\"job\":\"prometheus\"");
		if (!real.up)
			usleep(100 * 1000);
	}
	free(url);
	if (!real.up)
		fprintf(stderr, "prometheus did not come up; see %s/log\n", real.dir);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int stop_real(void **state)
{
	if (real.pid > 0) {
		kill(real.pid, SIGTERM);
		waitpid(real.pid, NULL, 0);
	}
	if (real.dir[0] && real.up)
		nftw(real.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	curl_global_cleanup();
	return 0;
}

/* ---- the fake ---- */

/* Answers a string result holding the request's URI, so tests see what was asked. */
static void on_echo(struct httpd_req *req, void *arg)
{
	char *body = xasprintf("{\"status\":\"success\",\"data\":{\"resultType\":\"string\","
			       "\"result\":[0,\"%s\"]}}",
			       httpd_uri(req));

	httpd_reply(req, 200, "application/json", body, strlen(body));
	free(body);
}

static void on_bad_gateway(struct httpd_req *req, void *arg)
{
	const char *html = "<html><head><title>502 Bad Gateway</title></head><body><center>"
			   "<h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body>"
			   "</html>";

	httpd_reply(req, 502, "text/html", html, strlen(html));
}

static void on_big(struct httpd_req *req, void *arg)
{
	size_t n = 1536 * 1024;
	char *big = xmalloc(n);

	memset(big, ' ', n);
	httpd_reply(req, 200, "application/json", big, n);
	free(big);
}

/* A range answer: two series of a few points. */
static void on_matrix(struct httpd_req *req, void *arg)
{
	const char *body = "{\"status\":\"success\",\"data\":{\"resultType\":\"matrix\","
			   "\"result\":[{\"metric\":{\"job\":\"a\"},\"values\":[[1700000000,\"1\"],"
			   "[1700000060,\"3\"],[1700000120,\"2\"]]},{\"metric\":{\"job\":\"b\"},"
			   "\"values\":[[1700000000,\"0.5\"],[1700000120,\"4\"]]}]}}";

	httpd_reply(req, 200, "application/json", body, strlen(body));
}

static void on_hold(struct httpd_req *req, void *arg)
{
	struct fx *f = arg;

	f->held = req;
}

static int make_config(struct fx *f, const char *url, int timeout_s)
{
	struct config_diag *d = config_diag_create();
	char *yaml = url ? xasprintf("home: %s\nprometheus:\n  url: %s\n  timeout_s: %d\n", home,
				     url, timeout_s)
			 : xasprintf("home: %s\n", home);
	int rc;

	config_destroy(f->cfg);
	f->cfg = NULL;
	rc = config_parse("t.yaml", yaml, strlen(yaml), &f->cfg, d);
	if (rc < 0)
		config_diag_print(d, stderr);
	config_diag_destroy(d);
	free(yaml);
	f->env.cfg = f->cfg;
	return rc;
}

/* Points prometheus.url at the fake's path prefix (or at the real one when path is NULL). */
static void use(struct fx *f, const char *path, int timeout_s)
{
	char *url = path ? xasprintf("http://127.0.0.1:%d%s", f->port, path)
			 : xasprintf("http://127.0.0.1:%d", real.port);

	assert_int_equal(make_config(f, url, timeout_s), 0);
	free(url);
}

static int setup(void **state)
{
	/* a hang's guard: a chart drawn under TSan took 15 s of CPU idle here, and a loaded CI
	 * machine gives it a third of a core */
	struct fx *f = fx_create(240);

	if (!f)
		return -1;
	httpd_route(f->srv, HTTPD_GET, "/echo/*", on_echo, f);
	httpd_route(f->srv, HTTPD_GET, "/bad/*", on_bad_gateway, f);
	httpd_route(f->srv, HTTPD_GET, "/big/*", on_big, f);
	httpd_route(f->srv, HTTPD_GET, "/hold/*", on_hold, f);
	httpd_route(f->srv, HTTPD_GET, "/matrix/*", on_matrix, f);
	*state = f;
	return 0;
}

static int start(struct fx *f, const char *args_json)
{
	f->done = 0;
	return fx_start(f, &tool_def_prometheus_query, args_json);
}

/* Runs a query; want_error says which callback result is expected; want is a substring. */
static void query(struct fx *f, const char *args_json, bool want_error, const char *want)
{
	assert_int_equal(start(f, args_json), 0);
	loop_run(f->loop);
	assert_false(f->timed_out);
	assert_int_equal(f->done, 1);
	if (f->is_error != want_error || !strstr(f->text, want))
		fail_msg("want %s with \"%s\", got: %s", want_error ? "an error" : "a result", want,
			 f->text);
}

static void refused(struct fx *f, const char *args_json, const char *want)
{
	if (start(f, args_json) == 0)
		fail_msg("%s was started", args_json);
	if (!strstr(f->text, want))
		fail_msg("want \"%s\" in: %s", want, f->text);
}

static void need_real(void)
{
	if (!real.up)
		skip();
}

/* ---- against the real Prometheus ---- */

static void real_instant_vector(void **state)
{
	struct fx *f = *state;
	char *want;

	need_real();
	use(f, NULL, 5);
	want = xasprintf("\nup{instance=\"127.0.0.1:%d\",job=\"prometheus\"} 1", real.port);
	query(f, "{\"query\":\"up\"}", false, "vector: 1 series at ");
	assert_non_null(strstr(f->text, want));
	free(want);
}

static void real_range_query_is_summarised(void **state)
{
	struct fx *f = *state;

	need_real();
	use(f, NULL, 5);
	query(f, "{\"query\":\"up\",\"start\":\"now-5m\",\"step\":\"1s\"}", false,
	      "matrix: 1 series, ");
	assert_non_null(strstr(f->text, "job=\"prometheus\"} points="));
	assert_non_null(strstr(f->text, " min=1 max=1 last=1"));
}

static void real_scalar_and_string(void **state)
{
	struct fx *f = *state;

	need_real();
	use(f, NULL, 5);
	query(f, "{\"query\":\"1 + 1\"}", false, "scalar: 2 at ");
	query(f, "{\"query\":\"\\\"hello\\\"\"}", false, "string: \"hello\" at ");
}

static void real_promql_errors_are_readable(void **state)
{
	struct fx *f = *state;

	need_real();
	use(f, NULL, 5);
	query(f, "{\"query\":\"up{\"}", true, "Prometheus rejected the query (bad_data): ");
	assert_non_null(strstr(f->text, "parse error"));
}

static void real_many_series_are_capped(void **state)
{
	struct fx *f = *state;

	need_real();
	use(f, NULL, 5);
	query(f, "{\"query\":\"{__name__=~\\\".+\\\"}\"}", false, " more series");
	assert_non_null(strstr(f->text, "vector: "));
}

/* ---- against the fake ---- */

static void the_request_url_is_encoded_with_a_default_step(void **state)
{
	struct fx *f = *state;

	use(f, "/echo/", 5);
	query(f, "{\"query\":\"rate(x{a=\\\"b c\\\"}[5m])\"}", false,
	      "string: \"/echo/api/v1/query?query=rate%28x%7Ba%3D%22b%20c%22%7D%5B5m%5D%29\"");
	query(f, "{\"query\":\"up\",\"start\":\"2024-05-01T11:00:00Z\",\"end\":1714564800}", false,
	      "/echo/api/v1/query_range?query=up&start=1714561200.000&end=1714564800.000&"
	      "step=60.000");
	query(f, "{\"query\":\"up\",\"end\":\"1714564800\",\"step\":\"5m\"}", false,
	      "start=1714561200.000&end=1714564800.000&step=300.000");
}

static void http_errors_that_are_not_json(void **state)
{
	struct fx *f = *state;

	use(f, "/bad", 5);
	query(f, "{\"query\":\"up\"}", true, "Prometheus answered HTTP 502: 502 Bad Gateway");
}

static void answers_over_a_mebibyte_are_refused(void **state)
{
	struct fx *f = *state;

	use(f, "/big", 5);
	query(f, "{\"query\":\"up\"}", true, "prometheus_query: the answer is over 1 MiB");
}

static void the_timeout_holds(void **state)
{
	struct fx *f = *state;

	use(f, "/hold", 1);
	query(f, "{\"query\":\"up\"}", true,
	      "prometheus_query timed out after 1 s (prometheus.timeout_s)");
}

static void an_unreachable_server_is_named(void **state)
{
	struct fx *f = *state;

	assert_int_equal(make_config(f, "http://127.0.0.1:1", 5), 0);
	query(f, "{\"query\":\"up\"}", true,
	      "prometheus_query could not reach Prometheus at http://127.0.0.1:1: ");
}

static void cancel_reports_once_later(void **state)
{
	struct fx *f = *state;

	use(f, "/hold", 5);
	assert_int_equal(start(f, "{\"query\":\"up\"}"), 0);
	tool_def_prometheus_query.cancel(f->job);
	assert_int_equal(f->done, 0);
	loop_run(f->loop);
	assert_int_equal(f->done, 1);
	assert_true(f->is_error);
	assert_string_equal(f->text, "cancelled");
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	assert_int_equal(f->done, 1);
}

/* A timer every 20 ms: the longest gap between its ticks says how long the loop stood
 * still; with cancel set, it cancels the call once the chart is on a worker. */
struct ticker {
	struct fx *f;
	struct event *ev;
	int64_t last_ms, max_gap_ms, cancelled_ms;
	bool cancel;
};

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct ticker *t = arg;
	int64_t now = now_mono_ms();

	if (now - t->last_ms > t->max_gap_ms)
		t->max_gap_ms = now - t->last_ms;
	t->last_ms = now;
	if (t->cancel && !t->cancelled_ms && offload_jobs(loop_offload(t->f->loop)) > 0) {
		t->cancelled_ms = now;
		tool_def_prometheus_query.cancel(t->f->job);
	}
}

static void ticker_start(struct ticker *t, struct fx *f, bool cancel)
{
	struct timeval tv = {0, 20000};

	*t = (struct ticker){f,
			     event_new(loop_base(f->loop), -1, EV_PERSIST, on_tick, t),
			     now_mono_ms(),
			     0,
			     0,
			     cancel};
	evtimer_add(t->ev, &tv);
}

/* A home of its own, and fsync slowed down to ms. */
static char *chart_home(const char *slow_ms)
{
	char *dir = xstrdup("/tmp/hm-chart-XXXXXX");

	assert_non_null(mkdtemp(dir));
	home = dir;
	setenv("HERMETIC_TEST_SLOW_FSYNC_MS", slow_ms, 1);
	fileio_test_env();
	return dir;
}

static void chart_home_done(char *dir)
{
	setenv("HERMETIC_TEST_SLOW_FSYNC_MS", "0", 1);
	fileio_test_env();
	home = "/tmp";
	assert_int_equal(fileio_remove_tree(dir), 0);
	free(dir);
}

static void a_chart_is_drawn_and_written_off_the_loop(void **state)
{
	struct fx *f = *state;
	char *dir = chart_home("2000"), *media;
	struct ticker t;

	use(f, "/matrix", 5);
	ticker_start(&t, f, false);
	query(f, "{\"query\":\"up\",\"start\":\"now-1h\",\"chart\":\"png\"}", false,
	      "(this turn has no chat to send it to)");
	/* The PNG's fsync took 2 s; the loop kept its 20 ms ticks meanwhile, up to the answer.
	 * A 300 ms bound failed this test under TSan on a loaded CI machine (its printout did
	 * not say which check), so the bound is half the fsync: only a write on the loop
	 * reaches it. */
	if (now_mono_ms() - t.last_ms > t.max_gap_ms)
		t.max_gap_ms = now_mono_ms() - t.last_ms;
	if (t.max_gap_ms >= 1000)
		fail_msg("the loop stood still for %lld ms", (long long)t.max_gap_ms);
	assert_non_null(strstr(f->text, "chart: saved as "));
	media = xasprintf("%s/media", dir);
	assert_int_equal(test_count_entries(media), 1);
	free(media);
	event_free(t.ev);
	chart_home_done(dir);
}

static void a_cancel_while_the_chart_is_drawn_answers_at_once(void **state)
{
	struct fx *f = *state;
	char *dir = chart_home("3000");
	struct ticker t;

	use(f, "/matrix", 5);
	ticker_start(&t, f, true);
	assert_int_equal(start(f, "{\"query\":\"up\",\"start\":\"now-1h\",\"chart\":\"png\"}"), 0);
	loop_run(f->loop);
	assert_int_equal(f->done, 1);
	assert_true(f->is_error);
	assert_string_equal(f->text, "cancelled");
	assert_true(t.cancelled_ms > 0);
	/* half the fsync: only an answer that waited for the worker reaches it */
	if (now_mono_ms() - t.cancelled_ms >= 1500)
		fail_msg("answered %lld ms after the cancel",
			 (long long)(now_mono_ms() - t.cancelled_ms));
	/* The worker ends later; its result is dropped, the call is not answered again. */
	offload_drain(loop_offload(f->loop));
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	assert_int_equal(f->done, 1);
	event_free(t.ev);
	chart_home_done(dir);
}

static void bad_arguments_fail_before_any_request(void **state)
{
	struct fx *f = *state;

	use(f, "/hold", 5);
	refused(f, "{}", "kind query needs query (PromQL)");
	refused(f, "{\"query\":\"\"}", "query must be a PromQL expression");
	refused(f, "{\"query\":\"up\",\"start\":\"yesterday\"}",
		"start must be an RFC 3339 time (2024-05-01T12:00:00Z), unix seconds, or relative");
	refused(f, "{\"query\":\"up\",\"end\":true}", "end must be an RFC 3339 time");
	refused(f, "{\"query\":\"up\",\"start\":\"now\",\"end\":\"now-1h\"}",
		"start must be before end");
	refused(f, "{\"query\":\"up\",\"step\":\"1m\"}", "step applies to range queries only");
	refused(f, "{\"query\":\"up\",\"start\":\"now-1h\",\"step\":\"often\"}",
		"step must be a duration like 30s");
	refused(f, "{\"query\":\"up\",\"start\":\"now-30d\",\"step\":\"1s\"}",
		"start to end in steps of 1s is over 11000 points; use a larger step");
	assert_null(f->held);
}

static void offered_only_with_a_url(void **state)
{
	struct fx *f = *state;
	cJSON *schema;

	assert_int_equal(make_config(f, NULL, 0), 0);
	assert_false(tool_def_prometheus_query.offered(&f->env));
	refused(f, "{\"query\":\"up\"}", "prometheus.url is not set");
	use(f, "/echo", 5);
	assert_true(tool_def_prometheus_query.offered(&f->env));
	assert_int_equal(tool_def_prometheus_query.toolset, CONFIG_TOOLSET_PROMETHEUS);
	assert_true(tool_def_prometheus_query.read_only);
	schema = cJSON_Parse(tool_def_prometheus_query.params_json);
	assert_non_null(schema);
	cJSON_Delete(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(real_instant_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(real_range_query_is_summarised, setup, teardown),
		cmocka_unit_test_setup_teardown(real_scalar_and_string, setup, teardown),
		cmocka_unit_test_setup_teardown(real_promql_errors_are_readable, setup, teardown),
		cmocka_unit_test_setup_teardown(real_many_series_are_capped, setup, teardown),
		cmocka_unit_test_setup_teardown(the_request_url_is_encoded_with_a_default_step,
						setup, teardown),
		cmocka_unit_test_setup_teardown(http_errors_that_are_not_json, setup, teardown),
		cmocka_unit_test_setup_teardown(answers_over_a_mebibyte_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(the_timeout_holds, setup, teardown),
		cmocka_unit_test_setup_teardown(an_unreachable_server_is_named, setup, teardown),
		cmocka_unit_test_setup_teardown(cancel_reports_once_later, setup, teardown),
		cmocka_unit_test_setup_teardown(a_chart_is_drawn_and_written_off_the_loop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_cancel_while_the_chart_is_drawn_answers_at_once,
						setup, teardown),
		cmocka_unit_test_setup_teardown(bad_arguments_fail_before_any_request, setup,
						teardown),
		cmocka_unit_test_setup_teardown(offered_only_with_a_url, setup, teardown),
	};

	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, start_real, stop_real);
}

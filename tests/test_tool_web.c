/* web_fetch end to end on loopback: a config from YAML, the real loop, httpc and an httpd
 * server in the same thread. Proves: an allowed host is fetched and its HTML reduced; JSON and
 * text pass; loopback, private, link-local, metadata and IPv6 loopback literals (also in the
 * decimal and mapped forms curl accepts) are refused by default before any request; a name
 * that resolves to loopback is refused at connect time; an unlisted host is fetched on ports
 * 80 and 443 only; allow_hosts limits the hosts; every
 * redirect hop is checked (metadata, private, unlisted host, other scheme, too many); the
 * body cap returns the first bytes with a note; binary types are refused by name; max_chars,
 * HTTP errors, the timeout, and cancel (callback once, later, "cancelled").
 */
#include "async_tool_fixture.h"
#include "core/fileio.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char page_html[] =
	"<!DOCTYPE html><html><head><title>Test &amp; Page</title>"
	"<script>document.write('<p>hidden</p>')</script><style>p{}</style></head>"
	"<body><nav><a href=\"/\">Home</a></nav><h1>Heading</h1>"
	"<p>First <a href=\"/x\">link text</a> paragraph.</p><ul><li>one</li><li>two</li></ul>"
	"</body></html>";

static void reply(struct fx *f, struct httpd_req *req, int status, const char *type,
		  const char *body)
{
	f->hits++;
	httpd_reply(req, status, type, body, strlen(body));
}

static void on_page(struct httpd_req *req, void *arg)
{
	reply(arg, req, 200, "text/html; charset=utf-8", page_html);
}

static void on_json(struct httpd_req *req, void *arg)
{
	reply(arg, req, 200, "application/json", "{\"a\":[1,2],\"b\":\"x\"}");
}

static void on_text(struct httpd_req *req, void *arg)
{
	reply(arg, req, 200, "text/plain", "0123456789abcdefghijklmnopqrstuvwxyz");
}

static void on_sniffed(struct httpd_req *req, void *arg)
{
	reply(arg, req, 200, "application/octet-stream", "<html><title>S</title><p>sniffed</p>");
}

static void on_big(struct httpd_req *req, void *arg)
{
	size_t n = 200000, i;
	char *big = xmalloc(n + 1);

	for (i = 0; i < n; i++)
		big[i] = (char)('a' + i % 26);
	big[n] = '\0';
	reply(arg, req, 200, "text/plain", big);
	free(big);
}

static void on_pdf(struct httpd_req *req, void *arg)
{
	reply(arg, req, 200, "application/pdf", "%PDF-1.4 binary");
}

static void on_missing(struct httpd_req *req, void *arg)
{
	reply(arg, req, 404, "text/html", "<title>Not Found</title><p>no such page</p>");
}

static void on_hold(struct httpd_req *req, void *arg)
{
	struct fx *f = arg;

	f->held = req;
}

/* /r?to=URL answers 302 with Location: URL. */
static void on_redirect(struct httpd_req *req, void *arg)
{
	struct fx *f = arg;
	const char *q = httpd_query(req);
	char to[512];
	size_t n = 0;

	/* the query's "to", percent-decoded */
	snprintf(to, sizeof(to), "/page");
	if (q && strncmp(q, "to=", 3) == 0) {
		for (q += 3; *q && *q != '&' && n + 1 < sizeof(to); q++) {
			unsigned v;

			if (*q == '%' && sscanf(q + 1, "%2x", &v) == 1) {
				to[n++] = (char)v;
				q += 2;
			} else {
				to[n++] = *q;
			}
		}
		to[n] = '\0';
	}
	httpd_add_header(req, "Location", to);
	reply(f, req, 302, "text/html", "<p>moved</p>");
}

static void on_loop(struct httpd_req *req, void *arg)
{
	httpd_add_header(req, "Location", "/loop");
	reply(arg, req, 301, "text/plain", "");
}

/* This process's home: a page over web.max_bytes is kept whole in its tool-output/. */
static const char *home_dir(void)
{
	static char dir[64];

	if (!*dir)
		snprintf(dir, sizeof(dir), "/tmp/test_tool_web.%d", (int)getpid());
	return dir;
}

static int make_config(struct fx *f, const char *web_yaml)
{
	struct config_diag *d = config_diag_create();
	char *yaml = xasprintf("home: %s\nweb:\n%s", home_dir(), web_yaml);
	int rc = config_parse("t.yaml", yaml, strlen(yaml), &f->cfg, d);

	if (rc < 0)
		config_diag_print(d, stderr);
	config_diag_destroy(d);
	free(yaml);
	f->env.cfg = f->cfg;
	return rc;
}

static int setup_with(void **state, const char *web_yaml)
{
	/* a hang's guard, as in test_tool_prometheus: under a sanitizer on a loaded CI lane a
	 * test takes many times its idle time */
	struct fx *f = fx_create(60);

	if (!f)
		return -1;
	httpd_route(f->srv, HTTPD_GET, "/page", on_page, f);
	httpd_route(f->srv, HTTPD_GET, "/json", on_json, f);
	httpd_route(f->srv, HTTPD_GET, "/text", on_text, f);
	httpd_route(f->srv, HTTPD_GET, "/sniffed", on_sniffed, f);
	httpd_route(f->srv, HTTPD_GET, "/big", on_big, f);
	httpd_route(f->srv, HTTPD_GET, "/pdf", on_pdf, f);
	httpd_route(f->srv, HTTPD_GET, "/missing", on_missing, f);
	httpd_route(f->srv, HTTPD_GET, "/hold", on_hold, f);
	httpd_route(f->srv, HTTPD_GET, "/r", on_redirect, f);
	httpd_route(f->srv, HTTPD_GET, "/loop", on_loop, f);
	*state = f;
	if (make_config(f, web_yaml) < 0)
		return -1;
	return 0;
}

/* Only the test server's address may be reached. */
static int setup_allow_loopback(void **state)
{
	return setup_with(state, "  allow_hosts: [\"127.0.0.1\", \"*.localhost\"]\n"
				 "  timeout_s: 5\n  max_bytes: 4096\n");
}

/* The defaults: any public host, nothing internal. */
static int setup_default(void **state)
{
	return setup_with(state, "  timeout_s: 1\n");
}

static int setup_allow_fast_timeout(void **state)
{
	return setup_with(state, "  allow_hosts: [\"127.0.0.1\"]\n  timeout_s: 1\n");
}

/* Starts web_fetch with args (JSON, "%d" = the server's port); returns start's result and
 * leaves a synchronous error in f->text. */
static int start(struct fx *f, const char *args_fmt)
{
	char *json = xasprintf(args_fmt, f->port);
	int rc = fx_start(f, &tool_def_web_fetch, json);

	free(json);
	return rc;
}

static void run(struct fx *f)
{
	loop_run(f->loop);
	assert_false(f->timed_out);
	assert_int_equal(f->done, 1);
}

static void fetch_ok(struct fx *f, const char *args_fmt)
{
	assert_int_equal(start(f, args_fmt), 0);
	run(f);
	if (f->is_error)
		fail_msg("unexpected error: %s", f->text);
}

static void fetch_error(struct fx *f, const char *args_fmt, const char *want)
{
	assert_int_equal(start(f, args_fmt), 0);
	run(f);
	if (!f->is_error)
		fail_msg("want an error with \"%s\", got: %s", want, f->text);
	if (!strstr(f->text, want))
		fail_msg("want \"%s\" in: %s", want, f->text);
}

static void refused_at_start(struct fx *f, const char *args_fmt, const char *want)
{
	int done = f->done;

	if (start(f, args_fmt) == 0)
		fail_msg("%s was started", args_fmt);
	if (!strstr(f->text, want))
		fail_msg("want \"%s\" in: %s", want, f->text);
	/* The callback never fires for a start that failed. */
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	assert_int_equal(f->done, done);
}

static void allowed_host_html_is_reduced_to_text(void **state)
{
	struct fx *f = *state;
	char *head;

	fetch_ok(f, "{\"url\":\"http://127.0.0.1:%d/page\"}");
	head = xasprintf("http://127.0.0.1:%d/page (200, text/html, %zu bytes)\n\n", f->port,
			 strlen(page_html));
	assert_non_null(strstr(f->text, head));
	assert_string_equal(f->text + strlen(head), "Test & Page\n\nHome\n\nHeading\n\n"
						    "First link text paragraph.\n\n- one\n- two");
	free(head);
}

static void json_and_text_pass_through_and_html_is_sniffed(void **state)
{
	struct fx *f = *state;

	fetch_ok(f, "{\"url\":\"http://127.0.0.1:%d/json\"}");
	assert_non_null(
		strstr(f->text, "(200, application/json, 19 bytes)\n\n{\"a\":[1,2],\"b\":\"x\"}"));
	f->done = 0;
	fetch_ok(f, "{\"url\":\"http://127.0.0.1:%d/text\"}");
	assert_non_null(strstr(f->text, "\n\n0123456789abcdefghijklmnopqrstuvwxyz"));
	f->done = 0;
	fetch_ok(f, "{\"url\":\"http://127.0.0.1:%d/sniffed\"}");
	assert_non_null(strstr(f->text, "\n\nS\n\nsniffed"));
}

static void internal_literals_are_refused_before_any_request(void **state)
{
	static const char *const cases[][2] = {
		{"http://127.0.0.1:%d/page", "127.0.0.1 is a loopback address"},
		{"http://127.1.2.3/", "127.1.2.3 is a loopback address"},
		{"http://10.0.0.1/", "10.0.0.1 is a private address"},
		{"http://172.16.0.1/", "172.16.0.1 is a private address"},
		{"http://192.168.1.1/", "192.168.1.1 is a private address"},
		{"http://100.64.0.1/", "100.64.0.1 is a carrier-grade NAT address"},
		{"http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata"},
		{"http://169.254.1.1/", "169.254.1.1 is a link-local address"},
		{"http://0.0.0.0:%d/", "0.0.0.0 is a 'this network' address"},
		{"http://224.0.0.1/", "224.0.0.1 is a multicast address"},
		{"http://[::1]:%d/page", "::1 is a loopback address"},
		{"http://[::ffff:127.0.0.1]:%d/", "::ffff:127.0.0.1 is a loopback address"},
		{"http://[::ffff:a9fe:a9fe]/", "::ffff:a9fe:a9fe is a cloud metadata address"},
		{"http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"},
		{"http://[fe80::1]/", "fe80::1 is a link-local address"},
		{"http://[fc00::1]/", "fc00::1 is a private address"},
		/* Forms curl turns into 127.0.0.1: what is checked is what would be fetched. */
		{"http://2130706433:%d/", "127.0.0.1 is a loopback address"},
		{"http://0x7f.1:%d/", "127.0.0.1 is a loopback address"},
		{"http://017700000001:%d/", "127.0.0.1 is a loopback address"},
		{"HTTP://127.0.0.1.:%d/", "127.0.0.1 is a loopback address"},
	};
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		char *args = xasprintf("{\"url\":\"%s\"}", cases[i][0]);

		refused_at_start(f, args, cases[i][1]);
		assert_non_null(strstr(f->text, "; only public hosts may be fetched"));
		free(args);
	}
	assert_non_null(strstr(f->text, "web_fetch refused HTTP://127.0.0.1.:"));
	assert_int_equal(f->hits, 0);
}

static void a_name_resolving_to_loopback_is_refused_at_connect(void **state)
{
	struct fx *f = *state;

	/* Port 80: an unlisted host may not use another port, and nothing listens there. */
	fetch_error(f, "{\"url\":\"http://localhost/page\"}", " is a loopback address");
	assert_non_null(strstr(f->text, "web_fetch refused http://localhost/page"));
	f->done = 0;
	fetch_error(f, "{\"url\":\"http://sub.localhost/page\"}", " is a loopback address");
	assert_int_equal(f->hits, 0);
}

static void an_unlisted_host_may_use_ports_80_and_443_only(void **state)
{
	struct fx *f = *state;

	refused_at_start(f, "{\"url\":\"http://example.com:8080/\"}",
			 "web_fetch refused http://example.com:8080/: port 8080: only ports 80 and "
			 "443 may be fetched from a host that is not in web.allow_hosts");
	refused_at_start(f, "{\"url\":\"https://example.com:22/\"}", "port 22:");
	assert_int_equal(f->hits, 0);
}

/* A tainted turn (docs/security.md, Trust) reaches only listed hosts: with none listed, nothing. */
static void a_tainted_turn_fetches_only_listed_hosts(void **state)
{
	struct fx *f = *state;

	f->listed_only = true;
	refused_at_start(f, "{\"url\":\"https://example.com/?q=secret\"}",
			 "web_fetch refused https://example.com/?q=secret: this turn has read "
			 "untrusted content");
	assert_non_null(strstr(f->text, "example.com is not listed (none are)"));
	assert_non_null(strstr(f->text, "web_fetch: any"));
	assert_int_equal(f->hits, 0);
}

/* Listed hosts stay reachable from a tainted turn, redirects into unlisted ones do not. */
static void a_tainted_turn_keeps_listed_hosts_and_checks_redirects(void **state)
{
	struct fx *f = *state;

	f->listed_only = true;
	fetch_ok(f, "{\"url\":\"http://127.0.0.1:%d/json\"}");
	f->done = 0;
	fetch_error(f, "{\"url\":\"http://127.0.0.1:%d/r?to=https://example.com/\"}",
		    "example.com is not in web.allow_hosts");
}

static void allow_hosts_limits_the_hosts(void **state)
{
	struct fx *f = *state;

	refused_at_start(f, "{\"url\":\"https://example.com/\"}",
			 "web_fetch refused https://example.com/: example.com is not in "
			 "web.allow_hosts (127.0.0.1, *.localhost)");
	/* A wildcard does not cover the name itself. */
	refused_at_start(f, "{\"url\":\"http://localhost:%d/page\"}",
			 "localhost is not in web.allow_hosts");
	refused_at_start(f, "{\"url\":\"http://10.0.0.1/\"}", "10.0.0.1 is a private address");
	assert_int_equal(f->hits, 0);
}

static void an_overlong_host_is_not_cut_to_match_a_pattern(void **state)
{
	struct fx *f = *state;
	char host[300], *args;

	/* Cut at 255 bytes this would end in ".localhost" and match "*.localhost". */
	memset(host, 'a', sizeof(host));
	memcpy(host + 255 - strlen(".localhost"), ".localhost.example", 19); /* with its NUL */
	args = xasprintf("{\"url\":\"http://%s/\"}", host);
	refused_at_start(f, args, "the host name is longer than 255 bytes");
	free(args);
}

static void a_listed_name_may_be_internal(void **state)
{
	struct fx *f = *state;

	fetch_ok(f, "{\"url\":\"http://API.Localhost:%d/json\"}");
	assert_non_null(strstr(f->text, "(200, application/json, 19 bytes)"));
}

static void every_redirect_hop_is_checked(void **state)
{
	static const char *const cases[][2] = {
		{"http://169.254.169.254/latest/meta-data/",
		 "169.254.169.254 is a cloud metadata address; only public hosts may be fetched"},
		{"http://10.0.0.1/", "10.0.0.1 is a private address"},
		{"http://%%5B::ffff:169.254.169.254%%5D/", "is a cloud metadata address"},
		{"http://2886729729/", "172.16.0.1 is a private address"},
		{"http://localhost/page", "localhost is not in web.allow_hosts"},
		{"ftp://127.0.0.1/",
		 "web_fetch fetches http:// and https:// URLs only, not ftp://"},
		{"http://%%5Bbad", "is not a valid URL"},
	};
	struct fx *f = *state;
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		char *args = xasprintf("{\"url\":\"http://127.0.0.1:%%d/r?to=%s\"}", cases[i][0]);

		f->done = 0;
		fetch_error(f, args, cases[i][1]);
		assert_non_null(strstr(f->text, "redirected from http://127.0.0.1:"));
		free(args);
	}
	/* Only the redirecting server was asked. */
	assert_int_equal(f->hits, (int)ARRAY_LEN(cases));
}

static void a_relative_redirect_is_followed(void **state)
{
	struct fx *f = *state;
	char *head;

	fetch_ok(f, "{\"url\":\"http://127.0.0.1:%d/r?to=/json\"}");
	head = xasprintf("http://127.0.0.1:%d/json (200, application/json, 19 bytes, redirected "
			 "from http://127.0.0.1:%d/r?to=/json)\n\n",
			 f->port, f->port);
	assert_non_null(strstr(f->text, head));
	free(head);
}

static void more_than_five_redirects_fail(void **state)
{
	struct fx *f = *state;

	fetch_error(f, "{\"url\":\"http://127.0.0.1:%d/loop\"}", "/loop: more than 5 redirects");
	assert_int_equal(f->hits, 6);
}

static void body_over_max_bytes_returns_the_first_bytes(void **state)
{
	struct fx *f = *state;
	const char *text;

	char want[256], path[512];
	struct buf whole;

	fetch_ok(f, "{\"url\":\"http://127.0.0.1:%d/big\"}");
	snprintf(want, sizeof(want),
		 "(200, text/plain, first 4096 bytes: the page is larger than web.max_bytes; all "
		 "its 200000 bytes are in %s/tool-output/",
		 home_dir());
	assert_non_null(strstr(f->text, want));
	assert_int_equal(sscanf(strstr(f->text, " are in ") + 8, "%511[^)]", path), 1);
	text = strstr(f->text, "\n\n") + 2;
	assert_int_equal(strlen(text), 4096);
	assert_memory_equal(text, "abcdefghijklmnopqrstuvwxyzabc", 29);
	buf_init(&whole, 0);
	assert_int_equal(fileio_read(path, 1 << 20, &whole), 0);
	assert_int_equal(whole.len, 200000);
	for (size_t i = 0; i < whole.len; i++)
		assert_int_equal(whole.data[i], 'a' + i % 26);
	buf_finish(&whole);
	fileio_remove_tree(home_dir());
}

static void max_chars_cuts_the_text(void **state)
{
	struct fx *f = *state;
	const char *text;

	fetch_ok(f, "{\"url\":\"http://127.0.0.1:%d/big\",\"max_chars\":100}");
	text = strstr(f->text, "\n\n") + 2;
	assert_int_equal(strstr(text, "\n\n[cut at 100 characters]") - text, 100);
	refused_at_start(f, "{\"url\":\"http://127.0.0.1:%d/big\",\"max_chars\":5}",
			 "max_chars must be an integer from 100 to 1000000");
	fileio_remove_tree(home_dir());
}

static void binary_types_are_refused_by_name(void **state)
{
	struct fx *f = *state;

	fetch_error(f, "{\"url\":\"http://127.0.0.1:%d/pdf\"}",
		    "/pdf: application/pdf is not text; web_fetch reads HTML, JSON, XML and "
		    "text/* only");
}

static void http_errors_show_status_and_some_text(void **state)
{
	struct fx *f = *state;

	fetch_error(f, "{\"url\":\"http://127.0.0.1:%d/missing\"}",
		    "/missing: HTTP 404 (text/html)\n\nNot Found\n\nno such page");
}

static void bad_arguments_fail_at_start(void **state)
{
	struct fx *f = *state;

	refused_at_start(f, "{}", "missing required argument url");
	refused_at_start(f, "{\"url\":5}", "url must be a string");
	refused_at_start(f, "{\"url\":\"example.com\"}",
			 "web_fetch: example.com is not a valid URL (");
	refused_at_start(f, "{\"url\":\"file:///etc/passwd\"}",
			 "web_fetch fetches http:// and https:// URLs only, not file://");
	refused_at_start(f, "{\"url\":\"gopher://127.0.0.1/\"}", "not gopher://");
}

static void cancel_reports_once_later(void **state)
{
	struct fx *f = *state;

	assert_int_equal(start(f, "{\"url\":\"http://127.0.0.1:%d/hold\"}"), 0);
	tool_def_web_fetch.cancel(f->job);
	assert_int_equal(f->done, 0);
	run(f);
	assert_true(f->is_error);
	assert_string_equal(f->text, "cancelled");
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	assert_int_equal(f->done, 1);
}

static void the_whole_fetch_has_a_timeout(void **state)
{
	struct fx *f = *state;

	fetch_error(f, "{\"url\":\"http://127.0.0.1:%d/hold\"}",
		    "/hold timed out after 1 s (web.timeout_s)");
}

static void the_tool_definition_is_complete(void **state)
{
	cJSON *schema = cJSON_Parse(tool_def_web_fetch.params_json);

	assert_non_null(schema);
	assert_string_equal(tool_def_web_fetch.name, "web_fetch");
	assert_int_equal(tool_def_web_fetch.toolset, CONFIG_TOOLSET_WEB);
	assert_true(tool_def_web_fetch.read_only);
	assert_null(tool_def_web_fetch.run);
	cJSON_Delete(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(allowed_host_html_is_reduced_to_text,
						setup_allow_loopback, teardown),
		cmocka_unit_test_setup_teardown(json_and_text_pass_through_and_html_is_sniffed,
						setup_allow_loopback, teardown),
		cmocka_unit_test_setup_teardown(internal_literals_are_refused_before_any_request,
						setup_default, teardown),
		cmocka_unit_test_setup_teardown(a_name_resolving_to_loopback_is_refused_at_connect,
						setup_default, teardown),
		cmocka_unit_test_setup_teardown(an_unlisted_host_may_use_ports_80_and_443_only,
						setup_default, teardown),
		cmocka_unit_test_setup_teardown(a_tainted_turn_fetches_only_listed_hosts,
						setup_default, teardown),
		cmocka_unit_test_setup_teardown(
			a_tainted_turn_keeps_listed_hosts_and_checks_redirects,
			setup_allow_loopback, teardown),
		cmocka_unit_test_setup_teardown(allow_hosts_limits_the_hosts, setup_allow_loopback,
						teardown),
		cmocka_unit_test_setup_teardown(a_listed_name_may_be_internal, setup_allow_loopback,
						teardown),
		cmocka_unit_test_setup_teardown(an_overlong_host_is_not_cut_to_match_a_pattern,
						setup_allow_loopback, teardown),
		cmocka_unit_test_setup_teardown(every_redirect_hop_is_checked, setup_allow_loopback,
						teardown),
		cmocka_unit_test_setup_teardown(a_relative_redirect_is_followed,
						setup_allow_loopback, teardown),
		cmocka_unit_test_setup_teardown(more_than_five_redirects_fail, setup_allow_loopback,
						teardown),
		cmocka_unit_test_setup_teardown(body_over_max_bytes_returns_the_first_bytes,
						setup_allow_loopback, teardown),
		cmocka_unit_test_setup_teardown(max_chars_cuts_the_text, setup_allow_loopback,
						teardown),
		cmocka_unit_test_setup_teardown(binary_types_are_refused_by_name,
						setup_allow_loopback, teardown),
		cmocka_unit_test_setup_teardown(http_errors_show_status_and_some_text,
						setup_allow_loopback, teardown),
		cmocka_unit_test_setup_teardown(bad_arguments_fail_at_start, setup_allow_loopback,
						teardown),
		cmocka_unit_test_setup_teardown(cancel_reports_once_later, setup_allow_loopback,
						teardown),
		cmocka_unit_test_setup_teardown(the_whole_fetch_has_a_timeout,
						setup_allow_fast_timeout, teardown),
		cmocka_unit_test_setup_teardown(the_tool_definition_is_complete,
						setup_allow_loopback, teardown),
	};
	int rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (getenv("TEST_FILTER"))
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return rc;
}

/* hooks: the template renderer (whole payload, nested fields, array items, missing and
 * non-string fields, unknown placeholders, the size cap), and the routes over real loopback
 * HTTP (httpd on port 0, httpc in the same loop) with a fake job_sink: token checks (missing,
 * wrong, another hook's), bad JSON, a sync run answered when done and delivered, idempotency
 * by header and by body field (a repeat runs nothing and gets the first answer), async 202
 * then delivery, busy source 409, a failed run, a client that goes away, and shutdown with a
 * request waiting; keyed runs that a kill or a shutdown cut short run again at the next start
 * under their run id (and a repeat of their key starts them at once), and a run cut short by
 * two crashes is marked failed. */
#include "fake_sink.h"

#include "core/fileio.h"
#include "gateway/hooks.h"
#include "net/httpc.h"
#include "net/httpd.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/store.h"
#include "gateway/schema.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>

#define YAML                                                                                       \
	"hooks:\n"                                                                                 \
	"  - {name: sync, token: tok-sync-1234, prompt: 'Got {{payload.kind}}: {{payload}}',"      \
	" deliver: 'telegram:7'}\n"                                                                \
	"  - {name: later, token: tok-later-5678, prompt: 'id {{ payload.id }}', async: true,"     \
	" idempotency_field: id, deliver: 'telegram:8'}\n"

struct fx {
	char home[32];
	struct config *cfg;
	struct loop *loop;
	struct store *store;
	struct metrics *metrics;
	struct httpd *srv;
	struct hooks *hooks;
	struct fake_sink fake;
	struct event *poll;
	bool auto_complete; /* complete pending runs ok with "answer" */
	bool stop_on_run;
	bool auto_defer; /* finish pending runs as deferred by a rate pool */
	size_t completed;
	/* the last response */
	bool done;
	long status;
	cJSON *json;
};

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct fx *f = arg;

	if (f->stop_on_run && f->fake.n_runs > f->completed)
		loop_stop(f->loop);
	while (f->auto_complete && f->completed < f->fake.n_runs)
		fake_complete(&f->fake, f->completed++, true, "answer", 0);
	while (f->auto_defer && f->completed < f->fake.n_runs)
		fake_defer(&f->fake, f->completed++, 0);
}

static struct fx *fx_create(void)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct httpd_opts o = {.listen = "127.0.0.1:0"};
	struct timeval tv = {0, 2000};
	char err[256], *path;

	log_set_stderr(0);
	snprintf(f->home, sizeof(f->home), "/tmp/hm-hooks-XXXXXX");
	assert_non_null(mkdtemp(f->home));
	f->cfg = fake_config(f->home, YAML);
	f->loop = loop_create();
	path = xasprintf("%s/state.db", f->home);
	assert_int_equal(store_open(path, &f->store, err, sizeof(err)), 0);
	free(path);
	f->metrics = metrics_create();
	fake_init(&f->fake);
	assert_int_equal(httpd_create(f->loop, &o, &f->srv, err, sizeof(err)), 0);
	f->hooks = hooks_create(f->cfg, f->loop, f->store, f->metrics, &f->fake.sink);
	hooks_add_routes(f->hooks, f->srv);
	f->poll = event_new(loop_base(f->loop), -1, EV_PERSIST, on_poll, f);
	event_add(f->poll, &tv);
	return f;
}

static void fx_destroy(struct fx *f)
{
	size_t i;

	hooks_destroy(f->hooks);
	/* Runs the test left pending end now (their callbacks only free them). */
	for (i = f->completed; i < f->fake.n_runs; i++)
		if (!f->fake.runs[i].finished)
			fake_complete(&f->fake, i, false, "cancelled", 0);
	event_free(f->poll);
	httpd_destroy(f->srv);
	metrics_destroy(f->metrics);
	store_close(f->store);
	loop_destroy(f->loop);
	config_destroy(f->cfg);
	fake_finish(&f->fake);
	cJSON_Delete(f->json);
	assert_int_equal(fileio_remove_tree(f->home), 0);
	free(f);
}

/* A restart of the gateway over the same database: the hooks (and their routes) go, runs
 * still pending end (their callbacks only free them), and new hooks start. */
static void fx_restart(struct fx *f)
{
	struct httpd_opts o = {.listen = "127.0.0.1:0"};
	char err[256];

	hooks_destroy(f->hooks);
	httpd_destroy(f->srv);
	for (size_t i = f->completed; i < f->fake.n_runs; i++)
		if (!f->fake.runs[i].finished)
			fake_complete(&f->fake, i, false, "cancelled", 0);
	f->completed = f->fake.n_runs;
	metrics_destroy(f->metrics);
	f->metrics = metrics_create();
	assert_int_equal(httpd_create(f->loop, &o, &f->srv, err, sizeof(err)), 0);
	f->hooks = hooks_create(f->cfg, f->loop, f->store, f->metrics, &f->fake.sink);
	hooks_add_routes(f->hooks, f->srv);
}

static void run_until_runs(struct fx *f, size_t n)
{
	f->stop_on_run = true;
	while (f->fake.n_runs < n)
		loop_run(f->loop);
	f->stop_on_run = false;
}

static void sql(struct fx *f, const char *text)
{
	assert_int_equal(sqlite3_exec(store_db(f->store), text, NULL, NULL, NULL), SQLITE_OK);
}

static char *row_status(struct fx *f, const char *key)
{
	sqlite3_stmt *st;
	char *out = NULL;

	assert_int_equal(sqlite3_prepare_v2(store_db(f->store),
					    "SELECT status || '/' || crashes FROM hook_runs"
					    " WHERE key = ?",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		out = xstrdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static void on_done(struct httpc_req *req, void *arg)
{
	struct fx *f = arg;

	f->done = true;
	f->status = httpc_status(req);
	cJSON_Delete(f->json);
	f->json = cJSON_Parse(httpc_body(req, NULL));
	loop_stop(f->loop);
}

/* POSTs body to /v1/hooks/<hook> and runs the loop until the answer (or timeout_ms). */
static void post_t(struct fx *f, const char *hook, const char *token, const char *idem,
		   const char *body, long timeout_ms)
{
	char *url = xasprintf("http://127.0.0.1:%d/v1/hooks/%s", httpd_port(f->srv), hook);
	char *auth = token ? xasprintf("Authorization: Bearer %s", token) : NULL;
	char *key = idem ? xasprintf("Idempotency-Key: %s", idem) : NULL;
	const char *headers[4] = {"Content-Type: application/json"};
	size_t n = 1;
	struct httpc_opts o = {.method = "POST",
			       .url = url,
			       .headers = headers,
			       .body = body,
			       .body_len = strlen(body),
			       .timeout_ms = timeout_ms};

	if (auth)
		headers[n++] = auth;
	if (key)
		headers[n++] = key;
	f->done = false;
	assert_int_equal(httpc_start(f->loop, &o, on_done, f, NULL), 0);
	while (!f->done)
		loop_run(f->loop);
	free(url);
	free(auth);
	free(key);
}

static void post(struct fx *f, const char *hook, const char *token, const char *idem,
		 const char *body)
{
	post_t(f, hook, token, idem, body, 5000);
}

static const char *field(struct fx *f, const char *name)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(f->json, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static char *render(const char *tmpl, const char *json)
{
	struct buf b;

	buf_init(&b, 0);
	assert_true(hooks_render(tmpl, json, &b) >= 0);
	return buf_steal(&b);
}

static void render_substitutes_payload_and_fields(void **state)
{
	const char *json = "{ \"a\": {\"b\": \"x y\", \"n\": 3, \"o\": {\"k\": [1, true]}},"
			   " \"list\": [\"p\", \"q\"], \"nil\": null }";
	char *s;

	s = render("all={{payload}}", json);
	assert_string_equal(s, "all={\"a\":{\"b\":\"x y\",\"n\":3,\"o\":{\"k\":[1,true]}},"
			       "\"list\":[\"p\",\"q\"],\"nil\":null}");
	free(s);
	s = render("[{{payload.a.b}}] [{{ payload.a.n }}] [{{payload.a.o}}] [{{payload.list.1}}]"
		   " [{{payload.nil}}]",
		   json);
	assert_string_equal(s, "[x y] [3] [{\"k\":[1,true]}] [q] [null]");
	free(s);
	s = render("[{{payload.missing}}][{{payload.a.b.c}}][{{payload.list.9}}][{{payload.}}]",
		   json);
	assert_string_equal(s, "[][][][{{payload.}}]");
	free(s);
	s = render("{{other}} {{payload {{payload.a.n}} }} {{", json);
	assert_string_equal(s, "{{other}} {{payload 3 }} {{");
	free(s);
	s = render("{{payload}}", "\"just a string\"");
	assert_string_equal(s, "just a string");
	free(s);
}

static void render_cuts_at_the_cap_and_rejects_bad_json(void **state)
{
	char *big = xmalloc(HOOKS_PROMPT_MAX + 100), *json;
	struct buf b;

	memset(big, 'x', HOOKS_PROMPT_MAX + 99);
	big[HOOKS_PROMPT_MAX + 99] = '\0';
	json = xasprintf("{\"t\": \"%s\"}", big);
	buf_init(&b, 0);
	assert_int_equal(hooks_render("{{payload.t}}{{payload.t}}", json, &b), 1);
	assert_true(b.len <= HOOKS_PROMPT_MAX + 100);
	assert_non_null(strstr(buf_str(&b), "[payload cut"));
	buf_reset(&b);
	assert_int_equal(hooks_render("{{payload}}", "{nope", &b), -EINVAL);
	assert_int_equal(b.len, 0);
	buf_finish(&b);
	free(json);
	free(big);
}

static void wrong_or_missing_token_is_401(void **state)
{
	struct fx *f = fx_create();

	post(f, "sync", NULL, NULL, "{}");
	assert_int_equal(f->status, 401);
	post(f, "sync", "tok-sync-12345", NULL, "{}");
	assert_int_equal(f->status, 401);
	post(f, "sync", "tok-later-5678", NULL, "{}");
	assert_int_equal(f->status, 401);
	assert_non_null(cJSON_GetObjectItemCaseSensitive(f->json, "error"));
	post(f, "nope", "tok-sync-1234", NULL, "{}");
	assert_int_equal(f->status, 404);
	assert_int_equal(f->fake.n_runs, 0);
	fx_destroy(f);
}

static void body_that_is_not_json_is_400(void **state)
{
	struct fx *f = fx_create();

	post(f, "sync", "tok-sync-1234", NULL, "kind=run");
	assert_int_equal(f->status, 400);
	assert_int_equal(f->fake.n_runs, 0);
	fx_destroy(f);
}

static void sync_hook_answers_when_done_and_delivers(void **state)
{
	struct fx *f = fx_create();

	f->auto_complete = true;
	post(f, "sync", "tok-sync-1234", NULL, "{\"kind\": \"run\", \"km\": 5}");
	assert_int_equal(f->status, 200);
	assert_string_equal(field(f, "status"), "ok");
	assert_string_equal(field(f, "result"), "answer");
	assert_non_null(field(f, "run_id"));
	assert_int_equal(f->fake.n_runs, 1);
	assert_string_equal(f->fake.runs[0].source, "hook:sync");
	assert_string_equal(f->fake.runs[0].prompt, "Got run: {\"kind\":\"run\",\"km\":5}");
	assert_int_equal(f->fake.n_delivered, 1);
	assert_string_equal(f->fake.delivered_to[0], "telegram:7");
	assert_string_equal(f->fake.delivered[0], "answer");
	fx_destroy(f);
}

static void repeated_idempotency_header_runs_nothing(void **state)
{
	struct fx *f = fx_create();
	char *first;

	f->auto_complete = true;
	post(f, "sync", "tok-sync-1234", "k-1", "{\"kind\": \"a\"}");
	assert_int_equal(f->status, 200);
	first = xstrdup(field(f, "run_id"));
	post(f, "sync", "tok-sync-1234", "k-1", "{\"kind\": \"b\"}");
	assert_int_equal(f->status, 200);
	assert_string_equal(field(f, "run_id"), first);
	assert_string_equal(field(f, "result"), "answer");
	assert_int_equal(f->fake.n_runs, 1);
	assert_int_equal(f->fake.n_delivered, 1);
	post(f, "sync", "tok-sync-1234", "k-2", "{\"kind\": \"b\"}");
	assert_int_equal(f->fake.n_runs, 2);
	free(first);
	fx_destroy(f);
}

static void async_hook_202_then_delivery_and_dedupe_by_field(void **state)
{
	struct fx *f = fx_create();
	char *first;

	post(f, "later", "tok-later-5678", NULL, "{\"id\": 17}");
	assert_int_equal(f->status, 202);
	assert_string_equal(field(f, "status"), "accepted");
	first = xstrdup(field(f, "run_id"));
	assert_int_equal(f->fake.n_runs, 1);
	assert_string_equal(f->fake.runs[0].prompt, "id 17");
	/* Same id while running: the same run id, nothing new. */
	post(f, "later", "tok-later-5678", NULL, "{\"id\": 17, \"x\": 1}");
	assert_int_equal(f->status, 202);
	assert_string_equal(field(f, "run_id"), first);
	assert_int_equal(f->fake.n_runs, 1);
	fake_complete(&f->fake, 0, true, "done 17", 0);
	f->completed = 1;
	assert_int_equal(f->fake.n_delivered, 1);
	assert_string_equal(f->fake.delivered_to[0], "telegram:8");
	assert_string_equal(f->fake.delivered[0], "done 17");
	post(f, "later", "tok-later-5678", NULL, "{\"id\": 17}");
	assert_int_equal(f->status, 200);
	assert_string_equal(field(f, "run_id"), first);
	assert_string_equal(field(f, "result"), "done 17");
	assert_int_equal(f->fake.n_runs, 1);
	free(first);
	fx_destroy(f);
}

static void busy_source_is_409_and_failed_run_is_reported(void **state)
{
	struct fx *f = fx_create();

	f->fake.busy = true;
	post(f, "sync", "tok-sync-1234", "k", "{}");
	assert_int_equal(f->status, 409);
	f->fake.busy = false;
	/* The refused key was not recorded: a retry runs. */
	f->stop_on_run = true;
	post_t(f, "later", "tok-later-5678", NULL, "{\"id\": \"a\"}", 5000);
	f->stop_on_run = false;
	fake_complete(&f->fake, 0, false, "model down", 0);
	f->completed = 1;
	assert_string_equal(f->fake.delivered[0], "hook later failed: model down");
	post(f, "later", "tok-later-5678", NULL, "{\"id\": \"a\"}");
	assert_int_equal(f->status, 200);
	assert_string_equal(field(f, "status"), "failed");
	f->auto_complete = true;
	post(f, "sync", "tok-sync-1234", "k", "{}");
	assert_int_equal(f->status, 200);
	assert_int_equal(f->fake.n_runs, 2);
	fx_destroy(f);
}

/* A run that the rate pool defers again and again is not retried for ever: it runs again
 * after each deferral (at least 5 s later), the fifth in a row fails it, the sync caller gets
 * that failure saying why, the chat hears of it once and the alerts once. Takes about 20 s. */
static void a_run_deferred_five_times_in_a_row_fails_once_saying_why(void **state)
{
	struct fx *f = fx_create();
	const char *result;

	f->auto_defer = true;
	post_t(f, "sync", "tok-sync-1234", NULL, "{\"kind\": \"x\"}", 90000);
	assert_int_equal(f->status, 200);
	assert_string_equal(field(f, "status"), "failed");
	result = field(f, "result");
	assert_non_null(result);
	assert_non_null(strstr(result, "deferred 5 times in a row"));
	assert_int_equal(f->fake.n_runs, 5);
	assert_int_equal(f->fake.n_failures, 1);
	assert_int_equal(f->fake.n_delivered, 1);
	assert_non_null(strstr(f->fake.delivered[0], "deferred 5 times in a row"));
	fx_destroy(f);
}

static void client_gone_run_still_delivered(void **state)
{
	struct fx *f = fx_create();

	post_t(f, "sync", "tok-sync-1234", NULL, "{\"kind\": \"x\"}", 200);
	assert_int_equal(f->status, 0); /* timed out */
	assert_int_equal(f->fake.n_runs, 1);
	fake_complete(&f->fake, 0, true, "late answer", 0);
	f->completed = 1;
	assert_int_equal(f->fake.n_delivered, 1);
	assert_string_equal(f->fake.delivered[0], "late answer");
	fx_destroy(f);
}

static void shutdown_answers_waiting_requests_503(void **state)
{
	struct fx *f = fx_create();

	f->stop_on_run = true;
	f->done = false;
	{
		char *url = xasprintf("http://127.0.0.1:%d/v1/hooks/sync", httpd_port(f->srv));
		const char *headers[] = {"Authorization: Bearer tok-sync-1234",
					 "Content-Type: application/json", NULL};
		struct httpc_opts o = {.method = "POST",
				       .url = url,
				       .headers = headers,
				       .body = "{}",
				       .body_len = 2,
				       .timeout_ms = 5000};

		assert_int_equal(httpc_start(f->loop, &o, on_done, f, NULL), 0);
		free(url);
	}
	while (f->fake.n_runs == 0)
		loop_run(f->loop);
	f->stop_on_run = false;
	hooks_destroy(f->hooks);
	f->hooks = NULL;
	while (!f->done)
		loop_run(f->loop);
	assert_int_equal(f->status, 503);
	fake_complete(&f->fake, 0, true, "too late", 0);
	f->completed = 1;
	assert_int_equal(f->fake.n_delivered, 0);
	fx_destroy(f);
}

/* The run of key k1 was accepted (202), then the process died mid-run: k1 must not be
 * absorbed. kill = the row is left `running` (SIGKILL), else hooks_destroy marks it (SIGTERM). */
static void interrupted_run_runs_again_at_start(bool kill)
{
	struct fx *f = fx_create();
	char *first, *status;

	post(f, "later", "tok-later-5678", NULL, "{\"id\": \"k1\"}");
	assert_int_equal(f->status, 202);
	first = xstrdup(field(f, "run_id"));
	assert_int_equal(f->fake.n_runs, 1);
	hooks_destroy(f->hooks);
	f->hooks = NULL;
	status = row_status(f, "k1");
	assert_string_equal(status, "interrupted/0");
	free(status);
	if (kill)
		sql(f, "UPDATE hook_runs SET status = 'running'");
	fx_restart(f);
	status = row_status(f, "k1");
	assert_string_equal(status, kill ? "interrupted/1" : "interrupted/0");
	free(status);
	run_until_runs(f, 2);
	assert_string_equal(f->fake.runs[1].source, "hook:later");
	assert_string_equal(f->fake.runs[1].prompt, "id k1");
	/* While it runs again, a retry gets its (first) run id and starts nothing. */
	post(f, "later", "tok-later-5678", NULL, "{\"id\": \"k1\"}");
	assert_int_equal(f->status, 202);
	assert_string_equal(field(f, "run_id"), first);
	fake_complete(&f->fake, 1, true, "done k1", 0);
	f->completed = 2;
	assert_int_equal(f->fake.n_delivered, 1);
	assert_string_equal(f->fake.delivered[0], "done k1");
	/* Done: a retry after completion gets the deduplicated answer, nothing runs. */
	post(f, "later", "tok-later-5678", NULL, "{\"id\": \"k1\"}");
	assert_int_equal(f->status, 200);
	assert_string_equal(field(f, "run_id"), first);
	assert_string_equal(field(f, "result"), "done k1");
	fx_restart(f);
	for (int i = 0; i < 20; i++)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(f->fake.n_runs, 2);
	free(first);
	fx_destroy(f);
}

static void killed_run_runs_again_at_start(void **state)
{
	interrupted_run_runs_again_at_start(true);
}

static void run_stopped_by_shutdown_runs_again_at_start(void **state)
{
	interrupted_run_runs_again_at_start(false);
}

static void repeated_key_of_interrupted_run_starts_it_at_once(void **state)
{
	struct fx *f = fx_create();

	/* A row from before prompts were stored: it cannot run by itself, a retry runs it. */
	sql(f, "INSERT INTO hook_runs (hook, key, run_id, status, created_ms)"
	       " VALUES ('later', 'k2', 'run_old', 'running', 1)");
	sql(f, "UPDATE hook_runs SET created_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000");
	fx_restart(f);
	for (int i = 0; i < 20; i++)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(f->fake.n_runs, 0);
	post(f, "later", "tok-later-5678", NULL, "{\"id\": \"k2\"}");
	assert_int_equal(f->status, 202);
	assert_string_equal(field(f, "run_id"), "run_old");
	assert_int_equal(f->fake.n_runs, 1);
	assert_string_equal(f->fake.runs[0].prompt, "id k2");
	fake_complete(&f->fake, 0, true, "done k2", 0);
	f->completed = 1;
	post(f, "later", "tok-later-5678", NULL, "{\"id\": \"k2\"}");
	assert_int_equal(f->status, 200);
	assert_string_equal(field(f, "result"), "done k2");
	assert_int_equal(f->fake.n_runs, 1);
	fx_destroy(f);
}

static void run_cut_short_by_two_crashes_is_failed_not_run(void **state)
{
	struct fx *f = fx_create();
	char *status;

	sql(f, "INSERT INTO hook_runs (hook, key, run_id, status, prompt, crashes, created_ms)"
	       " VALUES ('later', 'k3', 'run_poison', 'running', 'id k3', 1,"
	       " CAST(strftime('%s', 'now') AS INTEGER) * 1000)");
	fx_restart(f);
	for (int i = 0; i < 20; i++)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(f->fake.n_runs, 0);
	status = row_status(f, "k3");
	assert_string_equal(status, "failed/2");
	free(status);
	assert_int_equal(f->fake.n_delivered, 1);
	assert_string_equal(f->fake.delivered_to[0], "telegram:8");
	assert_non_null(strstr(f->fake.delivered[0], "hook later failed: the gateway died"));
	post(f, "later", "tok-later-5678", NULL, "{\"id\": \"k3\"}");
	assert_int_equal(f->status, 200);
	assert_string_equal(field(f, "status"), "failed");
	assert_string_equal(field(f, "run_id"), "run_poison");
	assert_int_equal(f->fake.n_runs, 0);
	fx_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(render_substitutes_payload_and_fields),
		cmocka_unit_test(render_cuts_at_the_cap_and_rejects_bad_json),
		cmocka_unit_test(wrong_or_missing_token_is_401),
		cmocka_unit_test(body_that_is_not_json_is_400),
		cmocka_unit_test(sync_hook_answers_when_done_and_delivers),
		cmocka_unit_test(repeated_idempotency_header_runs_nothing),
		cmocka_unit_test(async_hook_202_then_delivery_and_dedupe_by_field),
		cmocka_unit_test(busy_source_is_409_and_failed_run_is_reported),
		cmocka_unit_test(client_gone_run_still_delivered),
		cmocka_unit_test(shutdown_answers_waiting_requests_503),
		cmocka_unit_test(killed_run_runs_again_at_start),
		cmocka_unit_test(run_stopped_by_shutdown_runs_again_at_start),
		cmocka_unit_test(repeated_key_of_interrupted_run_starts_it_at_once),
		cmocka_unit_test(run_cut_short_by_two_crashes_is_failed_not_run),
		cmocka_unit_test(a_run_deferred_five_times_in_a_row_fails_once_saying_why),
	};

	schema_register();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

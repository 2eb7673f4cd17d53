/* For the unit tests of the asynchronous builtin tools (web_fetch, prometheus_query): a loop
 * with an httpd server on a loopback port, a guard timer that ends a run that hangs, and a
 * call of a tool's start() whose one result lands in the fixture. Each test file adds its
 * routes and its config. */
#ifndef HERMETIC_ASYNC_TOOL_FIXTURE_H
#define HERMETIC_ASYNC_TOOL_FIXTURE_H

#include "test.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdlib.h>

#include "core/config.h"
#include "net/httpc.h"
#include "net/httpd.h"
#include "core/loop.h"
#include "core/offload.h"
#include "tools/tool.h"
#include "core/util.h"

#define UNUSED __attribute__((unused))

struct fx {
	struct loop *loop;
	struct httpd *srv;
	struct config *cfg;
	struct tools_env env;
	int port;
	struct event *guard;
	int timed_out;
	int done;
	bool is_error;
	char *text;
	int hits; /* requests the server answered (where a test counts them) */
	struct httpd_req *held;
	struct tool_job *job;
	bool listed_only; /* start calls as a tainted turn's (tool_req.web_listed_only) */
};

static UNUSED void on_guard(evutil_socket_t fd, short what, void *arg)
{
	struct fx *f = arg;

	f->timed_out = 1;
	loop_stop(f->loop);
}

/* The loop, the server on 127.0.0.1:0 (routes are the caller's) and a guard of guard_s. */
static UNUSED struct fx *fx_create(int guard_s)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct httpd_opts o = {.listen = "127.0.0.1:0", .timeout_s = 5};
	char err[256];
	struct timeval tv = {guard_s, 0};

	f->loop = loop_create();
	if (httpd_create(f->loop, &o, &f->srv, err, sizeof(err)) < 0) {
		loop_destroy(f->loop);
		free(f);
		return NULL;
	}
	f->port = httpd_port(f->srv);
	f->env.loop = f->loop;
	f->guard = evtimer_new(loop_base(f->loop), on_guard, f);
	evtimer_add(f->guard, &tv);
	return f;
}

static UNUSED int teardown(void **state)
{
	struct fx *f = *state;

	/* A job on an offload thread (a chart being drawn) ends before what it may use goes: a
	 * test that failed mid-call leaves one running. Its result lands in the fixture. */
	offload_drain(loop_offload(f->loop));
	httpc_cancel_all(f->loop);
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	if (f->held)
		httpd_reply(f->held, 503, "text/plain", "bye", 3);
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	event_free(f->guard);
	httpd_destroy(f->srv);
	loop_destroy(f->loop);
	config_destroy(f->cfg);
	free(f->text);
	free(f);
	return 0;
}

static UNUSED void on_result(bool is_error, const char *text, size_t len, void *arg)
{
	struct fx *f = arg;

	f->done++;
	f->is_error = is_error;
	free(f->text);
	f->text = xstrndup(text, len);
	f->job = NULL;
	loop_stop(f->loop);
}

/* Calls def->start with args_json; returns start's result and leaves a synchronous error in
 * f->text. */
static UNUSED int fx_start(struct fx *f, const struct tool_def *def, const char *args_json)
{
	cJSON *args = cJSON_Parse(args_json);
	struct tool_req req = {
		.env = &f->env, .session_id = "", .args = args, .web_listed_only = f->listed_only};
	struct buf err;
	int rc;

	assert_non_null(args);
	buf_init(&err, 4096);
	rc = def->start(&req, on_result, f, &err, &f->job);
	if (rc < 0) {
		assert_true(err.len > 0);
		free(f->text);
		f->text = buf_steal(&err);
	}
	buf_finish(&err);
	cJSON_Delete(args);
	return rc;
}

#endif

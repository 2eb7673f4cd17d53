/* The agent's turn against an in-process OpenAI-compatible upstream (httpd on loopback),
 * through the real router, tools and store: streamed answers (agent_cbs.on_text) growing,
 * tool calls assembled from fragments, usage and cost of a stream, a stream cut mid-way, the
 * unstreamed path left as it was, and agent_context_split adding up to the body sent; and a
 * router call's row and metrics before or after its on_done (router_caller.reply_first). */
#include "test.h"

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "core/config.h"
#include "core/loop.h"
#include "core/metrics.h"
#include "core/sessions.h"
#include "core/store.h"
#include "core/util.h"
#include "gateway/schema.h"
#include "net/httpc.h"
#include "net/httpd.h"
#include "router/router.h"
#include "router/spend.h"
#include "tools/tools.h"

#define MAX_STEPS 8
#define MAX_SEEN  256

/* ---- the fake upstream -------------------------------------------------------------- */

struct call_spec {
	const char *id, *name, *args;
};

/* One scripted answer, streamed when the request asks for a stream. */
struct step {
	const char *content; /* NULL: none */
	struct call_spec calls[2];
	size_t n_calls;
	int64_t prompt, completion, cached; /* usage; cached < 0: no prompt_tokens_details */
	size_t piece;			    /* bytes of content or arguments per chunk */
	bool interleave;		    /* the calls' argument pieces alternate */
	int cut_after;			    /* > 0: the stream ends after this many events */
	int error_after;		    /* > 0: an error event after this many events */
	int delay_ms;			    /* between events */
};

struct sender {
	struct fx *f;
	struct httpd_req *req;
	struct event *ev;
	char **events;
	size_t n, i;
	int delay_ms;
};

struct fx {
	char home[64];
	struct loop *loop;
	struct httpd *srv;
	int port;
	struct config *cfg;
	struct store *store;
	struct spend *spend;
	struct metrics *metrics;
	struct router *router;
	struct tools *tools;
	struct agent *agent;
	struct event *guard, *pause;
	bool timed_out;
	/* upstream */
	struct step steps[MAX_STEPS];
	size_t n_steps, next_step;
	char *bodies[MAX_STEPS];
	size_t n_bodies;
	int senders;
	/* the turn */
	int done;
	enum agent_stop stop;
	char *text;
	struct agent_result r;
	char *texts[MAX_SEEN]; /* what on_text got, in order */
	size_t n_texts;
	size_t model_call_of[MAX_SEEN]; /* requests the upstream had seen at each on_text */
	char *tool_args[8];
	size_t n_tool_args;
};

static void add_event(char ***ev, size_t *n, struct buf *b)
{
	*ev = xrealloc(*ev, (*n + 1) * sizeof(**ev));
	(*ev)[(*n)++] = buf_steal(b);
}

static void usage_json(const struct step *s, struct buf *b)
{
	buf_printf(b,
		   "\"usage\":{\"prompt_tokens\":%lld,\"completion_tokens\":%lld,\"total_tokens\":%"
		   "lld",
		   (long long)s->prompt, (long long)s->completion,
		   (long long)(s->prompt + s->completion));
	if (s->cached >= 0)
		buf_printf(b, ",\"prompt_tokens_details\":{\"cached_tokens\":%lld}",
			   (long long)s->cached);
	buf_puts(b, "}");
}

static void chunk_head(struct buf *b)
{
	buf_puts(b, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,"
		    "\"model\":\"m1\",\"choices\":[{\"index\":0,\"delta\":{");
}

static void chunk_tail(struct buf *b, const char *finish)
{
	buf_printf(b, "},\"finish_reason\":%s}]}", finish ? finish : "null");
}

/* An argument piece of call k, starting at *at. */
static void args_piece(const struct step *s, size_t k, size_t *at, char ***ev, size_t *n)
{
	const char *a = s->calls[k].args;
	size_t len = strlen(a), m = len - *at < s->piece ? len - *at : s->piece;
	struct buf b;

	buf_init(&b, 0);
	chunk_head(&b);
	buf_printf(&b, "\"tool_calls\":[{\"index\":%zu,\"function\":{\"arguments\":", k);
	buf_json_str(&b, a + *at, m);
	buf_puts(&b, "}}]");
	chunk_tail(&b, NULL);
	add_event(ev, n, &b);
	*at += m;
}

/* The stream's events as OpenAI sends them: role, content pieces, each call's head and
 * argument pieces, the finish, the usage chunk, [DONE]. */
static void stream_events(const struct step *s, bool usage, char ***ev, size_t *n)
{
	struct buf b;
	size_t at[2] = {0, 0};

	buf_init(&b, 0);
	chunk_head(&b);
	buf_puts(&b, "\"role\":\"assistant\",\"content\":\"\"");
	chunk_tail(&b, NULL);
	add_event(ev, n, &b);
	for (size_t i = 0; s->content && i < strlen(s->content); i += s->piece) {
		size_t len = strlen(s->content) - i;

		chunk_head(&b);
		buf_puts(&b, "\"content\":");
		buf_json_str(&b, s->content + i, len < s->piece ? len : s->piece);
		chunk_tail(&b, NULL);
		add_event(ev, n, &b);
	}
	for (size_t k = 0; k < s->n_calls; k++) {
		chunk_head(&b);
		buf_printf(&b,
			   "\"tool_calls\":[{\"index\":%zu,\"id\":\"%s\",\"type\":\"function\","
			   "\"function\":{\"name\":\"%s\",\"arguments\":\"\"}}]",
			   k, s->calls[k].id, s->calls[k].name);
		chunk_tail(&b, NULL);
		add_event(ev, n, &b);
		while (!s->interleave && at[k] < strlen(s->calls[k].args))
			args_piece(s, k, &at[k], ev, n);
	}
	while (s->interleave && (at[0] < strlen(s->calls[0].args) ||
				 (s->n_calls > 1 && at[1] < strlen(s->calls[1].args)))) {
		for (size_t k = 0; k < s->n_calls; k++)
			if (at[k] < strlen(s->calls[k].args))
				args_piece(s, k, &at[k], ev, n);
	}
	chunk_head(&b);
	chunk_tail(&b, s->n_calls ? "\"tool_calls\"" : "\"stop\"");
	add_event(ev, n, &b);
	if (usage) {
		buf_puts(&b, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
			     "\"created\":1,\"model\":\"m1\",\"choices\":[],");
		usage_json(s, &b);
		buf_puts(&b, "}");
		add_event(ev, n, &b);
	}
	buf_puts(&b, "[DONE]");
	add_event(ev, n, &b);
}

static char *completion_json(const struct step *s)
{
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b,
		 "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"created\":1,"
		 "\"model\":\"m1\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
		 "\"content\":");
	if (s->content)
		buf_json_str(&b, s->content, strlen(s->content));
	else
		buf_puts(&b, "null");
	if (s->n_calls) {
		buf_puts(&b, ",\"tool_calls\":[");
		for (size_t k = 0; k < s->n_calls; k++) {
			buf_printf(&b,
				   "%s{\"id\":\"%s\",\"type\":\"function\",\"function\":"
				   "{\"name\":\"%s\",\"arguments\":",
				   k ? "," : "", s->calls[k].id, s->calls[k].name);
			buf_json_str(&b, s->calls[k].args, strlen(s->calls[k].args));
			buf_puts(&b, "}}");
		}
		buf_puts(&b, "]");
	}
	buf_printf(&b, "},\"finish_reason\":\"%s\"}],", s->n_calls ? "tool_calls" : "stop");
	usage_json(s, &b);
	buf_puts(&b, "}");
	return buf_steal(&b);
}

static void sender_free(struct sender *sd)
{
	for (size_t i = 0; i < sd->n; i++)
		free(sd->events[i]);
	free(sd->events);
	if (sd->ev)
		event_free(sd->ev);
	sd->f->senders--;
	free(sd);
}

/* Sends the next event (all of them at once without a delay), then ends the reply. */
static void send_events(evutil_socket_t fd, short what, void *arg)
{
	struct sender *sd = arg;
	struct timeval tv = {0, sd->delay_ms * 1000};

	do {
		char *line = xasprintf("data: %s\n\n", sd->events[sd->i++]);

		httpd_reply_chunk(sd->req, line, strlen(line));
		free(line);
	} while (!sd->delay_ms && sd->i < sd->n);
	if (sd->i < sd->n) {
		evtimer_add(sd->ev, &tv);
		return;
	}
	httpd_reply_end(sd->req);
	sender_free(sd);
}

static void on_chat(struct httpd_req *req, void *arg)
{
	struct fx *f = arg;
	size_t len;
	char *body = httpd_body(req, &len);
	cJSON *j = cJSON_Parse(body);
	cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
	bool stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "stream"));
	bool usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
	struct step *s;
	struct sender *sd;

	cJSON_Delete(j);
	if (f->n_bodies < MAX_STEPS)
		f->bodies[f->n_bodies++] = body;
	else
		free(body);
	if (f->next_step == f->n_steps) {
		httpd_reply_error(req, 500, "server_error", "script exhausted");
		return;
	}
	s = &f->steps[f->next_step++];
	if (!stream) {
		char *answer = completion_json(s);

		httpd_reply(req, 200, "application/json", answer, strlen(answer));
		free(answer);
		return;
	}
	sd = xcalloc(1, sizeof(*sd));
	sd->f = f;
	sd->req = req;
	sd->delay_ms = s->delay_ms;
	stream_events(s, usage, &sd->events, &sd->n);
	if (s->cut_after > 0 && (size_t)s->cut_after < sd->n) {
		for (size_t i = (size_t)s->cut_after; i < sd->n; i++)
			free(sd->events[i]);
		sd->n = (size_t)s->cut_after;
	}
	if (s->error_after > 0 && (size_t)s->error_after < sd->n) {
		for (size_t i = (size_t)s->error_after; i < sd->n; i++)
			free(sd->events[i]);
		sd->n = (size_t)s->error_after + 1;
		sd->events[s->error_after] =
			xstrdup("{\"error\":{\"message\":\"upstream overloaded mid-answer\","
				"\"code\":502}}");
	}
	f->senders++;
	sd->ev = evtimer_new(loop_base(f->loop), send_events, sd);
	httpd_reply_start(req, 200, "text/event-stream");
	event_active(sd->ev, EV_TIMEOUT, 1);
}

/* ---- the agent around it ------------------------------------------------------------ */

static void on_guard(evutil_socket_t fd, short what, void *arg)
{
	struct fx *f = arg;

	f->timed_out = true;
	loop_stop(f->loop);
}

static void on_pause(evutil_socket_t fd, short what, void *arg)
{
	loop_stop(((struct fx *)arg)->loop);
}

static void put(const char *home, const char *rel, const char *text)
{
	char *path = xasprintf("%s/%s", home, rel);
	FILE *fp;

	for (char *p = path + strlen(home) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0700);
		*p = '/';
	}
	fp = fopen(path, "we");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	free(path);
}

/* Everything the gateway wires, on a fresh home; extra YAML appended to the config. */
static struct fx *fx_create(const char *extra)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	struct httpd_opts o = {.listen = "127.0.0.1:0", .max_body_bytes = 4 * 1024 * 1024};
	struct config_diag *diag = config_diag_create();
	struct timeval tv = {20, 0};
	char err[256], *yaml, *db;

	snprintf(f->home, sizeof(f->home), "/tmp/hermetic-agent-XXXXXX");
	assert_non_null(mkdtemp(f->home));
	f->loop = loop_create();
	assert_int_equal(httpd_create(f->loop, &o, &f->srv, err, sizeof(err)), 0);
	f->port = httpd_port(f->srv);
	httpd_route(f->srv, HTTPD_POST, "/v1/chat/completions", on_chat, f);
	yaml = xasprintf(
		"home: %s\n"
		"timezone: UTC\n"
		"model: m1\n"
		"model_list:\n"
		"  - model_name: m1\n"
		"    litellm_params: {model: openai/m1, api_base: \"http://127.0.0.1:%d/v1\","
		" api_key: sk-test}\n"
		"    model_info: {input_cost_per_token: 0.000001,"
		" output_cost_per_token: 0.000002}\n"
		"router_settings: {num_retries: 0, allowed_fails: 100, timeout: 10}\n%s",
		f->home, f->port, extra ? extra : "toolsets: [files]\n");
	if (config_parse("t.yaml", yaml, strlen(yaml), &f->cfg, diag) != 0)
		config_diag_print(diag, stderr);
	assert_non_null(f->cfg);
	config_diag_destroy(diag);
	free(yaml);
	db = xasprintf("%s/state.db", f->home);
	assert_int_equal(store_open(db, &f->store, err, sizeof(err)), 0);
	free(db);
	f->spend = spend_create(f->store, f->cfg);
	f->metrics = metrics_create();
	f->router = router_create(f->cfg, f->loop, f->spend, f->metrics);
	f->tools = tools_create(&(struct tools_env){f->cfg, f->loop, f->store, NULL});
	f->agent =
		agent_create(&(struct agent_env){f->cfg, f->loop, f->router, f->tools, f->store});
	f->guard = evtimer_new(loop_base(f->loop), on_guard, f);
	f->pause = evtimer_new(loop_base(f->loop), on_pause, f);
	evtimer_add(f->guard, &tv);
	return f;
}

static void clear_turn(struct fx *f)
{
	for (size_t i = 0; i < f->n_texts; i++)
		free(f->texts[i]);
	for (size_t i = 0; i < f->n_tool_args; i++)
		free(f->tool_args[i]);
	free(f->text);
	f->text = NULL;
	f->n_texts = f->n_tool_args = 0;
	f->done = 0;
}

static void clear_upstream(struct fx *f)
{
	for (size_t i = 0; i < f->n_bodies; i++)
		free(f->bodies[i]);
	f->n_bodies = f->n_steps = f->next_step = 0;
}

static void fx_destroy(struct fx *f)
{
	char *cmd = xasprintf("rm -rf %s", f->home);

	agent_destroy(f->agent);
	tools_destroy(f->tools);
	router_destroy(f->router);
	while (f->senders > 0 && !f->timed_out)
		event_base_loop(loop_base(f->loop), EVLOOP_ONCE);
	httpc_cancel_all(f->loop);
	event_base_loop(loop_base(f->loop), EVLOOP_NONBLOCK);
	spend_destroy(f->spend);
	metrics_destroy(f->metrics);
	store_close(f->store);
	event_free(f->guard);
	event_free(f->pause);
	httpd_destroy(f->srv);
	loop_destroy(f->loop);
	config_destroy(f->cfg);
	clear_turn(f);
	clear_upstream(f);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f);
}

static void script(struct fx *f, const struct step *s)
{
	assert_true(f->n_steps < MAX_STEPS);
	f->steps[f->n_steps++] = *s;
}

static void on_text(const char *so_far, size_t len, void *arg)
{
	struct fx *f = arg;

	assert_int_equal(strlen(so_far), len);
	assert_true(f->n_texts < MAX_SEEN);
	f->model_call_of[f->n_texts] = f->n_bodies;
	f->texts[f->n_texts++] = xstrndup(so_far, len);
}

static void on_tool_call(const char *name, const char *args, void *arg)
{
	struct fx *f = arg;

	assert_true(f->n_tool_args < ARRAY_LEN(f->tool_args));
	f->tool_args[f->n_tool_args++] = xasprintf("%s %s", name, args);
}

static void on_done(const struct agent_result *r, void *arg)
{
	struct fx *f = arg;

	f->done++;
	f->r = *r;
	f->r.text = NULL;
	f->r.model = NULL;
	f->text = xstrdup(r->text);
	loop_stop(f->loop);
}

/* Runs one turn of source to its end; with stream, on_text is set. */
static void turn(struct fx *f, const char *source, const char *user, bool stream)
{
	struct agent_cbs cbs = {.on_tool_call = on_tool_call, .on_done = on_done};
	struct agent_turn_opts o = {.source = source};

	if (stream)
		cbs.on_text = on_text;
	clear_turn(f);
	assert_int_equal(agent_turn(f->agent, &o, user, &cbs, f, NULL), 0);
	/* Never from inside agent_turn: nothing has been said yet. */
	assert_int_equal(f->n_texts, 0);
	assert_int_equal(f->done, 0);
	loop_run(f->loop);
	assert_false(f->timed_out);
	assert_int_equal(f->done, 1);
}

/* Lets the loop run for ms more (a second on_done would show up here). */
static void settle(struct fx *f, int ms)
{
	struct timeval tv = {0, ms * 1000};

	evtimer_add(f->pause, &tv);
	loop_run(f->loop);
}

static cJSON *body_of(struct fx *f, size_t i)
{
	cJSON *j;

	assert_true(i < f->n_bodies);
	j = cJSON_Parse(f->bodies[i]);
	assert_non_null(j);
	return j;
}

/* The stored messages of a session, one "role json" line each. */
static void collect(int64_t id, const char *role, const char *json, void *arg)
{
	buf_printf(arg, "%s %s\n", role, json);
}

static char *stored(struct fx *f, int64_t session_id)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(sessions_messages(f->store, session_id, collect, &b), 0);
	return buf_steal(&b);
}

/* ---- tests ---------------------------------------------------------------------------- */

static const char fox[] = "The quick brown fox jumps over the lazy dog, and then it naps.";

static void test_streamed_answer_reaches_on_text_growing(void **state)
{
	struct fx *f = fx_create(NULL);
	cJSON *req, *so;

	script(f, &(struct step){.content = fox,
				 .piece = 3,
				 .prompt = 40,
				 .completion = 20,
				 .cached = -1,
				 .delay_ms = 1});
	turn(f, "cli", "tell me", true);
	assert_int_equal(f->r.stop, AGENT_DONE);
	assert_string_equal(f->text, fox);
	/* One call per content piece: growing, each the whole text so far. */
	assert_int_equal(f->n_texts, (sizeof(fox) - 1 + 2) / 3);
	for (size_t i = 1; i < f->n_texts; i++) {
		assert_true(strlen(f->texts[i]) > strlen(f->texts[i - 1]));
		assert_memory_equal(f->texts[i], f->texts[i - 1], strlen(f->texts[i - 1]));
	}
	assert_string_equal(f->texts[0], "The");
	assert_string_equal(f->texts[f->n_texts - 1], fox);
	req = body_of(f, 0);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "stream")));
	so = cJSON_GetObjectItemCaseSensitive(req, "stream_options");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage")));
	cJSON_Delete(req);
	fx_destroy(f);
}

/* Runs a turn of source with opts (source's session rules), as turn() does. */
static void turn_opts(struct fx *f, const struct agent_turn_opts *o, const char *user)
{
	struct agent_cbs cbs = {.on_tool_call = on_tool_call, .on_done = on_done};

	clear_turn(f);
	assert_int_equal(agent_turn(f->agent, o, user, &cbs, f, NULL), 0);
	loop_run(f->loop);
	assert_false(f->timed_out);
	assert_int_equal(f->done, 1);
}

/* Makes every open session look idle for a day. */
static void age_sessions(struct fx *f)
{
	assert_int_equal(sqlite3_exec(store_db(f->store),
				      "UPDATE sessions SET updated_ms = updated_ms - 86400000",
				      NULL, NULL, NULL),
			 SQLITE_OK);
}

/* An alert investigation's Dig deeper, pressed after agent.session_idle_minutes: the same
 * session goes on (no_idle); a plain turn after the same pause starts a new one. */
static void test_no_idle_continues_a_session_idle_for_a_day(void **state)
{
	struct fx *f = fx_create(NULL);
	int64_t first;

	script(f, &(struct step){.content = "first", .prompt = 10, .completion = 2});
	script(f, &(struct step){.content = "deeper", .prompt = 10, .completion = 2});
	script(f, &(struct step){.content = "fresh", .prompt = 10, .completion = 2});
	turn_opts(f, &(struct agent_turn_opts){.source = "alert:7"}, "investigate");
	first = f->r.session_id;
	age_sessions(f);
	turn_opts(f, &(struct agent_turn_opts){.source = "alert:7", .no_idle = true}, "dig");
	assert_int_equal(f->r.session_id, first);
	assert_string_equal(f->text, "deeper");
	age_sessions(f);
	turn_opts(f, &(struct agent_turn_opts){.source = "alert:7"}, "again");
	assert_true(f->r.session_id != first);
	fx_destroy(f);
}

/* A task's session as kill -9 left it: its message, then an answer whose two tool calls (one
 * read-only, one that writes) have no stored results. */
static void interrupted_session(struct fx *f, const char *source)
{
	int64_t sid;

	assert_int_equal(sessions_create(f->store, source, "m1", NULL, &sid), 0);
	assert_int_equal(sessions_append_origin(f->store, sid, "user",
						"{\"role\":\"user\",\"content\":\"go\"}", "go",
						source, NULL),
			 0);
	assert_int_equal(
		sessions_append(
			f->store, sid, "assistant",
			"{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
			"{\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":"
			"\"time\",\"arguments\":\"{}\"}},{\"id\":\"c2\",\"type\":"
			"\"function\",\"function\":{\"name\":\"write_file\",\"arguments\":"
			"\"{\\\"path\\\":\\\"notes.txt\\\",\\\"content\\\":\\\"x\\\"}\"}}]}",
			NULL, NULL),
		0);
}

/* The tool results of the request i, "id: content" one a line. */
static char *tool_results_of(struct fx *f, size_t i)
{
	cJSON *j = body_of(f, i), *m;
	struct buf b;

	buf_init(&b, 0);
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(j, "messages"))
	{
		const char *role =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(m, "role"));

		if (role && strcmp(role, "tool") == 0)
			buf_printf(&b, "%s: %s\n",
				   cJSON_GetStringValue(
					   cJSON_GetObjectItemCaseSensitive(m, "tool_call_id")),
				   cJSON_GetStringValue(
					   cJSON_GetObjectItemCaseSensitive(m, "content")));
	}
	cJSON_Delete(j);
	return buf_steal(&b);
}

/* rerun_calls (a task resumed after kill -9): the stored answer's read-only call runs again,
 * the write is answered "not run again", and no model call re-decides them; without it the
 * calls are answered "interrupted" for the model to decide again. */
static void test_a_resumed_turn_runs_its_stored_answers_read_only_calls(void **state)
{
	struct fx *f = fx_create("toolsets: [files, time]\n");
	char *results, *path;
	struct stat st;

	interrupted_session(f, "task:9");
	script(f,
	       &(struct step){.content = "done after the restart", .prompt = 10, .completion = 2});
	turn_opts(f,
		  &(struct agent_turn_opts){.source = "task:9",
					    .origin = "task:9",
					    .no_idle = true,
					    .rerun_calls = true},
		  "go");
	assert_string_equal(f->text, "done after the restart");
	assert_int_equal(f->n_bodies, 1); /* only the call that reads the results */
	assert_int_equal(f->n_tool_args, 1);
	assert_string_equal(f->tool_args[0], "time {}");
	results = tool_results_of(f, 0);
	assert_non_null(strstr(results, "c1: "));
	assert_null(strstr(results, "interrupted)"));
	assert_non_null(strstr(results, "c2: Error: not run again"));
	free(results);
	path = xasprintf("%s/notes.txt", f->home);
	assert_int_not_equal(stat(path, &st), 0); /* the write was not repeated */
	free(path);

	clear_upstream(f);
	interrupted_session(f, "task:10");
	script(f, &(struct step){.content = "decided again", .prompt = 10, .completion = 2});
	turn_opts(f,
		  &(struct agent_turn_opts){
			  .source = "task:10", .origin = "task:10", .no_idle = true},
		  "go");
	assert_int_equal(f->n_tool_args, 0);
	results = tool_results_of(f, 0);
	assert_string_equal(results, "c1: (no result: the turn was interrupted)\n"
				     "c2: (no result: the turn was interrupted)\n");
	free(results);
	fx_destroy(f);
}

static void test_unstreamed_turn_sends_no_stream(void **state)
{
	struct fx *f = fx_create(NULL);
	cJSON *req;

	script(f, &(struct step){.content = fox, .prompt = 40, .completion = 20, .cached = 7});
	turn(f, "cli", "tell me", false);
	assert_int_equal(f->r.stop, AGENT_DONE);
	assert_string_equal(f->text, fox);
	assert_int_equal(f->n_texts, 0);
	req = body_of(f, 0);
	assert_null(cJSON_GetObjectItemCaseSensitive(req, "stream"));
	assert_null(cJSON_GetObjectItemCaseSensitive(req, "stream_options"));
	cJSON_Delete(req);
	/* The unstreamed answer's usage gives the cache reads too. */
	assert_int_equal(f->r.last_prompt_tokens, 40);
	assert_int_equal(f->r.cached_tokens, 7);
	fx_destroy(f);
}

/* Two read_file calls whose arguments come in pieces (interleaved by index), then an answer. */
static void script_tools(struct fx *f)
{
	script(f, &(struct step){.content = "Reading both.",
				 .calls = {{"call_a", "read_file", "{\"path\": \"notes/a.txt\"}"},
					   {"call_b", "read_file", "{\"path\": \"notes/b.txt\"}"}},
				 .n_calls = 2,
				 .piece = 4,
				 .interleave = true,
				 .prompt = 100,
				 .completion = 30,
				 .cached = 0});
	script(f, &(struct step){.content = "a says alpha, b says beta.",
				 .piece = 5,
				 .prompt = 150,
				 .completion = 10,
				 .cached = 64});
}

static void test_streamed_tool_calls_run_with_exact_args(void **state)
{
	struct fx *f = fx_create(NULL);
	char *plain, *live;
	cJSON *req, *m;
	int64_t plain_id;
	int n_tool = 0;

	put(f->home, "notes/a.txt", "alpha\n");
	put(f->home, "notes/b.txt", "beta\n");
	/* The same turn unstreamed first: what it stores is the reference. */
	script_tools(f);
	turn(f, "plain", "read a and b", false);
	assert_int_equal(f->r.stop, AGENT_DONE);
	plain_id = f->r.session_id;
	clear_upstream(f);

	script_tools(f);
	turn(f, "live", "read a and b", true);
	assert_int_equal(f->r.stop, AGENT_DONE);
	assert_string_equal(f->text, "a says alpha, b says beta.");
	assert_int_equal(f->r.model_calls, 2);
	assert_int_equal(f->r.tool_calls, 2);
	assert_int_equal(f->n_tool_args, 2);
	assert_string_equal(f->tool_args[0], "read_file {\"path\": \"notes/a.txt\"}");
	assert_string_equal(f->tool_args[1], "read_file {\"path\": \"notes/b.txt\"}");
	/* The second model call's text starts again from "". */
	assert_string_equal(f->texts[0], "Read");
	for (size_t i = 0; i < f->n_texts; i++) {
		const char *whole =
			f->model_call_of[i] == 1 ? "Reading both." : "a says alpha, b says beta.";

		assert_memory_equal(f->texts[i], whole, strlen(f->texts[i]));
	}
	assert_string_equal(f->texts[f->n_texts - 1], "a says alpha, b says beta.");
	/* The results went back to the model in call order, under the streamed ids. */
	req = body_of(f, 1);
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(req, "messages"))
	{
		cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
		cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");

		if (!id)
			continue;
		assert_string_equal(id->valuestring, n_tool == 0 ? "call_a" : "call_b");
		assert_non_null(strstr(content->valuestring, n_tool == 0 ? "alpha" : "beta"));
		n_tool++;
	}
	assert_int_equal(n_tool, 2);
	cJSON_Delete(req);
	/* Stored exactly as the unstreamed turn stored its messages. */
	plain = stored(f, plain_id);
	live = stored(f, f->r.session_id);
	assert_non_null(strstr(live, "\"tool_calls\""));
	assert_string_equal(live, plain);
	free(plain);
	free(live);
	fx_destroy(f);
}

static void test_streamed_usage_and_cost_counted(void **state)
{
	struct fx *f = fx_create(NULL);
	struct spend_usage today, month;
	struct agent_context_split sp;

	script(f, &(struct step){.content = "cached answer",
				 .piece = 4,
				 .prompt = 1000,
				 .completion = 50,
				 .cached = 600});
	turn(f, "cli", "hi", true);
	assert_int_equal(f->r.stop, AGENT_DONE);
	assert_int_equal(f->r.prompt_tokens, 1000);
	assert_int_equal(f->r.completion_tokens, 50);
	assert_int_equal(f->r.last_prompt_tokens, 1000);
	assert_int_equal(f->r.cached_tokens, 600);
	/* model_info prices: 1000 * 1e-6 + 50 * 2e-6. */
	assert_true(fabs(f->r.cost_usd - 0.0011) < 1e-9);
	assert_int_equal(spend_usage(f->store, now_wall_ms(), &today, &month), 0);
	assert_int_equal(today.calls, 1);
	assert_int_equal(today.input_tokens, 1000);
	assert_int_equal(today.output_tokens, 50);
	assert_true(fabs(today.cost_usd - 0.0011) < 1e-9);
	/* The source's last call is remembered for /context. */
	assert_int_equal(agent_context_split(f->agent, "cli", &sp), 0);
	assert_true(sp.have_last);
	assert_int_equal(sp.last_prompt_tokens, 1000);
	assert_int_equal(sp.last_cached_tokens, 600);
	fx_destroy(f);
}

static void test_stream_cut_midway_fails_once_and_is_billed(void **state)
{
	struct fx *f = fx_create(NULL);
	struct spend_usage today, month;
	char *msgs;

	/* Role, then 4 content pieces, then the end of the body: no finish, no [DONE]. */
	script(f, &(struct step){.content = fox, .piece = 4, .cut_after = 5, .cached = -1});
	turn(f, "cli", "tell me", true);
	settle(f, 100);
	assert_int_equal(f->done, 1);
	assert_int_equal(f->r.stop, AGENT_FAILED);
	assert_non_null(strstr(f->text, "broke off mid-stream"));
	assert_non_null(strstr(f->text, "[DONE]"));
	assert_int_equal(f->n_texts, 4);
	assert_string_equal(f->texts[3], "The quick brown ");
	/* The provider generated what came: one ledger row (an estimate, no usage came). */
	assert_int_equal(spend_usage(f->store, now_wall_ms(), &today, &month), 0);
	assert_int_equal(today.calls, 1);
	assert_true(today.output_tokens > 0);
	assert_true(f->r.cost_usd > 0);
	/* Nothing of the broken answer is stored: the user's message only. */
	msgs = stored(f, f->r.session_id);
	assert_null(strstr(msgs, "assistant"));
	free(msgs);
	fx_destroy(f);
}

static void test_stream_error_event_fails_with_its_message(void **state)
{
	struct fx *f = fx_create(NULL);

	script(f, &(struct step){.content = fox, .piece = 8, .error_after = 3, .cached = -1});
	turn(f, "cli", "tell me", true);
	settle(f, 50);
	assert_int_equal(f->done, 1);
	assert_int_equal(f->r.stop, AGENT_FAILED);
	assert_non_null(strstr(f->text, "upstream overloaded mid-answer"));
	assert_int_equal(f->n_texts, 2);
	fx_destroy(f);
}

static void test_streamed_answer_over_the_cap_fails(void **state)
{
	struct fx *f = fx_create("toolsets: [files]\nrouter: {max_response_bytes: 4096}\n");
	char *big = xcalloc(1, 20001);

	memset(big, 'x', 20000);
	script(f, &(struct step){.content = big, .piece = 100, .cached = -1});
	turn(f, "cli", "a lot", true);
	settle(f, 50);
	assert_int_equal(f->done, 1);
	assert_int_equal(f->r.stop, AGENT_FAILED);
	assert_non_null(strstr(f->text, "max_response_bytes"));
	assert_true(f->n_texts > 0);
	assert_true(strlen(f->texts[f->n_texts - 1]) <= 4096);
	free(big);
	fx_destroy(f);
}

/* ---- agent_context_split ---- */

static size_t printed_len(const cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);
	size_t n = strlen(s);

	free(s);
	return n;
}

static size_t json_escaped_len(const char *s)
{
	struct buf b;
	size_t n;

	buf_init(&b, 0);
	buf_json_str(&b, s, strlen(s));
	n = b.len - 2;
	buf_finish(&b);
	return n;
}

static size_t parts_sum(const struct agent_context_split *s)
{
	return s->persona.bytes + s->memory.bytes + s->skills.bytes + s->tools.bytes +
	       s->history.bytes + s->framing.bytes;
}

static void test_context_split_adds_up_to_the_body_sent(void **state)
{
	struct fx *f = fx_create("toolsets: [files, memory, skills]\n");
	struct agent_context_split sp;
	char *user_json;
	const char *tail;
	cJSON *req, *msgs, *m;
	size_t history = 0;
	int i = 0;

	put(f->home, "memories/USER.md", "Prefers metric units.");
	put(f->home, "skills/k3s-upgrade/SKILL.md",
	    "---\nname: k3s-upgrade\ndescription: Upgrade K3s node by node.\n---\n# Steps\n");
	/* No session yet: a new session's prompt, no history. */
	assert_int_equal(agent_context_split(f->agent, "tg", &sp), 0);
	assert_int_equal(sp.session_id, 0);
	assert_int_equal(sp.history.bytes, 0);
	assert_false(sp.have_last);
	assert_int_equal(parts_sum(&sp), sp.total.bytes);

	script(f, &(struct step){.content = "Hello \"there\".", .prompt = 500, .cached = 0});
	turn(f, "tg", "hello", false);
	assert_int_equal(agent_context_split(f->agent, "tg", &sp), 0);
	assert_int_equal(sp.session_id, f->r.session_id);
	assert_int_equal(sp.n_messages, 2);
	assert_true(sp.persona.bytes > 100);
	assert_true(sp.memory.bytes > strlen("Prefers metric units."));
	assert_true(sp.skills.bytes > strlen("k3s-upgrade: Upgrade K3s node by node."));
	assert_true(sp.tools.bytes > 100);
	assert_true(sp.framing.bytes > 0 && sp.framing.bytes < 200);
	assert_int_equal(parts_sum(&sp), sp.total.bytes);
	assert_int_equal(sp.total.tokens, (int64_t)(sp.total.bytes + 3) / 4);
	assert_int_equal(sp.budget_tokens, f->cfg->agent.context_tokens);
	assert_true(sp.have_last);
	assert_int_equal(sp.last_prompt_tokens, 500);

	/* The next turn sends exactly that plus its user message (and a comma). */
	clear_upstream(f);
	script(f, &(struct step){.content = "again", .cached = -1});
	turn(f, "tg", "once more", false);
	user_json = xstrdup("{\"role\":\"user\",\"content\":\"once more\"}");
	assert_int_equal(f->r.last_prompt_bytes, sp.total.bytes + strlen(user_json) + 1);
	/* What the upstream got, part by part: the agent's body, and the max_tokens the router
	 * adds for a request without one. */
	tail = ",\"max_tokens\":4096}";
	assert_int_equal(strlen(f->bodies[0]), f->r.last_prompt_bytes + strlen(tail) - 1);
	assert_string_equal(f->bodies[0] + strlen(f->bodies[0]) - strlen(tail), tail);
	req = body_of(f, 0);
	assert_int_equal(printed_len(cJSON_GetObjectItemCaseSensitive(req, "tools")),
			 sp.tools.bytes);
	msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
	cJSON_ArrayForEach(m, msgs)
	{
		if (i == 0)
			assert_int_equal(
				json_escaped_len(cJSON_GetObjectItemCaseSensitive(m, "content")
							 ->valuestring),
				sp.persona.bytes + sp.skills.bytes + sp.memory.bytes);
		else if (i < 3)
			history += printed_len(m);
		i++;
	}
	assert_int_equal(i, 4);
	assert_int_equal(history, sp.history.bytes);
	cJSON_Delete(req);
	free(user_json);
	fx_destroy(f);
}

/* The system prompt of the first request of a turn of source that starts with user. */
static char *first_system(struct fx *f, const char *source, const char *user)
{
	cJSON *req, *msgs;
	char *sys;

	clear_upstream(f);
	script(f, &(struct step){.content = "ok", .prompt = 10, .completion = 2});
	turn(f, source, user, false);
	req = body_of(f, 0);
	msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
	sys = xstrdup(cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(msgs, 0), "content")));
	cJSON_Delete(req);
	return sys;
}

/* A new session's skills index follows its first message, and a cron run's names the job's
 * own skills whatever the budget. */
/* A router call made straight (the router's HTTP ingress makes them so), and what the ledger
 * and the metrics held when its on_done ran. */
struct direct {
	struct fx *f;
	int done;
	double cost, day_at_done;
	bool counted_at_done, total_at_done;
	unsigned long yields_at_done, yields_after;
};

static bool rendered(struct fx *f, const char *metric)
{
	struct buf b;
	bool there;

	buf_init(&b, 0);
	metrics_render(f->metrics, &b);
	there = strstr(buf_str(&b), metric) != NULL;
	buf_finish(&b);
	return there;
}

static void direct_done(struct router_call *c, const struct router_result *r, void *arg)
{
	struct direct *d = arg;

	d->done++;
	d->cost = r->cost_usd;
	d->day_at_done = spend_day_usd(d->f->spend, now_wall_ms());
	d->counted_at_done = rendered(d->f, "litellm_requests_metric_total{");
	d->total_at_done = rendered(d->f, "litellm_proxy_total_requests_metric_total{");
	d->yields_at_done = loop_yields(d->f->loop);
	loop_stop(d->f->loop);
}

static void direct_call(struct fx *f, bool reply_first, struct direct *d)
{
	static const struct router_cbs cbs = {.on_done = direct_done};
	static const char body[] = "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\","
				   "\"content\":\"hi\"}]}";
	struct router_caller who = {.key_hash = "internal", .reply_first = reply_first};
	struct router_call *call;

	memset(d, 0, sizeof(*d));
	d->f = f;
	script(f, &(struct step){.content = "ok", .prompt = 1000, .completion = 500, .cached = -1});
	assert_int_equal(router_chat(f->router, body, strlen(body), &who, &cbs, d, &call), 0);
	loop_run(f->loop);
	d->yields_after = loop_yields(f->loop);
	assert_false(f->timed_out);
	assert_int_equal(d->done, 1);
	/* model_info prices: 1000 * 1e-6 + 500 * 2e-6, in the reply either way */
	assert_true(fabs(d->cost - 0.002) < 1e-9);
}

/* An in-process caller finds the attempt's row and metrics recorded when on_done runs (its
 * next call is checked against them); a reply_first caller (HTTP ingress) gets on_done first,
 * then the loop yields the CPU once (the client it woke reads its answer first), and the row
 * and metrics follow before control returns to the loop. Each way exactly one row: the day's
 * total grows by the call's cost once. */
static void test_reply_first_records_the_attempt_right_after_on_done(void **state)
{
	struct fx *f = fx_create(NULL);
	struct direct d;

	direct_call(f, false, &d);
	assert_true(fabs(d.day_at_done - 0.002) < 1e-9);
	assert_true(d.counted_at_done);
	assert_false(d.total_at_done); /* the per-call total always follows on_done */
	assert_int_equal(d.yields_after, d.yields_at_done); /* in-process: no yield */
	assert_true(fabs(spend_day_usd(f->spend, now_wall_ms()) - 0.002) < 1e-9);

	fx_destroy(f);
	f = fx_create(NULL);
	direct_call(f, true, &d);
	assert_true(fabs(d.day_at_done) < 1e-9);
	assert_false(d.counted_at_done);
	assert_false(d.total_at_done);
	assert_int_equal(d.yields_after, d.yields_at_done + 1); /* after on_done, idle: once */
	/* recorded by the time the loop ran on: once */
	assert_true(fabs(spend_day_usd(f->spend, now_wall_ms()) - 0.002) < 1e-9);
	assert_true(rendered(f, "litellm_requests_metric_total{"));
	assert_true(rendered(f, "litellm_proxy_total_requests_metric_total{"));
	settle(f, 50);
	assert_true(fabs(spend_day_usd(f->spend, now_wall_ms()) - 0.002) < 1e-9);
	fx_destroy(f);
}

static void test_skills_index_follows_the_first_message_and_the_cron_job(void **state)
{
	struct fx *f =
		fx_create("toolsets: [skills]\n"
			  "skills: {index_tokens: 40}\n"
			  "cron:\n"
			  "  - {name: nightly, schedule: \"0 3 * * *\", prompt: \"Check pods.\","
			  " skills: [zeta-pinned]}\n");
	char *rel, *text, *sys;

	for (int i = 0; i < 30; i++) {
		rel = xasprintf("skills/aaa-%02d/SKILL.md", i);
		text = xasprintf("---\nname: aaa-%02d\ndescription: Plain steps %d.\n---\n", i, i);
		put(f->home, rel, text);
		free(text);
		free(rel);
	}
	put(f->home, "skills/ops/kube-pods/SKILL.md",
	    "---\nname: kube-pods\ndescription: Restart Kubernetes pods.\n---\n");
	put(f->home, "skills/zeta-pinned/SKILL.md",
	    "---\nname: zeta-pinned\ndescription: Unrelated steps.\n---\n");
	sys = first_system(f, "cli", "hello");
	/* Nothing matches "hello": no names, the count by category. */
	assert_non_null(strstr(sys, "(32 skills in ops: skills_list searches them)"));
	assert_null(strstr(sys, "aaa-00"));
	assert_null(strstr(sys, "kube-pods"));
	assert_null(strstr(sys, "zeta-pinned"));
	free(sys);
	sys = first_system(f, "telegram:1", "my kubernetes pods are down");
	assert_non_null(strstr(sys, "kube-pods: Restart Kubernetes pods."));
	assert_null(strstr(sys, "zeta-pinned"));
	free(sys);
	sys = first_system(f, "cron:nightly", "Check pods.");
	assert_non_null(strstr(sys, "zeta-pinned: Unrelated steps.\nkube-pods: "));
	free(sys);
	fx_destroy(f);
}

/* A cron job that pins a skill whose workflow asks for review starts its turns reviewing
 * (its outbound actions wait for the owner); a skill with review: none, or another source,
 * does not. */
static void test_a_cron_jobs_reviewing_skill_gates_its_turns(void **state)
{
	struct fx *f = fx_create("toolsets: [skills]\n"
				 "cron:\n"
				 "  - {name: nightly, schedule: \"0 3 * * *\", prompt: \"Notes.\","
				 " skills: [loose, minutes]}\n"
				 "  - {name: other, schedule: \"0 4 * * *\", prompt: \"x\","
				 " skills: [loose]}\n");
	struct tools_review rv;

	put(f->home, "skills/minutes/SKILL.md",
	    "---\nname: minutes\ndescription: Notes.\nworkflow:\n  review: before "
	    "sending\n---\n");
	put(f->home, "skills/loose/SKILL.md",
	    "---\nname: loose\ndescription: Notes.\nworkflow:\n  review: none\n---\n");
	agent_pinned_review(f->cfg, "cron:nightly", &rv);
	assert_string_equal(rv.skill, "minutes");
	agent_pinned_review(f->cfg, "cron:other", &rv);
	assert_string_equal(rv.skill, "");
	agent_pinned_review(f->cfg, "telegram:1", &rv);
	assert_string_equal(rv.skill, "");
	fx_destroy(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_streamed_answer_reaches_on_text_growing),
		cmocka_unit_test(test_unstreamed_turn_sends_no_stream),
		cmocka_unit_test(test_no_idle_continues_a_session_idle_for_a_day),
		cmocka_unit_test(test_streamed_tool_calls_run_with_exact_args),
		cmocka_unit_test(test_streamed_usage_and_cost_counted),
		cmocka_unit_test(test_stream_cut_midway_fails_once_and_is_billed),
		cmocka_unit_test(test_stream_error_event_fails_with_its_message),
		cmocka_unit_test(test_streamed_answer_over_the_cap_fails),
		cmocka_unit_test(test_context_split_adds_up_to_the_body_sent),
		cmocka_unit_test(test_skills_index_follows_the_first_message_and_the_cron_job),
		cmocka_unit_test(test_a_cron_jobs_reviewing_skill_gates_its_turns),
		cmocka_unit_test(test_reply_first_records_the_attempt_right_after_on_done),
		cmocka_unit_test(test_a_resumed_turn_runs_its_stored_answers_read_only_calls),
	};

	schema_register();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* cli_chat: `hermetic chat`. Through the running gateway when one answers on api.listen with
 * api.key (cli_chat_gw.c; --local skips it), else the agent with the in-process router and
 * the MCP client on a private loop: one turn for -q (a new session each time, the answer on stdout,
 * the tool transcript and usage on stderr), else a line REPL on stdin that continues the CLI
 * session.
 *
 * stdin is read through the loop (a read event, lines capped at LINE_MAX_BYTES), so a turn
 * and the keyboard never block each other; while a turn runs input waits in the pipe.
 * Ctrl-C cancels the running turn (a second one, or one at the prompt, quits).
 */
#include "cli/cli_chat.h"
#include "cli/cli_chat_gw.h"
#include "cli/cli_mcp_oauth.h"
#include "agent/agent.h"
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "mcp/mcp.h"
#include "core/metrics.h"
#include "router/router.h"
#include "sandbox/sandbox.h"
#include "core/sessions.h"
#include "router/spend.h"
#include "core/store.h"
#include "tools/tools.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_BYTES	  (64 * 1024)
#define SHOW_RESULT_BYTES 300
#define SOURCE		  "cli"

struct chat {
	const struct config *cfg;
	struct loop *loop;
	struct store *store;
	struct spend *spend;
	struct metrics *metrics; /* the router keeps its counters here; chat never serves them */
	struct router *router;
	struct mcp *mcp;
	struct tools *tools;
	struct agent *agent;
	struct agent_turn *turn;
	struct event *input;
	struct timeval
		*input_tv; /* NULL: stdin is pollable; else a regular file, read on a timer */
	struct timeval zero;
	struct buf line;
	char *model; /* -m, or /model */
	bool repl, quit, eof, interrupted;
	int rc;
};

static void on_tool_call(const char *name, const char *args, void *arg)
{
	fprintf(stderr, "-> %s %s\n", name, args);
}

static void on_tool_result(const char *name, bool is_error, const char *text, size_t len, void *arg)
{
	size_t show = len < SHOW_RESULT_BYTES ? len : utf8_cut(text, SHOW_RESULT_BYTES);

	fprintf(stderr, "<- %s%s: %.*s%s\n", name, is_error ? " (error)" : "", (int)show, text,
		show < len ? " ..." : "");
}

static void prompt(struct chat *c)
{
	if (c->repl && isatty(STDIN_FILENO)) {
		fputs("> ", stdout);
		fflush(stdout);
	}
}

static void drain(struct chat *c);

static void on_done(const struct agent_result *r, void *arg)
{
	struct chat *c = arg;

	c->turn = NULL;
	if (r->stop == AGENT_FAILED) {
		fprintf(stderr, "hermetic: %s\n", r->text);
		c->rc = 1;
	} else if (r->stop == AGENT_CANCELLED) {
		fprintf(stderr, "(cancelled)\n");
		c->rc = 1;
	} else {
		printf("%s\n", r->text);
		fflush(stdout);
		c->rc = 0;
	}
	fprintf(stderr,
		"[session %lld, model %s: %d model call%s, %d tool call%s, %lld prompt + %lld "
		"completion tokens, $%.6f%s%s]\n",
		(long long)r->session_id, r->model, r->model_calls, r->model_calls == 1 ? "" : "s",
		r->tool_calls, r->tool_calls == 1 ? "" : "s", (long long)r->prompt_tokens,
		(long long)r->completion_tokens, r->cost_usd, r->compressions ? ", compressed" : "",
		r->stop != AGENT_DONE ? (r->stop == AGENT_FAILED ? ", failed" : ", stopped") : "");
	if (!c->repl || c->quit) {
		loop_stop(c->loop);
		return;
	}
	prompt(c);
	drain(c);
	if (!c->turn && !c->eof && !c->quit)
		event_add(c->input, c->input_tv);
}

static const struct agent_cbs chat_cbs = {
	.on_tool_call = on_tool_call, .on_tool_result = on_tool_result, .on_done = on_done};

static int start_turn(struct chat *c, const char *text, bool fresh)
{
	struct agent_turn_opts o = {.source = SOURCE, .model = c->model, .fresh = fresh};
	int rc = agent_turn(c->agent, &o, text, &chat_cbs, c, &c->turn);

	if (rc < 0) {
		fprintf(stderr, "hermetic: the turn could not start (%s)\n", strerror(-rc));
		c->rc = 1;
	}
	return rc;
}

static void print_usage(struct chat *c)
{
	struct session_info si;
	int rc = sessions_current(c->store, SOURCE, 0, &si);

	if (rc < 0) {
		printf("no session yet\n");
		return;
	}
	printf("session %lld (%s): %lld turns, %lld messages, %lld prompt + %lld completion "
	       "tokens, $%.6f\n",
	       (long long)si.id, si.model ? si.model : c->cfg->model, (long long)si.turns,
	       (long long)si.n_messages, (long long)si.prompt_tokens,
	       (long long)si.completion_tokens, si.cost_usd);
	session_info_finish(&si);
}

/* Returns true when the line was a command (handled here). */
static bool command(struct chat *c, const char *line)
{
	if (line[0] != '/')
		return false;
	if (strcmp(line, "/quit") == 0 || strcmp(line, "/exit") == 0) {
		c->quit = true;
	} else if (strcmp(line, "/new") == 0 || strcmp(line, "/reset") == 0) {
		agent_reset(c->agent, SOURCE);
		printf("new session\n");
	} else if (strncmp(line, "/model ", 7) == 0) {
		const char *m = line + 7;

		int rc = agent_set_model(c->agent, SOURCE, m);

		if (rc == -EPERM) {
			printf("\"%s\" is outside this session's lane; its turns stay with the "
			       "lane's "
			       "groups (/model unchanged)\n",
			       m);
		} else if (rc < 0) {
			printf("no model \"%s\"; model_list has:", m);
			for (size_t i = 0; i < c->cfg->n_model_groups; i++)
				printf(" %s", c->cfg->model_groups[i]);
			printf("\n");
		} else {
			free(c->model);
			c->model = xstrdup(m);
			printf("model: %s\n", m);
		}
	} else if (strcmp(line, "/usage") == 0) {
		print_usage(c);
	} else {
		printf("commands: /new, /model NAME, /usage, /quit\n");
	}
	return true;
}

static void on_line(struct chat *c, char *line)
{
	size_t n = strlen(line);

	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' '))
		line[--n] = '\0';
	if (n == 0 || command(c, line)) {
		if (!c->quit && !c->eof)
			prompt(c);
		return;
	}
	if (start_turn(c, line, false) == 0)
		event_del(c->input);
}

/* Runs the complete lines read so far, until one starts a turn. At end of input with
 * nothing left, the REPL ends. */
static void drain(struct chat *c)
{
	char *nl;

	while (!c->turn && !c->quit && (nl = memchr(c->line.data, '\n', c->line.len))) {
		char *line = xstrndup(c->line.data, (size_t)(nl - c->line.data));

		buf_consume(&c->line, (size_t)(nl - c->line.data) + 1);
		on_line(c, line);
		free(line);
	}
	if (!c->turn && (c->quit || c->eof))
		loop_stop(c->loop);
}

static void on_input(evutil_socket_t fd, short what, void *arg)
{
	struct chat *c = arg;
	char chunk[4096];
	ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));

	if (n <= 0) {
		c->eof = true;
		event_del(c->input);
		if (c->line.len && c->line.data[c->line.len - 1] != '\n')
			buf_puts(&c->line, "\n");
	} else if (buf_append(&c->line, chunk, (size_t)n) < 0) {
		fprintf(stderr, "hermetic: line longer than %d bytes ignored\n", LINE_MAX_BYTES);
		buf_reset(&c->line);
	}
	drain(c);
}

static void on_sigint(int signo, void *arg)
{
	struct chat *c = arg;

	if (c->turn && !c->interrupted) {
		c->interrupted = true;
		agent_cancel(c->turn);
		return;
	}
	c->quit = true;
	c->rc = 130;
	loop_stop(c->loop);
}

/* MCP servers get their connect timeout to come up before the first turn, so the model sees
 * their tools; a server that fails is reported and left out. */
static void wait_for_mcp(struct chat *c)
{
	if (!c->cfg->n_mcp_servers || !(c->cfg->toolsets & CONFIG_TOOLSET_MCP))
		return;
	mcp_start_and_wait(c->mcp);
	for (size_t i = 0; i < mcp_n_servers(c->mcp); i++) {
		struct mcp_server_info si;

		mcp_server_info(c->mcp, i, &si);
		if (strcmp(si.state, "connected") != 0)
			fprintf(stderr,
				"hermetic: MCP server %s is %s%s%s; its tools are left out\n",
				si.name, si.state, si.error ? ": " : "", si.error ? si.error : "");
	}
}

static int open_all(struct chat *c)
{
	char *db = xasprintf("%s/state.db", c->cfg->home);
	char err[512];
	int rc;

	if (mkdir(c->cfg->home, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "hermetic: data directory %s: %s (set home: or HERMETIC_HOME)\n",
			c->cfg->home, strerror(errno));
		free(db);
		return -1;
	}
	rc = store_open(db, &c->store, err, sizeof(err));
	free(db);
	if (rc < 0) {
		fprintf(stderr, "hermetic: %s\n", err);
		return -1;
	}
	c->loop = loop_create();
	if (!c->loop)
		return -1;
	c->spend = spend_create(c->store, c->cfg);
	c->metrics = metrics_create();
	c->router = router_create(c->cfg, c->loop, c->spend, c->metrics);
	c->mcp = mcp_create(c->cfg, c->loop, NULL, false);
	cli_mcp_oauth_prepare(c->cfg, c->loop, c->mcp);
	wait_for_mcp(c);
	c->tools = tools_create(&(struct tools_env){c->cfg, c->loop, c->store, c->mcp});
	c->agent =
		agent_create(&(struct agent_env){c->cfg, c->loop, c->router, c->tools, c->store});
	return 0;
}

static void close_all(struct chat *c)
{
	if (c->input)
		event_free(c->input);
	agent_destroy(c->agent);
	tools_destroy(c->tools);
	mcp_destroy(c->mcp);
	router_destroy(c->router);
	spend_destroy(c->spend);
	metrics_destroy(c->metrics);
	loop_destroy(c->loop);
	store_close(c->store);
	buf_finish(&c->line);
	free(c->model);
}

int cli_chat(const struct config *cfg, const char *prompt_text, const char *model, bool local)
{
	struct chat c = {.cfg = cfg, .rc = 0, .repl = prompt_text == NULL};

	if (!cfg->model) {
		fprintf(stderr, "hermetic: no model: add a model_list to the config\n");
		return 1;
	}
	/* A running gateway owns the rate pools: its turns share them (cli_chat_gw.h). */
	if (!local && cli_chat_gw_probe(cfg))
		return cli_chat_gw(cfg, prompt_text, model);
	c.model = xstrdup(model);
	buf_init(&c.line, LINE_MAX_BYTES);
	if (open_all(&c) < 0) {
		close_all(&c);
		return 1;
	}
	loop_on_signal(c.loop, SIGINT, on_sigint, &c);
	/* Everything is open: from here on the process is sealed (Landlock, then seccomp). */
	if (sandbox_seal(cfg) < 0) {
		close_all(&c);
		return 1;
	}
	store_start_checkpointer(c.store);
	if (!c.repl) {
		if (start_turn(&c, prompt_text, true) == 0)
			loop_run(c.loop);
	} else {
		c.input = event_new(loop_base(c.loop), STDIN_FILENO, EV_READ | EV_PERSIST, on_input,
				    &c);
		if (event_add(c.input, NULL) < 0) {
			/* epoll refuses regular files (`chat < questions.txt`): they never
			 * block, so a zero timer reads them instead. */
			event_free(c.input);
			c.input_tv = &c.zero;
			c.input = event_new(loop_base(c.loop), -1, EV_PERSIST, on_input, &c);
			event_add(c.input, c.input_tv);
		}
		prompt(&c);
		loop_run(c.loop);
	}
	close_all(&c);
	return c.rc;
}

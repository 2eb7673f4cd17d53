/* mcp/transport_stdio: an MCP server as a child process speaking newline-delimited JSON-RPC
 * on stdin/stdout; its stderr lines go to our log, and the last few (a bounded ring) are shown
 * under the error when the server fails (a server that exits at start says why there). The child
 * gets a filtered environment (PATH, HOME, LANG, TZ plus the server's `env`). Command, args and
 * environment of every stdio server are handed to the process launcher once, before the sandbox
 * seals (mcp_stdio_launcher_start); a connect asks it for the server's index only. Shutdown closes
 * stdin, then SIGTERM, then SIGKILL (spawn.c), and the child is always reaped.
 *
 * Reading is done with plain non-blocking read(2) on libevent events into capped line
 * buffers; a report to the core may close this transport, so the state is only freed after
 * the callback that caused it has returned.
 */
#include "core/config.h"
#include "core/log.h"
#include "core/loop.h"
#include "mcp/mcp_big.h"
#include "mcp/transport.h"
#include "sandbox/spawn.h"
#include "core/util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define STDERR_LINE_CAP 4096
#define GRACE_MS	1000
#define TAIL_LINES	8
#define TAIL_BYTES	2048
#define TAIL_LINE_MAX	512

struct stdio_t {
	struct mcp_server *s;
	struct spawn *sp;
	struct event *ev_out, *ev_err, *ev_in, *ev_ready;
	struct evbuffer *wbuf;
	struct buf out_line, err_line;
	struct mcp_big *big;	/* the line being read is over MCP_FRAME_CAP: it streams */
	char *tail[TAIL_LINES]; /* the last stderr lines, oldest first */
	size_t n_tail, tail_bytes;
	int busy;
	bool dead, broken;
};

static void destroy(struct stdio_t *t)
{
	if (t->ev_out)
		event_free(t->ev_out);
	if (t->ev_err)
		event_free(t->ev_err);
	if (t->ev_in)
		event_free(t->ev_in);
	if (t->ev_ready)
		event_free(t->ev_ready);
	if (t->wbuf)
		evbuffer_free(t->wbuf);
	buf_finish(&t->out_line);
	buf_finish(&t->err_line);
	mcp_big_destroy(t->big);
	while (t->n_tail)
		free(t->tail[--t->n_tail]);
	free(t);
}

/* Keeps line in the ring of the last TAIL_LINES lines (TAIL_BYTES in all). */
static void remember(struct stdio_t *t, const char *line)
{
	char *copy = xstrndup(line, strnlen(line, TAIL_LINE_MAX));
	size_t len = strlen(copy);

	/* A line cut inside a UTF-8 character loses that character's first bytes too. */
	if (len == TAIL_LINE_MAX && ((unsigned char)line[len] & 0xC0) == 0x80) {
		while (len && ((unsigned char)copy[len - 1] & 0xC0) == 0x80)
			len--;
		if (len)
			len--; /* its lead byte */
		copy[len] = '\0';
	}

	while (t->n_tail == TAIL_LINES || (t->n_tail && t->tail_bytes + len > TAIL_BYTES)) {
		t->tail_bytes -= strlen(t->tail[0]);
		free(t->tail[0]);
		memmove(t->tail, t->tail + 1, --t->n_tail * sizeof(t->tail[0]));
	}
	t->tail_bytes += len;
	t->tail[t->n_tail++] = copy;
}

/* Ends a callback: frees the state if close() ran meanwhile. */
static bool leave(struct stdio_t *t)
{
	t->busy--;
	if (t->dead && !t->busy) {
		destroy(t);
		return false;
	}
	return !t->dead;
}

/* The core handles the failure from the loop; nothing more is written meanwhile. */
static void fail(struct stdio_t *t, const char *why)
{
	if (t->dead)
		return;
	t->broken = true;
	mcp_transport_failed(t->s, why);
}

/* Splits buffered bytes into lines; returns false when the transport died meanwhile. */
static bool take_lines(struct stdio_t *t, struct buf *b, bool is_err)
{
	char *nl;

	while (!t->dead && (nl = memchr(b->data, '\n', b->len))) {
		size_t n = (size_t)(nl - b->data);

		b->data[n] = '\0';
		if (n && b->data[n - 1] == '\r')
			b->data[--n] = '\0';
		if (is_err && n) {
			log_info("mcp %s stderr: %s", mcp_server_name(t->s), b->data);
			remember(t, b->data);
		} else if (n)
			mcp_transport_message(t->s, b->data, n);
		if (!t->dead)
			buf_consume(b, (size_t)(nl - b->data) + 1);
	}
	return !t->dead;
}

/* The line outgrew MCP_FRAME_CAP: what it holds so far and the rest stream through mcp_big,
 * and the line's buffer is given back (a 50 MB line costs no 50 MB). */
static void start_big(struct stdio_t *t)
{
	t->big = mcp_big_create_for(t->s);
	mcp_big_feed(t->big, t->out_line.data, t->out_line.len);
	buf_finish(&t->out_line);
	buf_init(&t->out_line, MCP_FRAME_CAP);
}

/* stdout's bytes: lines up to MCP_FRAME_CAP are buffered and handed over whole, longer ones
 * stream. An error in a streamed line (past agent.tool_output.max_bytes, not JSON) breaks the
 * connection: its end may never come. */
static void take_stdout(struct stdio_t *t, const char *p, size_t n)
{
	mcp_transport_heard(t->s);
	while (n && !t->dead && !t->broken) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) + 1 : n;

		if (!t->big && t->out_line.len + seg > MCP_FRAME_CAP)
			start_big(t);
		if (t->big) {
			if (mcp_big_feed(t->big, p, nl ? seg - 1 : seg) < 0) {
				char why[256];

				mcp_big_failure(t->big, why, sizeof(why));
				fail(t, why);
				return;
			}
			if (nl)
				mcp_big_hand_over(&t->big, t->s);
		} else {
			buf_append(&t->out_line, p, seg);
			if (nl)
				take_lines(t, &t->out_line, false);
		}
		p += seg;
		n -= seg;
	}
}

static void on_readable(evutil_socket_t fd, short what, void *arg, bool is_err)
{
	struct stdio_t *t = arg;
	struct buf *b = is_err ? &t->err_line : &t->out_line;
	char chunk[16384];
	ssize_t n;

	t->busy++;
	n = read(fd, chunk, sizeof(chunk));
	if (n > 0 && !is_err) {
		take_stdout(t, chunk, (size_t)n);
	} else if (n > 0) {
		if (buf_append(b, chunk, (size_t)n) < 0) {
			/* Redact before cutting: a secret cut in half is not recognised by the
			 * logger any more. */
			char *clean = log_redact(buf_str(b));
			char *cut = utf8_clip_dup(clean, 200, true);

			log_info("mcp %s stderr: %s (long line cut)", mcp_server_name(t->s), cut);
			free(cut);
			free(clean);
			buf_reset(b);
		}
		take_lines(t, b, is_err);
	} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		event_del(is_err ? t->ev_err : t->ev_out);
		if (!is_err)
			fail(t, "the server closed its stdout");
	}
	leave(t);
}

static void on_stdout(evutil_socket_t fd, short what, void *arg)
{
	on_readable(fd, what, arg, false);
}

static void on_stderr(evutil_socket_t fd, short what, void *arg)
{
	on_readable(fd, what, arg, true);
}

static void flush(struct stdio_t *t)
{
	int fd = t->sp ? spawn_stdin_fd(t->sp) : -1;

	if (fd < 0 || t->broken)
		return;
	while (evbuffer_get_length(t->wbuf) > 0) {
		int n = evbuffer_write(t->wbuf, fd);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			event_add(t->ev_in, NULL);
			return;
		}
		if (n <= 0) {
			evbuffer_drain(t->wbuf, evbuffer_get_length(t->wbuf));
			fail(t, n < 0 && errno == EPIPE
					? "the server closed its stdin"
					: "writing to the server's stdin failed (it exited?)");
			return;
		}
	}
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	struct stdio_t *t = arg;

	t->busy++;
	flush(t);
	leave(t);
}

/* Reads what is left in the stderr pipe without blocking (bounded): the exit report or a
 * closed stdout can arrive before the child's last words are read. */
static void drain_stderr(struct stdio_t *t, int fd)
{
	char chunk[4096];
	ssize_t n;
	int rounds;

	for (rounds = 0; fd >= 0 && rounds < 16; rounds++) {
		n = read(fd, chunk, sizeof(chunk));
		if (n <= 0)
			break;
		if (buf_append(&t->err_line, chunk, (size_t)n) < 0)
			buf_reset(&t->err_line);
		t->busy++;
		take_lines(t, &t->err_line, true);
		t->busy--;
	}
}

static void on_exit_cb(struct spawn *sp, int status, void *arg)
{
	struct stdio_t *t = arg;
	char why[128];

	if (WIFEXITED(status))
		snprintf(why, sizeof(why), "the server process exited with status %d",
			 WEXITSTATUS(status));
	else
		snprintf(why, sizeof(why), "the server process was killed by signal %d",
			 WTERMSIG(status));
	t->busy++;
	drain_stderr(t, spawn_stderr_fd(t->sp));
	spawn_free(t->sp);
	t->sp = NULL;
	fail(t, why);
	leave(t);
}

static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	struct stdio_t *t = arg;

	t->busy++;
	mcp_transport_ready(t->s);
	leave(t);
}

/* The server's program for the launcher's table: its command, argv and environment
 * (malloc'd; free with free_prog). */
static void server_prog(const struct config_mcp_server *c, struct spawn_prog *p)
{
	const char **names = xcalloc(c->n_env + 1, sizeof(char *));
	const char **values = xcalloc(c->n_env + 1, sizeof(char *));
	const char **argv = xcalloc(c->n_args + 2, sizeof(char *));
	size_t i;

	for (i = 0; i < c->n_env; i++) {
		names[i] = c->env[i].name;
		values[i] = c->env[i].value;
	}
	argv[0] = c->command;
	for (i = 0; i < c->n_args; i++)
		argv[i + 1] = c->args[i];
	p->path = c->command;
	p->argv = argv;
	p->env = (const char *const *)spawn_env(names, values, c->n_env);
	free(names);
	free(values);
}

int mcp_stdio_launcher_start(const struct config *cfg, char *err, size_t err_len)
{
	struct spawn_prog *progs = xcalloc(cfg->n_mcp_servers + 1, sizeof(*progs));
	size_t i, n = 0;
	int rc = 0;

	for (i = 0; i < cfg->n_mcp_servers; i++) {
		const struct config_mcp_server *c = &cfg->mcp_servers[i];

		if (c->enabled && c->transport == CONFIG_MCP_STDIO) {
			server_prog(c, &progs[i]);
			n++;
		}
	}
	if (n)
		rc = spawn_launcher_start(progs, cfg->n_mcp_servers, err, err_len);
	for (i = 0; i < cfg->n_mcp_servers; i++) {
		free((void *)progs[i].argv);
		spawn_env_free((char **)progs[i].env);
	}
	free(progs);
	return rc;
}

static int open_stdio(struct mcp_server *s)
{
	struct event_base *base = loop_base(mcp_server_loop(s));
	struct stdio_t *t = xcalloc(1, sizeof(*t));
	struct spawn_opts o = {0};
	char err[256];
	int rc;

	o.prog = mcp_server_index(s);
	o.on_exit = on_exit_cb;
	o.arg = t;
	t->s = s;
	buf_init(&t->out_line, MCP_FRAME_CAP);
	buf_init(&t->err_line, STDERR_LINE_CAP);
	t->wbuf = evbuffer_new();
	rc = spawn_start(mcp_server_loop(s), &o, &t->sp, err, sizeof(err));
	if (rc < 0) {
		log_warn("mcp %s: %s", mcp_server_name(s), err);
		destroy(t);
		return rc;
	}
	t->ev_out = event_new(base, spawn_stdout_fd(t->sp), EV_READ | EV_PERSIST, on_stdout, t);
	t->ev_err = event_new(base, spawn_stderr_fd(t->sp), EV_READ | EV_PERSIST, on_stderr, t);
	t->ev_in = event_new(base, spawn_stdin_fd(t->sp), EV_WRITE, on_writable, t);
	t->ev_ready = evtimer_new(base, on_ready, t);
	event_add(t->ev_out, NULL);
	event_add(t->ev_err, NULL);
	mcp_server_set_transport_state(s, t);
	/* Ready at once: stdio servers read stdin from the start (reported from the loop). */
	event_active(t->ev_ready, EV_TIMEOUT, 0);
	return 0;
}

static int send_stdio(struct mcp_server *s, const char *json, size_t len, int64_t id)
{
	struct stdio_t *t = mcp_server_transport_state(s);

	if (!t || t->dead || !t->sp || t->broken)
		return -EPIPE;
	evbuffer_add(t->wbuf, json, len);
	evbuffer_add(t->wbuf, "\n", 1);
	flush(t);
	return 0;
}

static void abandon_stdio(struct mcp_server *s, int64_t id)
{
	/* A line protocol has no per-request stream to close: notifications/cancelled is all. */
}

static void close_stdio(struct mcp_server *s, bool graceful)
{
	struct stdio_t *t = mcp_server_transport_state(s);

	if (!t)
		return;
	mcp_server_set_transport_state(s, NULL);
	t->dead = true;
	event_del(t->ev_out);
	event_del(t->ev_err);
	event_del(t->ev_in);
	event_del(t->ev_ready);
	if (t->sp) {
		if (graceful)
			spawn_free(t->sp); /* shutdown: bounded wait, then signals */
		else
			spawn_abandon(t->sp, GRACE_MS);
		t->sp = NULL;
	}
	if (!t->busy)
		destroy(t);
}

static int reset_stdio(struct mcp_server *s)
{
	return -ENOTSUP; /* the session is the process: the core starts it anew */
}

/* Takes what the child wrote to stderr but we have not read yet (it may have exited a moment
 * ago), then its last lines. */
static char *last_words_stdio(struct mcp_server *s)
{
	struct stdio_t *t = mcp_server_transport_state(s);
	int fd = t && t->sp ? spawn_stderr_fd(t->sp) : -1;
	struct buf out;
	size_t i;

	if (!t)
		return NULL;
	drain_stderr(t, fd);
	if (t->err_line.len) { /* a last line without its newline */
		remember(t, buf_str(&t->err_line));
		buf_reset(&t->err_line);
	}
	if (!t->n_tail)
		return NULL;
	buf_init(&out, 0);
	buf_puts(&out, "its stderr ended with:");
	for (i = 0; i < t->n_tail; i++)
		buf_printf(&out, "\n  %s", t->tail[i]);
	return buf_steal(&out);
}

static void initialized_stdio(struct mcp_server *s)
{
}

const struct mcp_transport_ops mcp_transport_stdio = {
	.name = "stdio",
	.open = open_stdio,
	.send = send_stdio,
	.abandon = abandon_stdio,
	.close = close_stdio,
	.reset_session = reset_stdio,
	.initialized = initialized_stdio,
	.last_words = last_words_stdio,
};

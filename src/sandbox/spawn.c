/* spawn: children with three pipes, started by the launcher process (launcher.c) so the main
 * process never forks or execs and can run under the seccomp filter.
 *
 * spawn_launcher_start() copies the table of programs and forks the launcher with it; from
 * then on a child is named by its index in the table. spawn_start() creates the pipes here,
 * resolves the program's executable against our PATH (so a bad command is still a clear
 * error at once) and sends the index and the child's pipe ends to the launcher in one packet;
 * it does not wait for an answer. The launcher reports the pid
 * and, later, the wait status; both arrive on the loop as packets on a non-blocking socket, so
 * the on_exit contract (exactly once, from the loop) is what the SIGCHLD reaper gave before.
 * Signals go through the launcher by child id, which cannot hit a recycled pid.
 * The child gets exactly the environment it is given and no other descriptor.
 */
#include "sandbox/spawn.h"
#include "sandbox/launcher.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct spawn {
	struct spawn *next;
	struct loop *loop;
	uint32_t id;
	pid_t pid; /* -1 until the launcher reports it */
	int in_fd, out_fd, err_fd;
	spawn_exit_cb on_exit;
	void *arg;
	bool exited;
	int status;
	char *path; /* for the message when execve fails */
	struct event *kill_timer;
	int stop_stage; /* 0 none, 1 stdin closed, 2 SIGTERM sent, 3 SIGKILL sent */
	int grace_ms;
};

/* The launcher, shared by every spawn of the process. */
static struct {
	pid_t pid;
	int fd;
	uint32_t next_id;
	bool closed;		     /* spawn_launcher_close() was called */
	bool reaped;		     /* a launcher that died was waited for */
	struct loop *loop;	     /* the loop that reads its reports */
	struct event *ev;	     /* reports readable */
	struct event *late;	     /* exits read outside the loop, dispatched from it */
	struct launcher_prog *progs; /* our copy of the launcher's table */
	size_t n_progs;
} L = {.pid = -1, .fd = -1};

static struct spawn *children; /* started, not yet exited */
static struct spawn *late;     /* exited while a shutdown wait read reports */

static struct spawn *find(uint32_t id)
{
	struct spawn *sp;

	for (sp = children; sp; sp = sp->next)
		if (sp->id == id)
			return sp;
	return NULL;
}

static void unlink_child(struct spawn *sp)
{
	struct spawn **pp;

	for (pp = &children; *pp; pp = &(*pp)->next) {
		if (*pp == sp) {
			*pp = sp->next;
			return;
		}
	}
}

static void dispatch_exit(struct spawn *sp)
{
	if (sp->kill_timer)
		evtimer_del(sp->kill_timer);
	sp->on_exit(sp, sp->status, sp->arg);
}

/* Marks sp exited; dispatches at once from the loop, or later when dispatch is false. */
static void exited(struct spawn *sp, int status, int err, bool dispatch)
{
	unlink_child(sp);
	sp->exited = true;
	sp->status = status;
	if (err)
		log_warn("cannot run %s: %s", sp->path, strerror(err));
	if (dispatch) {
		dispatch_exit(sp);
		return;
	}
	sp->next = late;
	late = sp;
	if (L.late)
		event_active(L.late, EV_TIMEOUT, 0);
}

/* With no child left, lets go of the loop's events: the loop may be destroyed next. */
static void unwatch(void)
{
	if (children || late)
		return;
	if (L.ev)
		event_free(L.ev);
	if (L.late)
		event_free(L.late);
	L.ev = NULL;
	L.late = NULL;
	L.loop = NULL;
}

static void on_late(evutil_socket_t fd, short what, void *arg)
{
	struct spawn *sp;

	while ((sp = late)) {
		late = sp->next;
		sp->next = NULL;
		dispatch_exit(sp);
	}
	unwatch();
}

/* Waits for a launcher that is exiting, for at most ms: it closes its socket (our EOF) a
 * moment before it becomes a zombie, so a single WNOHANG can come too early and leave it a
 * zombie for good. This happens once per process, with the exit already under way. */
static void reap_launcher(int ms)
{
	struct timespec tick = {0, 1000000};
	pid_t r;
	int i;

	for (i = 0; L.pid > 0 && !L.reaped; i++) {
		r = waitpid(L.pid, NULL, WNOHANG);
		if (r == L.pid || (r < 0 && errno != EINTR))
			L.reaped = true;
		else if (i >= ms)
			break;
		else if (r == 0)
			nanosleep(&tick, NULL);
	}
}

/* The launcher is gone: its children lose their parent and see EOF once we close our ends. */
static void launcher_lost(bool dispatch)
{
	struct spawn *sp;

	log_error("the process launcher exited; stdio MCP servers cannot be started any more");
	if (L.ev)
		event_del(L.ev);
	close(L.fd); /* EOF for a launcher that sent garbage but still runs: it exits */
	L.fd = -1;
	reap_launcher(50);
	while ((sp = children))
		exited(sp, SIGKILL, 0, dispatch);
}

/* Reads one report without blocking. Returns 1 when one was handled, 0 when none was
 * waiting, -1 when the launcher is gone. */
static int read_report(bool dispatch)
{
	struct launcher_rep r;
	struct spawn *sp;
	ssize_t n;

	n = recv(L.fd, &r, sizeof(r), MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != (ssize_t)sizeof(r))
		return -1; /* EOF, an error, or a packet that is not ours */
	sp = find(r.id);
	if (!sp)
		return 1; /* freed while it ran (shutdown) */
	if (r.type == LAUNCHER_STARTED)
		sp->pid = r.pid;
	else if (r.type == LAUNCHER_EXITED)
		exited(sp, r.status, r.err, dispatch);
	return 1;
}

static void on_reports(evutil_socket_t fd, short what, void *arg)
{
	int i, rc = 1;

	/* Bounded per wake-up so a flood cannot starve the loop; level-triggered, we come back. */
	for (i = 0; i < 64 && L.fd >= 0 && rc > 0; i++) {
		rc = read_report(true);
		if (rc < 0)
			launcher_lost(true);
	}
	unwatch();
}

/* A NULL-terminated copy of list. */
static char **copy_list(const char *const *list)
{
	size_t i, n = 0;
	char **out;

	while (list && list[n])
		n++;
	out = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++)
		out[i] = xstrdup(list[i]);
	return out;
}

static void free_list(char *const *list)
{
	size_t i;

	for (i = 0; list && list[i]; i++)
		free(list[i]);
	free((void *)list);
}

static void set_table(const struct spawn_prog *progs, size_t n)
{
	size_t i;

	L.progs = xcalloc(n ? n : 1, sizeof(*L.progs));
	L.n_progs = n;
	for (i = 0; i < n; i++) {
		if (!progs[i].path)
			continue;
		L.progs[i].path = xstrdup(progs[i].path);
		L.progs[i].argv = copy_list(progs[i].argv);
		L.progs[i].env = copy_list(progs[i].env);
	}
}

static void free_table(void)
{
	size_t i;

	for (i = 0; i < L.n_progs; i++) {
		free((void *)L.progs[i].path);
		free_list(L.progs[i].argv);
		free_list(L.progs[i].env);
	}
	free(L.progs);
	L.progs = NULL;
	L.n_progs = 0;
}

/* Why no child can start: there is no launcher, or it has exited. Returns -ECHILD. */
static int no_launcher(char *err, size_t err_len)
{
	reap_launcher(0);
	snprintf(err, err_len,
		 L.pid > 0 ? "the process launcher has exited; restart hermetic"
			   : "no process launcher: it is started with the configured stdio servers "
			     "before the sandbox closes");
	return -ECHILD;
}

int spawn_launcher_start(const struct spawn_prog *progs, size_t n, char *err, size_t err_len)
{
	int fd, fl;
	pid_t pid;

	if (L.fd >= 0) {
		snprintf(err, err_len, "the process launcher is already running");
		return -EBUSY;
	}
	/* Forking now would run into the filter; a launcher that died stays dead. */
	if (L.closed || L.pid > 0)
		return no_launcher(err, err_len);
	/* A child that closes its stdin must not kill us when we write to it: the write fails
	 * with EPIPE instead. Set here, before any sandbox seals the signal calls. */
	signal(SIGPIPE, SIG_IGN);
	set_table(progs, n);
	pid = launcher_fork(L.progs, L.n_progs, &fd);
	if (pid < 0) {
		free_table();
		snprintf(err, err_len, "cannot start the process launcher: %s", strerror(-pid));
		return (int)pid;
	}
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	L.pid = pid;
	L.fd = fd;
	log_debug("process launcher started as pid %d", (int)pid);
	return 0;
}

void spawn_launcher_close(void)
{
	L.closed = true;
}

static int watch(struct loop *l, char *err, size_t err_len)
{
	if (L.loop == l)
		return 0;
	/* Another loop still has children: they keep reporting there (one loop per process). */
	if (L.loop && (children || late)) {
		snprintf(err, err_len, "child processes are already watched by another loop");
		return -EBUSY;
	}
	if (L.ev)
		event_free(L.ev);
	if (L.late)
		event_free(L.late);
	L.ev = event_new(loop_base(l), L.fd, EV_READ | EV_PERSIST, on_reports, NULL);
	L.late = event_new(loop_base(l), -1, 0, on_late, NULL);
	if (!L.ev || !L.late || event_add(L.ev, NULL) < 0) {
		snprintf(err, err_len, "cannot watch the process launcher");
		return -EIO;
	}
	L.loop = l;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static bool executable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* path if it has a '/', else the first executable PATH entry (execvp's search). Returns a
 * malloc'd path or NULL with errno set. */
static char *resolve(const char *path)
{
	const char *p = getenv("PATH"), *end;
	char *cand;

	if (strchr(path, '/')) {
		if (access(path, X_OK) < 0)
			return NULL;
		return xstrdup(path);
	}
	if (!p)
		p = "/usr/local/bin:/bin:/usr/bin";
	for (; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		cand = end == p ? xasprintf("./%s", path)
				: xasprintf("%.*s/%s", (int)(end - p), p, path);
		if (executable(cand))
			return cand;
		free(cand);
	}
	errno = ENOENT;
	return NULL;
}

static int send_start(uint32_t id, const struct spawn_opts *o, const char *path, int fds[3],
		      char *err, size_t err_len)
{
	struct launcher_req rq = {.type = LAUNCHER_START, .id = id, .prog = (uint32_t)o->prog};
	int rc = launcher_send(L.fd, &rq, sizeof(rq), fds, MSG_DONTWAIT);

	if (rc < 0)
		snprintf(err, err_len,
			 "cannot run %s: the process launcher does not accept it (%s)", path,
			 strerror(-rc));
	return rc;
}

int spawn_start(struct loop *l, const struct spawn_opts *o, struct spawn **out, char *err,
		size_t err_len)
{
	int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, fds[3];
	struct spawn *sp;
	char *path = NULL;
	int rc;

	if (L.fd < 0)
		return no_launcher(err, err_len);
	if (o->prog >= L.n_progs || !L.progs[o->prog].path) {
		snprintf(err, err_len, "program %zu is not one the process launcher was given",
			 o->prog);
		return -EPERM;
	}
	rc = watch(l, err, err_len);
	if (rc < 0)
		return rc;
	path = resolve(L.progs[o->prog].path);
	if (!path) {
		rc = -errno;
		snprintf(err, err_len, "cannot run %s: %s", L.progs[o->prog].path, strerror(errno));
		return rc;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, err_len, "pipe: %s", strerror(errno));
		goto fail;
	}
	fds[0] = in[0];
	fds[1] = outp[1];
	fds[2] = errp[1];
	if (L.next_id == 0)
		L.next_id = 1;
	rc = send_start(L.next_id, o, path, fds, err, err_len);
	if (rc < 0)
		goto fail;
	close_fd(&in[0]);
	close_fd(&outp[1]);
	close_fd(&errp[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	fcntl(outp[0], F_SETFL, O_NONBLOCK);
	fcntl(errp[0], F_SETFL, O_NONBLOCK);
	sp = xcalloc(1, sizeof(*sp));
	sp->loop = l;
	sp->id = L.next_id++;
	sp->pid = -1;
	sp->path = path;
	sp->in_fd = in[1];
	sp->out_fd = outp[0];
	sp->err_fd = errp[0];
	sp->on_exit = o->on_exit;
	sp->arg = o->arg;
	sp->next = children;
	children = sp;
	*out = sp;
	return 0;
fail:
	free(path);
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	return rc;
}

int spawn_stdin_fd(const struct spawn *sp)
{
	return sp->in_fd;
}

int spawn_stdout_fd(const struct spawn *sp)
{
	return sp->out_fd;
}

int spawn_stderr_fd(const struct spawn *sp)
{
	return sp->err_fd;
}

int spawn_launcher_sock(void)
{
	return L.fd;
}

pid_t spawn_pid(const struct spawn *sp)
{
	return sp->pid;
}

void spawn_close_stdin(struct spawn *sp)
{
	close_fd(&sp->in_fd);
}

/* Asks the launcher to signal the child (a no-op once it has been reaped). */
static void signal_child(struct spawn *sp, int sig)
{
	struct launcher_req rq = {.type = LAUNCHER_KILL, .id = sp->id, .sig = sig};

	if (L.fd >= 0 && send(L.fd, &rq, sizeof(rq), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		log_warn("cannot signal child %d: %s", (int)sp->pid, strerror(errno));
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
	struct spawn *sp = arg;
	struct timeval tv = {sp->grace_ms / 1000, (sp->grace_ms % 1000) * 1000};

	if (sp->exited)
		return;
	if (sp->stop_stage == 1) {
		sp->stop_stage = 2;
		signal_child(sp, SIGTERM);
		evtimer_add(sp->kill_timer, &tv);
	} else if (sp->stop_stage == 2) {
		sp->stop_stage = 3;
		log_warn("child %d ignored SIGTERM; killing it", (int)sp->pid);
		signal_child(sp, SIGKILL);
	}
}

void spawn_stop(struct spawn *sp, int grace_ms)
{
	struct timeval tv = {grace_ms / 1000, (grace_ms % 1000) * 1000};

	if (sp->exited || sp->stop_stage)
		return;
	sp->grace_ms = grace_ms;
	sp->stop_stage = 1;
	spawn_close_stdin(sp);
	if (!sp->kill_timer)
		sp->kill_timer = evtimer_new(loop_base(sp->loop), on_kill_timer, sp);
	evtimer_add(sp->kill_timer, &tv);
}

static void free_after_exit(struct spawn *sp, int status, void *arg)
{
	spawn_free(sp);
}

void spawn_abandon(struct spawn *sp, int grace_ms)
{
	if (sp->exited) {
		spawn_free(sp);
		return;
	}
	sp->on_exit = free_after_exit;
	spawn_stop(sp, grace_ms);
}

/* Reads launcher reports for up to ms until sp has exited: only at process shutdown, when the
 * loop no longer runs. Other children's exits are queued for the loop. */
static bool wait_exit(struct spawn *sp, int ms)
{
	struct timespec t0, t;
	struct pollfd p;
	int left = ms, rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!sp->exited && L.fd >= 0 && left > 0) {
		p = (struct pollfd){.fd = L.fd, .events = POLLIN};
		if (poll(&p, 1, left) > 0) {
			while (!sp->exited && L.fd >= 0 && (rc = read_report(false)) > 0)
				;
			if (L.fd >= 0 && rc < 0)
				launcher_lost(false);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms -
		       (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
	}
	return sp->exited;
}

static void drop_late(struct spawn *sp)
{
	struct spawn **pp;

	for (pp = &late; *pp; pp = &(*pp)->next) {
		if (*pp == sp) {
			*pp = sp->next;
			return;
		}
	}
}

/* Reads launcher reports for up to ms until no child is left running (shutdown only). */
static void wait_all(int ms)
{
	struct timespec t0, t;
	struct pollfd p;
	int left = ms, rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (children && L.fd >= 0 && left > 0) {
		p = (struct pollfd){.fd = L.fd, .events = POLLIN};
		if (poll(&p, 1, left) > 0) {
			while (children && L.fd >= 0 && (rc = read_report(false)) > 0)
				;
			if (L.fd >= 0 && rc < 0)
				launcher_lost(false);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms -
		       (int)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
	}
}

void spawn_stop_all(int grace_ms)
{
	struct spawn *sp, *next;

	for (sp = children; sp; sp = sp->next) {
		close_fd(&sp->in_fd);
		signal_child(sp, SIGTERM);
	}
	wait_all(grace_ms);
	for (sp = children; sp; sp = sp->next) {
		log_warn("child %d did not exit on SIGTERM; killing it", (int)sp->pid);
		signal_child(sp, SIGKILL);
	}
	wait_all(grace_ms);
	/* Abandoned children that were reaped now have nobody else to free them. */
	for (sp = late; sp; sp = next) {
		next = sp->next;
		if (sp->on_exit == free_after_exit)
			spawn_free(sp);
	}
	unwatch();
}

void spawn_free(struct spawn *sp)
{
	if (!sp)
		return;
	if (!sp->exited) {
		close_fd(&sp->in_fd);
		if (!wait_exit(sp, 1000)) {
			signal_child(sp, SIGTERM);
			if (!wait_exit(sp, 1000)) {
				signal_child(sp, SIGKILL);
				wait_exit(sp, 1000);
			}
		}
		unlink_child(sp);
	}
	drop_late(sp);
	if (sp->kill_timer)
		event_free(sp->kill_timer);
	close_fd(&sp->in_fd);
	close_fd(&sp->out_fd);
	close_fd(&sp->err_fd);
	free(sp->path);
	free(sp);
	unwatch();
}

/* True when name is one of the n extra names (they override what we pass on). */
static bool overridden(const char *name, const char *const *names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

char **spawn_env(const char *const *extra_names, const char *const *extra_values, size_t n)
{
	static const char *const keep[] = {"PATH", "HOME", "LANG", "TZ"};
	char **env = xcalloc(ARRAY_LEN(keep) + n + 1, sizeof(char *));
	size_t i, k = 0;

	for (i = 0; i < ARRAY_LEN(keep); i++) {
		const char *v = getenv(keep[i]);

		/* A server's own env entry wins: a second PATH= would be ignored by getenv. */
		if (v && !overridden(keep[i], extra_names, n))
			env[k++] = xasprintf("%s=%s", keep[i], v);
	}
	for (i = 0; i < n; i++)
		env[k++] = xasprintf("%s=%s", extra_names[i], extra_values[i]);
	return env;
}

void spawn_env_free(char **env)
{
	char **p;

	if (!env)
		return;
	for (p = env; *p; p++)
		free(*p);
	free(env);
}

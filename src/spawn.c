/* spawn: fork + execve with three pipes. The child gets exactly the environment it is given
 * (no inheritance of hermetic's secrets) and all other descriptors closed by O_CLOEXEC.
 * Exits are collected by one SIGCHLD handler on the loop that reaps with waitpid(WNOHANG)
 * and dispatches by pid. posix_spawn was rejected: it cannot report an execve failure (bad
 * path) back to us as a clear error, which a close-on-exec status pipe does.
 */
#include "spawn.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct spawn {
	struct spawn *next;
	struct loop *loop;
	pid_t pid;
	int in_fd, out_fd, err_fd;
	spawn_exit_cb on_exit;
	void *arg;
	bool exited;
	struct event *kill_timer;
	int stop_stage; /* 0 none, 1 stdin closed, 2 SIGTERM sent, 3 SIGKILL sent */
	int grace_ms;
};

static struct spawn *children;
static struct loop *sigchld_loop; /* the loop whose SIGCHLD handler reaps our children */

static void reap(int signo, void *arg)
{
	struct spawn *sp, **pp;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (pp = &children; (sp = *pp); pp = &sp->next) {
			if (sp->pid != pid)
				continue;
			*pp = sp->next;
			sp->exited = true;
			if (sp->kill_timer)
				evtimer_del(sp->kill_timer);
			sp->on_exit(sp, status, sp->arg);
			break;
		}
	}
}

static int set_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* In the child: wire the pipes to 0/1/2 and exec; on failure write errno to the status pipe. */
static void child(const struct spawn_opts *o, int in[2], int out[2], int err[2], int status_fd)
{
	int e;

	dup2(in[0], 0);
	dup2(out[1], 1);
	dup2(err[1], 2);
	signal(SIGPIPE, SIG_DFL);
	if (strchr(o->path, '/'))
		execve(o->path, (char *const *)o->argv, (char *const *)o->env);
	else
		execvpe(o->path, (char *const *)o->argv, (char *const *)o->env);
	e = errno;
	if (write(status_fd, &e, sizeof(e)) < 0)
		_exit(127);
	_exit(127);
}

int spawn_start(struct loop *l, const struct spawn_opts *o, struct spawn **out, char *err,
		size_t err_len)
{
	int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, st[2] = {-1, -1};
	int child_errno = 0, rc = 0;
	struct spawn *sp;
	pid_t pid;
	ssize_t n;

	if (sigchld_loop != l) {
		if (loop_on_signal(l, SIGCHLD, reap, NULL) < 0) {
			snprintf(err, err_len, "cannot watch child processes (SIGCHLD)");
			return -EIO;
		}
		sigchld_loop = l;
	}
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
	    pipe2(st, O_CLOEXEC) < 0) {
		rc = -errno;
		snprintf(err, err_len, "pipe: %s", strerror(errno));
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		rc = -errno;
		snprintf(err, err_len, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		child(o, in, outp, errp, st[1]);
	close_fd(&st[1]);
	n = read(st[0], &child_errno, sizeof(child_errno));
	close_fd(&st[0]);
	close_fd(&in[0]);
	close_fd(&outp[1]);
	close_fd(&errp[1]);
	if (n == sizeof(child_errno)) {
		waitpid(pid, NULL, 0);
		snprintf(err, err_len, "cannot run %s: %s", o->path, strerror(child_errno));
		rc = -child_errno;
		goto fail;
	}
	set_flags(in[1]);
	set_flags(outp[0]);
	set_flags(errp[0]);
	sp = xcalloc(1, sizeof(*sp));
	sp->loop = l;
	sp->pid = pid;
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
	close_fd(&in[0]);
	close_fd(&in[1]);
	close_fd(&outp[0]);
	close_fd(&outp[1]);
	close_fd(&errp[0]);
	close_fd(&errp[1]);
	close_fd(&st[0]);
	close_fd(&st[1]);
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

pid_t spawn_pid(const struct spawn *sp)
{
	return sp->pid;
}

void spawn_close_stdin(struct spawn *sp)
{
	close_fd(&sp->in_fd);
}

static void on_kill_timer(evutil_socket_t fd, short what, void *arg)
{
	struct spawn *sp = arg;
	struct timeval tv = {sp->grace_ms / 1000, (sp->grace_ms % 1000) * 1000};

	if (sp->exited)
		return;
	if (sp->stop_stage == 1) {
		sp->stop_stage = 2;
		kill(sp->pid, SIGTERM);
		evtimer_add(sp->kill_timer, &tv);
	} else if (sp->stop_stage == 2) {
		sp->stop_stage = 3;
		log_warn("child %d ignored SIGTERM; killing it", (int)sp->pid);
		kill(sp->pid, SIGKILL);
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

/* Waits up to ms for pid, polling: only at process shutdown, when the loop no longer runs. */
static bool wait_exit(pid_t pid, int ms)
{
	int i;

	for (i = 0; i < ms / 10; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return true;
		usleep(10000);
	}
	return false;
}

void spawn_free(struct spawn *sp)
{
	struct spawn **pp;

	if (!sp)
		return;
	if (!sp->exited) {
		for (pp = &children; *pp; pp = &(*pp)->next) {
			if (*pp == sp) {
				*pp = sp->next;
				break;
			}
		}
		close_fd(&sp->in_fd);
		if (!wait_exit(sp->pid, 1000)) {
			kill(sp->pid, SIGTERM);
			if (!wait_exit(sp->pid, 1000)) {
				kill(sp->pid, SIGKILL);
				waitpid(sp->pid, NULL, 0);
			}
		}
	}
	if (sp->kill_timer)
		event_free(sp->kill_timer);
	close_fd(&sp->in_fd);
	close_fd(&sp->out_fd);
	close_fd(&sp->err_fd);
	free(sp);
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

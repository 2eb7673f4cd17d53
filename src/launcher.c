/* launcher: forks and execs children on behalf of the sealed main process, reaps them and
 * reports their exits.
 *
 * How: a poll() loop over the request socket and a signalfd for SIGCHLD. A START packet
 * carries path, argv and env plus the child's three pipe ends (the main process creates the
 * pipes, so spawn_start() returns at once without waiting for a reply); the launcher forks,
 * execs, reports the pid, and later the wait status. A close-on-exec status pipe turns an
 * execve failure into a clear errno in the EXITED report.
 *
 * The launcher may be forked from a process that already runs curl's resolver threads, so it
 * only uses async-signal-safe calls: no malloc, no stdio, static buffers. It resets every
 * signal disposition libevent installed (their handlers would write into the main process's
 * loop), closes every inherited descriptor but its socket and stdio, and exits on EOF or,
 * through PR_SET_PDEATHSIG (SIGUSR2, read from its signalfd), when the main process dies,
 * even by SIGKILL.
 *
 * Each child leads its own process group, and signals go to the group: a server started
 * through `npx` or a shell is a tree, and killing only its top would leave the server itself
 * running. When a child is reaped, what is left of its group is killed; so is every group
 * still running when the main process closes the socket.
 *
 * Rejected: posix_spawn in the main process (needs clone/execve in the filter, the thing the
 * sandbox removes); passing the pipes back from the launcher (spawn_start would have to wait
 * for a reply on the loop).
 */
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SOCK_FD 3

struct child {
	uint32_t id;
	pid_t pid; /* 0: free slot */
};

static struct child kids[LAUNCHER_MAX_CHILDREN];
static char req_buf[LAUNCHER_MAX_REQUEST];
static char *strs[LAUNCHER_MAX_REQUEST / 2 + 1];

static void send_rep(uint32_t type, uint32_t id, pid_t pid, int status, int err)
{
	struct launcher_rep r = {type, id, (int32_t)pid, status, err};

	/* A full socket means the main process stopped reading; it is dying or stuck. */
	while (send(SOCK_FD, &r, sizeof(r), MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static void close_inherited(void)
{
	long fd, max = sysconf(_SC_OPEN_MAX);

#ifdef SYS_close_range
	if (syscall(SYS_close_range, SOCK_FD + 1, ~0U, 0) == 0)
		return;
#endif
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = SOCK_FD + 1; fd < max; fd++)
		close((int)fd);
}

static void reset_signals(const sigset_t *keep_blocked)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);
	sigprocmask(SIG_SETMASK, keep_blocked, NULL);
}

/* In the grandchild: stdio from the passed pipes, default signals, then exec. */
static void exec_child(const int fds[3], int status_fd, const char *path, char **argv, char **env)
{
	sigset_t none;
	int e, i;

	sigemptyset(&none);
	reset_signals(&none);
	setpgid(0, 0);
	for (i = 0; i < 3; i++) {
		if (fds[i] == i)
			fcntl(i, F_SETFD, 0);
		else
			dup2(fds[i], i);
	}
	execve(path, argv, env);
	e = errno;
	while (write(status_fd, &e, sizeof(e)) < 0 && errno == EINTR)
		;
	_exit(127);
}

static struct child *slot_for(uint32_t id)
{
	size_t i;

	for (i = 0; i < LAUNCHER_MAX_CHILDREN; i++)
		if (kids[i].pid > 0 && kids[i].id == id)
			return &kids[i];
	return NULL;
}

/* Splits the string area into strs: path, argv..., NULL, env..., NULL. False when the
 * counts do not match the packet. */
static bool split(const struct launcher_req *rq, size_t len)
{
	size_t want = (size_t)rq->n_argv + rq->n_env + 1, n = 0, k = 0, off = sizeof(*rq);

	if (rq->n_argv == 0 || want + 2 > sizeof(strs) / sizeof(strs[0]))
		return false;
	while (off < len && n < want) {
		char *s = req_buf + off;
		char *end = memchr(s, '\0', len - off);

		if (!end)
			return false;
		strs[k++] = s;
		n++;
		if (n == (size_t)rq->n_argv + 1)
			strs[k++] = NULL;
		off = (size_t)(end - req_buf) + 1;
	}
	if (n != want || off != len)
		return false;
	strs[k] = NULL;
	return true;
}

static struct child *free_slot(void)
{
	size_t i;

	for (i = 0; i < LAUNCHER_MAX_CHILDREN; i++)
		if (kids[i].pid == 0)
			return &kids[i];
	return NULL;
}

static void start(const struct launcher_req *rq, size_t len, const int fds[3])
{
	struct child *c = free_slot();
	int st[2], e = 0;
	pid_t pid;
	ssize_t n;

	if (!split(rq, len)) {
		send_rep(LAUNCHER_EXITED, rq->id, -1, 127 << 8, EINVAL);
		return;
	}
	if (!c) {
		send_rep(LAUNCHER_EXITED, rq->id, -1, 127 << 8, EAGAIN);
		return;
	}
	if (pipe2(st, O_CLOEXEC) < 0) {
		send_rep(LAUNCHER_EXITED, rq->id, -1, 127 << 8, errno);
		return;
	}
	pid = fork();
	if (pid == 0)
		exec_child(fds, st[1], strs[0], &strs[1], &strs[rq->n_argv + 2]);
	if (pid > 0)
		setpgid(pid, pid); /* also here: a KILL may come before the child ran */
	close(st[1]);
	if (pid < 0) {
		e = errno;
		close(st[0]);
		send_rep(LAUNCHER_EXITED, rq->id, -1, 127 << 8, e);
		return;
	}
	do
		n = read(st[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(st[0]);
	send_rep(LAUNCHER_STARTED, rq->id, pid, 0, 0);
	if (n == sizeof(e)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		send_rep(LAUNCHER_EXITED, rq->id, pid, 127 << 8, e);
		return;
	}
	c->id = rq->id;
	c->pid = pid;
}

static void __attribute__((noreturn)) kill_all_and_exit(void);

static void reap(int sfd)
{
	struct signalfd_siginfo si;
	int status;
	pid_t pid;
	size_t i;

	while (read(sfd, &si, sizeof(si)) == sizeof(si))
		if (si.ssi_signo == SIGUSR2)
			kill_all_and_exit(); /* our parent died */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < LAUNCHER_MAX_CHILDREN; i++) {
			if (kids[i].pid != pid)
				continue;
			kids[i].pid = 0;
			kill(-pid, SIGKILL); /* what the server left behind in its group */
			send_rep(LAUNCHER_EXITED, kids[i].id, pid, status, 0);
			break;
		}
	}
}

/* Reads one packet; returns false on EOF or a broken socket (then the launcher exits). */
static bool handle_request(void)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} ctl;
	struct iovec iov = {req_buf, sizeof(req_buf)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct launcher_req rq;
	struct cmsghdr *cm;
	int fds[3] = {-1, -1, -1}, i;
	struct child *c;
	ssize_t n;

	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	n = recvmsg(SOCK_FD, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return errno == EINTR || errno == EAGAIN;
	if (n == 0)
		return false;
	/* Every descriptor that arrived is ours to close, however many came (the control
	 * buffer has room for four; the kernel drops the rest and sets MSG_CTRUNC). */
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t j, k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int fd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		for (j = 0; j < k; j++) {
			memcpy(&fd, CMSG_DATA(cm) + j * sizeof(int), sizeof(int));
			if (j < 3 && fds[j] < 0)
				fds[j] = fd;
			else
				close(fd);
		}
	}
	if ((size_t)n < sizeof(rq))
		goto out; /* not even a header: nobody to answer */
	memcpy(&rq, req_buf, sizeof(rq));
	/* A START always gets an EXITED when it cannot run, or its spawn would wait forever. */
	if (rq.type == LAUNCHER_START && (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		send_rep(LAUNCHER_EXITED, rq.id, -1, 127 << 8, E2BIG);
	} else if (rq.type == LAUNCHER_START && (fds[0] < 0 || fds[1] < 0 || fds[2] < 0)) {
		send_rep(LAUNCHER_EXITED, rq.id, -1, 127 << 8, EBADF);
	} else if (rq.type == LAUNCHER_START) {
		start(&rq, (size_t)n, fds);
	} else if (rq.type == LAUNCHER_KILL && !(mh.msg_flags & MSG_TRUNC)) {
		c = slot_for(rq.id);
		if (c && kill(-c->pid, rq.sig) < 0)
			kill(c->pid, rq.sig);
	}
out:
	for (i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return true;
}

/* The main process is gone: no child may outlive it. */
static void __attribute__((noreturn)) kill_all_and_exit(void)
{
	struct timespec tick = {0, 2000000};
	int waited;
	size_t i;

	for (i = 0; i < LAUNCHER_MAX_CHILDREN; i++) {
		if (kids[i].pid > 0) {
			kill(-kids[i].pid, SIGKILL);
			kill(kids[i].pid, SIGKILL);
		}
	}
	/* Reaped here, bounded: whoever adopts an orphan may never wait for it. */
	for (i = 0; i < LAUNCHER_MAX_CHILDREN; i++)
		for (waited = 0; kids[i].pid > 0 && waited < 250; waited++)
			if (waitpid(kids[i].pid, NULL, WNOHANG) != 0)
				kids[i].pid = 0;
			else
				nanosleep(&tick, NULL);
	_exit(0);
}

static void __attribute__((noreturn)) run(pid_t parent)
{
	struct pollfd p[2];
	sigset_t chld;
	int sfd;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigaddset(&chld, SIGUSR2);
	reset_signals(&chld);
	signal(SIGPIPE, SIG_IGN);
	/* Stop signals for the terminal's process group reach hermetic itself, which ends us by
	 * closing the socket after it has stopped its children. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (prctl(PR_SET_PDEATHSIG, SIGUSR2) < 0 || getppid() != parent)
		_exit(0);
	close_inherited();
	sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		_exit(1);
	p[0] = (struct pollfd){.fd = SOCK_FD, .events = POLLIN};
	p[1] = (struct pollfd){.fd = sfd, .events = POLLIN};
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		if (p[1].revents)
			reap(sfd);
		if (p[0].revents && !handle_request())
			kill_all_and_exit();
	}
}

pid_t launcher_fork(int *sock)
{
	pid_t parent = getpid(), pid;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0) {
		if (sv[1] != SOCK_FD) {
			if (dup3(sv[1], SOCK_FD, O_CLOEXEC) < 0)
				_exit(1);
		}
		run(parent);
	}
	close(sv[1]);
	*sock = sv[0];
	return pid;
}

/* launcher: forks and execs children on behalf of the sealed main process, reaps them and
 * reports their exits.
 *
 * How: a poll() loop over the request socket and a signalfd for SIGCHLD. A START packet
 * carries the index of a program in the table the launcher was forked with, plus the child's
 * three pipe ends (the main process creates the pipes, so spawn_start() returns at once
 * without waiting for a reply); the launcher forks, execs that program with its own argv and
 * environment, reports the pid, and later the wait status. A close-on-exec status pipe turns
 * an execve failure into a clear errno in the EXITED report.
 *
 * The table is the launcher's own copy (fork copies it): the main process, once sealed, may
 * be the confused or compromised party, so nothing it sends is executed: a request is a
 * fixed-size header, and an index outside the table, or any other packet, is refused with
 * EPERM/EINVAL and runs nothing.
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
 * for a reply on the loop); path, argv and env in the request (a sealed process could ask for
 * /bin/sh with any environment and get an unsandboxed process).
 */
#include "sandbox/launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
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
/* One byte more than a request, so that a longer packet shows as one (MSG_TRUNC aside). */
static char req_buf[sizeof(struct launcher_req) + 1];
/* The table, set in the launcher right after the fork: its copy of the caller's memory. */
static const struct launcher_prog *progs;
static size_t n_progs;

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

/* execve, searching PATH (the launcher's, as inherited) when path has no '/': execvp's search
 * with the program's own environment. Returns only on failure, with errno set. */
static void exec_path(const char *path, char *const *argv, char *const *env)
{
	const char *p = getenv("PATH"), *end;
	char cand[PATH_MAX];
	size_t dl, pl = strlen(path);
	bool eacces = false;

	if (strchr(path, '/')) {
		execve(path, argv, env);
		return;
	}
	if (!p)
		p = "/usr/local/bin:/bin:/usr/bin";
	for (; *p; p = *end ? end + 1 : end) {
		end = strchrnul(p, ':');
		dl = end == p ? 1 : (size_t)(end - p);
		if (dl + pl + 2 > sizeof(cand))
			continue;
		memcpy(cand, end == p ? "." : p, dl);
		cand[dl] = '/';
		memcpy(cand + dl + 1, path, pl + 1);
		execve(cand, argv, env);
		if (errno == EACCES)
			eacces = true;
		else if (errno != ENOENT && errno != ENOTDIR)
			return;
	}
	errno = eacces ? EACCES : ENOENT;
}

/* In the grandchild: stdio from the passed pipes, default signals, then exec. */
static void exec_child(const int fds[3], int status_fd, const struct launcher_prog *pg)
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
	exec_path(pg->path, pg->argv, pg->env);
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

static struct child *free_slot(void)
{
	size_t i;

	for (i = 0; i < LAUNCHER_MAX_CHILDREN; i++)
		if (kids[i].pid == 0)
			return &kids[i];
	return NULL;
}

static void start(const struct launcher_req *rq, const int fds[3])
{
	struct child *c = free_slot();
	int st[2], e = 0;
	pid_t pid;
	ssize_t n;

	if (rq->prog >= n_progs || !progs[rq->prog].path) {
		send_rep(LAUNCHER_EXITED, rq->id, -1, 127 << 8, EPERM);
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
		exec_child(fds, st[1], &progs[rq->prog]);
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
	if ((size_t)n < 2 * sizeof(uint32_t))
		goto out; /* not even a type and an id: nobody to answer */
	memset(&rq, 0, sizeof(rq));
	memcpy(&rq, req_buf, (size_t)n < sizeof(rq) ? (size_t)n : sizeof(rq));
	/* A START always gets an EXITED when it cannot run, or its spawn would wait forever. A
	 * packet that is not exactly one request (an older or forged format with a path, argv
	 * and env after the header) runs nothing. */
	if (rq.type == LAUNCHER_START &&
	    ((size_t)n != sizeof(rq) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))) {
		send_rep(LAUNCHER_EXITED, rq.id, -1, 127 << 8, EINVAL);
	} else if (rq.type == LAUNCHER_START && (fds[0] < 0 || fds[1] < 0 || fds[2] < 0)) {
		send_rep(LAUNCHER_EXITED, rq.id, -1, 127 << 8, EBADF);
	} else if (rq.type == LAUNCHER_START) {
		start(&rq, fds);
	} else if (rq.type == LAUNCHER_KILL && (size_t)n == sizeof(rq) &&
		   !(mh.msg_flags & MSG_TRUNC)) {
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

pid_t launcher_fork(const struct launcher_prog *table, size_t n, int *sock)
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
		progs = table;
		n_progs = n;
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

int launcher_send(int sock, const void *pkt, size_t len, const int fds[3], int flags)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} ctl;
	struct iovec iov = {(void *)pkt, len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	struct cmsghdr *cm;

	memset(&ctl, 0, sizeof(ctl));
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof(ctl.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(3 * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, 3 * sizeof(int));
	return sendmsg(sock, &mh, flags | MSG_NOSIGNAL) < 0 ? -errno : 0;
}

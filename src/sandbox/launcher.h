/* launcher: the small unfiltered process that starts children for a sealed hermetic.
 *
 * Forked once at start-up, before the seccomp filter closes, it is the only process that ever
 * calls fork and execve. It runs only the programs of the table it was forked with (its own
 * copy: the configured stdio MCP servers), chosen by index: a request carries no path, argv
 * or environment, so a compromised main process cannot have it run anything else. The main
 * process talks to it over a SOCK_SEQPACKET socketpair (one request or report per packet, so
 * every read is one bounded recvmsg). Only spawn.c speaks this protocol (and the sandbox's
 * self-test, which forges requests); nothing else should include this header.
 */
#ifndef HERMETIC_LAUNCHER_H
#define HERMETIC_LAUNCHER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Children the launcher tracks at once. */
#define LAUNCHER_MAX_CHILDREN 64

enum launcher_req_type {
	LAUNCHER_START = 1, /* run program prog; + 3 fds (SCM_RIGHTS): stdin, stdout, stderr */
	LAUNCHER_KILL = 2,  /* send sig to child id (ignored once it was reaped) */
};

enum launcher_rep_type {
	LAUNCHER_STARTED = 1, /* child id runs as pid */
	LAUNCHER_EXITED = 2,  /* child id was reaped with status; err != 0: it did not run
			       * (EPERM: not a program of the table; else execve's errno) */
};

/* The whole request: a packet of any other size is refused. */
struct launcher_req {
	uint32_t type;
	uint32_t id;
	int32_t sig;   /* KILL */
	uint32_t prog; /* START: index into the launcher's table */
};

/* One program the launcher may run. path is searched in the launcher's PATH when it has no
 * '/'. argv and env are NULL-terminated; env is the child's whole environment. */
struct launcher_prog {
	const char *path;
	char *const *argv;
	char *const *env;
};

struct launcher_rep {
	uint32_t type;
	uint32_t id;
	int32_t pid;
	int32_t status; /* as from waitpid */
	int32_t err;	/* errno of a failed execve, else 0 */
};

/* Sends one request packet (len bytes; a struct launcher_req, or anything else for the
 * sandbox's self-test of forged requests) on sock with the three descriptors fds attached by
 * SCM_RIGHTS, as a START carries them. flags go to sendmsg (MSG_NOSIGNAL is always added).
 * Returns 0 or a negative errno; the descriptors stay the caller's. */
int launcher_send(int sock, const void *pkt, size_t len, const int fds[3], int flags);

/* Forks the launcher with progs[0..n) as its table (the child's copy of this memory is the
 * table it keeps; the caller may free or change its own afterwards; an entry with a NULL path
 * is never run). Returns its pid with *sock set to our end of the socketpair (close-on-exec,
 * blocking), or a negative errno. The launcher exits when sock reaches EOF or when the
 * calling thread dies (PR_SET_PDEATHSIG), and then kills every child's process group still
 * running: no child outlives hermetic. */
pid_t launcher_fork(const struct launcher_prog *progs, size_t n, int *sock);

#endif

/* launcher: the small unfiltered process that starts children for a sealed hermetic.
 *
 * Forked once at start-up, before the seccomp filter closes, it is the only process that ever
 * calls fork and execve. The main process talks to it over a SOCK_SEQPACKET socketpair (one
 * request or report per packet, so every read is one bounded recvmsg). Only spawn.c speaks
 * this protocol; nothing else should include this header.
 */
#ifndef HERMETIC_LAUNCHER_H
#define HERMETIC_LAUNCHER_H

#include <stdint.h>
#include <sys/types.h>

/* Largest request packet: path, argv and env strings of one child. */
#define LAUNCHER_MAX_REQUEST (64 * 1024)
/* Children the launcher tracks at once. */
#define LAUNCHER_MAX_CHILDREN 64

enum launcher_req_type {
	LAUNCHER_START = 1, /* + 3 fds (SCM_RIGHTS): the child's stdin, stdout, stderr */
	LAUNCHER_KILL = 2,  /* send sig to child id (ignored once it was reaped) */
};

enum launcher_rep_type {
	LAUNCHER_STARTED = 1, /* child id runs as pid */
	LAUNCHER_EXITED = 2,  /* child id was reaped with status; err != 0: execve failed */
};

/* Followed by n_argv + n_env + 1 NUL-terminated strings: path, argv..., env... */
struct launcher_req {
	uint32_t type;
	uint32_t id;
	int32_t sig;
	uint32_t n_argv, n_env;
};

struct launcher_rep {
	uint32_t type;
	uint32_t id;
	int32_t pid;
	int32_t status; /* as from waitpid */
	int32_t err;	/* errno of a failed execve, else 0 */
};

/* Forks the launcher. Returns its pid with *sock set to our end of the socketpair
 * (close-on-exec, blocking), or a negative errno. The launcher exits when sock reaches EOF or
 * when the calling thread dies (PR_SET_PDEATHSIG), and then kills every child's process group
 * still running: no child outlives hermetic. */
pid_t launcher_fork(int *sock);

#endif

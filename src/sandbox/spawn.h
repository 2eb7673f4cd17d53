/* spawn: child processes with pipes for stdin/stdout/stderr, a filtered environment, exit
 * reports on the loop, and the close-stdin -> SIGTERM -> SIGKILL shutdown.
 *
 * Every child hermetic starts goes through here (stdio MCP servers). The fork and execve
 * happen in a launcher process (launcher.c) started before the seccomp filter closes, so the
 * main process itself never needs either. The launcher is given the table of programs (the
 * configured servers) when it starts and runs only those, by index.
 */
#ifndef HERMETIC_SPAWN_H
#define HERMETIC_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct loop;
struct spawn;

/* Called once when the child has exited and been reaped (status as from waitpid). */
typedef void (*spawn_exit_cb)(struct spawn *sp, int status, void *arg);

/* A program the launcher may run. */
struct spawn_prog {
	const char *path;	 /* executable (searched in PATH if it has no '/'); NULL: none */
	const char *const *argv; /* NULL-terminated, argv[0] included */
	const char *const *env;	 /* NULL-terminated "K=V" list: the child's whole env */
};

struct spawn_opts {
	size_t prog; /* index into the table given to spawn_launcher_start */
	spawn_exit_cb on_exit;
	void *arg;
};

/* Forks the launcher with progs[0..n) (copied) as the only programs it will ever run, by
 * index: call it before the sandbox seals, once per process. Returns 0, or a negative errno
 * with a message in err (-EBUSY: a launcher was started already). */
int spawn_launcher_start(const struct spawn_prog *progs, size_t n, char *err, size_t err_len);
/* No launcher may be forked from now on (the sandbox is closing: fork would be denied or
 * kill the process); spawn_start fails with a message instead when there is none. */
void spawn_launcher_close(void);

/* Starts program o->prog of the launcher's table. Returns 0 with *out set (on_exit fires
 * exactly once later), or a negative errno with a message in err (then nothing fires):
 * -ECHILD without a launcher, -EPERM for an index outside the table, -ENOENT when the program
 * is not found. */
int spawn_start(struct loop *l, const struct spawn_opts *o, struct spawn **out, char *err,
		size_t err_len);
/* The parent's ends of the pipes (non-blocking, close-on-exec); -1 once closed. */
int spawn_stdin_fd(const struct spawn *sp);
int spawn_stdout_fd(const struct spawn *sp);
int spawn_stderr_fd(const struct spawn *sp);
/* Tests only: our end of the launcher's socket, or -1. */
int spawn_launcher_sock(void);
/* The child's pid, or -1 until the launcher has reported it (shortly after the start). */
pid_t spawn_pid(const struct spawn *sp);
/* Closes our end of the child's stdin (EOF for the child). */
void spawn_close_stdin(struct spawn *sp);
/* Graceful stop: close stdin, SIGTERM after grace_ms, SIGKILL after another grace_ms.
 * on_exit still fires when the child is reaped. */
void spawn_stop(struct spawn *sp, int grace_ms);
/* Hands the child over to the reaper: stops it like spawn_stop and frees the handle once it
 * has exited. on_exit is not called; the caller forgets sp. */
void spawn_abandon(struct spawn *sp, int grace_ms);
/* Frees the handle after on_exit fired (or kills and reaps synchronously if it has not: used
 * at process shutdown only, bounded by 2 x 1 s). Accepts NULL. */
void spawn_free(struct spawn *sp);

/* Stops every child still running, abandoned ones included (their kill timers need a loop
 * that may not run again): close stdin, SIGTERM, SIGKILL after grace_ms, each reaped, the
 * whole bounded by 2 x grace_ms. For the end of a command or a process. Handles still held
 * stay valid; their on_exit fires from the loop if it runs again. */
void spawn_stop_all(int grace_ms);

/* The child environment for a server: PATH, HOME, LANG, TZ from ours plus extra "K=V" pairs.
 * Returns a malloc'd NULL-terminated list; free with spawn_env_free. */
char **spawn_env(const char *const *extra_names, const char *const *extra_values, size_t n);
void spawn_env_free(char **env);

#endif

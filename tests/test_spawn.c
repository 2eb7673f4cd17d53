/* Tests of spawn through the launcher process: output and exit status arrive on the loop, the
 * child gets exactly the given environment, a bad command is an error at once, an execve
 * failure is an exit 127 reported once, stop escalates to SIGTERM through the launcher,
 * spawn_free at shutdown reaps without the loop, spawn_stop_all kills abandoned children
 * with everything in their process group, and the launcher runs only the programs of its
 * table: a forged exec or an index outside the table runs nothing.
 */
#include "test.h"
#include "core/loop.h"
#include "sandbox/spawn.h"
#include "sandbox/launcher.h"

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

struct run {
	struct loop *loop;
	int status;
	int exits;
};

static void on_exit_cb(struct spawn *sp, int status, void *arg)
{
	struct run *r = arg;

	r->status = status;
	r->exits++;
	loop_stop(r->loop);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	loop_stop(arg);
}

/* Runs the loop until on_exit fired (or 10 s passed: then the test fails). */
static void run_until_exit(struct run *r)
{
	struct event *t = evtimer_new(loop_base(r->loop), on_deadline, r->loop);
	struct timeval tv = {10, 0};

	evtimer_add(t, &tv);
	loop_run(r->loop);
	event_free(t);
	assert_int_equal(r->exits, 1);
}

/* The launcher's table, forked once for the whole group (setup). */
enum prog {
	P_OUT_ENV_STATUS,
	P_ONLY_ENV,
	P_MISSING_PATH,
	P_MISSING_NAME,
	P_NOT_A_PROGRAM,
	P_SLEEP,
	P_CAT,
	P_TRAP_SH, /* a shell that ignores SIGTERM, with a grandchild that ignores it too */
	P_NONE,	   /* a hole in the table (a server that is not stdio) */
	N_PROGS
};

static char not_a_program[] = "/tmp/hermetic-test-spawn-XXXXXX";

static int setup(void **state)
{
	static const char *const out_argv[] = {"sh", "-c",
					       "echo \"out $FOO\"; echo err >&2; exit 3", NULL};
	static const char *const out_env[] = {"FOO=bar", NULL};
	static const char *const env_argv[] = {"/bin/sh", "-c", "echo \"[$HOME][$SECRET]\"", NULL};
	static const char *const none[] = {NULL};
	static const char *const x_argv[] = {"x", NULL};
	static const char *const sleep_argv[] = {"sleep", "30", NULL};
	static const char *const cat_argv[] = {"cat", NULL};
	static const char *const trap_argv[] = {"sh", "-c",
						"trap '' TERM; sleep 30 & echo $!; wait; :", NULL};
	static const char *const path_env[] = {"PATH=/usr/bin:/bin", NULL};
	const char *nap_argv[] = {not_a_program, NULL};
	struct spawn_prog progs[N_PROGS] = {
		[P_OUT_ENV_STATUS] = {"sh", out_argv, out_env},
		[P_ONLY_ENV] = {"/bin/sh", env_argv, none},
		[P_MISSING_PATH] = {"/nonexistent/hermetic-x", x_argv, none},
		[P_MISSING_NAME] = {"hermetic-no-such-command", x_argv, none},
		[P_NOT_A_PROGRAM] = {not_a_program, nap_argv, none},
		[P_SLEEP] = {"sleep", sleep_argv, none},
		[P_CAT] = {"cat", cat_argv, none},
		[P_TRAP_SH] = {"sh", trap_argv, path_env},
	};
	char err[256];
	int fd = mkstemp(not_a_program);

	/* Executable but not a program: execve says ENOEXEC, in the launcher's child. */
	if (fd < 0 || write(fd, "\x01\x02\x03\x04", 4) != 4 || close(fd) < 0 ||
	    chmod(not_a_program, 0700) < 0)
		return -1;
	/* The table is copied: what the caller does with its memory later does not matter. */
	if (spawn_launcher_start(progs, N_PROGS, err, sizeof(err)) < 0) {
		fprintf(stderr, "spawn_launcher_start: %s\n", err);
		return -1;
	}
	memset(progs, 0, sizeof(progs));
	return 0;
}

static int teardown(void **state)
{
	unlink(not_a_program);
	return 0;
}

static struct spawn *start(struct run *r, enum prog prog)
{
	struct spawn_opts o = {prog, on_exit_cb, r};
	struct spawn *sp = NULL;
	char err[256];

	if (spawn_start(r->loop, &o, &sp, err, sizeof(err)) < 0)
		fail_msg("spawn_start: %s", err);
	return sp;
}

static void read_all(int fd, char *out, size_t len)
{
	size_t n = 0;
	ssize_t k;

	while (n + 1 < len && (k = read(fd, out + n, len - 1 - n)) > 0)
		n += (size_t)k;
	out[n] = '\0';
}

static void output_env_and_status_arrive_on_the_loop(void **state)
{
	struct run r = {loop_create(), -1, 0};
	struct spawn *sp = start(&r, P_OUT_ENV_STATUS);
	char buf[128];

	run_until_exit(&r);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 3);
	assert_true(spawn_pid(sp) > 0);
	read_all(spawn_stdout_fd(sp), buf, sizeof(buf));
	assert_string_equal(buf, "out bar\n");
	read_all(spawn_stderr_fd(sp), buf, sizeof(buf));
	assert_string_equal(buf, "err\n");
	spawn_free(sp);
	loop_destroy(r.loop);
}

static void only_the_given_environment_reaches_the_child(void **state)
{
	struct run r = {loop_create(), -1, 0};
	struct spawn *sp;
	char buf[128];

	setenv("SECRET", "do-not-pass", 1);
	sp = start(&r, P_ONLY_ENV);
	run_until_exit(&r);
	read_all(spawn_stdout_fd(sp), buf, sizeof(buf));
	assert_string_equal(buf, "[][]\n");
	spawn_free(sp);
	loop_destroy(r.loop);
}

static void a_missing_command_is_an_error_at_once(void **state)
{
	struct run r = {loop_create(), -1, 0};
	struct spawn_opts o = {P_MISSING_PATH, on_exit_cb, &r};
	struct spawn *sp = NULL;
	char err[256];

	assert_int_equal(spawn_start(r.loop, &o, &sp, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot run /nonexistent/hermetic-x"));
	o.prog = P_MISSING_NAME;
	assert_int_equal(spawn_start(r.loop, &o, &sp, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "hermetic-no-such-command"));
	assert_null(sp);
	assert_int_equal(r.exits, 0);
	loop_destroy(r.loop);
}

static void an_execve_failure_is_one_exit_127(void **state)
{
	struct run r = {loop_create(), -1, 0};
	struct spawn *sp = start(&r, P_NOT_A_PROGRAM);

	run_until_exit(&r);
	assert_true(WIFEXITED(r.status));
	assert_int_equal(WEXITSTATUS(r.status), 127);
	spawn_free(sp);
	loop_destroy(r.loop);
}

static void only_programs_of_the_table_can_be_started(void **state)
{
	struct run r = {loop_create(), -1, 0};
	struct spawn_opts o = {P_NONE, on_exit_cb, &r};
	struct spawn *sp = NULL;
	char err[256];

	assert_int_equal(spawn_start(r.loop, &o, &sp, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "not one the process launcher was given"));
	o.prog = N_PROGS;
	assert_int_equal(spawn_start(r.loop, &o, &sp, err, sizeof(err)), -EPERM);
	assert_null(sp);
	assert_int_equal(r.exits, 0);
	loop_destroy(r.loop);
}

static void stop_escalates_to_sigterm_through_the_launcher(void **state)
{
	/* sleep ignores its stdin closing; SIGTERM (sent by id through the launcher) ends it. */
	struct run r = {loop_create(), -1, 0};
	struct spawn *sp = start(&r, P_SLEEP);

	spawn_stop(sp, 50);
	run_until_exit(&r);
	assert_true(WIFSIGNALED(r.status));
	assert_int_equal(WTERMSIG(r.status), SIGTERM);
	spawn_free(sp);
	loop_destroy(r.loop);
}

static void free_at_shutdown_reaps_without_the_loop(void **state)
{
	struct run r = {loop_create(), -1, 0};
	struct spawn *sp = start(&r, P_CAT);

	/* cat exits on EOF: spawn_free closes stdin and waits for the launcher's report. */
	spawn_free(sp);
	assert_int_equal(r.exits, 0);
	loop_destroy(r.loop);
}

static bool gone(pid_t pid)
{
	char path[64], st = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true;
	if (fscanf(f, "%*d (%*[^)]) %c", &st) != 1)
		st = '?';
	fclose(f);
	return st == 'Z' || st == 'X';
}

static void stop_all_kills_abandoned_children_and_their_groups(void **state)
{
	/* A shell that ignores SIGTERM, with a grandchild that ignores it too (as npx starts
	 * node): abandoned, with no loop left to run its kill timers. */
	struct run r = {loop_create(), -1, 0};
	struct spawn *sp = start(&r, P_TRAP_SH);
	char line[32] = "";
	struct pollfd p = {spawn_stdout_fd(sp), POLLIN, 0};
	pid_t grandchild, child;
	struct timespec t0, t1;
	ssize_t n;

	assert_int_equal(poll(&p, 1, 5000), 1);
	n = read(spawn_stdout_fd(sp), line, sizeof(line) - 1);
	assert_true(n > 0);
	grandchild = (pid_t)strtol(line, NULL, 10);
	assert_true(grandchild > 0);
	while (spawn_pid(sp) < 0) /* the STARTED report comes on the loop */
		event_base_loop(loop_base(r.loop), EVLOOP_ONCE | EVLOOP_NONBLOCK);
	child = spawn_pid(sp);
	spawn_abandon(sp, 10000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	spawn_stop_all(200);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	assert_true(gone(child));
	/* SIGKILL was sent to the group; the grandchild dies a moment later. */
	for (n = 0; n < 100 && !gone(grandchild); n++)
		usleep(10000);
	assert_true(gone(grandchild));
	assert_int_equal(r.exits, 0); /* an abandoned child's on_exit is not called */
	loop_destroy(r.loop);
}

/* Sends pkt (len bytes) with n descriptors attached. */
static void send_packet(int sock, const void *pkt, size_t len, const int *fds, int n)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} ctl;
	struct iovec iov = {(void *)pkt, len};
	struct msghdr mh = {0};
	struct cmsghdr *cm;

	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	memset(&ctl, 0, sizeof(ctl));
	mh.msg_control = ctl.buf;
	mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, (size_t)n * sizeof(int));
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)len)
		fail_msg("sendmsg: %s", strerror(errno));
}

/* Sends a START of prog for id with n descriptors attached. */
static void send_start_with(int sock, uint32_t id, uint32_t prog, const int *fds, int n)
{
	struct launcher_req rq = {.type = LAUNCHER_START, .id = id, .prog = prog};

	send_packet(sock, &rq, sizeof(rq), fds, n);
}

/* The next report from the launcher, waiting at most 10 s. */
static struct launcher_rep next_report(int sock)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};
	struct launcher_rep r = {0};

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(recv(sock, &r, sizeof(r), 0), sizeof(r));
	return r;
}

/* True when the pipe's write ends are all closed (EOF), waiting at most 10 s. */
static bool pipe_at_eof(int rfd)
{
	struct pollfd p = {.fd = rfd, .events = POLLIN};
	char c;

	return poll(&p, 1, 10000) == 1 && read(rfd, &c, 1) == 0;
}

static void a_start_with_the_wrong_descriptors_is_answered_and_closes_them(void **state)
{
	static char *const argv[] = {"true", NULL}, *const env[] = {NULL};
	const struct launcher_prog prog = {"true", argv, env};
	int sock, one[2], pipes[4][2], w[4], i, status;
	struct launcher_rep r;
	pid_t pid = launcher_fork(&prog, 1, &sock);

	assert_true(pid > 0);
	assert_int_equal(pipe2(one, O_CLOEXEC), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pipe2(pipes[i], O_CLOEXEC), 0);
		w[i] = pipes[i][1];
	}
	/* One descriptor instead of three: no child, an EXITED with EBADF, the end closed. */
	send_start_with(sock, 7, 0, &one[1], 1);
	r = next_report(sock);
	assert_int_equal(r.type, LAUNCHER_EXITED);
	assert_int_equal(r.id, 7);
	assert_int_equal(r.err, EBADF);
	close(one[1]);
	assert_true(pipe_at_eof(one[0]));
	close(one[0]);
	/* Four, with a program outside the table: EPERM, and all four closed. */
	send_start_with(sock, 8, 1, w, 4);
	r = next_report(sock);
	assert_int_equal(r.type, LAUNCHER_EXITED);
	assert_int_equal(r.id, 8);
	assert_int_equal(r.err, EPERM);
	for (i = 0; i < 4; i++) {
		close(pipes[i][1]);
		assert_true(pipe_at_eof(pipes[i][0]));
		close(pipes[i][0]);
	}
	/* EOF on its socket ends it. */
	close(sock);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* A sealed process that is compromised can write anything to the launcher's socket: the
 * request format of 3096e83 (path, argv and env after the header) and an index outside the
 * table are refused, and the shell they ask for never runs. */
static void forged_requests_run_nothing(void **state)
{
	static char *const argv[] = {"true", NULL}, *const env[] = {NULL};
	const struct launcher_prog prog = {"true", argv, env};
	char marker[] = "/tmp/hermetic-test-forged-XXXXXX", pkt[512], script[128];
	uint32_t hdr[5] = {LAUNCHER_START, 21, 0, 3, 1}; /* type, id, sig, n_argv, n_env */
	struct launcher_req rq = {.type = LAUNCHER_START, .id = 22, .prog = 7};
	struct launcher_rep r;
	int sock, p[2], fds[3], len, status, fd = mkstemp(marker);
	struct stat st;
	pid_t pid = launcher_fork(&prog, 1, &sock);

	assert_true(pid > 0 && fd >= 0);
	close(fd);
	unlink(marker);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fds[0] = p[0];
	fds[1] = fds[2] = p[1];
	snprintf(script, sizeof(script), ": > '%s'", marker);
	memcpy(pkt, hdr, sizeof(hdr));
	len = snprintf(pkt + sizeof(hdr), sizeof(pkt) - sizeof(hdr), "/bin/sh%csh%c-c%c%s%cX=1", 0,
		       0, 0, script, 0);
	send_packet(sock, pkt, sizeof(hdr) + (size_t)len + 1, fds, 3);
	r = next_report(sock);
	assert_int_equal(r.type, LAUNCHER_EXITED);
	assert_int_equal(r.id, 21);
	assert_int_equal(r.pid, -1);
	assert_int_equal(r.err, EINVAL);
	send_packet(sock, &rq, sizeof(rq), fds, 3);
	r = next_report(sock);
	assert_int_equal(r.type, LAUNCHER_EXITED);
	assert_int_equal(r.id, 22);
	assert_int_equal(r.err, EPERM);
	close(sock); /* EOF ends it: every child it ran would have been reaped by now */
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(stat(marker, &st), -1);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(output_env_and_status_arrive_on_the_loop),
		cmocka_unit_test(only_the_given_environment_reaches_the_child),
		cmocka_unit_test(a_missing_command_is_an_error_at_once),
		cmocka_unit_test(an_execve_failure_is_one_exit_127),
		cmocka_unit_test(stop_escalates_to_sigterm_through_the_launcher),
		cmocka_unit_test(free_at_shutdown_reaps_without_the_loop),
		cmocka_unit_test(only_programs_of_the_table_can_be_started),
		cmocka_unit_test(stop_all_kills_abandoned_children_and_their_groups),
		cmocka_unit_test(a_start_with_the_wrong_descriptors_is_answered_and_closes_them),
		cmocka_unit_test(forged_requests_run_nothing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

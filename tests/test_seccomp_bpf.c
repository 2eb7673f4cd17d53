/* Tests of the seccomp filter: the sandbox's own program (sandbox_filter) run in a small
 * classic-BPF interpreter over crafted seccomp_data -- another arch is killed before any
 * number is looked at, x32 numbers too on x86_64, the allowlist is allowed, the rest traps
 * (errno mode) or kills (kill mode), the argument conditions hold on all 64 bits --, the
 * compiler on synthetic rules (first match, runs longer than one jump, bad rules refused), and
 * the program loaded in a forked child: an allowed call works, a denied one kills it with
 * SIGSYS, and in errno mode fails with EPERM and is logged once. The interpreter tests run on
 * each arch's own numbers: natively on x86_64, under qemu for the aarch64 build (whose child
 * tests skip: qemu-user cannot load filters).
 */
#include "test.h"
#include "core/config.h"
#include "core/util.h"
#include "sandbox/sandbox.h"
#include "sandbox/seccomp_bpf.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define SKIP_STATUS 77

static const uint64_t no_args[6] = {0};

/* The interpreter: only what a seccomp program of ours may contain; anything else fails. */
static uint32_t eval(const struct sock_fprog *p, uint32_t arch, uint32_t nr, const uint64_t args[6])
{
	struct seccomp_data d = {.nr = (int)nr, .arch = arch, .instruction_pointer = 0x1234};
	uint32_t a = 0, steps = 0;
	size_t pc = 0;

	memcpy(d.args, args, sizeof(d.args));
	for (;;) {
		const struct sock_filter *in;
		bool jump = false;

		assert_true(pc < p->len);
		assert_true(++steps <= p->len); /* classic BPF only jumps forward */
		in = &p->filter[pc++];
		switch (in->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			assert_true(in->k % 4 == 0 && in->k + 4 <= sizeof(d));
			memcpy(&a, (const char *)&d + in->k, 4);
			continue;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= in->k;
			continue;
		case BPF_JMP | BPF_JA:
			pc += in->k;
			continue;
		case BPF_JMP | BPF_JEQ | BPF_K:
			jump = a == in->k;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			jump = a >= in->k;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			jump = a > in->k;
			break;
		case BPF_JMP | BPF_JSET | BPF_K:
			jump = (a & in->k) != 0;
			break;
		case BPF_RET | BPF_K:
			return in->k;
		default:
			fail_msg("instruction %zu: opcode 0x%x", pc - 1, in->code);
		}
		pc += jump ? in->jt : in->jf;
	}
}

static uint32_t nr_of(const char *name)
{
	int nr = seccomp_bpf_nr(name);

	assert_true(nr >= 0);
	return (uint32_t)nr;
}

static uint32_t call(const struct sock_fprog *p, const char *name, uint64_t a0, uint64_t a1,
		     uint64_t a2)
{
	const uint64_t args[6] = {a0, a1, a2, 0x1111, 0x2222, 0x3333};

	return eval(p, seccomp_bpf_arch(), nr_of(name), args);
}

static void policy(bool kill, struct sock_fprog *p)
{
	char err[256];

	assert_int_equal(sandbox_filter(kill, p, err, sizeof(err)), 0);
}

static void another_arch_is_killed_before_the_number_is_read(void **state)
{
	static const uint32_t foreign[] = {AUDIT_ARCH_I386,    AUDIT_ARCH_ARM,
					   AUDIT_ARCH_X86_64,  AUDIT_ARCH_AARCH64,
					   AUDIT_ARCH_RISCV64, 0};
	struct sock_fprog p;
	size_t i;
	int kill;

	for (kill = 0; kill < 2; kill++) {
		policy(kill, &p);
		assert_int_equal(p.filter[0].code, BPF_LD | BPF_W | BPF_ABS);
		assert_int_equal(p.filter[0].k, offsetof(struct seccomp_data, arch));
		assert_int_equal(call(&p, "read", 0, 0, 0), SECCOMP_RET_ALLOW);
		for (i = 0; i < ARRAY_LEN(foreign); i++) {
			if (foreign[i] == seccomp_bpf_arch())
				continue;
			/* read on this arch, and a number every arch allows somewhere */
			assert_int_equal(eval(&p, foreign[i], nr_of("read"), no_args),
					 SECCOMP_RET_KILL_THREAD);
			assert_int_equal(eval(&p, foreign[i], 3, no_args), SECCOMP_RET_KILL_THREAD);
		}
		free(p.filter);
	}
}

static void x32_numbers_are_killed_on_x86_64(void **state)
{
#ifdef __x86_64__
	struct sock_fprog p;
	uint32_t def;
	int kill;

	for (kill = 0; kill < 2; kill++) {
		policy(kill, &p);
		def = kill ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_TRAP;
		assert_int_equal(eval(&p, AUDIT_ARCH_X86_64, 0x40000000u | nr_of("read"), no_args),
				 SECCOMP_RET_KILL_THREAD);
		assert_int_equal(eval(&p, AUDIT_ARCH_X86_64, 0x40000000u, no_args),
				 SECCOMP_RET_KILL_THREAD);
		assert_int_equal(eval(&p, AUDIT_ARCH_X86_64, 0x80000001u, no_args),
				 SECCOMP_RET_KILL_THREAD);
		/* -1 is a call a tracer skipped, not an x32 one: the default, as libseccomp did */
		assert_int_equal(eval(&p, AUDIT_ARCH_X86_64, 0xffffffffu, no_args), def);
		free(p.filter);
	}
#else
	skip();
#endif
}

static void the_allowlist_is_allowed_and_the_rest_takes_the_default(void **state)
{
	static const char *const allowed[] = {"read",
					      "write",
					      "openat",
					      "close",
					      "mmap",
					      "futex",
					      "epoll_pwait",
					      "getrandom",
					      "exit_group",
					      "rt_sigreturn",
					      "landlock_restrict_self"};
	static const char *const denied[] = {"execve",
					     "execveat",
					     "ptrace",
					     "mount",
					     "bpf",
					     "unshare",
					     "setns",
					     "keyctl",
					     "init_module",
					     "kexec_load",
					     "process_vm_writev",
					     "pivot_root"};
	struct sock_fprog p;
	uint32_t def;
	size_t i;
	int kill;

	for (kill = 0; kill < 2; kill++) {
		policy(kill, &p);
		def = kill ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_TRAP;
		for (i = 0; i < ARRAY_LEN(allowed); i++)
			assert_int_equal(call(&p, allowed[i], 0, 0, 0), SECCOMP_RET_ALLOW);
		for (i = 0; i < ARRAY_LEN(denied); i++)
			assert_int_equal(call(&p, denied[i], 0, 0, 0), def);
		/* clone3's flags sit behind a pointer: ENOSYS sends libcs back to clone */
		assert_int_equal(call(&p, "clone3", 0, 0, 0), SECCOMP_RET_ERRNO | ENOSYS);
		if (strcmp(seccomp_bpf_arch_name(), "aarch64") == 0) {
			/* no legacy calls there: they are simply not in its program */
			assert_int_equal(seccomp_bpf_nr("fork"), -1);
			assert_int_equal(seccomp_bpf_nr("open"), -1);
		} else {
			assert_int_equal(call(&p, "fork", 0, 0, 0),
					 kill ? def : SECCOMP_RET_ERRNO | EPERM);
			assert_int_equal(call(&p, "open", 0, 0, 0), SECCOMP_RET_ALLOW);
		}
		assert_int_equal(eval(&p, seccomp_bpf_arch(), 1000, no_args), def);
		free(p.filter);
	}
}

static void argument_conditions_hold_on_all_64_bits(void **state)
{
	const uint64_t hi = 1ULL << 32, self = (uint64_t)getpid();
	struct sock_fprog p;
	uint32_t def, allow = SECCOMP_RET_ALLOW;
	int kill;

	for (kill = 0; kill < 2; kill++) {
		policy(kill, &p);
		def = kill ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_TRAP;
		/* clone: a thread, never a process (a fork fails quietly in errno mode) */
		assert_int_equal(call(&p, "clone", CLONE_THREAD | CLONE_VM | CLONE_SIGHAND, 0, 0),
				 allow);
		assert_int_equal(call(&p, "clone", SIGCHLD, 0, 0),
				 kill ? def : SECCOMP_RET_ERRNO | EPERM);
		assert_int_equal(call(&p, "clone", hi | SIGCHLD, 0, 0),
				 kill ? def : SECCOMP_RET_ERRNO | EPERM);
		/* socket: unix, inet, inet6, netlink; the whole 64-bit value */
		assert_int_equal(call(&p, "socket", AF_INET, SOCK_STREAM, 0), allow);
		assert_int_equal(call(&p, "socket", AF_NETLINK, SOCK_RAW, 0), allow);
		assert_int_equal(call(&p, "socket", AF_PACKET, SOCK_RAW, 0), def);
		assert_int_equal(call(&p, "socket", hi | AF_INET, SOCK_STREAM, 0), def);
		assert_int_equal(call(&p, "socketpair", AF_UNIX, SOCK_STREAM, 0), allow);
		assert_int_equal(call(&p, "socketpair", AF_INET, SOCK_STREAM, 0), def);
		/* ioctl: the listed requests, compared as the kernel's unsigned int */
		assert_int_equal(call(&p, "ioctl", 0, FIONREAD, 0), allow);
		assert_int_equal(call(&p, "ioctl", 0, hi | TIOCGWINSZ, 0), allow);
		assert_int_equal(call(&p, "ioctl", 0, TIOCSTI, 0), def);
		/* prlimit64 only reads */
		assert_int_equal(call(&p, "prlimit64", 0, RLIMIT_NOFILE, 0), allow);
		assert_int_equal(call(&p, "prlimit64", 0, RLIMIT_NOFILE, 0x7ff000), def);
		assert_int_equal(call(&p, "prlimit64", 0, RLIMIT_NOFILE, hi), def);
		/* signals only at ourselves */
		assert_int_equal(call(&p, "kill", self, 0, 0), allow);
		assert_int_equal(call(&p, "tgkill", self, self, SIGABRT), allow);
		assert_int_equal(call(&p, "tkill", self, SIGABRT, 0), allow);
		assert_int_equal(call(&p, "kill", self + 1, SIGKILL, 0), def);
		assert_int_equal(call(&p, "tgkill", 1, 1, SIGKILL), def);
		assert_int_equal(call(&p, "tkill", self + 1, SIGKILL, 0), def);
		/* fchmod without setuid, setgid, sticky */
		assert_int_equal(call(&p, "fchmod", 3, 0600, 0), allow);
		assert_int_equal(call(&p, "fchmod", 3, 04700, 0), def);
		assert_int_equal(call(&p, "fchmod", 3, 02755, 0), def);
		assert_int_equal(call(&p, "fchmod", 3, 01777, 0), def);
		/* sched_setscheduler only to SCHED_BATCH (a worker thread's, offload_thread_init)
		 */
		assert_int_equal(call(&p, "sched_setscheduler", 0, SCHED_BATCH, 0), allow);
		assert_int_equal(call(&p, "sched_setscheduler", 0, hi | SCHED_BATCH, 0), allow);
		assert_int_equal(call(&p, "sched_setscheduler", 0, SCHED_FIFO, 0), def);
		assert_int_equal(call(&p, "sched_setscheduler", 0, SCHED_IDLE, 0), def);
		assert_int_equal(call(&p, "sched_setscheduler", 0, SCHED_OTHER, 0), def);
		/* setpriority only for one thread or process (the store's threads' nice value),
		 * never a user's or a group's processes */
		assert_int_equal(call(&p, "setpriority", PRIO_PROCESS, 1234, 10), allow);
		assert_int_equal(call(&p, "setpriority", PRIO_USER, 0, 10), def);
		assert_int_equal(call(&p, "setpriority", PRIO_PGRP, 0, 10), def);
		assert_int_equal(call(&p, "setpriority", hi | PRIO_USER, 0, 10), def);
		free(p.filter);
	}
}

/* Every named call of this arch with its own rule: longer than one run of jeqs can jump. */
static void compiler_runs_orders_and_refuses(void **state)
{
	struct seccomp_bpf_rule r[600];
	struct sock_fprog p;
	char err[256];
	size_t n = 0;
	int nr, last = -1;

	for (nr = 0; nr < 600 && n < ARRAY_LEN(r) - 2; nr++) {
		if (!seccomp_bpf_name(nr) || nr == (int)nr_of("read"))
			continue;
		r[n++] = (struct seccomp_bpf_rule){nr, SECCOMP_RET_ERRNO | (uint32_t)(nr & 0xff),
						   SECCOMP_BPF_ANY_ARGS, 0, 0};
		last = nr;
	}
	assert_true(n > 250);
	/* read: first match wins, the high word counts, then the default */
	r[n++] = (struct seccomp_bpf_rule){(int)nr_of("read"), SECCOMP_RET_ALLOW, 2, UINT64_MAX,
					   (1ULL << 32) | 5};
	r[n++] = (struct seccomp_bpf_rule){(int)nr_of("read"), SECCOMP_RET_LOG, 2, 0xff, 5};
	assert_int_equal(seccomp_bpf_compile(r, n, SECCOMP_RET_TRAP, &p, err, sizeof(err)), 0);
	for (nr = 0; nr <= last; nr++)
		if (seccomp_bpf_name(nr) && nr != (int)nr_of("read"))
			assert_int_equal(eval(&p, seccomp_bpf_arch(), (uint32_t)nr, no_args),
					 SECCOMP_RET_ERRNO | (uint32_t)(nr & 0xff));
	assert_int_equal(call(&p, "read", 0, 0, (1ULL << 32) | 5), SECCOMP_RET_ALLOW);
	assert_int_equal(call(&p, "read", 0, 0, 5), SECCOMP_RET_LOG);
	assert_int_equal(call(&p, "read", 0, 0, 0x305), SECCOMP_RET_LOG);
	assert_int_equal(call(&p, "read", 0, 0, 6), SECCOMP_RET_TRAP);
	assert_int_equal(eval(&p, seccomp_bpf_arch(), 999, no_args), SECCOMP_RET_TRAP);
	free(p.filter);

	r[0] = (struct seccomp_bpf_rule){(int)nr_of("read"), SECCOMP_RET_ALLOW, 0, 0xff, 0x100};
	assert_int_equal(seccomp_bpf_compile(r, 1, SECCOMP_RET_TRAP, &p, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "outside its mask"));
	r[0] = (struct seccomp_bpf_rule){(int)nr_of("read"), SECCOMP_RET_ALLOW, 6, 1, 1};
	assert_int_equal(seccomp_bpf_compile(r, 1, SECCOMP_RET_TRAP, &p, err, sizeof(err)),
			 -EINVAL);
	r[0] = (struct seccomp_bpf_rule){99999, SECCOMP_RET_ALLOW, SECCOMP_BPF_ANY_ARGS, 0, 0};
	assert_int_equal(seccomp_bpf_compile(r, 1, SECCOMP_RET_TRAP, &p, err, sizeof(err)),
			 -EINVAL);
}

/* Forks a child running fn with its stderr on a pipe; returns its wait status, its stderr in
 * out. fn exits SKIP_STATUS where no filter can be loaded (qemu-user, sanitizer builds). */
static int in_child(void (*fn)(int), char *out, size_t out_len)
{
	int p[2], status = 0;
	ssize_t r;
	size_t n = 0;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDERR_FILENO);
		fn(p[1]);
		_exit(0);
	}
	close(p[1]);
	while (n + 1 < out_len && (r = read(p[0], out + n, out_len - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* Kill mode, loaded directly: works in every build that can load a filter. */
static void child_kill_mode(int fd)
{
	struct sock_fprog p;
	char err[256];

	if (sandbox_filter(true, &p, err, sizeof(err)) < 0)
		_exit(2);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
		_exit(3);
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p, 0L, 0L) < 0)
		_exit(errno == EINVAL || errno == ENOSYS ? SKIP_STATUS : 4);
	if (getppid() <= 0 || write(fd, "allowed\n", 8) != 8)
		_exit(5);
	unshare(0); /* denied: the process dies here */
	_exit(6);
}

static void a_denied_call_kills_the_child_in_kill_mode(void **state)
{
	char out[512];
	int status = in_child(child_kill_mode, out, sizeof(out));

	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS)
		skip();
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
	assert_string_equal(out, "allowed\n");
}

/* Errno mode through the real seal (the trap and its SIGSYS handler). */
static void child_errno_mode(int fd)
{
	struct config cfg = {0};
	char err[256], line[64];
	long r1, r2, r3;
	int e1, e3;

	cfg.guardrails.seccomp.enabled = true;
	cfg.guardrails.seccomp.action = CONFIG_SECCOMP_ERRNO;
	if (sandbox_seccomp(&cfg, err, sizeof(err)) < 0)
		_exit(2);
	if (!sandbox_active())
		_exit(SKIP_STATUS); /* sanitizer build, qemu-user */
	r1 = unshare(0);
	e1 = errno;
	r2 = unshare(0);
	/* a fork is refused with a plain EPERM, not the trap: libcs block SIGSYS around it */
	r3 = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	e3 = errno;
	if (r3 == 0)
		_exit(0);
	snprintf(line, sizeof(line), "result %ld %d %ld %ld %d\n", r1, e1, r2, r3, e3);
	if (write(fd, line, strlen(line)) < 0)
		_exit(7);
	_exit(0);
}

static void a_denied_call_fails_with_eperm_and_is_logged_once_in_errno_mode(void **state)
{
	static const char logged[] = "hermetic: sandbox: denied syscall unshare (";
	char out[4096], want[64];
	int status = in_child(child_errno_mode, out, sizeof(out));
	const char *first;

	if (WIFEXITED(status) && WEXITSTATUS(status) == SKIP_STATUS)
		skip();
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	snprintf(want, sizeof(want), "result -1 %d -1 -1 %d\n", EPERM, EPERM);
	assert_non_null(strstr(out, want));
	first = strstr(out, logged);
	assert_non_null(first);
	assert_null(strstr(first + strlen(logged), logged)); /* once, though tried twice */
	assert_null(strstr(out, "denied syscall clone"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(another_arch_is_killed_before_the_number_is_read),
		cmocka_unit_test(x32_numbers_are_killed_on_x86_64),
		cmocka_unit_test(the_allowlist_is_allowed_and_the_rest_takes_the_default),
		cmocka_unit_test(argument_conditions_hold_on_all_64_bits),
		cmocka_unit_test(compiler_runs_orders_and_refuses),
		cmocka_unit_test(a_denied_call_kills_the_child_in_kill_mode),
		cmocka_unit_test(a_denied_call_fails_with_eperm_and_is_logged_once_in_errno_mode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

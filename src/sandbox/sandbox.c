/* sandbox: the seccomp allowlist and the seal step.
 *
 * The allowlist below is data: each syscall the running gateway, router or chat uses (musl's
 * and glibc's forms, legacy and *at; names are resolved against the native arch's
 * <asm/unistd.h> and what the arch lacks is skipped, e.g. open/stat/fork on aarch64), some with
 * an argument condition:
 * clone only with CLONE_THREAD (curl's threaded resolver and nothing else: CLONE_THREAD
 * implies CLONE_SIGHAND and CLONE_VM, so it cannot be a fork), socket only for unix, inet,
 * inet6 and netlink, ioctl only for the terminal and FIONREAD/FIONBIO requests, prlimit64 only
 * to read, fchmod without the setuid/setgid/sticky bits, sched_setscheduler only to SCHED_BATCH (a
 * worker thread's, core/offload.h), setpriority only for PRIO_PROCESS (the store's threads' nice
 * value, core/offload.h), kill/tgkill/tkill only at our own pid (the
 * filter is built in the process it seals, which never forks afterwards). clone3 fails with ENOSYS
 * (its flags sit behind a pointer a filter cannot read; libcs fall back to clone). Everything else
 * -- execve, ptrace, mount, bpf, unshare, keyctl, kexec, module loading, fork -- takes the default
 * action.
 *
 * Default action: errno mode uses SECCOMP_RET_TRAP and a SIGSYS handler that makes the syscall
 * return -EPERM and writes one line per syscall number to stderr (an atomic flag per number;
 * write(2) is async-signal-safe; names come from a constant table). Rejected: SECCOMP_RET_LOG
 * (allows the call and logs every time, in the audit log, not ours), SECCOMP_RET_ERRNO
 * (silent), a user notifier (needs a supervisor thread or process). A denied call made while
 * SIGSYS is blocked kills instead of failing; hermetic blocks no signals around syscalls. Kill
 * mode uses SECCOMP_RET_KILL_PROCESS. Another arch's calls (i386's int 0x80, x32's numbers with
 * bit 30 set) kill the thread, whatever the mode.
 *
 * The BPF program is built by our own code (seccomp_bpf.c), not libseccomp. libseccomp carried
 * the syscall tables of every arch it knows, about 100 KB of the aarch64 binary's 2 MiB budget,
 * for two arches we ship (aarch64, x86_64), and this policy is a flat allowlist with at most one
 * argument comparison per rule: an arch check, a chain of jeqs and a few short blocks. The
 * program keeps libseccomp's layout and meaning for the same rules, and is checked three ways:
 * before libseccomp went, both programs were run over every syscall number, the x32 and foreign
 * arch values and the interesting argument values, with the same result for each (x86_64
 * natively, aarch64 under qemu); tests/test_seccomp_bpf.c runs the policy's program in a BPF
 * interpreter over crafted seccomp_data (a foreign arch, x32, clone with and without
 * CLONE_THREAD, ...) and loads it in a forked child; `hermetic sandbox-selftest` and
 * tests/e2e/test_sandbox.py seal the real binary.
 *
 * Sanitizer builds do not load the filter: the ASan/LSan runtime needs clone, ptrace and
 * more at exit (LSan's StopTheWorld). The static musl build is where the filter is proved.
 */
#include "sandbox/sandbox.h"
#include "core/config.h"
#include "net/daemon.h"
#include "sandbox/landlock.h"
#include "sandbox/launcher.h"
#include "sandbox/seccomp_bpf.h"
#include "core/log.h"
#include "core/loop.h"
#include "sandbox/spawn.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
	__has_feature(memory_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif

#if defined(__x86_64__) || defined(__aarch64__)
#define TRAP_SUPPORTED 1
#endif

#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1 /* si_code of a seccomp trap (glibc's headers lack the name) */
#endif

/* Syscall numbers the SIGSYS handler can name (both arches stay below this). */
#define MAX_NR 512

enum cond {
	ANY,
	THREAD_ONLY, /* clone: flags must contain CLONE_THREAD */
	SOCKET_DOMAIN,
	UNIX_ONLY, /* socketpair */
	IOCTL_REQ,
	READ_ONLY_LIMIT, /* prlimit64 with no new limit */
	SELF_ONLY,	 /* kill, tgkill, tkill: the first argument is our own pid */
	PLAIN_MODE,	 /* fchmod: no setuid, setgid or sticky bit */
	BATCH_ONLY,	 /* sched_setscheduler: only to SCHED_BATCH */
	PROCESS_ONLY,	 /* setpriority: PRIO_PROCESS only (one thread or process, not a user's) */
};

struct allow {
	const char *name;
	enum cond cond;
};

static const struct allow allowlist[] = {
	/* descriptors and files */
	{"read", ANY},
	{"write", ANY},
	{"readv", ANY},
	{"writev", ANY},
	{"pread64", ANY},
	{"pwrite64", ANY},
	{"preadv", ANY},
	{"pwritev", ANY},
	{"preadv2", ANY},
	{"pwritev2", ANY},
	{"lseek", ANY},
	{"close", ANY},
	{"dup", ANY},
	{"dup2", ANY},
	{"dup3", ANY},
	{"fcntl", ANY},
	{"flock", ANY},
	{"fsync", ANY},
	{"fdatasync", ANY},
	{"ftruncate", ANY},
	{"fallocate", ANY},
	{"open", ANY},
	{"openat", ANY},
	{"openat2", ANY},
	{"stat", ANY},
	{"fstat", ANY},
	{"lstat", ANY},
	{"newfstatat", ANY},
	{"statx", ANY},
	{"statfs", ANY},
	{"fstatfs", ANY},
	{"access", ANY},
	{"faccessat", ANY},
	{"faccessat2", ANY},
	{"readlink", ANY},
	{"readlinkat", ANY},
	{"getdents", ANY},
	{"getdents64", ANY},
	{"mkdir", ANY},
	{"mkdirat", ANY},
	{"rmdir", ANY},
	{"unlink", ANY},
	{"unlinkat", ANY},
	{"rename", ANY},
	{"renameat", ANY},
	{"renameat2", ANY},
	{"fchmod", PLAIN_MODE},
	{"fchown", ANY},
	{"getcwd", ANY},
	{"ioctl", IOCTL_REQ},
	/* memory */
	{"brk", ANY},
	{"mmap", ANY},
	{"munmap", ANY},
	{"mremap", ANY},
	{"mprotect", ANY},
	{"madvise", ANY},
	{"membarrier", ANY},
	/* event loop, pipes, timers */
	{"poll", ANY},
	{"ppoll", ANY},
	{"select", ANY},
	{"pselect6", ANY},
	{"epoll_create", ANY},
	{"epoll_create1", ANY},
	{"epoll_ctl", ANY},
	{"epoll_wait", ANY},
	{"epoll_pwait", ANY},
	{"epoll_pwait2", ANY},
	{"eventfd", ANY},
	{"eventfd2", ANY},
	{"timerfd_create", ANY},
	{"timerfd_settime", ANY},
	{"timerfd_gettime", ANY},
	{"pipe", ANY},
	{"pipe2", ANY},
	/* network */
	{"socket", SOCKET_DOMAIN},
	{"socketpair", UNIX_ONLY},
	{"connect", ANY},
	{"bind", ANY},
	{"accept", ANY},
	{"accept4", ANY},
	{"getsockname", ANY},
	{"getpeername", ANY},
	{"getsockopt", ANY},
	{"setsockopt", ANY},
	{"sendto", ANY},
	{"recvfrom", ANY},
	{"sendmsg", ANY},
	{"recvmsg", ANY},
	{"sendmmsg", ANY},
	{"recvmmsg", ANY},
	{"shutdown", ANY},
	/* threads (curl's resolver), signals, exit */
	{"clone", THREAD_ONLY},
	{"futex", ANY},
	{"set_robust_list", ANY},
	{"set_tid_address", ANY},
	{"rseq", ANY},
	{"sched_yield", ANY},
	{"sched_getaffinity", ANY},
	{"sched_setscheduler", BATCH_ONLY},
	{"setpriority", PROCESS_ONLY},
	{"exit", ANY},
	{"exit_group", ANY},
	{"rt_sigaction", ANY},
	{"rt_sigprocmask", ANY},
	{"rt_sigreturn", ANY},
	{"sigaltstack", ANY},
	{"restart_syscall", ANY},
	{"kill", SELF_ONLY},
	{"tgkill", SELF_ONLY},
	{"tkill", SELF_ONLY},
	{"wait4", ANY},
	{"waitid", ANY},
	/* time, identity, limits, randomness */
	{"clock_gettime", ANY},
	{"clock_getres", ANY},
	{"gettimeofday", ANY},
	{"time", ANY},
	{"nanosleep", ANY},
	{"clock_nanosleep", ANY},
	{"getpid", ANY},
	{"getppid", ANY},
	{"gettid", ANY},
	{"getuid", ANY},
	{"geteuid", ANY},
	{"getgid", ANY},
	{"getegid", ANY},
	{"getresuid", ANY},
	{"getresgid", ANY},
	{"uname", ANY},
	{"sysinfo", ANY},
	{"getrusage", ANY},
	{"times", ANY},
	{"getrlimit", ANY},
	{"prlimit64", READ_ONLY_LIMIT},
	{"getrandom", ANY},
	/* Landlock may be applied (or tightened) by the seal step */
	{"landlock_create_ruleset", ANY},
	{"landlock_add_rule", ANY},
	{"landlock_restrict_self", ANY},
};

static const int socket_domains[] = {AF_UNIX, AF_INET, AF_INET6, AF_NETLINK};
static const unsigned long ioctl_reqs[] = {FIONREAD, FIONBIO, FIOCLEX, FIONCLEX,   TCGETS,
					   TCSETS,   TCSETSW, TCSETSF, TIOCGWINSZ, TIOCGPGRP};

enum state { OFF_CONFIG, OFF_SANITIZER, OFF_UNSUPPORTED, ACTIVE_ERRNO, ACTIVE_KILL };
static enum state state = OFF_CONFIG;

static unsigned char seen[MAX_NR];

/* Room for the allowlist with one rule per socket domain and ioctl request, and the denials. */
#define MAX_RULES (ARRAY_LEN(allowlist) + ARRAY_LEN(socket_domains) + ARRAY_LEN(ioctl_reqs) + 8)

struct rules {
	struct seccomp_bpf_rule r[MAX_RULES];
	size_t n;
	uint32_t def;
};

/* Appends "nr gets action when (args[arg] & mask) == value" (arg SECCOMP_BPF_ANY_ARGS: always). */
static int add(struct rules *rs, int nr, uint32_t action, int arg, uint64_t mask, uint64_t value)
{
	if (rs->n == ARRAY_LEN(rs->r))
		return -ENOSPC;
	rs->r[rs->n++] = (struct seccomp_bpf_rule){nr, action, arg, mask, value};
	return 0;
}

static int add_cond(struct rules *rs, int nr, const struct allow *a, pid_t self)
{
	const uint32_t allow = SECCOMP_RET_ALLOW;
	size_t i;
	int rc = 0;

	switch (a->cond) {
	case ANY:
		return add(rs, nr, allow, SECCOMP_BPF_ANY_ARGS, 0, 0);
	case THREAD_ONLY:
		return add(rs, nr, allow, 0, CLONE_THREAD, CLONE_THREAD);
	case SOCKET_DOMAIN:
		/* All 64 bits, as the kernel's int sees the low 32: a stray high bit is denied. */
		for (i = 0; i < ARRAY_LEN(socket_domains) && rc == 0; i++)
			rc = add(rs, nr, allow, 0, UINT64_MAX, (uint64_t)socket_domains[i]);
		return rc;
	case UNIX_ONLY:
		return add(rs, nr, allow, 0, UINT64_MAX, AF_UNIX);
	case IOCTL_REQ:
		/* The kernel takes the request as unsigned int: compare the low 32 bits only. */
		for (i = 0; i < ARRAY_LEN(ioctl_reqs) && rc == 0; i++)
			rc = add(rs, nr, allow, 1, 0xffffffffUL, ioctl_reqs[i] & 0xffffffffUL);
		return rc;
	case READ_ONLY_LIMIT:
		return add(rs, nr, allow, 2, UINT64_MAX, 0);
	case SELF_ONLY:
		/* raise() and abort() signal us (glibc: tgkill(pid, tid); musl: tkill(tid), whose
		 * main thread's tid is the pid). Children are signalled by the launcher, so any
		 * other target -- the launcher, the servers, the user's other processes -- is
		 * refused. The kernel takes pid_t: compare the low 32 bits. */
		return add(rs, nr, allow, 0, 0xffffffffUL, (uint32_t)self);
	case PLAIN_MODE:
		/* Our files are 0600/0644 (safeio, SQLite). A setuid or setgid bit on a file in
		 * home would hand our uid to whoever runs it. */
		return add(rs, nr, allow, 1, 07000, 0);
	case BATCH_ONLY:
		/* A worker thread's SCHED_BATCH (offload_thread_init); a real-time policy needs
		 * CAP_SYS_NICE anyway, but nothing else is asked for. The kernel takes int. One
		 * comparison a rule: the policy is checked, not the target (libcs pass the thread's
		 * tid, not 0), so a process of the same user could be set to SCHED_BATCH too. */
		return add(rs, nr, allow, 1, 0xffffffffUL, SCHED_BATCH);
	case PROCESS_ONLY:
		/* The store's threads raise their own nice value (offload_thread_background).
		 * PRIO_USER would renice every process of the user, PRIO_PGRP a group; the value
		 * is not checked (without CAP_SYS_NICE a nice value can only be raised). The
		 * kernel takes int. */
		return add(rs, nr, allow, 0, 0xffffffffUL, PRIO_PROCESS);
	}
	return -EINVAL;
}

/* In errno mode, fork, vfork and clone without CLONE_THREAD fail with a plain EPERM rather
 * than the trap: libcs block every signal around them (musl's fork does), and a SIGSYS that
 * arrives blocked kills the process. They are not logged. */
static int deny_forks(struct rules *rs)
{
	static const char *const names[] = {"fork", "vfork"};
	const uint32_t eperm = SECCOMP_RET_ERRNO | EPERM;
	size_t i;
	int nr, rc = 0;

	for (i = 0; i < ARRAY_LEN(names) && rc == 0; i++) {
		nr = seccomp_bpf_nr(names[i]);
		if (nr >= 0)
			rc = add(rs, nr, eperm, SECCOMP_BPF_ANY_ARGS, 0, 0);
	}
	if (rc == 0)
		rc = add(rs, seccomp_bpf_nr("clone"), eperm, 0, CLONE_THREAD, 0);
	return rc;
}

/* The rules for a process with pid self (not loaded). Returns 0, or a negative errno with a
 * message in err. */
static int build(bool kill, pid_t self, struct rules *rs, char *err, size_t err_len)
{
	size_t i;
	int nr, rc = 0;

	rs->n = 0;
	rs->def = kill ? SECCOMP_RET_KILL_PROCESS : SECCOMP_RET_ERRNO | EPERM;
#ifdef TRAP_SUPPORTED
	if (!kill)
		rs->def = SECCOMP_RET_TRAP;
#endif
	if (!seccomp_bpf_native()) {
		snprintf(err, err_len,
			 "this build has no seccomp filter for this architecture "
			 "(only x86_64 and aarch64)");
		return -ENOTSUP;
	}
	for (i = 0; i < ARRAY_LEN(allowlist) && rc == 0; i++) {
		nr = seccomp_bpf_nr(allowlist[i].name);
		if (nr < 0)
			continue; /* a legacy call this arch lacks */
		rc = add_cond(rs, nr, &allowlist[i], self);
	}
	if (rc == 0 && !kill)
		rc = deny_forks(rs);
	nr = seccomp_bpf_nr("clone3");
	if (rc == 0 && nr >= 0)
		rc = add(rs, nr, SECCOMP_RET_ERRNO | ENOSYS, SECCOMP_BPF_ANY_ARGS, 0, 0);
	if (rc < 0)
		snprintf(err, err_len, "seccomp rules: %s", strerror(-rc));
	return rc;
}

int sandbox_filter(bool kill, struct sock_fprog *prog, char *err, size_t err_len)
{
	struct rules *rs = xmalloc(sizeof(*rs));
	int rc = build(kill, getpid(), rs, err, err_len);

	if (rc == 0)
		rc = seccomp_bpf_compile(rs->r, rs->n, rs->def, prog, err, err_len);
	free(rs);
	return rc;
}

/* Appends s to the line being built in a signal handler. */
static size_t put_str(char *b, size_t at, size_t cap, const char *s)
{
	while (*s && at < cap)
		b[at++] = *s++;
	return at;
}

#ifdef TRAP_SUPPORTED
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	int nr = si->si_syscall, saved = errno;
	const char *name = seccomp_bpf_name(nr);
	char line[160], num[INT_TEXT_MAX + 1];
	size_t n = 0;

	/* Only the filter's trap has a syscall to fail. A SIGSYS sent with kill(1) by a process
	 * of the same user interrupts arbitrary code: rewriting its return register there would
	 * corrupt it (an interrupted epoll_wait would fail with EPERM and end the loop). */
	if (si->si_code != SYS_SECCOMP)
		return;
#if defined(__x86_64__)
	uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
#else
	uc->uc_mcontext.regs[0] = (unsigned long long)-EPERM;
#endif
	if (nr >= 0 && nr < MAX_NR && __atomic_exchange_n(&seen[nr], 1, __ATOMIC_RELAXED))
		goto out;
	n = put_str(line, n, sizeof(line), "hermetic: sandbox: denied syscall ");
	n = put_str(line, n, sizeof(line), name ? name : "?");
	n = put_str(line, n, sizeof(line), " (");
	num[fmt_uint(num, nr < 0 ? 0u : (unsigned)nr, 10)] = '\0';
	n = put_str(line, n, sizeof(line), num);
	n = put_str(line, n, sizeof(line), "): it fails with EPERM (logged once)\n");
	if (write(STDERR_FILENO, line, n) < 0)
		goto out;
out:
	errno = saved;
}

static int install_trap(char *err, size_t err_len)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		snprintf(err, err_len, "cannot install the SIGSYS handler: %s", strerror(errno));
		return -errno;
	}
	return 0;
}
#endif

/* Whether seccomp(2) takes this filter flag: it checks the flags before it reads the program,
 * so a NULL program fails with EFAULT exactly when the flag is known. */
static bool flag_known(unsigned long flag)
{
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flag, NULL) < 0 && errno == EFAULT;
}

static bool action_known(uint32_t action)
{
	return syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

/* What this kernel offers, in libseccomp's API levels (the log names them): 1 the prctl alone;
 * 2 seccomp(2) with TSYNC (3.17); 3 also the LOG flag and the LOG and KILL_PROCESS actions
 * (4.14). qemu-user has no seccomp(2): 1. */
static unsigned api_level(void)
{
	bool has_syscall =
		syscall(SYS_seccomp, SECCOMP_SET_MODE_STRICT, 1L, NULL) < 0 && errno == EINVAL;

	if (!has_syscall || !flag_known(SECCOMP_FILTER_FLAG_TSYNC))
		return 1;
	if (!flag_known(SECCOMP_FILTER_FLAG_LOG) || !action_known(SECCOMP_RET_LOG) ||
	    !action_known(SECCOMP_RET_KILL_PROCESS))
		return 2;
	return 3;
}

/* Sets no_new_privs and loads prog. The filter (and no_new_privs) would bind the calling thread
 * and the threads it starts later, not those already running: the store's checkpointer is
 * started with the store. TSYNC puts every thread of the process under it. Without seccomp(2)
 * (level 1: qemu-user, kernels before 3.17) only the prctl is left, which cannot sync: qemu
 * refuses it with EINVAL, which the caller reports as "not available here". Returns 0 or the
 * raw negative errno; -ESRCH when a thread could not be synced. */
static int load(const struct sock_fprog *prog, unsigned level)
{
	long r;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0)
		return -errno;
	if (level < 2)
		return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog, 0L, 0L) < 0 ? -errno : 0;
	r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, prog);
	if (r > 0)
		return -ESRCH; /* the id of the thread that could not be synced */
	return r < 0 ? -errno : 0;
}

int sandbox_seccomp(const struct config *cfg, char *err, size_t err_len)
{
	bool kill = cfg->guardrails.seccomp.action == CONFIG_SECCOMP_KILL;
	struct sock_fprog prog = {0};
	unsigned level;
	int rc = 0;

	if (!cfg->guardrails.seccomp.enabled) {
		state = OFF_CONFIG;
		log_warn("seccomp: off (guardrails.seccomp.enabled is false)");
		return 0;
	}
#ifdef SANITIZER_BUILD
	state = OFF_SANITIZER;
	log_info("seccomp: off in this sanitizer build (the ASan/LSan runtime needs clone and "
		 "ptrace); use a release build for the sandbox");
	return 0;
#endif
	/* SECCOMP_RET_KILL_PROCESS needs API level 3 (Linux 4.14); qemu-user reports 1. */
	level = api_level();
	if (kill && level < 3) {
		log_warn("seccomp: this kernel cannot kill the process on a denied syscall (API "
			 "level %u); denied syscalls fail with EPERM instead",
			 level);
		kill = false;
	}
	rc = sandbox_filter(kill, &prog, err, err_len);
	if (rc < 0)
		return rc;
#ifdef TRAP_SUPPORTED
	if (!kill) {
		rc = install_trap(err, err_len);
		if (rc < 0)
			goto out;
	}
#endif
	rc = load(&prog, level);
	if (rc == -EINVAL || rc == -ENOSYS) {
		/* qemu-user and kernels without CONFIG_SECCOMP_FILTER: nothing to load into. */
		state = OFF_UNSUPPORTED;
		log_warn("seccomp: not available here (%s); running without the syscall filter",
			 strerror(-rc));
		rc = 0;
		goto out;
	}
	if (rc < 0) {
		snprintf(err, err_len, "cannot load the seccomp filter: %s",
			 rc == -ESRCH ? "a thread of the process could not be put under it"
				      : strerror(-rc));
		goto out;
	}
	state = kill ? ACTIVE_KILL : ACTIVE_ERRNO;
	log_info("seccomp: active, other syscalls %s",
		 kill ? "kill the process" : "fail with EPERM");
out:
	free(prog.filter);
	return rc;
}

int sandbox_seal(const struct config *cfg)
{
	char err[256];

	/* Children are started by the launcher, forked with the stdio servers' table when the MCP
	 * client was created (mcp_create): it must exist before fork is filtered. Without stdio
	 * servers there is nothing to start, and no launcher. */
	spawn_launcher_close();
	/* Landlock before seccomp: it needs prctl and the landlock syscalls to set up, and the
	 * launcher forked above stays outside both (it must exec the servers). */
	landlock_seal(cfg);
	if (sandbox_seccomp(cfg, err, sizeof(err)) < 0) {
		log_error("%s; set guardrails.seccomp.enabled: false to run without it", err);
		return -1;
	}
	return 0;
}

int sandbox_inherited_filters(void)
{
	return seccomp_bpf_filters_beyond(sandbox_active() ? 1 : 0);
}

bool sandbox_active(void)
{
	return state == ACTIVE_ERRNO || state == ACTIVE_KILL;
}

const char *sandbox_status(void)
{
	switch (state) {
	case OFF_CONFIG:
		return "off: disabled in the config (or not sealed)";
	case OFF_SANITIZER:
		return "off: sanitizer build";
	case OFF_UNSUPPORTED:
		return "off: the kernel or emulator cannot load seccomp filters";
	case ACTIVE_ERRNO:
		return "active (errno)";
	case ACTIVE_KILL:
		return "active (kill)";
	}
	return "?";
}

int sandbox_export_rules(bool kill, FILE *out)
{
	struct rules *rs = xmalloc(sizeof(*rs));
	struct sock_fprog prog = {0};
	char err[256];
	int rc;

	/* The filter as a current kernel gets it, whatever this one (or qemu) supports: it is
	 * compiled (so a policy BPF cannot express fails here too) and printed, never loaded. */
	rc = build(kill, getpid(), rs, err, sizeof(err));
	if (rc == 0)
		rc = seccomp_bpf_compile(rs->r, rs->n, rs->def, &prog, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "hermetic: %s\n", err);
		goto out;
	}
	seccomp_bpf_print(rs->r, rs->n, rs->def, out);
	fflush(out);
	rc = ferror(out) ? -EIO : 0;
out:
	free(prog.filter);
	free(rs);
	return rc;
}

/* ---- selftest ---------------------------------------------------------------------------- */

static void *thread_main(void *arg)
{
	return arg;
}

static long try_fork_raw(void)
{
	long r = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);

	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid((pid_t)r, NULL, 0);
	return r;
}

static long try_fork_libc(void)
{
	pid_t r = fork();

	if (r == 0)
		_exit(0);
	if (r > 0)
		waitpid(r, NULL, 0);
	return r;
}

static long try_execve(void)
{
	char *argv[] = {"true", NULL}, *env[] = {NULL};

	return execve("/bin/true", argv, env);
}

static long try_ptrace(void)
{
	return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}

static long try_mount(void)
{
	/* A target that does not exist: ENOENT where mount is allowed, never a real mount. */
	return mount("none", "/nonexistent-hermetic-selftest", "tmpfs", MS_RDONLY, NULL);
}

static long try_unshare(void)
{
	return unshare(0); /* a no-op where allowed */
}

static long try_bpf(void)
{
	return syscall(SYS_bpf, -1L, 0L, 0L);
}

static long try_keyctl(void)
{
	return syscall(SYS_keyctl, -1L, 0L, 0L, 0L, 0L);
}

static long try_setns(void)
{
	return syscall(SYS_setns, -1L, 0L);
}

/* Signal 0 probes: delivers nothing, only checks permission. The parent is the one that ran
 * the selftest, a process of the same user, so only the filter can refuse. */
static long try_kill_other(void)
{
	return kill(getppid(), 0);
}

static long try_tgkill_other(void)
{
	return syscall(SYS_tgkill, (long)getppid(), (long)getppid(), 0L);
}

static long try_tkill_other(void)
{
	return syscall(SYS_tkill, (long)getppid(), 0L);
}

static char fchmod_probe[4096]; /* a file in home, set by the selftest */

static long try_fchmod_setuid(void)
{
	int fd = open(fchmod_probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	long r;
	int e;

	if (fd < 0)
		return 0; /* cannot test: counts as not denied */
	r = fchmod(fd, 04700);
	e = errno;
	close(fd);
	unlink(fchmod_probe);
	errno = e;
	return r;
}

struct probe {
	const char *name;
	long (*fn)(void);
};

static const struct probe denied[] = {
	{"execve", try_execve},
	{"execve-again", try_execve},
	{"ptrace", try_ptrace},
	{"mount", try_mount},
	{"fork-clone", try_fork_raw},
	{"fork-libc", try_fork_libc},
	{"unshare", try_unshare},
	{"setns", try_setns},
	{"bpf", try_bpf},
	{"keyctl", try_keyctl},
	{"kill-other", try_kill_other},
	{"tgkill-other", try_tgkill_other},
	{"tkill-other", try_tkill_other},
	{"fchmod-setuid", try_fchmod_setuid},
};

struct child_run {
	struct loop *loop;
	int status;
};

static void on_child_exit(struct spawn *sp, int status, void *arg)
{
	struct child_run *cr = arg;

	cr->status = status;
	loop_stop(cr->loop);
}

/* The next report of the launcher on sock, waiting at most 2 s. False when none came. */
static bool next_report(int sock, struct launcher_rep *r)
{
	struct pollfd p = {.fd = sock, .events = POLLIN};

	return poll(&p, 1, 2000) == 1 && recv(sock, r, sizeof(*r), 0) == (ssize_t)sizeof(*r);
}

/* Sends pkt with three descriptors of one pipe attached, as spawn does for a START, and
 * prints what the launcher answered: "refused (why)" when it ran nothing, which is the only
 * acceptable answer here. */
static bool forged_start(int sock, const char *name, const void *pkt, size_t len, FILE *out)
{
	struct launcher_rep r = {0};
	int p[2], fds[3], rc;
	bool refused = false;

	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(out, "%s: pipe: %s\n", name, strerror(errno));
		return false;
	}
	fds[0] = p[0];
	fds[1] = p[1];
	fds[2] = p[1];
	rc = launcher_send(sock, pkt, len, fds, 0);
	if (rc < 0) {
		fprintf(out, "%s: send: %s\n", name, strerror(-rc));
	} else if (!next_report(sock, &r)) {
		fprintf(out, "%s: no answer\n", name);
	} else if (r.type == LAUNCHER_EXITED && r.pid < 0 && r.err) {
		fprintf(out, "%s: refused (%s)\n", name, strerror(r.err));
		refused = true;
	} else {
		fprintf(out, "%s: ran as pid %d\n", name, (int)r.pid);
		/* Its exit is reported next: wait for it, so that its effects are visible. */
		if (r.type == LAUNCHER_STARTED)
			next_report(sock, &r);
	}
	close(p[0]);
	close(p[1]);
	return refused;
}

/* What a compromised sealed process could send the launcher: an exec of /bin/sh with its own
 * argv and environment (the request format of hermetic 3096e83 and earlier), and a program
 * index outside the table. Both must be refused with nothing run: the shell would create
 * home/.selftest-forged. */
static bool launcher_refuses_forged(const struct config *cfg, FILE *out)
{
	char pkt[512], *marker = xasprintf("%s/.selftest-forged", cfg->home);
	char *script = xasprintf(": > '%s'", marker);
	uint32_t hdr[5] = {LAUNCHER_START, 9001, 0, 3, 1}; /* type, id, sig, n_argv, n_env */
	struct launcher_req rq = {.type = LAUNCHER_START, .id = 9002, .prog = 1000};
	int sock = spawn_launcher_sock(), len;
	struct stat st;
	bool ok, ran;

	unlink(marker);
	memcpy(pkt, hdr, sizeof(hdr));
	len = snprintf(pkt + sizeof(hdr), sizeof(pkt) - sizeof(hdr), "/bin/sh%csh%c-c%c%s%cX=1", 0,
		       0, 0, script, 0);
	ok = forged_start(sock, "launcher-forged-exec", pkt, sizeof(hdr) + (size_t)len + 1, out);
	ok = forged_start(sock, "launcher-index-out-of-range", &rq, sizeof(rq), out) && ok;
	ran = stat(marker, &st) == 0;
	fprintf(out, "launcher-forged-ran: %s\n", ran ? "yes" : "no");
	unlink(marker);
	free(script);
	free(marker);
	fflush(out);
	return ok && !ran;
}

/* A child through the launcher after the seal: proves MCP servers still start. */
static bool launcher_works(struct loop *l, FILE *out)
{
	struct child_run cr = {l, -1};
	struct spawn_opts o = {0, on_child_exit, &cr};
	struct spawn *sp;
	char err[256];

	if (spawn_start(l, &o, &sp, err, sizeof(err)) < 0) {
		fprintf(out, "launcher: %s\n", err);
		return false;
	}
	loop_run(l);
	spawn_free(sp);
	fprintf(out, "launcher: child exited with status %d\n", cr.status);
	return cr.status == 0;
}

static void print_proc_status(FILE *out)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "Seccomp:", 8) == 0 || strncmp(line, "NoNewPrivs:", 11) == 0)
			fputs(line, out);
	if (f)
		fclose(f);
}

int sandbox_selftest(const struct config *cfg, FILE *out)
{
	/* The launcher's table: `true`, the child launcher_works starts. */
	const char *argv[] = {"true", NULL}, *env[] = {NULL};
	const struct spawn_prog prog = {"true", argv, env};
	struct daemon d = {0};
	pthread_t t;
	bool ok = true;
	size_t i;
	long r;

	char err[256];

	if (daemon_init(&d, cfg, "sandbox-selftest") < 0 ||
	    spawn_launcher_start(&prog, 1, err, sizeof(err)) < 0 || sandbox_seal(cfg) < 0) {
		daemon_finish(&d);
		return 1;
	}
	fprintf(out, "seccomp: %s\n", sandbox_status());
	print_proc_status(out);
	fflush(out);
	/* The launcher is outside both Landlock and seccomp: its refusals hold in any build. */
	ok = launcher_refuses_forged(cfg, out);
	if (!sandbox_active()) {
		daemon_finish(&d);
		return ok ? 3 : 1;
	}
	snprintf(fchmod_probe, sizeof(fchmod_probe), "%s/.selftest-fchmod", cfg->home);
	for (i = 0; i < ARRAY_LEN(denied); i++) {
		fprintf(out, "%s: ", denied[i].name);
		fflush(out);
		errno = 0;
		r = denied[i].fn();
		if (r < 0)
			fprintf(out, "errno=%d (%s)\n", errno, strerror(errno));
		else
			fprintf(out, "allowed\n");
		ok = ok && r < 0 && errno == EPERM;
		fflush(out);
	}
	/* raise() must keep working: abort() and glibc's and musl's raise signal ourselves. */
	r = kill(getpid(), 0) == 0 &&
	    syscall(SYS_tgkill, (long)getpid(), syscall(SYS_gettid), 0L) == 0 &&
	    syscall(SYS_tkill, (long)getpid(), 0L) == 0;
	fprintf(out, "signal-self: %s\n", r ? "ok" : strerror(errno));
	ok = ok && r;
	r = pthread_create(&t, NULL, thread_main, NULL);
	fprintf(out, "thread: %s\n", r == 0 ? "ok" : strerror((int)r));
	if (r == 0)
		pthread_join(t, NULL);
	ok = ok && r == 0;
	ok = launcher_works(d.loop, out) && ok;
	daemon_finish(&d);
	fprintf(out, "selftest: %s\n", ok ? "ok" : "FAILED");
	return ok ? 0 : 1;
}

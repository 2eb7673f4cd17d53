/* seccomp_bpf: a flat seccomp policy compiled to a classic BPF program for the native arch
 * (x86_64 or aarch64), printed as pseudo filter code, and the native syscall names.
 *
 * A policy is a list of rules, each "syscall nr gets action", optionally only when
 * (args[arg] & mask) == value over the full 64-bit argument. The program checks
 * seccomp_data.arch first (another arch gets SECCOMP_RET_KILL_THREAD; on x86_64 so do x32
 * calls, numbers with bit 30 set), then takes the first rule of the syscall that matches,
 * else the default action.
 */
#ifndef HERMETIC_SECCOMP_BPF_H
#define HERMETIC_SECCOMP_BPF_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__x86_64__) || defined(__aarch64__)
#define SECCOMP_BPF_NATIVE 1
#endif

/* args[arg] & mask == value; arg SECCOMP_BPF_ANY_ARGS: always. value must lie within mask. */
struct seccomp_bpf_rule {
	int nr;
	uint32_t action; /* SECCOMP_RET_* | data */
	int arg;
	uint64_t mask;
	uint64_t value;
};

#define SECCOMP_BPF_ANY_ARGS (-1)

/* Whether this build knows the native syscall ABI (false on arches other than x86_64 and
 * aarch64: then nothing here may be used). */
bool seccomp_bpf_native(void);

/* The native arch: its AUDIT_ARCH_* value and name ("x86_64", "aarch64"). */
uint32_t seccomp_bpf_arch(void);
const char *seccomp_bpf_arch_name(void);

/* How many seccomp filters this process runs under beyond the `ours` (0 or 1) hermetic
 * loaded, from /proc/self/status; 0 when none, a negative errno when it cannot tell (no
 * /proc). Before Linux 5.9 the kernel gives no count: a filter not ours counts as one.
 * Callers: sandbox_inherited_filters (sandbox.c), and landlock.c before the seal loads ours. */
int seccomp_bpf_filters_beyond(int ours);

/* The native number of a syscall name, or -1 when this arch has no such call. */
int seccomp_bpf_nr(const char *name);

/* The name of a native syscall number, or NULL. Async-signal-safe (a table lookup). */
const char *seccomp_bpf_name(int nr);

/* Compiles n rules and the default action into prog (prog->filter is allocated: free() it).
 * Rules of one syscall are tried in the order given. Returns 0, or -EINVAL with a message in
 * err (an unknown syscall number, an argument index, a value outside its mask, a program too
 * long for BPF's jumps). */
int seccomp_bpf_compile(const struct seccomp_bpf_rule *rules, size_t n, uint32_t def_action,
			struct sock_fprog *prog, char *err, size_t err_len);

/* Prints the policy as the program checks it, in libseccomp's pseudo filter code layout
 * ("# filter for syscall "NAME" (NR)", "if ($a0.lo32 & 0x00010000 == 65536)",
 * "action ALLOW;", "# default action"). */
void seccomp_bpf_print(const struct seccomp_bpf_rule *rules, size_t n, uint32_t def_action,
		       FILE *out);

#endif

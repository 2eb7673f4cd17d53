/* sandbox: seals the process after start-up so that even a confused model cannot widen its
 * own powers: Landlock (landlock.c) on the file tree, then a seccomp allowlist (a BPF program
 * of our own, seccomp_bpf.c) of the syscalls the gateway, the router and chat need once
 * running, with no_new_privs. Children (stdio MCP servers) are started by the launcher
 * (launcher.c), forked before the filter closes.
 */
#ifndef HERMETIC_SANDBOX_H
#define HERMETIC_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct config;
struct sock_fprog;

/* The seal step, called once after config, home, store, log and listening sockets are open
 * (and after mcp_create, which forks the process launcher with the stdio servers' table):
 * closes the launcher's start, applies Landlock (best effort, logged), then installs the
 * seccomp filter per guardrails.seccomp. Returns 0, or -1 after logging why (the caller refuses to
 * run). */
int sandbox_seal(const struct config *cfg);

/* Installs the seccomp allowlist alone. Returns 0 when it is active or deliberately off
 * (disabled in the config, sanitizer build, or a kernel/emulator without seccomp filters:
 * each logged once); a negative errno with a message in err when it should be on and is not. */
int sandbox_seccomp(const struct config *cfg, char *err, size_t err_len);

/* Whether this process runs under hermetic's filter, and a one-line description of the state
 * ("active (errno)", "off: disabled in the config", ...). */
bool sandbox_active(void);
const char *sandbox_status(void);

/* How many seccomp filters this process runs under that hermetic did not load: a container
 * runtime's profile (RuntimeDefault, Docker's, podman's) or a service manager's, which stack
 * under ours and may refuse calls the kernel offers. From /proc/self/status; 0 when none, a
 * negative errno when it cannot tell (no /proc). */
int sandbox_inherited_filters(void);

/* Builds the program sandbox_seccomp would load in this process (kill: the kill action, else
 * the trap of errno mode), without loading it; prog->filter is allocated (free() it). Returns
 * 0, or a negative errno with a message in err (an arch other than x86_64 and aarch64). */
int sandbox_filter(bool kill, struct sock_fprog *prog, char *err, size_t err_len);

/* Writes the filter that sandbox_seccomp would load, as pseudo filter code in libseccomp's
 * layout, without loading it (kill: the kill action, else errno). Returns 0 or a negative
 * errno. */
int sandbox_export_rules(bool kill, FILE *out);

/* `hermetic sandbox-selftest`: the real start-up, the seal, forged requests the launcher
 * must refuse (an exec of /bin/sh, an index outside its table), then attempts at what the
 * filter must deny (execve, ptrace, mount, fork, ...) and what it must allow (a thread, a
 * child through the launcher), one line each on out. Returns the process exit code: 0 when every
 * denial and allowance held, 1 when one did not, 3 when seccomp is not active here. */
int sandbox_selftest(const struct config *cfg, FILE *out);

#endif

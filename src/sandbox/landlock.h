/* landlock: restrict the process's own file access with Landlock (Linux 5.13+) once start-up
 * is done: writes only under home; reads only under home, the config's and the persona's
 * directories, the notes and external skills dirs, the CA bundle's directory, zoneinfo, /etc
 * (the resolver's files), /proc/self and a few devices. Files that are replaced by rename
 * while we run are granted through their directory: a rule binds an inode. Best effort by the
 * kernel's ABI (1-7): rights a kernel does not know are not asked for. No network rules (the router
 * and tools connect where the config says).
 *
 * Processes forked before landlock_apply() (the stdio MCP launcher) are not restricted;
 * anything forked after inherits the restriction.
 */
#ifndef HERMETIC_LANDLOCK_H
#define HERMETIC_LANDLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct config;

/* The Landlock ABI version the kernel offers (>= 1), or a negative errno: -ENOSYS (kernel
 * or emulator without it), -EOPNOTSUPP (compiled in but disabled at boot). */
int landlock_abi(void);

/* True when landlock_apply() would restrict this process with cfg; else why says why not
 * (the kernel lacks it, HERMETIC_LANDLOCK=0, ...). On true why says what would be enforced. */
bool landlock_would_apply(const struct config *cfg, char *why, size_t len);

/* Restricts this process (all threads created after it; call it before starting any) for
 * good. Returns 1 when active, 0 when not, with a one-line reason or summary in why. Calls
 * prctl(PR_SET_NO_NEW_PRIVS). */
int landlock_apply(const struct config *cfg, char *why, size_t len);

/* The seal step: landlock_apply() and one log line saying the outcome. Returns 1 or 0. */
int landlock_seal(const struct config *cfg);

/* One line for /status and doctor: the outcome of the last landlock_seal(), or "not
 * applied". */
const char *landlock_state(void);

/* Tests only (`hermetic landlock-probe`): seals as the gateway does, prints the state, then
 * for each "w:PATH" / "r:PATH" opens PATH for writing / reading and prints "ok" or the error.
 * Returns the exit code. */
int landlock_probe(const struct config *cfg, char **ops, int n, FILE *out);

#endif

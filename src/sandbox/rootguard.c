/* rootguard: refuse uid 0 for the long-running commands unless HERMETIC_ALLOW_ROOT=1.
 *
 * Both the real and the effective uid count: a setuid-root binary would otherwise slip
 * through. Only the exact value "1" overrides, so a stray HERMETIC_ALLOW_ROOT=0 keeps the
 * refusal. Rejected: dropping privileges ourselves (to which uid? the operator picks it with
 * the container's runAsUser or the service's User=).
 */
#include "sandbox/rootguard.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool rootguard_is_root(void)
{
	return getuid() == 0 || geteuid() == 0;
}

int rootguard_check(const char *cmd, FILE *err)
{
	const char *allow = getenv("HERMETIC_ALLOW_ROOT");

	if (!rootguard_is_root())
		return 0;
	if (!allow || strcmp(allow, "1") != 0) {
		fprintf(err,
			"hermetic %s: refusing to run as root (uid %u, euid %u): the agent acts "
			"on what a model says, and as root every mistake is root's.\n"
			"Run it as an unprivileged user (e.g. runAsUser: 10001, or User= in the "
			"systemd unit), or set HERMETIC_ALLOW_ROOT=1 to run as root anyway.\n",
			cmd, (unsigned)getuid(), (unsigned)geteuid());
		return -EPERM;
	}
	log_warn("RUNNING AS ROOT (uid %u, euid %u) because HERMETIC_ALLOW_ROOT=1:",
		 (unsigned)getuid(), (unsigned)geteuid());
	log_warn("  every file, process and device of this machine is within reach of a "
		 "confused model or tool;");
	log_warn("  run hermetic %s as an unprivileged user instead.", cmd);
	return 0;
}

/* rootguard: the long-running commands (gateway, router, chat) refuse to run as root.
 *
 * An agent that runs as uid 0 turns every mistake of the model or of a tool into a mistake of
 * root. HERMETIC_ALLOW_ROOT=1 overrides the refusal (containers that cannot drop the uid,
 * CI); then the process warns at start and says so in Telegram's /status.
 */
#ifndef HERMETIC_ROOTGUARD_H
#define HERMETIC_ROOTGUARD_H

#include <stdbool.h>
#include <stdio.h>

/* For command cmd ("gateway"): 0 when not root; 0 after a loud warning to the log when root
 * and HERMETIC_ALLOW_ROOT=1; -EPERM after printing why and what to do to err otherwise. */
int rootguard_check(const char *cmd, FILE *err);

/* True when the real or effective uid is 0 (the refusal was overridden). */
bool rootguard_is_root(void);

#endif

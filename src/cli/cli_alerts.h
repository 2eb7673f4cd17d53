/* cli_alerts: `hermetic alerts test`: one test alert through each alerts.channels[] entry. */
#ifndef HERMETIC_CLI_ALERTS_H
#define HERMETIC_CLI_ALERTS_H

struct config;

/* Sends one test message through every channel at once, each bounded by its timeout_s, and
 * prints "<name> (<type>): ok" or "<name> (<type>): FAILED: <why>" per channel in config
 * order. Returns 0 when every send succeeded, 1 when one failed or none is configured. */
int cli_alerts_test(const struct config *cfg);

#endif

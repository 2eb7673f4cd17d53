/* gateway: `hermetic gateway`, the always-on process. Opens the data directory, the log file
 * and the store, serves the loopback API (health, readiness, metrics) and runs the loop until
 * SIGTERM or SIGINT, then finishes or cancels in-flight work and closes SQLite. */
#ifndef HERMETIC_GATEWAY_H
#define HERMETIC_GATEWAY_H

struct config;

/* Returns the process exit code: 0 after a clean signal-driven shutdown, 1 on start-up
 * failure (already logged with what to do). */
int gateway_run(const struct config *cfg);

#endif

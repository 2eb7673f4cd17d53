/* cli_tasks: `hermetic tasks add TEXT|list|show ID|stop ID`. add and stop go to the running
 * gateway's API (api.listen, api.key), which owns the tasks; list and show read
 * home/state.db beside it. */
#ifndef HERMETIC_CLI_TASKS_H
#define HERMETIC_CLI_TASKS_H

struct config;

/* words: "add TEXT...", "list", "show ID" or "stop ID" (n words). Returns the exit code. */
int cli_tasks(const struct config *cfg, char **words, int n);

#endif

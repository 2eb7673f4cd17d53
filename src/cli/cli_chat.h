/* cli_chat: `hermetic chat [-q PROMPT] [-m MODEL] [--local]`: one turn with -q, else a
 * line REPL; through the running gateway unless local. */
#ifndef HERMETIC_CLI_CHAT_H
#define HERMETIC_CLI_CHAT_H

#include <stdbool.h>

struct config;

/* prompt NULL = REPL on stdin. model NULL = the session's or cfg->model. local: in-process
 * even when a gateway answers. Returns the exit
 * code: 0 after an answer (also one cut short by a limit, which says so), 1 when the turn
 * failed or was cancelled, 130 after Ctrl-C at the prompt. */
int cli_chat(const struct config *cfg, const char *prompt, const char *model, bool local);

#endif

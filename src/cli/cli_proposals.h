/* cli_proposals: `hermetic proposals [list|approve ID|reject ID]`, the memory and skill
 * changes of untrusted turns that wait for the human (docs/security.md, "Trust").
 */
#ifndef HERMETIC_CLI_PROPOSALS_H
#define HERMETIC_CLI_PROPOSALS_H

struct config;

/* words: [], ["list"], ["approve", ID] or ["reject", ID]. Prints to stdout (errors to
 * stderr); returns the exit code: 0, 1 (the proposal could not be decided), 2 (usage). */
int cli_proposals(const struct config *cfg, char **words, int n);

#endif

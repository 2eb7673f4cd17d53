/* cli_skill: `hermetic skill ...`, the owner's view of the skills as versioned, shareable
 * things: their history, a revert, packs, installs held in quarantine until approved.
 */
#ifndef HERMETIC_CLI_SKILL_H
#define HERMETIC_CLI_SKILL_H

#include <stdbool.h>

struct config;
struct skill_pack;

struct cli_skill_opts {
	const char *sha256; /* install: the whole pack's expected SHA-256; approve: the content's
			     * reviewed SHA-256; NULL = not checked */
	const char *out;    /* pack: the file to write, NULL = ./<name>.skill.tar.gz */
	bool yes;	    /* update: apply without asking */
	const char *model;  /* test: the model group the cases run on, NULL = cfg->model */
	bool record;	    /* test: keep the model's answers in tests/recorded.json */
	bool replay;	    /* test: grade the recorded answers, no model call */
};

#define CLI_SKILL_USAGE                                                                            \
	"hermetic skill list | show NAME | history NAME [VERSION] | revert NAME VERSION | "        \
	"pack NAME [-o FILE] | install SOURCE [--sha256 HEX] | approve NAME [--sha256 HEX] | "     \
	"update NAME [SOURCE] [--yes] | test NAME [--model GROUP] [--record|--replay] "            \
	"[--config FILE]"

/* words: the subcommand and its arguments. Prints to stdout (errors to stderr); returns the
 * exit code: 0, 1 (refused or failed), 2 (usage). */
int cli_skill(const struct config *cfg, const struct cli_skill_opts *o, char **words, int n);

/* Installs the skill p (p->name its folder; every path and SKILL.md checked here) into the
 * quarantine, pinned in skills.lock with source (where it came from, e.g. "mcp:SERVER URI"),
 * and prints its review; the owner approves it with `hermetic skill approve`. 0 (installed,
 * or already installed from this content), or a negative errno after printing why. */
int cli_skill_quarantine_files(const struct config *cfg, struct skill_pack *p, const char *source);

#endif

/* cli_skill_int: what cli_skill.c and cli_skill_pack.c share (private to the two). */
#ifndef HERMETIC_CLI_SKILL_INT_H
#define HERMETIC_CLI_SKILL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct buf;
struct config;
struct cli_skill_opts;
struct skill_pack;

/* The home skill name's folder below home (*rel_dir, a new string) and home's descriptor
 * (*home_fd, to close). Returns 0, or a negative errno after printing why (no such skill, an
 * external one, a bad name). */
int cli_skill_home_rel(const struct config *cfg, const char *name, char **rel_dir, int *home_fd);

/* Prints every file of the skill folder dir for review, each script, URL and line that tells
 * the model to call a tool flagged, then a count of the flags. Returns the number of flags,
 * or a negative errno. */
int cli_skill_review(const char *dir, FILE *to);

/* The quarantined skills, one line each (nothing when none). */
void cli_skill_list_quarantine(const struct config *cfg);
/* Shows the quarantined skill name for review; -ENOENT when none of that name waits. */
int cli_skill_show_quarantined(const struct config *cfg, const char *name);

int cli_skill_pack(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n);
int cli_skill_install(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n);
int cli_skill_approve(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n);
/* True when src names a git repository (https://, ssh://, git@, file://, or ending in .git,
 * before an optional #PATH). */
bool cli_skill_is_git(const char *src);
/* Clones src (URL[#PATH]) shallow into a new temporary directory (its path into tmp, to pass
 * to cli_skill_git_cleanup whatever happens) and gives the skill's folder in it (*folder, a new
 * string). Returns 0, or a negative errno after printing why. */
int cli_skill_git_fetch(const char *src, char *tmp, size_t tmp_len, char **folder);
/* Removes tmp and what is in it ("" = nothing to do). */
void cli_skill_git_cleanup(const char *tmp);

/* hermetic skill test NAME [--model GROUP] [--record|--replay] (cli_skill_test.c). */
int cli_skill_test(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n);
int cli_skill_update(const struct config *cfg, const struct cli_skill_opts *o, char **w, int n);

#endif

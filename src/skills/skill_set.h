/* skill_set: every skill the agent can see, read from disk for one use (a tool call, a system
 * prompt, a config check). Only the skill tools, the index and the reports use it.
 *
 * A skills directory (home/skills, then each of skills.external_dirs) holds skills as
 * <name>/SKILL.md, or one level down as <category>/<name>/SKILL.md (Hermes' layout): a folder
 * with a SKILL.md is a skill, a folder without one whose subfolders hold SKILL.md is a
 * category. Names are unique: when two folders have the same name, the first in this order is
 * the skill and the others are reported: home before external dirs (in config order), inside
 * one directory the top level before categories, categories by name.
 */
#ifndef HERMETIC_SKILL_SET_H
#define HERMETIC_SKILL_SET_H

#include "skills/skill_md.h"

#include <stdbool.h>
#include <stddef.h>

#define SKILL_MAX_BYTES (64 * 1024) /* one SKILL.md */

struct config;

struct skill {
	char *name;		       /* the folder's name */
	char *category;		       /* NULL = at the top of its directory */
	char *path;		       /* the skill's folder */
	char *description;	       /* NULL when the skill is invalid */
	char *error;		       /* why it is invalid (front matter, name, folder) */
	struct skill_md_label *labels; /* its front matter's labels (skill_md.h), NULL = none */
	size_t n_labels;
	struct skill_md_workflow workflow; /* its front matter's workflow block (owned) */
	const char *root; /* its external dir (borrowed from the config, read-only); NULL =
			   * home/skills */
	/* Another skill of the same name came first: not listed, not usable; index of that one. */
	bool shadowed;
	size_t first;
};

/* Read only outside skill_set.c. */
struct skill_set {
	struct skill *v; /* home skills by name, then each external dir's by name */
	size_t n;
};

/* Reads every skill's front matter, at most 512 skills in all (home first). Never fails:
 * unreadable directories and what the cap leaves out are logged. */
void skill_set_scan(const struct config *cfg, struct skill_set *s);
void skill_set_finish(struct skill_set *s); /* accepts a zeroed struct */

/* The skill called name (the first of that name), or NULL. *n_same, when not NULL, gets the
 * number of skills with that name (2 or more: the others are shadowed). */
const struct skill *skill_set_find(const struct skill_set *s, const char *name, size_t *n_same);

/* True when the skill is listed and usable: valid and not shadowed. */
bool skill_usable(const struct skill *sk);

#endif

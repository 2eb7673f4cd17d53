/* skill_md: the YAML front matter of a SKILL.md (the Agent Skills format Hermes Agent and
 * Claude use): the file opens with a line "---", then YAML, then a closing "---" line, then
 * the Markdown body. `name` and `description` are required; `labels`, a map of label names
 * to strings, is kept (a runbook's: which alerts it is for; a labels value of another shape
 * is ignored); other keys are allowed and ignored. Pure: no I/O, so it can be fuzzed on raw
 * bytes.
 */
#ifndef HERMETIC_SKILL_MD_H
#define HERMETIC_SKILL_MD_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

#define SKILL_MD_NAME_MAX  64	       /* bytes (the name is ASCII) */
#define SKILL_MD_DESC_MAX  1024	       /* characters (UTF-8 code points) */
#define SKILL_MD_FRONT_MAX (16 * 1024) /* the closing "---" must come within this many bytes */
#define SKILL_MD_NAME_RULE                                                                         \
	"a skill name is 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a "          \
	"letter or digit"

#define SKILL_MD_LABELS_MAX 32 /* labels kept; past that the rest are dropped */

struct skill_md_label {
	char *name, *value; /* owned */
};

struct skill_md {
	char *name;		       /* owned */
	char *description;	       /* owned; as written (may span lines) */
	size_t body;		       /* offset of the first byte after the closing "---" line */
	struct skill_md_label *labels; /* owned; NULL when none */
	size_t n_labels;
};

/* True when name matches ^[a-z0-9][a-z0-9._-]*$ and is at most SKILL_MD_NAME_MAX bytes. */
bool skill_md_name_ok(const char *name);

/* Parses the front matter of text[0..len) (need not be NUL-terminated). Returns 0 with out
 * filled (free with skill_md_finish), or -EINVAL with one line saying what is wrong appended
 * to err and out zeroed. */
int skill_md_parse(const char *text, size_t len, struct skill_md *out, struct buf *err);

void skill_md_finish(struct skill_md *md); /* accepts a zeroed struct */
/* Frees n labels and the array (NULL accepted). */
void skill_md_labels_free(struct skill_md_label *labels, size_t n);

#endif

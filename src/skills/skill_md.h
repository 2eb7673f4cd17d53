/* skill_md: the YAML front matter of a SKILL.md (the Agent Skills format Hermes Agent and
 * Claude use): the file opens with a line "---", then YAML, then a closing "---" line, then
 * the Markdown body. `name` and `description` are required; `labels`, a map of label names
 * to strings, is kept (a runbook's: which alerts it is for; a labels value of another shape
 * is ignored); `workflow`, the four questions of a workflow (below), is checked strictly;
 * other keys are allowed and ignored. Pure: no I/O, so it can be fuzzed on raw bytes.
 *
 *     workflow:
 *       input: "a voice memo or pasted meeting notes"        what the skill takes
 *       output: "a task list, one line per task"             what it must give
 *       never_invent: [due dates, owners]                    what the model must not make up
 *       review: "before anything is sent outside the chat"   where the human reviews
 *
 * Every member is optional, but the block must be a mapping of those four keys: a typo is an
 * error naming SKILL.md:LINE:COL, not a silently missing guard. `review` set to anything but
 * "none", "no", "never" or "false" makes an outbound action from a turn using the skill need
 * the owner's approval (skill_md_review_gates).
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

#define SKILL_MD_WF_TEXT_MAX 512 /* characters of input, output, review */
#define SKILL_MD_WF_ITEM_MAX 120 /* characters of one never_invent item */
#define SKILL_MD_WF_ITEMS    16	 /* never_invent items */

/* The `workflow:` block; all NULL/0 when absent. */
struct skill_md_workflow {
	char *input, *output, *review; /* owned; NULL = not given */
	char **never_invent;	       /* owned; n_never_invent strings */
	size_t n_never_invent;
};

struct skill_md {
	char *name;		       /* owned */
	char *description;	       /* owned; as written (may span lines) */
	size_t body;		       /* offset of the first byte after the closing "---" line */
	struct skill_md_label *labels; /* owned; NULL when none */
	size_t n_labels;
	struct skill_md_workflow workflow;
};

/* True when name matches ^[a-z0-9][a-z0-9._-]*$ and is at most SKILL_MD_NAME_MAX bytes. */
bool skill_md_name_ok(const char *name);

/* Parses the front matter of text[0..len) (need not be NUL-terminated). Returns 0 with out
 * filled (free with skill_md_finish), or -EINVAL with one line saying what is wrong appended
 * to err and out zeroed. An error in the workflow block starts "SKILL.md:LINE:COL: " (the
 * line in the whole file, 1-based), so a caller prefixing the skill's folder names the spot. */
int skill_md_parse(const char *text, size_t len, struct skill_md *out, struct buf *err);

void skill_md_finish(struct skill_md *md); /* accepts a zeroed struct */
/* Frees the workflow's strings and zeroes it (NULL accepted). */
void skill_md_workflow_finish(struct skill_md_workflow *wf);
/* True when the workflow has any member. */
bool skill_md_workflow_present(const struct skill_md_workflow *wf);
/* True when review asks the human to review outbound actions (given and not "none", "no",
 * "never" or "false", any case). */
bool skill_md_review_gates(const struct skill_md_workflow *wf);
/* Appends the workflow as lines "Input: ...", "Output: ...", "Never invent: a; b",
 * "Review: ...", each after prefix (only the members given). */
void skill_md_workflow_put(struct buf *out, const struct skill_md_workflow *wf, const char *prefix);
/* Frees n labels and the array (NULL accepted). */
void skill_md_labels_free(struct skill_md_label *labels, size_t n);

#endif

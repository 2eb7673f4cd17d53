/* Fuzz target of skill_md_parse(): any bytes give a name and description that obey the rules
 * (name rule, description cap, body offset inside the input) and a workflow block whose texts
 * and never_invent list keep their caps, or one error line, never a crash, a leak or a read
 * past the input. Build (see tests/fuzz/corpus/skill/ for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_skill.c src/skills/skill_md.c src/core/util.c -lyaml -lmbedcrypto
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "skills/skill_md.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool text_ok(const char *s, size_t max)
{
	return !s || (*s && utf8_count(s, strlen(s)) <= max);
}

/* The workflow's members obey their caps; rendering it ends each member with one newline. */
static bool workflow_ok(const struct skill_md_workflow *wf)
{
	struct buf b;
	size_t lines = 0, want;

	if (!text_ok(wf->input, SKILL_MD_WF_TEXT_MAX) ||
	    !text_ok(wf->output, SKILL_MD_WF_TEXT_MAX) ||
	    !text_ok(wf->review, SKILL_MD_WF_TEXT_MAX) || wf->n_never_invent > SKILL_MD_WF_ITEMS)
		return false;
	for (size_t i = 0; i < wf->n_never_invent; i++)
		if (!wf->never_invent[i] || !text_ok(wf->never_invent[i], SKILL_MD_WF_ITEM_MAX))
			return false;
	if (skill_md_review_gates(wf) && !wf->review)
		return false;
	buf_init(&b, 0);
	skill_md_workflow_put(&b, wf, "");
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	buf_finish(&b);
	want = !!wf->input + !!wf->output + !!wf->review + !!wf->n_never_invent;
	return lines >= want;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly size bytes, so ASan catches any read past the input. */
	char *text = xmalloc(size);
	struct skill_md md;
	struct buf err;

	if (size)
		memcpy(text, data, size);
	buf_init(&err, 0);
	if (skill_md_parse(text, size, &md, &err) == 0) {
		if (!skill_md_name_ok(md.name) || md.body > size || err.len != 0 ||
		    utf8_count(md.description, strlen(md.description)) > SKILL_MD_DESC_MAX ||
		    !workflow_ok(&md.workflow))
			abort();
		skill_md_finish(&md);
	} else if (err.len == 0 || md.name || md.description || memchr(err.data, '\n', err.len)) {
		abort();
	}
	buf_finish(&err);
	free(text);
	return 0;
}

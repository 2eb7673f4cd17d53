/* Fuzz target of the skills extension's readers (mcp/mcp_skills.c): any bytes as a skills/list
 * result and as a SKILL.md must never crash, leak or read out of bounds; a page keeps at most
 * MCP_SKILLS_MAX entries of at most MCP_SKILL_FILES_MAX files, each with a well-formed digest;
 * front matter that is read is a JSON object; each entry's files verify or say why not.
 * Build: meson setup -Dfuzz=true (tests/meson.build).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcp/mcp_skills.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mcp_skill_list l = {0};
	char *cursor = NULL, *json = NULL, why[512];

	if (mcp_skill_frontmatter((const char *)data, size, &json, why, sizeof(why)) == 0 &&
	    (!json || json[0] != '{'))
		abort();
	free(json);
	if (mcp_skills_parse_page((const char *)data, size, &l, &cursor) == 0) {
		if (l.n > MCP_SKILLS_MAX)
			abort();
		for (size_t i = 0; i < l.n; i++) {
			if (l.v[i].n_files > MCP_SKILL_FILES_MAX)
				abort();
			for (size_t k = 0; k < l.v[i].n_files; k++) {
				if (strlen(l.v[i].files[k].digest) != MCP_SKILL_DIGEST_LEN)
					abort();
				/* the bytes themselves as the file: verified, or refused with why
				 */
				why[0] = '\0';
				if (mcp_skill_verify(&l.v[i], &l.v[i].files[k], (const char *)data,
						     size, why, sizeof(why)) < 0 &&
				    !why[0])
					abort();
				(void)mcp_skill_rel_path(&l.v[i], l.v[i].files[k].uri);
			}
		}
	}
	free(cursor);
	mcp_skill_list_finish(&l);
	return 0;
}

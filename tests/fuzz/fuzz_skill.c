/* Fuzz target of skill_md_parse(): any bytes give a name and description that obey the rules
 * (name rule, description cap, body offset inside the input) or one error line, never a crash,
 * a leak or a read past the input. Build (see tests/fuzz/corpus/skill/ for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_skill.c src/tools/skill_md.c src/core/util.c -lyaml -lmbedcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/skill_md.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
		    utf8_count(md.description, strlen(md.description)) > SKILL_MD_DESC_MAX)
			abort();
		skill_md_finish(&md);
	} else if (err.len == 0 || md.name || md.description || memchr(err.data, '\n', err.len)) {
		abort();
	}
	buf_finish(&err);
	free(text);
	return 0;
}

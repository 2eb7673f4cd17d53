/* Fuzz target of skill_pack_read() and skill_pack_verify(): any bytes give a pack whose every
 * member path is safe, inside one folder and within the caps, or one error line; never a
 * crash, a leak or a read past the input. Seeds: tests/fuzz/corpus/skill_pack/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "skills/skill_pack.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = xmalloc(size ? size : 1), stated[65];
	struct skill_pack p;
	struct buf err;
	size_t total = 0;

	if (size)
		memcpy(copy, data, size);
	buf_init(&err, 0);
	if (skill_pack_read(copy, size, &p, &err) == 0) {
		if (!p.name || !p.n || p.n > SKILL_PACK_MEMBERS_MAX || err.len)
			abort();
		for (size_t i = 0; i < p.n; i++) {
			if (!skill_pack_path_ok(p.v[i].path) || p.v[i].len > SKILL_PACK_MEMBER_MAX)
				abort();
			total += p.v[i].len;
		}
		if (total > SKILL_PACK_TOTAL_MAX)
			abort();
		if (skill_pack_verify(&p, stated, &err) < 0 && !err.len)
			abort();
		skill_pack_finish(&p);
	} else if (!err.len || p.n || p.name || memchr(err.data, '\n', err.len)) {
		abort();
	}
	buf_finish(&err);
	free(copy);
	return 0;
}

/* Fuzz target of hooks_render: the input is a template and a payload separated by the first
 * NUL byte (no NUL: the whole input is both). It must return 0, 1 (cut) or -EINVAL (payload
 * not JSON, output unchanged), never write more than the cap plus the cut note, and never
 * crash, leak or read out of bounds.
 * Build with the meson option -Dfuzz=true (clang), or run the seeds in
 * tests/fuzz/corpus/hooks_render/ as plain files.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/hooks.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	char *tmpl = xstrndup((const char *)data, tlen);
	char *payload = nul ? xstrndup((const char *)nul + 1, size - tlen - 1) : xstrdup(tmpl);
	struct buf out;
	int rc;

	buf_init(&out, 0);
	rc = hooks_render(tmpl, payload, &out);
	if (rc != 0 && rc != 1 && rc != -EINVAL)
		abort();
	if (rc == -EINVAL && out.len != 0)
		abort();
	if (out.len > HOOKS_PROMPT_MAX + 128)
		abort();
	buf_finish(&out);
	free(payload);
	free(tmpl);
	return 0;
}

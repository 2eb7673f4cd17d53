/* Fuzz target of the multipart/form-data parser: the input up to the first newline is the
 * Content-Type, the rest the body. A parse must never crash, leak or read out of bounds; every
 * part it returns must lie inside the body; and a parsed form re-encoded (with "model"
 * replaced) must parse again into the same parts with the same file contents.
 * Build (see tests/fuzz/corpus/multipart/ for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_multipart.c src/net/multipart.c src/core/util.c src/core/log.c \
 *     src/core/rotfile.c src/core/fileio.c \
 *     -lmbedcrypto
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *nl = memchr(data, '\n', size);
	struct multipart_form f, g;
	char type[256], err[160], *out, *type2 = NULL;
	size_t tlen, blen, len, i;
	const char *body;

	if (!nl)
		return 0;
	tlen = (size_t)(nl - (const char *)data);
	if (tlen >= sizeof(type))
		return 0;
	memcpy(type, data, tlen);
	type[tlen] = '\0';
	body = nl + 1;
	blen = size - tlen - 1;
	if (multipart_parse(type, body, blen, &f, err, sizeof(err)) < 0) {
		multipart_form_finish(&f);
		return 0;
	}
	for (i = 0; i < f.n_parts; i++)
		if (f.parts[i].data < body || f.parts[i].data + f.parts[i].data_len > body + blen ||
		    f.parts[i].head < body || f.parts[i].head + f.parts[i].head_len > body + blen)
			abort();
	out = multipart_encode(&f, "model", "gpt-4o-transcribe", &len, &type2);
	if (out) {
		if (multipart_parse(type2, out, len, &g, err, sizeof(err)) < 0 ||
		    g.n_parts != f.n_parts)
			abort();
		for (i = 0; i < f.n_parts; i++)
			if (f.parts[i].filename &&
			    (g.parts[i].data_len != f.parts[i].data_len ||
			     memcmp(g.parts[i].data, f.parts[i].data, f.parts[i].data_len) != 0))
				abort();
		multipart_form_finish(&g);
	}
	free(out);
	free(type2);
	multipart_form_finish(&f);
	return 0;
}

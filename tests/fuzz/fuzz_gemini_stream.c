/* Fuzz target of the gemini dialect's stream decoder, answer and error translation: the first
 * byte picks how the rest is split into feeds; the split feed must emit exactly the chunks and
 * return value of a feed in one piece, every emitted chunk must be JSON or "[DONE]", nothing
 * may follow "[DONE]", and answer() (as a chat's and as an images call's, gemini_image.c) and
 * error() on the same bytes must not crash, leak or read out of bounds. The cap is small
 * (4096) so -E2BIG is reached often.
 * Seeds: tests/fuzz/corpus/gemini_stream/ (a split byte, then SSE or a JSON body). Build:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc -Ibuild \
 *     -I/usr/include/cjson tests/fuzz/fuzz_gemini_stream.c src/router/providers/gemini*.c \
 *     -Wl,--allow-multiple-definition -Wl,--start-group build/libhermetic.a -lcurl -lcjson \
 *     -lyaml -lsqlite3 -levent_core -lmd4c -pthread -lm -lmbedcrypto -Wl,--end-group
 * (or meson's -Dfuzz=true with CC=clang).
 */
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/providers/provider.h"

#define CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	size_t n; /* chunks emitted (their text has random ids and clock times) */
	bool done;
	int rc;
};

static int on_emit(const char *text, size_t len, void *arg)
{
	struct run *r = arg;

	if (r->done || strlen(text) != len)
		abort();
	if (len == 6 && memcmp(text, "[DONE]", 6) == 0) {
		r->done = true;
	} else {
		cJSON *j = cJSON_ParseWithLength(text, len);

		if (!cJSON_IsObject(j))
			abort();
		cJSON_Delete(j);
	}
	r->n++;
	return 0;
}

static size_t next_piece(unsigned *seed, size_t max_piece, size_t left)
{
	size_t n;

	if (max_piece == 0)
		return left;
	*seed = *seed * 1103515245u + 12345u;
	n = 1 + (*seed >> 16) % max_piece;
	return n < left ? n : left;
}

static void run_stream(const struct config_model *m, const uint8_t *data, size_t size,
		       size_t max_piece, struct run *r)
{
	struct provider_stream *s;
	unsigned seed = (unsigned)max_piece;
	size_t off = 0, n;

	memset(r, 0, sizeof(*r));
	s = provider_gemini.stream_create(m, CAP, on_emit, r);
	while (off < size && r->rc == 0) {
		n = next_piece(&seed, max_piece, size - off);
		r->rc = provider_gemini.stream_feed(s, (const char *)data + off, n);
		off += n;
	}
	provider_gemini.stream_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_model m;
	struct run whole, split;
	char *out;

	if (size < 1)
		return 0;
	memset(&m, 0, sizeof(m));
	m.provider = (char *)"gemini";
	m.dialect = DIALECT_GEMINI;
	m.upstream_model = (char *)"gemini-fuzz";
	m.litellm_params.api_base = (char *)"http://127.0.0.1";
	run_stream(&m, data + 1, size - 1, 0, &whole);
	run_stream(&m, data + 1, size - 1, 1 + data[0] % 64u, &split);
	if (whole.n != split.n || whole.rc != split.rc || whole.done != split.done)
		abort();
	out = provider_gemini.answer(&m, PROVIDER_CHAT, (const char *)data + 1, size - 1);
	free(out);
	out = provider_gemini.answer(&m, PROVIDER_IMAGES, (const char *)data + 1, size - 1);
	free(out);
	out = provider_gemini.error(data[0] % 2 ? 429 : 200, (const char *)data + 1, size - 1);
	free(out);
	return 0;
}

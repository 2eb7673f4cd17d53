/* Fuzz target of the anthropic dialect's stream decoder (SSE events -> OpenAI chunks): the
 * first byte picks how the rest is split into feeds; the split decode must emit exactly what a
 * decode in one feed emits (the "created" second zeroed) and return the same value; every
 * emitted text is "[DONE]" or a JSON object; nothing crashes, leaks or reads out of bounds.
 * The cap is small (4096) so -E2BIG is reached often. Seeds: tests/fuzz/corpus/anthropic_stream/.
 * Build: meson setup build-fuzz -Dfuzz=true (clang), or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     -I/usr/include/cjson tests/fuzz/fuzz_anthropic_stream.c build/libhermetic.a ...
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/util.h"
#include "router/providers/provider.h"

#define CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	struct buf out; /* every emitted text, '\n'-separated */
	size_t n;
	int rc;
};

static int on_emit(const char *data, size_t len, void *arg)
{
	struct run *r = arg;
	cJSON *root;

	if (!(len == 6 && memcmp(data, "[DONE]", 6) == 0)) {
		root = cJSON_ParseWithLength(data, len);
		if (!cJSON_IsObject(root))
			abort();
		cJSON_Delete(root);
	}
	buf_append(&r->out, data, len);
	buf_puts(&r->out, "\n");
	r->n++;
	/* Exercise the stop path too. */
	return r->n == 200 ? -ECANCELED : 0;
}

static void zero_created(struct buf *b)
{
	char *p = b->data;

	while (p && (p = strstr(p, "\"created\":")) != NULL)
		for (p += 10; *p >= '0' && *p <= '9'; p++)
			*p = '0';
}

static void decode(const uint8_t *data, size_t size, size_t max_piece, struct run *r)
{
	struct config_model m = {.upstream_model = "claude-fuzz"};
	struct provider_stream *s;
	unsigned seed = (unsigned)max_piece;
	size_t off = 0, n;

	memset(r, 0, sizeof(*r));
	buf_init(&r->out, 0);
	s = provider_anthropic.stream_create(&m, CAP, on_emit, r);
	while (off < size && r->rc == 0) {
		n = size - off;
		if (max_piece) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % max_piece;
			n = n < size - off ? n : size - off;
		}
		r->rc = provider_anthropic.stream_feed(s, (const char *)data + off, n);
		off += n;
	}
	provider_anthropic.stream_destroy(s);
	zero_created(&r->out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, split;

	if (size < 1)
		return 0;
	decode(data + 1, size - 1, 0, &whole);
	/* 1 + data[0] % 64: byte 0 gives one-byte feeds, others random pieces up to 64. */
	decode(data + 1, size - 1, 1 + data[0] % 64u, &split);
	if (whole.rc != split.rc || whole.n != split.n || whole.out.len != split.out.len ||
	    (whole.out.len && memcmp(whole.out.data, split.out.data, whole.out.len) != 0))
		abort();
	buf_finish(&whole.out);
	buf_finish(&split.out);
	return 0;
}

/* Fuzz target of the AWS event-stream decoder and of the Bedrock stream translation on top of
 * it: the first byte picks how the rest is split into feeds; the split decode must give
 * exactly the messages and return value of a decode in one feed, and neither layer may crash,
 * leak or read out of bounds. The cap is small (4096) so -E2BIG is reached often.
 * Build (see tests/fuzz/corpus/eventstream/ for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     -I/usr/include/cjson tests/fuzz/fuzz_eventstream.c src/router/providers/\*.c \
 *     src/core/json_exact.c src/core/util.c src/core/log.c -lcjson -lmbedcrypto
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router/providers/eventstream.h"
#include "router/providers/provider.h"

#define CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	uint64_t hash; /* FNV-1a over every message's fields */
	size_t n;
	int rc;
};

static void mix(uint64_t *h, const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++) {
		*h ^= c[i];
		*h *= 1099511628211ULL;
	}
	*h ^= 0xff;
	*h *= 1099511628211ULL;
}

static int on_msg(const struct eventstream_msg *m, void *arg)
{
	struct run *r = arg;

	if (m->payload_len > CAP)
		abort();
	mix(&r->hash, m->message_type, strlen(m->message_type));
	mix(&r->hash, m->event_type, strlen(m->event_type));
	mix(&r->hash, m->exception_type, strlen(m->exception_type));
	mix(&r->hash, m->error_code, strlen(m->error_code));
	mix(&r->hash, m->error_message, strlen(m->error_message));
	mix(&r->hash, m->payload, m->payload_len);
	r->n++;
	return m->payload_len == 4 && memcmp(m->payload, "stop", 4) == 0 ? -ECANCELED : 0;
}

static int on_chunk(const char *data, size_t len, void *arg)
{
	size_t *n = arg;

	if (data[len] != '\0')
		abort();
	(*n)++;
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

static void decode(const uint8_t *data, size_t size, size_t max_piece, struct run *r)
{
	unsigned seed = (unsigned)max_piece;
	struct eventstream d;
	size_t off = 0, n;

	memset(r, 0, sizeof(*r));
	r->hash = 14695981039346656037ULL;
	eventstream_init(&d, CAP, on_msg, r);
	while (off < size && r->rc == 0) {
		n = next_piece(&seed, max_piece, size - off);
		r->rc = eventstream_feed(&d, (const char *)data + off, n);
		off += n;
	}
	eventstream_finish(&d);
}

static void translate(const uint8_t *data, size_t size, size_t max_piece)
{
	static struct config_model m = {.provider = (char *)"bedrock",
					.dialect = DIALECT_BEDROCK,
					.upstream_model = (char *)"anthropic.claude-v1:0"};
	unsigned seed = (unsigned)max_piece;
	size_t off = 0, n, chunks = 0;
	struct provider_stream *s = provider_bedrock.stream_create(&m, CAP, on_chunk, &chunks);
	int rc = 0;

	while (off < size && rc == 0) {
		n = next_piece(&seed, max_piece, size - off);
		rc = provider_bedrock.stream_feed(s, (const char *)data + off, n);
		off += n;
	}
	provider_bedrock.stream_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, split;

	if (size < 1)
		return 0;
	decode(data + 1, size - 1, 0, &whole);
	decode(data + 1, size - 1, 1 + data[0] % 64u, &split);
	if (whole.hash != split.hash || whole.n != split.n || whole.rc != split.rc)
		abort();
	translate(data + 1, size - 1, 1 + data[0] % 64u);
	return 0;
}

/* Fuzz target of the SSE parser: the first byte picks how the rest is split into feeds; the
 * split parse must give exactly the events, return value and state of a parse in one feed, and
 * never crash, leak or read out of bounds. The cap is small (4096) so -E2BIG is reached often.
 * Build (see tests/fuzz/corpus/sse/ for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -Isrc \
 *     tests/fuzz/fuzz_sse.c src/net/sse.c src/core/util.c src/core/log.c -lmbedcrypto
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/sse.h"

#define CAP 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
	uint64_t hash; /* FNV-1a over every event's fields */
	size_t n_events;
	int rc;
	bool pending;
	long retry_ms;
	size_t comments;
};

static void mix(uint64_t *h, const void *p, size_t len)
{
	const unsigned char *c = p;
	size_t i;

	for (i = 0; i < len; i++) {
		*h ^= c[i];
		*h *= 1099511628211ULL;
	}
	*h ^= 0xff; /* field separator, so ("ab","c") and ("a","bc") differ */
	*h *= 1099511628211ULL;
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct run *r = arg;

	if (ev->data[ev->data_len] != '\0' || ev->data_len == 0 || ev->data_len > CAP)
		abort();
	mix(&r->hash, ev->event, strlen(ev->event));
	mix(&r->hash, ev->data, ev->data_len);
	mix(&r->hash, ev->id, strlen(ev->id));
	r->n_events++;
	/* Exercise the stop path too. */
	if (ev->data_len == 4 && memcmp(ev->data, "stop", 4) == 0)
		return -ECANCELED;
	return 0;
}

/* Pieces of 1..max_piece bytes from a small LCG; max_piece 0 = everything in one feed. */
static size_t next_piece(unsigned *seed, size_t max_piece, size_t left)
{
	size_t n;

	if (max_piece == 0)
		return left;
	*seed = *seed * 1103515245u + 12345u;
	n = 1 + (*seed >> 16) % max_piece;
	return n < left ? n : left;
}

static void parse(const uint8_t *data, size_t size, size_t max_piece, struct run *r)
{
	unsigned seed = (unsigned)max_piece;
	struct sse_parser p;
	size_t off = 0, n;

	memset(r, 0, sizeof(*r));
	r->hash = 14695981039346656037ULL;
	sse_init(&p, CAP, on_event, r);
	while (off < size && r->rc == 0) {
		n = next_piece(&seed, max_piece, size - off);
		r->rc = sse_feed(&p, (const char *)data + off, n);
		off += n;
	}
	r->pending = sse_pending(&p);
	r->retry_ms = sse_retry_ms(&p);
	r->comments = sse_comments(&p);
	sse_finish(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, split;

	if (size < 1)
		return 0;
	parse(data + 1, size - 1, 0, &whole);
	/* 1 + data[0] % 64: byte 0 gives one-byte feeds, others random pieces up to 64. */
	parse(data + 1, size - 1, 1 + data[0] % 64u, &split);
	if (whole.hash != split.hash || whole.n_events != split.n_events || whole.rc != split.rc)
		abort();
	/* After an error the rest of the input is not read, so the state may differ. */
	if (whole.rc == 0 && (whole.pending != split.pending || whole.retry_ms != split.retry_ms ||
			      whole.comments != split.comments))
		abort();
	return 0;
}

/* alloc_head: a 16-byte head in front of every block the release binary's malloc hands out:
 * the size the block was asked for, how far the block starts past the allocator's own, and a
 * check word.
 *
 * Why: alloc_keep (the front over musl's malloc) needs a freed block's size to file it under
 * its class, and musl's malloc_usable_size finds it through the slot's group header, the
 * group's meta record and the meta area's check word: three cache lines away from the block,
 * on every free. The head sits on the line before the block's first bytes. Measured
 * (docs/numbers.md, "The twenty-seventh look"): 600 fewer instructions and 14 fewer
 * first-level data misses a proxied request, 1.5% less CPU; last-level misses did not fall
 * (a block freed long after it was touched misses on its head as on musl's metadata).
 * The cost is 16 bytes a block (musl's slots are multiples of 16 with a 4-byte header of
 * their own, so a small block may take one more step of musl's size classes).
 *
 * The check word mixes the block's address, size and offset with a constant: a pointer that
 * is not one of these blocks (or whose head was overwritten) stops the process with a trap
 * when it is freed, reallocated or measured, instead of handing the allocator a wrong address.
 * Blocks from aligned_alloc carry a larger offset, so free finds the allocator's block
 * whatever the alignment. */
#include "core/alloc_head.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

struct head {
	size_t size;	 /* what the block was asked for */
	uint32_t offset; /* from the allocator's block to the block handed out */
	uint32_t check;
};

_Static_assert(sizeof(struct head) == ALLOC_HEAD_BYTES, "the head keeps blocks 16-byte aligned");

static uint32_t check_of(const void *p, size_t size, uint32_t offset)
{
	uintptr_t a = (uintptr_t)p >> 4;

	return (uint32_t)a ^ (uint32_t)(a >> 32) ^ (uint32_t)size ^
	       (uint32_t)((uint64_t)size >> 32) ^ (offset * 0x9E3779B1u) ^ 0x6865726Du;
}

static struct head *head_of(const void *p)
{
	struct head *h = (struct head *)((uintptr_t)p - ALLOC_HEAD_BYTES);

	if (h->check != check_of(p, h->size, h->offset) || h->offset < ALLOC_HEAD_BYTES)
		__builtin_trap();
	return h;
}

/* Writes the head of the block at raw + offset and returns that block. */
static void *mark(void *raw, size_t offset, size_t size)
{
	char *p = (char *)raw + offset;
	struct head *h = (struct head *)(p - ALLOC_HEAD_BYTES);

	h->size = size;
	h->offset = (uint32_t)offset;
	h->check = check_of(p, size, h->offset);
	return p;
}

static void *too_big(void)
{
	errno = ENOMEM;
	return NULL;
}

void *alloc_head_malloc(const struct alloc_raw *r, size_t n)
{
	void *raw;

	if (n > SIZE_MAX - ALLOC_HEAD_BYTES)
		return too_big();
	raw = r->malloc(n + ALLOC_HEAD_BYTES);
	return raw ? mark(raw, ALLOC_HEAD_BYTES, n) : NULL;
}

void *alloc_head_calloc(const struct alloc_raw *r, size_t m, size_t n)
{
	size_t total;
	void *raw;

	if (m && n > SIZE_MAX / m)
		return too_big();
	total = m * n;
	if (total > SIZE_MAX - ALLOC_HEAD_BYTES)
		return too_big();
	raw = r->calloc(1, total + ALLOC_HEAD_BYTES);
	return raw ? mark(raw, ALLOC_HEAD_BYTES, total) : NULL;
}

void *alloc_head_realloc(const struct alloc_raw *r, void *p, size_t n)
{
	struct head *h;
	void *raw, *q;

	if (!p)
		return alloc_head_malloc(r, n);
	h = head_of(p);
	if (n > SIZE_MAX - ALLOC_HEAD_BYTES)
		return too_big();
	if (h->offset == ALLOC_HEAD_BYTES) {
		raw = r->realloc(h, n + ALLOC_HEAD_BYTES);
		return raw ? mark(raw, ALLOC_HEAD_BYTES, n) : NULL;
	}
	/* An aligned block: the allocator's realloc would not keep the offset. */
	q = alloc_head_malloc(r, n);
	if (!q)
		return NULL; /* p stays valid */
	memcpy(q, p, h->size < n ? h->size : n);
	alloc_head_free(r, p);
	return q;
}

void alloc_head_free(const struct alloc_raw *r, void *p)
{
	struct head *h;

	if (!p)
		return;
	h = head_of(p);
	h->check = ~h->check; /* freed twice before it is reused: a trap, not a double free */
	r->free((char *)p - h->offset);
}

void *alloc_head_aligned(const struct alloc_raw *r, size_t align, size_t n)
{
	uintptr_t raw, p;

	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	if (align <= ALLOC_HEAD_BYTES)
		return alloc_head_malloc(r, n);
	if (align > UINT32_MAX / 2 || n > SIZE_MAX - ALLOC_HEAD_BYTES - align)
		return too_big();
	raw = (uintptr_t)r->malloc(n + ALLOC_HEAD_BYTES + align);
	if (!raw)
		return NULL;
	p = (raw + ALLOC_HEAD_BYTES + align - 1) & ~(uintptr_t)(align - 1);
	return mark((void *)raw, p - raw, n);
}

size_t alloc_head_size(const void *p)
{
	return head_of(p)->size;
}

/* alloc_head: a 16-byte head in front of every block, holding the block's size, so that a free
 * need not ask the allocator underneath for it (see alloc_head.c for why). */
#ifndef HERMETIC_CORE_ALLOC_HEAD_H
#define HERMETIC_CORE_ALLOC_HEAD_H

#include <stddef.h>

/* The allocator underneath: the C contracts of malloc, calloc, realloc and free. */
struct alloc_raw {
	void *(*malloc)(size_t n);
	void *(*calloc)(size_t m, size_t n);
	void *(*realloc)(void *p, size_t n);
	void (*free)(void *p);
};

#define ALLOC_HEAD_BYTES 16 /* a block handed out stays 16-byte aligned */

/* malloc, calloc, realloc and free with their C contracts, over r; NULL (errno ENOMEM) when
 * the size and the head overflow. Every block they hand out records the size asked for. */
void *alloc_head_malloc(const struct alloc_raw *r, size_t n);
void *alloc_head_calloc(const struct alloc_raw *r, size_t m, size_t n);
void *alloc_head_realloc(const struct alloc_raw *r, void *p, size_t n);
void alloc_head_free(const struct alloc_raw *r, void *p);

/* aligned_alloc's contract: align a power of two (else NULL, errno EINVAL). The block may be
 * freed and reallocated like any other. */
void *alloc_head_aligned(const struct alloc_raw *r, size_t align, size_t n);

/* The size recorded for a block: what its malloc, calloc or realloc asked for. A pointer
 * whose head fails its check (not one of these blocks, or its head overwritten) stops the
 * process (a trap), here and in realloc and free. */
size_t alloc_head_size(const void *p);

#endif

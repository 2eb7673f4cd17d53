/* alloc_keep: freed blocks of up to 64 KiB kept for reuse, up to a cap, and given back to the
 * allocator underneath a half at a time once they sit unused (see alloc_keep.c for why). */
#ifndef HERMETIC_CORE_ALLOC_KEEP_H
#define HERMETIC_CORE_ALLOC_KEEP_H

#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define ALLOC_KEEP_CLASSES  44
#define ALLOC_KEEP_MAX	    65536 /* the largest class; larger blocks are never kept */
#define ALLOC_KEEP_DECAY_MS 1000

/* The allocator underneath. usable() gives a block's usable size, at least what was asked;
 * now_ms() a monotonic clock (a coarse one is enough). */
struct alloc_keep_base {
	void *(*malloc)(size_t n);
	void *(*calloc)(size_t m, size_t n);
	void *(*realloc)(void *p, size_t n);
	void (*free)(void *p);
	size_t (*usable)(void *p);
	int64_t (*now_ms)(void);
};

struct alloc_keep_class {
	void *head;	 /* each kept block holds the next one's address and its own usable size */
	uint32_t n, low; /* blocks in the list; the fewest since the last decay */
};

/* Fields are private. Static storage with ALLOC_KEEP_INIT: the front over the C library's
 * malloc has it before anything can be allocated. */
struct alloc_keep {
	const struct alloc_keep_base *base;
	atomic_bool lock;    /* a spin lock (alloc_keep.c) */
	atomic_size_t cap;   /* 0: every call goes straight to base, nothing is kept */
	atomic_size_t bytes; /* usable bytes of the kept blocks */
	unsigned ops;
	int64_t decay_ms;
	struct alloc_keep_class cls[ALLOC_KEEP_CLASSES];
};
#define ALLOC_KEEP_INIT(b)                                                                         \
	{                                                                                          \
		.base = (b), .lock = false                                                         \
	}

/* malloc, calloc, realloc and free with their C contracts. With a cap, a size up to 64 KiB is
 * rounded up to its class (at most 25% more above 64 bytes) and a kept block of the class is
 * taken first; a freed block goes to the list of the largest class it holds while the kept
 * bytes stay under the cap. Blocks the base allocated directly may be freed here too. */
void *alloc_keep_malloc(struct alloc_keep *k, size_t n);
void *alloc_keep_calloc(struct alloc_keep *k, size_t m, size_t n);
void *alloc_keep_realloc(struct alloc_keep *k, void *p, size_t n);
void alloc_keep_free(struct alloc_keep *k, void *p);

/* Sets the cap on kept bytes; a lower cap gives back what is over it at once (all of it at 0). */
void alloc_keep_set_cap(struct alloc_keep *k, size_t cap);

/* Once a second has passed since the last decay: each class gives back half (rounded up) of the
 * blocks that stayed in its list the whole time. Also run every 64 calls while a cap is set. */
void alloc_keep_decay(struct alloc_keep *k);

/* The usable bytes kept now. */
size_t alloc_keep_bytes(const struct alloc_keep *k);

/* Held across fork() (pthread_atfork), so that a child never inherits the lock taken. */
void alloc_keep_lock(struct alloc_keep *k);
void alloc_keep_unlock(struct alloc_keep *k);

/* The class of a size (rounded up), -1 above the largest; a class's size. For tests. */
int alloc_keep_class_of(size_t n);
size_t alloc_keep_class_size(int c);

#endif

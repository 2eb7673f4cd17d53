/* alloc_keep: an allocator in front of another that keeps freed blocks of up to 64 KiB for
 * reuse, up to a cap on their bytes, and gives back the ones that sit unused.
 *
 * Why: musl's mallocng (the release binary's allocator) unmaps a size class's group as soon as
 * its last block is free and maps a fresh one when the class is needed again. Under a burst of
 * requests the router's blocks of a few KiB come and go by the thousand, and each new group's
 * pages fault in again: 2,449 page faults on a second burst of 1,000 requests, at about 19 us
 * each on a small VM, where nginx takes 1 (docs/numbers.md, "The fifteenth look"). Kept blocks
 * leave musl's groups in use, so nothing is unmapped while the load lasts.
 *
 * How: a size is rounded up to one of 44 classes (16-byte steps to 64, then four steps per
 * power of two to 64 KiB: at most 25% more), so a kept block serves every size of its class.
 * A freed block goes to the list of the largest class its usable size holds, whoever allocated
 * it (the C library allocates for itself too). Each kept block holds, in its first two words,
 * the next block's address and its own usable size. One lock covers the lists: the router has
 * one loop thread and its worker threads allocate little. It is a spin lock, not a mutex: it
 * is held for a list's push or pop (the base is never called under it), and musl's mutex took
 * about 55 instructions a lock and unlock, twice for each block a request allocated.
 *
 * Memory goes back in two ways. The cap bounds the kept bytes: a block past it is freed at
 * once. And a decay, each second, gives back half (rounded up) of the blocks that stayed in a
 * list for the whole second (the list's low-water mark), so an idle process returns to its
 * size before the burst in a few seconds, while a steady load keeps what it reuses.
 *
 * Rejected: per-thread caches (jemalloc's tcache) for a process whose allocations are nearly
 * all on one thread; keeping musl's groups mapped by patching musl, which the build takes from
 * Debian's package unchanged; a cap without the decay, which would hold the burst's peak for
 * good.
 */
#include "core/alloc_keep.h"

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct kept {
	struct kept *next;
	size_t usable;
};

/* The lock: a test-and-set with a pause between reads; after 64 reads that saw it held, the
 * holder may have been preempted, so the waiter yields its CPU instead of spinning on. */
static void lock(struct alloc_keep *k)
{
	unsigned spins = 0;

	while (atomic_exchange_explicit(&k->lock, true, memory_order_acquire)) {
		while (atomic_load_explicit(&k->lock, memory_order_relaxed)) {
			if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#elif defined(__aarch64__)
				__asm__ __volatile__("yield");
#endif
			} else {
				sched_yield();
			}
		}
	}
}

static void unlock(struct alloc_keep *k)
{
	atomic_store_explicit(&k->lock, false, memory_order_release);
}

int alloc_keep_class_of(size_t n)
{
	int b;

	if (n <= 64)
		return n ? (int)((n + 15) / 16) - 1 : 0;
	if (n > ALLOC_KEEP_MAX)
		return -1;
	b = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* n in (2^b, 2^(b+1)] */
	return 4 + (b - 6) * 4 + (int)((n - 1 - ((size_t)1 << b)) >> (b - 2));
}

size_t alloc_keep_class_size(int c)
{
	int b, i;

	if (c < 4)
		return (size_t)(c + 1) * 16;
	b = 6 + (c - 4) / 4;
	i = (c - 4) % 4;
	return ((size_t)1 << b) + ((size_t)(i + 1) << (b - 2));
}

/* The largest class a block of this usable size can serve, -1 for none. */
static int class_down(size_t usable)
{
	int c;

	if (usable < 16 || usable > ALLOC_KEEP_MAX)
		return -1;
	c = alloc_keep_class_of(usable);
	return alloc_keep_class_size(c) > usable ? c - 1 : c;
}

static bool keeping(const struct alloc_keep *k)
{
	return atomic_load_explicit(&k->cap, memory_order_relaxed) != 0;
}

/* Under the lock: counts a call; true every 64th, when the caller runs the decay. */
static bool count_op(struct alloc_keep *k)
{
	return (++k->ops & 63) == 0;
}

static struct kept *pop(struct alloc_keep *k, struct alloc_keep_class *cl)
{
	struct kept *b = cl->head;

	cl->head = b->next;
	cl->n--;
	if (cl->n < cl->low)
		cl->low = cl->n;
	atomic_store_explicit(&k->bytes,
			      atomic_load_explicit(&k->bytes, memory_order_relaxed) - b->usable,
			      memory_order_relaxed);
	return b;
}

static void give_back(struct alloc_keep *k, struct kept *chain)
{
	while (chain) {
		struct kept *next = chain->next;

		k->base->free(chain);
		chain = next;
	}
}

static void *take(struct alloc_keep *k, int c)
{
	struct alloc_keep_class *cl = &k->cls[c];
	struct kept *b = NULL;
	bool tick;

	lock(k);
	if (cl->head)
		b = pop(k, cl);
	tick = count_op(k);
	unlock(k);
	if (tick)
		alloc_keep_decay(k);
	return b;
}

/* Keeps a block if the cap allows; false when the caller must free it. */
static bool put(struct alloc_keep *k, void *p, int c, size_t usable)
{
	struct alloc_keep_class *cl = &k->cls[c];
	size_t bytes, cap = atomic_load_explicit(&k->cap, memory_order_relaxed);
	struct kept *b = p;
	bool kept = false, tick;

	lock(k);
	bytes = atomic_load_explicit(&k->bytes, memory_order_relaxed);
	if (bytes + usable <= cap) {
		b->next = cl->head;
		b->usable = usable;
		cl->head = b;
		cl->n++;
		atomic_store_explicit(&k->bytes, bytes + usable, memory_order_relaxed);
		kept = true;
	}
	tick = count_op(k);
	unlock(k);
	if (tick)
		alloc_keep_decay(k);
	return kept;
}

void *alloc_keep_malloc(struct alloc_keep *k, size_t n)
{
	int c = alloc_keep_class_of(n);
	void *p;

	if (!keeping(k) || c < 0)
		return k->base->malloc(n);
	p = take(k, c);
	return p ? p : k->base->malloc(alloc_keep_class_size(c));
}

void *alloc_keep_calloc(struct alloc_keep *k, size_t m, size_t n)
{
	size_t total;
	int c;
	void *p;

	if (!keeping(k) || (m && n > SIZE_MAX / m))
		return k->base->calloc(m, n);
	total = m * n;
	c = alloc_keep_class_of(total);
	if (c < 0)
		return k->base->calloc(m, n);
	p = take(k, c);
	if (p)
		return memset(p, 0, total);
	/* The base knows when fresh memory is zero already (musl's calloc skips the memset). */
	return k->base->calloc(1, alloc_keep_class_size(c));
}

void alloc_keep_free(struct alloc_keep *k, void *p)
{
	size_t usable;
	int c;

	if (!p)
		return;
	if (!keeping(k)) {
		k->base->free(p);
		return;
	}
	usable = k->base->usable(p);
	c = class_down(usable);
	if (c < 0 || !put(k, p, c, usable))
		k->base->free(p);
}

void *alloc_keep_realloc(struct alloc_keep *k, void *p, size_t n)
{
	size_t usable;
	void *q;

	if (!p)
		return alloc_keep_malloc(k, n);
	if (!keeping(k))
		return k->base->realloc(p, n);
	usable = k->base->usable(p);
	/* Shrinking by less than half, or growing within the block: the block stays. */
	if (n <= usable && n >= usable / 2)
		return p;
	/* Both large: the base may move the pages without copying (mremap). */
	if (n > ALLOC_KEEP_MAX && usable > ALLOC_KEEP_MAX)
		return k->base->realloc(p, n);
	q = alloc_keep_malloc(k, n);
	if (!q)
		return NULL; /* p stays valid, as realloc's contract says */
	memcpy(q, p, usable < n ? usable : n);
	alloc_keep_free(k, p);
	return q;
}

/* Under the lock: takes `count` blocks off a class's list onto `chain`. */
static struct kept *unlist(struct alloc_keep *k, struct alloc_keep_class *cl, uint32_t count,
			   struct kept *chain)
{
	while (count-- && cl->head) {
		struct kept *b = pop(k, cl);

		b->next = chain;
		chain = b;
	}
	return chain;
}

void alloc_keep_decay(struct alloc_keep *k)
{
	struct kept *chain = NULL;
	int64_t t;

	lock(k);
	t = k->base->now_ms();
	if (t - k->decay_ms >= ALLOC_KEEP_DECAY_MS) {
		k->decay_ms = t;
		for (int c = 0; c < ALLOC_KEEP_CLASSES; c++) {
			struct alloc_keep_class *cl = &k->cls[c];

			chain = unlist(k, cl, (cl->low + 1) / 2, chain);
			cl->low = cl->n;
		}
	}
	unlock(k);
	give_back(k, chain);
}

void alloc_keep_set_cap(struct alloc_keep *k, size_t cap)
{
	struct kept *chain = NULL;

	lock(k);
	atomic_store_explicit(&k->cap, cap, memory_order_relaxed);
	for (int c = ALLOC_KEEP_CLASSES - 1; c >= 0; c--) {
		struct alloc_keep_class *cl = &k->cls[c];

		while (cl->head && atomic_load_explicit(&k->bytes, memory_order_relaxed) > cap)
			chain = unlist(k, cl, 1, chain);
		cl->low = cl->n;
	}
	if (cap && !k->decay_ms)
		k->decay_ms = k->base->now_ms();
	unlock(k);
	give_back(k, chain);
}

size_t alloc_keep_bytes(const struct alloc_keep *k)
{
	return atomic_load_explicit(&k->bytes, memory_order_relaxed);
}

void alloc_keep_lock(struct alloc_keep *k)
{
	lock(k);
}

void alloc_keep_unlock(struct alloc_keep *k)
{
	unlock(k);
}

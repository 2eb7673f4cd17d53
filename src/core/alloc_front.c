/* alloc_front: in the static musl build, malloc, calloc, realloc and free are ours, over
 * musl's own entry points (__libc_malloc_impl and friends, which its malloc, calloc, realloc
 * and free call), with alloc_keep between them: see alloc_keep.c for why.
 *
 * A static link takes the first definition of malloc it meets, and libhermetic.a comes before
 * libc.a. meson defines HERMETIC_MALLOC_FRONT only when a test program linking these names
 * links, so a libc that lacks them (glibc, the sanitizer builds, a dynamic musl) keeps its
 * own malloc and the calls below do nothing. Every block carries a 16-byte head with its size
 * (alloc_head.c). Until alloc_front_keep() sets a cap, every call goes straight through to
 * musl (with the head), so only the command that asks for it (the router) keeps anything.
 */
#include "core/alloc_front.h"

#include "core/alloc_keep.h"

#ifdef HERMETIC_MALLOC_FRONT

#include "core/alloc_head.h"

#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

void *__libc_malloc_impl(size_t n);
void *__libc_calloc(size_t m, size_t n);
void *__libc_realloc(void *p, size_t n);
void __libc_free(void *p);

/* The clock of the decay; util's would make core/util.c and this file call each other (util's
 * xmalloc is this file's malloc). */
static int64_t coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* musl underneath, each block with a head that holds its size (alloc_head.c): alloc_keep asks
 * a freed block's size on every free, and musl's malloc_usable_size reads three cache lines
 * away from the block to answer. */
static const struct alloc_raw musl = {__libc_malloc_impl, __libc_calloc, __libc_realloc,
				      __libc_free};

static void *h_malloc(size_t n)
{
	return alloc_head_malloc(&musl, n);
}

static void *h_calloc(size_t m, size_t n)
{
	return alloc_head_calloc(&musl, m, n);
}

static void *h_realloc(void *p, size_t n)
{
	return alloc_head_realloc(&musl, p, n);
}

static void h_free(void *p)
{
	alloc_head_free(&musl, p);
}

static size_t h_size(void *p)
{
	return alloc_head_size(p);
}

static const struct alloc_keep_base headed = {h_malloc, h_calloc, h_realloc,
					      h_free,	h_size,	  coarse_ms};
static struct alloc_keep front = ALLOC_KEEP_INIT(&headed);

/* Every thread's calls go through the same lists, the store's committer's too: its SQLite
 * allocates and frees on every row, and sent straight to musl (tried: the lists for the loop
 * thread only) those calls mapped and unmapped musl's groups 25 times a second each at
 * 1,000 req/s, each munmap a TLB shootdown on the loop's CPU: the work this front exists to
 * spare (an A/B of the two was within its noise; docs/numbers.md, "The seventeenth look"). */
void *malloc(size_t n)
{
	return alloc_keep_malloc(&front, n);
}

void *calloc(size_t m, size_t n)
{
	return alloc_keep_calloc(&front, m, n);
}

void *realloc(void *p, size_t n)
{
	return alloc_keep_realloc(&front, p, n);
}

void free(void *p)
{
	alloc_keep_free(&front, p);
}

/* musl's posix_memalign and memalign call aligned_alloc, so these blocks get a head too; and
 * musl's malloc_usable_size would take a headed block for a corrupt one. Nothing in the
 * binary calls these now: they are here so that nothing that does can free a block without a
 * head. An aligned block is never taken from alloc_keep's lists (their blocks are aligned to
 * 16 only), but is filed there when freed like any other. */
void *aligned_alloc(size_t align, size_t n)
{
	return alloc_head_aligned(&musl, align, n);
}

size_t malloc_usable_size(void *p)
{
	return p ? alloc_head_size(p) : 0;
}

static void before_fork(void)
{
	alloc_keep_lock(&front);
}

static void after_fork(void)
{
	alloc_keep_unlock(&front);
}

static void at_fork(void)
{
	pthread_atfork(before_fork, after_fork, after_fork);
}

void alloc_front_keep(size_t cap)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, at_fork);
	alloc_keep_set_cap(&front, cap);
}

void alloc_front_decay(void)
{
	if (alloc_keep_bytes(&front))
		alloc_keep_decay(&front);
}

size_t alloc_front_bytes(void)
{
	return alloc_keep_bytes(&front);
}

#else

void alloc_front_keep(size_t cap)
{
	(void)cap;
}

void alloc_front_decay(void)
{
}

size_t alloc_front_bytes(void)
{
	return 0;
}

#endif

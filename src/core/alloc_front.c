/* alloc_front: in the static musl build, malloc, calloc, realloc and free are ours, over
 * musl's own entry points (__libc_malloc_impl and friends, which its malloc, calloc, realloc
 * and free call), with alloc_keep between them: see alloc_keep.c for why.
 *
 * A static link takes the first definition of malloc it meets, and libhermetic.a comes before
 * libc.a. meson defines HERMETIC_MALLOC_FRONT only when a test program linking these names
 * links, so a libc that lacks them (glibc, the sanitizer builds, a dynamic musl) keeps its
 * own malloc and the calls below do nothing. Until alloc_front_keep() sets a cap, every call
 * goes straight through, so only the command that asks for it (the router) keeps anything.
 */
#include "core/alloc_front.h"

#include "core/alloc_keep.h"

#ifdef HERMETIC_MALLOC_FRONT

#include <malloc.h>
#include <stdbool.h>
#include <pthread.h>
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

static const struct alloc_keep_base musl = {__libc_malloc_impl, __libc_calloc,	    __libc_realloc,
					    __libc_free,	malloc_usable_size, coarse_ms};
static struct alloc_keep front = ALLOC_KEEP_INIT(&musl);

/* The thread that called alloc_front_keep (the router's loop): the only one whose calls go
 * through the kept lists. Another thread's (the store's committer, whose SQLite allocates on
 * every row) go straight to musl, as before the front: shared, the lists and their lock moved
 * between the two CPUs' caches on every call of each, and the loop's lock and list pop were
 * 3.4% of its user time (perf, 1,000 req/s). A block may still be freed on a thread other
 * than the one that allocated it: either way it is a block musl's free takes. */
static _Thread_local bool owner;

void *malloc(size_t n)
{
	return owner ? alloc_keep_malloc(&front, n) : __libc_malloc_impl(n);
}

void *calloc(size_t m, size_t n)
{
	return owner ? alloc_keep_calloc(&front, m, n) : __libc_calloc(m, n);
}

void *realloc(void *p, size_t n)
{
	if (owner)
		return alloc_keep_realloc(&front, p, n);
	return p ? __libc_realloc(p, n) : __libc_malloc_impl(n);
}

void free(void *p)
{
	if (owner)
		alloc_keep_free(&front, p);
	else if (p)
		__libc_free(p);
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
	owner = true;
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

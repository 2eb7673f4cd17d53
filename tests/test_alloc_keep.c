/* alloc_keep: sizes rounded to their class, freed blocks reused up to the cap, unused ones
 * given back half at a time each second, and nothing kept without a cap. The base here is the
 * test's C library malloc with counters and a clock the test moves. */
#include "test.h"

#include "core/alloc_keep.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_long n_malloc, n_free;
static int64_t clock_ms = 1;

static void *b_malloc(size_t n)
{
	atomic_fetch_add(&n_malloc, 1);
	return malloc(n);
}

static void *b_calloc(size_t m, size_t n)
{
	atomic_fetch_add(&n_malloc, 1);
	return calloc(m, n);
}

static void *b_realloc(void *p, size_t n)
{
	return realloc(p, n);
}

static void b_free(void *p)
{
	atomic_fetch_add(&n_free, 1);
	free(p);
}

static size_t b_usable(void *p)
{
	return malloc_usable_size(p);
}

static int64_t b_now_ms(void)
{
	return clock_ms;
}

static const struct alloc_keep_base base = {b_malloc, b_calloc, b_realloc,
					    b_free,   b_usable, b_now_ms};

/* Every size up to 64 KiB has a class that holds it with at most 25% more above 64 bytes, the
 * tightest class that does; the 44 classes grow strictly and end at 64 KiB. */
static void test_classes_cover_every_size_tightly(void **state)
{
	(void)state;
	for (int c = 1; c < ALLOC_KEEP_CLASSES; c++)
		assert_true(alloc_keep_class_size(c) > alloc_keep_class_size(c - 1));
	assert_int_equal(alloc_keep_class_size(0), 16);
	assert_int_equal(alloc_keep_class_size(ALLOC_KEEP_CLASSES - 1), ALLOC_KEEP_MAX);
	for (size_t n = 1; n <= ALLOC_KEEP_MAX; n++) {
		int c = alloc_keep_class_of(n);
		size_t s = alloc_keep_class_size(c);

		assert_true(c >= 0 && c < ALLOC_KEEP_CLASSES);
		assert_true(s >= n);
		assert_true(c == 0 || alloc_keep_class_size(c - 1) < n);
		if (n > 64)
			assert_true(s * 4 <= n * 5);
	}
	assert_int_equal(alloc_keep_class_of(0), 0);
	assert_int_equal(alloc_keep_class_of(ALLOC_KEEP_MAX + 1), -1);
}

/* A freed block is the next allocation of its class, without a call to the base; calloc's
 * reused block is zeroed. */
static void test_a_freed_block_is_reused_and_calloc_zeroes_it(void **state)
{
	struct alloc_keep k = ALLOC_KEEP_INIT(&base);
	long before;
	unsigned char *p, *q;

	(void)state;
	alloc_keep_set_cap(&k, 1 << 20);
	p = alloc_keep_malloc(&k, 1000);
	assert_true(malloc_usable_size(p) >= 1024); /* rounded up to its class */
	memset(p, 0xa5, 1024);
	alloc_keep_free(&k, p);
	assert_true(alloc_keep_bytes(&k) >= 1024);
	before = atomic_load(&n_malloc);
	q = alloc_keep_malloc(&k, 900);
	assert_ptr_equal(p, q);
	assert_int_equal(atomic_load(&n_malloc), before);
	assert_int_equal(alloc_keep_bytes(&k), 0);
	alloc_keep_free(&k, q);
	q = alloc_keep_calloc(&k, 10, 100);
	assert_ptr_equal(p, q);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(q[i], 0);
	alloc_keep_free(&k, q);
	alloc_keep_set_cap(&k, 0);
	assert_int_equal(alloc_keep_bytes(&k), 0);
}

/* realloc keeps the block while the new size fits and is at least half, and moves the bytes
 * otherwise; realloc(NULL) is malloc. */
static void test_realloc_keeps_or_moves_the_bytes(void **state)
{
	struct alloc_keep k = ALLOC_KEEP_INIT(&base);
	char *p, *q;

	(void)state;
	alloc_keep_set_cap(&k, 1 << 20);
	p = alloc_keep_realloc(&k, NULL, 100); /* class 112 */
	memcpy(p, "abcdefghij", 10);
	q = alloc_keep_realloc(&k, p, 110);
	assert_ptr_equal(p, q);
	q = alloc_keep_realloc(&k, p, 5000);
	assert_ptr_not_equal(p, q);
	assert_memory_equal(q, "abcdefghij", 10);
	p = alloc_keep_realloc(&k, q, 200000); /* past the largest class */
	assert_memory_equal(p, "abcdefghij", 10);
	q = alloc_keep_realloc(&k, p, 300000);
	assert_memory_equal(q, "abcdefghij", 10);
	alloc_keep_free(&k, q);
	alloc_keep_set_cap(&k, 0);
}

/* Blocks past the cap go back at once; a lower cap gives back what is over it, 0 all. */
static void test_the_cap_bounds_the_kept_bytes(void **state)
{
	struct alloc_keep k = ALLOC_KEEP_INIT(&base);
	void *p[16];
	long before;

	(void)state;
	alloc_keep_set_cap(&k, 8192);
	for (int i = 0; i < 16; i++)
		p[i] = alloc_keep_malloc(&k, 1024);
	before = atomic_load(&n_free);
	for (int i = 0; i < 16; i++)
		alloc_keep_free(&k, p[i]);
	assert_true(alloc_keep_bytes(&k) <= 8192);
	assert_true(alloc_keep_bytes(&k) >= 8192 - 1100);
	assert_true(atomic_load(&n_free) - before >= 8);
	alloc_keep_set_cap(&k, 3000);
	assert_true(alloc_keep_bytes(&k) <= 3000);
	assert_true(alloc_keep_bytes(&k) > 0);
	before = atomic_load(&n_free);
	alloc_keep_set_cap(&k, 0);
	assert_int_equal(alloc_keep_bytes(&k), 0);
	assert_true(atomic_load(&n_free) - before >= 1);
}

static size_t keep_blocks(struct alloc_keep *k, int count, size_t n)
{
	void *p[64];

	for (int i = 0; i < count; i++)
		p[i] = alloc_keep_malloc(k, n);
	for (int i = 0; i < count; i++)
		alloc_keep_free(k, p[i]);
	return alloc_keep_bytes(k) / (size_t)count; /* the bytes of one */
}

/* Each second, half (rounded up) of the blocks that stayed unused the whole second go back:
 * 8 kept, then 4; blocks taken in a second count as used; no decay within a second. */
static void test_unused_blocks_decay_by_half_each_second(void **state)
{
	struct alloc_keep k = ALLOC_KEEP_INIT(&base);
	size_t one;
	void *p[3];

	(void)state;
	clock_ms = 10000;
	alloc_keep_set_cap(&k, 1 << 20);
	one = keep_blocks(&k, 8, 4096);
	assert_int_equal(alloc_keep_bytes(&k), 8 * one);
	clock_ms += 1000;
	alloc_keep_decay(&k); /* they were freed within this second: none has sat a whole one */
	assert_int_equal(alloc_keep_bytes(&k), 8 * one);
	clock_ms += 500;
	alloc_keep_decay(&k);
	assert_int_equal(alloc_keep_bytes(&k), 8 * one);
	clock_ms += 500;
	alloc_keep_decay(&k);
	assert_int_equal(alloc_keep_bytes(&k), 4 * one);
	/* 3 of the 4 are taken and come back: only 1 sat unused through the next second. */
	for (int i = 0; i < 3; i++)
		p[i] = alloc_keep_malloc(&k, 4096);
	for (int i = 0; i < 3; i++)
		alloc_keep_free(&k, p[i]);
	clock_ms += 1000;
	alloc_keep_decay(&k);
	assert_int_equal(alloc_keep_bytes(&k), 3 * one);
	clock_ms += 1000; /* 3 sat unused: 2 go */
	alloc_keep_decay(&k);
	assert_int_equal(alloc_keep_bytes(&k), 1 * one);
	clock_ms += 1000;
	alloc_keep_decay(&k);
	assert_int_equal(alloc_keep_bytes(&k), 0);
	alloc_keep_set_cap(&k, 0);
}

/* Without a timer, the 64th call runs the decay: a process that only allocates still gives
 * back the blocks of other classes that sat unused. */
static void test_calls_alone_run_the_decay(void **state)
{
	struct alloc_keep k = ALLOC_KEEP_INIT(&base);
	size_t one;

	(void)state;
	clock_ms = 50000;
	alloc_keep_set_cap(&k, 1 << 20);
	one = keep_blocks(&k, 8, 30000);
	for (int s = 0; s < 2; s++) {
		clock_ms += 1000;
		for (int i = 0; i < 64; i++)
			alloc_keep_free(&k, alloc_keep_malloc(&k, 100));
	}
	assert_true(alloc_keep_bytes(&k) < 8 * one);
	assert_true(alloc_keep_bytes(&k) >= 4 * one);
	alloc_keep_set_cap(&k, 0);
}

/* With no cap every call is the base's own: sizes are not rounded and nothing is kept. */
static void test_no_cap_passes_every_call_through(void **state)
{
	struct alloc_keep k = ALLOC_KEEP_INIT(&base);
	long frees = atomic_load(&n_free), mallocs = atomic_load(&n_malloc);
	void *p;

	(void)state;
	p = alloc_keep_malloc(&k, 1000);
	assert_true(malloc_usable_size(p) < 1024);
	alloc_keep_free(&k, p);
	assert_int_equal(alloc_keep_bytes(&k), 0);
	assert_int_equal(atomic_load(&n_free), frees + 1);
	assert_int_equal(atomic_load(&n_malloc), mallocs + 1);
}

static struct alloc_keep shared_k = ALLOC_KEEP_INIT(&base);

/* Each thread fills every block it holds with its own pattern and checks it before freeing:
 * a block handed to two owners at once would show the other's bytes. */
static void *churn(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	unsigned char *held[32] = {0};
	size_t size[32] = {0};
	unsigned char mark = (unsigned char)(uintptr_t)arg;

	for (int i = 0; i < 40000 / TEST_SCALE_DOWN; i++) {
		int slot = (int)(rand_r(&seed) % 32);

		if (held[slot]) {
			for (size_t j = 0; j < size[slot]; j++)
				if (held[slot][j] != mark)
					return (void *)1;
			alloc_keep_free(&shared_k, held[slot]);
		}
		size[slot] = 1 + rand_r(&seed) % 9000;
		held[slot] = alloc_keep_malloc(&shared_k, size[slot]);
		memset(held[slot], mark, size[slot]);
	}
	for (int slot = 0; slot < 32; slot++)
		alloc_keep_free(&shared_k, held[slot]);
	return NULL;
}

static void test_threads_never_share_a_block(void **state)
{
	pthread_t t[4];
	void *rc;

	(void)state;
	alloc_keep_set_cap(&shared_k, 256 * 1024);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)(i + 1)), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &rc), 0);
		assert_null(rc);
	}
	assert_true(alloc_keep_bytes(&shared_k) <= 256 * 1024);
	alloc_keep_set_cap(&shared_k, 0);
	assert_int_equal(alloc_keep_bytes(&shared_k), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classes_cover_every_size_tightly),
		cmocka_unit_test(test_a_freed_block_is_reused_and_calloc_zeroes_it),
		cmocka_unit_test(test_realloc_keeps_or_moves_the_bytes),
		cmocka_unit_test(test_the_cap_bounds_the_kept_bytes),
		cmocka_unit_test(test_unused_blocks_decay_by_half_each_second),
		cmocka_unit_test(test_calls_alone_run_the_decay),
		cmocka_unit_test(test_no_cap_passes_every_call_through),
		cmocka_unit_test(test_threads_never_share_a_block),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
